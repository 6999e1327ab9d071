//! Every Ready=False reason the operator writes, once: what it asks of whom
//! (its class), how long to wait before the first retry, and a line saying what
//! it means. From it come the retry backoff, the kstatus `Reconciling` and
//! `Stalled` conditions written beside `Ready`, the Argo CD health scripts'
//! verdict table and the docs table; tests fail when any of them disagree.

/// What a reason asks of whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// The operator retries with backoff; nobody has to act.
    Transient,
    /// Waits for something already on its way; the object converges by itself.
    Waiting,
    /// Stays until someone edits a spec or fixes the account.
    NeedsUser,
    /// Deliberately not converging (managementPolicy ObserveOnly with drift, Paused).
    Suspended,
}

impl Class {
    /// The Argo CD health of an object whose Ready is False for this class.
    pub fn argocd(self) -> &'static str {
        match self {
            Class::Transient | Class::Waiting => "Progressing",
            Class::NeedsUser => "Degraded",
            Class::Suspended => "Suspended",
        }
    }

    /// The heading of the class in the verdict table.
    fn heading(self) -> &'static str {
        match self {
            Class::Transient => "Transient: the operator retries with backoff, nobody has to act.",
            Class::Waiting => "Waiting for something on its way: the object converges by itself.",
            Class::NeedsUser => {
                "Terminal: nothing changes until a spec is edited or the account is fixed."
            }
            Class::Suspended => {
                "Deliberately not converging: nothing is written until someone changes managementPolicy."
            }
        }
    }
}

/// One reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reason {
    pub name: &'static str,
    pub class: Class,
    /// Seconds before the first retry (doubled on each further failure).
    pub backoff_secs: u64,
    /// What it means, in one line.
    pub meaning: &'static str,
}

const fn r(name: &'static str, class: Class, backoff_secs: u64, meaning: &'static str) -> Reason {
    Reason {
        name,
        class,
        backoff_secs,
        meaning,
    }
}

use Class::{NeedsUser, Suspended, Transient, Waiting};

