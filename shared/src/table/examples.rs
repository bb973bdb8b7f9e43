//! The user's examples (`domain::examples`), kept on the item of their topic: one attribute
//! `example:<document uuid>` per example, a map of the document's `features` (binary, as the
//! classifier stores them) and `filed_at` (Unix ms), and `examples_version`, counted up by every
//! write that adds examples.
//!
//! Why on the topic's item: classification reads all of the user's topics anyway, so their
//! examples cost no extra request, and they go with their topic when it is deleted. A topic
//! holds at most `EXAMPLES_PER_TOPIC` examples (20 x about 190 bytes, far from DynamoDB's item
//! limit of 400 KB:
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items>).
//!
//! Consistency: an example is written or removed in the same transaction as the document's own
//! change, and each transaction is conditional on the document being filed as it was read
//! ([`filed_as_read`]) and on the examples being as read (`examples_version`, for the cap). A
//! document deleted while it is being filed therefore either loses its example in its deletion
//! or is gone before the filing, which then writes nothing.

use aws_sdk_dynamodb::types::{ConditionCheck, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};

use super::documents::parse_document;
use super::expression::WithExpr;
use super::topics::{topic_pk, topic_sk};
use super::{b, doc_sk, get_b, get_n, get_s, key, n, s, status_in, user_pk, DocumentTable, Expr, Item, TableError};
use crate::domain::examples::{evicted, TopicExample, EXAMPLES_PER_TOPIC};
use crate::domain::{
    ClassificationStatus, Document, DocumentId, TopicId, TopicState, UserId, CLASSIFIABLE, FILED_BY_USER,
};
use crate::invocation::Invocation;

const EXAMPLE_PREFIX: &str = "example:";
const VERSION: &str = "examples_version";

fn example_attribute(document: DocumentId) -> String {
    format!("{EXAMPLE_PREFIX}{document}")
}

/// The examples held by a topic's item.
pub(super) fn examples_of(topic: TopicId, item: &Item) -> Vec<TopicExample> {
    item.iter()
        .filter_map(|(name, value)| {
            let document = DocumentId::parse(name.strip_prefix(EXAMPLE_PREFIX)?).ok()?;
            let map = value.as_m().ok()?;
            let features = get_b(map, "features")?.to_vec();
            Some(TopicExample { topic, document, features, filed_at: get_n(map, "filed_at").unwrap_or_default() })
        })
        .collect()
}

/// The document is filed by the user under `filed` (`Some`), or not filed by hand under any
/// topic (`None`): as it was read.
pub(super) fn filed_as_read(filed: Option<TopicId>) -> Expr {
    match filed {
        Some(topic) => Expr::condition("classified_by = :read_by_user AND topic_id = :read_topic")
            .value(":read_by_user", s(FILED_BY_USER))
            .value(":read_topic", s(topic.to_string())),
        None => Expr::condition(
            "attribute_not_exists(classified_by) OR classified_by <> :read_by_user OR attribute_not_exists(topic_id)",
        )
        .value(":read_by_user", s(FILED_BY_USER)),
    }
}

/// What filing a document by hand found.
#[derive(Debug, Clone, PartialEq)]
pub enum Filing {
    Filed,
    /// Deleted or rejected meanwhile: nothing written.
    DocumentGone,
    /// Filed otherwise meanwhile (or its features arrived): read it again.
    DocumentChanged,
    /// The topic is unknown or being deleted: nothing written.
    TopicGone,
    /// Another filing changed the topic's examples meanwhile: read it again.
    ExamplesChanged,
}

