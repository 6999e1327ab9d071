//! The custom resource kinds of group `apigw.rs`, version `v1alpha1`.

pub mod authorizer;
pub mod common;
pub mod rest_api;
pub mod route;
pub mod stage;

pub use authorizer::{Authorizer, AuthorizerSpec, AuthorizerStatus};
pub use common::{Condition, DeletionPolicy, LocalObjectReference};
pub use rest_api::{RestApi, RestApiSpec, RestApiStatus};
pub use route::{Route, RouteSpec, RouteStatus};
pub use stage::{Stage, StageSpec, StageStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Every CRD the operator serves, in a stable order.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    vec![RestApi::crd(), Route::crd(), Authorizer::crd(), Stage::crd()]
}

/// All CRDs as one multi-document YAML stream, as checked in under `crds/`.
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for crd in all_crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd)?);
    }
    Ok(out)
}
