//! Routes end to end: one reconciler per API converges every Route's method and
//! the shared resource tree in moto, and reports into each Route's status.

mod common;

use std::time::Duration;

use apigw_operator::api::{RestApi, Route};
use common::*;
use kube::api::{DeleteParams, Patch, PatchParams};

const T: Duration = Duration::from_secs(40);

fn route(name: &str, method: &str, path: &str, integration: &str) -> String {
    format!(
        "apiVersion: apigw.rs/v1alpha1\nkind: Route\nmetadata: {{name: {name}}}\nspec:\n  restApiRef: {{name: photos}}\n  method: {method}\n  path: '{path}'\n  integration: {integration}\n"
    )
}

async fn methods_by_path(
    aws: &apigw_operator::aws::Aws,
    api_id: &str,
) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = aws
        .get_resources(api_id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.path, r.methods.keys().cloned().collect()))
        .collect();
    out.sort();
    out
}

/// Routes sharing path segments converge together; conflicts, clashes and missing
/// references are conditions; edits replace the method; deleting a route removes
/// its method and the resources it leaves empty; a converged resync writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_converge_into_one_api() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "routes").await;
    seed_functions(&["upload-photo", "filter-photo:live"]);
    let op = Operator::start(&ns.name, Duration::from_secs(2)).await;
    let routes = ns.api::<Route>();
    ns.apply::<RestApi>("{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: photos}, spec: {description: photos}}").await;
    ns.apply::<Route>(&route(
        "upload",
        "PUT",
        "/photos",
        "{lambda: {functionName: upload-photo}}",
    ))
    .await;
    ns.apply::<Route>(&route(
        "filter",
        "POST",
        "/photos/{photoId}/filter",
        "{lambda: {functionName: 'filter-photo:live'}}",
    ))
    .await;
    ns.apply::<Route>(&route(
        "thumbs",
        "GET",
        "/photos/{photoId}/thumbnail",
        "{http: {url: 'https://thumbs.internal/{id}'}, requestParameters: {integration.request.path.id: method.request.path.photoId}}",
    ))
    .await;
    ns.apply::<Route>(&route(
        "health",
        "GET",
        "/health",
        "{mock: {statusCode: 204}}",
    ))
    .await;

    let api_id = wait_ready(&ns.api::<RestApi>(), "photos", "True", T)
        .await
        .status
        .unwrap()
        .rest_api_id
        .unwrap();
    for name in ["upload", "filter", "thumbs", "health"] {
        let r = wait_ready(&routes, name, "True", T).await;
        let status = r.status.unwrap();
        assert_eq!(
            status.rest_api_id.as_deref(),
            Some(api_id.as_str()),
            "{name}"
        );
        assert!(status.resource_id.is_some(), "{name} has its resource id");
        assert_eq!(ready_reason(&routes.get(name).await.unwrap()).0, "InEffect");
    }
    let aws = aws().await;
    assert_eq!(
        methods_by_path(&aws, &api_id).await,
        vec![
            ("/".into(), vec![]),
            ("/health".into(), vec!["GET".into()]),
            ("/photos".into(), vec!["PUT".into()]),
            ("/photos/{photoId}".into(), vec![]),
            ("/photos/{photoId}/filter".into(), vec!["POST".into()]),
            ("/photos/{photoId}/thumbnail".into(), vec!["GET".into()]),
        ]
    );
    let resources = aws.get_resources(&api_id).await.unwrap();
    let filter = resources
        .iter()
        .find(|r| r.path == "/photos/{photoId}/filter")
        .unwrap();
    let integration = filter.methods["POST"].integration.clone().unwrap();
    assert_eq!(integration.type_, "AWS_PROXY");
    assert_eq!(
        integration.uri.as_deref(),
        Some(
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:filter-photo:live/invocations"
        )
    );
    let thumbs = resources
        .iter()
        .find(|r| r.path == "/photos/{photoId}/thumbnail")
        .unwrap();
    let integration = thumbs.methods["GET"].integration.clone().unwrap();
    assert_eq!(integration.type_, "HTTP_PROXY");
    assert_eq!(
        integration.request_parameters["integration.request.path.id"],
        "method.request.path.photoId"
    );

    // One invoke permission per function per API, scoped to the API.
    let arn = |name: &str| format!("arn:aws:lambda:us-east-1:123456789012:function:{name}");
    let statements = aws
        .get_policy_statements(&arn("upload-photo"), None)
        .await
        .unwrap()
        .unwrap();
    let source = format!("arn:aws:execute-api:us-east-1:123456789012:{api_id}/*");
    assert!(
        statements.contains(&(format!("apigw-{api_id}"), Some(source.clone()))),
        "{statements:?}"
    );
    let statements = aws
        .get_policy_statements(&arn("filter-photo"), Some("live"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        statements
            .iter()
            .any(|(sid, _)| sid == &format!("apigw-{api_id}")),
        "alias policy: {statements:?}"
    );

    // Converged: resyncs every 2 s write nothing.
    let writes = op.mutating_calls();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        op.mutating_calls(),
        writes,
        "a converged API structure costs no writes: {:?}",
        op.ctx.aws.stats.snapshot()
    );

    // A second route on the same method and path loses to the one in effect.
    ns.apply::<Route>(&route("upload-v2", "PUT", "/photos", "{mock: {}}"))
        .await;
    let loser = wait_ready(&routes, "upload-v2", "False", T).await;
    let (reason, message) = ready_reason(&loser);
    assert_eq!(reason, "MethodConflict");
    assert!(message.contains("Route upload"), "{message}");
    // A sibling variable with another name is refused with what to do instead.
    ns.apply::<Route>(&route("by-user", "GET", "/photos/{userId}", "{mock: {}}"))
        .await;
    let clash = wait_ready(&routes, "by-user", "False", T).await;
    assert_eq!(ready_reason(&clash).0, "PathConflict");
    assert!(ready_reason(&clash).1.contains("{photoId}"));
    // A function that does not exist is a condition, not a crash.
    ns.apply::<Route>(&route(
        "ghost",
        "DELETE",
        "/photos",
        "{lambda: {functionName: no-such-function}}",
    ))
    .await;
    let ghost = wait_ready(&routes, "ghost", "False", T).await;
    assert_eq!(ready_reason(&ghost).0, "LambdaFunctionNotFound");
    routes
        .delete("ghost", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&routes, "ghost", T).await;
    // A route on an API that does not exist says so.
    ns.apply::<Route>(
        &route("stray", "GET", "/x", "{mock: {}}").replace("name: photos", "name: videos"),
    )
    .await;
    let stray = wait_ready(&routes, "stray", "False", T).await;
    assert_eq!(ready_reason(&stray).0, "RestApiNotFound");
    eventually("RestApiNotFound event", T, || async {
        ns.events_for("stray")
            .await
            .iter()
            .any(|e| e.starts_with("Warning/RestApiNotFound"))
            .then_some(())
    })
    .await;

    // Edit: the method is replaced with the new integration.
    routes
        .patch(
            "health",
            &PatchParams::default(),
            &Patch::Merge(
                serde_json::json!({"spec": {"integration": {"mock": {"statusCode": 200}}}}),
            ),
        )
        .await
        .unwrap();
    eventually("health template updated", T, || async {
        let res = aws.get_resources(&api_id).await.ok()?;
        let health = res.into_iter().find(|r| r.path == "/health")?;
        let template = health
            .methods
            .get("GET")?
            .integration
            .clone()?
            .request_templates
            .get("application/json")?
            .clone();
        template.contains("200").then_some(())
    })
    .await;
    wait_ready(&routes, "health", "True", T).await;

    // Delete the deepest route: its method and the now-empty resource go, the shared parent stays.
    routes
        .delete("thumbs", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&routes, "thumbs", T).await;
    let paths: Vec<String> = methods_by_path(&aws, &api_id)
        .await
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert!(
        !paths.contains(&"/photos/{photoId}/thumbnail".to_string()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"/photos/{photoId}".to_string()),
        "still needed by filter: {paths:?}"
    );

    // Delete the API while routes remain: the API goes; routes report it and can then be deleted.
    ns.api::<RestApi>()
        .delete("photos", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&ns.api::<RestApi>(), "photos", T).await;
    assert!(aws.get_rest_api(&api_id).await.unwrap().is_none());
    let statements = aws
        .get_policy_statements(&arn("upload-photo"), None)
        .await
        .unwrap()
        .unwrap();
    assert!(
        statements
            .iter()
            .all(|(sid, _)| !sid.starts_with(&format!("apigw-{api_id}"))),
        "grant revoked with the API: {statements:?}"
    );
    // RestApiDeleting while the API goes, then RestApiDeleted / RestApiNotFound.
    eventually("routes told their API is gone", T, || async {
        let orphan = routes.get("upload").await.ok()?;
        ["RestApiDeleted", "RestApiNotFound"]
            .contains(&ready_reason(&orphan).0.as_str())
            .then_some(())
    })
    .await;
    for name in [
        "upload",
        "filter",
        "health",
        "upload-v2",
        "by-user",
        "stray",
    ] {
        routes.delete(name, &DeleteParams::default()).await.unwrap();
    }
    for name in [
        "upload",
        "filter",
        "health",
        "upload-v2",
        "by-user",
        "stray",
    ] {
        wait_deleted(&routes, name, T).await;
    }
    ns.delete().await;
}