impl DocumentTable {
    /// Files `document` (as read) under `topic` by hand, or takes it out of every topic with
    /// `None`, in one transaction: its classification; its example on `topic` when it has
    /// features (`features` are written on it first when it has none yet), evicting the
    /// oldest when the topic is full; and the removal of its example from the topic it was filed
    /// under by hand before.
    pub async fn file_document(
        &self,
        invocation: &Invocation,
        document: &Document,
        topic: Option<TopicId>,
        features: Option<&[u8]>,
        now_ms: i64,
    ) -> Result<Filing, TableError> {
        let user = &document.owner;
        let before = document.classification.filed_by_user_under();
        let stored = document.classification.features.as_deref();
        let features = stored.or(features);

        let mut set = vec!["classification_status = :f_status", "classified_by = :f_by_user"];
        let mut remove = vec!["confidence", "classification_reason"];
        let status =
            if topic.is_some() { ClassificationStatus::Classified } else { ClassificationStatus::Unclassified };
        let mut expr = Expr::default().value(":f_status", s(status.as_str())).value(":f_by_user", s(FILED_BY_USER));
        match topic {
            Some(topic) => {
                set.extend(["topic_id = :f_topic", "topic_pk = :f_topic_pk"]);
                expr = expr.value(":f_topic", s(topic.to_string())).value(":f_topic_pk", s(topic_pk(user, topic)));
            }
            None => remove.extend(["topic_id", "topic_pk"]),
        }
        let mut guard = Expr::condition("attribute_exists(pk)").and(status_in(CLASSIFIABLE)).and(filed_as_read(before));
        if stored.is_none() {
            // Read without features: if classification stores them meanwhile, this filing is
            // decided again with them (else the document would stay filed here and no example).
            guard = guard.and(Expr::condition("attribute_not_exists(features)"));
            if let Some(features) = features {
                set.push("features = :f_features");
                expr = expr.value(":f_features", b(features));
            }
        }
        let update = format!("SET {} REMOVE {}", set.join(", "), remove.join(", "));
        let doc = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), doc_sk(document.id))))
            .with(guard.and(expr).and(Expr::update(update)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| TableError::new("building the filing", e))?;
        let mut items = vec![TransactWriteItem::builder().update(doc).build()];

        if let Some(topic) = topic {
            let active = Expr::condition("topic_state = :active").value(":active", s(TopicState::Active.as_str()));
            let item = match features {
                // Without features the document is no example: the topic need only be active.
                None => {
                    let check = ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(user_pk(user), topic_sk(topic))))
                        .with(active)
                        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                        .build()
                        .map_err(|e| TableError::new("building the topic check", e))?;
                    TransactWriteItem::builder().condition_check(check).build()
                }
                Some(features) => {
                    let Some(item) = self.topic_item(user, topic).await? else { return Ok(Filing::TopicGone) };
                    if get_s(&item, "topic_state") != Some(TopicState::Active.as_str()) {
                        return Ok(Filing::TopicGone);
                    }
                    let update = self.add_example(user, topic, &item, document.id, features, now_ms, active)?;
                    TransactWriteItem::builder().update(update).build()
                }
            };
            items.push(item);
        }
        if let Some(old) = before.filter(|old| Some(*old) != topic) {
            items.push(TransactWriteItem::builder().update(self.example_removal(user, old, document.id)?).build());
        }

        let purpose = format!("file {} {} {topic:?} {before:?} {now_ms}", user.as_str(), document.id);
        let Some(failed) = self.transact(invocation, &purpose, items).await? else { return Ok(Filing::Filed) };
        if failed.failed(0) {
            return Ok(match failed.item(0).and_then(parse_document) {
                Some(now) if CLASSIFIABLE.contains(&now.status) => Filing::DocumentChanged,
                _ => Filing::DocumentGone,
            });
        }
        if failed.failed(1) && topic.is_some() {
            let still_active = failed.item(1).and_then(|item| get_s(item, "topic_state"));
            return Ok(match still_active == Some(TopicState::Active.as_str()) {
                true => Filing::ExamplesChanged,
                false => Filing::TopicGone,
            });
        }
        Err(TableError::new("filing a document", format!("{purpose}: refused by {failed:?}")))
    }

    /// The update that makes `document` an example of `topic` (read as `item`), evicting the
    /// oldest examples beyond the cap, conditional on the examples being as read and `active`.
    #[allow(clippy::too_many_arguments)]
    fn add_example(
        &self,
        user: &UserId,
        topic: TopicId,
        item: &Item,
        document: DocumentId,
        features: &[u8],
        now_ms: i64,
        active: Expr,
    ) -> Result<Update, TableError> {
        let held: Vec<(DocumentId, i64)> = examples_of(topic, item).iter().map(|e| (e.document, e.filed_at)).collect();
        let version: Option<u64> = get_n(item, VERSION);
        let as_read = match version {
            None => Expr::condition(format!("attribute_not_exists({VERSION})")),
            Some(version) => Expr::condition(format!("{VERSION} = :version_read")).value(":version_read", n(version)),
        };
        let example = aws_sdk_dynamodb::types::AttributeValue::M(
            [("features".to_owned(), b(features)), ("filed_at".to_owned(), n(now_ms))].into(),
        );
        let mut expr = active
            .and(as_read)
            .name("#example", &example_attribute(document))
            .value(":example", example)
            .value(":version_next", n(version.unwrap_or(0) + 1));
        let mut update = format!("SET #example = :example, {VERSION} = :version_next");
        let gone = evicted(&held, document, EXAMPLES_PER_TOPIC);
        for (i, old) in gone.iter().enumerate() {
            update.push_str(if i == 0 { " REMOVE " } else { ", " });
            update.push_str(&format!("#evicted{i}"));
            expr = expr.name(&format!("#evicted{i}"), &example_attribute(*old));
        }
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), topic_sk(topic))))
            .with(expr.and(Expr::update(update)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| TableError::new("building the example", e))
    }

    /// The update that removes `document`'s example from `topic`, if there is one. It has no
    /// condition: it is only sent with a write conditional on the document being filed by hand
    /// under `topic`, which an active or deleting topic's item outlives (`delete_topic` unfiles
    /// every document before it removes the item).
    fn example_removal(&self, user: &UserId, topic: TopicId, document: DocumentId) -> Result<Update, TableError> {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), topic_sk(topic))))
            .update_expression("REMOVE #example")
            .expression_attribute_names("#example", example_attribute(document))
            .build()
            .map_err(|e| TableError::new("building the example removal", e))
    }

    /// What a transition that removes `document` (delete, reject) adds: the condition that it is
    /// filed as read, and the removal of its example from the topic it was filed under by hand.
    pub(super) fn without_example(&self, document: &Document) -> Result<(Expr, Option<TransactWriteItem>), TableError> {
        let filed = document.classification.filed_by_user_under();
        let removal = match filed {
            Some(topic) => Some(
                TransactWriteItem::builder().update(self.example_removal(&document.owner, topic, document.id)?).build(),
            ),
            None => None,
        };
        Ok((filed_as_read(filed), removal))
    }

    /// Removes `document`'s example from `topic`, if the topic is still there (a reclassification
    /// that replaces the user's choice: the document stops being an example first).
    pub async fn forget_example(&self, user: &UserId, topic: TopicId, document: DocumentId) -> Result<(), TableError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), topic_sk(topic))))
            .with(
                Expr::condition("attribute_exists(pk)")
                    .and(Expr::update("REMOVE #example"))
                    .name("#example", &example_attribute(document)),
            )
            .send()
            .await;
        super::unless_condition_failed(result, "removing an example")?;
        Ok(())
    }

    /// A topic's item as it is now (strongly consistent), examples included.
    async fn topic_item(&self, user: &UserId, topic: TopicId) -> Result<Option<Item>, TableError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), topic_sk(topic))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| TableError::new("reading a topic", e))?;
        Ok(output.item().cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_are_read_from_their_attributes_and_nothing_else() {
        let (topic, document) = (TopicId::new(), DocumentId::new());
        let mut item = key("USER#u".into(), topic_sk(topic));
        item.insert("name".into(), s("Pets"));
        item.insert(VERSION.into(), n(3));
        let example = [("features".to_owned(), b(vec![1u8, 2, 3])), ("filed_at".to_owned(), n(42))];
        item.insert(example_attribute(document), aws_sdk_dynamodb::types::AttributeValue::M(example.into()));
        item.insert(format!("{EXAMPLE_PREFIX}not-an-id"), s("x"));
        assert_eq!(
            examples_of(topic, &item),
            [TopicExample { topic, document, features: vec![1, 2, 3], filed_at: 42 }]
        );
    }

    #[test]
    fn a_removal_is_conditional_on_the_filing_read() {
        let topic = TopicId::new();
        let filed = filed_as_read(Some(topic));
        assert_eq!(filed.condition_text(), Some("classified_by = :read_by_user AND topic_id = :read_topic"));
        assert!(filed_as_read(None).condition_text().unwrap().contains("attribute_not_exists(topic_id)"));
    }
}
