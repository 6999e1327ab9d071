//! `DomainName`: a custom domain name for REST APIs, with its base path mappings.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, DeletionPolicy, LocalObjectReference, Tags};

/// The base path that maps the root of the domain (no path segment).
pub const ROOT_BASE_PATH: &str = "(none)";

/// A custom domain name (`api.example.com`) served by API Gateway with an ACM
/// certificate, mapping base paths to Stages of RestApis and WebSocketApis in the
/// same namespace.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "apigw.rs",
    version = "v1alpha1",
    kind = "DomainName",
    doc = "A custom domain name for REST APIs, converged by apigw-operator.",
    namespaced,
    status = "DomainNameStatus",
    shortname = "dn",
    category = "apigw",
    printcolumn(name = "Domain", type_ = "string", json_path = ".spec.domainName"),
    printcolumn(name = "Endpoint", type_ = "string", json_path = ".spec.endpoint.type"),
    printcolumn(name = "Target", type_ = "string", json_path = ".status.target"),
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
    {"rule": "self.domainName == oldSelf.domainName",
     "message": "domainName cannot change: create a new DomainName for the other name"},
    {"rule": "self.endpoint.type == oldSelf.endpoint.type",
     "message": "endpoint.type cannot change: create a new DomainName"},
    {"rule": "!has(self.adoptOrphaned) || !self.adoptOrphaned || (has(self.adopt) && self.adopt)",
     "message": "adoptOrphaned needs adopt: true"}
]))]
pub struct DomainNameSpec {
    /// Region and management policy (fields `region`, `managementPolicy`).
    #[serde(flatten)]
    pub tenant: crate::api::common::TenantSpec,

    /// The fully qualified host name, for example `api.example.com`. Cannot change.
    /// An existing domain name of this name is adopted only with `adopt: true`.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^(\\\\*\\\\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\\\.)+[a-z]{2,63}$')",
        "message": "domainName must be a lower-case host name such as api.example.com (a leading *. for a wildcard)"
    }]))]
    pub domain_name: String,

    /// Endpoint type of the domain. Cannot change.
    #[serde(default)]
    pub endpoint: DomainEndpoint,

    /// ACM certificate for the name. An EDGE domain's certificate must be in us-east-1;
    /// a REGIONAL domain's in the operator's region.
    #[schemars(length(max = 2048))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$')",
        "message": "certificateArn must be an ACM certificate ARN: arn:aws:acm:REGION:ACCOUNT:certificate/ID"
    }]))]
    pub certificate_arn: String,

    /// Minimum TLS version: TLS_1_2 (default) or TLS_1_0.
    #[serde(default)]
    pub security_policy: SecurityPolicy,

    /// Mutual TLS: clients must present a certificate signed by the truststore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutual_tls: Option<MutualTls>,

    /// Base paths of the domain and the Stage each maps to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(m, self.filter(n, (has(n.basePath) ? n.basePath : '(none)') == (has(m.basePath) ? m.basePath : '(none)')).size() == 1)",
        "message": "each basePath (and the root, no basePath) may be mapped only once"
    }]))]
    pub base_path_mappings: Vec<BasePathMapping>,

    /// Tags on the domain name. The operator adds `apigw.rs/*` tags of its own.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    #[schemars(extend("maxProperties" = 40))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self.all(k, !k.startsWith('aws:') && !k.startsWith('apigw.rs/'))",
         "message": "tag keys starting with 'aws:' or 'apigw.rs/' are reserved"},
        {"rule": "self.all(k, size(k) <= 128 && size(self[k]) <= 256)",
         "message": "tag keys are at most 128 characters and values at most 256"}
    ]))]
    pub tags: Tags,

    /// Adopt an existing domain name of this name instead of creating one. Without
    /// it an existing domain name the operator did not create for this object is
    /// refused (`AdoptionNotRequested`), never taken over silently.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,

    /// With `adopt`: take over a domain name whose owner tags name an object that no
    /// longer exists. One another live object manages is never adopted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt_orphaned: bool,

    /// What to do with the domain name and its mappings in AWS when this object is
    /// deleted: Delete or Retain. Unset: a domain name the operator created is
    /// deleted, an adopted one is retained (with the mappings this object made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
}

