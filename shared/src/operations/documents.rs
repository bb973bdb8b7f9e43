//! Reading what a user has: one document (with a download URL once uploaded), a page of them
//! (all, or one topic's), and the quota.

use super::Result;
use crate::domain::{Document, DocumentId, DocumentStatus, Quota, TopicId, UserId};
use crate::table::Page;
use crate::App;

/// A document and, once uploaded, a short-lived URL to download it.
pub async fn get_document(app: &App, user: &UserId, id: DocumentId) -> Result<Option<(Document, Option<String>)>> {
    let Some(document) = app.table.get_document(user, id).await? else { return Ok(None) };
    let download_url = match downloadable(&document) {
        true => Some(
            app.storage
                .presign_download(&document.object_key(), &document.filename, app.config.download_url_expiry)
                .await?,
        ),
        false => None,
    };
    Ok(Some((document, download_url)))
}

/// Only a confirmed document's object is the document: a pending one may not be there yet, a
/// rejected one is removed.
fn downloadable(document: &Document) -> bool {
    document.status == DocumentStatus::Uploaded
}

/// A page of the user's documents, newest first: all of them, or those filed under `topic`.
pub async fn list_documents(
    app: &App,
    user: &UserId,
    topic: Option<TopicId>,
    limit: u32,
    after: Option<DocumentId>,
) -> Result<Page<Document>> {
    Ok(match topic {
        Some(topic) => app.table.list_documents_of_topic(user, topic, limit, after).await?,
        None => app.table.list_documents(user, limit, after).await?,
    })
}

pub async fn quota(app: &App, user: &UserId) -> Result<Quota> {
    Ok(app.table.get_quota(user).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_uploaded_document_can_be_downloaded() {
        let user = UserId::parse("u").unwrap();
        let mut document = Document::pending(user, "a.txt".into(), "text/plain".into(), None, 0);
        assert!(!downloadable(&document));
        document.status = DocumentStatus::Rejected;
        assert!(!downloadable(&document));
        document.status = DocumentStatus::Uploaded;
        assert!(downloadable(&document));
    }
}