/// Every reason, grouped by class in the order the verdict table lists them.
pub const REASONS: &[Reason] = &[
    r(
        "AwsThrottled",
        Transient,
        10,
        "AWS said \"too many requests\"",
    ),
    r(
        "AwsUnavailable",
        Transient,
        2,
        "5xx, timeout, connection failure, conflict",
    ),
    r(
        "AwsNotFound",
        Transient,
        2,
        "something vanished between a read and a write; the next pass repairs it",
    ),
    r(
        "KubernetesError",
        Transient,
        2,
        "a status write or list failed",
    ),
    r(
        "RestApiNotReady",
        Waiting,
        2,
        "its RestApi is converging; the RestApi's own health says why",
    ),
    r(
        "WebSocketApiNotReady",
        Waiting,
        2,
        "a Stage's WebSocketApi is converging; its own health says why",
    ),
    r(
        "AuthorizerNotReady",
        Waiting,
        2,
        "the route waits for its Authorizer rather than exist unprotected",
    ),
    r(
        "Applying",
        Waiting,
        2,
        "a pass is making the API or writing its structure; the message names the new id, or counts the changes and the routes in effect",
    ),
    r(
        "DeploymentPending",
        Waiting,
        2,
        "an Automatic stage debouncing a burst of edits",
    ),
    r(
        "WaitingForRoutes",
        Waiting,
        2,
        "the stage deploys once every Route and Authorizer is in effect",
    ),
    r(
        "InUse",
        Waiting,
        2,
        "only while deleting: the Authorizer waits for its routes to drop it",
    ),
    r(
        "StageNotReady",
        Waiting,
        5,
        "a DomainName's or UsagePlan's Stage has no deployment yet; it follows once it has",
    ),
    r(
        "UsagePlanNotReady",
        Waiting,
        5,
        "the ApiKey is attached once its UsagePlan exists in AWS",
    ),
    r(
        "InvalidSpec",
        NeedsUser,
        2,
        "the spec cannot be turned into AWS settings",
    ),
    r(
        "AwsRejected",
        NeedsUser,
        2,
        "AWS refused the request as invalid",
    ),
    r(
        "AdoptTargetMissing",
        NeedsUser,
        60,
        "retried slowly, but only a corrected spec.restApiId helps",
    ),
    r(
        "AwsAccessDenied",
        NeedsUser,
        60,
        "retried slowly, but only an IAM change (or a role that can be assumed) helps",
    ),
    r(
        "MethodConflict",
        NeedsUser,
        2,
        "another Route holds this method and path",
    ),
    r(
        "PathConflict",
        NeedsUser,
        2,
        "two variable names at one path level",
    ),
    r(
        "AuthorizerNotFound",
        NeedsUser,
        2,
        "spec.authorization names no Authorizer",
    ),
    r(
        "RestApiNotFound",
        NeedsUser,
        2,
        "spec.restApiRef names no RestApi",
    ),
    r(
        "WebSocketApiNotFound",
        NeedsUser,
        2,
        "a Stage's spec.webSocketApiRef names no WebSocketApi",
    ),
    r(
        "StageNameConflict",
        NeedsUser,
        2,
        "another Stage already manages this stage name of the API",
    ),
    r(
        "DeploymentNotFound",
        NeedsUser,
        2,
        "a Pinned stage names a deployment its REST API does not have",
    ),
    r(
        "RouteSettingsUnmatched",
        NeedsUser,
        2,
        "a Stage's routeSettings name a method and path no Route of the API declares",
    ),
    r(
        "AdoptTargetOwned",
        NeedsUser,
        60,
        "the adopted API or domain is managed by another live object",
    ),
    r(
        "MappingNotAllowed",
        NeedsUser,
        2,
        "a DomainName mixes WebSocket and REST stages, or maps WebSocket on EDGE",
    ),
    r(
        "RestApiDeleted",
        NeedsUser,
        2,
        "the RestApi and its REST API are gone",
    ),
    r(
        "UserPoolNotFound",
        NeedsUser,
        2,
        "a Cognito user pool of the Authorizer does not exist",
    ),
    r(
        "LambdaFunctionNotFound",
        NeedsUser,
        30,
        "the function must be deployed before the permission can be granted",
    ),
    r(
        "StageNotFound",
        NeedsUser,
        2,
        "a DomainName's mapping or a UsagePlan names no Stage (bound once one is created)",
    ),
    r(
        "CertificateNotFound",
        NeedsUser,
        60,
        "the DomainName's ACM certificate does not exist (retried slowly)",
    ),
    r(
        "CertificateWrongRegion",
        NeedsUser,
        2,
        "EDGE needs a us-east-1 certificate, REGIONAL one in the operator's region",
    ),
    r(
        "UsagePlanNotFound",
        NeedsUser,
        2,
        "spec.usagePlanRefs names no UsagePlan (attached once one is created)",
    ),
    r(
        "SecretNotFound",
        NeedsUser,
        2,
        "the ApiKey's Secret or key is missing",
    ),
    r(
        "DocumentNotFound",
        NeedsUser,
        2,
        "spec.openapi.configMapRef names no ConfigMap, or a key it does not have",
    ),
    r(
        "InvalidDocument",
        NeedsUser,
        2,
        "spec.openapi is not an OpenAPI 3 or Swagger 2 document, or too large to import",
    ),
    r(
        "ApiDefinedByDocument",
        NeedsUser,
        2,
        "a Route or Authorizer names a RestApi whose structure comes from an OpenAPI document",
    ),
    r(
        "SecretNotUsable",
        NeedsUser,
        2,
        "the value is too short or not text, or the generated Secret's name is taken",
    ),
    r(
        "AdoptTargetOrphaned",
        NeedsUser,
        2,
        "the API or domain was made by an object that is gone: set adoptOrphaned to take it over",
    ),
    r(
        "AdoptionNotRequested",
        NeedsUser,
        2,
        "a DomainName of that name exists and spec.adopt is not set",
    ),
    r(
        "AdoptionNotAllowed",
        NeedsUser,
        2,
        "the namespace's AwsAccountBinding forbids adoption",
    ),
    r(
        "ReferenceNotAllowed",
        NeedsUser,
        2,
        "a function, role, user pool or certificate outside the AwsAccountBinding's allow-lists",
    ),
    r(
        "RegionNotAllowed",
        NeedsUser,
        2,
        "spec.region is not among the AwsAccountBinding's regions",
    ),
    r(
        "NoAccountBinding",
        NeedsUser,
        2,
        "the operator requires an AwsAccountBinding and none matches the namespace",
    ),
    r(
        "AccountBindingConflict",
        NeedsUser,
        2,
        "two AwsAccountBindings match the namespace",
    ),
    r(
        "AccountChanged",
        NeedsUser,
        2,
        "the binding now points elsewhere than where the object's resources are",
    ),
    r(
        "LocationMismatch",
        NeedsUser,
        2,
        "a Stage or UsagePlan it refers to is in another account or region than the object",
    ),
    r(
        "DriftDetected",
        Suspended,
        2,
        "managementPolicy ObserveOnly: AWS differs from the spec (status.plannedChanges); nothing is changed by design",
    ),
    r("Paused", Suspended, 2, "managementPolicy Paused"),
];

