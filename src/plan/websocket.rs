//! WebSocket APIs (API Gateway v2): the settings a spec asks for, and the plans that
//! bring the API, its authorizers, integrations, routes, route responses and stages
//! to them. Pure: the controller observes and applies.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::rest_api::ApiKeySource;
use crate::api::stage::{LogLevel, StageSpec};
use crate::api::websocket_api::WebSocketApiSpec;
use crate::plan::rest_api::Owner;
use crate::plan::tag_changes;

/// Integrations the operator makes carry this description plus their route key, so
/// one made just before a crash is found and reused instead of made again.
pub const INTEGRATION_DESCRIPTION_PREFIX: &str = "apigw.rs route ";
/// API Gateway's integration timeout when none is given (and its maximum).
pub const DEFAULT_TIMEOUT_MILLIS: i32 = 29_000;
/// Route response key (and route response selection expression) of two-way routes.
pub const DEFAULT_ROUTE_RESPONSE: &str = "$default";

/// The API's own settings, desired or observed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiSettings {
    pub name: String,
    /// Empty for none.
    pub description: String,
    pub route_selection_expression: String,
    pub api_key_selection_expression: String,
    pub disable_execute_api_endpoint: bool,
    pub tags: BTreeMap<String, String>,
}

/// The API as read from AWS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedApi {
    pub id: String,
    /// As AWS reports it (`wss://...`; moto says `https://...`).
    pub endpoint: String,
    pub protocol: String,
    pub settings: ApiSettings,
}

/// API Gateway's expression for where API keys come from.
pub fn api_key_selection_expression(source: ApiKeySource) -> &'static str {
    match source {
        ApiKeySource::Header => "$request.header.x-api-key",
        ApiKeySource::Authorizer => "$context.authorizer.usageIdentifierKey",
    }
}

/// Desired settings. Adopted APIs carry the owner tags too, so no second object
/// adopts an API one manages.
pub fn desired_api(spec: &WebSocketApiSpec, object_name: &str, owner: &Owner) -> ApiSettings {
    let mut tags = spec.tags.clone();
    tags.extend(owner.tags("WebSocketApi"));
    ApiSettings {
        name: spec
            .api_name
            .clone()
            .unwrap_or_else(|| object_name.to_string()),
        description: spec.description.clone().unwrap_or_default(),
        route_selection_expression: spec.route_selection_expression.clone(),
        api_key_selection_expression: api_key_selection_expression(spec.api_key_source).to_string(),
        disable_execute_api_endpoint: spec.disable_execute_api_endpoint,
        tags,
    }
}

/// The fields of one UpdateApi call: only those that differ.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub route_selection_expression: Option<String>,
    pub api_key_selection_expression: Option<String>,
    pub disable_execute_api_endpoint: Option<bool>,
}

