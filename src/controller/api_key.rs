//! `ApiKey` reconciler: read the value from the user's Secret (or let AWS generate
//! it and write it to a Secret the ApiKey owns), resolve the UsagePlans it names,
//! observe the key in AWS, plan, apply, write status. It may touch: the API key and
//! its usage plan attachments, the generated Secret, the object's status, Events.
//! The key's value is never logged, never in an Event and never in status.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tracing::field;

use super::owned::OwnsAwsResource;
use super::{Context, Error};
use crate::api::api_key::{AttachedPlan, GeneratedSecret, SecretKeyRef};
use crate::api::common::DeletionPolicy;
use crate::api::{ApiKey, ApiKeyStatus, UsagePlan};
use crate::plan::api_key::{ApiKeyAction, MIN_VALUE_LEN, ObservedApiKey, desired_settings, plan};
use crate::plan::rest_api::{OWNER_UID_TAG, Owner};

/// Entry point for the controller runtime.
pub async fn reconcile(obj: Arc<ApiKey>, ctx: Arc<Context>) -> Result<Action, Error> {
    super::owned::reconcile(obj, ctx).await
}

impl OwnsAwsResource for ApiKey {
    const KIND: &'static str = "ApiKey";
    const NOUN: &'static str = "API key";
    const ID_FIELD: &'static str = "api_key_id";
    type Observed = ObservedApiKey;
    /// The value the key should have, when it comes from a Secret.
    type Hint = Option<String>;

    fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "reconcile",
            kind = "ApiKey",
            namespace = %self.namespace().unwrap_or_default(),
            object_name = %self.name_any(),
            api_key_id = field::Empty
        )
    }
    async fn apply(obj: Arc<Self>, ctx: &Context) -> Result<Action, Error> {
        apply(obj, ctx).await
    }
    fn deletion_policy(&self) -> Option<DeletionPolicy> {
        Some(self.spec.deletion_policy)
    }
    fn recorded_id(&self) -> Option<String> {
        self.status.as_ref()?.api_key_id.clone()
    }
    fn id_of(observed: &ObservedApiKey) -> &str {
        &observed.id
    }
    fn tags_of(observed: &ObservedApiKey) -> &BTreeMap<String, String> {
        &observed.settings.tags
    }
    async fn read(ctx: &Context, id: &str) -> Result<Option<ObservedApiKey>, Error> {
        Ok(ctx.aws.get_api_key(id).await?)
    }
    /// Keys made by passes that could not record them (a crash after the create):
    /// the one with the wanted value is kept, else the first; the rest are deleted.
    async fn find_by_owner(
        &self,
        ctx: &Context,
        owner_uid: &str,
        value: &Option<String>,
    ) -> Result<Option<ObservedApiKey>, Error> {
        let mut found = ctx
            .aws
            .find_api_keys_by_tag(OWNER_UID_TAG, owner_uid)
            .await?;
        let keep = found
            .iter()
            .position(|k| value.is_some() && k.settings.value == *value)
            .or(if found.is_empty() { None } else { Some(0) });
        let Some(keep) = keep else { return Ok(None) };
        let key = found.swap_remove(keep);
        for extra in found {
            tracing::info!(extra = %extra.id, "deleting a leftover API key of this object");
            ctx.aws.delete_api_key(&extra.id).await?;
        }
        Ok(Some(key))
    }
    fn forget_resource(status: &mut ApiKeyStatus) {
        status.api_key_id = None;
    }
    /// Detached from its plans first: moto keeps the attachments of a deleted key.
    async fn delete(&self, ctx: &Context, id: &str) -> Result<(), Error> {
        let plans: Vec<String> = self
            .status
            .iter()
            .flat_map(|s| s.usage_plans.iter().map(|p| p.usage_plan_id.clone()))
            .collect();
        for plan_id in &plans {
            ctx.aws.delete_usage_plan_key(plan_id, id).await?;
        }
        Ok(ctx.aws.delete_api_key(id).await?)
    }
}

async fn apply(obj: Arc<ApiKey>, ctx: &Context) -> Result<Action, Error> {
    let mut status = obj.status.clone().unwrap_or_default();
    let mut notes = Vec::new();
    let result = converge(&obj, ctx, &mut status, &mut notes)
        .await
        .map(|()| None);
    let ready = ("Available", "the API key matches the spec");
    super::outcome::finish(obj.as_ref(), ctx, status, notes, result, ready).await
}

