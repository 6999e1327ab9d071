//! The reconcile skeleton of every kind whose object owns one AWS resource
//! (RestApi, WebSocketApi, DomainName, UsagePlan, ApiKey). The rules that must be
//! the same for all of them live here, once:
//!
//! - entry: the finalizer splits apply from cleanup, and the tenant scope (account,
//!   region, allow-lists, management policy) is resolved before any AWS call;
//! - observe: the resource is found by the id the spec adopts (guarded by the
//!   ownership rule), else by the id in status (gone: `DeletedOutsideOperator`,
//!   made again), else by the owner tags (a create that happened just before a
//!   crash);
//! - cleanup by deletion policy: Retain leaves the resource (and says why),
//!   Delete removes what this object made or adopted, found the same three ways.
//!
//! A kind supplies what differs in an [`OwnsAwsResource`] impl: how to read, find
//! and delete its resource, what its status forgets, what its apply converges.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use tracing::Instrument;

use super::outcome::OwnsStatus;
use super::ownership::{Target, guard_adoption, retained_note};
use super::tenancy::Tenant;
use super::{Context, Error};
use crate::api::common::{DeletionPolicy, FINALIZER, ManagementPolicy};
use crate::plan::rest_api::Owner;

/// A kind whose object owns one AWS resource.
pub trait OwnsAwsResource: OwnsStatus + Tenant + 'static {
    const KIND: &'static str;
    /// The resource in messages and Events: "REST API", "usage plan".
    const NOUN: &'static str;
    /// The span field that carries the resource's id ("rest_api_id").
    const ID_FIELD: &'static str;
    /// What AWS holds of the resource.
    type Observed: Send + Sync;
    /// What a kind needs to pick among several resources tagged as its own
    /// (an ApiKey prefers the key with its Secret's value); a cleanup passes the
    /// default.
    type Hint: Default + Send + Sync;

    /// The span of one reconcile, with an empty `ID_FIELD`.
    fn span(&self) -> tracing::Span;

    /// Observe, plan, apply and write status (the tenant scope is resolved).
    fn apply(obj: Arc<Self>, ctx: &Context) -> impl Future<Output = Result<Action, Error>> + Send;

    /// The existing resource the spec asks to adopt by id.
    fn adoption(&self) -> Option<Target<'_>> {
        None
    }
    /// `spec.adoptOrphaned`.
    fn adopts_orphans(&self) -> bool {
        false
    }
    /// `spec.deletionPolicy` as written (unset: the default of created or adopted).
    fn deletion_policy(&self) -> Option<DeletionPolicy>;
    /// The resource the status records as this object's.
    fn recorded_id(&self) -> Option<String>;
    fn id_of(observed: &Self::Observed) -> &str;
    fn tags_of(observed: &Self::Observed) -> &BTreeMap<String, String>;
    /// The error when the resource to adopt does not exist.
    fn adopt_target_missing(id: &str) -> Error {
        Error::AdoptTargetMissing(id.to_string())
    }

    /// Read the resource by id (None: it does not exist).
    fn read(
        ctx: &Context,
        id: &str,
    ) -> impl Future<Output = Result<Option<Self::Observed>, Error>> + Send;
    /// The resource tagged as made by the object with `owner_uid`.
    fn find_by_owner(
        &self,
        ctx: &Context,
        owner_uid: &str,
        hint: &Self::Hint,
    ) -> impl Future<Output = Result<Option<Self::Observed>, Error>> + Send;
    /// What stands in for a read of `id`: what this process verified recently, or
    /// a cheaper read (None: read it).
    fn recall(
        &self,
        ctx: &Context,
        id: &str,
    ) -> impl Future<Output = Result<Option<Self::Observed>, Error>> + Send {
        let _ = (ctx, id);
        async { Ok(None) }
    }
    /// The resource in status was deleted outside the operator: take back what
    /// still points at it (before the status forgets it).
    fn deleted_outside(
        &self,
        ctx: &Context,
        id: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        let _ = (ctx, id);
        async { Ok(()) }
    }
    /// What the status forgets when its resource is gone.
    fn forget_resource(status: &mut Self::Status);

    /// Delete the resource (and what hangs on it that AWS would not delete with it).
    fn delete(&self, ctx: &Context, id: &str) -> impl Future<Output = Result<(), Error>> + Send;
    /// The Event note of a deletion.
    fn deleted_note(id: &str) -> String {
        format!("deleted {} {id}", Self::NOUN)
    }
    /// What a Retained Event says is left.
    fn retained_what(&self, id: &str) -> String {
        format!("{} {id}", Self::NOUN)
    }
    /// After a cleanup, deleted (`deleted`: the id removed, if any) or retained:
    /// let go of what the object held in the cluster and this process.
    fn released(
        &self,
        ctx: &Context,
        retained: bool,
        deleted: Option<&str>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        let _ = (ctx, retained, deleted);
        async { Ok(()) }
    }
}

