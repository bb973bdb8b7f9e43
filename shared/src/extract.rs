//! Text extraction from the stored formats: plain text and Markdown (any bytes; invalid UTF-8 is
//! replaced), PDF (`pdf_text`, ours, on `lopdf`: see its crate for why and how it was measured)
//! and DOCX (`zip` + `quick-xml` over
//! `word/document.xml`). Bounded: callers pass at most a configured number of bytes, and the
//! text kept is capped.
//!
//! PDF and DOCX parsers see untrusted, compressed input: a few KB can inflate to gigabytes, and a
//! malformed file can make a parser loop. They run in a child process ([`sandbox`]) under a
//! memory and CPU limit and a wall-clock deadline at which the child is killed, so a bomb or a
//! hang costs one document (marked `failed` with the reason) and never the function.

use std::io::Read;

use sandbox::{Limits, Sandbox, SandboxError, Task};

/// Characters of extracted text kept for classification.
pub const MAX_TEXT_CHARS: usize = 200_000;
const DOCX_XML_LIMIT: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Pdf,
    Docx,
}

impl Format {
    /// The format of a stored document, from its (validated) content type.
    pub fn of(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        match essence.as_str() {
            "text/plain" | "text/markdown" => Some(Self::Text),
            "application/pdf" => Some(Self::Pdf),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => Some(Self::Docx),
            _ => None,
        }
    }