/// The value in the user's Secret. Errors name the Secret and key, never the value.
async fn read_secret_value(
    ctx: &Context,
    namespace: &str,
    r: &SecretKeyRef,
) -> Result<String, Error> {
    let secrets: Api<Secret> = ctx.api_in(namespace);
    let secret = secrets
        .get_opt(&r.name)
        .await
        .map_err(Error::kube("get Secret"))?
        .ok_or_else(|| {
            Error::SecretNotFound(format!(
                "Secret {} does not exist in namespace {namespace}",
                r.name
            ))
        })?;
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&r.key))
        .map(|b| b.0.clone())
        .ok_or_else(|| Error::SecretNotFound(format!("Secret {} has no key {}", r.name, r.key)))?;
    let value = String::from_utf8(bytes).map_err(|_| {
        Error::SecretNotUsable(format!(
            "the value of key {} in Secret {} is not UTF-8 text",
            r.key, r.name
        ))
    })?;
    // A trailing newline (from --from-file) is not part of the key.
    let value = value.trim_end_matches(['\n', '\r']).to_string();
    if value.len() < MIN_VALUE_LEN {
        return Err(Error::SecretNotUsable(format!(
            "the value of key {} in Secret {} has {} characters; API Gateway needs at least {MIN_VALUE_LEN}",
            r.key,
            r.name,
            value.len()
        )));
    }
    Ok(value)
}

