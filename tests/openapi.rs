//! RestApis built from an OpenAPI document (`spec.openapi`), end to end against
//! moto: the import, its permissions, stages deploying it, no write while nothing
//! changed, drift put back (of validators, models and gateway responses too), bad documents refused, Routes refused.
//!
//! moto's import (see ../shared/MOTO.md) builds resources, methods and Lambda /
//! HTTP integrations faithfully, which is what these tests check. It answers 500
//! on a MOCK integration and ignores authorizers, so those are proven against
//! LocalStack in `tests/serving.rs` instead.

mod common;

use std::time::Duration;

use apigw_operator::api::{RestApi, Route, Stage};
use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams};

const T: Duration = Duration::from_secs(40);

fn document(list_function: &str, second_verb: &str, second_function: &str) -> String {
    format!(
        r#"openapi: 3.0.1
info: {{title: anything, version: "1"}}
x-amazon-apigateway-binary-media-types: ["image/png"]
paths:
  /photos:
    get:
      x-amazon-apigateway-integration:
        type: aws_proxy
        httpMethod: POST
        uri: arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{list_function}/invocations
    {second_verb}:
      x-amazon-apigateway-integration:
        type: aws_proxy
        httpMethod: POST
        uri: arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:{second_function}/invocations
  /photos/{{photoId}}:
    get:
      parameters: [{{name: photoId, in: path, required: true, schema: {{type: string}}}}]
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: GET
        uri: https://photos.internal/{{photoId}}
"#
    )
}

fn config_map(doc: &str) -> String {
    let mut yaml = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: photos-openapi}\ndata:\n  openapi.yaml: |\n",
    );
    for line in doc.lines() {
        yaml.push_str("    ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    yaml
}

async fn methods(aws: &apigw_operator::aws::Aws, api_id: &str) -> Vec<String> {
    let mut out: Vec<String> = aws
        .get_resources(api_id)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|r| {
            let path = r.path.clone();
            r.methods
                .into_keys()
                .map(move |verb| format!("{verb} {path}"))
        })
        .collect();
    out.sort();
    out
}

fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")
}

async fn has_grant(aws: &apigw_operator::aws::Aws, function: &str, api_id: &str) -> bool {
    aws.get_policy_statements(&function_arn(function), None)
        .await
        .unwrap()
        .unwrap_or_default()
        .iter()
        .any(|(sid, _)| sid == &format!("apigw-{api_id}"))
}

