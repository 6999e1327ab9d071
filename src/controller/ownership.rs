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

/// What an adopting object names.
pub enum Target<'a> {
    RestApi(&'a str),
    WebSocketApi(&'a str),
    DomainName(&'a str),
}

/// Refuse to adopt `target` (a resource with `tags`) unless the rule allows it.
/// `what` names it in messages ("REST API a1b2c3d4e5"). On the first adoption
/// (`first`) the cluster is also searched for a live object that already holds it:
/// owner tags are written on adoption only where the AWS API tags the resource
/// kind after creation, and a resource adopted by another object may carry none.
pub async fn guard_adoption(
    ctx: &Context,
    what: &str,
    target: Target<'_>,
    tags: &BTreeMap<String, String>,
    adopter: &Owner,
    first: bool,
    adopt_orphaned: bool,
) -> Result<(), Error> {
    let adopter_kind = match target {
        Target::RestApi(_) => "RestApi",
        Target::WebSocketApi(_) => "WebSocketApi",
        Target::DomainName(_) => "DomainName",
    };
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
    judge(what, &claim, liveness, adopt_orphaned, adopter_kind).map_err(
        |refusal| match refusal {
            Refusal::OwnedByLiveObject { .. } => Error::AdoptTargetOwned(refusal.to_string()),
            Refusal::Orphaned { .. } => Error::AdoptTargetOrphaned(refusal.to_string()),
        },
    )?;
    if first && let Some(holder) = live_holder(ctx, &target, &adopter.uid).await {
        return Err(Error::AdoptTargetOwned(
            Refusal::OwnedByLiveObject {
                what: what.to_string(),
                kind: adopter_kind.to_string(),
                owner: holder,
            }
            .to_string(),
        ));
    }
    Ok(())
}

/// Another live object of the kind, in any namespace, whose status holds the
/// target: `namespace/name`. One cluster-wide list, made only on a first adoption.
/// Without the RBAC to list every namespace the owner tags are the only guard.
async fn live_holder(ctx: &Context, target: &Target<'_>, our_uid: &str) -> Option<String> {
    fn holder<K: kube::Resource>(
        objects: Vec<K>,
        our_uid: &str,
        holds: impl Fn(&K) -> bool,
    ) -> Option<String> {
        objects
            .iter()
            .filter(|o| {
                o.meta().uid.as_deref() != Some(our_uid) && o.meta().deletion_timestamp.is_none()
            })
            .find(|o| holds(o))
            .map(|o| {
                format!(
                    "{}/{}",
                    o.meta().namespace.as_deref().unwrap_or_default(),
                    o.meta().name.as_deref().unwrap_or_default()
                )
            })
    }
    let params = kube::api::ListParams::default();
    let client = ctx.client.clone();
    let found = match target {
        Target::RestApi(id) => kube::Api::<RestApi>::all(client)
            .list(&params)
            .await
            .map(|l| {
                holder(l.items, our_uid, |o| {
                    o.status.as_ref().and_then(|s| s.rest_api_id.as_deref()) == Some(*id)
                })
            }),
        Target::WebSocketApi(id) => kube::Api::<WebSocketApi>::all(client)
            .list(&params)
            .await
            .map(|l| {
                holder(l.items, our_uid, |o| {
                    o.status.as_ref().and_then(|s| s.api_id.as_deref()) == Some(*id)
                })
            }),
        Target::DomainName(name) => kube::Api::<DomainName>::all(client)
            .list(&params)
            .await
            .map(|l| {
                holder(l.items, our_uid, |o| {
                    o.spec.domain_name == *name
                        && o.status
                            .as_ref()
                            .is_some_and(|s| s.target.is_some() || s.adopted)
                })
            }),
    };
    match found {
        Ok(holder) => holder,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list objects in every namespace; only owner tags guard this adoption");
            None
        }
    }
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