/// The one entry point of every kind that owns an AWS resource.
pub async fn reconcile<K: OwnsAwsResource>(
    obj: Arc<K>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let span = obj.span();
    let namespace = obj.namespace().unwrap_or_default();
    let api: kube::Api<K> = ctx.api_in(&namespace);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(obj) => {
                match ctx.scoped(K::KIND, &namespace, &obj.placement()).await {
                    Ok(scoped) => K::apply(obj, &scoped).await,
                    Err(e) => super::outcome::refuse(obj.as_ref(), &ctx, e).await,
                }
            }
            Finalizer::Cleanup(obj) => cleanup_in_scope(obj, &ctx, &namespace).await,
        }
    })
    .instrument(span)
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

async fn cleanup_in_scope<K: OwnsAwsResource>(
    obj: Arc<K>,
    ctx: &Context,
    namespace: &str,
) -> Result<Action, Error> {
    match ctx.scoped(K::KIND, namespace, &obj.placement()).await {
        // ObserveOnly never writes, so its deletion leaves AWS as it is.
        Ok(scoped) if scoped.policy == ManagementPolicy::ObserveOnly => {
            cleanup(Arc::new(obj.retained()), &scoped).await
        }
        Ok(scoped) => cleanup(obj, &scoped).await,
        Err(Error::Paused(_)) => Err(Error::Paused(
            "; the deletion waits (the finalizer stays) until the policy changes",
        )),
        // Refused, but what it made stays in AWS anyway: let it go without
        // touching AWS (every write would be withheld).
        Err(e) if !e.is_retryable() && obj.retains() => {
            tracing::info!(
                reason = e.reason(),
                "tenant scope refused; deleting without AWS (Retain)"
            );
            cleanup(obj, &ctx.withholding()).await
        }
        // Refused before it made anything (no binding, a region or role it may
        // not use): nothing in AWS to delete.
        Err(e) if !e.is_retryable() && !obj.has_resource() => {
            ctx.event(
                obj.as_ref(),
                EventType::Normal,
                "Deleted",
                "Delete",
                format!(
                    "nothing to delete in AWS: the object never had a resource there ({})",
                    e.reason()
                ),
            )
            .await;
            Ok(Action::await_change())
        }
        Err(e) => Err(e),
    }
}

/// The owner tags' idea of the object.
pub fn owner_of<K: ResourceExt>(obj: &K) -> Owner {
    Owner {
        uid: obj.uid().unwrap_or_default(),
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
    }
}

