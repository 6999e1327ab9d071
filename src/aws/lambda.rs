//! Lambda calls for the invoke permissions API Gateway needs on functions.

use super::error::NotFoundExt;
use super::{Aws, AwsError, ErrorKind, Service};
use crate::plan::lambda::{Permission, PolicyStatement, parse_policy_statements_for};

/// The principal every grant is for.
const APIGATEWAY_PRINCIPAL: &str = "apigateway.amazonaws.com";
const INVOKE_ACTION: &str = "lambda:InvokeFunction";

/// What a ResourceNotFoundException from GetPolicy is about: Lambda uses the same
/// code for a missing function and for a function that has no policy yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PolicyNotFound {
    FunctionMissing,
    NoPolicy,
    Unclear,
}

/// Tell the two apart by message. AWS and moto say "Function not found: ARN" (moto
/// "Cannot find alias arn: ARN" for a missing alias) for the function, and "The
/// resource you requested does not exist." or "No policy is associated with the
/// given resource." for the policy.
fn policy_not_found(message: &str) -> PolicyNotFound {
    let m = message.to_ascii_lowercase();
    if m.starts_with("function not found") || m.starts_with("cannot find alias") {
        PolicyNotFound::FunctionMissing
    } else if m.starts_with("the resource you requested does not exist")
        || m.starts_with("no policy is associated")
    {
        PolicyNotFound::NoPolicy
    } else {
        PolicyNotFound::Unclear
    }
}

/// Whether an AddPermission conflict says the statement id is taken (as opposed to
/// "an update is in progress", which is worth a retry).
fn is_duplicate_statement(err: &AwsError) -> bool {
    err.kind == ErrorKind::Conflict && err.message.to_ascii_lowercase().contains("already exists")
}

/// What an AddPermission came to.
#[derive(Debug)]
pub enum Grant {
    Added,
    /// The same statement was there already.
    AlreadyThere,
    FunctionMissing,
    /// The statement id holds another statement (the policy's statements, as read,
    /// and the conflict AWS answered): it must be replaced, not added.
    StatementIdTaken {
        existing: Vec<PolicyStatement>,
        error: AwsError,
    },
}

fn describe(function: &str, qualifier: Option<&str>) -> String {
    match qualifier {
        Some(q) => format!("{function}:{q}"),
        None => function.to_string(),
    }
}

impl Aws {
    /// The statements (Sid, SourceArn) of a function's policy. `Some(vec![])` when the
    /// function exists without a policy; None when the function (or alias) does not exist.
    pub async fn get_policy_statements(
        &self,
        function: &str,
        qualifier: Option<&str>,
    ) -> Result<Option<Vec<PolicyStatement>>, AwsError> {
        let resource = describe(function, qualifier);
        let res = self
            .call(Service::Lambda, "GetPolicy", &resource, || {
                self.lambda
                    .get_policy()
                    .function_name(function)
                    .set_qualifier(qualifier.map(str::to_string))
                    .send()
            })
            .await;
        match res {
            Ok(out) => Ok(Some(parse_policy_statements_for(
                out.policy().unwrap_or_default(),
                qualifier,
            ))),
            Err(e) if e.is_not_found() => match policy_not_found(&e.message) {
                PolicyNotFound::FunctionMissing => Ok(None),
                PolicyNotFound::NoPolicy => Ok(Some(Vec::new())),
                PolicyNotFound::Unclear => Ok(self
                    .function_exists(function, qualifier)
                    .await?
                    .then(Vec::new)),
            },
            Err(e) => Err(e),
        }
    }

    /// Whether a function (or one alias or version of it) exists.
    pub async fn function_exists(
        &self,
        function: &str,
        qualifier: Option<&str>,
    ) -> Result<bool, AwsError> {
        let resource = describe(function, qualifier);
        let res = self
            .call(Service::Lambda, "GetFunction", &resource, || {
                self.lambda
                    .get_function()
                    .function_name(function)
                    .set_qualifier(qualifier.map(str::to_string))
                    .send()
            })
            .await;
        Ok(res.found()?.is_some())
    }

