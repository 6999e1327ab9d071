//! What deployed APIs *do*, not what API Gateway stores: the operator converges
//! Routes with API Gateway on LocalStack (which serves deployed REST APIs; moto
//! does not) and Lambda, STS and the rest on moto, then real HTTP requests check
//! mapping templates, HTTP and HTTP proxy backends, a request validator, an API
//! key, CORS, stage variables, and an edit reaching the Automatic stage while the
//! Manual one serves the old behaviour until promoted.
//!
//! The operator runs as its own process, as users run it, with API Gateway sent
//! elsewhere the way the AWS SDK allows: `AWS_ENDPOINT_URL_API_GATEWAY`. The access
//! key `123456789012` makes LocalStack use moto's default account.
//!
//! LocalStack gaps met here (community edition, host mode): no Lambda execution
//! (no Docker) and authorizers never run, so those stay control-plane tests on moto.
//!
//! The photo-app example (`examples/photo-app`) converges whole on LocalStack: the
//! RestApi, the Cognito Authorizer (LocalStack stores it; the operator checks the
//! pool in moto), all six Routes and both Stages go Ready, dev and prod on one
//! deployment. Served, only its mock (`GET /health`) and the CORS preflight of
//! `list-photos` are asserted, which LocalStack answers as AWS does. What the rest
//! does on LocalStack 2026.3.0 (run with `SERVICES=apigateway,sts,iam,route53`):
//! - Lambda proxy routes (upload-photo, filter-photo, list-photos) answer 502
//!   `{"message": "Internal server error"}`: LocalStack invokes its own Lambda
//!   ("Service 'lambda' is not enabled"), and the functions exist only in moto.
//! - The Cognito authorizer is never enforced: `PUT /photos` without a token
//!   reaches the Lambda integration (the 502 above) instead of a 401, and
//!   `POST /photos/{id}/filter` with a bad body and no token gets the validator's
//!   400.
//! - The SQS and Step Functions integrations call LocalStack's own services, which
//!   are not enabled: the SQS route still answers its mapped 202 `{"queued": true}`
//!   (its only integration response is the default one, so it maps the failure
//!   too), the Step Functions one passes through 200 with an `InternalFailure` body.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apigw_operator::api::{RestApi, Route, Stage};
use common::*;
use kube::api::{Patch, PatchParams};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn serving_endpoint() -> String {
    std::env::var("APIGW_SERVING_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "APIGW_SERVING_ENDPOINT_URL is not set: start the serving emulator with \
             `APIGW_TEST_SERVING=1 scripts/test-env up` and `eval \"$(scripts/test-env env)\"`, \
             or run everything with `scripts/test`"
        )
    })
}

/// The operator binary, API Gateway on LocalStack, everything else on moto.
struct OperatorProcess(Child);

