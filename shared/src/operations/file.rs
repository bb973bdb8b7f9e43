//! Filing by hand: the user puts a document under one of their topics, or takes it out of every
//! topic. The choice is recorded as the document's classification with `classified_by: "user"`,
//! and no automatic classification replaces it (`table::Overwrite::KeepUsersChoice`); only a
//! reclassification that asks to (`reclassify` with `replace_manual`) does.
//!
//! The document becomes an example of the topic it is filed under (`domain::examples`), in the
//! same write, and stops being one of the topic it leaves; one without features yet (filed
//! before its text was read) becomes one when classification reads it ([`learn_late`]).

use super::Result;
use crate::domain::{Classification, Document, DocumentId, DocumentStatus, TopicId, UserId, CLASSIFIABLE};
use crate::invocation::Invocation;
use crate::retry::RetryPolicy;
use crate::table::Filing;
use crate::App;

#[derive(Debug, Clone, PartialEq)]
pub enum FileOutcome {
    /// The document as it is now filed.
    Filed(Box<Document>),
    NotFound,
    /// No such topic of this user, or it is being deleted.
    TopicNotFound,
    /// Only pending and uploaded documents are filed (a rejected upload is not a document).
    NotFileable(DocumentStatus),
    /// Other requests changed the document or the topic's examples on every attempt.
    KeptChanging,
}

pub async fn file_by_hand(
    app: &App,
    invocation: &Invocation,
    user: &UserId,
    id: DocumentId,
    topic: Option<TopicId>,
) -> Result<FileOutcome> {
    // The write is conditional on the document and the topic's examples as read; a concurrent
    // change makes it read again (bounded: each retry means another request made progress).
    let mut attempts = RetryPolicy::RACES.at_most(3).attempts(invocation);
    while attempts.next().await {
        let Some(document) = app.table.get_document(user, id).await? else { return Ok(FileOutcome::NotFound) };
        if !CLASSIFIABLE.contains(&document.status) {
            return Ok(FileOutcome::NotFileable(document.status));
        }
        match app.table.file_document(invocation, &document, topic, None, now_ms()).await? {
            Filing::Filed => {
                let features = document.classification.features.clone();
                let classification = Classification {
                    features,
                    ..Classification::by_user(topic, document.classification.excerpt.clone())
                };
                return Ok(FileOutcome::Filed(Box::new(Document { classification, ..document })));
            }
            Filing::TopicGone => return Ok(FileOutcome::TopicNotFound),
            // Deleted or rejected meanwhile.
            Filing::DocumentGone => return Ok(FileOutcome::NotFound),
            Filing::DocumentChanged | Filing::ExamplesChanged => continue,
        }
    }
    Ok(FileOutcome::KeptChanging)
}

/// A document the user filed by hand before its text was read gets its `features` now and
/// becomes an example of its topic (classification calls this when its result is refused for
/// being no match for the user's choice). Best effort: losing a race leaves it no example.
pub(crate) async fn learn_late(
    app: &App,
    invocation: &Invocation,
    user: &UserId,
    id: DocumentId,
    features: &[u8],
) -> Result<()> {
    let Some(document) = app.table.get_document(user, id).await? else { return Ok(()) };
    let Some(topic) = document.classification.filed_by_user_under() else { return Ok(()) };
    if document.classification.features.is_some() {
        return Ok(());
    }
    let filing = app.table.file_document(invocation, &document, Some(topic), Some(features), now_ms()).await?;
    if filing != Filing::Filed {
        tracing::info!(user = user.as_str(), %id, ?filing, "a document filed by hand did not become an example");
    }
    Ok(())
}

/// When a filing happened, in Unix milliseconds: the order of a topic's examples.
fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ClassificationStatus;

    #[test]
    fn the_users_choice_is_filed_as_theirs_and_only_on_documents_that_can_be_classified() {
        let topic = TopicId::new();
        let filed = Classification::by_user(Some(topic), Some("start".into()));
        assert_eq!(
            (filed.status, filed.topic_id, filed.confidence),
            (ClassificationStatus::Classified, Some(topic), None)
        );
        assert!(filed.is_by_user());
        let unfiled = Classification::by_user(None, None);
        assert_eq!((unfiled.status, unfiled.topic_id), (ClassificationStatus::Unclassified, None));
        assert!(CLASSIFIABLE.contains(&DocumentStatus::Pending) && !CLASSIFIABLE.contains(&DocumentStatus::Rejected));
    }
}
