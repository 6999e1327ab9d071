//! The resource tree and methods of a REST API: one paginated read for all of it,
//! and the writes that carry out a structure plan.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_apigateway::types::{ConnectionType, ContentHandlingStrategy, IntegrationType, Method};

use super::{Aws, AwsError, Service};
use crate::plan::routes::{
    IntegrationResponseSettings, IntegrationSettings, MethodResponseSettings, MethodSettings,
    ObservedResource, StructureAction, last_segment, parent_path,
};

const PAGE_SIZE: i32 = 500;

impl Aws {
    /// Every resource with its methods, integrations and responses (embed=methods).
    pub async fn get_resources(&self, api_id: &str) -> Result<Vec<ObservedResource>, AwsError> {
        let mut out = Vec::new();
        let mut position: Option<String> = None;
        loop {
            let page = self
                .call(Service::ApiGateway, "GetResources", api_id, || {
                    self.apigateway
                        .get_resources()
                        .rest_api_id(api_id)
                        .embed("methods")
                        .limit(PAGE_SIZE)
                        .set_position(position.clone())
                        .send()
                })
                .await?;
            for r in page.items() {
                out.push(ObservedResource {
                    id: r.id().unwrap_or_default().to_string(),
                    path: r.path().unwrap_or_default().to_string(),
                    methods: r
                        .resource_methods()
                        .map(|m| {
                            m.iter()
                                .map(|(verb, method)| (verb.clone(), observed_method(method)))
                                .collect()
                        })
                        .unwrap_or_default(),
                });
            }
            match page.position() {
                Some(next) if !next.is_empty() && Some(next) != position.as_deref() => {
                    position = Some(next.to_string())
                }
                _ => return Ok(out),
            }
        }
    }

    /// Carry out a structure plan. `ids` maps paths to resource ids and is kept up
    /// to date as resources are created and deleted, so the caller can report them.
    pub async fn apply_structure_action(
        &self,
        api_id: &str,
        ids: &mut BTreeMap<String, String>,
        action: &StructureAction,
    ) -> Result<(), AwsError> {
        match action {
            StructureAction::CreateResource { path } => {
                let parent = ids
                    .get(&parent_path(path))
                    .cloned()
                    .ok_or_else(|| missing_parent(api_id, path))?;
                let resource = format!("{api_id} {path}");
                let create = || {
                    self.call(Service::ApiGateway, "CreateResource", &resource, || {
                        self.apigateway
                            .create_resource()
                            .rest_api_id(api_id)
                            .parent_id(&parent)
                            .path_part(last_segment(path))
                            .send()
                    })
                };
                let id = match create().await {
                    Ok(created) => created.id().unwrap_or_default().to_string(),
                    // An unknown outcome (a reset, a timeout, a 500): AWS may have
                    // made it. A second create would make a second resource of the
                    // path in moto (AWS answers 409 without its id), so the tree is
                    // read first, and the create sent again only if it is not there.
                    Err(e) if e.kind == super::ErrorKind::Transient && !e.never_processed() => {
                        tracing::debug!(%path, error = %e, "CreateResource outcome unknown; reading the tree");
                        let made = self
                            .get_resources(api_id)
                            .await?
                            .into_iter()
                            .find(|r| &r.path == path);
                        match made {
                            Some(found) => found.id,
                            None => create().await?.id().unwrap_or_default().to_string(),
                        }
                    }
                    Err(e) => return Err(e),
                };
                ids.insert(path.clone(), id);
            }
            StructureAction::DeleteMethod { path, verb } => {
                let Some(resource_id) = ids.get(path) else {
                    return Ok(());
                };
                let resource = format!("{api_id} {verb} {path}");
                let res = self
                    .call(Service::ApiGateway, "DeleteMethod", &resource, || {
                        self.apigateway
                            .delete_method()
                            .rest_api_id(api_id)
                            .resource_id(resource_id)
                            .http_method(verb)
                            .send()
                    })
                    .await;
                match res {
                    Err(e) if !e.is_not_found() => return Err(e),
                    _ => {}
                }
            }
            StructureAction::PutMethod {
                path,
                verb,
                settings,
            } => {
                let resource_id = ids
                    .get(path)
                    .cloned()
                    .ok_or_else(|| missing_parent(api_id, path))?;
                self.put_method_with_integration(api_id, &resource_id, path, verb, settings)
                    .await?;
            }
            StructureAction::DeleteResource { path } => {
                let Some(resource_id) = ids.get(path).cloned() else {
                    return Ok(());
                };
                let resource = format!("{api_id} {path}");
                let res = self
                    .call(Service::ApiGateway, "DeleteResource", &resource, || {
                        self.apigateway
                            .delete_resource()
                            .rest_api_id(api_id)
                            .resource_id(&resource_id)
                            .send()
                    })
                    .await;
                match res {
                    Err(e) if !e.is_not_found() => return Err(e),
                    _ => {
                        ids.remove(path);
                    }
                }
            }
        }
        Ok(())
    }

