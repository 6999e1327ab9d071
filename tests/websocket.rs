//! WebSocketApi end to end: the real kube-apiserver, the operator in process, moto as
//! AWS. moto gaps met here: the API endpoint comes back as https:// (the operator
//! writes wss://), GetAuthorizers and GetRouteResponses answer 500 (the operator
//! reads both by the ids it recorded), UpdateStage answers 500 (stage settings and
//! route key overrides are checked on create; updates are planned in unit tests),
//! and stages report no deployment id.

mod common;

use std::time::Duration;

use apigw_operator::api::{Stage, WebSocketApi};
use common::*;
use kube::api::DeleteParams;

const T: Duration = Duration::from_secs(60);
const ACCOUNT_FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:";

async fn statement_ids(aws: &apigw_operator::aws::Aws, function: &str) -> Vec<String> {
    aws.get_policy_statements(&format!("{ACCOUNT_FUNCTION}{function}"), None)
        .await
        .unwrap()
        .unwrap_or_default()
        .into_iter()
        .map(|(sid, _)| sid)
        .collect()
}

/// The API with `subscribe` as given (a flow mapping's inside) and `extra_routes` lines.
fn notifications(description: &str, subscribe: &str, extra_routes: &str) -> String {
    format!(
        r#"
        apiVersion: apigw.rs/v1alpha1
        kind: WebSocketApi
        metadata: {{name: notifications}}
        spec:
          description: {description}
          routeSelectionExpression: $request.body.action
          tags: {{team: photos}}
          authorizers:
            - name: token
              lambda:
                functionName: ws-authorize
                identitySources: [route.request.querystring.token]
          routes:
            - {{routeKey: $connect, functionName: ws-connect, authorizer: token, apiKeyRequired: true}}
            - {{routeKey: $default, functionName: ws-default}}
            - {{routeKey: subscribe, {subscribe}}}
{extra_routes}
        "#
    )
}

