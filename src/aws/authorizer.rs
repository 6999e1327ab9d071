//! REST API authorizer calls, and the Cognito lookup that validates user pools.

use aws_sdk_apigateway::types::{AuthorizerType, PatchOperation};

use super::error::{NotFoundExt, gone_or_checked};
use super::rest_api::to_sdk_patch;
use super::{Aws, AwsError, Service};
use crate::plan::PatchOp;
use crate::plan::authorizer::{
    AWS_DEFAULT_RESULT_TTL, AuthorizerSettings, ObservedAuthorizer, user_pool_id, user_pool_region,
};

/// Page size for GetAuthorizers (AWS's maximum).
const PAGE_SIZE: i32 = 500;

impl Aws {
    /// Every authorizer of an API, walking every page.
    pub async fn get_authorizers(&self, api_id: &str) -> Result<Vec<ObservedAuthorizer>, AwsError> {
        let mut all = Vec::new();
        let mut position: Option<String> = None;
        loop {
            let out = self
                .call(Service::ApiGateway, "GetAuthorizers", api_id, || {
                    self.apigateway
                        .get_authorizers()
                        .rest_api_id(api_id)
                        .limit(PAGE_SIZE)
                        .set_position(position.clone())
                        .send()
                })
                .await?;
            all.extend(out.items().iter().map(|a| {
                observed(
                    a.id(),
                    a.name(),
                    a.r#type(),
                    a.provider_arns(),
                    a.authorizer_uri(),
                    a.authorizer_credentials(),
                    a.identity_source(),
                    a.identity_validation_expression(),
                    a.authorizer_result_ttl_in_seconds(),
                )
            }));
            // moto ignores `position` and returns no marker; AWS returns one while more remain.
            match out.position() {
                Some(next) if !next.is_empty() && Some(next) != position.as_deref() => {
                    position = Some(next.to_string())
                }
                _ => return Ok(all),
            }
        }
    }

    /// Read one authorizer; None when it (or its API) does not exist.
    pub async fn get_authorizer(
        &self,
        api_id: &str,
        id: &str,
    ) -> Result<Option<ObservedAuthorizer>, AwsError> {
        let resource = format!("{api_id}/authorizers/{id}");
        let res = self
            .call(Service::ApiGateway, "GetAuthorizer", &resource, || {
                self.apigateway
                    .get_authorizer()
                    .rest_api_id(api_id)
                    .authorizer_id(id)
                    .send()
            })
            .await;
        Ok(res.found()?.map(|a| {
            observed(
                a.id(),
                a.name(),
                a.r#type(),
                a.provider_arns(),
                a.authorizer_uri(),
                a.authorizer_credentials(),
                a.identity_source(),
                a.identity_validation_expression(),
                a.authorizer_result_ttl_in_seconds(),
            )
        }))
    }

    /// Create an authorizer with all its settings in one call.
    pub async fn create_authorizer(
        &self,
        api_id: &str,
        s: &AuthorizerSettings,
    ) -> Result<ObservedAuthorizer, AwsError> {
        let resource = format!("{api_id}/authorizers/{}", s.name);
        let out = self
            .call(Service::ApiGateway, "CreateAuthorizer", &resource, || {
                self.apigateway
                    .create_authorizer()
                    .rest_api_id(api_id)
                    .name(&s.name)
                    .r#type(AuthorizerType::from(s.type_.as_str()))
                    .set_provider_arns(if s.provider_arns.is_empty() {
                        None
                    } else {
                        Some(s.provider_arns.iter().cloned().collect())
                    })
                    .set_authorizer_uri(s.authorizer_uri.clone())
                    .set_authorizer_credentials(s.authorizer_credentials.clone())
                    .set_identity_source(Some(s.identity_source.clone()).filter(|i| !i.is_empty()))
                    .set_identity_validation_expression(s.identity_validation_expression.clone())
                    .authorizer_result_ttl_in_seconds(s.result_ttl)
                    .send()
            })
            .await?;
        Ok(observed(
            out.id(),
            out.name(),
            out.r#type(),
            out.provider_arns(),
            out.authorizer_uri(),
            out.authorizer_credentials(),
            out.identity_source(),
            out.identity_validation_expression(),
            out.authorizer_result_ttl_in_seconds(),
        ))
    }

