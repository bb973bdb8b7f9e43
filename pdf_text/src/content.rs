//! The content-stream interpreter: graphics and text state, text-showing operators, form
//! XObjects; and the output, which turns glyph positions into spaces and newlines.

use std::collections::HashMap;
use std::rc::Rc;

use lopdf::content::Content;
use lopdf::{Dictionary, Object, ObjectId};

use crate::font::Font;
use crate::{Ctx, Error};

/// An affine matrix `[a b c d e f]` (PDF 32000 8.3.3), row-vector convention.
type Matrix = [f32; 6];
const IDENTITY: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

fn mul(m: &Matrix, n: &Matrix) -> Matrix {
    [
        m[0] * n[0] + m[1] * n[2],
        m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2],
        m[2] * n[1] + m[3] * n[3],
        m[4] * n[0] + m[5] * n[2] + n[4],
        m[4] * n[1] + m[5] * n[3] + n[5],
    ]
}

fn translate(tx: f32, ty: f32) -> Matrix {
    [1.0, 0.0, 0.0, 1.0, tx, ty]
}

/// Graphics state that `q`/`Q` save, including the text state parameters (PDF 32000 9.3).
#[derive(Clone)]
struct State {
    ctm: Matrix,
    font: Option<Rc<Font>>,
    size: f32,
    char_space: f32,
    word_space: f32,
    scale: f32,
    leading: f32,
    rise: f32,
}

/// Extracted text with positions of the last glyph, to decide between nothing, a space and a
/// newline before the next one.
pub struct Output {
    text: String,
    chars: usize,
    max_chars: usize,
    last: Option<(f32, f32, f32)>, // end x, baseline y, font size (user space)
    /// A space glyph with a real advance was drawn since the last visible glyph.
    pending_space: bool,
}

impl Output {
    pub fn new(max_chars: usize) -> Self {
        Output { text: String::new(), chars: 0, max_chars, last: None, pending_space: false }
    }

    pub fn full(&self) -> bool {
        self.chars >= self.max_chars
    }

    fn push_str(&mut self, s: &str) {
        for c in s.chars() {
            if self.full() {
                return;
            }
            self.text.push(c);
            self.chars += 1;
        }
    }

    fn ends_with_space(&self) -> bool {
        self.text.is_empty() || self.text.ends_with(char::is_whitespace)
    }

    /// A glyph drawn from `x` to `end_x` on baseline `y`. Word gaps: more than 0.2 em between the
    /// previous glyph's end and this one's start (TJ kerning is ~0.01-0.1 em, a word space
    /// ~0.25-0.33 em); new line: the baseline moved by more than half the font size.
    fn glyph(&mut self, text: &str, x: f32, y: f32, end_x: f32, size: f32) {
        if let Some((last_x, last_y, last_size)) = self.last {
            let em = size.max(last_size).max(1.0);
            let starts_with_space = text.starts_with(char::is_whitespace);
            if (y - last_y).abs() > 0.5 * em {
                if !self.text.is_empty() && !self.text.ends_with('\n') {
                    self.push_str("\n");
                }
            } else if (self.pending_space || x - last_x > 0.2 * em || x - last_x < -2.0 * em)
                && !self.ends_with_space()
                && !starts_with_space
            {
                self.push_str(" ");
            }
        }
        self.pending_space = false;
        self.push_str(text);
        self.last = Some((end_x, y, size));
    }

    pub fn end_page(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with("\n\n") {
            let nl = if self.text.ends_with('\n') { "\n" } else { "\n\n" };
            self.push_str(nl);
        }
        self.last = None;
        self.pending_space = false;
    }

    pub fn finish(self) -> String {
        self.text
    }
}

struct Interpreter<'a, 'c> {
    ctx: &'a Ctx<'c>,
    out: &'a mut Output,
    fonts: HashMap<ObjectId, Rc<Font>>,
}

