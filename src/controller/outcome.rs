//! How a reconcile of a kind that owns its whole status ends: the Ready condition
//! from the result, one status write (skipped when nothing changed), Events, and
//! the retry decision. RestApi, WebSocketApi, DomainName, UsagePlan and ApiKey share it.

use std::fmt::Debug;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::conditions::{READY, condition, now_rfc3339, set_condition};
use super::{Context, Error};
use crate::api::Condition;
use crate::api::api_key::{ApiKey, ApiKeyStatus};
use crate::api::domain_name::{DomainName, DomainNameStatus};
use crate::api::rest_api::{RestApi, RestApiStatus};
use crate::api::usage_plan::{UsagePlan, UsagePlanStatus};
use crate::api::websocket_api::{WebSocketApi, WebSocketApiStatus};

/// A status whose conditions and observed generation the reconciler keeps.
pub trait OwnStatus: Clone + Default + PartialEq + Serialize + Send + Sync {
    fn conditions(&self) -> &[Condition];
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
    fn set_observed_generation(&mut self, generation: Option<i64>);
    /// The account and region the object's resources live in.
    fn set_location(&mut self, account: Option<String>, region: String);
    fn set_planned_changes(&mut self, planned: Vec<String>);
}

/// A kind whose reconciler writes its whole status with server-side apply.
pub trait OwnsStatus:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
{
    type Status: OwnStatus;
    fn current_status(&self) -> Option<&Self::Status>;
}

macro_rules! owns_status {
    ($kind:ty, $status:ty) => {
        impl OwnStatus for $status {
            fn conditions(&self) -> &[Condition] {
                &self.conditions
            }
            fn conditions_mut(&mut self) -> &mut Vec<Condition> {
                &mut self.conditions
            }
            fn set_observed_generation(&mut self, generation: Option<i64>) {
                self.observed_generation = generation;
            }
            fn set_location(&mut self, account: Option<String>, region: String) {
                if account.is_some() {
                    self.tenant.account_id = account;
                }
                self.tenant.region = Some(region);
            }
            fn set_planned_changes(&mut self, planned: Vec<String>) {
                self.tenant.planned_changes = planned;
            }
        }
        impl OwnsStatus for $kind {
            type Status = $status;
            fn current_status(&self) -> Option<&$status> {
                self.status.as_ref()
            }
        }
    };
}

owns_status!(RestApi, RestApiStatus);
owns_status!(DomainName, DomainNameStatus);
owns_status!(UsagePlan, UsagePlanStatus);
owns_status!(ApiKey, ApiKeyStatus);
owns_status!(WebSocketApi, WebSocketApiStatus);

