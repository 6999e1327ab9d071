//! Planning for `Stage`: the stage's settings (one UpdateStage), when to deploy the
//! API to it, and which old deployments to delete.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::{PatchOp, escape_path_segment};
use crate::api::route::HttpMethod;
use crate::api::stage::{
    CacheClusterSize, DeploymentMode, DeploymentPolicy, LogLevel, RouteSettings, StageSpec,
};

/// Key of the stage-wide method settings, as AWS reports it in `methodSettings`.
pub const STAGE_WIDE_KEY: &str = "*/*";

/// Tolerance for comparing the floats AWS round-trips (rate limits, canary percentage).
const FLOAT_TOLERANCE: f64 = 1e-6;

/// AWS's default cache TTL when caching is configured without one.
const DEFAULT_CACHE_TTL_SECONDS: i32 = 300;

/// AWS's default cache cluster size, reported for an enabled cluster created without one.
const DEFAULT_CACHE_CLUSTER_SIZE: &str = "0.5";

/// AWS's default account-level throttling, which it reports in a method-settings entry
/// whose throttling nobody set.
const ACCOUNT_DEFAULT_RATE_LIMIT: f64 = 10000.0;
const ACCOUNT_DEFAULT_BURST_LIMIT: i32 = 5000;

/// The value that clears throttling of a method-settings entry (the account limits apply).
const THROTTLING_UNSET: &str = "-1";

/// How long to wait before looking again when routes are not all in effect and no
/// debounce is pending; route reconciles also wake the stage, so this is only a fallback.
pub const ROUTES_RECHECK: Duration = Duration::from_secs(5);

/// One entry of a stage's `methodSettings`, as read from AWS.
///
/// Plain values rather than options: AWS reports every field of an entry once the entry
/// exists, and the SDK reports a field it did not receive as 0 / false, so an option
/// here could not tell "absent" from "zero" anyway.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedMethodSetting {
    pub throttling_rate_limit: f64,
    pub throttling_burst_limit: i32,
    pub caching_enabled: bool,
    pub cache_ttl_seconds: i32,
    pub cache_data_encrypted: bool,
    pub require_authorization_for_cache_control: bool,
    /// `OFF`, `ERROR` or `INFO`; None when not reported (moto leaves it out until set).
    pub logging_level: Option<String>,
    pub data_trace_enabled: bool,
    pub metrics_enabled: bool,
}

/// A stage's canary, as read from AWS.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedCanary {
    /// The deployment the canary serves; it is in use and must not be garbage-collected.
    pub deployment_id: Option<String>,
    pub percent_traffic: f64,
    pub stage_variable_overrides: BTreeMap<String, String>,
    pub use_stage_cache: bool,
}

/// A stage as read from AWS.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedStage {
    pub stage_name: String,
    pub deployment_id: Option<String>,
    /// Empty means no description.
    pub description: String,
    pub variables: BTreeMap<String, String>,
    pub cache_cluster_enabled: bool,
    pub cache_cluster_size: Option<String>,
    pub tracing_enabled: bool,
    /// Keyed as AWS reports it: `*/*` for the stage, `~1photos~1{photoId}/PUT` for a route.
    pub method_settings: BTreeMap<String, ObservedMethodSetting>,
    /// (destination ARN, format).
    pub access_log: Option<(String, String)>,
    pub canary: Option<ObservedCanary>,
    /// Tags, without AWS's own `aws:` tags.
    pub tags: BTreeMap<String, String>,
}

/// What CreateStage takes; method settings, access logs and the canary follow in one
/// UpdateStage planned by [`stage_patch_operations`] against the created stage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StageCreate {
    pub stage_name: String,
    pub description: Option<String>,
    pub variables: BTreeMap<String, String>,
    pub cache_cluster_enabled: bool,
    pub cache_cluster_size: Option<String>,
    pub tracing_enabled: bool,
    pub tags: BTreeMap<String, String>,
}

/// The CreateStage request for a spec.
pub fn desired_create_stage(spec: &StageSpec) -> StageCreate {
    let (cache_cluster_enabled, cache_cluster_size) = desired_cache_cluster(spec);
    StageCreate {
        stage_name: spec.stage_name.clone(),
        description: spec.description.clone().filter(|d| !d.is_empty()),
        variables: spec.variables.clone(),
        cache_cluster_enabled,
        cache_cluster_size,
        tracing_enabled: spec.tracing_enabled,
        tags: spec.tags.clone(),
    }
}

