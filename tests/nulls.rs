//! What AWS really returns, through a proxy that answers as AWS does where moto
//! does not: an empty mapping template (the console's "Enable CORS" makes them)
//! comes back as JSON null, which the AWS SDK for Rust alone cannot read. One
//! Route's empty template must not stall its API, its other Routes, its Stage or
//! its export; and an API stalled by an answer it cannot read recovers at the next
//! resync once the cause is gone, without a spec edit.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use apigw_operator::api::{RestApi, Route, Stage};
use common::proxy::{Proxy, Rewrite, empty_templates_as_null};
use common::*;
use kube::api::DeleteParams;

const T: Duration = Duration::from_secs(60);

fn route(name: &str, spec: &str) -> String {
    format!(
        "{{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {{name: {name}}}, spec: {{restApiRef: {{name: shop}}, {spec}}}}}"
    )
}

/// The condition `type_` of an object, as (status, reason).
fn condition<K: serde::Serialize>(obj: &K, type_: &str) -> Option<(String, String)> {
    let value = serde_json::to_value(obj).ok()?;
    let c = value
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?
        .clone();
    Some((
        c["status"].as_str()?.to_string(),
        c["reason"].as_str()?.to_string(),
    ))
}

/// A number among the request templates: a value no client of the model reads.
fn break_templates(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(members) => {
            for (name, v) in members.iter_mut() {
                match v.as_object_mut() {
                    Some(templates) if name == "requestTemplates" => {
                        templates.insert("x/broken".into(), serde_json::json!(5));
                    }
                    _ => break_templates(v),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(break_templates),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_template_read_back_as_null_stalls_nothing() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "null-templates").await;
    // Nulls as AWS answers them; while `unreadable` is set, every read of the
    // API's resources also carries a value no client can read (a number for a
    // template), the way an answer the SDK cannot parse stalls an API.
    let nulls = Arc::new(AtomicUsize::new(0));
    let unreadable = Arc::new(AtomicBool::new(false));
    let rewrite: Rewrite = {
        let (nulls, unreadable) = (nulls.clone(), unreadable.clone());
        Arc::new(move |path: &str, body: &[u8]| {
            let body = match empty_templates_as_null(body) {
                Some(b) => {
                    nulls.fetch_add(1, Ordering::SeqCst);
                    b
                }
                None => body.to_vec(),
            };
            if unreadable.load(Ordering::SeqCst) && path.contains("/resources") {
                let mut value: serde_json::Value = serde_json::from_slice(&body).ok()?;
                break_templates(&mut value);
                return Some(serde_json::to_vec(&value).unwrap());
            }
            Some(body)
        })
    };
    let proxy = Proxy::rewriting(&aws_endpoint(), rewrite).await;
    let mut settings = aws_settings();
    settings.endpoint_url = Some(proxy.url.clone());
    let resync = Duration::from_secs(3);
    let _op = Operator::start_with_aws(client.clone(), &ns.name, resync, settings).await;

    let apis = ns.api::<RestApi>();
    let routes = ns.api::<Route>();
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: shop}, spec: {}}",
    )
    .await;
    ns.apply::<Route>(&route(
        "items",
        "method: GET, path: /items, cors: {allowOrigins: ['https://app.example.com']}, integration: {mock: {statusCode: 200}, responses: [{statusCode: '200', templates: {application/json: '{\"items\": []}'}}]}, responses: [{statusCode: '200'}]",
    ))
    .await;
    let orders = |template: &str| {
        route(
            "orders",
            &format!(
                "method: POST, path: /orders, integration: {{http: {{url: 'https://backend.internal/orders', proxy: false}}, requestTemplates: {{application/json: '{template}'}}, responses: [{{statusCode: '200', templates: {{application/json: '{template}'}}}}]}}, responses: [{{statusCode: '200'}}]"
            ),
        )
    };
    ns.apply::<Route>(&orders("{\"order\": 1}")).await;
    ns.apply::<Stage>("{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {name: live}, spec: {restApiRef: {name: shop}, stageName: live, deployment: {debounceSeconds: 0}}}").await;
    let api_id = wait_ready(&apis, "shop", "True", T)
        .await
        .status
        .unwrap()
        .rest_api_id
        .unwrap();
    for name in ["items", "orders"] {
        wait_ready(&routes, name, "True", T).await;
    }
    wait_ready(&ns.api::<Stage>(), "live", "True", T).await;

    // One Route's templates made empty: AWS keeps "" and answers null.
    ns.apply::<Route>(&orders("")).await;
    wait_ready(&routes, "orders", "True", T).await;
    let aws = aws().await;
    let stored = aws
        .get_resources(&api_id)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.path == "/orders")
        .unwrap();
    let integration = stored.methods["POST"].integration.clone().unwrap();
    assert_eq!(integration.request_templates["application/json"], "");
    assert_eq!(
        integration.responses["200"].templates["application/json"],
        ""
    );
    eventually(
        "the operator reads the empty template as AWS answers it",
        T,
        || async { (nulls.load(Ordering::SeqCst) > 0).then_some(()) },
    )
    .await;
    let api = wait_ready(&apis, "shop", "True", T).await;
    assert_eq!(
        condition(&api, "Stalled").map(|c| c.0).as_deref(),
        Some("False")
    );
    for name in ["items", "orders"] {
        let r = wait_ready(&routes, name, "True", T).await;
        assert_eq!(ready_reason(&r).0, "InEffect", "{name}");
    }
    wait_ready(&ns.api::<Stage>(), "live", "True", T).await;

    // A resync after it plans nothing: the spec's "" equals AWS's null.
    let mark = proxy.mark();
    eventually("two resync passes", T, || async {
        let reads = proxy
            .since(mark)
            .iter()
            .filter(|s| s.operation == "GetResources")
            .count();
        (reads >= 2).then_some(())
    })
    .await;
    let writes: Vec<String> = proxy
        .since(mark)
        .iter()
        .filter(|s| s.is_write())
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(
        writes,
        Vec::<String>::new(),
        "a converged API writes nothing"
    );

    // The export reads the same answers, and keeps the empty templates.
    let out = Command::new(env!("CARGO_BIN_EXE_apigw-operator"))
        .args(["export", "--rest-api-id", &api_id, "--name", "shop"])
        .args([
            "--aws-endpoint-url",
            &proxy.url,
            "--aws-region",
            "us-east-1",
        ])
        .output()
        .expect("the operator binary runs");
    assert!(
        out.status.success(),
        "export: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifests = String::from_utf8(out.stdout).unwrap();
    let exported: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(&manifests)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let order_route = exported
        .iter()
        .find(|m| m["kind"] == "Route" && m["spec"]["path"] == "/orders")
        .unwrap_or_else(|| panic!("the /orders Route is exported: {manifests}"));
    let spec = &order_route["spec"]["integration"];
    assert_eq!(
        spec["requestTemplates"]["application/json"], "",
        "{manifests}"
    );
    assert_eq!(
        spec["responses"][0]["templates"]["application/json"], "",
        "{manifests}"
    );

    // An answer that cannot be read stalls the API; cured outside, the API is
    // Ready again at a resync, with no spec edit.
    let generation = apis.get("shop").await.unwrap().metadata.generation;
    unreadable.store(true, Ordering::SeqCst);
    let stalled = eventually("the API stalled by an unreadable answer", T, || async {
        let api = apis.get("shop").await.ok()?;
        (ready_reason(&api).0 == "AwsRejected").then_some(api)
    })
    .await;
    assert_eq!(
        condition(&stalled, "Stalled").map(|c| c.0).as_deref(),
        Some("True")
    );
    assert!(
        ready_reason(&stalled).1.contains("could not be read"),
        "{:?}",
        ready_reason(&stalled)
    );
    unreadable.store(false, Ordering::SeqCst);
    let recovered = wait_ready(&apis, "shop", "True", T).await;
    assert_eq!(recovered.metadata.generation, generation, "no spec edit");
    assert_eq!(
        condition(&recovered, "Stalled").map(|c| c.0).as_deref(),
        Some("False")
    );

    // Deleting the Route with the empty template is held up by nothing either.
    routes
        .delete("orders", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&routes, "orders", T).await;
    ns.api::<Stage>()
        .delete("live", &DeleteParams::default())
        .await
        .unwrap();
    routes
        .delete("items", &DeleteParams::default())
        .await
        .unwrap();
    apis.delete("shop", &DeleteParams::default()).await.unwrap();
    wait_deleted(&apis, "shop", T).await;
    wait_deleted(&routes, "items", T).await;
    wait_deleted(&ns.api::<Stage>(), "live", T).await;
    ns.delete().await;
}
