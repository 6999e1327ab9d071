//! The structure of a RestApi built from an OpenAPI document (`spec.openapi`),
//! in place of `structure/` for Route-built APIs. The RestApi reconciler calls
//! it after the API's settings converge, so it stays the API's only writer.
//!
//! A pass reads the document (inline or from its ConfigMap), renders it (pure:
//! `plan/openapi.rs`), reads the API's structure once (resources, its gateway
//! responses, and the authorizers, request validators and models when the
//! document declares any), and sends the document
//! with PutRestApi (overwrite) only when the document changed or the structure in
//! AWS no longer is what the last import made: a resync with an unchanged document
//! and no drift writes nothing. A crash between the import and the status write
//! is repaired by importing again, which overwrites to the same result.
//!
//! It may touch: the API's structure in AWS (by overwrite), Lambda function
//! policies (only statements named `apigw-API_ID...`), the status and finalizers
//! of Routes and Authorizers naming the API (refused), Events.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::runtime::events::EventType;
use serde_json::json;

use super::children::{
    Child, Readiness, RestApiChildren, apply_status, is_deleting, next_conditions, readiness_event,
    remove_finalizer,
};
use super::conditions::{condition, now_rfc3339, set_condition};
use super::structure::StructureReport;
use super::{Context, Error};
use crate::api::RestApi;
use crate::api::rest_api::{AppliedDocument, OpenApiSource, RestApiStatus};
use crate::plan::lambda::FunctionRef;
use crate::plan::openapi::{HeldStructure, Home, RenderedDocument, held_fingerprint, render};
use crate::plan::rest_api::RestApiSettings;

/// The condition that carries API Gateway's warnings about the last import.
pub const IMPORT_WARNINGS: &str = "ImportWarnings";

/// The reason Routes and Authorizers of a document-built API get.
pub const DEFINED_BY_DOCUMENT: &str = "ApiDefinedByDocument";

/// Converge the API's structure to its document and report for the stage pass.
pub async fn converge(
    obj: &RestApi,
    ctx: &Context,
    api_id: &str,
    source: &OpenApiSource,
    settings: &RestApiSettings,
    status: &mut RestApiStatus,
) -> Result<StructureReport, Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let RestApiChildren {
        routes,
        authorizers,
        stages,
    } = RestApiChildren::list(ctx, obj).await?;
    refuse(ctx, &name, &routes).await?;
    refuse(ctx, &name, &authorizers).await?;

    let text = document_text(ctx, &namespace, source).await?;
    let account = ctx.aws.account_id().await?.to_string();
    let home = Home {
        partition: ctx.aws.partition(),
        region: &ctx.aws.region,
        account: &account,
    };
    let doc = render(&text, settings, home).map_err(|e| Error::InvalidDocument(e.to_string()))?;

    let mut found = read_structure(ctx, api_id, &doc).await?;
    let applied = status.document.as_ref();
    let why = match applied {
        None => Some("first import"),
        Some(a) if a.fingerprint != doc.fingerprint => Some("the document changed"),
        Some(a) if a.structure_fingerprint != found.fingerprint => {
            Some("the API drifted from the document")
        }
        Some(_) => None,
    };
    if let Some(why) = why {
        tracing::info!(
            why,
            methods = doc.methods.len(),
            "applying the OpenAPI document"
        );
        ctx.aws.note_planned(format!(
            "PutRestApi {api_id} (overwrite with the OpenAPI document, {} methods: {why})",
            doc.methods.len()
        ));
        if !ctx.aws.is_observe_only() {
            let (warnings, answered) = ctx
                .aws
                .put_rest_api(api_id, &doc.body, source.fail_on_warnings)
                .await?;
            super::rest_api::after_import(ctx, obj, api_id, answered);
            found = read_structure(ctx, api_id, &doc).await?;
            status.document = Some(AppliedDocument {
                fingerprint: doc.fingerprint.clone(),
                structure_fingerprint: found.fingerprint.clone(),
                methods: doc.methods.len(),
                applied_at: Some(now_rfc3339()),
            });
            report_warnings(obj, ctx, status, &doc, &warnings).await;
            ctx.event(
                obj,
                EventType::Normal,
                "Imported",
                "Import",
                format!(
                    "applied the OpenAPI document to REST API {api_id} ({why}): {} methods",
                    doc.methods.len()
                ),
            )
            .await;
        }
    }

    let (granted, missing) = converge_permissions(ctx, obj, api_id, &doc, &found).await?;
    let mut report = StructureReport {
        all_in_effect: missing.is_empty(),
        routes_in_effect: doc.methods.len(),
        canonical: doc.body.clone(),
        granted,
        stages,
        methods: doc.methods.clone(),
        ..Default::default()
    };
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|(f, _)| f.clone()).collect();
        report.blocking = names
            .iter()
            .map(|f| format!("Lambda function {f} (LambdaFunctionNotFound)"))
            .collect();
        report.failure = Some(Error::LambdaFunctionNotFound(format!(
            "Lambda function {} named in the OpenAPI document does not exist; API Gateway \
             is granted permission to invoke it once it exists",
            names.join(", ")
        )));
    }
    Ok(report)
}

