//! Per-object retry delays. A failure that waiting can fix backs off exponentially
//! from its reason's base delay up to a cap (`--max-backoff`, 5 minutes by
//! default); a success forgets the count. The conflicts of normal life (two
//! writers of one object, a finalizer added while the object changed) are retried
//! at once and never grow the delay: the next attempt reads the current version
//! and usually succeeds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Error;

/// Delay of a conflict retry: long enough for the winning write to reach the
/// watch cache, short enough that nobody notices.
pub const CONFLICT_RETRY: Duration = Duration::from_millis(500);

/// Consecutive failures by object; keys carry the kind, so a RestApi and a Stage
/// of one name count apart.
#[derive(Debug)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
    cap: Duration,
}

impl Backoff {
    pub fn new(cap: Duration) -> Self {
        Backoff {
            failures: Mutex::default(),
            cap,
        }
    }

    pub fn key<K: kube::Resource<DynamicType = ()>>(obj: &K) -> String {
        format!(
            "{}/{}/{}",
            K::kind(&()),
            obj.meta().namespace.as_deref().unwrap_or_default(),
            obj.meta().name.as_deref().unwrap_or_default()
        )
    }

    pub fn succeeded(&self, key: &str) {
        self.failures.lock().unwrap().remove(key);
    }

    pub fn failures(&self, key: &str) -> u32 {
        self.failures.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    /// The delay before retrying `err`; counts the failure unless it is a conflict.
    pub fn after(&self, key: &str, err: &Error) -> Duration {
        if err.is_conflict() {
            return jittered(CONFLICT_RETRY);
        }
        let mut failures = self.failures.lock().unwrap();
        let n = failures.entry(key.to_string()).or_insert(0);
        let exp = err.base_backoff_secs().saturating_mul(1u64 << (*n).min(16));
        *n += 1;
        jittered(Duration::from_secs(exp).min(self.cap))
    }
}

/// The retry delays of a failing watch: 0.5 s doubling to 5 s, jittered, reset
/// once a watch works again. client-go's 0.8 s to 30 s can leave an operator
/// idle for half a minute after its API server came back; five seconds of
/// patience is still kind to a struggling API server (a handful of watches per
/// operator).
///
/// Each one also reports to [`watch_trouble`]: a watch that keeps failing is not
/// always cured by retrying it (after an API server restarted in place, watches
/// relisted and met 410 "too old resource version" again for minutes), so the
/// controllers are restarted when one has failed for long (see `controller::run`).
#[derive(Debug)]
pub struct WatchBackoff {
    failures: u32,
    id: u64,
}

impl Default for WatchBackoff {
    fn default() -> Self {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        WatchBackoff {
            failures: 0,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }
}

impl WatchBackoff {
    const FIRST: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(5);
}

impl Iterator for WatchBackoff {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        watch_trouble().failed(self.id, Instant::now());
        let delay = Self::FIRST
            .saturating_mul(1u32 << self.failures.min(8))
            .min(Self::MAX);
        self.failures = self.failures.saturating_add(1);
        Some(jittered(delay))
    }
}

impl Drop for WatchBackoff {
    fn drop(&mut self) {
        watch_trouble().forget(self.id);
    }
}

/// Runs of watch failures, per watch. A run goes on while failures come less than
/// [`WatchTrouble::QUIET`] apart, whatever succeeds in between: a watch that
/// relists fine and then fails to resume from the list's version is failing.
#[derive(Debug, Default)]
pub struct WatchTrouble {
    /// Per watch: when its run of failures began, and its last failure.
    runs: Mutex<HashMap<u64, (Instant, Instant)>>,
}

impl WatchTrouble {
    /// Longer than the longest retry delay (5 s) and than a watch's life (20 s):
    /// a healthy watch that fails once in a while never makes a long run.
    pub const QUIET: Duration = Duration::from_secs(25);

    fn failed(&self, watch: u64, at: Instant) {
        let mut runs = self.runs.lock().unwrap();
        let run = runs.entry(watch).or_insert((at, at));
        if at.saturating_duration_since(run.1) > Self::QUIET {
            run.0 = at;
        }
        run.1 = at;
    }

    fn forget(&self, watch: u64) {
        self.runs.lock().unwrap().remove(&watch);
    }

    /// How long the longest run still going at `now` has lasted.
    pub fn longest_run(&self, now: Instant) -> Option<Duration> {
        self.runs
            .lock()
            .unwrap()
            .values()
            .filter(|(_, last)| now.saturating_duration_since(*last) <= Self::QUIET)
            .map(|(start, _)| now.saturating_duration_since(*start))
            .max()
    }

