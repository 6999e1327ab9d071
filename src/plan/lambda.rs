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

/// The function policies a pass must read: those whose statements for this API
/// could differ from what it wants. A policy can be skipped when this process
/// verified (read or wrote) exactly the wanted statements for it recently, and the
/// status records exactly those grants, so nothing of this API is to add or remove.
/// `verified` holds only the fresh memories, by policy.
pub fn policies_to_read(
    wanted: &BTreeSet<Permission>,
    previously: &BTreeSet<GrantKey>,
    verified: &BTreeMap<PolicyKey, BTreeSet<Permission>>,
) -> BTreeSet<PolicyKey> {
    let mut keys: BTreeSet<PolicyKey> = wanted.iter().map(Permission::policy_key).collect();
    keys.extend(previously.iter().map(|(f, q, _)| (f.clone(), q.clone())));
    keys.retain(|key| {
        let wanted_here: BTreeSet<&Permission> =
            wanted.iter().filter(|p| &p.policy_key() == key).collect();
        let recorded_here: BTreeSet<GrantKey> = previously
            .iter()
            .filter(|(f, q, _)| (f, q) == (&key.0, &key.1))
            .cloned()
            .collect();
        let wanted_grants: BTreeSet<GrantKey> = wanted_here.iter().map(|p| p.key()).collect();
        let trusted = verified
            .get(key)
            .is_some_and(|known| known.iter().collect::<BTreeSet<_>>() == wanted_here)
            && recorded_here == wanted_grants;
        !trusted
    });
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    const API: &str = "abc1234567";
    const EXEC: &str = "arn:aws:execute-api:us-east-1:123456789012:abc1234567";
    const FN: &str = "arn:aws:lambda:us-east-1:123456789012:function:upload-photo";

    fn f(s: &str) -> FunctionRef {
        FunctionRef::parse(s).expect("test reference parses")
    }

    type Entry<'a> = ((&'a str, Option<&'a str>), &'a [(&'a str, Option<&'a str>)]);

    fn observed(entries: &[Entry<'_>]) -> BTreeMap<PolicyKey, Vec<PolicyStatement>> {
        entries
            .iter()
            .map(|((function, qualifier), statements)| {
                (
                    (function.to_string(), qualifier.map(str::to_string)),
                    statements
                        .iter()
                        .map(|(sid, source)| (sid.to_string(), source.map(str::to_string)))
                        .collect(),
                )
            })
            .collect()
    }

    fn grants(entries: &[(&str, Option<&str>, &str)]) -> BTreeSet<GrantKey> {
        entries
            .iter()
            .map(|(f, q, s)| (f.to_string(), q.map(str::to_string), s.to_string()))
            .collect()
    }

    fn route_permission(qualifier: Option<&str>) -> Permission {
        Permission {
            function: FN.into(),
            qualifier: qualifier.map(str::to_string),
            statement_id: format!("apigw-{API}"),
            source_arn: format!("{EXEC}/*"),
        }
    }

    /// Every form the CRD admits parses into name, qualifier, region and account.
    #[test]
    fn function_references_parse_every_admitted_form() {
        assert_eq!(
            f("upload-photo"),
            FunctionRef {
                name: "upload-photo".into(),
                qualifier: None,
                region: None,
                account: None,
                partition: None,
            }
        );
        assert_eq!(f("upload-photo:live").qualifier.as_deref(), Some("live"));
        assert_eq!(f("upload-photo:3").qualifier.as_deref(), Some("3"));
        let arn = f("arn:aws:lambda:eu-west-1:210987654321:function:upload_photo:live");
        assert_eq!(arn.name, "upload_photo");
        assert_eq!(arn.qualifier.as_deref(), Some("live"));
        assert_eq!(arn.region.as_deref(), Some("eu-west-1"));
        assert_eq!(arn.account.as_deref(), Some("210987654321"));
        let cn = f("arn:aws-cn:lambda:cn-north-1:210987654321:function:x");
        assert_eq!(cn.qualifier, None);
        assert_eq!(cn.region.as_deref(), Some("cn-north-1"));
        assert_eq!(cn.partition.as_deref(), Some("aws-cn"));
    }

    /// A reference prints as it was written (`$LATEST` aside), ARN or name.
    #[test]
    fn references_print_as_written() {
        for s in [
            "upload-photo",
            "upload-photo:live",
            "arn:aws-cn:lambda:cn-north-1:210987654321:function:x:7",
            FN,
        ] {
            assert_eq!(f(s).to_string(), s);
            assert_eq!(s.parse::<FunctionRef>(), Ok(f(s)));
        }
    }

    /// `$LATEST` is the unqualified function: same policy, same invocation.
    #[test]
    fn latest_is_no_qualifier() {
        assert_eq!(f("upload-photo:$LATEST"), f("upload-photo"));
        assert_eq!(f(&format!("{FN}:$LATEST")), f(FN));
    }

    /// What is not a name, name:qualifier or function ARN is rejected with the input named.
    #[test]
    fn malformed_function_references_are_rejected() {
        for bad in [
            "",
            "a:b:c",
            "upload photo",
            "upload-photo:",
            "upload-photo:al/ias",
            &"x".repeat(65),
            "arn:aws:lambda:us-east-1:123:function:x",
            "arn:aws:lambda:us-east-1:123456789012:layer:x",
            "arn:aws:s3:us-east-1:123456789012:function:x",
            "arn:aws:lambda:us-east-1:123456789012:function:x:y:z",
            "arn:other:lambda:us-east-1:123456789012:function:x",
            "123456789012:function:x",
        ] {
            assert_eq!(
                FunctionRef::parse(bad),
                Err(InvalidFunctionRef(bad.to_string())),
                "{bad:?}"
            );
        }
    }

    /// A name is completed with the defaults; an ARN keeps its own region and account.
    #[test]
    fn function_arn_completes_names_and_keeps_arns() {
        assert_eq!(
            f("upload-photo").function_arn("aws", "us-east-1", "123456789012"),
            FN
        );
        assert_eq!(
            f("upload-photo:live").function_arn("aws", "us-east-1", "123456789012"),
            format!("{FN}:live")
        );
        assert_eq!(
            f("arn:aws:lambda:eu-west-1:210987654321:function:x:7").function_arn(
                "aws",
                "us-east-1",
                "123456789012"
            ),
            "arn:aws:lambda:eu-west-1:210987654321:function:x:7"
        );
        assert_eq!(
            f("upload-photo:live").unqualified_arn("aws", "us-east-1", "123456789012"),
            FN
        );
    }

    /// The invocation URI names the Lambda endpoint of the function's own region.
    #[test]
    fn invocation_uri_uses_the_functions_region() {
        assert_eq!(
            lambda_invocation_uri("aws", "us-east-1", FN),
            format!(
                "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FN}/invocations"
            )
        );
        assert_eq!(
            f("arn:aws:lambda:eu-west-1:210987654321:function:x").invocation_uri(
                "aws",
                "us-east-1",
                "123456789012"
            ),
            "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:210987654321:function:x/invocations"
        );
    }

    /// Reading an integration back yields the function ARN that was written, qualifier included.
    #[test]
    fn function_arn_round_trips_through_the_uri() {
        for arn in [FN.to_string(), format!("{FN}:live")] {
            let uri = lambda_invocation_uri("aws", "us-east-1", &arn);
            assert_eq!(function_arn_from_uri(&uri), Some(arn));
        }
    }

    /// URIs that are not Lambda invocations, or whose function is a stage variable, yield None.
    #[test]
    fn other_uris_have_no_function() {
        for uri in [
            "https://example.com/photos",
            "arn:aws:apigateway:us-east-1:sqs:path/123456789012/photo-queue",
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:${stageVariables.fn}/invocations",
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/upload-photo/invocations",
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:x",
            "",
        ] {
            assert_eq!(function_arn_from_uri(uri), None, "{uri}");
        }
    }

    /// Many routes on one function make one statement; a name and its ARN are the same
    /// function; each qualifier has its own policy and so its own statement.
    #[test]
    fn routes_share_one_statement_per_function_and_qualifier() {
        let desired = desired_permissions(
            API,
            EXEC,
            &[
                f("upload-photo"),
                f("upload-photo"),
                f(FN),
                f("upload-photo:live"),
            ],
            &[],
        );
        assert_eq!(
            desired,
            BTreeSet::from([route_permission(None), route_permission(Some("live"))])
        );
    }

    /// Authorizers get their own statement scoped to `.../authorizers/ID`, even on a
    /// function that routes use too.
    #[test]
    fn authorizers_get_scoped_statements() {
        let desired = desired_permissions(
            API,
            EXEC,
            &[f("upload-photo")],
            &[("au7h0r".into(), f("upload-photo"))],
        );
        assert_eq!(
            desired,
            BTreeSet::from([
                route_permission(None),
                Permission {
                    function: FN.into(),
                    qualifier: None,
                    statement_id: format!("apigw-{API}-authorizer-au7h0r"),
                    source_arn: format!("{EXEC}/authorizers/au7h0r"),
                }
            ])
        );
    }

    /// Without an execute-api ARN to complete names with, a name stays a name and an
    /// ARN stays an ARN (never a half-filled ARN).
    #[test]
    fn unparsable_execute_api_arn_keeps_references_as_written() {
        let desired = desired_permissions(
            API,
            "not-an-arn",
            &[
                f("upload-photo:live"),
                f("arn:aws:lambda:eu-west-1:210987654321:function:x:1"),
            ],
            &[],
        );
        let functions: BTreeSet<(String, Option<String>)> = desired
            .iter()
            .map(|p| (p.function.clone(), p.qualifier.clone()))
            .collect();
        assert_eq!(
            functions,
            BTreeSet::from([
                ("upload-photo".to_string(), Some("live".to_string())),
                (
                    "arn:aws:lambda:eu-west-1:210987654321:function:x".to_string(),
                    Some("1".to_string())
                ),
            ])
        );
    }

    /// Ownership is the exact Sid or the Sid followed by `-`: API `abc` never claims
    /// API `abcd`'s statements, nor another tool's.
    #[test]
    fn own_statements_are_recognised_exactly() {
        assert!(is_own_statement("abc", "apigw-abc"));
        assert!(is_own_statement("abc", "apigw-abc-authorizer-x1"));
        assert!(!is_own_statement("abc", "apigw-abcd"));
        assert!(!is_own_statement("abc", "apigw-abcd-authorizer-x1"));
        assert!(!is_own_statement("abc", "terraform-abc"));
        assert!(!is_own_statement("abc", "apigw-"));
    }

    /// GetPolicy's document (the shape Lambda and moto return) yields Sid and SourceArn.
    #[test]
    fn policy_statements_are_read_from_lambdas_document() {
        let policy = r#"{"Version":"2012-10-17","Id":"default","Statement":[
            {"Sid":"apigw-abc1234567","Effect":"Allow","Principal":{"Service":"apigateway.amazonaws.com"},
             "Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:123456789012:function:upload-photo",
             "Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:execute-api:us-east-1:123456789012:abc1234567/*"}}},
            {"Sid":"s3-events","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"lambda:InvokeFunction",
             "Resource":"arn:aws:lambda:us-east-1:123456789012:function:upload-photo",
             "Condition":{"StringEquals":{"AWS:SourceAccount":"123456789012"},"ArnLike":{"aws:sourcearn":["arn:aws:s3:::bucket"]}}},
            {"Sid":"no-condition","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction"},
            {"Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction"}
        ]}"#;
        assert_eq!(
            parse_policy_statements(policy),
            vec![
                ("apigw-abc1234567".to_string(), Some(format!("{EXEC}/*"))),
                (
                    "s3-events".to_string(),
                    Some("arn:aws:s3:::bucket".to_string())
                ),
                ("no-condition".to_string(), None),
            ]
        );
    }

    /// A single statement object instead of a list, and a document that is not a
    /// policy, are read without panicking.
    #[test]
    fn odd_policy_documents_are_tolerated() {
        assert_eq!(
            parse_policy_statements(
                r#"{"Statement":{"Sid":"one","Condition":{"ArnEquals":{"AWS:SourceArn":"x"}}}}"#
            ),
            vec![("one".to_string(), Some("x".to_string()))]
        );
        assert_eq!(parse_policy_statements("not json"), vec![]);
        assert_eq!(parse_policy_statements("{}"), vec![]);
        assert_eq!(parse_policy_statements(r#"{"Statement":[1,"x"]}"#), vec![]);
    }

    /// Filtering by qualifier keeps only the statements on that alias/version (or on
    /// the unqualified function), as moto mixes them in one policy.
    #[test]
    fn statements_are_filtered_by_the_qualifier_of_their_resource() {
        let policy = format!(
            r#"{{"Statement":[
            {{"Sid":"apigw-abc1234567","Resource":"{FN}","Condition":{{"ArnLike":{{"AWS:SourceArn":"a"}}}}}},
            {{"Sid":"apigw-abc1234567","Resource":"{FN}:live","Condition":{{"ArnLike":{{"AWS:SourceArn":"b"}}}}}},
            {{"Sid":"other","Resource":"{FN}:$LATEST"}},
            {{"Sid":"no-resource"}}
        ]}}"#
        );
        let sids = |q| -> Vec<(String, Option<String>)> { parse_policy_statements_for(&policy, q) };
        assert_eq!(
            sids(None),
            vec![
                ("apigw-abc1234567".to_string(), Some("a".to_string())),
                ("other".to_string(), None),
                ("no-resource".to_string(), None),
            ]
        );
        assert_eq!(
            sids(Some("live")),
            vec![
                ("apigw-abc1234567".to_string(), Some("b".to_string())),
                ("no-resource".to_string(), None),
            ]
        );
        assert_eq!(sids(Some("$LATEST")), sids(None));
    }

    /// A converged API plans nothing: the resync makes no Lambda writes, and other
    /// tools' statements in the same policy are left alone.
    #[test]
    fn converged_permissions_plan_nothing() {
        let desired = desired_permissions(
            API,
            EXEC,
            &[f("upload-photo"), f("upload-photo:live")],
            &[("au7h0r".into(), f("upload-photo"))],
        );
        let observed = observed(&[
            (
                (FN, None),
                &[
                    ("apigw-abc1234567", Some(&format!("{EXEC}/*"))),
                    (
                        "apigw-abc1234567-authorizer-au7h0r",
                        Some(&format!("{EXEC}/authorizers/au7h0r")),
                    ),
                    ("someone-else", Some("arn:aws:s3:::bucket")),
                    (
                        "apigw-zzz9999999",
                        Some("arn:aws:execute-api:us-east-1:123456789012:zzz9999999/*"),
                    ),
                ],
            ),
            (
                (FN, Some("live")),
                &[("apigw-abc1234567", Some(&format!("{EXEC}/*")))],
            ),
        ]);
        let granted: BTreeSet<GrantKey> = desired.iter().map(Permission::key).collect();
        assert_eq!(plan_permissions(API, &desired, &observed, &granted), vec![]);
    }

    /// A function whose policy has no statement of ours gets one Add; a function that
    /// was not read is granted too, since granting is idempotent.
    #[test]
    fn missing_statements_are_added() {
        let desired = desired_permissions(API, EXEC, &[f("upload-photo"), f("other")], &[]);
        let observed = observed(&[((FN, None), &[("someone-else", None)])]);
        let plan = plan_permissions(API, &desired, &observed, &BTreeSet::new());
        assert_eq!(
            plan,
            vec![
                PermissionAction::Add(Permission {
                    function: "arn:aws:lambda:us-east-1:123456789012:function:other".into(),
                    ..route_permission(None)
                }),
                PermissionAction::Add(route_permission(None)),
            ]
        );
    }

    /// A statement of ours with a different source ARN (or none) is replaced: Remove, then Add.
    #[test]
    fn statement_with_wrong_source_is_replaced() {
        let desired = BTreeSet::from([route_permission(None)]);
        for wrong in [
            Some("arn:aws:execute-api:us-east-1:123456789012:abc1234567/prod/*"),
            None,
        ] {
            let observed = observed(&[((FN, None), &[("apigw-abc1234567", wrong)])]);
            assert_eq!(
                plan_permissions(API, &desired, &observed, &BTreeSet::new()),
                vec![
                    PermissionAction::Remove {
                        function: FN.into(),
                        qualifier: None,
                        statement_id: "apigw-abc1234567".into()
                    },
                    PermissionAction::Add(route_permission(None)),
                ],
                "{wrong:?}"
            );
        }
    }

    /// A grant recorded in status and no longer desired is removed, even when its
    /// function was not read (RemovePermission of a missing statement is harmless);
    /// when the policy was read and the statement is already gone, nothing is planned.
    #[test]
    fn grants_no_longer_desired_are_removed() {
        let granted = grants(&[
            (FN, None, "apigw-abc1234567"),
            (FN, Some("live"), "apigw-abc1234567"),
            (FN, None, "apigw-abc1234567-authorizer-old"),
        ]);
        let observed = observed(&[((FN, Some("live")), &[])]);
        assert_eq!(
            plan_permissions(API, &BTreeSet::new(), &observed, &granted),
            vec![
                PermissionAction::Remove {
                    function: FN.into(),
                    qualifier: None,
                    statement_id: "apigw-abc1234567".into()
                },
                PermissionAction::Remove {
                    function: FN.into(),
                    qualifier: None,
                    statement_id: "apigw-abc1234567-authorizer-old".into()
                },
            ]
        );
    }

    /// A statement of this API found in a policy but neither desired nor recorded (a
    /// crash between AddPermission and the status write) is removed.
    #[test]
    fn unrecorded_own_statements_are_removed() {
        let desired = BTreeSet::from([route_permission(None)]);
        let observed = observed(&[(
            (FN, None),
            &[
                ("apigw-abc1234567", Some(&format!("{EXEC}/*"))),
                ("apigw-abc1234567-authorizer-gone", Some("x")),
            ],
        )]);
        assert_eq!(
            plan_permissions(API, &desired, &observed, &BTreeSet::new()),
            vec![PermissionAction::Remove {
                function: FN.into(),
                qualifier: None,
                statement_id: "apigw-abc1234567-authorizer-gone".into()
            }]
        );
    }

    /// Statements whose Sid is not this API's are never removed or replaced, even if
    /// status claims them or they grant the same source.
    #[test]
    fn foreign_statements_are_never_touched() {
        let granted = grants(&[
            (FN, None, "terraform-perm"),
            (FN, None, "apigw-abc1234567x"),
        ]);
        let observed = observed(&[(
            (FN, None),
            &[
                ("terraform-perm", Some(&format!("{EXEC}/*"))),
                ("apigw-abc1234567x", Some("y")),
                ("apigw-other", None),
            ],
        )]);
        assert_eq!(
            plan_permissions(API, &BTreeSet::new(), &observed, &granted),
            vec![]
        );
    }

    /// Removes precede adds, so a policy near its size limit has room, and a replaced
    /// statement is gone before its successor is added.
    #[test]
    fn removes_come_before_adds() {
        let desired = desired_permissions(API, EXEC, &[f("new-fn")], &[]);
        let granted = grants(&[(FN, None, "apigw-abc1234567")]);
        let plan = plan_permissions(API, &desired, &BTreeMap::new(), &granted);
        assert!(matches!(plan[0], PermissionAction::Remove { .. }));
        assert!(matches!(plan[1], PermissionAction::Add(_)));
        assert_eq!(plan.len(), 2);
    }

    #[test]
    fn a_policy_verified_with_the_wanted_statements_is_not_read_again() {
        let grant = |f: &str| Permission {
            function: format!("arn:aws:lambda:us-east-1:123456789012:function:{f}"),
            qualifier: None,
            statement_id: "apigw-a1".into(),
            source_arn: "arn:aws:execute-api:us-east-1:123456789012:a1/*".into(),
        };
        let wanted: BTreeSet<Permission> = [grant("one"), grant("two")].into();
        let previously: BTreeSet<GrantKey> = wanted.iter().map(Permission::key).collect();
        let mut verified = BTreeMap::new();
        verified.insert(grant("one").policy_key(), BTreeSet::from([grant("one")]));
        // "two" was never verified by this process: read it.
        assert_eq!(
            policies_to_read(&wanted, &previously, &verified),
            BTreeSet::from([grant("two").policy_key()])
        );
        verified.insert(grant("two").policy_key(), BTreeSet::from([grant("two")]));
        assert!(policies_to_read(&wanted, &previously, &verified).is_empty());
        // A wanted statement that changed (another source ARN) is read.
        let mut moved = grant("one");
        moved.source_arn.push_str("/GET/x");
        let wanted2: BTreeSet<Permission> = [moved.clone(), grant("two")].into();
        assert_eq!(
            policies_to_read(&wanted2, &previously, &verified),
            BTreeSet::from([moved.policy_key()])
        );
        // A grant status records that is no longer wanted: its policy is read to remove it.
        let only_two: BTreeSet<Permission> = [grant("two")].into();
        assert_eq!(
            policies_to_read(&only_two, &previously, &verified),
            BTreeSet::from([grant("one").policy_key()])
        );
        // Status lost a grant (reset or crash): read.
        let partial: BTreeSet<GrantKey> = [grant("two").key()].into();
        assert_eq!(
            policies_to_read(&wanted, &partial, &verified),
            BTreeSet::from([grant("one").policy_key()])
        );
    }
}