    /// Plain text can be read from a prefix; PDF and DOCX keep their index at the end.
    pub fn needs_whole_object(self) -> bool {
        !matches!(self, Self::Text)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExtractError {
    #[error("not a readable PDF: {0}")]
    Pdf(String),
    #[error("not a readable DOCX: {0}")]
    Docx(String),
    /// What an extraction child reported about the file.
    #[error("{0}")]
    Unreadable(String),
    /// The parser went past its memory limit or produced too much, and was stopped.
    #[error("text extraction stopped: {0}")]
    Limit(String),
    /// The parser went past its CPU or wall time (`Limits::wall_time`) and was stopped. Whether
    /// that is the file's fault depends on who set the time (`domain::Overrun`).
    #[error("text extraction stopped: reading the document took longer than {} s", .0.as_secs_f32())]
    TooSlow(std::time::Duration),
    /// The extraction child could not be started: a fault of this function, not of the file.
    #[error("text extraction could not start: {0}")]
    Sandbox(String),
}

const PDF_TASK: &str = "extract-pdf";
const DOCX_TASK: &str = "extract-docx";

/// The tasks an extraction child runs. A function that extracts text calls
/// [`run_child_if_requested`] first thing in `main`, so that its re-executed binary serves them.
const CHILD_TASKS: &[(&str, Task)] = &[(PDF_TASK, pdf_task), (DOCX_TASK, docx_task)];

/// In an extraction child: runs its task on stdin and exits. Otherwise returns at once.
pub fn run_child_if_requested() {
    sandbox::run_child_if_requested(CHILD_TASKS);
}

fn pdf_task(bytes: &[u8]) -> Result<Vec<u8>, String> {
    extract_text(Format::Pdf, bytes).map(String::into_bytes).map_err(|e| e.to_string())
}

fn docx_task(bytes: &[u8]) -> Result<Vec<u8>, String> {
    extract_text(Format::Docx, bytes).map(String::into_bytes).map_err(|e| e.to_string())
}

/// The text of a document of `format`: plain text here, PDF and DOCX in a child under `limits`.
pub async fn extract_bounded(
    sandbox: &Sandbox,
    format: Format,
    bytes: &[u8],
    limits: &Limits,
) -> Result<String, ExtractError> {
    let task = match format {
        Format::Text => return extract_text(format, bytes),
        Format::Pdf => PDF_TASK,
        Format::Docx => DOCX_TASK,
    };
    match sandbox.run(task, bytes, limits).await {
        // The child caps the text at MAX_TEXT_CHARS and the output at max_output_bytes.
        Ok(output) => Ok(String::from_utf8_lossy(&output).into_owned()),
        // A panic inside a third-party parser says nothing useful to the user.
        Err(SandboxError::Failed(message)) if message.starts_with("task panicked") => {
            Err(ExtractError::Unreadable("the document could not be parsed".into()))
        }
        // The task's own error, which already names the format ("not a readable PDF: ...").
        Err(SandboxError::Failed(message)) => Err(ExtractError::Unreadable(message)),
        Err(SandboxError::Spawn(message)) => Err(ExtractError::Sandbox(message)),
        Err(SandboxError::MemoryExceeded) => Err(ExtractError::Limit(format!(
            "the document needs more than {} MiB of memory to read",
            limits.memory_bytes / (1024 * 1024)
        ))),
        Err(SandboxError::CpuExceeded | SandboxError::TimedOut) => Err(ExtractError::TooSlow(limits.wall_time)),
        Err(SandboxError::OutputTooLarge) => Err(ExtractError::Limit("the extracted text is too large".into())),
    }
}

pub fn extract_text(format: Format, bytes: &[u8]) -> Result<String, ExtractError> {
    let text = match format {
        Format::Text => {
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            String::from_utf8_lossy(bytes).into_owned()
        }
        Format::Pdf => {
            pdf_text::extract_text(bytes, &pdf_text::Limits::default()).map_err(|e| ExtractError::Pdf(e.to_string()))?
        }
        Format::Docx => docx_text(bytes)?,
    };
    Ok(cap(text))
}

fn cap(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(MAX_TEXT_CHARS) {
        text.truncate(cut);
    }
    text
}

fn docx_text(bytes: &[u8]) -> Result<String, ExtractError> {
    let invalid = |e: &dyn std::fmt::Display| ExtractError::Docx(e.to_string());
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| invalid(&e))?;
    let mut xml = String::new();
    archive
        .by_name("word/document.xml")
        .map_err(|e| invalid(&e))?
        .take(DOCX_XML_LIMIT)
        .read_to_string(&mut xml)
        .map_err(|e| invalid(&e))?;
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut text = String::new();
    let mut in_text_run = false;
    loop {
        match reader.read_event().map_err(|e| invalid(&e))? {
            quick_xml::events::Event::Start(e) if e.name().as_ref() == "w:t" => in_text_run = true,
            quick_xml::events::Event::End(e) if e.name().as_ref() == "w:t" => in_text_run = false,
            quick_xml::events::Event::End(e) if e.name().as_ref() == "w:p" => text.push('\n'),
            quick_xml::events::Event::Empty(e) if matches!(e.name().as_ref(), "w:tab" | "w:br") => text.push(' '),
            quick_xml::events::Event::Text(t) if in_text_run => {
                text.push_str(&t.xml10_content());
            }
            quick_xml::events::Event::GeneralRef(r) if in_text_run => {
                // Entities such as &amp; arrive separately.
                match r.resolve_char_ref().ok().flatten() {
                    Some(c) => text.push(c),
                    None => text.push_str(match r.as_ref() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        _ => "",
                    }),
                }
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
        if text.len() > MAX_TEXT_CHARS * 4 {
            break;
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_of_any_encoding_never_fails() {
        assert_eq!(extract_text(Format::Text, b"\xEF\xBB\xBFhello").unwrap(), "hello");
        assert_eq!(extract_text(Format::Text, b"caf\xE9 ok").unwrap(), "caf\u{FFFD} ok");
    }

    #[test]
    fn formats_follow_content_types() {
        assert_eq!(Format::of("text/markdown; charset=utf-8"), Some(Format::Text));
        assert_eq!(Format::of("APPLICATION/PDF"), Some(Format::Pdf));
        assert_eq!(Format::of("image/png"), None);
    }

    #[test]
    fn corrupt_binary_formats_are_errors_not_panics() {
        assert!(matches!(extract_text(Format::Pdf, b"%PDF-1.7 garbage"), Err(ExtractError::Pdf(_))));
        assert!(matches!(extract_text(Format::Docx, b"PK\x03\x04 garbage"), Err(ExtractError::Docx(_))));
    }
}
