//! Converges everything inside one REST API that other objects declare: its
//! Authorizers, the resource tree and methods of its Routes, and the Lambda invoke
//! permissions they need. The RestApi reconciler calls this after the API's own
//! settings converge, so one reconciler is the only writer of an API's structure,
//! and it reports back into each child's status.
//!
//! It may touch: the API's authorizers, resources and methods in AWS, Lambda
//! function policies (only statements named `apigw-API_ID...`), the children's
//! finalizers and statuses, Events on the children.

use std::collections::{BTreeMap, BTreeSet};

use kube::ResourceExt;
use kube::runtime::events::EventType;
use serde_json::json;

use super::children::{
    Parent, Readiness, add_finalizer, apply_status, is_deleting, list_children, next_conditions,
    readiness_event, remove_finalizer,
};
use super::conditions::{READY, is_ready};
use super::{Context, Error};
use crate::api::common::DeletionPolicy;
use crate::api::rest_api::LambdaPermissionGrant;
use crate::api::{Authorizer, RestApi, Route, Stage};
use crate::plan::authorizer::{
    AuthorizerSettings, authorizer_patch_operations, authorizer_permission_function,
    desired_authorizer, find_observed,
};
use crate::plan::lambda::{FunctionRef, GrantKey, PolicyKey, desired_permissions};
use crate::plan::models::{ModelAction, desired_models, plan_models};
use crate::plan::routes::StructureAction;
use crate::plan::routes::{
    AuthorizerState, DesiredContext, DesiredStructure, RouteInput, RouteOutcome, desired_structure,
    plan_structure,
};

/// What the structure pass found, for the RestApi's own status and for deployments.
#[derive(Debug, Default)]
pub struct StructureReport {
    /// Every live route and authorizer of the API is in effect.
    pub all_in_effect: bool,
    /// Number of routes in effect.
    pub routes_in_effect: usize,
    /// Canonical text of what a deployment snapshots, the input of its fingerprint.
    pub canonical: String,
    /// Lambda permissions in place now (kept in the RestApi's status).
    pub granted: Vec<LambdaPermissionGrant>,
    /// The API's Stage objects as listed for this pass, for the stage pass that follows.
    pub stages: Vec<Stage>,
    /// The Routes and Authorizers not in effect, as "Route name (Reason)".
    pub blocking: Vec<String>,
    /// The methods the Routes declare, (path, verb): what routeSettings may name.
    pub methods: BTreeSet<crate::plan::routes::MethodKey>,
    /// What keeps the RestApi itself from Ready once its stages are converged
    /// (a document naming a function that does not exist).
    pub failure: Option<Error>,
}

/// The operator's AWS coordinates, which complete names into ARNs.
struct Coordinates {
    account: String,
    region: String,
    partition: &'static str,
}