/// Find the object's resource: by the adopted id, by the id in status, or by
/// owner tag. `recorded` is the id the status of this pass holds; a resource gone
/// from AWS is reported, and the status forgets it (`K::forget_resource`).
pub async fn observe<K: OwnsAwsResource>(
    obj: &K,
    ctx: &Context,
    status: &mut K::Status,
    recorded: Option<String>,
    hint: &K::Hint,
) -> Result<Option<K::Observed>, Error> {
    let owner = owner_of(obj);
    let span = tracing::Span::current();
    if let Some(target) = obj.adoption() {
        let id = target.id();
        span.record(K::ID_FIELD, id);
        let found = K::read(ctx, id)
            .await?
            .ok_or_else(|| K::adopt_target_missing(id))?;
        may_adopt(obj, ctx, target, &found).await?;
        if recorded.as_deref() != Some(id) {
            ctx.event(
                obj,
                EventType::Normal,
                "Adopted",
                "Adopt",
                format!("adopted existing {} {id}", K::NOUN),
            )
            .await;
        }
        return Ok(Some(found));
    }
    if let Some(id) = recorded {
        span.record(K::ID_FIELD, id.as_str());
        let known = match obj.recall(ctx, &id).await? {
            Some(known) => Some(known),
            None => K::read(ctx, &id).await?,
        };
        if let Some(found) = known {
            return prove_ours::<K>(found, &id, &owner.uid).map(Some);
        }
        tracing::warn!(
            "{} in status no longer exists in AWS; it will be recreated",
            K::NOUN
        );
        ctx.event(
            obj,
            EventType::Warning,
            "DeletedOutsideOperator",
            "Observe",
            format!(
                "{} {id} was deleted outside the operator; creating it again",
                K::NOUN
            ),
        )
        .await;
        obj.deleted_outside(ctx, &id).await?;
        K::forget_resource(status);
    }
    let found = obj.find_by_owner(ctx, &owner.uid, hint).await?;
    if let Some(found) = &found {
        span.record(K::ID_FIELD, K::id_of(found));
        tracing::info!("found {} by owner tag", K::NOUN);
    }
    Ok(found)
}

/// The resource a status names, if its owner tags name this object: a status
/// is no proof (anyone with RBAC on the status subresource can write another
/// team's id into it), so a resource without that tag is refused and never
/// written to. A resource this object adopted is reached through `spec.adopt` and
/// the ownership rule instead.
fn prove_ours<K: OwnsAwsResource>(
    found: K::Observed,
    id: &str,
    uid: &str,
) -> Result<K::Observed, Error> {
    if K::tags_of(&found)
        .get(crate::plan::rest_api::OWNER_UID_TAG)
        .map(String::as_str)
        == Some(uid)
    {
        return Ok(found);
    }
    Err(Error::AdoptTargetOwned(format!(
        "status names {} {id}, but its owner tags do not name this object (uid {uid}): the \
         operator takes status as no proof of ownership and leaves it alone; to take over an \
         existing resource, name it in spec.adopt",
        K::NOUN
    )))
}

/// The ownership rule for the resource the spec adopts, as found in AWS.
async fn may_adopt<K: OwnsAwsResource>(
    obj: &K,
    ctx: &Context,
    target: Target<'_>,
    found: &K::Observed,
) -> Result<(), Error> {
    guard_adoption(
        ctx,
        &format!("{} {}", K::NOUN, target.id()),
        target,
        K::tags_of(found),
        &owner_of(obj),
        obj.adopts_orphans(),
    )
    .await
}

/// What a deletion finds behind the id a status or spec names.
enum Named {
    /// Proven this object's (owner tags naming it, or an adoption the ownership
    /// rule allows now): delete it.
    Held(String),
    /// Gone already: nothing to delete.
    Gone,
    /// Someone else's: left alone, with a Warning.
    NotHeld,
}

/// Whether this object may delete `id`, which its status or spec names: only
/// once AWS proves it is this object's.
async fn deletable<K: OwnsAwsResource>(obj: &K, ctx: &Context, id: String) -> Result<Named, Error> {
    let Some(found) = K::read(ctx, &id).await? else {
        return Ok(Named::Gone);
    };
    let owner = owner_of(obj);
    let proven = match obj.adoption() {
        Some(target) => may_adopt(obj, ctx, target, &found).await.map(|()| found),
        None => prove_ours::<K>(found, &id, &owner.uid),
    };
    match proven {
        Ok(_) => Ok(Named::Held(id)),
        Err(refusal) => {
            ctx.event(
                obj,
                EventType::Warning,
                refusal.reason(),
                "Delete",
                format!("left {} {id} in AWS: {refusal}", K::NOUN),
            )
            .await;
            Ok(Named::NotHeld)
        }
    }
}

