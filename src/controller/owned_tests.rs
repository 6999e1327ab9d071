//! The skeleton's rules, on the RestApi kind, against the fake Kubernetes API and
//! the fake AWS endpoint of `test_support`: each test asserts the exact AWS calls
//! and the Events. No cluster, no moto; they run in milliseconds.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{cleanup, observe};
use crate::api::{RestApi, RestApiStatus};
use crate::controller::test_support::{Harness, Reply};
use crate::controller::{Error, error_policy};

fn rest_api(spec: Value, status: Value) -> RestApi {
    serde_json::from_value(json!({
        "apiVersion": "apigw.rs/v1alpha1",
        "kind": "RestApi",
        "metadata": {
            "name": "shop", "namespace": "team-a", "uid": "uid-shop",
            "finalizers": ["apigw.rs/cleanup"], "resourceVersion": "7", "generation": 1
        },
        "spec": spec,
        "status": status,
    }))
    .unwrap()
}

fn api_in_aws(id: &str, tags: Value) -> Reply {
    Reply::json(
        200,
        json!({"id": id, "name": "shop", "rootResourceId": "root1", "tags": tags}),
    )
}

fn accepted() -> Reply {
    Reply::json(202, json!({}))
}

fn no_calls() -> Vec<String> {
    Vec::new()
}

#[tokio::test]
async fn retain_leaves_the_api_and_says_why() {
    let h = Harness::new().await;
    let api = rest_api(
        json!({"deletionPolicy": "Retain"}),
        json!({"restApiId": "abc123"}),
    );
    cleanup(Arc::new(api), &h.ctx).await.unwrap();
    assert_eq!(h.aws_calls(), no_calls());
    assert_eq!(
        h.events(),
        ["Normal/Retained: left REST API abc123 in AWS (deletionPolicy: Retain)"]
    );
}

#[tokio::test]
async fn an_adopted_api_is_retained_unless_the_spec_says_delete() {
    let h = Harness::new().await;
    let adopted = json!({"restApiId": "abc123", "adopted": true});
    let api = rest_api(json!({"restApiId": "abc123"}), adopted.clone());
    cleanup(Arc::new(api), &h.ctx).await.unwrap();
    assert_eq!(h.aws_calls(), no_calls());
    assert_eq!(
        h.events(),
        [
            "Normal/Retained: left REST API abc123 in AWS: it was adopted, and adopted resources \
             are retained unless deletionPolicy says Delete"
        ]
    );

    // Deleted only after the adoption rule holds again: status is no proof.
    let h = Harness::new().await;
    h.aws
        .answer("GET /restapis/abc123", api_in_aws("abc123", json!({})));
    h.aws.answer("DELETE /restapis/abc123", accepted());
    let api = rest_api(
        json!({"restApiId": "abc123", "deletionPolicy": "Delete"}),
        adopted,
    );
    cleanup(Arc::new(api), &h.ctx).await.unwrap();
    assert_eq!(
        h.aws_calls(),
        ["GET /restapis/abc123", "DELETE /restapis/abc123"]
    );
}

#[tokio::test]
async fn delete_removes_the_api_in_status() {
    let h = Harness::new().await;
    h.aws.answer("GET /restapis/abc123", ours("abc123"));
    h.aws.answer("DELETE /restapis/abc123", accepted());
    let api = rest_api(json!({}), json!({"restApiId": "abc123"}));
    cleanup(Arc::new(api), &h.ctx).await.unwrap();
    assert_eq!(
        h.aws_calls(),
        ["GET /restapis/abc123", "DELETE /restapis/abc123"]
    );
    assert_eq!(h.events(), ["Normal/Deleted: deleted REST API abc123"]);
}

fn ours(id: &str) -> Reply {
    api_in_aws(id, json!({"apigw.rs/owner-uid": "uid-shop"}))
}

