//! Authorizers end to end: Cognito (pool checked) and Lambda TOKEN authorizers,
//! routes protected by them, invoke permissions, and deletion refused while in use.

mod common;

use std::time::Duration;

use apigw_operator::api::{Authorizer, RestApi, Route};
use common::*;
use kube::api::{DeleteParams, Patch, PatchParams};

const T: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorizers_protect_routes() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "authz").await;
    let pool = seed_user_pool("authz-test-users");
    seed_functions(&["authorize-token", "photos-backend"]);
    let op = Operator::start(&ns.name, Duration::from_secs(30)).await;
    let authorizers = ns.api::<Authorizer>();
    let routes = ns.api::<Route>();
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: photos}, spec: {}}",
    )
    .await;
    ns.apply::<Authorizer>(&format!(
        "{{apiVersion: apigw.rs/v1alpha1, kind: Authorizer, metadata: {{name: users}}, spec: {{restApiRef: {{name: photos}}, cognito: {{userPools: [{pool}]}}}}}}"
    ))
    .await;
    ns.apply::<Authorizer>(
        "{apiVersion: apigw.rs/v1alpha1, kind: Authorizer, metadata: {name: token}, spec: {restApiRef: {name: photos}, lambda: {functionName: authorize-token}, identityValidationExpression: '^Bearer .+$', resultTtlSeconds: 60}}",
    )
    .await;
    ns.apply::<Route>(
        "{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: upload}, spec: {restApiRef: {name: photos}, method: PUT, path: /photos, authorization: {authorizerRef: {name: users}, scopes: [photos/write]}, integration: {lambda: {functionName: photos-backend}}}}",
    )
    .await;
    ns.apply::<Route>(
        "{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: list}, spec: {restApiRef: {name: photos}, method: GET, path: /photos, authorization: {authorizerRef: {name: token}}, integration: {lambda: {functionName: photos-backend}}}}",
    )
    .await;
    ns.apply::<Route>(
        "{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: admin}, spec: {restApiRef: {name: photos}, method: DELETE, path: /photos, authorization: {iam: true}, apiKeyRequired: true, integration: {mock: {}}}}",
    )
    .await;

    let users = wait_ready(&authorizers, "users", "True", T)
        .await
        .status
        .unwrap();
    let token = wait_ready(&authorizers, "token", "True", T)
        .await
        .status
        .unwrap();
    for name in ["upload", "list", "admin"] {
        wait_ready(&routes, name, "True", T).await;
    }
    let api_id = users.rest_api_id.clone().unwrap();
    let users_id = users.authorizer_id.unwrap();
    let token_id = token.authorizer_id.unwrap();
    let aws = aws().await;
    let observed = aws.get_authorizers(&api_id).await.unwrap();
    assert_eq!(observed.len(), 2);
    let cognito = observed.iter().find(|a| a.id == users_id).unwrap();
    assert_eq!(cognito.settings.type_, "COGNITO_USER_POOLS");
    assert!(
        cognito
            .settings
            .provider_arns
            .iter()
            .any(|arn| arn.ends_with(&format!("userpool/{pool}")))
    );
    let lambda = observed.iter().find(|a| a.id == token_id).unwrap();
    assert_eq!(lambda.settings.type_, "TOKEN");
    assert_eq!(lambda.settings.result_ttl, 60);

    let resources = aws.get_resources(&api_id).await.unwrap();
    let photos = resources.iter().find(|r| r.path == "/photos").unwrap();
    let put = &photos.methods["PUT"];
    assert_eq!(
        (
            put.authorization_type.as_str(),
            put.authorizer_id.as_deref()
        ),
        ("COGNITO_USER_POOLS", Some(users_id.as_str()))
    );
    assert!(put.authorization_scopes.contains("photos/write"));
    let get = &photos.methods["GET"];
    assert_eq!(
        (
            get.authorization_type.as_str(),
            get.authorizer_id.as_deref()
        ),
        ("CUSTOM", Some(token_id.as_str()))
    );
    let delete = &photos.methods["DELETE"];
    assert_eq!(delete.authorization_type, "AWS_IAM");
    assert!(delete.api_key_required);

    // The Lambda authorizer's function gets its own statement, scoped to the authorizer.
    let statements = aws
        .get_policy_statements(
            "arn:aws:lambda:us-east-1:123456789012:function:authorize-token",
            None,
        )
        .await
        .unwrap()
        .unwrap();
    let source =
        format!("arn:aws:execute-api:us-east-1:123456789012:{api_id}/authorizers/{token_id}");
    assert!(
        statements.contains(&(
            format!("apigw-{api_id}-authorizer-{token_id}"),
            Some(source)
        )),
        "{statements:?}"
    );

    // Edits update the authorizer in place (same id).
    authorizers
        .patch(
            "token",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"resultTtlSeconds": 120}})),
        )
        .await
        .unwrap();
    eventually("TTL updated", T, || async {
        let a = aws
            .get_authorizers(&api_id)
            .await
            .ok()?
            .into_iter()
            .find(|a| a.id == token_id)?;
        (a.settings.result_ttl == 120).then_some(())
    })
    .await;

    // A pool that does not exist: a condition on the authorizer, and its routes wait.
    ns.apply::<Authorizer>(
        "{apiVersion: apigw.rs/v1alpha1, kind: Authorizer, metadata: {name: nopool}, spec: {restApiRef: {name: photos}, cognito: {userPools: [us-east-1_DoesNotExist1]}}}",
    )
    .await;
    ns.apply::<Route>(
        "{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: waits}, spec: {restApiRef: {name: photos}, method: POST, path: /photos, authorization: {authorizerRef: {name: nopool}}, integration: {mock: {}}}}",
    )
    .await;
    let nopool = wait_ready(&authorizers, "nopool", "False", T).await;
    let (reason, message) = ready_reason(&nopool);
    assert_eq!(reason, "UserPoolNotFound");
    assert!(message.contains("us-east-1_DoesNotExist1"), "{message}");
    let waits = wait_ready(&routes, "waits", "False", T).await;
    assert_eq!(ready_reason(&waits).0, "AuthorizerNotReady");
    let resources = aws.get_resources(&api_id).await.unwrap();
    assert!(
        !resources
            .iter()
            .find(|r| r.path == "/photos")
            .unwrap()
            .methods
            .contains_key("POST"),
        "never exposed unprotected"
    );

    // Deleting an authorizer in use is refused until its routes go.
    authorizers
        .delete("users", &DeleteParams::default())
        .await
        .unwrap();
    eventually("InUse reported", T, || async {
        let a = authorizers.get("users").await.ok()?;
        let (reason, message) = ready_reason(&a);
        (reason == "InUse" && message.contains("upload")).then_some(())
    })
    .await;
    assert!(
        aws.get_authorizers(&api_id)
            .await
            .unwrap()
            .iter()
            .any(|a| a.id == users_id),
        "still in AWS while used"
    );
    routes
        .delete("upload", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&authorizers, "users", T).await;
    assert!(
        !aws.get_authorizers(&api_id)
            .await
            .unwrap()
            .iter()
            .any(|a| a.id == users_id),
        "deleted once unused"
    );
    assert!(op.ctx.aws.stats.calls_of("DescribeUserPool") >= 1);

    ns.api::<RestApi>()
        .delete("photos", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&ns.api::<RestApi>(), "photos", T).await;
    for name in ["list", "admin", "waits"] {
        routes.delete(name, &DeleteParams::default()).await.unwrap();
    }
    for name in ["token", "nopool"] {
        authorizers
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
        wait_deleted(&authorizers, name, T).await;
    }
    ns.delete().await;
}
