//! `RestApi`: one Amazon API Gateway REST API (v1).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, DeletionPolicy, Tags};

/// A REST API in Amazon API Gateway. Routes, Authorizers and Stages refer to it by name.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "apigw.rs",
    version = "v1alpha1",
    kind = "RestApi",
    doc = "A REST API in Amazon API Gateway, converged by apigw-operator.",
    namespaced,
    status = "RestApiStatus",
    shortname = "rapi",
    category = "apigw",
    printcolumn(name = "API-ID", type_ = "string", json_path = ".status.restApiId"),
    printcolumn(name = "Endpoint", type_ = "string", json_path = ".spec.endpoint.type"),
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
    printcolumn(name = "URL", type_ = "string", json_path = ".status.url"),
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
        "rule": "has(self.restApiId) == has(oldSelf.restApiId) && (!has(self.restApiId) || self.restApiId == oldSelf.restApiId)",
        "message": "restApiId cannot be added, removed or changed after creation: create a new RestApi object to adopt another API"
    },
    {
        "rule": "!has(self.adoptOrphaned) || !self.adoptOrphaned || has(self.restApiId)",
        "message": "adoptOrphaned needs restApiId: it says whether the API of that id may be taken over"
    }
]))]
pub struct RestApiSpec {
    /// Region and management policy (fields `region`, `managementPolicy`).
    #[serde(flatten)]
    pub tenant: crate::api::common::TenantSpec,

    /// Name of the API in AWS. Defaults to the object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub api_name: Option<String>,

    /// Description shown in the API Gateway console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,

    /// Endpoint configuration. Defaults to a REGIONAL endpoint.
    #[serde(default)]
    pub endpoint: EndpointConfiguration,

    /// IAM resource policy of the API, as a JSON document (a string). Required in
    /// practice for PRIVATE APIs. `execute-api:/*` may be used for "this API".
    /// At most 8192 characters, API Gateway's default quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 8192))]
    pub policy: Option<String>,

    /// Media types API Gateway treats as binary, for example `image/png` or `*/*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 256)), extend("x-kubernetes-list-type" = "set"))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(t, t.matches('^[A-Za-z0-9*!#$&^_.+-]+/[A-Za-z0-9*!#$&^_.+-]+$'))",
        "message": "each binary media type must look like type/subtype, for example image/png or */*"
    }]))]
    pub binary_media_types: Vec<String>,

    /// Compress responses larger than this many bytes (0 to 10485760). Unset disables compression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10485760))]
    pub minimum_compression_size: Option<i32>,

    /// Where API keys are read from for usage plans. Defaults to HEADER.
    #[serde(default)]
    pub api_key_source: ApiKeySource,

    /// Turn off the default `execute-api` endpoint, so clients must use a custom domain name.
    #[serde(default)]
    pub disable_execute_api_endpoint: bool,

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

    /// Adopt an existing API with this id instead of creating one. Set it when the
    /// object is created; it cannot change afterwards. The API's settings are then
    /// converged to this spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[a-z0-9]{10}$')",
        "message": "restApiId must be a REST API id: 10 lower-case letters and digits, for example a1b2c3d4e5"
    }]))]
    pub rest_api_id: Option<String>,

    /// Adopt the API named by `restApiId` even though its owner tags name an object
    /// that no longer exists (an API left behind with `deletionPolicy: Retain`). An
    /// API another live object manages is never adopted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt_orphaned: bool,

    /// What to do with the API in AWS when this object is deleted: Delete or Retain.
    /// Unset: an API the operator created is deleted, an adopted one is retained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// Take the API's structure (paths, methods, integrations, authorizers, models,
    /// gateway responses) from an OpenAPI document instead of Route and Authorizer
    /// objects. The operator applies it with PutRestApi (overwrite) when the document
    /// changes or the API drifted from it; Routes and Authorizers naming this API are
    /// refused (reason ApiDefinedByDocument). The spec's settings (name, description,
    /// binary media types, policy, ...) win over the document's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openapi: Option<OpenApiSource>,
}

/// Where the OpenAPI document of a RestApi comes from: inline, or a ConfigMap key.
/// `${AWS::Region}`, `${AWS::AccountId}` and `${AWS::Partition}` in it are replaced
/// with the API's region, account and partition, so one document serves every
/// account and region.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "has(self.document) != has(self.configMapRef)",
    "message": "set exactly one of document (inline) or configMapRef"
}]))]
pub struct OpenApiSource {
    /// The document itself: OpenAPI 3.0 or Swagger 2.0, in YAML or JSON, with the
    /// `x-amazon-apigateway-*` extensions. At most 1 MiB, like a ConfigMap (API
    /// Gateway would take 6 MB, but an object this size could not be stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1048576))]
    pub document: Option<String>,
    /// A key of a ConfigMap in this namespace holding the document; a change of the
    /// ConfigMap is applied like a change of this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<ConfigMapKeyRef>,
    /// Refuse the document when API Gateway has warnings about it (the API stays as
    /// it was). Otherwise the warnings are reported in the `ImportWarnings` condition.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fail_on_warnings: bool,
}

