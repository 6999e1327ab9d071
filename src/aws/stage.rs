//! Stage and deployment calls the `Stage` controller needs.
//!
//! moto 5.2.1 gaps that matter here (checked against a moto server):
//! - canary settings are not stored: CreateStage and UpdateStage ignore them and
//!   GetStages never reports a canary, so a canary in the spec is re-planned on every
//!   reconcile against moto;
//! - `remove /{resource}/{method}` (dropping a route's method settings) is ignored;
//! - a new method-settings entry gets moto's own defaults (throttling 1000/2000,
//!   dataEncrypted true, no logging level) rather than AWS's, which is why the planner
//!   writes a new entry whole;
//! - DeleteDeployment does not refuse a deployment a stage still serves (AWS does);
//! - UpdateStage of a missing stage creates an empty one instead of answering 404.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_apigateway::types::{
    AccessLogSettings, CacheClusterSize, CanarySettings, MethodSetting, PatchOperation, Stage,
};

use super::error::NotFoundExt;
use super::rest_api::to_sdk_patch;
use super::{Aws, AwsError, Service};
use crate::plan::PatchOp;
use crate::plan::stage::{
    ObservedCanary, ObservedDeployment, ObservedMethodSetting, ObservedStage, StageCreate,
};

/// Page size for GetDeployments (AWS's maximum).
const PAGE_SIZE: i32 = 500;

impl Aws {
    /// Every stage of an API, in one GetStages call (it is not paginated).
    pub async fn get_stages(&self, api_id: &str) -> Result<Vec<ObservedStage>, AwsError> {
        let out = self
            .call(Service::ApiGateway, "GetStages", api_id, || {
                self.apigateway.get_stages().rest_api_id(api_id).send()
            })
            .await?;
        Ok(out.item().iter().map(observed_stage).collect())
    }

    /// Create a stage on a deployment with the settings CreateStage takes.
    pub async fn create_stage(
        &self,
        api_id: &str,
        deployment_id: &str,
        stage: &StageCreate,
    ) -> Result<ObservedStage, AwsError> {
        let resource = format!("{api_id}/{}", stage.stage_name);
        let out = self
            .call(Service::ApiGateway, "CreateStage", &resource, || {
                self.apigateway
                    .create_stage()
                    .rest_api_id(api_id)
                    .stage_name(&stage.stage_name)
                    .deployment_id(deployment_id)
                    .set_description(stage.description.clone())
                    .set_variables(non_empty(&stage.variables))
                    .cache_cluster_enabled(stage.cache_cluster_enabled)
                    .set_cache_cluster_size(
                        stage
                            .cache_cluster_size
                            .as_deref()
                            .map(CacheClusterSize::from),
                    )
                    .tracing_enabled(stage.tracing_enabled)
                    .set_tags(non_empty(&stage.tags))
                    .send()
            })
            .await?;
        Ok(observed_stage_parts(StageParts {
            stage_name: out.stage_name(),
            deployment_id: out.deployment_id(),
            description: out.description(),
            variables: out.variables(),
            cache_cluster_enabled: out.cache_cluster_enabled(),
            cache_cluster_size: out.cache_cluster_size(),
            tracing_enabled: out.tracing_enabled(),
            method_settings: out.method_settings(),
            access_log: out.access_log_settings(),
            canary: out.canary_settings(),
            tags: out.tags(),
        }))
    }

    /// One UpdateStage call with all patch operations; none means no call at all.
    pub async fn update_stage(
        &self,
        api_id: &str,
        stage_name: &str,
        ops: &[PatchOp],
    ) -> Result<(), AwsError> {
        if ops.is_empty() {
            return Ok(());
        }
        let ops: Vec<PatchOperation> = ops.iter().map(to_sdk_patch).collect();
        let resource = format!("{api_id}/{stage_name}");
        self.call(Service::ApiGateway, "UpdateStage", &resource, || {
            self.apigateway
                .update_stage()
                .rest_api_id(api_id)
                .stage_name(stage_name)
                .set_patch_operations(Some(ops.clone()))
                .send()
        })
        .await?;
        Ok(())
    }

    /// Delete a stage; one that is already gone counts as deleted.
    pub async fn delete_stage(&self, api_id: &str, stage_name: &str) -> Result<(), AwsError> {
        let resource = format!("{api_id}/{stage_name}");
        let res = self
            .call(Service::ApiGateway, "DeleteStage", &resource, || {
                self.apigateway
                    .delete_stage()
                    .rest_api_id(api_id)
                    .stage_name(stage_name)
                    .send()
            })
            .await;
        res.gone_ok()
    }

    /// The ARN TagResource and UntagResource take for a stage.
    pub fn stage_resource_arn(&self, api_id: &str, stage_name: &str) -> String {
        format!(
            "arn:{}:apigateway:{}::/restapis/{api_id}/stages/{stage_name}",
            self.partition(),
            self.region
        )
    }

    pub async fn tag_stage(
        &self,
        api_id: &str,
        stage_name: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        self.tag_resource(&self.stage_resource_arn(api_id, stage_name), tags)
            .await
    }

    pub async fn untag_stage(
        &self,
        api_id: &str,
        stage_name: &str,
        keys: &[String],
    ) -> Result<(), AwsError> {
        self.untag_resource(&self.stage_resource_arn(api_id, stage_name), keys)
            .await
    }

