//! `UsagePlan` reconciler: resolve the Stages it names, observe the plan in AWS,
//! plan, apply, write status. It may touch: the usage plan (settings, stages,
//! tags), the object's status, Events.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use tracing::field;

use super::owned::OwnsAwsResource;
use super::{Context, Error};
use crate::api::common::DeletionPolicy;
use crate::api::usage_plan::BoundStage;
use crate::api::{Stage, UsagePlan, UsagePlanStatus};
use crate::aws::ErrorKind;
use crate::plan::PatchOp;
use crate::plan::rest_api::{OWNER_UID_TAG, Owner};
use crate::plan::usage_plan::{
    ObservedUsagePlan, StageKey, UsagePlanAction, desired_settings, plan,
};

/// Entry point for the controller runtime.
pub async fn reconcile(obj: Arc<UsagePlan>, ctx: Arc<Context>) -> Result<Action, Error> {
    super::owned::reconcile(obj, ctx).await
}

impl OwnsAwsResource for UsagePlan {
    const KIND: &'static str = "UsagePlan";
    const NOUN: &'static str = "usage plan";
    const ID_FIELD: &'static str = "usage_plan_id";
    type Observed = ObservedUsagePlan;
    type Hint = ();

    fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "reconcile",
            kind = "UsagePlan",
            namespace = %self.namespace().unwrap_or_default(),
            object_name = %self.name_any(),
            usage_plan_id = field::Empty
        )
    }
    async fn apply(obj: Arc<Self>, ctx: &Context) -> Result<Action, Error> {
        apply(obj, ctx).await
    }
    fn deletion_policy(&self) -> Option<DeletionPolicy> {
        Some(self.spec.deletion_policy)
    }
    fn recorded_id(&self) -> Option<String> {
        self.status.as_ref()?.usage_plan_id.clone()
    }
    fn id_of(observed: &ObservedUsagePlan) -> &str {
        &observed.id
    }
    fn tags_of(observed: &ObservedUsagePlan) -> &BTreeMap<String, String> {
        &observed.settings.tags
    }
    async fn read(ctx: &Context, id: &str) -> Result<Option<ObservedUsagePlan>, Error> {
        Ok(ctx.aws.get_usage_plan(id).await?)
    }
    async fn find_by_owner(
        &self,
        ctx: &Context,
        owner_uid: &str,
        _: &(),
    ) -> Result<Option<ObservedUsagePlan>, Error> {
        Ok(ctx
            .aws
            .find_usage_plan_by_tag(OWNER_UID_TAG, owner_uid)
            .await?)
    }
    fn forget_resource(status: &mut UsagePlanStatus) {
        status.usage_plan_id = None;
        status.stages.clear();
    }
    async fn delete(&self, ctx: &Context, id: &str) -> Result<(), Error> {
        delete_plan(ctx, id).await
    }
}

async fn apply(obj: Arc<UsagePlan>, ctx: &Context) -> Result<Action, Error> {
    let mut status = obj.status.clone().unwrap_or_default();
    let mut notes = Vec::new();
    let result = converge(&obj, ctx, &mut status, &mut notes)
        .await
        .map(|()| None);
    let ready = ("Available", "the usage plan matches the spec");
    super::outcome::finish(obj.as_ref(), ctx, status, notes, result, ready).await
}

/// A Stage is bound once it exists in AWS: a REST stage's status names the API and
/// a deployment; a WebSocket stage's status names its API once the stage is made
/// (it deploys itself).
fn resolve_stage(stage: &Stage) -> Option<StageKey> {
    if stage.meta().deletion_timestamp.is_some() {
        return None;
    }
    let status = stage.status.as_ref()?;
    let api_id = if stage.spec.web_socket_api_ref.is_some() {
        status.web_socket_api_id.clone()?
    } else {
        status.deployment_id.as_ref()?;
        status.rest_api_id.clone()?
    };
    Some((api_id, stage.spec.stage_name.clone()))
}

