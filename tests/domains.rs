//! DomainName end to end: the real kube-apiserver, the operator in process, moto as
//! AWS (and as ACM). Domain names are unique per account and region, so each test
//! uses its own name (the main one cleans `api.example.com` first).

mod common;

use std::time::Duration;

use apigw_operator::api::{DomainName, RestApi, Route, Stage};
use common::*;
use kube::api::DeleteParams;

const T: Duration = Duration::from_secs(60);

fn api_with_stage(api: &str) -> [String; 3] {
    [
        format!(
            "{{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {{name: {api}}}, spec: {{}}}}"
        ),
        format!(
            "{{apiVersion: apigw.rs/v1alpha1, kind: Route, metadata: {{name: {api}-items}}, spec: {{restApiRef: {{name: {api}}}, method: GET, path: /items, integration: {{mock: {{}}}}}}}}"
        ),
        format!(
            "{{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {{name: {api}-prod}}, spec: {{restApiRef: {{name: {api}}}, stageName: prod, deployment: {{debounceSeconds: 1}}}}}}"
        ),
    ]
}

/// Two API versions behind one domain: `v1` and `v2` map to the stages of two
/// RestApis. The DomainName is applied first and waits for the stages; status
/// carries the DNS target; a resync of the converged domain writes nothing;
/// delete removes the mappings and the domain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_maps_two_api_versions() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "domains").await;
    let aws = aws().await;
    let domain = "api.example.com";
    // Left over by an earlier, interrupted run: start clean.
    aws.delete_domain_name(domain).await.unwrap();
    let cert = seed_certificate(domain, "us-east-1");
    let op = Operator::start(&ns.name, Duration::from_secs(1)).await;
    let domains = ns.api::<DomainName>();

    ns.apply::<DomainName>(&format!(
        r#"
        apiVersion: apigw.rs/v1alpha1
        kind: DomainName
        metadata: {{name: api}}
        spec:
          domainName: {domain}
          endpoint: {{type: REGIONAL}}
          certificateArn: {cert}
          tags: {{team: shop}}
          basePathMappings:
            - {{basePath: v1, stageRef: {{name: v1-prod}}}}
            - {{basePath: v2, stageRef: {{name: v2-prod}}}}
        "#
    ))
    .await;
    // No Stage yet: a condition names them, and the domain itself is already made.
    let waiting = eventually("DomainName waits for its stages", T, || async {
        let d = domains.get("api").await.ok()?;
        (ready_reason(&d).0 == "StageNotFound").then_some(d)
    })
    .await;
    assert!(ready_reason(&waiting).1.contains("v1-prod"));
    assert!(aws.get_domain_name(domain).await.unwrap().is_some());

    for api in ["v1", "v2"] {
        let [rest_api, route, stage] = api_with_stage(api);
        ns.apply::<RestApi>(&rest_api).await;
        ns.apply::<Route>(&route).await;
        ns.apply::<Stage>(&stage).await;
    }
    let stages = ns.api::<Stage>();
    let v1 = wait_ready(&stages, "v1-prod", "True", T).await;
    let v2 = wait_ready(&stages, "v2-prod", "True", T).await;
    let v1_id = v1.status.unwrap().rest_api_id.unwrap();
    let v2_id = v2.status.unwrap().rest_api_id.unwrap();

    // The Stage watch wakes the DomainName: no resync needed for this.
    let ready = wait_ready(&domains, "api", "True", T).await;
    assert_eq!(ready_reason(&ready).0, "Available");
    let status = ready.status.clone().unwrap();
    assert!(!status.adopted);
    let target = status.target.clone().expect("status.target");
    assert_eq!(
        status.regional_domain_name.as_deref(),
        Some(target.as_str())
    );
    assert!(
        target.ends_with(".execute-api.us-east-1.amazonaws.com"),
        "{target}"
    );
    assert!(status.hosted_zone_id.is_some());
    let mapped: Vec<(String, String, String)> = status
        .mappings
        .iter()
        .map(|m| (m.base_path.clone(), m.rest_api_id.clone(), m.stage.clone()))
        .collect();
    let expected = vec![
        ("v1".to_string(), v1_id.clone(), "prod".to_string()),
        ("v2".to_string(), v2_id.clone(), "prod".to_string()),
    ];
    assert_eq!(mapped, expected);
    assert_eq!(status.managed_base_paths, vec!["v1", "v2"]);

    let in_moto: Vec<(String, String, String)> = aws
        .get_base_path_mappings(domain)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.base_path, m.rest_api_id, m.stage))
        .collect();
    assert_eq!(in_moto, expected);
    let observed = aws.get_domain_name(domain).await.unwrap().unwrap();
    assert_eq!(observed.settings.certificate_arn, cert);
    assert_eq!(observed.settings.security_policy, "TLS_1_2");
    assert_eq!(
        observed.settings.tags.get("team").map(String::as_str),
        Some("shop")
    );
    ns.wait_event("api", "Normal/Created").await;
    ns.wait_event("api", "Normal/MappingCreated").await;

    // Converged: resyncs every second read and write nothing.
    let writes_before = op.mutating_calls();
    let reads_before = op.ctx.aws.stats.calls_of("GetDomainName");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(op.ctx.aws.stats.calls_of("GetDomainName") >= reads_before + 2);
    assert_eq!(op.mutating_calls(), writes_before, "converged: no writes");
    assert_eq!(op.ctx.aws.stats.calls_of("CreateDomainName"), 1);
    assert_eq!(
        op.ctx.aws.stats.calls_of("DescribeCertificate"),
        1,
        "the certificate is checked once, before the create"
    );

    // Delete: the mappings and the domain go.
    domains
        .delete("api", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&domains, "api", T).await;
    assert!(aws.get_domain_name(domain).await.unwrap().is_none());
    ns.wait_event("api", "Normal/Deleted").await;
    for api in ["v1", "v2"] {
        ns.api::<RestApi>()
            .delete(api, &DeleteParams::default())
            .await
            .unwrap();
        wait_deleted(&ns.api::<RestApi>(), api, T).await;
    }
    ns.delete().await;
}

