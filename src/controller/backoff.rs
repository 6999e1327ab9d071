//! Per-object retry delays. A failure that waiting can fix backs off exponentially
//! from its reason's base delay up to a cap (`--max-backoff`, 5 minutes by
//! default, a hard ceiling: the jitter stays under it); a success, or a failed
//! pass that made progress (wrote something to AWS), forgets the count. The conflicts of normal life (two
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
        capped(Duration::from_secs(exp), self.cap)
    }
}

/// The retry delays of a failing watch: 0.5 s doubling to 5 s, jittered, reset
/// once a watch works again. client-go's 0.8 s to 30 s can leave an operator
/// idle for half a minute after its API server came back; five seconds of
/// patience is still kind to a struggling API server (a handful of watches per
/// operator).
#[derive(Debug, Default)]
pub struct WatchBackoff {
    failures: u32,
}

impl WatchBackoff {
    const FIRST: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(5);
}

impl Iterator for WatchBackoff {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        let delay = Self::FIRST
            .saturating_mul(1u32 << self.failures.min(8))
            .min(Self::MAX);
        self.failures = self.failures.saturating_add(1);
        Some(jittered(delay))
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Watches that keep losing their place. A watch resumed from a version the API
/// server no longer keeps gets 410 Gone and relists; once, that is normal life.
/// After an API server restarted in place, relisted watches met 410 on every resume
/// for minutes, and retrying never cured it (fresh watches did). A run of 410s
/// goes on while they come less than [`WatchTrouble::QUIET`] apart, from any
/// watch; other failures (an API server that is down, an idle watch's read
/// timeout) are not counted: restarting cures none of them.
#[derive(Debug, Default)]
pub struct WatchTrouble {
    /// When the current run of 410s began, and its last one.
    run: Mutex<Option<(Instant, Instant)>>,
}

impl WatchTrouble {
    /// Longer than the longest retry delay (5 s): a run of 410s on every resume
    /// never pauses that long; a lone desync now and then never makes a run.
    pub const QUIET: Duration = Duration::from_secs(10);

    /// Note a watch error: a 410 continues (or starts) the run.
    pub fn saw(&self, err: &kube::runtime::watcher::Error, at: Instant) {
        if let kube::runtime::watcher::Error::WatchError(status) = err
            && status.code == 410
        {
            self.desynced(at);
        }
    }

    fn desynced(&self, at: Instant) {
        let mut run = self.run.lock().unwrap();
        *run = match *run {
            Some((start, last)) if at.saturating_duration_since(last) <= Self::QUIET => {
                Some((start, at))
            }
            _ => Some((at, at)),
        };
    }

    /// How long the run still going at `now` has lasted.
    pub fn longest_run(&self, now: Instant) -> Option<Duration> {
        self.run
            .lock()
            .unwrap()
            .filter(|(_, last)| now.saturating_duration_since(*last) <= Self::QUIET)
            .map(|(start, _)| now.saturating_duration_since(start))
    }

    /// Start afresh (the controllers were restarted).
    pub fn clear(&self) {
        *self.run.lock().unwrap() = None;
    }
}

/// The process's watch troubles: one API server, so one record.
pub fn watch_trouble() -> &'static WatchTrouble {
    static TROUBLE: std::sync::OnceLock<WatchTrouble> = std::sync::OnceLock::new();
    TROUBLE.get_or_init(WatchTrouble::default)
}

/// Up to 20% more, so objects that failed together do not retry together.
fn jittered(delay: Duration) -> Duration {
    delay + delay.mul_f64(spread())
}

/// `delay` jittered and never above `cap`: up to 20% more below the cap, up to
/// 20% less at it, so objects at the cap still spread out.
fn capped(delay: Duration, cap: Duration) -> Duration {
    let spread = spread();
    if delay >= cap {
        cap - cap.mul_f64(spread)
    } else {
        (delay + delay.mul_f64(spread)).min(cap)
    }
}

/// A share between 0 and 0.2, from the clock.
fn spread() -> f64 {
    let permille = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos()
        % 200;
    f64::from(permille) / 1000.0
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
        assert!(last >= Duration::from_secs(48) && last <= Duration::from_secs(60));
        backoff.succeeded("Stage/n/a");
        assert_eq!(backoff.failures("Stage/n/a"), 0);
        let base = Duration::from_secs(throttled().base_backoff_secs());
        assert!(backoff.after("Stage/n/a", &throttled()) <= base.mul_f64(1.2));
    }

    /// `--max-backoff` is a ceiling the jitter never crosses, at or below the cap.
    #[test]
    fn the_cap_holds_with_jitter() {
        let cap = Duration::from_secs(300);
        for _ in 0..1000 {
            assert!(capped(Duration::from_secs(276), cap) <= cap);
            assert!(capped(Duration::from_secs(552), cap) <= cap);
            assert!(capped(Duration::from_secs(552), cap) >= cap.mul_f64(0.8));
        }
        let backoff = Backoff::new(cap);
        for _ in 0..20 {
            assert!(backoff.after("RestApi/n/a", &throttled()) <= cap);
        }
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

    /// A run lasts while 410s come within QUIET of each other; other errors and a
    /// quiet spell end nothing / end it.
    #[test]
    fn runs_of_desyncs() {
        let trouble = WatchTrouble::default();
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        assert_eq!(trouble.longest_run(at(0)), None);
        for secs in [0, 4, 8, 12, 16, 20] {
            trouble.desynced(at(secs));
        }
        assert_eq!(trouble.longest_run(at(21)), Some(Duration::from_secs(21)));
        // Quiet for longer than QUIET: the run is over.
        assert_eq!(trouble.longest_run(at(40)), None);
        // A 410 after the quiet spell starts a new run.
        trouble.desynced(at(40));
        assert_eq!(trouble.longest_run(at(41)), Some(Duration::from_secs(1)));
        trouble.clear();
        assert_eq!(trouble.longest_run(at(41)), None);
        // An idle watch's read timeout is not a desync.
        let timeout = kube::runtime::watcher::Error::NoResourceVersion;
        trouble.saw(&timeout, at(42));
        assert_eq!(trouble.longest_run(at(42)), None);
        let gone = kube::runtime::watcher::Error::WatchError(Box::new(
            kube::core::Status::failure("too old resource version: 2097 (2115)", "Expired")
                .with_code(410),
        ));
        trouble.saw(&gone, at(43));
        assert_eq!(trouble.longest_run(at(44)), Some(Duration::from_secs(1)));
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
