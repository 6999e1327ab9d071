//! `WebSocketApi`: one Amazon API Gateway WebSocket API (v2) with its routes,
//! their Lambda integrations, route responses and Lambda REQUEST authorizers.
//! Stages are `Stage` objects with `webSocketApiRef`.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, DeletionPolicy, Tags, free_form_object};
use super::rest_api::{ApiKeySource, LambdaPermissionGrant};

/// The route selection expression most WebSocket APIs use: `{"action": "subscribe", ...}`.
pub const DEFAULT_ROUTE_SELECTION: &str = "$request.body.action";

/// A WebSocket API in Amazon API Gateway. Its routes are part of the spec because a
/// WebSocket API is one message protocol: route keys are values of one field the
/// route selection expression picks out of each message, served together.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "apigw.rs",
    version = "v1alpha1",
    kind = "WebSocketApi",
    doc = "A WebSocket API in Amazon API Gateway with its routes and authorizers, converged by apigw-operator.",
    namespaced,
    status = "WebSocketApiStatus",
    shortname = "wsapi",
    category = "apigw",
    printcolumn(name = "API-ID", type_ = "string", json_path = ".status.apiId"),
    printcolumn(name = "Routes", type_ = "integer", json_path = ".status.routeCount"),
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
    printcolumn(name = "Endpoint", type_ = "string", json_path = ".status.apiEndpoint"),
    printcolumn(
        name = "Account",
        type_ = "string",
        json_path = ".status.accountId",
        priority = 1
    ),
    printcolumn(
        name = "Region",
        type_ = "string",
        json_path = ".status.region",
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
    {
        "rule": "has(self.apiId) == has(oldSelf.apiId) && (!has(self.apiId) || self.apiId == oldSelf.apiId)",
        "message": "apiId cannot be added, removed or changed after creation: create a new WebSocketApi object to adopt another API"
    },
    {
        "rule": "!has(self.adoptOrphaned) || !self.adoptOrphaned || has(self.apiId)",
        "message": "adoptOrphaned needs apiId: it says whether the API of that id may be taken over"
    },
    {
        "rule": "!has(self.routes) || self.routes.all(r, !has(r.authorizer) || (has(self.authorizers) && self.authorizers.exists(a, a.name == r.authorizer)))",
        "message": "a route's authorizer must name an entry of spec.authorizers"
    },
    {
        "rule": "!has(self.apiKeySource) || self.apiKeySource != 'AUTHORIZER' || !has(self.routes) || self.routes.all(r, !has(r.apiKeyRequired) || !r.apiKeyRequired || has(r.authorizer))",
        "message": "with apiKeySource AUTHORIZER the API key comes from the authorizer: a route with apiKeyRequired needs an authorizer"
    }
]))]
pub struct WebSocketApiSpec {
    /// Region and management policy (fields `region`, `managementPolicy`).
    #[serde(flatten)]
    pub tenant: crate::api::common::TenantSpec,

    /// Name of the API in AWS. Defaults to the object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub api_name: Option<String>,

    /// Description shown in the API Gateway console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,