    /// Start every run afresh (the controllers were restarted).
    pub fn clear(&self) {
        self.runs.lock().unwrap().clear();
    }
}

/// The process's watch failures: one API server, so one record.
pub fn watch_trouble() -> &'static WatchTrouble {
    static TROUBLE: std::sync::OnceLock<WatchTrouble> = std::sync::OnceLock::new();
    TROUBLE.get_or_init(WatchTrouble::default)
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Up to 20% more, so objects that failed together do not retry together.
fn jittered(delay: Duration) -> Duration {
    let permille = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos()
        % 200;
    delay + delay.mul_f64(f64::from(permille) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict() -> Error {
        Error::Kube {
            operation: "patch status",
            source: kube::Error::Api(
                kube::core::Status::failure("the object has been modified", "Conflict")
                    .with_code(409)
                    .boxed(),
            ),
        }
    }

    fn throttled() -> Error {
        Error::Aws(crate::aws::AwsError {
            service: "apigateway",
            operation: "CreateRestApi",
            resource: "a".into(),
            kind: crate::aws::ErrorKind::Throttled,
            code: "TooManyRequestsException".into(),
            message: "Rate exceeded".into(),
        })
    }

    /// A run of 409s neither waits nor grows the delay of the next real failure.
    #[test]
    fn conflicts_retry_promptly_and_do_not_count() {
        let backoff = Backoff::new(Duration::from_secs(300));
        for _ in 0..10 {
            assert!(backoff.after("RestApi/n/a", &conflict()) < Duration::from_secs(1));
        }
        assert_eq!(backoff.failures("RestApi/n/a"), 0);
        let first = backoff.after("RestApi/n/a", &throttled());
        let base = Duration::from_secs(throttled().base_backoff_secs());
        assert!(first >= base && first <= base.mul_f64(1.2), "{first:?}");
    }

    /// The delay doubles per failure up to the cap, and a success starts over.
    #[test]
    fn grows_to_the_cap_and_resets_on_success() {
        let backoff = Backoff::new(Duration::from_secs(60));
        let mut last = Duration::ZERO;
        for _ in 0..12 {
            last = backoff.after("Stage/n/a", &throttled());
        }
        assert!(last >= Duration::from_secs(60) && last <= Duration::from_secs(72));
        backoff.succeeded("Stage/n/a");
        assert_eq!(backoff.failures("Stage/n/a"), 0);
        let base = Duration::from_secs(throttled().base_backoff_secs());
        assert!(backoff.after("Stage/n/a", &throttled()) <= base.mul_f64(1.2));
    }

    /// A failing watch retries within seconds, and from the start once it worked.
    #[test]
    fn watch_backoff_is_capped_at_five_seconds() {
        use kube::runtime::utils::Backoff as _;
        let mut b = WatchBackoff::default();
        let delays: Vec<Duration> = (&mut b).take(10).collect();
        assert!(delays[0] < Duration::from_millis(601));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(6)));
        assert!(delays[9] >= Duration::from_secs(5));
        b.reset();
        assert!(b.next().unwrap() < Duration::from_millis(601));
    }

    /// A run lasts while failures come within 25 s of each other, and ends with a
    /// quiet spell or when its watch goes.
    #[test]
    fn runs_of_watch_failures() {
        let trouble = WatchTrouble::default();
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        assert_eq!(trouble.longest_run(at(0)), None);
        for secs in [0, 5, 10, 15, 20, 25, 30, 35] {
            trouble.failed(1, at(secs));
        }
        trouble.failed(2, at(34));
        assert_eq!(trouble.longest_run(at(36)), Some(Duration::from_secs(36)));
        // Quiet for longer than QUIET: no run is going on any more.
        assert_eq!(trouble.longest_run(at(70)), None);
        // A failure after the quiet spell starts a new run.
        trouble.failed(1, at(70));
        assert_eq!(trouble.longest_run(at(71)), Some(Duration::from_secs(1)));
        trouble.forget(1);
        assert_eq!(trouble.longest_run(at(71)), None);
        trouble.failed(3, at(71));
        trouble.clear();
        assert_eq!(trouble.longest_run(at(72)), None);
    }

    /// A RestApi and a Stage of one name have counters of their own.
    #[test]
    fn keys_carry_the_kind() {
        let api: crate::api::RestApi = serde_json::from_value(serde_json::json!({
            "apiVersion": "apigw.rs/v1alpha1", "kind": "RestApi",
            "metadata": {"name": "shop", "namespace": "n"}, "spec": {}
        }))
        .unwrap();
        let stage: crate::api::Stage = serde_json::from_value(serde_json::json!({
            "apiVersion": "apigw.rs/v1alpha1", "kind": "Stage",
            "metadata": {"name": "shop", "namespace": "n"},
            "spec": {"restApiRef": {"name": "shop"}, "stageName": "prod"}
        }))
        .unwrap();
        let backoff = Backoff::new(Duration::from_secs(300));
        backoff.after(&Backoff::key(&api), &throttled());
        backoff.after(&Backoff::key(&api), &throttled());
        assert_eq!(backoff.failures(&Backoff::key(&api)), 2);
        assert_eq!(backoff.failures(&Backoff::key(&stage)), 0);
    }
}
