use super::*;

fn spec(yaml: &str) -> WebSocketApiSpec {
    serde_yaml::from_str(yaml).unwrap()
}

fn owner() -> Owner {
    Owner {
        uid: "u-1".into(),
        namespace: "photos".into(),
        name: "notifications".into(),
    }
}

fn route(key: &str, uri: &str) -> DesiredRoute {
    DesiredRoute {
        key: key.into(),
        integration_uri: uri.into(),
        timeout_millis: DEFAULT_TIMEOUT_MILLIS,
        authorizer_id: None,
        api_key_required: false,
        two_way: false,
    }
}

fn observed_route(id: &str, key: &str, integration: &str) -> ObservedRoute {
    ObservedRoute {
        id: id.into(),
        key: key.into(),
        target: Some(format!("integrations/{integration}")),
        authorization_type: "NONE".into(),
        ..Default::default()
    }
}

/// plan_routes on the operator's own API, with nothing recorded as managed.
fn plan(
    desired: &[DesiredRoute],
    routes: &[ObservedRoute],
    integrations: &[ObservedIntegration],
    responses: &BTreeMap<String, String>,
) -> RoutesPlan {
    plan_routes(
        desired,
        routes,
        integrations,
        responses,
        &BTreeSet::new(),
        true,
    )
}

fn integration(id: &str, uri: &str, key: &str) -> ObservedIntegration {
    ObservedIntegration {
        id: id.into(),
        integration_type: "AWS_PROXY".into(),
        uri: uri.into(),
        timeout_millis: Some(DEFAULT_TIMEOUT_MILLIS),
        description: Some(integration_description(key)),
    }
}

/// Defaults: the object's name, `$request.body.action`, keys from the header,
/// owner tags with kind WebSocketApi.
#[test]
fn desired_api_defaults_and_owner_tags() {
    let s = spec("routes: []\ntags: {team: photos}\n");
    let d = desired_api(&s, "notifications", &owner());
    assert_eq!(d.name, "notifications");
    assert_eq!(d.route_selection_expression, "$request.body.action");
    assert_eq!(d.api_key_selection_expression, "$request.header.x-api-key");
    assert_eq!(d.tags.get("apigw.rs/kind").unwrap(), "WebSocketApi");
    assert_eq!(
        d.tags.get("apigw.rs/owner").unwrap(),
        "photos/notifications"
    );
    assert_eq!(d.tags.get("team").unwrap(), "photos");
}

/// A converged API plans nothing; a changed field is one UpdateApi naming only it;
/// tags added by hand are removed, `aws:` tags are never touched.
#[test]
fn api_plan() {
    let s = spec("description: pushes\napiKeySource: AUTHORIZER\n");
    let d = desired_api(&s, "n", &owner());
    assert_eq!(plan_api(&d, None), vec![ApiAction::Create]);
    assert!(plan_api(&d, Some(&d)).is_empty());
    let mut o = d.clone();
    o.description = "old".into();
    o.tags.insert("added-by-hand".into(), "x".into());
    o.tags
        .insert("aws:cloudformation:stack-name".into(), "x".into());
    let actions = plan_api(&d, Some(&o));
    assert_eq!(
        actions,
        vec![
            ApiAction::Update(ApiUpdate {
                description: Some("pushes".into()),
                ..Default::default()
            }),
            ApiAction::Untag(vec!["added-by-hand".into()]),
        ]
    );
    let ApiAction::Update(u) = &actions[0] else {
        unreachable!()
    };
    assert_eq!(u.fields(), vec!["description"]);
    assert_eq!(
        d.api_key_selection_expression,
        "$context.authorizer.usageIdentifierKey"
    );
}

/// The wss:// URL keeps AWS's host whatever scheme the endpoint came with; the
/// callback URL is https and ends in @connections.
#[test]
fn stage_urls() {
    for endpoint in [
        "wss://abc123.execute-api.us-east-1.amazonaws.com",
        "https://abc123.execute-api.us-east-1.amazonaws.com/",
    ] {
        assert_eq!(
            stage_url(endpoint, "prod"),
            "wss://abc123.execute-api.us-east-1.amazonaws.com/prod"
        );
        assert_eq!(
            callback_url(endpoint, "prod"),
            "https://abc123.execute-api.us-east-1.amazonaws.com/prod/@connections"
        );
    }
}

