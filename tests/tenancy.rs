//! A shared cluster: namespaces as tenants, on the real kube-apiserver with moto as
//! AWS (moto keeps a separate backend per account after STS AssumeRole, so two
//! bound accounts really do not see each other). AWS calls are counted at a
//! recording proxy in front of moto, where AWS would see them. moto gaps met here:
//! AssumeRole succeeds for any role (no trust policy is checked), so a role that
//! cannot be assumed is played by the proxy answering 403 AccessDenied.

mod common;

use std::time::Duration;

use apigw_operator::api::{Authorizer, AwsAccountBinding, DomainName, RestApi, Route};
use apigw_operator::controller::tenancy::Placement;
use common::proxy::Proxy;
use common::*;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client};

const T: Duration = Duration::from_secs(60);

/// A cluster-scoped binding, applied as a platform team would.
async fn bind(client: &Client, name: &str, spec: &str) -> AwsAccountBinding {
    let obj: AwsAccountBinding = serde_yaml::from_str(&format!(
        "{{apiVersion: apigw.rs/v1alpha1, kind: AwsAccountBinding, metadata: {{name: {name}}}, spec: {spec}}}"
    ))
    .expect("binding manifest parses");
    Api::<AwsAccountBinding>::all(client.clone())
        .patch(
            name,
            &PatchParams::apply("kubectl-test").force(),
            &Patch::Apply(&obj),
        )
        .await
        .unwrap_or_else(|e| panic!("apply binding {name}: {e}"))
}

async fn unbind(client: &Client, name: &str) {
    let _ = Api::<AwsAccountBinding>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await;
}

fn via(proxy: &Proxy) -> apigw_operator::aws::AwsSettings {
    apigw_operator::aws::AwsSettings {
        endpoint_url: Some(proxy.url.clone()),
        ..aws_settings()
    }
}

fn writes(seen: &[common::proxy::Seen]) -> Vec<String> {
    seen.iter()
        .filter(|s| s.is_write())
        .map(|s| format!("{} {}", s.method, s.path))
        .collect()
}

