//! Stages and deployments of one REST API, converged by the RestApi reconciler
//! after the API's structure: deploys when the configuration fingerprint changes
//! (debounced, and only once every route is in effect), points stages at their
//! deployments, converges stage settings, and deletes deployments nothing uses.
//!
//! It may touch: the API's stages and deployments in AWS, Stage finalizers and
//! statuses, Events on Stages.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::events::EventType;
use serde_json::json;

use super::children::{
    Readiness, add_finalizer, apply_status, is_deleting, next_conditions, readiness_event,
    remove_finalizer,
};
use super::conditions::now_rfc3339;
use super::reasons::Class;
use super::{Context, Error};
use crate::api::common::DeletionPolicy;
use crate::api::stage::{DeploymentMode, DeploymentRecord, Stage};
use crate::plan::PatchOp;
use crate::plan::claims;
use crate::plan::stage::{
    DeploymentDecision, DeploymentInput, ObservedDeployment, ObservedStage, WaitReason,
    canary_active, deployment_decision, deployment_description, deployment_for_fingerprint,
    deployments_to_delete, desired_create_stage, stage_patch_operations, stage_tag_changes,
    unmatched_route_settings,
};

/// Deployments listed in a stage's status history.
const HISTORY: usize = 5;

/// What the stage pass needs from the rest of the reconcile.
pub struct StageInputs<'a> {
    pub api_id: &'a str,
    pub fingerprint: &'a str,
    pub fingerprint_since: Timestamp,
    pub all_in_effect: bool,
    pub routes_in_effect: usize,
    /// The Routes and Authorizers not in effect, named.
    pub blocking: &'a [String],
    /// The methods the Routes declare, (path, verb).
    pub methods: &'a BTreeSet<crate::plan::routes::MethodKey>,
}

/// A Stage that serves, for its current spec, the deployment of the API's current
/// configuration: nothing of it can lead to a deployment, a move or a deletion.
fn is_settled(
    stage: &Stage,
    api_id: &str,
    fingerprint: &str,
    observed: &[crate::plan::stage::ObservedStage],
) -> bool {
    let Some(status) = stage.status.as_ref() else {
        return false;
    };
    !is_deleting(stage)
        && stage.spec.canary.is_none()
        && status.observed_generation == stage.metadata.generation
        && status.rest_api_id.as_deref() == Some(api_id)
        && status.deployed_fingerprint.as_deref() == Some(fingerprint)
        && status.deployment_id.is_some()
        && observed.iter().any(|o| {
            o.stage_name == stage.spec.stage_name && o.deployment_id == status.deployment_id
        })
}

