//! Planning for Lambda: function references, integration URIs and the invoke
//! permissions API Gateway needs on each function.
//!
//! A function's resource policy is capped at 20 KB, so the operator grants one
//! statement per function (and qualifier) per API, scoped to that API, instead of
//! one per route: `apigw-{apiId}` for routes and `apigw-{apiId}-authorizer-{id}`
//! for authorizers. Statement ids are deterministic so a crash between
//! AddPermission and the status write is repaired by reading the policy, and so
//! statements of other tools (any other Sid) are never touched.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// The Lambda API version every invocation URI names.
const LAMBDA_API_VERSION: &str = "2015-03-31";

/// A function as users write it in `functionName`: `upload-photo`,
/// `upload-photo:live`, `upload-photo:3` or
/// `arn:aws:lambda:us-east-1:123456789012:function:upload-photo[:live]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FunctionRef {
    pub name: String,
    /// Alias or version. `$LATEST` is stored as None: it invokes the unqualified
    /// function and is governed by the unqualified function's policy.
    pub qualifier: Option<String>,
    /// From an ARN; None means the operator's region.
    pub region: Option<String>,
    /// From an ARN; None means the operator's account.
    pub account: Option<String>,
    /// From an ARN; None means the operator's partition.
    pub partition: Option<String>,
}

/// A `functionName` that is neither a function name, `name:qualifier` nor a function ARN.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a Lambda function name, name:alias, name:version or function ARN \
     (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER])"
)]
pub struct InvalidFunctionRef(pub String);

impl FunctionRef {
    /// Parse what a user wrote. Only the forms the CRD admits are accepted, so a
    /// reference that parses here is one Lambda accepts too.
    pub fn parse(input: &str) -> Result<FunctionRef, InvalidFunctionRef> {
        let invalid = || InvalidFunctionRef(input.to_string());
        let fields: Vec<&str> = input.split(':').collect();
        let (name, qualifier, arn) = match fields.as_slice() {
            [name] => (*name, None, None),
            [name, qualifier] => (*name, Some(*qualifier), None),
            [
                "arn",
                partition,
                "lambda",
                region,
                account,
                "function",
                name,
                rest @ ..,
            ] if rest.len() <= 1 => {
                if !partition.starts_with("aws") || !valid_region(region) || !valid_account(account)
                {
                    return Err(invalid());
                }
                (
                    *name,
                    rest.first().copied(),
                    Some((*partition, *region, *account)),
                )
            }
            _ => return Err(invalid()),
        };
        if !valid_name(name) || !qualifier.is_none_or(valid_qualifier) {
            return Err(invalid());
        }
        Ok(FunctionRef {
            name: name.to_string(),
            qualifier: qualifier.filter(|q| *q != "$LATEST").map(str::to_string),
            region: arn.map(|(_, region, _)| region.to_string()),
            account: arn.map(|(_, _, account)| account.to_string()),
            partition: arn.map(|(partition, _, _)| partition.to_string()),
        })
    }

    /// The function's full ARN, with the qualifier when there is one: what an
    /// integration or authorizer URI must name. The arguments complete a bare name.
    pub fn function_arn(
        &self,
        partition: &str,
        default_region: &str,
        default_account: &str,
    ) -> String {
        let arn = self.unqualified_arn(partition, default_region, default_account);
        match &self.qualifier {
            Some(q) => format!("{arn}:{q}"),
            None => arn,
        }
    }

    /// The function's ARN without qualifier: what Lambda's permission calls take as
    /// `FunctionName` (the qualifier goes in its own parameter). Always the full ARN,
    /// so `upload-photo` and its ARN are recognised as the same function.
    pub fn unqualified_arn(
        &self,
        partition: &str,
        default_region: &str,
        default_account: &str,
    ) -> String {
        format!(
            "arn:{}:lambda:{}:{}:function:{}",
            self.partition.as_deref().unwrap_or(partition),
            self.region.as_deref().unwrap_or(default_region),
            self.account.as_deref().unwrap_or(default_account),
            self.name
        )
    }

    /// The URI of a Lambda proxy integration or Lambda authorizer for this function.
    /// API Gateway calls the Lambda endpoint of the region in the URI, so that is
    /// the function's region, not necessarily the API's.
    pub fn invocation_uri(
        &self,
        partition: &str,
        default_region: &str,
        default_account: &str,
    ) -> String {
        lambda_invocation_uri(
            partition,
            self.region.as_deref().unwrap_or(default_region),
            &self.function_arn(partition, default_region, default_account),
        )
    }
}

impl FromStr for FunctionRef {
    type Err = InvalidFunctionRef;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FunctionRef::parse(s)
    }
}

