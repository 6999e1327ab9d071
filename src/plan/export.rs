//! `apigw-operator export`: a live REST API as manifests a team can commit (a
//! RestApi adopting it, its Authorizers, one Route per method, its Stages). Pure:
//! what AWS holds comes in, manifests and notes on what could not be carried go
//! out. Each Route is the inverse of `routes::method_settings`, so applying the
//! manifests plans nothing for what they carry.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::authorizer::ObservedAuthorizer;
use super::lambda::function_arn_from_uri;
use super::models::{
    ObservedDocumentationPart, ObservedGatewayResponse, ObservedModel, ObservedValidator,
    validator_name,
};
use super::rest_api::{OWNER_UID_TAG, ObservedRestApi};
use super::routes::{
    DEFAULT_PASSTHROUGH, DEFAULT_TIMEOUT_MILLIS, IntegrationSettings, MethodSettings,
    ObservedResource,
};
use super::stage::ObservedStage;

const API_VERSION: &str = "apigw.rs/v1alpha1";
/// AWS's default identity source, which the Authorizer kind defaults to as well.
const DEFAULT_IDENTITY_SOURCE: &str = "method.request.header.Authorization";
const DEFAULT_RESULT_TTL: i32 = 300;

/// Everything read of one REST API.
#[derive(Clone, Debug, Default)]
pub struct LiveApi {
    pub api: ObservedRestApi,
    pub resources: Vec<ObservedResource>,
    pub authorizers: Vec<ObservedAuthorizer>,
    pub validators: Vec<ObservedValidator>,
    pub models: Vec<ObservedModel>,
    pub stages: Vec<ObservedStage>,
    pub gateway_responses: Vec<ObservedGatewayResponse>,
    pub documentation_parts: Vec<ObservedDocumentationPart>,
    /// Lists that could not be read, with why: what they hold is not exported
    /// and cannot be named either.
    pub unread: Vec<String>,
}

/// API Gateway's built-in model, which methods name without the API defining it.
const EMPTY_MODEL: &str = "Empty";

/// How to name and scope the manifests.
#[derive(Clone, Debug)]
pub struct ExportOptions<'a> {
    /// The RestApi object's name; Routes, Authorizers and Stages are named after it.
    pub name: &'a str,
    pub namespace: Option<&'a str>,
    /// The region the operator (or the namespace's binding) works in: an AWS
    /// integration elsewhere names its region.
    pub region: &'a str,
    /// Emit `managementPolicy: ObserveOnly` on the RestApi: applying the manifests
    /// then only shows, in status.plannedChanges, what the operator would change.
    pub observe_only: bool,
}

/// The manifests, and what they do not carry (one line each).
#[derive(Clone, Debug, Default)]
pub struct Export {
    pub manifests: Vec<Value>,
    pub notes: Vec<String>,
}

pub fn export(live: &LiveApi, opts: &ExportOptions<'_>) -> Export {
    let mut out = Export::default();
    out.manifests.push(rest_api(live, opts));
    let mut names = Names::default();
    let mut authorizer_objects: BTreeMap<String, String> = BTreeMap::new();
    for a in &live.authorizers {
        match authorizer(a, opts, &mut names) {
            Ok((object, manifest)) => {
                authorizer_objects.insert(a.id.clone(), object);
                out.manifests.push(manifest);
            }
            Err(note) => out.notes.push(note),
        }
    }
    let models: BTreeMap<&str, &str> = live
        .models
        .iter()
        .map(|m| (m.name.as_str(), m.schema.as_str()))
        .collect();
    let refs = References {
        authorizers: &authorizer_objects,
        validators: &live.validators,
        models: &models,
        region: opts.region,
    };
    let mut resources: Vec<&ObservedResource> = live.resources.iter().collect();
    resources.sort_by(|a, b| a.path.cmp(&b.path));
    for resource in resources {
        for (verb, method) in &resource.methods {
            let name = names.take(&format!(
                "{}-{}{}",
                opts.name,
                verb.to_lowercase(),
                slug_path(&resource.path)
            ));
            match route_spec(&resource.path, verb, method, &refs, &mut out.notes) {
                Ok(spec) => {
                    out.manifests
                        .push(manifest("Route", &name, opts, spec_with_api(spec, opts)))
                }
                Err(why) => out
                    .notes
                    .push(format!("{verb} {}: not exported: {why}", resource.path)),
            }
        }
    }
    dropped(live, &mut out.notes);
    let mut stages: Vec<&ObservedStage> = live.stages.iter().collect();
    stages.sort_by(|a, b| a.stage_name.cmp(&b.stage_name));
    for stage in stages {
        let name = names.take(&format!("{}-{}", opts.name, slug(&stage.stage_name)));
        out.manifests
            .push(stage_manifest(stage, &name, opts, &mut out.notes));
    }
    out
}

