//! One rate limiter for every AWS call the process makes.
//!
//! API Gateway's management quotas are per account and region and cannot be raised:
//! about 10 requests/s overall (burst 40) plus much smaller budgets for a few
//! operations (CreateDeployment 1 per 5 s, DeleteRestApi 1 per 30 s, ...). Every
//! controller shares this limiter, so the process as a whole stays inside them and
//! a burst of reconciles queues here instead of collecting 429s.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// A token bucket that hands out reservations: a caller that finds it empty takes
/// a token from the future and sleeps until it is due, so waiters are served in order.
#[derive(Debug)]
pub struct TokenBucket {
    per_second: f64,
    burst: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    pub fn new(per_second: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            per_second: per_second.max(0.001),
            burst,
            state: Mutex::new(BucketState {
                tokens: burst,
                updated: Instant::now(),
            }),
        }
    }

    /// Take one token; returns how long the caller must wait before using it.
    pub async fn reserve(&self) -> Duration {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(state.updated).as_secs_f64();
        state.tokens = (state.tokens + elapsed * self.per_second).min(self.burst);
        state.updated = now;
        state.tokens -= 1.0;
        if state.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-state.tokens / self.per_second)
        }
    }

    /// Wait for a token, then for `then` (the service's shared bucket), and take the
    /// token only when `then` is done: the moment the call is really sent. Taking it
    /// before, as `reserve` does, would space the reservations, not the calls: a
    /// CreateDeployment held 0.5 s by the shared bucket would leave the next one 4.5 s
    /// behind it, and AWS (1 per 5 s) answers 429. Callers of one operation queue here
    /// meanwhile; operations with a budget of their own are the slow ones.
    pub async fn take_when_sent<T>(&self, then: impl Future<Output = T>) -> T {
        let mut state = self.state.lock().await;
        loop {
            let now = Instant::now();
            let elapsed = now.saturating_duration_since(state.updated).as_secs_f64();
            state.tokens = (state.tokens + elapsed * self.per_second).min(self.burst);
            state.updated = now;
            if state.tokens >= 1.0 {
                break;
            }
            tokio::time::sleep(Duration::from_secs_f64(
                (1.0 - state.tokens) / self.per_second,
            ))
            .await;
        }
        let out = then.await;
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(state.updated).as_secs_f64();
        state.tokens = (state.tokens + elapsed * self.per_second).min(self.burst) - 1.0;
        state.updated = now;
        out
    }

    /// Empty the bucket after AWS said we were too fast, so callers slow down together.
    pub async fn drain(&self) {
        let mut state = self.state.lock().await;
        state.tokens = state.tokens.min(0.0);
        state.updated = Instant::now();
    }
}

/// Budget of one service or operation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    pub per_second: f64,
    pub burst: u32,
}

impl std::str::FromStr for Budget {
    type Err = String;
    /// `RATE` or `RATE/BURST`, for example `10/40` or `0.2/1`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (rate, burst) = s.split_once('/').unwrap_or((s, "1"));
        let per_second: f64 = rate
            .trim()
            .parse()
            .map_err(|_| format!("bad rate {rate:?} in {s:?}"))?;
        let burst: u32 = burst
            .trim()
            .parse()
            .map_err(|_| format!("bad burst {burst:?} in {s:?}"))?;
        if per_second <= 0.0 || burst == 0 {
            return Err(format!("rate and burst must be positive in {s:?}"));
        }
        Ok(Budget { per_second, burst })
    }
}

/// AWS's published control-plane quotas for API Gateway operations with their own budget.
pub fn default_operation_budgets() -> Vec<(&'static str, Budget)> {
    let b = |per_second, burst| Budget { per_second, burst };
    vec![
        ("CreateDeployment", b(0.2, 1)),
        ("CreateRestApi", b(1.0 / 3.0, 1)),
        ("ImportRestApi", b(1.0 / 3.0, 1)),
        ("PutRestApi", b(1.0, 1)),
        ("DeleteRestApi", b(1.0 / 30.0, 1)),
        ("CreateResource", b(5.0, 5)),
        ("DeleteResource", b(5.0, 5)),
        ("GetResources", b(2.5, 5)),
        ("CreateDomainName", b(1.0 / 30.0, 1)),
        ("DeleteDomainName", b(1.0 / 30.0, 1)),
        ("UpdateUsagePlan", b(0.05, 1)),
    ]
}

