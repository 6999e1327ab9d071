//! Planning for `DomainName`: the domain's settings and tags, and its base path mappings.

use std::collections::{BTreeMap, BTreeSet};

use super::PatchOp;
use crate::api::domain_name::DomainNameSpec;
use crate::plan::rest_api::Owner;

/// The settings of a domain name the operator converges, desired or observed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DomainSettings {
    pub name: String,
    /// EDGE or REGIONAL.
    pub endpoint_type: String,
    pub certificate_arn: String,
    pub security_policy: String,
    pub truststore_uri: Option<String>,
    pub truststore_version: Option<String>,
    /// Tags, without AWS's own `aws:` tags.
    pub tags: BTreeMap<String, String>,
}

/// A domain name as read from AWS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedDomain {
    pub settings: DomainSettings,
    pub regional_domain_name: Option<String>,
    pub regional_hosted_zone_id: Option<String>,
    pub distribution_domain_name: Option<String>,
    pub distribution_hosted_zone_id: Option<String>,
}

impl ObservedDomain {
    /// DNS target and its hosted zone for the endpoint type.
    pub fn dns_target(&self) -> (Option<String>, Option<String>) {
        if self.settings.endpoint_type == "EDGE" {
            (
                self.distribution_domain_name.clone(),
                self.distribution_hosted_zone_id.clone(),
            )
        } else {
            (
                self.regional_domain_name.clone(),
                self.regional_hosted_zone_id.clone(),
            )
        }
    }
}

/// Desired settings from the spec; `owner` adds the owner tags; None for an
/// adopted domain, which keeps the tags it has (its adopter is found in the cluster).
pub fn desired_settings(spec: &DomainNameSpec, owner: Option<&Owner>) -> DomainSettings {
    let mut tags = spec.tags.clone();
    if let Some(owner) = owner {
        tags.extend(owner.tags("DomainName"));
    }
    DomainSettings {
        name: spec.domain_name.clone(),
        endpoint_type: spec.endpoint.type_.as_aws().to_string(),
        certificate_arn: spec.certificate_arn.clone(),
        security_policy: spec.security_policy.as_aws().to_string(),
        truststore_uri: spec.mutual_tls.as_ref().map(|m| m.truststore_uri.clone()),
        truststore_version: spec
            .mutual_tls
            .as_ref()
            .and_then(|m| m.truststore_version.clone()),
        tags,
    }
}

/// What must happen to the domain name itself.
#[derive(Clone, Debug, PartialEq)]
pub enum DomainAction {
    /// CreateDomainName with all settings and tags.
    Create,
    /// One UpdateDomainName with these patch operations.
    Update(Vec<PatchOp>),
    Tag(BTreeMap<String, String>),
    Untag(Vec<String>),
}

/// Plan the domain's own settings. Converged means an empty plan. The endpoint
/// type cannot change in place and is not planned (the schema makes it immutable).
pub fn plan_domain(
    desired: &DomainSettings,
    observed: Option<&ObservedDomain>,
) -> Vec<DomainAction> {
    let Some(observed) = observed else {
        return vec![DomainAction::Create];
    };
    let o = &observed.settings;
    let mut ops = Vec::new();
    if desired.certificate_arn != o.certificate_arn {
        let path = if desired.endpoint_type == "EDGE" {
            "/certificateArn"
        } else {
            "/regionalCertificateArn"
        };
        ops.push(PatchOp::replace(path, desired.certificate_arn.clone()));
    }
    if desired.security_policy != o.security_policy {
        ops.push(PatchOp::replace(
            "/securityPolicy",
            desired.security_policy.clone(),
        ));
    }
    match (&desired.truststore_uri, &o.truststore_uri) {
        (Some(uri), current) => {
            if Some(uri) != current.as_ref() {
                ops.push(PatchOp::replace(
                    "/mutualTlsAuthentication/truststoreUri",
                    uri.clone(),
                ));
            }
            if let Some(version) = &desired.truststore_version
                && desired.truststore_version != o.truststore_version
            {
                ops.push(PatchOp::replace(
                    "/mutualTlsAuthentication/truststoreVersion",
                    version.clone(),
                ));
            }
        }
        (None, Some(_)) => ops.push(PatchOp::replace(
            "/mutualTlsAuthentication/truststoreUri",
            "",
        )),
        (None, None) => {}
    }
    let mut actions = Vec::new();
    if !ops.is_empty() {
        actions.push(DomainAction::Update(ops));
    }
    let (changed, mut removed) = super::tag_changes(&desired.tags, &o.tags);
    if !changed.is_empty() {
        actions.push(DomainAction::Tag(changed));
    }
    // The spec is authoritative for user tags. `apigw.rs/` keys are the operator's:
    // an adopted domain keeps those of the object that created it (the spec cannot
    // name them, and they say who made the domain).
    removed.retain(|k| !k.starts_with("apigw.rs/"));
    if !removed.is_empty() {
        actions.push(DomainAction::Untag(removed));
    }
    actions
}

