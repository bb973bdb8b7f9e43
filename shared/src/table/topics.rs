//! Topics, in the same per-user partition:
//!
//! * `TOPIC#<uuid>`: name, description, `topic_state` (`domain::TopicState`);
//! * `TOPICNAME#<name key>`: the guard that keeps names unique per user (`domain::topics::name_key`),
//!   written in the same transaction as the topic and naming it (`topic_id`).
//!
//! A classified document carries `topic_pk` (`USER#<sub>#TOPIC#<uuid>`), the key of the sparse
//! `DocumentsByTopic` index. Deleting a topic is a sequence of the steps here, run by
//! `operations::topics::delete_topic`.

use aws_sdk_dynamodb::types::{Delete, Put, ReturnValue, TransactWriteItem};

use super::documents::documents_page;
use super::expression::WithExpr;
use super::paging::{query_all, query_page, Page};
use super::{
    doc_sk, get_n, get_s, key, n, s, unless_condition_failed, user_pk, DocumentTable, Expr, Item, TableError,
    DOC_PREFIX,
};
use crate::domain::topics::name_key;
use crate::domain::{ClassificationStatus, Document, DocumentId, Topic, TopicId, TopicState, UserId};
use crate::invocation::Invocation;

const TOPIC_PREFIX: &str = "TOPIC#";
const TOPIC_NAME_PREFIX: &str = "TOPICNAME#";
pub const TOPIC_INDEX: &str = "DocumentsByTopic";

pub(super) fn topic_sk(id: TopicId) -> String {
    format!("{TOPIC_PREFIX}{id}")
}

fn topic_name_sk(name: &str) -> String {
    format!("{TOPIC_NAME_PREFIX}{}", name_key(name))
}

/// The `DocumentsByTopic` partition of `topic`'s documents.
pub(super) fn topic_pk(user: &UserId, topic: TopicId) -> String {
    format!("{}#{TOPIC_PREFIX}{topic}", user_pk(user))
}

fn parse_topic(item: &Item) -> Option<Topic> {
    Some(Topic {
        id: TopicId::parse(get_s(item, "sk")?.strip_prefix(TOPIC_PREFIX)?).ok()?,
        name: get_s(item, "name")?.to_owned(),
        description: get_s(item, "description").unwrap_or_default().to_owned(),
        created_at: get_n(item, "created_at").unwrap_or_default(),
    })
}

