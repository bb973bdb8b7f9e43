//! The parts of a multipart upload: signed URLs for the parts a client asks for, and the parts
//! storage already holds, so a client can resume after a reload and send only what is missing.

use std::time::Duration;

use super::Result;
use crate::auth::now_unix;
use crate::domain::{
    check_part_checksums, checksums_signed_otherwise, Document, DocumentId, DocumentStatus, MultipartPlan,
    MultipartUpload, PartsToSign, UserId,
};
use crate::storage::PresignedUpload;
use crate::App;

#[derive(Debug, Clone)]
pub struct SignedPart {
    pub part_number: u32,
    pub url: PresignedUpload,
}

#[derive(Debug, Clone)]
pub enum PartsOutcome<T> {
    Answer(T),
    NotFound,
    /// Not a multipart upload, or not pending any more: the detail says which.
    NotApplicable(String),
    /// Part numbers beyond the plan, checksums the upload cannot take (or lacks), or the upload's
    /// URLs expired.
    Invalid(String),
}

impl<T> PartsOutcome<T> {
    pub fn map_answer<U>(self, f: impl FnOnce(T) -> U) -> PartsOutcome<U> {
        match self {
            Self::Answer(answer) => PartsOutcome::Answer(f(answer)),
            Self::NotFound => PartsOutcome::NotFound,
            Self::NotApplicable(detail) => PartsOutcome::NotApplicable(detail),
            Self::Invalid(detail) => PartsOutcome::Invalid(detail),
        }
    }
}

/// Why a document has no parts to sign or list.
enum Unavailable {
    NotFound,
    NotApplicable(String),
}

impl<T> From<Unavailable> for PartsOutcome<T> {
    fn from(why: Unavailable) -> Self {
        match why {
            Unavailable::NotFound => Self::NotFound,
            Unavailable::NotApplicable(detail) => Self::NotApplicable(detail),
        }
    }
}

/// The document of a multipart upload still in progress, or why not.
async fn in_progress(app: &App, user: &UserId, id: DocumentId) -> Result<std::result::Result<InProgress, Unavailable>> {
    let Some(document) = app.table.get_document(user, id).await? else { return Ok(Err(Unavailable::NotFound)) };
    in_progress_upload(document)
}

/// A multipart upload in progress: the document, its upload and how it is cut into parts.
type InProgress = (Document, MultipartUpload, MultipartPlan);

/// Whether `document` is a multipart upload still in progress.
fn in_progress_upload(document: Document) -> Result<std::result::Result<InProgress, Unavailable>> {
    let Some(multipart) = document.multipart.clone() else {
        return Ok(Err(Unavailable::NotApplicable("the document was not started as a multipart upload".into())));
    };
    if document.status != DocumentStatus::Pending {
        return Ok(Err(Unavailable::NotApplicable(format!("the document is {}", document.status.as_str()))));
    }
    let plan = MultipartPlan::new(document.declared_size_bytes.unwrap_or_default(), multipart.part_size)?;
    Ok(Ok((document, multipart, plan)))
}

