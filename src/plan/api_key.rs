//! Planning for `ApiKey`: settings, tags, usage plan attachments and rotation.
//! API Gateway cannot change a key's value, so a new value means a new key:
//! create it, attach it where the old one was, then delete the old one.

use std::collections::{BTreeMap, BTreeSet};

use super::PatchOp;
use super::rest_api::Owner;

use crate::api::api_key::ApiKeySpec;

/// Shortest value API Gateway accepts for an API key.
pub const MIN_VALUE_LEN: usize = 20;

/// A key's settings, desired or observed. `Debug` never shows the value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ApiKeySettings {
    pub name: String,
    /// Empty means no description.
    pub description: String,
    pub enabled: bool,
    /// Desired: the value from the user's Secret, or None for a generated key.
    /// Observed: the key's value (read with includeValue).
    pub value: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Usage plan ids the key is attached to.
    pub usage_plans: BTreeSet<String>,
}

impl std::fmt::Debug for ApiKeySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeySettings")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("enabled", &self.enabled)
            .field("value", &self.value.as_ref().map(|_| "<redacted>"))
            .field("tags", &self.tags)
            .field("usage_plans", &self.usage_plans)
            .finish()
    }
}

/// A key as read from AWS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedApiKey {
    pub id: String,
    pub settings: ApiKeySettings,
}

/// Desired settings from the spec, the value read from the Secret (None when AWS
/// generates it) and the ids of the usage plans it names that resolved.
pub fn desired_settings(
    spec: &ApiKeySpec,
    owner: &Owner,
    value: Option<String>,
    usage_plans: BTreeSet<String>,
) -> ApiKeySettings {
    let mut tags = spec.tags.clone();
    tags.extend(owner.tags("ApiKey"));
    ApiKeySettings {
        name: format!("{}-{}", owner.namespace, owner.name),
        description: spec.description.clone().unwrap_or_default(),
        enabled: spec.enabled,
        value,
        tags,
        usage_plans,
    }
}

/// What must happen to make AWS match, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum ApiKeyAction {
    /// Create a key with the desired settings (and value, unless generated).
    Create,
    /// One UpdateApiKey call.
    Update(Vec<PatchOp>),
    /// CreateUsagePlanKey: attach the current key to this plan.
    Attach(String),
    /// DeleteUsagePlanKey: detach the current key from this plan.
    Detach(String),
    /// Retire a key that a rotation replaced: detach it from its plans, delete it.
    DeleteKey(String),
    Tag(BTreeMap<String, String>),
    Untag(Vec<String>),
}

/// Plan the actions that turn `observed` into `desired`. Converged means an empty plan.
pub fn plan(desired: &ApiKeySettings, observed: Option<&ObservedApiKey>) -> Vec<ApiKeyAction> {
    let attach_all = || {
        desired
            .usage_plans
            .iter()
            .cloned()
            .map(ApiKeyAction::Attach)
    };
    let Some(observed) = observed else {
        return std::iter::once(ApiKeyAction::Create)
            .chain(attach_all())
            .collect();
    };
    if desired.value.is_some() && desired.value != observed.settings.value {
        // Rotation: the new key serves before the old one goes.
        return std::iter::once(ApiKeyAction::Create)
            .chain(attach_all())
            .chain(std::iter::once(ApiKeyAction::DeleteKey(
                observed.id.clone(),
            )))
            .collect();
    }
    let seen = &observed.settings;
    let mut actions = Vec::new();
    let mut ops = Vec::new();
    if desired.name != seen.name {
        ops.push(PatchOp::replace("/name", desired.name.clone()));
    }
    if desired.description != seen.description {
        ops.push(PatchOp::replace(
            "/description",
            desired.description.clone(),
        ));
    }
    if desired.enabled != seen.enabled {
        ops.push(PatchOp::replace("/enabled", desired.enabled.to_string()));
    }
    if !ops.is_empty() {
        actions.push(ApiKeyAction::Update(ops));
    }
    let (to_tag, to_untag) = super::tag_changes(&desired.tags, &seen.tags);
    if !to_tag.is_empty() {
        actions.push(ApiKeyAction::Tag(to_tag));
    }
    if !to_untag.is_empty() {
        actions.push(ApiKeyAction::Untag(to_untag));
    }
    for plan in desired.usage_plans.difference(&seen.usage_plans) {
        actions.push(ApiKeyAction::Attach(plan.clone()));
    }
    for plan in seen.usage_plans.difference(&desired.usage_plans) {
        actions.push(ApiKeyAction::Detach(plan.clone()));
    }
    actions
}

#[cfg(test)]
#[path = "api_key_tests.rs"]
mod tests;