/// Converge the API's structure and report into every child.
pub async fn converge(
    obj: &RestApi,
    ctx: &Context,
    api_id: &str,
) -> Result<StructureReport, Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let routes: Vec<Route> = list_children(ctx, &namespace, Parent::RestApi(&name)).await?;
    let authorizers: Vec<Authorizer> =
        list_children(ctx, &namespace, Parent::RestApi(&name)).await?;
    let stages: Vec<Stage> = list_children(ctx, &namespace, Parent::RestApi(&name)).await?;
    let coords = Coordinates {
        account: ctx.aws.account_id().await?.to_string(),
        region: ctx.aws.region.clone(),
        partition: ctx.aws.partition(),
    };

    // Hold every live child with a finalizer before AWS gets anything of it, so a
    // delete always passes through the cleanup below.
    // Several at a time: the first pass over hundreds of new Routes would
    // otherwise spend its first seconds on these writes alone.
    let finalizers: Vec<_> = routes
        .iter()
        .filter(|r| !is_deleting(*r))
        .map(|route| add_finalizer(ctx, route))
        .collect();
    several_at_a_time(finalizers).await?;
    for authorizer in authorizers.iter().filter(|a| !is_deleting(*a)) {
        add_finalizer(ctx, authorizer).await?;
    }

    // Authorizers first: methods refer to them by id.
    let mut first_error: Option<Error> = None;
    let mut authorizer_results =
        converge_authorizers(ctx, api_id, &authorizers, &coords, &mut first_error).await?;
    let authorizer_states: BTreeMap<String, AuthorizerState> = authorizer_results
        .iter()
        .map(|(name, r)| (name.clone(), r.state.clone()))
        .collect();

    let lambda_uri = |function: &str| match FunctionRef::parse(function) {
        Ok(f) => f.invocation_uri(coords.partition, &coords.region, &coords.account),
        Err(_) => function.to_string(),
    };
    // Models and validators that methods refer to must exist before the methods.
    let live = routes.iter().filter(|r| !is_deleting(*r));
    let wanted_models =
        desired_models(live.map(|r| (r.metadata.name.as_deref().unwrap_or_default(), &r.spec)));
    // Models and validators are read only when something may have changed them:
    // a route wants some, a route is going, or a route's spec changed since last seen.
    let models_may_change = !wanted_models.is_empty()
        || routes.iter().any(|r| {
            is_deleting(r)
                || r.status.as_ref().and_then(|s| s.observed_generation) != r.metadata.generation
        });
    // Nor when this process found exactly these models in place within the resync.
    let wanted_key = format!("{wanted_models:?}");
    let known_validators = ctx
        .shared
        .models
        .fresh(api_id, super::memo::max_age(ctx.settings.resync))
        .filter(|(known, _)| *known == wanted_key)
        .map(|(_, validators)| validators);
    let read_models = models_may_change && known_validators.is_none();
    if !models_may_change && !ctx.aws.is_observe_only() {
        // Nothing wants models and nothing changed since they last converged: what
        // AWS holds is what is wanted, as far as any pass could tell without a read.
        ctx.shared
            .models
            .remember(api_id.to_string(), (wanted_key.clone(), BTreeMap::new()));
    }
    let (observed_validators, observed_models) = if read_models {
        (
            ctx.aws.get_request_validators(api_id).await?,
            ctx.aws.get_models(api_id).await?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let (models_before, models_after) = if known_validators.is_some() {
        (Vec::new(), Vec::new())
    } else {
        plan_models(&wanted_models, &observed_models, &observed_validators)
    };
    let mut validators: BTreeMap<String, String> = known_validators.unwrap_or_else(|| {
        observed_validators
            .iter()
            .map(|v| (v.name.clone(), v.id.clone()))
            .collect()
    });
    for action in &models_before {
        tracing::info!(?action, "model change");
        if let Some(id) = ctx.aws.apply_model_action(api_id, action).await?
            && let ModelAction::CreateValidator { name, .. } = action
        {
            validators.insert(name.clone(), id);
        }
    }
    let desired_ctx = DesiredContext {
        authorizers: &authorizer_states,
        lambda_uri: &lambda_uri,
        validators: &validators,
        region: &coords.region,
        partition: coords.partition,
        account: &coords.account,
        access: &ctx.access,
    };
    let inputs: Vec<RouteInput<'_>> = routes
        .iter()
        .map(|r| RouteInput {
            name: r.metadata.name.as_deref().unwrap_or_default(),
            spec: &r.spec,
            created: r
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default(),
            was_in_effect: r
                .status
                .as_ref()
                .is_some_and(|s| s.resource_id.is_some() && is_ready(&s.conditions)),
            deleting: is_deleting(r),
        })
        .collect();
    let desired = desired_structure(&inputs, &desired_ctx);

    let mut observed = ctx.aws.get_resources(api_id).await?;
    let mut actions = plan_structure(&desired, &observed);
    let simple = authorizers.is_empty() && wanted_models.is_empty();
    if !ctx.aws.is_observe_only()
        && let Some(body) = whole_api_document(obj, &desired, &observed, &actions, simple)
    {
        import_whole_api(ctx, obj, api_id, &body, &actions).await;
        // Whatever the import did, the pass goes on from what AWS holds now.
        observed = ctx.aws.get_resources(api_id).await?;
        actions = plan_structure(&desired, &observed);
    }
    let mut ids: BTreeMap<String, String> = observed
        .iter()
        .map(|r| (r.path.clone(), r.id.clone()))
        .collect();
    for action in &actions {
        ctx.aws
            .note_planned(action.describe().trim_end().to_string());
    }
    if !actions.is_empty() && !ctx.aws.is_observe_only() {
        show_progress(obj, ctx, actions.len(), &routes).await;
    }
    let (structure_failure, rejected) =
        apply_structure(ctx, api_id, &mut ids, &actions, &routes).await;
    if !actions.is_empty() && structure_failure.is_none() {
        tracing::info!(changes = actions.len(), "API structure converged");
    }

    // Models and validators nothing refers to any more go after the methods moved off them.
    if structure_failure.is_none() {
        for action in &models_after {
            tracing::info!(?action, "model change");
            ctx.aws.apply_model_action(api_id, action).await?;
        }
        if read_models && !ctx.aws.is_observe_only() {
            ctx.shared
                .models
                .remember(api_id.to_string(), (wanted_key, validators.clone()));
        }
    } else {
        ctx.shared.models.forget(api_id);
    }

    // Authorizers on their way out go once no method uses them any more, and
    // permissions follow what is now in the API.
    let (granted, missing_functions) = match &structure_failure {
        None => {
            release_authorizers(ctx, api_id, &authorizers, &routes, &mut authorizer_results)
                .await?;
            let inputs = PermissionInputs {
                routes: &routes,
                desired: &desired,
                authorizers: &authorizers,
            };
            converge_permissions(ctx, obj, api_id, &inputs, &authorizer_results).await?
        }
        Some(_) => (previous_grants(obj), BTreeSet::new()),
    };

    let stage_names: Vec<String> = stages
        .iter()
        .filter(|s| !is_deleting(*s))
        .map(|s| s.spec.stage_name.clone())
        .collect();
    let mut report = StructureReport {
        all_in_effect: true,
        granted,
        ..Default::default()
    };
    report.stages = stages;
    report.methods = desired.methods.keys().cloned().collect();
    report_authorizers(ctx, api_id, &authorizers, &authorizer_results, &mut report).await?;
    let reporting = RouteReporting {
        api_id,
        desired: &desired,
        ids: &ids,
        stage_names: &stage_names,
        failure: structure_failure.as_ref(),
        rejected: &rejected,
        missing_functions: &missing_functions,
        coords: &coords,
    };
    report_routes(ctx, &routes, &reporting, &mut report).await?;
    report.canonical = canonical_structure(&desired, &authorizer_results);
    if let Some(e) = structure_failure.or(first_error) {
        return Err(e);
    }
    Ok(report)
}

/// Calls an incremental plan must cost before one import of the whole API replaces
/// it: two seconds of the account's 10 requests/s, so a one-route edit stays a few
/// writes of its own.
const WHOLE_API_MIN_CALLS: usize = 20;

/// The whole API as one OpenAPI document, when one PutRestApi (overwrite) is the
/// cheaper way to carry out `actions` and overwriting loses nothing: an API the
/// operator created (never an adopted one), without Authorizers or models (their
/// ids would change under the methods), whose methods in AWS are all ones the
/// Routes declare (nothing hand-made, retained or on its way out).
fn whole_api_document(
    obj: &RestApi,
    desired: &DesiredStructure,
    observed: &[crate::plan::routes::ObservedResource],
    actions: &[StructureAction],
    simple: bool,
) -> Option<String> {
    if obj.spec.rest_api_id.is_some()
        || !simple
        || crate::plan::routes::structure_cost(actions) < WHOLE_API_MIN_CALLS
    {
        return None;
    }
    let declared = |path: &str, verb: &str| {
        desired
            .methods
            .contains_key(&(path.to_string(), verb.to_string()))
    };
    if !observed
        .iter()
        .all(|r| r.methods.keys().all(|verb| declared(&r.path, verb)))
    {
        return None;
    }
    let settings =
        crate::plan::rest_api::desired_settings(&obj.spec, &obj.name_any(), None).ok()?;
    crate::plan::openapi::render_structure(&desired.methods, &settings)
}

/// One PutRestApi in place of `actions`. A failure is logged, not returned: the
/// pass then writes what is still missing one call at a time.
async fn import_whole_api(
    ctx: &Context,
    obj: &RestApi,
    api_id: &str,
    body: &str,
    actions: &[StructureAction],
) {
    let calls = crate::plan::routes::structure_cost(actions);
    match ctx.aws.put_rest_api(api_id, body, false).await {
        Ok(warnings) => {
            tracing::info!(calls, ?warnings, "imported the whole API in one call");
            ctx.shared.rest_apis.forget(&obj.uid().unwrap_or_default());
            ctx.shared
                .rest_api_listings
                .forget(&super::rest_api::scope_of(&ctx.aws));
            ctx.event(
                obj,
                EventType::Normal,
                "Imported",
                "Import",
                format!(
                    "wrote the API's structure in one import (PutRestApi) instead of {calls} calls"
                ),
            )
            .await;
        }
        Err(e) => {
            tracing::warn!(error = %e, calls, "importing the whole API failed; writing it one call at a time")
        }
    }
}

/// How one Authorizer object came out of this pass.
#[derive(Clone, Debug)]
struct AuthorizerResult {
    state: AuthorizerState,
    readiness: Option<Readiness>,
    id: Option<String>,
    settings: Option<AuthorizerSettings>,
}

impl AuthorizerResult {
    fn not_ready(readiness: Readiness, id: Option<String>) -> Self {
        AuthorizerResult {
            state: AuthorizerState::NotReady,
            readiness: Some(readiness),
            id,
            settings: None,
        }
    }
}

async fn converge_authorizers(
    ctx: &Context,
    api_id: &str,
    authorizers: &[Authorizer],
    coords: &Coordinates,
    first_error: &mut Option<Error>,
) -> Result<BTreeMap<String, AuthorizerResult>, Error> {
    let mut out = BTreeMap::new();
    if authorizers.is_empty() {
        return Ok(out);
    }
    let observed = ctx.aws.get_authorizers(api_id).await?;
    let mut changed: Vec<(&Authorizer, &str, String)> = Vec::new();
    for a in authorizers {
        let name = a.name_any();
        let known_id = a.status.as_ref().and_then(|s| s.authorizer_id.clone());
        let cognito = a.spec.cognito.is_some();
        if is_deleting(a) {
            // Still in AWS until its routes are gone: keep them working meanwhile.
            let state = match &known_id {
                Some(id) => AuthorizerState::Ready {
                    id: id.clone(),
                    cognito,
                },
                None => AuthorizerState::NotReady,
            };
            out.insert(
                name,
                AuthorizerResult {
                    state,
                    readiness: None,
                    id: known_id,
                    settings: None,
                },
            );
            continue;
        }
        let desired = match desired_authorizer(
            &a.spec,
            &name,
            coords.partition,
            &coords.region,
            &coords.account,
        ) {
            Ok(d) => d,
            Err(e) => {
                out.insert(
                    name,
                    AuthorizerResult::not_ready(
                        Readiness::not("InvalidSpec", e.to_string()),
                        known_id,
                    ),
                );
                continue;
            }
        };
        let existing = find_observed(&desired.name, known_id.as_deref(), &observed);
        let home = crate::plan::access::Home {
            partition: coords.partition,
            region: &coords.region,
            account: &coords.account,
        };
        if let Err(refused) = ctx.access.authorizer(&a.spec, home) {
            out.insert(
                name,
                AuthorizerResult::not_ready(
                    Readiness::not("ReferenceNotAllowed", refused.to_string()),
                    existing.map(|o| o.id.clone()),
                ),
            );
            continue;
        }
        let ops = existing.map(|o| authorizer_patch_operations(&desired, &o.settings));
        let must_write = ops.as_ref().is_none_or(|ops| !ops.is_empty());
        let new_generation =
            a.status.as_ref().and_then(|s| s.observed_generation) != a.metadata.generation;
        // Pools are checked when about to be written or when the spec changed, not on every resync.
        if let Some(spec) = &a.spec.cognito
            && (must_write || new_generation)
        {
            let mut missing = Vec::new();
            for pool in &spec.user_pools {
                if !ctx.aws.user_pool_exists(pool).await? {
                    missing.push(pool.clone());
                }
            }
            if !missing.is_empty() {
                let readiness = Readiness::not(
                    "UserPoolNotFound",
                    format!(
                        "Cognito user pool {} does not exist in this account; create it or fix spec.cognito.userPools",
                        missing.join(", ")
                    ),
                );
                out.insert(
                    name,
                    AuthorizerResult::not_ready(readiness, existing.map(|o| o.id.clone())),
                );
                continue;
            }
        }
        // The function of a Lambda authorizer likewise: API Gateway accepts an
        // authorizer whose function does not exist, and every request then fails.
        if let Some(spec) = &a.spec.lambda
            && (must_write || new_generation)
            && let Ok(function) = FunctionRef::parse(&spec.function_name)
            && !ctx
                .aws
                .function_exists(
                    &function.unqualified_arn(coords.partition, &coords.region, &coords.account),
                    function.qualifier.as_deref(),
                )
                .await?
        {
            let readiness = Readiness::not(
                "LambdaFunctionNotFound",
                format!(
                    "Lambda function {} of this authorizer does not exist; deploy it or fix spec.lambda.functionName (its routes wait)",
                    spec.function_name
                ),
            );
            out.insert(
                name,
                AuthorizerResult::not_ready(readiness, existing.map(|o| o.id.clone())),
            );
            continue;
        }
        let result = match (existing, ops) {
            (Some(o), Some(ops)) if ops.is_empty() => Ok(o.id.clone()),
            (Some(o), Some(ops)) => {
                ctx.aws
                    .update_authorizer(api_id, &o.id, &ops)
                    .await
                    .map(|_| {
                        tracing::info!(authorizer_id = %o.id, "updated authorizer");
                        changed.push((
                            a,
                            "Updated",
                            format!("updated authorizer {} in REST API {api_id}", o.id),
                        ));
                        o.id.clone()
                    })
            }
            _ => ctx
                .aws
                .create_authorizer(api_id, &desired)
                .await
                .map(|created| {
                    tracing::info!(authorizer_id = %created.id, "created authorizer");
                    changed.push((
                        a,
                        "Created",
                        format!("created authorizer {} in REST API {api_id}", created.id),
                    ));
                    created.id
                }),
        };
        match result {
            Ok(id) => {
                let readiness = Readiness::ok(
                    "Available",
                    format!(
                        "authorizer {id} ({}) is in effect in REST API {api_id}",
                        desired.type_
                    ),
                );
                let state = AuthorizerState::Ready {
                    id: id.clone(),
                    cognito,
                };
                out.insert(
                    name,
                    AuthorizerResult {
                        state,
                        readiness: Some(readiness),
                        id: Some(id),
                        settings: Some(desired),
                    },
                );
            }
            Err(e) => {
                let e = Error::from(e);
                let readiness = Readiness::not(e.reason(), e.to_string());
                // Routes keep using the authorizer as it is while its update fails.
                let mut result =
                    AuthorizerResult::not_ready(readiness, existing.map(|o| o.id.clone()));
                if let Some(o) = existing {
                    result.state = AuthorizerState::Ready {
                        id: o.id.clone(),
                        cognito,
                    };
                }
                out.insert(name, result);
                first_error.get_or_insert(e);
            }
        }
    }
    for (authorizer, reason, note) in changed {
        ctx.event(authorizer, EventType::Normal, reason, reason, note)
            .await;
    }
    Ok(out)
}

/// Structure writes of one API in flight at once, and how many of them may be
/// resource creations or deletions. CreateResource has a budget of its own (5/s)
/// below the account's 10/s: with a few of them waiting on it, the methods of
/// resources already made use the rest of the account's budget meanwhile.
const STRUCTURE_WRITERS: usize = 6;
const RESOURCE_WRITERS: usize = 2;

/// Carry out a structure plan, independent writes at once (`structure_dependencies`)
/// within the limiter's budget. This reconcile stays the API's only writer, and a
/// crash anywhere leaves a state the next pass reads back and plans from. A method
/// AWS rejects as invalid fails its own route only; any other failure stops new
/// writes, lets those in flight finish, and is returned.
async fn apply_structure(
    ctx: &Context,
    api_id: &str,
    ids: &mut BTreeMap<String, String>,
    actions: &[StructureAction],
    routes: &[Route],
) -> (Option<Error>, BTreeMap<(String, String), Error>) {
    use futures::StreamExt;
    use futures::stream::FuturesUnordered;

    let deps = crate::plan::routes::structure_dependencies(actions);
    let is_resource_write = |a: &StructureAction| {
        matches!(
            a,
            StructureAction::CreateResource { .. } | StructureAction::DeleteResource { .. }
        )
    };
    let mut started = vec![false; actions.len()];
    let mut done = vec![false; actions.len()];
    let mut resource_writes = 0;
    let mut failure: Option<Error> = None;
    let mut rejected: BTreeMap<(String, String), Error> = BTreeMap::new();
    let mut in_flight = FuturesUnordered::new();
    loop {
        if failure.is_none() {
            for (i, action) in actions.iter().enumerate() {
                if in_flight.len() >= STRUCTURE_WRITERS {
                    break;
                }
                let resource_write = is_resource_write(action);
                if started[i]
                    || (resource_write && resource_writes >= RESOURCE_WRITERS)
                    || !deps[i].iter().all(|j| done[*j])
                {
                    continue;
                }
                started[i] = true;
                resource_writes += usize::from(resource_write);
                // Each write gets the ids it reads; what it creates or deletes is merged back.
                let mut own: BTreeMap<String, String> = action_paths(action)
                    .into_iter()
                    .filter_map(|p| Some((p.clone(), ids.get(&p)?.clone())))
                    .collect();
                in_flight.push(async move {
                    tracing::info!(?action, "structure change");
                    let result = ctx
                        .aws
                        .apply_structure_action(api_id, &mut own, action)
                        .await;
                    if result.is_ok() {
                        method_event(ctx, routes, action).await;
                    }
                    (i, own, result)
                });
            }
        }
        let Some((i, own, result)) = in_flight.next().await else {
            break;
        };
        let action = &actions[i];
        resource_writes -= usize::from(is_resource_write(action));
        match result {
            Ok(()) => {
                done[i] = true;
                match action {
                    StructureAction::CreateResource { path } => {
                        if let Some(id) = own.get(path) {
                            ids.insert(path.clone(), id.clone());
                        }
                    }
                    StructureAction::DeleteResource { path } => {
                        ids.remove(path);
                    }
                    _ => {}
                }
            }
            Err(e) if !e.is_retryable() && matches!(action, StructureAction::PutMethod { .. }) => {
                if let StructureAction::PutMethod { path, verb, .. } = action {
                    tracing::warn!(%path, %verb, error = %e, "AWS rejected a method; its route is reported, the others go on");
                    rejected.insert((path.clone(), verb.clone()), Error::from(e));
                }
                done[i] = true;
            }
            Err(e) => {
                if failure.is_none() {
                    failure = Some(Error::from(e));
                }
            }
        }
    }
    (failure, rejected)
}

/// The paths whose resource ids a structure write reads: its own and its parent's.
fn action_paths(action: &StructureAction) -> [String; 2] {
    match action {
        StructureAction::CreateResource { path } => {
            [path.clone(), crate::plan::routes::parent_path(path)]
        }
        StructureAction::DeleteMethod { path, .. }
        | StructureAction::PutMethod { path, .. }
        | StructureAction::DeleteResource { path } => [path.clone(), path.clone()],
    }
}

/// A Normal Event on the route whose method a structure change touched.
async fn method_event(ctx: &Context, routes: &[Route], action: &StructureAction) {
    let (path, verb, reason, note) = match action {
        StructureAction::PutMethod { path, verb, .. } => (
            path,
            verb,
            "MethodPut",
            format!("put {verb} {path} with its integration"),
        ),
        StructureAction::DeleteMethod { path, verb } => (
            path,
            verb,
            "MethodDeleted",
            format!("deleted {verb} {path}"),
        ),
        _ => return,
    };
    let owner = routes.iter().find(|r| {
        &r.spec.path == path && crate::plan::routes::verb(r.spec.method) == verb.as_str()
    });
    if let Some(route) = owner {
        ctx.event(route, EventType::Normal, reason, reason, note)
            .await;
    }
}

/// Delete authorizers whose objects are going, once no live route uses them.
async fn release_authorizers(
    ctx: &Context,
    api_id: &str,
    authorizers: &[Authorizer],
    routes: &[Route],
    results: &mut BTreeMap<String, AuthorizerResult>,
) -> Result<(), Error> {
    for a in authorizers.iter().filter(|a| is_deleting(*a)) {
        let name = a.name_any();
        let users: Vec<String> = routes
            .iter()
            .filter(|r| !is_deleting(*r))
            .filter(|r| {
                r.spec
                    .authorization
                    .as_ref()
                    .and_then(|x| x.authorizer_ref.as_ref())
                    .is_some_and(|x| x.name == name)
            })
            .map(|r| r.name_any())
            .collect();
        if !users.is_empty() {
            let readiness = Readiness::not(
                "InUse",
                format!(
                    "still used by Route {}: change or delete those routes first; the authorizer stays until then",
                    users.join(", ")
                ),
            );
            if let Some(r) = results.get_mut(&name) {
                r.readiness = Some(readiness);
            }
            continue;
        }
        if a.spec.deletion_policy == DeletionPolicy::Delete
            && let Some(id) = a.status.as_ref().and_then(|s| s.authorizer_id.clone())
        {
            ctx.aws.delete_authorizer(api_id, &id).await?;
            tracing::info!(authorizer_id = %id, "deleted authorizer");
            ctx.event(
                a,
                EventType::Normal,
                "Deleted",
                "Delete",
                format!("deleted authorizer {id} from REST API {api_id}"),
            )
            .await;
        }
        remove_finalizer(ctx, a).await?;
        results.remove(&name);
    }
    Ok(())
}

/// Before a pass writes to the structure of an API that is not Ready (being made,
/// or recovering from a failure): Ready=False `Applying` with what the pass will
/// do, so a long pass shows progress instead of the last error. An API that is
/// Ready stays so while an edit applies. The final status write of the pass
/// replaces it (`Shared::mark_status_written` makes sure it is not skipped).
async fn show_progress(obj: &RestApi, ctx: &Context, changes: usize, routes: &[Route]) {
    let status = obj.status.clone().unwrap_or_default();
    if is_ready(&status.conditions) {
        return;
    }
    let live = routes.iter().filter(|r| !is_deleting(*r));
    let total = live.clone().count();
    let in_effect = live
        .filter(|r| r.status.as_ref().is_some_and(|s| is_ready(&s.conditions)))
        .count();
    let mut shown = status;
    super::conditions::set_condition(
        &mut shown.conditions,
        super::conditions::condition(
            READY,
            false,
            "Applying",
            format!(
                "applying {changes} change(s) to the structure of the API; {in_effect} of {total} Route(s) in effect so far"
            ),
            obj.metadata.generation,
            &super::conditions::now_rfc3339(),
        ),
    );
    match super::outcome::write_status(obj, ctx, &shown).await {
        Ok(()) => ctx.mark_status_written(&obj.uid().unwrap_or_default()),
        Err(e) => tracing::debug!(error = %e, "could not show progress"),
    }
}

/// The functions (unqualified ARN, qualifier) the API's Routes and Authorizers name,
/// whatever their state: where statements of the API may be.
pub async fn referenced_functions(
    obj: &RestApi,
    ctx: &Context,
) -> Result<BTreeSet<PolicyKey>, Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let routes: Vec<Route> = list_children(ctx, &namespace, Parent::RestApi(&name)).await?;
    let authorizers: Vec<Authorizer> =
        list_children(ctx, &namespace, Parent::RestApi(&name)).await?;
    let account = ctx.aws.account_id().await?.to_string();
    let (partition, region) = (ctx.aws.partition(), ctx.aws.region.clone());
    let named = routes
        .iter()
        .filter_map(|r| {
            r.spec
                .integration
                .lambda
                .as_ref()
                .map(|l| l.function_name.as_str())
        })
        .chain(
            authorizers
                .iter()
                .filter_map(|a| a.spec.lambda.as_ref().map(|l| l.function_name.as_str())),
        );
    Ok(named
        .filter_map(|f| FunctionRef::parse(f).ok())
        .map(|f| {
            (
                f.unqualified_arn(partition, &region, &account),
                f.qualifier.clone(),
            )
        })
        .collect())
}

