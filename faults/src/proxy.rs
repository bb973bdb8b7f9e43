//! The proxy's connections: each client connection gets its own upstream connection, and each
//! request is either answered by a fault or forwarded unchanged.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::dynamodb::{self, CancellationReason};
use crate::operation::{is_json_protocol, operation};
use crate::reply::reply;
use crate::rules::{Fault, RequestFacts};
use crate::{recording, s3, Shared};

/// Accepts client connections until the runtime shuts down.
pub(crate) async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve_client(stream, shared.clone()));
    }
}

async fn serve_client(stream: TcpStream, shared: Arc<Shared>) {
    let abort = Arc::new(AtomicBool::new(false));
    let client = ClientStream { stream, abort: abort.clone() };
    let upstream = Arc::new(tokio::sync::Mutex::new(Upstream { address: shared.upstream.clone(), sender: None }));
    let service =
        hyper::service::service_fn(move |request| handle(request, shared.clone(), upstream.clone(), abort.clone()));
    // The connection ends with an error when a fault closes it; there is no one to tell.
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(client), service).await;
}

/// Answers one request, and records it when it is an S3 one. An `Err` makes hyper close the
/// client connection without an answer.
async fn handle(
    request: Request<Incoming>,
    shared: Arc<Shared>,
    upstream: Arc<tokio::sync::Mutex<Upstream>>,
    abort: Arc<AtomicBool>,
) -> Result<Response<Full<Bytes>>, Failure> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|_| Failure::CloseConnection)?.to_bytes();
    let operation = operation(&parts);
    if is_json_protocol(&operation) {
        return respond(parts, body, operation, shared, upstream, abort).await;
    }
    let mut record = recording::request(&parts, &operation, &body);
    let answer = match respond(parts, body, operation, shared.clone(), upstream, abort).await {
        Ok(answer) => Ok(recording::answer(&mut record, answer).await),
        Err(failure) => Err(failure),
    };
    shared.recorded.lock().unwrap().push(record);
    answer
}

/// The answer to one request: a fault's, or the upstream's.
async fn respond(
    parts: hyper::http::request::Parts,
    body: Bytes,
    operation: String,
    shared: Arc<Shared>,
    upstream: Arc<tokio::sync::Mutex<Upstream>>,
    abort: Arc<AtomicBool>,
) -> Result<Response<Full<Bytes>>, Failure> {
    let json_protocol = is_json_protocol(&operation);
    // What the faults read from DynamoDB bodies; `Null` for S3 or an unreadable body.
    let json = if json_protocol { serde_json::from_slice(&body).unwrap_or(Value::Null) } else { Value::Null };
    let head = parts.method == Method::HEAD;
    let request = Request::from_parts(parts, body);
    let facts = RequestFacts {
        operation: &operation,
        transact_items: dynamodb::transact_item_count(&json),
        consistent_read: dynamodb::is_consistent_read(&json),
    };
    let Some(fired) = shared.arrive(&facts) else {
        return Ok(forward(&shared, &upstream, request, &operation, &json).await.map(Full::new));
    };
    if !fired.fault.depends_on_answer() {
        shared.count_injected(&fired.fault);
    }
    let sequence = shared.next_answer();
    let cancel_transaction = |reason| {
        let culprit = (fired.draw % facts.transact_items as u64) as usize;
        dynamodb::transaction_canceled(facts.transact_items, culprit, reason, sequence)
    };
    let answer = match &fired.fault {
        Fault::WriteConflict => dynamodb::transaction_conflict(sequence),
        Fault::TransactionConflict => cancel_transaction(CancellationReason::TransactionConflict),
        Fault::TransactionThrottled => cancel_transaction(CancellationReason::ThrottlingError),
        Fault::Throttling if json_protocol => dynamodb::throttling(sequence),
        Fault::ProvisionedThroughputExceeded if json_protocol => dynamodb::provisioned_throughput_exceeded(sequence),
        Fault::Throttling | Fault::ProvisionedThroughputExceeded => s3::slow_down(head, sequence),
        Fault::ServerError(status) if json_protocol => dynamodb::server_error(*status, sequence),
        Fault::ServerError(status) => s3::server_error(*status, head, sequence),
        Fault::Respond { status, content_type, body } => {
            reply(*status, &[("content-type", content_type.clone())], Bytes::from(body.clone()))
        }
        Fault::ConnectionReset => return Err(close(&abort)),
        Fault::Latency(delay) => {
            tokio::time::sleep(*delay).await;
            forward(&shared, &upstream, request, &operation, &json).await.map(Full::new)
        }
        Fault::CommitThenDropReply => {
            // The whole upstream answer has been read once `forward` returns: the write is done.
            forward(&shared, &upstream, request, &operation, &json).await;
            return Err(close(&abort));
        }
        Fault::MissingKeyForbidden => {
            let answer = forward(&shared, &upstream, request, &operation, &json).await;
            if answer.status() != StatusCode::NOT_FOUND {
                return Ok(answer.map(Full::new));
            }
            shared.count_conditional_injection(&fired);
            s3::access_denied(head, sequence)
        }
        Fault::StaleReads(lag) => {
            let mut answer = forward(&shared, &upstream, request, &operation, &json).await;
            let hid = answer.status() == StatusCode::OK
                && shared.writes.lock().unwrap().hide_recent(&json, &mut answer, *lag, Instant::now());
            if hid {
                shared.count_conditional_injection(&fired);
            }
            answer.map(Full::new)
        }
    };
    Ok(answer)
}

