//! `Stage`: a named stage of a `RestApi` or a `WebSocketApi` and how it is deployed.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, DeletionPolicy, LocalObjectReference, Tags, ThrottleSettings};
use super::route::HttpMethod;

/// A stage (dev, test, prod) of a RestApi or a WebSocketApi, with its settings and deployment policy.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "apigw.rs",
    version = "v1alpha1",
    kind = "Stage",
    doc = "A stage of a RestApi or WebSocketApi and its deployments, converged by apigw-operator.",
    namespaced,
    status = "StageStatus",
    shortname = "stg",
    category = "apigw",
    selectable = ".spec.restApiRef.name",
    selectable = ".spec.webSocketApiRef.name",
    printcolumn(name = "API", type_ = "string", json_path = ".spec.restApiRef.name"),
    printcolumn(
        name = "WebSocket-API",
        type_ = "string",
        json_path = ".spec.webSocketApiRef.name"
    ),
    printcolumn(name = "Stage", type_ = "string", json_path = ".spec.stageName"),
    printcolumn(
        name = "Deployment",
        type_ = "string",
        json_path = ".status.deploymentId"
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
    printcolumn(name = "URL", type_ = "string", json_path = ".status.invokeUrl"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.restApiRef) != has(self.webSocketApiRef)",
     "message": "set exactly one of restApiRef (a RestApi) or webSocketApiRef (a WebSocketApi)"},
    {"rule": "has(self.restApiRef) == has(oldSelf.restApiRef) && (!has(self.restApiRef) || self.restApiRef == oldSelf.restApiRef)",
     "message": "restApiRef cannot change: create a new Stage for the other API"},
    {"rule": "has(self.webSocketApiRef) == has(oldSelf.webSocketApiRef) && (!has(self.webSocketApiRef) || self.webSocketApiRef == oldSelf.webSocketApiRef)",
     "message": "webSocketApiRef cannot change: create a new Stage for the other API"},
    {"rule": "!has(self.webSocketApiRef) || !has(self.deployment) || !has(self.deployment.policy) || self.deployment.policy == 'Automatic'",
     "message": "a WebSocket stage is always deployed automatically (API Gateway auto-deploy): deployment.policy Manual and Pinned apply to RestApi stages only"},
    {"rule": "!has(self.webSocketApiRef) || (!has(self.caching) && !has(self.canary) && !has(self.routeSettings) && !(has(self.tracingEnabled) && self.tracingEnabled))",
     "message": "caching, canary, routeSettings and tracingEnabled apply to RestApi stages only: API Gateway offers none of them for WebSocket APIs"},
    {"rule": "!has(self.routeKeySettings) || has(self.webSocketApiRef)",
     "message": "routeKeySettings apply to WebSocket stages (webSocketApiRef); RestApi stages take routeSettings by method and path"},
    {"rule": "self.stageName == oldSelf.stageName",
     "message": "stageName cannot change: create a new Stage with the new name"}
    ,{"rule": "!has(self.caching) || !has(self.caching.clusterSize) || (has(self.caching.clusterEnabled) && self.caching.clusterEnabled)",
     "message": "caching.clusterSize needs caching.clusterEnabled: true"}
]))]
pub struct StageSpec {
    /// The RestApi this stage belongs to. Cannot change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest_api_ref: Option<LocalObjectReference>,

    /// The WebSocketApi this stage belongs to (instead of restApiRef). Cannot change.
    /// Its stages deploy every change automatically; throttling, logging, metrics,
    /// variables, access logs and tags apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_socket_api_ref: Option<LocalObjectReference>,

