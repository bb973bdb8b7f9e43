//! Running an HTTP function: each event from API Gateway becomes a `Request`, each `Response`
//! goes back, as `lambda_http::run` does, except that JWT claims are read as API Gateway may
//! send them.
//!
//! Why not `lambda_http::run` itself: it deserialises the event straight into `aws_lambda_events`'
//! `ApiGatewayV2httpRequest`, whose `requestContext.authorizer.jwt.claims` is a
//! `HashMap<String, String>`. API Gateway has at times passed claims as JSON numbers and
//! booleans (`"auth_time": 1700000000`, `"email_verified": true`); one such claim fails the whole
//! event, the runtime logs "Request payload deserialization into LambdaEvent<T> failed", the
//! handler is never called and API Gateway answers 500, for every request with that token.
//!
//! So [`run`] receives the raw JSON, normalises the claims ([`normalise_claims`]) and hands the
//! result to lambda_http's own adapter, the one `lambda_http::run` wraps the handler in: the
//! request (path, query, headers, base64 bodies, the Lambda context, the X-Ray header) and the
//! response (status, headers, cookies, base64 for binary bodies) are lambda_http's, unchanged.
//! That adapter and `LambdaRequest` are public but hidden from lambda_http's docs; the
//! `invoke_answers_as_api_gateway_expects` test holds their behaviour to what we rely on.
//!
//! Invariants:
//! - A claim that is a string is kept as it is; a number becomes its JSON text (`1700000000`,
//!   `0.5`), a boolean `true` or `false`, an array or object its compact JSON text; a null claim
//!   is dropped (absent). So a numeric `sub` is its decimal string, and `UserId::parse` applies.
//! - Nothing else in the event is touched. An event without claims passes as it came: under
//!   `cargo lambda watch` there is no authorizer, and `auth::caller` verifies the bearer token.
//! - [`invoke`] is the one way an event reaches a route: `run` calls it for every event, the
//!   tests call it with the fixtures. Nothing is built before the first event.

use std::future::Future;

use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Body, Error, LambdaEvent, Request, Response, Service};
use serde::Serialize;
use serde_json::Value;

/// Runs the Lambda runtime with `handler` answering every event (in place of `lambda_http::run`).
pub async fn run<H, F>(handler: H) -> Result<(), Error>
where
    H: Fn(Request) -> F,
    F: Future<Output = Result<Response<Body>, Error>> + Send,
{
    lambda_http::lambda_runtime::run(lambda_http::service_fn(|event| invoke(&handler, event))).await
}

/// One event: decoded ([`decode`]), answered by `handler`, encoded as API Gateway expects. An
/// event that is no API Gateway HTTP request is an error of the invocation (the handler is not
/// called), as with `lambda_http::run`.
pub async fn invoke<H, F>(handler: H, event: LambdaEvent<Value>) -> Result<impl Serialize, Error>
where
    H: FnMut(Request) -> F,
    F: Future<Output = Result<Response<Body>, Error>> + Send,
{
    let LambdaEvent { payload, context } = event;
    let request = decode(payload).map_err(|error| {
        tracing::error!(%error, "the event is not an API Gateway HTTP API request; the handler is not called");
        error
    })?;
    Adapter::from(lambda_http::service_fn(handler)).call(LambdaEvent::new(request, context)).await
}

/// The event as lambda_http reads it, after [`normalise_claims`].
pub fn decode(mut event: Value) -> Result<LambdaRequest, serde_json::Error> {
    normalise_claims(&mut event);
    serde_json::from_value(event)
}

