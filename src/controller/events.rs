//! Events (events.k8s.io/v1) of the operator's objects. Like kube's Recorder, a
//! repeat within six minutes becomes a series (one Event, its count raised)
//! instead of a new object, but a repeat means the same note as well: kube's
//! Recorder keys series without the note and keeps the first one, so "created
//! route upload" would be shown again for the next route created. The action
//! stays a plain verb (`Create`, `Import`, `Reconcile`, ...).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;
use kube::{Api, Client};
use tokio::sync::Mutex;

/// How long a published Event takes repeats as its series (kube's Recorder: 6 min).
const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);
/// The Events API refuses a longer note.
const MAX_NOTE_BYTES: usize = 1024;

/// (regarding uid, type, reason, action, note).
type Key = (String, &'static str, String, String, String);

/// One Event published, for its repeats.
struct Published {
    namespace: String,
    name: String,
    count: i32,
    last: Instant,
}

/// Publishes Events as `controller`, from `instance` (the pod).
pub struct Publisher {
    client: Client,
    controller: String,
    instance: String,
    recent: Mutex<Recent>,
}

/// The Events published within the series window.
struct Recent {
    published: HashMap<Key, Published>,
    swept: Instant,
}

impl Recent {
    /// Drop the Events whose window has passed, at most once a minute: a sweep
    /// on every publication would walk thousands of entries per Event when a
    /// thousand Routes go live at once.
    fn sweep(&mut self) {
        if self.swept.elapsed() >= Duration::from_secs(60) {
            self.published
                .retain(|_, p| p.last.elapsed() < SERIES_WINDOW);
            self.swept = Instant::now();
        }
    }
}

impl Publisher {
    pub fn new(client: Client, controller: &str, instance: Option<String>) -> Publisher {
        Publisher {
            client,
            controller: controller.to_string(),
            instance: instance.unwrap_or_else(|| controller.to_string()),
            recent: Mutex::new(Recent {
                published: HashMap::new(),
                swept: Instant::now(),
            }),
        }
    }

    /// A new Event, or the series of the same one published within the window.
    pub async fn publish(
        &self,
        regarding: ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: &str,
    ) -> Result<(), kube::Error> {
        let note = truncated(note);
        let type_ = match type_ {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        };
        let key: Key = (
            regarding.uid.clone().unwrap_or_default(),
            type_,
            reason.to_string(),
            action.to_string(),
            note.to_string(),
        );
        let now = k8s_openapi::jiff::Timestamp::now();
        let repeat = {
            let mut recent = self.recent.lock().await;
            recent.sweep();
            recent
                .published
                .get_mut(&key)
                .filter(|p| p.last.elapsed() < SERIES_WINDOW)
                .map(|p| {
                    p.count += 1;
                    p.last = Instant::now();
                    (p.namespace.clone(), p.name.clone(), p.count)
                })
        };
        if let Some((namespace, name, count)) = repeat {
            let series = EventSeries {
                count,
                last_observed_time: MicroTime(now),
            };
            let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
            events
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(serde_json::json!({"series": series})),
                )
                .await?;
            return Ok(());
        }
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let event = K8sEvent {
            metadata: ObjectMeta {
                // As kubectl shows them: the object's name and a unique suffix.
                name: Some(event_name(
                    regarding.name.as_deref().unwrap_or("apigw"),
                    now,
                )),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            event_time: Some(MicroTime(now)),
            action: Some(action.to_string()),
            reason: Some(reason.to_string()),
            note: Some(note.to_string()),
            type_: Some(type_.to_string()),
            regarding: Some(regarding),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..Default::default()
        };
        let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
        let created = events.create(&PostParams::default(), &event).await?;
        // Two first publications at once make two Events; the later one is kept.
        self.recent.lock().await.published.insert(
            key,
            Published {
                namespace,
                name: created.metadata.name.unwrap_or_default(),
                count: 1,
                last: Instant::now(),
            },
        );
        Ok(())
    }
}

/// `NAME.HEX`: the object's name (a DNS subdomain, cut to leave room) and the time
/// in nanoseconds, as kube's Recorder names them.
fn event_name(object: &str, now: k8s_openapi::jiff::Timestamp) -> String {
    let object: String = object.chars().take(230).collect();
    format!(
        "{}.{:x}",
        object.trim_end_matches(['.', '-']),
        now.as_nanosecond()
    )
}

/// At most MAX_NOTE_BYTES, cut at a character boundary.
fn truncated(note: &str) -> &str {
    if note.len() <= MAX_NOTE_BYTES {
        return note;
    }
    let mut end = MAX_NOTE_BYTES;
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    &note[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_notes_are_cut_at_a_character_boundary() {
        let note = "é".repeat(600);
        let cut = truncated(&note);
        assert!(cut.len() <= MAX_NOTE_BYTES);
        assert_eq!(cut.chars().count(), 512);
        assert_eq!(truncated("short"), "short");
    }

    #[test]
    fn event_names_are_dns_subdomains_of_bounded_length() {
        let now = k8s_openapi::jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let name = event_name("photos", now);
        assert!(name.starts_with("photos."), "{name}");
        let long = "a".repeat(253);
        assert!(event_name(&long, now).len() <= 253);
    }
}
