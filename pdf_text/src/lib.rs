//! Bounded text extraction from PDF documents, on `lopdf`'s object model.
//!
//! Each page's content stream is interpreted (text state, text and graphics matrices, form
//! XObjects), strings are decoded through their font (ToUnicode CMap, else the simple-font
//! encoding with `/Differences` and glyph names, else Identity CIDs), and spaces and newlines are
//! inferred from glyph positions, because many producers never draw a space character.
//!
//! Every resource an attacker controls is capped by [`Limits`]: decompressed bytes per stream and
//! per document, pages, form XObject nesting, and output characters.

mod cmap;
mod content;
mod encoding;
mod font;
mod tables;

use std::cell::Cell;

use lopdf::{Document, LoadOptions, Object, ObjectId, Stream};

/// Resource caps. Decompression caps are enforced while inflating (a Flate bomb stops at the cap
/// instead of allocating its full size).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Decompressed bytes of one stream (content, form, CMap, font program, object stream).
    pub max_stream_bytes: usize,
    /// Decompressed bytes of all streams this extractor decodes, summed.
    pub max_total_bytes: usize,
    /// Pages read; later pages are ignored.
    pub max_pages: usize,
    /// Characters of text returned; extraction stops there (the text is truncated, not an error).
    pub max_chars: usize,
    /// Nesting of form XObjects (`Do` inside a form); deeper forms are skipped.
    pub max_xobject_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_stream_bytes: 8 << 20,
            max_total_bytes: 64 << 20,
            max_pages: 1000,
            max_chars: 200_000,
            max_xobject_depth: 8,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The document is encrypted with a password we do not have (an empty user password, which
    /// only restricts permissions, is handled by lopdf and is not an error).
    #[error("the PDF is encrypted")]
    Encrypted,
    #[error("malformed PDF: {0}")]
    Malformed(String),
    /// A decompression cap of [`Limits`] was reached.
    #[error("the PDF exceeds the extraction limits")]
    TooLarge,
}

/// The text of every page, pages separated by a blank line.
pub fn extract_text(bytes: &[u8], limits: &Limits) -> Result<String, Error> {
    let doc = load(bytes, limits)?;
    let ctx = Ctx { doc: &doc, limits, budget: Cell::new(limits.max_total_bytes) };
    let mut out = content::Output::new(limits.max_chars);
    let mut pages = 0;
    for page_id in doc.page_iter().take(limits.max_pages) {
        pages += 1;
        content::page_text(&ctx, page_id, &mut out)?;
        out.end_page();
        if out.full() {
            break;
        }
    }
    if pages == 0 {
        return Err(Error::Malformed("no pages".into()));
    }
    Ok(out.finish())
}

fn load(bytes: &[u8], limits: &Limits) -> Result<Document, Error> {
    // lopdf inflates object streams and cross-reference streams while loading (it must, to find
    // objects); `max_decompressed_size` bounds each of them. Content streams stay compressed until
    // we decode them with our own caps.
    let options = LoadOptions { max_decompressed_size: Some(limits.max_stream_bytes), ..LoadOptions::default() };
    let doc = Document::load_mem_with_options(bytes, options).map_err(|e| match e {
        lopdf::Error::InvalidPassword | lopdf::Error::Decryption(_) => Error::Encrypted,
        lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { .. }) => Error::TooLarge,
        other => Error::Malformed(other.to_string()),
    })?;
    // lopdf opens files whose user password is empty; anything still marked encrypted was not
    // decrypted and would only yield ciphertext.
    if doc.trailer.get(b"Encrypt").is_ok() && doc.encryption_state.is_none() {
        return Err(Error::Encrypted);
    }
    Ok(doc)
}

/// What the interpreter needs everywhere: the document, the caps and the remaining byte budget.
pub(crate) struct Ctx<'a> {
    pub doc: &'a Document,
    pub limits: &'a Limits,
    budget: Cell<usize>,
}

impl Ctx<'_> {
    /// Follows references (a bounded number of hops, so reference cycles end).
    pub fn resolve<'b>(&'b self, mut obj: &'b Object) -> &'b Object {
        for _ in 0..32 {
            match obj {
                Object::Reference(id) => match self.doc.get_object(*id) {
                    Ok(next) => obj = next,
                    Err(_) => return &Object::Null,
                },
                _ => return obj,
            }
        }
        &Object::Null
    }

    pub fn get<'b>(&'b self, dict: &'b lopdf::Dictionary, key: &[u8]) -> &'b Object {
        dict.get(key).map(|o| self.resolve(o)).unwrap_or(&Object::Null)
    }

    pub fn object(&self, id: ObjectId) -> &Object {
        self.doc.get_object(id).map(|o| self.resolve(o)).unwrap_or(&Object::Null)
    }

    /// A stream's decoded bytes, within the per-stream cap and what is left of the document
    /// budget. lopdf's bounded decoder checks each filter layer's output as it grows.
    pub fn decode(&self, stream: &Stream) -> Result<Vec<u8>, Error> {
        let cap = self.limits.max_stream_bytes.min(self.budget.get());
        let data = match stream.decompressed_content_with_limit(cap) {
            Ok(data) => data,
            Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { .. })) => {
                return Err(Error::TooLarge)
            }
            // No filter, or one lopdf does not implement: use the bytes as stored (bounded too).
            Err(_) if stream.content.len() <= cap => stream.content.clone(),
            Err(e) => return Err(Error::Malformed(e.to_string())),
        };
        if data.len() > cap {
            return Err(Error::TooLarge);
        }
        self.budget.set(self.budget.get() - data.len());
        Ok(data)
    }
}
