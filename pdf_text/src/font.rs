//! Fonts as the text extractor sees them: how a shown string splits into codes, what text each
//! code means, and how far each glyph advances (needed to tell word gaps from glyph spacing).

use std::collections::HashMap;

use lopdf::{Dictionary, Object};

use crate::cmap::ToUnicode;
use crate::encoding::{self, CodeTable};
use crate::Ctx;

/// Cap on `/W` entries kept for a CID font (a hostile array cannot make the map unbounded).
const MAX_CID_WIDTHS: usize = 1 << 16;

pub struct Font {
    /// Type0: 2-byte codes (Identity-H/V and the common CJK CMaps); simple fonts: 1 byte.
    composite: bool,
    to_unicode: Option<ToUnicode>,
    /// Simple fonts: the encoding resolved to characters.
    table: Option<CodeTable>,
    base_font: Vec<u8>,
    first_char: u32,
    widths: Vec<f32>,
    /// Simple fonts without `/Widths` (the standard 14): widths come from built-in metrics.
    standard_metrics: bool,
    default_width: f32,
    cid_widths: HashMap<u32, f32>,
    cid_ranges: Vec<(u32, u32, f32)>,
    /// Type 3 glyph space is not 1/1000 em; this brings its widths to that scale.
    width_scale: f32,
}

/// One shown glyph: its text (possibly empty when the font does not say), its advance in 1/1000
/// em, and whether it is the single-byte code 32 that word spacing (`Tw`) applies to.
pub struct Glyph {
    pub text: String,
    pub width: f32,
    pub word_space: bool,
}

fn num(obj: &Object) -> Option<f32> {
    match obj {
        Object::Integer(i) => Some(*i as f32),
        Object::Real(r) => Some(*r),
        _ => None,
    }
}

impl Font {
    pub fn load(ctx: &Ctx, dict: &Dictionary) -> Font {
        let subtype = ctx.get(dict, b"Subtype").as_name().unwrap_or(b"");
        let composite = subtype == b"Type0";
        let base_font = ctx.get(dict, b"BaseFont").as_name().unwrap_or(b"").to_vec();
        // A ToUnicode stream that fails to decode (over the caps, broken) is ignored: the font's
        // encoding may still be enough.
        let to_unicode = match ctx.get(dict, b"ToUnicode") {
            Object::Stream(s) => ctx.decode(s).ok().map(|d| ToUnicode::parse(&d)).filter(|m| !m.is_empty()),
            _ => None,
        };
        let mut font = Font {
            composite,
            to_unicode,
            table: None,
            base_font,
            first_char: 0,
            widths: Vec::new(),
            standard_metrics: false,
            default_width: if composite { 1000.0 } else { 0.0 },
            cid_widths: HashMap::new(),
            cid_ranges: Vec::new(),
            width_scale: 1.0,
        };
        if composite {
            if let Some(Object::Dictionary(cid)) =
                ctx.get(dict, b"DescendantFonts").as_array().ok().and_then(|a| a.first()).map(|o| ctx.resolve(o))
            {
                font.load_cid_widths(ctx, cid);
            }
        } else {
            font.table = Some(simple_encoding(ctx, dict, subtype));
            font.load_simple_widths(ctx, dict, subtype);
        }
        font
    }

    fn load_simple_widths(&mut self, ctx: &Ctx, dict: &Dictionary, subtype: &[u8]) {
        self.first_char = num(ctx.get(dict, b"FirstChar")).unwrap_or(0.0).max(0.0) as u32;
        if let Ok(ws) = ctx.get(dict, b"Widths").as_array() {
            self.widths = ws.iter().take(256).map(|w| num(ctx.resolve(w)).unwrap_or(0.0)).collect();
        }
        if let Ok(desc) = ctx.get(dict, b"FontDescriptor").as_dict() {
            self.default_width = num(ctx.get(desc, b"MissingWidth")).unwrap_or(0.0);
        }
        self.standard_metrics = self.widths.is_empty();
        if subtype == b"Type3" {
            if let Ok(m) = ctx.get(dict, b"FontMatrix").as_array() {
                self.width_scale = m.first().and_then(|o| num(ctx.resolve(o))).unwrap_or(0.001) * 1000.0;
            }
        }
    }

    fn load_cid_widths(&mut self, ctx: &Ctx, cid: &Dictionary) {
        self.default_width = num(ctx.get(cid, b"DW")).unwrap_or(1000.0);
        let Ok(w) = ctx.get(cid, b"W").as_array() else { return };
        let mut i = 0;
        while i < w.len() && self.cid_widths.len() < MAX_CID_WIDTHS {
            let first = num(ctx.resolve(&w[i])).unwrap_or(0.0) as u32;
            match w.get(i + 1).map(|o| ctx.resolve(o)) {
                Some(Object::Array(list)) => {
                    for (k, v) in list.iter().take(MAX_CID_WIDTHS).enumerate() {
                        self.cid_widths.insert(first.saturating_add(k as u32), num(ctx.resolve(v)).unwrap_or(0.0));
                    }
                    i += 2;
                }
                Some(last) => {
                    let (last, width) = (num(last).unwrap_or(0.0) as u32, w.get(i + 2).map(|o| ctx.resolve(o)));
                    self.cid_ranges.push((first, last, width.and_then(num).unwrap_or(self.default_width)));
                    i += 3;
                }
                None => break,
            }
        }
    }