/// Authorizers are matched by name: new ones are created, changed ones updated
/// (identity sources compared as a set), and ones the spec dropped deleted.
#[test]
fn authorizer_plan() {
    let a = AuthorizerSettings {
        name: "token".into(),
        uri: "uri-1".into(),
        identity_sources: vec!["route.request.querystring.token".into(), "context.x".into()],
        credentials_arn: None,
    };
    let seen = ObservedAuthorizer {
        id: "au1".into(),
        settings: AuthorizerSettings {
            identity_sources: vec!["context.x".into(), "route.request.querystring.token".into()],
            ..a.clone()
        },
    };
    let (up, del) = plan_authorizers(std::slice::from_ref(&a), std::slice::from_ref(&seen));
    assert!(up.is_empty() && del.is_empty());
    let changed = AuthorizerSettings {
        uri: "uri-2".into(),
        ..a.clone()
    };
    let old = ObservedAuthorizer {
        id: "au2".into(),
        settings: AuthorizerSettings {
            name: "old".into(),
            ..a.clone()
        },
    };
    let (up, del) = plan_authorizers(std::slice::from_ref(&changed), &[seen, old.clone()]);
    assert_eq!(
        up,
        vec![AuthorizerAction::Update {
            id: "au1".into(),
            settings: changed
        }]
    );
    assert_eq!(del, vec![old]);
    let (up, _) = plan_authorizers(std::slice::from_ref(&a), &[]);
    assert_eq!(up, vec![AuthorizerAction::Create(a)]);
}

/// A converged route plans Keep everywhere; nothing is removed.
#[test]
fn converged_routes_plan_nothing() {
    let d = [route("$connect", "u1"), route("subscribe", "u2")];
    let routes = [
        observed_route("r1", "$connect", "i1"),
        observed_route("r2", "subscribe", "i2"),
    ];
    let ints = [
        integration("i1", "u1", "$connect"),
        integration("i2", "u2", "subscribe"),
    ];
    let p = plan(&d, &routes, &ints, &BTreeMap::new());
    assert!(p.plans.iter().all(RoutePlan::is_converged), "{p:?}");
    assert!(p.removals.is_empty() && p.orphan_integrations.is_empty());
}

/// A new route creates its integration and route; an integration the operator made
/// for that key that no route targets (a crash between the two calls) is reused.
#[test]
fn new_route_reuses_its_orphaned_integration() {
    let d = [route("subscribe", "u2")];
    let p = plan(&d, &[], &[], &BTreeMap::new());
    assert_eq!(p.plans[0].integration, Step::Create);
    assert_eq!(p.plans[0].route_step, Step::Create);
    let ints = [integration("i9", "u2", "subscribe")];
    let p = plan(&d, &[], &ints, &BTreeMap::new());
    assert_eq!(p.plans[0].integration, Step::Keep("i9".into()));
    assert_eq!(p.plans[0].route_step, Step::Create);
    assert!(p.orphan_integrations.is_empty());
    // Someone else's integration with another description is not taken.
    let foreign = [ObservedIntegration {
        description: None,
        ..integration("i8", "u2", "subscribe")
    }];
    let p = plan(&d, &[], &foreign, &BTreeMap::new());
    assert_eq!(p.plans[0].integration, Step::Create);
    assert!(p.orphan_integrations.is_empty(), "not ours to delete");
}

