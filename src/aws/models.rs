//! Models and request validators of a REST API.

use super::error::gone_or_checked;
use super::{Aws, AwsError, Service};
use crate::plan::PatchOp;
use crate::plan::models::{
    ModelAction, ObservedDocumentationPart, ObservedGatewayResponse, ObservedModel,
    ObservedValidator,
};

impl Aws {
    pub async fn get_models(&self, api_id: &str) -> Result<Vec<ObservedModel>, AwsError> {
        let mut out = Vec::new();
        let mut position: Option<String> = None;
        loop {
            let page = self
                .call(Service::ApiGateway, "GetModels", api_id, || {
                    self.apigateway
                        .get_models()
                        .rest_api_id(api_id)
                        .limit(500)
                        .set_position(position.clone())
                        .send()
                })
                .await?;
            out.extend(page.items().iter().map(|m| ObservedModel {
                name: m.name().unwrap_or_default().to_string(),
                schema: m.schema().unwrap_or_default().to_string(),
            }));
            match page.position() {
                Some(next) if !next.is_empty() && Some(next) != position.as_deref() => {
                    position = Some(next.to_string())
                }
                _ => return Ok(out),
            }
        }
    }

    pub async fn get_request_validators(
        &self,
        api_id: &str,
    ) -> Result<Vec<ObservedValidator>, AwsError> {
        let page = self
            .call(Service::ApiGateway, "GetRequestValidators", api_id, || {
                self.apigateway
                    .get_request_validators()
                    .rest_api_id(api_id)
                    .limit(500)
                    .send()
            })
            .await?;
        Ok(page
            .items()
            .iter()
            .map(|v| ObservedValidator {
                id: v.id().unwrap_or_default().to_string(),
                name: v.name().unwrap_or_default().to_string(),
                body: v.validate_request_body(),
                parameters: v.validate_request_parameters(),
            })
            .collect())
    }

    /// Every gateway response of the API, API Gateway's defaults included.
    pub async fn get_gateway_responses(
        &self,
        api_id: &str,
    ) -> Result<Vec<ObservedGatewayResponse>, AwsError> {
        let mut out = Vec::new();
        let mut position: Option<String> = None;
        loop {
            let page = self
                .call(Service::ApiGateway, "GetGatewayResponses", api_id, || {
                    self.apigateway
                        .get_gateway_responses()
                        .rest_api_id(api_id)
                        .limit(500)
                        .set_position(position.clone())
                        .send()
                })
                .await?;
            out.extend(page.items().iter().map(|r| {
                ObservedGatewayResponse {
                    response_type: r
                        .response_type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    status_code: r.status_code().map(str::to_string),
                    parameters: r
                        .response_parameters()
                        .map(|m| m.clone().into_iter().collect())
                        .unwrap_or_default(),
                    templates: r
                        .response_templates()
                        .map(|m| m.clone().into_iter().collect())
                        .unwrap_or_default(),
                    default: r.default_response(),
                }
            }));
            match page.position() {
                Some(next) if !next.is_empty() && Some(next) != position.as_deref() => {
                    position = Some(next.to_string())
                }
                _ => return Ok(out),
            }
        }
    }

    /// Every documentation part of the API.
    pub async fn get_documentation_parts(
        &self,
        api_id: &str,
    ) -> Result<Vec<ObservedDocumentationPart>, AwsError> {
        let mut out = Vec::new();
        let mut position: Option<String> = None;
        loop {
            let page = self
                .call(Service::ApiGateway, "GetDocumentationParts", api_id, || {
                    self.apigateway
                        .get_documentation_parts()
                        .rest_api_id(api_id)
                        .limit(500)
                        .set_position(position.clone())
                        .send()
                })
                .await?;
            out.extend(page.items().iter().map(|p| {
                let location = p.location();
                ObservedDocumentationPart {
                    id: p.id().unwrap_or_default().to_string(),
                    kind: location
                        .map(|l| l.r#type().as_str().to_string())
                        .unwrap_or_default(),
                    path: location.and_then(|l| l.path()).map(str::to_string),
                    method: location.and_then(|l| l.method()).map(str::to_string),
                    status_code: location.and_then(|l| l.status_code()).map(str::to_string),
                    name: location.and_then(|l| l.name()).map(str::to_string),
                }
            }));
            match page.position() {
                Some(next) if !next.is_empty() && Some(next) != position.as_deref() => {
                    position = Some(next.to_string())
                }
                _ => return Ok(out),
            }
        }
    }

    /// Carry out one model or validator action; returns the id of a created validator.
    pub async fn apply_model_action(
        &self,
        api_id: &str,
        action: &ModelAction,
    ) -> Result<Option<String>, AwsError> {
        match action {
            ModelAction::CreateModel {
                name,
                content_type,
                schema,
            } => {
                self.call(Service::ApiGateway, "CreateModel", name, || {
                    self.apigateway
                        .create_model()
                        .rest_api_id(api_id)
                        .name(name)
                        .content_type(content_type)
                        .schema(schema)
                        .send()
                })
                .await?;
            }
            ModelAction::UpdateModel { name, schema } => {
                let op = super::rest_api::to_sdk_patch(&PatchOp::replace("/schema", schema));
                self.call(Service::ApiGateway, "UpdateModel", name, || {
                    self.apigateway
                        .update_model()
                        .rest_api_id(api_id)
                        .model_name(name)
                        .patch_operations(op.clone())
                        .send()
                })
                .await?;
            }
            ModelAction::DeleteModel { name } => {
                let res = self
                    .call(Service::ApiGateway, "DeleteModel", name, || {
                        self.apigateway
                            .delete_model()
                            .rest_api_id(api_id)
                            .model_name(name)
                            .send()
                    })
                    .await;
                if let Err(e) = res
                    && !e.is_not_found()
                {
                    return Err(e);
                }
            }
            ModelAction::CreateValidator {
                name,
                body,
                parameters,
            } => {
                let created = self
                    .call(Service::ApiGateway, "CreateRequestValidator", name, || {
                        self.apigateway
                            .create_request_validator()
                            .rest_api_id(api_id)
                            .name(name)
                            .validate_request_body(*body)
                            .validate_request_parameters(*parameters)
                            .send()
                    })
                    .await?;
                return Ok(created.id().map(str::to_string));
            }
            ModelAction::DeleteValidator { id } => {
                let res = self
                    .call(Service::ApiGateway, "DeleteRequestValidator", id, || {
                        self.apigateway
                            .delete_request_validator()
                            .rest_api_id(api_id)
                            .request_validator_id(id)
                            .send()
                    })
                    .await;
                gone_or_checked(res, || async {
                    let validators = self.get_request_validators(api_id).await?;
                    Ok(validators.iter().any(|v| &v.id == id))
                })
                .await?;
            }
        }
        Ok(None)
    }
}
