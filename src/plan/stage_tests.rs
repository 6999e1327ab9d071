use super::*;
use crate::plan::PatchKind;

fn spec(yaml: &str) -> StageSpec {
    let mut value: serde_yaml::Value = serde_yaml::from_str(yaml).expect("test yaml parses");
    if value.is_null() {
        value = serde_yaml::Value::Mapping(Default::default());
    }
    let map = value.as_mapping_mut().expect("test spec is a mapping");
    map.insert(
        "restApiRef".into(),
        serde_yaml::from_str("{name: photos}").unwrap(),
    );
    map.insert("stageName".into(), "prod".into());
    serde_yaml::from_value(value).expect("test spec is a StageSpec")
}

/// A stage as CreateStage leaves it for `spec`, before any UpdateStage.
fn created(spec: &StageSpec) -> ObservedStage {
    let c = desired_create_stage(spec);
    ObservedStage {
        stage_name: c.stage_name,
        deployment_id: Some("dep1".into()),
        description: c.description.unwrap_or_default(),
        variables: c.variables,
        cache_cluster_enabled: c.cache_cluster_enabled,
        cache_cluster_size: c.cache_cluster_size,
        tracing_enabled: c.tracing_enabled,
        tags: c.tags,
        ..Default::default()
    }
}

/// What AWS puts into a method-settings entry the first patch creates.
fn aws_fresh_entry() -> ObservedMethodSetting {
    ObservedMethodSetting {
        throttling_rate_limit: ACCOUNT_DEFAULT_RATE_LIMIT,
        throttling_burst_limit: ACCOUNT_DEFAULT_BURST_LIMIT,
        caching_enabled: false,
        cache_ttl_seconds: 300,
        cache_data_encrypted: false,
        require_authorization_for_cache_control: true,
        logging_level: Some("OFF".into()),
        data_trace_enabled: false,
        metrics_enabled: false,
    }
}

/// What moto 5.2.1 puts there instead (its defaults differ from AWS's).
fn moto_fresh_entry() -> ObservedMethodSetting {
    ObservedMethodSetting {
        throttling_rate_limit: 1000.0,
        throttling_burst_limit: 2000,
        cache_data_encrypted: true,
        logging_level: None,
        ..aws_fresh_entry()
    }
}

/// Apply patch operations the way UpdateStage does, to check that a plan converges.
fn apply(stage: &ObservedStage, ops: &[PatchOp], fresh: &ObservedMethodSetting) -> ObservedStage {
    let mut s = stage.clone();
    for op in ops {
        let value = op.value.clone().unwrap_or_default();
        let path = op.path.as_str();
        let remove = op.op == PatchKind::Remove;
        assert_ne!(
            op.op,
            PatchKind::Add,
            "moto answers `add` with a 500: {op:?}"
        );
        if let Some(name) = path.strip_prefix("/variables/") {
            if remove {
                s.variables.remove(name);
            } else {
                s.variables.insert(name.into(), value);
            }
        } else if path == "/description" {
            s.description = value;
        } else if path == "/cacheClusterEnabled" {
            s.cache_cluster_enabled = value == "true";
        } else if path == "/cacheClusterSize" {
            s.cache_cluster_size = Some(value);
        } else if path == "/tracingEnabled" {
            s.tracing_enabled = value == "true";
        } else if path == "/accessLogSettings" && remove {
            s.access_log = None;
        } else if let Some(field) = path.strip_prefix("/accessLogSettings/") {
            let (arn, format) = s.access_log.take().unwrap_or_default();
            s.access_log = Some(match field {
                "destinationArn" => (value, format),
                "format" => (arn, value),
                other => panic!("unknown access log field {other}"),
            });
        } else if path == "/canarySettings" && remove {
            s.canary = None;
        } else if let Some(field) = path.strip_prefix("/canarySettings/") {
            let canary = s.canary.get_or_insert_with(|| ObservedCanary {
                deployment_id: s.deployment_id.clone(),
                ..Default::default()
            });
            if let Some(name) = field.strip_prefix("stageVariableOverrides/") {
                if remove {
                    canary.stage_variable_overrides.remove(name);
                } else {
                    canary.stage_variable_overrides.insert(name.into(), value);
                }
            } else if field == "percentTraffic" {
                canary.percent_traffic = value.parse().unwrap();
            } else if field == "useStageCache" {
                canary.use_stage_cache = value == "true";
            } else {
                panic!("unknown canary field {field}");
            }
        } else {
            let parts: Vec<&str> = path[1..].splitn(3, '/').collect();
            let key = format!("{}/{}", parts[0], parts[1]);
            if remove {
                assert_eq!(parts.len(), 2, "remove takes a whole entry: {path}");
                s.method_settings.remove(&key);
                continue;
            }
            let e = s
                .method_settings
                .entry(key)
                .or_insert_with(|| fresh.clone());
            match parts[2] {
                "throttling/rateLimit" => e.throttling_rate_limit = value.parse().unwrap(),
                "throttling/burstLimit" => e.throttling_burst_limit = value.parse().unwrap(),
                "caching/enabled" => e.caching_enabled = value == "true",
                "caching/ttlInSeconds" => e.cache_ttl_seconds = value.parse().unwrap(),
                "caching/dataEncrypted" => e.cache_data_encrypted = value == "true",
                "caching/requireAuthorizationForCacheControl" => {
                    e.require_authorization_for_cache_control = value == "true"
                }
                "logging/loglevel" => e.logging_level = Some(value),
                "logging/dataTrace" => e.data_trace_enabled = value == "true",
                "metrics/enabled" => e.metrics_enabled = value == "true",
                other => panic!("unknown method setting {other}"),
            }
        }
    }
    s
}

