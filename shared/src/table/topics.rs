//! Topics and classification results, in the same per-user partition:
//!
//! * `TOPIC#<uuid>`: name, description, `topic_state` (`active`, or `deleting` while its
//!   documents are moved back to unclassified);
//! * `TOPICNAME#<lower-case name>`: the guard that keeps names unique per user, case-insensitively,
//!   written in the same transaction as the topic and naming it (`topic_id`).
//!
//! A classified document carries `topic_pk` (`USER#<sub>#TOPIC#<uuid>`), the key of the sparse
//! `DocumentsByTopic` index.

use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem, Update};

use super::documents::parse_document;
use super::expression::WithExpr;
use super::{
    doc_sk, get_n, get_s, key, n, s, status_in, unless_condition_failed, user_pk, DocumentTable, Expr, Item, DOC_PREFIX,
};
use crate::error::ApiError;
use crate::invocation::Invocation;
use crate::model::{Classification, ClassificationStatus, Document, DocumentStatus, Topic, TopicId, UserId};

const TOPIC_PREFIX: &str = "TOPIC#";
const TOPIC_NAME_PREFIX: &str = "TOPICNAME#";
pub const TOPIC_INDEX: &str = "DocumentsByTopic";
const ACTIVE: &str = "active";
const DELETING: &str = "deleting";

fn topic_sk(id: TopicId) -> String {
    format!("{TOPIC_PREFIX}{id}")
}

fn topic_name_sk(name: &str) -> String {
    format!("{TOPIC_NAME_PREFIX}{}", name.to_lowercase())
}

/// The `DocumentsByTopic` partition of `topic`'s documents.
fn topic_pk(user: &UserId, topic: TopicId) -> String {
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

/// What happened to a classification result on its way to the table.
#[derive(Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    Recorded,
    /// The document was deleted or rejected meanwhile: nothing written, nothing resurrected.
    DocumentGone,
    /// The chosen topic was deleted meanwhile: classify again.
    TopicGone,
}

