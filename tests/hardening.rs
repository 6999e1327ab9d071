//! Failures found by trying the operator as an operations team would: a crash
//! between the grants and the status write, an API deleted behind its back, two
//! Stages for one stage name, references that look fine but are not, sizes AWS
//! refuses, and status that must tell the truth while routes fail.

mod common;

use std::time::Duration;

use apigw_operator::api::{Authorizer, RestApi, Route, Stage};
use common::*;
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};

const T: Duration = Duration::from_secs(60);

fn arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")
}

async fn own_statements(function: &str, api_id: &str) -> Vec<String> {
    aws()
        .await
        .get_policy_statements(&arn(function), None)
        .await
        .unwrap()
        .unwrap_or_default()
        .into_iter()
        .map(|(sid, _)| sid)
        .filter(|sid| apigw_operator::plan::lambda::is_own_statement(api_id, sid))
        .collect()
}

fn route(name: &str, api: &str, method: &str, path: &str, integration: &str) -> String {
    format!(
        "{{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {{name: {name}}}, spec: {{restApiRef: {{name: {api}}}, method: {method}, path: '{path}', integration: {integration}}}}}"
    )
}

/// Point 4: the operator granted the invoke permissions and died before writing
/// them to status (reproduced by taking them out of status while it is stopped);
/// deleting the RestApi still revokes every statement of the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_missing_from_status_are_revoked_on_delete() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "crash-grants").await;
    seed_functions(&["crash-grants-fn", "crash-grants-auth"]);
    let op = Operator::start(&ns.name, Duration::from_secs(30)).await;
    let apis = ns.api::<RestApi>();
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: grants}, spec: {}}",
    )
    .await;
    ns.apply::<Authorizer>("{apiVersion: apigw.rs/v1alpha1, kind: Authorizer, metadata: {name: token}, spec: {restApiRef: {name: grants}, lambda: {functionName: crash-grants-auth}}}").await;
    ns.apply::<Route>(&route(
        "items",
        "grants",
        "GET",
        "/items",
        "{lambda: {functionName: crash-grants-fn}}",
    ))
    .await;
    wait_ready(&ns.api::<Route>(), "items", "True", T).await;
    let status = wait_ready(&apis, "grants", "True", T).await.status.unwrap();
    let id = status.rest_api_id.unwrap();
    assert_eq!(own_statements("crash-grants-fn", &id).await.len(), 1);
    assert_eq!(own_statements("crash-grants-auth", &id).await.len(), 1);
    assert!(!status.lambda_permissions.is_empty());

    drop(op);
    apis.patch_status(
        "grants",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"status": {"lambdaPermissions": []}})),
    )
    .await
    .unwrap();
    // The operator comes back only to see the deletion: the grants are not in
    // status, as after a crash between AddPermission and the status write.
    apis.delete("grants", &DeleteParams::default())
        .await
        .unwrap();
    let _op = Operator::start(&ns.name, Duration::from_secs(30)).await;
    wait_deleted(&apis, "grants", T).await;
    assert!(
        own_statements("crash-grants-fn", &id).await.is_empty(),
        "route statement revoked"
    );
    assert!(
        own_statements("crash-grants-auth", &id).await.is_empty(),
        "authorizer statement revoked"
    );
    ns.delete().await;
}

