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

// ---------------------------------------------------------------------------
// AWS on a bad day: faults inside a pass (issue #26). The operator runs behind
// the recording proxy with AWS's published quotas, which here also fails a
// seeded share of the calls: 503, 429, a connection reset before or after the
// request was carried out, and a stall.

use apigw_operator::api::Authorizer;
use apigw_operator::aws::{AwsSettings, LimiterSettings};
use common::proxy::{Fault, Faults, Proxy, Seen};
use common::quota;

/// The operator's default attempts per AWS call (`--aws-max-attempts`).
const DEFAULT_ATTEMPTS: u32 = 5;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An operator as deployed (default attempts, limiter budgets and `--max-backoff`,
/// no resync during the test) whose AWS is `proxy`.
async fn operator_behind(proxy: &Proxy, namespace: &str) -> Operator {
    let settings = AwsSettings {
        endpoint_url: Some(proxy.url.clone()),
        max_attempts: DEFAULT_ATTEMPTS,
        limits: LimiterSettings::default(),
        ..aws_settings()
    };
    Operator::start_custom(
        client().await,
        namespace,
        Duration::from_secs(600),
        settings,
        |s| s.max_backoff = Duration::from_secs(300),
    )
    .await
}

/// The R2 case: a new API whose Authorizer keeps it off the whole-API import, so
/// its routes are written call by call; applied at once, until its stage serves
/// every route. Returns the time it took and what the proxy saw.
async fn r2_case(ns: &TestNamespace, proxy: &Proxy, routes: usize, pool: &str) -> Duration {
    let _operator = operator_behind(proxy, &ns.name).await;
    let start = Instant::now();
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: r2}, spec: {}}",
    )
    .await;
    ns.apply::<Authorizer>(&format!(
        "{{apiVersion: apigw.rs/v1alpha1, kind: Authorizer, metadata: {{name: users}}, spec: {{restApiRef: {{name: r2}}, cognito: {{userPools: [{pool}]}}}}}}"
    ))
    .await;
    ns.apply::<Stage>("{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {name: prod}, spec: {restApiRef: {name: r2}, stageName: prod, deployment: {debounceSeconds: 0}}}")
        .await;
    for i in 0..routes {
        ns.apply::<Route>(&format!(
            "{{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {{name: r{i}}}, spec: {{restApiRef: {{name: r2}}, method: GET, path: '/items/r{i}', authorization: {{authorizerRef: {{name: users}}}}, integration: {{lambda: {{functionName: faults-backend}}}}}}}}"
        ))
        .await;
    }
    let limit = Duration::from_secs(env_or("APIGW_FAULT_LIMIT_SECS", 600));
    let route_api = ns.api::<Route>();
    eventually("every route in effect and deployed", limit, || async {
        let stage = ns.api::<Stage>().get("prod").await.ok()?;
        let deployed = stage.status.as_ref()?.conditions.iter().any(|c| {
            c.type_ == "Ready"
                && c.status == "True"
                && c.reason == "Deployed"
                && !c.message.contains("without what is not in effect")
        });
        let in_effect = route_api
            .list(&Default::default())
            .await
            .ok()?
            .items
            .iter()
            .filter(|r| {
                r.status.as_ref().is_some_and(|s| {
                    s.conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
                })
            })
            .count();
        (deployed && in_effect == routes).then_some(())
    })
    .await;
    start.elapsed()
}

fn faults_of(seen: &[Seen]) -> std::collections::BTreeMap<String, usize> {
    let mut by_kind = std::collections::BTreeMap::new();
    for s in seen {
        if let Some(f) = s.fault {
            *by_kind.entry(format!("{f:?}")).or_default() += 1;
        }
    }
    by_kind
}

