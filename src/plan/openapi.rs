//! OpenAPI documents as a RestApi's structure: what the operator sends with
//! PutRestApi (overwrite) and what it reads out of the document for the rest of
//! the pass (the Lambda functions to grant, the methods routeSettings may name).
//!
//! The RestApi spec owns the API's settings, the document its structure: the
//! document's title, description and top-level settings extensions are replaced
//! with the spec's before the import, so the import and the settings pass never
//! undo each other.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::authorizer::ObservedAuthorizer;
use super::lambda::{FunctionRef, function_arn_from_uri};
use super::models::{ObservedGatewayResponse, ObservedModel, ObservedValidator};
use super::rest_api::RestApiSettings;
use super::routes::{MethodKey, MethodSettings, ObservedResource};

/// API Gateway's limit on an imported definition.
pub const MAX_DOCUMENT_BYTES: usize = 6 * 1024 * 1024;

/// The operations of an OpenAPI path item, and the verb API Gateway stores for each.
const OPERATIONS: &[(&str, &str)] = &[
    ("get", "GET"),
    ("put", "PUT"),
    ("post", "POST"),
    ("delete", "DELETE"),
    ("options", "OPTIONS"),
    ("head", "HEAD"),
    ("patch", "PATCH"),
    ("x-amazon-apigateway-any-method", "ANY"),
];

/// Why a document cannot be applied. Each is the user's to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("the OpenAPI document is neither JSON nor YAML: {0}")]
    Unreadable(String),
    #[error(
        "the OpenAPI document must be an object with `openapi: 3.x` (or `swagger: \"2.0\"`) and `paths`"
    )]
    NotOpenApi,
    #[error(
        "the OpenAPI document is {bytes} bytes; API Gateway imports at most {MAX_DOCUMENT_BYTES}"
    )]
    TooLarge { bytes: usize },
    #[error("the OpenAPI document's path {0:?} does not start with /")]
    BadPath(String),
}

/// Where the API lives, for `${AWS::...}` substitutions.
#[derive(Clone, Copy, Debug)]
pub struct Home<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
}

/// A document ready to send, and what the pass needs to know of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedDocument {
    /// Canonical JSON (sorted keys), the body of PutRestApi.
    pub body: String,
    /// Fingerprint of `body`: an unchanged document is not sent again.
    pub fingerprint: String,
    /// Every method the document declares.
    pub methods: BTreeSet<MethodKey>,
    /// Functions the integrations invoke without a credentials role (full ARNs,
    /// qualifier included when there is one): they need a resource-based grant.
    pub route_functions: BTreeSet<String>,
    /// Every authorizer the document declares (its security scheme names).
    pub authorizers: BTreeSet<String>,
    /// Lambda authorizers without a credentials role: (security scheme name, function ARN).
    pub authorizer_functions: BTreeMap<String, String>,
    /// Request validators the document declares (x-amazon-apigateway-request-validators).
    pub validators: BTreeSet<String>,
    /// Models the document declares (components.schemas, or definitions in Swagger 2.0).
    pub models: BTreeSet<String>,
    /// Gateway responses the document declares (x-amazon-apigateway-gateway-responses).
    pub gateway_responses: BTreeSet<String>,
    /// Settings of the document that the spec's replaced, one line each.
    pub replaced: Vec<String>,
}

