//! apigw-operator: Amazon API Gateway managed from Kubernetes custom resources.
//!
//! `api` holds the custom resource kinds, `plan` the pure desired-vs-observed
//! diffing, `aws` the only code that talks to AWS, and `controller` the thin
//! reconcilers that observe, plan, apply and report.

pub mod api;
pub mod aws;
pub mod config;
pub mod controller;
pub mod plan;
pub mod telemetry;
