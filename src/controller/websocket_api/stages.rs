//! The WebSocket API's Stages (`webSocketApiRef`): converged by the API's own
//! reconciler, each reported into its Stage object.

use super::*;

/// How soon a pass looks again when a Stage could not be converged.
pub(super) const STAGE_RETRY: Duration = Duration::from_secs(30);

/// Converge every Stage of the API and write its status. A Stage that fails gets
/// the failure in its own condition and the others go on; returns whether one
/// failed (look again soon), or the first error that concerns no single Stage's
/// condition (a deletion or a status write), after every Stage had its turn.
pub(super) async fn converge_stages(
    obj: &WebSocketApi,
    ctx: &Context,
    api: &ObservedApi,
    status: &mut WebSocketApiStatus,
    notes: &mut Vec<(&'static str, String)>,
) -> Result<bool, Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let stages: Vec<Stage> = list_children(ctx, &namespace, Parent::WebSocketApi(&name)).await?;
    let mut endpoints = Vec::new();
    // Who holds each stage name: the Stage that made it (its status names the API)
    // keeps it against a newcomer; otherwise the oldest.
    let holds = |s: &Stage| {
        s.status
            .as_ref()
            .and_then(|st| st.web_socket_api_id.as_deref())
            == Some(api.id.as_str())
    };
    let claims = crate::controller::children::stage_claims(&stages, holds);
    let taken = claims::holders(&claims);
    let mut failed = false;
    let mut first_error: Option<Error> = None;
    for (stage, claim) in stages.iter().zip(&claims) {
        let object = stage.name_any();
        let stage_name = stage.spec.stage_name.clone();
        let step: Result<(), Error> = async {
            if is_deleting(stage) {
                // Only the Stage that holds the stage name deletes it: not one that
                // lost a name conflict, nor one whose name another live Stage holds.
                if stage.spec.deletion_policy == DeletionPolicy::Delete
                    && crate::controller::children::has_finalizer(stage)
                    && holds(stage)
                    && claims::may_delete(&claims, claim)
                {
                    ctx.aws.delete_websocket_stage(&api.id, &stage_name).await?;
                    notes.push((
                        "StageDeleted",
                        format!("deleted stage {stage_name} of WebSocket API {}", api.id),
                    ));
                }
                return remove_finalizer(ctx, stage).await;
            }
            add_finalizer(ctx, stage).await?;
            if let Some(holder) = taken.get(&stage_name).filter(|h| **h != object) {
                let readiness = Readiness::not(
                    "StageNameConflict",
                    format!("Stage {holder} already manages stage {stage_name} of this API"),
                );
                return write_stage_status(ctx, stage, None, &readiness).await;
            }
            let endpoint = WebSocketStageEndpoint {
                stage_name: stage_name.clone(),
                stage: object.clone(),
                url: stage_url(&api.endpoint, &stage_name),
                callback_url: callback_url(&api.endpoint, &stage_name),
            };
            let previous = stage.status.clone().unwrap_or_default();
            let (readiness, fields) = match converge_stage(ctx, obj, &api.id, stage).await {
                Ok((deployment, changes)) => {
                    for change in changes {
                        notes.push(("StageUpdated", format!("stage {stage_name}: {change}")));
                    }
                    endpoints.push(endpoint.clone());
                    let ready = Readiness::ok(
                        "AutoDeploy",
                        format!(
                            "stage {stage_name} deploys every change of the API automatically; clients connect to {}",
                            endpoint.url
                        ),
                    );
                    let fields = json!({
                        "observedGeneration": stage.metadata.generation,
                        "webSocketApiId": &api.id,
                        "invokeUrl": &endpoint.url,
                        "callbackUrl": &endpoint.callback_url,
                        "deploymentId": deployment,
                    });
                    (ready, fields)
                }
                Err(err) => {
                    // A spec error waits for an edit (which wakes the API); the rest
                    // are looked at again soon.
                    failed |= err.is_retryable();
                    // A stage that exists keeps what status knew of it (its API id
                    // holds its name and binds it to domains and usage plans).
                    let fields = json!({
                        "observedGeneration": stage.metadata.generation,
                        "webSocketApiId": previous.web_socket_api_id,
                        "invokeUrl": previous.invoke_url,
                        "callbackUrl": previous.callback_url,
                        "deploymentId": previous.deployment_id,
                    });
                    (Readiness::not(err.reason(), err.to_string()), fields)
                }
            };
            write_stage_status(ctx, stage, Some(fields), &readiness).await
        }
        .await;
        if let Err(err) = step {
            tracing::warn!(stage = %object, error = %err, "stage not converged");
            failed = true;
            first_error.get_or_insert(err);
        }
    }
    endpoints.sort();
    status.stages = endpoints;
    match first_error {
        Some(err) => Err(err),
        None => Ok(failed),
    }
}

