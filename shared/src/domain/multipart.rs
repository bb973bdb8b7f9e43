//! How a declared size is cut into parts, which parts a stored upload still lacks, and the S3
//! rules a multipart upload must keep, checked here before S3 would refuse:
//!
//! - every part but the last holds at least [`MIN_PART_BYTES`], none more than
//!   [`MAX_PART_BYTES`], at most [`MAX_PARTS`] of them, [`super::MAX_OBJECT_BYTES`] in all
//!   (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html>);
//! - part checksums are S3's only when the upload was created with their algorithm
//!   ([`ChecksumAlgorithm`]): then every part carries one and completion lists them all; an upload
//!   created without one carries none (S3 refuses such a part with 400 `InvalidRequest`,
//!   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity-upload.html>).

use std::collections::BTreeMap;

use serde::Serialize;

use super::requests::{PartsToSign, MAX_OBJECT_BYTES};
use super::InputError;

/// S3's smallest part (all but the last), its largest part and its largest number of parts.
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
pub const MAX_PART_BYTES: u64 = 5 * 1024 * 1024 * 1024;
pub const MAX_PARTS: u64 = 10_000;

/// The checksum algorithm a multipart upload is created with. S3 then checks each part against
/// the checksum its request carries and keeps the object's *composite* checksum: the SHA-256 of
/// the parts' SHA-256 digests, base64, followed by `-<part count>` (not a digest of the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Sha256,
}

impl ChecksumAlgorithm {
    /// S3's name, as `x-amz-checksum-algorithm` and the API's `checksum_algorithm` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA256",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "SHA256" => Some(Self::Sha256),
            _ => None,
        }
    }
}

/// The parts of a multipart upload: `part_count` parts of `part_size` bytes, the last taking the
/// rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MultipartPlan {
    pub part_size: u64,
    pub part_count: u32,
    #[serde(skip)]
    pub size: u64,
}

impl MultipartPlan {
    /// The plan for `size` bytes in parts of `part_size`, or why S3 would refuse it.
    pub fn new(size: u64, part_size: u64) -> Result<Self, InputError> {
        if size == 0 {
            return Err(InputError::Invalid("a multipart upload needs a size_bytes above 0".into()));
        }
        if size > MAX_OBJECT_BYTES {
            return Err(InputError::Invalid(format!(
                "size_bytes is {size}; an object holds at most {MAX_OBJECT_BYTES} bytes (5 TiB)"
            )));
        }
        if !(MIN_PART_BYTES..=MAX_PART_BYTES).contains(&part_size) {
            return Err(InputError::Invalid(format!(
                "parts of {part_size} bytes: S3's parts hold {MIN_PART_BYTES} to {MAX_PART_BYTES} bytes"
            )));
        }
        let part_count = size.div_ceil(part_size);
        if part_count > MAX_PARTS {
            return Err(InputError::Invalid(format!(
                "size_bytes {size} needs {part_count} parts of {part_size} bytes; at most {MAX_PARTS} are allowed"
            )));
        }
        Ok(Self { part_size, part_count: part_count as u32, size })
    }

    /// The exact length of part `number` (1-based), or `None` when there is no such part.
    pub fn part_length(&self, number: u32) -> Option<u64> {
        if number == 0 || number > self.part_count {
            return None;
        }
        let start = (number as u64 - 1) * self.part_size;
        Some((self.size - start).min(self.part_size))
    }

    /// The part numbers storage does not hold with their exact length (`stored`: number, size).
    pub fn missing(&self, stored: impl IntoIterator<Item = (u32, u64)>) -> Vec<u32> {
        let stored: std::collections::HashMap<u32, u64> = stored.into_iter().collect();
        (1..=self.part_count).filter(|n| stored.get(n).copied() != self.part_length(*n)).collect()
    }
}

