//! `AwsAccountBinding`: the platform team's answer, once per group of namespaces,
//! to "which AWS account, which regions, and which functions, roles, user pools
//! and certificates may these namespaces use". Cluster-scoped, so no tenant can
//! write or widen its own.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, ManagementPolicy};

/// Maps namespaces to an AWS account (a role to assume), regions and allow-lists.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "apigw.rs",
    version = "v1alpha1",
    kind = "AwsAccountBinding",
    doc = "Which AWS account, regions and referenced resources the objects of some namespaces may use; read by apigw-operator.",
    status = "AwsAccountBindingStatus",
    shortname = "awsbinding",
    printcolumn(name = "Account", type_ = "string", json_path = ".status.accountId"),
    printcolumn(name = "Region", type_ = "string", json_path = ".spec.region"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Namespaces",
        type_ = "string",
        json_path = ".status.namespaces",
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
    {"rule": "(has(self.namespaces) && size(self.namespaces) > 0) || has(self.namespaceSelector)",
     "message": "a binding must match namespaces: set namespaces, namespaceSelector or both"},
    {"rule": "!has(self.externalId) || has(self.roleArn)",
     "message": "externalId is sent with AssumeRole: it needs roleArn"},
    {"rule": "!has(self.allowedRegions) || !has(self.region) || self.allowedRegions.exists(r, r == self.region)",
     "message": "allowedRegions must include the default region"}
]))]
pub struct AwsAccountBindingSpec {
    /// Namespaces bound, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 63)), extend("x-kubernetes-list-type" = "set"))]
    pub namespaces: Vec<String>,

    /// Namespaces bound, by their labels (for example `apigw.rs/team: payments`).
    /// A namespace matched by name or by selector is bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,

    /// IAM role the operator assumes for these namespaces (with a session name
    /// `apigw-<namespace>`). Unset: the operator's own identity and account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$')",
        "message": "roleArn must be an IAM role ARN: arn:aws:iam::ACCOUNT:role/NAME"
    }]))]
    pub role_arn: Option<String>,

    /// External id the role's trust policy requires (sts:ExternalId).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 1224))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[A-Za-z0-9_+=,.@:/-]+$')",
        "message": "externalId may hold letters, digits and _+=,.@:/- only (STS refuses anything else)"
    }]))]
    pub external_id: Option<String>,

    /// Region of objects in these namespaces that set no `spec.region`. Unset: the
    /// operator's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[a-z]{2}(-[a-z]+)+-[0-9]$')",
        "message": "region must be an AWS region such as eu-west-1"
    }]))]
    pub region: Option<String>,

    /// Regions an object may choose with `spec.region`. Unset: only the default region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(max = 32)), extend("x-kubernetes-list-type" = "set"))]
    pub allowed_regions: Option<Vec<String>>,

    /// Lambda functions routes and authorizers may invoke (and get invoke
    /// permissions on), as ARN patterns where `*` matches anything, for example
    /// `arn:aws:lambda:*:111111111111:function:payments-*`. Unset: any function of
    /// the account; empty: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 2048)))]
    pub allowed_lambda_functions: Option<Vec<String>>,

    /// IAM roles that integrations and authorizers may use as credentials (API
    /// Gateway acts with them), as ARN patterns. Unset: any role; empty: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 2048)))]
    pub allowed_roles: Option<Vec<String>>,

    /// Cognito user pools authorizers may use, as id or ARN patterns. Unset: any;
    /// empty: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 2048)))]
    pub allowed_user_pools: Option<Vec<String>>,

    /// ACM certificates DomainNames may use, as ARN patterns. Unset: any; empty: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 2048)))]
    pub allowed_certificates: Option<Vec<String>>,

    /// Whether objects in these namespaces may adopt existing AWS resources
    /// (`restApiId`, `apiId`, `adopt`). The ownership rule applies either way: an
    /// API another live object manages is never adopted.
    #[serde(default = "yes")]
    pub allow_adoption: bool,

    /// Management policy of objects that set none (Full, ObserveOnly or Paused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_policy: Option<ManagementPolicy>,
}

fn yes() -> bool {
    true
}

/// What the operator found.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsAccountBindingStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The AWS account the binding's identity belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Namespaces the binding matches now, comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<String>,
    /// `Ready`: the role can be assumed and no other binding matches these namespaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