/// Server-side apply of the whole status, unless it is what the object already has
/// (an identical write would still cost an API call).
pub async fn write_status<K: OwnsStatus>(
    obj: &K,
    ctx: &Context,
    status: &K::Status,
) -> Result<(), Error> {
    let written = ctx.take_status_written(obj.meta().uid.as_deref().unwrap_or_default());
    if !written && obj.current_status() == Some(status) {
        return Ok(());
    }
    let api: Api<K> = ctx.api_in(&obj.namespace().unwrap_or_default());
    let patch = json!({"apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status});
    let written = api
        .patch_status(
            &obj.name_any(),
            &PatchParams::apply(crate::api::common::FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(Error::kube("patch status"))?;
    ctx.note_status_version(
        obj.meta().uid.as_deref().unwrap_or_default(),
        written.meta().resource_version.as_deref(),
    );
    Ok(())
}

/// Record in `status` the account and region the object's resources live in, when
/// the operator serves several.
fn locate<S: OwnStatus>(status: &mut S, ctx: &Context) {
    if ctx.scoped {
        status.set_location(
            ctx.aws.known_account().map(str::to_string),
            ctx.aws.region.clone(),
        );
    }
}

/// Show a long pass's progress: `status` as the pass knows it so far, with
/// Ready=False `reason`. The pass's final write follows whatever this one wrote
/// (`Shared::mark_status_written` makes sure it is not skipped); a failure here
/// costs only the report.
pub async fn write_progress<K: OwnsStatus>(
    obj: &K,
    ctx: &Context,
    status: &K::Status,
    reason: &str,
    message: String,
) {
    let mut shown = status.clone();
    locate(&mut shown, ctx);
    set_condition(
        shown.conditions_mut(),
        condition(
            READY,
            false,
            reason,
            message,
            obj.meta().generation,
            &now_rfc3339(),
        ),
    );
    match write_status(obj, ctx, &shown).await {
        Ok(()) => ctx.mark_status_written(obj.meta().uid.as_deref().unwrap_or_default()),
        Err(e) => tracing::debug!(error = %e, "could not show progress"),
    }
}

/// Write a just-created API's id into status at once (Ready=False Applying), not
/// at the end of a pass that may wait minutes on the deployment quota. The pass
/// reports the API's children under this id meanwhile, and their reference
/// reconciler leaves a child alone once it is reported under its API's id
/// (`children::ParentState::answers_for`); an API with no id yet looks not made,
/// and a child's InEffect would be overwritten with "not ready".
pub async fn record_created<K: OwnsStatus>(obj: &K, ctx: &Context, status: &K::Status, made: &str) {
    write_progress(obj, ctx, status, "Applying", format!("created {made}")).await;
}

/// End a reconcile. `notes` become Normal Events; `result` is the converge pass
/// (Ok(Some(d)): look again after `d`, sooner than the resync); `ready` is the
/// reason and message of Ready=True.
pub async fn finish<K: OwnsStatus>(
    obj: &K,
    ctx: &Context,
    mut status: K::Status,
    notes: Vec<(&'static str, String)>,
    mut result: Result<Option<Duration>, Error>,
    mut ready: (&str, &str),
) -> Result<Action, Error> {
    locate(&mut status, ctx);
    let observe_only = ctx.planned_changes();
    if let Some(planned) = &observe_only {
        result = observed_result(planned, result);
        status.set_planned_changes(planned_lines(planned));
        ready = (
            "Observed",
            "managementPolicy ObserveOnly: AWS matches the spec; nothing would change",
        );
    } else {
        status.set_planned_changes(Vec::new());
    }
    for (reason, note) in notes {
        ctx.event(obj, EventType::Normal, reason, reason, note)
            .await;
    }
    let now = now_rfc3339();
    let generation = obj.meta().generation;
    status.set_observed_generation(generation);
    match result {
        Ok(wait) => {
            set_condition(
                status.conditions_mut(),
                condition(READY, true, ready.0, ready.1, generation, &now),
            );
            write_status(obj, ctx, &status).await?;
            Ok(Action::requeue(wait.map_or(ctx.settings.resync, |w| {
                w.min(ctx.settings.resync)
            })))
        }
        // A write conflict is no state worth showing: the retry follows at once.
        Err(err) if err.is_conflict() => Err(err),
        Err(err) => {
            let before = ready_state(
                obj.current_status()
                    .map(|s| s.conditions())
                    .unwrap_or_default(),
            );
            set_condition(
                status.conditions_mut(),
                condition(
                    READY,
                    false,
                    err.reason(),
                    err.to_string(),
                    generation,
                    &now,
                ),
            );
            // The status write carries any id learned before the failure, so the next
            // pass reads what was made instead of making it again.
            if let Err(status_err) = write_status(obj, ctx, &status).await {
                tracing::warn!(error = %status_err, "could not record the failure in status");
            }
            // One Warning per state: a wait re-evaluated on every change of what it
            // waits for must not repeat its Event each time.
            if before != ready_state(status.conditions()) {
                let type_ = super::reasons::event_type(err.reason());
                ctx.event(obj, type_, err.reason(), "Reconcile", err.to_string())
                    .await;
            }
            if err.is_retryable() {
                Err(err)
            } else if observe_only.is_some() || err.rechecked_at_resync() {
                // Drift, and what AWS refused, are looked at again on every resync.
                Ok(Action::requeue(ctx.settings.resync))
            } else {
                Ok(Action::await_change())
            }
        }
    }
}

/// How a cleanup's deletion in AWS ends: a Warning Event with the error, which is
/// returned so the finalizer stays and the deletion is retried; or a Normal
/// `Deleted` Event saying what went.
pub async fn report_deletion<K, E>(
    ctx: &Context,
    obj: &K,
    result: Result<(), E>,
    deleted: String,
) -> Result<(), Error>
where
    K: Resource<DynamicType = ()>,
    E: Into<Error>,
{
    match result {
        Ok(()) => {
            tracing::info!("{deleted}");
            ctx.event(obj, EventType::Normal, "Deleted", "Delete", deleted)
                .await;
            Ok(())
        }
        Err(err) => {
            let err = err.into();
            ctx.event(
                obj,
                EventType::Warning,
                err.reason(),
                "Delete",
                err.to_string(),
            )
            .await;
            Err(err)
        }
    }
}

fn ready_state(conditions: &[Condition]) -> Option<(String, String, String)> {
    conditions
        .iter()
        .find(|c| c.type_ == READY)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// End a reconcile that could not start: the binding, region or policy refused
/// the object before any AWS call. Ready=False says why.
pub async fn refuse<K: OwnsStatus>(obj: &K, ctx: &Context, err: Error) -> Result<Action, Error> {
    let status = obj.current_status().cloned().unwrap_or_default();
    finish(obj, ctx, status, Vec::new(), Err(err), ("", "")).await
}

/// Most lines `status.plannedChanges` holds.
const PLANNED_LINES: usize = 50;

fn planned_lines(planned: &[String]) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for line in planned {
        if !lines.contains(line) {
            lines.push(line.clone());
        }
    }
    if lines.len() > PLANNED_LINES {
        let more = lines.len() - (PLANNED_LINES - 1);
        lines.truncate(PLANNED_LINES - 1);
        lines.push(format!("... and {more} more"));
    }
    lines
}

/// ObserveOnly: a pass that planned nothing is Ready; one that would change
/// something (a withheld write, or changes noted by the plan) is DriftDetected;
/// any other failure is reported as it is.
fn observed_result(
    planned: &[String],
    result: Result<Option<Duration>, Error>,
) -> Result<Option<Duration>, Error> {
    let drift_or_converged = match &result {
        Ok(_) => true,
        Err(Error::Aws(e)) => e.kind == crate::aws::ErrorKind::Withheld,
        Err(_) => false,
    };
    if !drift_or_converged {
        return result;
    }
    if planned.is_empty() {
        return Ok(None);
    }
    let lines = planned_lines(planned);
    Err(Error::DriftDetected(format!(
        "AWS differs from the spec; {} change(s) planned, none made (status.plannedChanges): {}",
        lines.len(),
        lines.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn withheld() -> Error {
        Error::Aws(crate::aws::AwsError {
            service: "apigateway",
            operation: "UpdateRestApi",
            resource: "a1".into(),
            kind: crate::aws::ErrorKind::Withheld,
            code: "ObserveOnly".into(),
            message: String::new(),
        })
    }

    /// Nothing planned: the observed object is Ready.
    #[test]
    fn observe_only_without_changes_is_ready() {
        assert!(matches!(
            observed_result(&[], Ok(Some(Duration::from_secs(5)))),
            Ok(None)
        ));
    }

    /// A withheld write is drift, reported with the plan, never a failure to retry.
    #[test]
    fn observe_only_withheld_write_is_drift() {
        let planned = vec!["UpdateRestApi a1 (withheld)".to_string()];
        let err = observed_result(&planned, Err(withheld())).unwrap_err();
        assert_eq!(err.reason(), "DriftDetected");
        assert!(err.to_string().contains("UpdateRestApi a1"), "{err}");
    }

    /// Other failures (a missing function, throttling) keep their own reason.
    #[test]
    fn observe_only_keeps_other_failures() {
        let err = observed_result(&[], Err(Error::LambdaFunctionNotFound("f".into()))).unwrap_err();
        assert_eq!(err.reason(), "LambdaFunctionNotFound");
    }

    /// The plan preview is bounded and has no repeated lines.
    #[test]
    fn planned_lines_are_bounded_and_unique() {
        let many: Vec<String> = (0..80)
            .map(|i| format!("change {i}"))
            .chain(["change 1".to_string()])
            .collect();
        let lines = planned_lines(&many);
        assert_eq!(lines.len(), PLANNED_LINES);
        assert_eq!(lines.last().unwrap(), "... and 31 more");
    }
}