/// Point 5: the API deleted outside the operator is made again; the dead API's
/// statements are revoked, and a Manual stage gets a deployment of the new API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_deleted_behind_the_operator_leaves_nothing_stale() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "deleted-outside").await;
    seed_functions(&["deleted-outside-fn"]);
    let _op = Operator::start(&ns.name, Duration::from_secs(3)).await;
    let apis = ns.api::<RestApi>();
    let stages = ns.api::<Stage>();
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: gone}, spec: {}}",
    )
    .await;
    ns.apply::<Route>(&route(
        "items",
        "gone",
        "GET",
        "/items",
        "{lambda: {functionName: deleted-outside-fn}}",
    ))
    .await;
    ns.apply::<Stage>("{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {name: prod}, spec: {restApiRef: {name: gone}, stageName: prod, deployment: {policy: Manual, revision: 1}}}").await;
    let old = wait_ready(&stages, "prod", "True", T).await.status.unwrap();
    let old_id = old.rest_api_id.clone().unwrap();
    assert_eq!(own_statements("deleted-outside-fn", &old_id).await.len(), 1);

    let aws = aws().await;
    console()
        .await
        .delete_rest_api()
        .rest_api_id(&old_id)
        .send()
        .await
        .unwrap();
    let new_id = eventually("the API made again", T, || async {
        let id = apis.get("gone").await.ok()?.status?.rest_api_id?;
        (id != old_id).then_some(id)
    })
    .await;
    let stage = eventually("the Manual stage on the new API", T, || async {
        let s = stages.get("prod").await.ok()?;
        let st = s.status.clone()?;
        (st.rest_api_id.as_deref() == Some(new_id.as_str()) && ready_reason(&s).0 == "Deployed")
            .then_some(st)
    })
    .await;
    let deployment = stage.deployment_id.unwrap();
    let deployments: Vec<String> = aws
        .apigateway
        .get_deployments()
        .rest_api_id(&new_id)
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .filter_map(|d| d.id().map(str::to_string))
        .collect();
    assert!(
        deployments.contains(&deployment),
        "the stage serves {deployment}, a deployment of the new API {new_id}: {deployments:?}"
    );
    assert!(
        own_statements("deleted-outside-fn", &old_id)
            .await
            .is_empty(),
        "the dead API's statement is revoked"
    );
    assert_eq!(own_statements("deleted-outside-fn", &new_id).await.len(), 1);
    apis.delete("gone", &DeleteParams::default()).await.unwrap();
    wait_deleted(&apis, "gone", T).await;
    ns.delete().await;
}

/// Point 6: a second Stage for the same stage name is refused with a condition
/// naming the first, writes nothing, and its deletion leaves the stage alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_stage_for_one_stage_name_is_refused() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "stage-twice").await;
    let op = Operator::start(&ns.name, Duration::from_secs(2)).await;
    let stages = ns.api::<Stage>();
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: shop}, spec: {}}",
    )
    .await;
    ns.apply::<Route>(&route("items", "shop", "GET", "/items", "{mock: {}}"))
        .await;
    ns.apply::<Stage>("{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {name: first}, spec: {restApiRef: {name: shop}, stageName: prod, deployment: {debounceSeconds: 0}, variables: {owner: first}}}").await;
    let first = wait_ready(&stages, "first", "True", T)
        .await
        .status
        .unwrap();
    let api_id = first.rest_api_id.unwrap();
    ns.apply::<Stage>("{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {name: second}, spec: {restApiRef: {name: shop}, stageName: prod, deployment: {debounceSeconds: 0}, variables: {owner: second}}}").await;
    let second = eventually("the second Stage refused", T, || async {
        let s = stages.get("second").await.ok()?;
        (ready_reason(&s).0 == "StageNameConflict").then_some(s)
    })
    .await;
    assert!(
        ready_reason(&second).1.contains("Stage first"),
        "{:?}",
        ready_reason(&second)
    );
    // Converged: the loser makes no writes on resyncs (it used to rewrite the
    // stage on every pass).
    let writes = op.mutating_calls();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        op.mutating_calls(),
        writes,
        "{:?}",
        op.ctx.aws.stats.snapshot()
    );
    let aws = aws().await;
    let observed = aws.get_stages(&api_id).await.unwrap();
    let prod = observed.iter().find(|s| s.stage_name == "prod").unwrap();
    assert_eq!(
        prod.variables.get("owner").map(String::as_str),
        Some("first")
    );
    assert_eq!(
        ready_reason(&stages.get("first").await.unwrap()).0,
        "Deployed"
    );

    stages
        .delete("second", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&stages, "second", T).await;
    assert!(
        aws.get_stages(&api_id)
            .await
            .unwrap()
            .iter()
            .any(|s| s.stage_name == "prod"),
        "deleting the refused Stage leaves the stage"
    );
    assert_eq!(
        ready_reason(&stages.get("first").await.unwrap()).0,
        "Deployed"
    );
    ns.delete().await;
}