/// Tag changes for a stage: (tags to set, keys to remove).
pub fn stage_tag_changes(
    spec: &StageSpec,
    observed: &ObservedStage,
) -> (BTreeMap<String, String>, Vec<String>) {
    super::tag_changes(&spec.tags, &observed.tags)
}

/// The UpdateStage patch operations that make the stage's settings match the spec.
/// The deployment the stage serves is not touched here (see [`deployment_decision`]).
///
/// The spec is authoritative, so a method setting it leaves out is held at AWS's
/// default. Throttling is the exception: AWS has no single "default" value for it (it
/// reports -1, or the account limits, for an entry nobody throttled), so without
/// throttling in the spec any of those is left alone and only a real limit is cleared.
/// A method-settings entry that does not exist yet is written whole, because the
/// values the backend fills into a new entry are not AWS's defaults everywhere (moto).
pub fn stage_patch_operations(spec: &StageSpec, observed: &ObservedStage) -> Vec<PatchOp> {
    let mut ops = Vec::new();

    let description = spec.description.clone().unwrap_or_default();
    if description != observed.description {
        ops.push(PatchOp::replace("/description", description));
    }

    for (name, value) in &spec.variables {
        if observed.variables.get(name) != Some(value) {
            // `replace` creates a missing variable too; moto answers `add` with a 500.
            ops.push(PatchOp::replace(
                format!("/variables/{}", escape_path_segment(name)),
                value,
            ));
        }
    }
    for name in observed.variables.keys() {
        if !spec.variables.contains_key(name) {
            ops.push(PatchOp::remove(
                format!("/variables/{}", escape_path_segment(name)),
                None,
            ));
        }
    }

    let (cluster_enabled, cluster_size) = desired_cache_cluster(spec);
    if cluster_enabled != observed.cache_cluster_enabled {
        ops.push(PatchOp::replace(
            "/cacheClusterEnabled",
            cluster_enabled.to_string(),
        ));
    }
    // The size only matters for an enabled cluster; AWS may keep reporting the old
    // size of a disabled one, which is harmless.
    if let Some(size) = cluster_size
        && observed.cache_cluster_size.as_deref() != Some(size.as_str())
    {
        ops.push(PatchOp::replace("/cacheClusterSize", size));
    }

    if spec.tracing_enabled != observed.tracing_enabled {
        ops.push(PatchOp::replace(
            "/tracingEnabled",
            spec.tracing_enabled.to_string(),
        ));
    }

    ops.extend(method_settings_operations(spec, observed));
    ops.extend(access_log_operations(spec, observed));
    ops.extend(canary_operations(spec, observed));
    ops
}

fn desired_cache_cluster(spec: &StageSpec) -> (bool, Option<String>) {
    match &spec.caching {
        Some(c) if c.cluster_enabled => (
            true,
            Some(
                c.cluster_size
                    .map(cache_cluster_size_str)
                    .unwrap_or(DEFAULT_CACHE_CLUSTER_SIZE)
                    .to_string(),
            ),
        ),
        _ => (false, None),
    }
}

fn cache_cluster_size_str(size: CacheClusterSize) -> &'static str {
    match size {
        CacheClusterSize::Gb0_5 => "0.5",
        CacheClusterSize::Gb1_6 => "1.6",
        CacheClusterSize::Gb6_1 => "6.1",
        CacheClusterSize::Gb13_5 => "13.5",
        CacheClusterSize::Gb28_4 => "28.4",
        CacheClusterSize::Gb58_2 => "58.2",
        CacheClusterSize::Gb118 => "118",
        CacheClusterSize::Gb237 => "237",
    }
}

fn log_level_str(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Off => "OFF",
        LogLevel::Error => "ERROR",
        LogLevel::Info => "INFO",
    }
}

pub fn method_str(method: HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Head => "HEAD",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Any => "*",
    }
}

/// The `routeSettings` entries that name a method no Route of the API declares,
/// as "GET /path". `methods` are (path, verb) as AWS writes them; an ANY setting
/// matches any method of its path, and an ANY method takes any verb's setting.
pub fn unmatched_route_settings(
    spec: &StageSpec,
    methods: &BTreeSet<super::routes::MethodKey>,
) -> Vec<String> {
    spec.route_settings
        .iter()
        .filter(|r| {
            let verb = super::routes::verb(r.method);
            let found = methods
                .iter()
                .any(|(path, v)| path == &r.path && (verb == "ANY" || v == verb || v == "ANY"));
            !found
        })
        .map(|r| format!("{} {}", super::routes::verb(r.method), r.path))
        .collect()
}

