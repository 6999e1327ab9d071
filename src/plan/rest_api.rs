//! Planning for `RestApi`: the API-level settings and tags.

use std::collections::{BTreeMap, BTreeSet};

use super::{PatchOp, escape_path_segment};
use crate::api::rest_api::RestApiSpec;

/// Tag keys the operator sets on everything it creates, to find it again after a
/// crash between "create" and "write status".
pub const OWNER_UID_TAG: &str = "apigw.rs/owner-uid";
pub const OWNER_TAG: &str = "apigw.rs/owner";
pub const KIND_TAG: &str = "apigw.rs/kind";

/// The settings of a REST API that the operator converges, desired or observed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestApiSettings {
    pub name: String,
    /// Empty means no description.
    pub description: String,
    pub endpoint_type: String,
    pub vpc_endpoint_ids: BTreeSet<String>,
    pub policy: Option<String>,
    pub binary_media_types: BTreeSet<String>,
    pub minimum_compression_size: Option<i32>,
    pub api_key_source: String,
    pub disable_execute_api_endpoint: bool,
    /// Tags, without AWS's own `aws:` tags.
    pub tags: BTreeMap<String, String>,
}

/// A REST API as read from AWS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedRestApi {
    pub id: String,
    pub root_resource_id: Option<String>,
    pub settings: RestApiSettings,
}

/// Who owns an API: the Kubernetes object's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: String,
    pub namespace: String,
    pub name: String,
}

impl Owner {
    /// The tags that say which object (of which kind) made an AWS resource; found
    /// again by `apigw.rs/owner-uid` after a crash.
    pub fn tags(&self, kind: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (OWNER_UID_TAG.to_string(), self.uid.clone()),
            (
                OWNER_TAG.to_string(),
                format!("{}/{}", self.namespace, self.name),
            ),
            (KIND_TAG.to_string(), kind.to_string()),
        ])
    }
}

/// A spec the operator cannot turn into AWS settings. Terminal: the user must fix the spec.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("spec.policy is not valid JSON: {0}")]
    PolicyNotJson(String),
    #[error("spec.policy must be a JSON object (an IAM policy document)")]
    PolicyNotObject,
    #[error("{0}")]
    FunctionName(String),
    #[error("routeKeySettings names route key {key}, which WebSocketApi {api} has no route for")]
    UnknownRouteKey { key: String, api: String },
}

/// Desired settings from the spec. `owner` adds the owner tags; None for an adopted
/// API, which keeps the tags it has (its adopter is found in the cluster).
pub fn desired_settings(
    spec: &RestApiSpec,
    object_name: &str,
    owner: Option<&Owner>,
) -> Result<RestApiSettings, SpecError> {
    if let Some(policy) = &spec.policy {
        let parsed: serde_json::Value =
            serde_json::from_str(policy).map_err(|e| SpecError::PolicyNotJson(e.to_string()))?;
        if !parsed.is_object() {
            return Err(SpecError::PolicyNotObject);
        }
    }
    let mut tags = spec.tags.clone();
    if let Some(owner) = owner {
        tags.extend(owner.tags("RestApi"));
    }
    Ok(RestApiSettings {
        name: spec
            .api_name
            .clone()
            .unwrap_or_else(|| object_name.to_string()),
        description: spec.description.clone().unwrap_or_default(),
        endpoint_type: spec.endpoint.type_.as_aws().to_string(),
        vpc_endpoint_ids: spec.endpoint.vpc_endpoint_ids.iter().cloned().collect(),
        policy: spec.policy.clone(),
        binary_media_types: spec.binary_media_types.iter().cloned().collect(),
        minimum_compression_size: spec.minimum_compression_size,
        api_key_source: spec.api_key_source.as_aws().to_string(),
        disable_execute_api_endpoint: spec.disable_execute_api_endpoint,
        tags,
    })
}

/// What must happen to make AWS match.
#[derive(Clone, Debug, PartialEq)]
pub enum RestApiAction {
    /// No API exists yet: create it with all settings and tags in one call.
    Create,
    /// One UpdateRestApi call with these patch operations.
    Update(Vec<PatchOp>),
    /// TagResource with these tags (added or changed).
    Tag(BTreeMap<String, String>),
    /// UntagResource with these keys.
    Untag(Vec<String>),
}

