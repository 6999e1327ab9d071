//! An HTTP client around the SDK's that makes AWS's JSON answers readable by the
//! SDK when they hold `null` where the SDK's model allows none.
//!
//! AWS stores an empty mapping template (the console's "Enable CORS" makes one) and
//! returns it as `"requestTemplates": {"application/json": null}`. The Rust SDK's
//! maps and lists are dense: one such null fails the whole answer ("dense map cannot
//! contain null values") although the call succeeded, so every read of the method,
//! of its integration or of the API's whole resource tree (GetResources) failed, and
//! with it every Route and Stage of the API. Fixing it here, in front of the SDK's
//! deserializers, covers every operation at once instead of each call site.
//!
//! What replaces a null depends on the model's type of the value: a string becomes
//! `""` (an empty template *is* the empty string), a boolean `false`, a structure or
//! a map `{}`, a list `[]`; a null element of a list is dropped. Struct members are
//! left alone: the SDK reads a null member as absent. The type of a value is found
//! from a small model of the answers (`member`), built from the SDKs' own
//! deserializers (`aws-sdk-apigateway` 1.125 and `aws-sdk-apigatewayv2` 1.123,
//! `protocol_serde`): a member name has the same map type everywhere in a service,
//! except `requestParameters` and `responseParameters`, whose values depend on the
//! object holding them (a Method's are booleans, an Integration's strings), which
//! the path of the request tells for the answer's root.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_runtime_api::shared::IntoShared;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;

/// `inner`, with successful JSON answers made readable (see the module's comment).
pub fn wrap(inner: SharedHttpClient) -> SharedHttpClient {
    Tolerant { inner }.into_shared()
}

#[derive(Debug)]
struct Tolerant {
    inner: SharedHttpClient,
}

impl HttpClient for Tolerant {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        // The inner client caches its connectors; this wrapper holds no state.
        TolerantConnector {
            inner: self.inner.http_connector(settings, components),
        }
        .into_shared()
    }

    fn validate_base_client_config(
        &self,
        runtime_components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.inner
            .validate_base_client_config(runtime_components, cfg)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct TolerantConnector {
    inner: SharedHttpConnector,
}

impl HttpConnector for TolerantConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let root = root_of(request.uri());
        let sent = self.inner.call(request);
        HttpConnectorFuture::new(async move {
            let mut response = sent.await?;
            let Some(root) = root else {
                return Ok(response);
            };
            // Errors are read by the SDK's error parsers, which take nulls; a
            // compressed body is not ours to read (the SDK asks for none).
            let encoded = response
                .headers()
                .get("content-encoding")
                .is_some_and(|e| !e.eq_ignore_ascii_case("identity"));
            if !response.status().is_success() || encoded {
                return Ok(response);
            }
            let body = ByteStream::new(response.take_body())
                .collect()
                .await
                .map_err(|e| ConnectorError::io(e.into()))?
                .into_bytes();
            match tolerated(&body, root) {
                Some(fixed) => {
                    response
                        .headers_mut()
                        .insert("content-length", fixed.len().to_string());
                    *response.body_mut() = SdkBody::from(fixed);
                }
                None => *response.body_mut() = SdkBody::from(body),
            }
            Ok(response)
        })
    }
}

/// The answer with its nulls replaced, or None when it needs no change (no null,
/// or not a JSON object: STS's XML, an export's document is left alone by
/// `root_of`).
fn tolerated(body: &[u8], root: Shape) -> Option<Vec<u8>> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' || !contains(body, b"null") {
        return None;
    }
    let mut value: Value = serde_json::from_slice(body).ok()?;
    if !fill(&mut value, root) {
        return None;
    }
    serde_json::to_vec(&value).ok()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Which API an answer comes from: member names mean different things in each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    /// API Gateway (REST APIs, usage plans, keys, domain names).
    V1,
    /// API Gateway v2 (WebSocket and HTTP APIs).
    V2,
    /// Lambda, Cognito, ACM: only their string maps are modelled.
    Other,
}

/// The object kinds whose parameter maps differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Object {
    Any,
    Method,
    MethodResponse,
    Integration,
    IntegrationResponse,
    Route,
    RouteResponse,
}

