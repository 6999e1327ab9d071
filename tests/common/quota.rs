//! AWS's published control-plane quotas, enforced the way AWS does at the
//! recording proxy: a token bucket per (access key, region, service) plus one per
//! budgeted operation, checked when the request arrives, and a 429
//! TooManyRequestsException when a bucket is empty. A refused request takes no
//! token. The operation of a request is named from its signature scope (service)
//! and its method and path (REST) or its `Action` / `X-Amz-Target` (Query, JSON).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Rate and burst of one bucket.
#[derive(Clone, Copy, Debug)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

const fn rate(per_second: f64, burst: f64) -> Rate {
    Rate { per_second, burst }
}

/// The quotas AWS publishes for API Gateway's management API and Lambda's control
/// plane (per account and region; they cannot be raised). Written out here rather
/// than taken from the operator's `default_operation_budgets`: this is AWS's side,
/// and a wrong budget in the operator must show up as 429s, not be copied.
pub fn published() -> Quotas {
    let service = HashMap::from([
        ("apigateway", rate(10.0, 40.0)),
        ("lambda", rate(15.0, 15.0)),
        ("cognito-idp", rate(10.0, 10.0)),
    ]);
    let operation = HashMap::from([
        ("CreateRestApi", rate(1.0 / 3.0, 1.0)),
        ("ImportRestApi", rate(1.0 / 3.0, 1.0)),
        ("PutRestApi", rate(1.0, 1.0)),
        ("DeleteRestApi", rate(1.0 / 30.0, 1.0)),
        ("CreateDeployment", rate(0.2, 1.0)),
        ("CreateResource", rate(5.0, 5.0)),
        ("DeleteResource", rate(5.0, 5.0)),
        ("GetResources", rate(2.5, 5.0)),
        ("CreateDomainName", rate(1.0 / 30.0, 1.0)),
        ("DeleteDomainName", rate(1.0 / 30.0, 1.0)),
        ("UpdateUsagePlan", rate(0.05, 1.0)),
    ]);
    Quotas {
        service,
        operation,
        buckets: Mutex::default(),
    }
}

pub struct Quotas {
    pub service: HashMap<&'static str, Rate>,
    pub operation: HashMap<&'static str, Rate>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Quotas {
    /// Take a token of every bucket the request is counted against, or none when
    /// one of them is empty (then the request is refused).
    pub fn admit(&self, caller: &str, service: &str, operation: &str) -> bool {
        let mut buckets = self.buckets.lock().unwrap();
        let now = Instant::now();
        let mut keys = Vec::new();
        if let Some(r) = self
            .operation
            .get(operation)
            .filter(|_| service == "apigateway")
        {
            keys.push((format!("{caller} {operation}"), *r));
        }
        if let Some(r) = self.service.get(service) {
            keys.push((format!("{caller} {service}"), *r));
        }
        for (key, r) in &keys {
            let b = buckets.entry(key.clone()).or_insert(Bucket {
                tokens: r.burst,
                at: now,
            });
            b.tokens =
                (b.tokens + now.duration_since(b.at).as_secs_f64() * r.per_second).min(r.burst);
            b.at = now;
            if b.tokens < 1.0 {
                return false;
            }
        }
        for (key, _) in &keys {
            buckets.get_mut(key).unwrap().tokens -= 1.0;
        }
        true
    }

    /// The least time `counts` (calls by (service, operation)) can take under these
    /// quotas, each bucket starting full: the slowest bucket decides.
    pub fn floor_seconds(&self, counts: &HashMap<(String, String), u64>) -> f64 {
        let mut per_bucket: HashMap<String, (u64, Rate)> = HashMap::new();
        for ((service, operation), n) in counts {
            if let Some(r) = self.service.get(service.as_str()) {
                per_bucket.entry(service.clone()).or_insert((0, *r)).0 += n;
            }
            if service == "apigateway"
                && let Some(r) = self.operation.get(operation.as_str())
            {
                per_bucket.entry(operation.clone()).or_insert((0, *r)).0 += n;
            }
        }
        per_bucket
            .values()
            .map(|(n, r)| ((*n as f64 - r.burst).max(0.0)) / r.per_second)
            .fold(0.0, f64::max)
    }
}