/// The `methodSettings` key of a route: `/photos/{photoId}` + PUT -> `~1photos~1{photoId}/PUT`.
pub fn route_settings_key(method: HttpMethod, path: &str) -> String {
    format!("{}/{}", escape_path_segment(path), method_str(method))
}

/// The method settings the operator wants for one entry.
#[derive(Clone, Debug, PartialEq)]
struct MethodTarget {
    /// None: the spec sets no throttling, so the account limits apply.
    throttling: Option<(f64, i32)>,
    caching_enabled: bool,
    cache_ttl_seconds: i32,
    cache_data_encrypted: bool,
    require_authorization_for_cache_control: bool,
    logging_level: &'static str,
    data_trace_enabled: bool,
    metrics_enabled: bool,
}

/// What an absent stage-wide entry means: AWS's defaults for every field.
const AWS_DEFAULT_METHOD_SETTINGS: MethodTarget = MethodTarget {
    throttling: None,
    caching_enabled: false,
    cache_ttl_seconds: DEFAULT_CACHE_TTL_SECONDS,
    cache_data_encrypted: false,
    require_authorization_for_cache_control: true,
    logging_level: "OFF",
    data_trace_enabled: false,
    metrics_enabled: false,
};

fn stage_wide_target(spec: &StageSpec) -> MethodTarget {
    let mut target = AWS_DEFAULT_METHOD_SETTINGS;
    target.throttling = spec
        .throttling
        .as_ref()
        .map(|t| (t.rate_limit, t.burst_limit));
    if let Some(c) = &spec.caching {
        target.caching_enabled = c.enabled;
        target.cache_ttl_seconds = c.ttl_seconds.unwrap_or(DEFAULT_CACHE_TTL_SECONDS);
        target.cache_data_encrypted = c.data_encrypted;
    }
    if let Some(l) = &spec.logging {
        target.logging_level = log_level_str(l.level);
        target.data_trace_enabled = l.data_trace;
    }
    target.metrics_enabled = spec.metrics_enabled;
    target
}

/// A route's entry overrides the whole method in AWS, so what the route does not say
/// is copied from the stage: that is what "inherit" means for an existing entry.
fn route_target(stage: &MethodTarget, route: &RouteSettings) -> MethodTarget {
    let mut target = stage.clone();
    if let Some(t) = &route.throttling {
        target.throttling = Some((t.rate_limit, t.burst_limit));
    }
    if let Some(c) = &route.caching {
        target.caching_enabled = c.enabled;
        target.cache_ttl_seconds = c.ttl_seconds.unwrap_or(stage.cache_ttl_seconds);
        target.cache_data_encrypted = c.data_encrypted;
        target.require_authorization_for_cache_control = c.require_authorization_for_invalidation;
    }
    if let Some(l) = &route.logging {
        target.logging_level = log_level_str(l.level);
        target.data_trace_enabled = l.data_trace;
    }
    if let Some(m) = route.metrics_enabled {
        target.metrics_enabled = m;
    }
    target
}

/// Whether an observed rate limit means "nobody set throttling": AWS's -1, the account
/// default AWS fills into a new entry, or 0, which is what the SDK reports for a value
/// AWS left out. Resetting these would cost a write on every resync for no effect.
fn rate_is_unset(rate: f64) -> bool {
    rate < 0.0 || rate.abs() < FLOAT_TOLERANCE || floats_equal(rate, ACCOUNT_DEFAULT_RATE_LIMIT)
}

fn burst_is_unset(burst: i32) -> bool {
    burst <= 0 || burst == ACCOUNT_DEFAULT_BURST_LIMIT
}

fn floats_equal(a: f64, b: f64) -> bool {
    (a - b).abs() < FLOAT_TOLERANCE
}

fn format_float(value: f64) -> String {
    // `100.0` prints as `100`, which AWS and moto both parse.
    value.to_string()
}

