//! The Argo CD health checks in `deploy/argocd/health/` (Lua 5.1, as Argo CD's
//! gopher-lua runs them), evaluated with a real Lua 5.1 against status samples
//! written as the operator writes them, and the `argocd-cm` snippet in
//! `docs/argocd.md`, which must embed exactly the current scripts.
//!
//! After editing a script, regenerate the doc's snippet with
//! `UPDATE_ARGOCD_DOC=1 cargo test --test argocd_health`.

#[path = "common/checkout.rs"]
mod checkout;

use checkout::checkout;
use mlua::{Lua, LuaOptions, StdLib, Table, Value as LuaValue};

/// Kind and script file, in the order the doc lists them.
const KINDS: [(&str, &str); 8] = [
    ("RestApi", "restapi.lua"),
    ("Route", "route.lua"),
    ("Authorizer", "authorizer.lua"),
    ("Stage", "stage.lua"),
    ("DomainName", "domainname.lua"),
    ("UsagePlan", "usageplan.lua"),
    ("ApiKey", "apikey.lua"),
    ("WebSocketApi", "websocketapi.lua"),
];

/// Ready=False reasons that resolve without anyone acting, with a message as the
/// operator writes it.
const TRANSIENT: &[(&str, &str)] = &[
    (
        "AwsThrottled",
        "AWS apigateway CreateResource on /photos failed (TooManyRequestsException): Rate exceeded",
    ),
    (
        "AwsUnavailable",
        "AWS apigateway GetResources on x1y2z3a4b5 failed (503): service unavailable",
    ),
    (
        "AwsNotFound",
        "AWS apigateway PutMethod on /photos failed (NotFoundException): Invalid Resource identifier specified",
    ),
    (
        "KubernetesError",
        "Kubernetes API apply child status failed: connection reset",
    ),
    (
        "RestApiNotReady",
        "RestApi photos is not ready yet: AWS apigateway CreateRestApi on photos failed (503): unavailable",
    ),
    (
        "AuthorizerNotReady",
        "waiting for Authorizer users to be in effect; the route is not put without it",
    ),
    (
        "DeploymentPending",
        "the API changed; deploying after 7s without further changes",
    ),
    (
        "Applying",
        "applying 12 change(s) to the structure of the API; 3 of 8 Route(s) in effect so far",
    ),
    (
        "WaitingForRoutes",
        "waiting until every Route and Authorizer of the API is in effect before deploying",
    ),
    (
        "InUse",
        "still used by Route upload-photo, filter-photo: change or delete those routes first; the authorizer stays until then",
    ),
    ("StageNotReady", "Stage v1-prod is not deployed yet"),
    (
        "WebSocketApiNotReady",
        "WebSocketApi notifications is not ready yet: AWS apigateway CreateApi on notifications failed (503): unavailable",
    ),
    (
        "StageNotReady",
        "Stage prod has no deployment in AWS yet; the plan is bound to it once it has",
    ),
    (
        "UsagePlanNotReady",
        "UsagePlan gold has no usage plan in AWS yet; the key is attached once it has",
    ),
];

