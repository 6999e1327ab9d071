use super::*;
use crate::api::RouteSpec;
use crate::plan::lambda::FunctionRef;
use crate::plan::routes::{AuthorizerState, DesiredContext, RouteInput, desired_structure};

fn lambda_uri(function: &str) -> String {
    FunctionRef::parse(function)
        .map(|f| f.invocation_uri("aws", "us-east-1", "123456789012"))
        .unwrap_or_else(|_| function.to_string())
}

static VALIDATORS: std::sync::LazyLock<BTreeMap<String, String>> = std::sync::LazyLock::new(|| {
    BTreeMap::from([("apigw-body-and-parameters".to_string(), "v1".to_string())])
});
static OPEN: std::sync::LazyLock<crate::plan::access::Access> =
    std::sync::LazyLock::new(crate::plan::access::Access::unrestricted);

fn ctx(authorizers: &BTreeMap<String, AuthorizerState>) -> DesiredContext<'_> {
    DesiredContext {
        authorizers,
        lambda_uri: &lambda_uri,
        validators: &VALIDATORS,
        region: "us-east-1",
        partition: "aws",
        account: "123456789012",
        access: &OPEN,
    }
}

fn methods_of(
    routes: &[(String, RouteSpec)],
    authorizers: &BTreeMap<String, AuthorizerState>,
) -> BTreeMap<(String, String), MethodSettings> {
    let inputs: Vec<RouteInput<'_>> = routes
        .iter()
        .map(|(name, spec)| RouteInput {
            name,
            spec,
            created: String::new(),
            was_in_effect: false,
            deleting: false,
        })
        .collect();
    let desired = desired_structure(&inputs, &ctx(authorizers));
    assert!(
        desired
            .outcomes
            .values()
            .all(|o| matches!(o, crate::plan::routes::RouteOutcome::Accepted { .. })),
        "{:?}",
        desired.outcomes
    );
    desired.methods
}

const ROUTES: &[&str] = &[
    "{method: GET, path: /photos, integration: {lambda: {functionName: list-photos}}}",
    "{method: PUT, path: '/photos/{photoId}', authorization: {authorizerRef: {name: users}, scopes: [photos/write]}, \
      requestParameters: {method.request.path.photoId: true}, \
      integration: {lambda: {functionName: 'arn:aws:lambda:eu-west-1:123456789012:function:upload:live'}}}",
    "{method: GET, path: '/files/{proxy+}', authorization: {iam: true}, apiKeyRequired: true, operationName: getFile, \
      requestParameters: {method.request.path.proxy: true, method.request.querystring.v: false}, \
      integration: {http: {url: 'https://files.internal/{proxy}', proxy: true, method: POST, vpcLinkId: abc123}, \
        requestParameters: {integration.request.path.proxy: method.request.path.proxy}, timeoutMillis: 5000}}",
    "{method: POST, path: /queue, integration: {aws: {service: sqs, path: 123456789012/jobs, credentialsRoleArn: 'arn:aws:iam::123456789012:role/q', region: eu-west-1}, \
        requestTemplates: {application/json: 'Action=SendMessage', text/plain: ''}, passthroughBehavior: NEVER, \
        responses: [{statusCode: '202', templates: {application/json: '{\"queued\": true}'}}, {statusCode: '500', selectionPattern: '5\\d{2}'}, \
          {statusCode: '400', selectionPattern: '4\\d{2}', templates: {application/json: ''}}]}, \
      responses: [{statusCode: '202'}, {statusCode: '500'}, {statusCode: '400'}]}",
    "{method: GET, path: /health, cors: {allowOrigins: ['https://app.example.com'], maxAgeSeconds: 600}, \
      integration: {mock: {statusCode: 204}, responses: [{statusCode: '204', headerMappings: {method.response.header.X-Up: \"'yes'\"}}]}, \
      responses: [{statusCode: '204', headers: {method.response.header.X-Up: false}}]}",
];

