//! The S3 adapter: object reads and removal here, presigned URLs (`presign`), and multipart
//! uploads (`multipart`). It maps requests and answers, and retries a body that broke off
//! (`RetryPolicy::OBJECT_IO`); what to do with an object is the operations' to decide.

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::Client;

use crate::invocation::Invocation;
use crate::retry::RetryPolicy;

mod multipart;
mod presign;

pub use multipart::{Completion, StoredPart};
pub use presign::PresignedUpload;

/// An S3 call failed (after the SDK's retries), or answered something this adapter cannot read.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct StorageError {
    context: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl StorageError {
    pub(crate) fn new(context: &'static str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { context, source: source.into() }
    }
}

/// The start of a stored object, and its whole size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectStart {
    pub size: u64,
    pub head: Vec<u8>,
}

/// What one GET found.
enum Fetched {
    Missing,
    Empty,
    TooLarge { size: u64 },
    Bytes { total: u64, bytes: Vec<u8> },
}

/// Why a read found no bytes although the request was fine.
enum Absence {
    Missing,
    /// The object exists and is empty: it cannot satisfy a range.
    Empty,
}

fn missing_or_empty(error: &SdkError<GetObjectError>) -> Option<Absence> {
    let SdkError::ServiceError(service) = error else { return None };
    match service.raw().status().as_u16() {
        _ if matches!(service.err(), GetObjectError::NoSuchKey(_)) => Some(Absence::Missing),
        404 => Some(Absence::Missing),
        403 => {
            tracing::warn!("storage answered 403 for an object read; treated as missing (grant s3:ListBucket for 404)");
            Some(Absence::Missing)
        }
        416 => Some(Absence::Empty),
        _ => None,
    }
}

/// The outcome of reading an object for extraction.
#[derive(Debug)]
pub enum ObjectRead {
    Missing,
    /// Larger than the limit and only readable whole.
    TooLarge {
        size: u64,
    },
    /// The bytes read (the whole object, or a prefix of it), and the object's whole size.
    Bytes {
        bytes: Vec<u8>,
        size: u64,
    },
}

impl ObjectRead {
    /// The object's size and its first `length` bytes (all of it when smaller), when the read
    /// holds them.
    pub fn start(&self, length: u64) -> Option<ObjectStart> {
        match self {
            Self::Bytes { bytes, size } if bytes.len() as u64 >= length.min(*size) => {
                Some(ObjectStart { size: *size, head: bytes[..bytes.len().min(length as usize)].to_vec() })
            }
            Self::Bytes { .. } | Self::Missing | Self::TooLarge { .. } => None,
        }
    }