/// One key of a ConfigMap in the object's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapKeyRef {
    /// Name of the ConfigMap.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key in the ConfigMap's data.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// How clients reach the API.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "self.type == 'PRIVATE' || !has(self.vpcEndpointIds) || size(self.vpcEndpointIds) == 0",
        "message": "vpcEndpointIds can only be set when type is PRIVATE"
    },
    {
        "rule": "!(oldSelf.type == 'PRIVATE' && self.type == 'EDGE')",
        "message": "AWS cannot change a PRIVATE API to EDGE: change it to REGIONAL, or create a new API"
    }
]))]
pub struct EndpointConfiguration {
    /// EDGE (through CloudFront), REGIONAL (the default) or PRIVATE (only through VPC endpoints).
    #[serde(default, rename = "type")]
    pub type_: EndpointType,
    /// VPC endpoint ids (`vpce-...`) allowed to reach a PRIVATE API.
    #[serde(default)]
    #[schemars(length(max = 32), inner(length(max = 32)), extend("x-kubernetes-list-type" = "set"))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(v, v.matches('^vpce-[0-9a-f]{8,17}$'))",
        "message": "each VPC endpoint id must look like vpce-0123456789abcdef0"
    }]))]
    pub vpc_endpoint_ids: Vec<String>,
}

/// Endpoint type of a REST API.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum EndpointType {
    Edge,
    #[default]
    Regional,
    Private,
}

impl EndpointType {
    pub fn as_aws(self) -> &'static str {
        match self {
            EndpointType::Edge => "EDGE",
            EndpointType::Regional => "REGIONAL",
            EndpointType::Private => "PRIVATE",
        }
    }
}

/// Source of API keys for metering.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ApiKeySource {
    /// The `x-api-key` header of the request.
    #[default]
    Header,
    /// The `usageIdentifierKey` returned by a Lambda authorizer.
    Authorizer,
}

impl ApiKeySource {
    pub fn as_aws(self) -> &'static str {
        match self {
            ApiKeySource::Header => "HEADER",
            ApiKeySource::Authorizer => "AUTHORIZER",
        }
    }
}

/// What the operator observed and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestApiStatus {
    /// Where its resources live, and ObserveOnly's plan (fields `accountId`,
    /// `region`, `plannedChanges`).
    #[serde(flatten)]
    pub tenant: crate::api::common::TenantStatus,
    /// The `metadata.generation` the operator last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Id of the REST API in AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest_api_id: Option<String>,
    /// Id of the API's root (`/`) resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_resource_id: Option<String>,
    /// Base URL of the default execute-api endpoint; a stage name follows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// ARN used in IAM policies and Lambda permissions: `arn:aws:execute-api:REGION:ACCOUNT:ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execute_api_arn: Option<String>,
    /// True when the API was adopted by id rather than created by the operator.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
    /// Fingerprint of the API's deployable configuration (methods, authorizers and
    /// API settings) as it is now; stages compare it with what they deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_fingerprint: Option<String>,
    /// When the configuration first had that fingerprint; automatic deployments wait
    /// for `debounceSeconds` of quiet after it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_changed_at: Option<String>,
    /// The OpenAPI document last applied, when `spec.openapi` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<AppliedDocument>,
    /// Lambda invoke permissions the operator granted for this API, so they can be
    /// taken back when no route or authorizer uses the function any more.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lambda_permissions: Vec<LambdaPermissionGrant>,
    /// Standard conditions; `Ready` says whether AWS matches the spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// One statement the operator added to a Lambda function's resource policy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LambdaPermissionGrant {
    /// Function ARN, without qualifier.
    pub function: String,
    /// Alias or version whose policy holds the statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
    /// Statement id: `apigw-API_ID` for routes, `apigw-API_ID-authorizer-ID` for authorizers.
    pub statement_id: String,
}

/// What the operator applied of `spec.openapi`, and what it found in AWS right
/// after: a pass with the same document and the same structure in AWS writes nothing.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppliedDocument {
    /// Fingerprint of the document as sent (after substitutions and the spec's settings).
    pub fingerprint: String,
    /// Fingerprint of the API's resources, methods and authorizers as read after
    /// the import; a different reading later is drift, and the document is applied again.
    pub structure_fingerprint: String,
    /// Number of methods the document declares.
    #[serde(default)]
    pub methods: usize,
    /// When it was applied (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<String>,
}