/// Turn the document the user wrote into the one to send.
pub fn render(
    text: &str,
    settings: &RestApiSettings,
    home: Home<'_>,
) -> Result<RenderedDocument, DocumentError> {
    let text = text
        .replace("${AWS::Region}", home.region)
        .replace("${AWS::AccountId}", home.account)
        .replace("${AWS::Partition}", home.partition);
    let mut doc: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(_) => {
            serde_saphyr::from_str(&text).map_err(|e| DocumentError::Unreadable(e.to_string()))?
        }
    };
    // YAML reads an unquoted `openapi: 3.0` or `swagger: 2.0` as a number.
    let version = |key: &str| match doc.get(key) {
        Some(Value::String(v)) => Some(v.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let is_openapi = version("openapi").is_some_and(|v| v == "3" || v.starts_with("3."))
        || version("swagger").is_some_and(|v| v == "2" || v == "2.0");
    if !is_openapi || !doc.get("paths").is_some_and(Value::is_object) {
        return Err(DocumentError::NotOpenApi);
    }
    let replaced = apply_settings(&mut doc, settings);
    let methods = methods(&doc)?;
    let route_functions = route_functions(&doc);
    let authorizers = authorizer_schemes(&doc)
        .map(|(name, _)| name.clone())
        .collect();
    let authorizer_functions = authorizer_functions(&doc);
    let keys = |pointer: &str| -> BTreeSet<String> {
        doc.pointer(pointer)
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let validators = keys("/x-amazon-apigateway-request-validators");
    let mut models = keys("/components/schemas");
    models.extend(keys("/definitions"));
    let gateway_responses = keys("/x-amazon-apigateway-gateway-responses");
    let body = doc.to_string();
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge { bytes: body.len() });
    }
    Ok(RenderedDocument {
        fingerprint: super::stage::fingerprint(&body),
        body,
        methods,
        route_functions,
        authorizers,
        authorizer_functions,
        validators,
        models,
        gateway_responses,
        replaced,
    })
}

/// The whole structure of a Route-built API as one document, for one PutRestApi
/// in place of a long incremental plan. None when a method uses what the rendering
/// does not carry (authorizers, validators, models, unknown parameter places):
/// those APIs are converged incrementally. The import must reproduce `methods`
/// exactly, since the pass plans again from what AWS then holds.
pub fn render_structure(
    methods: &BTreeMap<MethodKey, MethodSettings>,
    settings: &RestApiSettings,
) -> Option<String> {
    let mut paths = serde_json::Map::new();
    let mut api_keys = false;
    for ((path, verb), m) in methods {
        let key = OPERATIONS
            .iter()
            .find(|(_, v)| v == verb)
            .map(|(key, _)| *key)?;
        api_keys |= m.api_key_required;
        let operation = render_method(m)?;
        paths
            .entry(path.clone())
            .or_insert_with(|| json!({}))
            .as_object_mut()?
            .insert(key.to_string(), operation);
    }
    let mut doc = json!({"openapi": "3.0.1", "info": {"version": "1"}, "paths": paths});
    if api_keys {
        doc["components"] = json!({"securitySchemes": {"api_key": {
            "type": "apiKey", "name": "x-api-key", "in": "header"
        }}});
    }
    apply_settings(&mut doc, settings);
    Some(doc.to_string())
}