/// The document text: inline, or the ConfigMap key it names.
async fn document_text(
    ctx: &Context,
    namespace: &str,
    source: &OpenApiSource,
) -> Result<String, Error> {
    if let Some(text) = &source.document {
        return Ok(text.clone());
    }
    let Some(key_ref) = &source.config_map_ref else {
        return Err(Error::InvalidDocument(
            "spec.openapi needs document or configMapRef".into(),
        ));
    };
    let config_map = ctx
        .api_in::<ConfigMap>(namespace)
        .get_opt(&key_ref.name)
        .await
        .map_err(Error::kube("get ConfigMap"))?;
    let Some(config_map) = config_map else {
        return Err(Error::DocumentNotFound(format!(
            "ConfigMap {} (spec.openapi.configMapRef) does not exist in namespace {namespace}",
            key_ref.name
        )));
    };
    config_map
        .data
        .and_then(|mut data| data.remove(&key_ref.key))
        .ok_or_else(|| {
            Error::DocumentNotFound(format!(
                "ConfigMap {} has no key {} (spec.openapi.configMapRef.key)",
                key_ref.name, key_ref.key
            ))
        })
}

/// What the API holds now, as far as the document decides it.
struct FoundStructure {
    /// `held_fingerprint` of what AWS holds: what a later read must match for the
    /// API not to have drifted.
    fingerprint: String,
    /// Authorizer ids by name (a re-import may leave several of one name).
    authorizer_ids: BTreeMap<String, Vec<String>>,
}

async fn read_structure(
    ctx: &Context,
    api_id: &str,
    doc: &RenderedDocument,
) -> Result<FoundStructure, Error> {
    let resources = ctx.aws.get_resources(api_id).await?;
    // Each list is read only for a document that declares its kind: one the
    // document leaves out is not the document's to put back. Gateway responses are
    // the exception: one put by hand changes the errors of every route, and an
    // overwrite replaces the API's definition with the document's, so they are read
    // for every document-built API (one listing).
    let authorizers = if doc.authorizers.is_empty() {
        Vec::new()
    } else {
        ctx.aws.get_authorizers(api_id).await?
    };
    let validators = if doc.validators.is_empty() {
        Vec::new()
    } else {
        ctx.aws.get_request_validators(api_id).await?
    };
    let models = if doc.models.is_empty() {
        Vec::new()
    } else {
        ctx.aws.get_models(api_id).await?
    };
    let gateway_responses = ctx.aws.get_gateway_responses(api_id).await?;
    let mut authorizer_ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in &authorizers {
        authorizer_ids
            .entry(a.settings.name.clone())
            .or_default()
            .push(a.id.clone());
    }
    let held = HeldStructure {
        resources: &resources,
        authorizers: &authorizers,
        validators: &validators,
        models: &models,
        gateway_responses: &gateway_responses,
    };
    Ok(FoundStructure {
        fingerprint: held_fingerprint(&held),
        authorizer_ids,
    })
}

