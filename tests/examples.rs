//! The photo-sharing example end to end, applied with kubectl as a user would:
//! everything converges, every piece is in AWS (moto), an edit makes one new
//! deployment, deleting a route takes its method, resources and permission along,
//! and deleting everything leaves nothing behind in AWS. The WebSocket
//! notifications example likewise, with its callback URL handed to the backend.

mod common;

use std::process::Command;
use std::time::Duration;

use apigw_operator::api::{Authorizer, RestApi, Route, Stage};
use common::*;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};

const T: Duration = Duration::from_secs(60);
const NS: &str = "photo-app";
const ROUTES: [&str; 6] = [
    "upload-photo",
    "filter-photo",
    "list-photos",
    "queue-thumbnail",
    "start-processing",
    "health",
];

fn kubectl(args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", env("KUBECONFIG"))
        .output()
        .expect("kubectl on PATH");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn delete_all<K>(api: &Api<K>)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    for obj in api.list(&ListParams::default()).await.unwrap().items {
        let _ = api.delete(&obj.name_any(), &DeleteParams::default()).await;
    }
    eventually("objects gone", T, || async {
        api.list(&ListParams::default())
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await;
}

async fn policy_sids(
    aws: &apigw_operator::aws::Aws,
    function: &str,
    qualifier: Option<&str>,
) -> Vec<String> {
    let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{function}");
    aws.get_policy_statements(&arn, qualifier)
        .await
        .unwrap()
        .unwrap_or_default()
        .into_iter()
        .map(|(sid, _)| sid)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photo_app_example_end_to_end() {
    let client = client().await;
    ensure_crds(&client).await;
    let _op = Operator::start(NS, Duration::from_secs(3)).await;
    let apis: Api<RestApi> = Api::namespaced(client.clone(), NS);
    let routes: Api<Route> = Api::namespaced(client.clone(), NS);
    let authorizers: Api<Authorizer> = Api::namespaced(client.clone(), NS);
    let stages: Api<Stage> = Api::namespaced(client.clone(), NS);
    // A run that failed before may have left objects: start from nothing.
    kubectl(&[
        "apply",
        "-f",
        &checkout("/examples/photo-app/00-namespace.yaml"),
    ]);
    delete_all(&apis).await;
    delete_all(&routes).await;
    delete_all(&authorizers).await;
    delete_all(&stages).await;

    let out = Command::new(checkout("/scripts/example-photo-app"))
        .output()
        .expect("example script runs");
    assert!(
        out.status.success(),
        "scripts/example-photo-app: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let api = wait_ready(&apis, "photos", "True", T).await;
    let api_id = api.status.clone().unwrap().rest_api_id.unwrap();
    wait_ready(&authorizers, "users", "True", T).await;
    for name in ROUTES {
        wait_ready(&routes, name, "True", T).await;
    }
    let dev = wait_ready(&stages, "dev", "True", T).await.status.unwrap();
    let prod = wait_ready(&stages, "prod", "True", T).await.status.unwrap();
    assert_eq!(
        dev.deployment_id, prod.deployment_id,
        "dev and prod start on the same deployment"
    );

    // The operator writes status only: re-applying the same manifests changes nothing,
    // so Argo CD (server-side diff) never sees drift, defaults included.
    let pool = seed_user_pool("photo-users");
    let mut manifests = String::new();
    let dir = &checkout("/examples/photo-app");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for file in files {
        manifests.push_str("---\n");
        manifests.push_str(
            &std::fs::read_to_string(file)
                .unwrap()
                .replace("us-east-1_AbCdEf123", &pool),
        );
    }
    let mut diff = Command::new("kubectl")
        .args([
            "diff",
            "--server-side",
            "--field-manager=photo-app-example",
            "-f",
            "-",
        ])
        .env("KUBECONFIG", env("KUBECONFIG"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut diff.stdin.take().unwrap(), manifests.as_bytes()).unwrap();
    let out = diff.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "re-applying the example would change something:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let aws = aws().await;
    let resources = aws.get_resources(&api_id).await.unwrap();
    let method = |path: &str, verb: &str| {
        resources
            .iter()
            .find(|r| r.path == path)
            .and_then(|r| r.methods.get(verb))
            .cloned()
            .unwrap_or_else(|| panic!("{verb} {path} missing"))
    };
    let upload = method("/photos", "PUT");
    assert_eq!(upload.authorization_type, "COGNITO_USER_POOLS");
    assert_eq!(upload.integration.unwrap().type_, "AWS_PROXY");
    let filter = method("/photos/{photoId}/filter", "POST");
    assert!(filter.request_validator_id.is_some());
    assert!(
        filter
            .integration
            .unwrap()
            .uri
            .unwrap()
            .contains("function:filter-photo:live/invocations")
    );
    let sqs = method("/photos/{photoId}/thumbnail", "POST")
        .integration
        .unwrap();
    assert_eq!(
        (sqs.type_.as_str(), sqs.uri.as_deref()),
        (
            "AWS",
            Some("arn:aws:apigateway:us-east-1:sqs:path/123456789012/photo-thumbnails")
        )
    );
    let sfn = method("/photos/{photoId}/process", "POST")
        .integration
        .unwrap();
    assert_eq!(
        sfn.uri.as_deref(),
        Some("arn:aws:apigateway:us-east-1:states:action/StartExecution")
    );
    assert_eq!(
        method("/users/{userId}/photos", "OPTIONS")
            .integration
            .unwrap()
            .type_,
        "MOCK"
    );
    assert_eq!(method("/health", "GET").integration.unwrap().type_, "MOCK");
    assert_eq!(aws.get_authorizers(&api_id).await.unwrap().len(), 1);
    let sid = format!("apigw-{api_id}");
    assert!(policy_sids(&aws, "upload-photo", None).await.contains(&sid));
    assert!(
        policy_sids(&aws, "filter-photo", Some("live"))
            .await
            .contains(&sid)
    );
    assert!(policy_sids(&aws, "list-photos", None).await.contains(&sid));
    let observed_stages = aws.get_stages(&api_id).await.unwrap();
    let prod_stage = observed_stages
        .iter()
        .find(|s| s.stage_name == "prod")
        .unwrap();
    assert_eq!(
        prod_stage.method_settings["~1photos/PUT"].throttling_rate_limit,
        20.0
    );
    let list = routes.get("list-photos").await.unwrap().status.unwrap();
    assert_eq!(
        list.invoke_urls.get("prod").map(String::as_str),
        Some(
            format!(
                "https://{api_id}.execute-api.us-east-1.amazonaws.com/prod/users/{{userId}}/photos"
            )
            .as_str()
        )
    );

    // Edit one route: dev gets one new deployment, prod (Manual) stays.
    let first = dev.deployment_id.unwrap();
    let deployments_before = aws.get_deployments(&api_id).await.unwrap().len();
    routes
        .patch(
            "health",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"integration": {"responses": [{"statusCode": "200", "templates": {"application/json": "{\"status\": \"fine\"}"}}]}}})),
        )
        .await
        .unwrap();
    let second = eventually("dev redeployed", T, || async {
        let id = stages.get("dev").await.ok()?.status?.deployment_id?;
        (id != first).then_some(id)
    })
    .await;
    assert_eq!(
        aws.get_deployments(&api_id).await.unwrap().len(),
        deployments_before + 1,
        "one new deployment"
    );
    assert_eq!(
        stages
            .get("prod")
            .await
            .unwrap()
            .status
            .unwrap()
            .deployment_id
            .as_deref(),
        Some(first.as_str())
    );
    assert_ne!(second, first);

    // Delete a route: its method, its now-empty resource, its model and its permission go.
    routes
        .delete("filter-photo", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&routes, "filter-photo", T).await;
    let paths: Vec<String> = aws
        .get_resources(&api_id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert!(
        !paths.contains(&"/photos/{photoId}/filter".to_string()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"/photos/{photoId}".to_string()),
        "still used by other routes"
    );
    assert!(
        !policy_sids(&aws, "filter-photo", Some("live"))
            .await
            .contains(&sid),
        "permission revoked"
    );
    assert!(
        aws.get_models(&api_id)
            .await
            .unwrap()
            .iter()
            .all(|m| !m.name.starts_with("ApigwFilterPhoto"))
    );

    // Delete everything, as `kubectl delete -f examples/photo-app/` would (minus the namespace).
    delete_all(&apis).await;
    delete_all(&routes).await;
    delete_all(&authorizers).await;
    delete_all(&stages).await;
    assert!(
        aws.get_rest_api(&api_id).await.unwrap().is_none(),
        "API deleted"
    );
    for (function, qualifier) in [
        ("upload-photo", None),
        ("filter-photo", Some("live")),
        ("list-photos", None),
    ] {
        let sids = policy_sids(&aws, function, qualifier).await;
        assert!(
            sids.iter().all(|s| !s.starts_with(&sid)),
            "{function} still has {sids:?}"
        );
    }
    let uid = api.uid().unwrap();
    let left = aws
        .find_rest_api_by_tag(apigw_operator::plan::rest_api::OWNER_UID_TAG, &uid)
        .await
        .unwrap();
    assert!(
        left.is_none(),
        "nothing tagged with the example's owner is left"
    );
}

/// The WebSocket notifications example, applied by its script as a user would: the
/// API with five routes and its Cognito-token authorizer converges, the stage
/// auto-deploys, and the photo processor gets the stage's `@connections` callback
/// URL from the Stage's status. Deleting the objects deletes the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_notifications_example_end_to_end() {
    use apigw_operator::api::WebSocketApi;
    const WS_NS: &str = "photo-notifications";
    let client = client().await;
    ensure_crds(&client).await;
    let op = Operator::start(WS_NS, Duration::from_secs(3)).await;
    let apis: Api<WebSocketApi> = Api::namespaced(client.clone(), WS_NS);
    let stages: Api<Stage> = Api::namespaced(client.clone(), WS_NS);
    kubectl(&[
        "apply",
        "-f",
        &checkout("/examples/websocket-notifications/00-namespace.yaml"),
    ]);
    // A run that failed before may have left objects: start from nothing.
    delete_all(&stages).await;
    delete_all(&apis).await;

    let out = Command::new(checkout("/scripts/example-websocket-notifications"))
        .output()
        .expect("example script runs");
    assert!(
        out.status.success(),
        "scripts/example-websocket-notifications: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let api = wait_ready(&apis, "notifications", "True", T).await;
    let status = api.status.unwrap();
    let api_id = status.api_id.clone().unwrap();
    assert_eq!(status.route_count, 5);
    let stage = wait_ready(&stages, "notifications-prod", "True", T)
        .await
        .status
        .unwrap();
    let callback = stage.callback_url.unwrap();
    assert_eq!(
        callback,
        format!("https://{api_id}.execute-api.us-east-1.amazonaws.com/prod/@connections")
    );
    assert!(stage.invoke_url.unwrap().starts_with("wss://"));

    // The processor's environment holds the URL status gave.
    let config = op
        .ctx
        .aws
        .lambda
        .get_function_configuration()
        .function_name("process-photo")
        .send()
        .await
        .unwrap();
    let variables = config.environment().and_then(|e| e.variables()).unwrap();
    assert_eq!(variables.get("CALLBACK_URL"), Some(&callback));

    // Two-way routes have their route response; $connect its authorizer.
    let routes = op.ctx.aws.get_websocket_routes(&api_id).await.unwrap();
    let connect = routes.iter().find(|r| r.key == "$connect").unwrap();
    assert_eq!(
        connect.authorizer_id.as_deref(),
        Some(status.authorizers[0].authorizer_id.as_str())
    );
    for route in &status.routes {
        let two_way = ["subscribe", "$default"].contains(&route.route_key.as_str());
        assert_eq!(route.route_response_id.is_some(), two_way, "{route:?}");
    }

    delete_all(&stages).await;
    delete_all(&apis).await;
    assert!(
        op.ctx
            .aws
            .get_websocket_api(&api_id)
            .await
            .unwrap()
            .is_none()
    );
}