/// CORS creates the OPTIONS preflight; removing the last CORS route removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_follows_its_routes() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "cors").await;
    let _op = Operator::start(&ns.name, Duration::from_secs(30)).await;
    let routes = ns.api::<Route>();
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: photos}, spec: {}}",
    )
    .await;
    ns.apply::<Route>(&format!(
        "{}  cors: {{allowOrigins: ['https://photos.example.com'], maxAgeSeconds: 300}}\n",
        route(
            "list",
            "GET",
            "/photos",
            "{http: {url: 'https://backend.internal/photos', proxy: false}}"
        )
    ))
    .await;
    wait_ready(&routes, "list", "True", T).await;
    wait_ready(&ns.api::<RestApi>(), "photos", "True", T).await;
    let api_id = ns
        .api::<RestApi>()
        .get("photos")
        .await
        .unwrap()
        .status
        .unwrap()
        .rest_api_id
        .unwrap();
    let aws = aws().await;
    let resources = aws.get_resources(&api_id).await.unwrap();
    let photos = resources.iter().find(|r| r.path == "/photos").unwrap();
    let options = photos.methods.get("OPTIONS").expect("preflight method");
    let response = &options.integration.as_ref().unwrap().responses["200"];
    assert_eq!(
        response.parameters["method.response.header.Access-Control-Allow-Origin"],
        "'https://photos.example.com'"
    );
    assert_eq!(
        response.parameters["method.response.header.Access-Control-Allow-Methods"],
        "'GET,OPTIONS'"
    );
    let get = &photos.methods["GET"];
    assert_eq!(
        get.integration.as_ref().unwrap().responses["200"].parameters["method.response.header.Access-Control-Allow-Origin"],
        "'https://photos.example.com'"
    );
    routes
        .delete("list", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&routes, "list", T).await;
    let resources = aws.get_resources(&api_id).await.unwrap();
    assert!(
        resources.iter().all(|r| r.path != "/photos"),
        "preflight and resource removed with the last route"
    );
    ns.api::<RestApi>()
        .delete("photos", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&ns.api::<RestApi>(), "photos", T).await;
    ns.delete().await;
}