pub fn page_text(ctx: &Ctx, page_id: ObjectId, out: &mut Output) -> Result<(), Error> {
    let Ok(page) = ctx.doc.get_dictionary(page_id) else {
        return Ok(());
    };
    let resources = inherited_resources(ctx, page);
    let mut data = Vec::new();
    for id in ctx.doc.get_page_contents(page_id) {
        if let Object::Stream(s) = ctx.object(id) {
            // Content streams may split anywhere between tokens; a newline keeps them apart.
            data.extend_from_slice(&ctx.decode(s)?);
            data.push(b'\n');
        }
    }
    let state = State {
        ctm: IDENTITY,
        font: None,
        size: 0.0,
        char_space: 0.0,
        word_space: 0.0,
        scale: 1.0,
        leading: 0.0,
        rise: 0.0,
    };
    let mut interp = Interpreter { ctx, out, fonts: HashMap::new() };
    interp.run(&data, resources, state, 0)
}

/// `/Resources` of the page or of the nearest ancestor that has them (PDF 32000 7.7.3.4).
fn inherited_resources<'a>(ctx: &'a Ctx, page: &'a Dictionary) -> Option<&'a Dictionary> {
    let mut node = page;
    for _ in 0..32 {
        if let Ok(res) = ctx.get(node, b"Resources").as_dict() {
            return Some(res);
        }
        node = ctx.get(node, b"Parent").as_dict().ok()?;
    }
    None
}

fn number(obj: Option<&Object>) -> f32 {
    match obj {
        Some(Object::Integer(i)) => *i as f32,
        Some(Object::Real(r)) if r.is_finite() => *r,
        _ => 0.0,
    }
}

fn matrix(ops: &[Object]) -> Option<Matrix> {
    (ops.len() >= 6).then(|| std::array::from_fn(|i| number(ops.get(i))))
}