impl RestApiAction {
    /// One line for the plan preview (ObserveOnly).
    pub fn describe(&self, api: &str) -> String {
        match self {
            RestApiAction::Create => format!("create REST API {api}"),
            RestApiAction::Update(ops) => format!(
                "update REST API {api}: {}",
                ops.iter()
                    .map(|o| match &o.value {
                        Some(v) => format!("{} -> {v}", o.path),
                        None => format!("{} removed", o.path),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            RestApiAction::Tag(tags) => format!(
                "tag REST API {api}: {}",
                tags.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            RestApiAction::Untag(keys) => {
                format!("untag REST API {api}: {}", keys.join(", "))
            }
        }
    }
}

/// Plan the actions that turn `observed` into `desired`. Converged means an empty plan.
pub fn plan(desired: &RestApiSettings, observed: Option<&ObservedRestApi>) -> Vec<RestApiAction> {
    let Some(observed) = observed else {
        return vec![RestApiAction::Create];
    };
    let mut actions = Vec::new();
    let patch = patch_operations(desired, &observed.settings, &observed.id);
    if !patch.is_empty() {
        actions.push(RestApiAction::Update(patch));
    }
    let (to_tag, mut to_untag) = super::tag_changes(&desired.tags, &observed.settings.tags);
    // `apigw.rs/` tags say which object made the API: an adopted API keeps its
    // maker's (so a retained, re-adopted API is still known as an orphan).
    to_untag.retain(|k| !k.starts_with("apigw.rs/"));
    if !to_tag.is_empty() {
        actions.push(RestApiAction::Tag(to_tag));
    }
    if !to_untag.is_empty() {
        actions.push(RestApiAction::Untag(to_untag));
    }
    actions
}

/// The fields that differ, as API Gateway patch operations, in an order AWS accepts
/// in one request (VPC endpoints leave before the type changes and join after).
pub fn patch_operations(
    desired: &RestApiSettings,
    observed: &RestApiSettings,
    api_id: &str,
) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    if desired.name != observed.name {
        ops.push(PatchOp::replace("/name", &desired.name));
    }
    if desired.description != observed.description {
        ops.push(PatchOp::replace("/description", &desired.description));
    }
    if !policies_equal(
        desired.policy.as_deref(),
        observed.policy.as_deref(),
        api_id,
    ) {
        ops.push(PatchOp::replace(
            "/policy",
            desired.policy.clone().unwrap_or_default(),
        ));
    }
    if desired.api_key_source != observed.api_key_source {
        ops.push(PatchOp::replace("/apiKeySource", &desired.api_key_source));
    }
    if desired.minimum_compression_size != observed.minimum_compression_size {
        let value = desired
            .minimum_compression_size
            .map(|n| n.to_string())
            .unwrap_or_default();
        ops.push(PatchOp::replace("/minimumCompressionSize", value));
    }
    if desired.disable_execute_api_endpoint != observed.disable_execute_api_endpoint {
        ops.push(PatchOp::replace(
            "/disableExecuteApiEndpoint",
            desired.disable_execute_api_endpoint.to_string(),
        ));
    }
    for gone in observed
        .vpc_endpoint_ids
        .difference(&desired.vpc_endpoint_ids)
    {
        ops.push(PatchOp::remove(
            "/endpointConfiguration/vpcEndpointIds",
            Some(gone.clone()),
        ));
    }
    if desired.endpoint_type != observed.endpoint_type {
        ops.push(PatchOp::replace(
            format!("/endpointConfiguration/types/{}", observed.endpoint_type),
            &desired.endpoint_type,
        ));
    }
    for new in desired
        .vpc_endpoint_ids
        .difference(&observed.vpc_endpoint_ids)
    {
        ops.push(PatchOp::add(
            "/endpointConfiguration/vpcEndpointIds",
            Some(new.clone()),
        ));
    }
    for gone in observed
        .binary_media_types
        .difference(&desired.binary_media_types)
    {
        ops.push(PatchOp::remove(
            format!("/binaryMediaTypes/{}", escape_path_segment(gone)),
            None,
        ));
    }
    for new in desired
        .binary_media_types
        .difference(&observed.binary_media_types)
    {
        ops.push(PatchOp::add(
            format!("/binaryMediaTypes/{}", escape_path_segment(new)),
            None,
        ));
    }
    ops
}

/// Compare policies as JSON values. AWS stores `execute-api:/*` expanded to the API's
/// full ARN and re-escapes the document, so a byte comparison would never converge.
pub fn policies_equal(desired: Option<&str>, observed: Option<&str>, api_id: &str) -> bool {
    match (
        desired.filter(|p| !p.is_empty()),
        observed.filter(|p| !p.is_empty()),
    ) {
        (None, None) => true,
        (Some(d), Some(o)) => match (serde_json::from_str(d), serde_json::from_str(o)) {
            (Ok(d), Ok(o)) => normalize_policy(d, api_id) == normalize_policy(o, api_id),
            _ => d == o,
        },
        _ => false,
    }
}

fn normalize_policy(value: serde_json::Value, api_id: &str) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(shorten_own_execute_api_arn(&s, api_id)),
        // IAM treats a one-element list and a scalar alike.
        Value::Array(mut items) if items.len() == 1 => normalize_policy(items.remove(0), api_id),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| normalize_policy(v, api_id))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, normalize_policy(v, api_id)))
                .collect(),
        ),
        other => other,
    }
}

/// `arn:aws:execute-api:us-east-1:123456789012:abc123/*` -> `execute-api:/*` when
/// `abc123` is this API.
fn shorten_own_execute_api_arn(s: &str, api_id: &str) -> String {
    let fields: Vec<&str> = s.splitn(6, ':').collect();
    if let ["arn", _partition, "execute-api", _region, _account, rest] = fields.as_slice()
        && let Some(tail) = rest.strip_prefix(api_id).and_then(|t| t.strip_prefix('/'))
    {
        return format!("execute-api:/{tail}");
    }
    s.to_string()
}

#[cfg(test)]
#[path = "rest_api_tests.rs"]
mod tests;
