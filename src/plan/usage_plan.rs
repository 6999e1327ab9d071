//! Planning for `UsagePlan`: settings, quota, throttles, bound stages and tags.

use std::collections::BTreeMap;

use super::rest_api::Owner;
use super::stage::method_str;
use super::{PatchOp, escape_path_segment};
use crate::api::usage_plan::UsagePlanSpec;

/// A rate and burst limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Throttle {
    pub rate_limit: f64,
    pub burst_limit: i32,
}

/// A quota as AWS holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaSettings {
    pub limit: i32,
    pub period: String,
    pub offset: i32,
}

/// (REST API id, stage name) of a bound stage.
pub type StageKey = (String, String);

/// The settings of a usage plan, desired or observed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UsagePlanSettings {
    pub name: String,
    /// Empty means no description.
    pub description: String,
    pub throttle: Option<Throttle>,
    pub quota: Option<QuotaSettings>,
    /// Bound stages and their per-method throttles, keyed `/path/METHOD`.
    pub stages: BTreeMap<StageKey, BTreeMap<String, Throttle>>,
    /// Tags, without AWS's own `aws:` tags.
    pub tags: BTreeMap<String, String>,
}

/// A usage plan as read from AWS.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedUsagePlan {
    pub id: String,
    pub settings: UsagePlanSettings,
}

/// The `throttle` key of one method in a usage plan stage: `/photos/{id}/GET`.
pub fn method_key(method: crate::api::route::HttpMethod, path: &str) -> String {
    format!("{path}/{}", method_str(method))
}

/// Desired settings. `stages` maps each Stage object name to the AWS stage it resolved
/// to; stages that did not resolve are left out (and reported by the caller).
pub fn desired_settings(
    spec: &UsagePlanSpec,
    owner: &Owner,
    stages: &BTreeMap<String, StageKey>,
) -> UsagePlanSettings {
    let mut tags = spec.tags.clone();
    tags.extend(owner.tags("UsagePlan"));
    UsagePlanSettings {
        name: format!("{}-{}", owner.namespace, owner.name),
        description: spec.description.clone().unwrap_or_default(),
        throttle: spec.throttle.as_ref().map(|t| Throttle {
            rate_limit: t.rate_limit,
            burst_limit: t.burst_limit,
        }),
        quota: spec.quota.as_ref().map(|q| QuotaSettings {
            limit: q.limit,
            period: q.period.as_aws().to_string(),
            offset: q.offset,
        }),
        stages: spec
            .stages
            .iter()
            .filter_map(|s| {
                let key = stages.get(&s.stage_ref.name)?;
                let throttles = s
                    .throttle
                    .iter()
                    .map(|m| {
                        (
                            method_key(m.method, &m.path),
                            Throttle {
                                rate_limit: m.rate_limit,
                                burst_limit: m.burst_limit,
                            },
                        )
                    })
                    .collect();
                Some((key.clone(), throttles))
            })
            .collect(),
        tags,
    }
}

/// What must happen to make AWS match.
#[derive(Clone, Debug, PartialEq)]
pub enum UsagePlanAction {
    /// No plan exists yet: create it with everything in one call.
    Create,
    /// One UpdateUsagePlan call with these patch operations (AWS allows one per 20 s).
    Update(Vec<PatchOp>),
    /// TagResource with these tags (added or changed).
    Tag(BTreeMap<String, String>),
    /// UntagResource with these keys.
    Untag(Vec<String>),
}

/// Plan the actions that turn `observed` into `desired`. Converged means an empty plan.
pub fn plan(
    desired: &UsagePlanSettings,
    observed: Option<&ObservedUsagePlan>,
) -> Vec<UsagePlanAction> {
    let Some(observed) = observed else {
        return vec![UsagePlanAction::Create];
    };
    let mut actions = Vec::new();
    let ops = patch_operations(desired, &observed.settings);
    if !ops.is_empty() {
        actions.push(UsagePlanAction::Update(ops));
    }
    let (to_tag, to_untag) = super::tag_changes(&desired.tags, &observed.settings.tags);
    if !to_tag.is_empty() {
        actions.push(UsagePlanAction::Tag(to_tag));
    }
    if !to_untag.is_empty() {
        actions.push(UsagePlanAction::Untag(to_untag));
    }
    actions
}