/// Ready=False reasons that stay until someone edits a spec or fixes the account.
const TERMINAL: &[(&str, &str)] = &[
    (
        "DocumentNotFound",
        "ConfigMap photos-openapi (spec.openapi.configMapRef) does not exist in namespace photos",
    ),
    (
        "InvalidDocument",
        "the OpenAPI document must be an object with `openapi: 3.x` (or `swagger: \"2.0\"`) and `paths`",
    ),
    (
        "ApiDefinedByDocument",
        "RestApi photos takes its structure from its OpenAPI document (spec.openapi), so this Route is not applied",
    ),
    (
        "WebSocketApiNotFound",
        "WebSocketApi notifications does not exist in namespace photos",
    ),
    (
        "MappingNotAllowed",
        "base path live maps a WebSocketApi stage and v1 a RestApi stage: API Gateway does not serve WebSocket and REST APIs on one domain name",
    ),
    (
        "AdoptTargetOwned",
        "WebSocket API a1b2c3d4e5 is managed by WebSocketApi photos/notifications; delete that object (with deletionPolicy: Retain to keep the API) before adopting it here",
    ),
    (
        "StageNameConflict",
        "Stage prod-a already manages stage prod of this API",
    ),
    (
        "DeploymentNotFound",
        "deployment abc123 does not exist in REST API a1b2c3d4e5 (was the API made again?); pin a deployment of this API",
    ),
    (
        "RouteSettingsUnmatched",
        "routeSettings name POST /nowhere, which no Route of this API declares; the other settings are in effect",
    ),
    (
        "InvalidSpec",
        "invalid spec: spec.policy is not a JSON document: expected value at line 1 column 1",
    ),
    (
        "AwsRejected",
        "AWS apigateway PutIntegration on POST /photos failed (BadRequestException): Invalid ARN specified in the request",
    ),
    (
        "AdoptTargetMissing",
        "spec.restApiId zzzzzzzzzz names no REST API in this account and region",
    ),
    (
        "AwsAccessDenied",
        "AWS apigateway CreateRestApi on photos failed (AccessDeniedException): not authorized to perform apigateway:POST",
    ),
    (
        "MethodConflict",
        "PUT /photos is already declared by Route upload-photo, which keeps it",
    ),
    (
        "PathConflict",
        "/photos/{userId} cannot coexist with /photos/{photoId}: one variable name per path level",
    ),
    (
        "AuthorizerNotFound",
        "Authorizer users does not exist in this namespace",
    ),
    (
        "RestApiNotFound",
        "RestApi photos does not exist in namespace photo-app",
    ),
    (
        "RestApiDeleted",
        "RestApi photos was deleted, and its REST API with it",
    ),
    (
        "UserPoolNotFound",
        "Cognito user pool us-east-1_AbCdEfGhI does not exist in this account; create it or fix spec.cognito.userPools",
    ),
    (
        "LambdaFunctionNotFound",
        "Lambda function upload-photo does not exist; the method is in place and the permission follows once it exists",
    ),
    (
        "StageNotFound",
        "Stage v1-prod does not exist in this namespace",
    ),
    (
        "CertificateNotFound",
        "ACM certificate arn:aws:acm:us-east-1:123456789012:certificate/0000 does not exist in us-east-1",
    ),
    (
        "CertificateWrongRegion",
        "ACM certificate arn:aws:acm:eu-west-1:123456789012:certificate/abc is in eu-west-1, but an EDGE domain name (CloudFront) needs one in us-east-1",
    ),
    (
        "UsagePlanNotFound",
        "UsagePlan gold does not exist in namespace photo-app; the key is attached once it does",
    ),
    ("SecretNotFound", "Secret partner-key has no key value"),
    (
        "SecretNotUsable",
        "the value of key value in Secret partner-key has 8 characters; API Gateway needs at least 20",
    ),
    (
        "AdoptTargetOrphaned",
        "REST API a1b2c3d4e5 was made by RestApi team-a/photos, which no longer exists; set spec.adoptOrphaned: true to take it over",
    ),
    (
        "AdoptionNotRequested",
        "domain name api.example.com already exists in this account and was not created by this object; set spec.adopt: true to adopt it",
    ),
    (
        "AdoptionNotAllowed",
        "REST API a1b2c3d4e5 exists already and AwsAccountBinding team-a does not allow adoption in this namespace",
    ),
    (
        "ReferenceNotAllowed",
        "Lambda function arn:aws:lambda:us-east-1:111111111111:function:payroll is not allowed for this namespace: AwsAccountBinding team-a does not list it in spec.allowedLambdaFunctions",
    ),
    (
        "RegionNotAllowed",
        "spec.region us-west-2 is not allowed for this namespace: AwsAccountBinding team-a allows eu-west-1",
    ),
    (
        "NoAccountBinding",
        "no AwsAccountBinding matches namespace team-c, and the operator requires one (--require-account-binding): nothing is called in AWS until the platform team binds it",
    ),
    (
        "AccountBindingConflict",
        "namespace team-a is matched by AwsAccountBindings a and b; a namespace may be bound once: narrow their namespaces or namespaceSelector",
    ),
    (
        "LocationMismatch",
        "Stage prod of RestApi photos lives in account 111111111111 region eu-west-1, but this object lives in account 111111111111 region us-east-1: it can only use what is in its own account and region (set spec.region to match)",
    ),
    (
        "AccountChanged",
        "the AWS resources of this object are in account 111111111111 region us-east-1, but its namespace now maps to account 222222222222 region us-east-1",
    ),
];