/// A page of one topic's documents, newest first.
#[derive(Debug)]
pub struct TopicPage {
    pub documents: Vec<Document>,
    pub next: Option<crate::model::DocumentId>,
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
    ) -> Result<Option<Topic>, ApiError> {
        let topic =
            Topic { id: TopicId::new(), name: name.to_owned(), description: description.to_owned(), created_at: now };
        let mut item = key(user_pk(user), topic_sk(topic.id));
        item.extend([
            ("name".to_owned(), s(name)),
            ("description".to_owned(), s(description)),
            ("created_at".to_owned(), n(now)),
            ("topic_state".to_owned(), s(ACTIVE)),
        ]);
        let mut guard = key(user_pk(user), topic_name_sk(name));
        guard.insert("topic_id".to_owned(), s(topic.id.to_string()));
        let put = |item: Item| -> Result<TransactWriteItem, ApiError> {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .with(Expr::condition("attribute_not_exists(pk)"))
                .build()
                .map_err(|e| ApiError::internal("building the topic put", e))?;
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
    pub async fn list_topics(&self, user: &UserId) -> Result<Vec<Topic>, ApiError> {
        let mut topics = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :topic)")
                .with(
                    Expr::condition("topic_state = :active")
                        .value(":pk", s(user_pk(user)))
                        .value(":topic", s(TOPIC_PREFIX))
                        .value(":active", s(ACTIVE)),
                )
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| ApiError::internal("listing topics", e))?;
            topics.extend(output.items().iter().filter_map(parse_topic));
            start = output.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        topics.sort_by_key(|t| t.id);
        Ok(topics)
    }

    /// Deletes a topic and moves its documents back to unclassified; no document is removed.
    /// The topic is first marked `deleting` (classification can no longer choose it), then its
    /// documents are moved (read consistently, so a classification committed before the mark is
    /// seen), then it goes with its name guard, the guard only if it still names this topic (a
    /// late duplicate delete must not free the name of a newer topic). A retry after a failure
    /// half-way resumes the move. Returns false when there is no such topic.
    pub async fn delete_topic(&self, invocation: &Invocation, user: &UserId, id: TopicId) -> Result<bool, ApiError> {
        let marked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), topic_sk(id))))
            .with(
                Expr::condition("attribute_exists(pk)")
                    .and(Expr::update("SET topic_state = :deleting"))
                    .value(":deleting", s(DELETING)),
            )
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let Some(marked) = unless_condition_failed(marked, "marking a topic for deletion")? else {
            return Ok(false);
        };
        let topic = marked.attributes().and_then(parse_topic);
        let topic = topic.ok_or_else(|| ApiError::internal("reading the marked topic", "missing attributes"))?;
        self.unclassify_documents_of(user, id).await?;
        let delete = |sk: String, condition: Option<Expr>| -> Result<TransactWriteItem, ApiError> {
            let mut delete = Delete::builder().table_name(&self.table).set_key(Some(key(user_pk(user), sk)));
            if let Some(condition) = condition {
                delete = delete.with(condition);
            }
            let delete = delete.build().map_err(|e| ApiError::internal("building the topic delete", e))?;
            Ok(TransactWriteItem::builder().delete(delete).build())
        };
        let guard_is_ours =
            Expr::condition("attribute_not_exists(pk) OR topic_id = :topic").value(":topic", s(id.to_string()));
        let items = vec![delete(topic_sk(id), None)?, delete(topic_name_sk(&topic.name), Some(guard_is_ours))?];
        if self.transact(invocation, &format!("delete topic {id}"), items).await?.is_some() {
            // The name already belongs to a newer topic: leave its guard alone.
            self.transact(invocation, &format!("delete topic {id} only"), vec![delete(topic_sk(id), None)?]).await?;
        }
        Ok(true)
    }

    async fn unclassify_documents_of(&self, user: &UserId, topic: TopicId) -> Result<(), ApiError> {
        let mut start = None;
        loop {
            let output = self
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
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| ApiError::internal("finding the documents of a topic", e))?;
            for item in output.items() {
                let Some(sk) = get_s(item, "sk") else { continue };
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
            start = output.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(());
            }
        }
    }

    /// A page of the user's documents filed under `topic`, newest first (the index is
    /// eventually consistent: a document classified a moment ago may show a moment later).
    pub async fn list_documents_of_topic(
        &self,
        user: &UserId,
        topic: TopicId,
        limit: u32,
        after: Option<crate::model::DocumentId>,
    ) -> Result<TopicPage, ApiError> {
        let start = after.map(|after| {
            let mut start = key(user_pk(user), doc_sk(after));
            start.insert("topic_pk".to_owned(), s(topic_pk(user, topic)));
            start
        });
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(TOPIC_INDEX)
            .key_condition_expression("topic_pk = :topic_pk")
            .expression_attribute_values(":topic_pk", s(topic_pk(user, topic)))
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| ApiError::internal("listing the documents of a topic", e))?;
        let documents = output.items().iter().filter_map(parse_document).collect();
        let next = output
            .last_evaluated_key()
            .and_then(|k| get_s(k, "sk")?.strip_prefix(DOC_PREFIX).map(crate::model::DocumentId::parse))
            .and_then(Result::ok);
        Ok(TopicPage { documents, next })
    }

    /// Stores a classification on a document that is still pending or uploaded, and, when it
    /// names a topic, only if that topic is still active. Writing the same result twice leaves
    /// the same item, so duplicate events are invisible to readers.
    pub async fn record_classification(
        &self,
        invocation: &Invocation,
        user: &UserId,
        id: crate::model::DocumentId,
        classification: &Classification,
    ) -> Result<RecordOutcome, ApiError> {
        let mut set = vec!["classification_status = :classification".to_owned()];
        let mut remove = Vec::new();
        let mut expr = Expr::default().value(":classification", s(classification.status.as_str()));
        // Absent fields are removed, so a new result never mixes with an older one.
        for (attribute, value) in [
            ("topic_id", classification.topic_id.map(|t| s(t.to_string()))),
            ("topic_pk", classification.topic_id.map(|t| s(topic_pk(user, t)))),
            ("confidence", classification.confidence.map(|c| n(format!("{c:.4}")))),
            ("excerpt", classification.excerpt.clone().filter(|e| !e.is_empty()).map(s)),
            ("classification_reason", classification.reason.clone().map(s)),
            ("classified_by", classification.classified_by.clone().map(s)),
        ] {
            match value {
                Some(value) => {
                    set.push(format!("{attribute} = :{attribute}"));
                    expr = expr.value(format!(":{attribute}"), value);
                }
                None => remove.push(attribute),
            }
        }
        let mut update_text = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            update_text.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let guard = Expr::condition("attribute_exists(pk)")
            .and(status_in(&[DocumentStatus::Pending, DocumentStatus::Uploaded]));
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), doc_sk(id))))
            .with(guard.and(expr).and(Expr::update(update_text)))
            .build()
            .map_err(|e| ApiError::internal("building the classification update", e))?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        if let Some(topic) = classification.topic_id {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(user_pk(user), topic_sk(topic))))
                .with(Expr::condition("topic_state = :active").value(":active", s(ACTIVE)))
                .build()
                .map_err(|e| ApiError::internal("building the topic check", e))?;
            items.push(TransactWriteItem::builder().condition_check(check).build());
        }
        let purpose =
            format!("classify {} {id} {:?} {:?}", user.as_str(), classification.status, classification.topic_id);
        Ok(match self.transact(invocation, &purpose, items).await? {
            None => RecordOutcome::Recorded,
            Some(failed) if failed.failed(0) => RecordOutcome::DocumentGone,
            Some(_) => RecordOutcome::TopicGone,
        })
    }
}
