use super::*;

const FN_URI: &str = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:authz/invocations";

fn spec(yaml: &str) -> AuthorizerSpec {
    serde_yaml::from_str(yaml).expect("test spec parses")
}

fn desired(yaml: &str) -> AuthorizerSettings {
    desired_authorizer(&spec(yaml), "users", "aws", "us-east-1", "123456789012")
        .expect("test spec is valid")
}

/// A Cognito authorizer: pool ids become ARNs in the pool's own region, the
/// default identity source and TTL apply, and the name is the object's.
#[test]
fn cognito_pools_become_arns() {
    let d = desired(
        "{restApiRef: {name: photos}, cognito: {userPools: [us-east-1_AbCdEf123, eu-west-1_Xyz, 'arn:aws:cognito-idp:us-west-2:210987654321:userpool/us-west-2_Q1']}}",
    );
    assert_eq!(
        d,
        AuthorizerSettings {
            name: "users".into(),
            type_: "COGNITO_USER_POOLS".into(),
            provider_arns: BTreeSet::from([
                "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbCdEf123"
                    .to_string(),
                "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Xyz".to_string(),
                "arn:aws:cognito-idp:us-west-2:210987654321:userpool/us-west-2_Q1".to_string(),
            ]),
            authorizer_uri: None,
            authorizer_credentials: None,
            identity_source: DEFAULT_IDENTITY_SOURCE.into(),
            identity_validation_expression: None,
            result_ttl: 300,
        }
    );
}

/// A TOKEN authorizer calls its function through a Lambda invocation URI and keeps
/// the spec's name, identity settings, TTL and role.
#[test]
fn token_authorizer_uses_the_invocation_uri() {
    let d = desired(
        r#"{restApiRef: {name: photos}, authorizerName: jwt, lambda: {functionName: authz, credentialsRoleArn: "arn:aws:iam::123456789012:role/invoke"},
                identitySource: method.request.header.X-Token, identityValidationExpression: '^Bearer .+$', resultTtlSeconds: 60}"#,
    );
    assert_eq!(
        d,
        AuthorizerSettings {
            name: "jwt".into(),
            type_: "TOKEN".into(),
            provider_arns: BTreeSet::new(),
            authorizer_uri: Some(FN_URI.into()),
            authorizer_credentials: Some("arn:aws:iam::123456789012:role/invoke".into()),
            identity_source: "method.request.header.X-Token".into(),
            identity_validation_expression: Some("^Bearer .+$".into()),
            result_ttl: 60,
        }
    );
}

/// A REQUEST authorizer without caching and without identitySource has no identity
/// source (the function sees every request); with one, it keeps it as written.
#[test]
fn request_authorizer_identity_source_is_not_defaulted() {
    let none = desired(
        "{restApiRef: {name: photos}, lambda: {functionName: 'authz:live', type: REQUEST}, resultTtlSeconds: 0}",
    );
    assert_eq!(none.type_, "REQUEST");
    assert_eq!(none.identity_source, "");
    assert_eq!(none.result_ttl, 0);
    assert_eq!(
        none.authorizer_uri.as_deref(),
        Some(
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:authz:live/invocations"
        )
    );
    let some = desired(
        "{restApiRef: {name: photos}, lambda: {functionName: authz, type: REQUEST}, identitySource: 'method.request.header.A, context.sourceIp'}",
    );
    assert_eq!(
        some.identity_source,
        "method.request.header.A, context.sourceIp"
    );
}

/// Specs the CRD would reject are errors, never panics or half-filled settings.
#[test]
fn invalid_specs_are_errors() {
    let err = |yaml: &str| {
        desired_authorizer(&spec(yaml), "u", "aws", "us-east-1", "123456789012").unwrap_err()
    };
    assert_eq!(
        err("{restApiRef: {name: p}}"),
        AuthorizerSpecError::KindNotExactlyOne
    );
    assert_eq!(
        err("{restApiRef: {name: p}, cognito: {userPools: [a_b]}, lambda: {functionName: f}}"),
        AuthorizerSpecError::KindNotExactlyOne
    );
    assert!(matches!(
        err("{restApiRef: {name: p}, lambda: {functionName: 'a:b:c'}}"),
        AuthorizerSpecError::Function(_)
    ));
    for pool in [
        "nounderscore",
        "us-east-1_",
        "_abc",
        "useast1_abc",
        "arn:aws:cognito-idp:us-east-1:123456789012:userpool/eu-west-1_abc",
        "arn:aws:cognito-idp:us-east-1:123:userpool/us-east-1_abc",
        "arn:aws:s3:us-east-1:123456789012:userpool/us-east-1_abc",
    ] {
        assert_eq!(
            err(&format!(
                "{{restApiRef: {{name: p}}, cognito: {{userPools: ['{pool}']}}}}"
            )),
            AuthorizerSpecError::UserPool(pool.into()),
            "{pool}"
        );
    }
}

/// Pool ids and ARNs yield the id DescribeUserPool takes and the region it lives in.
#[test]
fn user_pool_ids_and_regions() {
    assert_eq!(user_pool_id("us-east-1_AbC"), Some("us-east-1_AbC"));
    assert_eq!(
        user_pool_id("arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_X9"),
        Some("eu-west-1_X9")
    );
    assert_eq!(
        user_pool_id("arn:aws:cognito-idp:eu-west-1:123456789012:pool/x"),
        None
    );
    assert_eq!(
        user_pool_region("ap-southeast-2_abc"),
        Some("ap-southeast-2")
    );
    assert_eq!(user_pool_region("us-gov-west-1_abc"), Some("us-gov-west-1"));
    assert_eq!(user_pool_region("us-east-1_a-b"), None);
}