const FULL: &str = r#"
        description: Production
        variables: {lambdaAlias: live, table: photos}
        throttling: {rateLimit: 100, burstLimit: 200}
        caching: {clusterEnabled: true, clusterSize: "1.6", enabled: true, ttlSeconds: 60, dataEncrypted: true}
        logging: {level: INFO, dataTrace: true}
        accessLog: {destinationArn: "arn:aws:logs:us-east-1:123456789012:log-group:access", format: "$context.requestId"}
        metricsEnabled: true
        tracingEnabled: true
        canary: {percentTraffic: 10.5, variableOverrides: {lambdaAlias: next}, useStageCache: true}
        routeSettings:
          - {method: PUT, path: "/photos/{photoId}", throttling: {rateLimit: 5, burstLimit: 10}}
          - {method: ANY, path: /health, caching: {enabled: false}, metricsEnabled: false}
        tags: {team: photos}
    "#;

/// A converged stage plans nothing: the resync costs no writes.
#[test]
fn converged_stage_plans_nothing() {
    let s = spec(FULL);
    let stage_wide = ObservedMethodSetting {
        throttling_rate_limit: 100.0,
        throttling_burst_limit: 200,
        caching_enabled: true,
        cache_ttl_seconds: 60,
        cache_data_encrypted: true,
        require_authorization_for_cache_control: true,
        logging_level: Some("INFO".into()),
        data_trace_enabled: true,
        metrics_enabled: true,
    };
    let observed = ObservedStage {
        stage_name: "prod".into(),
        deployment_id: Some("dep1".into()),
        description: "Production".into(),
        variables: s.variables.clone(),
        cache_cluster_enabled: true,
        cache_cluster_size: Some("1.6".into()),
        tracing_enabled: true,
        method_settings: BTreeMap::from([
            ("*/*".to_string(), stage_wide.clone()),
            (
                "~1photos~1{photoId}/PUT".to_string(),
                ObservedMethodSetting {
                    throttling_rate_limit: 5.0,
                    throttling_burst_limit: 10,
                    ..stage_wide.clone()
                },
            ),
            (
                "~1health/*".to_string(),
                ObservedMethodSetting {
                    caching_enabled: false,
                    cache_data_encrypted: false,
                    require_authorization_for_cache_control: false,
                    metrics_enabled: false,
                    ..stage_wide
                },
            ),
        ]),
        access_log: Some((
            "arn:aws:logs:us-east-1:123456789012:log-group:access".into(),
            "$context.requestId".into(),
        )),
        canary: Some(ObservedCanary {
            deployment_id: Some("dep0".into()),
            percent_traffic: 10.5,
            stage_variable_overrides: BTreeMap::from([("lambdaAlias".into(), "next".into())]),
            use_stage_cache: true,
        }),
        tags: BTreeMap::from([("team".into(), "photos".into())]),
    };
    assert_eq!(stage_patch_operations(&s, &observed), vec![]);
    assert_eq!(stage_tag_changes(&s, &observed), (BTreeMap::new(), vec![]));
}

/// Create, then one UpdateStage, and the next plan is empty, on AWS and on moto
/// alike (an entry is written whole when created, so moto's odd defaults never show).
#[test]
fn one_update_after_create_converges() {
    let specs = [
        "{}",
        FULL,
        "{metricsEnabled: true}",
        "{logging: {level: ERROR}}",
        "{routeSettings: [{method: GET, path: /, metricsEnabled: true}]}",
        "{throttling: {rateLimit: 0.5, burstLimit: 1}, routeSettings: [{method: GET, path: /a, logging: {level: INFO}}]}",
    ];
    for yaml in specs {
        let s = spec(yaml);
        for fresh in [aws_fresh_entry(), moto_fresh_entry()] {
            let stage = created(&s);
            let ops = stage_patch_operations(&s, &stage);
            let after = apply(&stage, &ops, &fresh);
            assert_eq!(stage_patch_operations(&s, &after), vec![], "spec {yaml}");
        }
    }
}

