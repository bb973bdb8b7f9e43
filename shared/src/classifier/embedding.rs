//! A static sentence embedding: all-MiniLM-L6-v2's token vectors distilled into one table
//! (`make model`, `eval/classification/distill.py`, which specifies the file format and the
//! tokeniser). A text's vector is the weighted mean of its WordPiece tokens' rows, minus the
//! vector of generic English text; texts are compared by cosine. No network at run time: a
//! table lookup and a sum per token (about 0.1 ms for a page of text).

mod table_file;

use std::path::Path;

use super::wordpiece::{basic_words, Vocabulary};
use table_file::{Bytes, Mapping, Reader};

const MAGIC: &[u8; 4] = b"SEMB";
const VERSION: u32 = 1;
/// Texts are embedded from at most this many tokens (a few pages): the start says what a
/// document is, and the time per document stays bounded.
const MAX_TOKENS: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not a static embedding table: {problem}")]
    Invalid { path: String, problem: String },
}

/// The table, loaded once per process. It maps the file and reads the vocabulary and the int8
/// rows in place (a quarter of the memory of floats, and nothing to copy or convert at start:
/// reading the file, building a `HashMap<String, _>` of the vocabulary and an `i8` copy of the
/// rows took the first version 17 ms; only the pages a document's tokens touch are read now).
pub struct EmbeddingTable {
    bytes: Bytes,
    vocabulary: Vocabulary,
    weights: Vec<f32>,
    /// Where the rows start in `bytes`: row-major, `dimensions` per token.
    rows_at: usize,
    scales: Vec<f32>,
    center: Vec<f32>,
    dimensions: usize,
    unknown: u32,
    max_word_chars: usize,
}

impl std::fmt::Debug for EmbeddingTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingTable")
            .field("tokens", &self.weights.len())
            .field("dimensions", &self.dimensions)
            .finish_non_exhaustive()
    }
}

impl EmbeddingTable {
    pub fn load(path: &Path) -> Result<Self, TableError> {
        let read_error = |source| TableError::Read { path: path.display().to_string(), source };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let bytes = Bytes::Mapped(Mapping::of(&file).map_err(read_error)?);
        Self::parse(bytes).map_err(|problem| TableError::Invalid { path: path.display().to_string(), problem })
    }

    /// The format of `distill.py`: a header, the vocabulary, weights, row scales, the centre,
    /// then int8 rows. Every length is checked against the file before anything is allocated
    /// from it, and nothing may follow: a truncated or corrupt file is an `Err`, never a panic
    /// or an abort.
    fn parse(bytes: Bytes) -> Result<Self, String> {
        let mut reader = Reader { bytes: &bytes, at: 0 };
        if reader.take(4)? != MAGIC {
            return Err("bad magic".into());
        }
        let version = reader.u32()?;
        if version != VERSION {
            return Err(format!("format version {version}, expected {VERSION}"));
        }
        let (tokens, dimensions, unknown, max_word_chars, flags, _reserved) = (
            reader.u32()? as usize,
            reader.u32()? as usize,
            reader.u32()?,
            reader.u32()? as usize,
            reader.u32()?,
            reader.u32()?,
        );
        if flags != 3 || dimensions == 0 || tokens == 0 || unknown as usize >= tokens {
            return Err(format!("unsupported header: {tokens} tokens, {dimensions} dimensions, flags {flags}"));
        }
        // Before anything is allocated from the header: every token takes at least a length
        // prefix (2 bytes), a weight and a scale (4 each) and its row, and the centre 4 bytes a
        // dimension. A corrupt or truncated file is then this error, not an allocation of its
        // claim (u32::MAX tokens: a 34 GB index, and an abort).
        let least = (|| tokens.checked_mul(10 + dimensions)?.checked_add(dimensions.checked_mul(4)?))();
        let remaining = bytes.len() - reader.at;
        if least.is_none_or(|least| least > remaining) {
            return Err(format!(
                "the header claims {tokens} tokens of {dimensions} dimensions, more than the {remaining} bytes after it hold"
            ));
        }
        let mut pieces = Vec::with_capacity(tokens);
        for _ in 0..tokens {
            let len = u16::from_le_bytes(reader.take(2)?.try_into().unwrap()) as usize;
            let at = reader.at;
            std::str::from_utf8(reader.take(len)?).map_err(|_| "a vocabulary entry is not UTF-8")?;
            pieces.push((at as u32, len as u16));
        }
        let vocabulary = Vocabulary::new(&bytes, pieces);
        let weights = reader.f32s(tokens)?;
        let scales = reader.f32s(tokens)?;
        let center = reader.f32s(dimensions)?;
        let rows_at = reader.at;
        reader.take(tokens * dimensions)?; // checked above: no overflow
        if reader.at != bytes.len() {
            return Err(format!("{} bytes after the rows", bytes.len() - reader.at));
        }
        Ok(Self { bytes, vocabulary, weights, rows_at, scales, center, dimensions, unknown, max_word_chars })
    }

