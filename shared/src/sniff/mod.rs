//! What a stored object really is, checked at confirm against the content type declared at
//! upload-url, so that a `.pdf` holding anything else is refused (415) before it counts.
//!
//! The rules check what the declared type *requires*, not what the bytes might also be:
//!
//! - **Text** (`text/plain`, `text/markdown`): UTF-8 without NUL bytes (a character cut off at
//!   the end of the bytes read is allowed when more follows), or text in a single-byte encoding
//!   such as Latin-1 or Windows-1252 (no control bytes but white space); an empty file is text.
//!   What the text mentions does not matter: a note quoting `%PDF-1.4` is still a note.
//! - **PDF**: `%PDF-` within the first 1024 bytes, the rule PDF readers apply (some producers put
//!   junk before the header).
//! - **DOCX**: a ZIP in which the main document part is seen: `word/document.xml`, or the part
//!   that `[Content_Types].xml` names with the main document content type ([`DOCX_MAIN`]) when
//!   that entry is complete within the head (names compare ignoring ASCII case, as OPC part names
//!   do). A ZIP of anything else (`setup.exe` and `readme.txt`, a spreadsheet) is not a Word
//!   document, whatever its first entries are.
//! - Types this service does not recognise are let through.
//!
//! Confirm reads the first [`HEAD_BYTES`] and the object's size in one ranged GET and calls
//! [`check_head`]. Text and PDF are always settled there. A DOCX is settled there when a local
//! file header within the head names the main part (fits), or when the whole file is within the
//! head (its central directory decides). Otherwise the answer is [`Verdict::NeedTail`]:
//! python-docx and LibreOffice (see the fixtures) put other entries first, and LibreOffice writes
//! its local headers without sizes (a data descriptor follows the data), so walking local headers
//! stops early; and that walk can never prove that an entry is absent. The ZIP's central
//! directory, at the end of the file, lists every entry: confirm fetches the range the
//! [`TailCheck`] names (the last [`TAIL_BYTES`] at most) and calls [`TailCheck::check`]. A ZIP
//! declared as DOCX is refused only on what its central directory lists (or for a directory that
//! cannot be read).
//!
//! Pure and bounded: no I/O, no panic and no allocation beyond a small multiple of the input on
//! any bytes (inflating `[Content_Types].xml` stops at 64 KiB); the tests feed it random,
//! truncated and mutated files.

mod content_types;
mod package;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fuzz;

use crate::extract::Format;

/// Bytes confirm reads from the start of the object, with its size, for [`check_head`].
pub const HEAD_BYTES: u64 = 1024;

/// Most bytes a [`TailCheck`] asks for from the end of a DOCX: room for the End Of Central
/// Directory record with the longest ZIP comment (22 + 65,535 bytes) and 63 KiB of central
/// directory, about 700 entries of a Word document (some 90 bytes each). A central directory that
/// does not fit is refused with a detail that says so.
pub const TAIL_BYTES: u64 = 128 * 1024;

/// The content type of a Word document's main part in `[Content_Types].xml`.
pub const DOCX_MAIN: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml";

/// A mismatch between the declared type and the bytes: both named for the 415's `detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub declared: String,
    pub detected: &'static str,
}

impl Mismatch {
    pub fn detail(&self) -> String {
        format!(
            "the file was declared as {} but its content is {}; upload it with its real type",
            self.declared, self.detected
        )
    }
}

/// What the head of an object says about its declared type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The bytes are what the declared type requires (or the type is not one this service reads).
    Fits,
    /// They are not: refuse with [`Mismatch::detail`].
    Mismatch(Mismatch),
    /// A DOCX the head cannot settle: fetch [`TailCheck::range`] and call [`TailCheck::check`].
    NeedTail(TailCheck),
}

/// The second step for a DOCX: which bytes to fetch from the end of the object, and what to
/// check in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailCheck {
    declared: String,
    size: u64,
    /// The main part `[Content_Types].xml` names, when the head held it complete.
    main_part: Option<String>,
}

impl TailCheck {
    /// Offset of the first byte to fetch (the object's last [`Self::range_len`] bytes).
    pub fn range_start(&self) -> u64 {
        self.size - self.range_len()
    }

    /// How many bytes to fetch: [`TAIL_BYTES`], or the whole object when it is smaller.
    pub fn range_len(&self) -> u64 {
        self.size.min(TAIL_BYTES)
    }

