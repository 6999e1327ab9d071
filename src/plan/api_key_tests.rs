use super::*;
use crate::plan::rest_api::OWNER_UID_TAG;

fn spec(yaml: &str) -> ApiKeySpec {
    serde_yaml::from_str(yaml).expect("test spec parses")
}

fn owner() -> Owner {
    Owner {
        uid: "uid-2".into(),
        namespace: "shop".into(),
        name: "partner".into(),
    }
}

const USER: &str = r#"
description: Partner key
value: {secretRef: {name: partner-key, key: value}}
usagePlanRefs: [{name: gold}]
tags: {team: shop}
"#;

const VALUE: &str = "abcdefghijklmnopqrstuvwxyz";

fn desired(yaml: &str, value: Option<&str>) -> ApiKeySettings {
    desired_settings(
        &spec(yaml),
        &owner(),
        value.map(str::to_string),
        BTreeSet::from(["plan1".to_string()]),
    )
}

fn observed(settings: ApiKeySettings) -> ObservedApiKey {
    ObservedApiKey {
        id: "key1".into(),
        settings,
    }
}

#[test]
fn missing_key_plans_create_then_attach() {
    let d = desired(USER, Some(VALUE));
    assert!(d.enabled, "enabled defaults to true");
    assert_eq!(d.tags.get(OWNER_UID_TAG).unwrap(), "uid-2");
    assert_eq!(
        plan(&d, None),
        vec![ApiKeyAction::Create, ApiKeyAction::Attach("plan1".into())]
    );
}

#[test]
fn converged_key_plans_nothing() {
    let d = desired(USER, Some(VALUE));
    assert!(plan(&d, Some(&observed(d.clone()))).is_empty());
}

#[test]
fn generated_key_never_rotates() {
    let d = desired(
        "generatedSecret: {name: gen}\nusagePlanRefs: [{name: gold}]",
        None,
    );
    let mut seen = d.clone();
    seen.value = Some("generated-by-aws-0123456789".into());
    assert!(plan(&d, Some(&observed(seen))).is_empty());
}

#[test]
fn new_value_rotates_create_attach_delete_in_that_order() {
    let d = desired(USER, Some("the-new-value-0123456789"));
    let mut seen = d.clone();
    seen.value = Some(VALUE.into());
    assert_eq!(
        plan(&d, Some(&observed(seen))),
        vec![
            ApiKeyAction::Create,
            ApiKeyAction::Attach("plan1".into()),
            ApiKeyAction::DeleteKey("key1".into()),
        ]
    );
}

#[test]
fn settings_and_attachments_converge_in_place() {
    let d = desired(
        "value: {secretRef: {name: s, key: k}}\nenabled: false",
        Some(VALUE),
    );
    let mut seen = d.clone();
    seen.enabled = true;
    seen.description = "old".into();
    seen.usage_plans = BTreeSet::from(["plan0".to_string()]);
    assert_eq!(
        plan(&d, Some(&observed(seen))),
        vec![
            ApiKeyAction::Update(vec![
                PatchOp::replace("/description", ""),
                PatchOp::replace("/enabled", "false"),
            ]),
            ApiKeyAction::Attach("plan1".into()),
            ApiKeyAction::Detach("plan0".into()),
        ]
    );
}

#[test]
fn debug_never_shows_the_value() {
    let d = desired(USER, Some(VALUE));
    let shown = format!("{d:?} {:?}", observed(d.clone()));
    assert!(!shown.contains(VALUE), "{shown}");
    assert!(shown.contains("<redacted>"));
}
