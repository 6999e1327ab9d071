//! What this process verified in AWS recently, so a pass caused by a child's edit
//! skips the reads a resync would make. Every memory lives at most `max_age`
//! (under the resync period), so the periodic resync always reads AWS afresh and
//! drift made outside the operator is still found within one resync period.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Memo<K, T> {
    entries: Mutex<HashMap<K, (T, Instant)>>,
}

impl<K, T> Default for Memo<K, T> {
    fn default() -> Self {
        Memo {
            entries: Mutex::default(),
        }
    }
}

impl<K: Eq + Hash + Clone, T: Clone> Memo<K, T> {
    /// The value remembered under `key`, if younger than `max_age`.
    pub fn fresh<Q>(&self, key: &Q, max_age: Duration) -> Option<T>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.lock().unwrap();
        let (value, at) = entries.get(key)?;
        (at.elapsed() < max_age).then(|| value.clone())
    }

    /// The value remembered under `key`, if younger than `max_age`, removed: a
    /// user that may stop halfway leaves no memory behind.
    pub fn take<Q>(&self, key: &Q, max_age: Duration) -> Option<T>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (value, at) = self.entries.lock().unwrap().remove(key)?;
        (at.elapsed() < max_age).then_some(value)
    }

    pub fn remember(&self, key: K, value: T) {
        self.entries
            .lock()
            .unwrap()
            .insert(key, (value, Instant::now()));
    }

    pub fn forget<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.lock().unwrap().remove(key);
    }

    /// Forget every memory whose key fails `keep`.
    pub fn retain(&self, keep: impl Fn(&K) -> bool) {
        self.entries.lock().unwrap().retain(|k, _| keep(k));
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
        let memo: Memo<String, u32> = Memo::default();
        assert_eq!(memo.fresh("a", Duration::from_secs(60)), None);
        memo.remember("a".into(), 7);
        assert_eq!(memo.fresh("a", Duration::from_secs(60)), Some(7));
        assert_eq!(memo.fresh("a", Duration::ZERO), None);
        memo.forget("a");
        assert_eq!(memo.fresh("a", Duration::from_secs(60)), None);
        memo.remember("b".into(), 1);
        memo.remember("c".into(), 2);
        memo.retain(|k| k != "b");
        assert_eq!(memo.fresh("b", Duration::from_secs(60)), None);
        assert_eq!(memo.fresh("c", Duration::from_secs(60)), Some(2));
        assert!(max_age(Duration::from_secs(600)) < Duration::from_secs(600));
    }

    /// A taken memory is gone, fresh or not.
    #[test]
    fn a_taken_memory_is_gone() {
        let memo: Memo<String, u32> = Memo::default();
        memo.remember("a".into(), 7);
        assert_eq!(memo.take("a", Duration::from_secs(60)), Some(7));
        assert_eq!(memo.take("a", Duration::from_secs(60)), None);
        memo.remember("b".into(), 1);
        assert_eq!(memo.take("b", Duration::ZERO), None, "too old");
        assert_eq!(memo.fresh("b", Duration::from_secs(60)), None, "and gone");
    }
}