/// Namespace B tries to adopt namespace A's API and domain name: refused (the
/// condition names A's object), nothing written to AWS by B's operator (counted at
/// its proxy), and deleting B's objects leaves A's resources. An API left behind
/// by a deleted object is taken over only with adoptOrphaned, and is retained when
/// its adopter goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_namespace_cannot_take_anothers_api_or_domain() {
    let client = client().await;
    let a = TestNamespace::new(&client, "tenant-a").await;
    let b = TestNamespace::new(&client, "tenant-b").await;
    let aws = aws().await;
    let _op_a = Operator::start(&a.name, Duration::from_secs(5)).await;
    let proxy = Proxy::start(&aws_endpoint(), &[]).await;
    let _op_b =
        Operator::start_with_aws(client.clone(), &b.name, Duration::from_secs(2), via(&proxy))
            .await;

    a.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: photos}, spec: {description: team a}}",
    )
    .await;
    let photos = wait_ready(&a.api::<RestApi>(), "photos", "True", T).await;
    let id = photos.status.unwrap().rest_api_id.unwrap();
    let domain = format!("shared.{}.example.com", a.name);
    let cert = seed_certificate(&domain, "us-east-1");
    a.apply::<DomainName>(&format!(
        "{{apiVersion: apigw.rs/v1alpha1, kind: DomainName, metadata: {{name: api}}, spec: {{domainName: {domain}, certificateArn: {cert}}}}}"
    ))
    .await;
    wait_ready(&a.api::<DomainName>(), "api", "True", T).await;

    // B names A's API, even saying adoptOrphaned: the live owner wins.
    b.apply::<RestApi>(&format!(
        "{{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {{name: intruder}}, spec: {{restApiId: {id}, adoptOrphaned: true, deletionPolicy: Delete, description: taken}}}}"
    ))
    .await;
    let intruder = wait_ready(&b.api::<RestApi>(), "intruder", "False", T).await;
    let (reason, message) = ready_reason(&intruder);
    assert_eq!(reason, "AdoptTargetOwned");
    assert!(
        message.contains(&format!("RestApi {}/photos", a.name)),
        "{message}"
    );
    b.wait_event("intruder", "Warning/AdoptTargetOwned").await;

    // B's DomainName of A's name: refused without adopt, and refused with it.
    let b_domain = |adopt: &str| {
        format!(
            "{{apiVersion: apigw.rs/v1alpha1, kind: DomainName, metadata: {{name: api}}, spec: {{domainName: {domain}, certificateArn: {cert}, deletionPolicy: Delete{adopt}}}}}"
        )
    };
    b.apply::<DomainName>(&b_domain("")).await;
    let refused = wait_ready(&b.api::<DomainName>(), "api", "False", T).await;
    assert_eq!(ready_reason(&refused).0, "AdoptionNotRequested");
    b.apply::<DomainName>(&b_domain(", adopt: true, adoptOrphaned: true"))
        .await;
    let refused = wait_ready(&b.api::<DomainName>(), "api", "False", T).await;
    let (reason, message) = ready_reason(&refused);
    assert_eq!(reason, "AdoptTargetOwned");
    assert!(
        message.contains(&format!("DomainName {}/api", a.name)),
        "{message}"
    );

    // Deleting B's objects touches nothing of A's.
    b.api::<RestApi>()
        .delete("intruder", &DeleteParams::default())
        .await
        .unwrap();
    b.api::<DomainName>()
        .delete("api", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&b.api::<RestApi>(), "intruder", T).await;
    wait_deleted(&b.api::<DomainName>(), "api", T).await;
    let api = aws
        .get_rest_api(&id)
        .await
        .unwrap()
        .expect("A's API is still there");
    assert_eq!(api.settings.description, "team a");
    assert_eq!(
        api.settings.tags.get("apigw.rs/owner").map(String::as_str),
        Some(format!("{}/photos", a.name).as_str())
    );
    let kept_domain = aws
        .get_domain_name(&domain)
        .await
        .unwrap()
        .expect("A's domain is still there");
    assert_eq!(
        kept_domain
            .settings
            .tags
            .get("apigw.rs/owner")
            .map(String::as_str),
        Some(format!("{}/api", a.name).as_str())
    );
    assert_eq!(
        writes(&proxy.seen()),
        Vec::<String>::new(),
        "B's operator wrote nothing to AWS"
    );
    assert!(
        !proxy.seen().is_empty(),
        "B's operator did read (through the proxy)"
    );

    // An API whose maker is gone: adopted only when asked, then retained by default.
    a.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: legacy}, spec: {deletionPolicy: Retain}}",
    )
    .await;
    let legacy = wait_ready(&a.api::<RestApi>(), "legacy", "True", T).await;
    let legacy_id = legacy.status.unwrap().rest_api_id.unwrap();
    a.api::<RestApi>()
        .delete("legacy", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&a.api::<RestApi>(), "legacy", T).await;
    let heir = |orphaned: bool| {
        format!(
            "{{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {{name: heir}}, spec: {{restApiId: {legacy_id}, adoptOrphaned: {orphaned}}}}}"
        )
    };
    b.apply::<RestApi>(&heir(false)).await;
    let orphan = wait_ready(&b.api::<RestApi>(), "heir", "False", T).await;
    let (reason, message) = ready_reason(&orphan);
    assert_eq!(reason, "AdoptTargetOrphaned");
    assert!(message.contains("adoptOrphaned"), "{message}");
    assert_eq!(writes(&proxy.seen()), Vec::<String>::new());
    b.apply::<RestApi>(&heir(true)).await;
    let adopted = wait_ready(&b.api::<RestApi>(), "heir", "True", T).await;
    assert_eq!(ready_reason(&adopted).0, "Adopted");
    b.api::<RestApi>()
        .delete("heir", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&b.api::<RestApi>(), "heir", T).await;
    assert!(
        aws.get_rest_api(&legacy_id).await.unwrap().is_some(),
        "an adopted API is retained unless deletionPolicy says Delete"
    );
    b.wait_event("heir", "Normal/Retained").await;

    // Status is no proof of ownership: B's tenant, whose Role may write the
    // status subresource, writes A's API id into its own RestApi's status and
    // `adopted: true` into a DomainName's. Refused, with no write to AWS; deleting
    // them leaves A's API and domain, and deletes the API B really made.
    b.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: forger}, spec: {description: forger, deletionPolicy: Delete}}",
    )
    .await;
    let forger = wait_ready(&b.api::<RestApi>(), "forger", "True", T).await;
    let forger_own = forger.status.unwrap().rest_api_id.unwrap();
    b.apply::<DomainName>(&b_domain("")).await;
    wait_ready(&b.api::<DomainName>(), "api", "False", T).await;
    let mark = proxy.mark();
    b.api::<RestApi>()
        .patch_status(
            "forger",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"status": {"restApiId": id}})),
        )
        .await
        .unwrap();
    b.api::<DomainName>()
        .patch_status(
            "api",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"status": {"adopted": true}})),
        )
        .await
        .unwrap();
    b.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: forger}, spec: {description: forged, deletionPolicy: Delete}}",
    )
    .await;
    let forged = wait_ready(&b.api::<RestApi>(), "forger", "False", T).await;
    let (reason, message) = ready_reason(&forged);
    assert_eq!(reason, "AdoptTargetOwned", "{message}");
    assert!(
        message.contains(&id) && message.contains("spec.adopt"),
        "{message}"
    );
    b.apply::<DomainName>(&b_domain(", tags: {team: b}")).await;
    let domain_forged = wait_ready(&b.api::<DomainName>(), "api", "False", T).await;
    assert_eq!(ready_reason(&domain_forged).0, "AdoptionNotRequested");
    assert_eq!(
        writes(&proxy.since(mark)),
        Vec::<String>::new(),
        "nothing written for a forged status"
    );
    b.api::<RestApi>()
        .delete("forger", &DeleteParams::default())
        .await
        .unwrap();
    b.api::<DomainName>()
        .delete("api", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&b.api::<RestApi>(), "forger", T).await;
    wait_deleted(&b.api::<DomainName>(), "api", T).await;
    assert_eq!(
        aws.get_rest_api(&id)
            .await
            .unwrap()
            .expect("A's API stays")
            .settings
            .description,
        "team a"
    );
    assert!(
        aws.get_domain_name(&domain).await.unwrap().is_some(),
        "A's domain stays"
    );
    assert!(
        aws.get_rest_api(&forger_own).await.unwrap().is_none(),
        "the API B made is deleted with its object, found by its owner tags"
    );

    aws.delete_rest_api(&legacy_id).await.unwrap();
    a.api::<RestApi>()
        .delete("photos", &DeleteParams::default())
        .await
        .unwrap();
    a.api::<DomainName>()
        .delete("api", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&a.api::<RestApi>(), "photos", T).await;
    wait_deleted(&a.api::<DomainName>(), "api", T).await;
    assert!(aws.get_rest_api(&id).await.unwrap().is_none());
    a.delete().await;
    b.delete().await;
}

