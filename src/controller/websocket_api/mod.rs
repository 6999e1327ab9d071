//! `WebSocketApi` reconciler: the one writer of a WebSocket API. It observes the API,
//! its authorizers, integrations, routes and route responses, the Lambda policies of
//! the functions they call, and the API's Stages; plans (`plan::websocket`); applies;
//! and writes the status of the WebSocketApi and of its Stages.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use serde_json::json;
use tracing::field;

use super::children::{
    Parent, Readiness, add_finalizer, apply_status, is_deleting, list_children, next_conditions,
    readiness_event, remove_finalizer,
};
use super::owned::OwnsAwsResource;
use super::ownership::Target;
use super::{Context, Error};
use crate::api::Stage;
use crate::api::common::DeletionPolicy;
use crate::api::websocket_api::{
    WebSocketApi, WebSocketApiStatus, WebSocketAuthorizerStatus, WebSocketRouteStatus,
    WebSocketStageEndpoint,
};
use crate::plan::claims;
use crate::plan::lambda::FunctionRef;
use crate::plan::rest_api::{OWNER_UID_TAG, Owner, SpecError};
use crate::plan::websocket::{
    ApiAction, AuthorizerAction, AuthorizerSettings, ObservedApi, ObservedAuthorizer,
    ObservedIntegration, ObservedRoute, ResponseStep, StageAction, Step, callback_url, desired_api,
    desired_routes, desired_stage, plan_api, plan_authorizers, plan_routes, plan_stage, stage_url,
    wss_endpoint,
};

mod authorizers;
mod routes;
mod stages;

use authorizers::*;
use routes::*;
use stages::*;

/// Entry point for the controller runtime.
pub async fn reconcile(obj: Arc<WebSocketApi>, ctx: Arc<Context>) -> Result<Action, Error> {
    super::owned::reconcile(obj, ctx).await
}

impl OwnsAwsResource for WebSocketApi {
    const KIND: &'static str = "WebSocketApi";
    const NOUN: &'static str = "WebSocket API";
    const ID_FIELD: &'static str = "api_id";
    type Observed = ObservedApi;
    type Hint = ();

    fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "reconcile",
            kind = "WebSocketApi",
            namespace = %self.namespace().unwrap_or_default(),
            object_name = %self.name_any(),
            api_id = field::Empty
        )
    }
    async fn apply(obj: Arc<Self>, ctx: &Context) -> Result<Action, Error> {
        apply(obj, ctx).await
    }
    fn adoption(&self) -> Option<Target<'_>> {
        self.spec.api_id.as_deref().map(Target::WebSocketApi)
    }
    fn adopts_orphans(&self) -> bool {
        self.spec.adopt_orphaned
    }
    fn deletion_policy(&self) -> Option<DeletionPolicy> {
        self.spec.deletion_policy
    }
    fn recorded_id(&self) -> Option<String> {
        self.status.as_ref()?.api_id.clone()
    }
    fn id_of(observed: &ObservedApi) -> &str {
        &observed.id
    }
    fn tags_of(observed: &ObservedApi) -> &BTreeMap<String, String> {
        &observed.settings.tags
    }
    fn adopt_target_missing(id: &str) -> Error {
        Error::WebSocketAdoptTargetMissing(id.to_string())
    }
    /// An HTTP API of that id is not a WebSocket API to adopt.
    async fn read(ctx: &Context, id: &str) -> Result<Option<ObservedApi>, Error> {
        Ok(ctx
            .aws
            .get_websocket_api(id)
            .await?
            .filter(|a| a.protocol == "WEBSOCKET"))
    }
    async fn find_by_owner(
        &self,
        ctx: &Context,
        owner_uid: &str,
        _: &(),
    ) -> Result<Option<ObservedApi>, Error> {
        Ok(ctx
            .aws
            .find_websocket_api_by_tag(OWNER_UID_TAG, owner_uid)
            .await?)
    }
    /// Its routes, authorizers and stages went with it; the grants are still in
    /// the functions' policies and are taken back by the permission pass.
    fn forget_resource(status: &mut WebSocketApiStatus) {
        *status = WebSocketApiStatus {
            conditions: std::mem::take(&mut status.conditions),
            lambda_permissions: std::mem::take(&mut status.lambda_permissions),
            ..Default::default()
        };
    }
    async fn delete(&self, ctx: &Context, id: &str) -> Result<(), Error> {
        Ok(ctx.aws.delete_websocket_api(id).await?)
    }
    fn deleted_note(id: &str) -> String {
        format!("deleted WebSocket API {id} with its routes, authorizers and stages")
    }
    async fn released(&self, ctx: &Context, retained: bool, _: Option<&str>) -> Result<(), Error> {
        if !retained {
            let grants = self
                .status
                .as_ref()
                .map(|s| s.lambda_permissions.as_slice())
                .unwrap_or_default();
            super::permissions::revoke_all(ctx, grants).await?;
        }
        release_stages(ctx, self).await
    }
}

