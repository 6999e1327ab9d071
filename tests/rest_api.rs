//! RestApi end to end: the real kube-apiserver, the operator in process, moto as AWS.

mod common;

use std::time::Duration;

use apigw_operator::api::RestApi;
use apigw_operator::plan::rest_api::OWNER_UID_TAG;
use common::*;
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams};

const T: Duration = Duration::from_secs(30);

/// Apply -> Ready with ids and URL; every field lands in AWS; a resync of a converged
/// API makes no mutating call; an edit updates in place; delete removes the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_api_lifecycle() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "lifecycle").await;
    let op = Operator::start(&ns.name, Duration::from_secs(1)).await;
    let apis = ns.api::<RestApi>();
    ns.apply::<RestApi>(
        r#"
        apiVersion: apigw.rs/v1alpha1
        kind: RestApi
        metadata: {name: photos}
        spec:
          description: Photo upload and filters
          endpoint: {type: REGIONAL}
          policy: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*"}]}'
          minimumCompressionSize: 1024
          apiKeySource: AUTHORIZER
          disableExecuteApiEndpoint: true
          tags: {team: photos}
        "#,
    )
    .await;
    let ready = wait_ready(&apis, "photos", "True", T).await;
    let status = ready.status.clone().unwrap();
    let id = status.rest_api_id.clone().expect("restApiId in status");
    assert_eq!(
        status.url.as_deref(),
        Some(format!("https://{id}.execute-api.us-east-1.amazonaws.com").as_str())
    );
    assert!(status.root_resource_id.is_some());
    assert_eq!(
        status.execute_api_arn.as_deref(),
        Some(format!("arn:aws:execute-api:us-east-1:123456789012:{id}").as_str())
    );
    assert_eq!(ready_reason(&ready).0, "Available");

    let aws = aws().await;
    let api = aws
        .get_rest_api(&id)
        .await
        .unwrap()
        .expect("API exists in moto");
    assert_eq!(api.settings.name, "photos");
    assert_eq!(api.settings.description, "Photo upload and filters");
    assert_eq!(api.settings.endpoint_type, "REGIONAL");
    assert_eq!(api.settings.minimum_compression_size, Some(1024));
    assert_eq!(api.settings.api_key_source, "AUTHORIZER");
    assert!(api.settings.disable_execute_api_endpoint);
    assert!(
        api.settings
            .policy
            .as_deref()
            .unwrap_or_default()
            .contains("execute-api:Invoke")
    );
    assert_eq!(
        api.settings.tags.get("team").map(String::as_str),
        Some("photos")
    );
    assert_eq!(api.settings.tags.get(OWNER_UID_TAG), ready.uid().as_ref());
    ns.wait_event("photos", "Normal/Created").await;

    // Converged: resyncs every second read the API and write nothing. Its settings
    // come from the account's listing (GetRestApis, at most one per fifth of a
    // resync period), not from a GetRestApi per pass.
    let writes_before = op.mutating_calls();
    let stats = &op.ctx.aws.stats;
    let (passes_before, by_id_before) =
        (stats.calls_of("GetResources"), stats.calls_of("GetRestApi"));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let passes = stats.calls_of("GetResources") - passes_before;
    assert!(passes >= 2, "resyncs happened ({passes} passes)");
    assert_eq!(
        stats.calls_of("GetRestApi"),
        by_id_before,
        "a resync reads the API's settings from the account's listing"
    );
    assert!(
        stats.calls_of("GetRestApis") >= 2,
        "the tag scan before the create, then the listings of the resyncs"
    );
    assert_eq!(
        op.mutating_calls(),
        writes_before,
        "a converged resync makes no mutating AWS call"
    );

    // Edit in place.
    apis.patch(
        "photos",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"description": "v2", "apiKeySource": "HEADER"}})),
    )
    .await
    .unwrap();
    let updated = wait_ready(&apis, "photos", "True", T).await;
    assert_eq!(
        updated.status.unwrap().rest_api_id.as_deref(),
        Some(id.as_str()),
        "same API, updated in place"
    );
    let api = aws.get_rest_api(&id).await.unwrap().unwrap();
    assert_eq!(api.settings.description, "v2");
    assert_eq!(api.settings.api_key_source, "HEADER");
    assert_eq!(op.ctx.aws.stats.calls_of("CreateRestApi"), 1);

    // Delete.
    apis.delete("photos", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&apis, "photos", T).await;
    assert!(
        aws.get_rest_api(&id).await.unwrap().is_none(),
        "API deleted in AWS"
    );
    ns.delete().await;
}