/// Point 7: a Lambda authorizer whose function does not exist is not Available,
/// and its route waits, as for a missing Cognito pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lambda_authorizer_without_its_function_holds_its_routes() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "auth-missing-fn").await;
    let _op = Operator::start(&ns.name, Duration::from_secs(2)).await;
    // moto keeps functions across runs: a name of this run's own.
    let function = format!("missing-{}", ns.name);
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: shop}, spec: {}}",
    )
    .await;
    ns.apply::<Authorizer>(&format!("{{apiVersion: apigw.rs/v1alpha1, kind: Authorizer, metadata: {{name: token}}, spec: {{restApiRef: {{name: shop}}, lambda: {{functionName: {function}}}}}}}")).await;
    ns.apply::<Route>("{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: items}, spec: {restApiRef: {name: shop}, method: GET, path: /items, integration: {mock: {}}, authorization: {authorizerRef: {name: token}}}}").await;
    let authorizers = ns.api::<Authorizer>();
    let routes = ns.api::<Route>();
    let authorizer = eventually("the authorizer refused", T, || async {
        let a = authorizers.get("token").await.ok()?;
        (ready_reason(&a).0 == "LambdaFunctionNotFound").then_some(a)
    })
    .await;
    assert!(ready_reason(&authorizer).1.contains(&function));
    let route = eventually("the route held", T, || async {
        let r = routes.get("items").await.ok()?;
        (ready_reason(&r).0 == "AuthorizerNotReady").then_some(r)
    })
    .await;
    assert!(route.status.unwrap().resource_id.is_none());
    // Deploying the function lets both converge.
    seed_functions(&[function.as_str()]);
    wait_ready(&authorizers, "token", "True", Duration::from_secs(90)).await;
    wait_ready(&routes, "items", "True", T).await;
    ns.delete().await;
}

/// Point 8: a Route naming another API's Authorizer is told so; routeSettings
/// naming no route are a condition; children of a deleted RestApi keep saying
/// RestApiDeleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_that_look_fine_but_are_not_say_what_is_wrong() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "references").await;
    let _op = Operator::start(&ns.name, Duration::from_secs(2)).await;
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: shop}, spec: {}}",
    )
    .await;
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: other}, spec: {}}",
    )
    .await;
    seed_functions(&["references-auth"]);
    ns.apply::<Authorizer>("{apiVersion: apigw.rs/v1alpha1, kind: Authorizer, metadata: {name: others-token}, spec: {restApiRef: {name: other}, lambda: {functionName: references-auth}}}").await;
    ns.apply::<Route>(&route("items", "shop", "GET", "/items", "{mock: {}}"))
        .await;
    ns.apply::<Route>("{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: secret}, spec: {restApiRef: {name: shop}, method: GET, path: /secret, integration: {mock: {}}, authorization: {authorizerRef: {name: others-token}}}}").await;
    let routes = ns.api::<Route>();
    let secret = eventually("the cross-API authorizer named", T, || async {
        let r = routes.get("secret").await.ok()?;
        (ready_reason(&r).0 == "AuthorizerNotFound").then_some(r)
    })
    .await;
    let message = ready_reason(&secret).1;
    assert!(
        message.contains("belongs to RestApi other"),
        "says what is wrong: {message}"
    );
    routes
        .delete("secret", &DeleteParams::default())
        .await
        .unwrap();

    let stages = ns.api::<Stage>();
    ns.apply::<Stage>("{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {name: prod}, spec: {restApiRef: {name: shop}, stageName: prod, deployment: {debounceSeconds: 0}, routeSettings: [{method: GET, path: /items, metricsEnabled: true}, {method: POST, path: /nowhere, metricsEnabled: true}]}}").await;
    let prod = eventually("unmatched routeSettings reported", T, || async {
        let s = stages.get("prod").await.ok()?;
        (ready_reason(&s).0 == "RouteSettingsUnmatched").then_some(s)
    })
    .await;
    assert!(ready_reason(&prod).1.contains("POST /nowhere"));
    assert!(!ready_reason(&prod).1.contains("GET /items"));

    let apis = ns.api::<RestApi>();
    apis.delete("shop", &DeleteParams::default()).await.unwrap();
    wait_deleted(&apis, "shop", T).await;
    eventually("the children told", T, || async {
        let r = routes.get("items").await.ok()?;
        (ready_reason(&r).0 == "RestApiDeleted").then_some(())
    })
    .await;
    // It stays RestApiDeleted (it used to turn into RestApiNotFound).
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        ready_reason(&routes.get("items").await.unwrap()).0,
        "RestApiDeleted"
    );
    assert_eq!(
        ready_reason(&stages.get("prod").await.unwrap()).0,
        "RestApiDeleted"
    );
    ns.delete().await;
}