async fn apply(obj: Arc<WebSocketApi>, ctx: &Context) -> Result<Action, Error> {
    let mut status = obj.status.clone().unwrap_or_default();
    let mut notes: Vec<(&'static str, String)> = Vec::new();
    let result = converge(&obj, ctx, &mut status, &mut notes).await;
    let ready = if status.adopted {
        (
            "Adopted",
            "the adopted WebSocket API and its routes match the spec",
        )
    } else {
        (
            "Available",
            "the WebSocket API and its routes match the spec",
        )
    };
    super::outcome::finish(obj.as_ref(), ctx, status, notes, result, ready).await
}

/// What every part of a pass shares: the API, where its functions are (partition,
/// region and account complete function names), and its routes and integrations
/// as observed at the start of the pass.
struct Observed {
    api_id: String,
    partition: &'static str,
    region: String,
    account: String,
    routes: Vec<ObservedRoute>,
    integrations: Vec<ObservedIntegration>,
}

impl Observed {
    fn parse(&self, function_name: &str) -> Result<FunctionRef, Error> {
        FunctionRef::parse(function_name)
            .map_err(|e| Error::Spec(SpecError::FunctionName(e.to_string())))
    }

    fn invocation_uri(&self, function_name: &str) -> Result<String, Error> {
        Ok(self
            .parse(function_name)?
            .invocation_uri(self.partition, &self.region, &self.account))
    }
}

/// Observe, plan, apply. Fills `status` as soon as something is known, so a failure
/// halfway still records the ids of what was made.
async fn converge(
    obj: &WebSocketApi,
    ctx: &Context,
    status: &mut WebSocketApiStatus,
    notes: &mut Vec<(&'static str, String)>,
) -> Result<Option<Duration>, Error> {
    let aws = &ctx.aws;
    let owner = Owner {
        uid: obj.uid().unwrap_or_default(),
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
    };
    let adopting = obj.spec.api_id.is_some();
    references_allowed(obj, ctx).await?;
    // An adopted API carries the owner tags too: a second object cannot adopt it
    // while this one exists.
    let desired = desired_api(&obj.spec, &owner.name, &owner);
    let recorded = status.api_id.clone();
    let observed = super::owned::observe(obj, ctx, status, recorded, &()).await?;
    let mut current = observed.clone().unwrap_or_default();
    for action in plan_api(&desired, observed.as_ref().map(|o| &o.settings)) {
        match action {
            ApiAction::Create => {
                current = aws.create_websocket_api(&desired).await?;
                tracing::Span::current().record("api_id", current.id.as_str());
                tracing::info!("created WebSocket API");
                notes.push((
                    "Created",
                    format!("created WebSocket API {} ({})", current.id, desired.name),
                ));
                // Recorded before anything else is made in it.
                fill_status(ctx, status, &current, adopting).await?;
                let made = format!(
                    "WebSocket API {}; applying its routes, integrations and stages",
                    current.id
                );
                super::outcome::record_created(obj, ctx, status, &made).await;
            }
            ApiAction::Update(update) => {
                aws.update_websocket_api(&current.id, &update).await?;
                let fields = update.fields().join(", ");
                tracing::info!(%fields, "updated WebSocket API");
                notes.push((
                    "Updated",
                    format!("updated WebSocket API {}: {fields}", current.id),
                ));
            }
            ApiAction::Tag(tags) => {
                aws.tag_v2_resource(&aws.v2_arn(&current.id), &tags).await?;
                let keys: Vec<&str> = tags.keys().map(String::as_str).collect();
                notes.push((
                    "Tagged",
                    format!(
                        "set tags {} on WebSocket API {}",
                        keys.join(", "),
                        current.id
                    ),
                ));
            }
            ApiAction::Untag(keys) => {
                aws.untag_v2_resource(&aws.v2_arn(&current.id), &keys)
                    .await?;
                notes.push((
                    "Untagged",
                    format!(
                        "removed tags {} from WebSocket API {}",
                        keys.join(", "),
                        current.id
                    ),
                ));
            }
        }
    }
    fill_status(ctx, status, &current, adopting).await?;
    let api_id = current.id.clone();
    let observed = Observed {
        api_id: api_id.clone(),
        partition: aws.partition(),
        region: aws.region.clone(),
        account: aws.account_id().await?.to_string(),
        routes: aws.get_websocket_routes(&api_id).await?,
        integrations: aws.get_websocket_integrations(&api_id).await?,
    };

    // Stages are converged (and deleted Stages released) even when the API's
    // structure fails, so one bad route cannot hold every Stage deletion.
    let structure = converge_structure(obj, ctx, &observed, status, notes).await;
    let stages = converge_stages(obj, ctx, &current, status, notes).await;
    // The structure's failure is the one to report; a Stage's is in its condition.
    let missing_functions = structure?;
    let retry = stages?;
    if !missing_functions.is_empty() {
        return Err(Error::LambdaFunctionNotFound(format!(
            "Lambda function {} does not exist; routes are in place and API Gateway is granted \
             permission to invoke it once it exists",
            missing_functions.join(", ")
        )));
    }
    Ok(retry.then_some(STAGE_RETRY))
}

/// Every function and role the spec names, against the namespace's allow-lists,
/// before anything is made: a refused reference refuses the whole API.
async fn references_allowed(obj: &WebSocketApi, ctx: &Context) -> Result<(), Error> {
    if ctx.access.binding.is_none() {
        return Ok(());
    }
    let account = ctx.aws.account_id().await?.to_string();
    let home = crate::plan::access::Home {
        partition: ctx.aws.partition(),
        region: &ctx.aws.region,
        account: &account,
    };
    let refused = |e: crate::plan::access::NotAllowed| Error::ReferenceNotAllowed(e.to_string());
    for route in &obj.spec.routes {
        ctx.access
            .function_named(&route.function_name, home)
            .map_err(refused)?;
    }
    for lambda in obj
        .spec
        .authorizers
        .iter()
        .filter_map(|a| a.lambda.as_ref())
    {
        ctx.access
            .function_named(&lambda.function_name, home)
            .map_err(refused)?;
        if let Some(role) = &lambda.credentials_role_arn {
            ctx.access.role(role).map_err(refused)?;
        }
    }
    Ok(())
}

/// Authorizers, integrations, routes, route responses and invoke permissions.
/// Returns the functions that do not exist.
async fn converge_structure(
    obj: &WebSocketApi,
    ctx: &Context,
    observed: &Observed,
    status: &mut WebSocketApiStatus,
    notes: &mut Vec<(&'static str, String)>,
) -> Result<Vec<String>, Error> {
    let api_id = observed.api_id.as_str();
    let authorizer_ids = converge_authorizers(obj, ctx, observed, status, notes).await?;
    let removed_authorizers =
        converge_routes(obj, ctx, observed, &authorizer_ids, status, notes).await?;
    // Authorizers the spec dropped go once no route uses them: not even a route the
    // operator does not manage (AWS would refuse, on every pass).
    let in_use: BTreeSet<String> = if removed_authorizers.is_empty() {
        BTreeSet::new()
    } else {
        ctx.aws
            .get_websocket_routes(api_id)
            .await?
            .into_iter()
            .filter(|r| r.authorization_type == "CUSTOM")
            .filter_map(|r| r.authorizer_id)
            .collect()
    };
    for (name, id) in removed_authorizers {
        if in_use.contains(&id) {
            tracing::info!(authorizer_id = %id, "authorizer still used by a route; kept for now");
            continue;
        }
        ctx.aws.delete_websocket_authorizer(api_id, &id).await?;
        status.authorizers.retain(|a| a.authorizer_id != id);
        notes.push((
            "AuthorizerDeleted",
            format!("deleted authorizer {name} ({id}) from WebSocket API {api_id}"),
        ));
    }
    converge_permissions(obj, ctx, observed, &authorizer_ids, status).await
}

/// Find the API: by the adopted id, by the id in status, or by owner tag.
async fn fill_status(
    ctx: &Context,
    status: &mut WebSocketApiStatus,
    api: &ObservedApi,
    adopted: bool,
) -> Result<(), Error> {
    if api.id.is_empty() {
        return Ok(());
    }
    status.api_id = Some(api.id.clone());
    status.api_endpoint = Some(wss_endpoint(&api.endpoint));
    status.execute_api_arn = Some(ctx.aws.execute_api_arn(&api.id).await?);
    status.adopted = adopted;
    Ok(())
}