    /// PutMethod, PutIntegration, then the method and integration responses.
    async fn put_method_with_integration(
        &self,
        api_id: &str,
        resource_id: &str,
        path: &str,
        verb: &str,
        m: &MethodSettings,
    ) -> Result<(), AwsError> {
        let resource = format!("{api_id} {verb} {path}");
        self.call(Service::ApiGateway, "PutMethod", &resource, || {
            self.apigateway
                .put_method()
                .rest_api_id(api_id)
                .resource_id(resource_id)
                .http_method(verb)
                .authorization_type(&m.authorization_type)
                .set_authorizer_id(m.authorizer_id.clone())
                .set_authorization_scopes(
                    (!m.authorization_scopes.is_empty())
                        .then(|| m.authorization_scopes.iter().cloned().collect()),
                )
                .api_key_required(m.api_key_required)
                .set_operation_name(m.operation_name.clone())
                .set_request_parameters(non_empty(&m.request_parameters))
                .set_request_validator_id(m.request_validator_id.clone())
                .set_request_models(non_empty(&m.request_models))
                .send()
        })
        .await?;
        for (status, response) in &m.responses {
            self.call(Service::ApiGateway, "PutMethodResponse", &resource, || {
                self.apigateway
                    .put_method_response()
                    .rest_api_id(api_id)
                    .resource_id(resource_id)
                    .http_method(verb)
                    .status_code(status)
                    .set_response_parameters(non_empty(&response.parameters))
                    .set_response_models(non_empty(&response.models))
                    .send()
            })
            .await?;
        }
        let Some(i) = &m.integration else {
            return Ok(());
        };
        self.call(Service::ApiGateway, "PutIntegration", &resource, || {
            self.apigateway
                .put_integration()
                .rest_api_id(api_id)
                .resource_id(resource_id)
                .http_method(verb)
                .r#type(IntegrationType::from(i.type_.as_str()))
                .set_integration_http_method(i.http_method.clone())
                .set_uri(i.uri.clone())
                .set_connection_type(i.connection_type.as_deref().map(ConnectionType::from))
                .set_connection_id(i.connection_id.clone())
                .set_credentials(i.credentials.clone())
                .set_request_parameters(non_empty(&i.request_parameters))
                .set_request_templates(non_empty(&i.request_templates))
                .passthrough_behavior(&i.passthrough_behavior)
                .set_content_handling(
                    i.content_handling
                        .as_deref()
                        .map(ContentHandlingStrategy::from),
                )
                .timeout_in_millis(i.timeout_millis)
                .set_cache_key_parameters(
                    (!i.cache_key_parameters.is_empty())
                        .then(|| i.cache_key_parameters.iter().cloned().collect()),
                )
                .send()
        })
        .await?;
        for (status, response) in &i.responses {
            self.call(
                Service::ApiGateway,
                "PutIntegrationResponse",
                &resource,
                || {
                    self.apigateway
                        .put_integration_response()
                        .rest_api_id(api_id)
                        .resource_id(resource_id)
                        .http_method(verb)
                        .status_code(status)
                        .set_selection_pattern(response.selection_pattern.clone())
                        .set_response_parameters(non_empty(&response.parameters))
                        .set_response_templates(non_empty(&response.templates))
                        .set_content_handling(
                            response
                                .content_handling
                                .as_deref()
                                .map(ContentHandlingStrategy::from),
                        )
                        .send()
                },
            )
            .await?;
        }
        Ok(())
    }
}

fn missing_parent(api_id: &str, path: &str) -> AwsError {
    AwsError {
        service: "apigateway",
        operation: "CreateResource",
        resource: format!("{api_id} {path}"),
        kind: super::ErrorKind::Transient,
        code: "ParentMissing".into(),
        message: format!(
            "the parent of {path} is not in the API yet; it is created on the next pass"
        ),
    }
}

fn non_empty<K: Clone + std::hash::Hash + Eq, V: Clone>(
    map: &BTreeMap<K, V>,
) -> Option<HashMap<K, V>> {
    (!map.is_empty()).then(|| map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn sorted<V: Clone>(map: Option<&HashMap<String, V>>) -> BTreeMap<String, V> {
    map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn observed_method(m: &Method) -> MethodSettings {
    MethodSettings {
        authorization_type: m.authorization_type().unwrap_or("NONE").to_string(),
        authorizer_id: m.authorizer_id().map(str::to_string),
        authorization_scopes: m.authorization_scopes().iter().cloned().collect(),
        api_key_required: m.api_key_required().unwrap_or(false),
        operation_name: m.operation_name().map(str::to_string),
        request_parameters: sorted(m.request_parameters()),
        request_validator_id: m.request_validator_id().map(str::to_string),
        request_models: sorted(m.request_models()),
        responses: m
            .method_responses()
            .map(|r| {
                r.iter()
                    .map(|(status, resp)| {
                        (
                            status.clone(),
                            MethodResponseSettings {
                                parameters: sorted(resp.response_parameters()),
                                models: sorted(resp.response_models()),
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        integration: m.method_integration().map(|i| IntegrationSettings {
            type_: i
                .r#type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            http_method: i.http_method().map(str::to_string),
            uri: i.uri().map(str::to_string),
            connection_type: i
                .connection_type()
                .map(|c| c.as_str().to_string())
                .filter(|c| c != "INTERNET"),
            connection_id: i.connection_id().map(str::to_string),
            credentials: i.credentials().map(str::to_string),
            request_parameters: sorted(i.request_parameters()),
            request_templates: sorted(i.request_templates()),
            passthrough_behavior: i.passthrough_behavior().unwrap_or_default().to_string(),
            content_handling: i.content_handling().map(|c| c.as_str().to_string()),
            timeout_millis: i.timeout_in_millis(),
            cache_key_parameters: i.cache_key_parameters().iter().cloned().collect(),
            responses: i
                .integration_responses()
                .map(|r| {
                    r.iter()
                        .map(|(status, resp)| {
                            (
                                status.clone(),
                                IntegrationResponseSettings {
                                    selection_pattern: resp.selection_pattern().map(str::to_string),
                                    parameters: sorted(resp.response_parameters()),
                                    templates: sorted(resp.response_templates()),
                                    content_handling: resp
                                        .content_handling()
                                        .map(|c| c.as_str().to_string()),
                                },
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }),
    }
}