impl Interpreter<'_, '_> {
    fn run(&mut self, data: &[u8], resources: Option<&Dictionary>, mut gs: State, depth: usize) -> Result<(), Error> {
        // A stream lopdf cannot tokenize yields no text rather than failing the document: the
        // other pages may still be readable.
        let Ok(content) = Content::decode(data) else {
            return Ok(());
        };
        let mut stack: Vec<State> = Vec::new();
        let (mut tm, mut tlm) = (IDENTITY, IDENTITY);
        for op in &content.operations {
            if self.out.full() {
                break;
            }
            let args = &op.operands;
            match op.operator.as_str() {
                // Unbalanced or very deep q nesting is tolerated but bounded.
                "q" if stack.len() < 256 => stack.push(gs.clone()),
                "Q" => gs = stack.pop().unwrap_or(gs),
                "cm" => {
                    if let Some(m) = matrix(args) {
                        gs.ctm = mul(&m, &gs.ctm);
                    }
                }
                "BT" => (tm, tlm) = (IDENTITY, IDENTITY),
                "Tf" => {
                    gs.size = number(args.get(1));
                    gs.font = args.first().and_then(|n| n.as_name().ok()).and_then(|n| self.font(resources, n));
                }
                "Tc" => gs.char_space = number(args.first()),
                "Tw" => gs.word_space = number(args.first()),
                "Tz" => gs.scale = number(args.first()) / 100.0,
                "TL" => gs.leading = number(args.first()),
                "Ts" => gs.rise = number(args.first()),
                "Td" | "TD" => {
                    let (tx, ty) = (number(args.first()), number(args.get(1)));
                    if op.operator == "TD" {
                        gs.leading = -ty;
                    }
                    tlm = mul(&translate(tx, ty), &tlm);
                    tm = tlm;
                }
                "Tm" => {
                    if let Some(m) = matrix(args) {
                        (tm, tlm) = (m, m);
                    }
                }
                "T*" => {
                    tlm = mul(&translate(0.0, -gs.leading), &tlm);
                    tm = tlm;
                }
                "Tj" | "'" | "\"" => {
                    if op.operator == "\"" {
                        gs.word_space = number(args.first());
                        gs.char_space = number(args.get(1));
                    }
                    if op.operator != "Tj" {
                        tlm = mul(&translate(0.0, -gs.leading), &tlm);
                        tm = tlm;
                    }
                    if let Some(Object::String(s, _)) = args.last() {
                        self.show(s, &gs, &mut tm);
                    }
                }
                "TJ" => {
                    for item in args.first().and_then(|a| a.as_array().ok()).map_or(&[][..], |a| a) {
                        match item {
                            Object::String(s, _) => self.show(s, &gs, &mut tm),
                            // Adjustments are in thousandths of text space, subtracted from x.
                            n => tm = mul(&translate(-number(Some(n)) / 1000.0 * gs.size * gs.scale, 0.0), &tm),
                        }
                    }
                }
                "Do" => {
                    if let Some(name) = args.first().and_then(|n| n.as_name().ok()) {
                        self.form(resources, name, &gs, depth)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Shows a string: each glyph is placed, decoded and advanced (PDF 32000 9.4.4).
    fn show(&mut self, bytes: &[u8], gs: &State, tm: &mut Matrix) {
        let Some(font) = gs.font.clone() else { return };
        for glyph in font.glyphs(bytes) {
            let m = mul(tm, &gs.ctm);
            let size = gs.size * (m[2] * m[2] + m[3] * m[3]).sqrt();
            let (x, y) = (gs.rise * m[2] + m[4], gs.rise * m[3] + m[5]);
            // The glyph ends where its width ends; char and word spacing (Tc, Tw) come after it, so
            // they count as a gap. Ghostscript, for one, writes some word spaces as Tc alone.
            let width = glyph.width / 1000.0 * gs.size * gs.scale;
            let end = mul(&mul(&translate(width, 0.0), tm), &gs.ctm);
            let end_x = gs.rise * end[2] + end[4];
            let space = if glyph.word_space { gs.word_space } else { 0.0 };
            *tm = mul(&translate(width + (gs.char_space + space) * gs.scale, 0.0), tm);
            if !glyph.text.is_empty() && glyph.text.trim().is_empty() {
                // A space character is a word break only if it really advances: Ghostscript
                // kerns with Tw, drawing "A v" with a space made zero-width by a negative Tw.
                let after = mul(tm, &gs.ctm);
                if gs.rise * after[2] + after[4] - x > 0.1 * size.abs() {
                    self.out.pending_space = true;
                }
                continue;
            }
            self.out.glyph(&glyph.text, x, y, end_x, size.abs());
        }
    }

    fn font(&mut self, resources: Option<&Dictionary>, name: &[u8]) -> Option<Rc<Font>> {
        let fonts = self.ctx.get(resources?, b"Font").as_dict().ok()?;
        match fonts.get(name).ok()? {
            Object::Reference(id) => {
                if let Some(f) = self.fonts.get(id) {
                    return Some(f.clone());
                }
                let font = Rc::new(Font::load(self.ctx, self.ctx.object(*id).as_dict().ok()?));
                self.fonts.insert(*id, font.clone());
                Some(font)
            }
            Object::Dictionary(d) => Some(Rc::new(Font::load(self.ctx, d))),
            _ => None,
        }
    }

    /// `Do` of a form XObject: its content runs with its own matrix and resources, nested at most
    /// `max_xobject_depth` deep (forms can reference themselves). Images are not text.
    fn form(&mut self, resources: Option<&Dictionary>, name: &[u8], gs: &State, depth: usize) -> Result<(), Error> {
        if depth >= self.ctx.limits.max_xobject_depth {
            return Ok(());
        }
        let Some(xobjects) = resources.and_then(|r| self.ctx.get(r, b"XObject").as_dict().ok()) else {
            return Ok(());
        };
        let Object::Stream(form) = self.ctx.get(xobjects, name) else {
            return Ok(());
        };
        if self.ctx.get(&form.dict, b"Subtype").as_name().ok() != Some(b"Form") {
            return Ok(());
        }
        let data = self.ctx.decode(form)?;
        let mut inner = gs.clone();
        if let Some(m) = form.dict.get(b"Matrix").ok().and_then(|m| m.as_array().ok()).and_then(|a| matrix(a)) {
            inner.ctm = mul(&m, &gs.ctm);
        }
        let form_resources = self.ctx.get(&form.dict, b"Resources").as_dict().ok().or(resources);
        self.run(&data, form_resources, inner, depth + 1)
    }
}
