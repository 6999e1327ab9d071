use super::*;

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
