//! The WebSocket API's routes, their integrations and route responses, and the
//! Lambda invoke permissions of their functions.

use super::*;

/// Converge integrations, routes and route responses; returns the authorizers
/// (name, id) in status that the spec no longer has, now free to delete.
pub(super) async fn converge_routes(
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
pub(super) async fn route_responses(
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
pub(super) async fn converge_permissions(
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
    let (granted, missing) = crate::controller::permissions::converge_for_api(
        ctx,
        api_id,
        &route_functions,
        &authorizer_functions,
        &status.lambda_permissions,
    )
    .await?;
    status.lambda_permissions = granted;
    Ok(missing
        .into_iter()
        .map(|(function, qualifier)| match qualifier {
            Some(q) => format!("{function}:{q}"),
            None => function,
        })
        .collect())
}