/// The whole life of a document-built API: import from a ConfigMap, grants for
/// the functions it names, an automatic stage deploying it, a quiet resync, an
/// edit of the ConfigMap, drift put back, a bad document refused without a write,
/// a Route refused, and the API's deletion taking its grants with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_from_an_openapi_document() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "openapi").await;
    seed_functions(&["list-photos", "upload-photo", "delete-photo"]);
    let op = Operator::start(&ns.name, Duration::from_secs(2)).await;
    let aws = aws().await;

    ns.apply::<ConfigMap>(&config_map(&document(
        "list-photos",
        "post",
        "upload-photo",
    )))
    .await;
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: photos}, \
         spec: {description: Photos, openapi: {configMapRef: {name: photos-openapi, key: openapi.yaml}}}}",
    )
    .await;
    ns.apply::<Stage>(
        "{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {name: dev}, \
         spec: {restApiRef: {name: photos}, stageName: dev, deployment: {policy: Automatic, debounceSeconds: 1}}}",
    )
    .await;
    ns.apply::<Route>(
        "{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: stray}, \
         spec: {restApiRef: {name: photos}, method: GET, path: /stray, integration: {mock: {}}}}",
    )
    .await;

    let apis = ns.api::<RestApi>();
    let api = wait_ready(&apis, "photos", "True", T).await;
    let status = api.status.clone().unwrap();
    let api_id = status.rest_api_id.clone().unwrap();
    assert_eq!(
        methods(&aws, &api_id).await,
        ["GET /photos", "GET /photos/{photoId}", "POST /photos"]
    );
    let applied = status.document.clone().expect("status.document");
    assert_eq!(applied.methods, 3);
    // The spec's settings win over the document's, and the user is told.
    let warnings = status
        .conditions
        .iter()
        .find(|c| c.type_ == "ImportWarnings")
        .expect("ImportWarnings condition");
    assert_eq!(warnings.status, "True");
    assert!(
        warnings
            .message
            .contains("replaced by spec.binaryMediaTypes"),
        "{}",
        warnings.message
    );
    let settings = aws.get_rest_api(&api_id).await.unwrap().unwrap();
    assert_eq!(
        settings.settings.name, "photos",
        "the spec names the API, not info.title"
    );
    // One statement per function per API, for the functions the document names.
    assert!(has_grant(&aws, "list-photos", &api_id).await);
    assert!(has_grant(&aws, "upload-photo", &api_id).await);
    // The Route cannot add to a document-built API, and says so.
    let routes = ns.api::<Route>();
    let message = eventually("the stray Route refused", T, || async {
        let (reason, message) = ready_reason(&routes.get("stray").await.ok()?);
        (reason == "ApiDefinedByDocument").then_some(message)
    })
    .await;
    assert!(message.contains("spec.openapi"), "{message}");
    // It stays refused: the Route's own reconciler says the same as the API's.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        ready_reason(&routes.get("stray").await.unwrap()).0,
        "ApiDefinedByDocument"
    );
    // The stage deploys what was imported.
    let stages = ns.api::<Stage>();
    let deployed = eventually("dev deployed", T, || async {
        let s = stages.get("dev").await.ok()?.status?;
        s.deployment_id.clone().map(|_| s)
    })
    .await;

    // Converged: resyncs every 2 s write nothing, and import nothing.
    let (writes, imports) = (op.mutating_calls(), op.ctx.aws.stats.calls_of("PutRestApi"));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        (op.mutating_calls(), op.ctx.aws.stats.calls_of("PutRestApi")),
        (writes, imports),
        "an unchanged document is not applied again: {:?}",
        op.ctx.aws.stats.snapshot()
    );

    // An edit of the ConfigMap is applied: the dropped function loses its grant,
    // the new one gets one, and the stage deploys again.
    ns.apply::<ConfigMap>(&config_map(&document(
        "list-photos",
        "delete",
        "delete-photo",
    )))
    .await;
    eventually("the edited document imported", T, || async {
        let m = methods(&aws, &api_id).await;
        (m == ["DELETE /photos", "GET /photos", "GET /photos/{photoId}"]).then_some(())
    })
    .await;
    eventually("grants follow the document", T, || async {
        (has_grant(&aws, "delete-photo", &api_id).await
            && !has_grant(&aws, "upload-photo", &api_id).await)
            .then_some(())
    })
    .await;
    eventually("dev deployed again", T, || async {
        let s = stages.get("dev").await.ok()?.status?;
        (s.deployment_id != deployed.deployment_id).then_some(())
    })
    .await;

    // Drift: a method deleted by hand comes back with the next resync.
    let resource = aws
        .get_resources(&api_id)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.path == "/photos/{photoId}")
        .unwrap();
    console()
        .await
        .delete_method()
        .rest_api_id(&api_id)
        .resource_id(&resource.id)
        .http_method("GET")
        .send()
        .await
        .unwrap();
    eventually("drift put back", T, || async {
        methods(&aws, &api_id)
            .await
            .contains(&"GET /photos/{photoId}".to_string())
            .then_some(())
    })
    .await;

    // A document that is not OpenAPI is refused before any write.
    let imports = op.ctx.aws.stats.calls_of("PutRestApi");
    apis.patch(
        "photos",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"openapi": {"configMapRef": null, "document": "title: not an API"}}})),
    )
    .await
    .unwrap();
    let refused = wait_ready(&apis, "photos", "False", T).await;
    let (reason, message) = ready_reason(&refused);
    assert_eq!(reason, "InvalidDocument");
    assert!(message.contains("openapi: 3.x"), "{message}");
    assert_eq!(op.ctx.aws.stats.calls_of("PutRestApi"), imports);
    assert_eq!(
        methods(&aws, &api_id).await.len(),
        3,
        "the API stays as it was"
    );

    // Deleting the API takes its grants with it.
    apis.delete("photos", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&apis, "photos", T).await;
    assert!(!has_grant(&aws, "list-photos", &api_id).await);
    assert!(!has_grant(&aws, "delete-photo", &api_id).await);
    drop(op);
    ns.delete().await;
}

/// A ConfigMap that is missing is a condition that clears by itself once the
/// ConfigMap is created (its watch wakes the RestApi).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_document_waits_for_its_config_map() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "openapi-cm").await;
    // Functions of its own: moto-seed's check-then-create races with another test's.
    seed_functions(&["list-albums", "upload-album"]);
    // A long resync: only the ConfigMap watch can bring the change in time.
    let op = Operator::start(&ns.name, Duration::from_secs(600)).await;
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: photos}, \
         spec: {openapi: {configMapRef: {name: photos-openapi, key: openapi.yaml}}}}",
    )
    .await;
    let apis = ns.api::<RestApi>();
    let waiting = wait_ready(&apis, "photos", "False", T).await;
    let (reason, message) = ready_reason(&waiting);
    assert_eq!(reason, "DocumentNotFound");
    assert!(message.contains("photos-openapi"), "{message}");
    ns.apply::<ConfigMap>(&config_map(&document(
        "list-albums",
        "post",
        "upload-album",
    )))
    .await;
    let api = wait_ready(&apis, "photos", "True", T).await;
    assert_eq!(api.status.unwrap().document.unwrap().methods, 3);
    drop(op);
    ns.delete().await;
}

