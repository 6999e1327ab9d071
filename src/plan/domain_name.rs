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
#[path = "domain_name_tests.rs"]
mod tests;
