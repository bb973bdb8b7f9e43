//! What the classifier keeps of a document to learn from it later: its features, computed once
//! from its text (`SemanticClassifier::features`, and on every verdict), stored by the service
//! on the document, and handed back as an [`Example`] of the topic the user filed it under.
//!
//! The features are the document's unit vector in the static embedding (128 dimensions),
//! quantised to one signed byte per dimension: 140 bytes, 188 characters of base64. They name
//! the table they were computed with (its fingerprint) and the format's version: features of
//! another table or version are ignored, never compared, so a model change only makes old
//! examples count for nothing until documents are classified again.

use base64::Engine as _;

use crate::domain::TopicId;

/// The byte string's first byte, then its format version.
const MAGIC: u8 = b'F';
const VERSION: u8 = 1;
/// Magic, version, fingerprint (u32), dimensions (u16), scale (f32).
const HEADER: usize = 1 + 1 + 4 + 2 + 4;

/// A document's features: see the module's comment.
#[derive(Clone, Debug, PartialEq)]
pub struct DocumentFeatures {
    /// The fingerprint of the table that computed them.
    model: u32,
    /// The unit vector (or zero, for a text with no word the table knows) is `values` times
    /// `scale`: quantised, as stored.
    scale: f32,
    values: Vec<i8>,
}

/// One document the user filed (or let stand) under a topic: that topic and its features.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    pub topic: TopicId,
    pub features: DocumentFeatures,
}

impl DocumentFeatures {
    /// Features of `vector` computed with the table `model`: normalised and quantised, so that
    /// they compare the same before and after a round trip through bytes.
    pub fn new(model: u32, vector: &[f32]) -> Self {
        let (scale, values) = quantise(vector);
        Self { model, scale, values }
    }

    pub fn model(&self) -> u32 {
        self.model
    }

    pub fn vector(&self) -> Vec<f32> {
        self.values.iter().map(|q| f32::from(*q) * self.scale).collect()
    }

    /// The compact form stored on a document: 12 bytes of header and one byte per dimension.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEADER + self.values.len());
        bytes.extend([MAGIC, VERSION]);
        bytes.extend(self.model.to_le_bytes());
        bytes.extend((self.values.len() as u16).to_le_bytes());
        bytes.extend(self.scale.to_le_bytes());
        bytes.extend(self.values.iter().map(|q| *q as u8));
        bytes
    }

    /// Features from `to_bytes`; `None` for anything else, another version included.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let header = bytes.get(..HEADER)?;
        if header[0] != MAGIC || header[1] != VERSION {
            return None;
        }
        let model = u32::from_le_bytes(header[2..6].try_into().ok()?);
        let dimensions = usize::from(u16::from_le_bytes(header[6..8].try_into().ok()?));
        let scale = f32::from_le_bytes(header[8..12].try_into().ok()?);
        let body = &bytes[HEADER..];
        if body.len() != dimensions || !scale.is_finite() || scale < 0.0 {
            return None;
        }
        Some(Self { model, scale, values: body.iter().map(|b| *b as i8).collect() })
    }

    /// `to_bytes` in standard base64 (188 characters for 128 dimensions).
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.to_bytes())
    }

    pub fn from_base64(text: &str) -> Option<Self> {
        Self::from_bytes(&base64::engine::general_purpose::STANDARD.decode(text).ok()?)
    }

    /// Cosine with `other` (both unit length, or zero), when both come from the same table;
    /// `None` when they do not, so that they are never compared.
    pub fn similarity(&self, other: &Self) -> Option<f64> {
        (self.model == other.model && self.values.len() == other.values.len()).then(|| {
            let dot: i32 = self.values.iter().zip(&other.values).map(|(a, b)| i32::from(*a) * i32::from(*b)).sum();
            f64::from(dot) * f64::from(self.scale) * f64::from(other.scale)
        })
    }
}

/// The unit vector as bytes and the scale that gives it back: the largest component is +-127.
fn quantise(vector: &[f32]) -> (f32, Vec<i8>) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    let largest = vector.iter().fold(0f32, |m, x| m.max(x.abs())) / norm.max(f32::MIN_POSITIVE);
    if !(norm > 0.0 && largest > 0.0 && norm.is_finite()) {
        return (0.0, vec![0; vector.len()]);
    }
    let scale = largest / 127.0;
    (scale, vector.iter().map(|x| (x / norm / scale).round().clamp(-127.0, 127.0) as i8).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_unit_quantised_and_survive_bytes_and_base64() {
        let features = DocumentFeatures::new(7, &[3.0, -4.0, 0.0, 0.5]);
        let norm: f32 = features.vector().iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 0.01, "{norm}");
        let bytes = features.to_bytes();
        assert_eq!(bytes.len(), HEADER + 4);
        assert_eq!(DocumentFeatures::from_bytes(&bytes), Some(features.clone()));
        assert_eq!(DocumentFeatures::from_base64(&features.to_base64()), Some(features.clone()));
        assert!((features.similarity(&features).unwrap() - 1.0).abs() < 0.01);
        let zero = DocumentFeatures::new(7, &[0.0; 4]);
        assert_eq!(DocumentFeatures::from_bytes(&zero.to_bytes()), Some(zero.clone()));
        assert_eq!(zero.similarity(&features), Some(0.0));
    }

    #[test]
    fn a_stored_dimension_count_takes_188_characters() {
        let vector: Vec<f32> = (0..128).map(|i| (i as f32 * 0.37).sin()).collect();
        assert_eq!(DocumentFeatures::new(1, &vector).to_base64().len(), 188);
    }

    #[test]
    fn features_of_another_table_or_version_are_never_compared_or_read() {
        let (a, b) = (DocumentFeatures::new(1, &[1.0, 0.0]), DocumentFeatures::new(2, &[1.0, 0.0]));
        assert_eq!(a.similarity(&b), None);
        assert_eq!(a.similarity(&DocumentFeatures::new(1, &[1.0, 0.0, 0.0])), None);
        let mut bytes = a.to_bytes();
        bytes[1] = VERSION + 1;
        assert_eq!(DocumentFeatures::from_bytes(&bytes), None);
        let bytes = a.to_bytes();
        assert_eq!(DocumentFeatures::from_bytes(&bytes[..bytes.len() - 1]), None);
        assert_eq!(DocumentFeatures::from_bytes(b"F"), None);
        assert_eq!(DocumentFeatures::from_base64("not base64!"), None);
    }
}