    /// Which part of each incoming message picks the route, for example
    /// `$request.body.action` (the default): `{"action": "subscribe"}` goes to route
    /// `subscribe`. Messages that match no route key go to `$default`.
    #[serde(default = "default_route_selection")]
    #[schemars(length(min = 1, max = 256))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^\\\\$request\\\\.body\\\\.[A-Za-z0-9_.]+$') || (self.contains('${request.body.') && self.matches('^([^$]|\\\\$\\\\{request\\\\.body\\\\.[A-Za-z0-9_.]+\\\\})+$'))",
        "message": "routeSelectionExpression must select a field of the message body: $request.body.FIELD, or a template such as ${request.body.type}-${request.body.action}"
    }]))]
    pub route_selection_expression: String,

    /// Where API keys are read from on `$connect` routes with `apiKeyRequired`:
    /// HEADER (the `x-api-key` header, the default) or AUTHORIZER (the
    /// `usageIdentifierKey` the Lambda authorizer returns).
    #[serde(default)]
    pub api_key_source: ApiKeySource,

    /// Turn off the default `execute-api` endpoint, so clients must use a custom domain name.
    #[serde(default)]
    pub disable_execute_api_endpoint: bool,

    /// Lambda REQUEST authorizers the `$connect` route may use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub authorizers: Vec<WebSocketAuthorizer>,

    /// Routes: `$connect`, `$disconnect`, `$default` and custom route keys, each
    /// integrated with a Lambda function.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["routeKey"]))]
    pub routes: Vec<WebSocketRoute>,

    /// Tags on the API. The operator adds `apigw.rs/*` tags of its own to find the API again.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    #[schemars(extend("maxProperties" = 40))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self.all(k, !k.startsWith('aws:') && !k.startsWith('apigw.rs/'))",
         "message": "tag keys starting with 'aws:' or 'apigw.rs/' are reserved"},
        {"rule": "self.all(k, size(k) <= 128 && size(self[k]) <= 256)",
         "message": "tag keys are at most 128 characters and values at most 256"}
    ]))]
    pub tags: Tags,

    /// Adopt an existing WebSocket API with this id instead of creating one. Set it
    /// when the object is created; it cannot change afterwards. Routes and
    /// authorizers the spec names become the operator's; other routes of the API
    /// are left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[a-z0-9]{6,16}$')",
        "message": "apiId must be an API Gateway v2 API id: lower-case letters and digits, for example a1b2c3d4e5"
    }]))]
    pub api_id: Option<String>,

    /// Adopt the API named by `apiId` even though its owner tags name an object that
    /// no longer exists (an API left behind with `deletionPolicy: Retain`). An API
    /// another live object manages is never adopted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt_orphaned: bool,

    /// What to do with the API in AWS when this object is deleted: Delete or Retain.
    /// Unset: an API the operator created is deleted, an adopted one is retained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
}

fn default_route_selection() -> String {
    DEFAULT_ROUTE_SELECTION.to_string()
}

/// One route of a WebSocket API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.routeKey == '$connect' || !has(self.authorizer)",
     "message": "only the $connect route can have an authorizer: API Gateway authorizes a WebSocket client once, when it connects"},
    {"rule": "self.routeKey == '$connect' || !has(self.apiKeyRequired) || !self.apiKeyRequired",
     "message": "only the $connect route can require an API key"},
    {"rule": "!(self.routeKey in ['$connect', '$disconnect']) || !has(self.twoWay) || !self.twoWay",
     "message": "twoWay does not apply to $connect and $disconnect: there is no open connection to answer on"}
]))]
pub struct WebSocketRoute {
    /// `$connect`, `$disconnect`, `$default`, or a value of the route selection
    /// expression such as `subscribe`. Keys starting with `$` are reserved.
    #[schemars(length(min = 1, max = 128))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "!self.startsWith('$') || self in ['$connect', '$disconnect', '$default']",
        "message": "route keys starting with $ are reserved: use $connect, $disconnect, $default, or a key without $"
    }]))]
    pub route_key: String,

    /// The Lambda function that handles the route: name (`notify`), name with alias
    /// or version (`notify:live`), or function ARN. API Gateway is granted permission
    /// to invoke it.
    #[schemars(length(min = 1, max = 170))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$')",
        "message": "functionName must be a Lambda function name, name:alias, name:version or function ARN"
    }]))]
    pub function_name: String,

    /// Integration timeout in milliseconds (50 to 29000). Defaults to 29000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 50, max = 29000))]
    pub timeout_millis: Option<i32>,

    /// Name of an entry of `spec.authorizers` that authorizes connections ($connect only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub authorizer: Option<String>,

    /// Clients must send an API key of a usage plan to connect ($connect only).
    #[serde(default)]
    pub api_key_required: bool,

    /// Send the function's return value back to the client over the connection
    /// (a route response). Without it the route is one-way: the backend answers, if
    /// at all, through the `@connections` callback URL.
    #[serde(default)]
    pub two_way: bool,
}