/// Delete the object's resource, or leave it, by its deletion policy.
pub async fn cleanup<K: OwnsAwsResource>(obj: Arc<K>, ctx: &Context) -> Result<Action, Error> {
    let recorded = obj.recorded_id();
    if obj.retains() {
        let id = recorded.as_deref().unwrap_or("(none)");
        ctx.event(
            obj.as_ref(),
            EventType::Normal,
            "Retained",
            "Delete",
            retained_note(&obj.retained_what(id), obj.deletion_policy()),
        )
        .await;
        obj.released(ctx, true, None).await?;
        return Ok(Action::await_change());
    }
    let named = match (obj.adoption().map(|t| t.id()), recorded) {
        // Only an adoption that happened: a refused one (another object's
        // resource, a wrong id) never made it this object's to delete.
        (Some(adopted), recorded) => match recorded.filter(|r| r == adopted) {
            Some(id) => deletable(obj.as_ref(), ctx, id).await?,
            None => Named::Gone,
        },
        (None, Some(id)) => deletable(obj.as_ref(), ctx, id).await?,
        // No id in status: the create may have happened just before a crash.
        (None, None) => Named::NotHeld,
    };
    let id = match named {
        Named::Held(id) => Some(id),
        Named::Gone => None,
        // Nothing recorded, or a status naming what is not this object's (written
        // by someone else): what this object made is found by its owner tags.
        Named::NotHeld if obj.adoption().is_none() => {
            let uid = obj.uid().unwrap_or_default();
            obj.find_by_owner(ctx, &uid, &K::Hint::default())
                .await?
                .map(|found| K::id_of(&found).to_string())
        }
        Named::NotHeld => None,
    };
    let uid = obj.uid().unwrap_or_default();
    if let Some(id) = &id {
        tracing::Span::current().record(K::ID_FIELD, id.as_str());
        if deletions().done(&uid, id) {
            // A retry of a cleanup whose delete went through (what followed it
            // failed): the delete is not sent again, nor its Event.
            tracing::debug!("deleted by an earlier attempt of this cleanup");
        } else {
            let result = obj.delete(ctx, id).await;
            super::outcome::report_deletion(ctx, obj.as_ref(), result, K::deleted_note(id)).await?;
            deletions().record(&uid, id);
        }
    }
    obj.released(ctx, false, id.as_deref()).await?;
    deletions().forget(&uid);
    Ok(Action::await_change())
}

/// The resources this process deleted for objects whose cleanup has not finished,
/// as (object uid, resource id): a cleanup retried after its delete (a later step
/// failed) does not delete again. A DeleteRestApi has a budget of one per 30 s,
/// and a repeated one finds nothing to delete.
#[derive(Debug, Default)]
struct Deletions(std::sync::Mutex<std::collections::HashSet<(String, String)>>);

impl Deletions {
    fn done(&self, uid: &str, id: &str) -> bool {
        self.0
            .lock()
            .unwrap()
            .contains(&(uid.to_string(), id.to_string()))
    }
    fn record(&self, uid: &str, id: &str) {
        self.0
            .lock()
            .unwrap()
            .insert((uid.to_string(), id.to_string()));
    }
    fn forget(&self, uid: &str) {
        self.0.lock().unwrap().retain(|(u, _)| u != uid);
    }
}

fn deletions() -> &'static Deletions {
    static DELETIONS: std::sync::OnceLock<Deletions> = std::sync::OnceLock::new();
    DELETIONS.get_or_init(Deletions::default)
}

#[cfg(test)]
#[path = "owned_tests.rs"]
mod tests;