/// A stage whose spec sets no method settings needs no UpdateStage after create.
#[test]
fn plain_new_stage_needs_no_update() {
    let s = spec("{description: d, variables: {a: b}, tracingEnabled: true}");
    assert_eq!(stage_patch_operations(&s, &created(&s)), vec![]);
}

/// Spec without throttling: the values AWS reports when nobody set throttling
/// (-1, its account default, or 0 from a field it left out) are left alone.
#[test]
fn default_throttling_is_left_alone() {
    let s = spec("{metricsEnabled: true}");
    for (rate, burst) in [(-1.0, -1), (10000.0, 5000), (0.0, 0)] {
        let mut observed = created(&s);
        observed.method_settings.insert(
            "*/*".into(),
            ObservedMethodSetting {
                throttling_rate_limit: rate,
                throttling_burst_limit: burst,
                metrics_enabled: true,
                ..aws_fresh_entry()
            },
        );
        assert_eq!(
            stage_patch_operations(&s, &observed),
            vec![],
            "{rate}/{burst}"
        );
    }
}

/// Throttling removed from the spec is cleared (-1), not left at the old limits.
#[test]
fn removed_throttling_is_cleared() {
    let s = spec("{}");
    let mut observed = created(&s);
    observed.method_settings.insert(
        "*/*".into(),
        ObservedMethodSetting {
            throttling_rate_limit: 100.0,
            throttling_burst_limit: 200,
            ..aws_fresh_entry()
        },
    );
    assert_eq!(
        stage_patch_operations(&s, &observed),
        vec![
            PatchOp::replace("/*/*/throttling/rateLimit", "-1"),
            PatchOp::replace("/*/*/throttling/burstLimit", "-1"),
        ]
    );
}

/// Only changed fields of an existing entry are patched, floats with a tolerance.
#[test]
fn changed_stage_wide_fields_only() {
    let s = spec("{throttling: {rateLimit: 100, burstLimit: 200}, caching: {enabled: true}}");
    let mut observed = created(&s);
    observed.method_settings.insert(
        "*/*".into(),
        ObservedMethodSetting {
            throttling_rate_limit: 100.000_000_01,
            throttling_burst_limit: 300,
            caching_enabled: false,
            cache_ttl_seconds: 60,
            ..aws_fresh_entry()
        },
    );
    assert_eq!(
        stage_patch_operations(&s, &observed),
        vec![
            PatchOp::replace("/*/*/throttling/burstLimit", "200"),
            PatchOp::replace("/*/*/caching/enabled", "true"),
            PatchOp::replace("/*/*/caching/ttlInSeconds", "300"),
        ]
    );
}

/// A missing stage-wide entry is created with every field, in one request.
#[test]
fn new_stage_wide_entry_is_written_whole() {
    let s = spec("{throttling: {rateLimit: 100, burstLimit: 200}}");
    let ops = stage_patch_operations(&s, &created(&s));
    assert_eq!(
        ops,
        vec![
            PatchOp::replace("/*/*/throttling/rateLimit", "100"),
            PatchOp::replace("/*/*/throttling/burstLimit", "200"),
            PatchOp::replace("/*/*/caching/enabled", "false"),
            PatchOp::replace("/*/*/caching/ttlInSeconds", "300"),
            PatchOp::replace("/*/*/caching/dataEncrypted", "false"),
            PatchOp::replace("/*/*/caching/requireAuthorizationForCacheControl", "true"),
            PatchOp::replace("/*/*/logging/loglevel", "OFF"),
            PatchOp::replace("/*/*/logging/dataTrace", "false"),
            PatchOp::replace("/*/*/metrics/enabled", "false"),
        ]
    );
}

/// Variables: new and changed ones are replaced, gone ones removed, never `add`.
#[test]
fn variables_use_replace_and_remove() {
    let s = spec("{variables: {keep: same, changed: new, added: x}}");
    let mut observed = created(&s);
    observed.variables = BTreeMap::from([
        ("keep".into(), "same".into()),
        ("changed".into(), "old".into()),
        ("gone".into(), "y".into()),
    ]);
    assert_eq!(
        stage_patch_operations(&s, &observed),
        vec![
            PatchOp::replace("/variables/added", "x"),
            PatchOp::replace("/variables/changed", "new"),
            PatchOp::remove("/variables/gone", None),
        ]
    );
}

