//! The Bedrock classifier's plumbing against a stub of Bedrock Runtime's `InvokeModel` (an
//! Amazon Nova model's replies) that the test serves on loopback (the SDK's endpoint override): the signed request it sends, the
//! answers it accepts, and the fall back to term matching on throttling, errors, timeouts and
//! unusable answers, recorded in `classified_by`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use shared::classifier::{BedrockClassifier, TermMatchClassifier, DEFAULT_BEDROCK_PROMPT};
use shared::entry::http as handlers;

use crate::common::{app, event_request, new_user, reply_of, Api};

pub(crate) const MODEL: &str = "amazon.nova-micro-v1:0";

#[derive(Clone)]
pub(crate) enum Canned {
    Answer(&'static str),
    Error(u16, &'static str),
    Slow(Duration),
}

#[derive(Debug)]
struct Received {
    path: String,
    authorization: String,
    body: Value,
}

/// Bedrock Runtime as far as `InvokeModel` of a Nova model goes: each request gets the next canned reply (the last
/// one repeats), and is kept for the test to read.
#[derive(Clone)]
pub(crate) struct StubBedrock {
    endpoint: String,
    replies: Arc<Mutex<VecDeque<Canned>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl StubBedrock {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stub = Self {
            endpoint: format!("http://{}", listener.local_addr().unwrap()),
            replies: Arc::default(),
            received: Arc::default(),
        };
        let serving = stub.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let stub = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| stub.clone().reply(request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        stub
    }

    pub(crate) fn answer_with(&self, replies: &[Canned]) {
        *self.replies.lock().unwrap() = replies.iter().cloned().collect();
        self.received.lock().unwrap().clear();
    }

    pub(crate) fn received(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    async fn reply(self, request: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let path = request.uri().path().to_owned();
        let authorization =
            request.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        self.received.lock().unwrap().push(Received { path, authorization, body });
        let canned = {
            let mut replies = self.replies.lock().unwrap();
            if replies.len() > 1 {
                replies.pop_front()
            } else {
                replies.front().cloned()
            }
        };
        let json = |status: u16, error_type: Option<&str>, body: Value| {
            let mut response = Response::builder().status(status).header("content-type", "application/json");
            if let Some(error_type) = error_type {
                response = response.header("x-amzn-errortype", error_type);
            }
            Ok(response.header("x-amzn-requestid", "stub-1").body(Full::new(Bytes::from(body.to_string()))).unwrap())
        };
        match canned.expect("the test set the replies") {
            Canned::Answer(text) => json(
                200,
                None,
                json!({
                    "output": { "message": { "role": "assistant", "content": [{ "text": text }] } },
                    "stopReason": "end_turn",
                    "usage": { "inputTokens": 180, "outputTokens": 12, "totalTokens": 192 },
                    "metrics": { "latencyMs": 240 }
                }),
            ),
            Canned::Error(status, error_type) => json(status, Some(error_type), json!({ "message": error_type })),
            Canned::Slow(pause) => {
                tokio::time::sleep(pause).await;
                json(200, None, json!({}))
            }
        }
    }

    pub(crate) async fn classifier(&self, timeout: Duration) -> BedrockClassifier {
        let sdk = shared::clients::sdk_config().await;
        let config = aws_sdk_bedrockruntime::config::Builder::from(&sdk).endpoint_url(&self.endpoint).build();
        let fallback = Arc::new(TermMatchClassifier::default());
        BedrockClassifier::new(aws_sdk_bedrockruntime::Client::from_conf(config), MODEL, None, timeout, fallback)
    }
}

#[tokio::test]
async fn bedrock_decides_through_invoke_model_and_term_matching_takes_over_when_it_cannot() {
    let (api, app, user) = (Api::new(), app().await, new_user());
    api.create_topic(&user, "Invoices", "Bills and invoices to pay or already paid").await;
    let recipes = api.create_topic(&user, "Recipes", "Cooking and baking recipes I want to keep").await;
    let soup = "Red lentil soup\n\nSoften an onion in olive oil, stir in cumin, add 200 g of red lentils \
                and a litre of stock, simmer 20 minutes and blend. Serves four.";
    let id = api.upload_as(&user, "soup.txt", "text/plain", soup.as_bytes().to_vec()).await;
    api.classified(&user, &id).await;
    let stub = StubBedrock::start().await;
    let bedrock = stub.classifier(Duration::from_secs(5)).await;
    let reclassify = async |classifier: &BedrockClassifier| {
        let request = event_request("reclassify.json", &user, Some(&id));
        reply_of(handlers::reclassify(&app, classifier, request).await.unwrap())
    };
    // The model files it: the answer is stored with the model's name.
    stub.answer_with(&[Canned::Answer("{\"topic\": 2, \"confidence\": 0.92}")]);
    let filed = reclassify(&bedrock).await;
    assert_eq!(filed.status, 200, "{}", filed.body);
    assert_eq!(filed.body["classification_status"], "classified");
    assert_eq!(filed.body["topic_id"], recipes.as_str());
    assert_eq!(filed.body["confidence"], 0.92);
    assert_eq!(filed.body["classified_by"], format!("bedrock:{MODEL}"));
    assert_eq!(api.get(&user, &id).await.body["classified_by"], format!("bedrock:{MODEL}"), "stored");

    // What was sent: InvokeModel on the model, signed for Bedrock, in Nova's format: the instructions as the system
    // prompt, the numbered topics and the fenced text, a short deterministic answer asked for.
    let sent = stub.received.lock().unwrap().pop().unwrap();
    assert_eq!(sent.path, format!("/model/{}/invoke", MODEL.replace(':', "%3A")));
    assert!(
        sent.authorization.starts_with("AWS4-HMAC-SHA256 ") && sent.authorization.contains("/bedrock/aws4_request")
    );
    assert_eq!(sent.body["system"], json!([{ "text": DEFAULT_BEDROCK_PROMPT }]));
    let question = sent.body["messages"][0]["content"][0]["text"].as_str().unwrap();
    assert_eq!(sent.body["messages"][0]["role"], "user");
    assert!(question.contains("1. Invoices: Bills and invoices to pay or already paid\n2. Recipes: "), "{question}");
    assert!(question.contains(&format!("<document>\n{soup}\n</document>")), "{question}");
    assert_eq!(sent.body["inferenceConfig"], json!({ "maxTokens": 50, "temperature": 0 }));

    // "None fits" is the model's verdict too: unclassified, by the model.
    stub.answer_with(&[Canned::Answer("{\"topic\": null, \"confidence\": 0.7}")]);
    let none = reclassify(&bedrock).await;
    assert_eq!(
        (none.body["classification_status"].clone(), none.body["topic_id"].clone()),
        (json!("unclassified"), Value::Null)
    );
    assert_eq!(none.body["classified_by"], format!("bedrock:{MODEL}"));

    // Throttled on every attempt: the SDK retries, then term matching decides, and says so.
    stub.answer_with(&[Canned::Error(429, "ThrottlingException")]);
    let throttled = reclassify(&bedrock).await;
    assert_eq!(throttled.status, 200, "{}", throttled.body);
    assert_eq!(throttled.body["classified_by"], "term-match");
    assert!(stub.received() > 1, "the SDK retried throttling: {} requests", stub.received());

    // Throttled once, then an answer: the SDK's retry is enough.
    stub.answer_with(&[
        Canned::Error(429, "ThrottlingException"),
        Canned::Answer("{\"topic\": 2, \"confidence\": 0.8}"),
    ]);
    let retried = reclassify(&bedrock).await;
    assert_eq!((retried.body["classified_by"].clone(), stub.received()), (json!(format!("bedrock:{MODEL}")), 2));

    // Refused (no model access), an answer outside the topics offered, prose: term matching.
    for canned in [
        Canned::Error(403, "AccessDeniedException"),
        Canned::Error(400, "ValidationException"),
        Canned::Answer("{\"topic\": 7, \"confidence\": 0.9}"),
        Canned::Answer("It looks like a recipe to me."),
    ] {
        stub.answer_with(&[canned]);
        let fallback = reclassify(&bedrock).await;
        assert_eq!(fallback.status, 200, "{}", fallback.body);
        assert_eq!(fallback.body["classified_by"], "term-match", "{}", fallback.body);
    }

    // No answer in time: the classifier's own deadline, then term matching.
    let impatient = stub.classifier(Duration::from_secs(1)).await;
    stub.answer_with(&[Canned::Slow(Duration::from_secs(4))]);
    let started = Instant::now();
    let late = reclassify(&impatient).await;
    assert_eq!(late.body["classified_by"], "term-match");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}
