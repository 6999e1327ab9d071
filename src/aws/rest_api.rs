//! REST API (v1) calls the `RestApi` controller needs.

use std::collections::BTreeMap;

use aws_sdk_apigateway::types::{
    ApiKeySourceType, EndpointConfiguration, EndpointType, Op, PatchOperation,
};

use super::error::{NotFoundExt, gone_or_checked};
use super::{Aws, AwsError, Service};
use crate::plan::rest_api::{ObservedRestApi, RestApiSettings};
use crate::plan::{PatchKind, PatchOp};

/// GetRestApi, GetRestApis items and CreateRestApi answer with the same fields in
/// three SDK types; read them all the same way.
macro_rules! observed {
    ($api:expr) => {
        observed_api(
            $api.id(),
            $api.root_resource_id(),
            $api.name(),
            $api.description(),
            $api.endpoint_configuration(),
            $api.policy(),
            $api.binary_media_types(),
            $api.minimum_compression_size(),
            $api.api_key_source(),
            $api.disable_execute_api_endpoint(),
            $api.tags(),
        )
    };
}

/// Page size for GetRestApis (AWS's maximum).
const PAGE_SIZE: i32 = 500;

impl Aws {
    /// Read one API; None when it does not exist.
    pub async fn get_rest_api(&self, id: &str) -> Result<Option<ObservedRestApi>, AwsError> {
        let res = self
            .call(Service::ApiGateway, "GetRestApi", id, || {
                self.apigateway.get_rest_api().rest_api_id(id).send()
            })
            .await;
        Ok(res.found()?.map(|out| observed!(out)))
    }