/// Marks the client connection for a reset, and gives hyper the error that makes it close it.
fn close(abort: &AtomicBool) -> Failure {
    abort.store(true, Ordering::Relaxed);
    Failure::CloseConnection
}

/// Sends the request upstream unchanged and reads the whole answer; records the writes upstream
/// accepted. A 502 with the reason if the upstream cannot be reached.
async fn forward(
    shared: &Shared,
    upstream: &tokio::sync::Mutex<Upstream>,
    request: Request<Bytes>,
    operation: &str,
    json: &Value,
) -> Response<Bytes> {
    let answer = match upstream.lock().await.send(request.map(Full::new)).await {
        Ok(answer) => answer,
        Err(failure) => {
            let mut answer = Response::new(Bytes::from(failure.to_string()));
            *answer.status_mut() = StatusCode::BAD_GATEWAY;
            return answer;
        }
    };
    if answer.status().is_success() && is_json_protocol(operation) {
        shared.writes.lock().unwrap().record(operation, json, Instant::now());
    }
    answer
}

/// The upstream connection of one client connection, opened when first needed and reopened when
/// the upstream closes it between requests.
struct Upstream {
    address: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Upstream {
    async fn send(&mut self, request: Request<Full<Bytes>>) -> Result<Response<Bytes>, Failure> {
        let mut request = request;
        // A second attempt only when the first never left the proxy (the upstream had just closed
        // the idle connection), so a request is never sent twice.
        for _ in 0..2 {
            let sender = match self.sender.take().filter(|sender| !sender.is_closed()) {
                Some(sender) => self.sender.insert(sender),
                None => self.sender.insert(self.connect().await?),
            };
            if sender.ready().await.is_err() {
                self.sender = None;
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(answer) => {
                    let (parts, body) = answer.into_parts();
                    let body = body.collect().await.map_err(|error| Failure::Upstream(error.to_string()))?;
                    return Ok(Response::from_parts(parts, body.to_bytes()));
                }
                Err(mut error) => {
                    self.sender = None;
                    request = error.take_message().ok_or_else(|| Failure::Upstream(error.into_error().to_string()))?;
                }
            }
        }
        Err(Failure::Upstream("the upstream keeps closing the connection".into()))
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Failure> {
        let failed = |error: &dyn std::error::Error| Failure::Upstream(format!("{}: {error}", self.address));
        let stream = TcpStream::connect(&self.address).await.map_err(|error| failed(&error))?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|error| failed(&error))?;
        tokio::spawn(connection);
        Ok(sender)
    }
}

/// Why the proxy did not forward an answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The client connection is to be closed without an answer: a fault, or an unreadable request.
    CloseConnection,
    /// The upstream could not be reached or did not answer.
    Upstream(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::CloseConnection => f.write_str("connection closed by the faults proxy"),
            Failure::Upstream(reason) => write!(f, "faults proxy: upstream failed: {reason}"),
        }
    }
}

impl std::error::Error for Failure {}

/// The client side of a connection. When a fault has marked it, dropping it resets the TCP
/// connection (RST) instead of closing it (FIN), which is how a real dropped connection looks to
/// a client: an error, rather than an orderly end of the stream.
struct ClientStream {
    stream: TcpStream,
    abort: Arc<AtomicBool>,
}

impl Drop for ClientStream {
    fn drop(&mut self) {
        if self.abort.load(Ordering::Relaxed) {
            // A zero linger makes the close send RST; if it fails the close is an orderly one.
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