fn previous_grants(obj: &RestApi) -> Vec<LambdaPermissionGrant> {
    obj.status
        .as_ref()
        .map(|s| s.lambda_permissions.clone())
        .unwrap_or_default()
}

/// The objects whose functions need invoke permissions.
struct PermissionInputs<'a> {
    routes: &'a [Route],
    desired: &'a DesiredStructure,
    authorizers: &'a [Authorizer],
}

/// Grant API Gateway the right to invoke every function the API's routes and
/// authorizers call, one statement per function per API, and take back grants no
/// longer needed. Returns the grants now in place and the functions that do not exist.
async fn converge_permissions(
    ctx: &Context,
    obj: &RestApi,
    api_id: &str,
    inputs: &PermissionInputs<'_>,
    authorizer_results: &BTreeMap<String, AuthorizerResult>,
) -> Result<(Vec<LambdaPermissionGrant>, BTreeSet<PolicyKey>), Error> {
    let route_functions: Vec<FunctionRef> = inputs
        .routes
        .iter()
        .filter(|r| {
            let name = r.metadata.name.as_deref().unwrap_or_default();
            matches!(
                inputs.desired.outcomes.get(name),
                Some(RouteOutcome::Accepted { .. })
            )
        })
        .filter_map(|r| r.spec.integration.lambda.as_ref())
        .filter_map(|l| FunctionRef::parse(&l.function_name).ok())
        .collect();
    let previous = previous_grants(obj);
    let authorizer_functions: Vec<(String, FunctionRef)> = inputs
        .authorizers
        .iter()
        .filter(|a| !is_deleting(*a))
        .filter_map(|a| {
            let result = authorizer_results.get(&a.name_any())?;
            let id = result.id.clone()?;
            let refused = result
                .readiness
                .as_ref()
                .is_some_and(|r| r.reason == "ReferenceNotAllowed");
            let f = if refused {
                // Not updated in AWS, so it still calls the function it was granted
                // for: that grant stays, and the refused function gets none.
                let statement = crate::plan::lambda::authorizer_statement_id(api_id, &id);
                let grant = previous.iter().find(|g| g.statement_id == statement)?;
                let named = match &grant.qualifier {
                    Some(q) => format!("{}:{q}", grant.function),
                    None => grant.function.clone(),
                };
                FunctionRef::parse(&named).ok()?
            } else {
                authorizer_permission_function(&a.spec).ok()??
            };
            Some((id, f))
        })
        .collect();
    let execute_api_arn = ctx.aws.execute_api_arn(api_id).await?;
    let wanted = desired_permissions(
        api_id,
        &execute_api_arn,
        &route_functions,
        &authorizer_functions,
    );
    let previously: BTreeSet<GrantKey> = previous
        .into_iter()
        .map(|g| (g.function, g.qualifier, g.statement_id))
        .collect();
    super::permissions::sync(ctx, api_id, wanted, &previously).await
}

