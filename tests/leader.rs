//! Two operator processes against the real control plane: only the Lease holder
//! writes; when it is killed the other takes over within the lease period, and
//! nothing is duplicated in AWS; SIGTERM releases the lease at once.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apigw_operator::api::RestApi;
use apigw_operator::plan::rest_api::OWNER_UID_TAG;
use common::*;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};

const LEASE_SECS: u64 = 6;

struct Replica {
    name: &'static str,
    child: Child,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_replica(name: &'static str, namespace: &str) -> Replica {
    let child = Command::new(env!("CARGO_BIN_EXE_apigw-operator"))
        .args([
            "run",
            "--namespace",
            namespace,
            "--lease-namespace",
            namespace,
        ])
        .args([
            "--lease-duration",
            &format!("{LEASE_SECS}s"),
            "--resync-period",
            "3s",
        ])
        .args([
            "--aws-endpoint-url",
            &aws_endpoint(),
            "--aws-region",
            "us-east-1",
            "--aws-max-attempts",
            "1",
        ])
        .args(["--metrics-addr", "127.0.0.1:0", "--log-level", "warn"])
        .env("KUBECONFIG", env("KUBECONFIG"))
        .env("POD_NAME", name)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("operator binary starts");
    Replica { name, child }
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt("apigw-operator")
        .await
        .ok()??
        .spec?
        .holder_identity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_takes_over_when_the_leader_dies() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "leader").await;
    let leases: Api<Lease> = ns.api();
    let mut replicas = vec![
        start_replica("op-a", &ns.name),
        start_replica("op-b", &ns.name),
    ];
    let apis = ns.api::<RestApi>();
    let obj = ns.apply::<RestApi>("{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: ha}, spec: {description: before}}").await;
    let id = wait_ready(&apis, "ha", "True", Duration::from_secs(40))
        .await
        .status
        .unwrap()
        .rest_api_id
        .unwrap();
    let leader = eventually("a lease holder", Duration::from_secs(20), || {
        holder(&leases)
    })
    .await;
    assert!(leader == "op-a" || leader == "op-b", "{leader}");

    // Kill the leader without warning: its lease must expire before the other leads.
    let index = replicas.iter().position(|r| r.name == leader).unwrap();
    let killed = replicas.remove(index);
    drop(killed);
    let killed_at = Instant::now();
    apis.patch(
        "ha",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"description": "after failover"}})),
    )
    .await
    .unwrap();
    let aws = aws().await;
    eventually(
        "the standby applies the change",
        Duration::from_secs(LEASE_SECS + 30),
        || async {
            (aws.get_rest_api(&id).await.ok()??.settings.description == "after failover")
                .then_some(())
        },
    )
    .await;
    let took = killed_at.elapsed();
    eprintln!("takeover after the leader was killed: {took:?}");
    let survivor = replicas[0].name;
    assert_eq!(holder(&leases).await.as_deref(), Some(survivor));
    assert!(
        took < Duration::from_secs(LEASE_SECS + 20),
        "takeover took {took:?}"
    );
    let all = aws
        .apigateway
        .get_rest_apis()
        .limit(500)
        .send()
        .await
        .unwrap();
    let tagged = all
        .items()
        .iter()
        .filter(|a| a.tags().and_then(|t| t.get(OWNER_UID_TAG)) == obj.uid().as_ref())
        .count();
    assert_eq!(tagged, 1, "one API, never duplicated across the failover");

    // Delete while the survivor leads, then SIGTERM it: the lease is released at once.
    apis.delete("ha", &DeleteParams::default()).await.unwrap();
    wait_deleted(&apis, "ha", Duration::from_secs(30)).await;
    assert!(aws.get_rest_api(&id).await.unwrap().is_none());
    let pid = replicas[0].child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    eventually(
        "lease released on SIGTERM",
        Duration::from_secs(LEASE_SECS),
        || async { holder(&leases).await.is_none().then_some(()) },
    )
    .await;
    let status = replicas[0].child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    replicas.clear();
    ns.delete().await;
}
