//! A static sentence embedding: all-MiniLM-L6-v2's token vectors distilled into one table
//! (`make model`, `eval/classification/distill.py`, which specifies the file format and the
//! tokeniser). A text's vector is the weighted mean of its WordPiece tokens' rows, minus the
//! vector of generic English text; texts are compared by cosine. No network at run time: a
//! table lookup and a sum per token (about 0.1 ms for a page of text).

mod table_file;

use std::path::Path;

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

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
        let mut sum = vec![0f32; self.dimensions];
        let mut total = 0f32;
        for id in self.tokens(text).take(MAX_TOKENS) {
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

    /// WordPiece ids of `text` (no `[CLS]`/`[SEP]`), as the model's tokenizer gives them.
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        self.tokens(text).collect()
    }

    fn tokens<'a>(&'a self, text: &str) -> impl Iterator<Item = u32> + 'a {
        basic_words(text).into_iter().flat_map(|word| self.word_pieces(&word))
    }

    /// Greedy longest-match-first; a word with a part no piece matches is one `[UNK]`.
    fn word_pieces(&self, word: &str) -> Vec<u32> {
        let chars: Vec<(usize, char)> = word.char_indices().collect();
        if chars.len() > self.max_word_chars {
            return vec![self.unknown];
        }
        let boundary = |i: usize| chars.get(i).map_or(word.len(), |(at, _)| *at);
        let (mut ids, mut start, mut piece) = (Vec::new(), 0, String::new());
        while start < chars.len() {
            let found = (start + 1..=chars.len()).rev().find_map(|end| {
                piece.clear();
                if start > 0 {
                    piece.push_str("##");
                }
                piece.push_str(&word[boundary(start)..boundary(end)]);
                self.vocabulary.get(&self.bytes, piece.as_bytes()).map(|id| (id, end))
            });
            match found {
                Some((id, end)) => {
                    ids.push(id);
                    start = end;
                }
                None => return vec![self.unknown],
            }
        }
        ids
    }
}

/// The vocabulary's index: open addressing over the pieces' bytes in the file (FNV-1a), with
/// ids, not strings, in its slots.
struct Vocabulary {
    /// (offset in the file, length) of each id's piece.
    pieces: Vec<(u32, u16)>,
    /// `id + 1`, 0 for an empty slot; a power of two, at most half full.
    slots: Vec<u32>,
}

impl Vocabulary {
    fn new(bytes: &[u8], pieces: Vec<(u32, u16)>) -> Self {
        let mut slots = vec![0u32; (pieces.len() * 2).next_power_of_two()];
        let mask = slots.len() - 1;
        for (id, (at, len)) in pieces.iter().enumerate() {
            let mut slot = fnv(&bytes[*at as usize..][..*len as usize]) as usize & mask;
            while slots[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            slots[slot] = id as u32 + 1;
        }
        Self { pieces, slots }
    }

    fn get(&self, bytes: &[u8], piece: &[u8]) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut slot = fnv(piece) as usize & mask;
        loop {
            let id = self.slots[slot].checked_sub(1)?;
            let (at, len) = self.pieces[id as usize];
            if &bytes[at as usize..][..len as usize] == piece {
                return Some(id);
            }
            slot = (slot + 1) & mask;
        }
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
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

/// BERT's basic tokeniser, uncased: clean, space out CJK ideographs, strip accents, lowercase,
/// split on whitespace and around every punctuation character.
fn basic_words(text: &str) -> Vec<String> {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\0' || c == '\u{FFFD}' || is_control(c) {
            continue;
        }
        if is_whitespace(c) {
            cleaned.push(' ');
        } else if is_cjk(c) {
            cleaned.extend([' ', c, ' ']);
        } else {
            cleaned.push(c);
        }
    }
    let folded: String = cleaned
        .nfd()
        .filter(|c| c.general_category() != GeneralCategory::NonspacingMark)
        .flat_map(char::to_lowercase)
        .collect();
    let mut words = Vec::new();
    for chunk in folded.split_whitespace() {
        let mut word = String::new();
        for c in chunk.chars() {
            if is_punctuation(c) {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                words.push(c.to_string());
            } else {
                word.push(c);
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
    }
    words
}

fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r') || c.general_category() == GeneralCategory::SpaceSeparator
}

fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r')
        && matches!(c.general_category(), GeneralCategory::Control | GeneralCategory::Format)
}

fn is_punctuation(c: char) -> bool {
    matches!(c as u32, 33..=47 | 58..=64 | 91..=96 | 123..=126)
        || c.general_category_group() == GeneralCategoryGroup::Punctuation
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F | 0x2B740..=0x2B81F
        | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_cleaned_folded_and_split_at_punctuation() {
        assert_eq!(basic_words("Crème  Brûlée: £4.50!"), ["creme", "brulee", ":", "£4", ".", "50", "!"]);
        assert_eq!(basic_words("a\u{200B}b\tc\u{00A0}d 東京"), ["ab", "c", "d", "東", "京"]);
        assert_eq!(basic_words("“quoted”—dash"), ["“", "quoted", "”", "—", "dash"]);
    }

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