async fn report_authorizers(
    ctx: &Context,
    api_id: &str,
    authorizers: &[Authorizer],
    results: &BTreeMap<String, AuthorizerResult>,
    report: &mut StructureReport,
) -> Result<(), Error> {
    for a in authorizers {
        let Some(result) = results.get(&a.name_any()) else {
            continue;
        };
        let Some(readiness) = &result.readiness else {
            continue;
        };
        if !readiness.ready {
            report.all_in_effect = false;
            report.blocking.push(format!(
                "Authorizer {} ({})",
                a.name_any(),
                readiness.reason
            ));
        }
        let (conditions, changed) = next_conditions(a, readiness);
        let mut status = json!({
            "observedGeneration": a.metadata.generation,
            "restApiId": api_id,
            "conditions": conditions,
        });
        if let Some(id) = &result.id {
            status["authorizerId"] = json!(id);
        }
        apply_status(ctx, a, &status).await?;
        if changed {
            readiness_event(ctx, a, readiness).await;
        }
    }
    Ok(())
}

/// Everything report_routes needs to know about the pass.
struct RouteReporting<'a> {
    api_id: &'a str,
    desired: &'a DesiredStructure,
    ids: &'a BTreeMap<String, String>,
    stage_names: &'a [String],
    failure: Option<&'a Error>,
    rejected: &'a BTreeMap<(String, String), Error>,
    missing_functions: &'a BTreeSet<PolicyKey>,
    coords: &'a Coordinates,
}

