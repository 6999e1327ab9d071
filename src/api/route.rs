//! `Route`: one method on one path of a `RestApi`, with its integration.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, DeletionPolicy, LocalObjectReference, free_form_object};

/// A method (GET, PUT, ...) on a resource path of a REST API, with its integration,
/// authorization, validation and responses.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "apigw.rs",
    version = "v1alpha1",
    kind = "Route",
    doc = "A method on a path of a RestApi and its integration, converged by apigw-operator.",
    namespaced,
    status = "RouteStatus",
    shortname = "rt",
    category = "apigw",
    selectable = ".spec.restApiRef.name",
    printcolumn(name = "API", type_ = "string", json_path = ".spec.restApiRef.name"),
    printcolumn(name = "Method", type_ = "string", json_path = ".spec.method"),
    printcolumn(name = "Path", type_ = "string", json_path = ".spec.path"),
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
    {"rule": "self.restApiRef == oldSelf.restApiRef",
     "message": "restApiRef cannot change: create a new Route for the other API"},
    {"rule": "self.method == oldSelf.method && self.path == oldSelf.path",
     "message": "method and path cannot change: create a new Route (and delete this one) for the new method or path"},
    {"rule": "!has(self.cors) || self.method != 'OPTIONS'",
     "message": "cors creates the OPTIONS method itself: remove cors or use a method other than OPTIONS"}
]))]
pub struct RouteSpec {
    /// The RestApi this route belongs to. Cannot change.
    pub rest_api_ref: LocalObjectReference,

    /// HTTP method; ANY matches every method.
    pub method: HttpMethod,

    /// Resource path: `/`, literal segments, `{param}` segments and an optional
    /// final greedy `{proxy+}`, for example `/photos/{photoId}/filter`.
    #[schemars(length(min = 1, max = 1024))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self == '/' || self.matches('^(/[^/]+)+$')",
         "message": "path must be '/' or start with '/' and have no empty segments and no trailing '/', for example /photos/{photoId}"},
        {"rule": "self == '/' || self.matches('^(/([A-Za-z0-9._~:@!$&*,;=-]+|\\\\{[A-Za-z_][A-Za-z0-9_.-]*\\\\+?\\\\}))+$')",
         "message": "each path segment must be a literal (letters, digits, ._~:@!$&*,;=-) or a {param} / {param+} variable"},
        {"rule": "!self.matches('\\\\+\\\\}/')",
         "message": "a greedy variable such as {proxy+} must be the last segment of the path"}
    ]))]
    pub path: String,

    /// Who may call the route. Omitted means no authorization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,

    /// Require an API key (`x-api-key`) from a usage plan.
    #[serde(default)]
    pub api_key_required: bool,

    /// Operation name, used by generated SDKs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub operation_name: Option<String>,

    /// Request parameters of the method and whether each is required, for example
    /// `method.request.querystring.page: false`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 50))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(k, k.matches('^method\\\\.request\\\\.(path|querystring|header|multivaluequerystring|multivalueheader)\\\\.[A-Za-z0-9._$-]+$'))",
        "message": "request parameter keys look like method.request.(path|querystring|header).NAME"
    }]))]
    pub request_parameters: BTreeMap<String, bool>,

    /// Request validation against models and required parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_validation: Option<RequestValidation>,

    /// Where requests go. Exactly one of lambda, http, aws or mock.
    pub integration: Integration,

    /// Method responses (status codes the method declares, with headers and models).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["statusCode"]))]
    pub responses: Vec<MethodResponse>,

    /// CORS: creates an OPTIONS method answering preflight requests on this path and
    /// adds `Access-Control-Allow-Origin` to this method's responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,

    /// What to do with the method in AWS when this object is deleted: Delete (default) or Retain.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// HTTP method of a route.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
    Any,
}

/// Authorization of a route: IAM, or an Authorizer object. Omit for none.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!(has(self.iam) && self.iam && has(self.authorizerRef))",
     "message": "choose either iam: true or an authorizerRef, not both"},
    {"rule": "!has(self.scopes) || size(self.scopes) == 0 || has(self.authorizerRef)",
     "message": "scopes need an authorizerRef to a Cognito authorizer"}
]))]
pub struct Authorization {
    /// Require SigV4-signed requests (AWS_IAM).
    #[serde(default)]
    pub iam: bool,
    /// An Authorizer (Cognito or Lambda) in the same namespace on the same RestApi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_ref: Option<LocalObjectReference>,
    /// OAuth scopes the Cognito access token must carry, for example `photos/write`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub scopes: Vec<String>,
}

