//! The custom resource kinds of group `apigw.rs`, version `v1alpha1`.

// Each `printcolumn(...)` of kube-derive repeats `type_ = ...`; clippy reads the
// repetition as a duplicated attribute.
#![allow(clippy::duplicated_attributes)]

pub mod account_binding;
pub mod api_key;
pub mod authorizer;
pub mod common;
pub mod domain_name;
pub mod rest_api;
pub mod route;
pub mod stage;
pub mod usage_plan;
pub mod websocket_api;

pub use account_binding::{AwsAccountBinding, AwsAccountBindingSpec, AwsAccountBindingStatus};
pub use api_key::{ApiKey, ApiKeySpec, ApiKeyStatus};
pub use authorizer::{Authorizer, AuthorizerSpec, AuthorizerStatus};
pub use common::{Condition, DeletionPolicy, LocalObjectReference};
pub use domain_name::{DomainName, DomainNameSpec, DomainNameStatus};
pub use rest_api::{RestApi, RestApiSpec, RestApiStatus};
pub use route::{Route, RouteSpec, RouteStatus};
pub use stage::{Stage, StageSpec, StageStatus};
pub use usage_plan::{UsagePlan, UsagePlanSpec, UsagePlanStatus};
pub use websocket_api::{WebSocketApi, WebSocketApiSpec, WebSocketApiStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Every CRD the operator serves, in a stable order.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    vec![
        RestApi::crd(),
        Route::crd(),
        Authorizer::crd(),
        Stage::crd(),
        DomainName::crd(),
        UsagePlan::crd(),
        ApiKey::crd(),
        WebSocketApi::crd(),
        AwsAccountBinding::crd(),
    ]
}

/// All CRDs as one multi-document YAML stream, as checked in under `crds/`.
/// serde-saphyr quotes what YAML 1.1 would read as another type (`OFF`, `yes`):
/// kubectl and Helm read YAML 1.1, so an enum value like `OFF` (a stage log
/// level) stays a string for every reader.
pub fn crds_yaml() -> Result<String, serde_saphyr::SerializeError> {
    let mut out = String::new();
    for crd in all_crds() {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&crd)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `OFF` in an enum must not become the boolean false for kubectl.
    #[test]
    fn generated_crds_quote_yaml11_booleans() {
        let yaml = crds_yaml().unwrap();
        assert!(
            yaml.contains("default: \"OFF\"") || yaml.contains("default: 'OFF'"),
            "the log level default is quoted"
        );
        assert!(!yaml.contains("default: OFF"));
        assert!(!yaml.contains("- OFF\n"));
    }
}
