//! What this process verified in AWS recently, so a pass caused by a child's edit
//! skips the reads a resync would make. Every memory lives at most `max_age`
//! (under the resync period), so the periodic resync always reads AWS afresh and
//! drift made outside the operator is still found within one resync period.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Memo<T> {
    entries: Mutex<HashMap<String, (T, Instant)>>,
}

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Memo {
            entries: Mutex::default(),
        }
    }
}

impl<T: Clone> Memo<T> {
    /// The value remembered under `key`, if younger than `max_age`.
    pub fn fresh(&self, key: &str, max_age: Duration) -> Option<T> {
        let entries = self.entries.lock().unwrap();
        let (value, at) = entries.get(key)?;
        (at.elapsed() < max_age).then(|| value.clone())
    }

    pub fn remember(&self, key: &str, value: T) {
        self.entries
            .lock()
            .unwrap()
            .insert(key.to_string(), (value, Instant::now()));
    }

    pub fn forget(&self, key: &str) {
        self.entries.lock().unwrap().remove(key);
    }
}

/// How long a memory may stand in for a read: most of a resync period, so the
/// resync that follows a pass by one period always finds it expired.
pub fn max_age(resync: Duration) -> Duration {
    resync.mul_f64(0.8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_stands_until_it_is_older_than_asked() {
        let memo: Memo<u32> = Memo::default();
        assert_eq!(memo.fresh("a", Duration::from_secs(60)), None);
        memo.remember("a", 7);
        assert_eq!(memo.fresh("a", Duration::from_secs(60)), Some(7));
        assert_eq!(memo.fresh("a", Duration::ZERO), None);
        memo.forget("a");
        assert_eq!(memo.fresh("a", Duration::from_secs(60)), None);
        assert!(max_age(Duration::from_secs(600)) < Duration::from_secs(600));
    }
}