/// Issue #26, R2: with 20% of AWS calls failing, a call-by-call API converges
/// within twice its fault-free time, and nothing is made twice. Transient
/// failures are retried inside the pass; a failed pass that made progress does
/// not grow the object's backoff. APIGW_FAULT_ROUTES (25) and APIGW_FAULT_SEED
/// (26) choose the size and the sequence of faults; the times are printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_faults_cost_a_call_by_call_api_at_most_twice_its_fault_free_time() {
    let routes: usize = env_or("APIGW_FAULT_ROUTES", 25);
    let seed: u64 = env_or("APIGW_FAULT_SEED", 26);
    let client = client().await;
    let pool = seed_user_pool("faults-users");
    seed_functions(&["faults-backend"]);

    let clean_ns = TestNamespace::new(&client, "r2-clean").await;
    let clean = Proxy::with_quotas(&aws_endpoint(), quota::published()).await;
    let fault_free = r2_case(&clean_ns, &clean, routes, &pool).await;
    let clean_calls = clean.seen().len();

    let faulty_ns = TestNamespace::new(&client, "r2-faults").await;
    let faulty =
        Proxy::with_faults(&aws_endpoint(), quota::published(), Faults::new(0.2, seed)).await;
    let with_faults = r2_case(&faulty_ns, &faulty, routes, &pool).await;
    let seen = faulty.seen();
    let faults = faults_of(&seen);
    println!(
        "R2 {routes} routes: fault-free {:.1} s ({clean_calls} calls), 20% faults seed {seed} {:.1} s ({} calls, faults {faults:?}), ratio {:.2}",
        fault_free.as_secs_f64(),
        with_faults.as_secs_f64(),
        seen.len(),
        with_faults.as_secs_f64() / fault_free.as_secs_f64()
    );
    let injected: usize = faults.values().sum();
    assert!(
        injected * 100 >= seen.len() * 10,
        "the proxy failed {injected} of {} calls; the test needs about a fifth",
        seen.len()
    );
    assert!(
        faults.contains_key("ResetAfter") && faults.contains_key("Unavailable"),
        "{faults:?}"
    );
    // Twice the fault-free time, plus a few seconds of slack for a run this
    // small (one deployment's quota wait is 5 s).
    assert!(
        with_faults <= fault_free * 2 + Duration::from_secs(10),
        "with faults {with_faults:?}, fault-free {fault_free:?}"
    );

    // Nothing made twice: every path and the authorizer exist once.
    let api_id = faulty_ns
        .api::<RestApi>()
        .get("r2")
        .await
        .unwrap()
        .status
        .unwrap()
        .rest_api_id
        .unwrap();
    let aws = aws().await;
    let resources = aws.get_resources(&api_id).await.unwrap();
    let mut paths: Vec<&str> = resources.iter().map(|r| r.path.as_str()).collect();
    let all = paths.len();
    paths.sort_unstable();
    paths.dedup();
    assert_eq!(all, paths.len(), "a resource made twice: {paths:?}");
    assert_eq!(aws.get_authorizers(&api_id).await.unwrap().len(), 1);
    clean_ns.delete().await;
    faulty_ns.delete().await;
}

/// Issue #26: a stage waiting on something only a person can fix (a route behind
/// an Authorizer whose user pool does not exist) is not passed again on a timer:
/// no AWS call until a spec changes. Before, its API was passed every 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_waiting_on_a_person_makes_no_aws_call() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "stalled").await;
    seed_functions(&["faults-backend"]);
    let proxy = Proxy::with_quotas(&aws_endpoint(), quota::published()).await;
    let _operator = operator_behind(&proxy, &ns.name).await;
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: waits}, spec: {}}",
    )
    .await;
    ns.apply::<Authorizer>("{apiVersion: apigw.rs/v1alpha1, kind: Authorizer, metadata: {name: users}, spec: {restApiRef: {name: waits}, cognito: {userPools: [us-east-1_NoSuchPool0]}}}")
        .await;
    ns.apply::<Route>("{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: open}, spec: {restApiRef: {name: waits}, method: GET, path: /open, integration: {mock: {}}}}")
        .await;
    ns.apply::<Route>("{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: guarded}, spec: {restApiRef: {name: waits}, method: GET, path: /guarded, authorization: {authorizerRef: {name: users}}, integration: {lambda: {functionName: faults-backend}}}}")
        .await;
    ns.apply::<Stage>("{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {name: prod}, spec: {restApiRef: {name: waits}, stageName: prod, deployment: {debounceSeconds: 0}}}")
        .await;
    let reason_of = |name: &'static str| {
        let stages = ns.api::<Stage>();
        let authorizers = ns.api::<Authorizer>();
        async move {
            let conditions = if name == "prod" {
                stages.get(name).await.ok()?.status?.conditions
            } else {
                authorizers.get(name).await.ok()?.status?.conditions
            };
            conditions
                .into_iter()
                .find(|c| c.type_ == "Ready")
                .map(|c| c.reason)
        }
    };
    eventually(
        "the Authorizer stalled on its pool",
        Duration::from_secs(60),
        || async {
            (reason_of("users").await.as_deref() == Some("UserPoolNotFound")).then_some(())
        },
    )
    .await;
    eventually(
        "the stage waiting for its routes",
        Duration::from_secs(60),
        || async { (reason_of("prod").await.as_deref() == Some("WaitingForRoutes")).then_some(()) },
    )
    .await;
    // The pass that wrote WaitingForRoutes ended; its last calls (the stage's
    // status follows its reads) are behind us once the count stops moving.
    let mut mark = proxy.mark();
    eventually("the pass's calls done", Duration::from_secs(10), || {
        let now = proxy.mark();
        let settled = now == mark;
        mark = now;
        async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            settled.then_some(())
        }
    })
    .await;
    let quiet_from = proxy.mark();
    // An absence needs a window: three of the old 5 s rechecks.
    tokio::time::sleep(Duration::from_secs(16)).await;
    let during = proxy.since(quiet_from);
    assert!(
        during.is_empty(),
        "a stalled API made {} AWS calls in 16 s: {:?}",
        during.len(),
        during.iter().map(|s| &s.operation).collect::<Vec<_>>()
    );
    // Alive, not stuck: a spec change is acted on at once.
    let before_edit = proxy.mark();
    ns.apply::<Route>("{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: more}, spec: {restApiRef: {name: waits}, method: GET, path: /more, integration: {mock: {}}}}")
        .await;
    eventually("the edit reaches AWS", Duration::from_secs(30), || async {
        proxy
            .since(before_edit)
            .iter()
            .any(|s| s.operation == "CreateResource")
            .then_some(())
    })
    .await;
    ns.delete().await;
}

