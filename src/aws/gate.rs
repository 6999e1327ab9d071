//! The one door every AWS write passes.
//!
//! Every SDK client carries the `Gatekeeper` interceptor. It looks at each request
//! after the SDK serialized it (the bytes AWS would receive) and, for a write:
//!
//! - refuses it unless the operation has a rule here (a new write cannot slip
//!   past a check nobody wrote: it is refused until it gets one);
//! - reads every value the request names that a tenant's AwsAccountBinding
//!   governs, wherever it sits: Lambda functions (integration and authorizer
//!   URIs of any type, the function of AddPermission), IAM roles (credentials),
//!   Cognito user pools (ARNs and JWT issuers) and ACM certificates, including
//!   inside a whole OpenAPI document sent by PutRestApi or ImportRestApi;
//! - refuses the request when one of them is outside the binding's lists;
//! - under ObserveOnly, notes the write as planned and does not send it.
//!
//! Which tenant a request is for comes from the `Aws` handle that makes the call
//! (`Aws::call` runs the send inside a task-local `CallScope`). A write made any
//! other way has no scope and is refused: the only road to AWS is `Aws::call`.
//! A refused request never leaves the process.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::error::{AwsError, ErrorKind};
use crate::plan::access::{Access, Home, NotAllowed};

tokio::task_local! {
    static SCOPE: Arc<CallScope>;
}

/// What the gate reads in a write's path and body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Every ARN and JWT issuer anywhere in the path or body.
    Scan,
    /// Scan, plus the function the path names by its bare name
    /// (`/2015-03-31/functions/{FunctionName}/policy`).
    FunctionInPath,
    /// Taking back what the operator granted (a statement id it made): never
    /// refused by the lists, or narrowing a list could not revoke the grants that
    /// became forbidden.
    Revoke,
}

/// The writes the operator makes, each with its rule. A write missing here is
/// refused at run time, and `tests/iam_policy.rs` fails when `src/aws/` calls one.
const RULES: &[(&str, Rule)] = &[
    // API Gateway v1 (REST APIs, domains, usage plans, keys)
    ("CreateRestApi", Rule::Scan),
    ("UpdateRestApi", Rule::Scan),
    ("PutRestApi", Rule::Scan),
    ("ImportRestApi", Rule::Scan),
    ("DeleteRestApi", Rule::Scan),
    ("TagResource", Rule::Scan),
    ("UntagResource", Rule::Scan),
    ("CreateResource", Rule::Scan),
    ("DeleteResource", Rule::Scan),
    ("PutMethod", Rule::Scan),
    ("DeleteMethod", Rule::Scan),
    ("PutMethodResponse", Rule::Scan),
    ("PutIntegration", Rule::Scan),
    ("PutIntegrationResponse", Rule::Scan),
    ("UpdateIntegration", Rule::Scan),
    ("DeleteIntegration", Rule::Scan),
    ("CreateModel", Rule::Scan),
    ("UpdateModel", Rule::Scan),
    ("DeleteModel", Rule::Scan),
    ("CreateRequestValidator", Rule::Scan),
    ("DeleteRequestValidator", Rule::Scan),
    ("CreateAuthorizer", Rule::Scan),
    ("UpdateAuthorizer", Rule::Scan),
    ("DeleteAuthorizer", Rule::Scan),
    ("CreateDeployment", Rule::Scan),
    ("DeleteDeployment", Rule::Scan),
    ("CreateStage", Rule::Scan),
    ("UpdateStage", Rule::Scan),
    ("DeleteStage", Rule::Scan),
    ("CreateDomainName", Rule::Scan),
    ("UpdateDomainName", Rule::Scan),
    ("DeleteDomainName", Rule::Scan),
    ("CreateBasePathMapping", Rule::Scan),
    ("UpdateBasePathMapping", Rule::Scan),
    ("DeleteBasePathMapping", Rule::Scan),
    ("CreateUsagePlan", Rule::Scan),
    ("UpdateUsagePlan", Rule::Scan),
    ("DeleteUsagePlan", Rule::Scan),
    ("CreateUsagePlanKey", Rule::Scan),
    ("DeleteUsagePlanKey", Rule::Scan),
    ("CreateApiKey", Rule::Scan),
    ("UpdateApiKey", Rule::Scan),
    ("DeleteApiKey", Rule::Scan),
    // API Gateway v2 (WebSocket APIs, API mappings)
    ("CreateApi", Rule::Scan),
    ("UpdateApi", Rule::Scan),
    ("DeleteApi", Rule::Scan),
    ("CreateRoute", Rule::Scan),
    ("UpdateRoute", Rule::Scan),
    ("DeleteRoute", Rule::Scan),
    ("CreateRouteResponse", Rule::Scan),
    ("DeleteRouteResponse", Rule::Scan),
    ("CreateIntegration", Rule::Scan),
    ("DeleteAccessLogSettings", Rule::Scan),
    ("DeleteRouteSettings", Rule::Scan),
    ("CreateApiMapping", Rule::Scan),
    ("UpdateApiMapping", Rule::Scan),
    ("DeleteApiMapping", Rule::Scan),
    // Lambda invoke grants
    ("AddPermission", Rule::FunctionInPath),
    ("RemovePermission", Rule::Revoke),
];

