//! Planning for `Authorizer`: the API Gateway authorizer settings a spec asks for,
//! and the patch that converges an existing authorizer in place. An authorizer is
//! patched rather than replaced because methods refer to it by id.

use std::collections::BTreeSet;

use super::PatchOp;
use super::lambda::{FunctionRef, InvalidFunctionRef};
use crate::api::authorizer::{AuthorizerSpec, LambdaAuthorizerType};

/// Where the identity comes from when the spec does not say; a bearer token in the
/// `Authorization` header is what Cognito and TOKEN authorizers read.
pub const DEFAULT_IDENTITY_SOURCE: &str = "method.request.header.Authorization";
/// What API Gateway reports when an authorizer has no TTL set.
pub const AWS_DEFAULT_RESULT_TTL: i32 = 300;

/// The settings of an authorizer that the operator converges, desired or observed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthorizerSettings {
    pub name: String,
    /// `TOKEN`, `REQUEST` or `COGNITO_USER_POOLS`.
    pub type_: String,
    /// User pool ARNs (Cognito only).
    pub provider_arns: BTreeSet<String>,
    /// Lambda invocation URI (TOKEN and REQUEST only).
    pub authorizer_uri: Option<String>,
    /// Role API Gateway assumes to invoke the Lambda authorizer.
    pub authorizer_credentials: Option<String>,
    /// Empty means none, which only a REQUEST authorizer without caching may have.
    pub identity_source: String,
    pub identity_validation_expression: Option<String>,
    pub result_ttl: i32,
}

/// An authorizer as read from AWS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedAuthorizer {
    pub id: String,
    pub settings: AuthorizerSettings,
}

/// A spec the operator cannot turn into authorizer settings. Terminal: the user must
/// fix the spec (the CRD's rules reject these, so they mean the rules were bypassed).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthorizerSpecError {
    #[error("set exactly one authorizer kind: cognito or lambda")]
    KindNotExactlyOne,
    #[error("spec.lambda.functionName: {0}")]
    Function(#[from] InvalidFunctionRef),
    #[error(
        "spec.cognito.userPools: {0:?} is not a user pool id (us-east-1_AbCdEf123) or user pool ARN"
    )]
    UserPool(String),
}

/// Desired settings from the spec. `partition`, `region` and `account` are the
/// operator's: they complete function names and user pool ids into ARNs.
pub fn desired_authorizer(
    spec: &AuthorizerSpec,
    object_name: &str,
    partition: &str,
    region: &str,
    account: &str,
) -> Result<AuthorizerSettings, AuthorizerSpecError> {
    let name = spec
        .authorizer_name
        .clone()
        .unwrap_or_else(|| object_name.to_string());
    let common = |type_: &str, identity_source: String| AuthorizerSettings {
        name: name.clone(),
        type_: type_.to_string(),
        identity_source,
        identity_validation_expression: spec.identity_validation_expression.clone(),
        result_ttl: spec.result_ttl_seconds,
        ..AuthorizerSettings::default()
    };
    let given_or_default = || {
        spec.identity_source
            .clone()
            .unwrap_or_else(|| DEFAULT_IDENTITY_SOURCE.to_string())
    };
    match (&spec.cognito, &spec.lambda) {
        (Some(cognito), None) => {
            let provider_arns = cognito
                .user_pools
                .iter()
                .map(|pool| user_pool_arn(pool, partition, account))
                .collect::<Result<_, _>>()?;
            Ok(AuthorizerSettings {
                provider_arns,
                ..common("COGNITO_USER_POOLS", given_or_default())
            })
        }
        (None, Some(lambda)) => {
            let function = FunctionRef::parse(&lambda.function_name)?;
            let (type_, identity_source) = match lambda.type_ {
                LambdaAuthorizerType::Token => ("TOKEN", given_or_default()),
                // The CRD requires identitySource for a caching REQUEST authorizer;
                // without caching, none means the function sees every request, which
                // a default header would silently turn into 401s for requests without it.
                LambdaAuthorizerType::Request => {
                    ("REQUEST", spec.identity_source.clone().unwrap_or_default())
                }
            };
            Ok(AuthorizerSettings {
                authorizer_uri: Some(function.invocation_uri(partition, region, account)),
                authorizer_credentials: lambda.credentials_role_arn.clone(),
                ..common(type_, identity_source)
            })
        }
        _ => Err(AuthorizerSpecError::KindNotExactlyOne),
    }
}

/// The function a Lambda authorizer needs a resource-based invoke permission on:
/// None for Cognito and for authorizers that invoke through a credentials role.
pub fn authorizer_permission_function(
    spec: &AuthorizerSpec,
) -> Result<Option<FunctionRef>, AuthorizerSpecError> {
    match &spec.lambda {
        Some(lambda) if lambda.credentials_role_arn.is_none() => {
            Ok(Some(FunctionRef::parse(&lambda.function_name)?))
        }
        _ => Ok(None),
    }
}