    /// All of the object, when it was read whole.
    pub fn whole(&self) -> Option<&[u8]> {
        match self {
            Self::Bytes { bytes, size } if bytes.len() as u64 == *size => Some(bytes),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct ObjectStorage {
    /// Reaches storage from inside the deployment (HeadObject, DeleteObject, GetObject).
    internal: Client,
    /// Built for the browser-visible endpoint: used only to sign URLs, never to call.
    public: Client,
    bucket: String,
}

impl ObjectStorage {
    pub fn new(internal: Client, public: Client, bucket: impl Into<String>) -> Self {
        Self { internal, public, bucket: bucket.into() }
    }

    /// The same storage, calling it through `internal` (e.g. a proxy in tests); URLs are still
    /// signed for the public endpoint.
    pub fn with_internal_client(&self, internal: Client) -> Self {
        Self { internal, ..self.clone() }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn client(&self) -> &Client {
        &self.internal
    }

    /// The first `length` bytes of `key` and its total size, from one ranged GET (its
    /// `Content-Range` carries the total), or `None` when no object is there.
    ///
    /// A 403 counts as "no object": S3 answers 403 instead of 404 for a missing key to callers
    /// without `s3:ListBucket` (template.yaml grants it; a deployment without it would otherwise
    /// turn every early confirm into a 500). A real permission problem then shows as "not found"
    /// in every answer and as this warning in the log.
    pub async fn peek(
        &self,
        invocation: &Invocation,
        key: &str,
        length: u64,
    ) -> Result<Option<ObjectStart>, StorageError> {
        let range = format!("bytes=0-{}", length.max(1) - 1);
        Ok(match self.fetch(invocation, key, Some(range), None).await? {
            Fetched::Missing => None,
            Fetched::Empty => Some(ObjectStart { size: 0, head: Vec::new() }),
            Fetched::TooLarge { .. } => unreachable!("no size limit was given"),
            Fetched::Bytes { total, mut bytes } => {
                bytes.truncate(length as usize);
                Some(ObjectStart { size: total, head: bytes })
            }
        })
    }

    /// The bytes of `range` (`bytes=<first>-<last>`) of `key`, or `None` when no object is there.
    pub async fn read_range(
        &self,
        invocation: &Invocation,
        key: &str,
        range: String,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(match self.fetch(invocation, key, Some(range), None).await? {
            Fetched::Missing => None,
            Fetched::Empty => Some(Vec::new()),
            Fetched::TooLarge { .. } => unreachable!("no size limit was given"),
            Fetched::Bytes { bytes, .. } => Some(bytes),
        })
    }

    /// The stored size of `key`, or `None` when no object is there.
    pub async fn object_size(&self, invocation: &Invocation, key: &str) -> Result<Option<u64>, StorageError> {
        Ok(self.peek(invocation, key, 1).await?.map(|start| start.size))
    }

    /// Reads at most `limit` bytes of `key`: a prefix when `prefix_ok`, otherwise the whole
    /// object or, when it is larger, nothing (`TooLarge`).
    pub async fn read_object(
        &self,
        invocation: &Invocation,
        key: &str,
        limit: u64,
        prefix_ok: bool,
    ) -> Result<ObjectRead, StorageError> {
        let (range, max_body) = match prefix_ok {
            true => (Some(format!("bytes=0-{}", limit.saturating_sub(1))), None),
            false => (None, Some(limit)),
        };
        Ok(match self.fetch(invocation, key, range, max_body).await? {
            Fetched::Missing => ObjectRead::Missing,
            Fetched::Empty => ObjectRead::Bytes { bytes: Vec::new(), size: 0 },
            Fetched::TooLarge { size } => ObjectRead::TooLarge { size },
            Fetched::Bytes { mut bytes, total } => {
                bytes.truncate(limit as usize);
                ObjectRead::Bytes { bytes, size: total }
            }
        })
    }

    /// One GET of `key` (or of `range` of it), its body read whole unless it is larger than
    /// `max_body`. The SDK retries a request that fails, but not a body that breaks off after
    /// the answer began (a connection reset mid-body; LocalStack when the object is deleted
    /// meanwhile): that is retried here, under [`RetryPolicy::OBJECT_IO`].
    async fn fetch(
        &self,
        invocation: &Invocation,
        key: &str,
        range: Option<String>,
        max_body: Option<u64>,
    ) -> Result<Fetched, StorageError> {
        let mut attempts = RetryPolicy::OBJECT_IO.attempts(invocation);
        let mut broke_off = None;
        while attempts.next().await {
            let get = self.internal.get_object().bucket(&self.bucket).key(key).set_range(range.clone());
            let output = match get.send().await {
                Ok(output) => output,
                Err(error) => {
                    return match missing_or_empty(&error) {
                        Some(Absence::Missing) => Ok(Fetched::Missing),
                        Some(Absence::Empty) => Ok(Fetched::Empty),
                        None => Err(StorageError::new("reading an object", error)),
                    }
                }
            };
            let length = output.content_length().unwrap_or_default().max(0) as u64;
            // A range answer names the whole size after the slash: `bytes 0-1023/52000`.
            let total = output.content_range().and_then(|r| r.rsplit('/').next()?.parse().ok()).unwrap_or(length);
            if max_body.is_some_and(|max| length > max) {
                return Ok(Fetched::TooLarge { size: total });
            }
            match output.body.collect().await {
                Ok(body) => return Ok(Fetched::Bytes { total, bytes: body.to_vec() }),
                Err(error) => {
                    tracing::warn!(%error, key, attempt = attempts.made(), "an object's body broke off");
                    broke_off = Some(error);
                }
            }
        }
        Err(StorageError::new(
            "reading an object's body",
            broke_off.map_or("no attempt left".into(), |e| e.to_string()),
        ))
    }

    /// Whether the bucket lists `key` (ListObjectsV2 of it as a prefix): unlike a read, whose 403
    /// may mean "missing" to a caller without `s3:ListBucket`, an answer here is never ambiguous,
    /// and a denied list is an error.
    pub async fn is_listed(&self, key: &str) -> Result<bool, StorageError> {
        let list = self.internal.list_objects_v2().bucket(&self.bucket).prefix(key).max_keys(1).send().await;
        let list = list.map_err(|e| StorageError::new("listing an object", e))?;
        Ok(list.contents().iter().any(|object| object.key() == Some(key)))
    }

    /// Removes `key`; removing an absent object succeeds (S3 semantics), so retries are safe.
    pub async fn delete_object(&self, key: &str) -> Result<(), StorageError> {
        self.internal
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(drop)
            .map_err(|e| StorageError::new("removing an object", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_gives_the_start_it_holds_and_the_whole_object_only_when_it_is_all_there() {
        let whole = ObjectRead::Bytes { bytes: b"hello".to_vec(), size: 5 };
        assert_eq!(whole.start(1024), Some(ObjectStart { size: 5, head: b"hello".to_vec() }));
        assert_eq!(whole.whole(), Some(&b"hello"[..]));
        let prefix = ObjectRead::Bytes { bytes: vec![b'x'; 2048], size: 9000 };
        assert_eq!(prefix.start(1024).map(|s| (s.size, s.head.len())), Some((9000, 1024)));
        assert_eq!(prefix.whole(), None, "a prefix is not the object");
        let short = ObjectRead::Bytes { bytes: vec![b'x'; 100], size: 9000 };
        assert_eq!(short.start(1024), None, "a prefix shorter than the start asked for");
        let empty = ObjectRead::Bytes { bytes: Vec::new(), size: 0 };
        assert_eq!(empty.start(1024), Some(ObjectStart { size: 0, head: Vec::new() }));
        assert_eq!(ObjectRead::TooLarge { size: 9 }.start(1024), None);
        assert_eq!(ObjectRead::Missing.whole(), None);
    }
}
