//! Usage plan and API key calls the `UsagePlan` and `ApiKey` controllers need.
//! API key values pass through here but are never logged (resources name key ids).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_apigateway::types::{
    ApiStage, PatchOperation, QuotaPeriodType, QuotaSettings, ThrottleSettings,
};

use super::error::{NotFoundExt, gone_or_checked};
use super::rest_api::to_sdk_patch;
use super::{Aws, AwsError, ErrorKind, Service};
use crate::plan::PatchOp;
use crate::plan::api_key::{ApiKeySettings, ObservedApiKey};
use crate::plan::usage_plan::{
    ObservedUsagePlan, QuotaSettings as Quota, Throttle, UsagePlanSettings,
};

/// Page size for GetUsagePlans, GetApiKeys and GetUsagePlanKeys (AWS's maximum).
const PAGE_SIZE: i32 = 500;

/// GetUsagePlan, GetUsagePlans items and CreateUsagePlan answer with the same fields.
macro_rules! observed_plan {
    ($p:expr) => {
        ObservedUsagePlan {
            id: $p.id().unwrap_or_default().to_string(),
            settings: UsagePlanSettings {
                name: $p.name().unwrap_or_default().to_string(),
                description: $p.description().unwrap_or_default().to_string(),
                throttle: $p.throttle().map(throttle),
                quota: $p.quota().map(|q| Quota {
                    limit: q.limit(),
                    period: q
                        .period()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_default(),
                    offset: q.offset(),
                }),
                stages: $p
                    .api_stages()
                    .iter()
                    .map(|s| {
                        (
                            (
                                s.api_id().unwrap_or_default().to_string(),
                                s.stage().unwrap_or_default().to_string(),
                            ),
                            s.throttle()
                                .map(|m| m.iter().map(|(k, t)| (k.clone(), throttle(t))).collect())
                                .unwrap_or_default(),
                        )
                    })
                    .collect(),
                tags: user_tags($p.tags()),
            },
        }
    };
}

/// GetApiKey, GetApiKeys items and CreateApiKey answer with the same fields.
macro_rules! observed_key {
    ($k:expr) => {
        ObservedApiKey {
            id: $k.id().unwrap_or_default().to_string(),
            settings: ApiKeySettings {
                name: $k.name().unwrap_or_default().to_string(),
                description: $k.description().unwrap_or_default().to_string(),
                enabled: $k.enabled(),
                value: $k.value().map(str::to_string),
                tags: user_tags($k.tags()),
                usage_plans: BTreeSet::new(),
            },
        }
    };
}

fn throttle(t: &ThrottleSettings) -> Throttle {
    Throttle {
        rate_limit: t.rate_limit(),
        burst_limit: t.burst_limit(),
    }
}

fn sdk_throttle(t: &Throttle) -> ThrottleSettings {
    ThrottleSettings::builder()
        .rate_limit(t.rate_limit)
        .burst_limit(t.burst_limit)
        .build()
}

