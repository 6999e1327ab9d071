use super::*;
use crate::aws::{Aws, Service};

/// Team B's binding: its own functions, roles, pools and certificates only.
fn team_b() -> Policy {
    Policy {
        access: Access {
            binding: Some("team-b".into()),
            functions: Some(vec![
                "arn:aws:lambda:us-east-1:111111111111:function:team-b-*".into(),
            ]),
            roles: Some(vec!["arn:aws:iam::111111111111:role/apigw-team-b-*".into()]),
            user_pools: Some(vec!["us-east-1_TeamB*".into()]),
            certificates: Some(vec![
                "arn:aws:acm:us-east-1:111111111111:certificate/team-b-*".into(),
            ]),
            adoption: false,
        },
        partition: "aws",
        region: "us-east-1".into(),
        account: "111111111111".into(),
    }
}

fn invocation(function: &str) -> String {
    format!(
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:111111111111:function:{function}/invocations"
    )
}

fn refused(operation: &str, uri: &str, body: &str) -> String {
    match judge(Some(&team_b()), operation, uri, body.as_bytes()) {
        Err(Refusal::NotAllowed(e)) => e.value,
        other => panic!("{operation} {uri} {body}: expected a refusal, got {other:?}"),
    }
}

fn admitted(operation: &str, uri: &str, body: &str) {
    if let Err(e) = judge(Some(&team_b()), operation, uri, body.as_bytes()) {
        panic!("{operation} {uri} {body}: refused: {e}");
    }
}

const METHOD: &str = "/restapis/a1/resources/r1/methods/GET/integration";