/// Every field of an entry. Used when the entry does not exist yet, so that the entry
/// AWS (or moto, whose defaults differ) creates holds only values the operator chose.
fn all_fields_ops(prefix: &str, target: &MethodTarget) -> Vec<PatchOp> {
    let (rate, burst) = match target.throttling {
        Some((rate, burst)) => (format_float(rate), burst.to_string()),
        None => (THROTTLING_UNSET.to_string(), THROTTLING_UNSET.to_string()),
    };
    vec![
        PatchOp::replace(format!("{prefix}/throttling/rateLimit"), rate),
        PatchOp::replace(format!("{prefix}/throttling/burstLimit"), burst),
        PatchOp::replace(
            format!("{prefix}/caching/enabled"),
            target.caching_enabled.to_string(),
        ),
        PatchOp::replace(
            format!("{prefix}/caching/ttlInSeconds"),
            target.cache_ttl_seconds.to_string(),
        ),
        PatchOp::replace(
            format!("{prefix}/caching/dataEncrypted"),
            target.cache_data_encrypted.to_string(),
        ),
        PatchOp::replace(
            format!("{prefix}/caching/requireAuthorizationForCacheControl"),
            target.require_authorization_for_cache_control.to_string(),
        ),
        PatchOp::replace(format!("{prefix}/logging/loglevel"), target.logging_level),
        PatchOp::replace(
            format!("{prefix}/logging/dataTrace"),
            target.data_trace_enabled.to_string(),
        ),
        PatchOp::replace(
            format!("{prefix}/metrics/enabled"),
            target.metrics_enabled.to_string(),
        ),
    ]
}

/// The fields of an existing entry that differ from the target.
fn changed_fields_ops(
    prefix: &str,
    target: &MethodTarget,
    observed: &ObservedMethodSetting,
) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    match target.throttling {
        Some((rate, burst)) => {
            if !floats_equal(observed.throttling_rate_limit, rate) {
                ops.push(PatchOp::replace(
                    format!("{prefix}/throttling/rateLimit"),
                    format_float(rate),
                ));
            }
            if observed.throttling_burst_limit != burst {
                ops.push(PatchOp::replace(
                    format!("{prefix}/throttling/burstLimit"),
                    burst.to_string(),
                ));
            }
        }
        None => {
            if !rate_is_unset(observed.throttling_rate_limit) {
                ops.push(PatchOp::replace(
                    format!("{prefix}/throttling/rateLimit"),
                    THROTTLING_UNSET,
                ));
            }
            if !burst_is_unset(observed.throttling_burst_limit) {
                ops.push(PatchOp::replace(
                    format!("{prefix}/throttling/burstLimit"),
                    THROTTLING_UNSET,
                ));
            }
        }
    }
    let mut flag = |name: &str, want: bool, have: bool| {
        if want != have {
            ops.push(PatchOp::replace(
                format!("{prefix}/{name}"),
                want.to_string(),
            ));
        }
    };
    flag(
        "caching/enabled",
        target.caching_enabled,
        observed.caching_enabled,
    );
    flag(
        "caching/dataEncrypted",
        target.cache_data_encrypted,
        observed.cache_data_encrypted,
    );
    flag(
        "caching/requireAuthorizationForCacheControl",
        target.require_authorization_for_cache_control,
        observed.require_authorization_for_cache_control,
    );
    flag(
        "logging/dataTrace",
        target.data_trace_enabled,
        observed.data_trace_enabled,
    );
    flag(
        "metrics/enabled",
        target.metrics_enabled,
        observed.metrics_enabled,
    );
    if target.cache_ttl_seconds != observed.cache_ttl_seconds {
        ops.push(PatchOp::replace(
            format!("{prefix}/caching/ttlInSeconds"),
            target.cache_ttl_seconds.to_string(),
        ));
    }
    // An entry without a level logs nothing, like OFF.
    if observed.logging_level.as_deref().unwrap_or("OFF") != target.logging_level {
        ops.push(PatchOp::replace(
            format!("{prefix}/logging/loglevel"),
            target.logging_level,
        ));
    }
    ops
}

/// `baseline` is what the method gets while its entry is absent: AWS's defaults for the
/// stage-wide entry, the stage-wide settings for a route. No entry is created while the
/// target equals it.
fn entry_ops(
    prefix: &str,
    target: &MethodTarget,
    observed: Option<&ObservedMethodSetting>,
    baseline: &MethodTarget,
) -> Vec<PatchOp> {
    match observed {
        Some(observed) => changed_fields_ops(prefix, target, observed),
        None if target == baseline => Vec::new(),
        None => all_fields_ops(prefix, target),
    }
}

