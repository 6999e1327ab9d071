use super::*;

fn route(yaml: &str) -> RouteSpec {
    serde_yaml::from_str(yaml).expect("test route parses")
}

fn uri(name: &str) -> String {
    format!(
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:{name}/invocations"
    )
}

static VALIDATORS: std::sync::LazyLock<BTreeMap<String, String>> =
    std::sync::LazyLock::new(|| BTreeMap::from([("apigw-body".to_string(), "v1".to_string())]));

static OPEN: std::sync::LazyLock<crate::plan::access::Access> =
    std::sync::LazyLock::new(crate::plan::access::Access::unrestricted);

fn ctx(authorizers: &BTreeMap<String, AuthorizerState>) -> DesiredContext<'_> {
    DesiredContext {
        authorizers,
        lambda_uri: &uri,
        validators: &VALIDATORS,
        region: "us-east-1",
        partition: "aws",
        account: "123456789012",
        access: &OPEN,
    }
}

/// A route naming a function or role outside the binding's allow-lists is not
/// part of the API (no method, no permission), and says which value and binding.
#[test]
fn routes_outside_the_allow_lists_are_refused() {
    let access = crate::plan::access::Access {
        binding: Some("team-a".into()),
        functions: Some(vec![
            "arn:aws:lambda:*:123456789012:function:team-a-*".into(),
        ]),
        roles: Some(vec![]),
        ..crate::plan::access::Access::unrestricted()
    };
    let authorizers = BTreeMap::new();
    let ctx = DesiredContext {
        access: &access,
        ..ctx(&authorizers)
    };
    let ok = route(
        "{restApiRef: {name: a}, method: GET, path: /a, integration: {lambda: {functionName: team-a-get}}}",
    );
    let other = route(
        "{restApiRef: {name: a}, method: GET, path: /b, integration: {lambda: {functionName: team-b-get}}}",
    );
    let role = route(
        "{restApiRef: {name: a}, method: POST, path: /q, integration: {aws: {service: sqs, path: 123456789012/q, credentialsRoleArn: 'arn:aws:iam::123456789012:role/admin'}}}",
    );
    let desired = desired_structure(
        &[
            input("ok", &ok),
            input("other", &other),
            input("role", &role),
        ],
        &ctx,
    );
    assert!(matches!(
        desired.outcomes["ok"],
        RouteOutcome::Accepted { .. }
    ));
    assert_eq!(desired.methods.len(), 1);
    for name in ["other", "role"] {
        let RouteOutcome::NotAllowed { message } = &desired.outcomes[name] else {
            panic!("{name}: {:?}", desired.outcomes[name]);
        };
        assert!(message.contains("AwsAccountBinding team-a"), "{message}");
    }
}

fn input<'a>(name: &'a str, spec: &'a RouteSpec) -> RouteInput<'a> {
    RouteInput {
        name,
        spec,
        created: "2026-01-01T00:00:00Z".into(),
        was_in_effect: false,
        deleting: false,
    }
}

fn observe(desired: &DesiredStructure) -> Vec<ObservedResource> {
    desired
        .resource_paths()
        .into_iter()
        .enumerate()
        .map(|(i, path)| ObservedResource {
            id: format!("r{i}"),
            methods: desired
                .methods
                .iter()
                .filter(|((p, _), _)| *p == path)
                .map(|((_, v), m)| (v.clone(), m.clone()))
                .collect(),
            path,
        })
        .collect()
}

/// Routes sharing `/photos` make one resource each, parents before children.
#[test]
fn shared_segments_are_created_once_parents_first() {
    let a = route(
        "{restApiRef: {name: api}, method: PUT, path: /photos, integration: {lambda: {functionName: upload}}}",
    );
    let b = route(
        "{restApiRef: {name: api}, method: POST, path: '/photos/{photoId}/filter', integration: {lambda: {functionName: filter}}}",
    );
    let auth = BTreeMap::new();
    let desired = desired_structure(&[input("a", &a), input("b", &b)], &ctx(&auth));
    let root = ObservedResource {
        id: "root".into(),
        path: "/".into(),
        methods: BTreeMap::new(),
    };
    let actions = plan_structure(&desired, &[root]);
    let creates: Vec<&str> = actions
        .iter()
        .filter_map(|a| match a {
            StructureAction::CreateResource { path } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        creates,
        vec!["/photos", "/photos/{photoId}", "/photos/{photoId}/filter"]
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| matches!(a, StructureAction::PutMethod { .. }))
            .count(),
        2
    );
}

