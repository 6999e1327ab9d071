//! Condition bookkeeping. Transition times change only when a condition's status
//! flips, so a resync that finds nothing new writes an identical status and the
//! API server does not wake the controller again.

use crate::api::Condition;

pub const READY: &str = "Ready";

/// Insert or update `new` in `conditions`, keeping the old transition time when the
/// status did not change.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => {
            if existing.status == new.status {
                new.last_transition_time = existing.last_transition_time.clone();
            }
            *existing = new;
        }
        None => conditions.push(new),
    }
}

/// Build a condition stamped with `now` (RFC 3339).
pub fn condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
    now: &str,
) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message: message.into(),
        last_transition_time: now.to_string(),
        observed_generation: generation,
    }
}

/// Current time as RFC 3339 with second precision, as Kubernetes writes it.
pub fn now_rfc3339() -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Re-asserting the same status keeps lastTransitionTime, so status is byte-identical.
    #[test]
    fn same_status_keeps_transition_time() {
        let mut conds = vec![condition(
            READY,
            true,
            "Available",
            "ok",
            Some(1),
            "2026-01-01T00:00:00Z",
        )];
        set_condition(
            &mut conds,
            condition(
                READY,
                true,
                "Available",
                "ok",
                Some(2),
                "2026-02-02T00:00:00Z",
            ),
        );
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0].last_transition_time, "2026-01-01T00:00:00Z");
        assert_eq!(conds[0].observed_generation, Some(2));
    }

    /// A flip records the new time.
    #[test]
    fn flip_updates_transition_time() {
        let mut conds = vec![condition(
            READY,
            true,
            "Available",
            "ok",
            Some(1),
            "2026-01-01T00:00:00Z",
        )];
        set_condition(
            &mut conds,
            condition(
                READY,
                false,
                "AwsError",
                "boom",
                Some(1),
                "2026-02-02T00:00:00Z",
            ),
        );
        assert_eq!(conds[0].last_transition_time, "2026-02-02T00:00:00Z");
        assert_eq!(conds[0].status, "False");
        assert_eq!(conds[0].reason, "AwsError");
    }

    #[test]
    fn timestamps_are_rfc3339_seconds() {
        let now = now_rfc3339();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.ends_with('Z'));
    }
}