impl OperatorProcess {
    fn start(namespace: &str) -> OperatorProcess {
        let child = Command::new(env!("CARGO_BIN_EXE_apigw-operator"))
            .args([
                "run",
                "--namespace",
                namespace,
                "--leader-election",
                "false",
            ])
            .args([
                "--aws-endpoint-url",
                &aws_endpoint(),
                "--aws-region",
                "us-east-1",
            ])
            .args(["--resync-period", "60s", "--metrics-addr", "127.0.0.1:0"])
            .env("APIGW_KUBECONFIG", env("KUBECONFIG"))
            .env("AWS_ENDPOINT_URL_API_GATEWAY", serving_endpoint())
            .env("AWS_ACCESS_KEY_ID", "123456789012")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_ENDPOINT_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the operator binary");
        OperatorProcess(child)
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A backend on 127.0.0.1 that answers every request with its own name and
/// keeps what it was sent (request line, headers and body, lower-cased).
struct Backend {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Backend {
    async fn start(name: &'static str) -> Backend {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    // The head, then the body its Content-Length announces.
                    let complete = |got: &[u8]| {
                        let text = String::from_utf8_lossy(got).to_lowercase();
                        let Some((head, body)) = text.split_once("\r\n\r\n") else {
                            return false;
                        };
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        body.len() >= length
                    };
                    while !complete(&head) {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    log.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).to_lowercase());
                    let body = format!("{{\"backend\": \"{name}\"}}");
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(answer.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        Backend { port, seen, task }
    }

    /// The last request it got whose request line starts with `line_start`.
    fn last(&self, line_start: &str) -> Option<String> {
        let want = line_start.to_lowercase();
        self.seen
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|r| r.starts_with(&want))
            .cloned()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

/// One HTTP/1.0 request to a deployed API on the serving emulator.
async fn call(
    api_id: &str,
    stage: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<Answer> {
    let endpoint = serving_endpoint();
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut conn = tokio::net::TcpStream::connect(host).await.ok()?;
    let mut request = format!(
        "{method} /restapis/{api_id}/{stage}/_user_request_{path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    conn.write_all(request.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut raw))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    Some(Answer {
        status,
        headers,
        body: body.to_string(),
    })
}

/// Polls until the stage answers `path` with `status` and a body containing
/// `wanted` (deployments take a moment to be served).
#[allow(clippy::too_many_arguments)]
async fn served(
    api_id: &str,
    stage: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    status: u16,
    wanted: &str,
) -> Answer {
    eventually(
        &format!("{method} {path} on {stage} answering {status} with {wanted:?}"),
        Duration::from_secs(60),
        || async {
            let answer = call(api_id, stage, method, path, headers, body).await?;
            (answer.status == status && answer.body.contains(wanted)).then_some(answer)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployed_routes_answer_as_their_specs_say() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "serving").await;
    let (live_backend, held_backend) = (Backend::start("live").await, Backend::start("held").await);
    let _operator = OperatorProcess::start(&ns.name);
    // API key values are unique in an account, and the emulators keep keys of earlier runs.
    let api_key = format!("serving-test-key-{}-0123456789", ns.name);
    let api_key = api_key.as_str();

    ns.apply::<RestApi>("{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: shop}, spec: {description: served}}").await;
    ns.apply::<Stage>(&format!(
        "{{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {{name: live}}, spec: {{restApiRef: {{name: shop}}, stageName: live, \
         deployment: {{policy: Automatic, debounceSeconds: 1}}, variables: {{port: '{}', greeting: hello-live}}}}}}",
        live_backend.port
    ))
    .await;
    ns.apply::<Stage>(&format!(
        "{{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {{name: held}}, spec: {{restApiRef: {{name: shop}}, stageName: held, \
         deployment: {{policy: Manual, revision: 1}}, variables: {{port: '{}', greeting: hello-held}}}}}}",
        held_backend.port
    ))
    .await;
    // A mock answered from templates: path and query parameters, the stage, a stage variable.
    ns.apply::<Route>(r#"{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: greet}, spec: {restApiRef: {name: shop}, method: GET, path: "/greet/{name}",
        requestParameters: {method.request.path.name: true, method.request.querystring.mood: false},
        integration: {mock: {statusCode: 200}, responses: [{statusCode: "200", templates: {application/json: "{\"name\": \"$input.params('name')\", \"mood\": \"$input.params('mood')\", \"stage\": \"$context.stage\", \"greeting\": \"$stageVariables.greeting\", \"version\": 1}"}}]},
        responses: [{statusCode: "200"}]}}"#).await;
    // A validated body, mapped through $input.path for the backend. (In a MOCK's
    // response template $input is the mock's empty output, not the request, on
    // API Gateway and on LocalStack alike.)
    ns.apply::<Route>(r#"{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: echo}, spec: {restApiRef: {name: shop}, method: POST, path: /echo,
        requestValidation: {body: true, models: {application/json: {schema: {type: object, required: [msg], properties: {msg: {type: string}}}}}},
        integration: {http: {url: "http://127.0.0.1:${stageVariables.port}/said", proxy: false},
          requestTemplates: {application/json: "{\"said\": \"$input.path('$.msg')\"}"},
          responses: [{statusCode: "200"}]},
        responses: [{statusCode: "200"}]}}"#).await;
    // An HTTP proxy with a greedy path to the stage's backend (port from a stage variable).
    ns.apply::<Route>(r#"{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: passthrough}, spec: {restApiRef: {name: shop}, method: GET, path: "/files/{proxy+}",
        requestParameters: {method.request.path.proxy: true},
        integration: {http: {url: "http://127.0.0.1:${stageVariables.port}/store/{proxy}", proxy: true},
          requestParameters: {integration.request.path.proxy: method.request.path.proxy}}}}"#).await;
    // A mapped HTTP integration: an injected header and a renamed query parameter.
    ns.apply::<Route>(r#"{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: mapped}, spec: {restApiRef: {name: shop}, method: GET, path: /mapped,
        requestParameters: {method.request.querystring.q: false},
        integration: {http: {url: "http://127.0.0.1:${stageVariables.port}/search", proxy: false},
          requestParameters: {integration.request.header.X-Injected: "'from-the-route'", integration.request.querystring.term: method.request.querystring.q},
          responses: [{statusCode: "200"}]},
        responses: [{statusCode: "200"}]}}"#).await;
    // A key-protected route, and CORS on a public one.
    ns.apply::<Route>(r#"{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: private}, spec: {restApiRef: {name: shop}, method: GET, path: /private, apiKeyRequired: true,
        integration: {mock: {statusCode: 200}, responses: [{statusCode: "200", templates: {application/json: "{\"private\": true}"}}]},
        responses: [{statusCode: "200"}]}}"#).await;
    ns.apply::<Route>(r#"{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: public}, spec: {restApiRef: {name: shop}, method: GET, path: /public,
        cors: {allowOrigins: ["https://app.example.com"], allowHeaders: [Content-Type, X-Trace], maxAgeSeconds: 600},
        integration: {mock: {statusCode: 200}, responses: [{statusCode: "200", templates: {application/json: "{\"public\": true}"}}]},
        responses: [{statusCode: "200"}]}}"#).await;
    ns.apply::<k8s_openapi::api::core::v1::Secret>(&format!(
        "{{apiVersion: v1, kind: Secret, metadata: {{name: partner-key}}, stringData: {{value: {api_key}}}}}"
    ))
    .await;
    ns.apply::<apigw_operator::api::UsagePlan>("{apiVersion: apigw.rs/v1alpha1, kind: UsagePlan, metadata: {name: partners}, spec: {stages: [{stageRef: {name: live}}]}}").await;
    ns.apply::<apigw_operator::api::ApiKey>("{apiVersion: apigw.rs/v1alpha1, kind: ApiKey, metadata: {name: partner}, spec: {value: {secretRef: {name: partner-key, key: value}}, usagePlanRefs: [{name: partners}]}}").await;

    let routes = ns.api::<Route>();
    for name in [
        "greet",
        "echo",
        "passthrough",
        "mapped",
        "private",
        "public",
    ] {
        wait_ready(&routes, name, "True", Duration::from_secs(90)).await;
    }
    for stage in ["live", "held"] {
        wait_ready(&ns.api::<Stage>(), stage, "True", Duration::from_secs(90)).await;
    }
    wait_ready(
        &ns.api::<apigw_operator::api::ApiKey>(),
        "partner",
        "True",
        Duration::from_secs(150),
    )
    .await;
    let id = ns
        .api::<RestApi>()
        .get("shop")
        .await
        .unwrap()
        .status
        .unwrap()
        .rest_api_id
        .unwrap();

    // Mock templates.
    let greet = served(
        &id,
        "live",
        "GET",
        "/greet/ada?mood=calm",
        &[],
        "",
        200,
        "\"name\": \"ada\"",
    )
    .await;
    for part in [
        "\"mood\": \"calm\"",
        "\"stage\": \"live\"",
        "\"greeting\": \"hello-live\"",
        "\"version\": 1",
    ] {
        assert!(greet.body.contains(part), "{part} in {}", greet.body);
    }
    let held = served(
        &id,
        "held",
        "GET",
        "/greet/bo",
        &[],
        "",
        200,
        "\"name\": \"bo\"",
    )
    .await;
    assert!(
        held.body.contains("\"greeting\": \"hello-held\""),
        "{}",
        held.body
    );

    // The validator refuses a body without msg, and passes a good one through $input.path.
    let json = [("Content-Type", "application/json")];
    let refused = served(
        &id,
        "live",
        "POST",
        "/echo",
        &json,
        "{\"other\": 1}",
        400,
        "",
    )
    .await;
    assert!(
        live_backend.last("POST /said").is_none(),
        "refused before the integration: {}",
        refused.body
    );
    served(
        &id,
        "live",
        "POST",
        "/echo",
        &json,
        "{\"msg\": \"hi\"}",
        200,
        "\"backend\": \"live\"",
    )
    .await;
    let sent = live_backend
        .last("POST /said")
        .expect("the good body reached the backend");
    assert!(
        sent.ends_with("{\"said\": \"hi\"}"),
        "mapped through $input.path: {sent}"
    );

    // The HTTP proxy reaches each stage's backend with the greedy path and the query.
    served(
        &id,
        "live",
        "GET",
        "/files/a/b.txt?v=2",
        &[],
        "",
        200,
        "\"backend\": \"live\"",
    )
    .await;
    let sent = live_backend
        .last("GET /store/a/b.txt")
        .expect("the live backend got the proxied path");
    assert!(
        sent.starts_with("get /store/a/b.txt?v=2 "),
        "query kept: {sent}"
    );
    served(
        &id,
        "held",
        "GET",
        "/files/c",
        &[],
        "",
        200,
        "\"backend\": \"held\"",
    )
    .await;
    assert!(
        held_backend.last("GET /store/c").is_some(),
        "the held stage's variable picks its backend"
    );

    // The mapped integration injects its header and renames the query parameter.
    served(
        &id,
        "live",
        "GET",
        "/mapped?q=shoes",
        &[],
        "",
        200,
        "\"backend\": \"live\"",
    )
    .await;
    let sent = live_backend
        .last("GET /search")
        .expect("the mapped route reached the backend");
    assert!(
        sent.starts_with("get /search?term=shoes "),
        "query renamed: {sent}"
    );
    assert!(
        sent.contains("\r\nx-injected: from-the-route\r\n"),
        "header injected: {sent}"
    );

    // The API key: refused without one or with a wrong one, served with the Secret's.
    served(&id, "live", "GET", "/private", &[], "", 403, "").await;
    served(
        &id,
        "live",
        "GET",
        "/private",
        &[("x-api-key", "not-the-key-0000000000")],
        "",
        403,
        "",
    )
    .await;
    served(
        &id,
        "live",
        "GET",
        "/private",
        &[("x-api-key", api_key)],
        "",
        200,
        "\"private\": true",
    )
    .await;

    // CORS preflight answered by API Gateway with the Route's settings.
    let preflight = served(
        &id,
        "live",
        "OPTIONS",
        "/public",
        &[
            ("Origin", "https://app.example.com"),
            ("Access-Control-Request-Method", "GET"),
        ],
        "",
        200,
        "",
    )
    .await;
    let header = |name: &str| preflight.headers.get(name).cloned().unwrap_or_default();
    assert_eq!(
        header("access-control-allow-origin"),
        "https://app.example.com"
    );
    assert!(
        header("access-control-allow-methods").contains("GET"),
        "{:?}",
        preflight.headers
    );
    assert!(
        header("access-control-allow-headers").contains("X-Trace"),
        "{:?}",
        preflight.headers
    );
    assert_eq!(header("access-control-max-age"), "600");

    // An edit: served on the Automatic stage after its redeploy, the Manual stage keeps
    // the old behaviour until its revision is bumped.
    routes
        .patch(
            "greet",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"integration": {"responses": [{"statusCode": "200", "templates": {
                "application/json": "{\"name\": \"$input.params('name')\", \"stage\": \"$context.stage\", \"version\": 2}"}}]}}})),
        )
        .await
        .unwrap();
    served(
        &id,
        "live",
        "GET",
        "/greet/ada",
        &[],
        "",
        200,
        "\"version\": 2",
    )
    .await;
    let still = call(&id, "held", "GET", "/greet/ada", &[], "")
        .await
        .unwrap();
    assert!(
        still.body.contains("\"version\": 1"),
        "the Manual stage serves the old route: {}",
        still.body
    );
    ns.api::<Stage>()
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"deployment": {"revision": 2}}})),
        )
        .await
        .unwrap();
    served(
        &id,
        "held",
        "GET",
        "/greet/ada",
        &[],
        "",
        200,
        "\"version\": 2",
    )
    .await;

    ns.delete().await;
}