impl DocumentTable {
    /// Creates a topic; `None` when the user has one of the same name (ignoring case).
    pub async fn create_topic(
        &self,
        invocation: &Invocation,
        user: &UserId,
        name: &str,
        description: &str,
        now: i64,
    ) -> Result<Option<Topic>, TableError> {
        let topic =
            Topic { id: TopicId::new(), name: name.to_owned(), description: description.to_owned(), created_at: now };
        let mut item = key(user_pk(user), topic_sk(topic.id));
        item.extend([
            ("name".to_owned(), s(name)),
            ("description".to_owned(), s(description)),
            ("created_at".to_owned(), n(now)),
            ("topic_state".to_owned(), s(TopicState::Active.as_str())),
        ]);
        let mut guard = key(user_pk(user), topic_name_sk(name));
        guard.insert("topic_id".to_owned(), s(topic.id.to_string()));
        let put = |item: Item| -> Result<TransactWriteItem, TableError> {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .with(Expr::condition("attribute_not_exists(pk)"))
                .build()
                .map_err(|e| TableError::new("building the topic put", e))?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let purpose = format!("create topic {} {}", user.as_str(), topic.id);
        match self.transact(invocation, &purpose, vec![put(item)?, put(guard)?]).await? {
            None => Ok(Some(topic)),
            Some(failed) if failed.failed(1) => Ok(None),
            // The id is new: an existing topic item is this very write from an earlier attempt.
            Some(_) => Ok(Some(topic)),
        }
    }

    /// The user's active topics, oldest first.
    pub async fn list_topics(&self, user: &UserId) -> Result<Vec<Topic>, TableError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :topic)")
            .with(
                Expr::condition("topic_state = :active")
                    .value(":pk", s(user_pk(user)))
                    .value(":topic", s(TOPIC_PREFIX))
                    .value(":active", s(TopicState::Active.as_str())),
            )
            .consistent_read(true);
        let mut topics: Vec<Topic> = query_all(query, "listing topics").await?.iter().filter_map(parse_topic).collect();
        topics.sort_by_key(|t| t.id);
        Ok(topics)
    }

    /// Marks a topic `deleting`, so classification can no longer choose it; returns it, or
    /// `None` when there is no such topic.
    pub async fn mark_topic_deleting(&self, user: &UserId, id: TopicId) -> Result<Option<Topic>, TableError> {
        let marked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), topic_sk(id))))
            .with(
                Expr::condition("attribute_exists(pk)")
                    .and(Expr::update("SET topic_state = :deleting"))
                    .value(":deleting", s(TopicState::Deleting.as_str())),
            )
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let Some(marked) = unless_condition_failed(marked, "marking a topic for deletion")? else {
            return Ok(None);
        };
        let topic = marked.attributes().and_then(parse_topic);
        topic.map(Some).ok_or_else(|| TableError::new("reading the marked topic", "missing attributes"))
    }

    /// Moves every document filed under `topic` back to unclassified. Found with a strongly
    /// consistent read, so a classification committed before the topic was marked is seen; a
    /// document reclassified or deleted meanwhile is left alone.
    pub async fn unfile_documents_of(&self, user: &UserId, topic: TopicId) -> Result<(), TableError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :doc)")
            .with(
                Expr::condition("topic_id = :topic")
                    .value(":pk", s(user_pk(user)))
                    .value(":doc", s(DOC_PREFIX))
                    .value(":topic", s(topic.to_string())),
            )
            .projection_expression("sk")
            .consistent_read(true);
        for item in query_all(query, "finding the documents of a topic").await? {
            let Some(sk) = get_s(&item, "sk") else { continue };
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(user_pk(user), sk.to_owned())))
                .with(
                    Expr::condition("topic_id = :topic")
                        .and(Expr::update("SET classification_status = :unclassified REMOVE topic_id, topic_pk"))
                        .value(":topic", s(topic.to_string()))
                        .value(":unclassified", s(ClassificationStatus::Unclassified.as_str())),
                )
                .send()
                .await;
            // A failed condition means reclassified or deleted meanwhile: nothing to move.
            unless_condition_failed(result, "moving a document to unclassified")?;
        }
        Ok(())
    }

    /// Removes a topic marked for deletion with its name guard, the guard only if it still names
    /// this topic (a late duplicate delete must not free the name of a newer topic).
    pub async fn remove_topic(&self, invocation: &Invocation, user: &UserId, topic: &Topic) -> Result<(), TableError> {
        let delete = |sk: String, condition: Option<Expr>| -> Result<TransactWriteItem, TableError> {
            let mut delete = Delete::builder().table_name(&self.table).set_key(Some(key(user_pk(user), sk)));
            if let Some(condition) = condition {
                delete = delete.with(condition);
            }
            let delete = delete.build().map_err(|e| TableError::new("building the topic delete", e))?;
            Ok(TransactWriteItem::builder().delete(delete).build())
        };
        let id = topic.id;
        let guard_is_ours =
            Expr::condition("attribute_not_exists(pk) OR topic_id = :topic").value(":topic", s(id.to_string()));
        let items = vec![delete(topic_sk(id), None)?, delete(topic_name_sk(&topic.name), Some(guard_is_ours))?];
        if self.transact(invocation, &format!("delete topic {id}"), items).await?.is_some() {
            // The name already belongs to a newer topic: leave its guard alone.
            self.transact(invocation, &format!("delete topic {id} only"), vec![delete(topic_sk(id), None)?]).await?;
        }
        Ok(())
    }

    /// A page of the user's documents filed under `topic`, newest first (the index is
    /// eventually consistent: a document classified a moment ago may show a moment later).
    pub async fn list_documents_of_topic(
        &self,
        user: &UserId,
        topic: TopicId,
        limit: u32,
        after: Option<DocumentId>,
    ) -> Result<Page<Document>, TableError> {
        let start = after.map(|after| {
            let mut start = key(user_pk(user), doc_sk(after));
            start.insert("topic_pk".to_owned(), s(topic_pk(user, topic)));
            start
        });
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(TOPIC_INDEX)
            .key_condition_expression("topic_pk = :topic_pk")
            .expression_attribute_values(":topic_pk", s(topic_pk(user, topic)))
            .scan_index_forward(false)
            .limit(limit as i32);
        Ok(documents_page(query_page(query, start, "listing the documents of a topic").await?))
    }
}