async fn converge(
    obj: &UsagePlan,
    ctx: &Context,
    status: &mut UsagePlanStatus,
    notes: &mut Vec<(&'static str, String)>,
) -> Result<(), Error> {
    let aws = &ctx.aws;
    let namespace = obj.namespace().unwrap_or_default();
    let owner = Owner {
        uid: obj.uid().unwrap_or_default(),
        namespace: namespace.clone(),
        name: obj.name_any(),
    };
    let stages: Api<Stage> = ctx.api_in(&namespace);
    let mut resolved: BTreeMap<String, StageKey> = BTreeMap::new();
    let (mut missing, mut waiting) = (Vec::new(), Vec::new());
    for s in &obj.spec.stages {
        let name = &s.stage_ref.name;
        match stages
            .get_opt(name)
            .await
            .map_err(Error::kube("get Stage"))?
        {
            None => missing.push(name.clone()),
            Some(stage) => match resolve_stage(&stage) {
                Some(key) => {
                    let (api, account, region) =
                        super::tenancy::stage_api_location(ctx, &namespace, &stage).await?;
                    super::tenancy::same_location(
                        ctx,
                        &format!("Stage {name} of {api}"),
                        account.as_deref(),
                        region.as_deref(),
                    )?;
                    resolved.insert(name.clone(), key);
                }
                None => waiting.push(name.clone()),
            },
        }
    }
    let desired = desired_settings(&obj.spec, &owner, &resolved);
    let recorded = status.usage_plan_id.clone();
    let observed = super::owned::observe(obj, ctx, status, recorded, &()).await?;
    let actions = plan(&desired, observed.as_ref());
    let mut id = observed.map(|o| o.id).unwrap_or_default();
    for action in actions {
        match action {
            UsagePlanAction::Create => {
                id = aws.create_usage_plan(&desired).await?.id;
                tracing::Span::current().record("usage_plan_id", id.as_str());
                tracing::info!("created usage plan");
                notes.push(("Created", format!("created usage plan {id}")));
            }
            UsagePlanAction::Update(ops) => {
                aws.update_usage_plan(&id, &ops).await?;
                let paths: Vec<&str> = ops.iter().map(|o| o.path.as_str()).collect();
                tracing::info!(?paths, "updated usage plan");
                notes.push((
                    "Updated",
                    format!("updated usage plan {id}: {}", paths.join(", ")),
                ));
            }
            UsagePlanAction::Tag(tags) => {
                let arn = aws.usage_resource_arn("usageplans", &id);
                aws.tag_usage_resource(&arn, &tags).await?;
            }
            UsagePlanAction::Untag(keys) => {
                let arn = aws.usage_resource_arn("usageplans", &id);
                aws.untag_usage_resource(&arn, &keys).await?;
            }
        }
        status.usage_plan_id = Some(id.clone());
    }
    status.usage_plan_id = Some(id);
    status.stages = obj
        .spec
        .stages
        .iter()
        .filter_map(|s| {
            let (api, stage) = resolved.get(&s.stage_ref.name)?;
            Some(BoundStage {
                name: s.stage_ref.name.clone(),
                rest_api_id: api.clone(),
                stage_name: stage.clone(),
            })
        })
        .collect();
    if !missing.is_empty() {
        return Err(Error::StageNotFound(format!(
            "Stage {} does not exist in namespace {namespace}; the plan is bound to it once it does",
            missing.join(", ")
        )));
    }
    if !waiting.is_empty() {
        return Err(Error::StageNotReady(format!(
            "Stage {} has no deployment in AWS yet; the plan is bound to it once it has",
            waiting.join(", ")
        )));
    }
    Ok(())
}

/// Find the plan: by the id in status, or by owner tag.
/// Delete the plan; when AWS refuses because stages are still bound, unbind them first.
async fn delete_plan(ctx: &Context, id: &str) -> Result<(), Error> {
    match ctx.aws.delete_usage_plan(id).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind == ErrorKind::Invalid => {
            let Some(plan) = ctx.aws.get_usage_plan(id).await? else {
                return Ok(());
            };
            let ops: Vec<PatchOp> = plan
                .settings
                .stages
                .keys()
                .map(|(api, stage)| PatchOp::remove("/apiStages", Some(format!("{api}:{stage}"))))
                .collect();
            if ops.is_empty() {
                return Err(e.into());
            }
            ctx.aws.update_usage_plan(id, &ops).await?;
            ctx.aws.delete_usage_plan(id).await?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
