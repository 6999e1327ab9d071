//! The checked-in CRDs are exactly what the binary generates.

#[path = "common/checkout.rs"]
mod checkout;

use checkout::checkout;

/// `crds/apigw.rs.yaml` must be regenerated (`apigw-operator crds > crds/apigw.rs.yaml`)
/// whenever an API type changes, or users would install a stale schema.
#[test]
fn checked_in_crds_match_generated() {
    let generated = apigw_operator::api::crds_yaml().expect("CRDs serialize");
    let path = &checkout("/crds/apigw.rs.yaml");
    let checked_in = std::fs::read_to_string(path).expect("crds/apigw.rs.yaml exists");
    assert!(
        generated == checked_in,
        "crds/apigw.rs.yaml is stale: run `cargo run -- crds > crds/apigw.rs.yaml` and commit it"
    );
}

/// Every namespaced kind is in the `apigw` category so `kubectl get apigw` lists
/// them all; the cluster-scoped AwsAccountBinding is not (a team that may not read
/// bindings would get a Forbidden from `kubectl get apigw`). Every kind has a
/// status subresource so status writes never touch spec.
#[test]
fn every_crd_has_category_status_and_printer_columns() {
    for crd in apigw_operator::api::all_crds() {
        let name = crd.metadata.name.clone().unwrap();
        let expected = (crd.spec.scope == "Namespaced").then(|| vec!["apigw".to_string()]);
        assert_eq!(crd.spec.names.categories, expected, "{name}");
        assert!(
            crd.spec
                .names
                .short_names
                .as_ref()
                .is_some_and(|s| !s.is_empty()),
            "{name} short name"
        );
        let version = &crd.spec.versions[0];
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{name} status subresource"
        );
        let columns = version
            .additional_printer_columns
            .as_ref()
            .expect("printer columns");
        assert!(
            columns.iter().any(|c| c.name == "Ready"),
            "{name} Ready column"
        );
    }
}

/// `kubectl explain` has something to say about every field of every spec and
/// status: a field without a description is a doc comment missing in `src/api`.
#[test]
fn every_field_has_a_description() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
    };
    fn walk(path: &str, schema: &JSONSchemaProps, missing: &mut Vec<String>) {
        for (name, property) in schema.properties.iter().flatten() {
            let here = format!("{path}.{name}");
            if property
                .description
                .as_deref()
                .unwrap_or_default()
                .is_empty()
            {
                missing.push(here.clone());
            }
            walk(&here, property, missing);
        }
        if let Some(JSONSchemaPropsOrArray::Schema(items)) = &schema.items {
            walk(&format!("{path}[]"), items, missing);
        }
        if let Some(JSONSchemaPropsOrBool::Schema(values)) = &schema.additional_properties {
            walk(&format!("{path}{{}}"), values, missing);
        }
    }
    let mut missing = Vec::new();
    for crd in apigw_operator::api::all_crds() {
        let kind = &crd.spec.names.kind;
        let schema = crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("schema");
        for top in ["spec", "status"] {
            if let Some(part) = schema.properties.as_ref().and_then(|p| p.get(top)) {
                walk(&format!("{kind}.{top}"), part, &mut missing);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "fields without a description: {missing:?}"
    );
}
