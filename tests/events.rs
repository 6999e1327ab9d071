//! The operator's Events against the real API server: a repeat of the same note
//! is one Event with a series count; another note under the same reason and
//! action is an Event of its own, and its action stays a plain verb.

mod common;

use apigw_operator::api::RestApi;
use apigw_operator::controller::events::Publisher;
use common::*;
use k8s_openapi::api::events::v1::Event;
use kube::Resource;
use kube::runtime::events::EventType;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_of_a_note_are_a_series_and_other_notes_their_own_events() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "events").await;
    let api = ns
        .apply::<RestApi>(
            "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: photos}, spec: {}}",
        )
        .await;
    let publisher = Publisher::new(client.clone(), "apigw-operator", Some("test".into()));
    let regarding = api.object_ref(&());
    for note in [
        "created method GET /a",
        "created method GET /a",
        "created method GET /b",
    ] {
        publisher
            .publish(
                regarding.clone(),
                EventType::Normal,
                "MethodPut",
                "Create",
                note,
            )
            .await
            .unwrap();
    }
    let events: Vec<Event> = ns
        .api::<Event>()
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    let mine: Vec<&Event> = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("MethodPut"))
        .collect();
    assert_eq!(mine.len(), 2, "{mine:?}");
    for e in &mine {
        assert_eq!(e.action.as_deref(), Some("Create"));
        assert_eq!(e.reporting_controller.as_deref(), Some("apigw-operator"));
    }
    let a = mine
        .iter()
        .find(|e| e.note.as_deref() == Some("created method GET /a"))
        .unwrap();
    assert_eq!(a.series.as_ref().map(|s| s.count), Some(2));
    let b = mine
        .iter()
        .find(|e| e.note.as_deref() == Some("created method GET /b"))
        .unwrap();
    assert!(b.series.is_none());
    ns.delete().await;
}