/// One note per part of the API that no kind carries, naming it: the manifests
/// would otherwise look like the whole API.
fn dropped(live: &LiveApi, notes: &mut Vec<String>) {
    let mut responses: Vec<&ObservedGatewayResponse> = live
        .gateway_responses
        .iter()
        .filter(|r| !r.default)
        .collect();
    responses.sort_by(|a, b| a.response_type.cmp(&b.response_type));
    for r in responses {
        let status = r
            .status_code
            .as_deref()
            .map(|s| format!(" (status {s})"))
            .unwrap_or_default();
        notes.push(format!(
            "gateway response {}{status}: no kind models gateway responses",
            r.response_type
        ));
    }
    let mut parts: Vec<&ObservedDocumentationPart> = live.documentation_parts.iter().collect();
    parts.sort_by(|a, b| {
        (&a.kind, &a.path, &a.method, &a.name).cmp(&(&b.kind, &b.path, &b.method, &b.name))
    });
    for p in parts {
        let place: Vec<&str> = [&p.method, &p.path, &p.status_code, &p.name]
            .into_iter()
            .filter_map(|f| f.as_deref())
            .collect();
        let place = if place.is_empty() {
            String::new()
        } else {
            format!(" {}", place.join(" "))
        };
        notes.push(format!(
            "documentation part {} ({}{place}): no kind models documentation",
            p.id, p.kind
        ));
    }
    for why in &live.unread {
        notes.push(why.clone());
    }
}

/// Object names: DNS subdomain names, unique within the export.
#[derive(Default)]
struct Names(BTreeSet<String>);

impl Names {
    fn take(&mut self, wanted: &str) -> String {
        let base: String = slug(wanted).chars().take(240).collect();
        let mut name = base.clone();
        let mut n = 2;
        while !self.0.insert(name.clone()) {
            name = format!("{base}-{n}");
            n += 1;
        }
        name
    }
}

/// A Kubernetes object name for an AWS name (`Photos API` -> `photos-api`).
pub fn object_name(aws_name: &str) -> String {
    slug(aws_name)
        .chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

/// Lower-case letters, digits and single dashes.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        "x".into()
    } else {
        trimmed.into()
    }
}

/// `/photos/{photoId}/filter` as `-photos-photoid-filter`; the root as `-root`.
fn slug_path(path: &str) -> String {
    match slug(path).as_str() {
        "x" => "-root".into(),
        s => format!("-{s}"),
    }
}

