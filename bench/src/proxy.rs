//! A counting HTTP proxy in front of DynamoDB or S3: each backend call a function makes passes
//! through it and is tallied by operation. The Host header is kept, so signatures stay valid.
//!
//! DynamoDB calls also have their capacity measured: the proxy adds `ReturnConsumedCapacity`
//! to each request (Dynoxide does not verify signatures; it sizes items and doubles
//! transactional writes as DynamoDB bills them) and adds up the read and write units answered.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Default)]
pub struct Tally {
    calls: Arc<Mutex<BTreeMap<String, u64>>>,
    capacity: Arc<Mutex<Capacity>>,
}

/// DynamoDB request units consumed, as billed on demand.
#[derive(Clone, Copy, Debug, Default)]
pub struct Capacity {
    pub read_units: f64,
    pub write_units: f64,
}

impl Tally {
    pub fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    pub fn take_capacity(&self) -> Capacity {
        std::mem::take(&mut *self.capacity.lock().unwrap())
    }

    fn add(&self, operation: String) {
        *self.calls.lock().unwrap().entry(operation).or_default() += 1;
    }

    /// The units a DynamoDB answer reports (one object, or one per table for transactions).
    fn add_consumed(&self, operation: &str, answer: &[u8]) {
        let Ok(answer) = serde_json::from_slice::<serde_json::Value>(answer) else { return };
        let consumed = match &answer["ConsumedCapacity"] {
            serde_json::Value::Array(tables) => tables.iter().filter_map(|t| t["CapacityUnits"].as_f64()).sum(),
            table => table["CapacityUnits"].as_f64().unwrap_or_default(),
        };
        let mut capacity = self.capacity.lock().unwrap();
        if matches!(
            operation,
            "DynamoDB.GetItem"
                | "DynamoDB.Query"
                | "DynamoDB.Scan"
                | "DynamoDB.BatchGetItem"
                | "DynamoDB.TransactGetItems"
        ) {
            capacity.read_units += consumed;
        } else {
            capacity.write_units += consumed;
        }
    }
}

/// The request body with `ReturnConsumedCapacity` asked for (per index too, as billed).
fn asking_for_capacity(body: Bytes) -> Bytes {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(mut request)) => {
            request.insert("ReturnConsumedCapacity".into(), "INDEXES".into());
            Bytes::from(serde_json::Value::Object(request).to_string())
        }
        _ => body,
    }
}

/// Starts a proxy to `upstream` (host:port); returns its URL.
pub async fn start(upstream: String, tally: Tally) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else { return };
            let (upstream, tally) = (upstream.clone(), tally.clone());
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(&upstream).await else { return };
                let Ok((sender, connection)) = hyper::client::conn::http1::handshake(TokioIo::new(server)).await else {
                    return;
                };
                tokio::spawn(connection);
                let sender = Arc::new(tokio::sync::Mutex::new(sender));
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let (sender, tally) = (sender.clone(), tally.clone());
                    async move {
                        let operation = operation(&request);
                        tally.add(operation.clone());
                        let dynamodb = operation.starts_with("DynamoDB.");
                        let (mut parts, body) = request.into_parts();
                        let mut body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        if dynamodb {
                            body = asking_for_capacity(body);
                            parts.headers.insert(hyper::header::CONTENT_LENGTH, body.len().into());
                        }
                        let forwarded = Request::from_parts(parts, Full::new(body));
                        let response = sender.lock().await.send_request(forwarded).await;
                        let response = match response {
                            Ok(response) => {
                                let (parts, body) = response.into_parts();
                                let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                                if dynamodb {
                                    tally.add_consumed(&operation, &body);
                                }
                                Response::from_parts(parts, Full::new(body))
                            }
                            Err(_) => Response::builder().status(502).body(Full::new(Bytes::new())).unwrap(),
                        };
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(client), service).await;
            });
        }
    });
    url
}

/// `DynamoDB.TransactWriteItems`, `S3.HEAD`, ...
fn operation(request: &Request<Incoming>) -> String {
    match request.headers().get("x-amz-target").and_then(|t| t.to_str().ok()) {
        Some(target) => format!("DynamoDB.{}", target.rsplit('.').next().unwrap_or(target)),
        None => format!("S3.{}", request.method()),
    }
}