/// A status naming another object's API (written by a tenant with RBAC on the
/// status subresource) proves nothing: the pass is refused before any write, and
/// the deletion leaves that API and deletes the one this object made, found by
/// its owner tag.
#[tokio::test]
async fn a_forged_status_is_refused_and_its_api_left_alone() {
    let h = Harness::new().await;
    let theirs = api_in_aws("theirs1", json!({"apigw.rs/owner-uid": "uid-else"}));
    h.aws.answer("GET /restapis/theirs1", theirs.clone());
    h.aws.answer(
        "GET /restapis",
        Reply::json(
            200,
            json!({"item": [{"id": "theirs1", "name": "shop", "tags": {"apigw.rs/owner-uid": "uid-else"}}]}),
        ),
    );
    let api = rest_api(json!({}), json!({"restApiId": "theirs1"}));
    let err = observe(
        &api,
        &h.ctx,
        &mut RestApiStatus::default(),
        Some("theirs1".into()),
        &(),
    )
    .await
    .expect_err("refused");
    assert_eq!(err.reason(), "AdoptTargetOwned", "{err}");
    assert!(err.to_string().contains("theirs1"), "{err}");
    assert!(
        h.aws_calls().iter().all(|c| c.starts_with("GET ")),
        "{:?}",
        h.aws_calls()
    );

    let h = Harness::new().await;
    h.aws.answer("GET /restapis/theirs1", theirs);
    h.aws.answer(
        "GET /restapis",
        Reply::json(
            200,
            json!({"item": [{"id": "made1", "name": "shop", "tags": {"apigw.rs/owner-uid": "uid-shop"}}]}),
        ),
    );
    h.aws.answer("DELETE /restapis/made1", accepted());
    cleanup(Arc::new(api), &h.ctx).await.unwrap();
    assert_eq!(
        h.aws_calls(),
        [
            "GET /restapis/theirs1",
            "GET /restapis",
            "DELETE /restapis/made1"
        ]
    );
    assert!(
        h.events()[0].starts_with("Warning/AdoptTargetOwned: left REST API theirs1 in AWS"),
        "{:?}",
        h.events()
    );
}

/// The create happened, the status write did not (a crash between the two): the
/// API is found by its owner tag and deleted, not left behind.
#[tokio::test]
async fn delete_finds_an_unrecorded_api_by_its_owner_tag() {
    let h = Harness::new().await;
    h.aws.answer(
        "GET /restapis",
        Reply::json(
            200,
            json!({"item": [
                {"id": "other1", "name": "shop", "tags": {"apigw.rs/owner-uid": "uid-else"}},
                {"id": "made1", "name": "shop", "tags": {"apigw.rs/owner-uid": "uid-shop"}},
            ]}),
        ),
    );
    h.aws.answer("DELETE /restapis/made1", accepted());
    let api = rest_api(json!({}), json!({}));
    cleanup(Arc::new(api), &h.ctx).await.unwrap();
    assert_eq!(h.aws_calls(), ["GET /restapis", "DELETE /restapis/made1"]);
}

/// An adoption refused (or never happened) never made the API this object's:
/// even `deletionPolicy: Delete` deletes nothing, and nothing is looked up.
#[tokio::test]
async fn an_adoption_that_did_not_happen_deletes_nothing() {
    let h = Harness::new().await;
    let api = rest_api(
        json!({"restApiId": "xyz789", "deletionPolicy": "Delete"}),
        json!({}),
    );
    cleanup(Arc::new(api), &h.ctx).await.unwrap();
    assert_eq!(h.aws_calls(), no_calls());
    assert_eq!(h.events(), Vec::<String>::new());
}

#[tokio::test]
async fn a_failed_delete_is_a_warning_and_keeps_the_finalizer() {
    let h = Harness::new().await;
    h.aws.answer("GET /restapis/abc123", ours("abc123"));
    h.aws.answer(
        "DELETE /restapis/abc123",
        Reply::aws_error(
            400,
            "BadRequestException",
            "Active stages pointing to this deployment",
        ),
    );
    let api = rest_api(json!({}), json!({"restApiId": "abc123"}));
    let err = cleanup(Arc::new(api), &h.ctx).await.unwrap_err();
    assert!(err.to_string().contains("DeleteRestApi"), "{err}");
    assert_eq!(h.events().len(), 1);
    assert!(h.events()[0].starts_with("Warning/"), "{:?}", h.events());
}

