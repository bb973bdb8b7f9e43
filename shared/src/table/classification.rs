//! A classification result, written on its document: only while the document is classifiable
//! (`domain::CLASSIFIABLE`), and when it names a topic, only if that topic is still active.
//! Writing the same result twice leaves the same item, so duplicate events are invisible to
//! readers. A document the user filed by hand (`classified_by` = `user`) is never written by an
//! automatic classification, unless the caller asks to replace the user's choice.
//!
//! One `UpdateItem` (one write unit for an item under 1 KB), not a transaction with a check of
//! the topic (four: transactions bill each item twice): the topic is read after the write,
//! strongly consistent. Deleting a topic marks it `deleting` before it looks (strongly
//! consistent too) for the documents filed under it, so either that read sees the topic active
//! and the deletion, which comes later, finds this document; or it sees the topic going or gone,
//! and this write is taken back here (the caller classifies again).

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::documents::{parse_document, Uploaded};
use super::examples::filed_as_read;
use super::expression::WithExpr;
use super::topics::{topic_pk, topic_sk};
use super::{b, doc_sk, get_s, key, n, s, status_in, user_pk, DocumentTable, Expr, TableError};
use crate::domain::{
    Classification, DocumentId, DocumentStatus, PendingCharge, TopicId, TopicState, UserId, CLASSIFIABLE, FILED_BY_USER,
};

/// What happened to a classification result on its way to the table.
#[derive(Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    Recorded,
    /// The document was deleted or rejected meanwhile: nothing written, nothing resurrected.
    DocumentGone,
    /// The chosen topic was deleted meanwhile: classify again.
    TopicGone,
    /// The user filed the document by hand: an automatic result is not written.
    FiledByUser,
}

/// Who may overwrite a classification already on the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// An automatic result: never over the user's own filing.
    KeepUsersChoice,
    /// A reclassification the user asked to replace their filing with: only over the filing as
    /// it was read (under that topic, or not filed by hand), so a newer filing by hand wins.
    UsersChoiceAsRead(Option<TopicId>),
}

impl DocumentTable {
    /// Records `classification` on document `id` of `user`. With `settling` (the charge of an
    /// upload confirmed on its arrival, left unsettled for this write), the same write settles
    /// it (`PendingCharge`): the document must then still be pending, and one found settled by
    /// someone else meanwhile is written again without it. One found neither (filed by hand,
    /// rejected, gone) is written nothing: the caller settles it if it still must.
    pub async fn record_classification(
        &self,
        user: &UserId,
        id: DocumentId,
        classification: &Classification,
        overwrite: Overwrite,
        settling: Option<&PendingCharge>,
    ) -> Result<RecordOutcome, TableError> {
        match self.write_classification(user, id, classification, overwrite, settling).await? {
            Err(now) if settling.is_some() && now == Some(DocumentStatus::Uploaded) => {
                Box::pin(self.record_classification(user, id, classification, overwrite, None)).await
            }
            Err(Some(now)) if CLASSIFIABLE.contains(&now) => Ok(RecordOutcome::FiledByUser),
            Err(_) => Ok(RecordOutcome::DocumentGone),
            Ok(()) => self.check_filed_topic(user, id, classification).await,
        }
    }

    /// The one `UpdateItem` of a classification (and of the settle, with `settling`); `Err`
    /// carries the status the document had when the condition failed (`None`: no document).
    async fn write_classification(
        &self,
        user: &UserId,
        id: DocumentId,
        classification: &Classification,
        overwrite: Overwrite,
        settling: Option<&PendingCharge>,
    ) -> Result<Result<(), Option<DocumentStatus>>, TableError> {
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
            // What the document becomes as an example once the user files it (`examples`).
            ("features", classification.features.clone().map(b)),
        ] {
            match value {
                Some(value) => {
                    set.push(format!("{attribute} = :{attribute}"));
                    expr = expr.value(format!(":{attribute}"), value);
                }
                None => remove.push(attribute),
            }
        }
        let statuses = match settling {
            Some(charge) => {
                let becomes = Uploaded::new(charge.size_bytes, charge.uploaded_at, None);
                set.extend(becomes.set.iter().map(|s| (*s).to_owned()));
                remove.extend(becomes.remove);
                expr = expr.and(becomes.values);
                &[DocumentStatus::Pending][..]
            }
            None => CLASSIFIABLE,
        };
        let mut update_text = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            update_text.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let guard = Expr::condition("attribute_exists(pk)").and(status_in(statuses)).and(match overwrite {
            Overwrite::KeepUsersChoice => {
                Expr::condition("attribute_not_exists(classified_by) OR classified_by <> :by_user")
                    .value(":by_user", s(FILED_BY_USER))
            }
            Overwrite::UsersChoiceAsRead(filed) => filed_as_read(filed),
        });
        let written = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), doc_sk(id))))
            .with(guard.and(expr).and(Expr::update(update_text)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_values(ReturnValue::None)
            .send()
            .await;
        match written {
            Ok(_) => Ok(Ok(())),
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    Ok(Err(failed.item().and_then(parse_document).map(|now| now.status)))
                }
                other => Err(TableError::new("recording a classification", other)),
            },
        }
    }

    /// After a result naming a topic was written: the topic is read, and the result taken back
    /// if the topic is going.
    async fn check_filed_topic(
        &self,
        user: &UserId,
        id: DocumentId,
        classification: &Classification,
    ) -> Result<RecordOutcome, TableError> {
        let Some(topic) = classification.topic_id else { return Ok(RecordOutcome::Recorded) };
        match self.topic_is_active(user, topic).await {
            Ok(true) => return Ok(RecordOutcome::Recorded),
            Ok(false) => {}
            // Not known to be active: taken back all the same (the caller fails or classifies
            // again), so a failed read never leaves the document under a topic being deleted.
            Err(error) => {
                self.unfile_document(user, doc_sk(id), topic).await?;
                return Err(error);
            }
        }
        self.unfile_document(user, doc_sk(id), topic).await?;
        Ok(RecordOutcome::TopicGone)
    }

    /// Whether `topic` is there and not being deleted, read strongly consistent.
    pub async fn topic_is_active(&self, user: &UserId, topic: TopicId) -> Result<bool, TableError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), topic_sk(topic))))
            .projection_expression("topic_state")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| TableError::new("reading a document's topic", e))?;
        Ok(output.item().and_then(|item| get_s(item, "topic_state")) == Some(TopicState::Active.as_str()))
    }
}
