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
