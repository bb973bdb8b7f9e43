//! The topic routes: list (in pages, oldest first), create (at most `MAX_TOPICS_PER_USER`),
//! delete; and filing a document under one by hand.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use serde_json::json;

use super::codec::{
    empty_response, json_body, json_response, page_limit, path_topic_id, query_param, require_method,
    required_document_id,
};
use super::documents::DocumentView;
use super::{identify, invocation};
use crate::domain::topics::too_many_topics;
use crate::domain::FileRequest;
use crate::domain::{NewTopicRequest, TopicId};
use crate::error::ApiError;
use crate::operations::file::{file_by_hand, FileOutcome};
use crate::operations::topics::{create_topic, delete_topic, list_topics};
use crate::table::NewTopic;
use crate::App;

pub(super) async fn topics(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let user = identify(app, request)?;
    let id = path_topic_id(request)?;
    match (request.method(), id) {
        (&Method::GET, None) => {
            let limit = page_limit(request, app.config.max_topics as u32)?;
            let cursor = query_param(request, "cursor")
                .filter(|c| !c.is_empty())
                .map(|c| TopicId::parse(&c).map_err(|_| ApiError::invalid("cursor is not one this API returned")))
                .transpose()?;
            let page = list_topics(app, &user, limit, cursor).await?;
            Ok(json_response(StatusCode::OK, &json!({ "items": page.items, "next_cursor": page.next })))
        }
        (&Method::POST, None) => {
            let (name, description) = json_body::<NewTopicRequest>(request)?.validate()?;
            match create_topic(app, &invocation(request), &user, &name, &description).await? {
                NewTopic::Created(topic) => Ok(json_response(StatusCode::CREATED, &topic)),
                NewTopic::NameTaken => Err(ApiError::Conflict(format!("a topic named {name:?} already exists"))),
                NewTopic::TooMany { max } => Err(ApiError::TooManyRequests(too_many_topics(max))),
            }
        }
        (&Method::DELETE, Some(id)) => match delete_topic(app, &invocation(request), &user, id).await? {
            true => Ok(empty_response(StatusCode::NO_CONTENT)),
            false => Err(ApiError::NotFound("Topic")),
        },
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// Whether `request` is PUT /api/documents/{id}/topic (any method: the route answers 405).
pub(super) fn is_filing(request: &Request) -> bool {
    let path = request.uri().path().trim_end_matches('/');
    path.starts_with("/api/documents/") && path.ends_with("/topic")
}

pub(super) async fn file(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    require_method(request, &Method::PUT)?;
    let user = identify(app, request)?;
    let id = required_document_id(request)?;
    let topic = json_body::<FileRequest>(request)?.validate()?;
    match file_by_hand(app, &invocation(request), &user, id, topic).await? {
        FileOutcome::Filed(document) => Ok(json_response(StatusCode::OK, &DocumentView::new(*document, None))),
        FileOutcome::NotFound => Err(ApiError::NotFound("Document")),
        FileOutcome::TopicNotFound => Err(ApiError::NotFound("Topic")),
        FileOutcome::KeptChanging => {
            Err(ApiError::Conflict("the document or its topic changed repeatedly while filing; try again".into()))
        }
        FileOutcome::NotFileable(status) => Err(ApiError::Conflict(format!(
            "the document is {}: only an uploaded or pending one is filed",
            status.as_str()
        ))),
    }
}