/// Limiter settings, from flags.
#[derive(Clone, Debug)]
pub struct LimiterSettings {
    /// API Gateway (v1 and v2 share the account's management quota).
    pub apigateway: Budget,
    /// Lambda control plane (AddPermission, RemovePermission, GetPolicy).
    pub lambda: Budget,
    /// Cognito user-pool reads.
    pub cognito: Budget,
    /// Per-operation budgets on top of the service budget.
    pub operations: Vec<(String, Budget)>,
    /// Share of every budget above left unused (0.05: the limiter runs at 95% of
    /// each rate and burst). AWS counts a call when it arrives, so calls sent
    /// exactly at the quota land in an empty bucket whenever one is delayed a
    /// little more than the one before it.
    pub margin: f64,
}

/// The default share of each quota the limiter keeps free.
pub const DEFAULT_MARGIN: f64 = 0.05;

impl Budget {
    /// This budget with `margin` of it kept free (the burst never below one call).
    pub fn with_margin(self, margin: f64) -> Budget {
        let keep = (1.0 - margin).clamp(0.01, 1.0);
        Budget {
            per_second: self.per_second * keep,
            burst: ((f64::from(self.burst) * keep).floor() as u32).max(1),
        }
    }
}

impl Default for LimiterSettings {
    fn default() -> Self {
        LimiterSettings {
            apigateway: Budget {
                per_second: 10.0,
                burst: 40,
            },
            lambda: Budget {
                per_second: 15.0,
                burst: 15,
            },
            cognito: Budget {
                per_second: 10.0,
                burst: 10,
            },
            operations: default_operation_budgets()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            margin: DEFAULT_MARGIN,
        }
    }
}

/// The services the limiter knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    ApiGateway,
    Lambda,
    Cognito,
    Acm,
    Sts,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Service::ApiGateway => "apigateway",
            Service::Lambda => "lambda",
            Service::Cognito => "cognito-idp",
            Service::Acm => "acm",
            Service::Sts => "sts",
        }
    }
}

/// Process-wide limiter: a bucket per service and per budgeted operation.
#[derive(Debug)]
pub struct Limiter {
    services: HashMap<Service, TokenBucket>,
    operations: HashMap<String, TokenBucket>,
    /// What went through this limiter, for the per-account metrics.
    pub usage: LimiterUsage,
}

/// Counters of one limiter (one account and region).
#[derive(Debug, Default)]
pub struct LimiterUsage {
    calls: std::sync::atomic::AtomicU64,
    throttled: std::sync::atomic::AtomicU64,
    waited_micros: std::sync::atomic::AtomicU64,
}

impl LimiterUsage {
    /// (calls, throttled answers, seconds waited).
    pub fn snapshot(&self) -> (u64, u64, f64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.calls.load(Relaxed),
            self.throttled.load(Relaxed),
            self.waited_micros.load(Relaxed) as f64 / 1e6,
        )
    }
}

impl Limiter {
    pub fn new(settings: &LimiterSettings) -> Self {
        let bucket = |b: Budget| {
            let b = b.with_margin(settings.margin);
            TokenBucket::new(b.per_second, b.burst)
        };
        let services = HashMap::from([
            (Service::ApiGateway, bucket(settings.apigateway)),
            (Service::Lambda, bucket(settings.lambda)),
            (Service::Cognito, bucket(settings.cognito)),
            // ACM's DescribeCertificate quota (10 per second); asked only before a
            // DomainName is created or when its certificate changes.
            (Service::Acm, TokenBucket::new(10.0, 10)),
        ]);
        let operations = settings
            .operations
            .iter()
            .map(|(op, b)| (op.clone(), bucket(*b)))
            .collect();
        Limiter {
            services,
            operations,
            usage: LimiterUsage::default(),
        }
    }

