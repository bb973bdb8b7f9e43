//! A counting HTTP proxy in front of DynamoDB or S3: each backend call a function makes passes
//! through it and is tallied by operation. The Host header is kept, so signatures stay valid.

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
pub struct Tally(Arc<Mutex<BTreeMap<String, u64>>>);

impl Tally {
    pub fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    fn add(&self, operation: String) {
        *self.0.lock().unwrap().entry(operation).or_default() += 1;
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
                        tally.add(operation(&request));
                        let (parts, body) = request.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let forwarded = Request::from_parts(parts, Full::new(body));
                        let response = sender.lock().await.send_request(forwarded).await;
                        let response = match response {
                            Ok(response) => {
                                let (parts, body) = response.into_parts();
                                let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
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