/// A changed function or timeout updates the integration in place; a changed
/// authorizer or API key requirement updates the route; an integration deleted by
/// hand is made again and the route pointed at it.
#[test]
fn changes_update_in_place() {
    let mut d = route("$connect", "u-new");
    d.authorizer_id = Some("au1".into());
    d.api_key_required = true;
    let routes = [observed_route("r1", "$connect", "i1")];
    let ints = [integration("i1", "u-old", "$connect")];
    let p = plan(std::slice::from_ref(&d), &routes, &ints, &BTreeMap::new());
    assert_eq!(p.plans[0].integration, Step::Update("i1".into()));
    assert_eq!(p.plans[0].route_step, Step::Update("r1".into()));
    let p = plan(std::slice::from_ref(&d), &routes, &[], &BTreeMap::new());
    assert_eq!(p.plans[0].integration, Step::Create);
    assert_eq!(p.plans[0].route_step, Step::Update("r1".into()));
    // Converged with CUSTOM authorization and the authorizer.
    let custom = [ObservedRoute {
        authorization_type: "CUSTOM".into(),
        authorizer_id: Some("au1".into()),
        api_key_required: true,
        ..observed_route("r1", "$connect", "i1")
    }];
    let ints = [integration("i1", "u-new", "$connect")];
    let p = plan(std::slice::from_ref(&d), &custom, &ints, &BTreeMap::new());
    assert!(p.plans[0].is_converged());
}

/// Authorization is compared by type: an AWS_IAM route is not a route without
/// authorization, and a stale authorizer id on a NONE route is no difference.
#[test]
fn authorization_type_is_compared() {
    let d = route("$connect", "u1");
    let ints = [integration("i1", "u1", "$connect")];
    let iam = [ObservedRoute {
        authorization_type: "AWS_IAM".into(),
        ..observed_route("r1", "$connect", "i1")
    }];
    let p = plan(std::slice::from_ref(&d), &iam, &ints, &BTreeMap::new());
    assert_eq!(p.plans[0].route_step, Step::Update("r1".into()));
    let stale = [ObservedRoute {
        authorizer_id: Some("old".into()),
        ..observed_route("r1", "$connect", "i1")
    }];
    let p = plan(&[d], &stale, &ints, &BTreeMap::new());
    assert!(p.plans[0].is_converged());
}

/// On an adopted API, a route the spec names whose integration someone else made
/// gets an integration of its own instead of a change to the shared one.
#[test]
fn foreign_integrations_are_never_updated() {
    let d = [route("$default", "u-new")];
    let routes = [
        observed_route("r1", "$default", "shared"),
        observed_route("r2", "legacy", "shared"),
    ];
    let ints = [ObservedIntegration {
        description: Some("made by hand".into()),
        ..integration("shared", "u-old", "$default")
    }];
    let p = plan_routes(
        &d,
        &routes,
        &ints,
        &BTreeMap::new(),
        &BTreeSet::new(),
        false,
    );
    assert_eq!(p.plans[0].integration, Step::Create);
    assert_eq!(p.plans[0].route_step, Step::Update("r1".into()));
    assert!(p.removals.is_empty());
    // One of the operator's own for the key, left unused by a crash, is taken.
    let with_ours = [ints[0].clone(), integration("mine", "u-old", "$default")];
    let p = plan_routes(
        &d,
        &routes,
        &with_ours,
        &BTreeMap::new(),
        &BTreeSet::new(),
        false,
    );
    assert_eq!(p.plans[0].integration, Step::Update("mine".into()));
    assert!(p.orphan_integrations.is_empty());
}

/// Two-way routes get a `$default` route response and selection expression; a
/// route turned one-way loses its response; a recreated route gets a new one.
#[test]
fn route_responses_follow_two_way() {
    let mut d = route("subscribe", "u2");
    d.two_way = true;
    let plain = [observed_route("r2", "subscribe", "i2")];
    let ints = [integration("i2", "u2", "subscribe")];
    let p = plan(std::slice::from_ref(&d), &plain, &ints, &BTreeMap::new());
    assert_eq!(p.plans[0].route_step, Step::Update("r2".into()));
    assert_eq!(p.plans[0].response, ResponseStep::Create);
    let two_way = [ObservedRoute {
        route_response_selection_expression: Some("$default".into()),
        ..observed_route("r2", "subscribe", "i2")
    }];
    let responses = BTreeMap::from([("subscribe".to_string(), "rr1".to_string())]);
    let p = plan(std::slice::from_ref(&d), &two_way, &ints, &responses);
    assert!(p.plans[0].is_converged());
    let p = plan(&[route("subscribe", "u2")], &two_way, &ints, &responses);
    assert_eq!(p.plans[0].route_step, Step::Update("r2".into()));
    assert_eq!(p.plans[0].response, ResponseStep::Delete("rr1".into()));
    let p = plan(&[d], &[], &ints, &responses);
    assert_eq!(p.plans[0].response, ResponseStep::Create);
}

