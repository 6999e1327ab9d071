//! A recording HTTP proxy in front of moto, on 127.0.0.1: every request the
//! operator sends is logged (method, path, STS/Query action) before it is
//! forwarded, so tests count AWS calls where AWS would see them, not with the
//! operator's own counters. It can also refuse STS AssumeRole for chosen roles
//! (403 AccessDenied), as IAM does for a role whose trust policy does not name
//! the caller, and enforce AWS's published quotas (`Proxy::with_quotas`), answering
//! 429 TooManyRequestsException as AWS does. `Proxy::rewriting` changes moto's
//! successful answers on their way back, to answer as AWS does where moto does not
//! (`empty_templates_as_null`).

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::quota::{self, Quotas};

/// One request as the proxy saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// `Action=` of a Query-protocol request (STS), else empty.
    pub action: String,
    /// The service of the request's signature (`apigateway`, `lambda`, `sts`, ...).
    pub service: String,
    /// The AWS operation, named as AWS names it (`CreateResource`, `GetPolicy`).
    pub operation: String,
    /// Refused with 429 by the quotas (never reached moto).
    pub throttled: bool,
    /// The fault injected into this request, if any.
    pub fault: Option<Fault>,
    /// Who signed it: `ACCESS_KEY@REGION` (each assumed role has keys of its own).
    pub caller: String,
    /// When it arrived.
    pub at: std::time::Instant,
}

/// A change to a successful answer: given the request's path and the answer's
/// body, the body to send instead (None: as it is).
pub type Rewrite = Arc<dyn Fn(&str, &[u8]) -> Option<Vec<u8>> + Send + Sync>;

/// A failure the proxy injects instead of (or around) forwarding a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 503 ServiceUnavailableException, not forwarded (AWS refuses before it
    /// processes the request).
    Unavailable,
    /// 429 TooManyRequestsException, not forwarded.
    Throttled,
    /// The connection reset before the request was forwarded.
    ResetBefore,
    /// The request forwarded and carried out, the connection reset instead of
    /// the answer: the caller cannot know it was done.
    ResetAfter,
    /// Forwarded after a pause of [`Faults::stall`].
    Stall,
}

/// A share of the requests to fail, chosen by a seeded generator from each
/// request's number, so a seed names one sequence of faults.
#[derive(Clone, Debug)]
pub struct Faults {
    /// Share of requests failed, 0 to 1.
    pub rate: f64,
    pub seed: u64,
    /// How long a stalled request waits before it is forwarded.
    pub stall: std::time::Duration,
    next: Arc<std::sync::atomic::AtomicU64>,
    on: Arc<std::sync::atomic::AtomicBool>,
}

impl Faults {
    pub fn new(rate: f64, seed: u64) -> Faults {
        Faults {
            rate,
            seed,
            stall: std::time::Duration::from_secs(2),
            next: Arc::default(),
            on: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        }
    }

    /// Stop (or resume) injecting faults, for a test's own reads.
    pub fn set_enabled(&self, on: bool) {
        self.on.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// The next draw, as a request would get it.
    pub fn draw_for_test(&self) -> Option<Fault> {
        self.draw()
    }

    /// The fault of the next request, if it gets one: 503, 429, a reset before
    /// and after forwarding, and a stall, one fifth of the faults each.
    fn draw(&self) -> Option<Fault> {
        if !self.on.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let x = splitmix(self.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
        if unit >= self.rate {
            return None;
        }
        Some(match splitmix(x) % 5 {
            0 => Fault::Unavailable,
            1 => Fault::Throttled,
            2 => Fault::ResetBefore,
            3 => Fault::ResetAfter,
            _ => Fault::Stall,
        })
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// What the proxy does with one request.
enum Reply {
    Answer(Vec<u8>),
    /// Reset the connection (no answer).
    Reset,
}

impl Seen {
    /// Whether the request changes something (API Gateway and Lambda are REST:
    /// reads are GET; STS reads are the ones that never write).
    pub fn is_write(&self) -> bool {
        if !self.action.is_empty() {
            return false;
        }
        self.method != "GET" && self.method != "HEAD"
    }
}

pub struct Proxy {
    pub url: String,
    log: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Forward to `upstream` (`http://127.0.0.1:PORT`); AssumeRole of a role ARN
    /// containing any of `deny_roles` answers 403.
    pub async fn start(upstream: &str, deny_roles: &[&str]) -> Proxy {
        Self::start_inner(upstream, deny_roles, None, None, None).await
    }

    /// Forward to `upstream`, passing moto's 2xx answers through `rewrite`.
    pub async fn rewriting(upstream: &str, rewrite: Rewrite) -> Proxy {
        Self::start_inner(upstream, &[], None, None, Some(rewrite)).await
    }

    /// Forward to `upstream`, refusing what AWS's `quotas` would refuse.
    pub async fn with_quotas(upstream: &str, quotas: Quotas) -> Proxy {
        Self::start_inner(upstream, &[], Some(Arc::new(quotas)), None, None).await
    }

    /// Forward to `upstream` within AWS's `quotas`, failing a share of the
    /// requests as `faults` draws them.
    pub async fn with_faults(upstream: &str, quotas: Quotas, faults: Faults) -> Proxy {
        Self::start_inner(upstream, &[], Some(Arc::new(quotas)), Some(faults), None).await
    }

    async fn start_inner(
        upstream: &str,
        deny_roles: &[&str],
        quotas: Option<Arc<Quotas>>,
        faults: Option<Faults>,
        rewrite: Option<Rewrite>,
    ) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let deny: Arc<Vec<String>> = Arc::new(deny_roles.iter().map(|r| r.to_string()).collect());
        let log: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let task_log = log.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                let (upstream, deny, log) = (upstream.clone(), deny.clone(), task_log.clone());
                let (quotas, faults, rewrite) = (quotas.clone(), faults.clone(), rewrite.clone());
                tokio::spawn(async move {
                    let _ = serve(
                        conn,
                        &upstream,
                        &deny,
                        quotas.as_deref(),
                        faults.as_ref(),
                        rewrite.as_ref(),
                        &log,
                    )
                    .await;
                });
            }
        });
        Proxy { url, log, task }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }

    /// Requests from now on: `since(mark)` with `mark = proxy.mark()`.
    pub fn mark(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    pub fn since(&self, mark: usize) -> Vec<Seen> {
        self.log.lock().unwrap()[mark..].to_vec()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The requests of one connection, kept alive between them as AWS keeps it (the
/// SDK's connection pool reuses it, so a call costs the operator no new
/// connection): each is read, logged, answered by the quotas or forwarded to moto
/// on a connection of its own, and the answer copied back.
async fn serve(
    mut conn: TcpStream,
    upstream: &str,
    deny: &[String],
    quotas: Option<&Quotas>,
    faults: Option<&Faults>,
    rewrite: Option<&Rewrite>,
    log: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    // Bytes read past the end of one request belong to the next.
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(at) = find(&buf, b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 8192];
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let length: usize = header_value(&head, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 8192];
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let request: Vec<u8> = buf.drain(..head_end + length).collect();
        let answer = match answer(
            &head,
            &request[head_end..],
            upstream,
            deny,
            quotas,
            faults,
            rewrite,
            log,
        )
        .await?
        {
            Reply::Answer(answer) => answer,
            Reply::Reset => {
                // RST, not FIN: the client sees "connection reset".
                conn.set_zero_linger()?;
                return Ok(());
            }
        };
        conn.write_all(&answer).await?;
        if header_value(&head, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
            return conn.shutdown().await;
        }
    }
}

/// The answer to one request, framed for a connection that stays open.
// Each argument is one of the proxy's independent behaviours (deny, quotas,
// faults, rewrite); a struct around them would only move the list.
#[allow(clippy::too_many_arguments)]
async fn answer(
    head: &str,
    body: &[u8],
    upstream: &str,
    deny: &[String],
    quotas: Option<&Quotas>,
    faults: Option<&Faults>,
    rewrite: Option<&Rewrite>,
    log: &Mutex<Vec<Seen>>,
) -> std::io::Result<Reply> {
    let text = String::from_utf8_lossy(body).to_string();
    let mut request_line = head.lines().next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_string();
    let path = request_line.next().unwrap_or_default().to_string();
    let action = form_value(&text, "Action").unwrap_or_default();
    let header = |name: &str| header_value(head, name).unwrap_or_default();
    let (caller, service) = quota::signer(&header("authorization")).unwrap_or_default();
    let operation = quota::operation(&service, &method, &path, &header("x-amz-target"), &action);
    let throttled = quotas.is_some_and(|q| !q.admit(&caller, &service, &operation));
    let fault = if throttled {
        None
    } else {
        faults.and_then(Faults::draw)
    };
    log.lock().unwrap().push(Seen {
        method,
        path: path.clone(),
        action: action.clone(),
        service: service.clone(),
        operation,
        throttled,
        fault,
        caller: caller.clone(),
        at: std::time::Instant::now(),
    });
    if throttled || fault == Some(Fault::Throttled) {
        return Ok(Reply::Answer(
            quota::too_many_requests(&service).into_bytes(),
        ));
    }
    match fault {
        Some(Fault::Unavailable) => {
            let body = "{\"message\":\"Service Unavailable\"}";
            return Ok(Reply::Answer(
                format!(
                    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
                     x-amzn-ErrorType: ServiceUnavailableException\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes(),
            ));
        }
        Some(Fault::ResetBefore) => return Ok(Reply::Reset),
        Some(Fault::Stall) => tokio::time::sleep(faults.map(|f| f.stall).unwrap_or_default()).await,
        _ => {}
    }
    if action == "AssumeRole" {
        let role = form_value(&text, "RoleArn").unwrap_or_default();
        if deny.iter().any(|d| role.contains(d.as_str())) {
            let xml = format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
                 <Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/operator is not authorized \
                 to perform: sts:AssumeRole on resource: {role}</Message></Error><RequestId>proxy</RequestId></ErrorResponse>"
            );
            return Ok(Reply::Answer(
                format!(
                    "HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{xml}",
                    xml.len()
                )
                .into_bytes(),
            ));
        }
    }
    // Forwarded as sent, on a connection moto closes after its answer.
    let head_lines = head.trim_end_matches("\r\n\r\n").split("\r\n");
    let mut forwarded = without_connection_header(head_lines);
    forwarded.push_str("Connection: close\r\n\r\n");
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(forwarded.as_bytes()).await?;
    up.write_all(body).await?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer).await?;
    if fault == Some(Fault::ResetAfter) {
        return Ok(Reply::Reset);
    }
    let answer = match rewrite {
        Some(rewrite) => rewritten(answer, &path, rewrite),
        None => answer,
    };
    Ok(Reply::Answer(reframed(answer)))
}

/// moto's answer with a 2xx body passed through `rewrite` (and its length told
/// anew); a chunked one is left alone.
fn rewritten(answer: Vec<u8>, path: &str, rewrite: &Rewrite) -> Vec<u8> {
    let Some(at) = find(&answer, b"\r\n\r\n") else {
        return answer;
    };
    let head = String::from_utf8_lossy(&answer[..at]).to_string();
    let success = head.split(' ').nth(1).is_some_and(|s| s.starts_with('2'));
    if !success || header_value(&head, "transfer-encoding").is_some() {
        return answer;
    }
    let Some(body) = rewrite(path, &answer[at + 4..]) else {
        return answer;
    };
    let mut out = String::new();
    for line in head.split("\r\n") {
        let name = line.split(':').next().unwrap_or_default();
        if !name.trim().eq_ignore_ascii_case("content-length") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body);
    bytes
}

/// An answer as AWS gives it where moto does not: an empty mapping template
/// (request or response) is stored as "" by both, and AWS answers it as null.
pub fn empty_templates_as_null(body: &[u8]) -> Option<Vec<u8>> {
    fn walk(value: &mut serde_json::Value) -> bool {
        let mut changed = false;
        match value {
            serde_json::Value::Object(members) => {
                for (name, v) in members.iter_mut() {
                    if let ("requestTemplates" | "responseTemplates", Some(templates)) =
                        (name.as_str(), v.as_object_mut())
                    {
                        for t in templates.values_mut() {
                            if t.as_str() == Some("") {
                                *t = serde_json::Value::Null;
                                changed = true;
                            }
                        }
                    } else {
                        changed |= walk(v);
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for v in items {
                    changed |= walk(v);
                }
            }
            _ => {}
        }
        changed
    }
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    walk(&mut value).then(|| serde_json::to_vec(&value).unwrap())
}

/// moto's answer, read to its close, as one for a connection that stays open: no
/// `Connection: close`, and a Content-Length when moto framed it by closing.
fn reframed(answer: Vec<u8>) -> Vec<u8> {
    let Some(at) = find(&answer, b"\r\n\r\n") else {
        return answer;
    };
    let head = String::from_utf8_lossy(&answer[..at]).to_string();
    let body = &answer[at + 4..];
    let mut out = without_connection_header(head.split("\r\n"));
    let status = head.split(' ').nth(1).unwrap_or_default();
    // A 204 or 304 has no body by definition, and must not say a length.
    let framed = matches!(status, "204" | "304")
        || header_value(&head, "content-length").is_some()
        || header_value(&head, "transfer-encoding").is_some();
    if !framed {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Header lines (and the start line) but `Connection`, each ended by CRLF.
fn without_connection_header<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for line in lines {
        let name = line.split(':').next().unwrap_or_default();
        if !name.trim().eq_ignore_ascii_case("connection") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out
}

/// The value of header `name` (any case) in a request or response head.
fn header_value(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A value of an `application/x-www-form-urlencoded` body, decoded.
fn form_value(body: &str, key: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => out.push(b),
                    Err(_) => out.extend_from_slice(&bytes[i..i + 3]),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).to_string()
}