/// The model's type of a JSON value, as far as nulls matter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Object(Api, Object),
    Map(&'static Shape),
    List(&'static Shape),
    Str,
    Bool,
    /// Not modelled: an object is walked as an object of no particular kind of the
    /// API (its members may be), and a list still loses its null elements (every
    /// list of these SDKs is dense).
    Unknown(Api),
}

const STR: Shape = Shape::Str;
const BOOL: Shape = Shape::Bool;
const STR_MAP: Shape = Shape::Map(&STR);
const LIST_OF_UNKNOWN: Shape = Shape::List(&Shape::Unknown(Api::V1));
const LIST_OF_LISTS: Shape = Shape::List(&LIST_OF_UNKNOWN);
const V1_ANY_MAP: Shape = Shape::Map(object(Api::V1, Object::Any));

const fn object(api: Api, kind: Object) -> &'static Shape {
    match (api, kind) {
        (Api::V1, Object::Method) => &Shape::Object(Api::V1, Object::Method),
        (Api::V1, Object::MethodResponse) => &Shape::Object(Api::V1, Object::MethodResponse),
        (Api::V1, Object::Integration) => &Shape::Object(Api::V1, Object::Integration),
        (Api::V1, Object::IntegrationResponse) => {
            &Shape::Object(Api::V1, Object::IntegrationResponse)
        }
        (Api::V1, _) => &Shape::Object(Api::V1, Object::Any),
        (Api::V2, Object::Route) => &Shape::Object(Api::V2, Object::Route),
        (Api::V2, Object::RouteResponse) => &Shape::Object(Api::V2, Object::RouteResponse),
        (Api::V2, Object::Integration) => &Shape::Object(Api::V2, Object::Integration),
        (Api::V2, Object::IntegrationResponse) => {
            &Shape::Object(Api::V2, Object::IntegrationResponse)
        }
        (Api::V2, _) => &Shape::Object(Api::V2, Object::Any),
        (Api::Other, _) => &Shape::Object(Api::Other, Object::Any),
    }
}

/// The shape of member `name` of an object of `kind`.
fn member(api: Api, kind: Object, name: &str) -> Shape {
    match (api, name) {
        (
            Api::V1,
            "tags"
            | "variables"
            | "stageVariableOverrides"
            | "requestTemplates"
            | "responseTemplates"
            | "requestModels"
            | "responseModels",
        ) => STR_MAP,
        (Api::V1, "requestParameters") if kind == Object::Method => Shape::Map(&BOOL),
        (Api::V1, "responseParameters") if kind == Object::MethodResponse => Shape::Map(&BOOL),
        // Integration, IntegrationResponse, GatewayResponse.
        (Api::V1, "requestParameters" | "responseParameters") => STR_MAP,
        (Api::V1, "resourceMethods") => Shape::Map(object(Api::V1, Object::Method)),
        (Api::V1, "methodResponses") => Shape::Map(object(Api::V1, Object::MethodResponse)),
        (Api::V1, "methodIntegration") => *object(Api::V1, Object::Integration),
        (Api::V1, "integrationResponses") => {
            Shape::Map(object(Api::V1, Object::IntegrationResponse))
        }
        // Stage method settings, a usage plan stage's throttles.
        (Api::V1, "methodSettings" | "throttle") => Shape::Map(object(Api::V1, Object::Any)),
        // A deployment's path -> method -> MethodSnapshot.
        (Api::V1, "apiSummary") => Shape::Map(&V1_ANY_MAP),
        // GetUsage: key id -> daily [used, remaining] pairs.
        (Api::V1, "values") => Shape::Map(&LIST_OF_LISTS),
        // A listing's elements are of the kind the request path named.
        (Api::V1, "item") => Shape::List(object(Api::V1, kind)),
        (
            Api::V2,
            "tags" | "stageVariables" | "requestTemplates" | "responseTemplates" | "requestModels"
            | "responseModels",
        ) => STR_MAP,
        // ParameterConstraints.
        (Api::V2, "requestParameters") if kind == Object::Route => {
            Shape::Map(object(Api::V2, Object::Any))
        }
        (Api::V2, "responseParameters") if kind == Object::RouteResponse => {
            Shape::Map(object(Api::V2, Object::Any))
        }
        // An HTTP API integration's status code -> parameter mappings.
        (Api::V2, "responseParameters") if kind == Object::Integration => Shape::Map(&STR_MAP),
        (Api::V2, "requestParameters" | "responseParameters") => STR_MAP,
        (Api::V2, "routeSettings") => Shape::Map(object(Api::V2, Object::Any)),
        (Api::V2, "items") => Shape::List(object(Api::V2, kind)),
        // Lambda's environment variables and tags, Cognito's pool tags.
        (Api::Other, "Variables" | "Tags" | "UserPoolTags") => STR_MAP,
        _ => Shape::Unknown(api),
    }
}