    /// Wait until one call of `operation` on `service` may be sent; returns the time waited.
    pub async fn acquire(&self, service: Service, operation: &str) -> Duration {
        let start = Instant::now();
        // The operation's own budget first: a call queued behind CreateDeployment's
        // 5-second spacing must not hold a token of the shared bucket meanwhile. Its
        // token is taken when the shared bucket lets the call go.
        let shared = async {
            if let Some(bucket) = self.services.get(&service) {
                tokio::time::sleep(bucket.reserve().await).await;
            }
        };
        match self.operations.get(operation) {
            Some(bucket) => bucket.take_when_sent(shared).await,
            None => shared.await,
        }
        let waited = start.elapsed();
        self.usage.waited_micros.fetch_add(
            waited.as_micros() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        waited
    }

    /// One call sent through this limiter (STS calls count, but have no bucket).
    pub fn count(&self) {
        self.usage
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn count_throttle(&self) {
        self.usage
            .throttled
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// AWS answered "too many requests": slow every caller of the service down.
    pub async fn throttled(&self, service: Service, operation: &str) {
        if let Some(bucket) = self.services.get(&service) {
            bucket.drain().await;
        }
        if let Some(bucket) = self.operations.get(operation) {
            bucket.drain().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The burst is free; after it, calls are spaced at the steady rate.
    #[tokio::test(start_paused = true)]
    async fn bucket_spaces_calls_after_burst() {
        let bucket = TokenBucket::new(2.0, 3);
        for _ in 0..3 {
            assert_eq!(bucket.reserve().await, Duration::ZERO);
        }
        let w1 = bucket.reserve().await;
        let w2 = bucket.reserve().await;
        assert!((w1.as_secs_f64() - 0.5).abs() < 0.01, "{w1:?}");
        assert!((w2.as_secs_f64() - 1.0).abs() < 0.01, "{w2:?}");
    }

    /// An operation's spacing is kept between the calls as sent: a wait for the
    /// shared bucket does not eat into the next call's interval.
    #[tokio::test(start_paused = true)]
    async fn operation_spacing_counts_from_the_send() {
        let op = TokenBucket::new(0.2, 1);
        let shared = TokenBucket::new(1.0, 1);
        // The shared bucket is empty: the first call waits a second for it.
        assert_eq!(shared.reserve().await, Duration::ZERO);
        let start = Instant::now();
        let send = || async {
            op.take_when_sent(async {
                tokio::time::sleep(shared.reserve().await).await;
            })
            .await;
            start.elapsed()
        };
        let (first, second) = futures::join!(send(), send());
        let (first, second) = (first.min(second), first.max(second));
        assert!((first.as_secs_f64() - 1.0).abs() < 0.01, "{first:?}");
        assert!(
            second - first >= Duration::from_secs(5),
            "sent {first:?} and {second:?}"
        );
    }

    /// CreateDeployment is held to one per five seconds even when the shared bucket is full.
    #[tokio::test(start_paused = true)]
    async fn operation_budget_applies_on_top_of_service_budget() {
        let limiter = Limiter::new(&LimiterSettings::default());
        let first = limiter
            .acquire(Service::ApiGateway, "CreateDeployment")
            .await;
        let second = limiter
            .acquire(Service::ApiGateway, "CreateDeployment")
            .await;
        assert_eq!(first, Duration::ZERO);
        assert!(second >= Duration::from_millis(4990), "{second:?}");
        // Other operations are not held back by CreateDeployment's budget.
        assert_eq!(
            limiter.acquire(Service::ApiGateway, "GetRestApi").await,
            Duration::ZERO
        );
    }

    /// After a throttling answer the next caller waits for a fresh token.
    #[tokio::test(start_paused = true)]
    async fn throttling_drains_the_bucket() {
        let limiter = Limiter::new(&LimiterSettings::default());
        limiter.throttled(Service::ApiGateway, "GetRestApi").await;
        let waited = limiter.acquire(Service::ApiGateway, "GetRestApi").await;
        assert!(waited >= Duration::from_millis(99), "{waited:?}");
    }

    /// The default margin keeps the limiter under AWS's bucket: 38 of 40 burst, 9.5/s,
    /// and CreateDeployment spaced 5.26 s rather than 5.
    #[test]
    fn the_margin_keeps_every_budget_below_the_quota() {
        let b = |per_second, burst| Budget { per_second, burst };
        assert_eq!(b(10.0, 40).with_margin(DEFAULT_MARGIN), b(9.5, 38));
        let d = b(0.2, 1).with_margin(DEFAULT_MARGIN);
        assert_eq!(d.burst, 1);
        assert!((1.0 / d.per_second - 5.263).abs() < 0.01, "{d:?}");
        assert_eq!(b(10.0, 40).with_margin(0.0), b(10.0, 40));
    }

    #[test]
    fn budgets_parse() {
        assert_eq!(
            "10/40".parse::<Budget>().unwrap(),
            Budget {
                per_second: 10.0,
                burst: 40
            }
        );
        assert_eq!(
            "0.2".parse::<Budget>().unwrap(),
            Budget {
                per_second: 0.2,
                burst: 1
            }
        );
        assert!("0/1".parse::<Budget>().is_err());
        assert!("x/1".parse::<Budget>().is_err());
    }
}