fn render_method(m: &MethodSettings) -> Option<Value> {
    if m.authorizer_id.is_some()
        || !m.authorization_scopes.is_empty()
        || m.request_validator_id.is_some()
        || !m.request_models.is_empty()
        || m.responses.values().any(|r| !r.models.is_empty())
    {
        return None;
    }
    let mut op = serde_json::Map::new();
    match m.authorization_type.as_str() {
        "" | "NONE" => {}
        "AWS_IAM" => {
            op.insert(
                "x-amazon-apigateway-auth".into(),
                json!({"type": "AWS_IAM"}),
            );
        }
        _ => return None,
    }
    if let Some(name) = &m.operation_name {
        op.insert("operationId".into(), json!(name));
    }
    if m.api_key_required {
        op.insert("security".into(), json!([{"api_key": []}]));
    }
    let mut parameters = Vec::new();
    for (name, required) in &m.request_parameters {
        let (place, name) = match name.strip_prefix("method.request.")?.split_once('.')? {
            ("path", n) => ("path", n),
            ("querystring", n) => ("query", n),
            ("header", n) => ("header", n),
            _ => return None,
        };
        // A path parameter is always required in OpenAPI; API Gateway agrees.
        if place == "path" && !required {
            return None;
        }
        parameters.push(
            json!({"name": name, "in": place, "required": required, "schema": {"type": "string"}}),
        );
    }
    if !parameters.is_empty() {
        op.insert("parameters".into(), json!(parameters));
    }
    let mut responses = serde_json::Map::new();
    for (status, r) in &m.responses {
        let mut response = json!({"description": status});
        let mut headers = serde_json::Map::new();
        for name in r.parameters.keys() {
            let header = name.strip_prefix("method.response.header.")?;
            headers.insert(header.to_string(), json!({"schema": {"type": "string"}}));
        }
        if !headers.is_empty() {
            response["headers"] = Value::Object(headers);
        }
        responses.insert(status.clone(), response);
    }
    op.insert("responses".into(), Value::Object(responses));
    if let Some(i) = &m.integration {
        let mut integration = json!({
            "type": i.type_.to_lowercase(),
            "passthroughBehavior": i.passthrough_behavior.to_lowercase(),
        });
        let mut put = |key: &str, value: Value| {
            integration[key] = value;
        };
        if let Some(v) = &i.http_method {
            put("httpMethod", json!(v));
        }
        if let Some(v) = &i.uri {
            put("uri", json!(v));
        }
        if let Some(v) = &i.connection_type {
            put("connectionType", json!(v));
        }
        if let Some(v) = &i.connection_id {
            put("connectionId", json!(v));
        }
        if let Some(v) = &i.credentials {
            put("credentials", json!(v));
        }
        if let Some(v) = &i.content_handling {
            put("contentHandling", json!(v));
        }
        if i.timeout_millis > 0 {
            put("timeoutInMillis", json!(i.timeout_millis));
        }
        if !i.request_parameters.is_empty() {
            put("requestParameters", json!(i.request_parameters));
        }
        if !i.request_templates.is_empty() {
            put("requestTemplates", json!(i.request_templates));
        }
        if !i.cache_key_parameters.is_empty() {
            put("cacheKeyParameters", json!(i.cache_key_parameters));
        }
        let mut responses = serde_json::Map::new();
        for (status, r) in &i.responses {
            let pattern = r
                .selection_pattern
                .clone()
                .unwrap_or_else(|| "default".into());
            let mut response = json!({"statusCode": status});
            if !r.parameters.is_empty() {
                response["responseParameters"] = json!(r.parameters);
            }
            if !r.templates.is_empty() {
                response["responseTemplates"] = json!(r.templates);
            }
            if let Some(c) = &r.content_handling {
                response["contentHandling"] = json!(c);
            }
            // Two responses of one selection pattern cannot be written as a document.
            if responses.insert(pattern, response).is_some() {
                return None;
            }
        }
        if !responses.is_empty() {
            put("responses", Value::Object(responses));
        }
        op.insert("x-amazon-apigateway-integration".into(), integration);
    }
    Some(Value::Object(op))
}

/// What AWS holds of a document-built API, as far as the document decides it.
/// A list the pass did not read (the document declares none of its kind) is empty.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeldStructure<'a> {
    pub resources: &'a [ObservedResource],
    pub authorizers: &'a [ObservedAuthorizer],
    pub validators: &'a [ObservedValidator],
    pub models: &'a [ObservedModel],
    pub gateway_responses: &'a [ObservedGatewayResponse],
}