    /// Stage name in the URL, for example `prod`. Cannot change.
    #[schemars(length(min = 1, max = 128))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[A-Za-z0-9_-]+$')",
        "message": "stageName may contain only letters, digits, '-' and '_'"
    }]))]
    pub stage_name: String,

    /// Description of the stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,

    /// How and when the API is deployed to this stage. Defaults to Automatic.
    #[serde(default)]
    pub deployment: DeploymentPolicy,

    /// Stage variables, available as `stageVariables.NAME`. Values may contain letters,
    /// digits, spaces and `._~:/?#&=,-` (at most 512 characters).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "stage_variables_schema")]
    pub variables: BTreeMap<String, String>,

    /// Default throttling for every method of the stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttling: Option<ThrottleSettings>,

    /// Response cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caching: Option<StageCaching>,

    /// Execution logging to CloudWatch Logs (needs the account's CloudWatch role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<StageLogging>,

    /// Access logs to a CloudWatch Logs group or Firehose stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log: Option<AccessLog>,

    /// Detailed CloudWatch metrics for every method.
    #[serde(default)]
    pub metrics_enabled: bool,

    /// AWS X-Ray tracing.
    #[serde(default)]
    pub tracing_enabled: bool,

    /// Canary release: a share of traffic goes to a newer deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,

    /// Settings for single routes, overriding the stage defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["method", "path"]))]
    pub route_settings: Vec<RouteSettings>,

    /// WebSocket stages: settings for single route keys (`subscribe`, `$default`),
    /// overriding the stage defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["routeKey"]))]
    pub route_key_settings: Vec<RouteKeySettings>,

    /// Tags on the stage.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self.all(k, !k.startsWith('aws:') && !k.startsWith('apigw.rs/'))",
         "message": "tag keys starting with 'aws:' or 'apigw.rs/' are reserved"}
    ]))]
    pub tags: Tags,

    /// What to do with the stage in AWS when this object is deleted: Delete (default) or Retain.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// When the operator creates deployments for a stage.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "(has(self.policy) && self.policy == 'Pinned') ? has(self.deploymentId) : !has(self.deploymentId)",
     "message": "deploymentId is required with policy Pinned and not allowed otherwise"},
    {"rule": "(has(self.policy) && self.policy == 'Manual') || !has(self.revision)",
     "message": "revision only applies to policy Manual"}
]))]
pub struct DeploymentPolicy {
    /// Automatic (deploy when the API changes), Manual (deploy when revision changes)
    /// or Pinned (serve deploymentId, for promotion).
    #[serde(default)]
    pub policy: DeploymentMode,
    /// With Manual: bump this number to deploy the API as it is now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub revision: Option<i64>,
    /// With Pinned: the deployment to serve, for example one copied from another stage's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[a-z0-9]{1,16}$')", "message": "deploymentId must be a deployment id such as abc123"
    }]))]
    pub deployment_id: Option<String>,
    /// With Automatic: seconds without further changes before a deployment is made,
    /// so a burst of edits becomes one deployment; with Manual, before the first
    /// one. Defaults to 10.
    #[serde(default = "default_debounce")]
    #[schemars(range(min = 0, max = 3600))]
    pub debounce_seconds: i32,
    /// Deployments of the API kept for rollback; older ones no stage uses are deleted.
    #[serde(default = "default_keep")]
    #[schemars(range(min = 1, max = 100))]
    pub keep_deployments: i32,
    /// With Automatic and Manual: deploy only once every Route and Authorizer of the
    /// API is in effect (true, the default), so a stage never serves half a change.
    /// With false the stage deploys what is in effect while some route is failing
    /// (the failing ones are left out and named in the stage's message).
    #[serde(default = "default_true")]
    pub wait_for_all_routes: bool,
}

fn default_true() -> bool {
    true
}

impl Default for DeploymentPolicy {
    fn default() -> Self {
        DeploymentPolicy {
            policy: DeploymentMode::default(),
            revision: None,
            deployment_id: None,
            debounce_seconds: default_debounce(),
            keep_deployments: default_keep(),
            wait_for_all_routes: true,
        }
    }
}

/// Stage variables: bounded so the CEL rule on names stays within the API server's cost budget.
fn stage_variables_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": 100,
        "additionalProperties": {"type": "string", "maxLength": 512, "pattern": "^[A-Za-z0-9 ._~:/?#&=,-]+$"},
        "x-kubernetes-validations": [{
            "rule": "self.all(k, k.matches('^[A-Za-z0-9_]{1,64}$'))",
            "message": "stage variable names may contain only letters, digits and '_' (at most 64)"
        }]
    })
}

fn default_debounce() -> i32 {
    10
}

fn default_keep() -> i32 {
    5
}

/// Deployment policy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeploymentMode {
    #[default]
    Automatic,
    Manual,
    Pinned,
}

/// Stage cache.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageCaching {
    /// Provision a cache cluster for the stage.
    #[serde(default)]
    pub cluster_enabled: bool,
    /// Cache size in GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_size: Option<CacheClusterSize>,
    /// Cache every method's responses by default (GET only in AWS's default).
    #[serde(default)]
    pub enabled: bool,
    /// Default time to live of cached responses (0 to 3600 s). Defaults to 300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub ttl_seconds: Option<i32>,
    /// Encrypt cached data.
    #[serde(default)]
    pub data_encrypted: bool,
}

/// Cache cluster sizes API Gateway offers, in GB.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum CacheClusterSize {
    #[serde(rename = "0.5")]
    Gb0_5,
    #[serde(rename = "1.6")]
    Gb1_6,
    #[serde(rename = "6.1")]
    Gb6_1,
    #[serde(rename = "13.5")]
    Gb13_5,
    #[serde(rename = "28.4")]
    Gb28_4,
    #[serde(rename = "58.2")]
    Gb58_2,
    #[serde(rename = "118")]
    Gb118,
    #[serde(rename = "237")]
    Gb237,
}

