//! `RestApi` reconciler: observe the API in AWS, plan, apply, write status.
//! It may touch: the REST API's own settings and tags (not its resources, which
//! belong to the route convergence), the object's status, Events.

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use serde_json::json;
use tracing::field;

use std::collections::BTreeMap;

use super::owned::OwnsAwsResource;
use super::ownership::Target;
use super::{Context, Error, stages, structure};
use crate::api::common::DeletionPolicy;
use crate::api::{RestApi, RestApiStatus};
use crate::plan::rest_api::{
    OWNER_UID_TAG, ObservedRestApi, RestApiAction, desired_settings, plan,
};

/// Entry point for the controller runtime.
pub async fn reconcile(obj: Arc<RestApi>, ctx: Arc<Context>) -> Result<Action, Error> {
    super::owned::reconcile(obj, ctx).await
}

impl OwnsAwsResource for RestApi {
    const KIND: &'static str = "RestApi";
    const NOUN: &'static str = "REST API";
    const ID_FIELD: &'static str = "rest_api_id";
    type Observed = ObservedRestApi;
    type Hint = ();

    fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "reconcile",
            kind = "RestApi",
            namespace = %self.namespace().unwrap_or_default(),
            object_name = %self.name_any(),
            rest_api_id = field::Empty
        )
    }
    async fn apply(obj: Arc<Self>, ctx: &Context) -> Result<Action, Error> {
        apply(obj, ctx).await
    }
    fn adoption(&self) -> Option<Target<'_>> {
        self.spec.rest_api_id.as_deref().map(Target::RestApi)
    }
    fn adopts_orphans(&self) -> bool {
        self.spec.adopt_orphaned
    }
    fn deletion_policy(&self) -> Option<DeletionPolicy> {
        self.spec.deletion_policy
    }
    fn recorded_id(&self) -> Option<String> {
        self.status.as_ref()?.rest_api_id.clone()
    }
    fn id_of(observed: &ObservedRestApi) -> &str {
        &observed.id
    }
    fn tags_of(observed: &ObservedRestApi) -> &BTreeMap<String, String> {
        &observed.settings.tags
    }
    async fn read(ctx: &Context, id: &str) -> Result<Option<ObservedRestApi>, Error> {
        Ok(ctx.aws.get_rest_api(id).await?)
    }
    async fn find_by_owner(
        &self,
        ctx: &Context,
        owner_uid: &str,
        _: &(),
    ) -> Result<Option<ObservedRestApi>, Error> {
        Ok(ctx
            .aws
            .find_rest_api_by_tag(OWNER_UID_TAG, owner_uid)
            .await?)
    }
    /// A pass for a child's change, soon after this spec was found converged: the
    /// API's own settings are not read again until the resync. A resync takes them
    /// from the account's listing (one GetRestApis for every API of the account,
    /// made at most a fifth of a resync period ago) instead of a GetRestApi each;
    /// an API the listing lacks is read by id.
    async fn recall(&self, ctx: &Context, id: &str) -> Result<Option<ObservedRestApi>, Error> {
        let max_age = super::memo::max_age(ctx.settings.resync);
        if let Some(known) = ctx
            .shared
            .rest_apis
            .fresh(&self.uid().unwrap_or_default(), max_age)
            && known.generation == self.metadata.generation
            && known.scope == scope_of(&ctx.aws)
            && known.observed.id == id
        {
            return Ok(Some(known.observed));
        }
        // A listing is an account's: with the account not known yet, read by id.
        if ctx.aws.known_account().is_none() {
            return Ok(None);
        }
        let listing = account_listing(ctx).await?;
        Ok(listing.get(id).cloned())
    }
    /// Its functions keep statements naming the dead API: taken back, since
    /// nothing else would ever remove them.
    async fn deleted_outside(&self, ctx: &Context, id: &str) -> Result<(), Error> {
        revoke_permissions(self, ctx, id).await
    }
    fn forget_resource(status: &mut RestApiStatus) {
        *status = RestApiStatus {
            conditions: std::mem::take(&mut status.conditions),
            ..Default::default()
        };
    }
    async fn delete(&self, ctx: &Context, id: &str) -> Result<(), Error> {
        Ok(ctx.aws.delete_rest_api(id).await?)
    }
    async fn released(
        &self,
        ctx: &Context,
        retained: bool,
        deleted: Option<&str>,
    ) -> Result<(), Error> {
        let recorded = self.status.as_ref().and_then(|s| s.rest_api_id.as_deref());
        if !retained && let Some(id) = deleted.or(recorded) {
            revoke_permissions(self, ctx, id).await?;
        }
        structure::release_children(ctx, self).await?;
        if !retained {
            ctx.forget(&self.uid().unwrap_or_default());
            if let Some(id) = recorded {
                ctx.shared.models.forget(id);
                ctx.shared.deployments.forget(id);
            }
        }
        Ok(())
    }
}

