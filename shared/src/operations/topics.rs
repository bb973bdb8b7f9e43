//! A user's topics: list, create, delete.
//!
//! Deleting a topic is three steps, each safe to repeat: mark it `deleting` (classification can
//! no longer choose it), move its documents back to unclassified (read consistently, so a
//! classification committed just before the mark is seen), then remove it and its name guard
//! (the user's examples of it live on its item and go with it: `table::examples`).
//! A retry after a failure half-way resumes the move.

use super::Result;
use crate::auth::now_unix;
use crate::domain::{Topic, TopicId, UserId};
use crate::invocation::Invocation;
use crate::table::{NewTopic, Page};
use crate::App;

/// A page of the user's active topics, oldest first.
pub async fn list_topics(app: &App, user: &UserId, limit: u32, after: Option<TopicId>) -> Result<Page<Topic, TopicId>> {
    Ok(app.table.list_topics_page(user, limit, after).await?)
}

/// Creates a topic (`name` and `description` validated), unless the user already has one of
/// that name (ignoring case) or as many topics as allowed.
pub async fn create_topic(
    app: &App,
    invocation: &Invocation,
    user: &UserId,
    name: &str,
    description: &str,
) -> Result<NewTopic> {
    Ok(app.table.create_topic(invocation, user, name, description, now_unix()).await?)
}

/// Deletes a topic and unfiles its documents; none is removed. False when there is no such
/// topic.
pub async fn delete_topic(app: &App, invocation: &Invocation, user: &UserId, id: TopicId) -> Result<bool> {
    let Some(topic) = app.table.mark_topic_deleting(user, id).await? else { return Ok(false) };
    app.table.unfile_documents_of(user, id).await?;
    app.table.remove_topic(invocation, user, &topic).await?;
    Ok(true)
}
