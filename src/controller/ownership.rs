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

impl<'a> Target<'a> {
    /// The resource's id (a domain's name).
    pub fn id(&self) -> &'a str {
        match *self {
            Target::RestApi(id) | Target::WebSocketApi(id) | Target::DomainName(id) => id,
        }
    }
}

/// Refuse to use `target` (a resource with `tags`) as this object's unless the
/// rule allows it. `what` names it in messages ("REST API a1b2c3d4e5"). Owner tags
/// naming the adopter's uid prove the resource is its own; nothing else does, and
/// nothing in status counts (anyone with RBAC on the status subresource can write
/// it). Without that proof the whole rule runs, on every pass: the binding must
/// allow adoption, the tags' owner must be dead (or adoption of orphans asked),
/// and no other live object of the kind may hold it. Owner tags are written on
/// adoption only where the AWS API tags the resource kind after creation, so an
/// adopted resource usually carries none and its holder is found in the cluster.
pub async fn guard_adoption(
    ctx: &Context,
    what: &str,
    target: Target<'_>,
    tags: &BTreeMap<String, String>,
    adopter: &Owner,
    adopt_orphaned: bool,
) -> Result<(), Error> {
    let adopter_kind = match target {
        Target::RestApi(_) => "RestApi",
        Target::WebSocketApi(_) => "WebSocketApi",
        Target::DomainName(_) => "DomainName",
    };
    let claim = Claim::of(tags, &adopter.uid);
    if claim == Claim::Ours {
        return Ok(());
    }
    if !ctx.access.adoption {
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
    if let Some(holder) = live_holder(ctx, &target, &adopter.uid).await? {
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

/// Another live object of the kind whose status holds the target in the same
/// account and region: `namespace/name`. One list of every namespace (or of each
/// watched namespace, when the operator may list only those), made only when
/// the tags do not prove ownership. When it cannot look, it refuses: an adoption it cannot check
/// could give an API two owners.
async fn live_holder(
    ctx: &Context,
    target: &Target<'_>,
    our_uid: &str,
) -> Result<Option<String>, Error> {
    let here = (
        ctx.aws.known_account().map(str::to_string),
        ctx.aws.region.clone(),
    );
    // Objects that record no location are from before bindings: the operator's
    // own account and region, which is where an unbound object is too.
    let same_place = |account: &Option<String>, region: &Option<String>| {
        let account_differs = matches!((account, &here.0), (Some(a), Some(b)) if a != b);
        let region_differs = region.as_ref().is_some_and(|r| *r != here.1);
        !account_differs && !region_differs
    };
    let namespaces: Vec<Option<String>> = match (&ctx.settings.namespace, &ctx.settings.namespaces)
    {
        (None, list) if list.is_empty() => vec![None],
        (Some(one), _) => vec![Some(one.clone())],
        (None, list) => list.iter().cloned().map(Some).collect(),
    };
    let mut lists = Vec::new();
    for ns in namespaces {
        lists.push(list_holders(ctx, target, ns.as_deref(), our_uid, &same_place).await);
    }
    let mut found = None;
    for list in lists {
        match list {
            Ok(Some(holder)) => found = Some(holder),
            Ok(None) => {}
            Err(e) => {
                return Err(Error::AdoptTargetOwned(format!(
                    "cannot check that no other object manages it ({e}); the operator needs to list \
                     the objects of this kind in the namespaces it watches"
                )));
            }
        }
    }
    Ok(found)
}

async fn list_holders(
    ctx: &Context,
    target: &Target<'_>,
    namespace: Option<&str>,
    our_uid: &str,
    same_place: &impl Fn(&Option<String>, &Option<String>) -> bool,
) -> Result<Option<String>, kube::Error> {
    fn api<K>(ctx: &Context, namespace: Option<&str>) -> kube::Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        match namespace {
            Some(ns) => kube::Api::namespaced(ctx.client.clone(), ns),
            None => kube::Api::all(ctx.client.clone()),
        }
    }
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
    Ok(match target {
        Target::RestApi(id) => holder(
            api::<RestApi>(ctx, namespace).list(&params).await?.items,
            our_uid,
            |o| {
                o.status.as_ref().is_some_and(|s| {
                    s.rest_api_id.as_deref() == Some(*id)
                        && same_place(&s.tenant.account_id, &s.tenant.region)
                })
            },
        ),
        Target::WebSocketApi(id) => holder(
            api::<WebSocketApi>(ctx, namespace)
                .list(&params)
                .await?
                .items,
            our_uid,
            |o| {
                o.status.as_ref().is_some_and(|s| {
                    s.api_id.as_deref() == Some(*id)
                        && same_place(&s.tenant.account_id, &s.tenant.region)
                })
            },
        ),
        Target::DomainName(name) => holder(
            api::<DomainName>(ctx, namespace).list(&params).await?.items,
            our_uid,
            |o| {
                o.spec.domain_name == *name
                    && o.status.as_ref().is_some_and(|s| {
                        (s.target.is_some() || s.adopted)
                            && same_place(&s.tenant.account_id, &s.tenant.region)
                    })
            },
        ),
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
