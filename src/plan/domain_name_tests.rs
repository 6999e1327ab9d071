use super::*;
use crate::plan::PatchKind;
use crate::plan::rest_api::{KIND_TAG, OWNER_UID_TAG};

fn spec(yaml: &str) -> DomainNameSpec {
    serde_yaml::from_str(yaml).expect("test spec parses")
}

fn owner() -> Owner {
    Owner {
        uid: "u-1".into(),
        namespace: "shop".into(),
        name: "api".into(),
    }
}

const REGIONAL: &str = r#"
        domainName: api.example.com
        certificateArn: arn:aws:acm:eu-west-1:123456789012:certificate/abc
        tags: {team: shop}
        basePathMappings:
          - {basePath: v1, stageRef: {name: v1-prod}}
          - {stageRef: {name: root}}
    "#;

fn observed_of(settings: DomainSettings) -> ObservedDomain {
    ObservedDomain {
        settings,
        regional_domain_name: Some("d-abc.execute-api.eu-west-1.amazonaws.com".into()),
        regional_hosted_zone_id: Some("Z2FDTNDATAQYW2".into()),
        distribution_domain_name: Some("d111.cloudfront.net".into()),
        distribution_hosted_zone_id: Some("Z2FDTNDATAQYW2".into()),
    }
}

#[test]
fn defaults_are_regional_and_tls_1_2() {
    let s = spec(REGIONAL);
    let d = desired_settings(&s, Some(&owner()));
    assert_eq!(d.endpoint_type, "REGIONAL");
    assert_eq!(d.security_policy, "TLS_1_2");
    assert_eq!(d.tags.get(OWNER_UID_TAG).map(String::as_str), Some("u-1"));
    assert_eq!(d.tags.get(KIND_TAG).map(String::as_str), Some("DomainName"));
    assert_eq!(s.base_path_mappings[1].aws_base_path(), "(none)");
    // Adopted: no owner tags.
    assert!(!desired_settings(&s, None).tags.contains_key(OWNER_UID_TAG));
}

#[test]
fn missing_domain_plans_create_and_converged_plans_nothing() {
    let d = desired_settings(&spec(REGIONAL), Some(&owner()));
    assert_eq!(plan_domain(&d, None), vec![DomainAction::Create]);
    assert!(plan_domain(&d, Some(&observed_of(d.clone()))).is_empty());
}

#[test]
fn certificate_and_policy_changes_are_one_update() {
    let d = desired_settings(
        &spec(
            r#"
                domainName: api.example.com
                certificateArn: arn:aws:acm:eu-west-1:123456789012:certificate/new
                securityPolicy: TLS_1_0
                "#,
        ),
        None,
    );
    let mut o = d.clone();
    o.certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/old".into();
    o.security_policy = "TLS_1_2".into();
    let plan = plan_domain(&d, Some(&observed_of(o)));
    assert_eq!(
        plan,
        vec![DomainAction::Update(vec![
            PatchOp::replace(
                "/regionalCertificateArn",
                "arn:aws:acm:eu-west-1:123456789012:certificate/new"
            ),
            PatchOp::replace("/securityPolicy", "TLS_1_0"),
        ])]
    );
}

#[test]
fn edge_certificate_patches_certificate_arn() {
    let d = desired_settings(
        &spec(
            r#"
                domainName: api.example.com
                endpoint: {type: EDGE}
                certificateArn: arn:aws:acm:us-east-1:123456789012:certificate/new
                "#,
        ),
        None,
    );
    let mut o = d.clone();
    o.certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/old".into();
    let plan = plan_domain(&d, Some(&observed_of(o)));
    let DomainAction::Update(ops) = &plan[0] else {
        panic!("{plan:?}")
    };
    assert_eq!(ops[0].path, "/certificateArn");
    assert_eq!(ops[0].op, PatchKind::Replace);
}

