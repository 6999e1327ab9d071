//! apigw-operator: Amazon API Gateway managed from Kubernetes custom resources.

pub mod api;
