//! Kubernetes API server outages as an operations team meets them: the API server
//! stopped and started again, under a leader and without leader election (a second
//! kube-apiserver on the shared etcd, so the other tests keep theirs), and a
//! connection that goes silent
//! without closing (a proxy that stops moving bytes). After each, a spec change
//! must reach AWS within 30 s of the API server's return, with no status churn.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apigw_operator::api::{RestApi, Route, Stage};
use apigw_operator::controller;
use common::freeze::FreezingProxy;
use common::*;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};

const OUTAGE: Duration = Duration::from_secs(20);
/// What the issue asks: changes picked up within 30 s of the API server's return.
const PICKUP: Duration = Duration::from_secs(30);

/// A kube-apiserver of the test's own on the shared etcd; dropped, it stops.
struct SpareApiServer {
    name: String,
    kubeconfig: String,
}

impl SpareApiServer {
    fn up(name: &str) -> SpareApiServer {
        let kubeconfig = spare(name, "up");
        SpareApiServer {
            name: name.to_string(),
            kubeconfig,
        }
    }

    fn stop(&self) {
        spare(&self.name, "down");
    }

    fn start(&self) {
        assert_eq!(spare(&self.name, "up"), self.kubeconfig);
    }
}

impl Drop for SpareApiServer {
    fn drop(&mut self) {
        spare(&self.name, "down");
    }
}

fn spare(name: &str, action: &str) -> String {
    let out = Command::new(checkout("/scripts/test-env"))
        .args(["spare", name, action])
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/test-env runs");
    assert!(
        out.status.success(),
        "scripts/test-env spare {name} {action} failed"
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on the operator's probe endpoint: (status code, body).
async fn probe(port: u16, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    conn.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut body = String::new();
    conn.read_to_string(&mut body).await.ok()?;
    let code = body.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body))
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn description_in_aws(id: &str, wanted: &str, within: Duration) -> Duration {
    let aws = aws().await;
    let start = Instant::now();
    eventually(
        &format!("description {wanted:?} in AWS"),
        within,
        || async {
            (aws.get_rest_api(id).await.ok()??.settings.description == wanted).then_some(())
        },
    )
    .await;
    start.elapsed()
}

async fn set_description(apis: &Api<RestApi>, name: &str, description: &str) {
    apis.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"description": description}})),
    )
    .await
    .unwrap();
}

/// The operator binary on the spare API server `server`, watching `namespace`,
/// `/metrics` on `metrics`, with `mode`'s flags (leader election or not).
fn operator_on(server: &SpareApiServer, namespace: &str, metrics: u16, mode: &[&str]) -> Process {
    Process(
        Command::new(env!("CARGO_BIN_EXE_apigw-operator"))
            .args(["run", "--namespace", namespace])
            .args(mode)
            .args(["--resync-period", "60s"])
            .args([
                "--aws-endpoint-url",
                &aws_endpoint(),
                "--aws-region",
                "us-east-1",
            ])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics}")])
            .args(["--log-level", "info"])
            .env("KUBECONFIG", &server.kubeconfig)
            .env("POD_NAME", namespace)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("operator binary starts"),
    )
}

/// Stop the API server for the outage, start it again in place, change the
/// RestApi `name`: the change must reach AWS within the pickup time.
async fn change_after_restart(
    server: &SpareApiServer,
    apis: &Api<RestApi>,
    name: &str,
    id: &str,
    description: &str,
) -> Duration {
    server.stop();
    tokio::time::sleep(OUTAGE).await;
    server.start();
    let back = Instant::now();
    set_description(apis, name, description).await;
    let took = description_in_aws(id, description, PICKUP).await;
    assert!(back.elapsed() <= PICKUP + Duration::from_secs(2));
    took
}

/// Leader election on, the API server gone longer than the lease: the leader gives
/// the lease up, and once the API server is back it leads again and runs its
/// controllers (it used to renew the lease for ever with no controller running,
/// `apigw_leader 0` and `/readyz` 200).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_runs_its_controllers_again_after_the_api_server_restarts() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "outage-leader").await;
    let server = SpareApiServer::up("outage-leader");
    let metrics = free_port();
    let _operator = operator_on(
        &server,
        &ns.name,
        metrics,
        &["--lease-namespace", &ns.name, "--lease-duration", "4s"],
    );
    let apis = ns.api::<RestApi>();
    ns.apply::<RestApi>("{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: ha}, spec: {description: before}}").await;
    let id = wait_ready(&apis, "ha", "True", Duration::from_secs(40))
        .await
        .status
        .unwrap()
        .rest_api_id
        .unwrap();

    let took = change_after_restart(&server, &apis, "ha", &id, "after the outage").await;
    eprintln!("change applied {took:?} after the API server returned");
    let (code, body) = probe(metrics, "/metrics").await.expect("metrics answer");
    assert_eq!(code, 200);
    assert!(body.contains("apigw_leader 1"), "leads again:\n{body}");
    assert_eq!(probe(metrics, "/readyz").await.map(|p| p.0), Some(200));

    apis.delete("ha", &DeleteParams::default()).await.unwrap();
    wait_deleted(&apis, "ha", Duration::from_secs(30)).await;
    ns.delete().await;
}