/// The manifests of examples/photo-app (its namespace aside) as YAML documents,
/// moved into `namespace`, with the placeholder Cognito pool replaced by `pool`.
fn photo_app_manifests(namespace: &str, pool: &str) -> Vec<serde_yaml::Value> {
    let dir = &checkout("/examples/photo-app");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("00-namespace.yaml"))
        .collect();
    files.sort();
    let mut placeholder_seen = false;
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        placeholder_seen |= text.contains("us-east-1_AbCdEf123");
        let text = text.replace("us-east-1_AbCdEf123", pool);
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let mut value: serde_yaml::Value =
                serde::Deserialize::deserialize(doc).expect("example manifest parses");
            if value.is_null() {
                continue;
            }
            assert_eq!(
                value["metadata"]["namespace"].as_str(),
                Some("photo-app"),
                "{} is in the example's namespace",
                file.display()
            );
            value["metadata"]["namespace"] = namespace.into();
            docs.push(value);
        }
    }
    assert!(
        placeholder_seen,
        "the example's placeholder pool id is gone"
    );
    docs
}

/// The photo-app example as users apply it, moved to a fresh namespace: it goes
/// Ready whole on LocalStack, and its non-Lambda behaviour is served on both
/// stages (dev deploys automatically, prod is Manual at revision 1): the `/health`
/// mock and the CORS preflight of `list-photos`. Its Lambda, SQS, Step Functions
/// and authorizer behaviour is not served by LocalStack here (see the header);
/// `tests/examples.rs` checks that side against moto.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photo_app_example_is_served() {
    use apigw_operator::api::Authorizer;

    let client = client().await;
    let ns = TestNamespace::new(&client, "photo-served").await;
    // What a real account already has, made in moto: the functions and the user pool.
    seed_functions(&["upload-photo", "filter-photo:live", "list-photos"]);
    let pool = seed_user_pool("photo-users");
    let _operator = OperatorProcess::start(&ns.name);

    let mut applied: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for doc in photo_app_manifests(&ns.name, &pool) {
        let kind = doc["kind"].as_str().unwrap_or_default().to_string();
        let yaml = serde_yaml::to_string(&doc).unwrap();
        let name = match kind.as_str() {
            "RestApi" => ns.apply::<RestApi>(&yaml).await.metadata.name,
            "Authorizer" => ns.apply::<Authorizer>(&yaml).await.metadata.name,
            "Route" => ns.apply::<Route>(&yaml).await.metadata.name,
            "Stage" => ns.apply::<Stage>(&yaml).await.metadata.name,
            other => panic!("examples/photo-app has a {other:?}: teach this test about it"),
        };
        applied.entry(kind).or_default().push(name.unwrap());
    }
    assert_eq!(applied["Route"].len(), 6, "{applied:?}");
    assert_eq!(applied["Stage"], ["dev", "prod"]);

    const T: Duration = Duration::from_secs(120);
    let id = wait_ready(&ns.api::<RestApi>(), "photos", "True", T)
        .await
        .status
        .unwrap()
        .rest_api_id
        .unwrap();
    wait_ready(&ns.api::<Authorizer>(), "users", "True", T).await;
    for route in &applied["Route"] {
        wait_ready(&ns.api::<Route>(), route, "True", T).await;
    }
    let dev = wait_ready(&ns.api::<Stage>(), "dev", "True", T)
        .await
        .status
        .unwrap();
    let prod = wait_ready(&ns.api::<Stage>(), "prod", "True", T)
        .await
        .status
        .unwrap();
    assert_eq!(prod.deployed_revision, Some(1));
    assert!(dev.deployment_id.is_some(), "{dev:?}");
    assert_eq!(
        dev.deployment_id, prod.deployment_id,
        "dev and prod start on the same deployment"
    );

    // The mock answers from its template, on both stages.
    for stage in ["dev", "prod"] {
        served(
            &id,
            stage,
            "GET",
            "/health",
            &[],
            "",
            200,
            "\"status\": \"ok\"",
        )
        .await;
    }

    // The CORS preflight of list-photos, answered by API Gateway with the Route's
    // settings, on both stages.
    for stage in ["dev", "prod"] {
        let preflight = served(
            &id,
            stage,
            "OPTIONS",
            "/users/u1/photos",
            &[
                ("Origin", "https://photos.example.com"),
                ("Access-Control-Request-Method", "GET"),
            ],
            "",
            200,
            "",
        )
        .await;
        let header = |name: &str| preflight.headers.get(name).cloned().unwrap_or_default();
        assert_eq!(
            header("access-control-allow-origin"),
            "https://photos.example.com",
            "on {stage}: {:?}",
            preflight.headers
        );
        assert!(
            header("access-control-allow-methods").contains("GET"),
            "on {stage}: {:?}",
            preflight.headers
        );
        assert_eq!(
            header("access-control-max-age"),
            "600",
            "on {stage}: {:?}",
            preflight.headers
        );
    }

    ns.delete().await;
}

