use super::*;
use serde_json::json;

/// `body` as the SDK would get it for a request to `path`.
fn read(path: &str, body: Value) -> Value {
    let root = root_of(&format!("https://apigateway.us-east-1.amazonaws.com{path}"))
        .expect("a modelled answer");
    let bytes = serde_json::to_vec(&body).unwrap();
    match tolerated(&bytes, root) {
        Some(fixed) => serde_json::from_slice(&fixed).unwrap(),
        None => body,
    }
}

const METHOD: &str = "/restapis/a1/resources/r1/methods/OPTIONS";

/// What the console's "Enable CORS" leaves: empty templates, answered as null.
#[test]
fn get_resources_with_empty_templates() {
    let answer = json!({"item": [
        {"id": "root", "path": "/"},
        {"id": "r1", "path": "/items", "resourceMethods": {"OPTIONS": {
            "httpMethod": "OPTIONS",
            "authorizationType": "NONE",
            "apiKeyRequired": null,
            "requestParameters": {"method.request.header.x": null},
            "requestModels": {"application/json": null},
            "methodResponses": {"200": {
                "statusCode": "200",
                "responseParameters": {"method.response.header.Access-Control-Allow-Origin": null},
                "responseModels": {"application/json": null}
            }},
            "methodIntegration": {
                "type": "MOCK",
                "requestParameters": {"integration.request.header.x": null},
                "requestTemplates": {"application/json": null, "text/plain": "{}"},
                "cacheKeyParameters": [null, "method.request.header.x"],
                "integrationResponses": {"200": {
                    "statusCode": "200",
                    "responseParameters": {"method.response.header.Access-Control-Allow-Origin": null},
                    "responseTemplates": {"application/json": null}
                }, "500": null}
            }
        }}}
    ]});
    let read = read("/restapis/a1/resources?embed=methods", answer);
    let method = &read["item"][1]["resourceMethods"]["OPTIONS"];
    assert_eq!(method["apiKeyRequired"], Value::Null, "struct members stay");
    assert_eq!(
        method["requestParameters"],
        json!({"method.request.header.x": false})
    );
    assert_eq!(method["requestModels"], json!({"application/json": ""}));
    let response = &method["methodResponses"]["200"];
    assert_eq!(
        response["responseParameters"],
        json!({"method.response.header.Access-Control-Allow-Origin": false})
    );
    assert_eq!(response["responseModels"], json!({"application/json": ""}));
    let integration = &method["methodIntegration"];
    assert_eq!(
        integration["requestParameters"],
        json!({"integration.request.header.x": ""})
    );
    assert_eq!(
        integration["requestTemplates"],
        json!({"application/json": "", "text/plain": "{}"})
    );
    assert_eq!(
        integration["cacheKeyParameters"],
        json!(["method.request.header.x"])
    );
    let responses = &integration["integrationResponses"];
    assert_eq!(
        responses["200"]["responseParameters"],
        json!({"method.response.header.Access-Control-Allow-Origin": ""})
    );
    assert_eq!(
        responses["200"]["responseTemplates"],
        json!({"application/json": ""})
    );
    assert_eq!(responses["500"], json!({}));
}

#[test]
fn get_method_has_boolean_parameters() {
    let read = read(
        METHOD,
        json!({"httpMethod": "OPTIONS", "requestParameters": {"method.request.path.id": null},
               "methodIntegration": {"requestParameters": {"integration.request.path.id": null}}}),
    );
    assert_eq!(
        read["requestParameters"],
        json!({"method.request.path.id": false})
    );
    assert_eq!(
        read["methodIntegration"]["requestParameters"],
        json!({"integration.request.path.id": ""})
    );
}

#[test]
fn get_integration_has_string_parameters() {
    let read = read(
        &format!("{METHOD}/integration"),
        json!({"requestParameters": {"integration.request.path.id": null},
               "requestTemplates": {"application/json": null},
               "integrationResponses": {"200": {"responseTemplates": {"application/json": null}}}}),
    );
    assert_eq!(
        read["requestParameters"],
        json!({"integration.request.path.id": ""})
    );
    assert_eq!(read["requestTemplates"], json!({"application/json": ""}));
    assert_eq!(
        read["integrationResponses"]["200"]["responseTemplates"],
        json!({"application/json": ""})
    );
}

#[test]
fn get_method_response_has_boolean_parameters() {
    let read = read(
        &format!("{METHOD}/responses/200"),
        json!({"responseParameters": {"method.response.header.h": null},
               "responseModels": {"application/json": null}}),
    );
    assert_eq!(
        read["responseParameters"],
        json!({"method.response.header.h": false})
    );
    assert_eq!(read["responseModels"], json!({"application/json": ""}));
}