/// The reference as written: an ARN when it came as one, else `name[:qualifier]`.
impl fmt::Display for FunctionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(partition), Some(region), Some(account)) =
            (&self.partition, &self.region, &self.account)
        {
            write!(f, "arn:{partition}:lambda:{region}:{account}:function:")?;
        }
        f.write_str(&self.name)?;
        if let Some(q) = &self.qualifier {
            write!(f, ":{q}")?;
        }
        Ok(())
    }
}

fn valid_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_qualifier(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'$')
}

fn valid_region(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn valid_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `arn:{partition}:apigateway:{region}:lambda:path/2015-03-31/functions/{function_arn}/invocations`.
/// `region` is the region of the Lambda endpoint API Gateway calls, which is the
/// function's region; [`FunctionRef::invocation_uri`] picks it.
pub fn lambda_invocation_uri(partition: &str, region: &str, function_arn: &str) -> String {
    format!(
        "arn:{partition}:apigateway:{region}:lambda:path/{LAMBDA_API_VERSION}/functions/{function_arn}/invocations"
    )
}

/// The function ARN inside a Lambda invocation URI read back from an integration
/// or authorizer. None for anything else, including URIs whose function is a
/// stage variable (`...function:${stageVariables.fn}`): the operator did not write those.
pub fn function_arn_from_uri(uri: &str) -> Option<String> {
    let (head, path) = uri.split_once(":lambda:path/")?;
    let head: Vec<&str> = head.split(':').collect();
    if !matches!(head.as_slice(), ["arn", _, "apigateway", region] if valid_region(region)) {
        return None;
    }
    let (_version, rest) = path.split_once("/functions/")?;
    let function_arn = rest.strip_suffix("/invocations")?;
    let parsed = FunctionRef::parse(function_arn).ok()?;
    // Only a full ARN names a function unambiguously; a bare name is not a valid URI.
    parsed.account.as_ref()?;
    Some(function_arn.to_string())
}

/// Key of one function policy: (function ARN without qualifier, qualifier).
pub type PolicyKey = (String, Option<String>);
/// One statement of a function policy: (Sid, `AWS:SourceArn` condition).
pub type PolicyStatement = (String, Option<String>);
/// One grant the operator made: (function, qualifier, statement id), kept in status.
pub type GrantKey = (String, Option<String>, String);

/// One `lambda:InvokeFunction` grant to `apigateway.amazonaws.com`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    /// Function ARN without qualifier (AddPermission's `FunctionName`).
    pub function: String,
    /// AddPermission's `Qualifier`: an alias or version has a policy of its own.
    pub qualifier: Option<String>,
    pub statement_id: String,
    pub source_arn: String,
}

impl Permission {
    pub fn key(&self) -> GrantKey {
        (
            self.function.clone(),
            self.qualifier.clone(),
            self.statement_id.clone(),
        )
    }

    pub fn policy_key(&self) -> PolicyKey {
        (self.function.clone(), self.qualifier.clone())
    }
}

/// Statement id of the one grant covering every route of an API on a function.
pub fn route_statement_id(api_id: &str) -> String {
    format!("apigw-{api_id}")
}

/// Statement id of the grant for one authorizer of an API.
pub fn authorizer_statement_id(api_id: &str, authorizer_id: &str) -> String {
    format!("apigw-{api_id}-authorizer-{authorizer_id}")
}

