//! Multipart uploads: a large file travels in parts the client sends side by side and can send
//! again one by one (a dropped connection costs one part, not the file). upload-url starts the
//! upload, the parts route signs one URL per part, confirm completes it, and removing a pending
//! document aborts it (`operations::objects`; the bucket's lifecycle rule aborts what is missed).
//!
//! An upload started with a [`ChecksumAlgorithm`] is created with it (composite type), so S3
//! takes the checksum each part's URL signs; completion lists every part's checksum as ListParts
//! reports it, and S3 answers the object's composite checksum. One started without an algorithm
//! signs no part checksums (S3 refuses them there).

use std::time::Duration;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart};

use super::{ObjectStorage, PresignedUpload, StorageError};
use crate::domain::ChecksumAlgorithm;

/// A part storage holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPart {
    pub part_number: u32,
    pub size_bytes: u64,
    pub e_tag: String,
    /// The part's base64 SHA-256, for an upload created with that algorithm.
    pub checksum_sha256: Option<String>,
}

/// What completing an upload found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// The object is assembled now; its composite checksum when the upload has an algorithm.
    Assembled { checksum_sha256: Option<String> },
    /// The upload no longer exists: a concurrent confirm completed it, or it was aborted.
    Gone,
}

/// S3's name of an algorithm.
fn sdk_algorithm(algorithm: ChecksumAlgorithm) -> aws_sdk_s3::types::ChecksumAlgorithm {
    match algorithm {
        ChecksumAlgorithm::Sha256 => aws_sdk_s3::types::ChecksumAlgorithm::Sha256,
    }
}

/// S3's answer when the upload id no longer exists (completed or aborted).
fn is_no_such_upload(error: &impl ProvideErrorMetadata) -> bool {
    error.code() == Some("NoSuchUpload")
}

impl ObjectStorage {
    /// Starts a multipart upload of `key`, with the parts' checksum algorithm when given (composite
    /// type: S3 keeps a checksum of the parts' checksums); returns its upload id.
    pub async fn start_multipart(
        &self,
        key: &str,
        content_type: &str,
        checksum_algorithm: Option<ChecksumAlgorithm>,
    ) -> Result<String, StorageError> {
        let output = self
            .internal
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .set_checksum_algorithm(checksum_algorithm.map(sdk_algorithm))
            .set_checksum_type(checksum_algorithm.map(|_| ChecksumType::Composite))
            .send()
            .await
            .map_err(|e| StorageError::new("starting a multipart upload", e))?;
        output
            .upload_id()
            .map(str::to_owned)
            .ok_or_else(|| StorageError::new("starting a multipart upload", "no upload id"))
    }

    /// Signs the PUT of one part with its exact length, so the parts can never add up to more
    /// than the declared size, and with its SHA-256 when given (storage then refuses other bytes;
    /// only for an upload created with that algorithm, which the caller checks).
    pub async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        length: u64,
        checksum_sha256: Option<&str>,
        expires_in: Duration,
    ) -> Result<PresignedUpload, StorageError> {
        let presigning =
            PresigningConfig::expires_in(expires_in).map_err(|e| StorageError::new("presigning a part", e))?;
        let request = self
            .public
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number as i32)
            .content_length(length as i64)
            .set_checksum_sha256(checksum_sha256.map(str::to_owned))
            .presigned(presigning)
            .await
            .map_err(|e| StorageError::new("presigning a part", e))?;
        Ok(PresignedUpload::from(request))
    }

    /// The parts stored so far, in order; `None` when the upload no longer exists.
    pub async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Option<Vec<StoredPart>>, StorageError> {
        let mut parts = Vec::new();
        let mut marker = None;
        loop {
            let request = self.internal.list_parts().bucket(&self.bucket).key(key).upload_id(upload_id);
            let output = match request.set_part_number_marker(marker).send().await {
                Ok(output) => output,
                Err(error) if error.as_service_error().is_some_and(is_no_such_upload) => return Ok(None),
                Err(error) => return Err(StorageError::new("listing the parts of an upload", error)),
            };
            parts.extend(output.parts().iter().map(|part| StoredPart {
                part_number: part.part_number().unwrap_or_default().max(0) as u32,
                size_bytes: part.size().unwrap_or_default().max(0) as u64,
                e_tag: part.e_tag().unwrap_or_default().to_owned(),
                checksum_sha256: part.checksum_sha256().map(str::to_owned),
            }));
            marker = output.next_part_number_marker().map(str::to_owned);
            if !output.is_truncated().unwrap_or(false) || marker.is_none() {
                return Ok(Some(parts));
            }
        }
    }

    /// Assembles the object from `parts`, each listed with its checksum when storage holds one
    /// (S3 requires them all for an upload created with an algorithm, and none otherwise).
    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[StoredPart],
    ) -> Result<Completion, StorageError> {
        let completed = parts
            .iter()
            .map(|p| {
                let part = CompletedPart::builder().part_number(p.part_number as i32).e_tag(&p.e_tag);
                part.set_checksum_sha256(p.checksum_sha256.clone()).build()
            })
            .collect();
        let result = self
            .internal
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
            .send()
            .await;
        match result {
            Ok(output) => Ok(Completion::Assembled { checksum_sha256: output.checksum_sha256().map(str::to_owned) }),
            Err(error) if error.as_service_error().is_some_and(is_no_such_upload) => Ok(Completion::Gone),
            Err(error) => Err(StorageError::new("completing a multipart upload", error)),
        }
    }

    /// The SHA-256 checksum storage keeps for `key` (composite for an object assembled from
    /// parts: `...-<part count>`), from a HeadObject with checksums enabled; `None` when it keeps
    /// none or there is no object.
    pub async fn stored_checksum_sha256(&self, key: &str) -> Result<Option<String>, StorageError> {
        let head = self.internal.head_object().bucket(&self.bucket).key(key).checksum_mode(ChecksumMode::Enabled);
        match head.send().await {
            Ok(output) => Ok(output.checksum_sha256().map(str::to_owned)),
            Err(error) if matches!(error.raw_response().map(|r| r.status().as_u16()), Some(403 | 404)) => Ok(None),
            Err(error) => Err(StorageError::new("reading an object's checksum", error)),
        }
    }

    /// Drops an upload and its parts; dropping one that no longer exists succeeds.
    pub async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StorageError> {
        let result =
            self.internal.abort_multipart_upload().bucket(&self.bucket).key(key).upload_id(upload_id).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if error.as_service_error().is_some_and(is_no_such_upload) => Ok(()),
            Err(error) => Err(StorageError::new("aborting a multipart upload", error)),
        }
    }
}
