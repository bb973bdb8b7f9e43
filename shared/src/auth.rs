//! Who is calling: the `sub` claim of a JWT.
//!
//! In AWS the API Gateway JWT authorizer has verified the token and put its claims in the
//! request context. Locally there is no API Gateway, so a local-only mode (enabled by
//! `LOCAL_JWT_SECRET`) verifies an HS256 bearer token itself.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::Deserialize;
use sha2::Sha256;

use crate::domain::UserId;
use crate::error::ApiError;

type HmacSha256 = Hmac<Sha256>;

/// The caller of `request`, or 401.
pub fn caller(request: &Request, local_jwt_secret: Option<&str>) -> Result<UserId, ApiError> {
    if let Some(sub) = authorizer_subject(request) {
        return Ok(UserId::parse(sub)?);
    }
    match local_jwt_secret {
        Some(secret) => {
            let token = bearer_token(request)?;
            let sub = verify_local_token(token, secret, now_unix())?;
            Ok(UserId::parse(&sub)?)
        }
        None => Err(ApiError::Unauthorized("no verified JWT subject in the request".into())),
    }
}

fn authorizer_subject(request: &Request) -> Option<&str> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => {
            context.authorizer.as_ref()?.jwt.as_ref()?.claims.get("sub").map(String::as_str)
        }
        _ => None,
    }
}

fn bearer_token(request: &Request) -> Result<&str, ApiError> {
    let header = request
        .headers()
        .get(lambda_http::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("missing Authorization header".into()))?;
    let value = header.to_str().map_err(|_| ApiError::Unauthorized("malformed Authorization header".into()))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(ApiError::Unauthorized("expected 'Authorization: Bearer <token>'".into())),
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
}

/// Verifies an HS256 JWT (signature and `exp`) and returns its `sub`.
pub fn verify_local_token(token: &str, secret: &str, now: i64) -> Result<String, ApiError> {
    let invalid = |why: &str| ApiError::Unauthorized(format!("invalid token: {why}"));
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("expected three dot-separated parts"));
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| invalid("bad base64url"));
    let header: Header = serde_json::from_slice(&decode(header)?).map_err(|_| invalid("bad header"))?;
    if header.alg != "HS256" {
        return Err(invalid("only HS256 is accepted"));
    }
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(&token.as_bytes()[..token.len() - signature.len() - 1]);
    mac.verify_slice(&decode(signature)?).map_err(|_| invalid("signature mismatch"))?;
    let claims: Claims = serde_json::from_slice(&decode(payload)?).map_err(|_| invalid("claims need sub and exp"))?;
    if claims.exp <= now {
        return Err(invalid("expired"));
    }
    Ok(claims.sub)
}

/// Mints a local HS256 token for `sub` valid for `ttl_seconds` (for `make token` and tests).
pub fn mint_local_token(sub: &str, secret: &str, ttl_seconds: i64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = serde_json::json!({ "sub": sub, "iat": now_unix(), "exp": now_unix() + ttl_seconds });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_token_verifies_and_yields_subject() {
        let token = mint_local_token("alice", "s3cret", 60);
        assert_eq!(verify_local_token(&token, "s3cret", now_unix()).unwrap(), "alice");
    }

    #[test]
    fn wrong_secret_expiry_tampering_and_alg_none_are_refused() {
        let token = mint_local_token("alice", "s3cret", 60);
        assert!(verify_local_token(&token, "other", now_unix()).is_err());
        assert!(verify_local_token(&token, "s3cret", now_unix() + 61).is_err());
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"bob","exp":9999999999}"#);
        parts[1] = &forged;
        assert!(verify_local_token(&parts.join("."), "s3cret", now_unix()).is_err());
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#), forged);
        assert!(verify_local_token(&none, "s3cret", now_unix()).is_err());
        assert!(verify_local_token("garbage", "s3cret", now_unix()).is_err());
    }
}
