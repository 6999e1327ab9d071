//! A deletion preempts the running pass of its object. kube-runtime runs one
//! reconcile per object at a time, so a RestApi deleted during a long pass (a new
//! API's hundreds of call-by-call writes, or a wait on the deployment quota)
//! would be cleaned up only once that pass finished, after every write it still
//! had to make to the doomed API. The watch of each kind reports a deletion here
//! ([`Passes::deleted`]); the pass of that object is dropped at its next await
//! (an AWS call in flight is abandoned, as a crash would; every pass starts from
//! what AWS holds), and the cleanup runs next.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// The passes running in this process, by object uid.
#[derive(Debug, Default)]
pub struct Passes {
    running: Mutex<HashMap<String, Arc<Notify>>>,
}

/// A running pass's registration; dropped, the pass is no longer preemptible.
pub struct Running<'a> {
    passes: &'a Passes,
    uid: String,
    pub preempted: Arc<Notify>,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut running = self.passes.running.lock().unwrap();
        if running
            .get(&self.uid)
            .is_some_and(|n| Arc::ptr_eq(n, &self.preempted))
        {
            running.remove(&self.uid);
        }
    }
}

impl Passes {
    /// A pass of the object with `uid` starts.
    pub fn start(&self, uid: &str) -> Running<'_> {
        let preempted = Arc::new(Notify::new());
        self.running
            .lock()
            .unwrap()
            .insert(uid.to_string(), preempted.clone());
        Running {
            passes: self,
            uid: uid.to_string(),
            preempted,
        }
    }

    /// The object with `uid` is being deleted: its running pass, if any, stops.
    /// The notification is kept when the pass has not reached its first await yet.
    pub fn deleted(&self, uid: &str) -> bool {
        match self.running.lock().unwrap().get(uid) {
            Some(preempted) => {
                preempted.notify_one();
                true
            }
            None => false,
        }
    }
}

/// The process's running passes (uids are unique across namespaces and kinds).
pub fn passes() -> &'static Passes {
    static PASSES: std::sync::OnceLock<Passes> = std::sync::OnceLock::new();
    PASSES.get_or_init(Passes::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deletion reaches the pass of its object only, even one that was told
    /// before it waited; a finished pass is not told.
    #[tokio::test]
    async fn a_deletion_stops_only_the_pass_of_its_object() {
        let passes = Passes::default();
        let a = passes.start("a");
        let _b = passes.start("b");
        assert!(passes.deleted("a"));
        tokio::time::timeout(std::time::Duration::from_secs(1), a.preempted.notified())
            .await
            .expect("told before it waited, the pass still stops");
        drop(a);
        assert!(!passes.deleted("a"), "a finished pass is not told");
        assert!(passes.deleted("b"));
    }
}
