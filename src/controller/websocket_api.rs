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
use crate::plan::lambda::{FunctionRef, GrantKey, desired_permissions};
use crate::plan::rest_api::{OWNER_UID_TAG, Owner, SpecError};
use crate::plan::websocket::{
    ApiAction, AuthorizerAction, AuthorizerSettings, ObservedApi, ObservedAuthorizer,
    ObservedIntegration, ObservedRoute, ResponseStep, StageAction, Step, callback_url, desired_api,
    desired_routes, desired_stage, plan_api, plan_authorizers, plan_routes, plan_stage, stage_url,
    wss_endpoint,
};

/// How soon a pass looks again when a Stage could not be converged.
const STAGE_RETRY: Duration = Duration::from_secs(30);

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

/// Create and update the spec's authorizers; returns their ids by name. Authorizers
/// the spec dropped are recorded in status until the route pass has let go of them.
async fn converge_authorizers(
    obj: &WebSocketApi,
    ctx: &Context,
    coords: &Observed,
    status: &mut WebSocketApiStatus,
    notes: &mut Vec<(&'static str, String)>,
) -> Result<BTreeMap<String, String>, Error> {
    let aws = &ctx.aws;
    let mut desired = Vec::new();
    for a in &obj.spec.authorizers {
        // The schema refuses Cognito and JWT authorizers and requires lambda.
        let Some(lambda) = &a.lambda else { continue };
        desired.push(AuthorizerSettings {
            name: a.name.clone(),
            uri: coords.invocation_uri(&lambda.function_name)?,
            identity_sources: lambda.identity_sources.clone(),
            credentials_arn: lambda.credentials_role_arn.clone(),
        });
    }
    let api_id = coords.api_id.as_str();
    let recorded: BTreeSet<&str> = status
        .authorizers
        .iter()
        .map(|a| a.authorizer_id.as_str())
        .collect();
    let named = |a: &ObservedAuthorizer| desired.iter().any(|d| d.name == a.settings.name);
    // The operator's authorizers: those it recorded, and those with a name the spec
    // gives (one made by a pass that could not record it, or one an adopted API
    // already had). Any other authorizer of an adopted API is left alone.
    let candidates = match aws.list_websocket_authorizers(api_id).await? {
        Some(all) => all,
        None => {
            // Without a listing: the recorded ids, and those the spec's routes use.
            let ids: BTreeSet<&str> = recorded
                .iter()
                .copied()
                .chain(
                    coords
                        .routes
                        .iter()
                        .filter(|r| obj.spec.routes.iter().any(|s| s.route_key == r.key))
                        .filter_map(|r| r.authorizer_id.as_deref()),
                )
                .collect();
            let mut found = Vec::new();
            for id in ids {
                found.extend(aws.get_websocket_authorizer(api_id, id).await?);
            }
            found
        }
    };
    let mut candidates: Vec<ObservedAuthorizer> = candidates
        .into_iter()
        .filter(|a| recorded.contains(a.id.as_str()) || named(a))
        .collect();
    // With two of one name, the recorded one is kept; the other goes once unused.
    candidates.sort_by_key(|a| !recorded.contains(a.id.as_str()));
    let mut observed: Vec<ObservedAuthorizer> = Vec::new();
    let mut extra: Vec<ObservedAuthorizer> = Vec::new();
    for a in candidates {
        if !observed.iter().any(|o| o.settings.name == a.settings.name) {
            observed.push(a);
        } else if !status.adopted || recorded.contains(a.id.as_str()) {
            // A second one of a name: on its own API the operator made it (a pass
            // that could not record it); on an adopted one only if it recorded it.
            extra.push(a);
        }
    }
    let (upserts, _) = plan_authorizers(&desired, &observed);
    for action in upserts {
        match action {
            AuthorizerAction::Create(s) => {
                let id = aws.create_websocket_authorizer(api_id, &s).await?;
                tracing::info!(authorizer_id = %id, name = %s.name, "created authorizer");
                notes.push((
                    "AuthorizerCreated",
                    format!(
                        "created authorizer {} ({id}) on WebSocket API {api_id}",
                        s.name
                    ),
                ));
                observed.push(ObservedAuthorizer { id, settings: s });
            }
            AuthorizerAction::Update { id, settings } => {
                aws.update_websocket_authorizer(api_id, &id, &settings)
                    .await?;
                notes.push((
                    "AuthorizerUpdated",
                    format!("updated authorizer {} ({id})", settings.name),
                ));
            }
        }
        status.authorizers = record_authorizers(&observed, &extra);
    }
    status.authorizers = record_authorizers(&observed, &extra);
    Ok(desired
        .iter()
        .filter_map(|d| {
            observed
                .iter()
                .find(|o| o.settings.name == d.name)
                .map(|o| (d.name.clone(), o.id.clone()))
        })
        .collect())
}

/// The authorizers the operator manages, for status (the extra ones until deleted).
fn record_authorizers(
    observed: &[ObservedAuthorizer],
    extra: &[ObservedAuthorizer],
) -> Vec<WebSocketAuthorizerStatus> {
    let mut out: Vec<WebSocketAuthorizerStatus> = observed
        .iter()
        .chain(extra)
        .map(|o| WebSocketAuthorizerStatus {
            name: o.settings.name.clone(),
            authorizer_id: o.id.clone(),
        })
        .collect();
    out.sort();
    out
}

/// Converge integrations, routes and route responses; returns the authorizers
/// (name, id) in status that the spec no longer has, now free to delete.
async fn converge_routes(
    obj: &WebSocketApi,
    ctx: &Context,
    coords: &Observed,
    authorizer_ids: &BTreeMap<String, String>,
    status: &mut WebSocketApiStatus,
    notes: &mut Vec<(&'static str, String)>,
) -> Result<Vec<(String, String)>, Error> {
    let aws = &ctx.aws;
    let desired = desired_routes(
        &obj.spec.routes,
        |f| coords.invocation_uri(f),
        authorizer_ids,
    )?;
    let api_id = coords.api_id.as_str();
    let (routes, integrations) = (&coords.routes, &coords.integrations);
    let responses = route_responses(ctx, coords, status).await?;
    let managed: BTreeSet<String> = status.routes.iter().map(|r| r.route_key.clone()).collect();
    let plan = plan_routes(
        &desired,
        routes,
        integrations,
        &responses,
        &managed,
        !status.adopted,
    );

    let mut recorded: BTreeMap<String, WebSocketRouteStatus> = status
        .routes
        .iter()
        .map(|r| (r.route_key.clone(), r.clone()))
        .collect();
    for plan in plan.plans.iter() {
        let key = plan.route.key.clone();
        let integration_id = match &plan.integration {
            Step::Keep(id) => id.clone(),
            Step::Update(id) => {
                aws.update_websocket_integration(api_id, id, &plan.route)
                    .await?;
                notes.push((
                    "IntegrationUpdated",
                    format!("updated the integration of route {key}"),
                ));
                id.clone()
            }
            Step::Create => {
                aws.create_websocket_integration(api_id, &plan.route)
                    .await?
            }
        };
        let route_id = match &plan.route_step {
            Step::Keep(id) => id.clone(),
            Step::Update(id) => {
                aws.update_websocket_route(api_id, id, &plan.route, &integration_id)
                    .await?;
                notes.push(("RouteUpdated", format!("updated route {key}")));
                id.clone()
            }
            Step::Create => {
                let id = aws
                    .create_websocket_route(api_id, &plan.route, &integration_id)
                    .await?;
                tracing::info!(route_id = %id, route_key = %key, "created route");
                notes.push(("RouteCreated", format!("created route {key} ({id})")));
                id
            }
        };
        let route_response_id = match &plan.response {
            ResponseStep::Absent => None,
            ResponseStep::Keep(id) => Some(id.clone()),
            ResponseStep::Create => Some(
                aws.create_websocket_route_response(api_id, &route_id)
                    .await?,
            ),
            ResponseStep::Delete(id) => {
                aws.delete_websocket_route_response(api_id, &route_id, id)
                    .await?;
                None
            }
        };
        recorded.insert(
            key.clone(),
            WebSocketRouteStatus {
                route_key: key,
                route_id,
                integration_id: Some(integration_id),
                route_response_id,
            },
        );
        status.routes = recorded.values().cloned().collect();
    }
    for removal in &plan.removals {
        aws.delete_websocket_route(api_id, &removal.route_id)
            .await?;
        tracing::info!(route_key = %removal.key, "deleted route");
        notes.push(("RouteDeleted", format!("deleted route {}", removal.key)));
        recorded.remove(&removal.key);
        status.routes = recorded.values().cloned().collect();
    }
    // Integrations go after every route that used them (two removed routes may
    // share one), each once.
    let unused: BTreeSet<&String> = plan
        .removals
        .iter()
        .filter_map(|r| r.integration_id.as_ref())
        .chain(&plan.orphan_integrations)
        .collect();
    for integration in unused {
        aws.delete_websocket_integration(api_id, integration)
            .await?;
        tracing::info!(integration_id = %integration, "deleted unused integration");
    }
    // Keys recorded but neither desired nor found are gone already.
    let desired_keys: BTreeSet<&str> = desired.iter().map(|d| d.key.as_str()).collect();
    recorded.retain(|k, _| desired_keys.contains(k.as_str()));
    status.routes = recorded.values().cloned().collect();
    status.route_count = i32::try_from(status.routes.len()).unwrap_or(i32::MAX);

    let in_use: BTreeSet<&String> = authorizer_ids.values().collect();
    Ok(status
        .authorizers
        .iter()
        .filter(|a| !in_use.contains(&a.authorizer_id))
        .map(|a| (a.name.clone(), a.authorizer_id.clone()))
        .collect())
}

/// Observe: the route responses known to exist, by route key: the recorded ones
/// whose route is still the same route (GetRouteResponse each; moto does not list them).
async fn route_responses(
    ctx: &Context,
    coords: &Observed,
    status: &WebSocketApiStatus,
) -> Result<BTreeMap<String, String>, Error> {
    let mut responses = BTreeMap::new();
    for recorded in &status.routes {
        let Some(response_id) = &recorded.route_response_id else {
            continue;
        };
        let same_route = coords
            .routes
            .iter()
            .any(|r| r.id == recorded.route_id && r.key == recorded.route_key);
        if same_route
            && ctx
                .aws
                .websocket_route_response_exists(&coords.api_id, &recorded.route_id, response_id)
                .await?
        {
            responses.insert(recorded.route_key.clone(), response_id.clone());
        }
    }
    Ok(responses)
}

/// Grant API Gateway the right to invoke every function of the routes and of the
/// authorizers without a credentials role. Returns the functions that do not exist.
async fn converge_permissions(
    obj: &WebSocketApi,
    ctx: &Context,
    coords: &Observed,
    authorizer_ids: &BTreeMap<String, String>,
    status: &mut WebSocketApiStatus,
) -> Result<Vec<String>, Error> {
    let mut route_functions = Vec::new();
    for r in &obj.spec.routes {
        route_functions.push(coords.parse(&r.function_name)?);
    }
    let mut authorizer_functions = Vec::new();
    for a in &obj.spec.authorizers {
        let (Some(lambda), Some(id)) = (&a.lambda, authorizer_ids.get(&a.name)) else {
            continue;
        };
        if lambda.credentials_role_arn.is_none() {
            authorizer_functions.push((id.clone(), coords.parse(&lambda.function_name)?));
        }
    }
    let api_id = coords.api_id.as_str();
    let execute_api_arn = ctx.aws.execute_api_arn(api_id).await?;
    let wanted = desired_permissions(
        api_id,
        &execute_api_arn,
        &route_functions,
        &authorizer_functions,
    );
    let previously: BTreeSet<GrantKey> = status
        .lambda_permissions
        .iter()
        .map(|g| {
            (
                g.function.clone(),
                g.qualifier.clone(),
                g.statement_id.clone(),
            )
        })
        .collect();
    let (granted, missing) = super::permissions::sync(ctx, api_id, wanted, &previously).await?;
    status.lambda_permissions = granted;
    Ok(missing
        .into_iter()
        .map(|(function, qualifier)| match qualifier {
            Some(q) => format!("{function}:{q}"),
            None => function,
        })
        .collect())
}

/// Converge every Stage of the API and write its status. A Stage that fails gets
/// the failure in its own condition and the others go on; returns whether one
/// failed (look again soon), or the first error that concerns no single Stage's
/// condition (a deletion or a status write), after every Stage had its turn.
async fn converge_stages(
    obj: &WebSocketApi,
    ctx: &Context,
    api: &ObservedApi,
    status: &mut WebSocketApiStatus,
    notes: &mut Vec<(&'static str, String)>,
) -> Result<bool, Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let stages: Vec<Stage> = list_children(ctx, &namespace, Parent::WebSocketApi(&name)).await?;
    let mut endpoints = Vec::new();
    // Who holds each stage name: the Stage that made it (its status names the API)
    // keeps it against a newcomer; otherwise the oldest.
    let holds = |s: &Stage| {
        s.status
            .as_ref()
            .and_then(|st| st.web_socket_api_id.as_deref())
            == Some(api.id.as_str())
    };
    let claims = super::children::stage_claims(&stages, holds);
    let taken = claims::holders(&claims);
    let mut failed = false;
    let mut first_error: Option<Error> = None;
    for (stage, claim) in stages.iter().zip(&claims) {
        let object = stage.name_any();
        let stage_name = stage.spec.stage_name.clone();
        let step: Result<(), Error> = async {
            if is_deleting(stage) {
                // Only the Stage that holds the stage name deletes it: not one that
                // lost a name conflict, nor one whose name another live Stage holds.
                if stage.spec.deletion_policy == DeletionPolicy::Delete
                    && super::children::has_finalizer(stage)
                    && holds(stage)
                    && claims::may_delete(&claims, claim)
                {
                    ctx.aws.delete_websocket_stage(&api.id, &stage_name).await?;
                    notes.push((
                        "StageDeleted",
                        format!("deleted stage {stage_name} of WebSocket API {}", api.id),
                    ));
                }
                return remove_finalizer(ctx, stage).await;
            }
            add_finalizer(ctx, stage).await?;
            if let Some(holder) = taken.get(&stage_name).filter(|h| **h != object) {
                let readiness = Readiness::not(
                    "StageNameConflict",
                    format!("Stage {holder} already manages stage {stage_name} of this API"),
                );
                return write_stage_status(ctx, stage, None, &readiness).await;
            }
            let endpoint = WebSocketStageEndpoint {
                stage_name: stage_name.clone(),
                stage: object.clone(),
                url: stage_url(&api.endpoint, &stage_name),
                callback_url: callback_url(&api.endpoint, &stage_name),
            };
            let previous = stage.status.clone().unwrap_or_default();
            let (readiness, fields) = match converge_stage(ctx, obj, &api.id, stage).await {
                Ok((deployment, changes)) => {
                    for change in changes {
                        notes.push(("StageUpdated", format!("stage {stage_name}: {change}")));
                    }
                    endpoints.push(endpoint.clone());
                    let ready = Readiness::ok(
                        "AutoDeploy",
                        format!(
                            "stage {stage_name} deploys every change of the API automatically; clients connect to {}",
                            endpoint.url
                        ),
                    );
                    let fields = json!({
                        "observedGeneration": stage.metadata.generation,
                        "webSocketApiId": &api.id,
                        "invokeUrl": &endpoint.url,
                        "callbackUrl": &endpoint.callback_url,
                        "deploymentId": deployment,
                    });
                    (ready, fields)
                }
                Err(err) => {
                    // A spec error waits for an edit (which wakes the API); the rest
                    // are looked at again soon.
                    failed |= err.is_retryable();
                    // A stage that exists keeps what status knew of it (its API id
                    // holds its name and binds it to domains and usage plans).
                    let fields = json!({
                        "observedGeneration": stage.metadata.generation,
                        "webSocketApiId": previous.web_socket_api_id,
                        "invokeUrl": previous.invoke_url,
                        "callbackUrl": previous.callback_url,
                        "deploymentId": previous.deployment_id,
                    });
                    (Readiness::not(err.reason(), err.to_string()), fields)
                }
            };
            write_stage_status(ctx, stage, Some(fields), &readiness).await
        }
        .await;
        if let Err(err) = step {
            tracing::warn!(stage = %object, error = %err, "stage not converged");
            failed = true;
            first_error.get_or_insert(err);
        }
    }
    endpoints.sort();
    status.stages = endpoints;
    match first_error {
        Some(err) => Err(err),
        None => Ok(failed),
    }
}

/// Create or update one stage; returns its deployment id (if AWS reports one) and
/// what changed.
async fn converge_stage(
    ctx: &Context,
    obj: &WebSocketApi,
    api_id: &str,
    stage: &Stage,
) -> Result<(Option<String>, Vec<String>), Error> {
    // AWS refuses the whole UpdateStage over one override of a route it lacks.
    for settings in &stage.spec.route_key_settings {
        if !obj
            .spec
            .routes
            .iter()
            .any(|r| r.route_key == settings.route_key)
        {
            return Err(Error::Spec(SpecError::UnknownRouteKey {
                key: settings.route_key.clone(),
                api: obj.name_any(),
            }));
        }
    }
    let aws = &ctx.aws;
    let desired = desired_stage(&stage.spec);
    let observed = aws.get_websocket_stage(api_id, &desired.name).await?;
    let mut deployment = observed.as_ref().and_then(|(_, d)| d.clone());
    let mut changes = Vec::new();
    for action in plan_stage(&desired, observed.as_ref().map(|(s, _)| s)) {
        let arn = aws.v2_arn(&format!("{api_id}/stages/{}", desired.name));
        match action {
            StageAction::Create => {
                aws.create_websocket_stage(api_id, &desired).await?;
                tracing::info!(stage = %desired.name, "created stage");
                changes.push("created with auto-deploy".to_string());
                deployment = aws
                    .get_websocket_stage(api_id, &desired.name)
                    .await?
                    .and_then(|(_, d)| d);
            }
            StageAction::Update => {
                aws.update_websocket_stage(api_id, &desired).await?;
                changes.push("updated settings".to_string());
            }
            StageAction::DeleteRouteSettings(keys) => {
                for key in &keys {
                    aws.delete_websocket_route_settings(api_id, &desired.name, key)
                        .await?;
                }
                changes.push(format!("removed the settings of route {}", keys.join(", ")));
            }
            StageAction::DeleteAccessLog => {
                aws.delete_websocket_access_log(api_id, &desired.name)
                    .await?;
                changes.push("removed access logging".to_string());
            }
            StageAction::Tag(tags) => {
                aws.tag_v2_resource(&arn, &tags).await?;
                changes.push("tagged".to_string());
            }
            StageAction::Untag(keys) => {
                aws.untag_v2_resource(&arn, &keys).await?;
                changes.push("untagged".to_string());
            }
        }
    }
    Ok((deployment, changes))
}

/// Write a Stage's status: the fields (when known) and its Ready condition.
async fn write_stage_status(
    ctx: &Context,
    stage: &Stage,
    fields: Option<serde_json::Value>,
    readiness: &Readiness,
) -> Result<(), Error> {
    let (conditions, changed) = next_conditions(stage, readiness);
    let mut status =
        fields.unwrap_or_else(|| json!({"observedGeneration": stage.metadata.generation}));
    status["conditions"] = json!(conditions);
    // Unknown fields are left out rather than written as null.
    if let Some(map) = status.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    apply_status(ctx, stage, &status).await?;
    if changed {
        readiness_event(ctx, stage, readiness).await;
    }
    Ok(())
}

/// Let go of the Stages of a deleted or retained API: their AWS side went with the
/// API, or stays with it.
async fn release_stages(ctx: &Context, obj: &WebSocketApi) -> Result<(), Error> {
    let stages: Vec<Stage> = list_children(
        ctx,
        &obj.namespace().unwrap_or_default(),
        Parent::WebSocketApi(&obj.name_any()),
    )
    .await?;
    for stage in &stages {
        remove_finalizer(ctx, stage).await?;
    }
    Ok(())
}