/// Validation API Gateway performs before calling the integration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestValidation {
    /// Validate the body against the model for its content type.
    #[serde(default)]
    pub body: bool,
    /// Validate that required request parameters are present.
    #[serde(default)]
    pub parameters: bool,
    /// Models (JSON Schema draft 4) by content type, for example `application/json`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, Model>,
}

/// A request or response model: a schema of the route's own, or a model API
/// Gateway gives every API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.schema) != has(self.builtIn)", "message": "set exactly one of schema and builtIn"}
]))]
pub struct Model {
    /// The JSON Schema (draft 4) of the body; at most 400 KB of JSON (API
    /// Gateway's limit), checked when the route is planned.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    #[schemars(schema_with = "free_form_object")]
    pub schema: serde_json::Value,
    /// A model every API has, used by its name rather than copied: `Empty`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built_in: Option<BuiltInModel>,
}

/// The models API Gateway puts in every REST API.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum BuiltInModel {
    /// `Empty`: an object of any content (what the console puts on new methods).
    Empty,
}

impl BuiltInModel {
    /// The model's name in API Gateway.
    pub fn name(self) -> &'static str {
        match self {
            BuiltInModel::Empty => "Empty",
        }
    }
}

/// Where a route sends requests.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "[has(self.lambda), has(self.http), has(self.aws), has(self.mock)].filter(x, x).size() == 1",
     "message": "set exactly one integration kind: lambda, http, aws or mock"},
    {"rule": "!has(self.lambda) || ((!has(self.requestTemplates) || size(self.requestTemplates) == 0) && (!has(self.responses) || size(self.responses) == 0))",
     "message": "a Lambda proxy integration passes the request through: requestTemplates and responses are not allowed"},
    {"rule": "!has(self.http) || (has(self.http.proxy) && !self.http.proxy) || ((!has(self.requestTemplates) || size(self.requestTemplates) == 0) && (!has(self.responses) || size(self.responses) == 0))",
     "message": "an HTTP proxy integration passes the request through: set http.proxy to false to use requestTemplates or responses"}
]))]
pub struct Integration {
    /// Lambda proxy integration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<LambdaIntegration>,
    /// HTTP or HTTP proxy integration with an existing endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpIntegration>,
    /// Direct AWS service integration (SQS, Step Functions, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsServiceIntegration>,
    /// Mock integration answering from API Gateway itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock: Option<MockIntegration>,

    /// Integration timeout in milliseconds (50 to 29000). Defaults to 29000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 50, max = 29000))]
    pub timeout_millis: Option<i32>,
    /// Integration request parameters: target `integration.request.*` to a source such as
    /// `method.request.path.photoId`, `context.requestId` or a quoted literal.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "super::common::parameter_map", extend("maxProperties" = 50))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(k, k.matches('^integration\\\\.request\\\\.(path|querystring|header|multivaluequerystring|multivalueheader)\\\\.[A-Za-z0-9._$-]+$'))",
        "message": "integration request parameter keys look like integration.request.(path|querystring|header).NAME"
    }]))]
    pub request_parameters: BTreeMap<String, String>,
    /// Velocity mapping templates by content type (at most 300 KB each, API
    /// Gateway's limit).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "super::common::templates_map")]
    pub request_templates: BTreeMap<String, String>,
    /// What to do with a body whose content type has no template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough_behavior: Option<PassthroughBehavior>,
    /// Binary/text conversion of the request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_handling: Option<ContentHandling>,
    /// Request parameters that make up the cache key, for example `method.request.path.photoId`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub cache_key_parameters: Vec<String>,
    /// Integration responses (non-proxy integrations): map backend results to method responses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["statusCode"]))]
    pub responses: Vec<IntegrationResponse>,
}

/// Lambda proxy integration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LambdaIntegration {
    /// Function name (`upload-photo`), name with alias or version (`upload-photo:live`),
    /// or full function ARN.
    #[schemars(length(min = 1, max = 170))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$')",
        "message": "functionName must be a Lambda function name, name:alias, name:version or function ARN"
    }]))]
    pub function_name: String,
}