/// A fingerprint of what AWS holds, without ids (an import makes new ones): the
/// pass records it after each import, and a later one that differs is drift to
/// put back. Comparing with what the last import left rather than with the
/// document spares modelling how API Gateway rewrites each part of a document.
/// Kinds that are empty add nothing, so the fingerprint of an API that has none
/// is the one earlier versions recorded and an upgrade re-imports nothing.
pub fn held_fingerprint(held: &HeldStructure<'_>) -> String {
    let methods: BTreeMap<&str, _> = held
        .resources
        .iter()
        .map(|r| (r.path.as_str(), &r.methods))
        .collect();
    let mut authorizers: Vec<String> = held
        .authorizers
        .iter()
        .map(|a| format!("{:?}", a.settings))
        .collect();
    authorizers.sort();
    let mut canonical = json!({"methods": methods, "authorizers": authorizers});
    let mut validators: Vec<Value> = held
        .validators
        .iter()
        .map(|v| json!([v.name, v.body, v.parameters]))
        .collect();
    validators.sort_by_key(Value::to_string);
    if !validators.is_empty() {
        canonical["validators"] = json!(validators);
    }
    let models: BTreeMap<&str, Value> = held
        .models
        .iter()
        .map(|m| {
            let schema = serde_json::from_str(&m.schema).unwrap_or_else(|_| json!(m.schema));
            (m.name.as_str(), schema)
        })
        .collect();
    if !models.is_empty() {
        canonical["models"] = json!(models);
    }
    // API Gateway's defaults are the same for every API; only responses put on this
    // one (by the document or by hand) tell it apart.
    let responses: BTreeMap<&str, Value> = held
        .gateway_responses
        .iter()
        .filter(|r| !r.default)
        .map(|r| {
            let response = json!([r.status_code, r.parameters, r.templates]);
            (r.response_type.as_str(), response)
        })
        .collect();
    if !responses.is_empty() {
        canonical["gatewayResponses"] = json!(responses);
    }
    super::stage::fingerprint(&canonical.to_string())
}

/// Write the spec's settings over the document's; returns what differed.
fn apply_settings(doc: &mut Value, s: &RestApiSettings) -> Vec<String> {
    let mut replaced = Vec::new();
    let Some(root) = doc.as_object_mut() else {
        return replaced;
    };
    let info = root.entry("info").or_insert_with(|| json!({}));
    if let Some(info) = info.as_object_mut() {
        set(
            info,
            "title",
            Some(json!(s.name)),
            "info.title",
            "the API name (spec.apiName or the object's name)",
            &mut replaced,
        );
        let description = (!s.description.is_empty()).then(|| json!(s.description));
        set(
            info,
            "description",
            description,
            "info.description",
            "spec.description",
            &mut replaced,
        );
        // OpenAPI requires a version; a document without one is still importable.
        info.entry("version").or_insert_with(|| json!("1"));
    }
    let media: Option<Value> =
        (!s.binary_media_types.is_empty()).then(|| json!(s.binary_media_types));
    set(
        root,
        "x-amazon-apigateway-binary-media-types",
        media,
        "x-amazon-apigateway-binary-media-types",
        "spec.binaryMediaTypes",
        &mut replaced,
    );
    set(
        root,
        "x-amazon-apigateway-api-key-source",
        Some(json!(s.api_key_source)),
        "x-amazon-apigateway-api-key-source",
        "spec.apiKeySource",
        &mut replaced,
    );
    let compression = s.minimum_compression_size.map(|n| json!(n));
    set(
        root,
        "x-amazon-apigateway-minimum-compression-size",
        compression,
        "x-amazon-apigateway-minimum-compression-size",
        "spec.minimumCompressionSize",
        &mut replaced,
    );
    let policy = s
        .policy
        .as_deref()
        .and_then(|p| serde_json::from_str::<Value>(p).ok());
    set(
        root,
        "x-amazon-apigateway-policy",
        policy,
        "x-amazon-apigateway-policy",
        "spec.policy",
        &mut replaced,
    );
    let mut endpoint = json!({"disableExecuteApiEndpoint": s.disable_execute_api_endpoint});
    if !s.vpc_endpoint_ids.is_empty() {
        endpoint["vpcEndpointIds"] = json!(s.vpc_endpoint_ids);
    }
    set(
        root,
        "x-amazon-apigateway-endpoint-configuration",
        Some(endpoint),
        "x-amazon-apigateway-endpoint-configuration",
        "spec.endpoint and spec.disableExecuteApiEndpoint",
        &mut replaced,
    );
    replaced
}

