//! Planning for the structure of one REST API: its resource tree and the methods
//! that `Route` objects declare. One reconciler (the RestApi's) owns the structure
//! of an API and plans all of its routes together, so Routes that share path
//! segments never race to create the same parent resource.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::api::route::{
    ContentHandling, Cors, HttpMethod, Integration, PassthroughBehavior, RouteSpec,
};
use crate::plan::models::{request_model_name, response_model_name, validator_name};

/// API Gateway's integration timeout when none is given.
pub const DEFAULT_TIMEOUT_MILLIS: i32 = 29_000;
/// API Gateway's passthrough behaviour when none is given.
pub const DEFAULT_PASSTHROUGH: &str = "WHEN_NO_MATCH";
/// Request headers a CORS preflight allows when the Route does not list any.
pub const DEFAULT_CORS_HEADERS: &[&str] = &[
    "Content-Type",
    "Authorization",
    "X-Api-Key",
    "X-Amz-Date",
    "X-Amz-Security-Token",
];

/// One method as API Gateway stores it, reduced to what the operator manages.
/// Desired and observed values use the same shape so that equality means converged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MethodSettings {
    pub authorization_type: String,
    pub authorizer_id: Option<String>,
    pub authorization_scopes: BTreeSet<String>,
    pub api_key_required: bool,
    pub operation_name: Option<String>,
    pub request_parameters: BTreeMap<String, bool>,
    pub request_validator_id: Option<String>,
    pub request_models: BTreeMap<String, String>,
    pub responses: BTreeMap<String, MethodResponseSettings>,
    pub integration: Option<IntegrationSettings>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MethodResponseSettings {
    pub parameters: BTreeMap<String, bool>,
    pub models: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IntegrationSettings {
    pub type_: String,
    pub http_method: Option<String>,
    pub uri: Option<String>,
    pub connection_type: Option<String>,
    pub connection_id: Option<String>,
    pub credentials: Option<String>,
    pub request_parameters: BTreeMap<String, String>,
    pub request_templates: BTreeMap<String, String>,
    pub passthrough_behavior: String,
    pub content_handling: Option<String>,
    pub timeout_millis: i32,
    pub cache_key_parameters: BTreeSet<String>,
    pub responses: BTreeMap<String, IntegrationResponseSettings>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IntegrationResponseSettings {
    pub selection_pattern: Option<String>,
    pub parameters: BTreeMap<String, String>,
    pub templates: BTreeMap<String, String>,
    pub content_handling: Option<String>,
}

/// A method's place in the API: (resource path, HTTP verb as AWS writes it).
pub type MethodKey = (String, String);

/// One resource of the API as read from AWS, with its methods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedResource {
    pub id: String,
    pub path: String,
    pub methods: BTreeMap<String, MethodSettings>,
}

/// A Route object as the planner needs it.
#[derive(Clone, Debug)]
pub struct RouteInput<'a> {
    pub name: &'a str,
    pub spec: &'a RouteSpec,
    /// RFC 3339 creation time; older routes win conflicts.
    pub created: String,
    /// The route was in effect at its method and path before this pass (its status
    /// says so): it keeps the method when a newer route claims the same one.
    pub was_in_effect: bool,
    /// The object is being deleted.
    pub deleting: bool,
}

/// What the planner knows about an Authorizer object named by routes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizerState {
    /// In AWS with this id; `cognito` tells which authorization type methods use.
    Ready { id: String, cognito: bool },
    /// The object exists but its authorizer is not in AWS yet.
    NotReady,
}

/// Facts from outside the routes that shape their methods.
pub struct DesiredContext<'a> {
    /// Authorizer objects of the API's namespace by name.
    pub authorizers: &'a BTreeMap<String, AuthorizerState>,
    /// `functionName` as users write it -> the integration URI of that function.
    pub lambda_uri: &'a (dyn Fn(&str) -> String + Sync),
    /// Request validators of the API by name (see `plan::models`) -> id.
    pub validators: &'a BTreeMap<String, String>,
    /// Region of service integrations that name none.
    pub region: &'a str,
    pub partition: &'a str,
    /// Account of the API, to complete bare function names for the allow-lists.
    pub account: &'a str,
    /// What the namespace's AwsAccountBinding allows routes to name.
    pub access: &'a crate::plan::access::Access,
}