#[test]
fn mutual_tls_is_set_changed_and_removed() {
    let with = desired_settings(
        &spec(
            r#"
                domainName: api.example.com
                certificateArn: arn:aws:acm:eu-west-1:123456789012:certificate/a
                mutualTls: {truststoreUri: s3://bucket/ts.pem, truststoreVersion: "2"}
                "#,
        ),
        None,
    );
    let mut without = with.clone();
    without.truststore_uri = None;
    without.truststore_version = None;
    assert_eq!(
        plan_domain(&with, Some(&observed_of(without.clone()))),
        vec![DomainAction::Update(vec![
            PatchOp::replace(
                "/mutualTlsAuthentication/truststoreUri",
                "s3://bucket/ts.pem"
            ),
            PatchOp::replace("/mutualTlsAuthentication/truststoreVersion", "2"),
        ])]
    );
    assert_eq!(
        plan_domain(&without, Some(&observed_of(with.clone()))),
        vec![DomainAction::Update(vec![PatchOp::replace(
            "/mutualTlsAuthentication/truststoreUri",
            ""
        )])]
    );
}

#[test]
fn tags_are_added_and_removed() {
    let d = desired_settings(&spec(REGIONAL), None);
    let mut o = d.clone();
    o.tags = BTreeMap::from([
        ("team".into(), "other".into()),
        ("old".into(), "x".into()),
        (OWNER_UID_TAG.into(), "u-of-the-creator".into()),
    ]);
    assert_eq!(
        plan_domain(&d, Some(&observed_of(o))),
        vec![
            DomainAction::Tag(BTreeMap::from([("team".into(), "shop".into())])),
            DomainAction::Untag(vec!["old".into()]),
        ]
    );
}

fn m(path: &str, api: &str, stage: &str) -> Mapping {
    Mapping {
        base_path: path.into(),
        rest_api_id: api.into(),
        stage: stage.into(),
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn mappings_are_created_updated_and_left_alone() {
    let desired = [m("v1", "api1", "prod"), m("v2", "api2", "prod")];
    let observed = [m("v1", "api1", "prod"), m("v2", "api2", "dev")];
    assert_eq!(
        plan_mappings(&desired, &set(&[]), &observed, &set(&["v1", "v2"])),
        vec![MappingAction::Update {
            from: m("v2", "api2", "dev"),
            to: m("v2", "api2", "prod")
        }]
    );
    assert_eq!(
        plan_mappings(&desired, &set(&[]), &[], &set(&[])),
        vec![
            MappingAction::Create(m("v1", "api1", "prod")),
            MappingAction::Create(m("v2", "api2", "prod"))
        ]
    );
    // Converged: nothing.
    assert!(plan_mappings(&desired, &set(&[]), &desired, &set(&["v1", "v2"])).is_empty());
}

/// Undeclared mappings go only when the operator manages them; a mapping whose
/// Stage is not resolved yet stays as it is.
#[test]
fn only_managed_undeclared_mappings_are_deleted() {
    let desired = [m("v1", "api1", "prod")];
    let observed = [
        m("v1", "api1", "prod"),
        m("old", "api1", "prod"),
        m("theirs", "api9", "prod"),
        m("waiting", "api3", "prod"),
    ];
    assert_eq!(
        plan_mappings(
            &desired,
            &set(&["waiting"]),
            &observed,
            &set(&["v1", "old", "waiting"])
        ),
        vec![MappingAction::Delete("old".into())]
    );
    assert_eq!(
        next_managed(
            &desired,
            &set(&["waiting"]),
            &[m("v1", "api1", "prod"), m("waiting", "api3", "prod")],
            &set(&["v1", "old", "waiting"])
        ),
        set(&["v1", "waiting"])
    );
}

#[test]
fn certificate_regions() {
    let edge_ok = "arn:aws:acm:us-east-1:123456789012:certificate/a";
    let eu = "arn:aws:acm:eu-west-1:123456789012:certificate/a";
    assert_eq!(
        certificate_region(edge_ok, "EDGE", "eu-west-1"),
        CertificateRegion::Ok("us-east-1".into())
    );
    assert_eq!(
        certificate_region(eu, "EDGE", "eu-west-1"),
        CertificateRegion::Wrong {
            actual: "eu-west-1".into(),
            required: "us-east-1".into()
        }
    );
    assert_eq!(
        certificate_region(eu, "REGIONAL", "eu-west-1"),
        CertificateRegion::Ok("eu-west-1".into())
    );
    assert!(matches!(
        certificate_region(edge_ok, "REGIONAL", "eu-west-1"),
        CertificateRegion::Wrong { .. }
    ));
}

#[test]
fn dns_target_follows_the_endpoint_type() {
    let d = desired_settings(&spec(REGIONAL), None);
    let o = observed_of(d.clone());
    assert_eq!(
        o.dns_target().0.as_deref(),
        Some("d-abc.execute-api.eu-west-1.amazonaws.com")
    );
    let mut edge = o.clone();
    edge.settings.endpoint_type = "EDGE".into();
    assert_eq!(edge.dns_target().0.as_deref(), Some("d111.cloudfront.net"));
}
