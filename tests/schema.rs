//! The CRD schemas against the real API server: valid manifests are accepted and
//! invalid ones are rejected at `kubectl apply --dry-run=server` with a message that
//! tells the user what to fix.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;
use kube::api::{Patch, PatchParams};

/// Run `kubectl apply --dry-run=server` (or a real apply) on a manifest.
/// An empty namespace keeps the manifests' own namespaces.
fn kubectl_apply(namespace: &str, manifest: &str, dry_run: bool) -> (bool, String) {
    let mut cmd = Command::new("kubectl");
    cmd.args([
        "apply",
        "--server-side",
        "--field-manager=schema-test",
        "-f",
        "-",
    ]);
    if !namespace.is_empty() {
        cmd.args(["-n", namespace]);
    }
    if dry_run {
        cmd.arg("--dry-run=server");
    }
    let mut child = cmd
        .env("KUBECONFIG", env("KUBECONFIG"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl on PATH (scripts/test-env env puts it there)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(manifest.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

const RESTAPI: &str = "apiVersion: apigw.rs/v1alpha1\nkind: RestApi\nmetadata: {name: x}\nspec:\n";
const ROUTE: &str = "apiVersion: apigw.rs/v1alpha1\nkind: Route\nmetadata: {name: x}\nspec:\n  restApiRef: {name: photos}\n";
const AUTHORIZER: &str = "apiVersion: apigw.rs/v1alpha1\nkind: Authorizer\nmetadata: {name: x}\nspec:\n  restApiRef: {name: photos}\n";
const STAGE: &str = "apiVersion: apigw.rs/v1alpha1\nkind: Stage\nmetadata: {name: x}\nspec:\n  restApiRef: {name: photos}\n";
const DOMAIN: &str =
    "apiVersion: apigw.rs/v1alpha1\nkind: DomainName\nmetadata: {name: x}\nspec:\n";
const CERT: &str = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d";
const USAGE_PLAN: &str =
    "apiVersion: apigw.rs/v1alpha1\nkind: UsagePlan\nmetadata: {name: x}\nspec:\n";
const API_KEY: &str = "apiVersion: apigw.rs/v1alpha1\nkind: ApiKey\nmetadata: {name: x}\nspec:\n";
const WEBSOCKET: &str =
    "apiVersion: apigw.rs/v1alpha1\nkind: WebSocketApi\nmetadata: {name: x}\nspec:\n";
const WS_STAGE: &str = "apiVersion: apigw.rs/v1alpha1\nkind: Stage\nmetadata: {name: ws}\nspec:\n  webSocketApiRef: {name: notifications}\n  stageName: prod\n";

/// (description, manifest, fragment the error message must contain)
fn invalid_manifests() -> Vec<(&'static str, String, &'static str)> {
    let r = |body: &str| format!("{RESTAPI}{body}");
    let rt = |body: &str| format!("{ROUTE}{body}");
    let rt_lambda =
        |body: &str| format!("{ROUTE}  integration: {{lambda: {{functionName: fn}}}}\n{body}");
    let a = |body: &str| format!("{AUTHORIZER}{body}");
    let s = |body: &str| format!("{STAGE}  stageName: prod\n{body}");
    let w = |body: &str| format!("{WEBSOCKET}{body}");
    let ws_auth = |body: &str| {
        format!(
            "{WEBSOCKET}  routes: [{{routeKey: $connect, functionName: connect, authorizer: a}}]\n  authorizers:\n  - name: a\n{body}"
        )
    };
    let b = |spec: &str| {
        format!(
            "apiVersion: apigw.rs/v1alpha1\nkind: AwsAccountBinding\nmetadata: {{name: schema-case}}\nspec: {spec}\n"
        )
    };
    let d = |body: &str| {
        format!("{DOMAIN}  domainName: api.example.com\n  certificateArn: {CERT}\n{body}")
    };
    vec![
        // RestApi
        ("unknown endpoint type", r("  endpoint: {type: GLOBAL}"), "Unsupported value: \"GLOBAL\""),
        ("VPC endpoints on a regional API", r("  endpoint: {type: REGIONAL, vpcEndpointIds: [vpce-0123456789abcdef0]}"), "vpcEndpointIds can only be set when type is PRIVATE"),
        ("malformed VPC endpoint id", r("  endpoint: {type: PRIVATE, vpcEndpointIds: [endpoint-1]}"), "each VPC endpoint id must look like vpce-"),
        ("binary media type without subtype", r("  binaryMediaTypes: [png]"), "type/subtype"),
        ("negative compression size", r("  minimumCompressionSize: -1"), "should be greater than or equal to 0"),
        ("compression size above 10 MiB", r("  minimumCompressionSize: 20000000"), "should be less than or equal to 10485760"),
        ("reserved aws: tag", r("  tags: {'aws:owner': me}"), "reserved"),
        ("reserved operator tag", r("  tags: {'apigw.rs/owner': me}"), "reserved"),
        ("malformed adopted id", r("  restApiId: ABC"), "restApiId must be a REST API id"),
        ("unknown deletion policy", r("  deletionPolicy: Keep"), "Unsupported value: \"Keep\""),
        ("adoptOrphaned without an id", r("  adoptOrphaned: true"), "adoptOrphaned needs restApiId"),
        ("malformed region", r("  region: Mars"), "region must be an AWS region"),
        ("unknown management policy", r("  managementPolicy: Sometimes"), "Unsupported value: \"Sometimes\""),
        ("WebSocket adoptOrphaned without an id", w("  adoptOrphaned: true\n  routes: [{routeKey: $default, functionName: f}]"), "adoptOrphaned needs apiId"),
        ("domain adoptOrphaned without adopt", d("  adoptOrphaned: true"), "adoptOrphaned needs adopt: true"),
        // AwsAccountBinding (cluster-scoped)
        ("binding that matches nothing", b("{}"), "a binding must match namespaces"),
        ("external id without a role", b("{namespaces: [a], externalId: abc}"), "externalId is sent with AssumeRole: it needs roleArn"),
        ("malformed role ARN", b("{namespaces: [a], roleArn: 'role/admin'}"), "roleArn must be an IAM role ARN"),
        ("external id with a space", b("{namespaces: [a], roleArn: 'arn:aws:iam::111111111111:role/r', externalId: 'team a'}"), "externalId may hold letters, digits"),
        ("default region outside the allowed ones", b("{namespaces: [a], region: eu-west-1, allowedRegions: [us-east-1]}"), "allowedRegions must include the default region"),
        ("unknown API key source", r("  apiKeySource: QUERY"), "Unsupported value: \"QUERY\""),
        ("unknown field", r("  descripton: typo"), ".spec.descripton: field not declared in schema"),
        // Route
        ("route without integration", rt("  method: GET\n  path: /photos\n  integration: {}"), "set exactly one integration kind"),
        ("route with two integrations", rt("  method: GET\n  path: /photos\n  integration: {lambda: {functionName: fn}, mock: {}}"), "set exactly one integration kind"),
        ("path without leading slash", rt_lambda("  method: GET\n  path: photos"), "path must be '/' or start with '/'"),
        ("path with trailing slash", rt_lambda("  method: GET\n  path: /photos/"), "no trailing '/'"),
        ("greedy variable not last", rt_lambda("  method: GET\n  path: '/{proxy+}/thumbs'"), "must be the last segment"),
        ("path with invalid characters", rt_lambda("  method: GET\n  path: /photos/<id>"), "each path segment must be a literal"),
        ("unknown HTTP method", rt_lambda("  method: FETCH\n  path: /photos"), "Unsupported value: \"FETCH\""),
        ("bad Lambda function name", rt("  method: GET\n  path: /p\n  integration: {lambda: {functionName: 'my function'}}"), "functionName must be a Lambda function name"),
        ("non-HTTP backend URL", rt("  method: GET\n  path: /p\n  integration: {http: {url: 'ftp://files.internal'}}"), "url must be an absolute http:// or https:// URL"),
        ("AWS integration without role", rt("  method: POST\n  path: /p\n  integration: {aws: {service: sqs, path: 123456789012/q}}"), "credentialsRoleArn: Required value"),
        ("AWS integration with action and path", rt("  method: POST\n  path: /p\n  integration: {aws: {service: sqs, action: SendMessage, path: 1/q, credentialsRoleArn: 'arn:aws:iam::123456789012:role/r'}}"), "set exactly one of action"),
        ("IAM and an authorizer together", rt_lambda("  method: GET\n  path: /p\n  authorization: {iam: true, authorizerRef: {name: users}}"), "choose either iam: true or an authorizerRef"),
        ("scopes without an authorizer", rt_lambda("  method: GET\n  path: /p\n  authorization: {scopes: [photos/read]}"), "scopes need an authorizerRef"),
        ("integration timeout above 29 s", rt("  method: GET\n  path: /p\n  integration: {mock: {}, timeoutMillis: 30000}"), "should be less than or equal to 29000"),
        ("templates on a Lambda proxy", rt("  method: GET\n  path: /p\n  integration: {lambda: {functionName: fn}, requestTemplates: {application/json: '{}'}}"), "Lambda proxy integration passes the request through"),
        ("CORS credentials with wildcard origin", rt_lambda("  method: GET\n  path: /p\n  cors: {allowOrigins: ['*'], allowCredentials: true}"), "browsers refuse allowCredentials"),
        ("malformed request parameter", rt_lambda("  method: GET\n  path: /p\n  requestParameters: {page: true}"), "request parameter keys look like method.request"),
        ("reference that is not an object name", "apiVersion: apigw.rs/v1alpha1\nkind: Route\nmetadata: {name: x}\nspec:\n  restApiRef: {name: Photos_API}\n  method: GET\n  path: /p\n  integration: {mock: {}}".to_string(), "name must be a Kubernetes object name"),
        ("reference to another namespace", rt_lambda("  method: GET\n  path: /p\n  authorization: {authorizerRef: {name: users, namespace: security}}"), "cross-namespace references are refused"),
        ("route without API reference", "apiVersion: apigw.rs/v1alpha1\nkind: Route\nmetadata: {name: x}\nspec:\n  method: GET\n  path: /p\n  integration: {mock: {}}".to_string(), "restApiRef: Required value"),
        // Authorizer
        ("authorizer of both kinds", a("  cognito: {userPools: [us-east-1_AbCdEf123]}\n  lambda: {functionName: auth}"), "set exactly one authorizer kind"),
        ("authorizer of no kind", a("  resultTtlSeconds: 60"), "set exactly one authorizer kind"),
        ("malformed user pool", a("  cognito: {userPools: [pool1]}"), "each user pool must be a pool id"),
        ("cache TTL above an hour", a("  lambda: {functionName: auth}\n  resultTtlSeconds: 4000"), "should be less than or equal to 3600"),
        ("validation expression on REQUEST", a("  lambda: {functionName: auth, type: REQUEST}\n  identitySource: method.request.header.Auth\n  identityValidationExpression: '^Bearer'"), "only applies to TOKEN authorizers"),
        ("unknown Lambda authorizer type", a("  lambda: {functionName: auth, type: COGNITO}"), "Unsupported value: \"COGNITO\""),
        ("identity source that is not a mapping", a("  lambda: {functionName: auth}\n  identitySource: Authorization"), "identitySource must be method.request.header.NAME"),
        ("REQUEST authorizer caching without identity source", a("  lambda: {functionName: auth, type: REQUEST}"), "needs identitySource"),
        // Stage
        ("stage name with a space", format!("{STAGE}  stageName: prod stage"), "stageName may contain only letters"),
        ("pinned without a deployment", s("  deployment: {policy: Pinned}"), "deploymentId is required with policy Pinned"),
        ("revision with automatic deployment", s("  deployment: {policy: Automatic, revision: 3}"), "revision only applies to policy Manual"),
        ("unknown cache size", s("  caching: {clusterEnabled: true, clusterSize: '7'}"), "Unsupported value: \"7\""),
        ("cache size without a cluster", s("  caching: {clusterSize: '0.5'}"), "caching.clusterSize needs caching.clusterEnabled"),
        ("stage variable name with a dash", s("  variables: {my-var: x}"), "stage variable names may contain only"),
        ("negative throttling rate", s("  throttling: {rateLimit: -1, burstLimit: 10}"), "should be greater than or equal to 0"),
        ("canary above 100 percent", s("  canary: {percentTraffic: 150}"), "should be less than or equal to 100"),
        ("access log format without request id", s("  accessLog: {destinationArn: 'arn:aws:logs:us-east-1:123456789012:log-group:api', format: '$context.status'}"), "format must include $context.requestId"),
        ("unknown deployment policy", s("  deployment: {policy: Sometimes}"), "Unsupported value: \"Sometimes\""),
        // DomainName
        ("domain name with upper case and no dot", format!("{DOMAIN}  domainName: API\n  certificateArn: {CERT}"), "domainName must be a lower-case host name"),
        ("certificate that is not an ACM ARN", format!("{DOMAIN}  domainName: api.example.com\n  certificateArn: arn:aws:iam::123456789012:server-certificate/x"), "certificateArn must be an ACM certificate ARN"),
        ("unknown domain endpoint type", d("  endpoint: {type: PRIVATE}"), "Unsupported value: \"PRIVATE\""),
        ("unknown security policy", d("  securityPolicy: TLS_1_3"), "Unsupported value: \"TLS_1_3\""),
        ("base path with a leading slash", d("  basePathMappings: [{basePath: /v1, stageRef: {name: prod}}]"), "basePath must be path segments"),
        ("base path mapped twice", d("  basePathMappings: [{basePath: v1, stageRef: {name: a}}, {basePath: v1, stageRef: {name: b}}]"), "each basePath (and the root, no basePath) may be mapped only once"),
        ("root mapped twice", d("  basePathMappings: [{stageRef: {name: a}}, {basePath: '(none)', stageRef: {name: b}}]"), "may be mapped only once"),
        ("truststore that is not in S3", d("  mutualTls: {truststoreUri: 'https://example.com/ts.pem'}"), "truststoreUri must be an S3 URI"),
        // UsagePlan
        ("quota offset on a daily quota", format!("{USAGE_PLAN}  quota: {{limit: 10, period: DAY, offset: 1}}"), "offset must be 0 for DAY"),
        ("unknown quota period", format!("{USAGE_PLAN}  quota: {{limit: 10, period: YEAR}}"), "Unsupported value: \"YEAR\""),
        ("method throttle path without a slash", format!("{USAGE_PLAN}  stages: [{{stageRef: {{name: prod}}, throttle: [{{method: GET, path: photos, rateLimit: 1, burstLimit: 1}}]}}]"), "path must start with /"),
        // ApiKey
        ("API key with both value sources", format!("{API_KEY}  value: {{secretRef: {{name: s, key: k}}}}\n  generatedSecret: {{name: g}}"), "set exactly one of value.secretRef"),
        ("API key with no value source", format!("{API_KEY}  enabled: true"), "set exactly one of value.secretRef"),
        // WebSocketApi
        ("route selection outside the body", w("  routeSelectionExpression: $request.header.action"), "routeSelectionExpression must select a field of the message body"),
        ("route selection without a body field", w("  routeSelectionExpression: action"), "routeSelectionExpression must select a field of the message body"),
        ("reserved route key", w("  routes: [{routeKey: $ping, functionName: f}]"), "route keys starting with $ are reserved"),
        ("authorizer on a message route", w("  routes: [{routeKey: subscribe, functionName: f, authorizer: a}]\n  authorizers: [{name: a, lambda: {functionName: auth, identitySources: [route.request.querystring.token]}}]"), "only the $connect route can have an authorizer"),
        ("API key on a message route", w("  routes: [{routeKey: $default, functionName: f, apiKeyRequired: true}]"), "only the $connect route can require an API key"),
        ("two-way $disconnect", w("  routes: [{routeKey: $disconnect, functionName: f, twoWay: true}]"), "twoWay does not apply to $connect and $disconnect"),
        ("route naming an undeclared authorizer", w("  routes: [{routeKey: $connect, functionName: f, authorizer: missing}]"), "a route's authorizer must name an entry of spec.authorizers"),
        ("route key declared twice", w("  routes: [{routeKey: $default, functionName: f}, {routeKey: $default, functionName: g}]"), "duplicate entries for key [routeKey=\"$default\"]"),
        ("Cognito authorizer on a WebSocket API", ws_auth("    cognito: {userPools: [us-east-1_AbCdEf123]}"), "API Gateway offers no Cognito user-pool authorizer for WebSocket APIs"),
        ("JWT authorizer on a WebSocket API", ws_auth("    jwt: {issuer: 'https://issuer.example.com'}"), "API Gateway offers no JWT authorizer for WebSocket APIs"),
        ("identity source of a REST authorizer", ws_auth("    lambda: {functionName: auth, identitySources: [method.request.header.Auth]}"), "each identity source must be route.request.header.NAME"),
        ("WebSocket integration timeout below 50 ms", w("  routes: [{routeKey: $default, functionName: f, timeoutMillis: 10}]"), "should be greater than or equal to 50"),
        ("malformed adopted v2 API id", w("  apiId: ABC"), "apiId must be an API Gateway v2 API id"),
        // Stage of a WebSocketApi
        ("stage of two APIs", format!("{WS_STAGE}  restApiRef: {{name: photos}}"), "set exactly one of restApiRef (a RestApi) or webSocketApiRef"),
        ("stage of no API", "apiVersion: apigw.rs/v1alpha1\nkind: Stage\nmetadata: {name: x}\nspec:\n  stageName: prod\n".to_string(), "set exactly one of restApiRef (a RestApi) or webSocketApiRef"),
        ("manual deployment of a WebSocket stage", format!("{WS_STAGE}  deployment: {{policy: Manual}}"), "a WebSocket stage is always deployed automatically"),
        ("canary on a WebSocket stage", format!("{WS_STAGE}  canary: {{percentTraffic: 10}}"), "apply to RestApi stages only"),
        ("access log format on several lines", s("  accessLog: {destinationArn: 'arn:aws:logs:us-east-1:123456789012:log-group:api', format: \"{\\\"id\\\": \\\"$context.requestId\\\"}\\n\"}"), "format must be one line"),
        ("empty stage variable value", s("  variables: {env: ''}"), "should match"),
        ("API key from an authorizer without one", w("  apiKeySource: AUTHORIZER\n  routes: [{routeKey: $connect, functionName: f, apiKeyRequired: true}]"), "a route with apiKeyRequired needs an authorizer"),
        ("empty route key settings", format!("{WS_STAGE}  routeKeySettings: [{{routeKey: subscribe}}]"), "must set throttling, logging or metricsEnabled"),
        ("route key settings on a REST stage", s("  routeKeySettings: [{routeKey: subscribe, metricsEnabled: true}]"), "routeKeySettings apply to WebSocket stages"),
    ]
}

/// At least 25 invalid manifests across the seven kinds, each rejected with its own message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_manifests_are_rejected_with_useful_messages() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "schema").await;
    let cases = invalid_manifests();
    assert!(cases.len() >= 25);
    let mut failures = Vec::new();
    for (what, manifest, fragment) in &cases {
        let (accepted, output) = kubectl_apply(&ns.name, manifest, true);
        if accepted {
            failures.push(format!(
                "{what}: accepted, but should be rejected\n{manifest}"
            ));
        } else if !output.contains(fragment) {
            failures.push(format!("{what}: rejected without {fragment:?}:\n{output}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    ns.delete().await;
}

/// Fields that AWS cannot change in place are immutable, checked on update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immutable_fields_are_rejected_on_update() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "immutable").await;
    let originals = [
        format!("{RESTAPI}  endpoint: {{type: PRIVATE}}\n  region: us-east-1"),
        format!("{STAGE}  stageName: prod"),
        format!("{ROUTE}  method: GET\n  path: /p\n  integration: {{mock: {{}}}}"),
        format!("{AUTHORIZER}  lambda: {{functionName: auth}}"),
        format!("{DOMAIN}  domainName: api.example.com\n  certificateArn: {CERT}"),
        format!("{WEBSOCKET}  apiId: abcd1234"),
        WS_STAGE.to_string(),
    ];
    for manifest in &originals {
        let (ok, out) = kubectl_apply(&ns.name, manifest, false);
        assert!(ok, "creating the original failed: {out}");
    }
    let updates = [
        (
            "PRIVATE to EDGE",
            format!("{RESTAPI}  endpoint: {{type: EDGE}}"),
            "cannot change a PRIVATE API to EDGE",
        ),
        (
            "moving an API to another region",
            format!("{RESTAPI}  endpoint: {{type: PRIVATE}}\n  region: eu-west-1"),
            "region cannot change",
        ),
        (
            "adopting after creation",
            format!("{RESTAPI}  endpoint: {{type: PRIVATE}}\n  restApiId: a1b2c3d4e5"),
            "restApiId cannot be added",
        ),
        (
            "renaming a stage",
            format!("{STAGE}  stageName: production"),
            "stageName cannot change",
        ),
        (
            "moving a stage to another API",
            format!("{}  stageName: prod", STAGE.replace("photos", "videos")),
            "restApiRef cannot change",
        ),
        (
            "moving a route to another API",
            format!(
                "{}  method: GET\n  path: /p\n  integration: {{mock: {{}}}}",
                ROUTE.replace("photos", "videos")
            ),
            "restApiRef cannot change",
        ),
        (
            "moving an authorizer to another API",
            format!(
                "{}  lambda: {{functionName: auth}}",
                AUTHORIZER.replace("photos", "videos")
            ),
            "restApiRef cannot change",
        ),
    ];
    let updates: Vec<_> = updates
        .into_iter()
        .chain([
            (
                "renaming a domain",
                format!("{DOMAIN}  domainName: www.example.com\n  certificateArn: {CERT}"),
                "domainName cannot change",
            ),
            (
                "adopting another WebSocket API",
                format!("{WEBSOCKET}  apiId: efgh5678"),
                "apiId cannot be added, removed or changed",
            ),
            (
                "moving a WebSocket stage to a RestApi",
                WS_STAGE.replace("webSocketApiRef", "restApiRef"),
                "restApiRef cannot change",
            ),
            (
                "a domain from REGIONAL to EDGE",
                format!(
                    "{DOMAIN}  domainName: api.example.com\n  certificateArn: {CERT}\n  endpoint: {{type: EDGE}}"
                ),
                "endpoint.type cannot change",
            ),
        ])
        .collect();
    let mut failures = Vec::new();
    for (what, manifest, fragment) in &updates {
        let (accepted, output) = kubectl_apply(&ns.name, manifest, true);
        if accepted || !output.contains(fragment) {
            failures.push(format!(
                "{what}: accepted={accepted}, wanted {fragment:?}:\n{output}"
            ));
        }
    }
    // A change AWS allows in place is accepted.
    let (ok, out) = kubectl_apply(
        &ns.name,
        &format!("{RESTAPI}  endpoint: {{type: REGIONAL}}"),
        true,
    );
    assert!(ok, "PRIVATE to REGIONAL must be allowed: {out}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // No operator ran, so nothing holds these; an operator started later must not find them.
    for (kind, name) in [
        ("restapi", "x"),
        ("stage", "x"),
        ("route", "x"),
        ("authorizer", "x"),
        ("websocketapi", "x"),
        ("stage", "ws"),
    ] {
        let out = Command::new("kubectl")
            .args(["delete", kind, name, "-n", &ns.name, "--wait=false"])
            .env("KUBECONFIG", env("KUBECONFIG"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "delete {kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    ns.delete().await;
}

/// Every manifest under examples/ is valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_are_accepted() {
    let client = client().await;
    ensure_crds(&client).await;
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(client.clone());
    // The examples' namespaces, which a dry run cannot create for the objects in them.
    for name in ["photo-app", "photo-notifications"] {
        let namespace: k8s_openapi::api::core::v1::Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
        namespaces
            .patch(
                name,
                &PatchParams::apply("schema-test"),
                &Patch::Apply(&namespace),
            )
            .await
            .unwrap();
    }
    let root = &checkout("/examples");
    let mut files: Vec<_> = walk(std::path::Path::new(root));
    files.sort();
    assert!(files.len() >= 5, "examples found: {files:?}");
    for file in files {
        let manifest = std::fs::read_to_string(&file).unwrap();
        let (ok, out) = kubectl_apply("", &manifest, true);
        assert!(ok, "{} rejected:\n{out}", file.display());
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
    out
}