/// A certificate ARN that names nothing in ACM, and an EDGE domain with a
/// certificate outside us-east-1, each get a clear condition; nothing is created,
/// and deleting such objects does not hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_problems_are_conditions() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "domaincert").await;
    let aws = aws().await;
    let _op = Operator::start(&ns.name, Duration::from_secs(1)).await;
    let domains = ns.api::<DomainName>();
    let missing_name = format!("missing.{}.example.com", ns.name);
    let missing_arn =
        "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000";
    ns.apply::<DomainName>(&format!(
        "{{apiVersion: apigw.rs/v1alpha1, kind: DomainName, metadata: {{name: missing}}, spec: {{domainName: {missing_name}, certificateArn: {missing_arn}}}}}"
    ))
    .await;
    let edge_name = format!("edge.{}.example.com", ns.name);
    let eu_cert = seed_certificate(&edge_name, "eu-west-1");
    ns.apply::<DomainName>(&format!(
        "{{apiVersion: apigw.rs/v1alpha1, kind: DomainName, metadata: {{name: edge}}, spec: {{domainName: {edge_name}, endpoint: {{type: EDGE}}, certificateArn: {eu_cert}}}}}"
    ))
    .await;

    let missing = wait_ready(&domains, "missing", "False", T).await;
    let (reason, message) = ready_reason(&missing);
    assert_eq!(reason, "CertificateNotFound", "{message}");
    assert!(message.contains(missing_arn), "{message}");
    let edge = wait_ready(&domains, "edge", "False", T).await;
    let (reason, message) = ready_reason(&edge);
    assert_eq!(reason, "CertificateWrongRegion", "{message}");
    assert!(message.contains("us-east-1"), "{message}");
    ns.wait_event("missing", "Warning/CertificateNotFound")
        .await;
    assert!(aws.get_domain_name(&missing_name).await.unwrap().is_none());
    assert!(aws.get_domain_name(&edge_name).await.unwrap().is_none());

    for name in ["missing", "edge"] {
        domains
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
        wait_deleted(&domains, name, T).await;
    }
    ns.delete().await;
}