/// The rule of a write, by its AWS operation name.
pub fn rule_for(operation: &str) -> Option<Rule> {
    RULES
        .iter()
        .find(|(op, _)| *op == operation)
        .map(|(_, rule)| *rule)
}

/// Whether an operation (by its AWS name) changes state.
pub fn is_mutating(operation: &str) -> bool {
    [
        "Create", "Update", "Delete", "Put", "Tag", "Untag", "Add", "Remove", "Import",
    ]
    .iter()
    .any(|prefix| operation.starts_with(prefix))
}

/// The policy of one tenant: its allow-lists and where bare names are completed.
#[derive(Clone, Debug)]
pub struct Policy {
    pub access: Access,
    pub partition: &'static str,
    pub region: String,
    /// The account of the tenant's credentials ("" when unknown: bare names then
    /// match no ARN pattern, so an unknown account refuses rather than allows).
    pub account: String,
}

impl Policy {
    fn home(&self) -> Home<'_> {
        Home {
            partition: self.partition,
            region: &self.region,
            account: &self.account,
        }
    }
}

/// Why the gate stopped a request.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    NotAllowed(#[from] NotAllowed),
    #[error(
        "{0} has no rule at the operator's AWS gate, so it is never sent (a defect: report it)"
    )]
    NoRule(String),
    #[error(
        "{0} was not made through the operator's AWS facade, so it is never sent (a defect: report it)"
    )]
    Unscoped(String),
    #[error("managementPolicy is ObserveOnly; the call was not sent")]
    Withheld,
}

impl Refusal {
    /// As the error of the call the gate stopped.
    pub fn into_aws_error(
        self,
        service: &'static str,
        operation: &'static str,
        resource: &str,
    ) -> AwsError {
        let (kind, code) = match &self {
            Refusal::NotAllowed(_) => (ErrorKind::NotAllowed, "ReferenceNotAllowed"),
            Refusal::NoRule(_) | Refusal::Unscoped(_) => (ErrorKind::Invalid, "NoGateRule"),
            Refusal::Withheld => (ErrorKind::Withheld, "ObserveOnly"),
        };
        AwsError {
            service,
            operation,
            resource: resource.to_string(),
            kind,
            code: code.into(),
            message: self.to_string(),
        }
    }
}

/// One call's passage through the gate: the tenant's policy (None: the operator's
/// own identity, nothing restricted), the ObserveOnly plan, and the verdict the
/// interceptor leaves for `Aws::call`.
#[derive(Debug)]
pub struct CallScope {
    policy: Option<Arc<Policy>>,
    planned: Option<Arc<Mutex<Vec<String>>>>,
    resource: String,
    refusal: Mutex<Option<Refusal>>,
}

impl CallScope {
    pub fn new(
        policy: Option<Arc<Policy>>,
        planned: Option<Arc<Mutex<Vec<String>>>>,
        resource: &str,
    ) -> Arc<CallScope> {
        Arc::new(CallScope {
            policy,
            planned,
            resource: resource.to_string(),
            refusal: Mutex::default(),
        })
    }

    /// Run `fut` (one SDK send) inside this scope.
    pub async fn run<F: std::future::Future>(self: &Arc<Self>, fut: F) -> F::Output {
        SCOPE.scope(self.clone(), fut).await
    }

    /// The refusal the gate gave this call, if it gave one.
    pub fn take_refusal(&self) -> Option<Refusal> {
        self.refusal.lock().unwrap().take()
    }

    /// Judge one serialized write and note the plan entry under ObserveOnly.
    fn admit(&self, operation: &str, uri: &str, body: &[u8]) -> Result<(), Refusal> {
        judge(self.policy.as_deref(), operation, uri, body)?;
        if self.planned.is_some() {
            self.note_withheld(operation);
            return Err(Refusal::Withheld);
        }
        Ok(())
    }

    /// Note an ObserveOnly write in the plan; a write retried within one pass is
    /// one change of the plan.
    pub fn note_withheld(&self, operation: &str) {
        if let Some(planned) = &self.planned {
            let entry = format!("{operation} {} (withheld)", self.resource);
            let mut planned = planned.lock().unwrap();
            if !planned.contains(&entry) {
                planned.push(entry);
            }
        }
    }
}

/// The pure decision on one write: its rule, then every governed value it names.
pub fn judge(
    policy: Option<&Policy>,
    operation: &str,
    uri: &str,
    body: &[u8],
) -> Result<(), Refusal> {
    let rule = rule_for(operation).ok_or_else(|| Refusal::NoRule(operation.to_string()))?;
    let Some(policy) = policy else {
        return Ok(());
    };
    if policy.access.binding.is_none() || rule == Rule::Revoke {
        return Ok(());
    }
    let home = policy.home();
    let path = percent_decode(uri.split('?').next().unwrap_or(uri));
    let mut named = names_in(&path);
    named.extend(names_in(&String::from_utf8_lossy(body)));
    if rule == Rule::FunctionInPath
        && let Some(function) = function_in_lambda_path(&path, home)
    {
        named.push(Named::Function(function));
    }
    for value in named {
        match value {
            Named::Function(arn) => policy.access.function(&arn)?,
            Named::Role(arn) => policy.access.role(&arn)?,
            Named::UserPool(pool) => policy.access.user_pool(&pool, home)?,
            Named::Certificate(arn) => policy.access.certificate(&arn)?,
        }
    }
    Ok(())
}