#[test]
fn get_integration_response_has_string_parameters() {
    let read = read(
        &format!("{METHOD}/integration/responses/200"),
        json!({"responseParameters": {"method.response.header.h": null},
               "responseTemplates": {"application/json": null}}),
    );
    assert_eq!(
        read["responseParameters"],
        json!({"method.response.header.h": ""})
    );
    assert_eq!(read["responseTemplates"], json!({"application/json": ""}));
}

#[test]
fn stages_usage_plans_deployments_and_apis() {
    let stages = read(
        "/restapis/a1/stages",
        json!({"item": [{"stageName": "prod", "variables": {"v": null}, "tags": {"t": null},
                          "methodSettings": {"*/*": null},
                          "canarySettings": {"stageVariableOverrides": {"v": null}}}]}),
    );
    assert_eq!(
        stages["item"][0],
        json!({"stageName": "prod", "variables": {"v": ""}, "tags": {"t": ""},
               "methodSettings": {"*/*": {}},
               "canarySettings": {"stageVariableOverrides": {"v": ""}}})
    );
    let plan = read(
        "/usageplans/p1",
        json!({"apiStages": [null, {"apiId": "a1", "throttle": {"/items/GET": null}}],
               "tags": {"t": null}}),
    );
    assert_eq!(
        plan,
        json!({"apiStages": [{"apiId": "a1", "throttle": {"/items/GET": {}}}], "tags": {"t": ""}})
    );
    let deployments = read(
        "/restapis/a1/deployments",
        json!({"item": [{"id": "d1", "apiSummary": {"/items": {"GET": null}, "/x": null}}]}),
    );
    assert_eq!(
        deployments["item"][0]["apiSummary"],
        json!({"/items": {"GET": {}}, "/x": {}})
    );
    let api = read(
        "/restapis/a1",
        json!({"id": "a1", "description": null, "binaryMediaTypes": ["image/png", null],
               "endpointConfiguration": {"types": [null, "REGIONAL"]}, "tags": {"t": null}}),
    );
    assert_eq!(
        api,
        json!({"id": "a1", "description": null, "binaryMediaTypes": ["image/png"],
               "endpointConfiguration": {"types": ["REGIONAL"]}, "tags": {"t": ""}})
    );
    let keys = read(
        "/apikeys?includeValues=true",
        json!({"item": [{"id": "k", "stageKeys": [null], "tags": {"t": null}}]}),
    );
    assert_eq!(
        keys["item"][0],
        json!({"id": "k", "stageKeys": [], "tags": {"t": ""}})
    );
}

#[test]
fn websocket_routes_integrations_and_stages() {
    let routes = read(
        "/v2/apis/w1/routes",
        json!({"items": [{"routeKey": "$connect", "requestParameters": {"route.request.header.a": null},
                          "requestModels": {"m": null}, "authorizationScopes": [null]}]}),
    );
    assert_eq!(
        routes["items"][0],
        json!({"routeKey": "$connect", "requestParameters": {"route.request.header.a": {}},
               "requestModels": {"m": ""}, "authorizationScopes": []})
    );
    let response = read(
        "/v2/apis/w1/routes/r1/routeresponses/x1",
        json!({"responseParameters": {"p": null}, "responseModels": {"m": null}}),
    );
    assert_eq!(
        response,
        json!({"responseParameters": {"p": {}}, "responseModels": {"m": ""}})
    );
    let integration = read(
        "/v2/apis/w1/integrations/i1",
        json!({"requestParameters": {"p": null}, "requestTemplates": {"t": null},
               "responseParameters": {"200": {"p": null}, "500": null}}),
    );
    assert_eq!(
        integration,
        json!({"requestParameters": {"p": ""}, "requestTemplates": {"t": ""},
               "responseParameters": {"200": {"p": ""}, "500": {}}})
    );
    let integration_response = read(
        "/v2/apis/w1/integrations/i1/integrationresponses/x",
        json!({"responseParameters": {"p": null}, "responseTemplates": {"t": null}}),
    );
    assert_eq!(
        integration_response,
        json!({"responseParameters": {"p": ""}, "responseTemplates": {"t": ""}})
    );
    let stage = read(
        "/v2/apis/w1/stages/prod",
        json!({"stageVariables": {"v": null}, "routeSettings": {"$default": null}, "tags": {"t": null}}),
    );
    assert_eq!(
        stage,
        json!({"stageVariables": {"v": ""}, "routeSettings": {"$default": {}}, "tags": {"t": ""}})
    );
}

#[test]
fn lambda_and_cognito_string_maps() {
    let function = read(
        "/2015-03-31/functions/f",
        json!({"Configuration": {"Environment": {"Variables": {"A": null}}, "Layers": [null]},
               "Tags": {"t": null}}),
    );
    assert_eq!(
        function,
        json!({"Configuration": {"Environment": {"Variables": {"A": ""}}, "Layers": []},
               "Tags": {"t": ""}})
    );
    let pool = read("/", json!({"UserPool": {"UserPoolTags": {"t": null}}}));
    assert_eq!(pool, json!({"UserPool": {"UserPoolTags": {"t": ""}}}));
}