/// Whether `parts` carry the checksums an upload created with `algorithm` needs: one for every
/// part with an algorithm, none without (the detail of the 422 says what to do instead).
pub fn check_part_checksums(algorithm: Option<ChecksumAlgorithm>, parts: &PartsToSign) -> Result<(), InputError> {
    match algorithm {
        None if !parts.checksums.is_empty() => Err(InputError::Invalid(
            "this upload was started without a checksum algorithm, so storage cannot take part checksums: \
             start it with \"checksum_algorithm\": \"SHA256\" at upload-url, or send the parts without checksums"
                .into(),
        )),
        None => Ok(()),
        Some(algorithm) => {
            let unsigned: Vec<String> =
                parts.numbers.iter().filter(|n| !parts.checksums.contains_key(n)).map(u32::to_string).collect();
            match unsigned.is_empty() {
                true => Ok(()),
                false => Err(InputError::Invalid(format!(
                    "this upload was started with checksum algorithm {}: give checksums_sha256 for every part \
                     (missing for parts {})",
                    algorithm.as_str(),
                    unsigned.join(", ")
                ))),
            }
        }
    }
}

/// The checksum completion lists for each stored part (number, S3's checksum from ListParts):
/// S3's own where it reports one, else the one the parts route signed into that part's URL
/// (`signed`; SeaweedFS's ListParts reports none, AWS's and LocalStack's do). Both are the same
/// for any part: a part's checksum never changes once signed ([`checksums_signed_otherwise`]),
/// so storage took exactly the bytes of that checksum. Without an algorithm nothing is listed.
/// `Err` names the parts with neither.
pub fn completion_checksums<'a>(
    algorithm: Option<ChecksumAlgorithm>,
    listed: impl IntoIterator<Item = (u32, Option<&'a str>)>,
    signed: &BTreeMap<u32, String>,
) -> Result<Vec<(u32, Option<String>)>, Vec<u32>> {
    let mut checksums = Vec::new();
    let mut unknown = Vec::new();
    for (number, reported) in listed {
        let checksum = match algorithm {
            None => None,
            Some(_) => match reported.map(str::to_owned).or_else(|| signed.get(&number).cloned()) {
                Some(checksum) => Some(checksum),
                None => {
                    unknown.push(number);
                    continue;
                }
            },
        };
        checksums.push((number, checksum));
    }
    match unknown.is_empty() {
        true => Ok(checksums),
        false => Err(unknown),
    }
}

