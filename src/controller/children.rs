//! What the RestApi reconciler and the reference controllers share about the
//! objects that belong to an API (Routes, Authorizers, Stages): listing them,
//! their finalizers, and their status conditions.

use std::fmt::Debug;
use std::sync::Arc;

use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::conditions::{READY, condition, now_rfc3339, set_condition};
use super::{Context, Error};
use crate::api::common::{FIELD_MANAGER, FINALIZER};
use crate::api::{Authorizer, Condition, RestApi, Route, Stage};

/// A kind that belongs to one RestApi through `spec.restApiRef`.
pub trait Child:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    const KIND: &'static str;
    fn rest_api_name(&self) -> &str;
    fn conditions(&self) -> &[Condition];
}

/// Every child kind refers to its RestApi the same way and has the same conditions.
macro_rules! impl_child {
    ($kind:ty, $name:literal) => {
        impl Child for $kind {
            const KIND: &'static str = $name;
            fn rest_api_name(&self) -> &str {
                &self.spec.rest_api_ref.name
            }
            fn conditions(&self) -> &[Condition] {
                self.status
                    .as_ref()
                    .map(|s| s.conditions.as_slice())
                    .unwrap_or_default()
            }
        }
    };
}

impl_child!(Route, "Route");
impl_child!(Authorizer, "Authorizer");
impl_child!(Stage, "Stage");

/// Children of `api_name` in `namespace`, sorted by name.
pub async fn list_children<K: Child>(
    ctx: &Context,
    namespace: &str,
    api_name: &str,
) -> Result<Vec<K>, Error> {
    let api: Api<K> = ctx.api_in(namespace);
    let mut items: Vec<K> = api
        .list(&ListParams::default())
        .await
        .map_err(Error::kube("list children"))?
        .items
        .into_iter()
        .filter(|c| c.rest_api_name() == api_name)
        .collect();
    items.sort_by_key(|c| c.name_any());
    Ok(items)
}

pub fn is_deleting<K: Resource>(obj: &K) -> bool {
    obj.meta().deletion_timestamp.is_some()
}

pub fn has_finalizer<K: Resource>(obj: &K) -> bool {
    obj.finalizers().iter().any(|f| f == FINALIZER)
}

/// Add the operator's finalizer. The resourceVersion makes the merge patch fail
/// rather than drop a finalizer someone else added meanwhile.
pub async fn add_finalizer<K: Child>(ctx: &Context, obj: &K) -> Result<(), Error> {
    if has_finalizer(obj) || is_deleting(obj) {
        return Ok(());
    }
    let mut finalizers = obj.finalizers().to_vec();
    finalizers.push(FINALIZER.to_string());
    patch_finalizers(ctx, obj, finalizers).await
}

pub async fn remove_finalizer<K: Child>(ctx: &Context, obj: &K) -> Result<(), Error> {
    if !has_finalizer(obj) {
        return Ok(());
    }
    let finalizers: Vec<String> = obj
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    patch_finalizers(ctx, obj, finalizers).await
}

async fn patch_finalizers<K: Child>(
    ctx: &Context,
    obj: &K,
    finalizers: Vec<String>,
) -> Result<(), Error> {
    let api: Api<K> = ctx.api_in(&obj.namespace().unwrap_or_default());
    let patch =
        json!({"metadata": {"finalizers": finalizers, "resourceVersion": obj.resource_version()}});
    match api
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        // Already gone: nothing left to hold.
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(Error::Kube {
            operation: "patch finalizers",
            source: e,
        }),
    }
}

/// The Ready condition a child should carry, with the Event to publish when it changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub reason: String,
    pub message: String,
}

