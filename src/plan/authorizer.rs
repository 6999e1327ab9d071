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
#[path = "authorizer_tests.rs"]
mod tests;