/// Retain leaves the domain in AWS; a new object for the same name is refused
/// until it asks to adopt (adopt) and to take over what a deleted object made
/// (adoptOrphaned); then it adopts and says so; deleting that one (Delete)
/// removes the domain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_then_adopt() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "domainretain").await;
    let aws = aws().await;
    let _op = Operator::start(&ns.name, Duration::from_secs(1)).await;
    let domains = ns.api::<DomainName>();
    let name = format!("kept.{}.example.com", ns.name);
    let cert = seed_certificate(&name, "us-east-1");
    let manifest = |object: &str, policy: &str, adopt: &str| {
        format!(
            "{{apiVersion: apigw.rs/v1alpha1, kind: DomainName, metadata: {{name: {object}}}, spec: {{domainName: {name}, certificateArn: {cert}, deletionPolicy: {policy}{adopt}}}}}"
        )
    };
    ns.apply::<DomainName>(&manifest("kept", "Retain", ""))
        .await;
    let ready = wait_ready(&domains, "kept", "True", T).await;
    assert!(!ready.status.unwrap().adopted);
    domains
        .delete("kept", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&domains, "kept", T).await;
    assert!(
        aws.get_domain_name(&name).await.unwrap().is_some(),
        "Retain leaves the domain name"
    );

    ns.apply::<DomainName>(&manifest("again", "Delete", ""))
        .await;
    let refused = wait_ready(&domains, "again", "False", T).await;
    assert_eq!(ready_reason(&refused).0, "AdoptionNotRequested");
    ns.apply::<DomainName>(&manifest("again", "Delete", ", adopt: true"))
        .await;
    let orphan = wait_ready(&domains, "again", "False", T).await;
    let (reason, message) = ready_reason(&orphan);
    assert_eq!(reason, "AdoptTargetOrphaned");
    assert!(
        message.contains(&format!("DomainName {}/kept", ns.name)),
        "{message}"
    );
    ns.apply::<DomainName>(&manifest(
        "again",
        "Delete",
        ", adopt: true, adoptOrphaned: true",
    ))
    .await;
    let adopted = wait_ready(&domains, "again", "True", T).await;
    assert_eq!(ready_reason(&adopted).0, "Adopted");
    let status = adopted.status.unwrap();
    assert!(status.adopted);
    assert!(status.target.is_some());
    ns.wait_event("again", "Normal/Adopted").await;
    domains
        .delete("again", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&domains, "again", T).await;
    assert!(aws.get_domain_name(&name).await.unwrap().is_none());
    ns.delete().await;
}

