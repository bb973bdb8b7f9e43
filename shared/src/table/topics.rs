//! Topics and classification results, in the same per-user partition:
//!
//! * `TOPIC#<uuid>`: name, description, `topic_state` (`active`, or `deleting` while its
//!   documents are moved back to unclassified);
//! * `TOPICNAME#<lower-case name>`: the guard that keeps names unique per user, case-insensitively,
//!   written in the same transaction as the topic.

use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem, Update};

use super::{
    cancellation_reasons, failed_condition, get_n, get_s, key, n, s, unless_condition_failed, user_pk, DocumentTable,
    Item, DOC_PREFIX,
};
use crate::error::ApiError;
use crate::model::{Classification, ClassificationStatus, DocumentId, DocumentStatus, Topic, TopicId, UserId};

const TOPIC_PREFIX: &str = "TOPIC#";
const TOPIC_NAME_PREFIX: &str = "TOPICNAME#";
const ACTIVE: &str = "active";
const DELETING: &str = "deleting";

fn topic_sk(id: TopicId) -> String {
    format!("{TOPIC_PREFIX}{id}")
}

fn topic_name_sk(name: &str) -> String {
    format!("{TOPIC_NAME_PREFIX}{}", name.to_lowercase())
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

impl DocumentTable {
    /// Creates a topic; 409 when the user has one of the same name (ignoring case).
    pub async fn create_topic(
        &self,
        user: &UserId,
        name: &str,
        description: &str,
        now: i64,
    ) -> Result<Topic, ApiError> {
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
        let put = |item: Item, condition: &str| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(condition)
                .build()
                .map_err(|e| ApiError::internal("building Put", e))
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put(item, "attribute_not_exists(pk)")?).build())
            .transact_items(TransactWriteItem::builder().put(put(guard, "attribute_not_exists(pk)")?).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(topic),
            Err(error) => {
                let reasons =
                    cancellation_reasons(error).map_err(|e| ApiError::internal("creating topic failed", e))?;
                if failed_condition(reasons.get(1)) {
                    return Err(ApiError::Conflict(format!("a topic named {name:?} already exists")));
                }
                Err(ApiError::internal("creating topic was cancelled", format!("{reasons:?}")))
            }
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
                .filter_expression("topic_state = :active")
                .expression_attribute_values(":pk", s(user_pk(user)))
                .expression_attribute_values(":topic", s(TOPIC_PREFIX))
                .expression_attribute_values(":active", s(ACTIVE))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| ApiError::internal("Query topics failed", e))?;
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
    /// documents are moved, then it goes. A retry after a failure half-way resumes the move.
    /// Returns false when there is no such topic.
    pub async fn delete_topic(&self, user: &UserId, id: TopicId) -> Result<bool, ApiError> {
        let marked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), topic_sk(id))))
            .condition_expression("attribute_exists(pk)")
            .update_expression("SET topic_state = :deleting")
            .expression_attribute_values(":deleting", s(DELETING))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        let Some(marked) = unless_condition_failed(marked, "marking topic for deletion failed")? else {
            return Ok(false);
        };
        let topic = marked.attributes().and_then(parse_topic);
        let topic = topic.ok_or_else(|| ApiError::internal("topic item unreadable", "missing attributes"))?;
        self.unclassify_documents_of(user, id).await?;
        self.client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .set_key(Some(key(user_pk(user), topic_sk(id))))
                            .build()
                            .map_err(|e| ApiError::internal("building Delete", e))?,
                    )
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .set_key(Some(key(user_pk(user), topic_name_sk(&topic.name))))
                            .build()
                            .map_err(|e| ApiError::internal("building Delete", e))?,
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(|e| ApiError::internal("deleting topic failed", e))?;
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
                .filter_expression("topic_id = :topic")
                .projection_expression("sk")
                .expression_attribute_values(":pk", s(user_pk(user)))
                .expression_attribute_values(":doc", s(DOC_PREFIX))
                .expression_attribute_values(":topic", s(topic.to_string()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| ApiError::internal("Query documents of topic failed", e))?;
            for item in output.items() {
                let Some(sk) = get_s(item, "sk") else { continue };
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key(user_pk(user), sk.to_owned())))
                    .condition_expression("topic_id = :topic")
                    .update_expression("SET classification_status = :unclassified REMOVE topic_id")
                    .expression_attribute_values(":topic", s(topic.to_string()))
                    .expression_attribute_values(":unclassified", s(ClassificationStatus::Unclassified.as_str()))
                    .send()
                    .await;
                // A failed condition means reclassified or deleted meanwhile: nothing to move.
                unless_condition_failed(result, "moving document to unclassified failed")?;
            }
            start = output.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(());
            }
        }
    }

    /// Stores a classification on a document that is still pending or uploaded, and, when it
    /// names a topic, only if that topic is still active. Writing the same result twice leaves
    /// the same item, so duplicate events are invisible to readers.
    pub async fn record_classification(
        &self,
        user: &UserId,
        id: DocumentId,
        classification: &Classification,
    ) -> Result<RecordOutcome, ApiError> {
        let mut set = vec!["classification_status = :status".to_owned()];
        let mut remove = Vec::new();
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), super::doc_sk(id))))
            .condition_expression("attribute_exists(pk) AND #status IN (:pending, :uploaded)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(DocumentStatus::Pending.as_str()))
            .expression_attribute_values(":uploaded", s(DocumentStatus::Uploaded.as_str()))
            .expression_attribute_values(":status", s(classification.status.as_str()));
        // Absent fields are removed, so a new result never mixes with an older one.
        for (attribute, value) in [
            ("topic_id", classification.topic_id.map(|t| s(t.to_string()))),
            ("confidence", classification.confidence.map(|c| n(format!("{c:.4}")))),
            ("excerpt", classification.excerpt.clone().filter(|e| !e.is_empty()).map(s)),
            ("classification_reason", classification.reason.clone().map(s)),
        ] {
            match value {
                Some(value) => {
                    set.push(format!("{attribute} = :{attribute}"));
                    update = update.expression_attribute_values(format!(":{attribute}"), value);
                }
                None => remove.push(attribute),
            }
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let update =
            update.update_expression(expression).build().map_err(|e| ApiError::internal("building Update", e))?;
        let mut transaction =
            self.client.transact_write_items().transact_items(TransactWriteItem::builder().update(update).build());
        if let Some(topic) = classification.topic_id {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(user_pk(user), topic_sk(topic))))
                .condition_expression("topic_state = :active")
                .expression_attribute_values(":active", s(ACTIVE))
                .build()
                .map_err(|e| ApiError::internal("building ConditionCheck", e))?;
            transaction = transaction.transact_items(TransactWriteItem::builder().condition_check(check).build());
        }
        match transaction.send().await {
            Ok(_) => Ok(RecordOutcome::Recorded),
            Err(error) => {
                let reasons = cancellation_reasons(error)
                    .map_err(|e| ApiError::internal("recording classification failed", e))?;
                if failed_condition(reasons.first()) {
                    Ok(RecordOutcome::DocumentGone)
                } else if failed_condition(reasons.get(1)) {
                    Ok(RecordOutcome::TopicGone)
                } else {
                    Err(ApiError::internal("recording classification was cancelled", format!("{reasons:?}")))
                }
            }
        }
    }
}
