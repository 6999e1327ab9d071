//! Shared harness of the cluster tests: a real kube-apiserver and moto, both on
//! 127.0.0.1, brought up by `scripts/test-env up`. Every test works in its own
//! namespace with its own in-process operator watching only that namespace, so
//! tests run in parallel without seeing each other.

#![allow(dead_code)]

pub mod checkout;
pub mod freeze;
pub mod proxy;
pub mod quota;

pub use checkout::checkout;
use std::sync::Arc;
use std::time::Duration;

use apigw_operator::api::all_crds;
use apigw_operator::aws::{Aws, AwsSettings, LimiterSettings};
use apigw_operator::controller::{self, Context, Settings};
use k8s_openapi::api::core::v1::{Event, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

const SETUP_HINT: &str = "cluster tests need the test control plane and moto: run `scripts/test-env up` and \
     `eval \"$(scripts/test-env env)\"` first, or run everything with `scripts/test`";

pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set; {SETUP_HINT}"))
}

/// The endpoint of the moto server.
pub fn aws_endpoint() -> String {
    env("APIGW_AWS_ENDPOINT_URL")
}

pub async fn kube_config() -> kube::Config {
    let path = env("KUBECONFIG");
    let file = Kubeconfig::read_from(&path)
        .unwrap_or_else(|e| panic!("reading {path}: {e}; {SETUP_HINT}"));
    kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig is usable")
}

pub async fn client() -> Client {
    Client::try_from(kube_config().await).expect("kube client")
}

static CRDS: OnceCell<()> = OnceCell::const_new();

/// Install (server-side apply) the CRDs once per test binary and wait until established.
pub async fn ensure_crds(client: &Client) {
    CRDS.get_or_init(|| async {
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in all_crds() {
            let name = crd.name_any();
            crds.patch(
                &name,
                &PatchParams::apply("apigw-tests").force(),
                &Patch::Apply(&crd),
            )
            .await
            .expect("apply CRD");
            tokio::time::timeout(
                Duration::from_secs(30),
                await_condition(crds.clone(), &name, conditions::is_crd_established()),
            )
            .await
            .expect("CRD established in time")
            .expect("watch CRD");
        }
    })
    .await;
}

/// AWS clients for the tests' own inspection of moto (separate from the operator's counters).
pub async fn aws() -> Aws {
    Aws::connect(&aws_settings())
        .await
        .expect("AWS clients for moto")
}

/// API Gateway as a person at the console or the CLI reaches it: the SDK's own
/// client, with nothing of the operator's (no gate, no limiter). Tests that play
/// the people the operator shares AWS with write through this; the operator's
/// own clients refuse any write made outside `Aws::call`.
pub async fn console() -> aws_sdk_apigateway::Client {
    use aws_smithy_http_client::tls;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let conf = aws_config::defaults(aws_config::BehaviorVersion::v2026_01_12())
        .http_client(http)
        .region(aws_config::Region::new(
            std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
        ))
        .endpoint_url(aws_endpoint())
        .load()
        .await;
    aws_sdk_apigateway::Client::new(&conf)
}

pub fn aws_settings() -> AwsSettings {
    AwsSettings {
        region: Some(std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into())),
        endpoint_url: Some(aws_endpoint()),
        // moto answers unimplemented calls with HTML 500s; SDK retries would only repeat them.
        max_attempts: 1,
        // moto enforces no quotas; keep the real per-operation budgets except the slow
        // deletes and creates, which would make the suite take minutes.
        limits: LimiterSettings {
            operations: LimiterSettings::default()
                .operations
                .into_iter()
                .filter(|(op, _)| {
                    !matches!(
                        op.as_str(),
                        "DeleteRestApi"
                            | "CreateRestApi"
                            | "CreateDeployment"
                            | "CreateDomainName"
                            | "DeleteDomainName"
                            | "UpdateUsagePlan"
                    )
                })
                .collect(),
            ..Default::default()
        },
    }
}

/// A namespace for one test, deleted (after its objects) when the test ends well.
pub struct TestNamespace {
    pub name: String,
    pub client: Client,
}

impl TestNamespace {
    pub async fn new(client: &Client, prefix: &str) -> TestNamespace {
        ensure_crds(client).await;
        let suffix: u32 = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
            % 1_000_000;
        let name = format!("t-{prefix}-{suffix}");
        let ns: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
        TestNamespace {
            name,
            client: client.clone(),
        }
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Server-side apply a YAML manifest as the user would with kubectl.
    pub async fn apply<K>(&self, yaml: &str) -> K
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let obj: K = serde_yaml::from_str(yaml).expect("test manifest parses");
        let name = obj.name_any();
        self.api::<K>()
            .patch(
                &name,
                &PatchParams::apply("kubectl-test").force(),
                &Patch::Apply(&obj),
            )
            .await
            .unwrap_or_else(|e| panic!("apply {name}: {e}"))
    }

