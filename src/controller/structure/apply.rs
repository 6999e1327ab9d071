//! Carrying out a structure plan: several independent writes at once within
//! the quotas, or the whole API in one import when that is cheaper and safe.

use super::*;

/// Calls an incremental plan must cost before one import of the whole API replaces
/// it: two seconds of the account's 10 requests/s, so a one-route edit stays a few
/// writes of its own.
pub(super) const WHOLE_API_MIN_CALLS: usize = 20;

/// The whole API as one OpenAPI document, when one PutRestApi (overwrite) is the
/// cheaper way to carry out `actions` and overwriting loses nothing: an API the
/// operator created (never an adopted one), without Authorizers or models (their
/// ids would change under the methods), whose methods in AWS are all ones the
/// Routes declare (nothing hand-made, retained or on its way out).
pub(super) fn whole_api_document(
    obj: &RestApi,
    desired: &DesiredStructure,
    observed: &[crate::plan::routes::ObservedResource],
    actions: &[StructureAction],
    simple: bool,
) -> Option<String> {
    if obj.spec.rest_api_id.is_some()
        || !simple
        || crate::plan::routes::structure_cost(actions) < WHOLE_API_MIN_CALLS
    {
        return None;
    }
    let declared = |path: &str, verb: &str| {
        desired
            .methods
            .contains_key(&(path.to_string(), verb.to_string()))
    };
    if !observed
        .iter()
        .all(|r| r.methods.keys().all(|verb| declared(&r.path, verb)))
    {
        return None;
    }
    let settings =
        crate::plan::rest_api::desired_settings(&obj.spec, &obj.name_any(), None).ok()?;
    crate::plan::openapi::render_structure(&desired.methods, &settings)
}

/// One PutRestApi in place of `actions`; whether it went through. A failure is
/// logged, not returned: the pass then writes what is still missing one call at
/// a time.
pub(super) async fn import_whole_api(
    ctx: &Context,
    obj: &RestApi,
    api_id: &str,
    body: &str,
    actions: &[StructureAction],
) -> bool {
    let calls = crate::plan::routes::structure_cost(actions);
    match ctx.aws.put_rest_api(api_id, body, false).await {
        Ok((warnings, api)) => {
            tracing::info!(calls, ?warnings, "imported the whole API in one call");
            crate::controller::rest_api::after_import(ctx, obj, api_id, api);
            ctx.event(
                obj,
                EventType::Normal,
                "Imported",
                "Import",
                format!(
                    "wrote the API's structure in one import (PutRestApi) instead of {calls} calls"
                ),
            )
            .await;
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, calls, "importing the whole API failed; writing it one call at a time");
            false
        }
    }
}

/// Structure writes of one API in flight at once, and how many of them may be
/// resource creations or deletions. CreateResource has a budget of its own (5/s)
/// below the account's 10/s: with a few of them waiting on it, the methods of
/// resources already made use the rest of the account's budget meanwhile.
pub(super) const STRUCTURE_WRITERS: usize = 6;

pub(super) const RESOURCE_WRITERS: usize = 2;

