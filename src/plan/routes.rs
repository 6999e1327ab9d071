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
                .keys()
                .map(|ct| (ct.clone(), response_model_name(route, &r.status_code, ct)))
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
                .keys()
                .map(|ct| (ct.clone(), request_model_name(route, ct)))
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
        // An empty template is stored as null and may come back missing.
        i.request_templates.retain(|_, t| !t.is_empty());
        for r in i.responses.values_mut() {
            r.templates.retain(|_, t| !t.is_empty());
        }
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
mod tests {
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
        let spec =
            route("{restApiRef: {name: api}, method: GET, path: /p, integration: {mock: {}}}");
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
}