    /// One UpdateAuthorizer call with all patch operations; nothing to patch makes no call.
    pub async fn update_authorizer(
        &self,
        api_id: &str,
        id: &str,
        ops: &[PatchOp],
    ) -> Result<(), AwsError> {
        if ops.is_empty() {
            return Ok(());
        }
        let ops: Vec<PatchOperation> = ops.iter().map(to_sdk_patch).collect();
        let resource = format!("{api_id}/authorizers/{id}");
        self.call(Service::ApiGateway, "UpdateAuthorizer", &resource, || {
            self.apigateway
                .update_authorizer()
                .rest_api_id(api_id)
                .authorizer_id(id)
                .set_patch_operations(Some(ops.clone()))
                .send()
        })
        .await?;
        Ok(())
    }

    /// Delete an authorizer; one that is already gone (or whose API is) counts as deleted.
    pub async fn delete_authorizer(&self, api_id: &str, id: &str) -> Result<(), AwsError> {
        let resource = format!("{api_id}/authorizers/{id}");
        let res = self
            .call(Service::ApiGateway, "DeleteAuthorizer", &resource, || {
                self.apigateway
                    .delete_authorizer()
                    .rest_api_id(api_id)
                    .authorizer_id(id)
                    .send()
            })
            .await;
        gone_or_checked(res, || async {
            Ok(self.get_authorizer(api_id, id).await?.is_some())
        })
        .await
    }

    /// Whether a Cognito user pool (by id or ARN) exists. The pool is looked up in
    /// the region its id names, which need not be the operator's.
    pub async fn user_pool_exists(&self, pool_id_or_arn: &str) -> Result<bool, AwsError> {
        let Some(pool_id) = user_pool_id(pool_id_or_arn) else {
            // Not a pool id at all, so no such pool; the spec error says why.
            return Ok(false);
        };
        let pool_region = user_pool_region(pool_id).filter(|r| *r != self.region);
        let res = self
            .call(Service::Cognito, "DescribeUserPool", pool_id, || {
                let request = self.cognito.describe_user_pool().user_pool_id(pool_id);
                match pool_region {
                    Some(region) => request
                        .customize()
                        .config_override(
                            aws_sdk_cognitoidentityprovider::config::Builder::default()
                                .region(aws_config::Region::new(region.to_string())),
                        )
                        .send(),
                    None => request.customize().send(),
                }
            })
            .await;
        Ok(res.found()?.is_some())
    }
}

#[allow(clippy::too_many_arguments)]
fn observed(
    id: Option<&str>,
    name: Option<&str>,
    type_: Option<&AuthorizerType>,
    provider_arns: &[String],
    authorizer_uri: Option<&str>,
    authorizer_credentials: Option<&str>,
    identity_source: Option<&str>,
    identity_validation_expression: Option<&str>,
    result_ttl: Option<i32>,
) -> ObservedAuthorizer {
    let non_empty = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
    ObservedAuthorizer {
        id: id.unwrap_or_default().to_string(),
        settings: AuthorizerSettings {
            name: name.unwrap_or_default().to_string(),
            type_: type_.map(|t| t.as_str().to_string()).unwrap_or_default(),
            provider_arns: provider_arns.iter().cloned().collect(),
            authorizer_uri: non_empty(authorizer_uri),
            authorizer_credentials: non_empty(authorizer_credentials),
            identity_source: identity_source.unwrap_or_default().to_string(),
            identity_validation_expression: non_empty(identity_validation_expression),
            result_ttl: result_ttl.unwrap_or(AWS_DEFAULT_RESULT_TTL),
        },
    }
}