/// Two namespaces bound to two accounts (roles assumed with STS): each API lives in
/// its own account, invisible from the other and from the operator's own; status
/// says where; each account has its own limiter and metrics. A namespace two
/// bindings match is a condition on the object and on both bindings; a binding
/// moved to another account refuses the object rather than duplicate its API.
/// One operator watches both namespaces (`--namespaces`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_namespaces_in_two_accounts() {
    let client = client().await;
    let a = TestNamespace::new(&client, "acct-a").await;
    let b = TestNamespace::new(&client, "acct-b").await;
    let (bind_a, bind_b, bind_c) = (
        format!("{}-binding", a.name),
        format!("{}-binding", b.name),
        format!("{}-extra", a.name),
    );
    bind(
        &client,
        &bind_a,
        &format!("{{namespaces: [{}], roleArn: 'arn:aws:iam::111111111111:role/apigw-team-a', externalId: ext-team-a}}", a.name),
    )
    .await;
    bind(
        &client,
        &bind_b,
        &format!(
            "{{namespaces: [{}], roleArn: 'arn:aws:iam::222222222222:role/apigw-team-b'}}",
            b.name
        ),
    )
    .await;
    let op = Operator::start_custom(
        client.clone(),
        &a.name,
        Duration::from_secs(3),
        aws_settings(),
        |s| {
            s.namespace = None;
            s.namespaces = vec![a.name.clone(), b.name.clone()];
        },
    )
    .await;
    for ns in [&a, &b] {
        ns.apply::<RestApi>(
            "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: api}, spec: {description: tenant}}",
        )
        .await;
    }
    let api_a = wait_ready(&a.api::<RestApi>(), "api", "True", T)
        .await
        .status
        .unwrap();
    let api_b = wait_ready(&b.api::<RestApi>(), "api", "True", T)
        .await
        .status
        .unwrap();
    assert_eq!(api_a.tenant.account_id.as_deref(), Some("111111111111"));
    assert_eq!(api_b.tenant.account_id.as_deref(), Some("222222222222"));
    assert_eq!(api_a.tenant.region.as_deref(), Some("us-east-1"));
    let (id_a, id_b) = (api_a.rest_api_id.unwrap(), api_b.rest_api_id.unwrap());
    assert!(api_a.execute_api_arn.unwrap().contains(":111111111111:"));

    let tenancy = &op.ctx.tenancy;
    let in_a = tenancy
        .scope(&a.name, &Placement::default())
        .await
        .unwrap()
        .aws;
    let in_b = tenancy
        .scope(&b.name, &Placement::default())
        .await
        .unwrap()
        .aws;
    assert!(in_a.get_rest_api(&id_a).await.unwrap().is_some());
    assert!(
        in_a.get_rest_api(&id_b).await.unwrap().is_none(),
        "B's API is not in A's account"
    );
    assert!(
        in_b.get_rest_api(&id_a).await.unwrap().is_none(),
        "A's API is not in B's account"
    );
    let own = aws().await;
    assert!(
        own.get_rest_api(&id_a).await.unwrap().is_none(),
        "nor in the operator's own"
    );

    let metrics = apigw_operator::telemetry::render_all(&op.ctx);
    for account in ["111111111111", "222222222222"] {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with("apigw_aws_account_calls_total")
                    && l.contains(&format!("account=\"{account}\",region=\"us-east-1\""))
            })
            .unwrap_or_else(|| panic!("no limiter line for {account} in\n{metrics}"));
        let calls: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(calls > 0, "{line}");
    }

    let bindings = Api::<AwsAccountBinding>::all(client.clone());
    let status_a = eventually("binding A reports its account", T, || async {
        let s = bindings.get(&bind_a).await.ok()?.status?;
        (s.account_id.as_deref() == Some("111111111111") && s.namespaces.is_some()).then_some(s)
    })
    .await;
    assert_eq!(status_a.namespaces.as_deref(), Some(a.name.as_str()));

    // A second binding for namespace A, by label: a conflict, not a guess.
    Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .patch(
            &a.name,
            &PatchParams::default(),
            &Patch::Merge(
                serde_json::json!({"metadata": {"labels": {"apigw-test-tenant": a.name.clone()}}}),
            ),
        )
        .await
        .unwrap();
    bind(
        &client,
        &bind_c,
        &format!(
            "{{namespaceSelector: {{matchLabels: {{apigw-test-tenant: {}}}}}}}",
            a.name
        ),
    )
    .await;
    let conflict = wait_ready(&a.api::<RestApi>(), "api", "False", T).await;
    let (reason, message) = ready_reason(&conflict);
    assert_eq!(reason, "AccountBindingConflict");
    assert!(
        message.contains(&bind_a) && message.contains(&bind_c),
        "{message}"
    );
    eventually("both bindings report the conflict", T, || async {
        let c = bindings.get(&bind_c).await.ok()?;
        (ready_reason(&c).0 == "AccountBindingConflict").then_some(())
    })
    .await;
    unbind(&client, &bind_c).await;
    wait_ready(&a.api::<RestApi>(), "api", "True", T).await;

    // B's binding moved to another account: refused, nothing made there.
    bind(
        &client,
        &bind_b,
        &format!(
            "{{namespaces: [{}], roleArn: 'arn:aws:iam::333333333333:role/apigw-team-b'}}",
            b.name
        ),
    )
    .await;
    let moved = eventually("the move is refused", T, || async {
        let api = b.api::<RestApi>().get("api").await.ok()?;
        (ready_reason(&api).0 == "AccountChanged").then_some(api)
    })
    .await;
    assert!(
        ready_reason(&moved).1.contains("222222222222"),
        "{:?}",
        ready_reason(&moved)
    );
    let in_c = tenancy
        .scope(&b.name, &Placement::default())
        .await
        .unwrap()
        .aws;
    assert!(
        in_c.find_rest_api_by_tag("apigw.rs/owner", &format!("{}/api", b.name))
            .await
            .unwrap()
            .is_none()
    );
    bind(
        &client,
        &bind_b,
        &format!(
            "{{namespaces: [{}], roleArn: 'arn:aws:iam::222222222222:role/apigw-team-b'}}",
            b.name
        ),
    )
    .await;
    wait_ready(&b.api::<RestApi>(), "api", "True", T).await;

    // Deleted in their own accounts.
    for ns in [&a, &b] {
        ns.api::<RestApi>()
            .delete("api", &DeleteParams::default())
            .await
            .unwrap();
        wait_deleted(&ns.api::<RestApi>(), "api", T).await;
    }
    assert!(in_a.get_rest_api(&id_a).await.unwrap().is_none());
    assert!(in_b.get_rest_api(&id_b).await.unwrap().is_none());
    drop(op);
    unbind(&client, &bind_a).await;
    unbind(&client, &bind_b).await;
    a.delete().await;
    b.delete().await;
}

