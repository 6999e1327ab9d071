//! Route status: each Route told whether its method is in effect, and why not.

use super::*;

/// Everything report_routes needs to know about the pass.
pub(super) struct RouteReporting<'a> {
    pub(super) api_id: &'a str,
    pub(super) desired: &'a DesiredStructure,
    pub(super) ids: &'a BTreeMap<String, String>,
    pub(super) stage_names: &'a [String],
    pub(super) failure: Option<&'a Error>,
    pub(super) rejected: &'a BTreeMap<(String, String), Error>,
    pub(super) missing_functions: &'a BTreeSet<PolicyKey>,
    pub(super) coords: &'a Coordinates,
}

/// Why a route's Authorizer is not among its API's: it does not exist, or it
/// belongs to another API (only read in this case, never on a healthy pass).
pub(super) async fn missing_authorizer(ctx: &Context, route: &Route, name: &str) -> String {
    let api: kube::Api<Authorizer> = ctx.api_in(&route.namespace().unwrap_or_default());
    match api.get_opt(name).await {
        Ok(Some(other)) => format!(
            "Authorizer {name} belongs to RestApi {}, not to this route's RestApi {}; a route can use only the authorizers of its own API",
            other.spec.rest_api_ref.name, route.spec.rest_api_ref.name
        ),
        _ => format!("Authorizer {name} does not exist in this namespace"),
    }
}

pub(super) async fn report_routes(
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

pub(super) async fn write_route_status(
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
pub(super) const STATUS_WRITERS: usize = 8;

/// Run Kubernetes writes a few at a time; the first failure is returned.
pub(super) async fn several_at_a_time<F>(writes: Vec<F>) -> Result<(), Error>
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
