//! Request validators and models (JSON Schema) that Routes' request validation
//! and responses need. Names are derived from the route, so the planner and the
//! method builder agree on them without any AWS id, and the operator's own
//! models and validators (prefix `Apigw` / `apigw-`) are told apart from others.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::route::RouteSpec;

/// Prefix of every model the operator creates (model names are alphanumeric).
pub const MODEL_PREFIX: &str = "Apigw";
/// Prefix of every request validator the operator creates.
pub const VALIDATOR_PREFIX: &str = "apigw-";

/// `Apigw` + the words of each part, capitalised: ("upload-photo", "request",
/// "application/json") -> `ApigwUploadPhotoRequestApplicationJson`.
pub fn model_name(parts: &[&str]) -> String {
    let mut out = String::from(MODEL_PREFIX);
    for part in parts {
        for word in part
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                out.push(first.to_ascii_uppercase());
                out.push_str(chars.as_str());
            }
        }
    }
    out
}

/// Model of a route's request body for a content type.
pub fn request_model_name(route: &str, content_type: &str) -> String {
    model_name(&[route, "request", content_type])
}

/// Model of a route's response for a status code and content type.
pub fn response_model_name(route: &str, status: &str, content_type: &str) -> String {
    model_name(&[route, "response", status, content_type])
}

/// The validator a route's validation needs: one per combination, shared by routes.
pub fn validator_name(body: bool, parameters: bool) -> Option<String> {
    let kind = match (body, parameters) {
        (true, true) => "body-and-parameters",
        (true, false) => "body",
        (false, true) => "parameters",
        (false, false) => return None,
    };
    Some(format!("{VALIDATOR_PREFIX}{kind}"))
}

/// A model to have in the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredModel {
    pub content_type: String,
    /// The schema as compact JSON.
    pub schema: String,
}

/// Models and validators that the given (live) routes need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DesiredModels {
    pub models: BTreeMap<String, DesiredModel>,
    pub validators: BTreeSet<String>,
}

impl DesiredModels {
    pub fn is_empty(&self) -> bool {
        self.models.is_empty() && self.validators.is_empty()
    }
}

/// A model of the route's own that API Gateway would store: a built-in one is the
/// API's already, and a schema it would refuse is not planned (its route says why).
fn fits(model: &crate::api::route::Model) -> bool {
    model.built_in.is_none() && model.schema.to_string().len() <= super::routes::MODEL_MAX_BYTES
}

pub fn desired_models<'a>(
    routes: impl IntoIterator<Item = (&'a str, &'a RouteSpec)>,
) -> DesiredModels {
    let mut out = DesiredModels::default();
    for (name, spec) in routes {
        if let Some(v) = &spec.request_validation {
            if let Some(validator) = validator_name(v.body, v.parameters) {
                out.validators.insert(validator);
            }
            for (ct, model) in v.models.iter().filter(|(_, m)| fits(m)) {
                out.models.insert(
                    request_model_name(name, ct),
                    DesiredModel {
                        content_type: ct.clone(),
                        schema: model.schema.to_string(),
                    },
                );
            }
        }
        for response in &spec.responses {
            for (ct, model) in response.models.iter().filter(|(_, m)| fits(m)) {
                out.models.insert(
                    response_model_name(name, &response.status_code, ct),
                    DesiredModel {
                        content_type: ct.clone(),
                        schema: model.schema.to_string(),
                    },
                );
            }
        }
    }
    out
}

/// A model as read from AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedModel {
    pub name: String,
    pub schema: String,
}

/// A validator as read from AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedValidator {
    pub id: String,
    pub name: String,
    pub body: bool,
    pub parameters: bool,
}

/// A gateway response as read from AWS (GetGatewayResponses lists every type,
/// the defaults too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedGatewayResponse {
    pub response_type: String,
    pub status_code: Option<String>,
    pub parameters: BTreeMap<String, String>,
    pub templates: BTreeMap<String, String>,
    /// API Gateway's own response, not one put on this API.
    pub default: bool,
}

/// A documentation part as read from AWS, by where it documents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedDocumentationPart {
    pub id: String,
    /// `API`, `RESOURCE`, `METHOD`, `MODEL`, ...
    pub kind: String,
    pub path: Option<String>,
    pub method: Option<String>,
    pub status_code: Option<String>,
    pub name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelAction {
    CreateModel {
        name: String,
        content_type: String,
        schema: String,
    },
    UpdateModel {
        name: String,
        schema: String,
    },
    DeleteModel {
        name: String,
    },
    CreateValidator {
        name: String,
        body: bool,
        parameters: bool,
    },
    DeleteValidator {
        id: String,
    },
}

/// Plan models and validators: what must exist before methods are put, and what
/// can go after (models and validators of the operator that nothing needs any more).
pub fn plan_models(
    desired: &DesiredModels,
    models: &[ObservedModel],
    validators: &[ObservedValidator],
) -> (Vec<ModelAction>, Vec<ModelAction>) {
    let mut before = Vec::new();
    let mut after = Vec::new();
    for (name, want) in &desired.models {
        match models.iter().find(|m| &m.name == name) {
            None => before.push(ModelAction::CreateModel {
                name: name.clone(),
                content_type: want.content_type.clone(),
                schema: want.schema.clone(),
            }),
            Some(have) if !same_json(&have.schema, &want.schema) => {
                before.push(ModelAction::UpdateModel {
                    name: name.clone(),
                    schema: want.schema.clone(),
                })
            }
            Some(_) => {}
        }
    }
    for m in models {
        if m.name.starts_with(MODEL_PREFIX) && !desired.models.contains_key(&m.name) {
            after.push(ModelAction::DeleteModel {
                name: m.name.clone(),
            });
        }
    }
    for name in &desired.validators {
        if !validators.iter().any(|v| &v.name == name) {
            let (body, parameters) = match name.strip_prefix(VALIDATOR_PREFIX) {
                Some("body") => (true, false),
                Some("parameters") => (false, true),
                _ => (true, true),
            };
            before.push(ModelAction::CreateValidator {
                name: name.clone(),
                body,
                parameters,
            });
        }
    }
    for v in validators {
        if v.name.starts_with(VALIDATOR_PREFIX) && !desired.validators.contains(&v.name) {
            after.push(ModelAction::DeleteValidator { id: v.id.clone() });
        }
    }
    (before, after)
}

/// AWS re-serialises schemas; compare them as JSON values.
fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
#[path = "models_tests.rs"]
mod tests;