/// Issue #26: deleting a RestApi during a long call-by-call pass stops that pass
/// within the calls it has in flight, and its cleanup deletes the API once, also
/// when its Routes go with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_preempts_the_running_pass_and_deletes_once() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "preempt").await;
    let pool = seed_user_pool("preempt-users");
    seed_functions(&["faults-backend"]);
    let proxy = Proxy::with_quotas(&aws_endpoint(), quota::published()).await;
    let _operator = operator_behind(&proxy, &ns.name).await;
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: doomed}, spec: {}}",
    )
    .await;
    ns.apply::<Authorizer>(&format!(
        "{{apiVersion: apigw.rs/v1alpha1, kind: Authorizer, metadata: {{name: users}}, spec: {{restApiRef: {{name: doomed}}, cognito: {{userPools: [{pool}]}}}}}}"
    ))
    .await;
    let routes = 40;
    for i in 0..routes {
        ns.apply::<Route>(&format!(
            "{{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {{name: d{i}}}, spec: {{restApiRef: {{name: doomed}}, method: GET, path: '/d{i}/items', authorization: {{authorizerRef: {{name: users}}}}, integration: {{lambda: {{functionName: faults-backend}}}}}}}}"
        ))
        .await;
    }
    // The pass is under way: its first methods are in.
    eventually(
        "the call-by-call pass under way",
        Duration::from_secs(60),
        || async {
            (proxy
                .seen()
                .iter()
                .filter(|s| s.operation == "PutMethod")
                .count()
                >= 3)
                .then_some(())
        },
    )
    .await;
    let apis = ns.api::<RestApi>();
    let api_id = apis
        .get("doomed")
        .await
        .unwrap()
        .status
        .and_then(|s| s.rest_api_id)
        .expect("the new API's id is in status before its structure is written");
    let writes_to_api = |seen: &[Seen]| {
        seen.iter()
            .filter(|s| s.is_write() && s.path.contains(&format!("/restapis/{api_id}/")))
            .count()
    };
    // Routes and API go together, as a namespace's objects do.
    let routes_api = ns.api::<Route>();
    for i in 0..routes {
        routes_api
            .delete(&format!("d{i}"), &DeleteParams::default())
            .await
            .unwrap();
    }
    let deleted_at = proxy.mark();
    let started = Instant::now();
    apis.delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the RestApi gone", Duration::from_secs(120), || async {
        apis.get_opt("doomed")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let gone_in = started.elapsed();
    let after = proxy.since(deleted_at);
    let deletes = after
        .iter()
        .filter(|s| s.operation == "DeleteRestApi")
        .count();
    let late_writes = writes_to_api(&after);
    println!(
        "deleted during its pass: gone in {:.1} s, {late_writes} writes to the API after the delete, {deletes} DeleteRestApi",
        gone_in.as_secs_f64()
    );
    assert_eq!(deletes, 1, "DeleteRestApi sent {deletes} times");
    // The writes in flight (at most six at once) when the deletion was seen.
    assert!(
        late_writes <= 8,
        "{late_writes} writes to the doomed API after its deletion"
    );
    assert!(
        aws().await.get_rest_api(&api_id).await.unwrap().is_none(),
        "the REST API is deleted"
    );
    ns.delete().await;
}

#[test]
fn the_fault_proxy_draws_a_fifth_of_each_kind_from_its_seed() {
    let faults = Faults::new(0.2, 26);
    let drawn: Vec<Option<Fault>> = (0..5000).map(|_| faults.draw_for_test()).collect();
    let failed = drawn.iter().flatten().count();
    assert!((800..1200).contains(&failed), "{failed}");
    let again = Faults::new(0.2, 26);
    assert!(drawn.iter().all(|d| *d == again.draw_for_test()));
}
