//! `UsagePlan`: throttling and quota for callers with API keys, on Stages.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, DeletionPolicy, LocalObjectReference, Tags, ThrottleSettings};
use super::route::HttpMethod;

/// A usage plan of Amazon API Gateway: who may call which stages how often.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "apigw.rs",
    version = "v1alpha1",
    kind = "UsagePlan",
    doc = "A usage plan (throttling and quota on Stages for API keys), converged by apigw-operator.",
    namespaced,
    status = "UsagePlanStatus",
    shortname = "uplan",
    category = "apigw",
    printcolumn(name = "Plan-ID", type_ = "string", json_path = ".status.usagePlanId"),
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
pub struct UsagePlanSpec {
    /// Region and management policy (fields `region`, `managementPolicy`).
    #[serde(flatten)]
    pub tenant: crate::api::common::TenantSpec,

    /// Description of the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,

    /// Request rate and burst allowed to each API key of the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<ThrottleSettings>,

    /// Requests allowed to each API key of the plan per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,

    /// Stages (Stage objects in this namespace) the plan applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub stages: Vec<UsagePlanStage>,

    /// Tags on the usage plan.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self.all(k, !k.startsWith('aws:') && !k.startsWith('apigw.rs/'))",
         "message": "tag keys starting with 'aws:' or 'apigw.rs/' are reserved"}
    ]))]
    pub tags: Tags,

    /// What to do with the plan in AWS when this object is deleted: Delete (default) or Retain.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// A quota: at most `limit` requests per `period`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.offset) || (self.period == 'DAY' && self.offset == 0) || (self.period == 'WEEK' && self.offset <= 6) || (self.period == 'MONTH' && self.offset <= 27)",
     "message": "offset must be 0 for DAY, 0-6 for WEEK and 0-27 for MONTH"}
]))]
pub struct Quota {
    /// Requests allowed per period.
    #[schemars(range(min = 0))]
    pub limit: i32,
    /// DAY, WEEK or MONTH.
    pub period: QuotaPeriod,
    /// Days into the period the quota starts counting (0 for DAY).
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub offset: i32,
}

/// Quota periods.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum QuotaPeriod {
    Day,
    Week,
    Month,
}

impl QuotaPeriod {
    pub fn as_aws(self) -> &'static str {
        match self {
            QuotaPeriod::Day => "DAY",
            QuotaPeriod::Week => "WEEK",
            QuotaPeriod::Month => "MONTH",
        }
    }
}

/// One stage of the plan.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsagePlanStage {
    /// A Stage object in this namespace.
    pub stage_ref: LocalObjectReference,
    /// Throttling of single methods of that stage, overriding the plan's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["method", "path"]))]
    pub throttle: Vec<MethodThrottle>,
}

/// Throttling of one method (a Route's method and path).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MethodThrottle {
    /// Method of the route.
    pub method: HttpMethod,
    /// Path of the route, for example `/photos/{photoId}`.
    #[schemars(length(min = 1, max = 1024))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.startsWith('/')", "message": "path must start with /"
    }]))]
    pub path: String,
    /// Steady-state requests per second.
    #[schemars(range(min = 0.0))]
    pub rate_limit: f64,
    /// Largest burst.
    #[schemars(range(min = 0))]
    pub burst_limit: i32,
}

/// What the operator observed and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsagePlanStatus {
    /// Where its resources live, and ObserveOnly's plan (fields `accountId`,
    /// `region`, `plannedChanges`).
    #[serde(flatten)]
    pub tenant: crate::api::common::TenantStatus,
    /// The `metadata.generation` the operator last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Id of the usage plan in AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_plan_id: Option<String>,
    /// Stages the plan is bound to in AWS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<BoundStage>,
    /// Standard conditions; `Ready` says whether AWS matches the spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// A Stage object and the AWS stage it resolved to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BoundStage {
    /// The Stage object.
    pub name: String,
    /// REST API id.
    pub rest_api_id: String,
    /// Stage name in AWS.
    pub stage_name: String,
}