/// CloudWatch execution logging.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageLogging {
    /// OFF, ERROR or INFO.
    #[serde(default)]
    pub level: LogLevel,
    /// Log full request and response bodies (not for production data).
    #[serde(default)]
    pub data_trace: bool,
}

/// Execution log level.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    #[default]
    Off,
    Error,
    Info,
}

/// Access log destination and format.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessLog {
    /// ARN of a CloudWatch Logs group or a Firehose stream whose name starts with `amazon-apigateway-`.
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^arn:aws[a-zA-Z-]*:(logs|firehose):[a-z0-9-]+:[0-9]{12}:.+$')",
        "message": "destinationArn must be a CloudWatch Logs group or Firehose stream ARN"
    }]))]
    pub destination_arn: String,
    /// Log line format using `$context` variables, on one line; must include
    /// `$context.requestId`.
    #[schemars(length(max = 3000))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self.contains('$context.requestId') || self.contains('$context.extendedRequestId')",
         "message": "format must include $context.requestId or $context.extendedRequestId"},
        {"rule": "!self.contains('\\n')",
         "message": "format must be one line: in YAML write it quoted or as a folded block (>-), not a literal block (|)"}
    ]))]
    pub format: String,
}

/// Canary release settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Canary {
    /// Percentage of requests (0.0 to 100.0) served by the canary deployment.
    #[schemars(range(min = 0.0, max = 100.0))]
    pub percent_traffic: f64,
    /// Stage variables that differ in the canary.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variable_overrides: BTreeMap<String, String>,
    /// Let the canary use the stage cache.
    #[serde(default)]
    pub use_stage_cache: bool,
    /// Promote: the stage serves the canary's deployment and the canary goes away.
    /// It stays promoted while this is true; remove the canary block afterwards.
    #[serde(default)]
    pub promote: bool,
}

/// Settings for one route of a stage.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteSettings {
    /// Method of the route (a Route's method).
    pub method: HttpMethod,
    /// Path of the route (a Route's path), for example `/photos/{photoId}`.
    #[schemars(length(min = 1, max = 1024))]
    pub path: String,
    /// Throttling for this route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttling: Option<ThrottleSettings>,
    /// Caching for this route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caching: Option<RouteCaching>,
    /// Logging level for this route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<StageLogging>,
    /// Detailed metrics for this route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_enabled: Option<bool>,
}

/// Settings for one route key of a WebSocket stage.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.throttling) || has(self.logging) || has(self.metricsEnabled)",
     "message": "a routeKeySettings entry must set throttling, logging or metricsEnabled"}
]))]
pub struct RouteKeySettings {
    /// A route key of the WebSocketApi, for example `subscribe` or `$default`.
    #[schemars(length(min = 1, max = 128))]
    pub route_key: String,
    /// Throttling for this route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttling: Option<ThrottleSettings>,
    /// Logging level (and data trace) for this route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<StageLogging>,
    /// Detailed metrics for this route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_enabled: Option<bool>,
}

/// Caching of one route.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteCaching {
    /// Cache this route's responses.
    pub enabled: bool,
    /// Time to live (0 to 3600 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub ttl_seconds: Option<i32>,
    /// Encrypt cached data.
    #[serde(default)]
    pub data_encrypted: bool,
    /// Require `Cache-Control: max-age=0` callers to be authorized to invalidate.
    #[serde(default)]
    pub require_authorization_for_invalidation: bool,
}

/// What the operator observed and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageStatus {
    /// The `metadata.generation` the operator last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Id of the REST API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest_api_id: Option<String>,
    /// Deployment of the current configuration: the stage's, or its canary's while a
    /// canary is active (promote it to move the whole stage there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    /// Fingerprint of the API configuration that deployment was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_fingerprint: Option<String>,
    /// When that deployment was made (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_at: Option<String>,
    /// Id of the WebSocket API (a stage with webSocketApiRef).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_socket_api_id: Option<String>,
    /// URL clients call: `https://ID.execute-api.REGION.amazonaws.com/STAGE`, or
    /// `wss://...` for a WebSocket stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoke_url: Option<String>,
    /// WebSocket stages: where backends post messages to connected clients,
    /// `https://ID.execute-api.REGION.amazonaws.com/STAGE/@connections`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// With policy Manual: the revision last deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_revision: Option<i64>,
    /// Recent deployments of this stage, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<DeploymentRecord>,
    /// Standard conditions; `Ready` says whether the stage serves the current API.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// One deployment made for a stage.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRecord {
    /// Deployment id.
    pub deployment_id: String,
    /// Fingerprint of the configuration deployed.
    pub fingerprint: String,
    /// When (RFC 3339).
    pub deployed_at: String,
}
