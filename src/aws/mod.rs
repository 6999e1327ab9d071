//! AWS access: client construction, the shared limiter, call accounting and
//! small per-service facades. Nothing outside this module talks to an SDK client.

pub mod assume_role;
pub mod authorizer;
pub mod domain_name;
pub mod error;
pub mod gate;
pub mod lambda;
pub mod limiter;
pub mod models;
pub mod resources;
pub mod rest_api;
pub mod stage;
pub mod tolerant;
pub mod usage;
pub mod websocket;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, retry::RetryConfig};
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::sync::OnceCell;

pub use error::{AwsError, ErrorKind};
pub use limiter::{Budget, Limiter, LimiterSettings, Service};

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

/// Seconds AWS took to answer an attempt (the limiter's wait left out), by service
/// and operation.
pub type CallLatency = prometheus_client::metrics::family::Family<
    Vec<(&'static str, String)>,
    prometheus_client::metrics::histogram::Histogram,
>;

/// Outcome counters of AWS calls, by (service, operation, outcome), and their
/// latency. Every attempt counts: retries and throttled answers too.
#[derive(Debug)]
pub struct CallStats {
    calls: Mutex<BTreeMap<(String, String, String), u64>>,
    limiter_wait: Mutex<Duration>,
    pub latency: CallLatency,
}

impl Default for CallStats {
    fn default() -> Self {
        CallStats {
            calls: Mutex::default(),
            limiter_wait: Mutex::default(),
            // 5 ms to about 10 s: API Gateway answers in tens of milliseconds,
            // a slow import in seconds.
            latency: CallLatency::new_with_constructor(|| {
                prometheus_client::metrics::histogram::Histogram::new(
                    prometheus_client::metrics::histogram::exponential_buckets(0.005, 2.0, 12),
                )
            }),
        }
    }
}

impl CallStats {
    pub fn record(
        &self,
        service: Service,
        operation: &str,
        outcome: &str,
        waited: Duration,
        took: Duration,
    ) {
        let key = (
            service.as_str().to_string(),
            operation.to_string(),
            outcome.to_string(),
        );
        *self.calls.lock().unwrap().entry(key).or_default() += 1;
        *self.limiter_wait.lock().unwrap() += waited;
        self.latency
            .get_or_create(&vec![
                ("service", service.as_str().to_string()),
                ("operation", operation.to_string()),
            ])
            .observe(took.as_secs_f64());
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

/// Pause before attempt `attempt + 1` after a transient failure: 100 ms doubling,
/// at most 2 s, with up to half of it random so retries of many callers spread out.
fn retry_pause(attempt: u32) -> Duration {
    let base =
        Duration::from_millis(100 * 2u64.pow(attempt.min(5) - 1)).min(Duration::from_secs(2));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    base + base.mul_f64(f64::from(nanos % 1000) / 2000.0)
}

/// A service's endpoint: its own (`AWS_ENDPOINT_URL_<SERVICE>`, if not empty), else
/// the shared one, else None (AWS's).
fn service_endpoint(own: Option<String>, shared: Option<&str>) -> Option<String> {
    own.filter(|url| !url.is_empty())
        .or_else(|| shared.map(str::to_string))
}

/// Whether sending the operation a second time after an unknown outcome (a
/// timeout, a reset connection, a 500: AWS may have carried it out) is harmless.
/// Decided per operation:
///
/// - reads, and writes that set a state (Put, Update, Delete, Tag, Remove): yes;
/// - creates whose duplicate AWS refuses with 409 ConflictException, so a second
///   copy can never exist and the refusal ends the pass, whose successor reads
///   what is there: CreateStage (a stage name is unique per API),
///   CreateBasePathMapping (unique per domain and base path), CreateUsagePlanKey
///   (a key is in a plan once), AddPermission (the statement id is unique per
///   function; moto accepts a duplicate, an identical statement);
/// - CreateDeployment: a second deployment of the same configuration is
///   harmless: the stage serves the one answered, and the other, unused, is
///   pruned with the old deployments;
/// - no other create here: a second REST API, authorizer, resource (moto, unlike
///   AWS, takes a second `/photos`), model or key would be a duplicate nobody
///   finds. CreateResource reads the tree after an unknown outcome and creates
///   again only what is not there (`apply_structure_action`); for the others the
///   pass ends, and the next one finds what was made (by the id in status or the
///   owner tags) before it creates anything.
fn may_repeat(operation: &str) -> bool {
    const REFUSED_OR_HARMLESS_TWICE: [&str; 5] = [
        "CreateStage",
        "CreateBasePathMapping",
        "CreateUsagePlanKey",
        "AddPermission",
        "CreateDeployment",
    ];
    REFUSED_OR_HARMLESS_TWICE.contains(&operation)
        || !["Create", "Import", "Add"]
            .iter()
            .any(|prefix| operation.starts_with(prefix))
}

/// Whether a failed attempt may be sent again. A throttled call, and a failure
/// that proves the request was not carried out (AWS answered 503 before
/// processing it, or the connection was refused), are resent whatever the
/// operation; an unknown outcome only where [`may_repeat`] allows it; anything
/// else (a refusal, a conflict, a missing resource) is an answer.
fn may_resend(operation: &str, err: &AwsError) -> bool {
    match err.kind {
        ErrorKind::Throttled => true,
        ErrorKind::Transient => err.never_processed() || may_repeat(operation),
        _ => false,
    }
}

/// How long one attempt may take before it is given up as a timeout (an
/// unknown outcome): a stalled connection must not hold a pass, and the object
/// with it, forever. A whole-API import of hundreds of routes takes seconds;
/// everything else answers in tens of milliseconds.
fn attempt_timeout(operation: &str) -> Duration {
    if matches!(operation, "PutRestApi" | "ImportRestApi") {
        Duration::from_secs(120)
    } else {
        Duration::from_secs(30)
    }
}

/// What the AWS calls of one reconcile pass did, counted by [`Aws::call`] for
/// the pass running in the current task ([`in_pass`]): a pass that wrote
/// something made progress, and its object's backoff starts over even if a later
/// call failed.
#[derive(Debug, Default)]
pub struct PassCalls {
    writes: std::sync::atomic::AtomicU64,
}

impl PassCalls {
    /// Writes AWS carried out (answered with success) during the pass.
    pub fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::Relaxed)
    }
}

tokio::task_local! {
    static PASS: Arc<PassCalls>;
}

/// Run `pass` with its AWS calls counted in `calls`.
pub async fn in_pass<F: Future>(calls: Arc<PassCalls>, pass: F) -> F::Output {
    PASS.scope(calls, pass).await
}

fn count_write(operation: &str) {
    if is_mutating(operation) {
        let _ = PASS.try_with(|calls| {
            calls
                .writes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        });
    }
}

pub use gate::is_mutating;

/// The SDK clients plus what every call shares.
#[derive(Clone, Debug)]
pub struct Aws {
    pub apigateway: aws_sdk_apigateway::Client,
    pub apigatewayv2: aws_sdk_apigatewayv2::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
    pub acm: aws_sdk_acm::Client,
    sts: aws_sdk_sts::Client,
    pub region: String,
    account_id: OnceCell<String>,
    /// The limiter of this client's (account, region): shared by every client of
    /// that account and region, since AWS's quotas are.
    limiter: Arc<Limiter>,
    /// Process-wide call counters, shared by every client.
    pub stats: Arc<CallStats>,
    /// What the clients were built from, to derive clients for other regions and
    /// identities.
    conf: aws_config::SdkConfig,
    pub limits: LimiterSettings,
    /// Attempts per call (throttled and transient failures are tried again).
    max_attempts: u32,
    /// Set for an ObserveOnly reconcile: writes are not sent but noted here.
    observe_only: Option<Arc<Mutex<Vec<String>>>>,
    /// The tenant's policy every write of these clients is judged by at the gate
    /// (None: the operator's own identity, nothing restricted).
    policy: Option<Arc<gate::Policy>>,
}

impl Aws {
    /// Build clients from the environment's credential chain and the settings.
    pub async fn connect(settings: &AwsSettings) -> Result<Aws, AwsError> {
        // AWS answers nulls the SDK cannot read (an empty mapping template): see tolerant.
        let http = tolerant::wrap(
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        );
        // A dated behaviour version: an SDK upgrade cannot change retry, timeout or
        // checksum defaults under a running operator without a code change here.
        let mut loader = aws_config::defaults(BehaviorVersion::v2026_01_12())
            .http_client(http)
            // Retries happen in `Aws::call`, through the limiter.
            .retry_config(RetryConfig::disabled());
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
        Ok(Aws::from_conf(
            conf,
            region,
            OnceCell::new(),
            Arc::new(Limiter::new(&settings.limits)),
            Arc::default(),
            settings.limits.clone(),
            settings.max_attempts.max(1),
        ))
    }

    /// Clients for the controller tests: every service at `endpoint` (a fake on
    /// 127.0.0.1), static credentials, account 123456789012, region us-east-1. No
    /// lookup of the environment's credential chain (which could reach for IMDS).
    #[cfg(test)]
    pub async fn for_tests(endpoint: &str) -> Aws {
        let credentials =
            aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "tests");
        // AWS answers nulls the SDK cannot read (an empty mapping template): see tolerant.
        let http = tolerant::wrap(
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        );
        let conf = aws_config::defaults(BehaviorVersion::v2026_01_12())
            .http_client(http)
            .retry_config(RetryConfig::disabled())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(credentials)
            .load()
            .await;
        let limits = LimiterSettings::default();
        Aws::from_conf(
            conf,
            "us-east-1".into(),
            OnceCell::new_with(Some("123456789012".into())),
            Arc::new(Limiter::new(&limits)),
            Arc::default(),
            limits,
            1,
        )
    }

    fn from_conf(
        conf: aws_config::SdkConfig,
        region: String,
        account_id: OnceCell<String>,
        limiter: Arc<Limiter>,
        stats: Arc<CallStats>,
        limits: LimiterSettings,
        max_attempts: u32,
    ) -> Aws {
        // The endpoint of one service's client: AWS_ENDPOINT_URL_<SERVICE> before the
        // shared override (`--aws-endpoint-url`), the precedence the AWS SDKs document.
        // The Rust SDK would let an endpoint set in code, as ours is, win over the
        // variable, so one service could not be sent elsewhere (API Gateway to an
        // emulator that serves deployed APIs while the rest stays on moto).
        macro_rules! client {
            ($sdk:ident, $service:literal) => {{
                let mut builder = $sdk::config::Builder::from(&conf);
                // Every request of every client passes the gate (see `gate`).
                builder.push_interceptor($sdk::config::SharedInterceptor::new(gate::Gatekeeper));
                builder.set_endpoint_url(service_endpoint(
                    std::env::var(concat!("AWS_ENDPOINT_URL_", $service)).ok(),
                    conf.endpoint_url(),
                ));
                $sdk::Client::from_conf(builder.build())
            }};
        }
        Aws {
            apigateway: client!(aws_sdk_apigateway, "API_GATEWAY"),
            apigatewayv2: client!(aws_sdk_apigatewayv2, "APIGATEWAYV2"),
            lambda: client!(aws_sdk_lambda, "LAMBDA"),
            cognito: client!(aws_sdk_cognitoidentityprovider, "COGNITO_IDENTITY_PROVIDER"),
            acm: client!(aws_sdk_acm, "ACM"),
            sts: client!(aws_sdk_sts, "STS"),
            region,
            account_id,
            limiter,
            stats,
            conf,
            limits,
            max_attempts,
            observe_only: None,
            policy: None,
        }
    }

    /// The same clients with every write judged by a tenant's allow-lists at the
    /// gate: what `Tenancy::scope` hands out for an object of a bound namespace.
    pub fn gated(&self, access: crate::plan::access::Access) -> Aws {
        Aws {
            policy: Some(Arc::new(gate::Policy {
                access,
                partition: self.partition(),
                region: self.region.clone(),
                account: self.known_account().unwrap_or_default().to_string(),
            })),
            ..self.clone()
        }
    }

    /// The same clients, refusing every write and noting it in `planned` instead:
    /// one per ObserveOnly reconcile.
    pub fn observe_only(&self, planned: Arc<Mutex<Vec<String>>>) -> Aws {
        Aws {
            observe_only: Some(planned),
            ..self.clone()
        }
    }

    /// Whether writes are withheld (ObserveOnly).
    pub fn is_observe_only(&self) -> bool {
        self.observe_only.is_some()
    }

    /// Note a change the operator would make (ObserveOnly's plan preview).
    pub fn note_planned(&self, change: String) {
        if let Some(planned) = &self.observe_only {
            planned.lock().unwrap().push(change);
        }
    }

    /// Clients for `region` with `credentials` (None: this client's own), an
    /// already known `account` and the limiter of that account and region. The
    /// call counters stay shared.
    pub fn derive(
        &self,
        region: &str,
        credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
        account: Option<String>,
        limiter: Arc<Limiter>,
    ) -> Aws {
        let mut builder = self.conf.to_builder();
        builder.set_region(Some(Region::new(region.to_string())));
        if let Some(credentials) = credentials {
            builder.set_credentials_provider(Some(credentials));
        }
        let account_id = OnceCell::new_with(account);
        Aws::from_conf(
            builder.build(),
            region.to_string(),
            account_id,
            limiter,
            self.stats.clone(),
            self.limits.clone(),
            self.max_attempts,
        )
    }

    /// Run one SDK call through the limiter and the accounting, mapping its error.
    /// Throttled and transient failures are retried here, up to `max_attempts`, not
    /// inside the SDK: every attempt takes a token of the account's limiter and is
    /// counted, so the limiter slows down on a 429 and the metrics equal what AWS saw.
    pub async fn call<T, E, Fut>(
        &self,
        service: Service,
        operation: &'static str,
        resource: &str,
        send: impl Fn() -> Fut,
    ) -> Result<T, AwsError>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        // ObserveOnly writes stop at the gate and never reach AWS: no token for them.
        let withheld = self.observe_only.is_some() && is_mutating(operation);
        let mut attempt = 1;
        loop {
            let waited = if withheld {
                Duration::ZERO
            } else {
                let waited = self.limiter.acquire(service, operation).await;
                self.limiter.count();
                waited
            };
            let scope =
                gate::CallScope::new(self.policy.clone(), self.observe_only.clone(), resource);
            let sent = std::time::Instant::now();
            // On the heap: an SDK send is a large future, and every caller's future
            // would hold one inline (debug builds overflowed the test threads' stacks).
            let answer =
                tokio::time::timeout(attempt_timeout(operation), Box::pin(scope.run(send()))).await;
            let took = sent.elapsed();
            let failed = !matches!(answer, Ok(Ok(_)));
            if failed && let Some(refusal) = scope.take_refusal() {
                // Stopped at the gate: nothing was sent, so nothing is counted.
                tracing::debug!(service = service.as_str(), operation, resource, refusal = %refusal, "AWS write stopped at the gate");
                return Err(refusal.into_aws_error(service.as_str(), operation, resource));
            }
            if withheld && failed {
                // The SDK could not build the request (ObserveOnly plans on ids
                // that a withheld create never returned): still a planned write.
                scope.note_withheld(operation);
                return Err(gate::Refusal::Withheld.into_aws_error(
                    service.as_str(),
                    operation,
                    resource,
                ));
            }
            let err = match answer {
                Ok(Ok(value)) => {
                    self.stats.record(service, operation, "ok", waited, took);
                    count_write(operation);
                    tracing::debug!(
                        service = service.as_str(),
                        operation,
                        resource,
                        attempt,
                        "AWS call ok"
                    );
                    return Ok(value);
                }
                Ok(Err(err)) => AwsError::from_sdk(service.as_str(), operation, resource, err),
                Err(_) => AwsError::timed_out(service.as_str(), operation, resource, took),
            };
            self.stats
                .record(service, operation, err.kind.as_str(), waited, took);
            if err.kind == ErrorKind::Throttled {
                // The drained bucket is the pause before the next attempt, and every
                // other caller of the account slows down with this one.
                self.limiter.throttled(service, operation).await;
                self.limiter.count_throttle();
            }
            // Retried here, inside the pass, through the limiter: a failed pass costs
            // its object a backoff and its successor the reads this one already made.
            let again = attempt < self.max_attempts && may_resend(operation, &err);
            tracing::debug!(service = service.as_str(), operation, resource, attempt, retry = again, error = %err, "AWS call failed");
            if !again {
                return Err(err);
            }
            if err.kind == ErrorKind::Transient {
                tokio::time::sleep(retry_pause(attempt)).await;
            }
            attempt += 1;
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

impl Aws {
    /// The limiter of this client's account and region.
    pub fn limiter(&self) -> Arc<Limiter> {
        self.limiter.clone()
    }

    /// The account id, when already known (no call).
    pub fn known_account(&self) -> Option<&str> {
        self.account_id.get().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After an unknown outcome, a create is sent again only where AWS refuses
    /// its duplicate (409) or a duplicate is harmless.
    #[test]
    fn only_calls_that_cannot_make_a_duplicate_are_sent_again_after_an_unknown_outcome() {
        for op in [
            "GetRestApi",
            "PutMethod",
            "UpdateStage",
            "DeleteResource",
            "TagResource",
            "CreateStage",
            "CreateDeployment",
            "AddPermission",
            "CreateBasePathMapping",
            "CreateUsagePlanKey",
        ] {
            assert!(may_repeat(op), "{op}");
        }
        for op in [
            "CreateRestApi",
            "CreateResource",
            "CreateAuthorizer",
            "ImportRestApi",
            "CreateApiKey",
        ] {
            assert!(!may_repeat(op), "{op}");
        }
    }

    fn failed(kind: ErrorKind, code: &str) -> AwsError {
        AwsError {
            service: "apigateway",
            operation: "CreateResource",
            resource: "r".into(),
            kind,
            code: code.into(),
            message: String::new(),
        }
    }

    /// A failure that proves AWS did not carry the call out (429, 503, a refused
    /// connection) lets even a create go again; a reset, a timeout or a 500 does
    /// not; an answer (a refusal, a conflict, a missing resource) is never resent.
    #[test]
    fn a_create_is_resent_only_when_it_was_not_carried_out() {
        for (kind, code) in [
            (ErrorKind::Throttled, "TooManyRequestsException"),
            (ErrorKind::Transient, "ServiceUnavailableException"),
            (ErrorKind::Transient, "HTTP 503"),
            (ErrorKind::Transient, "ConnectionRefused"),
        ] {
            assert!(may_resend("CreateResource", &failed(kind, code)), "{code}");
        }
        for (kind, code) in [
            (ErrorKind::Transient, "DispatchFailure"),
            (ErrorKind::Transient, "Timeout"),
            (ErrorKind::Transient, "HTTP 500"),
            (ErrorKind::Transient, "InternalFailure"),
            (ErrorKind::Conflict, "ConflictException"),
            (ErrorKind::Invalid, "BadRequestException"),
            (ErrorKind::NotFound, "NotFoundException"),
        ] {
            assert!(!may_resend("CreateResource", &failed(kind, code)), "{code}");
        }
        assert!(may_resend(
            "PutMethod",
            &failed(ErrorKind::Transient, "DispatchFailure")
        ));
        assert!(!may_resend(
            "PutMethod",
            &failed(ErrorKind::Invalid, "BadRequestException")
        ));
    }

    /// A pass counts the writes AWS carried out in its task, and only its own.
    #[tokio::test]
    async fn a_pass_counts_its_writes() {
        let calls = Arc::new(PassCalls::default());
        in_pass(calls.clone(), async {
            count_write("GetResources");
            count_write("PutMethod");
            count_write("CreateResource");
        })
        .await;
        count_write("PutMethod");
        assert_eq!(calls.writes(), 2);
    }

    #[test]
    fn a_service_endpoint_of_its_own_comes_before_the_shared_one() {
        let moto = Some("http://127.0.0.1:5000");
        assert_eq!(
            service_endpoint(Some("http://127.0.0.1:4566".into()), moto).as_deref(),
            Some("http://127.0.0.1:4566")
        );
        assert_eq!(service_endpoint(None, moto).as_deref(), moto);
        assert_eq!(service_endpoint(Some(String::new()), moto).as_deref(), moto);
        assert_eq!(service_endpoint(None, None), None);
    }

    #[test]
    fn retry_pauses_grow_and_stay_bounded() {
        assert!(retry_pause(1) >= Duration::from_millis(100));
        assert!(retry_pause(1) < Duration::from_millis(151));
        assert!(retry_pause(3) >= Duration::from_millis(400));
        assert!(retry_pause(20) <= Duration::from_secs(3));
    }
}