fn manifest(kind: &str, name: &str, opts: &ExportOptions<'_>, spec: Value) -> Value {
    let mut metadata = json!({"name": name});
    if let Some(ns) = opts.namespace {
        metadata["namespace"] = json!(ns);
    }
    json!({"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec})
}

fn spec_with_api(mut spec: Value, opts: &ExportOptions<'_>) -> Value {
    spec["restApiRef"] = json!({"name": opts.name});
    spec
}

fn rest_api(live: &LiveApi, opts: &ExportOptions<'_>) -> Value {
    let s = &live.api.settings;
    let mut spec = json!({"restApiId": live.api.id, "deletionPolicy": "Retain"});
    if s.name != opts.name {
        spec["apiName"] = json!(s.name);
    }
    if !s.description.is_empty() {
        spec["description"] = json!(s.description);
    }
    if s.endpoint_type != "REGIONAL" || !s.vpc_endpoint_ids.is_empty() {
        let mut endpoint = json!({"type": s.endpoint_type});
        if !s.vpc_endpoint_ids.is_empty() {
            endpoint["vpcEndpointIds"] = json!(s.vpc_endpoint_ids);
        }
        spec["endpoint"] = endpoint;
    }
    if let Some(policy) = &s.policy {
        spec["policy"] = json!(policy);
    }
    if !s.binary_media_types.is_empty() {
        spec["binaryMediaTypes"] = json!(s.binary_media_types);
    }
    if let Some(size) = s.minimum_compression_size {
        spec["minimumCompressionSize"] = json!(size);
    }
    if s.api_key_source == "AUTHORIZER" {
        spec["apiKeySource"] = json!("AUTHORIZER");
    }
    if s.disable_execute_api_endpoint {
        spec["disableExecuteApiEndpoint"] = json!(true);
    }
    let tags: BTreeMap<&String, &String> = s
        .tags
        .iter()
        .filter(|(k, _)| !k.starts_with("aws:") && !k.starts_with("apigw.rs/"))
        .collect();
    if !tags.is_empty() {
        spec["tags"] = json!(tags);
    }
    // Made by an operator object: the adoption goes through only once that object
    // is gone (deleted with deletionPolicy: Retain); a live one keeps it.
    if s.tags.contains_key(OWNER_UID_TAG) {
        spec["adoptOrphaned"] = json!(true);
    }
    if opts.observe_only {
        spec["managementPolicy"] = json!("ObserveOnly");
    }
    manifest("RestApi", opts.name, opts, spec)
}

fn authorizer(
    a: &ObservedAuthorizer,
    opts: &ExportOptions<'_>,
    names: &mut Names,
) -> Result<(String, Value), String> {
    let s = &a.settings;
    let name = names.take(&format!("{}-{}", opts.name, s.name));
    let mut spec = json!({"authorizerName": s.name});
    match s.type_.as_str() {
        "COGNITO_USER_POOLS" => {
            spec["cognito"] = json!({"userPools": s.provider_arns});
        }
        "TOKEN" | "REQUEST" => {
            let uri = s.authorizer_uri.as_deref().unwrap_or_default();
            let function = function_arn_from_uri(uri).ok_or_else(|| {
                format!("authorizer {} ({}): its URI {uri:?} names no Lambda function; its routes are not exported either", s.name, a.id)
            })?;
            let mut lambda = json!({"functionName": function, "type": s.type_});
            if let Some(role) = &s.authorizer_credentials {
                lambda["credentialsRoleArn"] = json!(role);
            }
            spec["lambda"] = lambda;
        }
        other => {
            return Err(format!(
                "authorizer {} has type {other}, which the Authorizer kind does not model",
                s.name
            ));
        }
    }
    if s.identity_source != DEFAULT_IDENTITY_SOURCE {
        spec["identitySource"] = json!(s.identity_source);
    }
    if let Some(expression) = &s.identity_validation_expression {
        spec["identityValidationExpression"] = json!(expression);
    }
    if s.result_ttl != DEFAULT_RESULT_TTL {
        spec["resultTtlSeconds"] = json!(s.result_ttl);
    }
    Ok((
        name.clone(),
        manifest("Authorizer", &name, opts, spec_with_api(spec, opts)),
    ))
}

/// What a method may refer to.
struct References<'a> {
    /// Authorizer id -> the exported object's name.
    authorizers: &'a BTreeMap<String, String>,
    validators: &'a [ObservedValidator],
    /// Model name -> schema (JSON text).
    models: &'a BTreeMap<&'a str, &'a str>,
    region: &'a str,
}

impl References<'_> {
    /// A method's model as a Route carries it: the built-in `Empty` by name (a copy
    /// would be a model of the operator's own, a change on first apply), others
    /// by their schema.
    fn model(&self, model: &str) -> Result<Value, String> {
        if model == EMPTY_MODEL {
            return Ok(json!({"builtIn": EMPTY_MODEL}));
        }
        Ok(json!({"schema": self.schema(model)?}))
    }

    fn schema(&self, model: &str) -> Result<Value, String> {
        let text = self
            .models
            .get(model)
            .ok_or_else(|| format!("model {model} is not in the API"))?;
        serde_json::from_str(text).map_err(|e| format!("model {model} is not JSON: {e}"))
    }
}

fn route_spec(
    path: &str,
    verb: &str,
    m: &MethodSettings,
    refs: &References<'_>,
    notes: &mut Vec<String>,
) -> Result<Value, String> {
    let mut spec = json!({"method": verb, "path": path});
    match m.authorization_type.as_str() {
        "" | "NONE" => {}
        "AWS_IAM" => spec["authorization"] = json!({"iam": true}),
        "COGNITO_USER_POOLS" | "CUSTOM" => {
            let id = m.authorizer_id.as_deref().unwrap_or_default();
            let object = refs
                .authorizers
                .get(id)
                .ok_or_else(|| format!("its authorizer {id} is not exported"))?;
            let mut auth = json!({"authorizerRef": {"name": object}});
            if !m.authorization_scopes.is_empty() {
                auth["scopes"] = json!(m.authorization_scopes);
            }
            spec["authorization"] = auth;
        }
        other => return Err(format!("authorization type {other} is not modelled")),
    }
    if m.api_key_required {
        spec["apiKeyRequired"] = json!(true);
    }
    if let Some(name) = &m.operation_name {
        spec["operationName"] = json!(name);
    }
    if !m.request_parameters.is_empty() {
        spec["requestParameters"] = json!(m.request_parameters);
    }
    if m.request_validator_id.is_some() || !m.request_models.is_empty() {
        spec["requestValidation"] = request_validation(path, verb, m, refs, notes)?;
    }
    let integration = m
        .integration
        .as_ref()
        .ok_or("the method has no integration")?;
    spec["integration"] = integration_spec(verb, integration, refs.region)?;
    if !m.responses.is_empty() {
        let mut responses = Vec::new();
        for (status, r) in &m.responses {
            let mut response = json!({"statusCode": status});
            if !r.parameters.is_empty() {
                response["headers"] = json!(r.parameters);
            }
            if !r.models.is_empty() {
                let mut models = Map::new();
                for (content_type, model) in &r.models {
                    models.insert(content_type.clone(), refs.model(model)?);
                }
                response["models"] = Value::Object(models);
            }
            responses.push(response);
        }
        spec["responses"] = json!(responses);
    }
    Ok(spec)
}

