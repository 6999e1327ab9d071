//! Converges everything inside one REST API that other objects declare: the
//! resource tree and methods of its Routes. The RestApi reconciler calls this
//! after the API's own settings converge, so one reconciler is the only writer of
//! an API's structure, and reports back into each child's status.
//!
//! It may touch: the API's resources and methods in AWS, the children's
//! finalizers and statuses, Events on the children.

use std::collections::BTreeMap;

use kube::ResourceExt;
use serde_json::json;

use super::children::{
    Readiness, add_finalizer, apply_status, is_deleting, list_children, next_conditions,
    readiness_event, remove_finalizer,
};
use super::conditions::READY;
use super::{Context, Error};
use crate::api::{Authorizer, RestApi, Route, Stage};
use crate::plan::routes::{
    AuthorizerState, DesiredContext, DesiredStructure, RouteInput, RouteOutcome, desired_structure,
    plan_structure,
};

/// What the structure pass found, for the RestApi's own status and for deployments.
#[derive(Debug, Default)]
pub struct StructureReport {
    /// Every non-deleting route of the API is in effect.
    pub all_routes_in_effect: bool,
    /// Number of routes in effect.
    pub routes_in_effect: usize,
    /// Canonical text of the desired structure, the input of deployment fingerprints.
    pub canonical: String,
}

/// Converge the API's structure and report into every child.
pub async fn converge(
    obj: &RestApi,
    ctx: &Context,
    api_id: &str,
) -> Result<StructureReport, Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let routes: Vec<Route> = list_children(ctx, &namespace, &name).await?;
    let authorizers: Vec<Authorizer> = list_children(ctx, &namespace, &name).await?;
    let stages: Vec<Stage> = list_children(ctx, &namespace, &name).await?;

    // Hold every live child with a finalizer before AWS gets anything of it, so a
    // delete always passes through the cleanup below.
    for route in routes.iter().filter(|r| !is_deleting(*r)) {
        add_finalizer(ctx, route).await?;
    }

    let authorizer_states = authorizer_states(&authorizers);
    let account = ctx.aws.account_id().await?.to_string();
    let region = ctx.aws.region.clone();
    let partition = ctx.aws.partition();
    let lambda_uri = |function: &str| lambda_invocation_uri(partition, &region, &account, function);
    let desired_ctx = DesiredContext {
        authorizers: &authorizer_states,
        lambda_uri: &lambda_uri,
        region: &region,
        partition,
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
            was_in_effect: r.status.as_ref().is_some_and(|s| {
                s.resource_id.is_some()
                    && s.conditions
                        .iter()
                        .any(|c| c.type_ == READY && c.status == "True")
            }),
            deleting: is_deleting(r),
        })
        .collect();
    let desired = desired_structure(&inputs, &desired_ctx);

    let observed = ctx.aws.get_resources(api_id).await?;
    let mut ids: BTreeMap<String, String> = observed
        .iter()
        .map(|r| (r.path.clone(), r.id.clone()))
        .collect();
    let actions = plan_structure(&desired, &observed);
    let mut result = Ok(());
    for action in &actions {
        tracing::info!(?action, "structure change");
        if let Err(e) = ctx
            .aws
            .apply_structure_action(api_id, &mut ids, action)
            .await
        {
            result = Err(Error::from(e));
            break;
        }
    }
    if !actions.is_empty() && result.is_ok() {
        tracing::info!(changes = actions.len(), "API structure converged");
    }

    let stage_names: Vec<String> = stages
        .iter()
        .filter(|s| !is_deleting(*s))
        .map(|s| s.spec.stage_name.clone())
        .collect();
    let report = report_routes(
        ctx,
        api_id,
        &routes,
        &desired,
        &ids,
        &stage_names,
        result.as_ref().err(),
    )
    .await?;
    result?;
    Ok(report)
}

/// Authorizer objects by name, with their AWS id once they have one.
fn authorizer_states(authorizers: &[Authorizer]) -> BTreeMap<String, AuthorizerState> {
    authorizers
        .iter()
        .filter(|a| !is_deleting(*a))
        .map(|a| {
            let state = match a.status.as_ref().and_then(|s| s.authorizer_id.clone()) {
                Some(id) => AuthorizerState::Ready {
                    id,
                    cognito: a.spec.cognito.is_some(),
                },
                None => AuthorizerState::NotReady,
            };
            (a.name_any(), state)
        })
        .collect()
}