/// Route keys escape `/` as `~1` and write ANY as `*`, as AWS keys methodSettings.
#[test]
fn route_keys_are_escaped() {
    assert_eq!(
        route_settings_key(HttpMethod::Put, "/photos/{photoId}"),
        "~1photos~1{photoId}/PUT"
    );
    assert_eq!(route_settings_key(HttpMethod::Any, "/health"), "~1health/*");
    assert_eq!(route_settings_key(HttpMethod::Get, "/"), "~1/GET");
    let s =
        spec("{routeSettings: [{method: PUT, path: '/photos/{photoId}', metricsEnabled: true}]}");
    let ops = stage_patch_operations(&s, &created(&s));
    assert!(ops.contains(&PatchOp::replace(
        "/~1photos~1{photoId}/PUT/metrics/enabled",
        "true"
    )));
    assert!(
        ops.iter()
            .all(|op| op.path.starts_with("/~1photos~1{photoId}/PUT/"))
    );
}

/// A route entry takes what the route does not set from the stage, and is not
/// created at all when it would equal the stage's settings.
#[test]
fn route_settings_inherit_the_stage() {
    let same = spec(
        "{metricsEnabled: true, routeSettings: [{method: GET, path: /a, metricsEnabled: true}]}",
    );
    let ops = stage_patch_operations(&same, &created(&same));
    assert!(ops.iter().all(|op| op.path.starts_with("/*/*/")), "{ops:?}");

    let s = spec(
        "{throttling: {rateLimit: 100, burstLimit: 200}, logging: {level: INFO},
              routeSettings: [{method: GET, path: /a, caching: {enabled: true, ttlSeconds: 30}}]}",
    );
    let ops = stage_patch_operations(&s, &created(&s));
    let route: Vec<&PatchOp> = ops
        .iter()
        .filter(|op| op.path.starts_with("/~1a/GET/"))
        .collect();
    for (path, value) in [
        ("/~1a/GET/throttling/rateLimit", "100"),
        ("/~1a/GET/throttling/burstLimit", "200"),
        ("/~1a/GET/logging/loglevel", "INFO"),
        ("/~1a/GET/caching/enabled", "true"),
        ("/~1a/GET/caching/ttlInSeconds", "30"),
        (
            "/~1a/GET/caching/requireAuthorizationForCacheControl",
            "false",
        ),
    ] {
        assert!(
            route.contains(&&PatchOp::replace(path, value)),
            "{path}: {route:?}"
        );
    }
}

/// Entries of routes the spec no longer lists are removed; the stage-wide one stays.
#[test]
fn stale_route_entries_are_removed() {
    let s = spec("{}");
    let mut observed = created(&s);
    observed
        .method_settings
        .insert("*/*".into(), aws_fresh_entry());
    observed
        .method_settings
        .insert("~1old/GET".into(), aws_fresh_entry());
    assert_eq!(
        stage_patch_operations(&s, &observed),
        vec![PatchOp::remove("/~1old/GET", None)]
    );
}

/// Cache cluster: enabling sets the size (0.5 by default); disabling leaves the size.
#[test]
fn cache_cluster_enable_and_disable() {
    let s = spec("{caching: {clusterEnabled: true}}");
    let mut observed = created(&spec("{}"));
    assert_eq!(
        stage_patch_operations(&s, &observed),
        vec![
            PatchOp::replace("/cacheClusterEnabled", "true"),
            PatchOp::replace("/cacheClusterSize", "0.5"),
        ]
    );
    observed.cache_cluster_enabled = true;
    observed.cache_cluster_size = Some("6.1".into());
    assert_eq!(
        stage_patch_operations(&spec("{}"), &observed),
        vec![PatchOp::replace("/cacheClusterEnabled", "false")]
    );
    assert_eq!(
        stage_patch_operations(
            &spec("{caching: {clusterEnabled: true, clusterSize: '237'}}"),
            &observed
        ),
        vec![PatchOp::replace("/cacheClusterSize", "237")]
    );
}

/// Description and tracing are replaced when they differ; no description is "".
#[test]
fn description_and_tracing() {
    let mut observed = created(&spec("{}"));
    observed.description = "old".into();
    observed.tracing_enabled = true;
    assert_eq!(
        stage_patch_operations(&spec("{}"), &observed),
        vec![
            PatchOp::replace("/description", ""),
            PatchOp::replace("/tracingEnabled", "false"),
        ]
    );
}