impl ApiUpdate {
    /// Names of the fields that change, for Events and logs.
    pub fn fields(&self) -> Vec<&'static str> {
        [
            ("name", self.name.is_some()),
            ("description", self.description.is_some()),
            (
                "routeSelectionExpression",
                self.route_selection_expression.is_some(),
            ),
            (
                "apiKeySelectionExpression",
                self.api_key_selection_expression.is_some(),
            ),
            (
                "disableExecuteApiEndpoint",
                self.disable_execute_api_endpoint.is_some(),
            ),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiAction {
    /// No API yet: CreateApi with every setting and tag.
    Create,
    Update(ApiUpdate),
    /// TagResource with these tags (added or changed).
    Tag(BTreeMap<String, String>),
    /// UntagResource with these keys.
    Untag(Vec<String>),
}

/// Plan the API itself. Converged means an empty plan.
pub fn plan_api(desired: &ApiSettings, observed: Option<&ApiSettings>) -> Vec<ApiAction> {
    let Some(observed) = observed else {
        return vec![ApiAction::Create];
    };
    let differs = |d: &String, o: &String| (d != o).then(|| d.clone());
    let update = ApiUpdate {
        name: differs(&desired.name, &observed.name),
        description: differs(&desired.description, &observed.description),
        route_selection_expression: differs(
            &desired.route_selection_expression,
            &observed.route_selection_expression,
        ),
        api_key_selection_expression: differs(
            &desired.api_key_selection_expression,
            &observed.api_key_selection_expression,
        ),
        disable_execute_api_endpoint: (desired.disable_execute_api_endpoint
            != observed.disable_execute_api_endpoint)
            .then_some(desired.disable_execute_api_endpoint),
    };
    let mut actions = Vec::new();
    if update != ApiUpdate::default() {
        actions.push(ApiAction::Update(update));
    }
    let (tag, untag) = tag_changes(&desired.tags, &observed.tags);
    if !tag.is_empty() {
        actions.push(ApiAction::Tag(tag));
    }
    if !untag.is_empty() {
        actions.push(ApiAction::Untag(untag));
    }
    actions
}

/// The client URL of a stage: AWS reports `wss://ID.execute-api...` as the API
/// endpoint (moto reports `https://`), so the host is kept and the scheme set.
pub fn stage_url(api_endpoint: &str, stage: &str) -> String {
    format!("wss://{}/{stage}", endpoint_host(api_endpoint))
}

/// Where backends `POST` messages for a connection (`.../@connections/ID`).
pub fn callback_url(api_endpoint: &str, stage: &str) -> String {
    format!(
        "https://{}/{stage}/@connections",
        endpoint_host(api_endpoint)
    )
}

/// `wss://` form of the API endpoint.
pub fn wss_endpoint(api_endpoint: &str) -> String {
    format!("wss://{}", endpoint_host(api_endpoint))
}

fn endpoint_host(api_endpoint: &str) -> &str {
    let rest = api_endpoint
        .split_once("://")
        .map_or(api_endpoint, |(_, rest)| rest);
    rest.trim_end_matches('/')
}

// ---------------------------------------------------------------- authorizers

/// A REQUEST authorizer, desired or observed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthorizerSettings {
    pub name: String,
    pub uri: String,
    pub identity_sources: Vec<String>,
    pub credentials_arn: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedAuthorizer {
    pub id: String,
    pub settings: AuthorizerSettings,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizerAction {
    Create(AuthorizerSettings),
    Update {
        id: String,
        settings: AuthorizerSettings,
    },
}

/// Authorizers to create or update, and those to delete (once no route uses them:
/// the caller deletes after the routes are converged).
pub fn plan_authorizers(
    desired: &[AuthorizerSettings],
    observed: &[ObservedAuthorizer],
) -> (Vec<AuthorizerAction>, Vec<ObservedAuthorizer>) {
    let mut upserts = Vec::new();
    for d in desired {
        match observed.iter().find(|o| o.settings.name == d.name) {
            None => upserts.push(AuthorizerAction::Create(d.clone())),
            Some(o) if same_authorizer(&o.settings, d) => {}
            Some(o) => upserts.push(AuthorizerAction::Update {
                id: o.id.clone(),
                settings: d.clone(),
            }),
        }
    }
    let deletes = observed
        .iter()
        .filter(|o| !desired.iter().any(|d| d.name == o.settings.name))
        .cloned()
        .collect();
    (upserts, deletes)
}

/// Identity sources are a set to API Gateway.
fn same_authorizer(a: &AuthorizerSettings, b: &AuthorizerSettings) -> bool {
    let set = |s: &AuthorizerSettings| s.identity_sources.iter().cloned().collect::<BTreeSet<_>>();
    a.uri == b.uri && a.credentials_arn == b.credentials_arn && set(a) == set(b)
}

// ---------------------------------------------------------------------- routes

/// The routes the spec asks for: each with its integration URI (from `uri`, which
/// completes a function name into its invocation URI) and its authorizer's id.
pub fn desired_routes<E>(
    routes: &[crate::api::websocket_api::WebSocketRoute],
    uri: impl Fn(&str) -> Result<String, E>,
    authorizer_ids: &BTreeMap<String, String>,
) -> Result<Vec<DesiredRoute>, E> {
    routes
        .iter()
        .map(|r| {
            Ok(DesiredRoute {
                key: r.route_key.clone(),
                integration_uri: uri(&r.function_name)?,
                timeout_millis: r.timeout_millis.unwrap_or(DEFAULT_TIMEOUT_MILLIS),
                authorizer_id: r
                    .authorizer
                    .as_ref()
                    .and_then(|name| authorizer_ids.get(name).cloned()),
                api_key_required: r.api_key_required,
                two_way: r.two_way,
            })
        })
        .collect()
}

/// A route as the spec asks for it, with its authorizer resolved to an id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredRoute {
    pub key: String,
    pub integration_uri: String,
    pub timeout_millis: i32,
    pub authorizer_id: Option<String>,
    pub api_key_required: bool,
    pub two_way: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedRoute {
    pub id: String,
    pub key: String,
    /// `integrations/ID`.
    pub target: Option<String>,
    /// NONE, CUSTOM or AWS_IAM.
    pub authorization_type: String,
    pub authorizer_id: Option<String>,
    pub api_key_required: bool,
    pub route_response_selection_expression: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedIntegration {
    pub id: String,
    pub integration_type: String,
    pub uri: String,
    pub timeout_millis: Option<i32>,
    pub description: Option<String>,
}

/// What happens to one part of a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Exists and matches: the id.
    Keep(String),
    /// Exists and differs: the id.
    Update(String),
    Create,
}

impl Step {
    pub fn is_keep(&self) -> bool {
        matches!(self, Step::Keep(_))
    }
}

/// What happens to the `$default` route response of a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseStep {
    /// One-way route without a response: nothing to do.
    Absent,
    Keep(String),
    Create,
    Delete(String),
}

/// The plan of one desired route: its integration, the route, its route response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutePlan {
    pub route: DesiredRoute,
    pub integration: Step,
    pub route_step: Step,
    pub response: ResponseStep,
}

impl RoutePlan {
    pub fn is_converged(&self) -> bool {
        self.integration.is_keep()
            && self.route_step.is_keep()
            && matches!(self.response, ResponseStep::Absent | ResponseStep::Keep(_))
    }
}

/// A route the operator made that the spec no longer has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteRemoval {
    pub key: String,
    pub route_id: String,
    /// Its integration, unless another route still targets it.
    pub integration_id: Option<String>,
}

