//! Pure planning: desired spec + observed AWS state -> the actions that converge them.
//! No I/O here; everything is unit-tested, and a converged resource plans nothing.

pub mod access;
pub mod api_key;
pub mod authorizer;
pub mod claims;
pub mod domain_name;
pub mod export;
pub mod lambda;
pub mod models;
pub mod openapi;
pub mod ownership;
pub mod rest_api;
pub mod routes;
pub mod stage;
pub mod usage_plan;
pub mod websocket;

/// One JSON-Patch-like operation of API Gateway's `patchOperations`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchOp {
    pub op: PatchKind,
    pub path: String,
    pub value: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    Add,
    Remove,
    Replace,
}

impl PatchOp {
    pub fn replace(path: impl Into<String>, value: impl Into<String>) -> Self {
        PatchOp {
            op: PatchKind::Replace,
            path: path.into(),
            value: Some(value.into()),
        }
    }
    pub fn add(path: impl Into<String>, value: Option<String>) -> Self {
        PatchOp {
            op: PatchKind::Add,
            path: path.into(),
            value,
        }
    }
    pub fn remove(path: impl Into<String>, value: Option<String>) -> Self {
        PatchOp {
            op: PatchKind::Remove,
            path: path.into(),
            value,
        }
    }
}

/// Tags to set (added or changed) and tag keys to remove so `observed` becomes
/// `desired`. `aws:` tags are AWS's own: never removed.
pub fn tag_changes(
    desired: &std::collections::BTreeMap<String, String>,
    observed: &std::collections::BTreeMap<String, String>,
) -> (std::collections::BTreeMap<String, String>, Vec<String>) {
    let tag = desired
        .iter()
        .filter(|(k, v)| observed.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let untag = observed
        .keys()
        .filter(|k| !desired.contains_key(*k) && !k.starts_with("aws:"))
        .cloned()
        .collect();
    (tag, untag)
}

/// Escape a value for use inside a patch path (`/` becomes `~1`, `~` becomes `~0`).
pub fn escape_path_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}
