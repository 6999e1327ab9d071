//! AWS errors, typed and classified so reconcilers know whether to retry.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// How an AWS failure should be handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The resource does not exist.
    NotFound,
    /// TooManyRequests / throttling: wait and retry.
    Throttled,
    /// Concurrent modification: retry.
    Conflict,
    /// 5xx, timeouts, connection failures, unreadable replies: retry.
    Transient,
    /// The request itself is wrong (validation, bad request): retrying cannot help
    /// until the spec changes.
    Invalid,
    /// Credentials or IAM permissions are missing; fixed outside the spec, so retried slowly.
    AccessDenied,
    /// Not sent: the object's management policy is ObserveOnly, and this call writes.
    Withheld,
    /// Not sent: the request names a value the tenant's AwsAccountBinding does not
    /// list (the gate, `aws::gate`); a spec or binding change fixes it.
    NotAllowed,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::Throttled => "throttled",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Transient => "transient",
            ErrorKind::Invalid => "invalid",
            ErrorKind::AccessDenied => "access_denied",
            ErrorKind::Withheld => "withheld",
            ErrorKind::NotAllowed => "not_allowed",
        }
    }
}

/// A failed AWS call, naming the operation and the resource it was about.
#[derive(Debug, thiserror::Error)]
#[error("AWS {service} {operation} on {resource} failed ({code}): {message}")]
pub struct AwsError {
    pub service: &'static str,
    pub operation: &'static str,
    pub resource: String,
    pub kind: ErrorKind,
    /// The AWS error code, or the HTTP status / failure class when there is none.
    pub code: String,
    pub message: String,
}

impl AwsError {
    /// Whether a later retry of the same request can succeed without a spec change.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self.kind,
            ErrorKind::Invalid | ErrorKind::Withheld | ErrorKind::NotAllowed
        )
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }

    /// Whether the failure proves AWS did not carry the request out, so sending it
    /// again cannot do it twice: a 503 (AWS answers ServiceUnavailable before it
    /// processes a request) or a connection that was refused (nothing was sent).
    /// A 500, a reset connection or a timeout leave the outcome unknown.
    pub fn never_processed(&self) -> bool {
        self.kind == ErrorKind::Transient
            && matches!(
                self.code.as_str(),
                "ServiceUnavailableException"
                    | "ServiceUnavailable"
                    | "HTTP 503"
                    | CONNECTION_REFUSED
            )
    }

    /// An attempt given up after `took` without an answer: its outcome is unknown.
    pub fn timed_out(
        service: &'static str,
        operation: &'static str,
        resource: &str,
        took: std::time::Duration,
    ) -> Self {
        AwsError {
            service,
            operation,
            resource: resource.to_string(),
            kind: ErrorKind::Transient,
            code: "Timeout".into(),
            message: format!("no answer within {} s", took.as_secs()),
        }
    }

    /// Build from an SDK error.
    pub fn from_sdk<E>(
        service: &'static str,
        operation: &'static str,
        resource: &str,
        err: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (kind, code, message) = classify(&err);
        AwsError {
            service,
            operation,
            resource: resource.to_string(),
            kind,
            code,
            message,
        }
    }
}

/// Reads and deletes treat NotFound as an answer, not a failure.
pub trait NotFoundExt<T> {
    /// None when the resource does not exist.
    fn found(self) -> Result<Option<T>, AwsError>;
    /// Ok when the resource is already gone.
    fn gone_ok(self) -> Result<(), AwsError>;
}

impl<T> NotFoundExt<T> for Result<T, AwsError> {
    fn found(self) -> Result<Option<T>, AwsError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn gone_ok(self) -> Result<(), AwsError> {
        self.found().map(|_| ())
    }
}

/// How a delete ends when "already gone" counts as done. moto answers some deletes
/// of a missing id with an HTML 500 instead of NotFound: after a transient error
/// only, `still_there` reads whether the thing exists, and a gone one counts as
/// deleted. Throttling, conflicts and refusals are returned as they are, without
/// spending a read.
pub async fn gone_or_checked<T, Fut>(
    res: Result<T, AwsError>,
    still_there: impl FnOnce() -> Fut,
) -> Result<(), AwsError>
where
    Fut: std::future::Future<Output = Result<bool, AwsError>>,
{
    match res.gone_ok() {
        Err(e) if e.kind == ErrorKind::Transient => {
            if still_there().await? {
                Err(e)
            } else {
                Ok(())
            }
        }
        other => other,
    }
}