fn script_path(file: &str) -> String {
    checkout(&format!("/deploy/argocd/health/{file}"))
}

fn script(file: &str) -> String {
    std::fs::read_to_string(script_path(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// JSON to Lua the way Argo CD hands `obj` to gopher-lua: objects and arrays
/// become tables (arrays 1-based), numbers are Lua numbers, null is nil.
fn to_lua(lua: &Lua, value: &serde_json::Value) -> mlua::Result<LuaValue> {
    Ok(match value {
        serde_json::Value::Null => LuaValue::Nil,
        serde_json::Value::Bool(b) => LuaValue::Boolean(*b),
        serde_json::Value::Number(n) => LuaValue::Number(n.as_f64().expect("finite number")),
        serde_json::Value::String(s) => LuaValue::String(lua.create_string(s)?),
        serde_json::Value::Array(items) => {
            let table = lua.create_table()?;
            for (i, item) in items.iter().enumerate() {
                table.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            LuaValue::Table(table)
        }
        serde_json::Value::Object(fields) => {
            let table = lua.create_table()?;
            for (key, field) in fields {
                table.raw_set(key.as_str(), to_lua(lua, field)?)?;
            }
            LuaValue::Table(table)
        }
    })
}

#[derive(Debug, PartialEq, Eq)]
struct Health {
    status: String,
    message: String,
}

/// Run `file` with the object in `yaml` as the global `obj`, as Argo CD does, and
/// check that it returns the `hs` table Argo CD reads: `status` and `message`.
fn health(file: &str, yaml: &str) -> Health {
    // Argo CD opens only the base, table, string and math libraries (plus a safe
    // subset of os); give the scripts no more than that.
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::default(),
    )
    .expect("Lua 5.1 starts");
    let obj: serde_json::Value = serde_yaml::from_str(yaml).expect("sample is YAML");
    lua.globals()
        .set("obj", to_lua(&lua, &obj).expect("obj converts"))
        .expect("set obj");
    let hs: Table = lua
        .load(script(file))
        .set_name(format!("@deploy/argocd/health/{file}"))
        .eval()
        .unwrap_or_else(|e| panic!("{file} failed on\n{yaml}\n{e}"));
    let mut keys: Vec<String> = hs
        .pairs::<String, LuaValue>()
        .map(|pair| pair.expect("string keys").0)
        .collect();
    keys.sort();
    assert_eq!(keys, ["message", "status"], "{file}: hs table keys");
    let health = Health {
        status: hs.get("status").expect("status is a string"),
        message: hs.get("message").expect("message is a string"),
    };
    assert!(
        ["Healthy", "Progressing", "Degraded", "Suspended"].contains(&health.status.as_str()),
        "{file}: {health:?}"
    );
    health
}

fn health_is(status: &str, message: &str) -> Health {
    Health {
        status: status.to_string(),
        message: message.to_string(),
    }
}

/// An object of `kind` at `generation` whose Ready condition was computed for
/// `observed`, as the operator writes status.
fn sample(
    kind: &str,
    generation: i64,
    observed: i64,
    ready: &str,
    reason: &str,
    message: &str,
) -> String {
    format!(
        r#"
apiVersion: apigw.rs/v1alpha1
kind: {kind}
metadata:
  name: sample
  namespace: photo-app
  generation: {generation}
status:
  observedGeneration: {observed}
  conditions:
  - type: Ready
    status: "{ready}"
    reason: {reason}
    message: '{message}'
    lastTransitionTime: "2026-01-01T00:00:00Z"
    observedGeneration: {observed}
"#
    )
}

#[test]
fn no_status_is_progressing() {
    let yaml = r#"
apiVersion: apigw.rs/v1alpha1
kind: Route
metadata: {name: upload-photo, namespace: photo-app, generation: 1}
spec:
  restApiRef: {name: photos}
  method: PUT
  path: /photos
"#;
    for (_, file) in KINDS {
        assert_eq!(
            health(file, yaml),
            health_is("Progressing", "Waiting for the operator to report status"),
            "{file}"
        );
    }
}

#[test]
fn status_without_ready_condition_is_progressing() {
    let yaml = r#"
metadata: {name: photos, generation: 1}
status: {observedGeneration: 1}
"#;
    for (_, file) in KINDS {
        assert_eq!(
            health(file, yaml),
            health_is("Progressing", "Waiting for the Ready condition"),
            "{file}"
        );
    }
}

/// A spec edit the operator has not reconciled yet: the old Ready=True says
/// nothing about the new spec.
#[test]
fn generation_not_yet_observed_is_progressing() {
    for (kind, file) in KINDS {
        let yaml = sample(kind, 3, 2, "True", "Available", "in effect");
        assert_eq!(
            health(file, &yaml),
            health_is(
                "Progressing",
                "Waiting for the operator to observe generation 3"
            ),
            "{file}"
        );
    }
}

/// A terminal reason computed for an older spec may already be fixed by the edit.
#[test]
fn stale_terminal_condition_is_progressing() {
    for (kind, file) in KINDS {
        let yaml = sample(kind, 5, 4, "False", "InvalidSpec", "invalid spec: old");
        assert_eq!(health(file, &yaml).status, "Progressing", "{file}");
    }
}

/// The Ready condition's own observedGeneration counts, not only status.observedGeneration.
#[test]
fn ready_condition_generation_is_the_one_compared() {
    let yaml = r#"
metadata: {name: dev, generation: 2}
status:
  observedGeneration: 2
  conditions:
  - {type: Ready, status: "True", reason: Deployed, message: stage dev serves deployment abc123, observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}
"#;
    assert_eq!(health("stage.lua", yaml).status, "Progressing");
    // Without one on the condition, status.observedGeneration stands in.
    let yaml = r#"
metadata: {name: dev, generation: 2}
status:
  observedGeneration: 2
  conditions:
  - {type: Ready, status: "True", reason: Deployed, message: stage dev serves deployment abc123, lastTransitionTime: "2026-01-01T00:00:00Z"}
"#;
    assert_eq!(
        health("stage.lua", yaml),
        health_is("Healthy", "stage dev serves deployment abc123")
    );
}

/// Real statuses of converged objects, one per kind, with the other fields the
/// operator writes and other condition types around Ready.
#[test]
fn ready_and_current_is_healthy() {
    let samples = [
        (
            "restapi.lua",
            r#"
apiVersion: apigw.rs/v1alpha1
kind: RestApi
metadata: {name: photos, namespace: photo-app, generation: 4, finalizers: [apigw.rs/cleanup]}
spec: {description: Photo upload, endpoint: {type: REGIONAL}}
status:
  observedGeneration: 4
  restApiId: x1y2z3a4b5
  rootResourceId: r00t
  url: https://x1y2z3a4b5.execute-api.us-east-1.amazonaws.com
  configFingerprint: 9f2c
  conditions:
  - type: Ready
    status: "True"
    reason: Available
    message: REST API x1y2z3a4b5 matches the spec
    lastTransitionTime: "2026-01-01T00:00:00Z"
    observedGeneration: 4
"#,
            "REST API x1y2z3a4b5 matches the spec",
        ),
        (
            "restapi.lua",
            &sample(
                "RestApi",
                1,
                1,
                "True",
                "Adopted",
                "adopted REST API a1b2c3d4e5",
            ),
            "adopted REST API a1b2c3d4e5",
        ),
        (
            "route.lua",
            r#"
apiVersion: apigw.rs/v1alpha1
kind: Route
metadata: {name: upload-photo, namespace: photo-app, generation: 2}
status:
  observedGeneration: 2
  restApiId: x1y2z3a4b5
  resourceId: abc123
  invokeUrls: {dev: "https://x1y2z3a4b5.execute-api.us-east-1.amazonaws.com/dev/photos"}
  conditions:
  - {type: Ready, status: "True", reason: InEffect, message: PUT /photos is in effect in REST API x1y2z3a4b5, observedGeneration: 2, lastTransitionTime: "2026-01-01T00:00:00Z"}
"#,
            "PUT /photos is in effect in REST API x1y2z3a4b5",
        ),
        (
            "authorizer.lua",
            &sample(
                "Authorizer",
                1,
                1,
                "True",
                "Available",
                "authorizer users (a1b2c3) is in effect",
            ),
            "authorizer users (a1b2c3) is in effect",
        ),
        (
            "stage.lua",
            r#"
apiVersion: apigw.rs/v1alpha1
kind: Stage
metadata: {name: prod, namespace: photo-app, generation: 7}
status:
  observedGeneration: 7
  deploymentId: d3pl0y
  invokeUrl: https://x1y2z3a4b5.execute-api.us-east-1.amazonaws.com/prod
  history:
  - {deploymentId: d3pl0y, deployedAt: "2026-01-01T00:00:00Z"}
  conditions:
  - {type: Synced, status: "False", reason: Other, message: not the one to watch, lastTransitionTime: "2026-01-01T00:00:00Z"}
  - {type: Ready, status: "True", reason: Deployed, message: stage prod serves deployment d3pl0y, observedGeneration: 7, lastTransitionTime: "2026-01-01T00:00:00Z"}
"#,
            "stage prod serves deployment d3pl0y",
        ),
    ];
    for (file, yaml, message) in samples {
        assert_eq!(health(file, yaml), health_is("Healthy", message), "{file}");
    }
}

#[test]
fn transient_reasons_are_progressing_with_the_condition_message() {
    for (kind, file) in KINDS {
        for (reason, message) in TRANSIENT {
            let yaml = sample(kind, 2, 2, "False", reason, message);
            assert_eq!(
                health(file, &yaml),
                health_is("Progressing", message),
                "{file} {reason}"
            );
        }
    }
}

#[test]
fn terminal_reasons_are_degraded_with_the_condition_message() {
    for (kind, file) in KINDS {
        for (reason, message) in TERMINAL {
            let yaml = sample(kind, 2, 2, "False", reason, message);
            assert_eq!(
                health(file, &yaml),
                health_is("Degraded", message),
                "{file} {reason}"
            );
        }
    }
}

/// Each script's verdict table is the one `controller::reasons` generates, and
/// the test lists above agree with the registry's classes. With
/// UPDATE_ARGOCD_DOC=1 the scripts are rewritten from the registry.
#[test]
fn verdict_tables_are_generated_from_the_registry() {
    use apigw_operator::controller::reasons::{Class, argocd_verdicts, lookup};
    let expected = argocd_verdicts();
    for (_, file) in KINDS {
        let text = script(file);
        let start = text.find("local verdicts = {").expect("verdict table");
        let end = start + text[start..].find("\n}").expect("table end") + 2;
        if text[start..end] != expected && std::env::var_os("UPDATE_ARGOCD_DOC").is_some() {
            let updated = format!("{}{}{}", &text[..start], expected, &text[end..]);
            std::fs::write(script_path(file), updated).expect("rewrite script");
            continue;
        }
        assert_eq!(
            text[start..end],
            expected,
            "{file}: the verdict table differs from controller::reasons; run `UPDATE_ARGOCD_DOC=1 cargo test --test argocd_health`"
        );
    }
    for (reason, _) in TRANSIENT {
        let class = lookup(reason)
            .unwrap_or_else(|| panic!("{reason} is not in the registry"))
            .class;
        assert!(
            matches!(class, Class::Transient | Class::Waiting),
            "{reason}: {class:?}"
        );
    }
    for (reason, _) in TERMINAL {
        let class = lookup(reason)
            .unwrap_or_else(|| panic!("{reason} is not in the registry"))
            .class;
        assert_eq!(class, Class::NeedsUser, "{reason}");
    }
}

/// The docs' reason table is the registry's.
#[test]
fn docs_reason_table_is_generated_from_the_registry() {
    let path = doc_path();
    let doc = std::fs::read_to_string(&path).expect("docs/argocd.md");
    let (begin, end) = ("<!-- reasons:begin -->\n", "<!-- reasons:end -->");
    let start = doc
        .find(begin)
        .expect("docs/argocd.md has a reasons:begin marker")
        + begin.len();
    let stop = doc
        .find(end)
        .expect("docs/argocd.md has a reasons:end marker");
    let expected = apigw_operator::controller::reasons::docs_table();
    if doc[start..stop] != expected && std::env::var_os("UPDATE_ARGOCD_DOC").is_some() {
        std::fs::write(
            &path,
            format!("{}{}{}", &doc[..start], expected, &doc[stop..]),
        )
        .expect("write doc");
        return;
    }
    assert!(
        doc[start..stop] == expected,
        "docs/argocd.md's reason table differs from controller::reasons; run `UPDATE_ARGOCD_DOC=1 cargo test --test argocd_health`"
    );
}

/// A paused object, or an ObserveOnly one that found drift, is Suspended: nobody
/// forgot it, someone chose that the operator changes nothing.
#[test]
fn paused_and_observed_drift_are_suspended() {
    let cases = [
        (
            "Paused",
            "managementPolicy is Paused: the operator makes no AWS call for this object",
        ),
        (
            "DriftDetected",
            "managementPolicy is ObserveOnly: AWS differs from the spec; 1 change(s) planned, none made (status.plannedChanges): update REST API a1b2c3d4e5: /description -> new",
        ),
    ];
    for (kind, file) in KINDS {
        for (reason, message) in cases {
            let health = health(file, &sample(kind, 2, 2, "False", reason, message));
            assert_eq!(health.status, "Suspended", "{file} {reason}");
            assert_eq!(health.message, message, "{file}");
        }
    }
}

/// A reason the scripts do not know (a newer operator, a bug) is shown, not hidden.
#[test]
fn unknown_reason_is_degraded() {
    for (kind, file) in KINDS {
        let yaml = sample(
            kind,
            1,
            1,
            "False",
            "SomethingNew",
            "something new went wrong",
        );
        assert_eq!(
            health(file, &yaml),
            health_is("Degraded", "something new went wrong"),
            "{file}"
        );
    }
}

#[test]
fn unknown_status_is_progressing() {
    for (kind, file) in KINDS {
        let yaml = sample(kind, 1, 1, "Unknown", "Reconciling", "first pass");
        assert_eq!(
            health(file, &yaml),
            health_is("Progressing", "first pass"),
            "{file}"
        );
    }
}

/// An Authorizer held by its finalizer while routes still use it. (Argo CD itself
/// reports any object with a deletionTimestamp as Progressing before running a
/// script; the script agrees for any other reader.)
#[test]
fn in_use_while_deleting_is_progressing() {
    let yaml = r#"
apiVersion: apigw.rs/v1alpha1
kind: Authorizer
metadata:
  name: users
  namespace: photo-app
  generation: 2
  deletionTimestamp: "2026-01-01T00:05:00Z"
  finalizers: [apigw.rs/cleanup]
status:
  observedGeneration: 2
  authorizerId: a1b2c3
  conditions:
  - type: Ready
    status: "False"
    reason: InUse
    message: "still used by Route upload-photo: change or delete those routes first; the authorizer stays until then"
    observedGeneration: 2
    lastTransitionTime: "2026-01-01T00:05:01Z"
"#;
    assert_eq!(
        health("authorizer.lua", yaml),
        health_is(
            "Progressing",
            "still used by Route upload-photo: change or delete those routes first; the authorizer stays until then"
        )
    );
}

/// Argo CD shows the message next to the status; never leave it empty.
#[test]
fn empty_message_falls_back_to_the_reason() {
    let yaml = r#"
metadata: {name: photos, generation: 1}
status:
  conditions:
  - {type: Ready, status: "False", reason: AwsRejected, message: "", observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}
"#;
    assert_eq!(
        health("restapi.lua", yaml),
        health_is("Degraded", "AwsRejected")
    );
}

/// Argo CD takes one script per kind; they share their logic by being the
/// same text after their two-line header, so a fix to one is a fix to all.
#[test]
fn scripts_share_one_body() {
    let body = |file: &str| {
        let text = script(file);
        let start = text
            .find("-- From here on this file is the same")
            .unwrap_or_else(|| panic!("{file} lacks the shared-body marker"));
        let header = &text[..start];
        assert_eq!(header.lines().count(), 2, "{file}: two header lines");
        text[start..].to_string()
    };
    let first = body(KINDS[0].1);
    for (kind, file) in KINDS {
        assert_eq!(body(file), first, "{file} differs from {}", KINDS[0].1);
        assert!(
            script(file).contains(&format!("resource.customizations.health.apigw.rs_{kind}")),
            "{file} names its argocd-cm key"
        );
    }
}

/// Every Ready=False reason the operator can write is decided in the scripts'
/// table (and in this test's lists), so a new reason cannot slip through as
/// "unknown" unnoticed.
#[test]
fn every_reason_the_operator_writes_is_decided() {
    let src = &checkout("/src/controller");
    let mut reasons = std::collections::BTreeSet::new();
    // The controller's files, those of its step directories (structure/, ...) too.
    let mut files = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(src)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/controller") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    for path in files {
        let text = std::fs::read_to_string(&path).expect("source");
        // Readiness::not("Reason", ...)
        for (i, _) in text.match_indices("Readiness::not(") {
            let rest = text[i + "Readiness::not(".len()..].trim_start();
            if let Some(rest) = rest.strip_prefix('"') {
                reasons.insert(rest[..rest.find('"').unwrap()].to_string());
            }
        }
        // Error::reason() and the stage's wait reasons: `=> "Reason"` arms.
        let reason_fn = text
            .find("pub fn reason(&self)")
            .map(|start| &text[start..text[start..].find("\n    }\n").unwrap() + start]);
        let wait_arms = text.lines().filter(|l| {
            // The child-of-a-missing-API reasons: `Parent::X(_) => "XNotFound"`.
            let parent_reason =
                l.contains("Parent::") && (l.contains("NotFound\"") || l.contains("NotReady\""));
            (l.contains("WaitReason::") || parent_reason) && l.contains("=> \"")
        });
        for line in reason_fn.into_iter().flat_map(str::lines).chain(wait_arms) {
            if let Some((_, rest)) = line.split_once("=> \"") {
                reasons.insert(rest[..rest.find('"').unwrap()].to_string());
            }
        }
    }
    for expected in [
        "RestApiNotFound",
        "AwsThrottled",
        "DeploymentPending",
        "InUse",
    ] {
        assert!(reasons.contains(expected), "scan found {reasons:?}");
    }
    let body = script("restapi.lua");
    for reason in &reasons {
        // Paused is neither: it is Suspended (paused_is_suspended).
        let decided = TRANSIENT.iter().chain(TERMINAL).any(|(r, _)| r == reason)
            || ["Paused", "DriftDetected"].contains(&reason.as_str());
        assert!(
            apigw_operator::controller::reasons::lookup(reason).is_some(),
            "{reason} is not in controller::reasons::REASONS"
        );
        assert!(decided, "{reason} is in neither TRANSIENT nor TERMINAL");
        assert!(
            body.contains(&format!("  {reason} = \"")),
            "{reason} has no entry in the scripts' verdict table"
        );
    }
}

// ---- docs/argocd.md ----

const BEGIN: &str =
    "<!-- BEGIN argocd-cm: generated from deploy/argocd/health/*.lua by tests/argocd_health.rs -->";
const END: &str = "<!-- END argocd-cm -->";

fn doc_path() -> String {
    checkout("/docs/argocd.md")
}

/// The `argocd-cm` ConfigMap with one health check per kind, as the doc shows it.
fn argocd_cm_snippet() -> String {
    let mut out = String::from(
        "```yaml\n\
         apiVersion: v1\n\
         kind: ConfigMap\n\
         metadata:\n  \
           name: argocd-cm\n  \
           namespace: argocd\n  \
           labels:\n    \
             app.kubernetes.io/name: argocd-cm\n    \
             app.kubernetes.io/part-of: argocd\n\
         data:\n",
    );
    for (kind, file) in KINDS {
        out.push_str(&format!(
            "  resource.customizations.health.apigw.rs_{kind}: |\n"
        ));
        for line in script(file).lines() {
            if line.is_empty() {
                out.push('\n');
            } else {
                out.push_str("    ");
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out.push_str("```\n");
    out
}

#[test]
fn doc_embeds_exactly_the_current_scripts() {
    let path = doc_path();
    let doc = std::fs::read_to_string(&path).expect("docs/argocd.md");
    let start = doc.find(BEGIN).expect("BEGIN marker") + BEGIN.len() + 1;
    let end = doc.find(END).expect("END marker");
    let expected = argocd_cm_snippet();
    if doc[start..end] != expected && std::env::var_os("UPDATE_ARGOCD_DOC").is_some() {
        let updated = format!("{}{}{}", &doc[..start], expected, &doc[end..]);
        std::fs::write(&path, updated).expect("write docs/argocd.md");
        return;
    }
    assert!(
        doc[start..end] == expected,
        "docs/argocd.md embeds stale health checks: run `UPDATE_ARGOCD_DOC=1 cargo test --test argocd_health` and commit it"
    );

    // Read back as YAML, the way Argo CD reads argocd-cm: each key is exactly a file.
    let yaml = expected
        .trim_start_matches("```yaml\n")
        .trim_end_matches("```\n");
    let cm: serde_yaml::Value = serde_yaml::from_str(yaml).expect("the snippet is YAML");
    assert_eq!(cm["metadata"]["name"].as_str(), Some("argocd-cm"));
    let data = cm["data"].as_mapping().expect("data");
    assert_eq!(data.len(), KINDS.len());
    for (kind, file) in KINDS {
        let key = format!("resource.customizations.health.apigw.rs_{kind}");
        assert_eq!(
            data.get(key.as_str()).and_then(|v| v.as_str()),
            Some(script(file).as_str()),
            "{key} in docs/argocd.md is not deploy/argocd/health/{file}"
        );
    }
}

/// The Application in the doc syncs the photo app with server-side apply and diff.
#[test]
fn doc_application_syncs_the_photo_app_server_side() {
    let doc = std::fs::read_to_string(doc_path()).expect("docs/argocd.md");
    let app = doc
        .split("```yaml\n")
        .skip(1)
        .map(|block| &block[..block.find("```").expect("closed block")])
        .find(|block| block.contains("kind: Application"))
        .expect("an Application example");
    let app: serde_yaml::Value = serde_yaml::from_str(app).expect("the Application is YAML");
    assert_eq!(app["apiVersion"].as_str(), Some("argoproj.io/v1alpha1"));
    assert_eq!(
        app["spec"]["source"]["path"].as_str(),
        Some("examples/photo-app")
    );
    let options: Vec<&str> = app["spec"]["syncPolicy"]["syncOptions"]
        .as_sequence()
        .expect("syncOptions")
        .iter()
        .filter_map(|o| o.as_str())
        .collect();
    assert!(options.contains(&"ServerSideApply=true"), "{options:?}");
    assert_eq!(
        app["metadata"]["annotations"]["argocd.argoproj.io/compare-options"].as_str(),
        Some("ServerSideDiff=true")
    );
    assert!(std::path::Path::new(&checkout("/examples/photo-app")).is_dir());
}