/// Set (or remove, for None) one key, noting when the document said otherwise.
fn set(
    object: &mut serde_json::Map<String, Value>,
    key: &str,
    value: Option<Value>,
    shown: &str,
    by: &str,
    replaced: &mut Vec<String>,
) {
    let before = match value {
        // Equal but for the order of a list: the document's stays, and no note.
        Some(v)
            if object
                .get(key)
                .is_some_and(|old| as_sets(old) == as_sets(&v)) =>
        {
            None
        }
        Some(v) => object.insert(key.to_string(), v),
        None => object.remove(key),
    };
    // A title always differs unless the user matched it: only other settings are worth a note.
    if before.is_some() && key != "title" {
        replaced.push(format!("{shown} of the document is replaced by {by}"));
    }
}

/// A setting with every list sorted: the lists of these settings (media types,
/// VPC endpoint ids, endpoint types, a policy's statements and actions) are sets
/// to API Gateway, so their order is no difference.
fn as_sets(value: &Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(as_sets).collect();
            items.sort_by_key(Value::to_string);
            items.dedup();
            Value::Array(items)
        }
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), as_sets(v))).collect()),
        other => other.clone(),
    }
}

fn path_items(doc: &Value) -> impl Iterator<Item = (&String, &serde_json::Map<String, Value>)> {
    doc.get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(path, item)| Some((path, item.as_object()?)))
}

fn operations(
    item: &serde_json::Map<String, Value>,
) -> impl Iterator<Item = (&'static str, &Value)> {
    OPERATIONS
        .iter()
        .filter_map(|(key, verb)| Some((*verb, item.get(*key)?)))
}

fn methods(doc: &Value) -> Result<BTreeSet<MethodKey>, DocumentError> {
    let mut out = BTreeSet::new();
    for (path, item) in path_items(doc) {
        if !path.starts_with('/') {
            return Err(DocumentError::BadPath(path.clone()));
        }
        // API Gateway keeps no trailing slash but the root's.
        let path = match path.trim_end_matches('/') {
            "" => "/".to_string(),
            p => p.to_string(),
        };
        for (verb, _) in operations(item) {
            out.insert((path.clone(), verb.to_string()));
        }
    }
    Ok(out)
}

/// The function of a Lambda integration or authorizer URI, unless API Gateway
/// invokes it through a role (`credentials`), which then needs no grant.
fn granted_function(uri: Option<&Value>, credentials: Option<&Value>) -> Option<String> {
    if credentials
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty())
    {
        return None;
    }
    let arn = function_arn_from_uri(uri?.as_str()?)?;
    // Only well-formed references: one the grant could not name is left out.
    FunctionRef::parse(&arn).ok().map(|_| arn)
}

fn route_functions(doc: &Value) -> BTreeSet<String> {
    path_items(doc)
        .flat_map(|(_, item)| operations(item))
        .filter_map(|(_, op)| op.get("x-amazon-apigateway-integration"))
        .filter(|i| {
            i.get("type").and_then(Value::as_str).is_some_and(|t| {
                t.eq_ignore_ascii_case("aws") || t.eq_ignore_ascii_case("aws_proxy")
            })
        })
        .filter_map(|i| granted_function(i.get("uri"), i.get("credentials")))
        .collect()
}

/// The security schemes that are API Gateway authorizers, with their extension.
fn authorizer_schemes(doc: &Value) -> impl Iterator<Item = (&String, &Value)> {
    doc.pointer("/components/securitySchemes")
        .or_else(|| doc.get("securityDefinitions"))
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(name, scheme)| Some((name, scheme.get("x-amazon-apigateway-authorizer")?)))
}

fn authorizer_functions(doc: &Value) -> BTreeMap<String, String> {
    authorizer_schemes(doc)
        .filter_map(|(name, a)| {
            let function =
                granted_function(a.get("authorizerUri"), a.get("authorizerCredentials"))?;
            Some((name.clone(), function))
        })
        .collect()
}

#[cfg(test)]
#[path = "openapi_tests.rs"]
mod tests;