/// A domain for a WebSocket stage: the mapping is a v2 API mapping and a resync
/// writes nothing. Adding a REST stage to it is refused (API Gateway serves one
/// kind per domain) without touching what is there; switching the domain to the
/// REST stage removes the WebSocket mapping and makes the base path mapping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_maps_a_websocket_stage() {
    use apigw_operator::api::WebSocketApi;
    let client = client().await;
    let ns = TestNamespace::new(&client, "wsdomain").await;
    let aws = aws().await;
    let domain = "live.example.com";
    // Left over by an earlier, interrupted run: start clean.
    aws.delete_domain_name(domain).await.unwrap();
    let cert = seed_certificate(domain, "us-east-1");
    // moto keeps v1 and v2 domain names apart; AWS has one set. The v2 twin lets the
    // v2 API mapping calls find the domain the operator makes through v1.
    let seeded = std::process::Command::new(checkout("/scripts/moto-seed"))
        .args(["v2-domain", domain, &cert])
        .output()
        .unwrap();
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    for (_, id) in aws.get_api_mappings(domain).await.unwrap() {
        aws.delete_api_mapping(domain, &id).await.unwrap();
    }
    seed_functions(&["ws-live"]);
    let op = Operator::start(&ns.name, Duration::from_secs(1)).await;

    let [rest_api, route, stage] = api_with_stage("rest");
    ns.apply::<RestApi>(&rest_api).await;
    ns.apply::<Route>(&route).await;
    ns.apply::<Stage>(&stage).await;
    ns.apply::<WebSocketApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: WebSocketApi, metadata: {name: live}, spec: {routes: [{routeKey: $default, functionName: ws-live}]}}",
    )
    .await;
    ns.apply::<Stage>(
        "{apiVersion: apigw.rs/v1alpha1, kind: Stage, metadata: {name: live-prod}, spec: {webSocketApiRef: {name: live}, stageName: prod}}",
    )
    .await;
    let with_mappings = |mappings: &str| {
        format!(
            "{{apiVersion: apigw.rs/v1alpha1, kind: DomainName, metadata: {{name: live}}, spec: {{domainName: {domain}, certificateArn: {cert}, basePathMappings: [{mappings}]}}}}"
        )
    };
    let live = "{basePath: v1, stageRef: {name: live-prod}}";
    let rest = "{basePath: rest, stageRef: {name: rest-prod}}";
    ns.apply::<DomainName>(&with_mappings(live)).await;

    let domains = ns.api::<DomainName>();
    let status = wait_ready(&domains, "live", "True", T)
        .await
        .status
        .unwrap();
    let ws_id = ns
        .api::<WebSocketApi>()
        .get("live")
        .await
        .unwrap()
        .status
        .unwrap()
        .api_id
        .unwrap();
    assert_eq!(status.mappings.len(), 1);
    assert!(status.mappings[0].web_socket);
    assert_eq!(status.mappings[0].rest_api_id, ws_id);
    assert_eq!(status.managed_api_mappings, vec!["v1".to_string()]);
    assert!(status.managed_base_paths.is_empty());
    let mapped: Vec<_> = aws
        .get_api_mappings(domain)
        .await
        .unwrap()
        .into_iter()
        .map(|(m, _)| (m.base_path, m.rest_api_id, m.stage))
        .collect();
    assert_eq!(
        mapped,
        vec![("v1".to_string(), ws_id.clone(), "prod".to_string())]
    );
    assert!(aws.get_base_path_mappings(domain).await.unwrap().is_empty());

    // Converged: resyncs every second make no mutating call.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = op.mutating_calls();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        op.mutating_calls(),
        before,
        "a converged resync writes nothing"
    );

    // A REST stage on the same domain: refused, nothing changes.
    ns.apply::<DomainName>(&with_mappings(&format!("{live}, {rest}")))
        .await;
    let refused = wait_ready(&domains, "live", "False", T).await;
    let (reason, message) = ready_reason(&refused);
    assert_eq!(reason, "MappingNotAllowed");
    assert!(
        message.contains("does not serve WebSocket and REST APIs on one domain"),
        "{message}"
    );
    assert_eq!(aws.get_api_mappings(domain).await.unwrap().len(), 1);
    assert!(aws.get_base_path_mappings(domain).await.unwrap().is_empty());

    // The domain switches to the REST stage.
    ns.apply::<DomainName>(&with_mappings(rest)).await;
    let switched = wait_ready(&domains, "live", "True", T)
        .await
        .status
        .unwrap();
    assert!(aws.get_api_mappings(domain).await.unwrap().is_empty());
    let v1 = aws.get_base_path_mappings(domain).await.unwrap();
    assert_eq!(v1.len(), 1);
    assert_eq!(v1[0].base_path, "rest");
    assert!(switched.managed_api_mappings.is_empty());
    assert_eq!(switched.managed_base_paths, vec!["rest".to_string()]);

    domains
        .delete("live", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&domains, "live", T).await;
    assert!(aws.get_domain_name(domain).await.unwrap().is_none());
    let websocket_apis = ns.api::<WebSocketApi>();
    websocket_apis
        .delete("live", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&websocket_apis, "live", T).await;
    let rest_apis = ns.api::<RestApi>();
    rest_apis
        .delete("rest", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&rest_apis, "rest", T).await;
    drop(op);
    ns.delete().await;
}