/// A user pool id (`us-east-1_AbCdEf123`) or ARN, as the pool's ARN. A pool id
/// carries its region as prefix but not its account, which is the operator's.
pub fn user_pool_arn(
    pool_id_or_arn: &str,
    partition: &str,
    account: &str,
) -> Result<String, AuthorizerSpecError> {
    let invalid = || AuthorizerSpecError::UserPool(pool_id_or_arn.to_string());
    if pool_id_or_arn.starts_with("arn:") {
        user_pool_id(pool_id_or_arn).ok_or_else(invalid)?;
        return Ok(pool_id_or_arn.to_string());
    }
    let region = user_pool_region(pool_id_or_arn).ok_or_else(invalid)?;
    Ok(format!(
        "arn:{partition}:cognito-idp:{region}:{account}:userpool/{pool_id_or_arn}"
    ))
}

/// The pool id of a pool id or pool ARN; None when it is neither.
pub fn user_pool_id(pool_id_or_arn: &str) -> Option<&str> {
    let id = if pool_id_or_arn.starts_with("arn:") {
        let fields: Vec<&str> = pool_id_or_arn.splitn(6, ':').collect();
        let ["arn", _, "cognito-idp", region, account, resource] = fields.as_slice() else {
            return None;
        };
        let id = resource.strip_prefix("userpool/")?;
        if account.len() != 12
            || !account.bytes().all(|b| b.is_ascii_digit())
            || user_pool_region(id) != Some(*region)
        {
            return None;
        }
        id
    } else {
        pool_id_or_arn
    };
    user_pool_region(id).map(|_| id)
}

/// The region a pool id names as its prefix: `us-east-1` of `us-east-1_AbCdEf123`.
pub fn user_pool_region(pool_id: &str) -> Option<&str> {
    let (region, suffix) = pool_id.split_once('_')?;
    let region_ok = !region.is_empty()
        && region.contains('-')
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let suffix_ok = !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_alphanumeric());
    (region_ok && suffix_ok).then_some(region)
}

/// Which observed authorizer is this object's: the one with the id recorded in
/// status, else the one with the desired name. Authorizers cannot be tagged, so the
/// name is how one created just before a crash (id never written to status) is
/// found again instead of duplicated.
pub fn find_observed<'a>(
    desired_name: &str,
    known_id: Option<&str>,
    observed: &'a [ObservedAuthorizer],
) -> Option<&'a ObservedAuthorizer> {
    known_id
        .and_then(|id| observed.iter().find(|a| a.id == id))
        .or_else(|| observed.iter().find(|a| a.settings.name == desired_name))
}

/// The fields that differ, as UpdateAuthorizer patch operations. Cleared optional
/// fields are replaced with "", as API Gateway clears strings. Provider ARNs are
/// added and removed one by one, removals first so a pool swap never leaves the
/// authorizer with none.
pub fn authorizer_patch_operations(
    desired: &AuthorizerSettings,
    observed: &AuthorizerSettings,
) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    if desired.name != observed.name {
        ops.push(PatchOp::replace("/name", &desired.name));
    }
    if desired.type_ != observed.type_ {
        ops.push(PatchOp::replace("/type", &desired.type_));
    }
    if desired.authorizer_uri != observed.authorizer_uri {
        ops.push(PatchOp::replace(
            "/authorizerUri",
            desired.authorizer_uri.clone().unwrap_or_default(),
        ));
    }
    if desired.authorizer_credentials != observed.authorizer_credentials {
        ops.push(PatchOp::replace(
            "/authorizerCredentials",
            desired.authorizer_credentials.clone().unwrap_or_default(),
        ));
    }
    for gone in observed.provider_arns.difference(&desired.provider_arns) {
        ops.push(PatchOp::remove("/providerARNs", Some(gone.clone())));
    }
    for new in desired.provider_arns.difference(&observed.provider_arns) {
        ops.push(PatchOp::add("/providerARNs", Some(new.clone())));
    }
    if !identity_sources_equal(&desired.identity_source, &observed.identity_source) {
        ops.push(PatchOp::replace(
            "/identitySource",
            &desired.identity_source,
        ));
    }
    if desired.identity_validation_expression != observed.identity_validation_expression {
        ops.push(PatchOp::replace(
            "/identityValidationExpression",
            desired
                .identity_validation_expression
                .clone()
                .unwrap_or_default(),
        ));
    }
    if desired.result_ttl != observed.result_ttl {
        ops.push(PatchOp::replace(
            "/authorizerResultTtlInSeconds",
            desired.result_ttl.to_string(),
        ));
    }
    ops
}

/// A REQUEST authorizer's sources are a comma-separated list; spacing around the
/// commas is not meaningful, so `a, b` written and `a,b` read back must converge.
fn identity_sources_equal(a: &str, b: &str) -> bool {
    let parts = |s: &str| -> Vec<String> {
        s.split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect()
    };
    parts(a) == parts(b)
}

#[cfg(test)]
mod tests {
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
        let d = desired(
            "{restApiRef: {name: p}, cognito: {userPools: [us-east-1_new, us-east-1_keep]}}",
        );
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
                    Some(
                        "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_old".into()
                    )
                ),
                PatchOp::add(
                    "/providerARNs",
                    Some(
                        "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_new".into()
                    )
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
}