/// Whether a statement is this API's: exactly `apigw-{apiId}` or `apigw-{apiId}-...`.
/// A bare prefix test would let API `abc` claim the statements of API `abcd`.
pub fn is_own_statement(api_id: &str, statement_id: &str) -> bool {
    let own = route_statement_id(api_id);
    statement_id
        .strip_prefix(&own)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

/// The grants an API needs. `execute_api_arn` is `arn:PARTITION:execute-api:REGION:ACCOUNT:API_ID`
/// (as `Aws::execute_api_arn` builds it); its partition, region and account complete
/// functions given by name, so a name and its ARN dedupe to one grant. Routes share
/// one statement per function and qualifier; each authorizer gets its own, scoped to
/// `.../authorizers/ID`. Pass only authorizers without a credentials role: those
/// invoke through the role and need no resource-based permission.
pub fn desired_permissions(
    api_id: &str,
    execute_api_arn: &str,
    route_functions: &[FunctionRef],
    authorizer_functions: &[(String, FunctionRef)],
) -> BTreeSet<Permission> {
    let context = execute_api_context(execute_api_arn);
    let function = |f: &FunctionRef| match context {
        Some((partition, region, account)) => f.unqualified_arn(partition, region, account),
        // Not an execute-api ARN: nothing to complete a bare name with, so the
        // name stays as written, which Lambda resolves in the caller's account and region.
        None => FunctionRef {
            qualifier: None,
            ..f.clone()
        }
        .to_string(),
    };
    let routes = route_functions.iter().map(|f| Permission {
        function: function(f),
        qualifier: f.qualifier.clone(),
        statement_id: route_statement_id(api_id),
        source_arn: format!("{execute_api_arn}/*"),
    });
    let authorizers = authorizer_functions.iter().map(|(id, f)| Permission {
        function: function(f),
        qualifier: f.qualifier.clone(),
        statement_id: authorizer_statement_id(api_id, id),
        source_arn: format!("{execute_api_arn}/authorizers/{id}"),
    });
    routes.chain(authorizers).collect()
}

/// (partition, region, account) of `arn:PARTITION:execute-api:REGION:ACCOUNT:API_ID`.
fn execute_api_context(arn: &str) -> Option<(&str, &str, &str)> {
    match arn.splitn(6, ':').collect::<Vec<_>>().as_slice() {
        ["arn", partition, "execute-api", region, account, _api]
            if valid_region(region) && valid_account(account) =>
        {
            Some((partition, region, account))
        }
        _ => None,
    }
}

/// The statements of a Lambda GetPolicy document as (Sid, SourceArn), where the
/// source ARN is the `AWS:SourceArn` condition (`ArnLike`, as AddPermission writes
/// it, or any other operator). Statements without a Sid are skipped: the operator
/// can neither own nor remove them. A document that is not JSON yields nothing.
pub fn parse_policy_statements(policy_json: &str) -> Vec<PolicyStatement> {
    statements(policy_json)
        .into_iter()
        .map(|s| (s.sid, s.source_arn))
        .collect()
}

/// Like [`parse_policy_statements`], keeping only the statements whose `Resource`
/// is the function with this qualifier. Real Lambda keeps one policy per qualifier,
/// so this filters nothing there; moto lists every qualifier's statements in one
/// policy, which would make a missing unqualified grant look present.
pub fn parse_policy_statements_for(
    policy_json: &str,
    qualifier: Option<&str>,
) -> Vec<PolicyStatement> {
    statements(policy_json)
        .into_iter()
        .filter(|s| match &s.resource {
            Some(resource) => match FunctionRef::parse(resource) {
                Ok(f) => f.qualifier.as_deref() == qualifier.filter(|q| *q != "$LATEST"),
                Err(_) => true,
            },
            None => true,
        })
        .map(|s| (s.sid, s.source_arn))
        .collect()
}

struct RawStatement {
    sid: String,
    source_arn: Option<String>,
    resource: Option<String>,
}

fn statements(policy_json: &str) -> Vec<RawStatement> {
    use serde_json::Value;
    let Ok(doc) = serde_json::from_str::<Value>(policy_json) else {
        return Vec::new();
    };
    let list = match doc.get("Statement") {
        Some(Value::Array(items)) => items.clone(),
        Some(single @ Value::Object(_)) => vec![single.clone()],
        _ => Vec::new(),
    };
    list.iter()
        .filter_map(|statement| {
            let sid = statement.get("Sid")?.as_str()?.to_string();
            let resource = match statement.get("Resource") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Array(items)) if items.len() == 1 => {
                    items[0].as_str().map(str::to_string)
                }
                _ => None,
            };
            Some(RawStatement {
                sid,
                source_arn: source_arn_condition(statement.get("Condition")),
                resource,
            })
        })
        .collect()
}

/// `Condition.ArnLike."AWS:SourceArn"`, or the same key under any other operator.
/// Condition keys are case-insensitive in IAM.
fn source_arn_condition(condition: Option<&serde_json::Value>) -> Option<String> {
    let operators = condition?.as_object()?;
    let preferred = operators.get("ArnLike").into_iter();
    let others = operators
        .iter()
        .filter(|(op, _)| *op != "ArnLike")
        .map(|(_, v)| v);
    preferred.chain(others).find_map(|keys| {
        keys.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("aws:SourceArn"))
            .and_then(|(_, v)| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Array(items) if items.len() == 1 => {
                    items[0].as_str().map(str::to_string)
                }
                _ => None,
            })
    })
}

/// One change to a function policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PermissionAction {
    Add(Permission),
    Remove {
        function: String,
        qualifier: Option<String>,
        statement_id: String,
    },
}