/// Create or update one stage; returns its deployment id (if AWS reports one) and
/// what changed.
pub(super) async fn converge_stage(
    ctx: &Context,
    obj: &WebSocketApi,
    api_id: &str,
    stage: &Stage,
) -> Result<(Option<String>, Vec<String>), Error> {
    // AWS refuses the whole UpdateStage over one override of a route it lacks.
    for settings in &stage.spec.route_key_settings {
        if !obj
            .spec
            .routes
            .iter()
            .any(|r| r.route_key == settings.route_key)
        {
            return Err(Error::Spec(SpecError::UnknownRouteKey {
                key: settings.route_key.clone(),
                api: obj.name_any(),
            }));
        }
    }
    let aws = &ctx.aws;
    let desired = desired_stage(&stage.spec);
    let observed = aws.get_websocket_stage(api_id, &desired.name).await?;
    let mut deployment = observed.as_ref().and_then(|(_, d)| d.clone());
    let mut changes = Vec::new();
    for action in plan_stage(&desired, observed.as_ref().map(|(s, _)| s)) {
        let arn = aws.v2_arn(&format!("{api_id}/stages/{}", desired.name));
        match action {
            StageAction::Create => {
                aws.create_websocket_stage(api_id, &desired).await?;
                tracing::info!(stage = %desired.name, "created stage");
                changes.push("created with auto-deploy".to_string());
                deployment = aws
                    .get_websocket_stage(api_id, &desired.name)
                    .await?
                    .and_then(|(_, d)| d);
            }
            StageAction::Update => {
                aws.update_websocket_stage(api_id, &desired).await?;
                changes.push("updated settings".to_string());
            }
            StageAction::DeleteRouteSettings(keys) => {
                for key in &keys {
                    aws.delete_websocket_route_settings(api_id, &desired.name, key)
                        .await?;
                }
                changes.push(format!("removed the settings of route {}", keys.join(", ")));
            }
            StageAction::DeleteAccessLog => {
                aws.delete_websocket_access_log(api_id, &desired.name)
                    .await?;
                changes.push("removed access logging".to_string());
            }
            StageAction::Tag(tags) => {
                aws.tag_v2_resource(&arn, &tags).await?;
                changes.push("tagged".to_string());
            }
            StageAction::Untag(keys) => {
                aws.untag_v2_resource(&arn, &keys).await?;
                changes.push("untagged".to_string());
            }
        }
    }
    Ok((deployment, changes))
}

/// Write a Stage's status: the fields (when known) and its Ready condition.
pub(super) async fn write_stage_status(
    ctx: &Context,
    stage: &Stage,
    fields: Option<serde_json::Value>,
    readiness: &Readiness,
) -> Result<(), Error> {
    let (conditions, changed) = next_conditions(stage, readiness);
    let mut status =
        fields.unwrap_or_else(|| json!({"observedGeneration": stage.metadata.generation}));
    status["conditions"] = json!(conditions);
    // Unknown fields are left out rather than written as null.
    if let Some(map) = status.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    apply_status(ctx, stage, &status).await?;
    if changed {
        readiness_event(ctx, stage, readiness).await;
    }
    Ok(())
}

/// Let go of the Stages of a deleted or retained API: their AWS side went with the
/// API, or stays with it.
pub(super) async fn release_stages(ctx: &Context, obj: &WebSocketApi) -> Result<(), Error> {
    let stages: Vec<Stage> = list_children(
        ctx,
        &obj.namespace().unwrap_or_default(),
        Parent::WebSocketApi(&obj.name_any()),
    )
    .await?;
    for stage in &stages {
        remove_finalizer(ctx, stage).await?;
    }
    Ok(())
}
