//! `Authorizer`: a Cognito user-pool or Lambda authorizer on a `RestApi`.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, DeletionPolicy, LocalObjectReference};

/// An authorizer that Routes of the same RestApi refer to.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "apigw.rs",
    version = "v1alpha1",
    kind = "Authorizer",
    doc = "A Cognito user-pool or Lambda authorizer of a RestApi, converged by apigw-operator.",
    namespaced,
    status = "AuthorizerStatus",
    shortname = "authz",
    category = "apigw",
    selectable = ".spec.restApiRef.name",
    printcolumn(name = "API", type_ = "string", json_path = ".spec.restApiRef.name"),
    printcolumn(
        name = "Authorizer-ID",
        type_ = "string",
        json_path = ".status.authorizerId"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.cognito) != has(self.lambda)",
     "message": "set exactly one authorizer kind: cognito or lambda"},
    {"rule": "self.restApiRef == oldSelf.restApiRef",
     "message": "restApiRef cannot change: create a new Authorizer for the other API"},
    {"rule": "!has(self.lambda) || !has(self.lambda.type) || self.lambda.type == 'TOKEN' || !has(self.identityValidationExpression)",
     "message": "identityValidationExpression only applies to TOKEN authorizers"},
    {"rule": "!has(self.lambda) || (has(self.lambda.type) && self.lambda.type == 'TOKEN') || (has(self.resultTtlSeconds) && self.resultTtlSeconds == 0) || has(self.identitySource)",
     "message": "a REQUEST authorizer with caching (resultTtlSeconds > 0) needs identitySource"}
]))]
pub struct AuthorizerSpec {
    /// The RestApi this authorizer belongs to. Cannot change.
    pub rest_api_ref: LocalObjectReference,

    /// Name of the authorizer in AWS. Defaults to the object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub authorizer_name: Option<String>,

    /// Validate Cognito user-pool JWTs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cognito: Option<CognitoAuthorizer>,

    /// Call a Lambda function to authorize.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<LambdaAuthorizer>,

    /// Where the identity is read from, for example `method.request.header.Authorization`
    /// (the default) or, for REQUEST authorizers, a comma-separated list of sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^(method\\\\.request\\\\.(header|querystring|multivalueheader|multivaluequerystring)\\\\.[A-Za-z0-9._$-]+|stageVariables\\\\.[A-Za-z0-9_]+|context\\\\.[A-Za-z0-9._]+)( *, *(method\\\\.request\\\\.(header|querystring|multivalueheader|multivaluequerystring)\\\\.[A-Za-z0-9._$-]+|stageVariables\\\\.[A-Za-z0-9_]+|context\\\\.[A-Za-z0-9._]+))*$')",
        "message": "identitySource must be method.request.header.NAME, method.request.querystring.NAME, stageVariables.NAME or context.NAME (comma-separated for REQUEST)"
    }]))]
    pub identity_source: Option<String>,

    /// Regular expression the token must match before the authorizer runs (TOKEN and Cognito).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub identity_validation_expression: Option<String>,

    /// Seconds API Gateway caches the authorizer's answer (0 to 3600). Defaults to 300.
    #[serde(default = "default_ttl")]
    #[schemars(range(min = 0, max = 3600))]
    pub result_ttl_seconds: i32,

    /// What to do with the authorizer in AWS when this object is deleted: Delete (default) or Retain.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

fn default_ttl() -> i32 {
    300
}

/// Cognito user pools whose tokens are accepted.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CognitoAuthorizer {
    /// User pools by id (`us-east-1_AbCdEf123`) or ARN. The operator checks each exists.
    #[schemars(length(min = 1, max = 20), inner(length(max = 256)), extend("x-kubernetes-list-type" = "set"))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(p, p.matches('^(arn:aws[a-zA-Z-]*:cognito-idp:[a-z0-9-]+:[0-9]{12}:userpool/)?[a-z]{2}(-[a-z]+)+-[0-9]_[A-Za-z0-9]+$'))",
        "message": "each user pool must be a pool id like us-east-1_AbCdEf123 or a user pool ARN"
    }]))]
    pub user_pools: Vec<String>,
}

/// Lambda authorizer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LambdaAuthorizer {
    /// Function name, name:alias or function ARN.
    #[schemars(length(min = 1, max = 170))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$')",
        "message": "functionName must be a Lambda function name, name:alias, name:version or function ARN"
    }]))]
    pub function_name: String,
    /// TOKEN (a bearer token from one header) or REQUEST (headers, query, stage variables, context).
    #[serde(default, rename = "type")]
    pub type_: LambdaAuthorizerType,
    /// Role API Gateway assumes to invoke the function; omitted means a resource-based
    /// permission on the function, which the operator grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_role_arn: Option<String>,
}

/// Kind of Lambda authorizer.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum LambdaAuthorizerType {
    #[default]
    Token,
    Request,
}

/// What the operator observed and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerStatus {
    /// The `metadata.generation` the operator last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Id of the authorizer in AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_id: Option<String>,
    /// Id of the REST API it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest_api_id: Option<String>,
    /// Standard conditions; `Ready` says whether the authorizer is in effect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}