/// Description of the integration the operator makes for a route.
pub fn integration_description(route_key: &str) -> String {
    format!("{INTEGRATION_DESCRIPTION_PREFIX}{route_key}")
}

/// What the routes of an API need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoutesPlan {
    /// One per desired route.
    pub plans: Vec<RoutePlan>,
    /// Routes the operator manages that the spec no longer has.
    pub removals: Vec<RouteRemoval>,
    /// Integrations the operator made that nothing targets or will target (left by
    /// a pass that stopped between DeleteRoute and DeleteIntegration).
    pub orphan_integrations: Vec<String>,
}

/// Plan every route. `responses` are the route response ids known to exist, by route
/// key; `managed` are the route keys the operator took on before (from status).
/// On the operator's own API (`own_api`), a route whose integration it made counts
/// as managed too (made by a pass that could not record it). Only managed routes
/// are removed when the spec drops them, so routes someone else added to an
/// adopted API stay; and only integrations the operator made are ever updated.
pub fn plan_routes(
    desired: &[DesiredRoute],
    routes: &[ObservedRoute],
    integrations: &[ObservedIntegration],
    responses: &BTreeMap<String, String>,
    managed: &BTreeSet<String>,
    own_api: bool,
) -> RoutesPlan {
    let targeted: BTreeSet<&str> = routes
        .iter()
        .filter_map(|r| integration_id_of(r.target.as_deref()))
        .collect();
    let ours = |i: &ObservedIntegration| {
        i.description
            .as_deref()
            .is_some_and(|d| d.starts_with(INTEGRATION_DESCRIPTION_PREFIX))
    };
    let integration_of = |r: &ObservedRoute| {
        integration_id_of(r.target.as_deref())
            .and_then(|id| integrations.iter().find(|i| i.id == id))
    };
    let mut managed = managed.clone();
    if own_api {
        managed.extend(
            routes
                .iter()
                .filter(|r| integration_of(r).is_some_and(ours))
                .map(|r| r.key.clone()),
        );
    }
    let mut plans = Vec::new();
    for d in desired {
        let route = routes.iter().find(|r| r.key == d.key);
        // The route's own integration, or one the operator made for this key that no
        // route targets (made just before a crash, or left by a deleted route).
        let unused_of_ours = integrations.iter().find(|i| {
            !targeted.contains(i.id.as_str())
                && i.description.as_deref() == Some(integration_description(&d.key).as_str())
        });
        // The route's integration when it fits or is the operator's to change;
        // otherwise (someone else's, on an adopted API, which other routes may use)
        // one of the operator's own.
        let integration = match route.and_then(integration_of) {
            Some(i) if integration_matches(i, d) || ours(i) => Some(i),
            _ => unused_of_ours,
        };
        let integration_step = match integration {
            None => Step::Create,
            Some(i) if integration_matches(i, d) => Step::Keep(i.id.clone()),
            Some(i) => Step::Update(i.id.clone()),
        };
        let route_step = match route {
            None => Step::Create,
            Some(r) => {
                let target_ok = match (&integration_step, integration_id_of(r.target.as_deref())) {
                    (Step::Keep(id) | Step::Update(id), Some(current)) => id == current,
                    _ => false,
                };
                if target_ok && route_matches(r, d) {
                    Step::Keep(r.id.clone())
                } else {
                    Step::Update(r.id.clone())
                }
            }
        };
        // A route made now has no response yet, whatever the old id said.
        let existing_response = match route_step {
            Step::Create => None,
            _ => responses.get(&d.key),
        };
        let response = match (d.two_way, existing_response) {
            (true, Some(id)) => ResponseStep::Keep(id.clone()),
            (true, None) => ResponseStep::Create,
            (false, Some(id)) => ResponseStep::Delete(id.clone()),
            (false, None) => ResponseStep::Absent,
        };
        plans.push(RoutePlan {
            route: d.clone(),
            integration: integration_step,
            route_step,
            response,
        });
    }
    let desired_keys: BTreeSet<&str> = desired.iter().map(|d| d.key.as_str()).collect();
    let kept_integrations: BTreeSet<&str> = plans
        .iter()
        .filter_map(|p| match &p.integration {
            Step::Keep(id) | Step::Update(id) => Some(id.as_str()),
            Step::Create => None,
        })
        .collect();
    let removals: Vec<RouteRemoval> = routes
        .iter()
        .filter(|r| managed.contains(&r.key) && !desired_keys.contains(r.key.as_str()))
        .map(|r| {
            let integration = integration_of(r).filter(|i| ours(i)).map(|i| i.id.as_str());
            let shared = integration.is_some_and(|id| {
                kept_integrations.contains(id)
                    || routes.iter().any(|o| {
                        o.id != r.id
                            && integration_id_of(o.target.as_deref()) == Some(id)
                            && (desired_keys.contains(o.key.as_str()) || !managed.contains(&o.key))
                    })
            });
            RouteRemoval {
                key: r.key.clone(),
                route_id: r.id.clone(),
                integration_id: integration.filter(|_| !shared).map(str::to_string),
            }
        })
        .collect();
    let orphan_integrations = integrations
        .iter()
        .filter(|i| {
            ours(i)
                && !targeted.contains(i.id.as_str())
                && !kept_integrations.contains(i.id.as_str())
        })
        .map(|i| i.id.clone())
        .collect();
    RoutesPlan {
        plans,
        removals,
        orphan_integrations,
    }
}

