//! Leader election on a `coordination.k8s.io/v1` Lease, so two replicas never both
//! write to AWS. A replica runs the controllers only while it holds the lease; it
//! renews the lease well inside its duration, and when renewing fails for longer
//! than the duration it stops (another replica may hold the lease by then). On
//! shutdown it releases the lease, so a standby takes over at once instead of
//! waiting for the lease to expire.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::watch;

/// Lease settings, from flags.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    /// This replica's identity (the pod name in a cluster).
    pub identity: String,
    /// How long a lease is valid without renewal.
    pub duration: Duration,
    /// How often the holder renews and a standby retries.
    pub retry: Duration,
}

/// What one look at the lease decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseDecision {
    /// Nobody holds it, or the holder let it expire: take it.
    Acquire,
    /// We hold it: renew it.
    Renew,
    /// Someone else holds a live lease.
    Wait { holder: String },
}

/// Pure decision from the lease as read (None: it does not exist yet).
pub fn decide(spec: Option<&LeaseSpec>, identity: &str, now: Timestamp) -> LeaseDecision {
    let Some(spec) = spec else {
        return LeaseDecision::Acquire;
    };
    let holder = spec.holder_identity.clone().unwrap_or_default();
    if holder == identity {
        return LeaseDecision::Renew;
    }
    if holder.is_empty() {
        return LeaseDecision::Acquire;
    }
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
    let expired = match &spec.renew_time {
        Some(MicroTime(renewed)) => renewed
            .checked_add(duration)
            .map(|until| until < now)
            .unwrap_or(true),
        None => true,
    };
    if expired {
        LeaseDecision::Acquire
    } else {
        LeaseDecision::Wait { holder }
    }
}

/// Holds or waits for the lease in the background; the receiver says whether this
/// replica is the leader right now.
pub struct Elector {
    api: Api<Lease>,
    settings: LeaseSettings,
}

impl Elector {
    pub fn new(client: Client, settings: LeaseSettings) -> Self {
        Elector {
            api: Api::namespaced(client, &settings.namespace),
            settings,
        }
    }

    /// Run until `shutdown` fires, publishing leadership on the returned channel.
    pub fn spawn(
        self,
        mut shutdown: watch::Receiver<bool>,
    ) -> (watch::Receiver<bool>, tokio::task::JoinHandle<()>) {
        let (tx, rx) = watch::channel(false);
        let handle = tokio::spawn(async move {
            let mut last_renewed = tokio::time::Instant::now();
            loop {
                match self.try_once().await {
                    Ok(true) => {
                        last_renewed = tokio::time::Instant::now();
                        if !*tx.borrow() {
                            tracing::info!(identity = %self.settings.identity, lease = %self.settings.name, "became leader");
                        }
                        let _ = tx.send(true);
                    }
                    Ok(false) => {
                        if *tx.borrow() {
                            tracing::warn!("lost the lease to another replica");
                        }
                        let _ = tx.send(false);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not renew or acquire the lease");
                        // Past the lease duration another replica may lead: stop writing.
                        if *tx.borrow() && last_renewed.elapsed() > self.settings.duration {
                            tracing::warn!(
                                "lease not renewed within its duration; giving up leadership"
                            );
                            let _ = tx.send(false);
                        }
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(self.settings.retry) => {}
                    _ = shutdown.changed() => {
                        if *tx.borrow() {
                            self.release().await;
                        }
                        let _ = tx.send(false);
                        return;
                    }
                }
            }
        });
        (rx, handle)
    }

    /// One acquire-or-renew attempt; Ok(true) when we hold the lease afterwards.
    async fn try_once(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let current = self.api.get_opt(&self.settings.name).await?;
        let decision = decide(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &self.settings.identity,
            now,
        );
        let duration_secs = self.settings.duration.as_secs() as i32;
        match (decision, current) {
            (LeaseDecision::Wait { holder }, _) => {
                tracing::debug!(%holder, "another replica leads");
                Ok(false)
            }
            // `decide` says Renew only for a lease that exists; None always means Acquire.
            (LeaseDecision::Acquire | LeaseDecision::Renew, None) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.settings.name.clone()),
                        ..Default::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(self.settings.identity.clone()),
                        lease_duration_seconds: Some(duration_secs),
                        acquire_time: Some(MicroTime(now)),
                        renew_time: Some(MicroTime(now)),
                        lease_transitions: Some(0),
                        ..Default::default()
                    }),
                };
                match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(true),
                    // Another replica created it first.
                    Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                    Err(e) => Err(e),
                }
            }
            (decision, Some(mut lease)) => {
                let spec = lease.spec.get_or_insert_with(Default::default);
                if decision == LeaseDecision::Acquire {
                    spec.holder_identity = Some(self.settings.identity.clone());
                    spec.acquire_time = Some(MicroTime(now));
                    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                }
                spec.lease_duration_seconds = Some(duration_secs);
                spec.renew_time = Some(MicroTime(now));
                // Replace carries the resourceVersion we read: if another replica wrote
                // in between, this fails with 409 and nobody is overwritten.
                match self
                    .api
                    .replace(&self.settings.name, &PostParams::default(), &lease)
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Hand the lease back so a standby need not wait for it to expire.
    async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.settings.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!("released the lease"),
            Err(e) => {
                tracing::warn!(error = %e, "could not release the lease; it expires on its own")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: &str, renewed_secs_ago: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(
                Timestamp::now() - SignedDuration::from_secs(renewed_secs_ago),
            )),
            ..Default::default()
        }
    }

    /// A missing or released lease is taken; our own is renewed.
    #[test]
    fn free_lease_is_acquired_own_is_renewed() {
        assert_eq!(decide(None, "a", Timestamp::now()), LeaseDecision::Acquire);
        assert_eq!(
            decide(Some(&spec("", 1)), "a", Timestamp::now()),
            LeaseDecision::Acquire
        );
        assert_eq!(
            decide(Some(&spec("a", 1)), "a", Timestamp::now()),
            LeaseDecision::Renew
        );
    }

    /// A live lease of another replica is respected; an expired one is taken over.
    #[test]
    fn live_lease_waits_expired_lease_is_taken() {
        assert_eq!(
            decide(Some(&spec("b", 5)), "a", Timestamp::now()),
            LeaseDecision::Wait { holder: "b".into() }
        );
        assert_eq!(
            decide(Some(&spec("b", 20)), "a", Timestamp::now()),
            LeaseDecision::Acquire
        );
    }
}
