//! `DomainName` reconciler: check the certificate, observe the domain name and its
//! base path mappings, plan, apply, write status. It may touch: the domain name
//! (settings, tags), its base path mappings (v1, for RestApi stages) and API
//! mappings (v2, for WebSocketApi stages): those of its spec, and those it created
//! before; the object's status, Events. Stages and APIs are only read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};

use super::owned::OwnsAwsResource;
use super::{Context, Error};
use crate::api::common::DeletionPolicy;
use crate::api::domain_name::{DomainName, DomainNameStatus, MappingStatus};
use crate::api::{RestApi, Stage, WebSocketApi};
use crate::aws::error::NotFoundExt;
use crate::plan::domain_name::{
    CertificateRegion, DomainAction, Mapping, MappingAction, ObservedDomain, certificate_region,
    desired_settings, next_managed, plan_domain, plan_mappings,
};
use crate::plan::rest_api::{OWNER_UID_TAG, Owner};

/// Entry point for the controller runtime.
pub async fn reconcile(obj: Arc<DomainName>, ctx: Arc<Context>) -> Result<Action, Error> {
    super::owned::reconcile(obj, ctx).await
}

/// A domain is found by its name, and adopted only when first seen with
/// `spec.adopt` (see `converge`), so only the entry and the cleanup are the
/// skeleton's.
impl OwnsAwsResource for DomainName {
    const KIND: &'static str = "DomainName";
    const NOUN: &'static str = "domain name";
    const ID_FIELD: &'static str = "domain_name";
    type Observed = ObservedDomain;
    type Hint = ();

    fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "reconcile",
            kind = "DomainName",
            namespace = %self.namespace().unwrap_or_default(),
            object_name = %self.name_any(),
            domain_name = %self.spec.domain_name
        )
    }
    async fn apply(obj: Arc<Self>, ctx: &Context) -> Result<Action, Error> {
        apply(obj, ctx).await
    }
    fn adopts_orphans(&self) -> bool {
        self.spec.adopt_orphaned
    }
    fn deletion_policy(&self) -> Option<DeletionPolicy> {
        self.spec.deletion_policy
    }
    /// The domain is this object's once a pass made or adopted it.
    fn adoption(&self) -> Option<super::ownership::Target<'_>> {
        self.spec
            .adopt
            .then_some(super::ownership::Target::DomainName(&self.spec.domain_name))
    }
    fn recorded_id(&self) -> Option<String> {
        let status = self.status.as_ref()?;
        (status.target.is_some() || status.adopted).then(|| self.spec.domain_name.clone())
    }
    fn id_of(observed: &ObservedDomain) -> &str {
        &observed.settings.name
    }
    fn tags_of(observed: &ObservedDomain) -> &BTreeMap<String, String> {
        &observed.settings.tags
    }
    async fn read(ctx: &Context, name: &str) -> Result<Option<ObservedDomain>, Error> {
        Ok(ctx.aws.get_domain_name(name).await?)
    }
    /// Never made by a pass (for example the certificate was missing): only a
    /// domain of that name carrying this object's owner tag is its own; one that
    /// someone else made is not its to remove.
    async fn find_by_owner(
        &self,
        ctx: &Context,
        owner_uid: &str,
        _: &(),
    ) -> Result<Option<ObservedDomain>, Error> {
        let found = ctx.aws.get_domain_name(&self.spec.domain_name).await?;
        Ok(found
            .filter(|d| d.settings.tags.get(OWNER_UID_TAG).map(String::as_str) == Some(owner_uid)))
    }
    fn forget_resource(status: &mut DomainNameStatus) {
        status.target = None;
    }
    /// Its mappings first: those this object made, v1 and v2.
    async fn delete(&self, ctx: &Context, name: &str) -> Result<(), Error> {
        let status = self.status.clone().unwrap_or_default();
        if !status.managed_api_mappings.is_empty() {
            // A domain deleted by hand has no mappings left.
            let mappings = ctx.aws.get_api_mappings(name).await.found()?;
            for (mapping, id) in mappings.unwrap_or_default() {
                if status.managed_api_mappings.contains(&mapping.base_path) {
                    ctx.aws.delete_api_mapping(name, &id).await?;
                }
            }
        }
        for path in &status.managed_base_paths {
            ctx.aws.delete_base_path_mapping(name, path).await?;
        }
        Ok(ctx.aws.delete_domain_name(name).await?)
    }
    fn deleted_note(name: &str) -> String {
        format!("deleted domain name {name} and its base path mappings")
    }
    fn retained_what(&self, _: &str) -> String {
        format!("domain name {} and its mappings", self.spec.domain_name)
    }
}