fn user_tags(tags: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    tags.map(|t| {
        t.iter()
            .filter(|(k, _)| !k.starts_with("aws:"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
    .unwrap_or_default()
}

fn next_position(next: Option<&str>, current: &Option<String>) -> Option<String> {
    // moto ignores `position` and returns no marker; AWS returns one while more remain.
    match next {
        Some(next) if !next.is_empty() && Some(next) != current.as_deref() => {
            Some(next.to_string())
        }
        _ => None,
    }
}

impl Aws {
    /// Read one usage plan; None when it does not exist.
    pub async fn get_usage_plan(&self, id: &str) -> Result<Option<ObservedUsagePlan>, AwsError> {
        self.call(Service::ApiGateway, "GetUsagePlan", id, || {
            self.apigateway.get_usage_plan().usage_plan_id(id).send()
        })
        .await
        .map(|p| observed_plan!(p))
        .found()
    }

    /// Find the usage plan carrying tag `key=value` (only while status has no id).
    pub async fn find_usage_plan_by_tag(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Option<ObservedUsagePlan>, AwsError> {
        let mut position: Option<String> = None;
        loop {
            let out = self
                .call(Service::ApiGateway, "GetUsagePlans", "*", || {
                    self.apigateway
                        .get_usage_plans()
                        .limit(PAGE_SIZE)
                        .set_position(position.clone())
                        .send()
                })
                .await?;
            for p in out.items() {
                if p.tags().and_then(|t| t.get(key)).map(String::as_str) == Some(value) {
                    return Ok(Some(observed_plan!(p)));
                }
            }
            match next_position(out.position(), &position) {
                Some(next) => position = Some(next),
                None => return Ok(None),
            }
        }
    }

    /// Create a usage plan with its limits, stages (with method throttles) and tags.
    pub async fn create_usage_plan(
        &self,
        s: &UsagePlanSettings,
    ) -> Result<ObservedUsagePlan, AwsError> {
        let stages: Vec<ApiStage> = s
            .stages
            .iter()
            .map(|((api, stage), throttles)| {
                ApiStage::builder()
                    .api_id(api)
                    .stage(stage)
                    .set_throttle(if throttles.is_empty() {
                        None
                    } else {
                        Some(
                            throttles
                                .iter()
                                .map(|(k, t)| (k.clone(), sdk_throttle(t)))
                                .collect(),
                        )
                    })
                    .build()
            })
            .collect();
        let quota = s.quota.as_ref().map(|q| {
            QuotaSettings::builder()
                .limit(q.limit)
                .offset(q.offset)
                .period(QuotaPeriodType::from(q.period.as_str()))
                .build()
        });
        let out = self
            .call(Service::ApiGateway, "CreateUsagePlan", &s.name, || {
                self.apigateway
                    .create_usage_plan()
                    .name(&s.name)
                    .set_description(Some(s.description.clone()).filter(|d| !d.is_empty()))
                    .set_throttle(s.throttle.as_ref().map(sdk_throttle))
                    .set_quota(quota.clone())
                    .set_api_stages(Some(stages.clone()).filter(|s| !s.is_empty()))
                    .set_tags(Some(s.tags.clone().into_iter().collect()))
                    .send()
            })
            .await?;
        Ok(observed_plan!(out))
    }

    /// One UpdateUsagePlan call with all patch operations.
    pub async fn update_usage_plan(&self, id: &str, ops: &[PatchOp]) -> Result<(), AwsError> {
        let ops: Vec<PatchOperation> = ops.iter().map(to_sdk_patch).collect();
        self.call(Service::ApiGateway, "UpdateUsagePlan", id, || {
            self.apigateway
                .update_usage_plan()
                .usage_plan_id(id)
                .set_patch_operations(Some(ops.clone()))
                .send()
        })
        .await?;
        Ok(())
    }

    /// Delete a usage plan; one that is already gone counts as deleted.
    pub async fn delete_usage_plan(&self, id: &str) -> Result<(), AwsError> {
        let res = self
            .call(Service::ApiGateway, "DeleteUsagePlan", id, || {
                self.apigateway.delete_usage_plan().usage_plan_id(id).send()
            })
            .await;
        gone_or_checked(res, || async {
            Ok(self.get_usage_plan(id).await?.is_some())
        })
        .await
    }

    /// The ARN TagResource and UntagResource take for a usage plan or an API key.
    pub fn usage_resource_arn(&self, collection: &str, id: &str) -> String {
        format!(
            "arn:{}:apigateway:{}::/{collection}/{id}",
            self.partition(),
            self.region
        )
    }

    pub async fn tag_usage_resource(
        &self,
        arn: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        self.tag_resource(arn, tags).await
    }

    pub async fn untag_usage_resource(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        self.untag_resource(arn, keys).await
    }

    /// Read one API key with its value; None when it does not exist.
    pub async fn get_api_key(&self, id: &str) -> Result<Option<ObservedApiKey>, AwsError> {
        self.call(Service::ApiGateway, "GetApiKey", id, || {
            self.apigateway
                .get_api_key()
                .api_key(id)
                .include_value(true)
                .send()
        })
        .await
        .map(|k| observed_key!(k))
        .found()
    }

    /// Every API key carrying tag `key=value`, with values (only when status has no
    /// id, or during a rotation).
    pub async fn find_api_keys_by_tag(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<ObservedApiKey>, AwsError> {
        let mut found = Vec::new();
        let mut position: Option<String> = None;
        loop {
            let out = self
                .call(Service::ApiGateway, "GetApiKeys", "*", || {
                    self.apigateway
                        .get_api_keys()
                        .include_values(true)
                        .limit(PAGE_SIZE)
                        .set_position(position.clone())
                        .send()
                })
                .await?;
            for k in out.items() {
                if k.tags().and_then(|t| t.get(key)).map(String::as_str) == Some(value) {
                    found.push(observed_key!(k));
                }
            }
            match next_position(out.position(), &position) {
                Some(next) => position = Some(next),
                None => return Ok(found),
            }
        }
    }

    /// Create a key; without a value AWS generates one. Returns the key with its value.
    pub async fn create_api_key(&self, s: &ApiKeySettings) -> Result<ObservedApiKey, AwsError> {
        let out = self
            .call(Service::ApiGateway, "CreateApiKey", &s.name, || {
                self.apigateway
                    .create_api_key()
                    .name(&s.name)
                    .set_description(Some(s.description.clone()).filter(|d| !d.is_empty()))
                    .enabled(s.enabled)
                    .set_value(s.value.clone())
                    .set_tags(Some(s.tags.clone().into_iter().collect()))
                    .send()
            })
            .await?;
        Ok(observed_key!(out))
    }

    pub async fn update_api_key(&self, id: &str, ops: &[PatchOp]) -> Result<(), AwsError> {
        let ops: Vec<PatchOperation> = ops.iter().map(to_sdk_patch).collect();
        self.call(Service::ApiGateway, "UpdateApiKey", id, || {
            self.apigateway
                .update_api_key()
                .api_key(id)
                .set_patch_operations(Some(ops.clone()))
                .send()
        })
        .await?;
        Ok(())
    }

    /// Delete a key; one that is already gone counts as deleted.
    pub async fn delete_api_key(&self, id: &str) -> Result<(), AwsError> {
        self.call(Service::ApiGateway, "DeleteApiKey", id, || {
            self.apigateway.delete_api_key().api_key(id).send()
        })
        .await
        .gone_ok()
    }

    /// Ids of the keys attached to a plan; None when the plan does not exist.
    pub async fn usage_plan_key_ids(
        &self,
        plan_id: &str,
    ) -> Result<Option<BTreeSet<String>>, AwsError> {
        let mut ids = BTreeSet::new();
        let mut position: Option<String> = None;
        loop {
            let out = self
                .call(Service::ApiGateway, "GetUsagePlanKeys", plan_id, || {
                    self.apigateway
                        .get_usage_plan_keys()
                        .usage_plan_id(plan_id)
                        .limit(PAGE_SIZE)
                        .set_position(position.clone())
                        .send()
                })
                .await
                .found()?;
            let Some(out) = out else { return Ok(None) };
            ids.extend(
                out.items()
                    .iter()
                    .filter_map(|k| k.id())
                    .map(str::to_string),
            );
            match next_position(out.position(), &position) {
                Some(next) => position = Some(next),
                None => return Ok(Some(ids)),
            }
        }
    }

    /// Attach a key to a plan; an existing attachment counts as done.
    pub async fn create_usage_plan_key(&self, plan_id: &str, key_id: &str) -> Result<(), AwsError> {
        let resource = format!("{plan_id}/{key_id}");
        let res = self
            .call(Service::ApiGateway, "CreateUsagePlanKey", &resource, || {
                self.apigateway
                    .create_usage_plan_key()
                    .usage_plan_id(plan_id)
                    .key_id(key_id)
                    .key_type("API_KEY")
                    .send()
            })
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.kind == ErrorKind::Conflict => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Detach a key from a plan; a missing plan or attachment counts as detached.
    pub async fn delete_usage_plan_key(&self, plan_id: &str, key_id: &str) -> Result<(), AwsError> {
        let resource = format!("{plan_id}/{key_id}");
        let res = self
            .call(Service::ApiGateway, "DeleteUsagePlanKey", &resource, || {
                self.apigateway
                    .delete_usage_plan_key()
                    .usage_plan_id(plan_id)
                    .key_id(key_id)
                    .send()
            })
            .await;
        gone_or_checked(res, || async {
            let ids = self.usage_plan_key_ids(plan_id).await?;
            Ok(ids.is_some_and(|ids| ids.contains(key_id)))
        })
        .await
    }
}
