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
use crate::api::{Authorizer, Condition, RestApi, Route, Stage, WebSocketApi};

/// A kind that belongs to one API: a RestApi through `spec.restApiRef`, or (Stages
/// only) a WebSocketApi through `spec.webSocketApiRef`.
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
    fn parent(&self) -> Parent<'_>;
    fn conditions(&self) -> &[Condition];
    /// The AWS API id the API's reconciler last reported this object under.
    fn reported_api_id(&self) -> Option<&str>;

    /// The RestApi this object belongs to, if it belongs to one.
    fn rest_api_name(&self) -> Option<&str> {
        match self.parent() {
            Parent::RestApi(name) => Some(name),
            Parent::WebSocketApi(_) => None,
        }
    }
}

/// The API an object belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parent<'a> {
    RestApi(&'a str),
    WebSocketApi(&'a str),
}

impl Parent<'_> {
    pub fn kind(&self) -> &'static str {
        match self {
            Parent::RestApi(_) => "RestApi",
            Parent::WebSocketApi(_) => "WebSocketApi",
        }
    }
    /// Ready reasons of a child whose API is missing or not ready.
    pub fn not_found_reason(&self) -> &'static str {
        match self {
            Parent::RestApi(_) => "RestApiNotFound",
            Parent::WebSocketApi(_) => "WebSocketApiNotFound",
        }
    }
    pub fn not_ready_reason(&self) -> &'static str {
        match self {
            Parent::RestApi(_) => "RestApiNotReady",
            Parent::WebSocketApi(_) => "WebSocketApiNotReady",
        }
    }
    pub fn name(&self) -> &str {
        match self {
            Parent::RestApi(n) | Parent::WebSocketApi(n) => n,
        }
    }
    /// The field selector path of the reference (a selectable field of the CRDs).
    pub fn reference_field(&self) -> &'static str {
        match self {
            Parent::RestApi(_) => "spec.restApiRef.name",
            Parent::WebSocketApi(_) => "spec.webSocketApiRef.name",
        }
    }
}

/// Every child kind has the same conditions; `$parent` says how it names its API.
macro_rules! impl_child {
    ($kind:ty, $name:literal, $parent:expr, $reported:expr) => {
        impl Child for $kind {
            const KIND: &'static str = $name;
            fn parent(&self) -> Parent<'_> {
                $parent(self)
            }
            fn conditions(&self) -> &[Condition] {
                self.status
                    .as_ref()
                    .map(|s| s.conditions.as_slice())
                    .unwrap_or_default()
            }
            fn reported_api_id(&self) -> Option<&str> {
                self.status.as_ref().and_then($reported)
            }
        }
    };
}

impl_child!(
    Route,
    "Route",
    route_parent,
    |s: &crate::api::route::RouteStatus| s.rest_api_id.as_deref()
);
impl_child!(
    Authorizer,
    "Authorizer",
    authorizer_parent,
    |s: &crate::api::authorizer::AuthorizerStatus| s.rest_api_id.as_deref()
);
impl_child!(
    Stage,
    "Stage",
    stage_parent,
    |s: &crate::api::stage::StageStatus| s
        .rest_api_id
        .as_deref()
        .or(s.web_socket_api_id.as_deref())
);

fn route_parent(r: &Route) -> Parent<'_> {
    Parent::RestApi(&r.spec.rest_api_ref.name)
}

fn authorizer_parent(a: &Authorizer) -> Parent<'_> {
    Parent::RestApi(&a.spec.rest_api_ref.name)
}

/// The schema requires exactly one of the two references; an object stored before
/// that rule (or with neither) is treated as a RestApi stage with no name, which
/// no RestApi matches.
fn stage_parent(s: &Stage) -> Parent<'_> {
    match (&s.spec.rest_api_ref, &s.spec.web_socket_api_ref) {
        (_, Some(ws)) => Parent::WebSocketApi(&ws.name),
        (Some(rest), None) => Parent::RestApi(&rest.name),
        (None, None) => Parent::RestApi(""),
    }
}