/// Why a route's Authorizer is not among its API's: it does not exist, or it
/// belongs to another API (only read in this case, never on a healthy pass).
async fn missing_authorizer(ctx: &Context, route: &Route, name: &str) -> String {
    let api: kube::Api<Authorizer> = ctx.api_in(&route.namespace().unwrap_or_default());
    match api.get_opt(name).await {
        Ok(Some(other)) => format!(
            "Authorizer {name} belongs to RestApi {}, not to this route's RestApi {}; a route can use only the authorizers of its own API",
            other.spec.rest_api_ref.name, route.spec.rest_api_ref.name
        ),
        _ => format!("Authorizer {name} does not exist in this namespace"),
    }
}

async fn report_routes(
    ctx: &Context,
    routes: &[Route],
    r: &RouteReporting<'_>,
    report: &mut StructureReport,
) -> Result<(), Error> {
    let api_id = r.api_id;
    let base_url = ctx.aws.execute_api_url(api_id);
    let mut writes = Vec::new();
    for route in routes {
        let name = route.name_any();
        if is_deleting(route) {
            // Its method is gone (or retained): release the object.
            if r.failure.is_none() {
                remove_finalizer(ctx, route).await?;
            }
            continue;
        }
        let missing_function = route.spec.integration.lambda.as_ref().and_then(|l| {
            let f = FunctionRef::parse(&l.function_name).ok()?;
            let key = (
                f.unqualified_arn(r.coords.partition, &r.coords.region, &r.coords.account),
                f.qualifier.clone(),
            );
            r.missing_functions
                .contains(&key)
                .then(|| l.function_name.clone())
        });
        let none = || (None, BTreeMap::new());
        let (readiness, (resource_id, urls)) = match r.desired.outcomes.get(&name) {
            Some(RouteOutcome::Accepted { path, verb }) => match (
                r.failure.or(r.rejected.get(&(path.clone(), verb.clone()))),
                missing_function,
            ) {
                (Some(err), _) => (Readiness::not(err.reason(), err.to_string()), none()),
                (None, Some(function)) => (
                    Readiness::not(
                        "LambdaFunctionNotFound",
                        format!(
                            "Lambda function {function} does not exist; the method is in place, and API Gateway \
                             is granted permission to invoke the function once it exists"
                        ),
                    ),
                    (r.ids.get(path).cloned(), BTreeMap::new()),
                ),
                (None, None) => {
                    let suffix = if path == "/" { "" } else { path.as_str() };
                    let urls: BTreeMap<String, String> = r
                        .stage_names
                        .iter()
                        .map(|stage| (stage.clone(), format!("{base_url}/{stage}{suffix}")))
                        .collect();
                    report.routes_in_effect += 1;
                    let message = format!("{verb} {path} is in effect in REST API {api_id}");
                    (
                        Readiness::ok("InEffect", message),
                        (r.ids.get(path).cloned(), urls),
                    )
                }
            },
            Some(RouteOutcome::Conflict { holder }) => (
                Readiness::not(
                    "MethodConflict",
                    format!(
                        "{} {} is already declared by Route {holder}",
                        crate::plan::routes::verb(route.spec.method),
                        route.spec.path
                    ),
                ),
                none(),
            ),
            Some(RouteOutcome::PathConflict { message }) => {
                (Readiness::not("PathConflict", message.clone()), none())
            }
            Some(RouteOutcome::AuthorizerMissing { name }) => (
                Readiness::not(
                    "AuthorizerNotFound",
                    missing_authorizer(ctx, route, name).await,
                ),
                none(),
            ),
            Some(RouteOutcome::AuthorizerNotReady { name }) => (
                Readiness::not(
                    "AuthorizerNotReady",
                    format!(
                        "Authorizer {name} is not in effect yet; the route waits so it is never exposed unprotected"
                    ),
                ),
                none(),
            ),
            Some(RouteOutcome::Invalid { message }) => {
                (Readiness::not("InvalidSpec", message.clone()), none())
            }
            Some(RouteOutcome::NotAllowed { message }) => (
                Readiness::not("ReferenceNotAllowed", message.clone()),
                none(),
            ),
            Some(RouteOutcome::Deleting) | None => continue,
        };
        if !readiness.ready {
            report.all_in_effect = false;
            report
                .blocking
                .push(format!("Route {name} ({})", readiness.reason));
        }
        let (conditions, changed) = next_conditions(route, &readiness);
        let mut status = json!({
            "observedGeneration": route.metadata.generation,
            "restApiId": api_id,
            "conditions": conditions,
        });
        if let Some(id) = resource_id {
            status["resourceId"] = json!(id);
        }
        if !urls.is_empty() {
            status["invokeUrls"] = json!(urls);
        }
        writes.push((route, readiness, status, changed));
    }
    // Statuses go out several at a time: a pass over hundreds of routes would
    // otherwise keep the last route waiting for every write before it.
    let writes: Vec<_> = writes
        .into_iter()
        .map(|(route, readiness, status, changed)| {
            write_route_status(ctx, route, readiness, status, changed)
        })
        .collect();
    several_at_a_time(writes).await
}