    /// Events recorded for an object, as "Type/Reason: note".
    pub async fn events_for(&self, name: &str) -> Vec<String> {
        let events: Api<Event> = self.api();
        let list = events
            .list(&ListParams::default())
            .await
            .expect("list events");
        list.items
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(name))
            .map(|e| {
                format!(
                    "{}/{}: {}",
                    e.type_.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.message.unwrap_or_default()
                )
            })
            .collect()
    }

    /// Wait for an Event on the object whose "Type/Reason" starts with `prefix`.
    /// Events are published after the AWS calls they report, so a test that has
    /// just seen the AWS side must wait for them rather than look once.
    pub async fn wait_event(&self, name: &str, prefix: &str) {
        eventually(
            &format!("{prefix} event on {name}"),
            Duration::from_secs(30),
            || async {
                self.events_for(name)
                    .await
                    .iter()
                    .any(|e| e.starts_with(prefix))
                    .then_some(())
            },
        )
        .await;
    }

    pub async fn delete(self) {
        let _ = Api::<Namespace>::all(self.client.clone())
            .delete(&self.name, &DeleteParams::default())
            .await;
    }
}

/// An operator running in this process, watching one namespace.
pub struct Operator {
    pub ctx: Arc<Context>,
    handle: tokio::task::JoinHandle<()>,
}

impl Operator {
    pub async fn start(namespace: &str, resync: Duration) -> Operator {
        Self::start_with(client().await, namespace, resync).await
    }

    pub async fn start_with(client: Client, namespace: &str, resync: Duration) -> Operator {
        Self::start_with_aws(client, namespace, resync, aws_settings()).await
    }

    /// An operator whose AWS is somewhere else (for example nowhere, to see failures).
    pub async fn start_with_aws(
        client: Client,
        namespace: &str,
        resync: Duration,
        aws_settings: AwsSettings,
    ) -> Operator {
        // RUST_LOG=apigw_operator=debug shows the operator's logs of a failing test.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        Self::start_custom(client, namespace, resync, aws_settings, |_| {}).await
    }

    /// An operator with its settings changed by `adjust` (for example to require
    /// account bindings).
    pub async fn start_custom(
        client: impl Into<controller::KubeClients>,
        namespace: &str,
        resync: Duration,
        aws_settings: AwsSettings,
        adjust: impl FnOnce(&mut Settings),
    ) -> Operator {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let aws = Arc::new(Aws::connect(&aws_settings).await.expect("AWS clients"));
        let mut settings = Settings {
            namespace: Some(namespace.to_string()),
            resync,
            concurrency: 4,
            max_backoff: Duration::from_secs(3),
            ..Default::default()
        };
        adjust(&mut settings);
        let ctx = Context::new(client, aws, settings);
        let run_ctx = ctx.clone();
        let handle = tokio::spawn(async move {
            controller::run(run_ctx, std::future::pending())
                .await
                .expect("operator runs");
        });
        Operator { ctx, handle }
    }

    pub fn mutating_calls(&self) -> u64 {
        self.ctx.aws.stats.mutating_calls()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Poll `check` until it returns Some, or panic with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Wait until the object's Ready condition has `status` for its current generation.
pub async fn wait_ready<K>(api: &Api<K>, name: &str, status: &str, timeout: Duration) -> K
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + serde::Serialize,
{
    eventually(&format!("{name} Ready={status}"), timeout, || async {
        let obj = api.get_opt(name).await.ok().flatten()?;
        let value = serde_json::to_value(&obj).ok()?;
        let generation = value
            .pointer("/metadata/generation")
            .and_then(|g| g.as_i64());
        let ready = value
            .pointer("/status/conditions")?
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Ready")?
            .clone();
        // Applying is a pass in progress (a new API's id recorded, its structure
        // being written), never the outcome a test waits for.
        (ready["status"] == status
            && ready["reason"] != "Applying"
            && ready["observedGeneration"].as_i64() == generation)
            .then_some(obj)
    })
    .await
}

/// Ready condition's reason and message.
pub fn ready_reason<K: serde::Serialize>(obj: &K) -> (String, String) {
    let value = serde_json::to_value(obj).unwrap();
    let conds = value
        .pointer("/status/conditions")
        .and_then(|c| c.as_array())
        .cloned()
        .unwrap_or_default();
    let ready = conds
        .into_iter()
        .find(|c| c["type"] == "Ready")
        .unwrap_or_default();
    (
        ready["reason"].as_str().unwrap_or_default().to_string(),
        ready["message"].as_str().unwrap_or_default().to_string(),
    )
}

/// Wait until the object is gone (finalizers done).
pub async fn wait_deleted<K>(api: &Api<K>, name: &str, timeout: Duration)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    eventually(&format!("{name} deleted"), timeout, || async {
        match api.get_opt(name).await {
            Ok(None) => Some(()),
            _ => None,
        }
    })
    .await
}

/// Create Lambda functions (`name` or `name:alias`) in moto, as they would exist in AWS.
pub fn seed_functions(specs: &[&str]) {
    let out = std::process::Command::new(checkout("/scripts/moto-seed"))
        .arg("functions")
        .args(specs)
        .output()
        .expect("scripts/moto-seed runs");
    assert!(
        out.status.success(),
        "moto-seed functions failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Create (or find) a Cognito user pool in moto; returns its id.
pub fn seed_user_pool(name: &str) -> String {
    let out = std::process::Command::new(checkout("/scripts/moto-seed"))
        .args(["user-pool", name])
        .output()
        .expect("scripts/moto-seed runs");
    assert!(
        out.status.success(),
        "moto-seed user-pool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Create (or find) an ACM certificate for `domain` in moto, in `region`; returns its ARN.
pub fn seed_certificate(domain: &str, region: &str) -> String {
    let out = std::process::Command::new(checkout("/scripts/moto-seed"))
        .args(["certificate", domain, "--region", region])
        .output()
        .expect("scripts/moto-seed runs");
    assert!(
        out.status.success(),
        "moto-seed certificate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
