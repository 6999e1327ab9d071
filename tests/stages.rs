//! Stages and deployments end to end: automatic (debounced), manual and pinned
//! deployments, shared deployments, stage settings, garbage collection.

mod common;

use std::time::Duration;

use apigw_operator::api::{RestApi, Route, Stage};
use common::*;
use kube::api::{DeleteParams, Patch, PatchParams};

const T: Duration = Duration::from_secs(45);

fn stage(name: &str, deployment: &str, extra: &str) -> String {
    format!(
        "apiVersion: apigw.rs/v1alpha1\nkind: Stage\nmetadata: {{name: {name}}}\nspec:\n  restApiRef: {{name: shop}}\n  stageName: {name}\n  deployment: {deployment}\n{extra}"
    )
}

async fn stage_deployment(
    aws: &apigw_operator::aws::Aws,
    api_id: &str,
    name: &str,
) -> Option<String> {
    aws.get_stages(api_id)
        .await
        .ok()?
        .into_iter()
        .find(|s| s.stage_name == name)?
        .deployment_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_deploy_automatically_manually_and_pinned() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "stages").await;
    let op = Operator::start(&ns.name, Duration::from_secs(2)).await;
    let stages = ns.api::<Stage>();
    let routes = ns.api::<Route>();
    // A stage applied before anything is deployable waits and says why.
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: shop}, spec: {}}",
    )
    .await;
    ns.apply::<Stage>(&stage(
        "dev",
        "{debounceSeconds: 2, keepDeployments: 2}",
        "  variables: {backend: dev.internal}\n  throttling: {rateLimit: 50, burstLimit: 100}\n  tracingEnabled: true\n",
    ))
    .await;
    eventually("dev waits for routes", T, || async {
        let dev = stages.get("dev").await.ok()?;
        (ready_reason(&dev).0 == "WaitingForRoutes").then_some(())
    })
    .await;

    ns.apply::<Route>(
        "{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: items}, spec: {restApiRef: {name: shop}, method: GET, path: /items, integration: {mock: {}}}}",
    )
    .await;
    ns.apply::<Stage>(&stage(
        "prod",
        "{policy: Manual, revision: 1, keepDeployments: 2}",
        "",
    ))
    .await;
    let dev = wait_ready(&stages, "dev", "True", T).await.status.unwrap();
    let prod = wait_ready(&stages, "prod", "True", T).await.status.unwrap();
    let api_id = dev.rest_api_id.clone().unwrap();
    let first = dev.deployment_id.clone().unwrap();
    assert_eq!(
        prod.deployment_id.as_deref(),
        Some(first.as_str()),
        "both stages share the one deployment of this configuration"
    );
    assert_eq!(op.ctx.aws.stats.calls_of("CreateDeployment"), 1);
    assert_eq!(
        dev.invoke_url.as_deref(),
        Some(format!("https://{api_id}.execute-api.us-east-1.amazonaws.com/dev").as_str())
    );
    assert_eq!(prod.deployed_revision, Some(1));
    let aws = aws().await;
    let observed = aws.get_stages(&api_id).await.unwrap();
    let dev_stage = observed.iter().find(|s| s.stage_name == "dev").unwrap();
    assert_eq!(dev_stage.deployment_id.as_deref(), Some(first.as_str()));
    assert_eq!(
        dev_stage.variables.get("backend").map(String::as_str),
        Some("dev.internal")
    );
    assert!(dev_stage.tracing_enabled);
    let defaults = &dev_stage.method_settings["*/*"];
    assert_eq!(
        (
            defaults.throttling_rate_limit,
            defaults.throttling_burst_limit
        ),
        (50.0, 100)
    );
    let route = wait_ready(&routes, "items", "True", T)
        .await
        .status
        .unwrap();
    assert_eq!(
        route.invoke_urls.get("dev").map(String::as_str),
        Some(format!("https://{api_id}.execute-api.us-east-1.amazonaws.com/dev/items").as_str())
    );

    // Converged: resyncs write nothing.
    let writes = op.mutating_calls();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        op.mutating_calls(),
        writes,
        "converged stages cost no writes: {:?}",
        op.ctx.aws.stats.snapshot()
    );

    // A burst of edits becomes one deployment of the last configuration, to dev only.
    for code in [201, 202, 203] {
        routes
            .patch(
                "items",
                &PatchParams::default(),
                &Patch::Merge(
                    serde_json::json!({"spec": {"integration": {"mock": {"statusCode": code}}}}),
                ),
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let second = eventually("dev redeployed", T, || async {
        let id = stage_deployment(&aws, &api_id, "dev").await?;
        (id != first).then_some(id)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        op.ctx.aws.stats.calls_of("CreateDeployment"),
        2,
        "one deployment for the burst"
    );
    assert_eq!(
        stage_deployment(&aws, &api_id, "prod").await.as_deref(),
        Some(first.as_str()),
        "Manual stage stays"
    );
    let dev = wait_ready(&stages, "dev", "True", T).await.status.unwrap();
    assert_eq!(dev.history.len(), 2);
    assert_eq!(dev.history[0].deployment_id, second);

    // Bumping prod's revision promotes the configuration dev already serves: no new deployment.
    stages
        .patch(
            "prod",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"deployment": {"revision": 2}}})),
        )
        .await
        .unwrap();
    eventually("prod promoted", T, || async {
        (stage_deployment(&aws, &api_id, "prod").await? == second).then_some(())
    })
    .await;
    assert_eq!(op.ctx.aws.stats.calls_of("CreateDeployment"), 2);

    // Pinned: a stage serving an exact deployment, for example the previous one (rollback).
    ns.apply::<Stage>(&stage(
        "rollback",
        &format!("{{policy: Pinned, deploymentId: {first}}}"),
        "",
    ))
    .await;
    wait_ready(&stages, "rollback", "True", T).await;
    assert_eq!(
        stage_deployment(&aws, &api_id, "rollback").await.as_deref(),
        Some(first.as_str())
    );

    // Old deployments that no stage uses are collected, beyond keepDeployments.
    stages
        .delete("rollback", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&stages, "rollback", T).await;
    assert!(
        stage_deployment(&aws, &api_id, "rollback").await.is_none(),
        "stage deleted in AWS"
    );
    routes
        .patch(
            "items",
            &PatchParams::default(),
            &Patch::Merge(
                serde_json::json!({"spec": {"integration": {"mock": {"statusCode": 204}}}}),
            ),
        )
        .await
        .unwrap();
    let third = eventually("dev redeployed again", T, || async {
        let id = stage_deployment(&aws, &api_id, "dev").await?;
        (id != second && id != first).then_some(id)
    })
    .await;
    eventually("unused deployment collected", T, || async {
        let ids: Vec<String> = aws
            .get_deployments(&api_id)
            .await
            .ok()?
            .into_iter()
            .map(|d| d.id)
            .collect();
        (!ids.contains(&first) && ids.contains(&second) && ids.contains(&third)).then_some(())
    })
    .await;

    ns.api::<RestApi>()
        .delete("shop", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&ns.api::<RestApi>(), "shop", T).await;
    for name in ["dev", "prod"] {
        stages.delete(name, &DeleteParams::default()).await.unwrap();
        wait_deleted(&stages, name, T).await;
    }
    routes
        .delete("items", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&routes, "items", T).await;
    ns.delete().await;
}