fn num(v: f64) -> String {
    // `10` rather than `10.0`: AWS and moto parse both, moto's int() only the first.
    format!("{v}")
}

/// All differences as UpdateUsagePlan patch operations.
pub fn patch_operations(desired: &UsagePlanSettings, observed: &UsagePlanSettings) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    if desired.name != observed.name {
        ops.push(PatchOp::replace("/name", desired.name.clone()));
    }
    if desired.description != observed.description {
        ops.push(PatchOp::replace(
            "/description",
            desired.description.clone(),
        ));
    }
    match (&desired.throttle, &observed.throttle) {
        (Some(d), o) => {
            if o.map(|o| o.rate_limit) != Some(d.rate_limit) {
                ops.push(PatchOp::replace("/throttle/rateLimit", num(d.rate_limit)));
            }
            if o.map(|o| o.burst_limit) != Some(d.burst_limit) {
                ops.push(PatchOp::replace(
                    "/throttle/burstLimit",
                    d.burst_limit.to_string(),
                ));
            }
        }
        (None, Some(_)) => ops.push(PatchOp::remove("/throttle", None)),
        (None, None) => {}
    }
    match (&desired.quota, &observed.quota) {
        (Some(d), o) => {
            let o = o.as_ref();
            if o.map(|o| o.limit) != Some(d.limit) {
                ops.push(PatchOp::replace("/quota/limit", d.limit.to_string()));
            }
            if o.map(|o| o.period.as_str()) != Some(d.period.as_str()) {
                ops.push(PatchOp::replace("/quota/period", d.period.clone()));
            }
            if o.map(|o| o.offset) != Some(d.offset) {
                ops.push(PatchOp::replace("/quota/offset", d.offset.to_string()));
            }
        }
        (None, Some(_)) => ops.push(PatchOp::remove("/quota", None)),
        (None, None) => {}
    }
    let empty = BTreeMap::new();
    for (key @ (api, stage), throttles) in &desired.stages {
        let stage_id = format!("{api}:{stage}");
        let current = match observed.stages.get(key) {
            Some(current) => current,
            None => {
                ops.push(PatchOp::add("/apiStages", Some(stage_id.clone())));
                &empty
            }
        };
        for (method, t) in throttles {
            let base = format!(
                "/apiStages/{stage_id}/throttle/{}",
                escape_method_key(method)
            );
            let now = current.get(method);
            if now.map(|n| n.rate_limit) != Some(t.rate_limit) {
                ops.push(PatchOp::replace(
                    format!("{base}/rateLimit"),
                    num(t.rate_limit),
                ));
            }
            if now.map(|n| n.burst_limit) != Some(t.burst_limit) {
                ops.push(PatchOp::replace(
                    format!("{base}/burstLimit"),
                    t.burst_limit.to_string(),
                ));
            }
        }
        for method in current.keys().filter(|m| !throttles.contains_key(*m)) {
            ops.push(PatchOp::remove(
                format!(
                    "/apiStages/{stage_id}/throttle/{}",
                    escape_method_key(method)
                ),
                None,
            ));
        }
    }
    for (api, stage) in observed.stages.keys() {
        if !desired.stages.contains_key(&(api.clone(), stage.clone())) {
            ops.push(PatchOp::remove(
                "/apiStages",
                Some(format!("{api}:{stage}")),
            ));
        }
    }
    ops
}

/// `/photos/{id}/GET` -> `~1photos~1{id}/GET`: the path is one patch-path segment,
/// the method the next.
fn escape_method_key(key: &str) -> String {
    match key.rsplit_once('/') {
        Some((path, method)) => format!("{}/{method}", escape_path_segment(path)),
        None => escape_path_segment(key),
    }
}

#[cfg(test)]
#[path = "usage_plan_tests.rs"]
mod tests;