/// How each route came out of planning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteOutcome {
    /// Its method is part of the desired API.
    Accepted { path: String, verb: String },
    /// Another route holds the same method and path.
    Conflict { holder: String },
    /// A variable path segment clashes with a sibling variable of another route.
    PathConflict { message: String },
    /// The referenced Authorizer object does not exist.
    AuthorizerMissing { name: String },
    /// The referenced Authorizer is not in AWS yet.
    AuthorizerNotReady { name: String },
    /// The spec cannot be turned into a method.
    Invalid { message: String },
    /// It names a function or role the namespace's AwsAccountBinding does not allow.
    NotAllowed { message: String },
    /// Deleting: its method goes (or stays, with deletionPolicy Retain).
    Deleting,
}

/// The API structure the routes ask for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DesiredStructure {
    pub methods: BTreeMap<MethodKey, MethodSettings>,
    /// Methods of routes being deleted with deletionPolicy Delete.
    pub removed: BTreeSet<MethodKey>,
    pub outcomes: BTreeMap<String, RouteOutcome>,
}

impl DesiredStructure {
    /// Every resource path the desired methods need, ancestors included.
    pub fn resource_paths(&self) -> BTreeSet<String> {
        let mut paths = BTreeSet::from(["/".to_string()]);
        for (path, _) in self.methods.keys() {
            let mut current = String::new();
            for segment in path.split('/').filter(|s| !s.is_empty()) {
                current.push('/');
                current.push_str(segment);
                paths.insert(current.clone());
            }
        }
        paths
    }
}

pub fn verb(method: HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Head => "HEAD",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Any => "ANY",
    }
}