/// Routes, authorizer, route response, permissions and an auto-deploying stage are
/// made; status carries the wss:// and @connections URLs; a resync of the converged
/// API writes nothing; edits converge in place; drift is put back; deleting the
/// Stage and the API removes them and takes the grants back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_api_end_to_end() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "ws").await;
    let aws = aws().await;
    seed_functions(&[
        "ws-connect",
        "ws-disconnect",
        "ws-default",
        "ws-subscribe",
        "ws-authorize",
    ]);
    let op = Operator::start(&ns.name, Duration::from_secs(1)).await;
    let apis = ns.api::<WebSocketApi>();
    let stages = ns.api::<Stage>();

    let disconnect = "            - {routeKey: $disconnect, functionName: ws-disconnect}";
    ns.apply::<WebSocketApi>(&notifications(
        "photo events",
        "functionName: ws-subscribe, timeoutMillis: 5000, twoWay: true",
        disconnect,
    ))
    .await;
    ns.apply::<Stage>(
        r#"
        apiVersion: apigw.rs/v1alpha1
        kind: Stage
        metadata: {name: notifications-prod}
        spec:
          webSocketApiRef: {name: notifications}
          stageName: prod
          throttling: {rateLimit: 50, burstLimit: 100}
          logging: {level: INFO}
          metricsEnabled: true
          variables: {env: prod}
          routeKeySettings:
            - {routeKey: subscribe, throttling: {rateLimit: 5, burstLimit: 10}, logging: {level: ERROR}}
        "#,
    )
    .await;

    let api = wait_ready(&apis, "notifications", "True", T).await;
    let status = api.status.clone().unwrap();
    let id = status.api_id.clone().unwrap();
    let host = format!("{id}.execute-api.us-east-1.amazonaws.com");
    assert_eq!(
        status.api_endpoint.as_deref(),
        Some(format!("wss://{host}").as_str())
    );
    assert_eq!(status.route_count, 4);
    assert_eq!(status.authorizers.len(), 1);
    let stage = wait_ready(&stages, "notifications-prod", "True", T).await;
    let stage_status = stage.status.clone().unwrap();
    assert_eq!(stage_status.web_socket_api_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        stage_status.invoke_url.as_deref(),
        Some(format!("wss://{host}/prod").as_str())
    );
    assert_eq!(
        stage_status.callback_url.as_deref(),
        Some(format!("https://{host}/prod/@connections").as_str())
    );
    assert_eq!(ready_reason(&stage).0, "AutoDeploy");
    let api = eventually("stage endpoints in API status", T, || async {
        let a = apis.get("notifications").await.ok()?;
        (!a.status.as_ref()?.stages.is_empty()).then_some(a)
    })
    .await;
    let endpoint = &api.status.unwrap().stages[0];
    assert_eq!(endpoint.url, format!("wss://{host}/prod"));
    assert_eq!(
        endpoint.callback_url,
        format!("https://{host}/prod/@connections")
    );

    // The API in AWS.
    let observed = aws.get_websocket_api(&id).await.unwrap().unwrap();
    assert_eq!(observed.protocol, "WEBSOCKET");
    assert_eq!(
        observed.settings.route_selection_expression,
        "$request.body.action"
    );
    assert_eq!(
        observed.settings.api_key_selection_expression,
        "$request.header.x-api-key"
    );
    assert_eq!(
        observed.settings.tags.get("team").map(String::as_str),
        Some("photos")
    );
    let authorizer_id = status.authorizers[0].authorizer_id.clone();
    let authorizer = aws
        .get_websocket_authorizer(&id, &authorizer_id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        authorizer
            .settings
            .uri
            .contains("function:ws-authorize/invocations")
    );
    assert_eq!(
        authorizer.settings.identity_sources,
        vec!["route.request.querystring.token".to_string()]
    );
    let routes = aws.get_websocket_routes(&id).await.unwrap();
    let integrations = aws.get_websocket_integrations(&id).await.unwrap();
    let route = |key: &str| routes.iter().find(|r| r.key == key).unwrap().clone();
    let uri_of = |key: &str| {
        let target = route(key).target.unwrap();
        let integration = target.trim_start_matches("integrations/");
        integrations
            .iter()
            .find(|i| i.id == integration)
            .unwrap()
            .clone()
    };
    assert_eq!(routes.len(), 4);
    assert_eq!(
        route("$connect").authorizer_id.as_deref(),
        Some(authorizer_id.as_str())
    );
    assert!(route("$connect").api_key_required);
    assert_eq!(
        route("subscribe")
            .route_response_selection_expression
            .as_deref(),
        Some("$default")
    );
    let subscribe = uri_of("subscribe");
    assert!(subscribe.uri.contains("function:ws-subscribe/invocations"));
    assert_eq!(subscribe.timeout_millis, Some(5000));
    assert_eq!(subscribe.integration_type, "AWS_PROXY");
    let subscribe_status = status
        .routes
        .iter()
        .find(|r| r.route_key == "subscribe")
        .unwrap()
        .clone();
    let response_id = subscribe_status.route_response_id.clone().unwrap();
    assert!(
        aws.websocket_route_response_exists(&id, &subscribe_status.route_id, &response_id)
            .await
            .unwrap()
    );
    let (stage_settings, _) = aws.get_websocket_stage(&id, "prod").await.unwrap().unwrap();
    assert!(stage_settings.auto_deploy);
    assert_eq!(stage_settings.throttle, Some((50.0, 100)));
    assert_eq!(stage_settings.logging_level, "INFO");
    assert!(stage_settings.detailed_metrics);
    assert_eq!(
        stage_settings.variables.get("env").map(String::as_str),
        Some("prod")
    );
    let subscribe_settings = &stage_settings.route_settings["subscribe"];
    assert_eq!(subscribe_settings.throttle, Some((5.0, 10)));
    assert_eq!(subscribe_settings.logging_level.as_deref(), Some("ERROR"));

    // Invoke permissions: one statement per route function, one for the authorizer.
    let route_sid = format!("apigw-{id}");
    for function in ["ws-connect", "ws-disconnect", "ws-default", "ws-subscribe"] {
        assert!(
            statement_ids(&aws, function).await.contains(&route_sid),
            "{function} grants API Gateway"
        );
    }
    assert!(
        statement_ids(&aws, "ws-authorize")
            .await
            .contains(&format!("apigw-{id}-authorizer-{authorizer_id}"))
    );
    ns.wait_event("notifications", "Normal/Created").await;
    // One Event per route made: the notes differ, so none is folded into another.
    eventually("an Event per route", T, || async {
        let events = ns.events_for("notifications").await;
        ["$connect", "$disconnect", "$default", "subscribe"]
            .iter()
            .all(|key| {
                events
                    .iter()
                    .any(|e| e.starts_with(&format!("Normal/RouteCreated: created route {key} (")))
            })
            .then_some(())
    })
    .await;

    // Converged: resyncs every second make no mutating call.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = op.mutating_calls();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        op.mutating_calls(),
        before,
        "a converged resync writes nothing"
    );

    // Edit: subscribe moves to another function and becomes one-way; $disconnect goes.
    ns.apply::<WebSocketApi>(&notifications(
        "photo processing events",
        "functionName: ws-default, timeoutMillis: 5000",
        "",
    ))
    .await;
    eventually("edit converged", T, || async {
        let routes = aws.get_websocket_routes(&id).await.ok()?;
        let integrations = aws.get_websocket_integrations(&id).await.ok()?;
        let subscribe = routes.iter().find(|r| r.key == "subscribe")?;
        let target = subscribe
            .target
            .as_deref()?
            .trim_start_matches("integrations/");
        let integration = integrations.iter().find(|i| i.id == target)?;
        (routes.len() == 3
            && integration.uri.contains("function:ws-default/invocations")
            && subscribe
                .route_response_selection_expression
                .as_deref()
                .unwrap_or_default()
                .is_empty())
        .then_some(())
    })
    .await;
    let api = wait_ready(&apis, "notifications", "True", T).await;
    let status = api.status.unwrap();
    assert_eq!(status.route_count, 3);
    assert!(status.routes.iter().all(|r| r.route_response_id.is_none()));
    assert!(
        !aws.websocket_route_response_exists(&id, &subscribe_status.route_id, &response_id)
            .await
            .unwrap()
    );
    assert_eq!(
        aws.get_websocket_api(&id)
            .await
            .unwrap()
            .unwrap()
            .settings
            .description,
        "photo processing events"
    );
    // Functions no route calls any more lose the grant.
    for function in ["ws-disconnect", "ws-subscribe"] {
        assert!(!statement_ids(&aws, function).await.contains(&route_sid));
    }

    // Drift: a route deleted and the description changed by hand are put back.
    let default_route = aws
        .get_websocket_routes(&id)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.key == "$default")
        .unwrap();
    aws.delete_websocket_route(&id, &default_route.id)
        .await
        .unwrap();
    aws.update_websocket_api(
        &id,
        &apigw_operator::plan::websocket::ApiUpdate {
            description: Some("changed by hand".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    eventually("drift put back", T, || async {
        let routes = aws.get_websocket_routes(&id).await.ok()?;
        let api = aws.get_websocket_api(&id).await.ok()??;
        (routes.iter().any(|r| r.key == "$default")
            && api.settings.description == "photo processing events")
            .then_some(())
    })
    .await;

    // An override of a route key the API does not have is a condition on that
    // Stage, made before AWS would refuse the whole stage over it.
    ns.apply::<Stage>(
        "{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {name: notifications-dev}, spec: {webSocketApiRef: {name: notifications}, stageName: dev, routeKeySettings: [{routeKey: unsubscribe, metricsEnabled: true}]}}",
    )
    .await;
    let dev = wait_ready(&stages, "notifications-dev", "False", T).await;
    let (reason, message) = ready_reason(&dev);
    assert_eq!(reason, "InvalidSpec");
    assert!(message.contains("route key unsubscribe"), "{message}");
    assert!(aws.get_websocket_stage(&id, "dev").await.unwrap().is_none());
    stages
        .delete("notifications-dev", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&stages, "notifications-dev", T).await;

    // Deleting the Stage deletes the stage; deleting the API deletes it and its grants.
    stages
        .delete("notifications-prod", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&stages, "notifications-prod", T).await;
    assert!(
        aws.get_websocket_stage(&id, "prod")
            .await
            .unwrap()
            .is_none()
    );
    apis.delete("notifications", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&apis, "notifications", T).await;
    assert!(aws.get_websocket_api(&id).await.unwrap().is_none());
    for function in ["ws-connect", "ws-default", "ws-authorize"] {
        let sids = statement_ids(&aws, function).await;
        assert!(
            sids.iter().all(|s| !s.starts_with(&route_sid)),
            "{function} still grants the deleted API: {sids:?}"
        );
    }
    drop(op);
    ns.delete().await;
}

/// Retain leaves the API in AWS; a new object adopts it by id (adoptOrphaned: the
/// owner tags name the deleted object) and converges the routes its spec names. A Stage of a missing WebSocketApi and a route whose
/// function does not exist say so in their conditions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_retain_adopt_and_missing_references() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "wsadopt").await;
    let aws = aws().await;
    seed_functions(&["ws-echo"]);
    let op = Operator::start(&ns.name, Duration::from_secs(5)).await;
    let apis = ns.api::<WebSocketApi>();
    let stages = ns.api::<Stage>();

    ns.apply::<Stage>(
        "{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {name: orphan}, spec: {webSocketApiRef: {name: nowhere}, stageName: dev}}",
    )
    .await;
    let orphan = eventually("orphan stage condition", T, || async {
        let s = stages.get("orphan").await.ok()?;
        (ready_reason(&s).0 == "WebSocketApiNotFound").then_some(s)
    })
    .await;
    assert!(
        ready_reason(&orphan)
            .1
            .contains("WebSocketApi nowhere does not exist")
    );

    ns.apply::<WebSocketApi>(
        r#"
        apiVersion: apigw.rs/v1alpha1
        kind: WebSocketApi
        metadata: {name: kept}
        spec:
          deletionPolicy: Retain
          routes:
            - {routeKey: $default, functionName: ws-echo}
            - {routeKey: ping, functionName: ws-missing-function}
        "#,
    )
    .await;
    let kept = eventually("missing function reported", T, || async {
        let a = apis.get("kept").await.ok()?;
        (ready_reason(&a).0 == "LambdaFunctionNotFound").then_some(a)
    })
    .await;
    assert!(ready_reason(&kept).1.contains("ws-missing-function"));
    let id = kept.status.unwrap().api_id.unwrap();
    // The routes are in place nonetheless.
    assert_eq!(aws.get_websocket_routes(&id).await.unwrap().len(), 2);

    apis.delete("kept", &DeleteParams::default()).await.unwrap();
    wait_deleted(&apis, "kept", T).await;
    assert!(
        aws.get_websocket_api(&id).await.unwrap().is_some(),
        "retained"
    );

    ns.apply::<WebSocketApi>(&format!(
        r#"
        apiVersion: apigw.rs/v1alpha1
        kind: WebSocketApi
        metadata: {{name: adopted}}
        spec:
          apiId: {id}
          adoptOrphaned: true
          deletionPolicy: Delete
          description: adopted
          routes:
            - {{routeKey: $default, functionName: ws-echo}}
            - {{routeKey: hello, functionName: ws-echo, twoWay: true}}
        "#
    ))
    .await;
    let adopted = wait_ready(&apis, "adopted", "True", T).await;
    assert_eq!(ready_reason(&adopted).0, "Adopted");
    let routes = aws.get_websocket_routes(&id).await.unwrap();
    let keys: Vec<&str> = routes.iter().map(|r| r.key.as_str()).collect();
    // `ping` was not made by this object: left alone.
    assert_eq!(routes.len(), 3, "{keys:?}");
    assert!(keys.contains(&"hello") && keys.contains(&"ping"));
    ns.wait_event("adopted", "Normal/Adopted").await;

    // A second object naming the same API is refused, and deleting it leaves the
    // API (which was never its own) in AWS.
    ns.apply::<WebSocketApi>(&format!(
        "{{apiVersion: apigw.rs/v1alpha1, kind: WebSocketApi, metadata: {{name: intruder}}, spec: {{apiId: {id}}}}}"
    ))
    .await;
    let intruder = wait_ready(&apis, "intruder", "False", T).await;
    let (reason, message) = ready_reason(&intruder);
    assert_eq!(reason, "AdoptTargetOwned");
    assert!(message.contains("managed by WebSocketApi"), "{message}");
    apis.delete("intruder", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&apis, "intruder", T).await;
    assert!(aws.get_websocket_api(&id).await.unwrap().is_some());

    apis.delete("adopted", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&apis, "adopted", T).await;
    assert!(aws.get_websocket_api(&id).await.unwrap().is_none());
    stages
        .delete("orphan", &DeleteParams::default())
        .await
        .unwrap();
    drop(op);
    ns.delete().await;
}

/// A UsagePlan binds a WebSocket stage like a REST one (API Gateway meters API keys
/// sent on `$connect` with `apiKeyRequired`), once the stage exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_plan_binds_a_websocket_stage() {
    use apigw_operator::api::UsagePlan;
    let client = client().await;
    let ns = TestNamespace::new(&client, "wsplan").await;
    let aws = aws().await;
    seed_functions(&["ws-metered"]);
    let op = Operator::start(&ns.name, Duration::from_secs(5)).await;
    ns.apply::<WebSocketApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: WebSocketApi, metadata: {name: metered}, spec: {routes: [{routeKey: $connect, functionName: ws-metered, apiKeyRequired: true}, {routeKey: $default, functionName: ws-metered}]}}",
    )
    .await;
    ns.apply::<Stage>(
        "{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {name: metered-prod}, spec: {webSocketApiRef: {name: metered}, stageName: prod}}",
    )
    .await;
    ns.apply::<UsagePlan>(
        "{apiVersion: apigw.rs/v1alpha1, kind: UsagePlan, metadata: {name: partners}, spec: {throttle: {rateLimit: 10, burstLimit: 20}, quota: {limit: 5000, period: DAY}, stages: [{stageRef: {name: metered-prod}}]}}",
    )
    .await;
    let plans = ns.api::<UsagePlan>();
    let plan = wait_ready(&plans, "partners", "True", T)
        .await
        .status
        .unwrap();
    let api_id = ns
        .api::<WebSocketApi>()
        .get("metered")
        .await
        .unwrap()
        .status
        .unwrap()
        .api_id
        .unwrap();
    assert_eq!(plan.stages.len(), 1);
    assert_eq!(plan.stages[0].rest_api_id, api_id);
    assert_eq!(plan.stages[0].stage_name, "prod");
    let observed = aws
        .get_usage_plan(plan.usage_plan_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        observed
            .settings
            .stages
            .contains_key(&(api_id.clone(), "prod".to_string())),
        "{:?}",
        observed.settings.stages
    );

    plans
        .delete("partners", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&plans, "partners", T).await;
    let apis = ns.api::<WebSocketApi>();
    apis.delete("metered", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&apis, "metered", T).await;
    drop(op);
    ns.delete().await;
}