/// How clients reach the domain.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct DomainEndpoint {
    /// REGIONAL (the default) or EDGE (through CloudFront).
    #[serde(default, rename = "type")]
    pub type_: DomainEndpointType,
}

/// Endpoint type of a custom domain name.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum DomainEndpointType {
    Edge,
    #[default]
    Regional,
}

impl DomainEndpointType {
    pub fn as_aws(self) -> &'static str {
        match self {
            DomainEndpointType::Edge => "EDGE",
            DomainEndpointType::Regional => "REGIONAL",
        }
    }
}

/// TLS security policy of a domain name.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SecurityPolicy {
    #[serde(rename = "TLS_1_0")]
    Tls10,
    #[default]
    #[serde(rename = "TLS_1_2")]
    Tls12,
}

impl SecurityPolicy {
    pub fn as_aws(self) -> &'static str {
        match self {
            SecurityPolicy::Tls10 => "TLS_1_0",
            SecurityPolicy::Tls12 => "TLS_1_2",
        }
    }
}

/// Mutual TLS settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MutualTls {
    /// S3 URI of the truststore (PEM bundle), for example `s3://bucket/truststore.pem`.
    #[schemars(length(min = 1, max = 1024))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.startsWith('s3://')",
        "message": "truststoreUri must be an S3 URI: s3://bucket/key"
    }]))]
    pub truststore_uri: String,
    /// S3 object version of the truststore; unset uses the latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub truststore_version: Option<String>,
}

/// One base path of the domain and the Stage it serves.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BasePathMapping {
    /// Path segment(s) after the host, without a leading slash (`v1`, `orders/v2`).
    /// Unset or `(none)` maps the root of the domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self == '(none)' || self.matches('^[A-Za-z0-9$_.+!*\\'()-]+(/[A-Za-z0-9$_.+!*\\'()-]+)*$')",
        "message": "basePath must be path segments without a leading or trailing slash (for example v1 or orders/v2), or (none) for the root"
    }]))]
    pub base_path: Option<String>,
    /// The Stage (in this namespace) this base path serves.
    pub stage_ref: LocalObjectReference,
}

impl BasePathMapping {
    /// The base path as API Gateway names it: `(none)` for the root.
    pub fn aws_base_path(&self) -> &str {
        self.base_path.as_deref().unwrap_or(ROOT_BASE_PATH)
    }
}

/// What the operator observed and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DomainNameStatus {
    /// Where its resources live, and ObserveOnly's plan (fields `accountId`,
    /// `region`, `plannedChanges`).
    #[serde(flatten)]
    pub tenant: crate::api::common::TenantStatus,
    /// The `metadata.generation` the operator last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// True when the domain name existed before and was adopted rather than created.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
    /// Host name of the regional endpoint (REGIONAL domains).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regional_domain_name: Option<String>,
    /// Route 53 hosted zone of the regional endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regional_hosted_zone_id: Option<String>,
    /// CloudFront host name of the domain (EDGE domains).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution_domain_name: Option<String>,
    /// Route 53 hosted zone of the CloudFront distribution (EDGE domains).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution_hosted_zone_id: Option<String>,
    /// Where DNS must point `spec.domainName`: a CNAME target, or an ALIAS target with `hostedZoneId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Hosted zone of `target`, for a Route 53 ALIAS record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_zone_id: Option<String>,
    /// The base path mappings in effect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mappings: Vec<MappingStatus>,
    /// Base paths the operator created or took over; only these are removed when
    /// they leave the spec. Mappings made by others are left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_base_paths: Vec<String>,
    /// Base paths of WebSocket stages the operator mapped (API Gateway v2 API
    /// mappings); only these are removed when they leave the spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_api_mappings: Vec<String>,
    /// Standard conditions; `Ready` says whether AWS matches the spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// One base path mapping as it is in AWS.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MappingStatus {
    /// `(none)` for the root.
    pub base_path: String,
    /// The API's id (a WebSocket API's for WebSocket stages).
    pub rest_api_id: String,
    /// The stage name in API Gateway the path maps to.
    pub stage: String,
    /// A WebSocket stage, mapped through API Gateway v2.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub web_socket: bool,
}