    /// Splits a shown string into glyphs.
    pub fn glyphs(&self, bytes: &[u8]) -> Vec<Glyph> {
        if self.composite {
            bytes.chunks_exact(2).map(|p| self.composite_glyph(u16::from_be_bytes([p[0], p[1]]) as u32)).collect()
        } else {
            bytes.iter().map(|&b| self.simple_glyph(b)).collect()
        }
    }

    fn simple_glyph(&self, code: u8) -> Glyph {
        let text = self
            .to_unicode
            .as_ref()
            .and_then(|m| m.get(1, code as u32))
            .or_else(|| self.table.as_ref().and_then(|t| t[code as usize]).map(String::from))
            .unwrap_or_default();
        let idx = (code as u32).checked_sub(self.first_char).map(|i| i as usize);
        let width = match idx.and_then(|i| self.widths.get(i)) {
            Some(&w) => w * self.width_scale,
            None if self.standard_metrics => {
                text.chars().next().map_or(500.0, |c| encoding::standard_width(&self.base_font, c))
            }
            None => self.default_width,
        };
        Glyph { text: expand_ligature(text), width, word_space: code == 32 }
    }

    fn composite_glyph(&self, code: u32) -> Glyph {
        let text = match self.to_unicode.as_ref().and_then(|m| m.get(2, code)) {
            Some(t) => t,
            // Last resort without ToUnicode: some producers use Unicode code points as CIDs. Control
            // characters and surrogates are surely not text, so they are dropped.
            None => char::from_u32(code).filter(|c| !c.is_control()).map(String::from).unwrap_or_default(),
        };
        let width = self.cid_widths.get(&code).copied().unwrap_or_else(|| {
            self.cid_ranges.iter().find(|r| r.0 <= code && code <= r.1).map_or(self.default_width, |r| r.2)
        });
        Glyph { text: expand_ligature(text), width, word_space: false }
    }
}

/// Simple-font encoding: `/Encoding` name or dictionary (base + `/Differences`); without one, the
/// embedded Type 1 program's own encoding, else StandardEncoding for Type 1 and WinAnsi for
/// TrueType (what most producers that omit it actually use).
fn simple_encoding(ctx: &Ctx, dict: &Dictionary, subtype: &[u8]) -> CodeTable {
    let fallback = || {
        let program = ctx.get(dict, b"FontDescriptor").as_dict().ok().map(|d| ctx.get(d, b"FontFile"));
        if let Some(Object::Stream(s)) = program {
            if let Some(table) = ctx.decode(s).ok().and_then(|p| encoding::type1_builtin(&p)) {
                return table;
            }
        }
        let symbolic = matches!(ctx.get(dict, b"BaseFont").as_name(), Ok(b"Symbol" | b"ZapfDingbats"));
        let name: &[u8] = if subtype == b"TrueType" || symbolic { b"WinAnsiEncoding" } else { b"StandardEncoding" };
        encoding::base(name).unwrap_or([None; 256])
    };
    match ctx.get(dict, b"Encoding") {
        Object::Name(name) => encoding::base(name).unwrap_or_else(fallback),
        Object::Dictionary(enc) => {
            let mut table = match ctx.get(enc, b"BaseEncoding") {
                Object::Name(name) => encoding::base(name).unwrap_or_else(fallback),
                _ => fallback(),
            };
            if let Ok(diffs) = ctx.get(enc, b"Differences").as_array() {
                let mut code = 0usize;
                for item in diffs {
                    match ctx.resolve(item) {
                        Object::Integer(c) => code = (*c).clamp(0, 256) as usize,
                        Object::Name(name) => {
                            if code < 256 {
                                table[code] = encoding::glyph_char(name);
                            }
                            code += 1;
                        }
                        _ => {}
                    }
                }
            }
            table
        }
        _ => fallback(),
    }
}

/// Ligature glyphs (ﬁ ﬂ ﬀ ﬃ ﬄ ﬅ ﬆ) become their letters, so "ﬁrst" is searchable as "first".
fn expand_ligature(text: String) -> String {
    if !text.chars().any(|c| ('\u{FB00}'..='\u{FB06}').contains(&c)) {
        return text;
    }
    text.chars()
        .map(|c| match c {
            '\u{FB00}' => "ff".to_string(),
            '\u{FB01}' => "fi".to_string(),
            '\u{FB02}' => "fl".to_string(),
            '\u{FB03}' => "ffi".to_string(),
            '\u{FB04}' => "ffl".to_string(),
            '\u{FB05}' | '\u{FB06}' => "st".to_string(),
            c => c.to_string(),
        })
        .collect()
}
