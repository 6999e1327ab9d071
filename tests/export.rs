//! `apigw-operator export` end to end against moto: the binary reads a live REST
//! API and prints manifests; applied with `kubectl apply -f -` they adopt the API.
//! - An API the operator built, exported and applied to another namespace with
//!   `--observe-only`, plans nothing.
//! - An API built call by call, as the console or boto3 would, exports to
//!   manifests that converge to the same structure without rewriting a method.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use apigw_operator::api::{Authorizer, RestApi, Route, Stage};
use common::*;
use kube::api::{DeleteParams, Patch, PatchParams};

const T: Duration = Duration::from_secs(60);

/// Run the binary's export; returns its standard output.
fn export(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_apigw-operator"))
        .arg("export")
        .args(args)
        .args([
            "--aws-endpoint-url",
            &aws_endpoint(),
            "--aws-region",
            "us-east-1",
        ])
        .output()
        .expect("the operator binary runs");
    assert!(
        out.status.success(),
        "export {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn kubectl_apply(namespace: &str, manifests: &str) {
    let mut child = Command::new("kubectl")
        .args(["apply", "-n", namespace, "-f", "-"])
        .env("KUBECONFIG", env("KUBECONFIG"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl on PATH");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(manifests.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl apply: {}\n{manifests}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn structure(aws: &apigw_operator::aws::Aws, api_id: &str) -> Vec<String> {
    let mut out: Vec<String> = aws
        .get_resources(api_id)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|r| {
            let path = r.path.clone();
            r.methods
                .into_iter()
                .map(move |(verb, m)| format!("{verb} {path} {m:?}"))
        })
        .collect();
    out.sort();
    out
}

fn route(name: &str, spec: &str) -> String {
    format!(
        "{{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {{name: {name}}}, spec: {{restApiRef: {{name: photos}}, {spec}}}}}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_api_applied_elsewhere_in_observe_only_plans_nothing() {
    let client = client().await;
    let source = TestNamespace::new(&client, "export-from").await;
    let target = TestNamespace::new(&client, "export-to").await;
    seed_functions(&["export-list", "export-upload:live"]);
    let pool = seed_user_pool("export-users");
    let builder = Operator::start(&source.name, Duration::from_secs(600)).await;

    source
        .apply::<RestApi>("{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: photos}, spec: {description: Photos, binaryMediaTypes: [image/png], tags: {team: a}}}")
        .await;
    source
        .apply::<Authorizer>(&format!(
            "{{apiVersion: apigw.rs/v1alpha1, kind: Authorizer, metadata: {{name: users}}, spec: {{restApiRef: {{name: photos}}, cognito: {{userPools: [{pool}]}}}}}}"
        ))
        .await;
    source
        .apply::<Route>(&route(
            "list",
            "method: GET, path: /photos, integration: {lambda: {functionName: export-list}}",
        ))
        .await;
    source.apply::<Route>(&route("upload", "method: PUT, path: '/photos/{photoId}', requestParameters: {method.request.path.photoId: true}, authorization: {authorizerRef: {name: users}}, integration: {lambda: {functionName: 'export-upload:live'}}")).await;
    source.apply::<Route>(&route("files", "method: GET, path: '/files/{proxy+}', authorization: {iam: true}, requestParameters: {method.request.path.proxy: true}, integration: {http: {url: 'https://files.internal/{proxy}', proxy: true}, requestParameters: {integration.request.path.proxy: method.request.path.proxy}}")).await;
    source.apply::<Route>(&route("health", "method: GET, path: /health, cors: {allowOrigins: ['https://app.example.com']}, integration: {mock: {statusCode: 200}, responses: [{statusCode: '200', templates: {application/json: '{\"up\": true}'}}]}, responses: [{statusCode: '200'}]")).await;
    source
        .apply::<Stage>("{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {name: live}, spec: {restApiRef: {name: photos}, stageName: live, variables: {env: live}, tracingEnabled: true, deployment: {policy: Automatic, debounceSeconds: 1}}}")
        .await;
    let apis = source.api::<RestApi>();
    let api_id = wait_ready(&apis, "photos", "True", T)
        .await
        .status
        .unwrap()
        .rest_api_id
        .unwrap();
    for name in ["list", "upload", "files", "health"] {
        wait_ready(&source.api::<Route>(), name, "True", T).await;
    }
    eventually("live deployed", T, || async {
        let s = source.api::<Stage>().get("live").await.ok()?.status?;
        s.deployment_id.map(|_| ())
    })
    .await;
    let aws = aws().await;
    let before = structure(&aws, &api_id).await;

    let manifests = export(&[
        "--rest-api-id",
        &api_id,
        "--name",
        "photos",
        "--observe-only",
    ]);
    // moto has no documentation parts (GetDocumentationParts answers 404, see
    // ../shared/MOTO.md): the export says it could not list them, and nothing else.
    let dropped: Vec<&str> = manifests
        .lines()
        .filter(|l| l.starts_with("# not exported"))
        .collect();
    assert!(
        dropped.len() == 1 && dropped[0].contains("documentation parts, which could not be listed"),
        "{manifests}"
    );
    assert!(manifests.contains("adoptOrphaned: true"), "{manifests}");

    // The team moves the API: the old object lets go of it (Retain), the export
    // adopts it in the new namespace.
    apis.patch(
        "photos",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"deletionPolicy": "Retain"}})),
    )
    .await
    .unwrap();
    apis.delete("photos", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&apis, "photos", T).await;
    drop(builder);

    let _adopter = Operator::start(&target.name, Duration::from_secs(600)).await;
    kubectl_apply(&target.name, &manifests);
    let adopted = wait_ready(&target.api::<RestApi>(), "photos", "True", T).await;
    let status = adopted.status.unwrap();
    assert_eq!(status.rest_api_id.as_deref(), Some(api_id.as_str()));
    assert_eq!(
        ready_reason(&target.api::<RestApi>().get("photos").await.unwrap()).0,
        "Observed"
    );
    assert_eq!(
        status.tenant.planned_changes,
        Vec::<String>::new(),
        "the exported manifests describe the API exactly"
    );
    let routes = target.api::<Route>();
    for route in routes.list(&Default::default()).await.unwrap() {
        let name = route.metadata.name.unwrap();
        let route = wait_ready(&routes, &name, "True", T).await;
        assert_eq!(ready_reason(&route).0, "InEffect", "{name}");
    }
    assert_eq!(
        structure(&aws, &api_id).await,
        before,
        "nothing was written"
    );
    source.delete().await;
    target.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_built_api_exports_to_manifests_that_converge_to_it() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "export-console").await;
    seed_functions(&["console-orders"]);
    let aws = aws().await;
    let console = console().await;
    let gw = &console;
    // As the console would: an API, two resources, three methods, a deployment.
    let api = gw
        .create_rest_api()
        .name("Console Orders")
        .description("made by hand")
        .send()
        .await
        .unwrap();
    let api_id = api.id().unwrap().to_string();
    let root = api.root_resource_id().unwrap().to_string();
    let orders = gw
        .create_resource()
        .rest_api_id(&api_id)
        .parent_id(&root)
        .path_part("orders")
        .send()
        .await
        .unwrap();
    let orders_id = orders.id().unwrap().to_string();
    let one = gw
        .create_resource()
        .rest_api_id(&api_id)
        .parent_id(&orders_id)
        .path_part("{id}")
        .send()
        .await
        .unwrap();
    let one_id = one.id().unwrap().to_string();
    let lambda_uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:console-orders/invocations";
    for (resource, verb) in [(&orders_id, "GET"), (&orders_id, "POST")] {
        gw.put_method()
            .rest_api_id(&api_id)
            .resource_id(resource)
            .http_method(verb)
            .authorization_type("NONE")
            .send()
            .await
            .unwrap();
        gw.put_integration()
            .rest_api_id(&api_id)
            .resource_id(resource)
            .http_method(verb)
            .r#type(aws_sdk_apigateway::types::IntegrationType::AwsProxy)
            .integration_http_method("POST")
            .uri(lambda_uri)
            .passthrough_behavior("WHEN_NO_MATCH")
            .timeout_in_millis(29000)
            .send()
            .await
            .unwrap();
    }
    gw.put_method()
        .rest_api_id(&api_id)
        .resource_id(&one_id)
        .http_method("GET")
        .authorization_type("NONE")
        .request_parameters("method.request.path.id", true)
        .send()
        .await
        .unwrap();
    gw.put_integration()
        .rest_api_id(&api_id)
        .resource_id(&one_id)
        .http_method("GET")
        .r#type(aws_sdk_apigateway::types::IntegrationType::HttpProxy)
        .integration_http_method("GET")
        .uri("https://orders.internal/{id}")
        .request_parameters("integration.request.path.id", "method.request.path.id")
        .passthrough_behavior("WHEN_NO_MATCH")
        .timeout_in_millis(29000)
        .send()
        .await
        .unwrap();
    let deployment = gw
        .create_deployment()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .send()
        .await
        .unwrap();
    let before = structure(&aws, &api_id).await;

    let manifests = export(&["--rest-api-id", &api_id]);
    assert!(
        manifests.contains("name: console-orders\n"),
        "named after the API: {manifests}"
    );
    assert!(
        manifests.contains(&format!("deploymentId: {}", deployment.id().unwrap())),
        "the stage stays on what it serves: {manifests}"
    );
    let op = Operator::start(&ns.name, Duration::from_secs(600)).await;
    kubectl_apply(&ns.name, &manifests);
    let api = wait_ready(&ns.api::<RestApi>(), "console-orders", "True", T).await;
    assert_eq!(
        api.status.unwrap().rest_api_id.as_deref(),
        Some(api_id.as_str())
    );
    let routes = ns.api::<Route>().list(&Default::default()).await.unwrap();
    assert_eq!(routes.items.len(), 3);
    for route in &routes.items {
        wait_ready(
            &ns.api::<Route>(),
            route.metadata.name.as_deref().unwrap(),
            "True",
            T,
        )
        .await;
    }
    wait_ready(&ns.api::<Stage>(), "console-orders-prod", "True", T).await;
    assert_eq!(
        structure(&aws, &api_id).await,
        before,
        "the structure is the same"
    );
    let stats = &op.ctx.aws.stats;
    assert_eq!(
        (
            stats.calls_of("PutMethod"),
            stats.calls_of("DeleteMethod"),
            stats.calls_of("CreateDeployment")
        ),
        (0, 0, 0),
        "adopting rewrote nothing: {:?}",
        stats.snapshot()
    );
    drop(op);
    ns.delete().await;
}