/// Decide which route holds each method and build every accepted method.
pub fn desired_structure(routes: &[RouteInput<'_>], ctx: &DesiredContext<'_>) -> DesiredStructure {
    let mut out = DesiredStructure::default();
    // Conflicts resolve in a fixed order so AWS never flaps: routes already in
    // effect first, then the oldest, then by name.
    let mut ordered: Vec<&RouteInput<'_>> = routes.iter().collect();
    ordered.sort_by(|a, b| {
        (!a.was_in_effect, a.created.as_str(), a.name).cmp(&(
            !b.was_in_effect,
            b.created.as_str(),
            b.name,
        ))
    });
    let mut holders: BTreeMap<MethodKey, String> = BTreeMap::new();
    // Variable segment name per parent path, to catch `/photos/{id}` next to `/photos/{userId}`.
    let mut variables: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut cors_by_path: BTreeMap<String, Vec<(&Cors, String)>> = BTreeMap::new();

    for route in ordered {
        let key = (route.spec.path.clone(), verb(route.spec.method).to_string());
        if route.deleting {
            if route.spec.deletion_policy == crate::api::DeletionPolicy::Delete {
                if route.spec.cors.is_some() {
                    // Its preflight goes too, unless another CORS route on the path keeps it.
                    out.removed.insert((key.0.clone(), "OPTIONS".to_string()));
                }
                out.removed.insert(key);
            }
            out.outcomes
                .insert(route.name.to_string(), RouteOutcome::Deleting);
            continue;
        }
        if let Some(holder) = holders.get(&key) {
            out.outcomes.insert(
                route.name.to_string(),
                RouteOutcome::Conflict {
                    holder: holder.clone(),
                },
            );
            continue;
        }
        if let Some(message) = variable_clash(&route.spec.path, route.name, &variables) {
            out.outcomes.insert(
                route.name.to_string(),
                RouteOutcome::PathConflict { message },
            );
            continue;
        }
        if let Err(message) = references_allowed(route.spec, ctx) {
            // A narrowed allow-list takes back what the route was given: its method
            // (and with it the invoke grant) goes.
            if route.was_in_effect {
                out.removed.insert(key);
            }
            out.outcomes
                .insert(route.name.to_string(), RouteOutcome::NotAllowed { message });
            continue;
        }
        match method_settings(route.name, route.spec, ctx) {
            Ok(settings) => {
                record_variables(&route.spec.path, route.name, &mut variables);
                holders.insert(key.clone(), route.name.to_string());
                if let Some(cors) = &route.spec.cors {
                    cors_by_path
                        .entry(key.0.clone())
                        .or_default()
                        .push((cors, key.1.clone()));
                }
                out.methods.insert(key.clone(), settings);
                out.outcomes.insert(
                    route.name.to_string(),
                    RouteOutcome::Accepted {
                        path: key.0,
                        verb: key.1,
                    },
                );
            }
            Err(outcome) => {
                out.outcomes.insert(route.name.to_string(), outcome);
            }
        }
    }
    for (path, entries) in cors_by_path {
        let key = (path, "OPTIONS".to_string());
        // A Route that declares OPTIONS itself wins over the generated preflight.
        out.methods
            .entry(key)
            .or_insert_with(|| preflight_method(&entries));
    }
    out
}

/// The Lambda function and credentials role a route names, against the
/// namespace's allow-lists. A name that does not parse is left to method_settings.
fn references_allowed(spec: &RouteSpec, ctx: &DesiredContext<'_>) -> Result<(), String> {
    if let Some(lambda) = &spec.integration.lambda {
        let home = crate::plan::access::Home {
            partition: ctx.partition,
            region: ctx.region,
            account: ctx.account,
        };
        ctx.access
            .function_named(&lambda.function_name, home)
            .map_err(|e| e.to_string())?;
    }
    if let Some(aws) = &spec.integration.aws {
        ctx.access
            .role(&aws.credentials_role_arn)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn record_variables(path: &str, route: &str, variables: &mut BTreeMap<String, (String, String)>) {
    let mut parent = String::new();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        if segment.starts_with('{') {
            variables
                .entry(if parent.is_empty() {
                    "/".into()
                } else {
                    parent.clone()
                })
                .or_insert((segment.to_string(), route.to_string()));
        }
        parent.push('/');
        parent.push_str(segment);
    }
}

/// API Gateway allows one variable name per level: `/photos/{photoId}` and
/// `/photos/{userId}` cannot both exist.
fn variable_clash(
    path: &str,
    route: &str,
    variables: &BTreeMap<String, (String, String)>,
) -> Option<String> {
    let mut parent = String::new();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        if segment.starts_with('{') {
            let at = if parent.is_empty() {
                "/".to_string()
            } else {
                parent.clone()
            };
            if let Some((existing, holder)) = variables.get(&at)
                && existing != segment
                && holder != route
            {
                return Some(format!(
                    "path segment {segment} under {at} clashes with {existing} of Route {holder}: \
                     API Gateway allows one variable name per level, so use {existing} here too"
                ));
            }
        }
        parent.push('/');
        parent.push_str(segment);
    }
    None
}

/// Largest model schema API Gateway stores, in bytes of its JSON ("Model size":
/// 400 KB, not increasable). The CRD cannot bound the size of a free-form object,
/// so the route is refused here, before any AWS call.
pub const MODEL_MAX_BYTES: usize = 400 * 1024;

/// A model schema of the route over `MODEL_MAX_BYTES`, as a refusal.
fn oversized_model(spec: &RouteSpec) -> Option<RouteOutcome> {
    let request = spec.request_validation.iter().flat_map(|v| {
        v.models
            .iter()
            .map(|(ct, m)| (format!("requestValidation.models[{ct}]"), m))
    });
    let responses = spec.responses.iter().flat_map(|r| {
        r.models
            .iter()
            .map(move |(ct, m)| (format!("responses[{}].models[{ct}]", r.status_code), m))
    });
    request.chain(responses).find_map(|(field, model)| {
        let size = model.schema.to_string().len();
        (size > MODEL_MAX_BYTES).then(|| RouteOutcome::Invalid {
            message: format!(
                "the schema of {field} is {size} bytes of JSON; API Gateway stores models of at most {MODEL_MAX_BYTES} bytes (400 KB)"
            ),
        })
    })
}

/// The method a route declares, or why it cannot be built.
pub fn method_settings(
    route: &str,
    spec: &RouteSpec,
    ctx: &DesiredContext<'_>,
) -> Result<MethodSettings, RouteOutcome> {
    if let Some(refused) = oversized_model(spec) {
        return Err(refused);
    }
    let (authorization_type, authorizer_id, scopes) = match &spec.authorization {
        None => ("NONE".to_string(), None, BTreeSet::new()),
        Some(auth) if auth.iam => ("AWS_IAM".to_string(), None, BTreeSet::new()),
        Some(auth) => match &auth.authorizer_ref {
            None => ("NONE".to_string(), None, BTreeSet::new()),
            Some(r) => match ctx.authorizers.get(&r.name) {
                None => {
                    return Err(RouteOutcome::AuthorizerMissing {
                        name: r.name.clone(),
                    });
                }
                Some(AuthorizerState::NotReady) => {
                    return Err(RouteOutcome::AuthorizerNotReady {
                        name: r.name.clone(),
                    });
                }
                Some(AuthorizerState::Ready { id, cognito }) => {
                    if !cognito && !auth.scopes.is_empty() {
                        return Err(RouteOutcome::Invalid {
                            message: format!(
                                "authorization.scopes need a Cognito authorizer, but Authorizer {} is a Lambda authorizer",
                                r.name
                            ),
                        });
                    }
                    let kind = if *cognito {
                        "COGNITO_USER_POOLS"
                    } else {
                        "CUSTOM"
                    };
                    (
                        kind.to_string(),
                        Some(id.clone()),
                        auth.scopes.iter().cloned().collect(),
                    )
                }
            },
        },
    };
    let mut responses: BTreeMap<String, MethodResponseSettings> = spec
        .responses
        .iter()
        .map(|r| {
            let models = r
                .models
                .iter()
                .map(|(ct, m)| {
                    let name = match m.built_in {
                        Some(b) => b.name().to_string(),
                        None => response_model_name(route, &r.status_code, ct),
                    };
                    (ct.clone(), name)
                })
                .collect();
            (
                r.status_code.clone(),
                MethodResponseSettings {
                    parameters: r.headers.clone(),
                    models,
                },
            )
        })
        .collect();
    let (request_validator_id, request_models) = match &spec.request_validation {
        None => (None, BTreeMap::new()),
        Some(v) => {
            let validator = match validator_name(v.body, v.parameters) {
                None => None,
                Some(name) => match ctx.validators.get(&name) {
                    Some(id) => Some(id.clone()),
                    None => {
                        return Err(RouteOutcome::Invalid {
                            message: format!("request validator {name} is not in the API yet"),
                        });
                    }
                },
            };
            let models = v
                .models
                .iter()
                .map(|(ct, m)| {
                    let name = match m.built_in {
                        Some(b) => b.name().to_string(),
                        None => request_model_name(route, ct),
                    };
                    (ct.clone(), name)
                })
                .collect();
            (validator, models)
        }
    };
    let mut integration = integration_settings(spec, ctx);
    if let Some(cors) = &spec.cors {
        add_cors_origin_to_responses(cors, &mut responses, &mut integration);
    }
    Ok(MethodSettings {
        authorization_type,
        authorizer_id,
        authorization_scopes: scopes,
        api_key_required: spec.api_key_required,
        operation_name: spec.operation_name.clone(),
        request_parameters: spec.request_parameters.clone(),
        request_validator_id,
        request_models,
        responses,
        integration: Some(integration),
    })
}

fn integration_settings(spec: &RouteSpec, ctx: &DesiredContext<'_>) -> IntegrationSettings {
    let i: &Integration = &spec.integration;
    let route_verb = verb(spec.method);
    let mut out = IntegrationSettings {
        request_parameters: i.request_parameters.clone(),
        request_templates: i.request_templates.clone(),
        passthrough_behavior: i
            .passthrough_behavior
            .map(passthrough)
            .unwrap_or(DEFAULT_PASSTHROUGH)
            .to_string(),
        content_handling: i.content_handling.map(content_handling).map(str::to_string),
        timeout_millis: i.timeout_millis.unwrap_or(DEFAULT_TIMEOUT_MILLIS),
        cache_key_parameters: i.cache_key_parameters.iter().cloned().collect(),
        responses: i
            .responses
            .iter()
            .map(|r| {
                (
                    r.status_code.clone(),
                    IntegrationResponseSettings {
                        selection_pattern: r.selection_pattern.clone(),
                        parameters: r.header_mappings.clone(),
                        templates: r.templates.clone(),
                        content_handling: r
                            .content_handling
                            .map(content_handling)
                            .map(str::to_string),
                    },
                )
            })
            .collect(),
        ..Default::default()
    };
    if let Some(lambda) = &i.lambda {
        out.type_ = "AWS_PROXY".into();
        // Lambda is always invoked with POST, whatever the client's method.
        out.http_method = Some("POST".into());
        out.uri = Some((ctx.lambda_uri)(&lambda.function_name));
    } else if let Some(http) = &i.http {
        out.type_ = if http.proxy { "HTTP_PROXY" } else { "HTTP" }.into();
        let backend_verb = http.method.map(verb).unwrap_or(if route_verb == "ANY" {
            "ANY"
        } else {
            route_verb
        });
        out.http_method = Some(backend_verb.to_string());
        out.uri = Some(http.url.clone());
        if let Some(link) = &http.vpc_link_id {
            out.connection_type = Some("VPC_LINK".into());
            out.connection_id = Some(link.clone());
        }
    } else if let Some(aws) = &i.aws {
        out.type_ = "AWS".into();
        out.http_method = Some(aws.method.map(verb).unwrap_or("POST").to_string());
        let region = aws.region.as_deref().unwrap_or(ctx.region);
        let target = match (&aws.action, &aws.path) {
            (Some(action), _) => format!("action/{action}"),
            (None, Some(path)) => format!("path/{}", path.trim_start_matches('/')),
            (None, None) => String::new(),
        };
        out.uri = Some(format!(
            "arn:{}:apigateway:{region}:{}:{target}",
            ctx.partition, aws.service
        ));
        out.credentials = Some(aws.credentials_role_arn.clone());
    } else {
        out.type_ = "MOCK".into();
        if out.request_templates.is_empty() {
            let code = i.mock.as_ref().and_then(|m| m.status_code).unwrap_or(200);
            out.request_templates.insert(
                "application/json".into(),
                format!("{{\"statusCode\": {code}}}"),
            );
        }
    }
    out
}

fn passthrough(p: PassthroughBehavior) -> &'static str {
    match p {
        PassthroughBehavior::WhenNoMatch => "WHEN_NO_MATCH",
        PassthroughBehavior::WhenNoTemplates => "WHEN_NO_TEMPLATES",
        PassthroughBehavior::Never => "NEVER",
    }
}