/// `integrations/abc123` → `abc123`.
pub fn integration_id_of(target: Option<&str>) -> Option<&str> {
    target?.strip_prefix("integrations/")
}

fn integration_matches(i: &ObservedIntegration, d: &DesiredRoute) -> bool {
    i.integration_type == "AWS_PROXY"
        && i.uri == d.integration_uri
        && i.timeout_millis.unwrap_or(DEFAULT_TIMEOUT_MILLIS) == d.timeout_millis
}

fn route_matches(r: &ObservedRoute, d: &DesiredRoute) -> bool {
    let response = r
        .route_response_selection_expression
        .as_deref()
        .filter(|e| !e.is_empty());
    let wanted_response = d.two_way.then_some(DEFAULT_ROUTE_RESPONSE);
    // The authorizer id counts only with CUSTOM authorization: AWS may keep an old
    // id on a route whose authorization is NONE.
    let authorization = match d.authorizer_id {
        Some(_) => r.authorization_type == "CUSTOM" && r.authorizer_id == d.authorizer_id,
        None => r.authorization_type == "NONE" || r.authorization_type.is_empty(),
    };
    authorization && r.api_key_required == d.api_key_required && response == wanted_response
}

// ---------------------------------------------------------------------- stages

/// A WebSocket stage's settings, desired or observed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageSettings {
    pub name: String,
    /// Empty for none.
    pub description: String,
    pub variables: BTreeMap<String, String>,
    /// (rate limit, burst limit) of every route.
    pub throttle: Option<(f64, i32)>,
    /// OFF, ERROR or INFO.
    pub logging_level: String,
    pub data_trace: bool,
    pub detailed_metrics: bool,
    /// (destination ARN, format).
    pub access_log: Option<(String, String)>,
    pub auto_deploy: bool,
    /// Overrides for single route keys.
    pub route_settings: BTreeMap<String, RouteOverride>,
    pub tags: BTreeMap<String, String>,
}

/// What one route key overrides; None leaves the stage default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RouteOverride {
    pub throttle: Option<(f64, i32)>,
    pub logging_level: Option<String>,
    pub data_trace: Option<bool>,
    pub detailed_metrics: Option<bool>,
}

