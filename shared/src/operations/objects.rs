//! Removing a document's object: the one place that does it, for delete, clean-up, a refused
//! upload and an orphan. A pending multipart upload is aborted first, so its parts stop being
//! stored (a failure there is logged: the bucket's lifecycle rule aborts what is missed); then
//! the object goes. Removing an absent object succeeds, so every caller may retry.
//!
//! The storage calls are reached through [`ObjectRemoval`], so the failure paths can be forced in
//! unit tests; `storage::ObjectStorage` is the one real implementation.

use crate::domain::{Document, DocumentStatus};
use crate::storage::{ObjectStorage, StorageError};

/// The storage calls removal needs.
pub(crate) trait ObjectRemoval {
    async fn delete_object(&self, key: &str) -> Result<(), StorageError>;
    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StorageError>;
}

impl ObjectRemoval for ObjectStorage {
    async fn delete_object(&self, key: &str) -> Result<(), StorageError> {
        ObjectStorage::delete_object(self, key).await
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StorageError> {
        ObjectStorage::abort_multipart(self, key, upload_id).await
    }
}

/// Removes `document`'s object (as the document was before its row went or was settled),
/// aborting its multipart upload first when it was still pending.
pub(crate) async fn remove_object(storage: &impl ObjectRemoval, document: &Document) -> Result<(), StorageError> {
    let key = document.object_key();
    if let Some(multipart) = document.multipart.as_ref().filter(|_| document.status == DocumentStatus::Pending) {
        if let Err(error) = storage.abort_multipart(&key, &multipart.upload_id).await {
            tracing::warn!(%error, id = %document.id, "could not abort a multipart upload; the lifecycle rule will");
        }
    }
    storage.delete_object(&key).await
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::domain::{MultipartUpload, UserId};

    /// Records the calls; fails the ones it is told to.
    #[derive(Default)]
    struct Stub {
        calls: Mutex<Vec<String>>,
        fail_abort: bool,
        fail_delete: bool,
    }

    impl ObjectRemoval for Stub {
        async fn delete_object(&self, key: &str) -> Result<(), StorageError> {
            self.calls.lock().unwrap().push(format!("delete {key}"));
            if self.fail_delete {
                return Err(StorageError::new("removing an object", "connection reset"));
            }
            Ok(())
        }

        async fn abort_multipart(&self, _key: &str, upload_id: &str) -> Result<(), StorageError> {
            self.calls.lock().unwrap().push(format!("abort {upload_id}"));
            if self.fail_abort {
                return Err(StorageError::new("aborting a multipart upload", "throttled"));
            }
            Ok(())
        }
    }

    fn document(status: DocumentStatus, multipart: bool) -> Document {
        let mut document =
            Document::pending(UserId::parse("u").unwrap(), "a.pdf".into(), "application/pdf".into(), Some(9), 0);
        document.status = status;
        document.multipart = multipart.then(|| MultipartUpload { upload_id: "up-1".into(), part_size: 5 << 20 });
        document
    }

    #[tokio::test]
    async fn a_pending_multipart_upload_is_aborted_before_its_object_is_removed() {
        let stub = Stub::default();
        let pending = document(DocumentStatus::Pending, true);
        remove_object(&stub, &pending).await.unwrap();
        assert_eq!(*stub.calls.lock().unwrap(), ["abort up-1".to_owned(), format!("delete {}", pending.object_key())]);
    }

    #[tokio::test]
    async fn an_uploaded_document_has_no_upload_to_abort() {
        let stub = Stub::default();
        remove_object(&stub, &document(DocumentStatus::Uploaded, true)).await.unwrap();
        assert_eq!(stub.calls.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_abort_still_removes_the_object_and_a_failed_removal_is_reported() {
        let stub = Stub { fail_abort: true, ..Stub::default() };
        remove_object(&stub, &document(DocumentStatus::Pending, true)).await.unwrap();
        assert_eq!(stub.calls.lock().unwrap().len(), 2);
        let stub = Stub { fail_delete: true, ..Stub::default() };
        assert!(remove_object(&stub, &document(DocumentStatus::Pending, false)).await.is_err());
    }
}