/// The ImportWarnings condition (True while the last import had warnings), and a
/// Warning Event for a new set of them.
async fn report_warnings(
    obj: &RestApi,
    ctx: &Context,
    status: &mut RestApiStatus,
    doc: &RenderedDocument,
    warnings: &[String],
) {
    // A set: API Gateway's warnings in another order are not a new set to announce.
    let all: Vec<&str> = warnings
        .iter()
        .map(String::as_str)
        .chain(doc.replaced.iter().map(String::as_str))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let generation = obj.metadata.generation;
    let now = now_rfc3339();
    let new = if all.is_empty() {
        condition(
            IMPORT_WARNINGS,
            false,
            "NoWarnings",
            "API Gateway imported the document without warnings",
            generation,
            &now,
        )
    } else {
        condition(
            IMPORT_WARNINGS,
            true,
            "DocumentWarnings",
            all.join("; "),
            generation,
            &now,
        )
    };
    let before = status
        .conditions
        .iter()
        .find(|c| c.type_ == IMPORT_WARNINGS)
        .map(|c| c.message.clone());
    if !all.is_empty() && before.as_deref() != Some(new.message.as_str()) {
        ctx.event(
            obj,
            EventType::Warning,
            "DocumentWarnings",
            "Import",
            new.message.clone(),
        )
        .await;
    }
    set_condition(&mut status.conditions, new);
}

/// Grant API Gateway the right to invoke the functions the document's integrations
/// and Lambda authorizers call, one statement per function per API (one per
/// authorizer id for authorizers); grants the document no longer needs go.
async fn converge_permissions(
    ctx: &Context,
    obj: &RestApi,
    api_id: &str,
    doc: &RenderedDocument,
    found: &FoundStructure,
) -> Result<
    (
        Vec<crate::api::rest_api::LambdaPermissionGrant>,
        BTreeSet<crate::plan::lambda::PolicyKey>,
    ),
    Error,
> {
    let route_functions: Vec<FunctionRef> = doc
        .route_functions
        .iter()
        .filter_map(|f| FunctionRef::parse(f).ok())
        .collect();
    let authorizer_functions: Vec<(String, FunctionRef)> = doc
        .authorizer_functions
        .iter()
        .filter_map(|(scheme, f)| {
            Some((
                found.authorizer_ids.get(scheme)?,
                FunctionRef::parse(f).ok()?,
            ))
        })
        .flat_map(|(ids, f)| ids.iter().map(move |id| (id.clone(), f.clone())))
        .collect();
    let recorded = obj
        .status
        .as_ref()
        .map(|s| s.lambda_permissions.as_slice())
        .unwrap_or_default();
    super::permissions::converge_for_api(
        ctx,
        api_id,
        &route_functions,
        &authorizer_functions,
        recorded,
    )
    .await
}

/// What a Route or Authorizer of a document-built API is told, by the API's
/// reconciler and by its own (which answers first when the API is not Ready yet).
pub fn refusal(api_name: &str, kind: &str) -> Readiness {
    Readiness::not(
        DEFINED_BY_DOCUMENT,
        format!(
            "RestApi {api_name} takes its structure from its OpenAPI document (spec.openapi), so this {kind} \
             is not applied: put it in the document, or remove spec.openapi to build the API from objects"
        ),
    )
}

/// Routes and Authorizers cannot add to a document-built API: each is told so,
/// and one being deleted is let go (nothing of it is in AWS).
async fn refuse<K: Child>(ctx: &Context, api_name: &str, children: &[K]) -> Result<(), Error> {
    let readiness = refusal(api_name, K::KIND);
    for child in children {
        if is_deleting(child) {
            remove_finalizer(ctx, child).await?;
            continue;
        }
        let (conditions, changed) = next_conditions(child, &readiness);
        if !changed && child.conditions() == conditions.as_slice() {
            continue;
        }
        let status =
            json!({"observedGeneration": child.meta().generation, "conditions": conditions});
        apply_status(ctx, child, &status).await?;
        if changed {
            readiness_event(ctx, child, &readiness).await;
        }
    }
    Ok(())
}