/// On an adopted API only routes the operator took on are removed when the spec
/// drops them, with their integration unless a route that stays targets it too.
#[test]
fn removals_only_of_managed_routes() {
    let d = [route("$default", "u1")];
    let routes = [
        observed_route("r1", "$default", "i1"),
        observed_route("r2", "subscribe", "i2"),
        observed_route("r3", "legacy", "i3"),
        observed_route("r4", "shared", "i1"),
    ];
    let ints = [
        integration("i1", "u1", "$default"),
        integration("i2", "u2", "subscribe"),
        integration("i3", "u3", "legacy"),
    ];
    let managed: BTreeSet<String> = ["$default", "subscribe", "shared"]
        .into_iter()
        .map(String::from)
        .collect();
    let p = plan_routes(&d, &routes, &ints, &BTreeMap::new(), &managed, false);
    assert_eq!(
        p.removals,
        vec![
            RouteRemoval {
                key: "subscribe".into(),
                route_id: "r2".into(),
                integration_id: Some("i2".into())
            },
            RouteRemoval {
                key: "shared".into(),
                route_id: "r4".into(),
                integration_id: None
            },
        ]
    );
}

/// On the operator's own API, a route whose integration it made is its own even
/// when status lost track of it (a refused status write), and an integration of
/// its own that nothing targets any more is swept.
#[test]
fn own_api_cleans_up_what_status_lost() {
    let d = [route("$default", "u1")];
    let routes = [
        observed_route("r1", "$default", "i1"),
        observed_route("r2", "dropped", "i2"),
    ];
    let ints = [
        integration("i1", "u1", "$default"),
        integration("i2", "u2", "dropped"),
        integration("i3", "u3", "gone"),
    ];
    let p = plan(&d, &routes, &ints, &BTreeMap::new());
    assert_eq!(p.removals.len(), 1);
    assert_eq!(p.removals[0].integration_id.as_deref(), Some("i2"));
    assert_eq!(p.orphan_integrations, vec!["i3".to_string()]);
}

fn stage_spec(yaml: &str) -> StageSpec {
    serde_yaml::from_str(yaml).unwrap()
}

/// A stage's settings map to AutoDeploy and default route settings; a converged
/// stage plans nothing, a changed one one UpdateStage.
#[test]
fn stage_plan() {
    let s = stage_spec(
        "webSocketApiRef: {name: n}\nstageName: prod\nthrottling: {rateLimit: 50, burstLimit: 100}\n\
             logging: {level: INFO}\nmetricsEnabled: true\nvariables: {env: prod}\n",
    );
    let d = desired_stage(&s);
    assert!(d.auto_deploy);
    assert_eq!(d.throttle, Some((50.0, 100)));
    assert_eq!(d.logging_level, "INFO");
    assert_eq!(plan_stage(&d, None), vec![StageAction::Create]);
    assert!(plan_stage(&d, Some(&d)).is_empty());
    let mut o = d.clone();
    o.logging_level = "OFF".into();
    assert_eq!(plan_stage(&d, Some(&o)), vec![StageAction::Update]);
}