/// Carry out a structure plan, independent writes at once (`structure_dependencies`)
/// within the limiter's budget. This reconcile stays the API's only writer, and a
/// crash anywhere leaves a state the next pass reads back and plans from. A method
/// AWS rejects as invalid fails its own route only; any other failure stops new
/// writes, lets those in flight finish, and is returned.
pub(super) async fn apply_structure(
    ctx: &Context,
    api_id: &str,
    ids: &mut BTreeMap<String, String>,
    actions: &[StructureAction],
    routes: &[Route],
) -> (Option<Error>, BTreeMap<(String, String), Error>) {
    use futures::StreamExt;
    use futures::stream::FuturesUnordered;

    let deps = crate::plan::routes::structure_dependencies(actions);
    let is_resource_write = |a: &StructureAction| {
        matches!(
            a,
            StructureAction::CreateResource { .. } | StructureAction::DeleteResource { .. }
        )
    };
    let mut started = vec![false; actions.len()];
    let mut done = vec![false; actions.len()];
    let mut resource_writes = 0;
    let mut failure: Option<Error> = None;
    let mut rejected: BTreeMap<(String, String), Error> = BTreeMap::new();
    let mut in_flight = FuturesUnordered::new();
    loop {
        if failure.is_none() {
            for (i, action) in actions.iter().enumerate() {
                if in_flight.len() >= STRUCTURE_WRITERS {
                    break;
                }
                let resource_write = is_resource_write(action);
                if started[i]
                    || (resource_write && resource_writes >= RESOURCE_WRITERS)
                    || !deps[i].iter().all(|j| done[*j])
                {
                    continue;
                }
                started[i] = true;
                resource_writes += usize::from(resource_write);
                // Each write gets the ids it reads; what it creates or deletes is merged back.
                let mut own: BTreeMap<String, String> = action_paths(action)
                    .into_iter()
                    .filter_map(|p| Some((p.clone(), ids.get(&p)?.clone())))
                    .collect();
                in_flight.push(async move {
                    tracing::info!(?action, "structure change");
                    let result = ctx
                        .aws
                        .apply_structure_action(api_id, &mut own, action)
                        .await;
                    if result.is_ok() {
                        method_event(ctx, routes, action).await;
                    }
                    (i, own, result)
                });
            }
        }
        let Some((i, own, result)) = in_flight.next().await else {
            break;
        };
        let action = &actions[i];
        resource_writes -= usize::from(is_resource_write(action));
        match result {
            Ok(()) => {
                done[i] = true;
                match action {
                    StructureAction::CreateResource { path } => {
                        if let Some(id) = own.get(path) {
                            ids.insert(path.clone(), id.clone());
                        }
                    }
                    StructureAction::DeleteResource { path } => {
                        ids.remove(path);
                    }
                    _ => {}
                }
            }
            Err(e) if !e.is_retryable() && matches!(action, StructureAction::PutMethod { .. }) => {
                if let StructureAction::PutMethod { path, verb, .. } = action {
                    tracing::warn!(%path, %verb, error = %e, "AWS rejected a method; its route is reported, the others go on");
                    rejected.insert((path.clone(), verb.clone()), Error::from(e));
                }
                done[i] = true;
            }
            Err(e) => {
                if failure.is_none() {
                    failure = Some(Error::from(e));
                }
            }
        }
    }
    (failure, rejected)
}

/// The paths whose resource ids a structure write reads: its own and its parent's.
pub(super) fn action_paths(action: &StructureAction) -> [String; 2] {
    match action {
        StructureAction::CreateResource { path } => {
            [path.clone(), crate::plan::routes::parent_path(path)]
        }
        StructureAction::DeleteMethod { path, .. }
        | StructureAction::PutMethod { path, .. }
        | StructureAction::DeleteResource { path } => [path.clone(), path.clone()],
    }
}

/// A Normal Event on the route whose method a structure change touched.
pub(super) async fn method_event(ctx: &Context, routes: &[Route], action: &StructureAction) {
    let (path, verb, reason, note) = match action {
        StructureAction::PutMethod { path, verb, .. } => (
            path,
            verb,
            "MethodPut",
            format!("put {verb} {path} with its integration"),
        ),
        StructureAction::DeleteMethod { path, verb } => (
            path,
            verb,
            "MethodDeleted",
            format!("deleted {verb} {path}"),
        ),
        _ => return,
    };
    let owner = routes.iter().find(|r| {
        &r.spec.path == path && crate::plan::routes::verb(r.spec.method) == verb.as_str()
    });
    if let Some(route) = owner {
        ctx.event(route, EventType::Normal, reason, reason, note)
            .await;
    }
}

/// Before a pass writes to the structure of an API that is not Ready (being made,
/// or recovering from a failure): Ready=False `Applying` with what the pass will
/// do, so a long pass shows progress instead of the last error. An API that is
/// Ready stays so while an edit applies. `status` is the pass's, so the API's id
/// and whatever else the pass learned so far stay in it.
pub(super) async fn show_progress(
    obj: &RestApi,
    status: &RestApiStatus,
    ctx: &Context,
    changes: usize,
    routes: &[Route],
) {
    if is_ready(&status.conditions) {
        return;
    }
    let live = routes.iter().filter(|r| !is_deleting(*r));
    let total = live.clone().count();
    let in_effect = live
        .filter(|r| r.status.as_ref().is_some_and(|s| is_ready(&s.conditions)))
        .count();
    crate::controller::outcome::write_progress(
        obj,
        ctx,
        status,
        "Applying",
        format!(
            "applying {changes} change(s) to the structure of the API; {in_effect} of {total} Route(s) in effect so far"
        ),
    )
    .await;
}
