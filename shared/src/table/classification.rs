//! A classification result, written on its document: only while the document is classifiable
//! (`domain::CLASSIFIABLE`), and when it names a topic, only if that topic is still active.
//! Writing the same result twice leaves the same item, so duplicate events are invisible to
//! readers.

use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem, Update};

use super::expression::WithExpr;
use super::topics::{topic_pk, topic_sk};
use super::{doc_sk, key, n, s, status_in, user_pk, DocumentTable, Expr, TableError};
use crate::domain::{Classification, DocumentId, TopicState, UserId, CLASSIFIABLE};
use crate::invocation::Invocation;

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
    pub async fn record_classification(
        &self,
        invocation: &Invocation,
        user: &UserId,
        id: DocumentId,
        classification: &Classification,
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
        let guard = Expr::condition("attribute_exists(pk)").and(status_in(CLASSIFIABLE));
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), doc_sk(id))))
            .with(guard.and(expr).and(Expr::update(update_text)))
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
        let purpose =
            format!("classify {} {id} {:?} {:?}", user.as_str(), classification.status, classification.topic_id);
        Ok(match self.transact(invocation, &purpose, items).await? {
            None => RecordOutcome::Recorded,
            Some(failed) if failed.failed(0) => RecordOutcome::DocumentGone,
            Some(_) => RecordOutcome::TopicGone,
        })
    }
}