/// Converge every Stage of the API. Returns when to look again, if a deployment waits.
/// `stages` are the API's Stage objects as the structure pass listed them.
pub async fn converge(
    ctx: &Context,
    stages: &[Stage],
    inputs: &StageInputs<'_>,
) -> Result<Option<Duration>, Error> {
    if stages.is_empty() {
        return Ok(None);
    }
    let api_id = inputs.api_id;
    let observed = ctx.aws.get_stages(api_id).await?;
    // The deployments are listed only when a stage may deploy, move or be deleted;
    // a resync of settled stages has nothing to decide with them, and whatever
    // pruning they need was done when the last deployment was made.
    let settled = stages
        .iter()
        .all(|s| is_settled(s, api_id, inputs.fingerprint, &observed));
    // A pass soon after one that listed them (an edit after its API converged)
    // takes the list that pass left, with what it created and deleted: nobody else
    // makes deployments carrying our fingerprints, so the crash-safety lookup is
    // still sound, and a restart or another leader starts with no memory.
    let max_age = super::memo::max_age(ctx.settings.resync);
    let listed = !settled;
    let mut deployments = if settled {
        Vec::new()
    } else if let Some(known) = ctx.shared.deployments.take(api_id, max_age) {
        // Taken: a pass that stops halfway leaves no memory, and the next one lists.
        known
    } else {
        ctx.aws.get_deployments(api_id).await?
    };
    let mut requeue: Option<Duration> = None;
    let mut first_error: Option<Error> = None;
    let mut in_use: BTreeSet<String> = observed
        .iter()
        .flat_map(|s| {
            s.deployment_id
                .iter()
                .chain(s.canary.iter().flat_map(|c| c.deployment_id.iter()))
        })
        .cloned()
        .collect();
    let mut keep = 1usize;
    let claims = super::children::stage_claims(stages, |s| holds_stage(s, api_id));
    let holders = claims::holders(&claims);

    for (stage, claim) in stages.iter().zip(&claims) {
        let name = stage.spec.stage_name.clone();
        if is_deleting(stage) {
            // ObserveOnly writes nothing: a deleted Stage is left in AWS, as Retain.
            // Nor does one whose stage name another live Stage claims: the stage
            // stays, and passes to that one.
            if stage.spec.deletion_policy == DeletionPolicy::Delete
                && !ctx.aws.is_observe_only()
                && claims::may_delete(&claims, claim)
            {
                ctx.aws.delete_stage(api_id, &name).await?;
                tracing::info!(stage = %name, "deleted stage");
                if let Some(id) = observed
                    .iter()
                    .find(|s| s.stage_name == name)
                    .and_then(|s| s.deployment_id.clone())
                {
                    in_use.remove(&id);
                }
            }
            remove_finalizer(ctx, stage).await?;
            continue;
        }
        add_finalizer(ctx, stage).await?;
        if let Some(holder) = holders.get(&name).filter(|h| *h != claim.object) {
            refuse_stage_name(ctx, stage, holder).await?;
            continue;
        }
        keep = keep.max(stage.spec.deployment.keep_deployments.max(1) as usize);
        let current = observed.iter().find(|s| s.stage_name == name);
        let mut status = stage.status.clone().unwrap_or_default();
        if status.rest_api_id.as_deref().is_some_and(|id| id != api_id) {
            // Status of an API that is gone (deleted behind the operator's back and
            // made again): its deployments do not exist in this one, so the stage
            // starts over (a Manual stage deploys its revision anew).
            tracing::info!(stage = %name, previous_api = ?status.rest_api_id, "stage status is of another REST API; starting over");
            status.deployment_id = None;
            status.deployed_fingerprint = None;
            status.deployed_at = None;
            status.deployed_revision = None;
            status.history.clear();
        }
        // Promotion: the stage takes the canary's deployment before anything else.
        let mut current_owned = current.cloned();
        if let (Some(canary), Some(observed)) = (&stage.spec.canary, current_owned.as_mut())
            && canary.promote
            && let Some(canary_deployment) = observed
                .canary
                .as_ref()
                .and_then(|c| c.deployment_id.clone())
        {
            let ops = [
                PatchOp::replace("/deploymentId", &canary_deployment),
                PatchOp::remove("/canarySettings", None),
            ];
            ctx.aws.update_stage(api_id, &name, &ops).await?;
            tracing::info!(stage = %name, deployment_id = %canary_deployment, "promoted the canary");
            ctx.event(
                stage,
                EventType::Normal,
                "CanaryPromoted",
                "Promote",
                format!("stage {name} now serves the canary's deployment {canary_deployment}"),
            )
            .await;
            observed.deployment_id = Some(canary_deployment);
            observed.canary = None;
        }
        let current = current_owned.as_ref();
        // With a canary, new deployments go to the canary; the stage keeps serving
        // the rest of the traffic from its own deployment until promotion.
        let to_canary = canary_active(&stage.spec) && current.is_some();
        let serving = if to_canary {
            current
                .and_then(|s| s.canary.as_ref())
                .and_then(|c| c.deployment_id.as_deref())
        } else {
            current.and_then(|s| s.deployment_id.as_deref())
        };
        let existing =
            deployment_for_fingerprint(&deployments, inputs.fingerprint).map(str::to_string);
        let decision = deployment_decision(&DeploymentInput {
            policy: &stage.spec.deployment,
            fingerprint: inputs.fingerprint,
            fingerprint_since: inputs.fingerprint_since,
            now: Timestamp::now(),
            routes_in_effect: (inputs.all_in_effect || !stage.spec.deployment.wait_for_all_routes)
                && !names_a_missing_function(inputs.blocking)
                && inputs.routes_in_effect > 0,
            deployed_fingerprint: status.deployed_fingerprint.as_deref(),
            deployed_deployment_id: status.deployment_id.as_deref(),
            deployed_revision: status.deployed_revision,
            stage_deployment_id: serving,
            existing_deployment: existing.as_deref(),
        });
        tracing::debug!(stage = %name, ?decision, "deployment decision");
        let target = Target {
            exists: current.is_some(),
            to_canary,
        };
        let outcome = apply_decision(
            ctx,
            stage,
            api_id,
            inputs,
            target,
            &decision,
            &mut deployments,
        )
        .await;
        let (readiness, deployed) = match outcome {
            Ok(result) => result,
            Err(e) => {
                let readiness = Readiness::not(e.reason(), e.to_string());
                first_error.get_or_insert(e);
                (readiness, None)
            }
        };
        if let DeploymentDecision::Wait { remaining, reason } = &decision
            && !(*reason == WaitReason::RoutesNotInEffect && waits_on_a_person(inputs.blocking))
        {
            requeue = Some(requeue.map_or(*remaining, |r| r.min(*remaining)));
        }
        // Settings converge once the stage exists, whatever the deployment decision.
        let mut readiness = readiness;
        let created = current.is_none() && deployed.is_some();
        let observed_now = if created { None } else { current };
        if (current.is_some() || created)
            && readiness.ready
            && let Err(e) = converge_settings(ctx, stage, api_id, observed_now).await
        {
            readiness = Readiness::not(e.reason(), e.to_string());
            first_error.get_or_insert(e);
        }
        if readiness.ready {
            let unmatched = unmatched_route_settings(&stage.spec, inputs.methods);
            if !unmatched.is_empty() {
                readiness = Readiness::not(
                    "RouteSettingsUnmatched",
                    format!(
                        "routeSettings name {}, which no Route of this API declares; the other settings are in effect. Fix the method or path, or remove the entry",
                        unmatched.join(", ")
                    ),
                );
            }
        }
        if let Some(id) = &deployed {
            in_use.insert(id.clone());
        }
        report(
            ctx,
            stage,
            api_id,
            &status,
            deployed,
            inputs.fingerprint,
            &readiness,
        )
        .await?;
    }

    for id in deployments_to_delete(&deployments, &in_use, keep) {
        ctx.aws.delete_deployment(api_id, &id).await?;
        tracing::info!(deployment_id = %id, "deleted old deployment");
        deployments.retain(|d| d.id != id);
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    if listed && !ctx.aws.is_observe_only() {
        ctx.shared
            .deployments
            .remember(api_id.to_string(), deployments);
    }
    Ok(requeue)
}

/// Whether a Stage's status says it manages its stage on this API (it made or
/// found it and was not refused since).
fn holds_stage(stage: &Stage, api_id: &str) -> bool {
    let Some(status) = &stage.status else {
        return false;
    };
    status.rest_api_id.as_deref() == Some(api_id)
        && status.deployment_id.is_some()
        && !status
            .conditions
            .iter()
            .any(|c| c.type_ == super::conditions::READY && c.reason == STAGE_NAME_CONFLICT)
}

const STAGE_NAME_CONFLICT: &str = "StageNameConflict";

/// A Stage whose stage name another Stage holds: Ready=False naming the holder,
/// and nothing of the stage in its status (it serves nothing). No AWS call.
async fn refuse_stage_name(ctx: &Context, stage: &Stage, holder: &str) -> Result<(), Error> {
    let readiness = Readiness::not(
        STAGE_NAME_CONFLICT,
        format!(
            "Stage {holder} already manages stage {} of this API; give this Stage another stageName or delete one of the two",
            stage.spec.stage_name
        ),
    );
    let (conditions, changed) = next_conditions(stage, &readiness);
    let status = json!({
        "observedGeneration": stage.metadata.generation,
        "conditions": conditions,
    });
    apply_status(ctx, stage, &status).await?;
    if changed {
        readiness_event(ctx, stage, &readiness).await;
    }
    Ok(())
}

/// Carry out a deployment decision. Returns the stage's readiness and, when the
/// stage now serves a deployment it did not record, that deployment's id.
async fn apply_decision(
    ctx: &Context,
    stage: &Stage,
    api_id: &str,
    inputs: &StageInputs<'_>,
    target: Target,
    decision: &DeploymentDecision,
    deployments: &mut Vec<ObservedDeployment>,
) -> Result<(Readiness, Option<String>), Error> {
    let name = &stage.spec.stage_name;
    let serving = |id: &str| match (&stage.spec.canary, target.to_canary) {
        (Some(canary), true) => Readiness::ok(
            "Deployed",
            format!(
                "the canary of stage {name} serves deployment {id} to {}% of requests",
                canary.percent_traffic
            ),
        ),
        _ if !inputs.blocking.is_empty() => Readiness::ok(
            "Deployed",
            format!(
                "stage {name} serves deployment {id}, without what is not in effect: {}",
                named(inputs.blocking)
            ),
        ),
        _ => Readiness::ok("Deployed", format!("stage {name} serves deployment {id}")),
    };
    match decision {
        DeploymentDecision::Nothing => {
            let id = stage
                .status
                .as_ref()
                .and_then(|s| s.deployment_id.clone())
                .unwrap_or_default();
            Ok((serving(&id), None))
        }
        DeploymentDecision::Record(id) => Ok((serving(id), Some(id.clone()))),
        DeploymentDecision::Wait { remaining, reason } => {
            let why = match reason {
                WaitReason::Debounce => {
                    format!(
                        "the API changed; deploying after {}s without further changes",
                        remaining.as_secs().max(1)
                    )
                }
                WaitReason::RoutesNotInEffect if inputs.routes_in_effect == 0 => {
                    "the API has no route in effect yet; a stage needs at least one".to_string()
                }
                WaitReason::RoutesNotInEffect if names_a_missing_function(inputs.blocking) => {
                    format!(
                        "not deploying while a Lambda function the API's methods call does not exist (its method is in the API, waiting for the function; waitForAllRoutes does not change this): {}",
                        named(inputs.blocking)
                    )
                }
                WaitReason::RoutesNotInEffect => format!(
                    "waiting until every Route and Authorizer of the API is in effect before deploying; not in effect: {} (or set deployment.waitForAllRoutes: false to deploy what is in effect)",
                    named(inputs.blocking)
                ),
            };
            let reason = match reason {
                WaitReason::Debounce => "DeploymentPending",
                WaitReason::RoutesNotInEffect => "WaitingForRoutes",
            };
            Ok((Readiness::not(reason, why), None))
        }
        DeploymentDecision::Deploy => {
            let id = ctx
                .aws
                .create_deployment(api_id, &deployment_description(inputs.fingerprint))
                .await?;
            tracing::info!(deployment_id = %id, stage = %name, "created deployment");
            deployments.push(ObservedDeployment {
                id: id.clone(),
                created: Timestamp::now().as_second(),
                description: deployment_description(inputs.fingerprint),
            });
            point_stage(ctx, stage, api_id, target, &id).await?;
            ctx.event(
                stage,
                EventType::Normal,
                "Deployed",
                "Deploy",
                format!("deployed the API as deployment {id} to stage {name}"),
            )
            .await;
            Ok((serving(&id), Some(id)))
        }
        DeploymentDecision::PointStageAt(id) if !deployments.iter().any(|d| &d.id == id) => Ok((
            Readiness::not(
                "DeploymentNotFound",
                format!(
                    "deployment {id} does not exist in REST API {api_id} (was the API made again?); pin a deployment of this API, for example another stage's status.deploymentId"
                ),
            ),
            None,
        )),
        DeploymentDecision::PointStageAt(id) => {
            point_stage(ctx, stage, api_id, target, id).await?;
            ctx.event(
                stage,
                EventType::Normal,
                "Deployed",
                "Deploy",
                format!("stage {name} now serves deployment {id}"),
            )
            .await;
            Ok((serving(id), Some(id.clone())))
        }
    }
}

/// Whether a Route (or the API's document) calls a Lambda function that does not
/// exist. Its method and integration are written to the API anyway, so the
/// function can be deployed after the API (by another tool, in any order); but a
/// deployment snapshots every method of the API, in effect or not, so none is
/// made until the function exists, whatever `waitForAllRoutes` says: nothing
/// calling a missing function ever reaches a stage.
fn names_a_missing_function(blocking: &[String]) -> bool {
    blocking
        .iter()
        .any(|entry| entry.ends_with("(LambdaFunctionNotFound)"))
}

/// Whether what keeps a deployment waiting (`blocking`, "Route name (Reason)")
/// can only be ended by a person: every entry stalled (a missing function or
/// user pool, an invalid spec), or a Route waiting on such an Authorizer. Then
/// the pass is not repeated on a timer: looking again changes nothing until a
/// spec, a referenced object (both wake the API) or the resync period does.
fn waits_on_a_person(blocking: &[String]) -> bool {
    let classes: Vec<Option<Class>> = blocking
        .iter()
        .map(|entry| {
            let reason = entry.rsplit_once('(')?.1.strip_suffix(')')?;
            Some(super::reasons::lookup(reason)?.class)
        })
        .collect();
    let stalled = |c: &Option<Class>| *c == Some(Class::NeedsUser);
    let behind_an_authorizer = |(entry, _): (&String, &Option<Class>)| {
        entry.starts_with("Route ") && entry.ends_with("(AuthorizerNotReady)")
    };
    classes.iter().any(stalled)
        && blocking
            .iter()
            .zip(&classes)
            .all(|pair| stalled(pair.1) || behind_an_authorizer(pair))
}

/// Up to five names, then how many more.
fn named(items: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        text.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    text
}

/// Create the stage on the deployment, or move it there.
/// Where a deployment goes: the stage (created if missing) or its canary.
#[derive(Clone, Copy, Debug)]
struct Target {
    exists: bool,
    to_canary: bool,
}

async fn point_stage(
    ctx: &Context,
    stage: &Stage,
    api_id: &str,
    target: Target,
    deployment_id: &str,
) -> Result<(), Error> {
    if target.exists {
        let mut ops = vec![];
        match &stage.spec.canary {
            Some(canary) if target.to_canary => {
                ops.push(PatchOp::replace(
                    "/canarySettings/deploymentId",
                    deployment_id,
                ));
                ops.push(PatchOp::replace(
                    "/canarySettings/percentTraffic",
                    canary.percent_traffic.to_string(),
                ));
            }
            _ => ops.push(PatchOp::replace("/deploymentId", deployment_id)),
        }
        ctx.aws
            .update_stage(api_id, &stage.spec.stage_name, &ops)
            .await?;
    } else {
        ctx.aws
            .create_stage(api_id, deployment_id, &desired_create_stage(&stage.spec))
            .await?;
        tracing::info!(stage = %stage.spec.stage_name, "created stage");
    }
    Ok(())
}

/// Variables, throttling, caching, logging, tracing, canary and tags. `observed` is
/// None for a stage created in this pass, which is read once to see what AWS filled in.
async fn converge_settings(
    ctx: &Context,
    stage: &Stage,
    api_id: &str,
    observed: Option<&ObservedStage>,
) -> Result<(), Error> {
    let fresh;
    let observed = match observed {
        Some(o) => o,
        None => {
            let found = ctx
                .aws
                .get_stages(api_id)
                .await?
                .into_iter()
                .find(|s| s.stage_name == stage.spec.stage_name);
            let Some(found) = found else { return Ok(()) };
            fresh = found;
            &fresh
        }
    };
    let ops = stage_patch_operations(&stage.spec, observed);
    if !ops.is_empty() {
        ctx.aws
            .update_stage(api_id, &stage.spec.stage_name, &ops)
            .await?;
        tracing::info!(stage = %stage.spec.stage_name, changes = ops.len(), "updated stage settings");
    }
    let (tag, untag) = stage_tag_changes(&stage.spec, observed);
    if !tag.is_empty() {
        ctx.aws
            .tag_stage(api_id, &stage.spec.stage_name, &tag)
            .await?;
    }
    if !untag.is_empty() {
        ctx.aws
            .untag_stage(api_id, &stage.spec.stage_name, &untag)
            .await?;
    }
    Ok(())
}

async fn report(
    ctx: &Context,
    stage: &Stage,
    api_id: &str,
    previous: &crate::api::stage::StageStatus,
    deployed: Option<String>,
    fingerprint: &str,
    readiness: &Readiness,
) -> Result<(), Error> {
    let mut deployment_id = previous.deployment_id.clone();
    let mut deployed_fingerprint = previous.deployed_fingerprint.clone();
    let mut deployed_at = previous.deployed_at.clone();
    let mut deployed_revision = previous.deployed_revision;
    let mut history = previous.history.clone();
    if let Some(id) = deployed
        && previous.deployment_id.as_deref() != Some(id.as_str())
    {
        let now = now_rfc3339();
        history.insert(
            0,
            DeploymentRecord {
                deployment_id: id.clone(),
                fingerprint: fingerprint.to_string(),
                deployed_at: now.clone(),
            },
        );
        history.truncate(HISTORY);
        deployment_id = Some(id);
        deployed_fingerprint = Some(fingerprint.to_string());
        deployed_at = Some(now);
    }
    if readiness.ready && stage.spec.deployment.policy == DeploymentMode::Manual {
        deployed_revision = stage.spec.deployment.revision.or(deployed_revision);
    }
    let (conditions, changed) = next_conditions(stage, readiness);
    let mut status = json!({
        "observedGeneration": stage.metadata.generation,
        "restApiId": api_id,
        "conditions": conditions,
    });
    if let Some(id) = &deployment_id {
        status["deploymentId"] = json!(id);
        status["invokeUrl"] = json!(format!(
            "{}/{}",
            ctx.aws.execute_api_url(api_id),
            stage.spec.stage_name
        ));
    }
    if let Some(f) = deployed_fingerprint {
        status["deployedFingerprint"] = json!(f);
    }
    if let Some(at) = deployed_at {
        status["deployedAt"] = json!(at);
    }
    if let Some(r) = deployed_revision {
        status["deployedRevision"] = json!(r);
    }
    if !history.is_empty() {
        status["history"] = json!(history);
    }
    apply_status(ctx, stage, &status).await?;
    if changed {
        readiness_event(ctx, stage, readiness).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stage kept waiting by a missing user pool (its Authorizer stalled, the
    /// Routes behind it) is not passed again on a timer; one kept by something
    /// on its way is.
    #[test]
    fn only_waits_on_a_person_stop_the_recheck() {
        let blocking = |entries: &[&str]| entries.iter().map(|e| e.to_string()).collect::<Vec<_>>();
        assert!(waits_on_a_person(&blocking(&[
            "Authorizer users (UserPoolNotFound)",
            "Route a (AuthorizerNotReady)",
            "Route b (AuthorizerNotReady)",
        ])));
        assert!(waits_on_a_person(&blocking(&[
            "Route a (LambdaFunctionNotFound)"
        ])));
        assert!(!waits_on_a_person(&blocking(&[
            "Route a (AuthorizerNotReady)"
        ])));
        assert!(!waits_on_a_person(&blocking(&[
            "Route a (LambdaFunctionNotFound)",
            "Route b (Applying)",
        ])));
        assert!(!waits_on_a_person(&[]));
    }

    /// A method calling a missing function keeps every deployment back, also
    /// with waitForAllRoutes false; other failing routes do not.
    #[test]
    fn a_missing_function_is_never_deployed() {
        assert!(names_a_missing_function(&[
            "Route a (LambdaFunctionNotFound)".to_string()
        ]));
        assert!(names_a_missing_function(&[
            "Lambda function f (LambdaFunctionNotFound)".to_string()
        ]));
        assert!(!names_a_missing_function(&[
            "Route a (MethodConflict)".to_string()
        ]));
    }
}
