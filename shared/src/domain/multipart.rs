//! How a declared size is cut into parts, and which parts a stored upload still lacks.

use serde::Serialize;

use super::InputError;

/// S3's smallest part (all but the last) and its largest number of parts.
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
pub const MAX_PARTS: u64 = 10_000;

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
    pub fn new(size: u64, part_size: u64) -> Result<Self, InputError> {
        if size == 0 {
            return Err(InputError::Invalid("a multipart upload needs a size_bytes above 0".into()));
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

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

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
        assert!(MultipartPlan::new(MAX_PARTS * 5 * MIB + 1, 5 * MIB).is_err());
    }
}
