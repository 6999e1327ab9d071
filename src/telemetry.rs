//! Logging setup.

use tracing_subscriber::EnvFilter;

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Install the global subscriber. `level` is an EnvFilter directive such as `info`
/// or `info,apigw_operator=debug`.
pub fn init(format: LogFormat, level: &str) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_new(level).map_err(|e| anyhow::anyhow!("bad --log-level {level:?}: {e}"))?;
    // Colour only for a person at a terminal; log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        // JSON lines carry the current span's fields (namespace, name, AWS ids) on every line.
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("logging already initialised: {e}"))
}

/// Prometheus text exposition of the AWS call counters and limiter wait.
pub fn render_metrics(stats: &crate::aws::CallStats, leader: bool) -> String {
    let mut out = String::new();
    render_aws(&mut out, stats, leader);
    out
}

/// Everything `/metrics` shows: the controllers' reconciles, then AWS calls.
pub fn render_all(ctx: &crate::controller::Context) -> String {
    let mut out = String::new();
    let kinds = ctx.reconciles.snapshot();
    out.push_str("# HELP apigw_reconciles_total Reconciles by kind.\n# TYPE apigw_reconciles_total counter\n");
    for (kind, s) in &kinds {
        out.push_str(&format!(
            "apigw_reconciles_total{{kind=\"{kind}\"}} {}\n",
            s.reconciles
        ));
    }
    out.push_str("# HELP apigw_reconcile_errors_total Failed reconciles by kind and condition reason.\n# TYPE apigw_reconcile_errors_total counter\n");
    for (kind, s) in &kinds {
        for (reason, n) in &s.errors {
            out.push_str(&format!(
                "apigw_reconcile_errors_total{{kind=\"{kind}\",reason=\"{reason}\"}} {n}\n"
            ));
        }
    }
    out.push_str("# HELP apigw_reconcile_duration_seconds Time spent reconciling, by kind.\n# TYPE apigw_reconcile_duration_seconds summary\n");
    for (kind, s) in &kinds {
        out.push_str(&format!(
            "apigw_reconcile_duration_seconds_sum{{kind=\"{kind}\"}} {:.3}\n",
            s.seconds
        ));
        out.push_str(&format!(
            "apigw_reconcile_duration_seconds_count{{kind=\"{kind}\"}} {}\n",
            s.reconciles
        ));
    }
    out.push_str("# HELP apigw_objects_managed Live objects the controllers have reconciled, by kind.\n# TYPE apigw_objects_managed gauge\n");
    for (kind, s) in &kinds {
        out.push_str(&format!(
            "apigw_objects_managed{{kind=\"{kind}\"}} {}\n",
            s.managed.len()
        ));
    }
    out.push_str("# HELP apigw_reconciles_in_flight Reconciles running now (the work queue's busy part).\n# TYPE apigw_reconciles_in_flight gauge\n");
    out.push_str(&format!(
        "apigw_reconciles_in_flight {}\n",
        ctx.reconciles.in_flight()
    ));
    render_aws(
        &mut out,
        &ctx.aws.stats,
        ctx.leader.load(std::sync::atomic::Ordering::Relaxed),
    );
    render_tenancy(&mut out, &ctx.tenancy);
    out
}

/// One limiter per AWS account and region: what went through each.
/// A limiter's (calls, throttled answers, seconds waited).
type Usage = (u64, u64, f64);
/// A per-account series: name, help text, and its value from a limiter's usage.
type Series = (&'static str, &'static str, fn(&Usage) -> String);

