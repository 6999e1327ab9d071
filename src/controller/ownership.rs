//! The ownership guard every adopting kind runs before it takes an existing AWS
//! resource (plan::ownership has the rule; this looks up whether the owner the
//! tags name is alive, and turns a refusal into the condition).

use std::collections::BTreeMap;

use kube::ResourceExt;

use super::{Context, Error};
use crate::api::common::DeletionPolicy;
use crate::api::{DomainName, RestApi, WebSocketApi};
use crate::plan::ownership::{Claim, Liveness, Refusal, judge};
use crate::plan::rest_api::Owner;

/// Refuse to adopt `what` (a resource with `tags`) unless the rule allows it.
pub async fn guard_adoption(
    ctx: &Context,
    what: &str,
    tags: &BTreeMap<String, String>,
    adopter: &Owner,
    adopter_kind: &str,
    adopt_orphaned: bool,
) -> Result<(), Error> {
    let claim = Claim::of(tags, &adopter.uid);
    if !ctx.access.adoption && claim != Claim::Ours {
        return Err(Error::AdoptionNotAllowed(format!(
            "{what} exists already and AwsAccountBinding {} does not allow adoption in this namespace",
            ctx.access.binding.as_deref().unwrap_or_default()
        )));
    }
    let liveness = match &claim {
        Claim::Other { uid, owner, kind } => {
            let kind = kind.as_deref().unwrap_or(adopter_kind);
            owner_liveness(ctx, kind, owner, uid).await
        }
        _ => Liveness::Alive,
    };
    judge(what, &claim, liveness, adopt_orphaned, adopter_kind).map_err(|refusal| match refusal {
        Refusal::OwnedByLiveObject { .. } => Error::AdoptTargetOwned(refusal.to_string()),
        Refusal::Orphaned { .. } => Error::AdoptTargetOrphaned(refusal.to_string()),
    })
}

/// Whether `namespace/name` of `kind` exists with `uid`.
async fn owner_liveness(ctx: &Context, kind: &str, owner: &str, uid: &str) -> Liveness {
    let Some((namespace, name)) = owner.split_once('/') else {
        return Liveness::Unknown;
    };
    let found = match kind {
        "RestApi" => ctx
            .api_in::<RestApi>(namespace)
            .get_opt(name)
            .await
            .map(|o| o.and_then(|o| o.uid())),
        "WebSocketApi" => ctx
            .api_in::<WebSocketApi>(namespace)
            .get_opt(name)
            .await
            .map(|o| o.and_then(|o| o.uid())),
        "DomainName" => ctx
            .api_in::<DomainName>(namespace)
            .get_opt(name)
            .await
            .map(|o| o.and_then(|o| o.uid())),
        _ => return Liveness::Unknown,
    };
    match found {
        Ok(Some(live_uid)) if live_uid == uid => Liveness::Alive,
        // Gone, or the name was reused by a new object: the maker is gone.
        Ok(_) => Liveness::Gone,
        Err(e) => {
            tracing::warn!(error = %e, %kind, %owner, "cannot look up the owner of an AWS resource; treating it as alive");
            Liveness::Unknown
        }
    }
}

/// The Event note of a cleanup that leaves `what` in AWS.
pub fn retained_note(what: &str, spec_policy: Option<DeletionPolicy>) -> String {
    match spec_policy {
        Some(_) => format!("left {what} in AWS (deletionPolicy: Retain)"),
        None => format!(
            "left {what} in AWS: it was adopted, and adopted resources are retained unless deletionPolicy says Delete"
        ),
    }
}
