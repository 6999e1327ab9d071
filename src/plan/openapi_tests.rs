use super::*;
use crate::plan::models::{ObservedGatewayResponse, ObservedModel, ObservedValidator};
use crate::plan::routes::{MethodSettings, ObservedResource};

fn settings() -> RestApiSettings {
    RestApiSettings {
        name: "photos".into(),
        description: "Photo API".into(),
        endpoint_type: "REGIONAL".into(),
        api_key_source: "HEADER".into(),
        ..Default::default()
    }
}

const HOME: Home<'static> = Home {
    partition: "aws",
    region: "eu-west-1",
    account: "123456789012",
};

const PHOTOS: &str = r#"
openapi: 3.0.1
info: {title: from-the-document, version: "2"}
x-amazon-apigateway-binary-media-types: ["image/png"]
paths:
  /photos:
    get:
      x-amazon-apigateway-integration:
        type: aws_proxy
        httpMethod: POST
        uri: arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:list-photos/invocations
    post:
      security: [{byToken: []}]
      x-amazon-apigateway-integration:
        type: AWS_PROXY
        httpMethod: POST
        uri: arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:upload:live/invocations
  /photos/{id}/:
    x-amazon-apigateway-any-method:
      x-amazon-apigateway-integration:
        type: aws_proxy
        httpMethod: POST
        credentials: arn:aws:iam::123456789012:role/invoker
        uri: arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:by-role/invocations
    options:
      x-amazon-apigateway-integration: {type: mock, requestTemplates: {application/json: '{"statusCode": 200}'}}
components:
  securitySchemes:
    byToken:
      type: apiKey
      name: Authorization
      in: header
      x-amazon-apigateway-authtype: custom
      x-amazon-apigateway-authorizer:
        type: token
        authorizerUri: arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:check-token/invocations
"#;