fn method_settings_operations(spec: &StageSpec, observed: &ObservedStage) -> Vec<PatchOp> {
    let stage = stage_wide_target(spec);
    let mut ops = entry_ops(
        &format!("/{STAGE_WIDE_KEY}"),
        &stage,
        observed.method_settings.get(STAGE_WIDE_KEY),
        &AWS_DEFAULT_METHOD_SETTINGS,
    );
    let mut wanted_keys = BTreeSet::new();
    for route in &spec.route_settings {
        let key = route_settings_key(route.method, &route.path);
        let target = route_target(&stage, route);
        ops.extend(entry_ops(
            &format!("/{key}"),
            &target,
            observed.method_settings.get(&key),
            &stage,
        ));
        wanted_keys.insert(key);
    }
    // Entries for routes the spec no longer lists go, so those methods inherit the
    // stage again. (moto ignores this removal; see the facade's notes.)
    for key in observed.method_settings.keys() {
        if key != STAGE_WIDE_KEY && !wanted_keys.contains(key) {
            ops.push(PatchOp::remove(format!("/{key}"), None));
        }
    }
    ops
}

fn access_log_operations(spec: &StageSpec, observed: &ObservedStage) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    match (&spec.access_log, &observed.access_log) {
        (Some(want), have) => {
            let (have_arn, have_format) = match have {
                Some((arn, format)) => (Some(arn.as_str()), Some(format.as_str())),
                None => (None, None),
            };
            if have_arn != Some(want.destination_arn.as_str()) {
                ops.push(PatchOp::replace(
                    "/accessLogSettings/destinationArn",
                    &want.destination_arn,
                ));
            }
            if have_format != Some(want.format.as_str()) {
                ops.push(PatchOp::replace("/accessLogSettings/format", &want.format));
            }
        }
        (None, Some(_)) => ops.push(PatchOp::remove("/accessLogSettings", None)),
        (None, None) => {}
    }
    ops
}

/// Whether new deployments go to the stage's canary rather than the stage itself.
pub fn canary_active(spec: &StageSpec) -> bool {
    spec.canary.as_ref().is_some_and(|c| !c.promote)
}

fn canary_operations(spec: &StageSpec, observed: &ObservedStage) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    // A promoted canary is gone from the stage, like no canary at all.
    let Some(want) = spec.canary.as_ref().filter(|c| !c.promote) else {
        if observed.canary.is_some() {
            ops.push(PatchOp::remove("/canarySettings", None));
        }
        return ops;
    };
    let have = observed.canary.as_ref();
    if have.is_none_or(|h| !floats_equal(h.percent_traffic, want.percent_traffic)) {
        ops.push(PatchOp::replace(
            "/canarySettings/percentTraffic",
            format_float(want.percent_traffic),
        ));
    }
    let no_overrides = BTreeMap::new();
    let have_overrides = have.map_or(&no_overrides, |h| &h.stage_variable_overrides);
    for (name, value) in &want.variable_overrides {
        if have_overrides.get(name) != Some(value) {
            ops.push(PatchOp::replace(
                format!(
                    "/canarySettings/stageVariableOverrides/{}",
                    escape_path_segment(name)
                ),
                value,
            ));
        }
    }
    for name in have_overrides.keys() {
        if !want.variable_overrides.contains_key(name) {
            ops.push(PatchOp::remove(
                format!(
                    "/canarySettings/stageVariableOverrides/{}",
                    escape_path_segment(name)
                ),
                None,
            ));
        }
    }
    if have.is_none_or(|h| h.use_stage_cache != want.use_stage_cache) {
        ops.push(PatchOp::replace(
            "/canarySettings/useStageCache",
            want.use_stage_cache.to_string(),
        ));
    }
    ops
}

/// Stable 64-bit FNV-1a digest of the API's canonical configuration, as 16 hex digits.
/// Written out because std's hashers may change between Rust releases, and a changed
/// fingerprint would redeploy every stage after an operator upgrade.
pub fn fingerprint(canonical: &str) -> String {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = canonical.bytes().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    });
    format!("{hash:016x}")
}

/// A deployment of the API, as read from AWS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedDeployment {
    pub id: String,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    pub description: String,
}

const DEPLOYMENT_DESCRIPTION_PREFIX: &str = "apigw-operator fingerprint ";

/// The description the operator gives a deployment. Deployments cannot be tagged, so
/// the fingerprint in the description is how a deployment made just before a crash
/// (or by another stage) is found again instead of being made twice.
pub fn deployment_description(fingerprint: &str) -> String {
    format!("{DEPLOYMENT_DESCRIPTION_PREFIX}{fingerprint}")
}