/// Access logs: set field by field, removed whole when the spec drops them.
#[test]
fn access_log_set_change_remove() {
    let s = spec(
        r#"{accessLog: {destinationArn: "arn:aws:logs:us-east-1:123456789012:log-group:a", format: "$context.requestId"}}"#,
    );
    let mut observed = created(&spec("{}"));
    assert_eq!(
        stage_patch_operations(&s, &observed),
        vec![
            PatchOp::replace(
                "/accessLogSettings/destinationArn",
                "arn:aws:logs:us-east-1:123456789012:log-group:a"
            ),
            PatchOp::replace("/accessLogSettings/format", "$context.requestId"),
        ]
    );
    observed.access_log = Some((
        "arn:aws:logs:us-east-1:123456789012:log-group:a".into(),
        "$context.requestId $context.status".into(),
    ));
    assert_eq!(
        stage_patch_operations(&s, &observed),
        vec![PatchOp::replace(
            "/accessLogSettings/format",
            "$context.requestId"
        )]
    );
    assert_eq!(
        stage_patch_operations(&spec("{}"), &observed),
        vec![PatchOp::remove("/accessLogSettings", None)]
    );
}

/// A promoted canary leaves the stage; new deployments stop going to it.
#[test]
fn promoted_canary_is_removed() {
    let s = spec("{canary: {percentTraffic: 10, promote: true}}");
    let mut observed = created(&spec("{}"));
    observed.canary = Some(ObservedCanary {
        deployment_id: Some("d2".into()),
        percent_traffic: 10.0,
        stage_variable_overrides: BTreeMap::new(),
        use_stage_cache: false,
    });
    assert_eq!(
        stage_patch_operations(&s, &observed),
        vec![PatchOp::remove("/canarySettings", None)]
    );
    assert!(!canary_active(&s));
    assert!(canary_active(&spec("{canary: {percentTraffic: 10}}")));
}

/// Canary: created field by field, overrides diffed, removed whole when dropped.
#[test]
fn canary_set_change_remove() {
    let s = spec("{canary: {percentTraffic: 10, variableOverrides: {a: x, b: y}}}");
    let mut observed = created(&spec("{}"));
    assert_eq!(
        stage_patch_operations(&s, &observed),
        vec![
            PatchOp::replace("/canarySettings/percentTraffic", "10"),
            PatchOp::replace("/canarySettings/stageVariableOverrides/a", "x"),
            PatchOp::replace("/canarySettings/stageVariableOverrides/b", "y"),
            PatchOp::replace("/canarySettings/useStageCache", "false"),
        ]
    );
    observed.canary = Some(ObservedCanary {
        deployment_id: Some("dep0".into()),
        percent_traffic: 10.000_000_001,
        stage_variable_overrides: BTreeMap::from([
            ("a".into(), "old".into()),
            ("c".into(), "z".into()),
        ]),
        use_stage_cache: false,
    });
    assert_eq!(
        stage_patch_operations(&s, &observed),
        vec![
            PatchOp::replace("/canarySettings/stageVariableOverrides/a", "x"),
            PatchOp::replace("/canarySettings/stageVariableOverrides/b", "y"),
            PatchOp::remove("/canarySettings/stageVariableOverrides/c", None),
        ]
    );
    assert_eq!(
        stage_patch_operations(&spec("{}"), &observed),
        vec![PatchOp::remove("/canarySettings", None)]
    );
}

/// CreateStage carries variables, description, cache cluster, tracing and tags.
#[test]
fn create_request_from_spec() {
    let c = desired_create_stage(&spec(FULL));
    assert_eq!(c.stage_name, "prod");
    assert_eq!(c.description.as_deref(), Some("Production"));
    assert_eq!(c.variables.get("table").map(String::as_str), Some("photos"));
    assert!(c.cache_cluster_enabled);
    assert_eq!(c.cache_cluster_size.as_deref(), Some("1.6"));
    assert!(c.tracing_enabled);
    assert_eq!(c.tags.get("team").map(String::as_str), Some("photos"));
    let plain = desired_create_stage(&spec("{description: ''}"));
    assert_eq!(plain.description, None);
    assert!(!plain.cache_cluster_enabled);
    assert_eq!(plain.cache_cluster_size, None);
}

/// Tag drift: changed and new tags set, removed ones untagged.
#[test]
fn stage_tag_drift() {
    let s = spec("{tags: {team: photos, env: prod}}");
    let mut observed = created(&s);
    observed.tags.insert("env".into(), "dev".into());
    observed.tags.insert("stale".into(), "x".into());
    assert_eq!(
        stage_tag_changes(&s, &observed),
        (
            BTreeMap::from([("env".to_string(), "prod".to_string())]),
            vec!["stale".to_string()]
        )
    );
}

/// The fingerprint is 64-bit FNV-1a, checked against the published test vectors.
#[test]
fn fingerprint_is_fnv1a_64() {
    assert_eq!(fingerprint(""), "cbf29ce484222325");
    assert_eq!(fingerprint("a"), "af63dc4c8601ec8c");
    assert_eq!(fingerprint("foobar"), "85944171f73967e8");
    assert_ne!(fingerprint("GET /a"), fingerprint("GET /b"));
}