async fn converge(
    obj: &ApiKey,
    ctx: &Context,
    status: &mut ApiKeyStatus,
    notes: &mut Vec<(&'static str, String)>,
) -> Result<(), Error> {
    let aws = &ctx.aws;
    let namespace = obj.namespace().unwrap_or_default();
    let owner = Owner {
        uid: obj.uid().unwrap_or_default(),
        namespace: namespace.clone(),
        name: obj.name_any(),
    };
    let value = match &obj.spec.value {
        Some(v) => Some(read_secret_value(ctx, &namespace, &v.secret_ref).await?),
        None => None,
    };
    let plans_api: Api<UsagePlan> = ctx.api_in(&namespace);
    let mut resolved: Vec<AttachedPlan> = Vec::new();
    let (mut missing, mut waiting) = (Vec::new(), Vec::new());
    for r in &obj.spec.usage_plan_refs {
        match plans_api
            .get_opt(&r.name)
            .await
            .map_err(Error::kube("get UsagePlan"))?
        {
            None => missing.push(r.name.clone()),
            Some(p) => match p.status.clone().and_then(|s| s.usage_plan_id) {
                Some(id) if p.metadata.deletion_timestamp.is_none() => {
                    let status = p.status.as_ref();
                    super::tenancy::same_location(
                        ctx,
                        &format!("UsagePlan {}", r.name),
                        status.and_then(|s| s.tenant.account_id.as_deref()),
                        status.and_then(|s| s.tenant.region.as_deref()),
                    )?;
                    resolved.push(AttachedPlan {
                        name: r.name.clone(),
                        usage_plan_id: id,
                    })
                }
                _ => waiting.push(r.name.clone()),
            },
        }
    }
    let plan_ids: BTreeSet<String> = resolved.iter().map(|p| p.usage_plan_id.clone()).collect();
    let desired = desired_settings(&obj.spec, &owner, value, plan_ids.clone());

    let recorded = status.api_key_id.clone();
    let mut observed = super::owned::observe(obj, ctx, status, recorded, &desired.value).await?;
    if let Some(key) = observed.as_mut() {
        // The plans it should be on and those it was on: each read once.
        let recorded = status.usage_plans.iter().map(|p| p.usage_plan_id.clone());
        let to_read: BTreeSet<String> = plan_ids.iter().cloned().chain(recorded).collect();
        for plan_id in to_read {
            if let Some(keys) = aws.usage_plan_key_ids(&plan_id).await?
                && keys.contains(&key.id)
            {
                key.settings.usage_plans.insert(plan_id);
            }
        }
    }
    let actions = plan(&desired, observed.as_ref());
    let rotating = observed.is_some() && actions.contains(&ApiKeyAction::Create);
    let mut current = observed.clone().unwrap_or_default();
    for action in actions {
        match action {
            ApiKeyAction::Create => {
                // A key with the new value made before a crash is used, not made twice.
                let earlier = if rotating {
                    aws.find_api_keys_by_tag(OWNER_UID_TAG, &owner.uid)
                        .await?
                        .into_iter()
                        .find(|k| k.id != current.id && k.settings.value == desired.value)
                } else {
                    None
                };
                current = match earlier {
                    Some(k) => k,
                    None => aws.create_api_key(&desired).await.map_err(|e| {
                        // Our own keys were looked up by tag first: the value is another key's.
                        match (&obj.spec.value, e.kind) {
                            (Some(v), crate::aws::ErrorKind::Conflict) => {
                                Error::SecretNotUsable(format!(
                                    "another API key in this account already has the value in Secret {} key {}; API key values are unique",
                                    v.secret_ref.name, v.secret_ref.key
                                ))
                            }
                            _ => Error::from(e),
                        }
                    })?,
                };
                tracing::Span::current().record("api_key_id", current.id.as_str());
                status.api_key_id = Some(current.id.clone());
                tracing::info!(rotating, "created API key");
                notes.push(("Created", format!("created API key {}", current.id)));
            }
            ApiKeyAction::Update(ops) => {
                aws.update_api_key(&current.id, &ops).await?;
                let paths: Vec<&str> = ops.iter().map(|o| o.path.as_str()).collect();
                notes.push((
                    "Updated",
                    format!("updated API key {}: {}", current.id, paths.join(", ")),
                ));
            }
            ApiKeyAction::Attach(plan_id) => {
                aws.create_usage_plan_key(&plan_id, &current.id).await?;
                notes.push((
                    "Attached",
                    format!("attached API key {} to usage plan {plan_id}", current.id),
                ));
            }
            ApiKeyAction::Detach(plan_id) => {
                aws.delete_usage_plan_key(&plan_id, &current.id).await?;
                notes.push((
                    "Detached",
                    format!("detached API key {} from usage plan {plan_id}", current.id),
                ));
            }
            ApiKeyAction::DeleteKey(old) => {
                // Detached first: AWS drops a deleted key's attachments, moto keeps them.
                let plans = observed.iter().flat_map(|o| o.settings.usage_plans.iter());
                for plan_id in plans {
                    aws.delete_usage_plan_key(plan_id, &old).await?;
                }
                aws.delete_api_key(&old).await?;
                tracing::info!(old_key = %old, "rotated API key");
                notes.push((
                    "Rotated",
                    format!(
                        "the Secret's value changed: API key {old} replaced by {}",
                        current.id
                    ),
                ));
            }
            ApiKeyAction::Tag(tags) => {
                let arn = aws.usage_resource_arn("apikeys", &current.id);
                aws.tag_usage_resource(&arn, &tags).await?;
            }
            ApiKeyAction::Untag(keys) => {
                let arn = aws.usage_resource_arn("apikeys", &current.id);
                aws.untag_usage_resource(&arn, &keys).await?;
            }
        }
    }
    status.api_key_id = Some(current.id.clone());
    status.usage_plans = resolved;
    if let Some(generated) = &obj.spec.generated_secret {
        let value = match current.settings.value.clone() {
            Some(v) => v,
            None => aws
                .get_api_key(&current.id)
                .await?
                .and_then(|k| k.settings.value)
                .unwrap_or_default(),
        };
        write_generated_secret(obj, ctx, generated, &value).await?;
    }
    if !missing.is_empty() {
        return Err(Error::UsagePlanNotFound(format!(
            "UsagePlan {} does not exist in namespace {namespace}; the key is attached once it does",
            missing.join(", ")
        )));
    }
    if !waiting.is_empty() {
        return Err(Error::UsagePlanNotReady(format!(
            "UsagePlan {} has no usage plan in AWS yet; the key is attached once it has",
            waiting.join(", ")
        )));
    }
    Ok(())
}

/// Find the key: by the id in status, or by owner tag. With several tagged keys
/// (a crash in the middle of a rotation) the one holding `value` wins and the
/// others, which no status names, are deleted.
/// Create or correct the Secret holding a generated value. It is owned by the
/// ApiKey (garbage-collected with it); a Secret of that name owned by anything
/// else is never overwritten.
async fn write_generated_secret(
    obj: &ApiKey,
    ctx: &Context,
    generated: &GeneratedSecret,
    value: &str,
) -> Result<(), Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let secrets: Api<Secret> = ctx.api_in(&namespace);
    let bytes = ByteString(value.as_bytes().to_vec());
    match secrets
        .get_opt(&generated.name)
        .await
        .map_err(Error::kube("get Secret"))?
    {
        None => {
            let owner = obj.controller_owner_ref(&()).into_iter().collect();
            let secret = Secret {
                metadata: kube::api::ObjectMeta {
                    name: Some(generated.name.clone()),
                    namespace: Some(namespace.clone()),
                    owner_references: Some(owner),
                    labels: Some(BTreeMap::from([(
                        "app.kubernetes.io/managed-by".to_string(),
                        "apigw-operator".to_string(),
                    )])),
                    ..Default::default()
                },
                type_: Some("Opaque".into()),
                data: Some(BTreeMap::from([(generated.key.clone(), bytes)])),
                ..Default::default()
            };
            secrets
                .create(&PostParams::default(), &secret)
                .await
                .map_err(Error::kube("create Secret"))?;
            ctx.event(
                obj,
                EventType::Normal,
                "SecretWritten",
                "WriteSecret",
                format!("wrote the generated key to Secret {}", generated.name),
            )
            .await;
        }
        Some(secret) => {
            let ours = secret
                .owner_references()
                .iter()
                .any(|o| Some(&o.uid) == obj.metadata.uid.as_ref());
            if !ours {
                return Err(Error::SecretNotUsable(format!(
                    "Secret {} exists and is not owned by ApiKey {}; pick another generatedSecret.name or delete that Secret",
                    generated.name,
                    obj.name_any()
                )));
            }
            let current = secret.data.as_ref().and_then(|d| d.get(&generated.key));
            if current != Some(&bytes) {
                let patch = json!({"data": {generated.key.clone(): bytes}});
                secrets
                    .patch(
                        &generated.name,
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                    .map_err(Error::kube("patch Secret"))?;
            }
        }
    }
    Ok(())
}