/// The newest deployment made for `fingerprint`, if any.
pub fn deployment_for_fingerprint<'a>(
    deployments: &'a [ObservedDeployment],
    fingerprint: &str,
) -> Option<&'a str> {
    let description = deployment_description(fingerprint);
    deployments
        .iter()
        .filter(|d| d.description == description)
        .max_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)))
        .map(|d| d.id.as_str())
}

/// Everything [`deployment_decision`] needs; the caller gathers it.
#[derive(Clone, Debug)]
pub struct DeploymentInput<'a> {
    /// `spec.deployment`.
    pub policy: &'a DeploymentPolicy,
    /// Fingerprint of the API's configuration as it is now.
    pub fingerprint: &'a str,
    /// When the API's configuration first had this fingerprint (the debounce starts here).
    pub fingerprint_since: Timestamp,
    pub now: Timestamp,
    /// Every route of the API is in effect in AWS (nothing half-applied).
    pub routes_in_effect: bool,
    /// `status.deployedFingerprint`.
    pub deployed_fingerprint: Option<&'a str>,
    /// `status.deploymentId`: the deployment the operator last put the stage on.
    pub deployed_deployment_id: Option<&'a str>,
    /// With Manual: the revision last deployed (kept by the caller).
    pub deployed_revision: Option<i64>,
    /// The deployment the stage serves in AWS; None when the stage does not exist.
    pub stage_deployment_id: Option<&'a str>,
    /// A deployment already made for `fingerprint` (by this stage or another), found
    /// with [`deployment_for_fingerprint`].
    pub existing_deployment: Option<&'a str>,
}

/// Why a deployment waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// The configuration changed less than `debounceSeconds` ago.
    Debounce,
    /// Some route is not yet in effect; deploying now would snapshot a half-built API.
    RoutesNotInEffect,
}

/// What to do about the deployment a stage serves. When the stage does not exist yet,
/// `Deploy` and `PointStageAt` mean "create the stage on that deployment".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeploymentDecision {
    /// The stage serves what it should and status says so.
    Nothing,
    /// Look again after `remaining`.
    Wait {
        remaining: Duration,
        reason: WaitReason,
    },
    /// Create one deployment for the current fingerprint and put the stage on it.
    Deploy,
    /// Put the stage on this existing deployment.
    PointStageAt(String),
    /// The stage already serves this deployment of the current configuration, but
    /// status does not say so (a crash after UpdateStage, or another stage made it):
    /// record it in status, no AWS call.
    Record(String),
}

/// Decide whether and how to deploy. Pure: the caller supplies the clock.
pub fn deployment_decision(input: &DeploymentInput) -> DeploymentDecision {
    match input.policy.policy {
        DeploymentMode::Pinned => pinned(input),
        DeploymentMode::Automatic => automatic(input),
        DeploymentMode::Manual => manual(input),
    }
}

fn pinned(input: &DeploymentInput) -> DeploymentDecision {
    // The schema requires deploymentId with Pinned; without it there is nothing to serve.
    let Some(target) = input.policy.deployment_id.as_deref() else {
        return DeploymentDecision::Nothing;
    };
    if input.stage_deployment_id == Some(target) {
        DeploymentDecision::Nothing
    } else {
        DeploymentDecision::PointStageAt(target.to_string())
    }
}

/// The deployment known to hold the current configuration: status's, when status was
/// made for this fingerprint, else one found by its description.
fn deployment_of_current<'a>(input: &DeploymentInput<'a>) -> Option<&'a str> {
    let from_status = input
        .deployed_deployment_id
        .filter(|_| input.deployed_fingerprint == Some(input.fingerprint));
    from_status.or(input.existing_deployment)
}

fn status_records(input: &DeploymentInput, id: &str) -> bool {
    input.deployed_fingerprint == Some(input.fingerprint)
        && input.deployed_deployment_id == Some(id)
}