/// The parts of `asked` already signed with another checksum (`before`): a part's bytes are fixed
/// by its first signed checksum, so every URL of that part takes the same bytes and the kept
/// checksum is always the stored part's.
pub fn checksums_signed_otherwise(before: &BTreeMap<u32, String>, asked: &BTreeMap<u32, String>) -> Vec<u32> {
    asked.iter().filter(|(n, c)| before.get(n).is_some_and(|b| b != *c)).map(|(n, _)| *n).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const MIB: u64 = 1024 * 1024;
    const DIGEST: &str = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=";

    #[test]
    fn the_last_part_takes_the_rest() {
        let plan = MultipartPlan::new(20 * MIB + 3, 8 * MIB).unwrap();
        assert_eq!(plan.part_count, 3);
        assert_eq!(plan.part_length(1), Some(8 * MIB));
        assert_eq!(plan.part_length(3), Some(4 * MIB + 3));
        assert_eq!((plan.part_length(0), plan.part_length(4)), (None, None));
        let exact = MultipartPlan::new(16 * MIB, 8 * MIB).unwrap();
        assert_eq!((exact.part_count, exact.part_length(2)), (2, Some(8 * MIB)));
    }

    #[test]
    fn missing_or_short_parts_are_named() {
        let plan = MultipartPlan::new(20 * MIB, 8 * MIB).unwrap();
        assert_eq!(plan.missing([(1, 8 * MIB), (3, 4 * MIB)]), [2]);
        assert_eq!(plan.missing([(1, 8 * MIB), (2, 7 * MIB), (3, 4 * MIB)]), [2], "a part of the wrong size");
        assert!(plan.missing([(1, 8 * MIB), (2, 8 * MIB), (3, 4 * MIB)]).is_empty());
    }

    #[test]
    fn sizes_that_need_no_parts_or_too_many_are_refused() {
        assert!(MultipartPlan::new(0, 8 * MIB).is_err());
        assert!(MultipartPlan::new(MAX_PARTS * 5 * MIB, 5 * MIB).is_ok(), "exactly 10,000 parts");
        assert!(MultipartPlan::new(MAX_PARTS * 5 * MIB + 1, 5 * MIB).is_err());
    }

    #[test]
    fn parts_outside_s3s_sizes_and_objects_beyond_5_tib_are_refused() {
        assert!(MultipartPlan::new(100 * MIB, MIN_PART_BYTES - 1).is_err(), "below 5 MiB");
        assert!(MultipartPlan::new(100 * MIB, MIN_PART_BYTES).is_ok());
        assert!(MultipartPlan::new(100 * MIB, MAX_PART_BYTES).is_ok(), "one part of up to 5 GiB");
        assert!(MultipartPlan::new(100 * MIB, MAX_PART_BYTES + 1).is_err(), "above 5 GiB");
        assert!(MultipartPlan::new(MAX_OBJECT_BYTES, MAX_PART_BYTES).is_ok(), "5 TiB in 1,024 parts");
        assert!(MultipartPlan::new(MAX_OBJECT_BYTES + 1, MAX_PART_BYTES).is_err());
        let small_last = MultipartPlan::new(10 * MIB + 1, 5 * MIB).unwrap();
        assert_eq!(small_last.part_length(3), Some(1), "the last part has no minimum");
    }

    fn parts(numbers: &[u32], with_checksum: &[u32]) -> PartsToSign {
        let checksums: BTreeMap<u32, String> = with_checksum.iter().map(|n| (*n, DIGEST.to_owned())).collect();
        PartsToSign { numbers: numbers.to_vec(), checksums }
    }

    #[test]
    fn part_checksums_need_the_upload_s_algorithm_and_then_every_part_has_one() {
        let sha = Some(ChecksumAlgorithm::Sha256);
        assert!(check_part_checksums(None, &parts(&[1, 2], &[])).is_ok(), "no algorithm, no checksums");
        let refused = check_part_checksums(None, &parts(&[1, 2], &[1])).unwrap_err().to_string();
        assert!(refused.contains("checksum_algorithm"), "says how to declare it: {refused}");
        assert!(check_part_checksums(sha, &parts(&[1, 2], &[1, 2])).is_ok());
        let missing = check_part_checksums(sha, &parts(&[1, 2, 3], &[2])).unwrap_err().to_string();
        assert!(missing.contains("parts 1, 3"), "{missing}");
    }

    #[test]
    fn completion_lists_s3_s_checksum_or_else_the_signed_one() {
        const OTHER: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        let sha = Some(ChecksumAlgorithm::Sha256);
        let listed = [(1, Some(DIGEST)), (2, None), (3, Some(DIGEST))];
        let signed = BTreeMap::from([(2, OTHER.to_owned()), (3, OTHER.to_owned())]);
        let listed_as = completion_checksums(sha, listed, &signed).unwrap();
        assert_eq!(
            listed_as,
            [(1, Some(DIGEST.to_owned())), (2, Some(OTHER.to_owned())), (3, Some(DIGEST.to_owned()))],
            "S3's report wins where it has one"
        );
        assert_eq!(completion_checksums(sha, listed, &BTreeMap::new()), Err(vec![2]));
        assert_eq!(completion_checksums(None, listed, &signed).unwrap(), [(1, None), (2, None), (3, None)]);
        let before = BTreeMap::from([(1, DIGEST.to_owned()), (2, OTHER.to_owned())]);
        let asked = BTreeMap::from([(1, DIGEST.to_owned()), (2, DIGEST.to_owned()), (4, DIGEST.to_owned())]);
        assert_eq!(checksums_signed_otherwise(&before, &asked), [2], "the same again, or new, is fine");
        assert_eq!(ChecksumAlgorithm::parse(ChecksumAlgorithm::Sha256.as_str()), Some(ChecksumAlgorithm::Sha256));
        assert_eq!(ChecksumAlgorithm::parse("sha256"), None, "S3's spelling only");
    }
}