/// One base path mapping, desired or observed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mapping {
    /// `(none)` for the root.
    pub base_path: String,
    pub rest_api_id: String,
    pub stage: String,
}

/// What must happen to the base path mappings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MappingAction {
    Create(Mapping),
    /// UpdateBasePathMapping of `from.base_path` to `to`'s API and stage.
    Update {
        from: Mapping,
        to: Mapping,
    },
    Delete(String),
}

/// Plan the mappings. `desired` are the spec's mappings whose Stage resolved;
/// `unresolved` the spec's base paths whose Stage did not (left as they are);
/// `managed` the base paths the operator created or took over before. A mapping
/// not in the spec is deleted only when it is managed.
pub fn plan_mappings(
    desired: &[Mapping],
    unresolved: &BTreeSet<String>,
    observed: &[Mapping],
    managed: &BTreeSet<String>,
) -> Vec<MappingAction> {
    let observed_by_path: BTreeMap<&str, &Mapping> =
        observed.iter().map(|m| (m.base_path.as_str(), m)).collect();
    let mut actions = Vec::new();
    for m in desired {
        match observed_by_path.get(m.base_path.as_str()) {
            None => actions.push(MappingAction::Create(m.clone())),
            Some(o) if *o != m => actions.push(MappingAction::Update {
                from: (*o).clone(),
                to: m.clone(),
            }),
            Some(_) => {}
        }
    }
    let declared: BTreeSet<&str> = desired
        .iter()
        .map(|m| m.base_path.as_str())
        .chain(unresolved.iter().map(String::as_str))
        .collect();
    for o in observed {
        if !declared.contains(o.base_path.as_str()) && managed.contains(&o.base_path) {
            actions.push(MappingAction::Delete(o.base_path.clone()));
        }
    }
    actions
}

/// Base paths managed after a pass: the spec's (resolved or not) plus previously
/// managed ones that still exist in AWS (for example a delete that failed).
pub fn next_managed(
    desired: &[Mapping],
    unresolved: &BTreeSet<String>,
    observed_after: &[Mapping],
    managed_before: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = desired.iter().map(|m| m.base_path.clone()).collect();
    for path in unresolved {
        if managed_before.contains(path) {
            out.insert(path.clone());
        }
    }
    for o in observed_after {
        if managed_before.contains(&o.base_path) {
            out.insert(o.base_path.clone());
        }
    }
    out
}

/// Where an ACM certificate must be for a domain, and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateRegion {
    /// The region to ask ACM in.
    Ok(String),
    /// The certificate is in `actual` but must be in `required`.
    Wrong { actual: String, required: String },
}

/// EDGE domains need a us-east-1 certificate (CloudFront's); REGIONAL ones one in
/// the operator's region.
pub fn certificate_region(arn: &str, endpoint_type: &str, region: &str) -> CertificateRegion {
    let actual = arn.split(':').nth(3).unwrap_or_default().to_string();
    let required = if endpoint_type == "EDGE" {
        "us-east-1"
    } else {
        region
    };
    if actual == required {
        CertificateRegion::Ok(actual)
    } else {
        CertificateRegion::Wrong {
            actual,
            required: required.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
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
}