#[test]
fn substitutions_methods_and_functions_are_read_from_the_document() {
    let doc = render(PHOTOS, &settings(), HOME).unwrap();
    let methods: Vec<(&str, &str)> = doc
        .methods
        .iter()
        .map(|(p, v)| (p.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        methods,
        [
            ("/photos", "GET"),
            ("/photos", "POST"),
            ("/photos/{id}", "ANY"),
            ("/photos/{id}", "OPTIONS")
        ]
    );
    // The role-invoked function needs no grant; the alias keeps its qualifier.
    assert_eq!(
        doc.route_functions.iter().collect::<Vec<_>>(),
        [
            "arn:aws:lambda:eu-west-1:123456789012:function:list-photos",
            "arn:aws:lambda:eu-west-1:123456789012:function:upload:live"
        ]
    );
    assert_eq!(
        doc.authorizer_functions.get("byToken").map(String::as_str),
        Some("arn:aws:lambda:eu-west-1:123456789012:function:check-token")
    );
    assert!(
        !doc.body.contains("${AWS::"),
        "every placeholder is substituted"
    );
}

#[test]
fn the_spec_settings_replace_the_documents() {
    let doc = render(PHOTOS, &settings(), HOME).unwrap();
    let body: Value = serde_json::from_str(&doc.body).unwrap();
    assert_eq!(body["info"]["title"], "photos");
    assert_eq!(body["info"]["description"], "Photo API");
    assert_eq!(
        body["info"]["version"], "2",
        "the document's version is kept"
    );
    assert!(body.get("x-amazon-apigateway-binary-media-types").is_none());
    assert_eq!(body["x-amazon-apigateway-api-key-source"], "HEADER");
    assert_eq!(
        doc.replaced,
        [
            "x-amazon-apigateway-binary-media-types of the document is replaced by spec.binaryMediaTypes"
        ]
    );
}

#[test]
fn the_same_document_in_json_or_yaml_or_reordered_has_one_fingerprint() {
    let yaml = render(PHOTOS, &settings(), HOME).unwrap();
    let as_value: Value = serde_yaml::from_str(PHOTOS).unwrap();
    let json = render(&as_value.to_string(), &settings(), HOME).unwrap();
    assert_eq!(yaml.fingerprint, json.fingerprint);
    let other_home = Home {
        region: "us-east-1",
        ..HOME
    };
    let elsewhere = render(PHOTOS, &settings(), other_home).unwrap();
    assert_ne!(
        yaml.fingerprint, elsewhere.fingerprint,
        "what a substitution depends on is part of the fingerprint"
    );
    let mut renamed = settings();
    renamed.name = "pictures".into();
    assert_ne!(
        yaml.fingerprint,
        render(PHOTOS, &renamed, HOME).unwrap().fingerprint
    );
}

#[test]
fn what_is_not_an_openapi_document_is_refused_with_the_reason() {
    assert!(matches!(
        render("{not json: [", &settings(), HOME),
        Err(DocumentError::Unreadable(_))
    ));
    assert_eq!(
        render("openapi: 3.0.1\ninfo: {title: x}\n", &settings(), HOME),
        Err(DocumentError::NotOpenApi)
    );
    assert_eq!(
        render("swagger: '1.2'\npaths: {}\n", &settings(), HOME),
        Err(DocumentError::NotOpenApi)
    );
    assert_eq!(
        render(
            "openapi: 3.0.1\npaths: {photos: {get: {}}}\n",
            &settings(),
            HOME
        ),
        Err(DocumentError::BadPath("photos".into()))
    );
    let big = format!(
        "{{\"openapi\": \"3.0.1\", \"paths\": {{}}, \"x-pad\": \"{}\"}}",
        "x".repeat(MAX_DOCUMENT_BYTES)
    );
    assert!(matches!(
        render(&big, &settings(), HOME),
        Err(DocumentError::TooLarge { .. })
    ));
}

#[test]
fn swagger_two_authorizers_are_found_under_security_definitions() {
    let doc = r#"{"swagger": "2.0", "paths": {"/": {"get": {}}},
      "securityDefinitions": {"req": {"x-amazon-apigateway-authorizer": {"type": "request",
        "authorizerUri": "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:gate/invocations"}},
        "viaRole": {"x-amazon-apigateway-authorizer": {"type": "token", "authorizerCredentials": "arn:aws:iam::123456789012:role/r",
        "authorizerUri": "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:other/invocations"}}}}"#;
    let doc = render(doc, &settings(), HOME).unwrap();
    assert_eq!(doc.authorizer_functions.len(), 1);
    assert!(doc.authorizer_functions.contains_key("req"));
    assert_eq!(
        doc.methods.iter().next(),
        Some(&("/".to_string(), "GET".to_string()))
    );
}

