//! `apigw-operator`: run the controllers, print the CRDs, or export a live API as manifests.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use kube::config::{KubeConfigOptions, Kubeconfig};

use apigw_operator::aws::Aws;
use apigw_operator::config::RunArgs;
use apigw_operator::{api, controller, telemetry};

#[derive(Parser)]
#[command(
    name = "apigw-operator",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("APIGW_GIT_REVISION"), ")"),
    about = "Amazon API Gateway from Kubernetes custom resources"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller manager.
    Run(Box<RunArgs>),
    /// Print every CustomResourceDefinition as YAML (apply with `kubectl apply --server-side -f -`).
    Crds,
    /// Print manifests for a live REST API (a RestApi adopting it, its Authorizers,
    /// Routes and Stages), to bring an API made elsewhere under the operator.
    Export(apigw_operator::export::ExportArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crds => {
            print!("{}", api::crds_yaml()?);
            Ok(())
        }
        Command::Run(args) => runtime(args.worker_threads)?.block_on(run(*args)),
        Command::Export(args) => runtime(1)?.block_on(apigw_operator::export::run(args)),
    }
}

/// Tokio on `threads` threads: the calling thread alone for one, a work-stealing
/// pool for more.
fn runtime(threads: u16) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(usize::from(threads));
        b
    };
    builder
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    telemetry::init(args.log_format, &args.log_level)?;
    let kube_config = match &args.kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer()
            .await
            .context("no Kubernetes configuration found (KUBECONFIG or in-cluster)")?,
    };
    let clients = controller::kube_clients(kube_config)?;
    let aws = Aws::connect(&args.aws_settings()).await?;
    tracing::info!(region = %aws.region, endpoint = ?args.aws_endpoint_url, "AWS clients ready");
    let aws = Arc::new(aws);
    let ctx = controller::Context::new(clients.clone(), aws.clone(), args.controller_settings());
    let server = tokio::spawn(telemetry::serve(args.metrics_addr, ctx.clone()));
    tokio::spawn(apigw_operator::memory::give_back_freed_memory(
        apigw_operator::memory::TRIM_PERIOD,
    ));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    if !args.leader_election {
        ctx.leader.store(true, Ordering::Relaxed);
        let result = controller::run(ctx, stopped(stop_rx)).await;
        server.abort();
        return result;
    }

    let lease = args.lease_settings();
    tracing::info!(lease = %lease.name, namespace = %lease.namespace, identity = %lease.identity, "waiting for the leader lease");
    let (mut leading, elector) =
        controller::leader::Elector::new(clients.requests.clone(), lease).spawn(stop_rx.clone());
    // Leader, then standby again whenever the lease is lost (an API server outage
    // longer than the lease): the controllers stop writing at once, and start
    // afresh (new watches, new lists) once the lease is ours again.
    loop {
        // A standby is healthy and ready: it only waits for the lease.
        ctx.ready.store(true, Ordering::Relaxed);
        tokio::select! {
            res = leading.wait_for(|l| *l) => { res?; }
            _ = stopped(stop_rx.clone()) => break,
        }
        ctx.leader.store(true, Ordering::Relaxed);
        let mut lost_rx = leading.clone();
        let lost = async move {
            let _ = lost_rx.wait_for(|l| !*l).await;
        };
        let stop = stopped(stop_rx.clone());
        let result = controller::run(ctx.clone(), async move {
            tokio::select! {
                _ = lost => {},
                _ = stop => {},
            }
        })
        .await;
        ctx.leader.store(false, Ordering::Relaxed);
        if *stop_rx.borrow() {
            result?;
            break;
        }
        if let Err(e) = result {
            tracing::error!(error = %e, "controllers failed after losing the lease");
            server.abort();
            return Err(e);
        }
        tracing::warn!(
            "lost the leader lease; controllers stopped, waiting to lead again as a standby"
        );
    }
    let _ = elector.await;
    server.abort();
    Ok(())
}

/// SIGTERM (Kubernetes) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested; finishing in-flight reconciles");
}