/// The 429 API Gateway and Lambda answer when a bucket is empty.
pub fn too_many_requests(service: &str) -> String {
    let body = "{\"message\":\"Too Many Requests\"}";
    // Both services name it the same; Lambda adds a Retry-After the SDK ignores.
    let retry_after = if service == "lambda" {
        "Retry-After: 1\r\n"
    } else {
        ""
    };
    format!(
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nx-amzn-ErrorType: TooManyRequestsException\r\n{retry_after}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// (caller, service) from a SigV4 `Authorization` header: the access key and the
/// region and service of its credential scope.
pub fn signer(authorization: &str) -> Option<(String, String)> {
    let scope = authorization
        .split("Credential=")
        .nth(1)?
        .split(',')
        .next()?;
    let mut parts = scope.split('/');
    let key = parts.next()?;
    let _date = parts.next()?;
    let region = parts.next()?;
    let service = parts.next()?;
    Some((format!("{key}@{region}"), service.to_string()))
}

/// The AWS operation of a request. REST services (API Gateway v1 and v2, Lambda)
/// by method and path; JSON services by `X-Amz-Target`; Query services by `Action`.
pub fn operation(service: &str, method: &str, path: &str, target: &str, action: &str) -> String {
    if !action.is_empty() {
        return action.to_string();
    }
    if let Some((_, op)) = target.rsplit_once('.') {
        return op.to_string();
    }
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match service {
        "lambda" => lambda_operation(method, &segments),
        _ => apigateway_operation(method, &segments, query),
    }
}

fn lambda_operation(method: &str, segments: &[&str]) -> String {
    // /2015-03-31/functions/NAME[/policy[/SID]]
    let tail: Vec<&str> = segments.iter().skip(3).copied().collect();
    match (method, tail.as_slice()) {
        ("GET", []) => "GetFunction",
        ("GET", ["policy"]) => "GetPolicy",
        ("POST", ["policy"]) => "AddPermission",
        ("DELETE", ["policy", _]) => "RemovePermission",
        ("GET", ["configuration"]) => "GetFunctionConfiguration",
        _ => "LambdaOther",
    }
    .to_string()
}

/// API Gateway names its REST operations after the last collection in the path:
/// `POST /restapis/A/resources/P` is CreateResource, `PUT .../methods/GET/integration`
/// PutIntegration, `GET /restapis/A/resources` GetResources.
fn apigateway_operation(method: &str, segments: &[&str], query: &str) -> String {
    let segments = if segments.first() == Some(&"v2") {
        &segments[1..]
    } else {
        segments
    };
    // Collections alternate with ids (collection/id/collection/id/...), except the
    // one `integration` of a method, which has none.
    let mut literals: Vec<&str> = Vec::new();
    let mut on_item = false;
    let mut i = 0;
    while i < segments.len() {
        literals.push(segments[i]);
        let singleton = segments[i] == "integration";
        on_item = singleton || i + 1 < segments.len();
        i += if singleton { 1 } else { 2 };
    }
    let last = literals.last().copied().unwrap_or("");
    let mut noun = singular(last);
    if last == "responses" && literals.len() >= 2 {
        noun = format!("{}Response", singular(literals[literals.len() - 2]));
    }
    if literals == ["restapis"] && method == "POST" && query.contains("mode=import") {
        return "ImportRestApi".into();
    }
    match method {
        "GET" if on_item => format!("Get{noun}"),
        "GET" => format!("Get{noun}s"),
        // On a collection, or on a parent resource (CreateResource).
        "POST" => format!("Create{noun}"),
        "PUT" => format!("Put{noun}"),
        "PATCH" => format!("Update{noun}"),
        "DELETE" => format!("Delete{noun}"),
        _ => format!("{method}{noun}"),
    }
}

fn singular(collection: &str) -> String {
    let word = match collection {
        "restapis" => "RestApi",
        "apis" => "Api",
        "domainnames" => "DomainName",
        "usageplans" => "UsagePlan",
        "apikeys" => "ApiKey",
        "keys" => "UsagePlanKey",
        "basepathmappings" => "BasePathMapping",
        "requestvalidators" => "RequestValidator",
        "gatewayresponses" => "GatewayResponse",
        "apimappings" => "ApiMapping",
        "routeresponses" => "RouteResponse",
        "integrationresponses" => "IntegrationResponse",
        other => {
            let s = other.strip_suffix('s').unwrap_or(other);
            return s[..1].to_uppercase() + &s[1..];
        }
    };
    word.to_string()
}