fn request_validation(
    path: &str,
    verb: &str,
    m: &MethodSettings,
    refs: &References<'_>,
    notes: &mut Vec<String>,
) -> Result<Value, String> {
    let validator = m
        .request_validator_id
        .as_deref()
        .and_then(|id| refs.validators.iter().find(|v| v.id == id));
    let (body, parameters) = validator.map_or((false, false), |v| (v.body, v.parameters));
    if let Some(v) = validator
        && validator_name(body, parameters).as_deref() != Some(v.name.as_str())
    {
        notes.push(format!(
            "{verb} {path}: validator {} is replaced by the operator's own of the same checks on first apply",
            v.name
        ));
    }
    let mut models = Map::new();
    for (content_type, model) in &m.request_models {
        models.insert(content_type.clone(), refs.model(model)?);
    }
    if m.request_models.values().any(|m| m != EMPTY_MODEL) {
        notes.push(format!(
            "{verb} {path}: request models are carried by their schema; the operator names its own models on first apply"
        ));
    }
    Ok(json!({"body": body, "parameters": parameters, "models": models}))
}

fn integration_spec(verb: &str, i: &IntegrationSettings, region: &str) -> Result<Value, String> {
    let mut spec = Map::new();
    let uri = i.uri.clone().unwrap_or_default();
    let mut templates = i.request_templates.clone();
    match i.type_.to_uppercase().as_str() {
        "AWS_PROXY" => {
            let function = function_arn_from_uri(&uri).ok_or_else(|| {
                format!("an AWS_PROXY integration to {uri:?}, which is not a Lambda function")
            })?;
            spec.insert("lambda".into(), json!({"functionName": function}));
        }
        kind @ ("HTTP" | "HTTP_PROXY") => {
            let mut http = json!({"url": uri, "proxy": kind == "HTTP_PROXY"});
            let backend = i.http_method.as_deref().unwrap_or(verb);
            if backend != verb {
                http["method"] = json!(backend);
            }
            if i.connection_type.as_deref() == Some("VPC_LINK") {
                let link = i
                    .connection_id
                    .as_deref()
                    .ok_or("a VPC_LINK integration without a link id")?;
                http["vpcLinkId"] = json!(link);
            }
            spec.insert("http".into(), http);
        }
        "AWS" => {
            spec.insert("aws".into(), aws_service(i, &uri, region)?);
        }
        "MOCK" => {
            let mut mock = json!({});
            // The operator's own form: `{"statusCode": N}` as the only template.
            let code = (templates.len() == 1)
                .then(|| templates.get("application/json"))
                .flatten()
                .and_then(|t| t.strip_prefix("{\"statusCode\": "))
                .and_then(|t| t.strip_suffix('}'))
                .and_then(|n| n.parse::<i32>().ok());
            if let Some(code) = code {
                templates.clear();
                mock["statusCode"] = json!(code);
            }
            spec.insert("mock".into(), mock);
        }
        other => return Err(format!("integration type {other} is not modelled")),
    }
    if i.timeout_millis != 0 && i.timeout_millis != DEFAULT_TIMEOUT_MILLIS {
        spec.insert("timeoutMillis".into(), json!(i.timeout_millis));
    }
    if !i.request_parameters.is_empty() {
        spec.insert("requestParameters".into(), json!(i.request_parameters));
    }
    if !templates.is_empty() {
        spec.insert("requestTemplates".into(), json!(templates));
    }
    let passthrough = i.passthrough_behavior.to_uppercase();
    if !passthrough.is_empty() && passthrough != DEFAULT_PASSTHROUGH {
        spec.insert("passthroughBehavior".into(), json!(passthrough));
    }
    if let Some(c) = &i.content_handling {
        spec.insert("contentHandling".into(), json!(c));
    }
    if !i.cache_key_parameters.is_empty() {
        spec.insert("cacheKeyParameters".into(), json!(i.cache_key_parameters));
    }
    if !i.responses.is_empty() {
        let responses: Vec<Value> = i
            .responses
            .iter()
            .map(|(status, r)| {
                let mut response = json!({"statusCode": status});
                if let Some(p) = &r.selection_pattern {
                    response["selectionPattern"] = json!(p);
                }
                if !r.parameters.is_empty() {
                    response["headerMappings"] = json!(r.parameters);
                }
                if !r.templates.is_empty() {
                    response["templates"] = json!(r.templates);
                }
                if let Some(c) = &r.content_handling {
                    response["contentHandling"] = json!(c);
                }
                response
            })
            .collect();
        spec.insert("responses".into(), json!(responses));
    }
    Ok(Value::Object(spec))
}

