//! AWS access: client construction, the shared limiter, call accounting and
//! small per-service facades. Nothing outside this module talks to an SDK client.

pub mod authorizer;
pub mod domain_name;
pub mod error;
pub mod lambda;
pub mod limiter;
pub mod models;
pub mod resources;
pub mod rest_api;
pub mod stage;
pub mod usage;
pub mod websocket;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, retry::RetryConfig};
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::sync::OnceCell;

pub use error::{AwsError, ErrorKind};
pub use limiter::{Limiter, LimiterSettings, Service};

/// How to reach AWS.
#[derive(Clone, Debug)]
pub struct AwsSettings {
    /// Region; when None the SDK's chain (AWS_REGION, profile, IMDS) decides.
    pub region: Option<String>,
    /// Endpoint override for every service, for emulators such as moto.
    pub endpoint_url: Option<String>,
    /// Attempts per call inside the SDK (1 disables SDK retries; the controller still requeues).
    pub max_attempts: u32,
    pub limits: LimiterSettings,
}

/// Outcome counters of AWS calls, by (service, operation, outcome).
#[derive(Debug, Default)]
pub struct CallStats {
    calls: Mutex<BTreeMap<(String, String, String), u64>>,
    limiter_wait: Mutex<Duration>,
}

impl CallStats {
    pub fn record(&self, service: Service, operation: &str, outcome: &str, waited: Duration) {
        let key = (
            service.as_str().to_string(),
            operation.to_string(),
            outcome.to_string(),
        );
        *self.calls.lock().unwrap().entry(key).or_default() += 1;
        *self.limiter_wait.lock().unwrap() += waited;
    }

    /// Snapshot of every counter.
    pub fn snapshot(&self) -> BTreeMap<(String, String, String), u64> {
        self.calls.lock().unwrap().clone()
    }

    /// Calls that change something in AWS, whatever their outcome.
    pub fn mutating_calls(&self) -> u64 {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|((_, op, _), _)| is_mutating(op))
            .map(|(_, n)| n)
            .sum()
    }

    /// Calls of one operation, whatever their outcome.
    pub fn calls_of(&self, operation: &str) -> u64 {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|((_, op, _), _)| op == operation)
            .map(|(_, n)| n)
            .sum()
    }

    /// Total time callers spent waiting for the limiter.
    pub fn limiter_wait(&self) -> Duration {
        *self.limiter_wait.lock().unwrap()
    }
}

/// Every item of a paginated listing. `page(token)` fetches one page and returns its
/// items and the next token; the listing ends at a missing, empty or repeated token
/// (moto repeats the last one instead of leaving it out).
pub async fn all_pages<T, Fut>(
    mut page: impl FnMut(Option<String>) -> Fut,
) -> Result<Vec<T>, AwsError>
where
    Fut: Future<Output = Result<(Vec<T>, Option<String>), AwsError>>,
{
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let (items, next) = page(token.clone()).await?;
        out.extend(items);
        match next {
            Some(next) if !next.is_empty() && token.as_deref() != Some(next.as_str()) => {
                token = Some(next);
            }
            _ => return Ok(out),
        }
    }
}

/// Whether an operation (by its AWS name) changes state.
pub fn is_mutating(operation: &str) -> bool {
    [
        "Create", "Update", "Delete", "Put", "Tag", "Untag", "Add", "Remove", "Import",
    ]
    .iter()
    .any(|prefix| operation.starts_with(prefix))
}

/// The SDK clients plus what every call shares.
#[derive(Debug)]
pub struct Aws {
    pub apigateway: aws_sdk_apigateway::Client,
    pub apigatewayv2: aws_sdk_apigatewayv2::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
    pub acm: aws_sdk_acm::Client,
    sts: aws_sdk_sts::Client,
    pub region: String,
    account_id: OnceCell<String>,
    limiter: Limiter,
    pub stats: CallStats,
}