fn render_tenancy(out: &mut String, tenancy: &crate::controller::tenancy::Tenancy) {
    let usage: Vec<((String, String), Usage)> = tenancy
        .limiters()
        .into_iter()
        .map(|(place, limiter)| (place, limiter.usage.snapshot()))
        .collect();
    let series: [Series; 3] = [
        (
            "apigw_aws_account_calls_total",
            "AWS calls sent, by the account and region whose quota they use.",
            |u| u.0.to_string(),
        ),
        (
            "apigw_aws_account_throttled_total",
            "Throttled answers, by account and region.",
            |u| u.1.to_string(),
        ),
        (
            "apigw_aws_account_limiter_wait_seconds_total",
            "Time calls waited for the limiter of their account and region.",
            |u| format!("{:.3}", u.2),
        ),
    ];
    for (name, help, value) in series {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
        for ((account, region), u) in &usage {
            out.push_str(&format!(
                "{name}{{account=\"{account}\",region=\"{region}\"}} {}\n",
                value(u)
            ));
        }
    }
    out.push_str("# HELP apigw_assume_role_failures_total Failed STS AssumeRole attempts, by AwsAccountBinding.\n# TYPE apigw_assume_role_failures_total counter\n");
    for (binding, n) in tenancy.assume_failures() {
        out.push_str(&format!(
            "apigw_assume_role_failures_total{{binding=\"{binding}\"}} {n}\n"
        ));
    }
}

fn render_aws(out: &mut String, stats: &crate::aws::CallStats, leader: bool) {
    out.push_str("# HELP apigw_leader Whether this replica holds the leader lease and runs the controllers.\n");
    out.push_str("# TYPE apigw_leader gauge\n");
    out.push_str(&format!("apigw_leader {}\n", u8::from(leader)));
    out.push_str("# HELP apigw_aws_calls_total AWS API calls by service, operation and outcome.\n");
    out.push_str("# TYPE apigw_aws_calls_total counter\n");
    for ((service, operation, outcome), n) in stats.snapshot() {
        out.push_str(&format!(
            "apigw_aws_calls_total{{service=\"{service}\",operation=\"{operation}\",outcome=\"{outcome}\"}} {n}\n"
        ));
    }
    out.push_str("# HELP apigw_aws_limiter_wait_seconds_total Time AWS calls spent waiting for the shared rate limiter.\n");
    out.push_str("# TYPE apigw_aws_limiter_wait_seconds_total counter\n");
    out.push_str(&format!(
        "apigw_aws_limiter_wait_seconds_total {:.3}\n",
        stats.limiter_wait().as_secs_f64()
    ));
}

/// A small HTTP endpoint for probes and scraping: `/healthz`, `/readyz`, `/metrics`.
/// It reads only the request line, so no request can make it do real work.
pub async fn serve(
    addr: std::net::SocketAddr,
    ctx: std::sync::Arc<crate::controller::Context>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
    loop {
        let (mut stream, _) = listener.accept().await?;
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let n = match tokio::time::timeout(
                std::time::Duration::from_secs(5),
                stream.read(&mut buf),
            )
            .await
            {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let request = String::from_utf8_lossy(&buf[..n]);
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = match path {
                "/healthz" => ("200 OK", "ok\n".to_string()),
                "/readyz" if ctx.ready.load(std::sync::atomic::Ordering::Relaxed) => {
                    ("200 OK", "ok\n".to_string())
                }
                "/readyz" => (
                    "503 Service Unavailable",
                    "controllers starting\n".to_string(),
                ),
                "/metrics" => ("200 OK", render_all(&ctx)),
                _ => ("404 Not Found", "not found\n".to_string()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    /// Counters come out in Prometheus text format with their labels.
    #[tokio::test]
    async fn metrics_render_calls_and_limiter_wait() {
        let stats = crate::aws::CallStats::default();
        stats.record(
            crate::aws::Service::ApiGateway,
            "GetRestApi",
            "ok",
            std::time::Duration::from_millis(250),
        );
        let text = super::render_metrics(&stats, true);
        assert!(text.contains("apigw_leader 1"), "{text}");
        assert!(text.contains("apigw_aws_calls_total{service=\"apigateway\",operation=\"GetRestApi\",outcome=\"ok\"} 1"), "{text}");
        assert!(
            text.contains("apigw_aws_limiter_wait_seconds_total 0.250"),
            "{text}"
        );
    }
}