/// With --require-account-binding an unbound namespace gets NoAccountBinding and no
/// AWS call; once bound, references outside the allow-lists are refused by value
/// and binding, and nothing naming them is made (no method, no invoke grant).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_lists_and_the_required_binding() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "allow").await;
    let binding = format!("{}-binding", ns.name);
    seed_functions(&["team-c-ok", "payroll"]);
    let pool = seed_user_pool("tenancy-pool");
    let proxy = Proxy::start(&aws_endpoint(), &[]).await;
    let _op = Operator::start_custom(
        client.clone(),
        &ns.name,
        Duration::from_secs(3),
        via(&proxy),
        |s| {
            s.require_binding = true;
        },
    )
    .await;
    let apis = ns.api::<RestApi>();
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: api}, spec: {}}",
    )
    .await;
    let unbound = wait_ready(&apis, "api", "False", T).await;
    let (reason, message) = ready_reason(&unbound);
    assert_eq!(reason, "NoAccountBinding");
    assert!(message.contains(&ns.name), "{message}");
    // STS calls are left out: this operator also reports the status of the bindings
    // of tests running beside this one (AssumeRole of their roles).
    let calls: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.action.is_empty())
        .collect();
    assert!(
        calls.is_empty(),
        "no AWS call for an unbound namespace: {calls:?}"
    );

    bind(
        &client,
        &binding,
        &format!(
            "{{namespaces: [{}], allowedRegions: [us-east-1, eu-west-1], allowedLambdaFunctions: ['arn:aws:lambda:*:123456789012:function:team-c-*'], allowedRoles: [], allowedUserPools: [], allowedCertificates: [], allowAdoption: false}}",
            ns.name
        ),
    )
    .await;
    // The binding's arrival wakes the object: no spec change needed.
    let api = wait_ready(&apis, "api", "True", T).await;
    let id = api.status.unwrap().rest_api_id.unwrap();

    let route = |name: &str, path: &str, integration: &str| {
        format!(
            "{{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {{name: {name}}}, spec: {{restApiRef: {{name: api}}, method: GET, path: {path}, integration: {integration}}}}}"
        )
    };
    ns.apply::<Route>(&route("ok", "/ok", "{lambda: {functionName: team-c-ok}}"))
        .await;
    ns.apply::<Route>(&route(
        "payroll",
        "/pay",
        "{lambda: {functionName: payroll}}",
    ))
    .await;
    ns.apply::<Route>(&route(
        "queue",
        "/queue",
        "{aws: {service: sqs, path: 123456789012/q, credentialsRoleArn: 'arn:aws:iam::123456789012:role/admin'}}",
    ))
    .await;
    ns.apply::<Authorizer>(&format!(
        "{{apiVersion: apigw.rs/v1alpha1, kind: Authorizer, metadata: {{name: users}}, spec: {{restApiRef: {{name: api}}, cognito: {{userPools: [{pool}]}}}}}}"
    ))
    .await;
    let routes = ns.api::<Route>();
    wait_ready(&routes, "ok", "True", T).await;
    for (name, value) in [("payroll", "function:payroll"), ("queue", "role/admin")] {
        let refused = wait_ready(&routes, name, "False", T).await;
        let (reason, message) = ready_reason(&refused);
        assert_eq!(reason, "ReferenceNotAllowed", "{name}: {message}");
        assert!(
            message.contains(value) && message.contains(&binding),
            "{message}"
        );
    }
    let authorizer = wait_ready(&ns.api::<Authorizer>(), "users", "False", T).await;
    assert_eq!(ready_reason(&authorizer).0, "ReferenceNotAllowed");
    assert!(ready_reason(&authorizer).1.contains("allowedUserPools"));
    let aws = aws().await;
    let resources = aws.get_resources(&id).await.unwrap();
    let paths: Vec<&str> = resources.iter().map(|r| r.path.as_str()).collect();
    assert!(
        paths.contains(&"/ok") && !paths.contains(&"/pay") && !paths.contains(&"/queue"),
        "{paths:?}"
    );
    let grants = aws
        .get_policy_statements(
            "arn:aws:lambda:us-east-1:123456789012:function:payroll",
            None,
        )
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        grants.is_empty(),
        "no invoke grant on a function outside the list: {grants:?}"
    );
    assert!(
        aws.get_authorizers(&id)
            .await
            .unwrap_or_default()
            .is_empty()
    );

    // A region outside the list, adoption, a certificate outside the list.
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: west}, spec: {region: us-west-2}}",
    )
    .await;
    let west = wait_ready(&apis, "west", "False", T).await;
    assert_eq!(ready_reason(&west).0, "RegionNotAllowed");

    // An API in an allowed second region lives there; a UsagePlan of the default
    // region cannot bind its stage.
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: europe}, spec: {region: eu-west-1}}",
    )
    .await;
    ns.apply::<Route>(
        "{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: europe-items}, spec: {restApiRef: {name: europe}, method: GET, path: /items, integration: {mock: {}}}}",
    )
    .await;
    ns.apply::<apigw_operator::api::Stage>(
        "{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {name: europe-prod}, spec: {restApiRef: {name: europe}, stageName: prod, deployment: {debounceSeconds: 1}}}",
    )
    .await;
    let europe = wait_ready(&apis, "europe", "True", T).await.status.unwrap();
    assert_eq!(europe.tenant.region.as_deref(), Some("eu-west-1"));
    let europe_id = europe.rest_api_id.unwrap();
    assert!(
        aws.get_rest_api(&europe_id).await.unwrap().is_none(),
        "not in us-east-1"
    );
    wait_ready(
        &ns.api::<apigw_operator::api::Stage>(),
        "europe-prod",
        "True",
        T,
    )
    .await;
    ns.apply::<apigw_operator::api::UsagePlan>(
        "{apiVersion: apigw.rs/v1alpha1, kind: UsagePlan, metadata: {name: plan}, spec: {stages: [{stageRef: {name: europe-prod}}]}}",
    )
    .await;
    let plan = wait_ready(
        &ns.api::<apigw_operator::api::UsagePlan>(),
        "plan",
        "False",
        T,
    )
    .await;
    let (reason, message) = ready_reason(&plan);
    assert_eq!(reason, "LocationMismatch");
    assert!(
        message.contains("region eu-west-1") && message.contains("region us-east-1"),
        "{message}"
    );
    ns.api::<apigw_operator::api::UsagePlan>()
        .delete("plan", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&ns.api::<apigw_operator::api::UsagePlan>(), "plan", T).await;
    ns.api::<apigw_operator::api::Stage>()
        .delete("europe-prod", &DeleteParams::default())
        .await
        .unwrap();
    routes
        .delete("europe-items", &DeleteParams::default())
        .await
        .unwrap();
    ns.apply::<RestApi>(&format!(
        "{{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {{name: adopter}}, spec: {{restApiId: {id}}}}}"
    ))
    .await;
    let adopter = wait_ready(&apis, "adopter", "False", T).await;
    assert_eq!(ready_reason(&adopter).0, "AdoptionNotAllowed");
    let domain = format!("d.{}.example.com", ns.name);
    let cert = seed_certificate(&domain, "us-east-1");
    ns.apply::<DomainName>(&format!(
        "{{apiVersion: apigw.rs/v1alpha1, kind: DomainName, metadata: {{name: d}}, spec: {{domainName: {domain}, certificateArn: {cert}}}}}"
    ))
    .await;
    let d = wait_ready(&ns.api::<DomainName>(), "d", "False", T).await;
    assert_eq!(ready_reason(&d).0, "ReferenceNotAllowed");
    assert!(aws.get_domain_name(&domain).await.unwrap().is_none());

    // An OpenAPI document goes through the same gate as Routes: a function
    // outside the list anywhere in it refuses the whole import, and nothing of it
    // (no PutRestApi, no grant) reaches AWS.
    let mark = proxy.mark();
    ns.apply::<RestApi>(
        r#"{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: doc}, spec: {openapi: {document: "openapi: 3.0.1\ninfo: {title: doc, version: '1'}\npaths:\n  /ok:\n    get:\n      x-amazon-apigateway-integration: {type: aws_proxy, httpMethod: POST, uri: 'arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:team-c-ok/invocations'}\n  /pay:\n    get:\n      x-amazon-apigateway-integration: {type: aws_proxy, httpMethod: POST, uri: 'arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:payroll/invocations'}\n"}}}"#,
    )
    .await;
    let doc = wait_ready(&apis, "doc", "False", T).await;
    let (reason, message) = ready_reason(&doc);
    assert_eq!(reason, "ReferenceNotAllowed", "{message}");
    assert!(
        message.contains("function:payroll") && message.contains(&binding),
        "{message}"
    );
    let sent: Vec<String> = proxy
        .since(mark)
        .iter()
        .filter(|s| s.is_write())
        .map(|s| s.operation.clone())
        .collect();
    assert!(
        !sent
            .iter()
            .any(|op| op == "PutRestApi" || op == "AddPermission"),
        "the refused document reached AWS: {sent:?}"
    );
    assert!(
        aws.get_policy_statements(
            "arn:aws:lambda:us-east-1:123456789012:function:payroll",
            None,
        )
        .await
        .unwrap()
        .unwrap_or_default()
        .is_empty(),
        "no grant for the document's foreign function"
    );

    for name in ["ok", "payroll", "queue"] {
        routes.delete(name, &DeleteParams::default()).await.unwrap();
    }
    ns.api::<Authorizer>()
        .delete("users", &DeleteParams::default())
        .await
        .unwrap();
    ns.api::<DomainName>()
        .delete("d", &DeleteParams::default())
        .await
        .unwrap();
    for name in ["api", "west", "adopter", "europe", "doc"] {
        apis.delete(name, &DeleteParams::default()).await.unwrap();
    }
    for name in ["api", "west", "adopter", "europe", "doc"] {
        wait_deleted(&apis, name, T).await;
    }
    assert!(aws.get_rest_api(&id).await.unwrap().is_none());
    unbind(&client, &binding).await;
    ns.delete().await;
}