/// A change made in AWS behind the operator's back is put back at the next resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_corrected() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "drift").await;
    let _op = Operator::start(&ns.name, Duration::from_secs(1)).await;
    let apis = ns.api::<RestApi>();
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: drift}, spec: {description: desired, endpoint: {type: REGIONAL}}}",
    )
    .await;
    let id = wait_ready(&apis, "drift", "True", T)
        .await
        .status
        .unwrap()
        .rest_api_id
        .unwrap();
    let aws = aws().await;
    aws.update_rest_api(
        &id,
        &[
            apigw_operator::plan::PatchOp::replace("/description", "changed by hand"),
            apigw_operator::plan::PatchOp::replace("/endpointConfiguration/types/REGIONAL", "EDGE"),
        ],
    )
    .await
    .unwrap();
    eventually("drift corrected", T, || async {
        let api = aws.get_rest_api(&id).await.ok()??;
        (api.settings.description == "desired" && api.settings.endpoint_type == "REGIONAL")
            .then_some(())
    })
    .await;
    ns.wait_event("drift", "Normal/Updated").await;

    // Deleted behind our back: created again, and the user is told.
    aws.delete_rest_api(&id).await.unwrap();
    let recreated = eventually("API recreated", T, || async {
        let obj = apis.get("drift").await.ok()?;
        let new_id = obj.status?.rest_api_id?;
        (new_id != id).then_some(new_id)
    })
    .await;
    assert!(aws.get_rest_api(&recreated).await.unwrap().is_some());
    ns.wait_event("drift", "Warning/DeletedOutsideOperator")
        .await;
    apis.delete("drift", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&apis, "drift", T).await;
    ns.delete().await;
}

/// deletionPolicy: Retain leaves the API in AWS when the object goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_leaves_the_api() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "retain").await;
    let _op = Operator::start(&ns.name, Duration::from_secs(30)).await;
    let apis = ns.api::<RestApi>();
    ns.apply::<RestApi>("{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: kept}, spec: {deletionPolicy: Retain}}").await;
    let id = wait_ready(&apis, "kept", "True", T)
        .await
        .status
        .unwrap()
        .rest_api_id
        .unwrap();
    apis.delete("kept", &DeleteParams::default()).await.unwrap();
    wait_deleted(&apis, "kept", T).await;
    let aws = aws().await;
    assert!(
        aws.get_rest_api(&id).await.unwrap().is_some(),
        "retained API still exists"
    );
    aws.delete_rest_api(&id).await.unwrap();
    ns.delete().await;
}

/// An existing API is adopted by id and converged to the spec; deleting the object
/// leaves it (adopted resources are retained unless deletionPolicy says Delete).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopt_existing_api() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "adopt").await;
    let _op = Operator::start(&ns.name, Duration::from_secs(30)).await;
    let aws = aws().await;
    let existing = aws
        .create_rest_api(&apigw_operator::plan::rest_api::RestApiSettings {
            name: "legacy".into(),
            description: "made by hand".into(),
            endpoint_type: "REGIONAL".into(),
            api_key_source: "HEADER".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let apis = ns.api::<RestApi>();
    ns.apply::<RestApi>(&format!(
        "{{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {{name: legacy}}, spec: {{restApiId: {}, description: now managed}}}}",
        existing.id
    ))
    .await;
    let ready = wait_ready(&apis, "legacy", "True", T).await;
    assert_eq!(ready_reason(&ready).0, "Adopted");
    let status = ready.status.unwrap();
    assert_eq!(status.rest_api_id.as_deref(), Some(existing.id.as_str()));
    assert!(status.adopted);
    let api = aws.get_rest_api(&existing.id).await.unwrap().unwrap();
    assert_eq!(api.settings.description, "now managed");
    ns.wait_event("legacy", "Normal/Adopted").await;

    apis.delete("legacy", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&apis, "legacy", T).await;
    assert!(
        aws.get_rest_api(&existing.id).await.unwrap().is_some(),
        "an adopted API is retained by default"
    );
    ns.wait_event("legacy", "Normal/Retained").await;
    aws.delete_rest_api(&existing.id).await.unwrap();
    ns.delete().await;
}

/// Adopting an id that does not exist is a condition and an Event, and creates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopt_missing_api_is_reported() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "adoptmiss").await;
    let op = Operator::start(&ns.name, Duration::from_secs(30)).await;
    let apis = ns.api::<RestApi>();
    ns.apply::<RestApi>("{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: ghost}, spec: {restApiId: zzzzzzzzzz}}").await;
    let failed = wait_ready(&apis, "ghost", "False", T).await;
    let (reason, message) = ready_reason(&failed);
    assert_eq!(reason, "AdoptTargetMissing");
    assert!(message.contains("zzzzzzzzzz"), "{message}");
    eventually("Warning event", T, || async {
        ns.events_for("ghost")
            .await
            .iter()
            .any(|e| e.starts_with("Warning/AdoptTargetMissing"))
            .then_some(())
    })
    .await;
    assert_eq!(op.ctx.aws.stats.calls_of("CreateRestApi"), 0);
    // Deleting an object whose adoption never worked must not hang on the finalizer.
    apis.delete("ghost", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&apis, "ghost", T).await;
    ns.delete().await;
}