/// A document declaring request validators, models and gateway responses owns
/// them too: a hand edit of any of them is drift, re-imported on the next resync.
/// A document listing the spec's binary media types in another order raises no
/// ImportWarnings. moto's import (see ../shared/MOTO.md) ignores validators,
/// models and top-level extensions, so on moto the import neither creates nor
/// restores them: the console's edits here stand in for what AWS's import would
/// have made and then undone, and the test checks that each edit is noticed and
/// answered with one import, and that the pass then settles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_of_validators_models_and_gateway_responses_is_imported_over() {
    use aws_sdk_apigateway::types::{GatewayResponseType, Op, PatchOperation};
    let client = client().await;
    let ns = TestNamespace::new(&client, "openapi-owned").await;
    let op = Operator::start(&ns.name, Duration::from_secs(2)).await;
    let stats = &op.ctx.aws.stats;
    let doc = r#"openapi: 3.0.1
info: {title: items, version: "1"}
x-amazon-apigateway-binary-media-types: [image/png, application/pdf]
x-amazon-apigateway-request-validators:
  all: {validateRequestBody: true, validateRequestParameters: true}
x-amazon-apigateway-request-validator: all
x-amazon-apigateway-gateway-responses:
  DEFAULT_4XX: {statusCode: 400}
paths:
  /items:
    get:
      x-amazon-apigateway-integration: {type: http_proxy, httpMethod: GET, uri: "https://items.internal/"}
components:
  schemas:
    Item: {type: object}
"#;
    let mut indented = String::new();
    for line in doc.lines() {
        indented.push_str(&format!("      {line}\n"));
    }
    ns.apply::<RestApi>(&format!(
        "apiVersion: apigw.rs/v1alpha1\nkind: RestApi\nmetadata: {{name: items}}\nspec:\n  \
         binaryMediaTypes: [application/pdf, image/png]\n  openapi:\n    document: |\n{indented}"
    ))
    .await;
    let apis = ns.api::<RestApi>();
    let api = wait_ready(&apis, "items", "True", T).await;
    let status = api.status.unwrap();
    let api_id = status.rest_api_id.unwrap();
    let warnings = status
        .conditions
        .iter()
        .find(|c| c.type_ == "ImportWarnings")
        .expect("ImportWarnings condition");
    assert_eq!(
        (warnings.status.as_str(), warnings.reason.as_str()),
        ("False", "NoWarnings"),
        "the same media types in another order are no replacement: {}",
        warnings.message
    );
    assert!(
        !ns.events_for("items")
            .await
            .iter()
            .any(|e| e.starts_with("Warning/DocumentWarnings")),
        "{:?}",
        ns.events_for("items").await
    );

    // Two more passes read the structure (each lists the gateway responses once)
    // and none imports: the API is settled.
    let settled = |what: &'static str| async move {
        let imports = stats.calls_of("PutRestApi");
        let reads = stats.calls_of("GetGatewayResponses");
        eventually(what, T, || async {
            (stats.calls_of("GetGatewayResponses") >= reads + 2).then_some(())
        })
        .await;
        assert_eq!(
            stats.calls_of("PutRestApi"),
            imports,
            "{what}: {:?}",
            stats.snapshot()
        );
    };
    settled("converged").await;

    let console = console().await;
    let drifted = |what: &'static str| async move {
        let imports = stats.calls_of("PutRestApi");
        eventually(what, T, || async {
            (stats.calls_of("PutRestApi") > imports).then_some(())
        })
        .await;
    };
    // The validator the document declares, as AWS's import would have made it.
    let validator = console
        .create_request_validator()
        .rest_api_id(&api_id)
        .name("all")
        .validate_request_body(true)
        .validate_request_parameters(true)
        .send()
        .await
        .unwrap();
    drifted("a validator made by hand is imported over").await;
    settled("settled after the validator").await;

    // Turned off at the console: the measured bug, which stayed off before.
    console
        .update_request_validator()
        .rest_api_id(&api_id)
        .request_validator_id(validator.id().unwrap())
        .patch_operations(
            PatchOperation::builder()
                .op(Op::Replace)
                .path("/validateRequestBody")
                .value("false")
                .build(),
        )
        .send()
        .await
        .unwrap();
    drifted("a validator turned off is imported over").await;
    settled("settled after turning the validator off").await;

    console
        .create_model()
        .rest_api_id(&api_id)
        .name("Item")
        .content_type("application/json")
        .schema(r#"{"type": "string"}"#)
        .send()
        .await
        .unwrap();
    drifted("a model edited by hand is imported over").await;
    settled("settled after the model").await;

    console
        .put_gateway_response()
        .rest_api_id(&api_id)
        .response_type(GatewayResponseType::Default4Xx)
        .status_code("418")
        .send()
        .await
        .unwrap();
    drifted("a gateway response edited by hand is imported over").await;
    settled("settled after the gateway response").await;
    ns.wait_event("items", "Normal/Imported").await;
    assert!(
        ns.events_for("items")
            .await
            .iter()
            .any(|e| e.contains("the API drifted from the document")),
        "{:?}",
        ns.events_for("items").await
    );

    apis.delete("items", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&apis, "items", T).await;
    drop(op);
    ns.delete().await;
}

