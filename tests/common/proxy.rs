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
    /// Who signed it: `ACCESS_KEY@REGION` (each assumed role has keys of its own).
    pub caller: String,
    /// When it arrived.
    pub at: std::time::Instant,
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

/// A change to a successful answer: given the request's path and the answer's
/// body, the body to send instead (None: as it is).
pub type Rewrite = Arc<dyn Fn(&str, &[u8]) -> Option<Vec<u8>> + Send + Sync>;

pub struct Proxy {
    pub url: String,
    log: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Forward to `upstream` (`http://127.0.0.1:PORT`); AssumeRole of a role ARN
    /// containing any of `deny_roles` answers 403.
    pub async fn start(upstream: &str, deny_roles: &[&str]) -> Proxy {
        Self::start_inner(upstream, deny_roles, None, None).await
    }

    /// Forward to `upstream`, passing moto's 2xx answers through `rewrite`.
    pub async fn rewriting(upstream: &str, rewrite: Rewrite) -> Proxy {
        Self::start_inner(upstream, &[], None, Some(rewrite)).await
    }

    /// Forward to `upstream`, refusing what AWS's `quotas` would refuse.
    pub async fn with_quotas(upstream: &str, quotas: Quotas) -> Proxy {
        Self::start_inner(upstream, &[], Some(Arc::new(quotas)), None).await
    }

    async fn start_inner(
        upstream: &str,
        deny_roles: &[&str],
        quotas: Option<Arc<Quotas>>,
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
                let (quotas, rewrite) = (quotas.clone(), rewrite.clone());
                tokio::spawn(async move {
                    let _ = serve(
                        conn,
                        &upstream,
                        &deny,
                        quotas.as_deref(),
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
        let answer = answer(
            &head,
            &request[head_end..],
            upstream,
            deny,
            quotas,
            rewrite,
            log,
        )
        .await?;
        conn.write_all(&answer).await?;
        if header_value(&head, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
            return conn.shutdown().await;
        }
    }
}

/// The answer to one request, framed for a connection that stays open.
async fn answer(
    head: &str,
    body: &[u8],
    upstream: &str,
    deny: &[String],
    quotas: Option<&Quotas>,
    rewrite: Option<&Rewrite>,
    log: &Mutex<Vec<Seen>>,
) -> std::io::Result<Vec<u8>> {
    let text = String::from_utf8_lossy(body).to_string();
    let mut request_line = head.lines().next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_string();
    let path = request_line.next().unwrap_or_default().to_string();
    let action = form_value(&text, "Action").unwrap_or_default();
    let header = |name: &str| header_value(head, name).unwrap_or_default();
    let (caller, service) = quota::signer(&header("authorization")).unwrap_or_default();
    let operation = quota::operation(&service, &method, &path, &header("x-amz-target"), &action);
    let throttled = quotas.is_some_and(|q| !q.admit(&caller, &service, &operation));
    log.lock().unwrap().push(Seen {
        method,
        path: path.clone(),
        action: action.clone(),
        service: service.clone(),
        operation,
        throttled,
        caller: caller.clone(),
        at: std::time::Instant::now(),
    });
    if throttled {
        return Ok(quota::too_many_requests(&service).into_bytes());
    }
    if action == "AssumeRole" {
        let role = form_value(&text, "RoleArn").unwrap_or_default();
        if deny.iter().any(|d| role.contains(d.as_str())) {
            let xml = format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
                 <Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/operator is not authorized \
                 to perform: sts:AssumeRole on resource: {role}</Message></Error><RequestId>proxy</RequestId></ErrorResponse>"
            );
            return Ok(format!(
                "HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{xml}",
                xml.len()
            )
            .into_bytes());
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
    let answer = match rewrite {
        Some(rewrite) => rewritten(answer, &path, rewrite),
        None => answer,
    };
    Ok(reframed(answer))
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