fn lambda_method() -> MethodSettings {
    use crate::plan::routes::{
        IntegrationResponseSettings, IntegrationSettings, MethodResponseSettings,
    };
    MethodSettings {
        authorization_type: "AWS_IAM".into(),
        api_key_required: true,
        request_parameters: BTreeMap::from([
            ("method.request.path.id".into(), true),
            ("method.request.querystring.q".into(), false),
        ]),
        responses: BTreeMap::from([(
            "200".into(),
            MethodResponseSettings {
                parameters: BTreeMap::from([("method.response.header.X-Trace".into(), false)]),
                ..Default::default()
            },
        )]),
        integration: Some(IntegrationSettings {
            type_: "AWS".into(),
            http_method: Some("POST".into()),
            uri: Some("arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:f/invocations".into()),
            passthrough_behavior: "WHEN_NO_TEMPLATES".into(),
            timeout_millis: 5000,
            responses: BTreeMap::from([(
                "200".into(),
                IntegrationResponseSettings {
                    templates: BTreeMap::from([("application/json".into(), "$input.body".into())]),
                    ..Default::default()
                },
            )]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn a_route_built_structure_renders_as_one_document() {
    let methods = BTreeMap::from([(
        ("/items/{id}".to_string(), "GET".to_string()),
        lambda_method(),
    )]);
    let body = render_structure(&methods, &settings()).expect("renderable");
    let doc: Value = serde_json::from_str(&body).unwrap();
    let op = &doc["paths"]["/items/{id}"]["get"];
    assert_eq!(op["x-amazon-apigateway-auth"]["type"], "AWS_IAM");
    assert_eq!(op["security"], json!([{"api_key": []}]));
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["name"],
        "x-api-key"
    );
    assert_eq!(
        op["parameters"],
        json!([
            {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
            {"name": "q", "in": "query", "required": false, "schema": {"type": "string"}}
        ])
    );
    assert!(op["responses"]["200"]["headers"]["X-Trace"].is_object());
    let integration = &op["x-amazon-apigateway-integration"];
    assert_eq!(integration["type"], "aws");
    assert_eq!(integration["passthroughBehavior"], "when_no_templates");
    assert_eq!(integration["timeoutInMillis"], 5000);
    assert_eq!(integration["responses"]["default"]["statusCode"], "200");
    assert_eq!(
        doc["info"]["title"], "photos",
        "the spec's settings go with it"
    );
}

#[test]
fn what_a_document_cannot_carry_keeps_the_api_incremental() {
    let key = ("/items".to_string(), "GET".to_string());
    let mut with_authorizer = lambda_method();
    with_authorizer.authorization_type = "CUSTOM".into();
    with_authorizer.authorizer_id = Some("abc123".into());
    let mut validated = lambda_method();
    validated.request_validator_id = Some("v1".into());
    let mut optional_path = lambda_method();
    optional_path
        .request_parameters
        .insert("method.request.path.id".into(), false);
    for m in [with_authorizer, validated, optional_path] {
        assert_eq!(
            render_structure(&BTreeMap::from([(key.clone(), m)]), &settings()),
            None
        );
    }
}

#[test]
fn lists_equal_but_for_order_are_not_replaced() {
    let doc = PHOTOS.replace(
        r#"x-amazon-apigateway-binary-media-types: ["image/png"]"#,
        r#"x-amazon-apigateway-binary-media-types: ["image/png", "application/pdf"]
x-amazon-apigateway-endpoint-configuration: {disableExecuteApiEndpoint: false, vpcEndpointIds: [vpce-b, vpce-a]}"#,
    );
    let mut s = settings();
    s.binary_media_types = ["application/pdf".to_string(), "image/png".to_string()].into();
    s.vpc_endpoint_ids = ["vpce-a".to_string(), "vpce-b".to_string()].into();
    let rendered = render(&doc, &s, HOME).unwrap();
    assert_eq!(rendered.replaced, Vec::<String>::new());
    s.binary_media_types.insert("image/gif".into());
    s.vpc_endpoint_ids.remove("vpce-b");
    assert_eq!(
        render(&doc, &s, HOME).unwrap().replaced,
        [
            "x-amazon-apigateway-binary-media-types of the document is replaced by spec.binaryMediaTypes",
            "x-amazon-apigateway-endpoint-configuration of the document is replaced by spec.endpoint and spec.disableExecuteApiEndpoint",
        ],
        "a list of other members is still a replacement"
    );
}

#[test]
fn validators_models_and_gateway_responses_the_document_declares_are_read() {
    let doc = format!(
        r#"{PHOTOS}
  schemas:
    Photo: {{type: object}}
    Empty: {{type: object}}
x-amazon-apigateway-request-validators:
  all: {{validateRequestBody: true, validateRequestParameters: true}}
x-amazon-apigateway-gateway-responses:
  DEFAULT_4XX: {{statusCode: 400}}
"#
    );
    let rendered = render(&doc, &settings(), HOME).unwrap();
    assert_eq!(rendered.validators, ["all".to_string()].into());
    assert_eq!(
        rendered.models,
        ["Empty".to_string(), "Photo".to_string()].into()
    );
    assert_eq!(
        rendered.gateway_responses,
        ["DEFAULT_4XX".to_string()].into()
    );
    let bare = render(PHOTOS, &settings(), HOME).unwrap();
    assert!(bare.validators.is_empty() && bare.models.is_empty());
    assert!(bare.gateway_responses.is_empty());
}

fn validator(body: bool) -> ObservedValidator {
    ObservedValidator {
        id: "v1".into(),
        name: "all".into(),
        body,
        parameters: true,
    }
}

fn gateway_response(default: bool, status: &str) -> ObservedGatewayResponse {
    ObservedGatewayResponse {
        response_type: "DEFAULT_4XX".into(),
        status_code: Some(status.into()),
        parameters: BTreeMap::new(),
        templates: BTreeMap::new(),
        default,
    }
}

#[test]
fn drift_of_validators_models_and_gateway_responses_changes_the_held_fingerprint() {
    let resources = [ObservedResource {
        id: "r1".into(),
        path: "/photos".into(),
        methods: [("GET".to_string(), lambda_method())].into(),
    }];
    let validators = [validator(true)];
    let models = [ObservedModel {
        name: "Photo".into(),
        schema: r#"{"type": "object"}"#.into(),
    }];
    let responses = [gateway_response(false, "400")];
    let imported = HeldStructure {
        resources: &resources,
        validators: &validators,
        models: &models,
        gateway_responses: &responses,
        ..Default::default()
    };
    let after_import = held_fingerprint(&imported);

    // Ids are new after each import, and a schema's spacing is API Gateway's.
    let renumbered = [ObservedValidator {
        id: "v2".into(),
        ..validator(true)
    }];
    let respaced = [ObservedModel {
        name: "Photo".into(),
        schema: r#"{"type":"object"}"#.into(),
    }];
    let same = HeldStructure {
        validators: &renumbered,
        models: &respaced,
        ..imported
    };
    assert_eq!(held_fingerprint(&same), after_import);

    let turned_off = [validator(false)];
    let changed_schema = [ObservedModel {
        name: "Photo".into(),
        schema: r#"{"type": "string"}"#.into(),
    }];
    let back_to_default = [gateway_response(true, "400")];
    let other_status = [gateway_response(false, "418")];
    for (what, drifted) in [
        (
            "a validator turned off",
            HeldStructure {
                validators: &turned_off,
                ..imported
            },
        ),
        (
            "a validator deleted",
            HeldStructure {
                validators: &[],
                ..imported
            },
        ),
        (
            "a model's schema edited",
            HeldStructure {
                models: &changed_schema,
                ..imported
            },
        ),
        (
            "a model deleted",
            HeldStructure {
                models: &[],
                ..imported
            },
        ),
        (
            "a gateway response reset",
            HeldStructure {
                gateway_responses: &back_to_default,
                ..imported
            },
        ),
        (
            "a gateway response edited",
            HeldStructure {
                gateway_responses: &other_status,
                ..imported
            },
        ),
    ] {
        assert_ne!(held_fingerprint(&drifted), after_import, "{what}");
    }
}

#[test]
fn an_api_without_validators_models_or_custom_responses_keeps_its_earlier_fingerprint() {
    let resources = [ObservedResource {
        id: "r1".into(),
        path: "/photos".into(),
        methods: [("GET".to_string(), lambda_method())].into(),
    }];
    // What versions before validators, models and gateway responses were read recorded.
    let methods: BTreeMap<&str, _> = [("/photos", &resources[0].methods)].into();
    let earlier = crate::plan::stage::fingerprint(
        &json!({"methods": methods, "authorizers": Vec::<String>::new()}).to_string(),
    );
    let defaults = [gateway_response(true, "400")];
    let held = HeldStructure {
        resources: &resources,
        gateway_responses: &defaults,
        ..Default::default()
    };
    assert_eq!(
        held_fingerprint(&held),
        earlier,
        "an upgrade re-imports nothing"
    );
}
