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
mod tests {
    use super::*;
    use crate::plan::PatchKind;
    use crate::plan::rest_api::{KIND_TAG, OWNER_UID_TAG};

    fn spec(yaml: &str) -> UsagePlanSpec {
        serde_yaml::from_str(yaml).expect("test spec parses")
    }

    fn owner() -> Owner {
        Owner {
            uid: "uid-1".into(),
            namespace: "shop".into(),
            name: "gold".into(),
        }
    }

    fn stages() -> BTreeMap<String, StageKey> {
        BTreeMap::from([("prod".to_string(), ("api1".to_string(), "prod".to_string()))])
    }

    const FULL: &str = r#"
description: Gold customers
throttle: {rateLimit: 100, burstLimit: 200}
quota: {limit: 10000, period: DAY}
stages:
- stageRef: {name: prod}
  throttle:
  - {method: GET, path: /photos, rateLimit: 5, burstLimit: 10}
tags: {team: shop}
"#;

    fn observed(settings: UsagePlanSettings) -> ObservedUsagePlan {
        ObservedUsagePlan {
            id: "plan1".into(),
            settings,
        }
    }

    #[test]
    fn missing_plan_plans_create() {
        let desired = desired_settings(&spec(FULL), &owner(), &stages());
        assert_eq!(plan(&desired, None), vec![UsagePlanAction::Create]);
        assert_eq!(desired.name, "shop-gold");
        assert_eq!(desired.tags.get(OWNER_UID_TAG).unwrap(), "uid-1");
        assert_eq!(desired.tags.get(KIND_TAG).unwrap(), "UsagePlan");
        let stage = &desired.stages[&("api1".to_string(), "prod".to_string())];
        assert_eq!(
            stage["/photos/GET"],
            Throttle {
                rate_limit: 5.0,
                burst_limit: 10
            }
        );
    }

    #[test]
    fn converged_plan_plans_nothing() {
        let desired = desired_settings(&spec(FULL), &owner(), &stages());
        assert!(plan(&desired, Some(&observed(desired.clone()))).is_empty());
    }

    #[test]
    fn unresolved_stages_are_left_out() {
        let desired = desired_settings(&spec(FULL), &owner(), &BTreeMap::new());
        assert!(desired.stages.is_empty());
    }

    #[test]
    fn changed_limits_become_one_update() {
        let desired = desired_settings(&spec(FULL), &owner(), &stages());
        let mut seen = desired.clone();
        seen.description = "old".into();
        seen.throttle = Some(Throttle {
            rate_limit: 50.0,
            burst_limit: 200,
        });
        seen.quota = Some(QuotaSettings {
            limit: 5000,
            period: "WEEK".into(),
            offset: 0,
        });
        let actions = plan(&desired, Some(&observed(seen)));
        assert_eq!(
            actions,
            vec![UsagePlanAction::Update(vec![
                PatchOp::replace("/description", "Gold customers"),
                PatchOp::replace("/throttle/rateLimit", "100"),
                PatchOp::replace("/quota/limit", "10000"),
                PatchOp::replace("/quota/period", "DAY"),
            ])]
        );
    }

    #[test]
    fn removed_limits_are_removed() {
        let desired = desired_settings(&spec("description: x"), &owner(), &stages());
        let full = desired_settings(&spec(FULL), &owner(), &stages());
        let mut seen = full.clone();
        seen.description = "x".into();
        seen.tags = desired.tags.clone();
        let actions = plan(&desired, Some(&observed(seen)));
        assert_eq!(
            actions,
            vec![UsagePlanAction::Update(vec![
                PatchOp::remove("/throttle", None),
                PatchOp::remove("/quota", None),
                PatchOp::remove("/apiStages", Some("api1:prod".into())),
            ])]
        );
    }

    #[test]
    fn new_stage_is_added_with_its_method_throttles() {
        let desired = desired_settings(&spec(FULL), &owner(), &stages());
        let mut seen = desired.clone();
        seen.stages.clear();
        let ops = patch_operations(&desired, &seen.clone());
        assert_eq!(
            ops,
            vec![
                PatchOp::add("/apiStages", Some("api1:prod".into())),
                PatchOp::replace("/apiStages/api1:prod/throttle/~1photos/GET/rateLimit", "5"),
                PatchOp::replace(
                    "/apiStages/api1:prod/throttle/~1photos/GET/burstLimit",
                    "10"
                ),
            ]
        );
    }

    #[test]
    fn dropped_method_throttle_is_removed() {
        let desired = desired_settings(&spec(FULL), &owner(), &stages());
        let mut seen = desired.clone();
        seen.stages.values_mut().next().unwrap().insert(
            "/old/POST".into(),
            Throttle {
                rate_limit: 1.0,
                burst_limit: 1,
            },
        );
        let ops = patch_operations(&desired, &seen);
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].op, PatchKind::Remove);
        assert_eq!(ops[0].path, "/apiStages/api1:prod/throttle/~1old/POST");
    }

    #[test]
    fn tag_drift_is_planned_as_tag_and_untag() {
        let desired = desired_settings(&spec(FULL), &owner(), &stages());
        let mut seen = desired.clone();
        seen.tags.remove("team");
        seen.tags.insert("stale".into(), "1".into());
        assert_eq!(
            plan(&desired, Some(&observed(seen))),
            vec![
                UsagePlanAction::Tag(BTreeMap::from([("team".into(), "shop".into())])),
                UsagePlanAction::Untag(vec!["stale".into()]),
            ]
        );
    }
}