/// The value that stands for a null of `shape`, when there is one.
fn empty(shape: Shape) -> Option<Value> {
    match shape {
        Shape::Str => Some(Value::String(String::new())),
        Shape::Bool => Some(Value::Bool(false)),
        Shape::Object(..) | Shape::Map(_) => Some(Value::Object(Default::default())),
        Shape::List(_) => Some(Value::Array(Vec::new())),
        Shape::Unknown(_) => None,
    }
}

/// Replace the nulls the SDK cannot read in `value` of `shape`; whether any was.
fn fill(value: &mut Value, shape: Shape) -> bool {
    let mut changed = false;
    match (value, shape) {
        (Value::Object(members), Shape::Object(api, kind)) => {
            for (name, v) in members.iter_mut() {
                // A null member is an absent one to the SDK.
                if !v.is_null() {
                    changed |= fill(v, member(api, kind, name));
                }
            }
        }
        (Value::Object(members), Shape::Unknown(api)) => {
            for (name, v) in members.iter_mut() {
                if !v.is_null() {
                    changed |= fill(v, member(api, Object::Any, name));
                }
            }
        }
        (Value::Object(entries), Shape::Map(of)) => {
            for v in entries.values_mut() {
                if v.is_null() {
                    if let Some(e) = empty(*of) {
                        *v = e;
                        changed = true;
                    }
                } else {
                    changed |= fill(v, *of);
                }
            }
        }
        (Value::Array(items), Shape::List(_) | Shape::Unknown(_)) => {
            let before = items.len();
            items.retain(|v| !v.is_null());
            changed |= items.len() != before;
            let of = match shape {
                Shape::List(of) => *of,
                other => other,
            };
            for v in items.iter_mut() {
                changed |= fill(v, of);
            }
        }
        _ => {}
    }
    changed
}

/// The shape of the answer to a request for `uri`, or None for an answer that is
/// a document rather than a model (an export).
fn root_of(uri: &str) -> Option<Shape> {
    let path = match uri.find("://") {
        Some(at) => uri[at + 3..].find('/').map_or("/", |p| &uri[at + 3 + p..]),
        None => uri,
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.contains(&"exports") {
        return None;
    }
    let v1_roots = [
        "restapis",
        "usageplans",
        "apikeys",
        "domainnames",
        "tags",
        "account",
        "vpclinks",
        "clientcertificates",
    ];
    match segments.first() {
        Some(&"v2") => Some(*object(Api::V2, v2_object(&segments))),
        Some(first) if v1_roots.contains(first) => Some(*object(Api::V1, v1_object(&segments))),
        _ => Some(*object(Api::Other, Object::Any)),
    }
}

/// `/restapis/{api}/resources/{id}/methods/{verb}[/responses/{code} |
/// /integration[/responses/{code}]]`.
fn v1_object(segments: &[&str]) -> Object {
    let Some(at) = segments
        .iter()
        .position(|s| *s == "methods")
        .filter(|at| *at >= 2 && segments[at - 2] == "resources")
    else {
        return Object::Any;
    };
    match &segments[at + 1..] {
        [_verb] => Object::Method,
        [_verb, "responses", ..] => Object::MethodResponse,
        [_verb, "integration"] => Object::Integration,
        [_verb, "integration", "responses", ..] => Object::IntegrationResponse,
        _ => Object::Any,
    }
}

/// `/v2/apis/{api}/routes[/{id}[/routeresponses[/{id}]]]`,
/// `/v2/apis/{api}/integrations[/{id}[/integrationresponses[/{id}]]]`: the last
/// collection named decides, for one item and for a listing alike.
fn v2_object(segments: &[&str]) -> Object {
    segments
        .iter()
        .rev()
        .find_map(|s| match *s {
            "routes" => Some(Object::Route),
            "routeresponses" => Some(Object::RouteResponse),
            "integrations" => Some(Object::Integration),
            "integrationresponses" => Some(Object::IntegrationResponse),
            _ => None,
        })
        .unwrap_or(Object::Any)
}

#[cfg(test)]
#[path = "tolerant_tests.rs"]
mod tests;
