//! Who may take an existing AWS resource: the one ownership rule every kind that
//! adopts follows (RestApi, WebSocketApi, DomainName), and what deleting an adopted
//! resource does. Pure: the controller looks up whether the named owner is alive
//! and hands the answer in.

use std::collections::BTreeMap;

use crate::api::common::DeletionPolicy;
use crate::plan::rest_api::{KIND_TAG, OWNER_TAG, OWNER_UID_TAG};

/// What the owner tags of an existing resource say about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// No owner tags: made outside the operator (console, Terraform, CLI).
    Unclaimed,
    /// Tagged with the adopting object's own uid.
    Ours,
    /// Tagged by another object: `owner` is its `namespace/name`, `kind` the kind
    /// tag (absent on resources tagged by old versions).
    Other {
        uid: String,
        owner: String,
        kind: Option<String>,
    },
}

impl Claim {
    pub fn of(tags: &BTreeMap<String, String>, our_uid: &str) -> Claim {
        match tags.get(OWNER_UID_TAG) {
            None => Claim::Unclaimed,
            Some(uid) if uid == our_uid => Claim::Ours,
            Some(uid) => Claim::Other {
                uid: uid.clone(),
                owner: tags.get(OWNER_TAG).cloned().unwrap_or_default(),
                kind: tags.get(KIND_TAG).cloned(),
            },
        }
    }
}

/// Whether the object named by the owner tags still exists with that uid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    Gone,
    /// It could not be looked at (no RBAC in that namespace, the API server
    /// failed): treated as alive, because taking a live object's resource would
    /// give it two writers.
    Unknown,
}

/// Why an adoption is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "{what} is managed by {kind} {owner}; delete that object (with deletionPolicy: Retain to keep it) before adopting it here"
    )]
    OwnedByLiveObject {
        what: String,
        kind: String,
        owner: String,
    },
    #[error(
        "{what} was made by {kind} {owner}, which no longer exists; set spec.adoptOrphaned: true to take it over"
    )]
    Orphaned {
        what: String,
        kind: String,
        owner: String,
    },
}

/// The rule: an unclaimed resource or our own may be adopted; one a live object
/// owns never; one whose owner is gone only when the user says `adoptOrphaned`.
/// `what` names the resource ("REST API a1b2c3d4e5"), `adopter_kind` is used
/// when the tags carry no kind.
pub fn judge(
    what: &str,
    claim: &Claim,
    liveness: Liveness,
    adopt_orphaned: bool,
    adopter_kind: &str,
) -> Result<(), Refusal> {
    let Claim::Other { owner, kind, .. } = claim else {
        return Ok(());
    };
    let kind = kind.clone().unwrap_or_else(|| adopter_kind.to_string());
    let owner = if owner.is_empty() {
        "(unknown)".to_string()
    } else {
        owner.clone()
    };
    match liveness {
        Liveness::Alive | Liveness::Unknown => Err(Refusal::OwnedByLiveObject {
            what: what.to_string(),
            kind,
            owner,
        }),
        Liveness::Gone if adopt_orphaned => Ok(()),
        Liveness::Gone => Err(Refusal::Orphaned {
            what: what.to_string(),
            kind,
            owner,
        }),
    }
}

/// What deleting the object does to its AWS resource: the spec's policy when it
/// names one; otherwise a resource the operator created is deleted and an adopted
/// one is retained (it existed before the object and may serve others).
pub fn deletion_policy(spec: Option<DeletionPolicy>, adopted: bool) -> DeletionPolicy {
    match spec {
        Some(policy) => policy,
        None if adopted => DeletionPolicy::Retain,
        None => DeletionPolicy::Delete,
    }
}

#[cfg(test)]
#[path = "ownership_tests.rs"]
mod tests;