/// Point 9: a mapping template over API Gateway's 300 KB is refused at apply, with
/// the limit in the message; a model schema over 400 KB is refused before AWS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_aws_refuses_are_refused_first() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "sizes").await;
    let big = "x".repeat(1024 * 1024);
    let manifest: Route = serde_json::from_value(serde_json::json!({
        "apiVersion": "apigw.rs/v1alpha1", "kind": "Route",
        "metadata": {"name": "huge"},
        "spec": {"restApiRef": {"name": "shop"}, "method": "GET", "path": "/huge",
                 "integration": {"mock": {}, "requestTemplates": {"application/json": big}}}
    }))
    .unwrap();
    let err = ns
        .api::<Route>()
        .patch(
            "huge",
            &PatchParams::apply("kubectl-test"),
            &Patch::Apply(&manifest),
        )
        .await
        .expect_err("a 1 MiB template is refused at apply");
    let text = err.to_string();
    assert!(
        text.contains("307200"),
        "the limit is in the message: {text}"
    );

    let _op = Operator::start(&ns.name, Duration::from_secs(2)).await;
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: shop}, spec: {}}",
    )
    .await;
    let schema: serde_json::Map<String, serde_json::Value> = (0..9000)
        .map(|i| {
            (
                format!("property{i:05}"),
                serde_json::json!({"type": "string", "description": "x".repeat(32)}),
            )
        })
        .collect();
    let model_route: Route = serde_json::from_value(serde_json::json!({
        "apiVersion": "apigw.rs/v1alpha1", "kind": "Route",
        "metadata": {"name": "model"},
        "spec": {"restApiRef": {"name": "shop"}, "method": "POST", "path": "/model",
                 "integration": {"mock": {}},
                 "requestValidation": {"body": true, "models": {"application/json": {"schema": {"type": "object", "properties": schema}}}}}
    }))
    .unwrap();
    let routes = ns.api::<Route>();
    routes
        .patch(
            "model",
            &PatchParams::apply("kubectl-test"),
            &Patch::Apply(&model_route),
        )
        .await
        .unwrap();
    let refused = eventually("the oversized model refused", T, || async {
        let r = routes.get("model").await.ok()?;
        (ready_reason(&r).0 == "InvalidSpec").then_some(r)
    })
    .await;
    assert!(ready_reason(&refused).1.contains("409600 bytes"));
    let id = wait_ready(&ns.api::<RestApi>(), "shop", "True", T)
        .await
        .status
        .unwrap()
        .rest_api_id
        .unwrap();
    // API Gateway gives every API its default models (Empty, Error); the route's
    // own model is not among them.
    let ours = apigw_operator::plan::models::request_model_name("model", "application/json");
    let models = aws().await.get_models(&id).await.unwrap();
    assert!(
        models
            .iter()
            .all(|m| m.name != ours && m.schema.len() < 10_000),
        "nothing of it went to AWS: {:?}",
        models.iter().map(|m| &m.name).collect::<Vec<_>>()
    );
    ns.delete().await;
}