/// A deployment is found again by the fingerprint in its description, newest first.
#[test]
fn deployment_found_by_fingerprint() {
    let d = |id: &str, created: i64, fp: &str| ObservedDeployment {
        id: id.into(),
        created,
        description: deployment_description(fp),
    };
    let deployments = vec![
        d("a1", 100, "aaaa"),
        d("b1", 200, "bbbb"),
        d("a2", 300, "aaaa"),
        ObservedDeployment {
            id: "manual".into(),
            created: 400,
            description: "made by hand".into(),
        },
    ];
    assert_eq!(deployment_for_fingerprint(&deployments, "aaaa"), Some("a2"));
    assert_eq!(deployment_for_fingerprint(&deployments, "bbbb"), Some("b1"));
    assert_eq!(deployment_for_fingerprint(&deployments, "cccc"), None);
}

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

fn policy(yaml: &str) -> DeploymentPolicy {
    serde_yaml::from_str(yaml).unwrap()
}

/// Input for a stage that serves deployment `dep1` of fingerprint `f1`, deployed
/// long ago, with every route in effect.
fn input<'a>(policy: &'a DeploymentPolicy) -> DeploymentInput<'a> {
    DeploymentInput {
        policy,
        fingerprint: "f1",
        fingerprint_since: ts(0),
        now: ts(1000),
        routes_in_effect: true,
        deployed_fingerprint: Some("f1"),
        deployed_deployment_id: Some("dep1"),
        deployed_revision: None,
        stage_deployment_id: Some("dep1"),
        existing_deployment: Some("dep1"),
    }
}

fn wait(secs: u64, reason: WaitReason) -> DeploymentDecision {
    DeploymentDecision::Wait {
        remaining: Duration::from_secs(secs),
        reason,
    }
}

/// A converged stage plans nothing, whatever the policy.
#[test]
fn converged_deployment_plans_nothing() {
    let automatic = policy("{}");
    assert_eq!(
        deployment_decision(&input(&automatic)),
        DeploymentDecision::Nothing
    );
    let manual = policy("{policy: Manual, revision: 3}");
    let i = DeploymentInput {
        deployed_revision: Some(3),
        ..input(&manual)
    };
    assert_eq!(deployment_decision(&i), DeploymentDecision::Nothing);
    let pinned = policy("{policy: Pinned, deploymentId: dep1}");
    assert_eq!(
        deployment_decision(&input(&pinned)),
        DeploymentDecision::Nothing
    );
}

/// Automatic: a new fingerprint waits out the debounce, then makes one deployment.
#[test]
fn automatic_debounces_then_deploys() {
    let p = policy("{debounceSeconds: 10}");
    let changed = |now: i64| DeploymentInput {
        fingerprint: "f2",
        fingerprint_since: ts(100),
        now: ts(now),
        existing_deployment: None,
        ..input(&p)
    };
    assert_eq!(
        deployment_decision(&changed(100)),
        wait(10, WaitReason::Debounce)
    );
    assert_eq!(
        deployment_decision(&changed(107)),
        wait(3, WaitReason::Debounce)
    );
    assert_eq!(
        deployment_decision(&changed(110)),
        DeploymentDecision::Deploy
    );
    assert_eq!(
        deployment_decision(&changed(5000)),
        DeploymentDecision::Deploy
    );
}

/// Automatic: a burst of changes inside the debounce window makes one deployment,
/// of the last configuration.
#[test]
fn burst_of_changes_makes_one_deployment() {
    let p = policy("{debounceSeconds: 10}");
    // (second, fingerprint the API has from then on)
    let edits = [(0, "f2"), (3, "f3"), (7, "f4"), (12, "f5"), (20, "f6")];
    let mut fingerprint = "f1";
    let mut since = ts(-1000);
    let mut deployed: Option<String> = Some("f1".into());
    let mut stage_on: String = "dep-f1".into();
    let mut made: Vec<String> = Vec::new();
    for now in 0..100 {
        if let Some((_, fp)) = edits.iter().find(|(at, _)| *at == now) {
            fingerprint = fp;
            since = ts(now);
        }
        let existing = made
            .iter()
            .find(|d| d.as_str() == format!("dep-{fingerprint}"))
            .cloned();
        let i = DeploymentInput {
            policy: &p,
            fingerprint,
            fingerprint_since: since,
            now: ts(now),
            routes_in_effect: true,
            deployed_fingerprint: deployed.as_deref(),
            deployed_deployment_id: Some(&stage_on),
            deployed_revision: None,
            stage_deployment_id: Some(&stage_on),
            existing_deployment: existing.as_deref(),
        };
        match deployment_decision(&i) {
            DeploymentDecision::Deploy => {
                let id = format!("dep-{fingerprint}");
                made.push(id.clone());
                stage_on = id;
                deployed = Some(fingerprint.to_string());
            }
            DeploymentDecision::Nothing | DeploymentDecision::Wait { .. } => {}
            other => panic!("unexpected {other:?} at {now}"),
        }
    }
    assert_eq!(made, vec!["dep-f6".to_string()]);
}