    /// Grant API Gateway `lambda:InvokeFunction` from `source_arn`. A statement with
    /// the same id and source that already exists counts as granted (AWS answers
    /// ResourceConflictException; moto accepts the duplicate).
    pub async fn add_permission(&self, p: &Permission) -> Result<Grant, AwsError> {
        let resource = format!(
            "{} ({})",
            describe(&p.function, p.qualifier.as_deref()),
            p.statement_id
        );
        let res = self
            .call(Service::Lambda, "AddPermission", &resource, || {
                self.lambda
                    .add_permission()
                    .function_name(&p.function)
                    .set_qualifier(p.qualifier.clone())
                    .statement_id(&p.statement_id)
                    .action(INVOKE_ACTION)
                    .principal(APIGATEWAY_PRINCIPAL)
                    .source_arn(&p.source_arn)
                    .send()
            })
            .await;
        match res {
            Ok(_) => Ok(Grant::Added),
            // AddPermission's only NotFound is the function (or alias) itself.
            Err(e) if e.is_not_found() => Ok(Grant::FunctionMissing),
            Err(e) if is_duplicate_statement(&e) => {
                let existing = self
                    .get_policy_statements(&p.function, p.qualifier.as_deref())
                    .await?
                    .unwrap_or_default();
                let identical = existing.iter().any(|(sid, source)| {
                    *sid == p.statement_id && source.as_deref() == Some(&p.source_arn)
                });
                Ok(if identical {
                    Grant::AlreadyThere
                } else {
                    Grant::StatementIdTaken { existing, error: e }
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Take a grant back; a statement or function that is already gone counts as removed.
    pub async fn remove_permission(
        &self,
        function: &str,
        qualifier: Option<&str>,
        statement_id: &str,
    ) -> Result<(), AwsError> {
        let resource = format!("{} ({statement_id})", describe(function, qualifier));
        let res = self
            .call(Service::Lambda, "RemovePermission", &resource, || {
                self.lambda
                    .remove_permission()
                    .function_name(function)
                    .set_qualifier(qualifier.map(str::to_string))
                    .statement_id(statement_id)
                    .send()
            })
            .await;
        res.gone_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: ErrorKind, message: &str) -> AwsError {
        AwsError {
            service: "lambda",
            operation: "AddPermission",
            resource: "f".into(),
            kind,
            code: "ResourceConflictException".into(),
            message: message.into(),
        }
    }

    /// GetPolicy's one NotFound code is told apart by the messages AWS and moto send;
    /// anything else is unclear and settled with GetFunction.
    #[test]
    fn policy_not_found_messages_are_classified() {
        for m in [
            "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope",
            "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope:live",
            "Cannot find alias arn: arn:aws:lambda:us-east-1:123456789012:function:f:nope",
        ] {
            assert_eq!(policy_not_found(m), PolicyNotFound::FunctionMissing, "{m}");
        }
        for m in [
            "The resource you requested does not exist.",
            "No policy is associated with the given resource.",
        ] {
            assert_eq!(policy_not_found(m), PolicyNotFound::NoPolicy, "{m}");
        }
        assert_eq!(policy_not_found("HTTP 404"), PolicyNotFound::Unclear);
        assert_eq!(policy_not_found(""), PolicyNotFound::Unclear);
    }

    /// Only "statement id already exists" is a duplicate; a conflict from an update in
    /// progress must stay an error so the caller retries.
    #[test]
    fn only_existing_statement_ids_are_duplicates() {
        assert!(is_duplicate_statement(&err(
            ErrorKind::Conflict,
            "The statement id (apigw-abc) provided already exists. Please provide a new statement id, or remove the existing statement."
        )));
        assert!(!is_duplicate_statement(&err(
            ErrorKind::Conflict,
            "The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:us-east-1:123456789012:function:f"
        )));
        assert!(!is_duplicate_statement(&err(
            ErrorKind::Invalid,
            "already exists"
        )));
    }
}