/// Routes -> the methods the operator writes -> exported Routes -> the same methods:
/// applying an export plans nothing for what it carries.
#[test]
fn exported_routes_declare_exactly_the_methods_they_came_from() {
    let authorizers = BTreeMap::from([(
        "users".to_string(),
        AuthorizerState::Ready {
            id: "au1".into(),
            cognito: true,
        },
    )]);
    let original: Vec<(String, RouteSpec)> = ROUTES
        .iter()
        .enumerate()
        .map(|(i, yaml)| {
            let mut spec: Value = serde_yaml::from_str(yaml).unwrap();
            spec["restApiRef"] = json!({"name": "photos"});
            (format!("r{i}"), serde_json::from_value(spec).unwrap())
        })
        .collect();
    let methods = methods_of(&original, &authorizers);
    let live = LiveApi {
        resources: methods
            .iter()
            .map(|((path, verb), m)| ObservedResource {
                id: format!("id-{path}"),
                path: path.clone(),
                methods: BTreeMap::from([(verb.clone(), m.clone())]),
            })
            .collect(),
        authorizers: vec![ObservedAuthorizer {
            id: "au1".into(),
            settings: crate::plan::authorizer::AuthorizerSettings {
                name: "users".into(),
                type_: "COGNITO_USER_POOLS".into(),
                provider_arns: BTreeSet::from([
                    "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc".into(),
                ]),
                identity_source: DEFAULT_IDENTITY_SOURCE.into(),
                result_ttl: 300,
                ..Default::default()
            },
        }],
        ..Default::default()
    };
    let opts = ExportOptions {
        name: "photos",
        namespace: Some("team-a"),
        region: "us-east-1",
        observe_only: true,
    };
    let exported = export(&live, &opts);
    assert_eq!(exported.notes, Vec::<String>::new());
    let kinds: Vec<&str> = exported
        .manifests
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    // The RestApi, the Authorizer, six methods (the CORS preflight is one of them).
    assert_eq!(
        kinds.iter().filter(|k| **k == "Route").count(),
        6,
        "{kinds:?}"
    );
    assert_eq!(kinds[..2], ["RestApi", "Authorizer"]);
    let authorizer = &exported.manifests[1];
    assert_eq!(authorizer["metadata"]["name"], "photos-users");
    assert_eq!(
        exported.manifests[0]["spec"]["managementPolicy"],
        "ObserveOnly"
    );

    let routes: Vec<(String, RouteSpec)> = exported
        .manifests
        .iter()
        .filter(|m| m["kind"] == "Route")
        .map(|m| {
            assert_eq!(m["metadata"]["namespace"], "team-a");
            (
                m["metadata"]["name"].as_str().unwrap().to_string(),
                serde_json::from_value(m["spec"].clone())
                    .expect("an exported Route is a valid spec"),
            )
        })
        .collect();
    let exported_authorizers = BTreeMap::from([(
        "photos-users".to_string(),
        AuthorizerState::Ready {
            id: "au1".into(),
            cognito: true,
        },
    )]);
    assert_eq!(methods_of(&routes, &exported_authorizers), methods);
    let names: Vec<&str> = routes.iter().map(|(n, _)| n.as_str()).collect();
    // An empty template is exported as one, not dropped.
    let queue = exported
        .manifests
        .iter()
        .find(|m| m["kind"] == "Route" && m["spec"]["path"] == "/queue")
        .unwrap();
    assert_eq!(
        queue["spec"]["integration"]["requestTemplates"]["text/plain"],
        ""
    );
    assert!(
        queue["spec"]["integration"]["responses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["templates"]["application/json"] == ""),
        "{queue}"
    );
    assert!(names.contains(&"photos-get-files-proxy"), "{names:?}");
    assert!(names.contains(&"photos-options-health"), "{names:?}");
}

#[test]
fn what_the_kinds_cannot_say_is_noted_not_guessed() {
    let method = |type_: &str, uri: &str| MethodSettings {
        authorization_type: "NONE".into(),
        integration: Some(IntegrationSettings {
            type_: type_.into(),
            uri: Some(uri.into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let live = LiveApi {
        resources: vec![ObservedResource {
            id: "r1".into(),
            path: "/odd".into(),
            methods: BTreeMap::from([
                (
                    "GET".into(),
                    method("AWS_PROXY", "arn:aws:apigateway:us-east-1:sqs:path/1/q"),
                ),
                (
                    "POST".into(),
                    method("AWS", "arn:aws:apigateway:us-east-1:sqs:path/1/q"),
                ),
            ]),
        }],
        ..Default::default()
    };
    let opts = ExportOptions {
        name: "odd",
        namespace: None,
        region: "us-east-1",
        observe_only: false,
    };
    let exported = export(&live, &opts);
    assert_eq!(exported.manifests.len(), 1, "only the RestApi");
    assert_eq!(exported.notes.len(), 2, "{:?}", exported.notes);
    assert!(exported.notes[0].starts_with("GET /odd: not exported"));
    assert!(exported.notes[1].contains("without a credentials role"));
}

#[test]
fn names_are_dns_names_and_unique() {
    let mut names = Names::default();
    assert_eq!(names.take("Photos API_v2"), "photos-api-v2");
    assert_eq!(names.take("photos-api-v2"), "photos-api-v2-2");
    assert_eq!(slug_path("/"), "-root");
    assert_eq!(slug_path("/a/{b}/{c+}"), "-a-b-c");
}

/// A console-made method names the built-in `Empty` model for its request and
/// its 200 response.
fn console_api() -> LiveApi {
    let mut method = MethodSettings {
        authorization_type: "NONE".into(),
        request_models: BTreeMap::from([("application/json".into(), "Empty".into())]),
        integration: Some(IntegrationSettings {
            type_: "MOCK".into(),
            request_templates: BTreeMap::from([(
                "application/json".into(),
                r#"{"statusCode": 200}"#.into(),
            )]),
            passthrough_behavior: DEFAULT_PASSTHROUGH.into(),
            timeout_millis: DEFAULT_TIMEOUT_MILLIS,
            ..Default::default()
        }),
        ..Default::default()
    };
    method.responses.insert(
        "200".into(),
        crate::plan::routes::MethodResponseSettings {
            models: BTreeMap::from([("application/json".into(), "Empty".into())]),
            ..Default::default()
        },
    );
    LiveApi {
        resources: vec![ObservedResource {
            id: "r1".into(),
            path: "/pets".into(),
            methods: BTreeMap::from([("POST".into(), method)]),
        }],
        models: vec![ObservedModel {
            name: "Empty".into(),
            schema: r#"{"$schema":"http://json-schema.org/draft-04/schema#","title":"Empty Schema","type":"object"}"#.into(),
        }],
        ..Default::default()
    }
}

fn opts() -> ExportOptions<'static> {
    ExportOptions {
        name: "pets",
        namespace: None,
        region: "us-east-1",
        observe_only: false,
    }
}

#[test]
fn the_built_in_empty_model_stays_empty() {
    let live = console_api();
    let exported = export(&live, &opts());
    assert_eq!(
        exported.notes,
        Vec::<String>::new(),
        "Empty is no copy to note"
    );
    let routes: Vec<(String, RouteSpec)> = exported
        .manifests
        .iter()
        .filter(|m| m["kind"] == "Route")
        .map(|m| {
            (
                m["metadata"]["name"].as_str().unwrap().to_string(),
                serde_json::from_value(m["spec"].clone()).unwrap(),
            )
        })
        .collect();
    let route = &exported.manifests[1]["spec"];
    assert_eq!(
        route["requestValidation"]["models"]["application/json"],
        json!({"builtIn": "Empty"})
    );
    assert_eq!(
        route["responses"][0]["models"]["application/json"],
        json!({"builtIn": "Empty"})
    );
    // Applied, the Route asks for no model of its own and names Empty as it was.
    let desired = crate::plan::models::desired_models(
        routes.iter().map(|(name, spec)| (name.as_str(), spec)),
    );
    assert!(desired.is_empty(), "{desired:?}");
    let live_methods: BTreeMap<_, _> = live
        .resources
        .iter()
        .flat_map(|r| {
            r.methods
                .iter()
                .map(|(v, m)| ((r.path.clone(), v.clone()), m.clone()))
        })
        .collect();
    assert_eq!(methods_of(&routes, &BTreeMap::new()), live_methods);
}

#[test]
fn gateway_responses_and_documentation_parts_are_named_as_not_exported() {
    let mut live = console_api();
    let response = |kind: &str, status: &str, default: bool| ObservedGatewayResponse {
        response_type: kind.into(),
        status_code: Some(status.into()),
        parameters: BTreeMap::new(),
        templates: BTreeMap::new(),
        default,
    };
    live.gateway_responses = vec![
        response("UNAUTHORIZED", "401", false),
        response("DEFAULT_4XX", "400", true),
        response("ACCESS_DENIED", "403", false),
    ];
    live.documentation_parts = vec![
        ObservedDocumentationPart {
            id: "d2".into(),
            kind: "METHOD".into(),
            path: Some("/pets".into()),
            method: Some("POST".into()),
            status_code: None,
            name: None,
        },
        ObservedDocumentationPart {
            id: "d1".into(),
            kind: "API".into(),
            path: None,
            method: None,
            status_code: None,
            name: None,
        },
    ];
    let exported = export(&live, &opts());
    assert_eq!(
        exported.notes,
        [
            "gateway response ACCESS_DENIED (status 403): no kind models gateway responses",
            "gateway response UNAUTHORIZED (status 401): no kind models gateway responses",
            "documentation part d1 (API): no kind models documentation",
            "documentation part d2 (METHOD POST /pets): no kind models documentation",
        ],
        "API Gateway's default responses are no loss"
    );
    let yaml = crate::export::to_yaml(&exported).unwrap();
    assert!(
        yaml.starts_with(
            "# not exported: gateway response ACCESS_DENIED (status 403): no kind models gateway responses\n"
        ),
        "{yaml}"
    );

    live.documentation_parts.clear();
    live.unread = vec!["documentation parts, which could not be listed: 404".into()];
    let notes = export(&live, &opts()).notes;
    assert_eq!(
        notes.last().map(String::as_str),
        Some("documentation parts, which could not be listed: 404")
    );
}