/// Automatic: no deployment while a route is not in effect, even after the debounce.
#[test]
fn automatic_waits_for_routes() {
    let p = policy("{}");
    let i = DeploymentInput {
        fingerprint: "f2",
        routes_in_effect: false,
        existing_deployment: None,
        ..input(&p)
    };
    assert_eq!(
        deployment_decision(&i),
        wait(5, WaitReason::RoutesNotInEffect)
    );
}

/// Automatic: a deployment another stage made for this configuration is reused.
#[test]
fn automatic_reuses_existing_deployment() {
    let p = policy("{}");
    let i = DeploymentInput {
        fingerprint: "f2",
        existing_deployment: Some("dep2"),
        ..input(&p)
    };
    assert_eq!(
        deployment_decision(&i),
        DeploymentDecision::PointStageAt("dep2".into())
    );
    // The same, but within the debounce window: it still waits.
    let early = DeploymentInput {
        fingerprint_since: ts(995),
        ..i.clone()
    };
    assert_eq!(deployment_decision(&early), wait(5, WaitReason::Debounce));
}

/// Automatic: the stage already serves this configuration's deployment but status
/// does not say so (crash before the status write): record it, no AWS call.
#[test]
fn automatic_records_deployment_status_missed() {
    let p = policy("{}");
    let i = DeploymentInput {
        fingerprint: "f2",
        fingerprint_since: ts(999),
        stage_deployment_id: Some("dep2"),
        existing_deployment: Some("dep2"),
        ..input(&p)
    };
    assert_eq!(
        deployment_decision(&i),
        DeploymentDecision::Record("dep2".into())
    );
}

/// Automatic: a stage moved off its deployment (or deleted) behind our back is put
/// back at once, without a new deployment or a debounce.
#[test]
fn automatic_corrects_drift_immediately() {
    let p = policy("{}");
    let moved = DeploymentInput {
        fingerprint_since: ts(999),
        stage_deployment_id: Some("other"),
        existing_deployment: None,
        ..input(&p)
    };
    assert_eq!(
        deployment_decision(&moved),
        DeploymentDecision::PointStageAt("dep1".into())
    );
    let deleted = DeploymentInput {
        stage_deployment_id: None,
        ..moved
    };
    assert_eq!(
        deployment_decision(&deleted),
        DeploymentDecision::PointStageAt("dep1".into())
    );
}

/// Automatic: a new stage gets its first deployment after the debounce.
#[test]
fn automatic_first_deployment() {
    let p = policy("{debounceSeconds: 0}");
    let i = DeploymentInput {
        fingerprint_since: ts(1000),
        deployed_fingerprint: None,
        deployed_deployment_id: None,
        stage_deployment_id: None,
        existing_deployment: None,
        ..input(&p)
    };
    assert_eq!(deployment_decision(&i), DeploymentDecision::Deploy);
}

/// A clock that went backwards never makes the wait longer than the window.
#[test]
fn debounce_with_clock_skew() {
    let p = policy("{debounceSeconds: 10}");
    let i = DeploymentInput {
        fingerprint: "f2",
        fingerprint_since: ts(2000),
        now: ts(1000),
        existing_deployment: None,
        ..input(&p)
    };
    assert_eq!(deployment_decision(&i), wait(10, WaitReason::Debounce));
}

/// Manual: the first deployment happens when the stage has none yet, once the
/// configuration has settled for the debounce (a stage applied with its routes
/// must not snapshot the first few).
#[test]
fn manual_first_deployment() {
    let p = policy("{policy: Manual}");
    let settling = DeploymentInput {
        deployed_fingerprint: None,
        deployed_deployment_id: None,
        stage_deployment_id: None,
        existing_deployment: None,
        fingerprint_since: ts(0),
        now: ts(4),
        ..input(&p)
    };
    assert_eq!(
        deployment_decision(&settling),
        wait(6, WaitReason::Debounce)
    );
    let settled = DeploymentInput {
        now: ts(10),
        ..settling
    };
    assert_eq!(deployment_decision(&settled), DeploymentDecision::Deploy);
}

