//! A test upstream that records what reaches it, and clients to talk to the proxy.

// Each test file uses only some of these helpers.
#![allow(dead_code)]

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as the upstream received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    /// In the order received, names lower-case.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// An upstream server answering with `answer`, recording requests and connections.
pub struct Upstream {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicU64>,
}

impl Upstream {
    pub async fn start(answer: impl Fn(&Seen) -> Response<String> + Send + Sync + 'static) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (seen, connections) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicU64::new(0)));
        let answer = Arc::new(answer);
        let upstream = Upstream { url, seen: seen.clone(), connections: connections.clone() };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::Relaxed);
                let (seen, answer) = (seen.clone(), answer.clone());
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let (seen, answer) = (seen.clone(), answer.clone());
                    async move {
                        let (parts, body) = request.into_parts();
                        let request = Seen {
                            method: parts.method.to_string(),
                            uri: parts.uri.to_string(),
                            headers: parts
                                .headers
                                .iter()
                                .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_string()))
                                .collect(),
                            body: body.collect().await.unwrap().to_bytes(),
                        };
                        seen.lock().unwrap().push(request.clone());
                        Ok::<_, Infallible>(answer(&request).map(|body| Full::new(Bytes::from(body))))
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        upstream
    }

    /// An upstream answering 200 with an empty JSON object.
    pub async fn empty_json() -> Upstream {
        Upstream::start(|_| Response::new("{}".to_string())).await
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

/// One keep-alive client connection.
pub struct Client {
    sender: SendRequest<Full<Bytes>>,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let stream = TcpStream::connect(url.trim_start_matches("http://")).await.unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);
        Client { sender }
    }

    pub async fn send(&mut self, request: Request<String>) -> Result<Response<Bytes>, hyper::Error> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request.map(|body| Full::new(Bytes::from(body)))).await?;
        let (parts, body) = response.into_parts();
        Ok(Response::from_parts(parts, body.collect().await?.to_bytes()))
    }
}

/// Sends one request on a new connection.
pub async fn send(url: &str, request: Request<String>) -> Response<Bytes> {
    Client::connect(url).await.send(request).await.unwrap()
}

/// A DynamoDB call, as an SDK sends it.
pub fn dynamodb(operation: &str, body: Value) -> Request<String> {
    Request::post("/")
        .header("host", "localhost:8000")
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", format!("DynamoDB_20120810.{operation}"))
        .body(body.to_string())
        .unwrap()
}

/// An S3 call without a body.
pub fn s3(method: &str, path: &str) -> Request<String> {
    Request::builder().method(method).uri(path).header("host", "localhost:4566").body(String::new()).unwrap()
}

/// How a raw TCP exchange ended.
#[derive(Debug, PartialEq)]
pub enum Ending {
    /// The peer closed the connection in order (FIN).
    Closed,
    /// The peer reset the connection (RST).
    Reset,
}

/// Writes raw bytes to the proxy and reads until the connection ends; what came back and how it
/// ended. Fails if the connection is still open after five seconds.
pub async fn raw_exchange(url: &str, request: &[u8]) -> (Vec<u8>, Ending) {
    let mut stream = TcpStream::connect(url.trim_start_matches("http://")).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received)).await;
    match read.expect("the proxy left the connection open") {
        Ok(_) => (received, Ending::Closed),
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => (received, Ending::Reset),
        Err(error) => panic!("unexpected read error: {error}"),
    }
}

/// The raw bytes of a DynamoDB call.
pub fn raw_dynamodb(operation: &str, body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nhost: localhost:8000\r\nx-amz-target: DynamoDB_20120810.{operation}\r\n\
         content-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub fn header<'a>(response: &'a Response<Bytes>, name: &str) -> &'a str {
    response.headers().get(name).map(|value| value.to_str().unwrap()).unwrap_or_default()
}

pub fn text(response: &Response<Bytes>) -> &str {
    std::str::from_utf8(response.body()).unwrap()
}

/// CRC32 (IEEE), to check `x-amz-crc32`.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// An upstream written by hand, to control the exact bytes of its answers: it answers each request
/// (headers only) with `answer`, and closes the connection after each answer if `close` is set.
pub async fn raw_upstream(answer: &'static [u8], close: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                loop {
                    let mut request = Vec::new();
                    while !request.ends_with(b"\r\n\r\n") {
                        let mut byte = [0u8];
                        if stream.read_exact(&mut byte).await.is_err() {
                            return;
                        }
                        request.push(byte[0]);
                    }
                    stream.write_all(answer).await.unwrap();
                    if close {
                        return;
                    }
                }
            });
        }
    });
    url
}