/// A converged API plans nothing.
#[test]
fn converged_structure_plans_nothing() {
    let a = route(
        "{restApiRef: {name: api}, method: GET, path: /photos, integration: {http: {url: 'https://backend.internal/photos'}}, cors: {allowOrigins: ['https://a.example']}}",
    );
    let auth = BTreeMap::new();
    let desired = desired_structure(&[input("a", &a)], &ctx(&auth));
    assert!(plan_structure(&desired, &observe(&desired)).is_empty());
}

/// Emulators and AWS leave defaults implicit; that is not a difference.
#[test]
fn implicit_defaults_are_not_drift() {
    let a = route("{restApiRef: {name: api}, method: GET, path: /p, integration: {mock: {}}}");
    let auth = BTreeMap::new();
    let desired = desired_structure(&[input("a", &a)], &ctx(&auth));
    let mut observed = observe(&desired);
    for r in observed.iter_mut() {
        for m in r.methods.values_mut() {
            let i = m.integration.as_mut().unwrap();
            i.passthrough_behavior = "when_no_match".into();
            i.timeout_millis = 0;
            i.type_ = "mock".into();
        }
    }
    assert!(plan_structure(&desired, &observed).is_empty());
}

/// An empty template maps its content type to an empty body: AWS keeps it (and
/// answers null, read as ""), so a spec's "" is met, and one AWS has that the spec
/// lacks is a difference, as a missing one is.
#[test]
fn empty_templates_are_templates() {
    let empty = route(
        "{restApiRef: {name: api}, method: POST, path: /q, integration: {http: {url: 'https://backend.internal/q', proxy: false}, requestTemplates: {application/json: ''}, responses: [{statusCode: '200', templates: {application/json: ''}}]}}",
    );
    let none = route(
        "{restApiRef: {name: api}, method: POST, path: /q, integration: {http: {url: 'https://backend.internal/q', proxy: false}, responses: [{statusCode: '200'}]}}",
    );
    let auth = BTreeMap::new();
    let with_empty = desired_structure(&[input("q", &empty)], &ctx(&auth));
    let integration = with_empty
        .methods
        .values()
        .next()
        .unwrap()
        .integration
        .clone()
        .unwrap();
    assert_eq!(integration.request_templates["application/json"], "");
    assert_eq!(
        integration.responses["200"].templates["application/json"],
        ""
    );
    assert!(plan_structure(&with_empty, &observe(&with_empty)).is_empty());
    let without = desired_structure(&[input("q", &none)], &ctx(&auth));
    assert!(
        !plan_structure(&with_empty, &observe(&without)).is_empty(),
        "a template the spec has and AWS lacks is put"
    );
    assert!(
        !plan_structure(&without, &observe(&with_empty)).is_empty(),
        "an empty template AWS has and the spec lacks is removed"
    );
}

/// A changed method is replaced: delete, then put with the new settings.
#[test]
fn changed_method_is_replaced() {
    let old = route(
        "{restApiRef: {name: api}, method: GET, path: /p, integration: {lambda: {functionName: v1}}}",
    );
    let new = route(
        "{restApiRef: {name: api}, method: GET, path: /p, integration: {lambda: {functionName: v2}}}",
    );
    let auth = BTreeMap::new();
    let observed = observe(&desired_structure(&[input("a", &old)], &ctx(&auth)));
    let actions = plan_structure(
        &desired_structure(&[input("a", &new)], &ctx(&auth)),
        &observed,
    );
    assert!(
        matches!(&actions[0], StructureAction::DeleteMethod { path, verb } if path == "/p" && verb == "GET")
    );
    assert!(
        matches!(&actions[1], StructureAction::PutMethod { settings, .. } if settings.integration.as_ref().unwrap().uri.as_deref() == Some(uri("v2").as_str()))
    );
    assert_eq!(actions.len(), 2);
}