    /// The HTTP `Range` header for those bytes (`bytes=<first>-<last>`, both inclusive).
    pub fn range(&self) -> String {
        format!("bytes={}-{}", self.range_start(), self.size.saturating_sub(1))
    }

    /// The main part name found in `[Content_Types].xml`, if the head held it (for logs, tests).
    pub fn main_part(&self) -> Option<&str> {
        self.main_part.as_deref()
    }

    /// Checks the object's last bytes (the range asked for; fewer are read as the end of the
    /// object, more are cut to the last [`Self::range_len`]): its central directory must list
    /// the main document part.
    pub fn check(&self, tail: &[u8]) -> Result<(), Mismatch> {
        let keep = tail.len().min(usize::try_from(self.range_len()).unwrap_or(usize::MAX));
        let tail = &tail[tail.len() - keep..];
        package::central_names(tail, self.size)
            .and_then(|names| package::main_part_listed(&names, self.main_part()))
            .map_err(|detected| Mismatch { declared: self.declared.clone(), detected })
    }
}

/// Checks `head` (the first bytes of an object of `size` bytes; only the first [`HEAD_BYTES`]
/// are looked at) against `content_type`.
pub fn check_head(content_type: &str, head: &[u8], size: u64) -> Verdict {
    let Some(format) = Format::of(content_type) else { return Verdict::Fits };
    let declared = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let head = &head[..head.len().min(HEAD_BYTES as usize)];
    match format {
        Format::Text if is_text(head, size) => Verdict::Fits,
        Format::Pdf if size > 0 && has_pdf_header(head) => Verdict::Fits,
        Format::Docx if size > 0 && head.starts_with(package::LOCAL_HEADER) => docx_head(declared, head, size),
        _ => Verdict::Mismatch(Mismatch { declared, detected: describe(head, size) }),
    }
}

fn docx_head(declared: String, head: &[u8], size: u64) -> Verdict {
    let entries = package::local_entries(head);
    let main_part = entries.iter().find_map(content_types::main_part);
    // Local headers alone never admit a file: a ZIP can carry a local header its central
    // directory does not list (what every reader opens), so only the directory decides.
    // Another kind of package (a spreadsheet...) is named in the 415 as soon as it shows.
    if let Some(detected) = package::other_kind_seen(&entries) {
        return Verdict::Mismatch(Mismatch { declared, detected });
    }
    let tail = TailCheck { declared, size, main_part };
    if head.len() as u64 >= size {
        // The whole file is here: its central directory decides now.
        return match tail.check(head) {
            Ok(()) => Verdict::Fits,
            Err(mismatch) => Verdict::Mismatch(mismatch),
        };
    }
    Verdict::NeedTail(tail)
}

/// Names what the head is, for a mismatch's detail.
fn describe(head: &[u8], size: u64) -> &'static str {
    if size == 0 {
        "empty"
    } else if head.starts_with(b"%PDF-") {
        "application/pdf"
    } else if head.starts_with(package::LOCAL_HEADER) {
        package::kind_seen(&package::local_entries(head))
    } else if is_text(head, size) {
        "text"
    } else if has_pdf_header(head) {
        "application/pdf"
    } else {
        "binary data"
    }
}

/// `%PDF-` within the first 1024 bytes.
fn has_pdf_header(head: &[u8]) -> bool {
    head[..head.len().min(1024)].windows(5).any(|w| w == b"%PDF-")
}

/// UTF-8 without NUL bytes, or single-byte text; `head` holds the first bytes of `size`.
fn is_text(head: &[u8], size: u64) -> bool {
    let complete = head.len() as u64 >= size;
    is_utf8_prefix(head, complete) && !head.contains(&0) || is_single_byte_text(head)
}

/// Text in a single-byte encoding (Latin-1, Windows-1252: still common for `.txt` files): no
/// control bytes but white space and ESC (terminal colours in saved logs). Binary data almost
/// always has others in its first KiB.
fn is_single_byte_text(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| *b >= 0x20 || matches!(b, b'\t' | b'\n' | b'\r' | 0x0C | 0x1B))
}

/// Whether `bytes` is UTF-8, allowing a character cut off at the end when more follows.
fn is_utf8_prefix(bytes: &[u8], complete: bool) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(error) => !complete && error.error_len().is_none() && bytes.len() - error.valid_up_to() < 4,
    }
}