/// A Lambda function is read wherever an integration names it: proxy, AWS type
/// with an invocation path, and a qualified name.
#[test]
fn integrations_of_every_type_are_read_for_their_function() {
    for kind in ["AWS_PROXY", "AWS"] {
        let body = format!(r#"{{"type":"{kind}","uri":"{}"}}"#, invocation("team-a-fn"));
        assert_eq!(
            refused("PutIntegration", METHOD, &body),
            "arn:aws:lambda:us-east-1:111111111111:function:team-a-fn"
        );
        let body = format!(
            r#"{{"type":"{kind}","uri":"{}"}}"#,
            invocation("team-b-fn:live")
        );
        admitted("PutIntegration", METHOD, &body);
    }
    // JSON may escape slashes; they are still slashes.
    let escaped = invocation("team-a-fn").replace('/', "\\/");
    refused(
        "PutIntegration",
        METHOD,
        &format!(r#"{{"uri":"{escaped}"}}"#),
    );
}

/// Credentials roles are ARN parts: a name that goes on past the pattern under a
/// path is not the role the pattern names.
#[test]
fn credentials_roles_are_read_and_matched_by_parts() {
    let body = |role: &str| {
        format!(
            r#"{{"type":"AWS","uri":"arn:aws:apigateway:us-east-1:sqs:path/1/q","credentials":"{role}"}}"#
        )
    };
    admitted(
        "PutIntegration",
        METHOD,
        &body("arn:aws:iam::111111111111:role/apigw-team-b-sqs"),
    );
    assert_eq!(
        refused(
            "PutIntegration",
            METHOD,
            &body("arn:aws:iam::111111111111:role/apigw-team-b-x/anything"),
        ),
        "arn:aws:iam::111111111111:role/apigw-team-b-x/anything"
    );
}

/// Authorizers name functions, roles and pools; JWT issuers name pools too.
#[test]
fn authorizers_are_read_for_functions_roles_and_pools() {
    let lambda = format!(
        r#"{{"type":"TOKEN","authorizerUri":"{}","authorizerCredentials":"arn:aws:iam::111111111111:role/admin"}}"#,
        invocation("team-b-auth")
    );
    assert_eq!(
        refused("CreateAuthorizer", "/restapis/a1/authorizers", &lambda),
        "arn:aws:iam::111111111111:role/admin"
    );
    let cognito = r#"{"type":"COGNITO_USER_POOLS","providerARNs":["arn:aws:cognito-idp:us-east-1:111111111111:userpool/us-east-1_TeamA1"]}"#;
    refused("CreateAuthorizer", "/restapis/a1/authorizers", cognito);
    let patch = r#"{"patchOperations":[{"op":"add","path":"/providerARNs","value":"arn:aws:cognito-idp:us-east-1:111111111111:userpool/us-east-1_TeamA1"}]}"#;
    refused("UpdateAuthorizer", "/restapis/a1/authorizers/z", patch);
    let jwt = r#"{"authorizerType":"JWT","jwtConfiguration":{"issuer":"https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TeamA1","audience":["x"]}}"#;
    assert_eq!(
        refused("CreateAuthorizer", "/v2/apis/a1/authorizers", jwt),
        "arn:aws:cognito-idp:us-east-1:111111111111:userpool/us-east-1_TeamA1"
    );
    admitted(
        "CreateAuthorizer",
        "/v2/apis/a1/authorizers",
        &jwt.replace("TeamA1", "TeamB1"),
    );
}

/// A whole OpenAPI document is read to its last line, JSON or YAML.
#[test]
fn documents_are_read_whole() {
    let yaml = format!(
        "openapi: 3.0.1\npaths:\n  /a:\n    get:\n      x-amazon-apigateway-integration:\n        type: aws_proxy\n        uri: {}\n  /b:\n    get:\n      x-amazon-apigateway-integration:\n        type: aws_proxy\n        uri: {}\n",
        invocation("team-b-ok"),
        invocation("team-c-foreign")
    );
    assert_eq!(
        refused("PutRestApi", "/restapis/a1?mode=overwrite", &yaml),
        "arn:aws:lambda:us-east-1:111111111111:function:team-c-foreign"
    );
    let credentials =
        "x-amazon-apigateway-integration:\n  credentials: arn:aws:iam::111111111111:role/admin\n";
    refused("ImportRestApi", "/restapis?mode=import", credentials);
    let pools = r#"{"securitySchemes":{"u":{"x-amazon-apigateway-authorizer":{"providerARNs":["arn:aws:cognito-idp:us-east-1:111111111111:userpool/us-east-1_Other"]}}}}"#;
    refused("PutRestApi", "/restapis/a1", pools);
}

/// The function of a grant is in the path, by name, ARN or escaped ARN.
#[test]
fn grants_are_read_for_the_function_in_their_path() {
    let body = r#"{"Action":"lambda:InvokeFunction","Principal":"apigateway.amazonaws.com","SourceArn":"arn:aws:execute-api:us-east-1:111111111111:a1/*"}"#;
    admitted(
        "AddPermission",
        "/2015-03-31/functions/team-b-fn/policy",
        body,
    );
    assert_eq!(
        refused(
            "AddPermission",
            "/2015-03-31/functions/team-a-fn/policy?Qualifier=live",
            body
        ),
        "arn:aws:lambda:us-east-1:111111111111:function:team-a-fn"
    );
    refused(
        "AddPermission",
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A111111111111%3Afunction%3Ateam-a-fn/policy",
        body,
    );
    // Taking a grant back is never refused: narrowing a list must be able to
    // revoke what became forbidden.
    admitted(
        "RemovePermission",
        "/2015-03-31/functions/team-a-fn/policy/apigw-a1",
        "",
    );
}

/// Certificates and stage variables that hold ARNs are read too.
#[test]
fn certificates_and_stage_variables_are_read() {
    refused(
        "CreateDomainName",
        "/domainnames",
        r#"{"domainName":"api.example.com","regionalCertificateArn":"arn:aws:acm:us-east-1:111111111111:certificate/other"}"#,
    );
    admitted(
        "CreateDomainName",
        "/domainnames",
        r#"{"domainName":"api.example.com","regionalCertificateArn":"arn:aws:acm:us-east-1:111111111111:certificate/team-b-1"}"#,
    );
    refused(
        "UpdateStage",
        "/restapis/a1/stages/prod",
        r#"{"patchOperations":[{"op":"replace","path":"/variables/fn","value":"arn:aws:lambda:us-east-1:111111111111:function:team-a-fn"}]}"#,
    );
}

/// Words that merely contain "arn:" and values the lists do not govern pass.
#[test]
fn other_text_passes() {
    admitted(
        "PutMethod",
        "/restapis/a1/resources/r1/methods/GET",
        r#"{"authorizationType":"NONE","operationName":"warn:me"}"#,
    );
    admitted(
        "CreateDeployment",
        "/restapis/a1/deployments",
        r#"{"description":"arn:aws:execute-api:us-east-1:111111111111:a1"}"#,
    );
}

/// Without a binding nothing is restricted; but a write with no rule is refused
/// whoever makes it.
#[test]
fn unknown_writes_are_refused_and_unbound_ones_pass() {
    let body = format!(r#"{{"uri":"{}"}}"#, invocation("anything"));
    assert!(judge(None, "PutIntegration", METHOD, body.as_bytes()).is_ok());
    assert!(matches!(
        judge(None, "CreateVpcLink", "/vpclinks", b"{}"),
        Err(Refusal::NoRule(op)) if op == "CreateVpcLink"
    ));
}

#[test]
fn every_rule_is_a_write() {
    for (op, _) in RULES {
        assert!(is_mutating(op), "{op} has a gate rule but is not a write");
    }
}

/// The gate sits in the SDK clients themselves: a refused write fails before any
/// byte leaves (the endpoint here is a closed port, so a sent request would fail
/// as unreachable instead), an allowed one goes on to the network, and a write
/// made on a client directly, outside `Aws::call`, is refused.
#[tokio::test]
async fn the_sdk_clients_carry_the_gate() {
    let aws = Aws::for_tests("http://127.0.0.1:9")
        .await
        .gated(team_b().access);
    let put = |function: &'static str| {
        let aws = aws.clone();
        async move {
            aws.call(Service::ApiGateway, "PutIntegration", "GET /a", || {
                aws.apigateway
                    .put_integration()
                    .rest_api_id("a1")
                    .resource_id("r1")
                    .http_method("GET")
                    .r#type(aws_sdk_apigateway::types::IntegrationType::AwsProxy)
                    .integration_http_method("POST")
                    .uri(invocation(function))
                    .send()
            })
            .await
        }
    };
    let err = put("team-a-fn").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotAllowed, "{err}");
    assert!(err.message.contains("team-a-fn"), "{err}");
    assert!(err.message.contains("team-b"), "{err}");
    let err = put("team-b-fn").await.unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::Transient,
        "sent to the closed port: {err}"
    );
    assert_eq!(
        aws.stats.calls_of("PutIntegration"),
        1,
        "only the sent one counts"
    );

    let direct = aws
        .apigateway
        .delete_rest_api()
        .rest_api_id("a1")
        .send()
        .await
        .unwrap_err();
    let text = crate::aws::AwsError::from_sdk("apigateway", "DeleteRestApi", "a1", direct).message;
    assert!(
        text.contains("not made through the operator's AWS facade"),
        "{text}"
    );
}

/// ObserveOnly stops writes at the same gate and notes each once.
#[tokio::test]
async fn observe_only_writes_are_noted_once_and_not_sent() {
    let planned: Arc<Mutex<Vec<String>>> = Arc::default();
    let aws = Aws::for_tests("http://127.0.0.1:9")
        .await
        .observe_only(planned.clone());
    for _ in 0..2 {
        let err = aws
            .call(Service::ApiGateway, "DeleteRestApi", "REST API a1", || {
                aws.apigateway.delete_rest_api().rest_api_id("a1").send()
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Withheld);
    }
    assert_eq!(
        *planned.lock().unwrap(),
        vec!["DeleteRestApi REST API a1 (withheld)".to_string()]
    );
    assert_eq!(aws.stats.calls_of("DeleteRestApi"), 0);
}