/// A policy that is not JSON passes the schema (it is a string) but is a terminal
/// InvalidSpec condition; nothing is created; fixing the spec converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_policy_waits_for_a_fix() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "badpolicy").await;
    let op = Operator::start(&ns.name, Duration::from_secs(30)).await;
    let apis = ns.api::<RestApi>();
    ns.apply::<RestApi>("{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: bad}, spec: {policy: 'Allow everyone'}}").await;
    let failed = wait_ready(&apis, "bad", "False", T).await;
    let (reason, message) = ready_reason(&failed);
    assert_eq!(reason, "InvalidSpec");
    assert!(
        message.contains("spec.policy is not valid JSON"),
        "{message}"
    );
    assert_eq!(
        op.mutating_calls(),
        0,
        "nothing created for an invalid spec"
    );
    apis.patch("bad", &PatchParams::default(), &Patch::Merge(serde_json::json!({"spec": {"policy": "{\"Version\":\"2012-10-17\",\"Statement\":[]}"}})))
        .await
        .unwrap();
    wait_ready(&apis, "bad", "True", T).await;
    apis.delete("bad", &DeleteParams::default()).await.unwrap();
    wait_deleted(&apis, "bad", T).await;
    ns.delete().await;
}

/// AWS unreachable (a closed port): Ready=False with a reason that says it is
/// transient, a Warning Event naming the AWS operation, and retries with backoff
/// rather than a crash loop or a terminal wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_aws_is_retried_with_backoff() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "noaws").await;
    let mut settings = aws_settings();
    // Nothing listens on port 9 of loopback: every call fails to connect.
    settings.endpoint_url = Some("http://127.0.0.1:9".into());
    let op =
        Operator::start_with_aws(client.clone(), &ns.name, Duration::from_secs(30), settings).await;
    let apis = ns.api::<RestApi>();
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: offline}, spec: {}}",
    )
    .await;
    let failed = wait_ready(&apis, "offline", "False", T).await;
    let (reason, message) = ready_reason(&failed);
    assert_eq!(reason, "AwsUnavailable", "{message}");
    assert!(
        message.contains("GetRestApis") || message.contains("GetCallerIdentity"),
        "{message}"
    );
    eventually("Warning event", T, || async {
        ns.events_for("offline")
            .await
            .iter()
            .any(|e| e.starts_with("Warning/AwsUnavailable"))
            .then_some(())
    })
    .await;
    // Retried: more attempts come, spaced by the backoff (max 3 s in tests).
    // The first call of a pass is GetCallerIdentity (the account of the tenant's
    // scope) until it answers once, then the tag scan.
    let attempts = || {
        op.ctx.aws.stats.calls_of("GetRestApis") + op.ctx.aws.stats.calls_of("GetCallerIdentity")
    };
    let first = attempts();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let later = attempts();
    assert!(later > first, "retried ({first} -> {later})");
    assert!(
        later - first <= 8,
        "with backoff, not a hot loop ({first} -> {later})"
    );
    // With AWS gone the finalizer cannot confirm deletion; the object waits (nothing
    // is orphaned). Drop the finalizer by hand to clean up the test.
    drop(op);
    apis.delete("offline", &DeleteParams::default())
        .await
        .unwrap();
    apis.patch(
        "offline",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    wait_deleted(&apis, "offline", T).await;
    ns.delete().await;
}