impl RouteOverride {
    /// Whether `observed` has every value this one sets (AWS may fill in the rest).
    fn satisfied_by(&self, observed: &RouteOverride) -> bool {
        fn same<T: PartialEq>(want: &Option<T>, have: &Option<T>) -> bool {
            want.is_none() || want == have
        }
        same(&self.throttle, &observed.throttle)
            && same(&self.logging_level, &observed.logging_level)
            && same(&self.data_trace, &observed.data_trace)
            && same(&self.detailed_metrics, &observed.detailed_metrics)
    }
}

fn log_level(level: LogLevel) -> String {
    match level {
        LogLevel::Off => "OFF",
        LogLevel::Error => "ERROR",
        LogLevel::Info => "INFO",
    }
    .to_string()
}

/// What a Stage object with `webSocketApiRef` asks for.
pub fn desired_stage(spec: &StageSpec) -> StageSettings {
    let level = spec.logging.as_ref().map_or(LogLevel::Off, |l| l.level);
    StageSettings {
        name: spec.stage_name.clone(),
        description: spec.description.clone().unwrap_or_default(),
        variables: spec.variables.clone(),
        throttle: spec
            .throttling
            .as_ref()
            .map(|t| (t.rate_limit, t.burst_limit)),
        logging_level: log_level(level),
        data_trace: spec.logging.as_ref().is_some_and(|l| l.data_trace),
        detailed_metrics: spec.metrics_enabled,
        access_log: spec
            .access_log
            .as_ref()
            .map(|a| (a.destination_arn.clone(), a.format.clone())),
        auto_deploy: true,
        route_settings: spec
            .route_key_settings
            .iter()
            .map(|r| {
                let settings = RouteOverride {
                    throttle: r.throttling.as_ref().map(|t| (t.rate_limit, t.burst_limit)),
                    logging_level: r.logging.as_ref().map(|l| log_level(l.level)),
                    data_trace: r.logging.as_ref().map(|l| l.data_trace),
                    detailed_metrics: r.metrics_enabled,
                };
                (r.route_key.clone(), settings)
            })
            .collect(),
        tags: spec.tags.clone(),
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum StageAction {
    /// CreateStage with every setting and tag.
    Create,
    /// UpdateStage with every setting (the call takes whole values, not patches).
    Update,
    /// DeleteAccessLogSettings: UpdateStage cannot remove them.
    DeleteAccessLog,
    /// DeleteRouteSettings of route keys the spec no longer overrides.
    DeleteRouteSettings(Vec<String>),
    Tag(BTreeMap<String, String>),
    Untag(Vec<String>),
}

/// Plan one stage. UpdateStage sets what it is given and cannot unset: throttling
/// and a description the spec leaves out, and variables it no longer names, are not
/// compared (they would differ on every pass); access logs are removed with their
/// own call.
pub fn plan_stage(desired: &StageSettings, observed: Option<&StageSettings>) -> Vec<StageAction> {
    let Some(observed) = observed else {
        return vec![StageAction::Create];
    };
    let comparable = StageSettings {
        throttle: desired.throttle.and(observed.throttle),
        description: if desired.description.is_empty() {
            String::new()
        } else {
            observed.description.clone()
        },
        variables: observed
            .variables
            .iter()
            .filter(|(k, _)| desired.variables.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        access_log: desired.access_log.as_ref().and(observed.access_log.clone()),
        // Compared below: AWS fills in what an override leaves out.
        route_settings: desired.route_settings.clone(),
        tags: desired.tags.clone(),
        ..observed.clone()
    };
    let overrides_differ = desired.route_settings.iter().any(|(key, want)| {
        observed
            .route_settings
            .get(key)
            .is_none_or(|have| !want.satisfied_by(have))
    });
    let mut actions = Vec::new();
    if comparable != *desired || overrides_differ {
        actions.push(StageAction::Update);
    }
    if desired.access_log.is_none() && observed.access_log.is_some() {
        actions.push(StageAction::DeleteAccessLog);
    }
    let dropped: Vec<String> = observed
        .route_settings
        .keys()
        .filter(|k| !desired.route_settings.contains_key(*k))
        .cloned()
        .collect();
    if !dropped.is_empty() {
        actions.push(StageAction::DeleteRouteSettings(dropped));
    }
    let (tag, untag) = tag_changes(&desired.tags, &observed.tags);
    if !tag.is_empty() {
        actions.push(StageAction::Tag(tag));
    }
    if !untag.is_empty() {
        actions.push(StageAction::Untag(untag));
    }
    actions
}

#[cfg(test)]
#[path = "websocket_tests.rs"]
mod tests;