/// A Lambda REQUEST authorizer of a WebSocket API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.cognito)",
     "message": "API Gateway offers no Cognito user-pool authorizer for WebSocket APIs: use lambda (a REQUEST authorizer) that verifies the Cognito token, passed for example in the query string (route.request.querystring.token)"},
    {"rule": "!has(self.jwt)",
     "message": "API Gateway offers no JWT authorizer for WebSocket APIs (only HTTP APIs have one): use lambda (a REQUEST authorizer) that verifies the token"},
    {"rule": "has(self.lambda)",
     "message": "set lambda: WebSocket APIs take Lambda REQUEST authorizers only"}
]))]
pub struct WebSocketAuthorizer {
    /// Name of the authorizer, which routes refer to; also its name in AWS.
    #[schemars(length(min = 1, max = 128))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[A-Za-z0-9_-]+$')",
        "message": "authorizer names may contain only letters, digits, '-' and '_'"
    }]))]
    pub name: String,

    /// The Lambda REQUEST authorizer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<WebSocketLambdaAuthorizer>,

    /// Not available for WebSocket APIs; present only to refuse it with a clear message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub cognito: Option<serde_json::Value>,

    /// Not available for WebSocket APIs; present only to refuse it with a clear message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub jwt: Option<serde_json::Value>,
}

/// The function and identity sources of a REQUEST authorizer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebSocketLambdaAuthorizer {
    /// Function name, name:alias or function ARN.
    #[schemars(length(min = 1, max = 170))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$')",
        "message": "functionName must be a Lambda function name, name:alias, name:version or function ARN"
    }]))]
    pub function_name: String,

    /// Request parts that must be present for the authorizer to be called, for example
    /// `route.request.querystring.token` or `route.request.header.Authorization`.
    #[schemars(length(min = 1, max = 10), inner(length(max = 256)))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(s, s.matches('^(route\\\\.request\\\\.(header|querystring)\\\\.[A-Za-z0-9._$-]+|stageVariables\\\\.[A-Za-z0-9_]+|context\\\\.[A-Za-z0-9._]+)$'))",
        "message": "each identity source must be route.request.header.NAME, route.request.querystring.NAME, stageVariables.NAME or context.NAME"
    }]))]
    pub identity_sources: Vec<String>,

    /// Role API Gateway assumes to invoke the function; omitted means a resource-based
    /// permission on the function, which the operator grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/.+$')",
        "message": "credentialsRoleArn must be an IAM role ARN"
    }]))]
    pub credentials_role_arn: Option<String>,
}

/// What the operator observed and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebSocketApiStatus {
    /// Where its resources live, and ObserveOnly's plan (fields `accountId`,
    /// `region`, `plannedChanges`).
    #[serde(flatten)]
    pub tenant: crate::api::common::TenantStatus,
    /// The `metadata.generation` the operator last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Id of the API in AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_id: Option<String>,
    /// `wss://ID.execute-api.REGION.amazonaws.com`; a stage name follows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_endpoint: Option<String>,
    /// ARN used in IAM policies (`execute-api:ManageConnections` for backends):
    /// `arn:aws:execute-api:REGION:ACCOUNT:ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execute_api_arn: Option<String>,
    /// True when the API was adopted by id rather than created by the operator.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
    /// Number of routes in effect.
    #[serde(default)]
    pub route_count: i32,
    /// Routes the operator manages, with their AWS ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<WebSocketRouteStatus>,
    /// Authorizers the operator manages, with their AWS ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorizers: Vec<WebSocketAuthorizerStatus>,
    /// Stages of the API: the URL clients connect to and the callback URL backends
    /// post to (`POST CALLBACK_URL/CONNECTION_ID`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<WebSocketStageEndpoint>,
    /// Lambda invoke permissions the operator granted for this API.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lambda_permissions: Vec<LambdaPermissionGrant>,
    /// Standard conditions; `Ready` says whether AWS matches the spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// One route in AWS.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebSocketRouteStatus {
    /// The route key, as in the spec (`$connect`, `subscribe`).
    pub route_key: String,
    /// The route's id in API Gateway.
    pub route_id: String,
    /// The id of the Lambda proxy integration the route targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_id: Option<String>,
    /// The `$default` route response of a two-way route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_response_id: Option<String>,
}

/// One authorizer in AWS.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebSocketAuthorizerStatus {
    /// The authorizer's name in the spec (and in AWS).
    pub name: String,
    /// Its id in API Gateway.
    pub authorizer_id: String,
}

/// Where clients and backends reach one stage.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebSocketStageEndpoint {
    /// Stage name in AWS.
    pub stage_name: String,
    /// The Stage object.
    pub stage: String,
    /// `wss://ID.execute-api.REGION.amazonaws.com/STAGE`, for clients.
    pub url: String,
    /// `https://ID.execute-api.REGION.amazonaws.com/STAGE/@connections`, for backends.
    pub callback_url: String,
}
