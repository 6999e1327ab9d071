use super::*;

fn route(yaml: &str) -> RouteSpec {
    serde_yaml::from_str(yaml).expect("test route parses")
}

/// Names are alphanumeric, stable and say whose they are.
#[test]
fn names_are_alphanumeric_and_stable() {
    assert_eq!(
        request_model_name("upload-photo", "application/json"),
        "ApigwUploadPhotoRequestApplicationJson"
    );
    assert_eq!(
        response_model_name("upload-photo", "201", "application/json"),
        "ApigwUploadPhotoResponse201ApplicationJson"
    );
    assert_eq!(validator_name(true, false).as_deref(), Some("apigw-body"));
    assert_eq!(validator_name(false, false), None);
}

/// Missing models and validators come before the methods; unused ones of the
/// operator go after; models of others are never touched.
#[test]
fn create_before_delete_after_and_foreign_models_stay() {
    let spec = route(
        "{restApiRef: {name: a}, method: PUT, path: /p, integration: {mock: {}}, requestValidation: {body: true, models: {application/json: {schema: {type: object, required: [title]}}}}}",
    );
    let desired = desired_models([("upload", &spec)]);
    let models = vec![
        ObservedModel {
            name: "ApigwOldRequestApplicationJson".into(),
            schema: "{}".into(),
        },
        ObservedModel {
            name: "Empty".into(),
            schema: "{}".into(),
        },
    ];
    let validators = vec![ObservedValidator {
        id: "v1".into(),
        name: "apigw-parameters".into(),
        body: false,
        parameters: true,
    }];
    let (before, after) = plan_models(&desired, &models, &validators);
    assert_eq!(
        before,
        vec![
            ModelAction::CreateModel {
                name: "ApigwUploadRequestApplicationJson".into(),
                content_type: "application/json".into(),
                schema: r#"{"required":["title"],"type":"object"}"#.into()
            },
            ModelAction::CreateValidator {
                name: "apigw-body".into(),
                body: true,
                parameters: false
            },
        ]
    );
    assert_eq!(
        after,
        vec![
            ModelAction::DeleteModel {
                name: "ApigwOldRequestApplicationJson".into()
            },
            ModelAction::DeleteValidator { id: "v1".into() },
        ]
    );
}

/// A schema AWS re-serialised differently is not drift.
#[test]
fn converged_models_plan_nothing() {
    let spec = route(
        "{restApiRef: {name: a}, method: PUT, path: /p, integration: {mock: {}}, requestValidation: {body: true, models: {application/json: {schema: {type: object}}}}}",
    );
    let desired = desired_models([("upload", &spec)]);
    let models = vec![ObservedModel {
        name: "ApigwUploadRequestApplicationJson".into(),
        schema: "{ \"type\" : \"object\" }".into(),
    }];
    let validators = vec![ObservedValidator {
        id: "v".into(),
        name: "apigw-body".into(),
        body: true,
        parameters: false,
    }];
    assert_eq!(
        plan_models(&desired, &models, &validators),
        (vec![], vec![])
    );
}