    /// The text's vector: the weighted mean of its tokens' rows minus the centre; zero when it
    /// has no weighted token.
    pub fn embed(&self, text: &str) -> Vec<f32> {
        self.embed_ids(self.tokens(text).take(MAX_TOKENS))
    }

    /// The vectors of the text's successive runs of `size` tokens (of its first `MAX_TOKENS`),
    /// as `embed` gives each: a long document's parts, each about one thing.
    pub fn embed_chunks(&self, text: &str, size: usize) -> Vec<Vec<f32>> {
        let ids: Vec<u32> = self.tokens(text).take(MAX_TOKENS).collect();
        ids.chunks(size.max(1)).map(|chunk| self.embed_ids(chunk.iter().copied())).collect()
    }

    fn embed_ids(&self, ids: impl Iterator<Item = u32>) -> Vec<f32> {
        let mut sum = vec![0f32; self.dimensions];
        let mut total = 0f32;
        for id in ids {
            let weight = self.weights[id as usize];
            if weight != 0.0 {
                let row = &self.bytes[self.rows_at + id as usize * self.dimensions..][..self.dimensions];
                let scaled = weight * self.scales[id as usize];
                sum.iter_mut().zip(row).for_each(|(s, q)| *s += scaled * f32::from(*q as i8));
                total += weight;
            }
        }
        if total <= 0.0 {
            return vec![0.0; self.dimensions];
        }
        sum.iter().zip(&self.center).map(|(s, c)| s / total - c).collect()
    }

    /// Which table this is, for features computed with it (`features`): a hash of its size,
    /// centre and row scales, which any new distillation changes. About 0.1 ms: computed once,
    /// when first needed, not at start-up.
    pub fn fingerprint(&self) -> u32 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let header = [self.weights.len() as f32, self.dimensions as f32];
        for value in header.iter().chain(&self.center).chain(&self.scales) {
            for byte in value.to_le_bytes() {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        (hash ^ (hash >> 32)) as u32
    }

    /// WordPiece ids of `text` (no `[CLS]`/`[SEP]`), as the model's tokenizer gives them.
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        self.tokens(text).collect()
    }