/// `arn:PARTITION:apigateway:REGION:SERVICE:action/NAME` or `...:path/PATH`.
fn aws_service(i: &IntegrationSettings, uri: &str, home_region: &str) -> Result<Value, String> {
    let fields: Vec<&str> = uri.splitn(6, ':').collect();
    let ["arn", _partition, "apigateway", region, service, target] = fields.as_slice() else {
        return Err(format!("an AWS integration URI {uri:?} of an unknown form"));
    };
    let role = i
        .credentials
        .as_deref()
        .ok_or("an AWS service integration without a credentials role")?;
    let mut aws = json!({"service": service, "credentialsRoleArn": role});
    if *region != home_region {
        aws["region"] = json!(region);
    }
    if let Some(action) = target.strip_prefix("action/") {
        aws["action"] = json!(action);
    } else if let Some(path) = target.strip_prefix("path/") {
        aws["path"] = json!(path);
    } else if !target.is_empty() {
        return Err(format!("an AWS integration URI {uri:?} of an unknown form"));
    }
    if let Some(method) = i.http_method.as_deref().filter(|m| *m != "POST") {
        aws["method"] = json!(method);
    }
    Ok(aws)
}

fn stage_manifest(
    stage: &ObservedStage,
    name: &str,
    opts: &ExportOptions<'_>,
    notes: &mut Vec<String>,
) -> Value {
    let mut spec = json!({"stageName": stage.stage_name});
    // Pinned to what it serves now: adopting changes nothing the clients see.
    spec["deployment"] = match &stage.deployment_id {
        Some(id) => json!({"policy": "Pinned", "deploymentId": id}),
        None => json!({"policy": "Manual", "revision": 1}),
    };
    if !stage.description.is_empty() {
        spec["description"] = json!(stage.description);
    }
    if !stage.variables.is_empty() {
        spec["variables"] = json!(stage.variables);
    }
    if stage.tracing_enabled {
        spec["tracingEnabled"] = json!(true);
    }
    let tags: BTreeMap<&String, &String> = stage
        .tags
        .iter()
        .filter(|(k, _)| !k.starts_with("apigw.rs/"))
        .collect();
    if !tags.is_empty() {
        spec["tags"] = json!(tags);
    }
    if let Some(all) = stage.method_settings.get("*/*") {
        if all.metrics_enabled {
            spec["metricsEnabled"] = json!(true);
        }
        if all.throttling_rate_limit > 0.0 || all.throttling_burst_limit > 0 {
            spec["throttling"] = json!({"rateLimit": all.throttling_rate_limit, "burstLimit": all.throttling_burst_limit});
        }
    }
    let mut left = Vec::new();
    if stage.cache_cluster_enabled {
        left.push("cache cluster");
    }
    if stage.access_log.is_some() {
        left.push("access logs");
    }
    if stage.canary.is_some() {
        left.push("canary");
    }
    if stage.method_settings.keys().any(|k| k != "*/*")
        || stage.method_settings.get("*/*").is_some_and(|s| {
            s.caching_enabled
                || s.data_trace_enabled
                || s.logging_level.as_deref().is_some_and(|l| l != "OFF")
        })
    {
        left.push("logging, caching or per-route settings");
    }
    if !left.is_empty() {
        notes.push(format!(
            "stage {}: {} not exported; add them to Stage {name} before it is managed",
            stage.stage_name,
            left.join(", ")
        ));
    }
    manifest("Stage", name, opts, spec_with_api(spec, opts))
}

#[cfg(test)]
#[path = "export_tests.rs"]
mod tests;