/// Leader election off, the API server stopped and started again in place: the
/// operator's watches must come back by themselves. They used to relist and then
/// meet 410 "too old resource version" on every resume for minutes, and a spec
/// change waited; now watches failing for 20 s restart the controllers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_leader_election_the_controllers_recover_from_an_api_server_restart() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "outage-inplace").await;
    let server = SpareApiServer::up("outage-inplace");
    let metrics = free_port();
    let _operator = operator_on(&server, &ns.name, metrics, &["--leader-election", "false"]);
    let apis = ns.api::<RestApi>();
    ns.apply::<RestApi>("{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: inplace}, spec: {description: before}}").await;
    let id = wait_ready(&apis, "inplace", "True", Duration::from_secs(40))
        .await
        .status
        .unwrap()
        .rest_api_id
        .unwrap();

    let took = change_after_restart(&server, &apis, "inplace", &id, "after the restart").await;
    eprintln!("change applied {took:?} after the API server returned (no leader election)");
    assert_eq!(probe(metrics, "/readyz").await.map(|p| p.0), Some(200));

    apis.delete("inplace", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&apis, "inplace", Duration::from_secs(30)).await;
    ns.delete().await;
}

/// The structure is unchanged across the outage: its change time stays, the Stage
/// stays Deployed, and the converged objects are not rewritten.
async fn assert_no_churn(ns: &TestNamespace, changed_at: &str) {
    let apis = ns.api::<RestApi>();
    let stages = ns.api::<Stage>();
    // The status write that follows the applied change (its observedGeneration).
    let api = eventually("the change recorded in status", PICKUP, || async {
        let api = apis.get("shop").await.ok()?;
        let seen = api.status.as_ref()?.observed_generation;
        (seen == api.metadata.generation).then_some(api)
    })
    .await;
    let status = api.status.clone().unwrap();
    assert_eq!(
        status.config_changed_at.as_deref(),
        Some(changed_at),
        "an unchanged structure keeps its change time"
    );
    let stage = wait_ready(&stages, "prod", "True", Duration::from_secs(20)).await;
    assert_eq!(ready_reason(&stage).0, "Deployed");
    let (api_version, stage_version) = (api.resource_version(), stage.resource_version());
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        apis.get("shop").await.unwrap().resource_version(),
        api_version,
        "the converged RestApi is not rewritten"
    );
    assert_eq!(
        stages.get("prod").await.unwrap().resource_version(),
        stage_version,
        "the converged Stage is not rewritten"
    );
}

async fn converge_shop(ns: &TestNamespace) -> (String, String) {
    ns.apply::<RestApi>("{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: shop}, spec: {description: before}}").await;
    ns.apply::<Route>("{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: items}, spec: {restApiRef: {name: shop}, method: GET, path: /items, integration: {mock: {}}}}").await;
    ns.apply::<Stage>("{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {name: prod}, spec: {restApiRef: {name: shop}, stageName: prod, deployment: {debounceSeconds: 1}}}").await;
    wait_ready(&ns.api::<Stage>(), "prod", "True", Duration::from_secs(40)).await;
    let status = wait_ready(
        &ns.api::<RestApi>(),
        "shop",
        "True",
        Duration::from_secs(10),
    )
    .await
    .status
    .unwrap();
    (
        status.rest_api_id.unwrap(),
        status.config_changed_at.unwrap(),
    )
}

/// Without leader election: every connection to the API server goes silent
/// without closing, as when a load balancer or endpoint disappears; new
/// connections work again after the outage, the old ones never answer. The
/// operator must give the dead ones up (it used to wait out the 295 s watch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_to_the_api_server_is_given_up() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "outage-silent").await;
    let mut config = kube_config().await;
    let upstream = config.cluster_url.port_u16().expect("API server port");
    let proxy = FreezingProxy::start(upstream).await;
    config.cluster_url = format!("https://127.0.0.1:{}", proxy.port).parse().unwrap();
    let _op = Operator::start_custom(
        controller::kube_clients(config).unwrap(),
        &ns.name,
        Duration::from_secs(5),
        aws_settings(),
        |_| {},
    )
    .await;
    let (id, changed_at) = converge_shop(&ns).await;

    proxy.freeze();
    tokio::time::sleep(OUTAGE).await;
    proxy.thaw_new();
    set_description(&ns.api(), "shop", "after the silence").await;
    let took = description_in_aws(&id, "after the silence", PICKUP).await;
    eprintln!("change applied {took:?} after the connections went silent and new ones worked");
    assert_no_churn(&ns, &changed_at).await;
    ns.delete().await;
}