/// HTTP integration with an existing endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpIntegration {
    /// Backend URL; may contain `{param}` placeholders mapped by requestParameters.
    #[schemars(length(min = 1, max = 2048))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^https?://[^\\\\s/]+(/\\\\S*)?$')",
        "message": "url must be an absolute http:// or https:// URL"
    }]))]
    pub url: String,
    /// Method used to call the backend. Defaults to the route's method (GET for ANY).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<HttpMethod>,
    /// Pass the request through unchanged (HTTP_PROXY, the default) or map it (HTTP).
    #[serde(default = "default_true")]
    pub proxy: bool,
    /// Reach a private backend through a VPC link (`vpcLinkId`); omitted means the internet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[a-z0-9]{1,32}$')",
        "message": "vpcLinkId must be a VPC link id such as abc123"
    }]))]
    pub vpc_link_id: Option<String>,
}

fn default_true() -> bool {
    true
}

/// Direct AWS service integration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "has(self.action) != has(self.path)",
    "message": "set exactly one of action (for example SendMessage) or path (for example 123456789012/my-queue)"
}]))]
pub struct AwsServiceIntegration {
    /// Service subdomain, for example `sqs` or `states`.
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[a-z0-9-]{2,64}$')",
        "message": "service must be an AWS service subdomain such as sqs or states"
    }]))]
    pub service: String,
    /// Region of the service; defaults to the operator's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Action-style API action, for example `StartExecution`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Path-style API path, for example `123456789012/photo-queue` for SQS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// HTTP method of the service call. Defaults to POST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<HttpMethod>,
    /// IAM role API Gateway assumes to call the service.
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/.+$')",
        "message": "credentialsRoleArn must be an IAM role ARN, for example arn:aws:iam::123456789012:role/apigw-sqs"
    }]))]
    pub credentials_role_arn: String,
}

/// Mock integration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MockIntegration {
    /// Status code the mock returns when no requestTemplates are given. Defaults to 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 599))]
    pub status_code: Option<i32>,
}

/// Request body passthrough when no template matches.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PassthroughBehavior {
    WhenNoMatch,
    WhenNoTemplates,
    Never,
}

/// Binary/text conversion.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContentHandling {
    ConvertToBinary,
    ConvertToText,
}

/// A status code the method declares.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MethodResponse {
    /// HTTP status code, for example `200`.
    #[schemars(length(max = 3))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[1-5][0-9][0-9]$')", "message": "statusCode must be a 3-digit HTTP status such as 200"
    }]))]
    pub status_code: String,
    /// Response headers and whether each is required, for example
    /// `method.response.header.Location: true`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, bool>,
    /// Response models by content type.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, Model>,
}

/// Maps a backend result to a method response.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationResponse {
    /// Method response status code this maps to.
    #[schemars(length(max = 3))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[1-5][0-9][0-9]$')", "message": "statusCode must be a 3-digit HTTP status such as 200"
    }]))]
    pub status_code: String,
    /// Regular expression on the backend status (HTTP) or error message (Lambda/AWS); omitted is the default response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection_pattern: Option<String>,
    /// Response header mappings, for example `method.response.header.Location: integration.response.header.Location`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub header_mappings: BTreeMap<String, String>,
    /// Response mapping templates by content type (at most 300 KB each, API
    /// Gateway's limit).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "super::common::templates_map")]
    pub templates: BTreeMap<String, String>,
    /// Binary/text conversion of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_handling: Option<ContentHandling>,
}

/// Cross-origin resource sharing for a path.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.allowCredentials) || !self.allowCredentials || !self.allowOrigins.exists(o, o == '*')",
    "message": "browsers refuse allowCredentials with the wildcard origin '*': list the origins"
}]))]
pub struct Cors {
    /// Allowed origins, for example `https://photos.example.com`, or `*`.
    #[schemars(length(min = 1, max = 32), inner(length(max = 256)))]
    pub allow_origins: Vec<String>,
    /// Allowed request headers. Defaults to Content-Type, Authorization, X-Api-Key, X-Amz-Date, X-Amz-Security-Token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
    /// Response headers exposed to scripts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// Seconds a preflight answer may be cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 86400))]
    pub max_age_seconds: Option<i32>,
    /// Send `Access-Control-Allow-Credentials: true`.
    #[serde(default)]
    pub allow_credentials: bool,
}

/// What the operator observed and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteStatus {
    /// The `metadata.generation` the operator last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Id of the REST API the method lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest_api_id: Option<String>,
    /// Id of the API Gateway resource for the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Invoke URL of this route per stage name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub invoke_urls: BTreeMap<String, String>,
    /// Standard conditions; `Ready` says whether the route is in effect in AWS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}
