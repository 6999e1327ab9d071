//! apigw-operator: Amazon API Gateway managed from Kubernetes custom resources.
//!
//! `api` holds the custom resource kinds, `plan` the pure desired-vs-observed
//! diffing, `aws` the only code that talks to AWS, and `controller` the thin
//! reconcilers that observe, plan, apply and report.

// The reconcile futures (finalizer, tenant scope, converge) nest deeply enough
// to pass the compiler's default layout query depth.
#![recursion_limit = "256"]

pub mod api;
pub mod aws;
pub mod config;
pub mod controller;
pub mod export;
pub mod memory;
pub mod plan;
pub mod telemetry;
