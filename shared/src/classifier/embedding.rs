//! A static sentence embedding: all-MiniLM-L6-v2's token vectors distilled into one table
//! (`make model`, `eval/classification/distill.py`, which specifies the file format and the
//! tokeniser). A text's vector is the weighted mean of its WordPiece tokens' rows, minus the
//! vector of generic English text; texts are compared by cosine. No network at run time: a
//! table lookup and a sum per token (about 0.1 ms for a page of text).

use std::path::Path;

use super::wordpiece::{basic_words, Vocabulary};

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
    /// then int8 rows; every length is checked, and nothing may follow.
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
        reader.take(tokens * dimensions)?;
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

/// The table file's bytes: mapped (`load`), or in memory (tests).
enum Bytes {
    Mapped(Mapping),
    #[cfg(test)]
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Mapped(mapping) => mapping.bytes(),
            #[cfg(test)]
            Self::Owned(bytes) => bytes,
        }
    }
}

/// A whole file mapped read-only and private: its pages are read when first touched.
struct Mapping {
    start: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is read-only and never written through; it can be read from any thread.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Mapping {
    fn of(file: &std::fs::File) -> std::io::Result<Self> {
        use std::os::fd::AsRawFd;
        let len = usize::try_from(file.metadata()?.len()).map_err(std::io::Error::other)?;
        if len == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is empty"));
        }
        // SAFETY: maps `len` bytes of an open file, read-only (PROT_READ, MAP_PRIVATE); the
        // result is checked, and the memory is only read, through `bytes`, until `drop` unmaps
        // it. In Lambda the file is the model layer's, on a read-only file system; locally,
        // replacing it (`make model`) writes a new file, which leaves this mapping intact.
        let start =
            unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_PRIVATE, file.as_raw_fd(), 0) };
        if start == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let start = std::ptr::NonNull::new(start.cast::<u8>()).ok_or_else(std::io::Error::last_os_error)?;
        Ok(Self { start, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `start` points at `len` mapped, readable bytes for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.start.as_ptr(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `of` mapped; no reference into it outlives `self`.
        unsafe { libc::munmap(self.start.as_ptr().cast(), self.len) };
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(len).filter(|end| *end <= self.bytes.len()).ok_or("the file ends early")?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    fn f32s(&mut self, count: usize) -> Result<Vec<f32>, String> {
        Ok(self.take(count * 4)?.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let short = tiny_table();
        assert!(EmbeddingTable::parse(Bytes::Owned(short[..short.len() - 1].to_vec()))
            .unwrap_err()
            .contains("ends early"));
        assert!(EmbeddingTable::parse(Bytes::Owned(b"PK\x03\x04".to_vec())).is_err());
    }

    #[test]
    fn files_are_mapped_and_missing_or_empty_ones_named() {
        let dir = std::env::temp_dir().join(format!("embedding-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let (table, empty) = (dir.join("table.bin"), dir.join("empty.bin"));
        std::fs::write(&table, tiny_table()).unwrap();
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(EmbeddingTable::load(&table).unwrap().embed("lentil soup"), [0.75, 0.75]);
        for path in [empty, dir.join("missing.bin")] {
            let error = EmbeddingTable::load(&path).unwrap_err().to_string();
            assert!(error.contains(&path.display().to_string()), "{error}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