/// Whether the API server refused a field selector on a reference (a cluster
/// older than Kubernetes 1.31 has no CRD selectable fields): lists then filter here.
static FIELD_SELECTORS_REFUSED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Children of `parent` in `namespace`, sorted by name. The API server filters by
/// the reference (the CRDs' selectable fields), so a pass over one API of a
/// namespace with a thousand Routes decodes its own twenty, not the thousand.
pub async fn list_children<K: Child>(
    ctx: &Context,
    namespace: &str,
    parent: Parent<'_>,
) -> Result<Vec<K>, Error> {
    use std::sync::atomic::Ordering::Relaxed;
    let api: Api<K> = ctx.api_in(namespace);
    let by_parent =
        ListParams::default().fields(&format!("{}={}", parent.reference_field(), parent.name()));
    let listed = if FIELD_SELECTORS_REFUSED.load(Relaxed) {
        api.list(&ListParams::default()).await
    } else {
        match api.list(&by_parent).await {
            Err(kube::Error::Api(e)) if e.code == 400 => {
                tracing::info!(error = %e.message, "the API server takes no field selector on references; listing whole namespaces");
                FIELD_SELECTORS_REFUSED.store(true, Relaxed);
                api.list(&ListParams::default()).await
            }
            other => other,
        }
    };
    let mut items: Vec<K> = listed
        .map_err(Error::kube("list children"))?
        .items
        .into_iter()
        .filter(|c| c.parent() == parent)
        .collect();
    items.sort_by_key(|c| c.name_any());
    Ok(items)
}

/// A RestApi's Routes, Authorizers and Stages, each kind listed once.
pub struct RestApiChildren {
    pub routes: Vec<Route>,
    pub authorizers: Vec<Authorizer>,
    pub stages: Vec<Stage>,
}

impl RestApiChildren {
    pub async fn list(ctx: &Context, api: &RestApi) -> Result<Self, Error> {
        let namespace = api.namespace().unwrap_or_default();
        let name = api.name_any();
        let parent = Parent::RestApi(&name);
        Ok(RestApiChildren {
            routes: list_children(ctx, &namespace, parent).await?,
            authorizers: list_children(ctx, &namespace, parent).await?,
            stages: list_children(ctx, &namespace, parent).await?,
        })
    }
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
    patch_finalizers(ctx, obj, finalizers).await?;
    // The status versions noted of it (`apply_status`) would outlive it otherwise.
    ctx.forget(&obj.uid().unwrap_or_default());
    Ok(())
}