/// The reason of this name.
pub fn lookup(name: &str) -> Option<&'static Reason> {
    REASONS.iter().find(|r| r.name == name)
}

/// The Event type of a Ready=False reason: waiting for something on its way (a
/// debounce, a parent being made) is a Normal part of converging, as is a
/// deliberate suspension; everything else is a Warning someone may act on.
pub fn event_type(reason: &str) -> kube::runtime::events::EventType {
    use kube::runtime::events::EventType;
    match lookup(reason).map(|r| r.class) {
        Some(Class::Waiting | Class::Suspended) => EventType::Normal,
        _ => EventType::Warning,
    }
}

/// The verdict table of the Argo CD health scripts (Lua 5.1), generated.
pub fn argocd_verdicts() -> String {
    let mut out = String::from("local verdicts = {\n");
    let mut class = None;
    for reason in REASONS {
        if class != Some(reason.class) {
            class = Some(reason.class);
            out.push_str(&format!("  -- {}\n", reason.class.heading()));
        }
        let entry = format!("  {} = \"{}\",", reason.name, reason.class.argocd());
        out.push_str(&format!("{entry:<37} -- {}\n", reason.meaning));
    }
    out.push('}');
    out
}

/// The docs' table of reasons and their Argo CD health, generated.
pub fn docs_table() -> String {
    let mut out = String::from(
        "| Reason | Argo CD health | Class | First retry | Meaning |\n|---|---|---|---|---|\n",
    );
    for reason in REASONS {
        let retry = match reason.class {
            Class::Suspended => "none".to_string(),
            _ => format!("{} s", reason.backoff_secs),
        };
        out.push_str(&format!(
            "| `{}` | {} | {:?} | {retry} | {} |\n",
            reason.name,
            reason.class.argocd(),
            reason.class,
            reason.meaning.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_grouped_by_class() {
        let mut names: Vec<&str> = REASONS.iter().map(|r| r.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), REASONS.len(), "a reason is listed twice");
        // Each class is one run, so the generated table has one heading per class.
        let mut seen = Vec::new();
        for reason in REASONS {
            if seen.last() != Some(&reason.class) {
                assert!(
                    !seen.contains(&reason.class),
                    "{} breaks its class's run",
                    reason.name
                );
                seen.push(reason.class);
            }
        }
    }

    #[test]
    fn the_verdict_table_has_every_reason() {
        let table = argocd_verdicts();
        for reason in REASONS {
            assert!(
                table.contains(&format!("  {} = \"", reason.name)),
                "{}",
                reason.name
            );
        }
        assert!(table.starts_with("local verdicts = {\n") && table.ends_with('}'));
    }
}