    /// Find the API carrying tag `key=value` among every page of GetRestApis.
    /// Used only when status has no id yet (first create, or a crash before the
    /// status write), so steady-state reconciles never pay for the scan.
    pub async fn find_rest_api_by_tag(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Option<ObservedRestApi>, AwsError> {
        Ok(self
            .list_rest_apis()
            .await?
            .into_iter()
            .find(|api| api.settings.tags.get(key).map(String::as_str) == Some(value)))
    }

    /// Every REST API of the account and region, with its settings: a whole
    /// account's APIs for one or two calls (500 a page), where GetRestApi costs one
    /// per API.
    pub async fn list_rest_apis(&self) -> Result<Vec<ObservedRestApi>, AwsError> {
        let mut apis = Vec::new();
        let mut position: Option<String> = None;
        loop {
            let out = self
                .call(Service::ApiGateway, "GetRestApis", "*", || {
                    self.apigateway
                        .get_rest_apis()
                        .limit(PAGE_SIZE)
                        .set_position(position.clone())
                        .send()
                })
                .await?;
            apis.extend(out.items().iter().map(|api| observed!(api)));
            // moto ignores `position` and returns no marker; AWS returns one while more remain.
            match out.position() {
                Some(next) if !next.is_empty() && Some(next) != position.as_deref() => {
                    position = Some(next.to_string())
                }
                _ => return Ok(apis),
            }
        }
    }

    /// Create an API with all its settings and tags in one call.
    pub async fn create_rest_api(&self, s: &RestApiSettings) -> Result<ObservedRestApi, AwsError> {
        let endpoint = EndpointConfiguration::builder()
            .types(EndpointType::from(s.endpoint_type.as_str()))
            .set_vpc_endpoint_ids(if s.vpc_endpoint_ids.is_empty() {
                None
            } else {
                Some(s.vpc_endpoint_ids.iter().cloned().collect())
            })
            .build();
        let out = self
            .call(Service::ApiGateway, "CreateRestApi", &s.name, || {
                self.apigateway
                    .create_rest_api()
                    .name(&s.name)
                    .set_description(Some(s.description.clone()).filter(|d| !d.is_empty()))
                    .endpoint_configuration(endpoint.clone())
                    .set_policy(s.policy.clone())
                    .set_binary_media_types(if s.binary_media_types.is_empty() {
                        None
                    } else {
                        Some(s.binary_media_types.iter().cloned().collect())
                    })
                    .set_minimum_compression_size(s.minimum_compression_size)
                    .api_key_source(ApiKeySourceType::from(s.api_key_source.as_str()))
                    .disable_execute_api_endpoint(s.disable_execute_api_endpoint)
                    .set_tags(Some(s.tags.clone().into_iter().collect()))
                    .send()
            })
            .await?;
        Ok(observed!(out))
    }

    /// One UpdateRestApi call with all patch operations.
    pub async fn update_rest_api(&self, id: &str, ops: &[PatchOp]) -> Result<(), AwsError> {
        let ops: Vec<PatchOperation> = ops.iter().map(to_sdk_patch).collect();
        self.call(Service::ApiGateway, "UpdateRestApi", id, || {
            self.apigateway
                .update_rest_api()
                .rest_api_id(id)
                .set_patch_operations(Some(ops.clone()))
                .send()
        })
        .await?;
        Ok(())
    }

    /// Replace the API's whole structure with an OpenAPI document (PutRestApi,
    /// mode overwrite). Returns the warnings API Gateway reported; with
    /// `fail_on_warnings` a warning fails the call instead and nothing changes.
    pub async fn put_rest_api(
        &self,
        id: &str,
        body: &str,
        fail_on_warnings: bool,
    ) -> Result<(Vec<String>, ObservedRestApi), AwsError> {
        let body = aws_smithy_types::Blob::new(body.as_bytes().to_vec());
        let out = self
            .call(Service::ApiGateway, "PutRestApi", id, || {
                self.apigateway
                    .put_rest_api()
                    .rest_api_id(id)
                    .mode(aws_sdk_apigateway::types::PutMode::Overwrite)
                    .fail_on_warnings(fail_on_warnings)
                    .body(body.clone())
                    .send()
            })
            .await?;
        Ok((out.warnings().to_vec(), observed!(out)))
    }

    /// The ARN TagResource and UntagResource take for a REST API.
    pub fn rest_api_resource_arn(&self, id: &str) -> String {
        format!(
            "arn:{}:apigateway:{}::/restapis/{id}",
            self.partition(),
            self.region
        )
    }

    pub async fn tag_rest_api(
        &self,
        id: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        self.tag_resource(&self.rest_api_resource_arn(id), tags)
            .await
    }

    pub async fn untag_rest_api(&self, id: &str, keys: &[String]) -> Result<(), AwsError> {
        self.untag_resource(&self.rest_api_resource_arn(id), keys)
            .await
    }

    /// Delete an API; an API that is already gone counts as deleted.
    pub async fn delete_rest_api(&self, id: &str) -> Result<(), AwsError> {
        let res = self
            .call(Service::ApiGateway, "DeleteRestApi", id, || {
                self.apigateway.delete_rest_api().rest_api_id(id).send()
            })
            .await;
        gone_or_checked(res, || async { Ok(self.get_rest_api(id).await?.is_some()) }).await
    }
}

pub(crate) fn to_sdk_patch(op: &PatchOp) -> PatchOperation {
    let kind = match op.op {
        PatchKind::Add => Op::Add,
        PatchKind::Remove => Op::Remove,
        PatchKind::Replace => Op::Replace,
    };
    PatchOperation::builder()
        .op(kind)
        .path(&op.path)
        .set_value(op.value.clone())
        .build()
}

#[allow(clippy::too_many_arguments)]
fn observed_api(
    id: Option<&str>,
    root_resource_id: Option<&str>,
    name: Option<&str>,
    description: Option<&str>,
    endpoint: Option<&EndpointConfiguration>,
    policy: Option<&str>,
    binary_media_types: &[String],
    minimum_compression_size: Option<i32>,
    api_key_source: Option<&ApiKeySourceType>,
    disable_execute_api_endpoint: bool,
    tags: Option<&std::collections::HashMap<String, String>>,
) -> ObservedRestApi {
    ObservedRestApi {
        id: id.unwrap_or_default().to_string(),
        root_resource_id: root_resource_id.map(str::to_string),
        settings: RestApiSettings {
            name: name.unwrap_or_default().to_string(),
            description: description.unwrap_or_default().to_string(),
            endpoint_type: endpoint
                .and_then(|e| e.types().first())
                .map(|t| t.as_str().to_string())
                // AWS's own default when nothing is reported.
                .unwrap_or_else(|| "EDGE".to_string()),
            vpc_endpoint_ids: endpoint
                .map(|e| e.vpc_endpoint_ids().iter().cloned().collect())
                .unwrap_or_default(),
            policy: policy.filter(|p| !p.is_empty()).map(str::to_string),
            binary_media_types: binary_media_types
                .iter()
                .filter(|t| !t.is_empty())
                .cloned()
                .collect(),
            minimum_compression_size,
            api_key_source: api_key_source
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "HEADER".to_string()),
            disable_execute_api_endpoint,
            tags: tags
                .map(|t| {
                    t.iter()
                        .filter(|(k, _)| !k.starts_with("aws:"))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default(),
        },
    }
}