    fn tokens<'a>(&'a self, text: &str) -> impl Iterator<Item = u32> + 'a {
        basic_words(text)
            .into_iter()
            .flat_map(|word| self.vocabulary.word_pieces(&self.bytes, &word, self.unknown, self.max_word_chars))
    }
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let (na, nb) = (a.iter().map(|x| x * x).sum::<f32>().sqrt(), b.iter().map(|x| x * x).sum::<f32>().sqrt());
    if na > 0.0 && nb > 0.0 {
        f64::from(dot / (na * nb))
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl EmbeddingTable {
        /// `tiny_table`, for other modules' tests.
        pub(crate) fn tiny() -> Self {
            Self::parse(Bytes::Owned(tiny_table())).expect("a valid table")
        }
    }

    /// A table of three pieces, two dimensions, built in the file format.
    fn tiny_table() -> Vec<u8> {
        let vocabulary = ["[UNK]", "lent", "##il", "soup"];
        let mut bytes = MAGIC.to_vec();
        for value in [VERSION, vocabulary.len() as u32, 2, 0, 100, 3, 0] {
            bytes.extend(value.to_le_bytes());
        }
        for piece in vocabulary {
            bytes.extend((piece.len() as u16).to_le_bytes());
            bytes.extend(piece.as_bytes());
        }
        for weight in [0.0f32, 1.0, 1.0, 2.0] {
            bytes.extend(weight.to_le_bytes());
        }
        for scale in [1.0f32, 0.5, 0.5, 0.25] {
            bytes.extend(scale.to_le_bytes());
        }
        for center in [0.0f32, 0.0] {
            bytes.extend(center.to_le_bytes());
        }
        bytes.extend([0u8, 0, 2, 0, 0, 2, 4, 4]);
        bytes
    }

    #[test]
    fn tables_are_read_exactly_and_texts_embedded_by_their_pieces() {
        let table = EmbeddingTable::parse(Bytes::Owned(tiny_table())).unwrap();
        assert_eq!(table.tokens("Lentil soup, lentils").collect::<Vec<_>>(), [1, 2, 3, 0, 0]);
        // lent (1, 0) + il (0, 1) + 2 x soup (1, 1), over a weight of 4.
        assert_eq!(table.embed("lentil soup"), [0.75, 0.75]);
        assert_eq!(table.embed("nothing known"), [0.0, 0.0]);
        assert!((cosine(&table.embed("lentil"), &table.embed("soup")) - 1.0).abs() < 1e-6);

        let mut trailing = tiny_table();
        trailing.push(0);
        assert!(EmbeddingTable::parse(Bytes::Owned(trailing)).unwrap_err().contains("after the rows"));
        assert!(EmbeddingTable::parse(Bytes::Owned(b"PK\x03\x04".to_vec())).is_err());
    }

    /// `tiny_table` with header field `index` (after the magic: 0 version, 1 tokens,
    /// 2 dimensions) set to `value`.
    fn with_header_field(index: usize, value: u32) -> Vec<u8> {
        let mut bytes = tiny_table();
        let at = MAGIC.len() + 4 * index;
        bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
        bytes
    }

    #[test]
    fn a_header_claiming_more_than_the_file_holds_is_an_error_not_an_allocation() {
        // u32::MAX tokens would be a 34 GB vocabulary index: allocated from the header, it
        // aborted the process ("memory allocation of ... failed") instead of naming the file.
        // Claims a little too large pass that first check and end as the file does.
        let (claims, ends) = ("the header claims", "ends early");
        for (field, claim, expected) in
            [(1, u32::MAX, claims), (2, u32::MAX, claims), (1, 1 << 20, claims), (1, 5, ends)]
        {
            let error = EmbeddingTable::parse(Bytes::Owned(with_header_field(field, claim))).unwrap_err();
            assert!(error.contains(expected), "field {field} = {claim}: {error}");
        }
    }

    #[test]
    fn every_truncation_and_garbage_is_an_error() {
        let table = tiny_table();
        for len in 0..table.len() {
            assert!(EmbeddingTable::parse(Bytes::Owned(table[..len].to_vec())).is_err(), "{len} bytes");
        }
        let mut garbage = MAGIC.to_vec();
        garbage.extend((0..200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        assert!(EmbeddingTable::parse(Bytes::Owned(garbage)).is_err());
        assert!(EmbeddingTable::parse(Bytes::Owned(Vec::new())).unwrap_err().contains("ends early"));
    }

    #[test]
    fn files_are_mapped_and_missing_or_empty_ones_named() {
        let dir = std::env::temp_dir().join(format!("embedding-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let (table, empty) = (dir.join("table.bin"), dir.join("empty.bin"));
        std::fs::write(&table, tiny_table()).unwrap();
        std::fs::write(&empty, b"").unwrap();
        let overclaiming = dir.join("overclaiming.bin");
        std::fs::write(&overclaiming, with_header_field(1, u32::MAX)).unwrap();
        let error = EmbeddingTable::load(&overclaiming).unwrap_err();
        assert!(matches!(error, TableError::Invalid { .. }), "{error}");
        assert!(error.to_string().contains(&overclaiming.display().to_string()), "{error}");
        assert_eq!(EmbeddingTable::load(&table).unwrap().embed("lentil soup"), [0.75, 0.75]);
        for path in [empty, dir.join("missing.bin")] {
            let error = EmbeddingTable::load(&path).unwrap_err().to_string();
            assert!(error.contains(&path.display().to_string()), "{error}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