impl Aws {
    /// Build clients from the environment's credential chain and the settings.
    pub async fn connect(settings: &AwsSettings) -> Result<Aws, AwsError> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts.max(1)));
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        let conf = loader.load().await;
        let region = conf
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| AwsError {
                service: "config",
                operation: "LoadRegion",
                resource: "region".into(),
                kind: ErrorKind::Invalid,
                code: "NoRegion".into(),
                message: "no AWS region: pass --aws-region or set AWS_REGION".into(),
            })?;
        Ok(Aws {
            apigateway: aws_sdk_apigateway::Client::new(&conf),
            apigatewayv2: aws_sdk_apigatewayv2::Client::new(&conf),
            lambda: aws_sdk_lambda::Client::new(&conf),
            cognito: aws_sdk_cognitoidentityprovider::Client::new(&conf),
            acm: aws_sdk_acm::Client::new(&conf),
            sts: aws_sdk_sts::Client::new(&conf),
            region,
            account_id: OnceCell::new(),
            limiter: Limiter::new(&settings.limits),
            stats: CallStats::default(),
        })
    }

    /// Run one SDK call through the limiter and the accounting, mapping its error.
    pub async fn call<T, E, Fut>(
        &self,
        service: Service,
        operation: &'static str,
        resource: &str,
        send: impl FnOnce() -> Fut,
    ) -> Result<T, AwsError>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let waited = self.limiter.acquire(service, operation).await;
        let result = send().await;
        match result {
            Ok(value) => {
                self.stats.record(service, operation, "ok", waited);
                tracing::debug!(
                    service = service.as_str(),
                    operation,
                    resource,
                    "AWS call ok"
                );
                Ok(value)
            }
            Err(err) => {
                let err = AwsError::from_sdk(service.as_str(), operation, resource, err);
                self.stats
                    .record(service, operation, err.kind.as_str(), waited);
                if err.kind == ErrorKind::Throttled {
                    self.limiter.throttled(service, operation).await;
                }
                tracing::debug!(service = service.as_str(), operation, resource, error = %err, "AWS call failed");
                Err(err)
            }
        }
    }

    /// TagResource on any API Gateway ARN (REST API, stage, domain name, usage plan, key).
    pub async fn tag_resource(
        &self,
        arn: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        self.call(Service::ApiGateway, "TagResource", arn, || {
            self.apigateway
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(tags.clone().into_iter().collect()))
                .send()
        })
        .await?;
        Ok(())
    }

    /// UntagResource on any API Gateway ARN.
    pub async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        self.call(Service::ApiGateway, "UntagResource", arn, || {
            self.apigateway
                .untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(keys.to_vec()))
                .send()
        })
        .await?;
        Ok(())
    }

    /// The account the credentials belong to (asked once, then cached).
    pub async fn account_id(&self) -> Result<&str, AwsError> {
        self.account_id
            .get_or_try_init(|| async {
                let out = self
                    .call(Service::Sts, "GetCallerIdentity", "caller", || {
                        self.sts.get_caller_identity().send()
                    })
                    .await?;
                Ok(out.account().unwrap_or_default().to_string())
            })
            .await
            .map(String::as_str)
    }

    /// `arn:aws:execute-api:REGION:ACCOUNT:API_ID`, the prefix of every invoke ARN of an API.
    pub async fn execute_api_arn(&self, api_id: &str) -> Result<String, AwsError> {
        let account = self.account_id().await?;
        Ok(format!(
            "arn:{}:execute-api:{}:{account}:{api_id}",
            self.partition(),
            self.region
        ))
    }

    /// The default invoke host of an API.
    pub fn execute_api_url(&self, api_id: &str) -> String {
        let suffix = if self.region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        format!("https://{api_id}.execute-api.{}.{suffix}", self.region)
    }

    pub fn partition(&self) -> &'static str {
        if self.region.starts_with("cn-") {
            "aws-cn"
        } else if self.region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        }
    }
}
