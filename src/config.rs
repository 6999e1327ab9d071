//! Command-line and environment configuration of `apigw-operator run`.

use std::path::PathBuf;
use std::time::Duration;

use crate::aws::AwsSettings;
use crate::aws::limiter::{Budget, LimiterSettings};
use crate::controller;
use crate::telemetry::LogFormat;

/// Flags of `apigw-operator run`; every flag also reads an environment variable.
#[derive(Clone, Debug, clap::Args)]
pub struct RunArgs {
    /// Kubeconfig file; without it, KUBECONFIG, ~/.kube/config or the in-cluster service account.
    #[arg(long, env = "APIGW_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "APIGW_WATCH_NAMESPACE", conflicts_with = "namespaces")]
    pub namespace: Option<String>,
    /// Watch only these namespaces, comma-separated (each with watches of its own,
    /// so the operator needs a Role in each, no ClusterRole for namespaced kinds).
    #[arg(long, env = "APIGW_WATCH_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Refuse objects of namespaces that no AwsAccountBinding matches (condition
    /// NoAccountBinding, no AWS call) instead of using the operator's own identity.
    #[arg(long, env = "APIGW_REQUIRE_ACCOUNT_BINDING", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub require_account_binding: bool,
    /// AWS region (default: the SDK's chain: AWS_REGION, profile, instance metadata).
    #[arg(long, env = "APIGW_AWS_REGION")]
    pub aws_region: Option<String>,
    /// Send every AWS call to this endpoint instead of AWS (for emulators such as moto).
    #[arg(long, env = "APIGW_AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
    /// Attempts per AWS call: throttled and transient failures are tried again (a
    /// create only where a second one cannot be made: see `may_resend`), each attempt through the rate limiter; failed reconciles are also requeued with backoff.
    #[arg(long, env = "APIGW_AWS_MAX_ATTEMPTS", default_value_t = 5)]
    pub aws_max_attempts: u32,
    /// API Gateway management budget for the whole process, RATE/BURST per second.
    #[arg(long, env = "APIGW_AWS_RATE_LIMIT", default_value = "10/40")]
    pub aws_rate_limit: Budget,
    /// Lambda control-plane budget, RATE/BURST.
    #[arg(long, env = "APIGW_LAMBDA_RATE_LIMIT", default_value = "15/15")]
    pub lambda_rate_limit: Budget,
    /// Extra or changed per-operation budgets, OPERATION=RATE/BURST, comma-separated
    /// (for example CreateDeployment=0.2/1). AWS's published quotas are the defaults.
    #[arg(long, env = "APIGW_AWS_OPERATION_LIMITS", value_delimiter = ',', value_parser = parse_operation_budget)]
    pub aws_operation_limits: Vec<(String, Budget)>,
    /// Share of every rate and burst above kept unused, 0 to 0.5 (0.05: the operator
    /// sends at 95% of AWS's quotas, so arrival jitter never meets an empty bucket).
    #[arg(long, env = "APIGW_AWS_QUOTA_MARGIN", default_value_t = crate::aws::limiter::DEFAULT_MARGIN, value_parser = parse_margin)]
    pub aws_quota_margin: f64,
    /// Period of the drift-detecting resync, for example 30s, 10m, 1h.
    #[arg(long, env = "APIGW_RESYNC_PERIOD", default_value = "10m", value_parser = parse_duration)]
    pub resync_period: Duration,
    /// Longest wait between retries of a failing object (the backoff doubles from
    /// the reason's base delay up to this); write conflicts retry at once.
    #[arg(long, env = "APIGW_MAX_BACKOFF", default_value = "5m", value_parser = parse_duration)]
    pub max_backoff: Duration,
    /// Reconciles running at once per kind; for the kinds that call AWS, per kind
    /// and AWS account and region, so one account's backlog never holds another's.
    #[arg(long, env = "APIGW_CONCURRENCY", default_value_t = 4)]
    pub concurrency: u16,
    /// Threads that run the controllers. One (the default) suits the work: it waits
    /// on AWS's quotas and the API server far more than it computes, and a single
    /// thread spends no CPU handing tasks between threads and keeps one malloc
    /// arena. Raise it for namespaces of many thousands of objects, where decoding
    /// lists and watch events could keep one core busy.
    #[arg(long, env = "APIGW_WORKER_THREADS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub worker_threads: u16,
    /// Address of the /healthz, /readyz and /metrics endpoint.
    #[arg(long, env = "APIGW_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: std::net::SocketAddr,
    /// Run the controllers only while holding a Lease, so several replicas never
    /// both write to AWS. Turn off only for a single process you start by hand.
    #[arg(long, env = "APIGW_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Namespace of the leader Lease (default: POD_NAMESPACE, the service account's
    /// namespace in a cluster, else `default`).
    #[arg(long, env = "APIGW_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Name of the leader Lease.
    #[arg(long, env = "APIGW_LEASE_NAME", default_value = "apigw-operator")]
    pub lease_name: String,
    /// How long a leader's lease lasts without renewal; a standby takes over after it.
    #[arg(long, env = "APIGW_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// Log format.
    #[arg(long, env = "APIGW_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log level or filter directives (tracing EnvFilter syntax).
    #[arg(long, env = "APIGW_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

impl RunArgs {
    pub fn aws_settings(&self) -> AwsSettings {
        let mut limits = LimiterSettings {
            apigateway: self.aws_rate_limit,
            lambda: self.lambda_rate_limit,
            margin: self.aws_quota_margin,
            ..Default::default()
        };
        for (op, budget) in &self.aws_operation_limits {
            limits.operations.retain(|(o, _)| o != op);
            limits.operations.push((op.clone(), *budget));
        }
        AwsSettings {
            region: self.aws_region.clone(),
            endpoint_url: self.aws_endpoint_url.clone(),
            max_attempts: self.aws_max_attempts,
            limits,
        }
    }