#[tokio::test]
async fn an_api_deleted_outside_is_reported_forgotten_and_looked_for_by_tag() {
    let h = Harness::new().await;
    h.aws.answer(
        "GET /restapis/gone1",
        Reply::aws_error(404, "NotFoundException", "Invalid API identifier specified"),
    );
    h.aws
        .answer("GET /restapis", Reply::json(200, json!({"item": []})));
    let api = rest_api(json!({}), json!({}));
    let mut status: RestApiStatus = serde_json::from_value(json!({
        "restApiId": "gone1", "url": "https://gone1.example",
        "conditions": [{"type": "Ready", "status": "True", "reason": "Available", "message": "",
                        "lastTransitionTime": "2026-12-01T00:00:00Z"}]
    }))
    .unwrap();
    let found = observe(&api, &h.ctx, &mut status, Some("gone1".into()), &())
        .await
        .unwrap();
    assert!(found.is_none());
    // The account's listing lacks it, the read by id confirms it is gone, and the
    // owner-tag search finds no other.
    assert_eq!(
        h.aws_calls(),
        ["GET /restapis", "GET /restapis/gone1", "GET /restapis"]
    );
    assert_eq!(status.rest_api_id, None);
    assert_eq!(status.url, None);
    assert_eq!(status.conditions.len(), 1, "conditions stay");
    assert_eq!(
        h.events(),
        [
            "Warning/DeletedOutsideOperator: REST API gone1 was deleted outside the operator; \
             creating it again"
        ]
    );
}

/// Another live object's API: refused, whatever adoptOrphaned says, naming it.
#[tokio::test]
async fn an_api_another_live_object_made_is_not_adopted() {
    let h = Harness::new().await;
    h.aws.answer(
        "GET /restapis/taken1",
        api_in_aws(
            "taken1",
            json!({"apigw.rs/owner-uid": "uid-b", "apigw.rs/owner": "team-b/shop", "apigw.rs/kind": "RestApi"}),
        ),
    );
    h.kube.answer(
        "GET /apis/apigw.rs/v1alpha1/namespaces/team-b/restapis/shop",
        Reply::json(
            200,
            json!({"apiVersion": "apigw.rs/v1alpha1", "kind": "RestApi",
                   "metadata": {"name": "shop", "namespace": "team-b", "uid": "uid-b"}, "spec": {}}),
        ),
    );
    let api = rest_api(
        json!({"restApiId": "taken1", "adoptOrphaned": true}),
        json!({}),
    );
    let mut status = RestApiStatus::default();
    let err = observe(&api, &h.ctx, &mut status, None, &())
        .await
        .expect_err("refused");
    assert!(matches!(err, Error::AdoptTargetOwned(_)), "{err:?}");
    assert!(err.to_string().contains("team-b/shop"), "{err}");
    assert_eq!(h.aws_calls(), ["GET /restapis/taken1"]);
    assert_eq!(h.events(), Vec::<String>::new());
}