fn automatic(input: &DeploymentInput) -> DeploymentDecision {
    let current = deployment_of_current(input);
    if let Some(id) = current {
        if input.stage_deployment_id == Some(id) {
            return if status_records(input, id) {
                DeploymentDecision::Nothing
            } else {
                DeploymentDecision::Record(id.to_string())
            };
        }
        // The stage was moved off (or deleted) behind our back: this configuration was
        // already debounced and deployed, so put it back at once.
        if status_records(input, id) {
            return DeploymentDecision::PointStageAt(id.to_string());
        }
    }
    if let Some(wait) = debounce_wait(input).or_else(|| routes_wait(input)) {
        return wait;
    }
    match current {
        Some(id) => DeploymentDecision::PointStageAt(id.to_string()),
        None => DeploymentDecision::Deploy,
    }
}

fn manual(input: &DeploymentInput) -> DeploymentDecision {
    let revision_bumped =
        input.policy.revision.is_some() && input.policy.revision != input.deployed_revision;
    let never_deployed =
        input.stage_deployment_id.is_none() && input.deployed_deployment_id.is_none();
    if !(revision_bumped || never_deployed) {
        // Keep serving what the last revision deployed, even if the API changed since.
        return match input.deployed_deployment_id {
            Some(id) if input.stage_deployment_id != Some(id) => {
                DeploymentDecision::PointStageAt(id.to_string())
            }
            _ => DeploymentDecision::Nothing,
        };
    }
    // The first deployment waits for the configuration to settle, as an Automatic
    // one does: a stage applied together with its API's routes would otherwise
    // snapshot the routes created first. A later revision bump deploys at once.
    if never_deployed && let Some(wait) = debounce_wait(input) {
        return wait;
    }
    if let Some(wait) = routes_wait(input) {
        return wait;
    }
    // A deployment of the identical configuration is as good as a new one and spares
    // a CreateDeployment, the most tightly limited call.
    match input.existing_deployment {
        Some(id) if input.stage_deployment_id == Some(id) => {
            DeploymentDecision::Record(id.to_string())
        }
        Some(id) => DeploymentDecision::PointStageAt(id.to_string()),
        None => DeploymentDecision::Deploy,
    }
}

fn debounce_wait(input: &DeploymentInput) -> Option<DeploymentDecision> {
    let debounce = SignedDuration::from_secs(i64::from(input.policy.debounce_seconds.max(0)));
    let elapsed = input.now.duration_since(input.fingerprint_since);
    // A clock that went backwards counts as "just changed", never as more than the window.
    let remaining = (debounce - elapsed.max(SignedDuration::ZERO)).min(debounce);
    if remaining.is_positive() {
        Some(DeploymentDecision::Wait {
            remaining: Duration::try_from(remaining).unwrap_or_default(),
            reason: WaitReason::Debounce,
        })
    } else {
        None
    }
}

fn routes_wait(input: &DeploymentInput) -> Option<DeploymentDecision> {
    (!input.routes_in_effect).then_some(DeploymentDecision::Wait {
        remaining: ROUTES_RECHECK,
        reason: WaitReason::RoutesNotInEffect,
    })
}

/// Deployments to delete: all but the newest `keep`, never one a stage or canary uses.
pub fn deployments_to_delete(
    deployments: &[ObservedDeployment],
    in_use: &BTreeSet<String>,
    keep: usize,
) -> Vec<String> {
    let mut newest_first: Vec<&ObservedDeployment> = deployments.iter().collect();
    // Ties on the (second-granular) creation time are broken by id so the choice is stable.
    newest_first.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.id.cmp(&a.id)));
    newest_first
        .into_iter()
        .skip(keep)
        .filter(|d| !in_use.contains(&d.id))
        .map(|d| d.id.clone())
        .rev()
        .collect()
}

#[cfg(test)]
mod route_settings_tests {
    use super::*;

    /// A setting for a method no route declares is named; ANY matches both ways.
    #[test]
    fn route_settings_without_a_route_are_named() {
        let spec: StageSpec = serde_yaml::from_str(
            "{restApiRef: {name: a}, stageName: prod, routeSettings: [{method: GET, path: /items}, {method: POST, path: /items}, {method: ANY, path: /any}, {method: PUT, path: /wild}, {method: GET, path: /gone}]}",
        )
        .unwrap();
        let methods: BTreeSet<(String, String)> = [
            ("/items".to_string(), "GET".to_string()),
            ("/any".to_string(), "DELETE".to_string()),
            ("/wild".to_string(), "ANY".to_string()),
        ]
        .into();
        assert_eq!(
            unmatched_route_settings(&spec, &methods),
            vec!["POST /items".to_string(), "GET /gone".to_string()]
        );
    }
}

#[cfg(test)]
#[path = "stage_tests.rs"]
mod tests;
