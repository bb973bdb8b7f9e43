//! Filing by hand: the user puts a document under one of their topics, or takes it out of every
//! topic. The choice is recorded as the document's classification with `classified_by: "user"`,
//! and no automatic classification replaces it (`table::Overwrite::KeepUsersChoice`); only a
//! reclassification that asks to (`reclassify` with `replace_manual`) does.

use super::Result;
use crate::domain::{Classification, Document, DocumentId, DocumentStatus, TopicId, UserId, CLASSIFIABLE};
use crate::table::{Overwrite, RecordOutcome};
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
}

pub async fn file_by_hand(app: &App, user: &UserId, id: DocumentId, topic: Option<TopicId>) -> Result<FileOutcome> {
    let Some(document) = app.table.get_document(user, id).await? else { return Ok(FileOutcome::NotFound) };
    if !CLASSIFIABLE.contains(&document.status) {
        return Ok(FileOutcome::NotFileable(document.status));
    }
    // An unknown or deleted topic is refused before anything is written (the write checks it
    // again after, for a deletion that starts meanwhile).
    if let Some(topic) = topic {
        if !app.table.topic_is_active(user, topic).await? {
            return Ok(FileOutcome::TopicNotFound);
        }
    }
    let classification = Classification::by_user(topic, document.classification.excerpt.clone());
    Ok(match app.table.record_classification(user, id, &classification, Overwrite::Anything).await? {
        RecordOutcome::Recorded => FileOutcome::Filed(Box::new(Document { classification, ..document })),
        RecordOutcome::TopicGone => FileOutcome::TopicNotFound,
        // Deleted or rejected meanwhile (the user's own choice is never refused for being theirs).
        RecordOutcome::DocumentGone | RecordOutcome::FiledByUser => FileOutcome::NotFound,
    })
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
