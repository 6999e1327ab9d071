//! Idempotency across failures between "create in AWS" and "record in status".

mod common;

use std::time::Duration;

use apigw_operator::api::RestApi;
use apigw_operator::plan::rest_api::OWNER_UID_TAG;
use common::*;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};

const T: Duration = Duration::from_secs(30);

async fn apis_tagged(aws: &apigw_operator::aws::Aws, uid: &str) -> usize {
    let out = aws
        .apigateway
        .get_rest_apis()
        .limit(500)
        .send()
        .await
        .expect("GetRestApis");
    out.items()
        .iter()
        .filter(|a| {
            a.tags()
                .and_then(|t| t.get(OWNER_UID_TAG))
                .map(String::as_str)
                == Some(uid)
        })
        .count()
}

/// The operator's Role in the test namespace: everything the chart grants, except
/// writing the status of `withheld` (for example `restapis/status`), if given.
fn role_yaml(name: &str, withheld: Option<&str>) -> String {
    let statuses: Vec<&str> = [
        "restapis/status",
        "routes/status",
        "authorizers/status",
        "stages/status",
        "domainnames/status",
        "usageplans/status",
        "apikeys/status",
        "websocketapis/status",
    ]
    .into_iter()
    .filter(|s| Some(*s) != withheld)
    .collect();
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: {name}}}
rules:
- {{apiGroups: [apigw.rs], resources: [restapis, routes, authorizers, stages, domainnames, usageplans, apikeys, websocketapis], verbs: [get, list, watch, patch, update]}}
- {{apiGroups: [apigw.rs], resources: [{}], verbs: [get, patch, update]}}
- {{apiGroups: [''], resources: [secrets], verbs: [get, list, watch, create, patch]}}
- {{apiGroups: [events.k8s.io], resources: [events], verbs: [create, patch]}}
",
        statuses.join(", ")
    )
}

/// A client acting as a user bound to the Role `operator` in the namespace, which
/// may not write the status of `withheld`.
async fn limited_client(ns: &TestNamespace, withheld: &str) -> Client {
    let user = format!("apigw-limited-{}", ns.name);
    ns.apply::<Role>(&role_yaml("operator", Some(withheld)))
        .await;
    ns.apply::<RoleBinding>(&format!(
        "apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: operator}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: operator}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: {user}}}]
"
    ))
    .await;
    // What the chart grants cluster-wide in every mode: reading AwsAccountBindings
    // and namespace labels (which account a namespace uses), binding status.
    let cluster = PatchParams::apply("kubectl-test").force();
    let reads: ClusterRole = serde_yaml::from_str(
        "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: apigw-test-tenancy-reads}
rules:
- {apiGroups: [apigw.rs], resources: [awsaccountbindings], verbs: [get, list, watch]}
- {apiGroups: [apigw.rs], resources: [awsaccountbindings/status], verbs: [patch]}
- {apiGroups: [''], resources: [namespaces], verbs: [get, list, watch]}
",
    )
    .unwrap();
    Api::<ClusterRole>::all(ns.client.clone())
        .patch("apigw-test-tenancy-reads", &cluster, &Patch::Apply(&reads))
        .await
        .expect("apply ClusterRole");
    let bound: ClusterRoleBinding = serde_yaml::from_str(&format!(
        "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {user}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: apigw-test-tenancy-reads}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: {user}}}]
"
    ))
    .unwrap();
    Api::<ClusterRoleBinding>::all(ns.client.clone())
        .patch(&user, &cluster, &Patch::Apply(&bound))
        .await
        .expect("apply ClusterRoleBinding");
    let mut config = kube_config().await;
    config.auth_info.impersonate = Some(user);
    Client::try_from(config).unwrap()
}