async fn write_route_status(
    ctx: &Context,
    route: &Route,
    readiness: Readiness,
    status: serde_json::Value,
    changed: bool,
) -> Result<(), Error> {
    apply_status(ctx, route, &status).await?;
    if changed {
        readiness_event(ctx, route, &readiness).await;
    }
    Ok(())
}

/// Route finalizer and status writes in flight at once (the API server's budget, not AWS's).
const STATUS_WRITERS: usize = 8;

/// Run Kubernetes writes a few at a time; the first failure is returned.
async fn several_at_a_time<F>(writes: Vec<F>) -> Result<(), Error>
where
    F: std::future::Future<Output = Result<(), Error>>,
{
    use futures::{StreamExt, TryStreamExt};
    futures::stream::iter(writes)
        .buffer_unordered(STATUS_WRITERS)
        .try_collect::<Vec<()>>()
        .await
        .map(|_| ())
}

/// A stable text of what a deployment snapshots: methods and authorizers. The same
/// API always gives the same text, whatever order the objects were listed in.
fn canonical_structure(
    desired: &DesiredStructure,
    authorizers: &BTreeMap<String, AuthorizerResult>,
) -> String {
    let methods: BTreeMap<String, &crate::plan::routes::MethodSettings> = desired
        .methods
        .iter()
        .map(|((path, verb), m)| (format!("{verb} {path}"), m))
        .collect();
    let authorizers: BTreeMap<&String, String> = authorizers
        .iter()
        .filter_map(|(name, r)| Some((name, format!("{:?}", r.settings.as_ref()?))))
        .collect();
    serde_json::to_string(&json!({"methods": methods, "authorizers": authorizers}))
        .unwrap_or_default()
}

