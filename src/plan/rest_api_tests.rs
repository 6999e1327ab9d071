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
    let desired = desired_settings(&spec("{endpoint: {type: REGIONAL}}"), "photos", None).unwrap();
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
