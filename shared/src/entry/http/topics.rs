//! The topic routes: list, create, delete.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use super::codec::{empty_response, json_body, json_response, path_topic_id};
use super::{identify, invocation};
use crate::domain::NewTopicRequest;
use crate::error::ApiError;
use crate::operations::topics::{create_topic, delete_topic, list_topics};
use crate::App;

pub(super) async fn topics(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let user = identify(app, request)?;
    let id = path_topic_id(request)?;
    match (request.method(), id) {
        (&Method::GET, None) => Ok(json_response(StatusCode::OK, &list_topics(app, &user).await?)),
        (&Method::POST, None) => {
            let (name, description) = json_body::<NewTopicRequest>(request)?.validate()?;
            match create_topic(app, &invocation(request), &user, &name, &description).await? {
                Some(topic) => Ok(json_response(StatusCode::CREATED, &topic)),
                None => Err(ApiError::Conflict(format!("a topic named {name:?} already exists"))),
            }
        }
        (&Method::DELETE, Some(id)) => match delete_topic(app, &invocation(request), &user, id).await? {
            true => Ok(empty_response(StatusCode::NO_CONTENT)),
            false => Err(ApiError::NotFound("Topic")),
        },
        _ => Err(ApiError::MethodNotAllowed),
    }
}
