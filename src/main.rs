//! `apigw-operator`: run the controllers, or print the CRDs.

use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use kube::config::{KubeConfigOptions, Kubeconfig};

use apigw_operator::aws::Aws;
use apigw_operator::config::RunArgs;
use apigw_operator::{api, controller, telemetry};

#[derive(Parser)]
#[command(
    name = "apigw-operator",
    version,
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crds => {
            print!("{}", api::crds_yaml()?);
            Ok(())
        }
        Command::Run(args) => run(*args).await,
    }
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
    let client = kube::Client::try_from(kube_config)?;
    let aws = Aws::connect(&args.aws_settings()).await?;
    tracing::info!(region = %aws.region, endpoint = ?args.aws_endpoint_url, "AWS clients ready");
    let aws = Arc::new(aws);
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let server = tokio::spawn(telemetry::serve(
        args.metrics_addr,
        aws.clone(),
        ready.clone(),
    ));
    let ctx = controller::Context::new(client, aws, args.controller_settings());
    ready.store(true, std::sync::atomic::Ordering::Relaxed);
    let result = controller::run(ctx, shutdown_signal()).await;
    server.abort();
    result
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
