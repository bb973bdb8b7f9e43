//! Filing by hand: the user puts a document under one of their topics, or takes it out of every
//! topic. The choice is recorded as the document's classification with `classified_by: "user"`,
//! and no automatic classification replaces it (`table::Overwrite::KeepUsersChoice`); only a
//! reclassification that asks to (`reclassify` with `replace_manual`) does.

use super::Result;
use crate::domain::{Classification, Document, DocumentId, DocumentStatus, TopicId, UserId, CLASSIFIABLE};
use crate::invocation::Invocation;
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

pub async fn file_by_hand(
    app: &App,
    invocation: &Invocation,
    user: &UserId,
    id: DocumentId,
    topic: Option<TopicId>,
) -> Result<FileOutcome> {
    let Some(document) = app.table.get_document(user, id).await? else { return Ok(FileOutcome::NotFound) };
    if !CLASSIFIABLE.contains(&document.status) {
        return Ok(FileOutcome::NotFileable(document.status));
    }
    let classification = Classification::by_user(topic, document.classification.excerpt.clone());
    Ok(match app.table.record_classification(invocation, user, id, &classification, Overwrite::Anything).await? {
        RecordOutcome::Recorded => FileOutcome::Filed(Box::new(Document { classification, ..document })),
        RecordOutcome::TopicGone => FileOutcome::TopicNotFound,
        // Deleted or rejected meanwhile (the user's own choice is never refused for being theirs).
        RecordOutcome::DocumentGone | RecordOutcome::FiledByUser => FileOutcome::NotFound,
    })
}