/// Deleting the only route under /photos/{id}/filter removes its method and the
/// resources it leaves empty, but not /photos, which another route still uses.
#[test]
fn deleted_route_takes_its_empty_resources_along() {
    let keep =
        route("{restApiRef: {name: api}, method: PUT, path: /photos, integration: {mock: {}}}");
    let gone = route(
        "{restApiRef: {name: api}, method: POST, path: '/photos/{id}/filter', integration: {mock: {}}}",
    );
    let auth = BTreeMap::new();
    let observed = observe(&desired_structure(
        &[input("keep", &keep), input("gone", &gone)],
        &ctx(&auth),
    ));
    let mut deleting = input("gone", &gone);
    deleting.deleting = true;
    let desired = desired_structure(&[input("keep", &keep), deleting], &ctx(&auth));
    assert_eq!(
        plan_structure(&desired, &observed),
        vec![
            StructureAction::DeleteMethod {
                path: "/photos/{id}/filter".into(),
                verb: "POST".into()
            },
            StructureAction::DeleteResource {
                path: "/photos/{id}/filter".into()
            },
            StructureAction::DeleteResource {
                path: "/photos/{id}".into()
            },
        ]
    );
}

/// deletionPolicy: Retain keeps the method when the Route goes.
#[test]
fn retained_route_keeps_its_method() {
    let spec = route(
        "{restApiRef: {name: api}, method: GET, path: /p, integration: {mock: {}}, deletionPolicy: Retain}",
    );
    let auth = BTreeMap::new();
    let observed = observe(&desired_structure(&[input("r", &spec)], &ctx(&auth)));
    let mut deleting = input("r", &spec);
    deleting.deleting = true;
    assert!(plan_structure(&desired_structure(&[deleting], &ctx(&auth)), &observed).is_empty());
}

/// Two routes on one method and path: the one in effect keeps it, whatever the age.
#[test]
fn conflicting_route_loses_to_the_one_in_effect() {
    let spec = route("{restApiRef: {name: api}, method: GET, path: /p, integration: {mock: {}}}");
    let other = route(
        "{restApiRef: {name: api}, method: GET, path: /p, integration: {lambda: {functionName: f}}}",
    );
    let auth = BTreeMap::new();
    let mut holder = input("newer-holder", &spec);
    holder.created = "2026-06-01T00:00:00Z".into();
    holder.was_in_effect = true;
    let older = input("older", &other);
    let desired = desired_structure(&[older, holder], &ctx(&auth));
    assert_eq!(
        desired.outcomes["older"],
        RouteOutcome::Conflict {
            holder: "newer-holder".into()
        }
    );
    assert_eq!(
        desired.methods[&("/p".to_string(), "GET".to_string())]
            .integration
            .as_ref()
            .unwrap()
            .type_,
        "MOCK"
    );
}