    pub fn lease_settings(&self) -> controller::leader::LeaseSettings {
        let namespace = self
            .lease_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| {
                std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| "default".to_string())
            });
        let identity = std::env::var("POD_NAME").unwrap_or_else(|_| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "apigw-operator".into());
            format!("{host}-{}", std::process::id())
        });
        controller::leader::LeaseSettings {
            namespace,
            name: self.lease_name.clone(),
            identity,
            duration: self.lease_duration,
            // Renew three times per lease, as client-go's defaults do.
            retry: (self.lease_duration / 3).max(Duration::from_secs(1)),
        }
    }

    pub fn controller_settings(&self) -> controller::Settings {
        controller::Settings {
            namespace: self.namespace.clone(),
            namespaces: self
                .namespaces
                .iter()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect(),
            require_binding: self.require_account_binding,
            resync: self.resync_period,
            concurrency: self.concurrency.max(1),
            max_backoff: self.max_backoff.max(Duration::from_secs(1)),
        }
    }
}

/// `30s`, `10m`, `2h` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let value: f64 = number
        .parse()
        .map_err(|_| format!("bad duration {s:?}: expected for example 30s, 10m or 1h"))?;
    let secs = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "bad duration unit {unit:?} in {s:?}: use ms, s, m or h"
            ));
        }
    };
    if secs <= 0.0 {
        return Err(format!("duration {s:?} must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_operation_budget(s: &str) -> Result<(String, Budget), String> {
    let (op, budget) = s
        .split_once('=')
        .ok_or_else(|| format!("expected OPERATION=RATE/BURST, got {s:?}"))?;
    Ok((op.trim().to_string(), budget.parse()?))
}

fn parse_margin(s: &str) -> Result<f64, String> {
    let m: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("bad margin {s:?}: a fraction such as 0.05"))?;
    if (0.0..=0.5).contains(&m) {
        Ok(m)
    } else {
        Err(format!("margin {m} is outside 0 to 0.5"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("0s").is_err());
    }

    /// `--namespaces a,b` watches each; `--require-account-binding` alone means true.
    #[test]
    fn namespace_lists_and_the_binding_flag_parse() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            run: RunArgs,
        }
        let cli = Cli::parse_from([
            "x",
            "--namespaces",
            "team-a, team-b",
            "--require-account-binding",
        ]);
        let settings = cli.run.controller_settings();
        assert_eq!(settings.namespaces, vec!["team-a", "team-b"]);
        assert!(settings.require_binding);
        let cli = Cli::parse_from(["x"]);
        assert!(!cli.run.controller_settings().require_binding);
        assert!(Cli::try_parse_from(["x", "--namespace", "a", "--namespaces", "b"]).is_err());
    }

    #[test]
    fn operation_budgets_override_defaults() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            run: RunArgs,
        }
        let cli = Cli::parse_from([
            "x",
            "--aws-operation-limits",
            "CreateDeployment=1/2,GetRestApis=3/3",
        ]);
        let limits = cli.run.aws_settings().limits;
        let get = |name: &str| {
            limits
                .operations
                .iter()
                .find(|(o, _)| o == name)
                .map(|(_, b)| *b)
        };
        assert_eq!(
            get("CreateDeployment"),
            Some(Budget {
                per_second: 1.0,
                burst: 2
            })
        );
        assert_eq!(
            get("GetRestApis"),
            Some(Budget {
                per_second: 3.0,
                burst: 3
            })
        );
        assert_eq!(
            get("DeleteRestApi"),
            Some(Budget {
                per_second: 1.0 / 30.0,
                burst: 1
            })
        );
    }
}
