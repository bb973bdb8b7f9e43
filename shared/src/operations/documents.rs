//! Reading what a user has: one document (with a download URL once uploaded), a page of them
//! (all, or one topic's), and the quota.

use super::Result;
use crate::domain::{Document, DocumentId, DocumentStatus, Quota, TopicId, UserId};
use crate::table::Page;
use crate::App;

/// A document and, once uploaded, a short-lived URL to download it.
pub async fn get_document(app: &App, user: &UserId, id: DocumentId) -> Result<Option<(Document, Option<String>)>> {
    let Some(document) = app.table.get_document(user, id).await? else { return Ok(None) };
    let download_url = match document.status {
        DocumentStatus::Uploaded => Some(
            app.storage
                .presign_download(&document.object_key(), &document.filename, app.config.download_url_expiry)
                .await?,
        ),
        DocumentStatus::Pending | DocumentStatus::Rejected => None,
    };
    Ok(Some((document, download_url)))
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