/// Makes every JWT claim of an API Gateway HTTP API event a string (see the module's invariants).
pub fn normalise_claims(event: &mut Value) {
    let Some(Value::Object(claims)) = event.pointer_mut("/requestContext/authorizer/jwt/claims") else {
        return;
    };
    claims.retain(|_, claim| !claim.is_null());
    for claim in claims.values_mut() {
        let text = match claim {
            Value::String(_) => continue,
            Value::Bool(flag) => flag.to_string(),
            Value::Number(number) => number.to_string(),
            Value::Array(_) | Value::Object(_) | Value::Null => claim.to_string(),
        };
        *claim = Value::String(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    use serde_json::json;

    const NON_STRING_CLAIMS: &str = include_str!("../../../../events/claims-non-string.json");
    const QUOTA: &str = include_str!("../../../../events/quota.json");

    fn claims_of(request: &Request) -> std::collections::HashMap<String, String> {
        match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => context
                .authorizer
                .as_ref()
                .and_then(|a| a.jwt.as_ref())
                .map(|jwt| jwt.claims.clone())
                .unwrap_or_default(),
            _ => panic!("an API Gateway HTTP API request"),
        }
    }

    fn decoded(event: Value) -> Request {
        decode(event).expect("decodes").into()
    }

    #[test]
    fn lambda_http_alone_refuses_the_whole_event_for_one_numeric_claim() {
        // What `lambda_http::run` did with this fixture: no request at all, so a 500.
        let error = lambda_http::request::from_str(NON_STRING_CLAIMS).unwrap_err();
        assert!(error.to_string().contains("API Gateway"), "{error}");
    }

    #[test]
    fn numbers_and_booleans_become_their_text_and_strings_stay() {
        let request = decoded(serde_json::from_str(NON_STRING_CLAIMS).unwrap());
        let claims = claims_of(&request);
        assert_eq!(claims["sub"], "3f6b2c1e-8a4d-4c9b-9e21-5d7a0c1b2e3f");
        assert_eq!(claims["auth_time"], "1795838400");
        assert_eq!(claims["email_verified"], "true");
        assert_eq!(claims["phone_number_verified"], "false");
        assert_eq!(claims["custom:ratio"], "0.5");
        assert_eq!(claims["email"], "dev@example.com");
        assert_eq!(request.uri().path(), "/api/auth/me/quota");
    }

    #[test]
    fn arrays_objects_and_nulls_and_a_numeric_subject() {
        let mut event: Value = serde_json::from_str(QUOTA).unwrap();
        let claims = &mut event["requestContext"]["authorizer"]["jwt"]["claims"];
        claims["sub"] = json!(1234567890123_u64);
        claims["cognito:groups"] = json!(["readers", "writers"]);
        claims["address"] = json!({ "country": "IE" });
        claims["nickname"] = Value::Null;
        claims["note"] = json!(" spaced \"quoted\" ");
        let claims = claims_of(&decoded(event));
        assert_eq!(claims["sub"], "1234567890123");
        assert_eq!(claims["cognito:groups"], r#"["readers","writers"]"#);
        assert_eq!(claims["address"], r#"{"country":"IE"}"#);
        assert_eq!(claims["note"], " spaced \"quoted\" ");
        assert!(!claims.contains_key("nickname"));
    }

    #[test]
    fn events_without_claims_pass_as_they_came() {
        // `cargo lambda watch` sends no authorizer; API Gateway may send nulls.
        let mut base: Value = serde_json::from_str(QUOTA).unwrap();
        let mut without = base.clone();
        without["requestContext"].as_object_mut().unwrap().remove("authorizer");
        let mut shapes = vec![without];
        for null in
            ["/requestContext/authorizer", "/requestContext/authorizer/jwt", "/requestContext/authorizer/jwt/claims"]
        {
            let mut event = base.clone();
            *event.pointer_mut(null).unwrap() = Value::Null;
            shapes.push(event);
        }
        for event in shapes {
            let mut normalised = event.clone();
            normalise_claims(&mut normalised);
            assert_eq!(normalised, event);
            assert!(claims_of(&decoded(event)).is_empty());
        }
        // An event whose claims are all strings is left exactly as it was.
        let before = base.clone();
        normalise_claims(&mut base);
        assert_eq!(base, before);
    }

    #[tokio::test]
    async fn invoke_answers_as_api_gateway_expects() {
        let event: Value = serde_json::from_str(NON_STRING_CLAIMS).unwrap();
        let mut context = lambda_http::Context::default();
        context.xray_trace_id = Some("Root=1-674800a0-0a1b2c3d4e5f60718293a4b5;Sampled=1".into());
        let handler = |request: Request| async move {
            assert_eq!(claims_of(&request)["email_verified"], "true");
            assert!(request.lambda_context_ref().is_some(), "the Lambda context reaches the handler");
            let trace = request.headers()["x-amzn-trace-id"].to_str().unwrap().to_owned();
            let response = Response::builder()
                .status(201)
                .header("content-type", "application/octet-stream")
                .header("set-cookie", "a=1")
                .header("x-trace", trace)
                .body(Body::Binary(vec![0, 159, 255]))
                .unwrap();
            Ok::<_, Error>(response)
        };
        let answer = invoke(handler, LambdaEvent::new(event, context)).await.unwrap();
        let answer = serde_json::to_value(answer).unwrap();
        assert_eq!(answer["statusCode"], 201);
        assert_eq!(answer["isBase64Encoded"], true);
        assert_eq!(answer["body"], "AJ//");
        assert_eq!(answer["cookies"], json!(["a=1"]));
        assert_eq!(answer["headers"]["x-trace"], "Root=1-674800a0-0a1b2c3d4e5f60718293a4b5;Sampled=1");

        let not_http = LambdaEvent::new(json!({ "detail-type": "Scheduled Event" }), lambda_http::Context::default());
        let called = |_: Request| async { Err::<Response<Body>, Error>("the handler was called".into()) };
        let refused = invoke(called, not_http).await.err().expect("an error of the invocation");
        assert!(refused.to_string().contains("API Gateway"), "{refused}");
    }
}