/// A role the operator cannot assume is a condition naming the role (and a metric),
/// never a call with the wrong identity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_cannot_be_assumed_is_a_condition() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "denied").await;
    let binding = format!("{}-binding", ns.name);
    let role = "arn:aws:iam::444444444444:role/apigw-denied";
    bind(
        &client,
        &binding,
        &format!("{{namespaces: [{}], roleArn: '{role}'}}", ns.name),
    )
    .await;
    let proxy = Proxy::start(&aws_endpoint(), &["apigw-denied"]).await;
    let op = Operator::start_with_aws(
        client.clone(),
        &ns.name,
        Duration::from_secs(3),
        via(&proxy),
    )
    .await;
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: api}, spec: {}}",
    )
    .await;
    let denied = wait_ready(&ns.api::<RestApi>(), "api", "False", T).await;
    let (reason, message) = ready_reason(&denied);
    assert_eq!(reason, "AwsAccessDenied");
    assert!(
        message.contains(role) && message.contains(&binding),
        "{message}"
    );
    let seen = proxy.seen();
    assert!(
        seen.iter().all(|s| !s.path.contains("/restapis")),
        "no API Gateway call: {seen:?}"
    );
    assert!(seen.iter().any(|s| s.action == "AssumeRole"));
    let metrics = apigw_operator::telemetry::render_all(&op.ctx);
    assert!(
        metrics.contains(&format!(
            "apigw_assume_role_failures_total{{binding=\"{binding}\"}}"
        )),
        "{metrics}"
    );
    // Deleting it never created anything: the finalizer still needs the account,
    // so the binding goes first to the operator's own identity.
    unbind(&client, &binding).await;
    ns.api::<RestApi>()
        .delete("api", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&ns.api::<RestApi>(), "api", T).await;
    ns.delete().await;
}