/// A document in the import's own words: a mock answered from a template, an
/// HTTP proxy to the stage's backend, and a Lambda TOKEN authorizer.
fn shop_document(version: u32, port: u16) -> String {
    format!(
        r#"openapi: 3.0.1
info: {{title: shop, version: "{version}"}}
paths:
  /health:
    get:
      responses: {{"200": {{description: up}}}}
      x-amazon-apigateway-integration:
        type: mock
        requestTemplates: {{application/json: '{{"statusCode": 200}}'}}
        responses:
          default:
            statusCode: "200"
            responseTemplates: {{application/json: '{{"healthy": true, "version": {version}}}'}}
  /items/{{id}}:
    get:
      parameters: [{{name: id, in: path, required: true, schema: {{type: string}}}}]
      security: [{{byToken: []}}]
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: GET
        uri: http://127.0.0.1:{port}/items/{{id}}
        requestParameters: {{integration.request.path.id: method.request.path.id}}
components:
  securitySchemes:
    byToken:
      type: apiKey
      name: Authorization
      in: header
      x-amazon-apigateway-authtype: custom
      x-amazon-apigateway-authorizer:
        type: token
        authorizerUri: arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:check-token/invocations
"#
    )
}

/// A RestApi from an OpenAPI document on the emulator whose import is faithful:
/// the mock and the HTTP proxy answer through an Automatic stage, the document's
/// Lambda authorizer exists and its function is granted to it by id, and an edit
/// of the document reaches the stage.
/// LocalStack gap met here: every re-import adds the authorizer again (the
/// operator grants each id of that name, as it cannot tell which one AWS keeps).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_from_an_openapi_document_is_served() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "serving-doc").await;
    seed_functions(&["check-token"]);
    let backend = Backend::start("items").await;
    let _operator = OperatorProcess::start(&ns.name);
    let manifest = |version: u32| {
        let document = serde_json::to_string(&shop_document(version, backend.port)).unwrap();
        format!(
            "{{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {{name: shop}}, spec: {{openapi: {{document: {document}}}}}}}"
        )
    };
    ns.apply::<RestApi>(&manifest(1)).await;
    ns.apply::<Stage>("{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {name: live}, spec: {restApiRef: {name: shop}, stageName: live, deployment: {policy: Automatic, debounceSeconds: 1}}}").await;
    let apis = ns.api::<RestApi>();
    let api = wait_ready(&apis, "shop", "True", Duration::from_secs(90)).await;
    let id = api.status.unwrap().rest_api_id.unwrap();
    wait_ready(&ns.api::<Stage>(), "live", "True", Duration::from_secs(90)).await;

    served(
        &id,
        "live",
        "GET",
        "/health",
        &[],
        "",
        200,
        "\"version\": 1",
    )
    .await;
    let item = served(&id, "live", "GET", "/items/42", &[], "", 200, "items").await;
    assert!(
        item.body.contains("\"backend\": \"items\""),
        "{}",
        item.body
    );
    assert!(
        backend.last("get /items/42").is_some(),
        "the backend got the path parameter"
    );

    // The authorizer the document declares was imported (its id is in the grant's
    // statement id, read back from API Gateway), and its function is granted to it.
    let status = apis.get("shop").await.unwrap().status.unwrap();
    let prefix = format!("apigw-{id}-authorizer-");
    let sids: Vec<&str> = status
        .lambda_permissions
        .iter()
        .filter(|g| g.function.ends_with(":function:check-token"))
        .map(|g| g.statement_id.as_str())
        .collect();
    assert!(
        !sids.is_empty() && sids.iter().all(|s| s.starts_with(&prefix)),
        "{:?}",
        status.lambda_permissions
    );
    let statements = aws()
        .await
        .get_policy_statements(
            "arn:aws:lambda:us-east-1:123456789012:function:check-token",
            None,
        )
        .await
        .unwrap()
        .unwrap();
    for sid in &sids {
        assert!(
            statements.iter().any(|(s, _)| s == sid),
            "{sid} in {statements:?}"
        );
    }

    // An edit of the document reaches the stage.
    ns.apply::<RestApi>(&manifest(2)).await;
    served(
        &id,
        "live",
        "GET",
        "/health",
        &[],
        "",
        200,
        "\"version\": 2",
    )
    .await;
    ns.delete().await;
}
