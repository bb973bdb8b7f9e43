//! BERT's uncased WordPiece tokeniser, as all-MiniLM-L6-v2's tokenizer applies it: the basic
//! tokeniser (clean, fold, split at punctuation) and greedy longest-match-first pieces over the
//! table's vocabulary (`embedding`).

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

/// The vocabulary's index: open addressing over the pieces' bytes in the file (FNV-1a), with
/// ids, not strings, in its slots.
pub(super) struct Vocabulary {
    /// (offset in the file, length) of each id's piece.
    pieces: Vec<(u32, u16)>,
    /// `id + 1`, 0 for an empty slot; a power of two, at most half full.
    slots: Vec<u32>,
}

impl Vocabulary {
    pub(super) fn new(bytes: &[u8], pieces: Vec<(u32, u16)>) -> Self {
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

    /// Greedy longest-match-first; a word with a part no piece matches is one `[UNK]`.
    pub(super) fn word_pieces(&self, bytes: &[u8], word: &str, unknown: u32, max_word_chars: usize) -> Vec<u32> {
        let chars: Vec<(usize, char)> = word.char_indices().collect();
        if chars.len() > max_word_chars {
            return vec![unknown];
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
                self.get(bytes, piece.as_bytes()).map(|id| (id, end))
            });
            match found {
                Some((id, end)) => {
                    ids.push(id);
                    start = end;
                }
                None => return vec![unknown],
            }
        }
        ids
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

/// BERT's basic tokeniser, uncased: clean, space out CJK ideographs, strip accents, lowercase,
/// split on whitespace and around every punctuation character.
pub(super) fn basic_words(text: &str) -> Vec<String> {
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
}
