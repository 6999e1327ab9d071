//! Logging, and the health and metrics endpoint.

use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
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

type Labels = Vec<(&'static str, String)>;
type CounterFamily = Family<Labels, Counter>;
type SecondsFamily = Family<Labels, Counter<f64, AtomicU64>>;
type GaugeFamily = Family<Labels, Gauge>;

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// The AWS call counters, their latency and the limiter wait, and leadership.
fn register_aws(registry: &mut Registry, stats: &crate::aws::CallStats, leader: bool) {
    let leading = Gauge::<i64, AtomicI64>::default();
    leading.set(i64::from(leader));
    registry.register(
        "apigw_leader",
        "Whether this replica holds the leader lease and runs the controllers",
        leading,
    );
    let calls = CounterFamily::default();
    for ((service, operation, outcome), n) in stats.snapshot() {
        calls
            .get_or_create(&labels(&[
                ("service", &service),
                ("operation", &operation),
                ("outcome", &outcome),
            ]))
            .inc_by(n);
    }
    registry.register(
        "apigw_aws_calls",
        "AWS API attempts by service, operation and outcome (retries and throttled answers included)",
        calls,
    );
    registry.register(
        "apigw_aws_call_duration_seconds",
        "Time AWS took to answer an attempt, by service and operation (the limiter's wait left out)",
        stats.latency.clone(),
    );
    let waited = Counter::<f64, AtomicU64>::default();
    waited.inc_by(stats.limiter_wait().as_secs_f64());
    registry.register(
        "apigw_aws_limiter_wait_seconds",
        "Time AWS calls spent waiting for the shared rate limiter",
        waited,
    );
}

/// The controllers' reconciles: counts, errors by reason, latency, objects, in flight.
fn register_reconciles(
    registry: &mut Registry,
    stats: &crate::controller::metrics::ReconcileStats,
) {
    let kinds = stats.snapshot();
    let (reconciles, errors, managed) = (
        CounterFamily::default(),
        CounterFamily::default(),
        GaugeFamily::default(),
    );
    for (kind, s) in &kinds {
        reconciles
            .get_or_create(&labels(&[("kind", kind)]))
            .inc_by(s.reconciles);
        for (reason, n) in &s.errors {
            errors
                .get_or_create(&labels(&[("kind", kind), ("reason", reason)]))
                .inc_by(*n);
        }
        managed
            .get_or_create(&labels(&[("kind", kind)]))
            .set(s.managed.len() as i64);
    }
    registry.register("apigw_reconciles", "Reconciles by kind", reconciles);
    registry.register(
        "apigw_reconcile_errors",
        "Failed reconciles by kind and condition reason",
        errors,
    );
    registry.register(
        "apigw_reconcile_duration_seconds",
        "Time spent reconciling, by kind",
        stats.latency.clone(),
    );
    registry.register(
        "apigw_objects_managed",
        "Live objects the controllers have reconciled, by kind",
        managed,
    );
    let in_flight = Gauge::<i64, AtomicI64>::default();
    in_flight.set(stats.in_flight());
    registry.register(
        "apigw_reconciles_in_flight",
        "Reconciles running now (the work queue's busy part)",
        in_flight,
    );
}

/// One limiter per AWS account and region: what went through each.
fn register_tenancy(registry: &mut Registry, tenancy: &crate::controller::tenancy::Tenancy) {
    let (calls, throttled, waited) = (
        CounterFamily::default(),
        CounterFamily::default(),
        SecondsFamily::default(),
    );
    for ((account, region), limiter) in tenancy.limiters() {
        let (n, throttles, seconds) = limiter.usage.snapshot();
        let place = labels(&[("account", &account), ("region", &region)]);
        calls.get_or_create(&place).inc_by(n);
        throttled.get_or_create(&place).inc_by(throttles);
        waited.get_or_create(&place).inc_by(seconds);
    }
    registry.register(
        "apigw_aws_account_calls",
        "AWS calls sent, by the account and region whose quota they use",
        calls,
    );
    registry.register(
        "apigw_aws_account_throttled",
        "Throttled answers, by account and region",
        throttled,
    );
    registry.register(
        "apigw_aws_account_limiter_wait_seconds",
        "Time calls waited for the limiter of their account and region",
        waited,
    );
    let failures = CounterFamily::default();
    for (binding, n) in tenancy.assume_failures() {
        failures
            .get_or_create(&labels(&[("binding", &binding)]))
            .inc_by(n);
    }
    registry.register(
        "apigw_assume_role_failures",
        "Failed STS AssumeRole attempts, by AwsAccountBinding",
        failures,
    );
}

/// The process: CPU, memory, threads, file descriptors, start time, from /proc
/// (absent where there is none).
fn register_process(registry: &mut Registry) {
    // /proc reports CPU time in USER_HZ ticks, 100 a second on Linux's ABI.
    const TICKS: f64 = 100.0;
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    // The fields after the command name, which may itself hold spaces.
    let fields: Vec<&str> = stat
        .as_deref()
        .and_then(|s| s.rsplit_once(')'))
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    if let (Some(user), Some(system)) = (field(14), field(15)) {
        let cpu = Counter::<f64, AtomicU64>::default();
        cpu.inc_by((user + system) / TICKS);
        registry.register("process_cpu_seconds", "User and system CPU time", cpu);
    }
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    });
    if let (Some(boot), Some(start)) = (boot, field(22)) {
        let started = Gauge::<f64, AtomicU64>::default();
        started.set(boot + start / TICKS);
        registry.register(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch",
            started,
        );
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<i64>().ok())
    };
    for (name, help, key, scale) in [
        (
            "process_resident_memory_bytes",
            "Resident memory",
            "VmRSS:",
            1024,
        ),
        (
            "process_virtual_memory_bytes",
            "Virtual memory",
            "VmSize:",
            1024,
        ),
        ("process_threads", "OS threads", "Threads:", 1),
    ] {
        if let Some(value) = kib(key) {
            let gauge = Gauge::<i64, AtomicI64>::default();
            gauge.set(value * scale);
            registry.register(name, help, gauge);
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        let open = Gauge::<i64, AtomicI64>::default();
        open.set(fds.count() as i64);
        registry.register("process_open_fds", "Open file descriptors", open);
    }
}

fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)
        .expect("encoding to a String cannot fail");
    out
}

/// The AWS call metrics alone (the tests' operators without a controller context).
pub fn render_metrics(stats: &crate::aws::CallStats, leader: bool) -> String {
    let mut registry = Registry::default();
    register_aws(&mut registry, stats, leader);
    encode(&registry)
}

/// Everything `/metrics` shows, in the OpenMetrics text format: the controllers'
/// reconciles, AWS calls, per-account limiters and the process.
pub fn render_all(ctx: &crate::controller::Context) -> String {
    let mut registry = Registry::default();
    register_reconciles(&mut registry, &ctx.reconciles);
    register_aws(
        &mut registry,
        &ctx.aws.stats,
        ctx.leader.load(std::sync::atomic::Ordering::Relaxed),
    );
    register_tenancy(&mut registry, &ctx.tenancy);
    register_process(&mut registry);
    encode(&registry)
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
            let content_type = if path == "/metrics" {
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            } else {
                "text/plain; charset=utf-8"
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    /// Counters and histograms come out in the OpenMetrics text format with their labels.
    #[tokio::test]
    async fn metrics_render_calls_latency_and_limiter_wait() {
        let stats = crate::aws::CallStats::default();
        stats.record(
            crate::aws::Service::ApiGateway,
            "GetRestApi",
            "ok",
            std::time::Duration::from_millis(250),
            std::time::Duration::from_millis(30),
        );
        let text = super::render_metrics(&stats, true);
        assert!(text.contains("apigw_leader 1"), "{text}");
        assert!(text.contains("apigw_aws_calls_total{service=\"apigateway\",operation=\"GetRestApi\",outcome=\"ok\"} 1"), "{text}");
        assert!(
            text.contains("apigw_aws_limiter_wait_seconds_total 0.25"),
            "{text}"
        );
        assert!(
            text.contains("apigw_aws_call_duration_seconds_bucket{le=\"0.04\",service=\"apigateway\",operation=\"GetRestApi\"} 1")
                || text.contains("apigw_aws_call_duration_seconds_bucket{service=\"apigateway\",operation=\"GetRestApi\",le=\"0.04\"} 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    /// The process's own figures, read from /proc.
    #[test]
    fn process_metrics_are_read_from_proc() {
        let mut registry = prometheus_client::registry::Registry::default();
        super::register_process(&mut registry);
        let text = super::encode(&registry);
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_start_time_seconds ",
            "process_threads ",
        ] {
            assert!(text.contains(name), "{name} in {text}");
        }
    }
}