/// ObserveOnly reads, reports drift and the plan, and writes nothing (counted at
/// the proxy); switched to Full it converges exactly that plan. Paused makes no
/// AWS call at all, and holds a deletion until it is lifted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_only_and_paused() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "observe").await;
    seed_functions(&["observed-fn"]);
    let aws = aws().await;
    let proxy = Proxy::start(&aws_endpoint(), &[]).await;
    let _op = Operator::start_with_aws(
        client.clone(),
        &ns.name,
        Duration::from_secs(2),
        via(&proxy),
    )
    .await;
    let apis = ns.api::<RestApi>();
    let api = |extra: &str| {
        format!(
            "{{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {{name: watched}}, spec: {{{extra}}}}}"
        )
    };
    ns.apply::<RestApi>(&api("description: before")).await;
    let ready = wait_ready(&apis, "watched", "True", T).await;
    let id = ready.status.unwrap().rest_api_id.unwrap();

    let mark = proxy.mark();
    ns.apply::<RestApi>(&api("description: after, managementPolicy: ObserveOnly"))
        .await;
    // The Route comes once the operator has seen the policy: a pass that started
    // from the cached Full object would rightly make the route for real (the
    // operator cannot obey a policy it has not read yet).
    wait_ready(&apis, "watched", "False", T).await;
    ns.apply::<Route>(
        "{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {name: added}, spec: {restApiRef: {name: watched}, method: GET, path: /added, integration: {lambda: {functionName: observed-fn}}}}",
    )
    .await;
    let drift = eventually("drift with the route in the plan", T, || async {
        let obj = apis.get("watched").await.ok()?;
        let status = obj.status.clone()?;
        (ready_reason(&obj).0 == "DriftDetected"
            && status
                .tenant
                .planned_changes
                .iter()
                .any(|l| l.contains("/added")))
        .then_some(status)
    })
    .await;
    let plan = drift.tenant.planned_changes.join("\n");
    assert!(
        plan.contains(&format!("update REST API {id}: /description -> after")),
        "{plan}"
    );
    assert!(plan.contains("create resource /added"), "{plan}");
    assert!(plan.contains("put method GET /added"), "{plan}");
    // Several resyncs later: reads, and not one write.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let since = proxy.since(mark);
    assert_eq!(
        writes(&since),
        Vec::<String>::new(),
        "ObserveOnly wrote to AWS"
    );
    assert!(
        since.iter().any(|s| s.method == "GET"),
        "ObserveOnly reads AWS"
    );
    assert_eq!(
        aws.get_rest_api(&id)
            .await
            .unwrap()
            .unwrap()
            .settings
            .description,
        "before"
    );

    // Full converges the plan: the description and the route.
    ns.apply::<RestApi>(&api("description: after, managementPolicy: Full"))
        .await;
    let converged = wait_ready(&apis, "watched", "True", T).await;
    assert!(converged.status.unwrap().tenant.planned_changes.is_empty());
    wait_ready(&ns.api::<Route>(), "added", "True", T).await;
    assert_eq!(
        aws.get_rest_api(&id)
            .await
            .unwrap()
            .unwrap()
            .settings
            .description,
        "after"
    );
    let paths: Vec<String> = aws
        .get_resources(&id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert!(paths.iter().any(|p| p == "/added"), "{paths:?}");

    // Paused: no AWS call at all, not on edits, not on deletion.
    tokio::time::sleep(Duration::from_secs(3)).await;
    ns.apply::<RestApi>(&api("description: paused edit, managementPolicy: Paused"))
        .await;
    let paused = wait_ready(&apis, "watched", "False", T).await;
    assert_eq!(ready_reason(&paused).0, "Paused");
    ns.wait_event("watched", "Normal/Paused").await;
    let mark = proxy.mark();
    apis.delete("watched", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        apis.get_opt("watched").await.unwrap().is_some(),
        "the deletion waits while Paused"
    );
    // STS calls are left out: every operator in this test process reports the
    // status of every binding in the cluster, those of parallel tests included.
    let calls: Vec<_> = proxy
        .since(mark)
        .into_iter()
        .filter(|s| s.action.is_empty())
        .collect();
    assert!(calls.is_empty(), "Paused made AWS calls: {calls:?}");
    assert!(aws.get_rest_api(&id).await.unwrap().is_some());
    apis.patch(
        "watched",
        &PatchParams::apply("kubectl-test").force(),
        &Patch::Apply(
            &serde_yaml::from_str::<RestApi>(&api(
                "description: paused edit, managementPolicy: Full",
            ))
            .unwrap(),
        ),
    )
    .await
    .unwrap();
    ns.api::<Route>()
        .delete("added", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&apis, "watched", T).await;
    assert!(aws.get_rest_api(&id).await.unwrap().is_none());
    ns.delete().await;
}