/// Names of the Stages a DomainName maps to (for the Stage watch).
pub fn referenced_stages(obj: &DomainName) -> impl Iterator<Item = &str> {
    obj.spec
        .base_path_mappings
        .iter()
        .map(|m| m.stage_ref.name.as_str())
}

async fn apply(obj: Arc<DomainName>, ctx: &Context) -> Result<Action, Error> {
    let mut status = obj.status.clone().unwrap_or_default();
    let mut notes: Vec<(&'static str, String)> = Vec::new();
    let result = converge(&obj, ctx, &mut status, &mut notes)
        .await
        .map(|()| None);
    let ready = if status.adopted {
        (
            "Adopted",
            "the adopted domain name and its mappings match the spec",
        )
    } else {
        (
            "Available",
            "the domain name and its mappings match the spec",
        )
    };
    super::outcome::finish(obj.as_ref(), ctx, status, notes, result, ready).await
}

/// The spec's mappings with their Stages resolved.
#[derive(Default)]
struct Resolved {
    /// Mappings to RestApi stages (API Gateway v1 base path mappings).
    rest: Vec<Mapping>,
    /// Mappings to WebSocketApi stages (API Gateway v2 API mappings).
    websocket: Vec<Mapping>,
    /// Base paths whose Stage is missing or not made yet: left as they are.
    unresolved: BTreeSet<String>,
    /// Every base path whose Stage exists, and whether that Stage is a WebSocketApi's
    /// (from its spec: known before the stage is made in AWS).
    kinds: Vec<(String, bool)>,
    /// What to report about those.
    error: Option<Error>,
}

/// Resolve each mapping's Stage to (API id, stage name). Mappings whose Stage is
/// missing or not in AWS yet come back in `unresolved` with the error to report.
async fn resolve_mappings(obj: &DomainName, ctx: &Context) -> Result<Resolved, Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let stages: Api<Stage> = ctx.api_in(&namespace);
    let rest_apis: Api<RestApi> = ctx.api_in(&namespace);
    let websocket_apis: Api<WebSocketApi> = ctx.api_in(&namespace);
    let mut resolved = Resolved::default();
    let mut missing = Vec::new();
    let mut not_ready = Vec::new();
    for m in &obj.spec.base_path_mappings {
        let name = &m.stage_ref.name;
        let base_path = m.aws_base_path().to_string();
        let Some(stage) = stages
            .get_opt(name)
            .await
            .map_err(Error::kube("get Stage"))?
        else {
            missing.push(name.clone());
            resolved.unresolved.insert(base_path);
            continue;
        };
        resolved
            .kinds
            .push((base_path.clone(), stage.spec.web_socket_api_ref.is_some()));
        let status = stage.status.clone().unwrap_or_default();
        let deleting = stage.meta().deletion_timestamp.is_some();
        // A REST stage exists in AWS once it serves a deployment; a WebSocket stage
        // once its status names its API. The API object must still be there with
        // that id (a deleted API takes its stages along).
        // The API object is read anyway (its id must still be the stage's); its
        // status also says where it lives.
        let target = match (&stage.spec.rest_api_ref, &stage.spec.web_socket_api_ref) {
            (_, Some(ws)) => match (&status.web_socket_api_id, deleting) {
                (Some(id), false) => websocket_apis
                    .get_opt(&ws.name)
                    .await
                    .map_err(Error::kube("get WebSocketApi"))?
                    .and_then(|a| a.status)
                    .filter(|s| s.api_id.as_ref() == Some(id))
                    .map(|s| {
                        (
                            id.clone(),
                            true,
                            format!("WebSocketApi {}", ws.name),
                            s.tenant,
                        )
                    }),
                _ => None,
            },
            (Some(rest), None) => match (&status.rest_api_id, &status.deployment_id, deleting) {
                (Some(id), Some(_), false) => rest_apis
                    .get_opt(&rest.name)
                    .await
                    .map_err(Error::kube("get RestApi"))?
                    .and_then(|a| a.status)
                    .filter(|s| s.rest_api_id.as_ref() == Some(id))
                    .map(|s| {
                        (
                            id.clone(),
                            false,
                            format!("RestApi {}", rest.name),
                            s.tenant,
                        )
                    }),
                _ => None,
            },
            (None, None) => None,
        };
        let target = match target {
            Some((api_id, web_socket, api, located)) => {
                super::tenancy::same_location(
                    ctx,
                    &format!("Stage {name} of {api}"),
                    located.account_id.as_deref(),
                    located.region.as_deref(),
                )?;
                Some((api_id, web_socket))
            }
            None => None,
        };
        match target {
            Some((api_id, web_socket)) => {
                let mapping = Mapping {
                    base_path,
                    rest_api_id: api_id,
                    stage: stage.spec.stage_name.clone(),
                };
                if web_socket {
                    resolved.websocket.push(mapping);
                } else {
                    resolved.rest.push(mapping);
                }
            }
            None => {
                not_ready.push(name.clone());
                resolved.unresolved.insert(base_path);
            }
        }
    }
    resolved.error = if !missing.is_empty() {
        Some(Error::StageNotFound(format!(
            "Stage {} does not exist in this namespace; the mapping is made once it does",
            missing.join(", ")
        )))
    } else if !not_ready.is_empty() {
        Some(Error::StageNotReady(format!(
            "Stage {} is not deployed yet; the mapping is made once it is",
            not_ready.join(", ")
        )))
    } else {
        None
    };
    Ok(resolved)
}