/// Only a Lambda authorizer without a credentials role needs a resource-based permission.
#[test]
fn permission_function_only_without_role() {
    let f = |yaml: &str| authorizer_permission_function(&spec(yaml)).unwrap();
    assert_eq!(
        f("{restApiRef: {name: p}, lambda: {functionName: 'authz:live'}}"),
        Some(FunctionRef::parse("authz:live").unwrap())
    );
    assert_eq!(
        f(
            "{restApiRef: {name: p}, lambda: {functionName: authz, credentialsRoleArn: 'arn:aws:iam::123456789012:role/r'}}"
        ),
        None
    );
    assert_eq!(
        f("{restApiRef: {name: p}, cognito: {userPools: [us-east-1_a]}}"),
        None
    );
}

/// A converged authorizer plans nothing: the resync costs no writes, including when
/// AWS reports a REQUEST identity-source list with different spacing.
#[test]
fn converged_authorizer_plans_nothing() {
    for yaml in [
        "{restApiRef: {name: p}, cognito: {userPools: [us-east-1_a, us-east-1_b]}, identityValidationExpression: x}",
        "{restApiRef: {name: p}, lambda: {functionName: authz, credentialsRoleArn: 'arn:aws:iam::123456789012:role/r'}}",
        "{restApiRef: {name: p}, lambda: {functionName: authz, type: REQUEST}, resultTtlSeconds: 0}",
    ] {
        let d = desired(yaml);
        assert_eq!(
            authorizer_patch_operations(&d, &d.clone()),
            vec![],
            "{yaml}"
        );
    }
    let d = desired(
        "{restApiRef: {name: p}, lambda: {functionName: authz, type: REQUEST}, identitySource: 'method.request.header.A, context.sourceIp'}",
    );
    let observed = AuthorizerSettings {
        identity_source: "method.request.header.A,context.sourceIp".into(),
        ..d.clone()
    };
    assert_eq!(authorizer_patch_operations(&d, &observed), vec![]);
}

/// Every changed scalar is one replace, with API Gateway's paths; cleared optional
/// fields are replaced with "".
#[test]
fn changed_fields_become_replaces() {
    let d = desired(
        "{restApiRef: {name: p}, authorizerName: new, lambda: {functionName: authz}, identitySource: method.request.header.X, resultTtlSeconds: 10}",
    );
    let observed = AuthorizerSettings {
        name: "old".into(),
        type_: "REQUEST".into(),
        authorizer_uri: Some("arn:old".into()),
        authorizer_credentials: Some("arn:aws:iam::123456789012:role/r".into()),
        identity_source: DEFAULT_IDENTITY_SOURCE.into(),
        identity_validation_expression: Some("x".into()),
        result_ttl: 300,
        provider_arns: BTreeSet::new(),
    };
    assert_eq!(
        authorizer_patch_operations(&d, &observed),
        vec![
            PatchOp::replace("/name", "new"),
            PatchOp::replace("/type", "TOKEN"),
            PatchOp::replace("/authorizerUri", FN_URI),
            PatchOp::replace("/authorizerCredentials", ""),
            PatchOp::replace("/identitySource", "method.request.header.X"),
            PatchOp::replace("/identityValidationExpression", ""),
            PatchOp::replace("/authorizerResultTtlInSeconds", "10"),
        ]
    );
}

/// Pools are swapped one ARN at a time, removals first.
#[test]
fn provider_arns_are_added_and_removed_individually() {
    let d =
        desired("{restApiRef: {name: p}, cognito: {userPools: [us-east-1_new, us-east-1_keep]}}");
    let observed = AuthorizerSettings {
        provider_arns: BTreeSet::from([
            "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_keep".to_string(),
            "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_old".to_string(),
        ]),
        ..d.clone()
    };
    assert_eq!(
        authorizer_patch_operations(&d, &observed),
        vec![
            PatchOp::remove(
                "/providerARNs",
                Some("arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_old".into())
            ),
            PatchOp::add(
                "/providerARNs",
                Some("arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_new".into())
            ),
        ]
    );
}

/// Cognito -> Lambda in place (methods keep the id): pools leave, the URI arrives.
#[test]
fn kind_change_is_patched_in_place() {
    let cognito = desired("{restApiRef: {name: p}, cognito: {userPools: [us-east-1_a]}}");
    let lambda = desired("{restApiRef: {name: p}, lambda: {functionName: authz}}");
    assert_eq!(
        authorizer_patch_operations(&lambda, &cognito),
        vec![
            PatchOp::replace("/type", "TOKEN"),
            PatchOp::replace("/authorizerUri", FN_URI),
            PatchOp::remove(
                "/providerARNs",
                Some("arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_a".into())
            ),
        ]
    );
}

/// The id in status wins; without one, the name finds an authorizer created
/// before a crash, so it is not created twice.
#[test]
fn observed_authorizer_is_found_by_id_then_name() {
    let a = |id: &str, name: &str| ObservedAuthorizer {
        id: id.into(),
        settings: AuthorizerSettings {
            name: name.into(),
            ..AuthorizerSettings::default()
        },
    };
    let all = [a("id1", "users"), a("id2", "renamed")];
    assert_eq!(find_observed("users", Some("id2"), &all), Some(&all[1]));
    assert_eq!(find_observed("users", None, &all), Some(&all[0]));
    assert_eq!(find_observed("users", Some("gone"), &all), Some(&all[0]));
    assert_eq!(find_observed("nobody", Some("gone"), &all), None);
}
