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
mod tests {
    use super::*;
    use crate::api::rest_api::RestApiSpec;

    fn spec(yaml: &str) -> RestApiSpec {
        serde_yaml::from_str(yaml).expect("test spec parses")
    }

    fn owner() -> Owner {
        Owner {
            uid: "u-1".into(),
            namespace: "photo-app".into(),
            name: "photos".into(),
        }
    }

    fn observed_from(settings: RestApiSettings) -> ObservedRestApi {
        ObservedRestApi {
            id: "abc1234567".into(),
            root_resource_id: Some("r00t".into()),
            settings,
        }
    }

    /// Nothing exists: one Create, nothing else (tags go with the create).
    #[test]
    fn missing_api_plans_create() {
        let desired = desired_settings(&spec("{}"), "photos", Some(&owner())).unwrap();
        assert_eq!(plan(&desired, None), vec![RestApiAction::Create]);
    }

    /// A converged API plans nothing: the resync costs no writes.
    #[test]
    fn converged_api_plans_nothing() {
        let s = spec(
            r#"
            description: Photo upload
            endpoint: {type: PRIVATE, vpcEndpointIds: [vpce-0123456789abcdef0]}
            policy: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*"}]}'
            binaryMediaTypes: [image/png]
            minimumCompressionSize: 1024
            tags: {team: photos}
            "#,
        );
        let desired = desired_settings(&s, "photos", Some(&owner())).unwrap();
        let mut observed = desired.clone();
        // AWS expands execute-api:/* and wraps values; the plan must see through that.
        observed.policy = Some(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["execute-api:Invoke"],"Resource":["arn:aws:execute-api:us-east-1:123456789012:abc1234567\/*"]}]}"#
                .into(),
        );
        assert_eq!(plan(&desired, Some(&observed_from(observed))), vec![]);
    }

    /// A policy naming another API's ARN is not mistaken for this API's.
    #[test]
    fn policy_of_other_api_differs() {
        assert!(!policies_equal(
            Some(r#"{"Resource":"execute-api:/*"}"#),
            Some(r#"{"Resource":"arn:aws:execute-api:us-east-1:123456789012:zzz9999999/*"}"#),
            "abc1234567"
        ));
    }

    /// Every changed field becomes one patch operation in one UpdateRestApi call.
    #[test]
    fn changed_fields_become_one_update() {
        let desired = desired_settings(
            &spec("{description: new, apiKeySource: AUTHORIZER, disableExecuteApiEndpoint: true, minimumCompressionSize: 0}"),
            "photos",
            Some(&owner()),
        )
        .unwrap();
        let mut observed = desired.clone();
        observed.description = "old".into();
        observed.api_key_source = "HEADER".into();
        observed.disable_execute_api_endpoint = false;
        observed.minimum_compression_size = None;
        let actions = plan(&desired, Some(&observed_from(observed)));
        assert_eq!(
            actions,
            vec![RestApiAction::Update(vec![
                PatchOp::replace("/description", "new"),
                PatchOp::replace("/apiKeySource", "AUTHORIZER"),
                PatchOp::replace("/minimumCompressionSize", "0"),
                PatchOp::replace("/disableExecuteApiEndpoint", "true"),
            ])]
        );
    }

    /// PRIVATE -> REGIONAL: the VPC endpoints leave before the type changes.
    #[test]
    fn endpoint_change_orders_vpc_endpoints_around_type() {
        let desired =
            desired_settings(&spec("{endpoint: {type: REGIONAL}}"), "photos", None).unwrap();
        let mut observed = desired.clone();
        observed.endpoint_type = "PRIVATE".into();
        observed.vpc_endpoint_ids = BTreeSet::from(["vpce-1".to_string()]);
        let ops = patch_operations(&desired, &observed, "abc1234567");
        assert_eq!(
            ops,
            vec![
                PatchOp::remove(
                    "/endpointConfiguration/vpcEndpointIds",
                    Some("vpce-1".into())
                ),
                PatchOp::replace("/endpointConfiguration/types/PRIVATE", "REGIONAL"),
            ]
        );
    }

    /// Binary media types are patched one by one with `/` escaped as `~1`.
    #[test]
    fn binary_media_types_are_escaped() {
        let desired =
            desired_settings(&spec("{binaryMediaTypes: [image/png]}"), "photos", None).unwrap();
        let mut observed = desired.clone();
        observed.binary_media_types = BTreeSet::from(["image/jpeg".to_string()]);
        assert_eq!(
            patch_operations(&desired, &observed, "x"),
            vec![
                PatchOp::remove("/binaryMediaTypes/image~1jpeg", None),
                PatchOp::add("/binaryMediaTypes/image~1png", None)
            ]
        );
    }

    /// Tags: changed and new keys in one TagResource, removed keys in one UntagResource;
    /// the owner tags are part of the desired set so they are never removed.
    #[test]
    fn tag_drift_is_planned_as_tag_and_untag() {
        let desired = desired_settings(
            &spec("{tags: {team: photos, env: prod}}"),
            "photos",
            Some(&owner()),
        )
        .unwrap();
        let mut observed = desired.clone();
        observed.tags.insert("env".into(), "dev".into());
        observed.tags.insert("stale".into(), "x".into());
        let actions = plan(&desired, Some(&observed_from(observed)));
        assert_eq!(
            actions,
            vec![
                RestApiAction::Tag(BTreeMap::from([("env".to_string(), "prod".to_string())])),
                RestApiAction::Untag(vec!["stale".to_string()]),
            ]
        );
    }

    /// Owner tags carry the object's uid and namespace/name.
    #[test]
    fn owner_tags_identify_the_object() {
        let desired = desired_settings(&spec("{}"), "photos", Some(&owner())).unwrap();
        assert_eq!(
            desired.tags.get(OWNER_UID_TAG).map(String::as_str),
            Some("u-1")
        );
        assert_eq!(
            desired.tags.get(OWNER_TAG).map(String::as_str),
            Some("photo-app/photos")
        );
        assert_eq!(desired.name, "photos");
        assert_eq!(desired.endpoint_type, "REGIONAL");
    }

    /// A policy that is not JSON is a spec error, caught before any AWS call.
    #[test]
    fn invalid_policy_is_a_spec_error() {
        assert!(matches!(
            desired_settings(&spec("{policy: 'not json'}"), "p", None),
            Err(SpecError::PolicyNotJson(_))
        ));
        assert_eq!(
            desired_settings(&spec("{policy: '[1]'}"), "p", None),
            Err(SpecError::PolicyNotObject)
        );
    }
}
