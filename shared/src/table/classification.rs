//! A classification result, written on its document: only while the document is classifiable
//! (`domain::CLASSIFIABLE`), and when it names a topic, only if that topic is still active.
//! Writing the same result twice leaves the same item, so duplicate events are invisible to
//! readers. A document the user filed by hand (`classified_by` = `user`) is never written by an
//! automatic classification, unless the caller asks to replace the user's choice.

use aws_sdk_dynamodb::types::{ConditionCheck, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};

use super::documents::parse_document;
use super::expression::WithExpr;
use super::topics::{topic_pk, topic_sk};
use super::{b, doc_sk, key, n, s, status_in, user_pk, DocumentTable, Expr, TableError};
use crate::domain::{Classification, DocumentId, TopicState, UserId, CLASSIFIABLE, FILED_BY_USER};
use crate::invocation::Invocation;

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
    /// The user's own filing, or a reclassification the user asked to replace it.
    Anything,
}

impl DocumentTable {
    pub async fn record_classification(
        &self,
        invocation: &Invocation,
        user: &UserId,
        id: DocumentId,
        classification: &Classification,
        overwrite: Overwrite,
    ) -> Result<RecordOutcome, TableError> {
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
        let mut update_text = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            update_text.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let mut guard = Expr::condition("attribute_exists(pk)").and(status_in(CLASSIFIABLE));
        if overwrite == Overwrite::KeepUsersChoice {
            guard = guard.and(
                Expr::condition("attribute_not_exists(classified_by) OR classified_by <> :by_user")
                    .value(":by_user", s(FILED_BY_USER)),
            );
        }
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), doc_sk(id))))
            .with(guard.and(expr).and(Expr::update(update_text)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| TableError::new("building the classification update", e))?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        if let Some(topic) = classification.topic_id {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(user_pk(user), topic_sk(topic))))
                .with(Expr::condition("topic_state = :active").value(":active", s(TopicState::Active.as_str())))
                .build()
                .map_err(|e| TableError::new("building the topic check", e))?;
            items.push(TransactWriteItem::builder().condition_check(check).build());
        }
        // The token is derived from every value written: a retried event whose verdict differs
        // (another model, another topic list) is a different write, not a mismatched resend.
        let purpose = format!("classify {} {id} {overwrite:?} {classification:?}", user.as_str());
        Ok(match self.transact(invocation, &purpose, items).await? {
            None => RecordOutcome::Recorded,
            Some(failed) if failed.failed(0) => match failed.item(0).and_then(parse_document) {
                Some(now) if CLASSIFIABLE.contains(&now.status) => RecordOutcome::FiledByUser,
                _ => RecordOutcome::DocumentGone,
            },
            Some(_) => RecordOutcome::TopicGone,
        })
    }
}