/// An API whose maker is gone: refused unless adoptOrphaned, then adopted once,
/// after checking no live object of the cluster holds it.
#[tokio::test]
async fn an_orphan_is_adopted_only_when_asked() {
    let orphan = || {
        api_in_aws(
            "old1",
            json!({"apigw.rs/owner-uid": "uid-dead", "apigw.rs/owner": "team-b/old", "apigw.rs/kind": "RestApi"}),
        )
    };
    let h = Harness::new().await;
    h.aws.answer("GET /restapis/old1", orphan());
    let api = rest_api(json!({"restApiId": "old1"}), json!({}));
    let err = observe(&api, &h.ctx, &mut RestApiStatus::default(), None, &())
        .await
        .expect_err("refused");
    assert!(matches!(err, Error::AdoptTargetOrphaned(_)), "{err:?}");

    let h = Harness::new().await;
    h.aws.answer("GET /restapis/old1", orphan());
    let api = rest_api(
        json!({"restApiId": "old1", "adoptOrphaned": true}),
        json!({}),
    );
    let found = observe(&api, &h.ctx, &mut RestApiStatus::default(), None, &())
        .await
        .unwrap()
        .expect("adopted");
    assert_eq!(found.id, "old1");
    assert_eq!(
        h.events(),
        ["Normal/Adopted: adopted existing REST API old1"]
    );
    // The cluster was searched for another holder: the RestApis of the watched namespace.
    assert!(
        h.kube
            .seen()
            .iter()
            .any(|r| r.starts_with("GET /apis/apigw.rs/v1alpha1/namespaces/team-a/restapis?")),
        "{:?}",
        h.kube.seen()
    );
    // Later passes check again (status is no proof; the API carries no owner
    // tag of this object), without a second Adopted Event.
    let h = Harness::new().await;
    h.aws.answer("GET /restapis/old1", orphan());
    observe(
        &api,
        &h.ctx,
        &mut RestApiStatus::default(),
        Some("old1".into()),
        &(),
    )
    .await
    .unwrap()
    .expect("still adopted");
    assert!(
        h.kube
            .seen()
            .iter()
            .any(|r| r.starts_with("GET /apis/apigw.rs/v1alpha1/namespaces/team-a/restapis?")),
        "{:?}",
        h.kube.seen()
    );
    assert_eq!(h.events(), Vec::<String>::new());
}

/// The requeue delay an Action carries (kube keeps the field private).
fn delay(action: &kube::runtime::controller::Action) -> Option<Duration> {
    let text = format!("{action:?}");
    let inner = text.split("Some(").nth(1)?.split(')').next()?;
    if let Some(ms) = inner.strip_suffix("ms") {
        return ms
            .parse::<f64>()
            .ok()
            .map(|v| Duration::from_secs_f64(v / 1000.0));
    }
    inner
        .strip_suffix('s')?
        .parse::<f64>()
        .ok()
        .map(Duration::from_secs_f64)
}

/// The error policy: a terminal error waits for a spec change, a conflict retries
/// within a second and does not count, other failures back off exponentially.
#[tokio::test]
async fn error_policy_by_class() {
    let h = Harness::new().await;
    let api = Arc::new(rest_api(json!({}), json!({})));
    let terminal = Error::AdoptTargetOrphaned("REST API abc: its maker is gone".into());
    assert_eq!(
        error_policy(api.clone(), &terminal, h.ctx.clone()),
        kube::runtime::controller::Action::await_change()
    );
    let conflict = Error::Kube {
        operation: "patch status",
        source: kube::Error::Api(
            kube::core::Status::failure("the object has been modified", "Conflict")
                .with_code(409)
                .boxed(),
        ),
    };
    let throttled = Error::Aws(crate::aws::AwsError {
        service: "apigateway",
        operation: "CreateRestApi",
        resource: "shop".into(),
        kind: crate::aws::ErrorKind::Throttled,
        code: "TooManyRequestsException".into(),
        message: "Rate exceeded".into(),
    });
    let first = delay(&error_policy(api.clone(), &throttled, h.ctx.clone())).unwrap();
    for _ in 0..3 {
        let conflict_delay = delay(&error_policy(api.clone(), &conflict, h.ctx.clone())).unwrap();
        assert!(
            conflict_delay < Duration::from_secs(1),
            "{conflict_delay:?}"
        );
    }
    let second = delay(&error_policy(api.clone(), &throttled, h.ctx.clone())).unwrap();
    assert!(
        second > first && second <= first * 3,
        "doubles, conflicts did not count: {first:?} then {second:?}"
    );
}