    /// Create a deployment of the API as it is now, not attached to any stage (the
    /// stage is created or pointed at it afterwards); returns its id.
    pub async fn create_deployment(
        &self,
        api_id: &str,
        description: &str,
    ) -> Result<String, AwsError> {
        let out = self
            .call(Service::ApiGateway, "CreateDeployment", api_id, || {
                self.apigateway
                    .create_deployment()
                    .rest_api_id(api_id)
                    .description(description)
                    .send()
            })
            .await?;
        Ok(out.id().unwrap_or_default().to_string())
    }

    /// Every deployment of the API, walking every page.
    pub async fn get_deployments(&self, api_id: &str) -> Result<Vec<ObservedDeployment>, AwsError> {
        let mut deployments = Vec::new();
        let mut position: Option<String> = None;
        loop {
            let out = self
                .call(Service::ApiGateway, "GetDeployments", api_id, || {
                    self.apigateway
                        .get_deployments()
                        .rest_api_id(api_id)
                        .limit(PAGE_SIZE)
                        .set_position(position.clone())
                        .send()
                })
                .await?;
            deployments.extend(out.items().iter().map(|d| ObservedDeployment {
                id: d.id().unwrap_or_default().to_string(),
                created: d.created_date().map(|t| t.secs()).unwrap_or_default(),
                description: d.description().unwrap_or_default().to_string(),
            }));
            // moto ignores `position` and returns no marker; AWS returns one while more remain.
            match out.position() {
                Some(next) if !next.is_empty() && Some(next) != position.as_deref() => {
                    position = Some(next.to_string())
                }
                _ => return Ok(deployments),
            }
        }
    }

    /// Delete a deployment; one that is already gone counts as deleted.
    pub async fn delete_deployment(&self, api_id: &str, id: &str) -> Result<(), AwsError> {
        let resource = format!("{api_id}/{id}");
        let res = self
            .call(Service::ApiGateway, "DeleteDeployment", &resource, || {
                self.apigateway
                    .delete_deployment()
                    .rest_api_id(api_id)
                    .deployment_id(id)
                    .send()
            })
            .await;
        res.gone_ok()
    }
}

fn non_empty(map: &BTreeMap<String, String>) -> Option<HashMap<String, String>> {
    (!map.is_empty()).then(|| map.clone().into_iter().collect())
}

/// The fields of a stage, borrowed from whichever SDK output carries them
/// (`Stage` from GetStages, `CreateStageOutput` from CreateStage).
struct StageParts<'a> {
    stage_name: Option<&'a str>,
    deployment_id: Option<&'a str>,
    description: Option<&'a str>,
    variables: Option<&'a HashMap<String, String>>,
    cache_cluster_enabled: bool,
    cache_cluster_size: Option<&'a CacheClusterSize>,
    tracing_enabled: bool,
    method_settings: Option<&'a HashMap<String, MethodSetting>>,
    access_log: Option<&'a AccessLogSettings>,
    canary: Option<&'a CanarySettings>,
    tags: Option<&'a HashMap<String, String>>,
}

fn observed_stage(s: &Stage) -> ObservedStage {
    observed_stage_parts(StageParts {
        stage_name: s.stage_name(),
        deployment_id: s.deployment_id(),
        description: s.description(),
        variables: s.variables(),
        cache_cluster_enabled: s.cache_cluster_enabled(),
        cache_cluster_size: s.cache_cluster_size(),
        tracing_enabled: s.tracing_enabled(),
        method_settings: s.method_settings(),
        access_log: s.access_log_settings(),
        canary: s.canary_settings(),
        tags: s.tags(),
    })
}

fn to_btree(map: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn observed_stage_parts(p: StageParts) -> ObservedStage {
    ObservedStage {
        stage_name: p.stage_name.unwrap_or_default().to_string(),
        deployment_id: p
            .deployment_id
            .filter(|d| !d.is_empty())
            .map(str::to_string),
        description: p.description.unwrap_or_default().to_string(),
        variables: to_btree(p.variables),
        cache_cluster_enabled: p.cache_cluster_enabled,
        cache_cluster_size: p.cache_cluster_size.map(|s| s.as_str().to_string()),
        tracing_enabled: p.tracing_enabled,
        method_settings: p
            .method_settings
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), observed_method_setting(v)))
                    .collect()
            })
            .unwrap_or_default(),
        // An empty settings object (both fields absent) means no access logging.
        access_log: p.access_log.and_then(|a| {
            (a.destination_arn().is_some() || a.format().is_some()).then(|| {
                (
                    a.destination_arn().unwrap_or_default().to_string(),
                    a.format().unwrap_or_default().to_string(),
                )
            })
        }),
        canary: p.canary.map(|c| ObservedCanary {
            deployment_id: c.deployment_id().map(str::to_string),
            percent_traffic: c.percent_traffic(),
            stage_variable_overrides: to_btree(c.stage_variable_overrides()),
            use_stage_cache: c.use_stage_cache(),
        }),
        tags: to_btree(p.tags)
            .into_iter()
            .filter(|(k, _)| !k.starts_with("aws:"))
            .collect(),
    }
}

fn observed_method_setting(m: &MethodSetting) -> ObservedMethodSetting {
    ObservedMethodSetting {
        throttling_rate_limit: m.throttling_rate_limit(),
        throttling_burst_limit: m.throttling_burst_limit(),
        caching_enabled: m.caching_enabled(),
        cache_ttl_seconds: m.cache_ttl_in_seconds(),
        cache_data_encrypted: m.cache_data_encrypted(),
        require_authorization_for_cache_control: m.require_authorization_for_cache_control(),
        logging_level: m.logging_level().map(str::to_string),
        data_trace_enabled: m.data_trace_enabled(),
        metrics_enabled: m.metrics_enabled(),
    }
}
