//! What a namespace may point the operator at: the allow-lists of its
//! AwsAccountBinding, checked before anything naming the value is made in AWS.
//! Pure; a list that is absent allows everything, an empty list nothing.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::api::account_binding::AwsAccountBindingSpec;

/// The allow-lists in force for one object, and the binding they come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    /// Name of the AwsAccountBinding, None for the operator's own identity (no
    /// binding: nothing restricted).
    pub binding: Option<String>,
    pub functions: Option<Vec<String>>,
    pub roles: Option<Vec<String>>,
    pub user_pools: Option<Vec<String>>,
    pub certificates: Option<Vec<String>>,
    pub adoption: bool,
}

/// A value outside its allow-list.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} {value} is not allowed for this namespace: AwsAccountBinding {binding} does not list it in spec.{field}"
)]
pub struct NotAllowed {
    pub what: &'static str,
    pub value: String,
    pub binding: String,
    pub field: &'static str,
}

impl Access {
    /// No binding: the operator's own identity, everything allowed.
    pub fn unrestricted() -> Access {
        Access {
            adoption: true,
            ..Default::default()
        }
    }

    pub fn from_binding(name: &str, spec: &AwsAccountBindingSpec) -> Access {
        Access {
            binding: Some(name.to_string()),
            functions: spec.allowed_lambda_functions.clone(),
            roles: spec.allowed_roles.clone(),
            user_pools: spec.allowed_user_pools.clone(),
            certificates: spec.allowed_certificates.clone(),
            adoption: spec.allow_adoption,
        }
    }

    /// A Lambda function, by its unqualified ARN.
    pub fn function(&self, arn: &str) -> Result<(), NotAllowed> {
        self.check(
            &self.functions,
            "Lambda function",
            "allowedLambdaFunctions",
            &[arn],
        )
    }

    /// An IAM role used as integration or authorizer credentials, by ARN.
    pub fn role(&self, arn: &str) -> Result<(), NotAllowed> {
        self.check(&self.roles, "IAM role", "allowedRoles", &[arn])
    }

    /// A Cognito user pool, by id or ARN. A pattern may name the ARN, or the id of
    /// a pool of the home account (a pool ARN of another account never matches an
    /// id pattern).
    pub fn user_pool(&self, pool: &str, home: Home<'_>) -> Result<(), NotAllowed> {
        let (arn, id) = match pool.strip_prefix("arn:") {
            Some(_) => (pool.to_string(), pool.rsplit('/').next().unwrap_or(pool)),
            None => {
                let region = pool.split('_').next().unwrap_or(home.region);
                (
                    format!(
                        "arn:{}:cognito-idp:{region}:{}:userpool/{pool}",
                        home.partition, home.account
                    ),
                    pool,
                )
            }
        };
        let home_account = arn.split(':').nth(4) == Some(home.account);
        let forms: Vec<&str> = if home_account {
            vec![arn.as_str(), id]
        } else {
            vec![arn.as_str()]
        };
        self.check(
            &self.user_pools,
            "Cognito user pool",
            "allowedUserPools",
            &forms,
        )
    }

    /// An ACM certificate, by ARN.
    pub fn certificate(&self, arn: &str) -> Result<(), NotAllowed> {
        self.check(
            &self.certificates,
            "ACM certificate",
            "allowedCertificates",
            &[arn],
        )
    }

    fn check(
        &self,
        list: &Option<Vec<String>>,
        what: &'static str,
        field: &'static str,
        forms: &[&str],
    ) -> Result<(), NotAllowed> {
        let (Some(binding), Some(patterns)) = (&self.binding, list) else {
            return Ok(());
        };
        if patterns
            .iter()
            .any(|p| forms.iter().any(|value| glob_match(p, value)))
        {
            return Ok(());
        }
        Err(NotAllowed {
            what,
            value: forms[0].to_string(),
            binding: binding.clone(),
            field,
        })
    }
}

/// Where bare names (a function name without ARN) are completed.
#[derive(Clone, Copy, Debug)]
pub struct Home<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
}

impl Access {
    /// A function as users write it (name, name:alias or ARN). A name that does
    /// not parse is left to the spec checks that report it.
    pub fn function_named(&self, function: &str, home: Home<'_>) -> Result<(), NotAllowed> {
        match crate::plan::lambda::FunctionRef::parse(function) {
            Ok(f) => self.function(&f.unqualified_arn(home.partition, home.region, home.account)),
            Err(_) => Ok(()),
        }
    }