/// Request validation creates the shared validator and the route's model; the
/// method points at both; deleting the route removes what nothing needs any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_validation_models_follow_their_routes() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "validate").await;
    let _op = Operator::start(&ns.name, Duration::from_secs(30)).await;
    let routes = ns.api::<Route>();
    ns.apply::<RestApi>(
        "{apiVersion: apigw.rs/v1alpha1, kind: RestApi, metadata: {name: photos}, spec: {}}",
    )
    .await;
    ns.apply::<Route>(&format!(
        "{}  requestParameters: {{method.request.header.X-Client: true}}\n  requestValidation:\n    body: true\n    parameters: true\n    models:\n      application/json: {{schema: {{type: object, required: [title], properties: {{title: {{type: string}}}}}}}}\n",
        route("create", "POST", "/photos", "{mock: {}}")
    ))
    .await;
    wait_ready(&routes, "create", "True", T).await;
    let api_id = wait_ready(&ns.api::<RestApi>(), "photos", "True", T)
        .await
        .status
        .unwrap()
        .rest_api_id
        .unwrap();
    let aws = aws().await;
    let validators = aws.get_request_validators(&api_id).await.unwrap();
    let validator = validators
        .iter()
        .find(|v| v.name == "apigw-body-and-parameters")
        .expect("validator created");
    assert!(validator.body && validator.parameters);
    let models = aws.get_models(&api_id).await.unwrap();
    let model = models
        .iter()
        .find(|m| m.name == "ApigwCreateRequestApplicationJson")
        .expect("model created");
    assert!(model.schema.contains("title"));
    let resources = aws.get_resources(&api_id).await.unwrap();
    let post = &resources
        .iter()
        .find(|r| r.path == "/photos")
        .unwrap()
        .methods["POST"];
    assert_eq!(
        post.request_validator_id.as_deref(),
        Some(validator.id.as_str())
    );
    assert_eq!(
        post.request_models["application/json"],
        "ApigwCreateRequestApplicationJson"
    );
    assert!(
        post.request_parameters["method.request.header.X-Client"],
        "required parameter"
    );

    routes
        .delete("create", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&routes, "create", T).await;
    eventually("model and validator removed", T, || async {
        let models = aws.get_models(&api_id).await.ok()?;
        let validators = aws.get_request_validators(&api_id).await.ok()?;
        (models.iter().all(|m| !m.name.starts_with("Apigw"))
            && validators.iter().all(|v| !v.name.starts_with("apigw-")))
        .then_some(())
    })
    .await;
    ns.api::<RestApi>()
        .delete("photos", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(&ns.api::<RestApi>(), "photos", T).await;
    ns.delete().await;
}