/// Manual: an API change alone deploys nothing; a revision bump deploys, with no debounce.
#[test]
fn manual_deploys_on_revision_only() {
    let p = policy("{policy: Manual, revision: 1}");
    let changed = DeploymentInput {
        fingerprint: "f2",
        fingerprint_since: ts(1000),
        deployed_revision: Some(1),
        existing_deployment: None,
        ..input(&p)
    };
    assert_eq!(deployment_decision(&changed), DeploymentDecision::Nothing);
    let p2 = policy("{policy: Manual, revision: 2}");
    let bumped = DeploymentInput {
        policy: &p2,
        ..changed.clone()
    };
    assert_eq!(deployment_decision(&bumped), DeploymentDecision::Deploy);
    let not_ready = DeploymentInput {
        routes_in_effect: false,
        ..bumped.clone()
    };
    assert_eq!(
        deployment_decision(&not_ready),
        wait(5, WaitReason::RoutesNotInEffect)
    );
    // Without a revision nothing is ever redeployed.
    let none = policy("{policy: Manual}");
    let no_revision = DeploymentInput {
        policy: &none,
        deployed_revision: None,
        ..changed
    };
    assert_eq!(
        deployment_decision(&no_revision),
        DeploymentDecision::Nothing
    );
}

/// Manual: a bump with an unchanged configuration reuses its deployment.
#[test]
fn manual_bump_reuses_deployment() {
    let p = policy("{policy: Manual, revision: 2}");
    let i = DeploymentInput {
        deployed_revision: Some(1),
        ..input(&p)
    };
    assert_eq!(
        deployment_decision(&i),
        DeploymentDecision::Record("dep1".into())
    );
    let elsewhere = DeploymentInput {
        existing_deployment: Some("dep9"),
        ..i
    };
    assert_eq!(
        deployment_decision(&elsewhere),
        DeploymentDecision::PointStageAt("dep9".into())
    );
}

/// Manual: drift goes back to the last deployed deployment, not to the current API.
#[test]
fn manual_corrects_drift_to_last_deployment() {
    let p = policy("{policy: Manual, revision: 1}");
    let i = DeploymentInput {
        fingerprint: "f2",
        deployed_revision: Some(1),
        stage_deployment_id: None,
        existing_deployment: None,
        ..input(&p)
    };
    assert_eq!(
        deployment_decision(&i),
        DeploymentDecision::PointStageAt("dep1".into())
    );
}

/// Pinned: always the named deployment, regardless of debounce or routes.
#[test]
fn pinned_points_at_deployment() {
    let p = policy("{policy: Pinned, deploymentId: abc123}");
    let i = DeploymentInput {
        fingerprint: "f2",
        fingerprint_since: ts(1000),
        routes_in_effect: false,
        ..input(&p)
    };
    assert_eq!(
        deployment_decision(&i),
        DeploymentDecision::PointStageAt("abc123".into())
    );
    let missing_stage = DeploymentInput {
        stage_deployment_id: None,
        ..i
    };
    assert_eq!(
        deployment_decision(&missing_stage),
        DeploymentDecision::PointStageAt("abc123".into())
    );
}

fn deployments(list: &[(&str, i64)]) -> Vec<ObservedDeployment> {
    list.iter()
        .map(|(id, created)| ObservedDeployment {
            id: id.to_string(),
            created: *created,
            description: String::new(),
        })
        .collect()
}

/// GC keeps the newest `keep` and deletes the rest, oldest first.
#[test]
fn gc_keeps_newest() {
    let d = deployments(&[("c", 300), ("a", 100), ("e", 500), ("b", 200), ("d", 400)]);
    assert_eq!(
        deployments_to_delete(&d, &BTreeSet::new(), 2),
        vec!["a".to_string(), "b".to_string(), "c".to_string()]
    );
    assert_eq!(
        deployments_to_delete(&d, &BTreeSet::new(), 5),
        Vec::<String>::new()
    );
    assert_eq!(
        deployments_to_delete(&d, &BTreeSet::new(), 50),
        Vec::<String>::new()
    );
}

/// GC never deletes a deployment a stage or canary uses, however old.
#[test]
fn gc_never_deletes_in_use() {
    let d = deployments(&[("a", 100), ("b", 200), ("c", 300), ("d", 400)]);
    let in_use = BTreeSet::from(["a".to_string(), "c".to_string()]);
    assert_eq!(deployments_to_delete(&d, &in_use, 1), vec!["b".to_string()]);
    assert_eq!(
        deployments_to_delete(&d, &in_use, 0),
        vec!["b".to_string(), "d".to_string()]
    );
}

/// GC is stable when creation times tie (AWS reports whole seconds).
#[test]
fn gc_ties_are_stable() {
    let d = deployments(&[("x", 100), ("y", 100), ("z", 100)]);
    let mut reversed = d.clone();
    reversed.reverse();
    let once = deployments_to_delete(&d, &BTreeSet::new(), 1);
    assert_eq!(once, deployments_to_delete(&reversed, &BTreeSet::new(), 1));
    assert_eq!(once.len(), 2);
}