/// POST /api/documents/{id}/parts: one URL per asked part, each signing that part's exact
/// length (and its checksum: every part's for an upload created with a checksum algorithm, none
/// otherwise). The checksums are kept first (`table::parts`): completion lists them where storage
/// does not report them, and a part signed once keeps its checksum (a different one is a 422).
///
/// Each URL lives [`part_url_lifetime`]: at most `upload_url_expiry` (what the signer's temporary
/// credentials can honour; the client asks again for a URL that expired), never past the
/// document's clean-up, so parts can be signed again for as long as the upload may still finish.
pub async fn sign_parts(
    app: &App,
    user: &UserId,
    id: DocumentId,
    parts: &PartsToSign,
) -> Result<PartsOutcome<Vec<SignedPart>>> {
    let (document, multipart, plan) = match in_progress(app, user, id).await? {
        Ok(found) => found,
        Err(why) => return Ok(why.into()),
    };
    if let Err(refused) = check_part_checksums(multipart.checksum_algorithm, parts) {
        return Ok(PartsOutcome::Invalid(refused.to_string()));
    }
    let cleaned_up_at = document.created_at + app.config.pending_upload_max_age.as_secs() as i64;
    let Some(lifetime) = part_url_lifetime(cleaned_up_at, now_unix(), app.config.upload_url_expiry) else {
        return Ok(PartsOutcome::Invalid("the upload is too old to finish before clean-up: start a new upload".into()));
    };
    if let Some(number) = parts.numbers.iter().find(|&&n| plan.part_length(n).is_none()) {
        return Ok(PartsOutcome::Invalid(format!("part {number} does not exist: parts are 1 to {}", plan.part_count)));
    }
    if !parts.checksums.is_empty() {
        // Kept a day past clean-up (the table's TTL), unless confirm removes them first.
        let expires_at = cleaned_up_at + 86_400;
        if let Err(before) = app.table.record_part_checksums(user, id, &parts.checksums, expires_at).await? {
            let changed = checksums_signed_otherwise(&before, &parts.checksums);
            return Ok(PartsOutcome::Invalid(format!(
                "parts {changed:?} were signed with other checksums: a part's bytes cannot change within an upload \
                 (start a new upload for another file)"
            )));
        }
    }
    let mut signed = Vec::with_capacity(parts.numbers.len());
    for &number in &parts.numbers {
        let length = plan.part_length(number).unwrap_or_default();
        let key = document.object_key();
        let checksum = parts.checksums.get(&number).map(String::as_str);
        let url = app.storage.presign_part(&key, &multipart.upload_id, number, length, checksum, lifetime).await?;
        signed.push(SignedPart { part_number: number, url });
    }
    Ok(PartsOutcome::Answer(signed))
}

/// How long a part URL signed `now` lives: `url_expiry`, but never past the document's clean-up
/// (`cleaned_up_at`); `None` once that has passed.
fn part_url_lifetime(cleaned_up_at: i64, now: i64, url_expiry: Duration) -> Option<Duration> {
    let left = cleaned_up_at - now;
    (left > 0).then(|| url_expiry.min(Duration::from_secs(left as u64)))
}

/// GET /api/documents/{id}/parts: the parts storage holds (number and size).
pub async fn stored_parts(app: &App, user: &UserId, id: DocumentId) -> Result<PartsOutcome<Vec<(u32, u64)>>> {
    let (document, multipart, _) = match in_progress(app, user, id).await? {
        Ok(found) => found,
        Err(why) => return Ok(why.into()),
    };
    let parts = app.storage.list_parts(&document.object_key(), &multipart.upload_id).await?.unwrap_or_default();
    Ok(PartsOutcome::Answer(parts.into_iter().map(|p| (p.part_number, p.size_bytes)).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(multipart: bool, status: DocumentStatus) -> Document {
        let user = UserId::parse("u").unwrap();
        let mut document = Document::pending(user, "a.pdf".into(), "application/pdf".into(), Some(12 << 20), 0);
        document.multipart =
            multipart.then(|| MultipartUpload { upload_id: "up".into(), part_size: 5 << 20, checksum_algorithm: None });
        document.status = status;
        document
    }

    #[test]
    fn a_part_url_never_outlives_the_document_s_clean_up() {
        let expiry = Duration::from_secs(900);
        assert_eq!(part_url_lifetime(10_000, 5_000, expiry), Some(expiry));
        assert_eq!(part_url_lifetime(10_000, 9_700, expiry), Some(Duration::from_secs(300)));
        assert_eq!(part_url_lifetime(10_000, 10_000, expiry), None);
    }

    #[test]
    fn only_a_pending_multipart_upload_has_parts() {
        let (_, _, plan) = in_progress_upload(document(true, DocumentStatus::Pending)).unwrap().ok().unwrap();
        assert_eq!(plan.part_count, 3);
        assert!(matches!(
            in_progress_upload(document(false, DocumentStatus::Pending)).unwrap(),
            Err(Unavailable::NotApplicable(detail)) if detail.contains("not started as a multipart upload")
        ));
        assert!(matches!(
            in_progress_upload(document(true, DocumentStatus::Uploaded)).unwrap(),
            Err(Unavailable::NotApplicable(detail)) if detail == "the document is uploaded"
        ));
    }
}