/// The status write fails (the operator's identity may not write status) right
/// after the API was created. Every retry finds the API by its owner tag instead
/// of creating another; once status may be written the object becomes Ready with
/// the one API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_status_write_never_duplicates_the_api() {
    let admin = client().await;
    let ns = TestNamespace::new(&admin, "crash").await;
    let limited = limited_client(&ns, "restapis/status").await;
    let op = Operator::start_with(limited, &ns.name, Duration::from_secs(30)).await;

    let apis = ns.api::<RestApi>();
    let obj = ns
        .apply::<RestApi>(
            "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: once}, spec: {}}",
        )
        .await;
    let uid = obj.uid().unwrap();

    // Created once, then the status write is refused and the reconcile retried.
    eventually("create attempted and retried", T, || async {
        (op.ctx.aws.stats.calls_of("CreateRestApi") == 1
            && op.ctx.aws.stats.calls_of("GetRestApis") >= 3)
            .then_some(())
    })
    .await;
    let current = apis.get("once").await.unwrap();
    assert!(
        current.status.and_then(|s| s.rest_api_id).is_none(),
        "status could not be written"
    );
    let aws = aws().await;
    assert_eq!(
        apis_tagged(&aws, &uid).await,
        1,
        "retries found the API by tag instead of creating more"
    );

    // Allow status writes: the object converges on the same single API.
    ns.apply::<Role>(&role_yaml("operator", None)).await;
    let ready = wait_ready(&apis, "once", "True", Duration::from_secs(60)).await;
    let id = ready.status.unwrap().rest_api_id.unwrap();
    assert_eq!(op.ctx.aws.stats.calls_of("CreateRestApi"), 1);
    assert_eq!(apis_tagged(&aws, &uid).await, 1);

    drop(op);
    // Clean up with an unrestricted operator.
    let _cleanup = Operator::start(&ns.name, Duration::from_secs(30)).await;
    apis.delete("once", &DeleteParams::default()).await.unwrap();
    wait_deleted(&apis, "once", T).await;
    assert!(aws.get_rest_api(&id).await.unwrap().is_none());
    ns.delete().await;
}

/// The same for a WebSocketApi with an authorizer and routes: a pass whose status
/// write is refused makes them once; every retry finds the API by its owner tag,
/// the routes by key, their integrations through the routes and the authorizer
/// through the `$connect` route, so nothing is made twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_status_write_never_duplicates_a_websocket_api() {
    use apigw_operator::api::WebSocketApi;
    let admin = client().await;
    let ns = TestNamespace::new(&admin, "wscrash").await;
    seed_functions(&["ws-crash", "ws-crash-auth"]);
    let limited = limited_client(&ns, "websocketapis/status").await;
    let op = Operator::start_with(limited, &ns.name, Duration::from_secs(30)).await;
    let apis = ns.api::<WebSocketApi>();
    let obj = ns
        .apply::<WebSocketApi>(
            r#"
            apiVersion: apigw.rs/v1alpha1
            kind: WebSocketApi
            metadata: {name: once}
            spec:
              authorizers: [{name: token, lambda: {functionName: ws-crash-auth, identitySources: [route.request.querystring.token]}}]
              routes:
                - {routeKey: $connect, functionName: ws-crash, authorizer: token}
                - {routeKey: subscribe, functionName: ws-crash}
            "#,
        )
        .await;
    let uid = obj.uid().unwrap();

    eventually("create attempted and retried", T, || async {
        (op.ctx.aws.stats.calls_of("CreateApi") == 1 && op.ctx.aws.stats.calls_of("GetApis") >= 3)
            .then_some(())
    })
    .await;
    let stats = &op.ctx.aws.stats;
    let made_once = || {
        for (operation, times) in [
            ("CreateApi", 1),
            ("CreateAuthorizer", 1),
            ("CreateIntegration", 2),
            ("CreateRoute", 2),
        ] {
            assert_eq!(stats.calls_of(operation), times, "{operation}");
        }
    };
    made_once();
    assert!(
        apis.get("once")
            .await
            .unwrap()
            .status
            .and_then(|s| s.api_id)
            .is_none(),
        "status could not be written"
    );

    ns.apply::<Role>(&role_yaml("operator", None)).await;
    let ready = wait_ready(&apis, "once", "True", Duration::from_secs(60)).await;
    let status = ready.status.unwrap();
    let id = status.api_id.unwrap();
    assert_eq!(status.authorizers.len(), 1);
    made_once();
    let aws = aws().await;
    let found = aws
        .find_websocket_api_by_tag(OWNER_UID_TAG, &uid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, id);
    assert_eq!(aws.get_websocket_routes(&id).await.unwrap().len(), 2);
    assert_eq!(aws.get_websocket_integrations(&id).await.unwrap().len(), 2);

    drop(op);
    let _cleanup = Operator::start(&ns.name, Duration::from_secs(30)).await;
    apis.delete("once", &DeleteParams::default()).await.unwrap();
    wait_deleted(&apis, "once", T).await;
    assert!(aws.get_websocket_api(&id).await.unwrap().is_none());
    ns.delete().await;
}
