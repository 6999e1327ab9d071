//! Reconcile errors: one enum, each variant with the context a user needs, a
//! condition reason, and whether waiting can help.

use crate::aws::{AwsError, ErrorKind};
use crate::plan::rest_api::SpecError;

/// The operation of a child's finalizer patch, whose failed test (422) is a
/// conflict like a 409.
pub const FINALIZER_PATCH: &str = "patch finalizers";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Aws(#[from] AwsError),

    #[error("invalid spec: {0}")]
    Spec(#[from] SpecError),

    #[error("spec.restApiId {0} names no REST API in this account and region")]
    AdoptTargetMissing(String),

    #[error("spec.apiId {0} names no WebSocket API in this account and region")]
    WebSocketAdoptTargetMissing(String),

    #[error("{0}")]
    LambdaFunctionNotFound(String),

    #[error("{0}")]
    AdoptTargetOwned(String),

    #[error("{0}")]
    AdoptTargetOrphaned(String),

    #[error("{0}")]
    AdoptionNotRequested(String),

    #[error("{0}")]
    AdoptionNotAllowed(String),

    #[error("{0}")]
    ReferenceNotAllowed(String),

    #[error("{0}")]
    RegionNotAllowed(String),

    #[error("{0}")]
    NoAccountBinding(String),

    #[error("{0}")]
    AccountBindingConflict(String),

    #[error("{0}")]
    AccountChanged(String),

    #[error("{0}")]
    LocationMismatch(String),

    #[error("managementPolicy is Paused: the operator makes no AWS call for this object{0}")]
    Paused(&'static str),

    #[error("managementPolicy is ObserveOnly: {0}")]
    DriftDetected(String),

    #[error("cannot assume IAM role {role} of AwsAccountBinding {binding}: {message}")]
    AssumeRoleFailed {
        role: String,
        binding: String,
        message: String,
    },

    #[error("ACM certificate {arn} does not exist in {region}")]
    CertificateNotFound { arn: String, region: String },

    #[error("ACM certificate {arn} is in {actual}, but {why} needs one in {required}")]
    CertificateWrongRegion {
        arn: String,
        actual: String,
        required: String,
        why: &'static str,
    },

    #[error("{0}")]
    StageNotFound(String),

    #[error("{0}")]
    StageNotReady(String),

    #[error("{0}")]
    MappingNotAllowed(String),

    #[error("{0}")]
    UsagePlanNotFound(String),

    #[error("{0}")]
    UsagePlanNotReady(String),

    #[error("{0}")]
    SecretNotFound(String),

    #[error("{0}")]
    SecretNotUsable(String),

    #[error("{0}")]
    InvalidDocument(String),

    #[error("{0}")]
    DocumentNotFound(String),

    #[error("Kubernetes API {operation} failed: {}", kube_message(source))]
    Kube {
        operation: &'static str,
        #[source]
        source: kube::Error,
    },

    #[error("{}", finalizer_message(.0))]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

/// The reconcile's own error as it is; the finalizer's patches as sentences.
fn finalizer_message(e: &kube::runtime::finalizer::Error<Error>) -> String {
    use kube::runtime::finalizer::Error as F;
    match e {
        F::ApplyFailed(e) | F::CleanupFailed(e) => e.to_string(),
        F::AddFinalizer(e) => format!(
            "could not add the operator's finalizer: {}",
            kube_message(e)
        ),
        F::RemoveFinalizer(e) => {
            format!(
                "could not remove the operator's finalizer: {}",
                kube_message(e)
            )
        }
        other => other.to_string(),
    }
}

/// A Kubernetes error as a sentence: the API server's own message for an API error
/// (never the debug dump of its Status), the error chain otherwise.
pub fn kube_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) if status.code == 409 => format!(
            "{} (HTTP 409 Conflict: another writer changed the object first; retried at once)",
            status.message
        ),
        kube::Error::Api(status) => {
            let reason = if status.reason.is_empty() {
                String::new()
            } else {
                format!(" {}", status.reason)
            };
            format!("{} (HTTP {}{reason})", status.message, status.code)
        }
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                let cause_text = cause.to_string();
                if !text.contains(&cause_text) {
                    text.push_str(": ");
                    text.push_str(&cause_text);
                }
                source = cause.source();
            }
            text
        }
    }
}

