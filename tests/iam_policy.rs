//! `docs/iam-policy.json` allows every AWS call the operator makes, and nothing
//! else. The calls are read from the source: every AWS request goes through
//! `Aws::call(service, "Operation", ...)` in src/aws/ (it applies the rate
//! limiter and counts the call), so the string literals passed there are the
//! complete list.
//!
//! One permission is not a call of its own and has a table of its own (IMPLIED):
//! `iam:PassRole`, which AWS checks on the operator during the calls that hand a
//! role to API Gateway. Every resource ARN starts `arn:*:` so that one policy
//! serves every partition.

#[path = "common/checkout.rs"]
mod checkout;

use checkout::checkout;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Every operation the code calls, with the IAM action it needs (None: no
/// permission needed). API Gateway's management API is authorised by HTTP verb
/// on the resource path: reads are GET, creates (and imports) POST, puts PUT,
/// updates PATCH, deletes DELETE; TagResource is a PUT and UntagResource a
/// DELETE on /tags/{arn}. A new call fails `every_call_is_in_the_table` until it
/// is added here, and then `policy_allows_every_call` until the policy has it.
const ACTIONS: &[(&str, &str, Option<&str>)] = &[
    // REST APIs (src/aws/rest_api.rs)
    ("ApiGateway", "GetRestApi", Some("apigateway:GET")),
    ("ApiGateway", "GetRestApis", Some("apigateway:GET")),
    ("ApiGateway", "CreateRestApi", Some("apigateway:POST")),
    ("ApiGateway", "UpdateRestApi", Some("apigateway:PATCH")),
    ("ApiGateway", "PutRestApi", Some("apigateway:PUT")),
    ("ApiGateway", "DeleteRestApi", Some("apigateway:DELETE")),
    ("ApiGateway", "TagResource", Some("apigateway:PUT")),
    ("ApiGateway", "UntagResource", Some("apigateway:DELETE")),
    // Resources, methods, integrations (src/aws/resources.rs)
    ("ApiGateway", "GetResources", Some("apigateway:GET")),
    ("ApiGateway", "CreateResource", Some("apigateway:POST")),
    ("ApiGateway", "DeleteResource", Some("apigateway:DELETE")),
    ("ApiGateway", "PutMethod", Some("apigateway:PUT")),
    ("ApiGateway", "DeleteMethod", Some("apigateway:DELETE")),
    ("ApiGateway", "PutMethodResponse", Some("apigateway:PUT")),
    ("ApiGateway", "PutIntegration", Some("apigateway:PUT")),
    (
        "ApiGateway",
        "PutIntegrationResponse",
        Some("apigateway:PUT"),
    ),
    // Models and request validators (src/aws/models.rs)
    ("ApiGateway", "GetModels", Some("apigateway:GET")),
    // A document-built API's gateway responses (drift) and the documentation
    // parts export names as not exported (src/aws/models.rs)
    ("ApiGateway", "GetGatewayResponses", Some("apigateway:GET")),
    (
        "ApiGateway",
        "GetDocumentationParts",
        Some("apigateway:GET"),
    ),
    ("ApiGateway", "CreateModel", Some("apigateway:POST")),
    ("ApiGateway", "UpdateModel", Some("apigateway:PATCH")),
    ("ApiGateway", "DeleteModel", Some("apigateway:DELETE")),
    ("ApiGateway", "GetRequestValidators", Some("apigateway:GET")),
    (
        "ApiGateway",
        "CreateRequestValidator",
        Some("apigateway:POST"),
    ),
    (
        "ApiGateway",
        "DeleteRequestValidator",
        Some("apigateway:DELETE"),
    ),
    // Authorizers (src/aws/authorizer.rs)
    ("ApiGateway", "GetAuthorizers", Some("apigateway:GET")),
    ("ApiGateway", "GetAuthorizer", Some("apigateway:GET")),
    ("ApiGateway", "CreateAuthorizer", Some("apigateway:POST")),
    ("ApiGateway", "UpdateAuthorizer", Some("apigateway:PATCH")),
    ("ApiGateway", "DeleteAuthorizer", Some("apigateway:DELETE")),
    // Stages and deployments (src/aws/stage.rs)
    ("ApiGateway", "GetStages", Some("apigateway:GET")),
    ("ApiGateway", "CreateStage", Some("apigateway:POST")),
    ("ApiGateway", "UpdateStage", Some("apigateway:PATCH")),
    ("ApiGateway", "DeleteStage", Some("apigateway:DELETE")),
    ("ApiGateway", "GetDeployments", Some("apigateway:GET")),
    ("ApiGateway", "CreateDeployment", Some("apigateway:POST")),
    ("ApiGateway", "DeleteDeployment", Some("apigateway:DELETE")),
    // Custom domain names and base path mappings (src/aws/domain_name.rs)
    ("ApiGateway", "GetDomainName", Some("apigateway:GET")),
    ("ApiGateway", "CreateDomainName", Some("apigateway:POST")),
    ("ApiGateway", "UpdateDomainName", Some("apigateway:PATCH")),
    ("ApiGateway", "DeleteDomainName", Some("apigateway:DELETE")),
    ("ApiGateway", "GetBasePathMappings", Some("apigateway:GET")),
    (
        "ApiGateway",
        "CreateBasePathMapping",
        Some("apigateway:POST"),
    ),
    (
        "ApiGateway",
        "UpdateBasePathMapping",
        Some("apigateway:PATCH"),
    ),
    (
        "ApiGateway",
        "DeleteBasePathMapping",
        Some("apigateway:DELETE"),
    ),
    // The certificate check of a DomainName (src/aws/domain_name.rs)
    (
        "Acm",
        "DescribeCertificate",
        Some("acm:DescribeCertificate"),
    ),
    // Usage plans and API keys (src/aws/usage.rs)
    ("ApiGateway", "GetUsagePlan", Some("apigateway:GET")),
    ("ApiGateway", "GetUsagePlans", Some("apigateway:GET")),
    ("ApiGateway", "CreateUsagePlan", Some("apigateway:POST")),
    ("ApiGateway", "UpdateUsagePlan", Some("apigateway:PATCH")),
    ("ApiGateway", "DeleteUsagePlan", Some("apigateway:DELETE")),
    ("ApiGateway", "GetUsagePlanKeys", Some("apigateway:GET")),
    ("ApiGateway", "CreateUsagePlanKey", Some("apigateway:POST")),
    (
        "ApiGateway",
        "DeleteUsagePlanKey",
        Some("apigateway:DELETE"),
    ),
    ("ApiGateway", "GetApiKey", Some("apigateway:GET")),
    ("ApiGateway", "GetApiKeys", Some("apigateway:GET")),
    ("ApiGateway", "CreateApiKey", Some("apigateway:POST")),
    ("ApiGateway", "UpdateApiKey", Some("apigateway:PATCH")),
    ("ApiGateway", "DeleteApiKey", Some("apigateway:DELETE")),
    // Lambda invoke permissions (src/aws/lambda.rs)
    ("Lambda", "GetFunction", Some("lambda:GetFunction")),
    ("Lambda", "GetPolicy", Some("lambda:GetPolicy")),
    ("Lambda", "AddPermission", Some("lambda:AddPermission")),
    (
        "Lambda",
        "RemovePermission",
        Some("lambda:RemovePermission"),
    ),
    // Cognito user pool check (src/aws/authorizer.rs)
    (
        "Cognito",
        "DescribeUserPool",
        Some("cognito-idp:DescribeUserPool"),
    ),
    // WebSocket APIs (src/aws/websocket.rs, API Gateway v2 under /apis). Its
    // authorizer and stage calls share their v1 names and verbs. Its TagResource
    // is a POST on /tags/{arn} (v1's is a PUT): the policy allows every verb on
    // /tags/*, which `policy_allows_every_call` checks.
    ("ApiGateway", "GetStage", Some("apigateway:GET")),
    // API mappings of WebSocket stages on a DomainName (src/aws/domain_name.rs, v2
    // under /domainnames/NAME/apimappings).
    ("ApiGateway", "GetApiMappings", Some("apigateway:GET")),
    ("ApiGateway", "CreateApiMapping", Some("apigateway:POST")),
    ("ApiGateway", "UpdateApiMapping", Some("apigateway:PATCH")),
    ("ApiGateway", "DeleteApiMapping", Some("apigateway:DELETE")),
    ("ApiGateway", "GetApi", Some("apigateway:GET")),
    ("ApiGateway", "GetApis", Some("apigateway:GET")),
    ("ApiGateway", "CreateApi", Some("apigateway:POST")),
    ("ApiGateway", "UpdateApi", Some("apigateway:PATCH")),
    ("ApiGateway", "DeleteApi", Some("apigateway:DELETE")),
    ("ApiGateway", "GetRoutes", Some("apigateway:GET")),
    ("ApiGateway", "CreateRoute", Some("apigateway:POST")),
    ("ApiGateway", "UpdateRoute", Some("apigateway:PATCH")),
    ("ApiGateway", "DeleteRoute", Some("apigateway:DELETE")),
    ("ApiGateway", "GetIntegrations", Some("apigateway:GET")),
    ("ApiGateway", "CreateIntegration", Some("apigateway:POST")),
    ("ApiGateway", "UpdateIntegration", Some("apigateway:PATCH")),
    ("ApiGateway", "DeleteIntegration", Some("apigateway:DELETE")),
    ("ApiGateway", "GetRouteResponse", Some("apigateway:GET")),
    ("ApiGateway", "GetRouteResponses", Some("apigateway:GET")),
    (
        "ApiGateway",
        "DeleteAccessLogSettings",
        Some("apigateway:DELETE"),
    ),
    (
        "ApiGateway",
        "DeleteRouteSettings",
        Some("apigateway:DELETE"),
    ),
    ("ApiGateway", "CreateRouteResponse", Some("apigateway:POST")),
    (
        "ApiGateway",
        "DeleteRouteResponse",
        Some("apigateway:DELETE"),
    ),
    // Start-up identity check (src/aws/mod.rs): STS answers it for any caller,
    // even one with an explicit deny.
    ("Sts", "GetCallerIdentity", None),
    // The role of an AwsAccountBinding, assumed with the operator's own identity
    // (src/aws/assume_role.rs); only roles named apigw-operator-*
    // (docs/multi-account-iam.md).
    ("Sts", "AssumeRole", Some("sts:AssumeRole")),
];

/// Permissions AWS checks on the caller during another call, rather than as a
/// call of their own: (IAM action, evidence) with the evidence as (file in
/// src/aws/, operation called there, code in that file that passes the role).
/// `iam:PassRole`: API Gateway makes the caller pass the role it will act as,
/// the `credentials` of an integration and the `authorizerCredentials` of an
/// authorizer (REST and WebSocket). `implied_permissions_are_used` fails when the
/// evidence is gone, so a permission nothing needs any more does not linger.
type Evidence = (&'static str, &'static str, &'static str);
const IMPLIED: &[(&str, &[Evidence])] = &[(
    "iam:PassRole",
    &[
        ("resources.rs", "PutIntegration", ".set_credentials("),
        (
            "authorizer.rs",
            "CreateAuthorizer",
            ".set_authorizer_credentials(",
        ),
        (
            "websocket.rs",
            "CreateAuthorizer",
            ".set_authorizer_credentials_arn(",
        ),
        (
            "websocket.rs",
            "UpdateAuthorizer",
            ".authorizer_credentials_arn(",
        ),
    ],
)];

/// (service, operation, file) for every `self.call(Service::X, "Operation", ...)` in src/aws/.
fn calls_in_source() -> BTreeSet<(String, String, String)> {
    let dir = &checkout("/src/aws");
    let mut calls = BTreeSet::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no sources in {dir}");
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        // Comment lines may mention calls; whitespace may split `self\n.call(`.
        let code: String = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        // `.call(Service::` rather than `self.call(` alone: any receiver counts.
        for (at, _) in code.match_indices(".call(Service::") {
            let rest = &code[at + ".call(".len()..];
            let (service, rest) = rest
                .split_once(',')
                .unwrap_or_else(|| panic!("{file}: unreadable self.call({}", &rest[..40]));
            let operation = rest
                .strip_prefix('"')
                .and_then(|r| r.split_once('"'))
                .map(|(op, _)| op)
                .unwrap_or_else(|| {
                    panic!(
                        "{file}: the operation of self.call({service}, {}...) is not a string \
                         literal; keep it one so this test can check the IAM policy",
                        &rest[..rest.len().min(30)]
                    )
                });
            let service = service.strip_prefix("Service::").unwrap_or_else(|| {
                panic!("{file}: service {service:?} is not written as Service::X")
            });
            calls.insert((service.to_string(), operation.to_string(), file.clone()));
        }
    }
    calls
}

/// The text of src/aws/`file`.
fn source(file: &str) -> String {
    let path = checkout(&format!("/src/aws/{file}"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn policy() -> Value {
    let path = &checkout("/docs/iam-policy.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("docs/iam-policy.json"))
        .expect("docs/iam-policy.json is JSON")
}

fn as_strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|s| s.as_str().unwrap().to_string()).collect(),
        other => panic!("expected a string or a list, got {other}"),
    }
}

/// action -> resources it is allowed on.
fn allowed() -> BTreeMap<String, BTreeSet<String>> {
    let policy = policy();
    assert_eq!(policy["Version"], "2012-10-17");
    let mut allowed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for statement in policy["Statement"].as_array().expect("Statement list") {
        assert_eq!(statement["Effect"], "Allow", "{statement}");
        assert!(
            statement.get("NotAction").is_none() && statement.get("NotResource").is_none(),
            "NotAction/NotResource grant everything else: {statement}"
        );
        for action in as_strings(&statement["Action"]) {
            assert!(!action.contains('*'), "wildcard action {action}");
            allowed
                .entry(action)
                .or_default()
                .extend(as_strings(&statement["Resource"]));
        }
    }
    allowed
}

/// The statements allowing `action`.
fn statements_allowing(action: &str) -> Vec<Value> {
    policy()["Statement"]
        .as_array()
        .expect("Statement list")
        .iter()
        .filter(|s| as_strings(&s["Action"]).iter().any(|a| a == action))
        .cloned()
        .collect()
}

#[test]
fn source_scan_finds_the_calls() {
    // Guards the scanner itself: if it silently found nothing, the other tests
    // would pass vacuously.
    let calls = calls_in_source();
    for expected in [
        ("ApiGateway", "CreateRestApi", "rest_api.rs"),
        ("Lambda", "AddPermission", "lambda.rs"),
        ("Cognito", "DescribeUserPool", "authorizer.rs"),
        ("Sts", "GetCallerIdentity", "mod.rs"),
    ] {
        let expected = (
            expected.0.to_string(),
            expected.1.to_string(),
            expected.2.to_string(),
        );
        assert!(
            calls.contains(&expected),
            "{expected:?} not found in {calls:?}"
        );
    }
}

/// Every write the operator makes has a rule at its AWS gate
/// (`src/aws/gate.rs`): a write without one is refused at run time, so a new
/// one must come with the values it names read there.
#[test]
fn every_write_has_a_gate_rule() {
    let called = calls_in_source();
    let writes: Vec<&(String, String, String)> = called
        .iter()
        .filter(|(_, op, _)| apigw_operator::aws::is_mutating(op))
        .collect();
    assert!(
        writes.len() > 20,
        "the scan found too few writes: {writes:?}"
    );
    let missing: Vec<_> = writes
        .iter()
        .filter(|(_, op, _)| apigw_operator::aws::gate::rule_for(op).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "writes called in src/aws without a rule in src/aws/gate.rs RULES: {missing:?}"
    );
}

#[test]
fn every_call_is_in_the_table() {
    let table: BTreeSet<(&str, &str)> = ACTIONS.iter().map(|(s, o, _)| (*s, *o)).collect();
    let called: BTreeSet<(String, String)> = calls_in_source()
        .into_iter()
        .map(|(s, o, _)| (s, o))
        .collect();
    let missing: Vec<_> = called
        .iter()
        .filter(|(s, o)| !table.contains(&(s.as_str(), o.as_str())))
        .collect();
    assert!(
        missing.is_empty(),
        "operations called in src/aws but missing from the ACTIONS table of tests/iam_policy.rs \
         (add them with their IAM action, then to docs/iam-policy.json): {missing:?}"
    );
    // And no stale rows: a table row for a call that is gone would keep a
    // permission in the policy that nothing needs.
    let stale: Vec<_> = table
        .iter()
        .filter(|(s, o)| !called.contains(&(s.to_string(), o.to_string())))
        .collect();
    assert!(
        stale.is_empty(),
        "ACTIONS rows for operations the code no longer calls: {stale:?}"
    );
}

#[test]
fn api_gateway_actions_follow_the_http_verb() {
    for (service, operation, action) in ACTIONS {
        if *service != "ApiGateway" {
            continue;
        }
        let verb = match *operation {
            "TagResource" => "PUT",
            "UntagResource" => "DELETE",
            op if op.starts_with("Get") => "GET",
            op if op.starts_with("Create") || op.starts_with("Import") => "POST",
            op if op.starts_with("Put") => "PUT",
            op if op.starts_with("Update") => "PATCH",
            op if op.starts_with("Delete") => "DELETE",
            op => panic!("no HTTP verb rule for API Gateway operation {op}"),
        };
        assert_eq!(
            *action,
            Some(format!("apigateway:{verb}").as_str()),
            "{operation}"
        );
    }
}

#[test]
fn policy_allows_every_call() {
    let allowed = allowed();
    let called: BTreeSet<(String, String)> = calls_in_source()
        .into_iter()
        .map(|(s, o, _)| (s, o))
        .collect();
    for (service, operation, action) in ACTIONS {
        if !called.contains(&(service.to_string(), operation.to_string())) {
            continue;
        }
        let Some(action) = action else { continue };
        assert!(
            allowed.contains_key(*action),
            "docs/iam-policy.json lacks {action}, needed by {service} {operation}"
        );
    }
    // The resources the calls act on: every REST API and v2 API path (the
    // collections for GetRestApis / CreateRestApi and GetApis / CreateApi), usage plans (with their keys) and API keys,
    // tags of APIs, stages, plans and keys, Lambda functions with any qualifier,
    // user pools.
    let apigw = [
        "arn:*:apigateway:*::/restapis",
        "arn:*:apigateway:*::/restapis/*",
        "arn:*:apigateway:*::/apis",
        "arn:*:apigateway:*::/apis/*",
        "arn:*:apigateway:*::/usageplans",
        "arn:*:apigateway:*::/usageplans/*",
        "arn:*:apigateway:*::/apikeys",
        "arn:*:apigateway:*::/apikeys/*",
        "arn:*:apigateway:*::/tags/*",
    ];
    // Domain names: the collection (CreateDomainName) and each name with its
    // base path mappings.
    let domains = [
        "arn:*:apigateway:*::/domainnames",
        "arn:*:apigateway:*::/domainnames/*",
    ];
    for verb in ["GET", "POST", "PATCH", "DELETE"] {
        let resources = &allowed[&format!("apigateway:{verb}")];
        for r in domains {
            assert!(resources.contains(r), "apigateway:{verb} on {r}");
        }
    }
    assert_eq!(
        allowed["acm:DescribeCertificate"],
        BTreeSet::from(["arn:*:acm:*:*:certificate/*".to_string()])
    );
    for verb in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        let resources = &allowed[&format!("apigateway:{verb}")];
        for r in apigw {
            assert!(resources.contains(r), "apigateway:{verb} on {r}");
        }
    }
    for action in [
        "lambda:GetFunction",
        "lambda:GetPolicy",
        "lambda:AddPermission",
        "lambda:RemovePermission",
    ] {
        assert_eq!(
            allowed[action],
            BTreeSet::from(["arn:*:lambda:*:*:function:*".to_string()]),
            "{action}"
        );
    }
    assert_eq!(
        allowed["cognito-idp:DescribeUserPool"],
        BTreeSet::from(["arn:*:cognito-idp:*:*:userpool/*".to_string()])
    );
    // The operator assumes only the per-account roles named for it.
    assert_eq!(
        allowed["sts:AssumeRole"],
        BTreeSet::from(["arn:*:iam::*:role/apigw-operator-*".to_string()])
    );
}

#[test]
fn policy_allows_nothing_the_code_does_not_call() {
    let needed: BTreeSet<&str> = ACTIONS
        .iter()
        .filter_map(|(_, _, a)| *a)
        .chain(IMPLIED.iter().map(|(a, _)| *a))
        .collect();
    let extra: Vec<String> = allowed()
        .into_keys()
        .filter(|a| !needed.contains(a.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "docs/iam-policy.json allows actions no code calls: {extra:?}"
    );
    // And no resource is a bare "*".
    for (action, resources) in allowed() {
        assert!(!resources.contains("*"), "{action} on every resource");
    }
}

/// One policy for every partition (`aws`, `aws-cn`, `aws-us-gov`): IAM accepts
/// a wildcard in any ARN segment but the service, so `arn:*:` matches them all,
/// where `arn:aws:` would silently grant nothing in China or GovCloud. (A
/// `${AWS::Partition}` is CloudFormation's, not IAM's, and has no place here.)
#[test]
fn resources_are_partition_agnostic() {
    for (action, resources) in allowed() {
        for r in resources {
            assert!(
                r.starts_with("arn:*:"),
                "{action} on {r}: write the partition as arn:*:"
            );
        }
    }
}

#[test]
fn implied_permissions_are_used() {
    let called = calls_in_source();
    for (action, evidence) in IMPLIED {
        for (file, operation, code) in *evidence {
            let service = "ApiGateway".to_string();
            assert!(
                called.contains(&(service, operation.to_string(), file.to_string())),
                "{action}: src/aws/{file} no longer calls {operation}; update IMPLIED"
            );
            assert!(
                source(file).contains(code),
                "{action}: src/aws/{file} no longer has {code:?} (the role passed by \
                 {operation}); update IMPLIED, or drop {action} from the table and the policy"
            );
        }
    }
}

/// PassRole is limited to the roles that serve as credentials (`apigw-*` by
/// convention, which docs/multi-account-iam.md tells the platform team to
/// narrow) and to API Gateway as the service they are passed to: a PassRole
/// without that condition would let the operator hand the roles to any service.
#[test]
fn pass_role_is_limited_to_api_gateway() {
    let statements = statements_allowing("iam:PassRole");
    assert_eq!(
        statements.len(),
        1,
        "one PassRole statement: {statements:?}"
    );
    let s = &statements[0];
    assert_eq!(
        as_strings(&s["Action"]),
        ["iam:PassRole"],
        "PassRole alone: {s}"
    );
    assert_eq!(
        as_strings(&s["Resource"]),
        ["arn:*:iam::*:role/apigw-*"],
        "{s}"
    );
    assert_eq!(
        s["Condition"],
        serde_json::json!({"StringEquals": {"iam:PassedToService": "apigateway.amazonaws.com"}}),
        "{s}"
    );
    // No other statement carries a condition this test does not look at.
    for statement in policy()["Statement"].as_array().unwrap() {
        if statement != s {
            assert!(statement.get("Condition").is_none(), "{statement}");
        }
    }
}