impl Readiness {
    pub fn ok(reason: &str, message: impl Into<String>) -> Self {
        Readiness {
            ready: true,
            reason: reason.into(),
            message: message.into(),
        }
    }
    pub fn not(reason: &str, message: impl Into<String>) -> Self {
        Readiness {
            ready: false,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// Merge `readiness` into the object's conditions; returns the new list and whether
/// the condition changed (status or reason), which is when an Event is worth sending.
pub fn next_conditions<K: Child>(obj: &K, readiness: &Readiness) -> (Vec<Condition>, bool) {
    let mut conditions = obj.conditions().to_vec();
    let before = conditions
        .iter()
        .find(|c| c.type_ == READY)
        .map(|c| (c.status.clone(), c.reason.clone()));
    let generation = obj.meta().generation;
    set_condition(
        &mut conditions,
        condition(
            READY,
            readiness.ready,
            &readiness.reason,
            readiness.message.clone(),
            generation,
            &now_rfc3339(),
        ),
    );
    let after = conditions
        .iter()
        .find(|c| c.type_ == READY)
        .map(|c| (c.status.clone(), c.reason.clone()));
    (conditions, before != after)
}

/// Server-side apply of a child's whole status (the RestApi reconciler's view).
pub async fn apply_status<K: Child>(
    ctx: &Context,
    obj: &K,
    status: &serde_json::Value,
) -> Result<(), Error> {
    let current = serde_json::to_value(obj)
        .ok()
        .and_then(|v| v.get("status").cloned());
    if current.as_ref() == Some(status) {
        return Ok(());
    }
    let api: Api<K> = ctx.api_in(&obj.namespace().unwrap_or_default());
    let patch = json!({"apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status});
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(Error::kube("apply child status"))?;
    Ok(())
}

/// Publish the Event that goes with a changed Ready condition.
pub async fn readiness_event<K: Child>(ctx: &Context, obj: &K, readiness: &Readiness) {
    let type_ = if readiness.ready {
        EventType::Normal
    } else {
        EventType::Warning
    };
    ctx.event(
        obj,
        type_,
        &readiness.reason,
        "Reconcile",
        readiness.message.clone(),
    )
    .await;
}

/// Reconciler for Routes, Authorizers and Stages themselves. Their AWS side is
/// converged by their RestApi's reconciler (one writer per API); this one only
/// answers what that reconciler cannot: the RestApi is missing or not ready (a
/// condition that names it), and releasing the finalizer of a child whose API
/// is gone.
pub async fn reconcile_reference<K: Child>(
    obj: Arc<K>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    use tracing::Instrument;
    let span = tracing::info_span!(
        "reconcile",
        kind = K::KIND,
        namespace = %obj.namespace().unwrap_or_default(),
        object_name = %obj.name_any(),
        rest_api = %obj.rest_api_name()
    );
    check_reference(obj, ctx).instrument(span).await
}

async fn check_reference<K: Child>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let api_name = obj.rest_api_name().to_string();
    let rest_apis: Api<RestApi> = ctx.api_in(&namespace);
    let rest_api = rest_apis
        .get_opt(&api_name)
        .await
        .map_err(Error::kube("get RestApi"))?;
    let readiness = match &rest_api {
        None => {
            if is_deleting(obj.as_ref()) {
                // Nothing in AWS can be left: the API itself is gone.
                remove_finalizer(&ctx, obj.as_ref()).await?;
                return Ok(Action::await_change());
            }
            Readiness::not(
                "RestApiNotFound",
                format!("RestApi {api_name} does not exist in namespace {namespace}"),
            )
        }
        Some(api) if is_deleting(api) => {
            if is_deleting(obj.as_ref()) {
                remove_finalizer(&ctx, obj.as_ref()).await?;
                return Ok(Action::await_change());
            }
            // The RestApi's cleanup tells its children when it is done; look again
            // shortly in case this object outlives it.
            return Ok(Action::requeue(std::time::Duration::from_secs(5)));
        }
        Some(api) => {
            let api_ready = api.status.as_ref().is_some_and(|s| {
                s.rest_api_id.is_some()
                    && s.conditions
                        .iter()
                        .any(|c| c.type_ == READY && c.status == "True")
            });
            if api_ready {
                // The RestApi's reconciler owns this object's status from here on.
                return Ok(Action::await_change());
            }
            let why = api
                .status
                .as_ref()
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == READY))
                .map(|c| format!(": {}", c.message))
                .unwrap_or_default();
            Readiness::not(
                "RestApiNotReady",
                format!("RestApi {api_name} is not ready yet{why}"),
            )
        }
    };
    let (conditions, changed) = next_conditions(obj.as_ref(), &readiness);
    if changed || obj.conditions() != conditions.as_slice() {
        let api: Api<K> = ctx.api_in(&namespace);
        let patch = json!({"status": {"conditions": conditions, "observedGeneration": obj.meta().generation}});
        api.patch_status(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(Error::kube("patch status"))?;
    }
    if changed {
        readiness_event(&ctx, obj.as_ref(), &readiness).await;
    }
    Ok(Action::await_change())
}
