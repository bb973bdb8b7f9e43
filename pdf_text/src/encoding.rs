//! Simple-font encodings: the named base encodings, `/Differences`, glyph names to Unicode, and
//! the built-in encoding of an embedded Type 1 font program (pdfTeX writes no `/Encoding` for
//! Computer Modern, so `fi` at code 12 is only known from the font program itself).

use crate::tables;

/// Code -> text for the 256 codes of a simple font; `None` where the code means nothing.
pub type CodeTable = [Option<char>; 256];

pub fn base(name: &[u8]) -> Option<CodeTable> {
    let table = match name {
        b"StandardEncoding" => &tables::STANDARD,
        b"WinAnsiEncoding" => &tables::WIN_ANSI,
        b"MacRomanEncoding" => &tables::MAC_ROMAN,
        _ => return None,
    };
    Some(from_chars(table))
}

pub fn from_chars(table: &[char; 256]) -> CodeTable {
    let mut out = [None; 256];
    for (slot, &c) in out.iter_mut().zip(table.iter()) {
        *slot = (c != '\0').then_some(c);
    }
    out
}

/// Unicode for an Adobe glyph name: the glyph list, then the `uniXXXX` / `uXXXX[XX]` forms, then a
/// suffixed name (`a.sc`, `f_i` is left alone as it names a sequence we cannot return as a char).
pub fn glyph_char(name: &[u8]) -> Option<char> {
    let name = std::str::from_utf8(name).ok()?;
    if let Ok(i) = tables::GLYPHS.binary_search_by(|(n, _)| n.cmp(&name)) {
        return Some(tables::GLYPHS[i].1);
    }
    let hex = |s: &str| u32::from_str_radix(s, 16).ok().and_then(char::from_u32);
    if let Some(rest) = name.strip_prefix("uni") {
        if rest.len() == 4 {
            return hex(rest);
        }
    }
    if let Some(rest) = name.strip_prefix('u') {
        if (4..=6).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_hexdigit()) {
            return hex(rest);
        }
    }
    if let Some((stem, _)) = name.split_once('.') {
        if !stem.is_empty() {
            return glyph_char(stem.as_bytes());
        }
    }
    None
}

/// The `/Encoding` vector of a Type 1 font program (`dup 12 /fi put` lines in its cleartext part).
/// Only the first `limit` bytes are scanned: the cleartext header precedes the encrypted portion.
pub fn type1_builtin(program: &[u8]) -> Option<CodeTable> {
    let text = &program[..program.len().min(64 * 1024)];
    let start = find(text, b"/Encoding")?;
    let text = &text[start..];
    if text[9..].trim_ascii_start().starts_with(b"StandardEncoding") {
        return base(b"StandardEncoding");
    }
    let end = find(text, b"readonly def").or_else(|| find(text, b"eexec")).unwrap_or(text.len());
    let mut table = [None; 256];
    let mut found = false;
    let words: Vec<&[u8]> = text[..end].split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty()).collect();
    for w in words.windows(4) {
        if w[0] == b"dup" && w[3] == b"put" {
            let code = std::str::from_utf8(w[1]).ok().and_then(|s| s.parse::<usize>().ok());
            if let (Some(code), Some(name)) = (code, w[2].strip_prefix(b"/")) {
                if code < 256 {
                    table[code] = glyph_char(name);
                    found = true;
                }
            }
        }
    }
    found.then_some(table)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Advance width (1/1000 em) of `c` in a standard-14 font, for simple fonts without `/Widths`
/// (lopdf-made PDFs omit them). Unknown fonts get an average Latin width.
pub fn standard_width(base_font: &[u8], c: char) -> f32 {
    let name = base_font.rsplit(|&b| b == b'+').next().unwrap_or(base_font);
    let bold = find(name, b"Bold").is_some();
    let table: &[(char, u16)] = if name.starts_with(b"Courier") {
        return 600.0;
    } else if name.starts_with(b"Times") {
        if bold {
            tables::TIMES_BOLD
        } else {
            tables::TIMES
        }
    } else if bold {
        tables::HELVETICA_BOLD
    } else {
        tables::HELVETICA
    };
    table.binary_search_by(|(k, _)| k.cmp(&c)).map(|i| table[i].1 as f32).unwrap_or(556.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyph_names_resolve() {
        assert_eq!(glyph_char(b"eacute"), Some('é'));
        assert_eq!(glyph_char(b"fi"), Some('\u{FB01}'));
        assert_eq!(glyph_char(b"uni00E8"), Some('è'));
        assert_eq!(glyph_char(b"u1F600"), Some('😀'));
        assert_eq!(glyph_char(b"a.sc"), Some('a'));
        assert_eq!(glyph_char(b"nosuchglyph"), None);
    }

    #[test]
    fn base_encodings_differ_where_they_should() {
        assert_eq!(base(b"WinAnsiEncoding").unwrap()[0x80], Some('€'));
        assert_eq!(base(b"StandardEncoding").unwrap()[0x27], Some('\u{2019}'));
        assert_eq!(base(b"MacRomanEncoding").unwrap()[0x8E], Some('é'));
    }

    #[test]
    fn type1_program_encoding_is_read() {
        let program = b"%!PS-AdobeFont-1.0: CMR10\n/Encoding 256 array\n0 1 255 {1 index exch /.notdef put} for\n\
                        dup 12 /fi put\ndup 65 /A put\nreadonly def\ncurrentfile eexec\x80\x81";
        let table = type1_builtin(program).unwrap();
        assert_eq!(table[12], Some('\u{FB01}'));
        assert_eq!(table[65], Some('A'));
        assert_eq!(table[66], None);
    }
}
