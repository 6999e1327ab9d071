//! Controller tests without a cluster or moto: a Kubernetes API that answers from
//! a table and records every request, and an AWS endpoint on 127.0.0.1 that does
//! the same, reached through the real SDK clients of `Aws`. A test asserts the
//! exact calls a reconcile step made on both sides.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Context, Settings};
use crate::aws::Aws;

/// An answer: status code, extra headers, body.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }
    /// An AWS REST-JSON error, as API Gateway sends it.
    pub fn aws_error(status: u16, code: &str, message: &str) -> Reply {
        Reply {
            status,
            headers: vec![("x-amzn-errortype".into(), code.into())],
            body: serde_json::json!({ "message": message }).to_string(),
        }
    }
}

/// Canned answers by "METHOD /path" (the query left out), and the requests seen.
#[derive(Default)]
pub struct Script {
    replies: Mutex<BTreeMap<String, Reply>>,
    seen: Mutex<Vec<String>>,
    /// The Events posted, "type/reason: note".
    events: Mutex<Vec<String>>,
}

impl Script {
    pub fn answer(&self, request: &str, reply: Reply) {
        self.replies
            .lock()
            .unwrap()
            .insert(request.to_string(), reply);
    }
    /// Every request so far, "METHOD /path?query", in order.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
    fn reply(&self, method: &str, path_and_query: &str) -> Option<Reply> {
        self.seen
            .lock()
            .unwrap()
            .push(format!("{method} {path_and_query}"));
        let path = path_and_query.split('?').next().unwrap_or_default();
        self.replies
            .lock()
            .unwrap()
            .get(&format!("{method} {path}"))
            .cloned()
    }
}

/// The fake Kubernetes API: scripted answers; otherwise a list is empty, an
/// Event is accepted, and anything else is 404.
fn kube_client(script: Arc<Script>) -> kube::Client {
    let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
        let script = script.clone();
        async move {
            let method = req.method().to_string();
            let uri = req.uri().to_string();
            let path = req.uri().path().to_string();
            let (_, body) = req.into_parts();
            let body = body.collect_bytes().await.unwrap_or_default();
            if method == "POST" && path.ends_with("/events") {
                let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let text = |field: &str| event[field].as_str().unwrap_or_default().to_string();
                script.events.lock().unwrap().push(format!(
                    "{}/{}: {}",
                    text("type"),
                    text("reason"),
                    text("note")
                ));
            }
            let reply = script.reply(&method, &uri).unwrap_or_else(|| {
                if method == "GET" && uri.contains('?') && !uri.contains("watch") {
                    Reply::json(
                        200,
                        serde_json::json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": []}),
                    )
                } else if method == "POST" && path.ends_with("/events") {
                    Reply::json(201, serde_json::json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"}}))
                } else {
                    Reply::json(
                        404,
                        serde_json::json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404, "message": format!("{path} not found")}),
                    )
                }
            });
            let response = http::Response::builder()
                .status(reply.status)
                .header("content-type", "application/json")
                .body(kube::client::Body::from(reply.body.into_bytes()))
                .unwrap();
            Ok::<_, Infallible>(response)
        }
    });
    kube::Client::new(service, "default")
}

/// The fake AWS endpoint: one HTTP/1.1 request per connection, answered from the
/// script (404 NotFoundException when it has no answer).
async fn aws_endpoint(script: Arc<Script>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let script = script.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 8192];
                let head_end = loop {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                    if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        break at + 4;
                    }
                };
                let head = String::from_utf8_lossy(&got[..head_end]).to_string();
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                while got.len() < head_end + length {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let mut request_line = head.lines().next().unwrap_or_default().split(' ');
                let method = request_line.next().unwrap_or_default().to_string();
                let target = request_line.next().unwrap_or_default().to_string();
                let reply = script.reply(&method, &target).unwrap_or_else(|| {
                    Reply::aws_error(404, "NotFoundException", "not in the test's script")
                });
                let mut answer = format!(
                    "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                    reply.status,
                    reply.body.len()
                );
                for (name, value) in &reply.headers {
                    answer.push_str(&format!("{name}: {value}\r\n"));
                }
                answer.push_str("\r\n");
                answer.push_str(&reply.body);
                let _ = conn.write_all(answer.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    url
}

/// A context on the fake Kubernetes API and the fake AWS endpoint.
pub struct Harness {
    pub ctx: Arc<Context>,
    pub kube: Arc<Script>,
    pub aws: Arc<Script>,
}

impl Harness {
    pub async fn new() -> Harness {
        let (kube, aws) = (Arc::<Script>::default(), Arc::<Script>::default());
        let endpoint = aws_endpoint(aws.clone()).await;
        let aws_clients = Aws::for_tests(&endpoint).await;
        let ctx = Context::new(
            kube_client(kube.clone()),
            Arc::new(aws_clients),
            Settings {
                namespace: Some("team-a".into()),
                ..Settings::default()
            },
        );
        Harness { ctx, kube, aws }
    }

    /// The AWS requests made, "METHOD /path".
    pub fn aws_calls(&self) -> Vec<String> {
        self.aws
            .seen()
            .into_iter()
            .map(|r| r.split('?').next().unwrap_or_default().to_string())
            .collect()
    }

    /// The Events posted, "type/reason: note".
    pub fn events(&self) -> Vec<String> {
        self.kube.events.lock().unwrap().clone()
    }
}