/// Work is queued per account and region: a bulk apply in one account, whose
/// reconciles wait on that account's CreateRestApi quota (one every 3 s), never
/// holds the turn of another account's first object. Measured at the proxy: the
/// time from the quiet tenant's apply to its first API Gateway call (signed with
/// its own account's keys), while the busy tenant's backlog is still in progress.
/// The busy account is this test's own, and its APIs are retained (deleting them
/// would take DeleteRestApi's quota of one every 30 s); nothing else uses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_accounts_backlog_never_delays_another() {
    let client = client().await;
    let busy = TestNamespace::new(&client, "busy").await;
    let quiet = TestNamespace::new(&client, "quiet").await;
    let (bind_busy, bind_quiet) = (
        format!("{}-binding", busy.name),
        format!("{}-binding", quiet.name),
    );
    bind(
        &client,
        &bind_busy,
        &format!(
            "{{namespaces: [{}], roleArn: 'arn:aws:iam::444444444444:role/apigw-busy'}}",
            busy.name
        ),
    )
    .await;
    bind(
        &client,
        &bind_quiet,
        &format!(
            "{{namespaces: [{}], roleArn: 'arn:aws:iam::555555555555:role/apigw-quiet'}}",
            quiet.name
        ),
    )
    .await;
    let proxy = Proxy::start(&aws_endpoint(), &[]).await;
    let _op = Operator::start_custom(
        client.clone(),
        &busy.name,
        Duration::from_secs(60),
        via(&proxy),
        |s| {
            s.namespace = None;
            s.namespaces = vec![busy.name.clone(), quiet.name.clone()];
            s.concurrency = 2;
        },
    )
    .await;
    const BACKLOG: usize = 8;
    for i in 0..BACKLOG {
        busy.apply::<RestApi>(&format!(
            "{{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {{name: bulk-{i}}}, spec: {{deletionPolicy: Retain}}}}"
        ))
        .await;
    }
    // The backlog is being worked on: its first creates went out.
    eventually("two of the busy tenant's creates", T, || async {
        let creates = proxy
            .seen()
            .iter()
            .filter(|s| s.operation == "CreateRestApi")
            .count();
        (creates >= 2).then_some(())
    })
    .await;
    let busy_callers: std::collections::BTreeSet<String> = proxy
        .seen()
        .iter()
        .filter(|s| s.service == "apigateway")
        .map(|s| s.caller.clone())
        .collect();
    let mark = proxy.mark();
    let applied = std::time::Instant::now();
    quiet
        .apply::<RestApi>(
            "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: first}, spec: {deletionPolicy: Delete}}",
        )
        .await;
    let first = wait_ready(&quiet.api::<RestApi>(), "first", "True", T).await;
    let ready_after = applied.elapsed();
    let busy_ready = {
        let mut n = 0;
        for i in 0..BACKLOG {
            let api = busy
                .api::<RestApi>()
                .get(&format!("bulk-{i}"))
                .await
                .unwrap();
            if api.status.and_then(|s| s.rest_api_id).is_some() {
                n += 1;
            }
        }
        n
    };
    assert!(
        busy_ready < BACKLOG,
        "the busy tenant's backlog was still in progress when the quiet one was ready ({busy_ready} of {BACKLOG} made)"
    );
    let first_call = proxy
        .since(mark)
        .into_iter()
        .find(|s| s.service == "apigateway" && !busy_callers.contains(&s.caller))
        .expect("the quiet tenant's calls reached the proxy");
    let waited = first_call.at.duration_since(applied);
    // Unloaded, the first call comes within a few hundred milliseconds (watch,
    // finalizer, AssumeRole); behind the backlog it would wait for several of
    // the busy account's 3-s creates. The bound leaves room for a loaded CI
    // machine without letting a wait of even one create through.
    println!("quiet tenant: first AWS call {waited:?} after apply, Ready after {ready_after:?}");
    assert!(
        waited < Duration::from_millis(2500),
        "the quiet account's first call came {waited:?} after its apply (Ready after {ready_after:?})"
    );
    assert_eq!(
        first.status.unwrap().tenant.account_id.as_deref(),
        Some("555555555555")
    );

    quiet
        .api::<RestApi>()
        .delete("first", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&quiet.api::<RestApi>(), "first", T).await;
    for i in 0..BACKLOG {
        busy.api::<RestApi>()
            .delete(&format!("bulk-{i}"), &DeleteParams::default())
            .await
            .unwrap();
    }
    for i in 0..BACKLOG {
        wait_deleted(&busy.api::<RestApi>(), &format!("bulk-{i}"), T).await;
    }
    unbind(&client, &bind_busy).await;
    unbind(&client, &bind_quiet).await;
    busy.delete().await;
    quiet.delete().await;
}