/// What a converge pass did, for Events.
#[derive(Default)]
struct Outcome {
    notes: Vec<(&'static str, String)>,
}

async fn apply(obj: Arc<RestApi>, ctx: &Context) -> Result<Action, Error> {
    let mut status = obj.status.clone().unwrap_or_default();
    let mut outcome = Outcome::default();
    let result = converge(&obj, ctx, &mut status, &mut outcome).await;
    let ready = if status.adopted {
        ("Adopted", "the adopted REST API matches the spec")
    } else {
        ("Available", "the REST API matches the spec")
    };
    super::outcome::finish(obj.as_ref(), ctx, status, outcome.notes, result, ready).await
}

/// Observe, plan, apply. Fills `status` with what is known as soon as it is known.
async fn converge(
    obj: &RestApi,
    ctx: &Context,
    status: &mut RestApiStatus,
    outcome: &mut Outcome,
) -> Result<Option<std::time::Duration>, Error> {
    let aws = &ctx.aws;
    let owner = super::owned::owner_of(obj);
    let adopting = obj.spec.rest_api_id.clone();
    // An adopted API keeps the tags it has (API Gateway can tag a REST API after
    // creation, moto cannot): its adopter is found through the cluster instead.
    let desired = desired_settings(&obj.spec, &owner.name, adopting.is_none().then_some(&owner))?;

    let recorded = status.rest_api_id.clone();
    let observed = super::owned::observe(obj, ctx, status, recorded, &()).await?;
    let actions = plan(&desired, observed.as_ref());
    let shown_id = observed
        .as_ref()
        .map_or(desired.name.as_str(), |o| o.id.as_str());
    for action in &actions {
        aws.note_planned(action.describe(shown_id));
    }
    if aws.is_observe_only() && observed.is_none() {
        // Nothing to read further: the plan is "create it".
        return Ok(None);
    }
    let mut current: ObservedRestApi = observed.unwrap_or_default();
    // ObserveOnly: the settings changes are noted above; the structure is still
    // read and planned below, so the preview covers the routes too.
    let actions = if aws.is_observe_only() {
        Vec::new()
    } else {
        actions
    };
    if actions.is_empty() && !aws.is_observe_only() && !current.id.is_empty() {
        let known = KnownRestApi {
            generation: obj.metadata.generation,
            scope: scope_of(aws),
            observed: current.clone(),
        };
        ctx.shared.rest_apis.remember(owner.uid.clone(), known);
    } else {
        ctx.shared.rest_apis.forget(&owner.uid);
        // The listing has this API as it was before these writes.
        ctx.shared.rest_api_listings.forget(&scope_of(aws));
    }
    // A new API's plan is Create alone: its tags and settings go with it.
    let creating = matches!(actions.as_slice(), [RestApiAction::Create]);
    for action in actions {
        match action {
            RestApiAction::Create => {
                current = aws.create_rest_api(&desired).await?;
                tracing::Span::current().record("rest_api_id", current.id.as_str());
                tracing::info!("created REST API");
                outcome.notes.push((
                    "Created",
                    format!("created REST API {} ({})", current.id, desired.name),
                ));
            }
            RestApiAction::Update(ops) => {
                aws.update_rest_api(&current.id, &ops).await?;
                let paths: Vec<&str> = ops.iter().map(|o| o.path.as_str()).collect();
                tracing::info!(?paths, "updated REST API");
                outcome.notes.push((
                    "Updated",
                    format!("updated REST API {}: {}", current.id, paths.join(", ")),
                ));
            }
            RestApiAction::Tag(tags) => {
                aws.tag_rest_api(&current.id, &tags).await?;
                let keys: Vec<&str> = tags.keys().map(String::as_str).collect();
                outcome.notes.push((
                    "Tagged",
                    format!("set tags {} on REST API {}", keys.join(", "), current.id),
                ));
            }
            RestApiAction::Untag(keys) => {
                aws.untag_rest_api(&current.id, &keys).await?;
                outcome.notes.push((
                    "Untagged",
                    format!(
                        "removed tags {} from REST API {}",
                        keys.join(", "),
                        current.id
                    ),
                ));
            }
        }
        fill_status(ctx, status, &current, adopting.is_some()).await?;
    }
    fill_status(ctx, status, &current, adopting.is_some()).await?;
    if creating {
        // Its settings are what CreateRestApi answered: the next pass (a Route's
        // edit) need not list the account to learn them again.
        remember_settings(ctx, obj, current.clone());
        let made = format!(
            "REST API {}; applying its routes, authorizers and stages",
            current.id
        );
        super::outcome::record_created(obj, ctx, status, &made).await;
    }
    let mut report = match &obj.spec.openapi {
        Some(source) => {
            super::document::converge(obj, ctx, &current.id, source, &desired, status).await?
        }
        None => {
            // Built from objects (again): what a document import recorded is past.
            status.document = None;
            status
                .conditions
                .retain(|c| c.type_ != super::document::IMPORT_WARNINGS);
            structure::converge(obj, status, ctx, &current.id).await?
        }
    };
    status.lambda_permissions = report.granted.clone();
    tracing::debug!(
        routes_in_effect = report.routes_in_effect,
        all = report.all_in_effect,
        "structure reported"
    );

    // What a deployment snapshots: the structure plus the API settings that need a
    // redeploy to take effect.
    let deployable = json!({
        "structure": report.canonical,
        "binaryMediaTypes": desired.binary_media_types,
        "minimumCompressionSize": desired.minimum_compression_size,
        "apiKeySource": desired.api_key_source,
        "policy": desired.policy,
    });
    let fingerprint = crate::plan::stage::fingerprint(&deployable.to_string());
    if status.config_fingerprint.as_deref() != Some(fingerprint.as_str()) {
        status.config_changed_at =
            Some(ctx.changed_at(&obj.uid().unwrap_or_default(), &fingerprint));
        status.config_fingerprint = Some(fingerprint.clone());
    }
    let since = status
        .config_changed_at
        .as_deref()
        .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
        .unwrap_or_else(k8s_openapi::jiff::Timestamp::now);
    let inputs = stages::StageInputs {
        api_id: &current.id,
        fingerprint: &fingerprint,
        fingerprint_since: since,
        all_in_effect: report.all_in_effect,
        routes_in_effect: report.routes_in_effect,
        methods: &report.methods,
        blocking: &report.blocking,
    };
    let wait = stages::converge(ctx, &report.stages, &inputs).await?;
    match report.failure.take() {
        Some(e) => Err(e),
        None => Ok(wait),
    }
}

/// A RestApi's settings as a pass found them converged: for the generation of its
/// spec, in the account and region of its tenant scope then.
#[derive(Clone, Debug)]
pub struct KnownRestApi {
    generation: Option<i64>,
    scope: (String, Option<String>),
    observed: ObservedRestApi,
}

/// What this process knew of an API's settings, listing and models before a
/// PutRestApi overwrote it: the settings are what the import answered, the rest
/// is read again.
pub fn after_import(ctx: &Context, obj: &RestApi, api_id: &str, answered: ObservedRestApi) {
    remember_settings(ctx, obj, answered);
    ctx.shared.rest_api_listings.forget(&scope_of(&ctx.aws));
    ctx.shared.models.forget(api_id);
}

/// Remember `answered`, what a write of the whole API (CreateRestApi, PutRestApi)
/// answered, as the API's settings when they are what the spec wants; otherwise
/// forget what was known, so the next pass reads them.
fn remember_settings(ctx: &Context, obj: &RestApi, answered: ObservedRestApi) {
    let owner = super::owned::owner_of(obj);
    let uid = owner.uid.clone();
    let adopting = obj.spec.rest_api_id.is_some();
    let converged = desired_settings(&obj.spec, &owner.name, (!adopting).then_some(&owner))
        .is_ok_and(|desired| plan(&desired, Some(&answered)).is_empty());
    if converged && !ctx.aws.is_observe_only() {
        let known = KnownRestApi {
            generation: obj.metadata.generation,
            scope: scope_of(&ctx.aws),
            observed: answered,
        };
        ctx.shared.rest_apis.remember(uid, known);
    } else {
        ctx.shared.rest_apis.forget(&uid);
    }
}

/// Every REST API of the client's account and region, listed at most a fifth of a
/// resync period ago; one pass lists, the others wait for it.
async fn account_listing(ctx: &Context) -> Result<ApiListing, Error> {
    let scope = scope_of(&ctx.aws);
    let max_age = ctx.settings.resync / 5;
    let _listing = ctx.shared.rest_api_listing_lock.lock().await;
    if let Some(listing) = ctx.shared.rest_api_listings.fresh(&scope, max_age) {
        return Ok(listing);
    }
    let listing: ApiListing = Arc::new(
        ctx.aws
            .list_rest_apis()
            .await?
            .into_iter()
            .map(|api| (api.id.clone(), api))
            .collect(),
    );
    ctx.shared
        .rest_api_listings
        .remember(scope, listing.clone());
    Ok(listing)
}

/// The REST APIs of an account and region by id.
pub type ApiListing = Arc<std::collections::HashMap<String, ObservedRestApi>>;

/// The region and account a client works in: a memory of another scope's API
/// (the namespace's binding changed) does not stand in for a read.
pub fn scope_of(aws: &crate::aws::Aws) -> (String, Option<String>) {
    (aws.region.clone(), aws.known_account().map(str::to_string))
}

async fn fill_status(
    ctx: &Context,
    status: &mut RestApiStatus,
    api: &ObservedRestApi,
    adopted: bool,
) -> Result<(), Error> {
    if api.id.is_empty() {
        return Ok(());
    }
    status.rest_api_id = Some(api.id.clone());
    if api.root_resource_id.is_some() {
        status.root_resource_id = api.root_resource_id.clone();
    }
    status.url = Some(ctx.aws.execute_api_url(&api.id));
    status.execute_api_arn = Some(ctx.aws.execute_api_arn(&api.id).await?);
    status.adopted = adopted;
    Ok(())
}

/// Revoke what API `api_id` was granted: the grants in status, and any statement
/// of the API on the functions its Routes and Authorizers name.
async fn revoke_permissions(obj: &RestApi, ctx: &Context, api_id: &str) -> Result<(), Error> {
    let grants = obj
        .status
        .as_ref()
        .map(|s| s.lambda_permissions.as_slice())
        .unwrap_or_default();
    let referenced = structure::referenced_functions(obj, ctx).await?;
    let revoked = super::permissions::revoke_api(ctx, api_id, grants, &referenced).await?;
    tracing::debug!(
        revoked,
        functions = referenced.len(),
        "revoked the API's invoke permissions"
    );
    Ok(())
}
