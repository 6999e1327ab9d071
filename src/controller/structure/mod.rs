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
    Parent, Readiness, RestApiChildren, add_finalizer, apply_status, is_deleting, list_children,
    next_conditions, readiness_event, remove_finalizer,
};
use super::conditions::is_ready;
use super::{Context, Error};
use crate::api::common::DeletionPolicy;
use crate::api::rest_api::{LambdaPermissionGrant, RestApiStatus};
use crate::api::{Authorizer, RestApi, Route, Stage};
use crate::plan::authorizer::{
    AuthorizerSettings, authorizer_patch_operations, authorizer_permission_function,
    desired_authorizer, find_observed,
};
use crate::plan::lambda::{FunctionRef, PolicyKey};
use crate::plan::models::{ModelAction, desired_models, plan_models};
use crate::plan::routes::StructureAction;
use crate::plan::routes::{
    AuthorizerState, DesiredContext, DesiredStructure, RouteInput, RouteOutcome, desired_structure,
    plan_structure,
};

mod apply;
mod authorizers;
mod permissions;
mod report;

use apply::*;
use authorizers::*;
pub use permissions::referenced_functions;
use permissions::*;
use report::*;

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

/// Converge the API's structure and report into every child. `status` is the
/// RestApi's status as the pass has it so far (what a progress report shows).
pub async fn converge(
    obj: &RestApi,
    status: &RestApiStatus,
    ctx: &Context,
    api_id: &str,
) -> Result<StructureReport, Error> {
    let RestApiChildren {
        routes,
        authorizers,
        stages,
    } = RestApiChildren::list(ctx, obj).await?;
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
    let mut imported = false;
    if !ctx.aws.is_observe_only()
        && let Some(body) = whole_api_document(obj, &desired, &observed, &actions, simple)
    {
        imported = import_whole_api(ctx, obj, api_id, &body, &actions).await;
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
        show_progress(obj, status, ctx, actions.len(), &routes).await;
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
        // An import overwrote the models and validators with the document's: none,
        // as only an API that wants none is imported whole. Remembering that spares
        // the next pass (typically a Route edit) the two reads.
        if (read_models || imported) && !ctx.aws.is_observe_only() {
            let in_place = if imported {
                BTreeMap::new()
            } else {
                validators.clone()
            };
            ctx.shared
                .models
                .remember(api_id.to_string(), (wanted_key, in_place));
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
    let name = api.name_any();
    let RestApiChildren {
        routes,
        authorizers,
        stages,
    } = RestApiChildren::list(ctx, api).await?;
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