/// Plan the permission changes for one API.
///
/// * `desired`: from [`desired_permissions`], for functions that exist (a missing
///   function is reported by the caller and left out, since no grant can be made).
/// * `observed`: the statements of each function policy the caller read, keyed by
///   (function, qualifier); an existing function with no policy maps to an empty list.
///   A desired function that was not read is granted anyway (AddPermission of an
///   identical statement is harmless), so a caller that skips reads loses only efficiency.
/// * `previously_granted`: the grants the operator recorded in status.
///
/// Adds what is missing; replaces (Remove, then Add) a statement of ours whose source
/// ARN differs; removes grants of this API that are no longer desired, whether
/// recorded in status or found in a policy that was read (a crash can leave a grant
/// that never reached status). Statements whose Sid is not this API's are never
/// touched. Removes come first so the policy has room for the adds. Converged
/// means an empty plan.
pub fn plan_permissions(
    api_id: &str,
    desired: &BTreeSet<Permission>,
    observed: &BTreeMap<PolicyKey, Vec<PolicyStatement>>,
    previously_granted: &BTreeSet<GrantKey>,
) -> Vec<PermissionAction> {
    let mut removes: BTreeSet<GrantKey> = BTreeSet::new();
    let mut adds: Vec<Permission> = Vec::new();

    for permission in desired {
        let Some(statements) = observed.get(&permission.policy_key()) else {
            adds.push(permission.clone());
            continue;
        };
        let mut same_sid = statements
            .iter()
            .filter(|(sid, _)| *sid == permission.statement_id)
            .peekable();
        if same_sid.peek().is_none() {
            adds.push(permission.clone());
        } else if !same_sid.all(|(_, source)| source.as_deref() == Some(&permission.source_arn)) {
            removes.insert(permission.key());
            adds.push(permission.clone());
        }
    }

    let desired_keys: BTreeSet<GrantKey> = desired.iter().map(Permission::key).collect();
    for grant in previously_granted {
        let (function, qualifier, sid) = grant;
        if desired_keys.contains(grant) || !is_own_statement(api_id, sid) {
            continue;
        }
        let known_absent = observed
            .get(&(function.clone(), qualifier.clone()))
            .is_some_and(|statements| statements.iter().all(|(s, _)| s != sid));
        if !known_absent {
            removes.insert(grant.clone());
        }
    }
    for ((function, qualifier), statements) in observed {
        for (sid, _) in statements {
            let key = (function.clone(), qualifier.clone(), sid.clone());
            if is_own_statement(api_id, sid) && !desired_keys.contains(&key) {
                removes.insert(key);
            }
        }
    }

    removes
        .into_iter()
        .map(
            |(function, qualifier, statement_id)| PermissionAction::Remove {
                function,
                qualifier,
                statement_id,
            },
        )
        .chain(adds.into_iter().map(PermissionAction::Add))
        .collect()
}

/// Which function policies a pass reads, and which it grants without reading.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PolicyReads {
    /// Read, then planned with [`plan_permissions`].
    pub read: BTreeSet<PolicyKey>,
    /// Granted with AddPermission straight away: nothing of this API is known to be
    /// there (status records no grant of it and this process remembers none), so a
    /// read would only confirm an absence. The rare statement that is there anyway
    /// (a crash between AddPermission and the status write) answers the add with a
    /// conflict, and that policy is read and planned then.
    pub add_unread: BTreeSet<PolicyKey>,
}

/// The function policies a pass must look at: those whose statements for this
/// API could differ from what it wants. A policy is skipped when this process
/// verified (read or wrote) exactly the wanted statements for it recently, and the
/// status records exactly those grants, so nothing of this API is to add or remove.
/// `verified` holds only the fresh memories, by policy. Of the others, a policy
/// with nothing of this API to take back is granted unread (see [`PolicyReads`]):
/// a new API's grants cost one AddPermission per function, not also a GetPolicy.
pub fn policy_reads(
    wanted: &BTreeSet<Permission>,
    previously: &BTreeSet<GrantKey>,
    verified: &BTreeMap<PolicyKey, BTreeSet<Permission>>,
) -> PolicyReads {
    let mut keys: BTreeSet<PolicyKey> = wanted.iter().map(Permission::policy_key).collect();
    keys.extend(previously.iter().map(|(f, q, _)| (f.clone(), q.clone())));
    let mut reads = PolicyReads::default();
    for key in keys {
        let wanted_here: BTreeSet<&Permission> =
            wanted.iter().filter(|p| p.policy_key() == key).collect();
        let recorded_here: BTreeSet<GrantKey> = previously
            .iter()
            .filter(|(f, q, _)| (f, q) == (&key.0, &key.1))
            .cloned()
            .collect();
        let wanted_grants: BTreeSet<GrantKey> = wanted_here.iter().map(|p| p.key()).collect();
        let known = verified.get(&key);
        let trusted = known
            .is_some_and(|known| known.iter().collect::<BTreeSet<_>>() == wanted_here)
            && recorded_here == wanted_grants;
        if trusted {
            continue;
        }
        let nothing_to_take_back = recorded_here.is_empty() && known.is_none_or(BTreeSet::is_empty);
        if nothing_to_take_back {
            reads.add_unread.insert(key);
        } else {
            reads.read.insert(key);
        }
    }
    reads
}

#[cfg(test)]
#[path = "lambda_tests.rs"]
mod tests;