    /// Everything an Authorizer names: its function, credentials role and pools.
    pub fn authorizer(
        &self,
        spec: &crate::api::AuthorizerSpec,
        home: Home<'_>,
    ) -> Result<(), NotAllowed> {
        if let Some(lambda) = &spec.lambda {
            self.function_named(&lambda.function_name, home)?;
            if let Some(role) = &lambda.credentials_role_arn {
                self.role(role)?;
            }
        }
        for pool in spec.cognito.iter().flat_map(|c| &c.user_pools) {
            self.user_pool(pool, home)?;
        }
        Ok(())
    }
}

/// `*` matches any run of characters within one part of an ARN or path: it never
/// crosses `:` or `/`, so `role/team-b-*` does not match `role/team-b-x/other`
/// and `function:team-a-*` no qualified or nested name. A pattern that is `*`
/// alone matches every value. Everything else matches itself.
pub fn glob_match(pattern: &str, value: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let value: Vec<char> = value.chars().collect();
    // matched[j]: whether the pattern read so far matches value[..j].
    let mut matched = vec![false; value.len() + 1];
    matched[0] = true;
    for p in pattern {
        let mut next = vec![false; value.len() + 1];
        if p == '*' {
            for j in 0..=value.len() {
                next[j] =
                    matched[j] || (j > 0 && next[j - 1] && !matches!(value[j - 1], ':' | '/'));
            }
        } else {
            for j in 1..=value.len() {
                next[j] = matched[j - 1] && value[j - 1] == p;
            }
        }
        matched = next;
    }
    matched[value.len()]
}

/// The binding of a namespace (with its labels) among `bindings` (name, spec): a
/// namespace named in `namespaces` or matched by `namespaceSelector` is bound. More
/// than one match is an error listing them all: the operator never guesses.
pub fn binding_for<'a>(
    namespace: &str,
    labels: &BTreeMap<String, String>,
    bindings: impl IntoIterator<Item = (&'a str, &'a AwsAccountBindingSpec)>,
) -> Result<Option<(&'a str, &'a AwsAccountBindingSpec)>, Vec<String>> {
    let matched: Vec<(&str, &AwsAccountBindingSpec)> = bindings
        .into_iter()
        .filter(|(_, spec)| binds(spec, namespace, labels))
        .collect();
    match matched.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => {
            let mut names: Vec<String> = many.iter().map(|(n, _)| n.to_string()).collect();
            names.sort();
            Err(names)
        }
    }
}

/// Whether a binding matches a namespace.
pub fn binds(
    spec: &AwsAccountBindingSpec,
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    spec.namespaces.iter().any(|n| n == namespace)
        || spec
            .namespace_selector
            .as_ref()
            .is_some_and(|s| selector_matches(s, labels))
}

/// Kubernetes label selector semantics: every matchLabels pair and every
/// expression must hold; an empty selector matches everything.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let pairs = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            // An operator the API server would have refused: match nothing.
            _ => false,
        }
    });
    pairs && expressions
}

/// The region an object uses: its own, else the binding's default, else the
/// operator's; refused when the binding does not allow it (or, without a binding,
/// when it is not the operator's).
pub fn region_for(
    wanted: Option<&str>,
    binding: Option<(&str, &AwsAccountBindingSpec)>,
    operator_region: &str,
) -> Result<String, String> {
    let default = binding
        .and_then(|(_, b)| b.region.clone())
        .unwrap_or_else(|| operator_region.to_string());
    let Some(wanted) = wanted else {
        return Ok(default);
    };
    if wanted == default {
        return Ok(default);
    }
    match binding {
        Some((name, spec)) => {
            if spec.allowed_regions.iter().flatten().any(|r| r == wanted) {
                Ok(wanted.to_string())
            } else {
                Err(format!(
                    "spec.region {wanted} is not allowed for this namespace: AwsAccountBinding {name} allows {}",
                    std::iter::once(default.as_str())
                        .chain(
                            spec.allowed_regions
                                .iter()
                                .flatten()
                                .map(String::as_str)
                                .filter(|r| *r != default)
                        )
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        }
        None => Err(format!(
            "spec.region {wanted} needs an AwsAccountBinding that allows it: this namespace has none, so only the operator's region {operator_region} is used"
        )),
    }
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