fn lambda_route(api: &str, i: usize, function: &str) -> String {
    format!(
        "{{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {{name: {api}-r{i}}}, spec: {{restApiRef: {{name: {api}}}, \
         method: GET, path: '/items/r{i}/{{id}}', integration: {{lambda: {{functionName: {function}}}}}}}}}"
    )
}

/// A new Route-built API whose plan costs more than an import is written with one
/// PutRestApi, and then converges like any other: every Route in effect with its
/// resource id, one grant per function, a stage deployed; a one-route edit
/// afterwards costs only its own writes. An API with a route moto cannot import
/// (a MOCK integration: moto answers 500) falls back to writing call by call.
/// moto's import also drops OAS `parameters`, so these routes declare none: on
/// moto a route with request parameters is imported, then its method is written
/// again call by call (the pass plans from what AWS holds after the import).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_api_of_many_routes_is_written_in_one_import() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "openapi-bulk").await;
    seed_functions(&["bulk-a", "bulk-b"]);
    let op = Operator::start(&ns.name, Duration::from_secs(600)).await;
    let stats = &op.ctx.aws.stats;
    // The routes first, then their API, so the first pass sees them all.
    for i in 0..30 {
        let function = if i % 2 == 0 { "bulk-a" } else { "bulk-b" };
        ns.apply::<Route>(&lambda_route("bulk", i, function)).await;
    }
    ns.apply::<Stage>(
        "{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {name: live}, \
         spec: {restApiRef: {name: bulk}, stageName: live, deployment: {policy: Automatic, debounceSeconds: 1}}}",
    )
    .await;
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: bulk}, spec: {}}",
    )
    .await;
    let api = wait_ready(&ns.api::<RestApi>(), "bulk", "True", T).await;
    let api_id = api.status.unwrap().rest_api_id.unwrap();
    let routes = ns.api::<Route>();
    for i in 0..30 {
        let route = wait_ready(&routes, &format!("bulk-r{i}"), "True", T).await;
        assert!(route.status.unwrap().resource_id.is_some());
    }
    wait_ready(&ns.api::<Stage>(), "live", "True", T).await;
    assert_eq!(stats.calls_of("PutRestApi"), 1, "{:?}", stats.snapshot());
    assert_eq!(
        (
            stats.calls_of("PutMethod"),
            stats.calls_of("CreateResource")
        ),
        (0, 0),
        "nothing written call by call: {:?}",
        stats.snapshot()
    );
    let aws = aws().await;
    assert_eq!(methods(&aws, &api_id).await.len(), 30);
    assert!(has_grant(&aws, "bulk-a", &api_id).await);
    assert!(has_grant(&aws, "bulk-b", &api_id).await);

    // A one-route edit is written on its own.
    ns.apply::<Route>(&lambda_route("bulk", 0, "bulk-b")).await;
    eventually("the edit applied", T, || async {
        (stats.calls_of("PutIntegration") >= 1).then_some(())
    })
    .await;
    assert_eq!(stats.calls_of("PutRestApi"), 1, "{:?}", stats.snapshot());

    // moto cannot import a MOCK integration (500): the API is written call by call.
    for i in 0..25 {
        ns.apply::<Route>(&lambda_route("mixed", i, "bulk-a")).await;
    }
    ns.apply::<Route>(
        "{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: mixed-health}, \
         spec: {restApiRef: {name: mixed}, method: GET, path: /health, integration: {mock: {}}}}",
    )
    .await;
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: mixed}, spec: {}}",
    )
    .await;
    let mixed = wait_ready(&ns.api::<RestApi>(), "mixed", "True", T).await;
    wait_ready(&routes, "mixed-health", "True", T).await;
    let mixed_id = mixed.status.unwrap().rest_api_id.unwrap();
    assert_eq!(methods(&aws, &mixed_id).await.len(), 26);
    drop(op);
    ns.delete().await;
}
