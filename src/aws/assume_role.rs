//! Credentials of an AwsAccountBinding's role: STS AssumeRole with the operator's
//! own identity, refreshed by the SDK's identity cache before they expire.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, error::CredentialsError};

use super::{Aws, Service};

/// A role to assume for one binding and namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RoleToAssume {
    pub role_arn: String,
    pub external_id: Option<String>,
    /// `apigw-<namespace>`, so CloudTrail says which tenant acted.
    pub session_name: String,
}

impl RoleToAssume {
    pub fn session_name_for(namespace: &str) -> String {
        // STS allows 2-64 characters of [\w+=,.@-].
        let mut name = format!("apigw-{namespace}");
        name.truncate(64);
        name
    }
}

/// Assumes `role` with the identity of `base` (through its limiter and counters).
#[derive(Debug)]
pub struct AssumedRole {
    pub base: Arc<Aws>,
    pub role: RoleToAssume,
}

/// How long the assumed credentials last (STS's default is also one hour).
const SESSION: Duration = Duration::from_secs(3600);

impl AssumedRole {
    async fn assume(&self) -> provider::Result {
        let base = &self.base;
        let out = base
            .call(Service::Sts, "AssumeRole", &self.role.role_arn, || {
                base.sts
                    .assume_role()
                    .role_arn(&self.role.role_arn)
                    .role_session_name(&self.role.session_name)
                    .set_external_id(self.role.external_id.clone())
                    .duration_seconds(SESSION.as_secs() as i32)
                    .send()
            })
            .await
            .map_err(|e| {
                tracing::warn!(role = %self.role.role_arn, error = %e, "AssumeRole failed");
                CredentialsError::provider_error(e)
            })?;
        let creds = out.credentials().ok_or_else(|| {
            CredentialsError::invalid_configuration("AssumeRole returned no credentials")
        })?;
        let expiry = SystemTime::try_from(*creds.expiration())
            .unwrap_or_else(|_| SystemTime::now() + SESSION);
        Ok(Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token().to_string()),
            Some(expiry),
            "apigw-operator-assume-role",
        ))
    }
}

impl ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(self.assume())
    }
}

/// The account of a role ARN (`arn:aws:iam::111111111111:role/x`).
pub fn account_of_role(role_arn: &str) -> Option<&str> {
    role_arn.split(':').nth(4).filter(|a| !a.is_empty())
}