impl Error {
    pub fn kube(operation: &'static str) -> impl FnOnce(kube::Error) -> Error {
        move |source| Error::Kube { operation, source }
    }

    /// Reason for the Ready condition and the Event.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Aws(e) => match e.kind {
                ErrorKind::Throttled => "AwsThrottled",
                ErrorKind::AccessDenied => "AwsAccessDenied",
                ErrorKind::Invalid => "AwsRejected",
                ErrorKind::NotFound => "AwsNotFound",
                ErrorKind::Conflict | ErrorKind::Transient => "AwsUnavailable",
                ErrorKind::Withheld => "DriftDetected",
                ErrorKind::NotAllowed => "ReferenceNotAllowed",
            },
            Error::Spec(_) => "InvalidSpec",
            Error::AdoptTargetMissing(_) | Error::WebSocketAdoptTargetMissing(_) => {
                "AdoptTargetMissing"
            }
            Error::LambdaFunctionNotFound(_) => "LambdaFunctionNotFound",
            Error::AdoptTargetOwned(_) => "AdoptTargetOwned",
            Error::AdoptTargetOrphaned(_) => "AdoptTargetOrphaned",
            Error::AdoptionNotRequested(_) => "AdoptionNotRequested",
            Error::AdoptionNotAllowed(_) => "AdoptionNotAllowed",
            Error::ReferenceNotAllowed(_) => "ReferenceNotAllowed",
            Error::RegionNotAllowed(_) => "RegionNotAllowed",
            Error::NoAccountBinding(_) => "NoAccountBinding",
            Error::AccountBindingConflict(_) => "AccountBindingConflict",
            Error::AssumeRoleFailed { .. } => "AwsAccessDenied",
            Error::AccountChanged(_) => "AccountChanged",
            Error::LocationMismatch(_) => "LocationMismatch",
            Error::Paused(_) => "Paused",
            Error::DriftDetected(_) => "DriftDetected",
            Error::CertificateNotFound { .. } => "CertificateNotFound",
            Error::CertificateWrongRegion { .. } => "CertificateWrongRegion",
            Error::StageNotFound(_) => "StageNotFound",
            Error::StageNotReady(_) => "StageNotReady",
            Error::MappingNotAllowed(_) => "MappingNotAllowed",
            Error::UsagePlanNotFound(_) => "UsagePlanNotFound",
            Error::UsagePlanNotReady(_) => "UsagePlanNotReady",
            Error::SecretNotFound(_) => "SecretNotFound",
            Error::SecretNotUsable(_) => "SecretNotUsable",
            Error::InvalidDocument(_) => "InvalidDocument",
            Error::DocumentNotFound(_) => "DocumentNotFound",
            Error::Kube { .. } => "KubernetesError",
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.reason(),
                _ => "KubernetesError",
            },
        }
    }

    /// Whether retrying later can succeed without a spec change.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Aws(e) => e.is_retryable(),
            Error::Spec(_) => false,
            // The API may be created or restored, or the user fixes the id: check again slowly.
            Error::AdoptTargetMissing(_) | Error::WebSocketAdoptTargetMissing(_) => true,
            // The function may be deployed yet (often by another pipeline).
            Error::LambdaFunctionNotFound(_) => true,
            // The other object may be deleted: looked at again slowly.
            Error::AdoptTargetOwned(_) => true,
            // Only a spec change (adoptOrphaned, adopt) or a binding change helps;
            // binding changes wake every object of the namespaces they match.
            Error::AdoptTargetOrphaned(_)
            | Error::AdoptionNotRequested(_)
            | Error::AdoptionNotAllowed(_)
            | Error::ReferenceNotAllowed(_)
            | Error::RegionNotAllowed(_)
            | Error::NoAccountBinding(_)
            | Error::AccountBindingConflict(_)
            | Error::AccountChanged(_)
            | Error::LocationMismatch(_)
            | Error::Paused(_) => false,
            // Drift is looked at again on the resync.
            Error::DriftDetected(_) => false,
            // A trust policy may be fixed in IAM, which sends no event: retried slowly.
            Error::AssumeRoleFailed { .. } => true,
            // The certificate may be requested or imported yet: check again slowly.
            Error::CertificateNotFound { .. } => true,
            Error::CertificateWrongRegion { .. } => false,
            // Watches on Stages, UsagePlans and Secrets wake the object when what it
            // waits for appears; the not-ready ones are also retried with backoff.
            Error::StageNotFound(_) | Error::UsagePlanNotFound(_) | Error::SecretNotFound(_) => {
                false
            }
            Error::StageNotReady(_) | Error::UsagePlanNotReady(_) => true,
            Error::SecretNotUsable(_) | Error::MappingNotAllowed(_) => false,
            // The ConfigMap watch wakes the RestApi when its document appears or changes.
            Error::InvalidDocument(_) | Error::DocumentNotFound(_) => false,
            Error::Kube { .. } => true,
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.is_retryable(),
                _ => true,
            },
        }
    }

    /// Whether a terminal failure is still looked at again every resync: AWS's
    /// refusals and unreadable answers may be cured outside the spec (a template
    /// fixed by hand in the console, a quota raised, an SDK-confusing value gone),
    /// which sends no event; waiting for a spec change would leave the object, and
    /// with a RestApi every Route and Stage of it, stalled for good.
    pub fn rechecked_at_resync(&self) -> bool {
        match self {
            Error::Aws(_) => true,
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.rechecked_at_resync(),
                _ => false,
            },
            _ => false,
        }
    }

    /// A conflict of normal life: another writer changed the object between our
    /// read and our write (409), or a finalizer patch lost a race (its JSON-patch
    /// test failed, 422). Retried at once: the next read sees the winner.
    pub fn is_conflict(&self) -> bool {
        use kube::runtime::finalizer::Error as F;
        fn kube_conflict(e: &kube::Error, finalizer_patch: bool) -> bool {
            match e {
                kube::Error::Api(status) => {
                    status.code == 409 || (finalizer_patch && status.code == 422)
                }
                _ => false,
            }
        }
        match self {
            Error::Kube { operation, source } => {
                kube_conflict(source, *operation == FINALIZER_PATCH)
            }
            Error::Finalizer(inner) => match inner.as_ref() {
                F::AddFinalizer(e) | F::RemoveFinalizer(e) => kube_conflict(e, true),
                F::ApplyFailed(e) | F::CleanupFailed(e) => e.is_conflict(),
                _ => false,
            },
            _ => false,
        }
    }

    /// Base delay before the first retry, from the reason registry: throttling
    /// waits longer than a blip, what only a person can fix is looked at slowly.
    pub fn base_backoff_secs(&self) -> u64 {
        super::reasons::lookup(self.reason()).map_or(2, |r| r.backoff_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(kind: ErrorKind) -> Error {
        Error::Aws(AwsError {
            service: "apigateway",
            operation: "GetResources",
            resource: "restapi a1".into(),
            kind,
            code: "HTTP 200".into(),
            message: "unreadable".into(),
        })
    }

    /// AWS's refusals wait for no spec change for ever: cured outside, they clear
    /// at the next resync. What only the spec can cure still waits for it.
    #[test]
    fn terminal_aws_errors_are_looked_at_again() {
        let refused = aws(ErrorKind::Invalid);
        assert!(!refused.is_retryable());
        assert!(refused.rechecked_at_resync());
        assert!(
            Error::Finalizer(Box::new(kube::runtime::finalizer::Error::CleanupFailed(
                aws(ErrorKind::Invalid)
            )))
            .rechecked_at_resync()
        );
        assert!(!Error::Paused("paused").rechecked_at_resync());
        assert!(!Error::InvalidDocument("bad".into()).rechecked_at_resync());
    }
}