/// Observe, plan, apply. Fills `status` as soon as something is known.
async fn converge(
    obj: &DomainName,
    ctx: &Context,
    status: &mut DomainNameStatus,
    notes: &mut Vec<(&'static str, String)>,
) -> Result<(), Error> {
    let aws = &ctx.aws;
    let name = obj.spec.domain_name.as_str();
    let owner = Owner {
        uid: obj.uid().unwrap_or_default(),
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
    };

    ctx.access
        .certificate(&obj.spec.certificate_arn)
        .map_err(|e| Error::ReferenceNotAllowed(e.to_string()))?;
    let observed = aws.get_domain_name(name).await?;
    // A domain that exists without this object's owner tag was made by someone
    // else, and is taken only when the spec asks and the ownership rule allows, on
    // every pass: status.adopted is no proof (a tenant that can write status could
    // set it to take another team's domain).
    if let Some(found) = &observed
        && found.settings.tags.get(OWNER_UID_TAG) != Some(&owner.uid)
    {
        if !obj.spec.adopt {
            return Err(Error::AdoptionNotRequested(format!(
                "domain name {name} already exists in this account and was not created by this \
                 object; set spec.adopt: true to adopt it"
            )));
        }
        super::ownership::guard_adoption(
            ctx,
            &format!("domain name {name}"),
            super::ownership::Target::DomainName(name),
            &found.settings.tags,
            &owner,
            obj.spec.adopt_orphaned,
        )
        .await?;
        if !status.adopted {
            status.adopted = true;
            notes.push(("Adopted", format!("adopted existing domain name {name}")));
        }
    }
    // An adopted domain keeps the tags it has (as an adopted RestApi): its adopter
    // is found through the cluster instead.
    let desired = desired_settings(&obj.spec, (!status.adopted).then_some(&owner));

    // The certificate is checked before a create and when it changes.
    let certificate_changes = observed
        .as_ref()
        .is_none_or(|o| o.settings.certificate_arn != desired.certificate_arn);
    if certificate_changes {
        check_certificate(ctx, &desired.certificate_arn, &desired.endpoint_type).await?;
    }

    let mut current: ObservedDomain = observed.clone().unwrap_or_default();
    for action in plan_domain(&desired, observed.as_ref()) {
        match action {
            DomainAction::Create => {
                current = aws.create_domain_name(&desired).await?;
                tracing::info!("created domain name");
                notes.push(("Created", format!("created domain name {name}")));
            }
            DomainAction::Update(ops) => {
                aws.update_domain_name(name, &ops).await?;
                let paths: Vec<&str> = ops.iter().map(|o| o.path.as_str()).collect();
                tracing::info!(?paths, "updated domain name");
                notes.push((
                    "Updated",
                    format!("updated domain name {name}: {}", paths.join(", ")),
                ));
            }
            DomainAction::Tag(tags) => {
                aws.tag_domain_name(name, &tags).await?;
                let keys: Vec<&str> = tags.keys().map(String::as_str).collect();
                notes.push((
                    "Tagged",
                    format!("set tags {} on domain name {name}", keys.join(", ")),
                ));
            }
            DomainAction::Untag(keys) => {
                aws.untag_domain_name(name, &keys).await?;
                notes.push((
                    "Untagged",
                    format!("removed tags {} from domain name {name}", keys.join(", ")),
                ));
            }
        }
    }
    status.regional_domain_name = current.regional_domain_name.clone();
    status.regional_hosted_zone_id = current.regional_hosted_zone_id.clone();
    status.distribution_domain_name = current.distribution_domain_name.clone();
    status.distribution_hosted_zone_id = current.distribution_hosted_zone_id.clone();
    // moto reports the endpoint type it was asked for; trust the spec for a fresh create.
    if current.settings.endpoint_type.is_empty() {
        current.settings.endpoint_type = desired.endpoint_type.clone();
    }
    let (target, zone) = current.dns_target();
    status.target = target;
    status.hosted_zone_id = zone;

    // Base path mappings: RestApi stages through v1, WebSocket stages through v2.
    // API Gateway serves a custom domain name either for REST APIs or for WebSocket
    // APIs, never both, and WebSocket APIs only on REGIONAL domains: asked for
    // anything else, nothing is changed and the spec is reported.
    // Decided from the Stages' specs, so a mix is refused at once, not only once
    // every Stage is deployed.
    let resolved = resolve_mappings(obj, ctx).await?;
    let first_of = |web_socket: bool| {
        resolved
            .kinds
            .iter()
            .find(|(_, ws)| *ws == web_socket)
            .map(|(path, _)| path.as_str())
    };
    if let Some(first_ws) = first_of(true) {
        if let Some(first_rest) = first_of(false) {
            return Err(Error::MappingNotAllowed(format!(
                "base path {first_ws} maps a WebSocketApi stage and {first_rest} a RestApi stage: \
                 API Gateway does not serve WebSocket and REST APIs on one domain name; give \
                 the WebSocket stage a domain name of its own"
            )));
        }
        if desired.endpoint_type == "EDGE" {
            return Err(Error::MappingNotAllowed(format!(
                "base path {first_ws} maps a WebSocketApi stage, and WebSocket APIs are served on \
                 REGIONAL domain names only: use a REGIONAL DomainName for it"
            )));
        }
    }
    let rest_managed: BTreeSet<String> = status.managed_base_paths.iter().cloned().collect();
    let ws_managed: BTreeSet<String> = status.managed_api_mappings.iter().cloned().collect();

    let observed_rest: Vec<Mapping> = aws
        .get_base_path_mappings(name)
        .await?
        .into_iter()
        .filter(|m| !ws_managed.contains(&m.base_path))
        .collect();
    let rest_actions = plan_mappings(
        &resolved.rest,
        &resolved.unresolved,
        &observed_rest,
        &rest_managed,
    );
    let (rest_after, rest_result) = apply_mappings(
        aws,
        name,
        &observed_rest,
        rest_actions,
        MappingApi::BasePaths,
        notes,
    )
    .await;
    status.managed_base_paths = next_managed(
        &resolved.rest,
        &resolved.unresolved,
        &rest_after,
        &rest_managed,
    )
    .into_iter()
    .collect();

    // A domain without WebSocket mappings makes no v2 call at all.
    let (ws_after, ws_result) = if resolved.websocket.is_empty() && ws_managed.is_empty() {
        (Vec::new(), Ok(()))
    } else {
        let observed: Vec<(Mapping, String)> = aws
            .get_api_mappings(name)
            .await?
            .into_iter()
            // On AWS v2 lists REST mappings too (the REST pass's, or someone else's):
            // never take one over.
            .filter(|(m, _)| !rest_after.iter().any(|r| r.base_path == m.base_path))
            .collect();
        let ids: BTreeMap<String, String> = observed
            .iter()
            .map(|(m, id)| (m.base_path.clone(), id.clone()))
            .collect();
        let observed: Vec<Mapping> = observed.into_iter().map(|(m, _)| m).collect();
        let actions = plan_mappings(
            &resolved.websocket,
            &resolved.unresolved,
            &observed,
            &ws_managed,
        );
        apply_mappings(
            aws,
            name,
            &observed,
            actions,
            MappingApi::ApiMappings(&ids),
            notes,
        )
        .await
    };
    status.managed_api_mappings = next_managed(
        &resolved.websocket,
        &resolved.unresolved,
        &ws_after,
        &ws_managed,
    )
    .into_iter()
    .collect();

    let status_of = |m: &Mapping, web_socket: bool| MappingStatus {
        base_path: m.base_path.clone(),
        rest_api_id: m.rest_api_id.clone(),
        stage: m.stage.clone(),
        web_socket,
    };
    let mut mappings: Vec<MappingStatus> = rest_after
        .iter()
        .map(|m| status_of(m, false))
        .chain(ws_after.iter().map(|m| status_of(m, true)))
        .collect();
    mappings.sort();
    status.mappings = mappings;
    rest_result?;
    ws_result?;
    match resolved.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Which API Gateway API a mapping pass goes through.
enum MappingApi<'a> {
    /// v1 base path mappings (RestApi stages).
    BasePaths,
    /// v2 API mappings (WebSocket stages), with the observed mapping ids by base path.
    ApiMappings(&'a BTreeMap<String, String>),
}

/// Apply mapping actions; returns the mappings in place afterwards and the first
/// failure, if any (the mappings made before it are kept in the result).
async fn apply_mappings(
    aws: &crate::aws::Aws,
    name: &str,
    observed: &[Mapping],
    actions: Vec<MappingAction>,
    via: MappingApi<'_>,
    notes: &mut Vec<(&'static str, String)>,
) -> (Vec<Mapping>, Result<(), Error>) {
    let mut after = observed.to_vec();
    // Update and Delete name mappings from `observed`, which came with their ids.
    let id_of = |path: &str| match &via {
        MappingApi::ApiMappings(ids) => ids.get(path).cloned().unwrap_or_default(),
        MappingApi::BasePaths => String::new(),
    };
    let mut result = Ok(());
    for action in actions {
        let step = match (&action, &via) {
            (MappingAction::Create(m), MappingApi::BasePaths) => {
                aws.create_base_path_mapping(name, m).await
            }
            (MappingAction::Create(m), MappingApi::ApiMappings(_)) => {
                aws.create_api_mapping(name, m).await
            }
            (MappingAction::Update { to, .. }, MappingApi::BasePaths) => {
                aws.update_base_path_mapping(name, to).await
            }
            (MappingAction::Update { from, to }, MappingApi::ApiMappings(_)) => {
                aws.update_api_mapping(name, &id_of(&from.base_path), to)
                    .await
            }
            (MappingAction::Delete(path), MappingApi::BasePaths) => {
                aws.delete_base_path_mapping(name, path).await
            }
            (MappingAction::Delete(path), MappingApi::ApiMappings(_)) => {
                aws.delete_api_mapping(name, &id_of(path)).await
            }
        };
        if let Err(e) = step {
            result = Err(Error::from(e));
            break;
        }
        match action {
            MappingAction::Create(m) => {
                notes.push((
                    "MappingCreated",
                    format!(
                        "mapped {name}/{} to API {} stage {}",
                        m.base_path, m.rest_api_id, m.stage
                    ),
                ));
                after.push(m);
            }
            MappingAction::Update { to, .. } => {
                notes.push((
                    "MappingUpdated",
                    format!(
                        "mapped {name}/{} to API {} stage {}",
                        to.base_path, to.rest_api_id, to.stage
                    ),
                ));
                after.retain(|o| o.base_path != to.base_path);
                after.push(to);
            }
            MappingAction::Delete(path) => {
                notes.push(("MappingDeleted", format!("removed mapping {name}/{path}")));
                after.retain(|o| o.base_path != path);
            }
        }
    }
    after.sort();
    (after, result)
}

/// The certificate must exist in ACM, in the region the endpoint type needs.
async fn check_certificate(ctx: &Context, arn: &str, endpoint_type: &str) -> Result<(), Error> {
    match certificate_region(arn, endpoint_type, &ctx.aws.region) {
        CertificateRegion::Wrong { actual, required } => Err(Error::CertificateWrongRegion {
            arn: arn.to_string(),
            actual,
            required,
            why: if endpoint_type == "EDGE" {
                "an EDGE domain name (CloudFront)"
            } else {
                "a REGIONAL domain name in the operator's region"
            },
        }),
        CertificateRegion::Ok(region) => {
            if ctx.aws.certificate_exists(arn, &region).await? {
                Ok(())
            } else {
                Err(Error::CertificateNotFound {
                    arn: arn.to_string(),
                    region,
                })
            }
        }
    }
}