/// What UpdateStage cannot unset is not a difference (no endless updates); an
/// access log the spec dropped is deleted with its own call.
#[test]
fn what_update_stage_cannot_unset_is_not_drift() {
    let d = desired_stage(&stage_spec(
        "webSocketApiRef: {name: n}\nstageName: dev\nvariables: {env: dev}\n",
    ));
    let o = StageSettings {
        description: "old".into(),
        variables: BTreeMap::from([
            ("env".to_string(), "dev".to_string()),
            ("removed".to_string(), "x".to_string()),
        ]),
        access_log: Some(("arn".into(), "$context.requestId".into())),
        ..d.clone()
    };
    assert_eq!(plan_stage(&d, Some(&o)), vec![StageAction::DeleteAccessLog]);
    let changed = StageSettings {
        variables: BTreeMap::from([("env".to_string(), "prod".to_string())]),
        ..o.clone()
    };
    assert_eq!(
        plan_stage(&d, Some(&changed)),
        vec![StageAction::Update, StageAction::DeleteAccessLog]
    );
}

/// Route key overrides: compared by what they set (AWS fills in the rest); a
/// changed one is an UpdateStage, a dropped one a DeleteRouteSettings.
#[test]
fn route_key_overrides() {
    let d = desired_stage(&stage_spec(
        "webSocketApiRef: {name: n}\nstageName: prod\n\
             routeKeySettings: [{routeKey: subscribe, throttling: {rateLimit: 5, burstLimit: 10}}]\n",
    ));
    let filled = RouteOverride {
        throttle: Some((5.0, 10)),
        logging_level: Some("OFF".into()),
        data_trace: Some(false),
        detailed_metrics: Some(false),
    };
    let o = StageSettings {
        route_settings: BTreeMap::from([("subscribe".to_string(), filled.clone())]),
        ..d.clone()
    };
    assert!(plan_stage(&d, Some(&o)).is_empty());
    let slower = StageSettings {
        route_settings: BTreeMap::from([(
            "subscribe".to_string(),
            RouteOverride {
                throttle: Some((1.0, 1)),
                ..filled.clone()
            },
        )]),
        ..d.clone()
    };
    assert_eq!(plan_stage(&d, Some(&slower)), vec![StageAction::Update]);
    let extra = StageSettings {
        route_settings: BTreeMap::from([
            ("subscribe".to_string(), filled.clone()),
            ("$default".to_string(), filled),
        ]),
        ..d.clone()
    };
    assert_eq!(
        plan_stage(&d, Some(&extra)),
        vec![StageAction::DeleteRouteSettings(vec!["$default".into()])]
    );
}

/// Without throttling in the spec, whatever AWS reports (the account limits) is
/// not a difference.
#[test]
fn unspecified_throttling_is_not_drift() {
    let d = desired_stage(&stage_spec("webSocketApiRef: {name: n}\nstageName: dev\n"));
    let o = StageSettings {
        throttle: Some((10000.0, 5000)),
        ..d.clone()
    };
    assert!(plan_stage(&d, Some(&o)).is_empty());
}

/// The desired routes name their authorizer by id and their function by URI; a
/// function the URI builder refuses fails the whole set, before any AWS call.
#[test]
fn desired_routes_resolve_authorizers_and_functions() {
    let spec = spec(
        "{routes: [{routeKey: $connect, functionName: on-connect, authorizer: gate}, \
          {routeKey: send, functionName: on-send, twoWay: true, timeoutMillis: 5000}]}",
    );
    let ids = BTreeMap::from([("gate".to_string(), "au1".to_string())]);
    let routes =
        desired_routes(&spec.routes, |f| Ok::<_, String>(format!("uri:{f}")), &ids).unwrap();
    assert_eq!(routes[0].authorizer_id.as_deref(), Some("au1"));
    assert_eq!(routes[0].integration_uri, "uri:on-connect");
    assert_eq!(routes[0].timeout_millis, DEFAULT_TIMEOUT_MILLIS);
    assert!(routes[1].two_way);
    assert_eq!(routes[1].timeout_millis, 5000);
    let refused = desired_routes(&spec.routes, |f| Err::<String, _>(format!("no {f}")), &ids);
    assert_eq!(refused, Err("no on-connect".to_string()));
}
