//! What a stored object really is, from its first bytes: checked at confirm against the content
//! type declared at upload-url, so a `.pdf` that holds anything else is refused before it counts.
//! Confirm reads these bytes in the same ranged GET that gives it the object's size.

use crate::extract::Format;

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

/// Checks `head` (the first bytes of an object of `size` bytes) against `content_type`. Types
/// this service cannot recognise are let through.
pub fn check(content_type: &str, head: &[u8], size: u64) -> Result<(), Mismatch> {
    let Some(format) = Format::of(content_type) else { return Ok(()) };
    let declared = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let detected = detect(head, size);
    let fits = match format {
        Format::Pdf => detected == Detected::Pdf,
        Format::Docx => detected == Detected::Docx || detected == Detected::Zip,
        Format::Text => detected == Detected::Text || detected == Detected::Empty,
    };
    if fits {
        Ok(())
    } else {
        Err(Mismatch { declared, detected: detected.name() })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detected {
    Empty,
    Pdf,
    /// A ZIP whose entries seen in the head include `word/document.xml`.
    Docx,
    /// A ZIP whose first entries say nothing either way (the document part may come later).
    Zip,
    /// Another kind of ZIP package: a spreadsheet, a presentation, an OpenDocument file.
    OtherPackage(&'static str),
    Text,
    Binary,
}

impl Detected {
    fn name(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Pdf => "application/pdf",
            Self::Docx => "a Word document (DOCX)",
            Self::Zip => "a ZIP archive",
            Self::OtherPackage(kind) => kind,
            Self::Text => "text",
            Self::Binary => "binary data",
        }
    }
}

const ZIP_LOCAL_HEADER: &[u8] = b"PK\x03\x04";

fn detect(head: &[u8], size: u64) -> Detected {
    if size == 0 {
        return Detected::Empty;
    }
    // PDF readers accept the header anywhere in the first KiB (some producers put junk first).
    if head.windows(5).take(1024).any(|w| w == b"%PDF-") {
        return Detected::Pdf;
    }
    if head.starts_with(ZIP_LOCAL_HEADER) {
        return zip_package(head);
    }
    let complete = head.len() as u64 >= size;
    if is_utf8_prefix(head, complete) && !head.contains(&0) || is_single_byte_text(head) {
        return Detected::Text;
    }
    Detected::Binary
}

/// Walks the ZIP's local file headers that lie within `head`, reading each entry's name.
fn zip_package(head: &[u8]) -> Detected {
    let mut at = 0;
    while head.len() >= at + 30 && head[at..].starts_with(ZIP_LOCAL_HEADER) {
        let u16_at = |offset: usize| u16::from_le_bytes([head[at + offset], head[at + offset + 1]]) as usize;
        let u32_at = |offset: usize| {
            u32::from_le_bytes([head[at + offset], head[at + offset + 1], head[at + offset + 2], head[at + offset + 3]])
                as usize
        };
        let (compressed, name_len, extra_len) = (u32_at(18), u16_at(26), u16_at(28));
        let Some(name) = head.get(at + 30..at + 30 + name_len) else { break };
        match name {
            b"word/document.xml" => return Detected::Docx,
            b"mimetype" => return Detected::OtherPackage("an OpenDocument file"),
            _ if name.starts_with(b"xl/") => return Detected::OtherPackage("a spreadsheet (XLSX)"),
            _ if name.starts_with(b"ppt/") => return Detected::OtherPackage("a presentation (PPTX)"),
            _ => {}
        }
        // Entries written with a data descriptor give no size here: stop looking.
        let flags = u16_at(6);
        if flags & 0x08 != 0 {
            break;
        }
        at += 30 + name_len + extra_len + compressed;
    }
    Detected::Zip
}

/// Text in a single-byte encoding (Latin-1, Windows-1252: still common for `.txt` files): no
/// control bytes but white space. Binary data almost always has some in its first KiB.
fn is_single_byte_text(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| *b >= 0x20 || matches!(b, b'\t' | b'\n' | b'\r' | 0x0C))
}

/// Whether `bytes` is UTF-8, allowing a character cut off at the end when more follows.
fn is_utf8_prefix(bytes: &[u8], complete: bool) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(error) => !complete && error.error_len().is_none() && bytes.len() - error.valid_up_to() < 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDF: &str = "application/pdf";
    const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

    fn zip_entry(name: &str, data: &[u8]) -> Vec<u8> {
        let mut entry = ZIP_LOCAL_HEADER.to_vec();
        entry.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        entry.extend((data.len() as u32).to_le_bytes());
        entry.extend((data.len() as u32).to_le_bytes());
        entry.extend((name.len() as u16).to_le_bytes());
        entry.extend(0u16.to_le_bytes());
        entry.extend(name.as_bytes());
        entry.extend(data);
        entry
    }

    #[test]
    fn each_declared_type_accepts_its_own_content() {
        let pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj";
        assert_eq!(check(PDF, pdf, 5000), Ok(()));
        let docx = [zip_entry("[Content_Types].xml", b"<Types/>"), zip_entry("word/document.xml", b"<w/>")].concat();
        assert_eq!(check(DOCX, &docx, 9000), Ok(()));
        assert_eq!(check("text/markdown; charset=utf-8", "# Title\nCafé".as_bytes(), 13), Ok(()));
        assert_eq!(check("text/plain", b"", 0), Ok(()), "an empty text file is text");
    }

    #[test]
    fn a_pdf_that_is_text_or_a_docx_that_is_a_spreadsheet_is_named() {
        let mismatch = check(PDF, b"Meeting notes", 13).unwrap_err();
        assert_eq!(mismatch, Mismatch { declared: PDF.into(), detected: "text" });
        assert!(mismatch.detail().contains("declared as application/pdf but its content is text"));
        let xlsx = zip_entry("xl/workbook.xml", b"<w/>");
        assert_eq!(check(DOCX, &xlsx, 100).unwrap_err().detected, "a spreadsheet (XLSX)");
        assert_eq!(check("text/plain", b"\x00\x01binary", 8).unwrap_err().detected, "binary data");
        assert_eq!(check("text/plain", b"%PDF-1.4", 8).unwrap_err().detected, "application/pdf");
        assert_eq!(check(PDF, b"", 0).unwrap_err().detected, "empty");
    }

    #[test]
    fn a_zip_whose_document_part_comes_later_is_not_refused() {
        let big = zip_entry("[Content_Types].xml", &[b'x'; 2000]);
        assert_eq!(check(DOCX, &big[..1024], 50_000), Ok(()));
    }

    #[test]
    fn text_cut_inside_a_character_is_still_text() {
        let text = "é".repeat(600);
        let head = &text.as_bytes()[..1023];
        assert_eq!(check("text/plain", head, 1200), Ok(()));
        // The same cut at the real end of the file is not UTF-8, but still no control bytes:
        // text in a single-byte encoding, as a Latin-1 file is.
        assert_eq!(check("text/plain", head, 1023), Ok(()));
        assert_eq!(check("text/plain", b"Cr\xe8me br\xfbl\xe9e", 13), Ok(()));
        assert!(check("text/plain", b"\x1b\x02\xe8\x90", 4).is_err());
    }

    #[test]
    fn unknown_types_pass() {
        assert_eq!(check("image/png", b"\x89PNG", 4), Ok(()));
    }
}
