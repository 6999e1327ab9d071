//! Counters of what the controllers do, for `/metrics`: reconciles, their errors
//! by reason, time spent, reconciles in flight and objects under management.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use kube::Resource;
use kube::runtime::controller::Action;

use super::Error;

#[derive(Debug, Default, Clone)]
pub struct KindStats {
    pub reconciles: u64,
    pub errors: BTreeMap<&'static str, u64>,
    pub seconds: f64,
    pub managed: BTreeSet<String>,
}

/// Seconds a reconcile took, by kind.
pub type ReconcileLatency = prometheus_client::metrics::family::Family<
    Vec<(&'static str, &'static str)>,
    prometheus_client::metrics::histogram::Histogram,
>;

#[derive(Debug)]
pub struct ReconcileStats {
    kinds: Mutex<BTreeMap<&'static str, KindStats>>,
    in_flight: AtomicI64,
    pub latency: ReconcileLatency,
}

impl Default for ReconcileStats {
    fn default() -> Self {
        ReconcileStats {
            kinds: Mutex::default(),
            in_flight: AtomicI64::default(),
            // 10 ms (a converged child) to about 5 minutes (a 1000-route API made
            // under AWS's quotas).
            latency: ReconcileLatency::new_with_constructor(|| {
                prometheus_client::metrics::histogram::Histogram::new(
                    prometheus_client::metrics::histogram::exponential_buckets(0.01, 2.0, 15),
                )
            }),
        }
    }
}

impl ReconcileStats {
    /// Run one reconcile of `obj`, counting it.
    pub async fn measure<K: Resource>(
        &self,
        kind: &'static str,
        obj: &K,
        reconcile: impl Future<Output = Result<Action, Error>>,
    ) -> Result<Action, Error> {
        let key = format!(
            "{}/{}",
            obj.meta().namespace.as_deref().unwrap_or_default(),
            obj.meta().name.as_deref().unwrap_or_default()
        );
        let deleting = obj.meta().deletion_timestamp.is_some();
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let start = Instant::now();
        let result = reconcile.await;
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let took = start.elapsed().as_secs_f64();
        self.latency
            .get_or_create(&vec![("kind", kind)])
            .observe(took);
        let mut kinds = self.kinds.lock().unwrap();
        let stats = kinds.entry(kind).or_default();
        stats.reconciles += 1;
        stats.seconds += took;
        if let Err(e) = &result {
            *stats.errors.entry(e.reason()).or_default() += 1;
        }
        if deleting {
            stats.managed.remove(&key);
        } else {
            stats.managed.insert(key);
        }
        result
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, KindStats> {
        self.kinds.lock().unwrap().clone()
    }

    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::RestApi;

    fn object(deleting: bool) -> RestApi {
        let mut obj: RestApi = serde_yaml::from_str("{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: a, namespace: n}, spec: {}}").unwrap();
        if deleting {
            obj.metadata.deletion_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    k8s_openapi::jiff::Timestamp::now(),
                ));
        }
        obj
    }

    /// Reconciles and errors are counted by kind and reason; a deleted object stops being managed.
    #[tokio::test]
    async fn counts_reconciles_errors_and_managed_objects() {
        let stats = ReconcileStats::default();
        stats
            .measure("RestApi", &object(false), async {
                Ok(Action::await_change())
            })
            .await
            .unwrap();
        let failed = stats
            .measure("RestApi", &object(false), async {
                Err(Error::AdoptTargetMissing("x".into()))
            })
            .await;
        assert!(failed.is_err());
        let snap = stats.snapshot();
        assert_eq!(snap["RestApi"].reconciles, 2);
        assert_eq!(snap["RestApi"].errors["AdoptTargetMissing"], 1);
        assert_eq!(snap["RestApi"].managed.len(), 1);
        stats
            .measure("RestApi", &object(true), async {
                Ok(Action::await_change())
            })
            .await
            .unwrap();
        assert!(stats.snapshot()["RestApi"].managed.is_empty());
        assert_eq!(stats.in_flight(), 0);
    }
}
