//! Types shared by every custom resource kind: references, deletion policy,
//! conditions and the small schema helpers the derives need.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every kind this operator serves.
pub const GROUP: &str = "apigw.rs";
/// The single finalizer the operator puts on objects whose AWS side it must clean up.
pub const FINALIZER: &str = "apigw.rs/cleanup";
/// Field manager for every server-side apply the operator makes (status only).
pub const FIELD_MANAGER: &str = "apigw-operator";

/// Reference to another object of this operator in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub struct LocalObjectReference {
    /// Name of the referenced object, in the same namespace as this one.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",
        "message": "name must be a Kubernetes object name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
    }]))]
    pub name: String,
    /// Not supported: references stay inside the object's namespace, so one team's
    /// objects can never attach to another team's API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "false",
        "message": "cross-namespace references are refused: remove namespace and create the object in the namespace of what it refers to"
    }]))]
    pub namespace: Option<String>,
}

/// What happens to the AWS side when the Kubernetes object is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete what the operator manages in AWS (the default).
    #[default]
    Delete,
    /// Leave it in AWS; only the Kubernetes object goes away.
    Retain,
}

/// Throttling limits for requests that API Gateway serves.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleSettings {
    /// Steady-state requests per second.
    #[schemars(range(min = 0.0))]
    pub rate_limit: f64,
    /// Largest burst of concurrent requests.
    #[schemars(range(min = 0))]
    pub burst_limit: i32,
}

/// User tags for an AWS resource. Keys starting with `aws:` are reserved by
/// AWS and keys starting with `apigw.rs/` by this operator.
pub type Tags = BTreeMap<String, String>;

/// Condition in the standard Kubernetes shape (`metav1.Condition`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type of the condition, for example `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// One-word CamelCase reason for the last transition.
    pub reason: String,
    /// Human-readable details.
    #[serde(default)]
    pub message: String,
    /// When the status last changed (RFC 3339); unchanged while the status stays the same.
    pub last_transition_time: String,
    /// The `metadata.generation` this condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Schema for a free-form JSON object (a JSON Schema model, a policy document).
pub fn free_form_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// Longest mapping template API Gateway takes ("Mapping template size", 300 KB).
pub const TEMPLATE_MAX: usize = 300 * 1024;

/// Schema of a map of mapping templates by content type, each within API
/// Gateway's limit. (`inner(length(..))` does not reach a map's values.)
pub fn templates_map(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "additionalProperties": {"type": "string", "maxLength": TEMPLATE_MAX},
    })
}

/// Schema of a map of request parameters: values (a source such as
/// `method.request.path.id` or a quoted literal) of at most 512 characters.
pub fn parameter_map(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "additionalProperties": {"type": "string", "maxLength": 512},
    })
}

/// How much the operator may do for an object.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ManagementPolicy {
    /// Create, update and delete in AWS to match the spec (the default).
    #[default]
    Full,
    /// Read AWS and report what differs from the spec and what the operator would
    /// change (`status.plannedChanges`), never write. For watching an adopted API
    /// while a team migrates.
    ObserveOnly,
    /// No AWS call at all, not even on deletion (the finalizer waits); for
    /// incidents, for example to keep a console hotfix.
    Paused,
}

/// The spec fields of every kind that owns AWS resources: where they live and how
/// much the operator may do.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantSpec {
    /// AWS region of this object's resources. Unset: the default region of the
    /// namespace's AwsAccountBinding, else the operator's. A binding's
    /// `allowedRegions` limits it. Cannot change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self.matches('^[a-z]{2}(-[a-z]+)+-[0-9]$')", "message": "region must be an AWS region such as eu-west-1"},
        {"rule": "self == oldSelf", "message": "region cannot change: create a new object in the other region"}
    ]))]
    pub region: Option<String>,

    /// Full (default: the binding's, else Full): converge AWS to the spec.
    /// ObserveOnly: read AWS, report drift and the planned changes, never write.
    /// Paused: no AWS call at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_policy: Option<ManagementPolicy>,
}

/// The status fields of every kind that owns AWS resources.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    /// AWS account of this object's resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// AWS region of this object's resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// With managementPolicy ObserveOnly: what the operator would change (at most
    /// 50 lines, the first of each kind of change).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub planned_changes: Vec<String>,
}