/// A value a binding's lists govern, as a request names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Named {
    /// An unqualified function ARN (`arn:aws:lambda:R:A:function:NAME`).
    Function(String),
    /// A role ARN, path included.
    Role(String),
    /// A pool ARN, or the id a JWT issuer names.
    UserPool(String),
    Certificate(String),
}

/// Characters an ARN may hold as the gate reads it: a request's JSON, YAML or
/// path ends an ARN at a quote, space, comma, bracket or query separator.
fn arn_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_:/.+=@*${}".contains(c)
}

/// Every governed value named in `text`: ARNs anywhere (nested ones, such as the
/// function ARN inside an API Gateway invocation URI, included) and Cognito JWT
/// issuers. JSON's escaped slashes are read as slashes.
pub fn names_in(text: &str) -> Vec<Named> {
    let text = text.replace("\\/", "/");
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(found) = text[at..].find("arn:") {
        let start = at + found;
        at = start + 4;
        // "arn:" inside a word ("warn:") is not an ARN.
        if start > 0 && (bytes[start - 1] as char).is_ascii_alphanumeric() {
            continue;
        }
        let end = text[start..]
            .find(|c: char| !arn_char(c))
            .map_or(text.len(), |n| start + n);
        if let Some(named) = classify_arn(&text[start..end]) {
            out.push(named);
        }
    }
    for (start, _) in text.match_indices("https://cognito-idp.") {
        let end = text[start..]
            .find(|c: char| !arn_char(c))
            .map_or(text.len(), |n| start + n);
        // https://cognito-idp.REGION.amazonaws.com/POOL_ID
        if let Some(pool) = text[start..end].split('/').nth(3).filter(|p| !p.is_empty()) {
            out.push(Named::UserPool(pool.to_string()));
        }
    }
    out
}

/// The governed value an ARN names, if any.
fn classify_arn(arn: &str) -> Option<Named> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, partition, service, region, account, resource] = parts.as_slice() else {
        return None;
    };
    match *service {
        "lambda" => {
            let name = resource.strip_prefix("function:")?;
            let name = name.split([':', '/']).next().unwrap_or(name);
            Some(Named::Function(format!(
                "arn:{partition}:lambda:{region}:{account}:function:{name}"
            )))
        }
        "iam" if resource.starts_with("role/") => Some(Named::Role(arn.to_string())),
        "cognito-idp" if resource.starts_with("userpool/") => {
            let id = resource.trim_start_matches("userpool/");
            let id = id.split('/').next().unwrap_or(id);
            Some(Named::UserPool(format!(
                "arn:{partition}:cognito-idp:{region}:{account}:userpool/{id}"
            )))
        }
        "acm" if resource.starts_with("certificate/") => Some(Named::Certificate(arn.to_string())),
        _ => None,
    }
}

/// The function of a Lambda policy path (`.../functions/{FunctionName}/policy...`)
/// when it is a bare name or `ACCOUNT:function:NAME`; full ARNs are found by the scan.
fn function_in_lambda_path(path: &str, home: Home<'_>) -> Option<String> {
    let rest = &path[path.find("/functions/")? + "/functions/".len()..];
    let function = rest.split("/policy").next()?;
    if function.starts_with("arn:") {
        return None;
    }
    let (account, name) = match function.split_once(":function:") {
        Some((account, name)) => (account, name),
        None => (home.account, function),
    };
    let name = name.split(':').next().unwrap_or(name);
    Some(format!(
        "arn:{}:lambda:{}:{account}:function:{name}",
        home.partition, home.region
    ))
}

/// `%XX` escapes decoded (paths carry ARNs and names escaped).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(high), Some(low)) = (
                bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16)),
                bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16)),
            )
        {
            out.push((high * 16 + low) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The interceptor every SDK client of the operator carries.
#[derive(Debug, Default)]
pub struct Gatekeeper;

impl Intercept for Gatekeeper {
    fn name(&self) -> &'static str {
        "apigw-operator gate"
    }

    fn read_after_serialization(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(operation) = cfg.load::<Metadata>().map(|m| m.name().to_string()) else {
            return Ok(());
        };
        if !is_mutating(&operation) {
            return Ok(());
        }
        let request = context.request();
        let body = request.body().bytes().unwrap_or_default();
        let verdict = SCOPE.try_with(|scope| {
            scope
                .admit(&operation, request.uri(), body)
                .inspect_err(|refusal| *scope.refusal.lock().unwrap() = Some(refusal.clone()))
        });
        match verdict {
            Ok(Ok(())) => Ok(()),
            Ok(Err(refusal)) => Err(Box::new(refusal)),
            Err(_) => Err(Box::new(Refusal::Unscoped(operation))),
        }
    }
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;