/// Sibling variables with different names are refused with a message that says what to do.
#[test]
fn sibling_variable_names_must_agree() {
    let a = route(
        "{restApiRef: {name: api}, method: POST, path: '/photos/{photoId}/filter', integration: {mock: {}}}",
    );
    let b = route(
        "{restApiRef: {name: api}, method: GET, path: '/photos/{userId}', integration: {mock: {}}}",
    );
    let auth = BTreeMap::new();
    let desired = desired_structure(&[input("a", &a), input("b", &b)], &ctx(&auth));
    match &desired.outcomes["b"] {
        RouteOutcome::PathConflict { message } => {
            assert!(message.contains("{photoId}"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

/// Cognito authorizers give COGNITO_USER_POOLS with scopes; Lambda ones CUSTOM;
/// a missing or unready authorizer keeps the route out (never unprotected).
#[test]
fn authorization_follows_the_authorizer() {
    let spec = route(
        "{restApiRef: {name: api}, method: PUT, path: /p, integration: {mock: {}}, authorization: {authorizerRef: {name: users}, scopes: [photos/write]}}",
    );
    let mut auth = BTreeMap::from([(
        "users".to_string(),
        AuthorizerState::Ready {
            id: "au1".into(),
            cognito: true,
        },
    )]);
    let m = method_settings("r", &spec, &ctx(&auth)).unwrap();
    assert_eq!(m.authorization_type, "COGNITO_USER_POOLS");
    assert_eq!(m.authorizer_id.as_deref(), Some("au1"));
    assert!(m.authorization_scopes.contains("photos/write"));
    auth.insert(
        "users".into(),
        AuthorizerState::Ready {
            id: "au1".into(),
            cognito: false,
        },
    );
    assert!(matches!(
        method_settings("r", &spec, &ctx(&auth)),
        Err(RouteOutcome::Invalid { .. })
    ));
    auth.insert("users".into(), AuthorizerState::NotReady);
    assert_eq!(
        method_settings("r", &spec, &ctx(&auth)),
        Err(RouteOutcome::AuthorizerNotReady {
            name: "users".into()
        })
    );
    auth.clear();
    assert_eq!(
        method_settings("r", &spec, &ctx(&auth)),
        Err(RouteOutcome::AuthorizerMissing {
            name: "users".into()
        })
    );
}

/// Integration kinds map to API Gateway's types and URIs.
#[test]
fn integrations_map_to_aws_types() {
    let auth = BTreeMap::new();
    let c = ctx(&auth);
    let sqs = route(
        "{restApiRef: {name: api}, method: POST, path: /q, integration: {aws: {service: sqs, path: 123456789012/photos, credentialsRoleArn: 'arn:aws:iam::123456789012:role/r'}, requestTemplates: {application/json: 'Action=SendMessage'}}}",
    );
    let i = method_settings("r", &sqs, &c).unwrap().integration.unwrap();
    assert_eq!(i.type_, "AWS");
    assert_eq!(
        i.uri.as_deref(),
        Some("arn:aws:apigateway:us-east-1:sqs:path/123456789012/photos")
    );
    assert_eq!(
        i.credentials.as_deref(),
        Some("arn:aws:iam::123456789012:role/r")
    );
    let sfn = route(
        "{restApiRef: {name: api}, method: POST, path: /s, integration: {aws: {service: states, action: StartExecution, credentialsRoleArn: 'arn:aws:iam::123456789012:role/r'}}}",
    );
    assert_eq!(
        method_settings("r", &sfn, &c)
            .unwrap()
            .integration
            .unwrap()
            .uri
            .as_deref(),
        Some("arn:aws:apigateway:us-east-1:states:action/StartExecution")
    );
    let http = route(
        "{restApiRef: {name: api}, method: GET, path: /h, integration: {http: {url: 'http://nlb.internal/x', proxy: false, vpcLinkId: abc123}, timeoutMillis: 5000}}",
    );
    let i = method_settings("r", &http, &c)
        .unwrap()
        .integration
        .unwrap();
    assert_eq!(
        (
            i.type_.as_str(),
            i.http_method.as_deref(),
            i.connection_id.as_deref(),
            i.timeout_millis
        ),
        ("HTTP", Some("GET"), Some("abc123"), 5000)
    );
    let lambda = route(
        "{restApiRef: {name: api}, method: PUT, path: /l, integration: {lambda: {functionName: upload}}}",
    );
    let i = method_settings("r", &lambda, &c)
        .unwrap()
        .integration
        .unwrap();
    assert_eq!(
        (i.type_.as_str(), i.http_method.as_deref()),
        ("AWS_PROXY", Some("POST"))
    );
}

/// Request validation points the method at the shared validator and the route's models.
#[test]
fn request_validation_uses_validator_and_models() {
    let spec = route(
        "{restApiRef: {name: api}, method: PUT, path: /p, integration: {mock: {}}, requestValidation: {body: true, models: {application/json: {schema: {type: object}}}}, responses: [{statusCode: '201', models: {application/json: {schema: {type: object}}}}]}",
    );
    let auth = BTreeMap::new();
    let m = method_settings("upload", &spec, &ctx(&auth)).unwrap();
    assert_eq!(m.request_validator_id.as_deref(), Some("v1"));
    assert_eq!(
        m.request_models["application/json"],
        "ApigwUploadRequestApplicationJson"
    );
    assert_eq!(
        m.responses["201"].models["application/json"],
        "ApigwUploadResponse201ApplicationJson"
    );
}

/// CORS on a path creates one OPTIONS preflight covering every CORS method there.
#[test]
fn cors_creates_one_preflight_per_path() {
    let get = route(
        "{restApiRef: {name: api}, method: GET, path: /p, integration: {mock: {}}, cors: {allowOrigins: ['https://a.example'], maxAgeSeconds: 600}}",
    );
    let put = route(
        "{restApiRef: {name: api}, method: PUT, path: /p, integration: {mock: {}}, cors: {allowOrigins: ['https://a.example']}}",
    );
    let auth = BTreeMap::new();
    let desired = desired_structure(&[input("get", &get), input("put", &put)], &ctx(&auth));
    let options = &desired.methods[&("/p".to_string(), "OPTIONS".to_string())];
    let mapped = &options.integration.as_ref().unwrap().responses["200"].parameters;
    assert_eq!(
        mapped["method.response.header.Access-Control-Allow-Methods"],
        "'GET,OPTIONS,PUT'"
    );
    assert_eq!(
        mapped["method.response.header.Access-Control-Allow-Origin"],
        "'https://a.example'"
    );
    assert_eq!(
        mapped["method.response.header.Access-Control-Max-Age"],
        "'600'"
    );
    assert_eq!(desired.methods.len(), 3);
    // The non-proxy GET answers with the origin header too.
    let get_method = &desired.methods[&("/p".to_string(), "GET".to_string())];
    assert!(
        get_method.responses["200"]
            .parameters
            .contains_key("method.response.header.Access-Control-Allow-Origin")
    );
}

#[test]
fn independent_structure_writes_wait_only_for_what_they_need() {
    let create = |p: &str| StructureAction::CreateResource { path: p.into() };
    let put = |p: &str| StructureAction::PutMethod {
        path: p.into(),
        verb: "GET".into(),
        settings: Box::default(),
    };
    let delete_method = |p: &str| StructureAction::DeleteMethod {
        path: p.into(),
        verb: "GET".into(),
    };
    let delete = |p: &str| StructureAction::DeleteResource { path: p.into() };
    let actions = vec![
        create("/a"),          // 0
        create("/b"),          // 1
        create("/a/x"),        // 2
        put("/a/x"),           // 3
        put("/b"),             // 4
        delete_method("/old"), // 5 replaced below
        put("/old"),           // 6
        put("/kept"),          // 7: resource exists already
        delete_method("/c/d"), // 8
        delete("/c/d"),        // 9
        delete("/c"),          // 10
    ];
    let deps = structure_dependencies(&actions);
    assert_eq!(deps[0], Vec::<usize>::new());
    assert_eq!(deps[1], Vec::<usize>::new());
    assert_eq!(deps[2], vec![0]);
    assert_eq!(deps[3], vec![2]);
    assert_eq!(deps[4], vec![1]);
    assert_eq!(deps[6], vec![5]);
    assert_eq!(deps[7], Vec::<usize>::new());
    assert_eq!(deps[8], Vec::<usize>::new());
    assert_eq!(deps[9], vec![8]);
    assert_eq!(deps[10], vec![8, 9]);
    // Never a later action: the plan order stays a valid sequential order.
    for (i, d) in deps.iter().enumerate() {
        assert!(d.iter().all(|j| *j < i), "{i}: {d:?}");
    }
}