/// Release every child that is being deleted (the API they lived in is gone) and
/// tell the others their API is gone.
pub async fn release_children(ctx: &Context, api: &RestApi) -> Result<(), Error> {
    let namespace = api.namespace().unwrap_or_default();
    let name = api.name_any();
    let routes: Vec<Route> = list_children(ctx, &namespace, Parent::RestApi(&name)).await?;
    let authorizers: Vec<Authorizer> =
        list_children(ctx, &namespace, Parent::RestApi(&name)).await?;
    let stages: Vec<Stage> = list_children(ctx, &namespace, Parent::RestApi(&name)).await?;
    let gone = Readiness::not(
        super::children::API_DELETED,
        format!("RestApi {name} was deleted, and its REST API with it"),
    );
    macro_rules! release {
        ($items:expr) => {
            for child in $items.iter() {
                if is_deleting(child) {
                    remove_finalizer(ctx, child).await?;
                } else {
                    let (conditions, changed) = next_conditions(child, &gone);
                    let status = json!({"observedGeneration": child.metadata.generation, "conditions": conditions});
                    apply_status(ctx, child, &status).await?;
                    if changed {
                        readiness_event(ctx, child, &gone).await;
                    }
                }
            }
        };
    }
    release!(routes);
    release!(authorizers);
    release!(stages);
    Ok(())
}
