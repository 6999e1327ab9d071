//! Several objects naming one AWS resource (two Stages with one `stageName` on one
//! API): exactly one holds it and may write or delete it; the others are refused
//! with a condition naming the holder, and make no AWS call.

use std::collections::BTreeMap;

/// One object's claim on a name.
#[derive(Clone, Debug)]
pub struct NameClaim<'a> {
    /// The object's own name (the Kubernetes one).
    pub object: &'a str,
    /// The AWS name it claims.
    pub name: &'a str,
    /// RFC 3339 creation time; claims without one sort last.
    pub created: Option<String>,
    /// Whether its status says it made or manages the resource already.
    pub holds: bool,
    /// Being deleted: it gives its claim up.
    pub deleting: bool,
}

/// The holder of each claimed name. A live object that already holds a name keeps
/// it against newcomers; among equals the oldest object wins, then the first by
/// name, so every pass and every replica decides the same.
pub fn holders(claims: &[NameClaim<'_>]) -> BTreeMap<String, String> {
    let mut live: Vec<&NameClaim<'_>> = claims.iter().filter(|c| !c.deleting).collect();
    live.sort_by(|a, b| {
        b.holds
            .cmp(&a.holds)
            .then_with(|| match (&a.created, &b.created) {
                (Some(x), Some(y)) => x.cmp(y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then_with(|| a.object.cmp(b.object))
    });
    let mut holders = BTreeMap::new();
    for claim in live {
        holders
            .entry(claim.name.to_string())
            .or_insert_with(|| claim.object.to_string());
    }
    holders
}

/// Whether a deleted object may delete the resource it names: only when no live
/// object claims the name (it passes to that one instead, untouched).
pub fn may_delete(claims: &[NameClaim<'_>], deleted: &NameClaim<'_>) -> bool {
    !claims
        .iter()
        .any(|c| !c.deleting && c.object != deleted.object && c.name == deleted.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim<'a>(object: &'a str, created: &'a str, holds: bool) -> NameClaim<'a> {
        NameClaim {
            object,
            name: "prod",
            created: Some(created.to_string()),
            holds,
            deleting: false,
        }
    }

    /// The older of two newcomers wins, whatever their names.
    #[test]
    fn the_older_object_wins() {
        let claims = [
            claim("a-late", "2026-01-02T00:00:00Z", false),
            claim("z-early", "2026-01-01T00:00:00Z", false),
        ];
        assert_eq!(holders(&claims)["prod"], "z-early");
    }

    /// The one that holds the stage keeps it against an older newcomer (an object
    /// restored from backup, say).
    #[test]
    fn the_holder_keeps_its_name() {
        let claims = [
            claim("restored", "2025-01-01T00:00:00Z", false),
            claim("current", "2026-01-01T00:00:00Z", true),
        ];
        assert_eq!(holders(&claims)["prod"], "current");
    }

    /// A deleted holder hands the name over and may not delete the resource while
    /// another object claims it; the last one may.
    #[test]
    fn a_deleted_claim_passes_the_name_on() {
        let mut gone = claim("current", "2026-01-01T00:00:00Z", true);
        gone.deleting = true;
        let other = claim("other", "2026-01-02T00:00:00Z", false);
        let claims = [gone.clone(), other.clone()];
        assert_eq!(holders(&claims)["prod"], "other");
        assert!(!may_delete(&claims, &gone));
        assert!(may_delete(&[gone.clone()], &gone));
        let elsewhere = NameClaim {
            name: "dev",
            ..other
        };
        assert!(may_delete(&[gone.clone(), elsewhere], &gone));
    }
}