fn classify<E>(err: &SdkError<E, HttpResponse>) -> (ErrorKind, String, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(service_err) => {
            let status = service_err.raw().status().as_u16();
            let inner = service_err.err();
            let code = inner.code().map(str::to_string);
            let message = match inner.message() {
                Some(m) => m.to_string(),
                // A success the SDK could not read: only the chain says why (a
                // value its model does not allow), where "HTTP 200" says nothing.
                None if (200..300).contains(&status) => format!(
                    "AWS answered HTTP {status} but the answer could not be read: {}",
                    error_chain(err)
                ),
                None => format!("HTTP {status}"),
            };
            let kind = kind_of(code.as_deref(), status);
            (
                kind,
                code.unwrap_or_else(|| format!("HTTP {status}")),
                message,
            )
        }
        SdkError::ConstructionFailure(_) => (
            ErrorKind::Invalid,
            "ConstructionFailure".into(),
            error_chain(err),
        ),
        SdkError::TimeoutError(_) => (ErrorKind::Transient, "Timeout".into(), error_chain(err)),
        SdkError::DispatchFailure(_) => {
            let code = if refused(err) {
                CONNECTION_REFUSED
            } else {
                "DispatchFailure"
            };
            (ErrorKind::Transient, code.into(), error_chain(err))
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            let kind = if status == 429 {
                ErrorKind::Throttled
            } else {
                ErrorKind::Transient
            };
            (kind, format!("HTTP {status}"), error_chain(err))
        }
        _ => (ErrorKind::Transient, "Unknown".into(), error_chain(err)),
    }
}

/// Classify by AWS error code first, then by HTTP status. moto answers calls it does
/// not implement with an HTML 500 and no code; those count as transient like any 5xx.
pub fn kind_of(code: Option<&str>, status: u16) -> ErrorKind {
    match code {
        Some("NotFoundException" | "ResourceNotFoundException" | "NoSuchEntity") => {
            ErrorKind::NotFound
        }
        Some(
            "TooManyRequestsException"
            | "ThrottlingException"
            | "Throttling"
            | "ThrottledException"
            | "RequestLimitExceeded"
            | "LimitExceededException",
        ) if status == 429 || status == 400 => ErrorKind::Throttled,
        Some("TooManyRequestsException" | "ThrottlingException" | "Throttling") => {
            ErrorKind::Throttled
        }
        Some("ConflictException" | "ResourceConflictException") => ErrorKind::Conflict,
        Some(
            "AccessDeniedException"
            | "AccessDenied"
            | "UnauthorizedException"
            | "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "ExpiredTokenException"
            | "NotAuthorizedException",
        ) => ErrorKind::AccessDenied,
        Some(
            "ServiceUnavailableException"
            | "ServiceException"
            | "InternalFailure"
            | "InternalErrorException",
        ) => ErrorKind::Transient,
        _ if status == 429 => ErrorKind::Throttled,
        _ if status == 404 => ErrorKind::NotFound,
        _ if status == 409 => ErrorKind::Conflict,
        _ if status == 401 || status == 403 => ErrorKind::AccessDenied,
        _ if status >= 500 => ErrorKind::Transient,
        _ => ErrorKind::Invalid,
    }
}

/// The code of a request whose connection was refused: it never left.
const CONNECTION_REFUSED: &str = "ConnectionRefused";

/// Whether a dispatch failed because the connection was refused.
fn refused(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(s) = source {
        if s.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        source = s.source();
    }
    false
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Throttling and concurrent modification are never terminal: AWS's quotas are
    /// fixed, so the only answer is to wait.
    #[test]
    fn throttling_and_conflicts_are_retryable() {
        for (code, status) in [
            (Some("TooManyRequestsException"), 429),
            (Some("LimitExceededException"), 429),
            (Some("ConflictException"), 409),
            (None, 500),
            (None, 503),
            (None, 429),
        ] {
            let kind = kind_of(code, status);
            assert!(
                kind != ErrorKind::Invalid,
                "{code:?}/{status} classified as {kind:?}"
            );
        }
    }

    /// Validation errors wait for a spec change instead of hammering AWS.
    #[test]
    fn validation_errors_are_terminal() {
        assert_eq!(
            kind_of(Some("BadRequestException"), 400),
            ErrorKind::Invalid
        );
        assert_eq!(
            kind_of(Some("ValidationException"), 400),
            ErrorKind::Invalid
        );
        assert_eq!(kind_of(None, 400), ErrorKind::Invalid);
    }

    /// moto sends some NotFoundExceptions with HTTP 400; the code decides.
    #[test]
    fn not_found_is_by_code_first() {
        assert_eq!(kind_of(Some("NotFoundException"), 400), ErrorKind::NotFound);
        assert_eq!(
            kind_of(Some("ResourceNotFoundException"), 404),
            ErrorKind::NotFound
        );
    }
}