/// The integration URI API Gateway calls for a Lambda function named by name,
/// `name:qualifier` or ARN.
pub fn lambda_invocation_uri(
    partition: &str,
    region: &str,
    account: &str,
    function: &str,
) -> String {
    let arn = if function.starts_with("arn:") {
        function.to_string()
    } else {
        format!("arn:{partition}:lambda:{region}:{account}:function:{function}")
    };
    format!(
        "arn:{partition}:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations"
    )
}

async fn report_routes(
    ctx: &Context,
    api_id: &str,
    routes: &[Route],
    desired: &DesiredStructure,
    ids: &BTreeMap<String, String>,
    stage_names: &[String],
    failure: Option<&Error>,
) -> Result<StructureReport, Error> {
    let base_url = ctx.aws.execute_api_url(api_id);
    let mut report = StructureReport {
        all_routes_in_effect: true,
        ..Default::default()
    };
    for route in routes {
        let name = route.name_any();
        let outcome = desired.outcomes.get(&name);
        if is_deleting(route) {
            // Its method is gone (or retained): release the object.
            if failure.is_none() {
                remove_finalizer(ctx, route).await?;
            }
            continue;
        }
        let (readiness, resource_id, urls) = match outcome {
            Some(RouteOutcome::Accepted { path, verb }) => match failure {
                None => {
                    let resource_id = ids.get(path).cloned();
                    let urls: BTreeMap<String, String> = stage_names
                        .iter()
                        .map(|stage| {
                            (
                                stage.clone(),
                                format!(
                                    "{base_url}/{stage}{}",
                                    if path == "/" { "" } else { path }
                                ),
                            )
                        })
                        .collect();
                    report.routes_in_effect += 1;
                    let msg = format!("{verb} {path} is in effect in REST API {api_id}");
                    (Readiness::ok("InEffect", msg), resource_id, urls)
                }
                Some(err) => (
                    Readiness::not(err.reason(), err.to_string()),
                    None,
                    BTreeMap::new(),
                ),
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
                None,
                BTreeMap::new(),
            ),
            Some(RouteOutcome::PathConflict { message }) => (
                Readiness::not("PathConflict", message.clone()),
                None,
                BTreeMap::new(),
            ),
            Some(RouteOutcome::AuthorizerMissing { name }) => (
                Readiness::not(
                    "AuthorizerNotFound",
                    format!("Authorizer {name} does not exist in this namespace"),
                ),
                None,
                BTreeMap::new(),
            ),
            Some(RouteOutcome::AuthorizerNotReady { name }) => (
                Readiness::not(
                    "AuthorizerNotReady",
                    format!(
                        "Authorizer {name} is not in AWS yet; the route waits so it is never exposed unprotected"
                    ),
                ),
                None,
                BTreeMap::new(),
            ),
            Some(RouteOutcome::Invalid { message }) => (
                Readiness::not("InvalidSpec", message.clone()),
                None,
                BTreeMap::new(),
            ),
            Some(RouteOutcome::Deleting) | None => continue,
        };
        if !readiness.ready {
            report.all_routes_in_effect = false;
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
        apply_status(ctx, route, &status).await?;
        if changed {
            readiness_event(ctx, route, &readiness).await;
        }
    }
    report.canonical = canonical_structure(desired);
    Ok(report)
}

/// A stable text of the desired structure: the same API always gives the same text.
pub fn canonical_structure(desired: &DesiredStructure) -> String {
    let methods: BTreeMap<String, &crate::plan::routes::MethodSettings> = desired
        .methods
        .iter()
        .map(|((path, verb), m)| (format!("{verb} {path}"), m))
        .collect();
    serde_json::to_string(&methods).unwrap_or_default()
}

/// Release every child that is being deleted (the API they lived in is gone) and
/// tell the others their API is gone.
pub async fn release_children(ctx: &Context, api: &RestApi) -> Result<(), Error> {
    let namespace = api.namespace().unwrap_or_default();
    let name = api.name_any();
    let routes: Vec<Route> = list_children(ctx, &namespace, &name).await?;
    let authorizers: Vec<Authorizer> = list_children(ctx, &namespace, &name).await?;
    let stages: Vec<Stage> = list_children(ctx, &namespace, &name).await?;
    let gone = Readiness::not(
        "RestApiDeleted",
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