#[test]
fn answers_without_nulls_or_json_pass_unchanged() {
    let root = root_of("http://127.0.0.1:5055/restapis/a1").unwrap();
    assert_eq!(tolerated(br#"{"id": "a1", "tags": {}}"#, root), None);
    assert_eq!(tolerated(b"<GetCallerIdentityResponse/>null", root), None);
    assert_eq!(tolerated(b"{not json null", root), None);
    assert_eq!(
        tolerated(br#"{"id": "a1", "description": null}"#, root),
        None
    );
    assert_eq!(
        root_of("http://127.0.0.1:5055/restapis/a1/stages/prod/exports/oas30?x=1"),
        None,
        "an export is a document of the user's, not a model"
    );
}

#[test]
fn the_request_path_names_the_root() {
    let kind = |path: &str| root_of(&format!("https://h{path}")).unwrap();
    assert_eq!(kind(METHOD), Shape::Object(Api::V1, Object::Method));
    assert_eq!(
        kind(&format!("{METHOD}/responses/204")),
        Shape::Object(Api::V1, Object::MethodResponse)
    );
    assert_eq!(
        kind(&format!("{METHOD}/integration")),
        Shape::Object(Api::V1, Object::Integration)
    );
    assert_eq!(
        kind(&format!("{METHOD}/integration/responses/204")),
        Shape::Object(Api::V1, Object::IntegrationResponse)
    );
    assert_eq!(
        kind("/restapis/a1/gatewayresponses/DEFAULT_4XX"),
        Shape::Object(Api::V1, Object::Any)
    );
    assert_eq!(
        kind("/v2/apis/w1/routes/r1"),
        Shape::Object(Api::V2, Object::Route)
    );
    assert_eq!(kind("/v2/apis/w1"), Shape::Object(Api::V2, Object::Any));
    assert_eq!(
        kind("/2015-03-31/functions/f/policy"),
        Shape::Object(Api::Other, Object::Any)
    );
}

/// A canned HTTP client answering every request with `body`.
fn canned(body: &'static str) -> SharedHttpClient {
    #[derive(Debug)]
    struct Canned(&'static str);
    impl HttpConnector for Canned {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            let response = aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(200u16).unwrap(),
                SdkBody::from(self.0),
            );
            HttpConnectorFuture::ready(Ok(response))
        }
    }
    aws_smithy_runtime_api::client::http::http_client_fn(move |_, _| Canned(body).into_shared())
}

fn client(http: SharedHttpClient) -> aws_sdk_apigateway::Client {
    let conf = aws_sdk_apigateway::Config::builder()
        .behavior_version(aws_sdk_apigateway::config::BehaviorVersion::latest())
        .region(aws_sdk_apigateway::config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKID", "secret", None, None, "tests",
        ))
        .endpoint_url("http://127.0.0.1:1")
        .http_client(http)
        .build();
    aws_sdk_apigateway::Client::from_conf(conf)
}

const CORS_RESOURCES: &str = r#"{"item": [{"id": "r1", "path": "/items", "resourceMethods": {"OPTIONS": {
    "httpMethod": "OPTIONS", "authorizationType": "NONE",
    "methodResponses": {"200": {"statusCode": "200", "responseParameters": {"method.response.header.Access-Control-Allow-Origin": false}, "responseModels": {"application/json": "Empty"}}},
    "methodIntegration": {"type": "MOCK", "requestTemplates": {"application/json": null},
        "integrationResponses": {"200": {"statusCode": "200", "responseTemplates": {"application/json": null}}}}}}}]}"#;

/// The SDK itself, fed what AWS answers: it fails without the wrapper, reads an
/// empty template with it.
#[tokio::test]
async fn the_sdk_reads_empty_templates_through_the_wrapper() {
    let bare = client(canned(CORS_RESOURCES))
        .get_resources()
        .rest_api_id("a1")
        .send()
        .await;
    let err = bare.expect_err("the SDK alone cannot read a null template");
    assert!(
        format!("{:?}", err).contains("dense map cannot contain null values"),
        "{err:?}"
    );
    let resources = client(wrap(canned(CORS_RESOURCES)))
        .get_resources()
        .rest_api_id("a1")
        .send()
        .await
        .expect("read through the wrapper");
    let method = &resources.items()[0].resource_methods().unwrap()["OPTIONS"];
    let integration = method.method_integration().unwrap();
    assert_eq!(
        integration.request_templates().unwrap()["application/json"],
        ""
    );
    assert_eq!(
        integration.integration_responses().unwrap()["200"]
            .response_templates()
            .unwrap()["application/json"],
        ""
    );
}
