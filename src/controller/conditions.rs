//! Condition bookkeeping. Transition times change only when a condition's status
//! flips, so a resync that finds nothing new writes an identical status and the
//! API server does not wake the controller again.

use crate::api::Condition;

pub const READY: &str = "Ready";
/// kstatus: work is under way (a transient failure, or waiting for something on its way).
pub const RECONCILING: &str = "Reconciling";
/// kstatus: progress stopped until someone acts.
pub const STALLED: &str = "Stalled";

/// Insert or update `new` in `conditions`, keeping the old transition time when the
/// status did not change. Setting `Ready` also sets the kstatus conditions it
/// implies (so Flux, kstatus and `kubectl wait --for=condition=Stalled` judge the
/// object as Argo CD does): while Ready is False, `Reconciling=True` or
/// `Stalled=True` by the reason's class; otherwise both False. Both are always
/// present once Ready is: two writers apply a child's conditions (the API's
/// reconciler and the reference controller), and an entry one of them drops would
/// be left half-owned by the other under server-side apply.
pub fn set_condition(conditions: &mut Vec<Condition>, new: Condition) {
    if new.type_ != READY {
        upsert(conditions, new);
        return;
    }
    let failing = (new.status == "False").then(|| {
        super::reasons::lookup(&new.reason).map_or(super::reasons::Class::NeedsUser, |r| r.class)
    });
    let reconciling = matches!(
        failing,
        Some(super::reasons::Class::Transient | super::reasons::Class::Waiting)
    );
    let stalled = failing == Some(super::reasons::Class::NeedsUser);
    let implied = |type_: &str, on: bool| Condition {
        type_: type_.to_string(),
        status: if on { "True" } else { "False" }.to_string(),
        ..new.clone()
    };
    let (reconciling, stalled) = (implied(RECONCILING, reconciling), implied(STALLED, stalled));
    upsert(conditions, new);
    upsert(conditions, reconciling);
    upsert(conditions, stalled);
}

fn upsert(conditions: &mut Vec<Condition>, mut new: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => {
            if existing.status == new.status {
                new.last_transition_time = existing.last_transition_time.clone();
            }
            *existing = new;
        }
        None => conditions.push(new),
    }
}

/// Build a condition stamped with `now` (RFC 3339).
pub fn condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
    now: &str,
) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message: message.into(),
        last_transition_time: now.to_string(),
        observed_generation: generation,
    }
}

/// Current time as RFC 3339 with second precision, as Kubernetes writes it.
pub fn now_rfc3339() -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Whether the conditions say Ready=True.
pub fn is_ready(conditions: &[Condition]) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == READY && c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(ok: bool, reason: &str) -> Condition {
        condition(READY, ok, reason, "m", Some(3), "2026-01-01T00:00:00Z")
    }

    fn types(conds: &[Condition]) -> Vec<(&str, &str)> {
        conds
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str()))
            .collect()
    }

    /// Ready=False for a transient or waiting reason is Reconciling; for one that
    /// needs a person, Stalled; Ready=True (and Paused) neither. The three are
    /// always present, in this order.
    #[test]
    fn ready_implies_the_kstatus_conditions() {
        let mut conds = Vec::new();
        set_condition(&mut conds, ready(false, "AwsThrottled"));
        assert_eq!(
            types(&conds),
            [
                ("Ready", "False"),
                ("Reconciling", "True"),
                ("Stalled", "False")
            ]
        );
        set_condition(&mut conds, ready(false, "MethodConflict"));
        assert_eq!(
            types(&conds),
            [
                ("Ready", "False"),
                ("Reconciling", "False"),
                ("Stalled", "True")
            ]
        );
        assert_eq!(conds[2].reason, "MethodConflict");
        assert_eq!(conds[2].observed_generation, Some(3));
        set_condition(&mut conds, ready(false, "SomethingNew"));
        assert_eq!(conds[2].status, "True", "unknown reasons stall");
        set_condition(&mut conds, ready(true, "Available"));
        assert_eq!(
            types(&conds),
            [
                ("Ready", "True"),
                ("Reconciling", "False"),
                ("Stalled", "False")
            ]
        );
        set_condition(&mut conds, ready(false, "Paused"));
        assert_eq!(
            types(&conds),
            [
                ("Ready", "False"),
                ("Reconciling", "False"),
                ("Stalled", "False")
            ]
        );
    }

    /// Re-asserting the same status keeps lastTransitionTime, so status is byte-identical.
    #[test]
    fn same_status_keeps_transition_time() {
        let mut conds = vec![condition(
            READY,
            true,
            "Available",
            "ok",
            Some(1),
            "2026-01-01T00:00:00Z",
        )];
        set_condition(
            &mut conds,
            condition(
                READY,
                true,
                "Available",
                "ok",
                Some(2),
                "2026-02-02T00:00:00Z",
            ),
        );
        assert_eq!(conds.len(), 3, "Ready, Reconciling, Stalled");
        assert_eq!(conds[0].last_transition_time, "2026-01-01T00:00:00Z");
        assert_eq!(conds[0].observed_generation, Some(2));
    }

    /// A flip records the new time.
    #[test]
    fn flip_updates_transition_time() {
        let mut conds = vec![condition(
            READY,
            true,
            "Available",
            "ok",
            Some(1),
            "2026-01-01T00:00:00Z",
        )];
        set_condition(
            &mut conds,
            condition(
                READY,
                false,
                "AwsError",
                "boom",
                Some(1),
                "2026-02-02T00:00:00Z",
            ),
        );
        assert_eq!(conds[0].last_transition_time, "2026-02-02T00:00:00Z");
        assert_eq!(conds[0].status, "False");
        assert_eq!(conds[0].reason, "AwsError");
    }

    #[test]
    fn timestamps_are_rfc3339_seconds() {
        let now = now_rfc3339();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.ends_with('Z'));
    }
}