/// Points 10 and 11: a fault-free apply emits no Warning Event; a failing route
/// is named in the waiting stage's message. A route on a missing function holds
/// back even a stage with `waitForAllRoutes: false` (issue 26: nothing calling a
/// missing function reaches a stage).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_what_blocks_and_a_clean_apply_warns_nobody() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "blocking").await;
    let _op = Operator::start(&ns.name, Duration::from_secs(2)).await;
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: shop}, spec: {}}",
    )
    .await;
    for i in 0..10 {
        ns.apply::<Route>(&route(
            &format!("r{i}"),
            "shop",
            "GET",
            &format!("/items/r{i}"),
            "{mock: {}}",
        ))
        .await;
    }
    let stages = ns.api::<Stage>();
    ns.apply::<Stage>("{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {name: prod}, spec: {restApiRef: {name: shop}, stageName: prod, deployment: {debounceSeconds: 1}}}").await;
    wait_ready(&stages, "prod", "True", T).await;
    for i in 0..10 {
        wait_ready(&ns.api::<Route>(), &format!("r{i}"), "True", T).await;
    }
    let events: Api<Event> = ns.api();
    let warnings: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .map(|e| format!("{:?}: {:?}", e.reason, e.message))
        .collect();
    assert!(
        warnings.is_empty(),
        "a fault-free apply warns nobody: {warnings:#?}"
    );

    // A broken route: the stages wait and name it.
    ns.apply::<Route>(&route(
        "broken",
        "shop",
        "GET",
        "/broken",
        "{lambda: {functionName: blocking-no-such-fn}}",
    ))
    .await;
    ns.apply::<Stage>("{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {name: dev}, spec: {restApiRef: {name: shop}, stageName: dev, deployment: {debounceSeconds: 0, waitForAllRoutes: false}}}").await;
    let prod = eventually("prod waits for the broken route", T, || async {
        let s = stages.get("prod").await.ok()?;
        (ready_reason(&s).0 == "WaitingForRoutes").then_some(s)
    })
    .await;
    assert!(
        ready_reason(&prod)
            .1
            .contains("Route broken (LambdaFunctionNotFound)"),
        "{:?}",
        ready_reason(&prod)
    );
    // Nothing that calls a missing function reaches a stage, whatever
    // waitForAllRoutes says (issue 26): dev waits too, and says why.
    let dev = eventually("dev waits for the missing function", T, || async {
        let s = stages.get("dev").await.ok()?;
        (ready_reason(&s).0 == "WaitingForRoutes").then_some(s)
    })
    .await;
    let (_, message) = ready_reason(&dev);
    assert!(
        message.contains("Route broken") && message.contains("does not exist"),
        "{message}"
    );
    let messages: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.message)
        .collect();
    assert!(
        messages.iter().all(|m| !m.contains("Status {")),
        "no debug dumps in Events: {messages:#?}"
    );
    ns.delete().await;
}

/// Point 10: while a long pass writes the structure of an API that is not Ready
/// yet, its Ready condition says so and counts (it used to keep the last error
/// or say nothing until the end). PutMethod is slowed to 2/s to make the pass long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_pass_shows_its_progress() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "progress").await;
    let mut settings = aws_settings();
    settings.limits.operations.push((
        "PutMethod".to_string(),
        apigw_operator::aws::Budget {
            per_second: 2.0,
            burst: 1,
        },
    ));
    let _op =
        Operator::start_with_aws(client.clone(), &ns.name, Duration::from_secs(2), settings).await;
    for i in 0..12 {
        ns.apply::<Route>(&route(
            &format!("r{i}"),
            "shop",
            "GET",
            &format!("/slow/r{i}"),
            "{mock: {}}",
        ))
        .await;
    }
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: shop}, spec: {}}",
    )
    .await;
    let apis = ns.api::<RestApi>();
    // First the new API's id is recorded ("created REST API ..."), then the
    // structure's progress is counted; both carry the id.
    let (shown, id) = eventually("progress shown while the pass runs", T, || async {
        let api = apis.get("shop").await.ok()?;
        let (reason, message) = ready_reason(&api);
        (reason == "Applying" && message.contains("Route(s) in effect"))
            .then(|| (message, api.status.and_then(|s| s.rest_api_id)))
    })
    .await;
    assert!(shown.contains("of 12 Route(s) in effect"), "{shown}");
    assert!(
        id.is_some(),
        "the API's id is in status while its structure is written"
    );
    wait_ready(&apis, "shop", "True", T).await;
    for i in 0..12 {
        wait_ready(&ns.api::<Route>(), &format!("r{i}"), "True", T).await;
    }
    ns.delete().await;
}