fn content_handling(c: ContentHandling) -> &'static str {
    match c {
        ContentHandling::ConvertToBinary => "CONVERT_TO_BINARY",
        ContentHandling::ConvertToText => "CONVERT_TO_TEXT",
    }
}

/// Non-proxy integrations can have API Gateway add `Access-Control-Allow-Origin`;
/// proxy integrations pass the backend's headers through, so the backend must set it.
fn add_cors_origin_to_responses(
    cors: &Cors,
    responses: &mut BTreeMap<String, MethodResponseSettings>,
    integration: &mut IntegrationSettings,
) {
    if integration.type_ == "AWS_PROXY" || integration.type_ == "HTTP_PROXY" {
        return;
    }
    const HEADER: &str = "method.response.header.Access-Control-Allow-Origin";
    if integration.responses.is_empty() {
        integration
            .responses
            .insert("200".into(), IntegrationResponseSettings::default());
    }
    for (status, response) in integration.responses.iter_mut() {
        response
            .parameters
            .entry(HEADER.into())
            .or_insert_with(|| format!("'{}'", cors.allow_origins[0]));
        responses
            .entry(status.clone())
            .or_default()
            .parameters
            .entry(HEADER.into())
            .or_insert(false);
    }
}

/// The OPTIONS method answering CORS preflight for a path: a mock integration whose
/// 200 response carries the Access-Control-* headers of every CORS route on the path.
fn preflight_method(entries: &[(&Cors, String)]) -> MethodSettings {
    let mut origins: BTreeSet<String> = BTreeSet::new();
    let mut headers: BTreeSet<String> = BTreeSet::new();
    let mut expose: BTreeSet<String> = BTreeSet::new();
    let mut methods: BTreeSet<String> = BTreeSet::from(["OPTIONS".to_string()]);
    let mut max_age: Option<i32> = None;
    let mut credentials = false;
    for (cors, verb) in entries {
        origins.extend(cors.allow_origins.iter().cloned());
        headers.extend(cors.allow_headers.iter().cloned());
        expose.extend(cors.expose_headers.iter().cloned());
        if verb == "ANY" {
            methods.extend(["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"].map(String::from));
        } else {
            methods.insert(verb.clone());
        }
        max_age = max_age.max(cors.max_age_seconds);
        credentials |= cors.allow_credentials;
    }
    if headers.is_empty() {
        headers.extend(DEFAULT_CORS_HEADERS.iter().map(|h| h.to_string()));
    }
    let join = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(",");
    let mut mapped: BTreeMap<String, String> = BTreeMap::new();
    let h = |name: &str| format!("method.response.header.{name}");
    mapped.insert(
        h("Access-Control-Allow-Headers"),
        format!("'{}'", join(&headers)),
    );
    mapped.insert(
        h("Access-Control-Allow-Methods"),
        format!("'{}'", join(&methods)),
    );
    let mut templates = BTreeMap::new();
    if origins.len() == 1 {
        mapped.insert(
            h("Access-Control-Allow-Origin"),
            format!("'{}'", origins.first().unwrap()),
        );
    } else {
        // A static mapping holds one value; with several origins the template echoes
        // the request's Origin when it is one of them.
        let list = origins
            .iter()
            .map(|o| format!("\"{o}\""))
            .collect::<Vec<_>>()
            .join(", ");
        templates.insert(
            "application/json".to_string(),
            format!(
                "#set($origin = $input.params().header.get(\"Origin\"))\n#if(!$origin)#set($origin = $input.params().header.get(\"origin\"))#end\n#if([{list}].contains($origin))#set($context.responseOverride.header.Access-Control-Allow-Origin = $origin)#end"
            ),
        );
        mapped.insert(
            h("Access-Control-Allow-Origin"),
            format!("'{}'", origins.first().unwrap()),
        );
    }
    if credentials {
        mapped.insert(h("Access-Control-Allow-Credentials"), "'true'".into());
    }
    if !expose.is_empty() {
        mapped.insert(
            h("Access-Control-Expose-Headers"),
            format!("'{}'", join(&expose)),
        );
    }
    if let Some(age) = max_age {
        mapped.insert(h("Access-Control-Max-Age"), format!("'{age}'"));
    }
    let response_headers: BTreeMap<String, bool> =
        mapped.keys().map(|k| (k.clone(), false)).collect();
    MethodSettings {
        authorization_type: "NONE".into(),
        responses: BTreeMap::from([(
            "200".to_string(),
            MethodResponseSettings {
                parameters: response_headers,
                models: BTreeMap::new(),
            },
        )]),
        integration: Some(IntegrationSettings {
            type_: "MOCK".into(),
            request_templates: BTreeMap::from([(
                "application/json".to_string(),
                "{\"statusCode\": 200}".to_string(),
            )]),
            passthrough_behavior: DEFAULT_PASSTHROUGH.into(),
            timeout_millis: DEFAULT_TIMEOUT_MILLIS,
            responses: BTreeMap::from([(
                "200".to_string(),
                IntegrationResponseSettings {
                    parameters: mapped,
                    templates,
                    ..Default::default()
                },
            )]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A step that changes the API's structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StructureAction {
    /// Create `path` under its parent (parents always come first).
    CreateResource { path: String },
    /// Remove a method (before a replacement, or because its route went).
    DeleteMethod { path: String, verb: String },
    /// Create a method with its integration and responses.
    PutMethod {
        path: String,
        verb: String,
        settings: Box<MethodSettings>,
    },
    /// Remove a resource left without methods or children (deepest first).
    DeleteResource { path: String },
}

impl StructureAction {
    /// One line for the plan preview (ObserveOnly).
    pub fn describe(&self) -> String {
        match self {
            StructureAction::CreateResource { path } => format!("create resource {path}"),
            StructureAction::DeleteMethod { path, verb } => format!("delete method {verb} {path}"),
            StructureAction::PutMethod {
                path,
                verb,
                settings,
            } => {
                let integration = settings
                    .integration
                    .as_ref()
                    .map(|i| {
                        format!(
                            ", integration {} {}",
                            i.type_,
                            i.uri.as_deref().unwrap_or("")
                        )
                    })
                    .unwrap_or_default();
                format!(
                    "put method {verb} {path} (authorization {}{integration})",
                    settings.authorization_type
                )
            }
            StructureAction::DeleteResource { path } => format!("delete resource {path}"),
        }
    }
}

/// Plan the structure: create missing resources top-down, replace methods that
/// differ, remove the methods of deleted routes and the resources they leave empty.
/// Methods and resources no Route mentions are left alone (they may be hand-made,
/// or belong to a Route deleted with deletionPolicy Retain).
pub fn plan_structure(
    desired: &DesiredStructure,
    observed: &[ObservedResource],
) -> Vec<StructureAction> {
    let by_path: BTreeMap<&str, &ObservedResource> =
        observed.iter().map(|r| (r.path.as_str(), r)).collect();
    let mut actions = Vec::new();

    let mut needed: Vec<String> = desired
        .resource_paths()
        .into_iter()
        .filter(|p| !by_path.contains_key(p.as_str()))
        .collect();
    needed.sort_by_key(|p| depth(p));
    actions.extend(
        needed
            .into_iter()
            .map(|path| StructureAction::CreateResource { path }),
    );

    for ((path, verb), settings) in &desired.methods {
        let current = by_path.get(path.as_str()).and_then(|r| r.methods.get(verb));
        match current {
            Some(existing) if normalized(existing) == normalized(settings) => {}
            Some(_) => {
                actions.push(StructureAction::DeleteMethod {
                    path: path.clone(),
                    verb: verb.clone(),
                });
                actions.push(StructureAction::PutMethod {
                    path: path.clone(),
                    verb: verb.clone(),
                    settings: Box::new(settings.clone()),
                });
            }
            None => actions.push(StructureAction::PutMethod {
                path: path.clone(),
                verb: verb.clone(),
                settings: Box::new(settings.clone()),
            }),
        }
    }

    let mut remaining: BTreeMap<String, BTreeSet<String>> = observed
        .iter()
        .map(|r| (r.path.clone(), r.methods.keys().cloned().collect()))
        .collect();
    for (path, verb) in &desired.removed {
        if desired.methods.contains_key(&(path.clone(), verb.clone())) {
            continue;
        }
        if let Some(methods) = remaining.get_mut(path)
            && methods.remove(verb)
        {
            actions.push(StructureAction::DeleteMethod {
                path: path.clone(),
                verb: verb.clone(),
            });
        }
    }
    // Resources emptied by those removals go too, deepest first, up to the first
    // ancestor that still has a method, a child, or is needed.
    let needed = desired.resource_paths();
    let mut candidates: BTreeSet<String> = BTreeSet::new();
    for (path, _) in &desired.removed {
        let mut p = path.clone();
        while p != "/" && !p.is_empty() {
            candidates.insert(p.clone());
            p = parent_path(&p);
        }
    }
    let mut ordered: Vec<String> = candidates.into_iter().collect();
    ordered.sort_by_key(|p| std::cmp::Reverse(depth(p)));
    let mut gone: BTreeSet<String> = BTreeSet::new();
    for path in ordered {
        let Some(methods) = remaining.get(&path) else {
            continue;
        };
        let has_children = remaining
            .keys()
            .any(|other| parent_path(other) == path && !gone.contains(other));
        if methods.is_empty() && !has_children && !needed.contains(&path) {
            gone.insert(path.clone());
            actions.push(StructureAction::DeleteResource { path });
        }
    }
    actions
}

/// Fill in what AWS (and emulators) leave implicit, so equal means equal.
fn normalized(m: &MethodSettings) -> MethodSettings {
    let mut m = m.clone();
    if m.authorization_type.is_empty() {
        m.authorization_type = "NONE".into();
    }
    if let Some(i) = m.integration.as_mut() {
        i.type_ = i.type_.to_uppercase();
        i.passthrough_behavior = i.passthrough_behavior.to_uppercase();
        if i.passthrough_behavior.is_empty() {
            i.passthrough_behavior = DEFAULT_PASSTHROUGH.into();
        }
        if i.timeout_millis == 0 {
            i.timeout_millis = DEFAULT_TIMEOUT_MILLIS;
        }
        // An empty template is a template: it maps its content type to an empty
        // body, where no template would pass the body through (or refuse it). AWS
        // answers it as null, which the tolerant client reads as "": both sides
        // keep it, so spec "" equals observed null and a missing one is put.
        if i.type_ == "MOCK" {
            // MOCK integrations have no backend method or URI, whatever is stored.
            i.http_method = None;
            i.uri = None;
        }
    }
    m
}

/// The API Gateway calls carrying out `actions` one by one would cost.
pub fn structure_cost(actions: &[StructureAction]) -> usize {
    actions
        .iter()
        .map(|a| match a {
            StructureAction::PutMethod { settings, .. } => {
                1 + settings.responses.len()
                    + settings
                        .integration
                        .as_ref()
                        .map_or(0, |i| 1 + i.responses.len())
            }
            _ => 1,
        })
        .sum()
}

pub fn parent_path(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => path[..i].to_string(),
    }
}

pub fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn depth(path: &str) -> usize {
    path.split('/').filter(|s| !s.is_empty()).count()
}

/// For each action of a structure plan, the earlier actions it must wait for, so
/// independent writes can run at once: a resource after its parent, a method after
/// its resource and after the removal of the method it replaces, a resource
/// removal after the removals of its methods and children. Everything else (the
/// methods of different resources, resources of one level) is independent.
pub fn structure_dependencies(actions: &[StructureAction]) -> Vec<Vec<usize>> {
    let created: BTreeMap<&str, usize> = actions
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match a {
            StructureAction::CreateResource { path } => Some((path.as_str(), i)),
            _ => None,
        })
        .collect();
    let under = |path: &str, root: &str| path == root || path.starts_with(&format!("{root}/"));
    actions
        .iter()
        .enumerate()
        .map(|(i, action)| match action {
            StructureAction::CreateResource { path } => {
                created.get(parent_path(path).as_str()).copied().into_iter().collect()
            }
            StructureAction::PutMethod { path, verb, .. } => {
                let mut deps: Vec<usize> = created.get(path.as_str()).copied().into_iter().collect();
                deps.extend(actions[..i].iter().enumerate().filter_map(|(j, a)| {
                    matches!(a, StructureAction::DeleteMethod { path: p, verb: v } if p == path && v == verb)
                        .then_some(j)
                }));
                deps
            }
            StructureAction::DeleteMethod { .. } => Vec::new(),
            StructureAction::DeleteResource { path } => actions[..i]
                .iter()
                .enumerate()
                .filter_map(|(j, a)| match a {
                    StructureAction::DeleteMethod { path: p, .. } if under(p, path) => Some(j),
                    StructureAction::DeleteResource { path: p } if p != path && under(p, path) => {
                        Some(j)
                    }
                    _ => None,
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
