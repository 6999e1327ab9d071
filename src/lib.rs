//! apigw-operator: Amazon API Gateway managed from Kubernetes custom resources.

pub mod api;
pub mod aws;
pub mod plan;