async fn patch_finalizers<K: Child>(
    ctx: &Context,
    obj: &K,
    finalizers: Vec<String>,
) -> Result<(), Error> {
    let api: Api<K> = ctx.api_in(&obj.namespace().unwrap_or_default());
    // A JSON patch that tests the finalizers it replaces: it fails (422) only when
    // someone else changed them, never because a status was written meanwhile,
    // which a resourceVersion precondition would make a conflict of every
    // Route's first status write while its API's pass adds the finalizers.
    let before = if obj.finalizers().is_empty() {
        serde_json::Value::Null
    } else {
        json!(obj.finalizers())
    };
    let op = if before.is_null() { "add" } else { "replace" };
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers", "value": before},
        {"op": op, "path": "/metadata/finalizers", "value": finalizers},
    ]))
    .expect("a JSON patch of two operations");
    match api
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Json::<()>(patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        // Already gone: nothing left to hold.
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(Error::Kube {
            operation: super::error::FINALIZER_PATCH,
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
    let written = match api
        .patch_status(
            &obj.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
    {
        Ok(written) => written,
        // The child vanished since the pass listed it (deleted once its finalizer
        // went, or never held one): nobody is left to tell, and it is no failure
        // of the parent's pass or cleanup.
        Err(kube::Error::Api(e)) if e.code == 404 => {
            tracing::debug!(child = %obj.name_any(), "child gone before its status write");
            return Ok(());
        }
        Err(e) => return Err(Error::kube("apply child status")(e)),
    };
    // The child's reference reconciler reads it again rather than act on a copy
    // from before this write.
    ctx.note_status_version(
        &obj.uid().unwrap_or_default(),
        written.meta().resource_version.as_deref(),
    );
    Ok(())
}

/// Publish the Event that goes with a changed Ready condition.
pub async fn readiness_event<K: Child>(ctx: &Context, obj: &K, readiness: &Readiness) {
    let type_ = if readiness.ready {
        EventType::Normal
    } else {
        super::reasons::event_type(&readiness.reason)
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
/// converged by their API's reconciler (one writer per API); this one only
/// answers what that reconciler cannot: the API is missing or not ready (a
/// condition that names it), and releasing the finalizer of a child whose API
/// is gone.
pub async fn reconcile_reference<K: Child>(
    obj: Arc<K>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    use tracing::Instrument;
    let parent = obj.parent();
    let span = tracing::info_span!(
        "reconcile",
        kind = K::KIND,
        namespace = %obj.namespace().unwrap_or_default(),
        object_name = %obj.name_any(),
        parent_kind = parent.kind(),
        parent = %parent.name()
    );
    check_reference(obj, ctx).instrument(span).await
}

/// What a child needs to know of its API object.
struct ParentState {
    deleting: bool,
    /// A RestApi built from an OpenAPI document: Routes and Authorizers do not apply.
    by_document: bool,
    /// Created in AWS and Ready.
    ready: bool,
    /// Its id in AWS, once created.
    id: Option<String>,
    /// The API's Ready message, when it is not ready.
    why: Option<String>,
}

impl ParentState {
    /// Whether the API's reconciler answers for `child`'s status: the API is Ready,
    /// or it has reported the child under its current id. From then on the API's
    /// passes tell the child everything, failures included, and the reference
    /// reconciler stays silent: a pass that shows "Applying" or a retried error on
    /// the API does not flip its Routes from InEffect to RestApiNotReady and back.
    fn answers_for<K: Child>(&self, child: &K) -> bool {
        self.ready || (self.id.is_some() && child.reported_api_id() == self.id.as_deref())
    }
}

async fn parent_state(
    ctx: &Context,
    namespace: &str,
    parent: Parent<'_>,
) -> Result<Option<ParentState>, Error> {
    fn state(meta_deleting: bool, id: Option<String>, conditions: &[Condition]) -> ParentState {
        let ready_condition = conditions.iter().find(|c| c.type_ == READY);
        ParentState {
            deleting: meta_deleting,
            by_document: false,
            ready: id.is_some() && ready_condition.is_some_and(|c| c.status == "True"),
            id,
            why: ready_condition.map(|c| c.message.clone()),
        }
    }
    Ok(match parent {
        Parent::RestApi(name) => ctx
            .api_in::<RestApi>(namespace)
            .get_opt(name)
            .await
            .map_err(Error::kube("get RestApi"))?
            .map(|api| {
                let status = api.status.clone().unwrap_or_default();
                ParentState {
                    by_document: api.spec.openapi.is_some(),
                    ..state(is_deleting(&api), status.rest_api_id, &status.conditions)
                }
            }),
        // A WebSocket stage depends on its API existing, not on every route being
        // right: once the API is made, the API's reconciler reports the stage itself.
        Parent::WebSocketApi(name) => ctx
            .api_in::<WebSocketApi>(namespace)
            .get_opt(name)
            .await
            .map_err(Error::kube("get WebSocketApi"))?
            .map(|api| {
                let status = api.status.clone().unwrap_or_default();
                let why = status
                    .conditions
                    .iter()
                    .find(|c| c.type_ == READY)
                    .map(|c| c.message.clone());
                ParentState {
                    deleting: is_deleting(&api),
                    by_document: false,
                    ready: status.api_id.is_some(),
                    id: status.api_id,
                    why,
                }
            }),
    })
}

/// The reason a child is given when its API object was deleted with its API.
pub const API_DELETED: &str = "RestApiDeleted";

async fn check_reference<K: Child>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let parent = obj.parent();
    let (kind, api_name) = (parent.kind(), parent.name().to_string());
    // A child waiting for its API says so in its condition; no Event: the API's own
    // Events tell that story once, not once per Route of a new API.
    let mut waiting_for_parent = false;
    let readiness = match parent_state(&ctx, &namespace, parent).await? {
        None => {
            if is_deleting(obj.as_ref()) {
                // Nothing in AWS can be left: the API itself is gone.
                remove_finalizer(&ctx, obj.as_ref()).await?;
                return Ok(Action::await_change());
            }
            // Told by the API's cleanup that its API was deleted: that says more
            // than "not found", and stays until the API comes back.
            let told_deleted = obj
                .conditions()
                .iter()
                .any(|c| c.type_ == READY && c.reason == API_DELETED);
            if told_deleted {
                return Ok(Action::await_change());
            }
            Readiness::not(
                parent.not_found_reason(),
                format!("{kind} {api_name} does not exist in namespace {namespace}"),
            )
        }
        // Nothing of a Route or Authorizer reaches a document-built API: say so
        // at once, as the API's reconciler does, whether or not it is Ready yet.
        Some(api) if api.by_document && matches!(K::KIND, "Route" | "Authorizer") => {
            if is_deleting(obj.as_ref()) {
                remove_finalizer(&ctx, obj.as_ref()).await?;
                return Ok(Action::await_change());
            }
            super::document::refusal(&api_name, K::KIND)
        }
        Some(api) if api.deleting => {
            if is_deleting(obj.as_ref()) {
                remove_finalizer(&ctx, obj.as_ref()).await?;
                return Ok(Action::await_change());
            }
            // The API's cleanup tells its children when it is done; look again
            // shortly in case this object outlives it.
            return Ok(Action::requeue(std::time::Duration::from_secs(5)));
        }
        Some(api) if api.answers_for(obj.as_ref()) => {
            // The API's reconciler owns this object's status from here on.
            return Ok(Action::await_change());
        }
        Some(api) => {
            waiting_for_parent = true;
            let why = api.why.map(|m| format!(": {m}")).unwrap_or_default();
            Readiness::not(
                parent.not_ready_reason(),
                format!("{kind} {api_name} is not ready yet{why}"),
            )
        }
    };
    let (conditions, changed) = next_conditions(obj.as_ref(), &readiness);
    if changed || obj.conditions() != conditions.as_slice() {
        let api: Api<K> = ctx.api_in(&namespace);
        // Only over the copy decided on: a status the API's reconciler wrote since
        // makes this a conflict (retried with the newer copy), not an overwrite.
        let patch = json!({
            "metadata": {"resourceVersion": obj.resource_version()},
            "status": {"conditions": conditions, "observedGeneration": obj.meta().generation},
        });
        api.patch_status(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(Error::kube("patch status"))?;
    }
    if changed && !waiting_for_parent {
        readiness_event(&ctx, obj.as_ref(), &readiness).await;
    }
    Ok(Action::await_change())
}

/// The claims of Stages on their stage names; `holds` says whether a Stage's status
/// shows it manages its stage.
pub fn stage_claims<'a>(
    stages: &'a [Stage],
    holds: impl Fn(&Stage) -> bool,
) -> Vec<crate::plan::claims::NameClaim<'a>> {
    stages
        .iter()
        .map(|s| crate::plan::claims::NameClaim {
            object: s.metadata.name.as_deref().unwrap_or_default(),
            name: &s.spec.stage_name,
            created: s
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string()),
            holds: holds(s),
            deleting: is_deleting(s),
        })
        .collect()
}
