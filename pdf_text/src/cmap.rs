//! ToUnicode CMaps (PDF 32000 9.10.3): `bfchar` and `bfrange` (start and array forms) for 1- to
//! 4-byte codes. Ranges are kept as ranges and resolved per lookup, so a hostile
//! `<0000> <FFFFFFFF>` costs nothing.

use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct ToUnicode {
    chars: HashMap<(u8, u32), String>,
    ranges: Vec<Range>,
}

#[derive(Debug)]
struct Range {
    len: u8,
    lo: u32,
    hi: u32,
    dst: Dst,
}

#[derive(Debug)]
enum Dst {
    /// UTF-16 of the text for `lo`; later codes increment the last unit.
    Start(Vec<u16>),
    /// One text per code.
    Array(Vec<String>),
}

#[derive(Debug, PartialEq)]
enum Tok<'a> {
    Hex(Vec<u8>),
    Word(&'a [u8]),
    Open,
    Close,
}

fn tokens(data: &[u8]) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'%' => {
                while i < data.len() && data[i] != b'\n' && data[i] != b'\r' {
                    i += 1;
                }
            }
            b'<' if data.get(i + 1) == Some(&b'<') => i += 2,
            b'>' if data.get(i + 1) == Some(&b'>') => i += 2,
            b'<' => {
                let end = data[i..].iter().position(|&b| b == b'>').map_or(data.len(), |p| i + p);
                let digits: Vec<u8> = data[i + 1..end].iter().copied().filter(u8::is_ascii_hexdigit).collect();
                let bytes = digits
                    .chunks(2)
                    .map(|p| {
                        let hi = (p[0] as char).to_digit(16).unwrap_or(0) as u8;
                        let lo = p.get(1).map_or(0, |&b| (b as char).to_digit(16).unwrap_or(0) as u8);
                        hi << 4 | lo
                    })
                    .collect();
                out.push(Tok::Hex(bytes));
                i = end + 1;
            }
            b'[' => {
                out.push(Tok::Open);
                i += 1;
            }
            b']' => {
                out.push(Tok::Close);
                i += 1;
            }
            b if b.is_ascii_whitespace() => i += 1,
            _ => {
                let start = i;
                i += 1;
                while i < data.len() && !b"<>[]% \t\r\n\x0c".contains(&data[i]) {
                    i += 1;
                }
                out.push(Tok::Word(&data[start..i]));
            }
        }
    }
    out
}

fn code_of(bytes: &[u8]) -> Option<(u8, u32)> {
    (1..=4).contains(&bytes.len()).then(|| (bytes.len() as u8, bytes.iter().fold(0u32, |a, &b| a << 8 | b as u32)))
}

fn utf16(bytes: &[u8]) -> Vec<u16> {
    bytes.chunks(2).map(|p| u16::from_be_bytes([p[0], *p.get(1).unwrap_or(&0)])).collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf16_lossy(&utf16(bytes))
}

impl ToUnicode {
    pub fn parse(data: &[u8]) -> Self {
        let toks = tokens(data);
        let mut map = ToUnicode::default();
        let mut i = 0;
        while i < toks.len() {
            match toks[i] {
                Tok::Word(b"beginbfchar") => {
                    i += 1;
                    while let (Some(Tok::Hex(src)), Some(dst)) = (toks.get(i), toks.get(i + 1)) {
                        let dst = match dst {
                            Tok::Hex(d) => text(d),
                            // A glyph name destination (/fi): rare, resolved through the glyph list.
                            Tok::Word(w) => w
                                .strip_prefix(b"/")
                                .and_then(crate::encoding::glyph_char)
                                .map(String::from)
                                .unwrap_or_default(),
                            _ => break,
                        };
                        if let Some(code) = code_of(src) {
                            map.chars.insert(code, dst);
                        }
                        i += 2;
                    }
                }
                Tok::Word(b"beginbfrange") => {
                    i += 1;
                    while let (Some(Tok::Hex(lo)), Some(Tok::Hex(hi))) = (toks.get(i), toks.get(i + 1)) {
                        let (Some((len, lo)), Some((_, hi))) = (code_of(lo), code_of(hi)) else {
                            break;
                        };
                        i += 2;
                        let dst = match toks.get(i) {
                            Some(Tok::Hex(d)) => {
                                i += 1;
                                Dst::Start(utf16(d))
                            }
                            Some(Tok::Open) => {
                                i += 1;
                                let mut items = Vec::new();
                                while let Some(Tok::Hex(d)) = toks.get(i) {
                                    items.push(text(d));
                                    i += 1;
                                }
                                i += 1; // the closing bracket
                                Dst::Array(items)
                            }
                            _ => break,
                        };
                        if lo <= hi {
                            map.ranges.push(Range { len, lo, hi, dst });
                        }
                    }
                }
                _ => i += 1,
            }
        }
        map
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty() && self.ranges.is_empty()
    }

    /// The text of `code` (given as its `len` bytes), if the CMap maps it.
    pub fn get(&self, len: u8, code: u32) -> Option<String> {
        if let Some(s) = self.chars.get(&(len, code)) {
            return Some(s.clone());
        }
        let r = self.ranges.iter().find(|r| r.len == len && r.lo <= code && code <= r.hi)?;
        let offset = code - r.lo;
        match &r.dst {
            Dst::Array(items) => items.get(offset as usize).cloned(),
            Dst::Start(units) => {
                let mut units = units.clone();
                let last = units.last_mut()?;
                *last = last.checked_add(u16::try_from(offset).ok()?)?;
                Some(String::from_utf16_lossy(&units))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CMAP: &[u8] = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n\
        1 begincodespacerange <0000> <FFFF> endcodespacerange\n\
        2 beginbfchar <0003> <0020> <0004> <00660069> endbfchar\n\
        2 beginbfrange <0010> <0019> <0061>\n<0030> <0032> [<00E9> <00FC> <00DF>] endbfrange\n\
        endcmap";

    #[test]
    fn bfchar_bfrange_and_array_form() {
        let map = ToUnicode::parse(CMAP);
        assert_eq!(map.get(2, 3).as_deref(), Some(" "));
        assert_eq!(map.get(2, 4).as_deref(), Some("fi"));
        assert_eq!(map.get(2, 0x10).as_deref(), Some("a"));
        assert_eq!(map.get(2, 0x19).as_deref(), Some("j"));
        assert_eq!(map.get(2, 0x31).as_deref(), Some("ü"));
        assert_eq!(map.get(2, 0x40), None);
        assert_eq!(map.get(1, 0x10), None);
    }

    #[test]
    fn one_byte_codes_and_garbage() {
        let map = ToUnicode::parse(b"1 beginbfchar <41> <0042> endbfchar 1 beginbfrange <61> <63> <0078> endbfrange");
        assert_eq!(map.get(1, 0x41).as_deref(), Some("B"));
        assert_eq!(map.get(1, 0x62).as_deref(), Some("y"));
        // Truncated or hostile input parses to something without panicking.
        for cut in 0..CMAP.len() {
            ToUnicode::parse(&CMAP[..cut]);
        }
        let huge = ToUnicode::parse(b"beginbfrange <00000000> <FFFFFFFF> <FFFF> endbfrange");
        assert_eq!(huge.get(4, 5), None);
    }
}
