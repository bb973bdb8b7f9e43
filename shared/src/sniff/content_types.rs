//! The main document part a package's `[Content_Types].xml` names: the `Override` whose
//! `ContentType` is [`DOCX_MAIN`]. Word names it `/word/document.xml`, but other producers may
//! not (`/word/document2.xml` is seen in the wild); OPC readers follow this entry.

use std::borrow::Cow;

use flate2::{Decompress, FlushDecompress, Status};
use quick_xml::events::Event;

use super::package::LocalEntry;
use super::DOCX_MAIN;

const ENTRY_NAME: &[u8] = b"[Content_Types].xml";
/// Most bytes `[Content_Types].xml` may inflate to (Word's are 1 to 3 KiB); beyond, it is
/// ignored and `word/document.xml` is the rule.
const MAX_INFLATED: usize = 64 * 1024;

/// The main part's name as a ZIP entry name (no leading `/`), when `entry` is a complete
/// `[Content_Types].xml` (stored or deflated) that names one.
pub(super) fn main_part(entry: &LocalEntry<'_>) -> Option<String> {
    if entry.name != ENTRY_NAME {
        return None;
    }
    let data = entry.data?;
    let xml = match entry.method {
        0 => Cow::Borrowed(data),
        8 => Cow::Owned(inflate(data)?),
        _ => return None,
    };
    main_part_in(std::str::from_utf8(&xml).ok()?)
}

/// Whether `part` can name a main document part: a path ending in `.xml`, and not the content
/// types file itself.
fn is_xml_part_name(part: &str) -> bool {
    part.len() > 4
        && part.get(part.len() - 4..).is_some_and(|end| end.eq_ignore_ascii_case(".xml"))
        && !part.as_bytes().eq_ignore_ascii_case(ENTRY_NAME)
}

/// Raw deflate of `data`, whole, to at most [`MAX_INFLATED`] bytes.
fn inflate(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(MAX_INFLATED);
    let mut inflater = Decompress::new(false);
    match inflater.decompress_vec(data, &mut out, FlushDecompress::Finish) {
        Ok(Status::StreamEnd) => Some(out),
        _ => None,
    }
}

fn main_part_in(xml: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event().ok()? {
            Event::Start(element) | Event::Empty(element) if element.local_name().as_ref() == "Override" => {
                let (mut part, mut main) = (None, false);
                for attribute in element.attributes() {
                    let attribute = attribute.ok()?;
                    let value = attribute.normalized_value(quick_xml::XmlVersion::default()).ok()?;
                    match attribute.key.local_name().as_ref() {
                        "PartName" => part = Some(value.trim_start_matches('/').to_owned()),
                        "ContentType" => main = value.trim().eq_ignore_ascii_case(DOCX_MAIN),
                        _ => {}
                    }
                }
                if let (Some(part), true) = (part, main) {
                    // A WordprocessingML main part is XML: a package naming a program or an
                    // image as its main part is no Word document, whatever it declares.
                    return Some(part).filter(|part| is_xml_part_name(part));
                }
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_override_with_the_main_type_names_the_part() {
        let xml = format!(
            r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
            <Default Extension="xml" ContentType="application/xml"/>
            <Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>
            <Override PartName="/word/document2.xml" ContentType="{DOCX_MAIN}"/></Types>"#
        );
        assert_eq!(main_part_in(&xml).as_deref(), Some("word/document2.xml"));
        assert_eq!(main_part_in("<Types/>"), None);
        assert_eq!(main_part_in("<Types><Override PartName="), None, "broken XML names nothing");
        let xlsx = r#"<Types><Override PartName="/xl/workbook.xml"
            ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>"#;
        assert_eq!(main_part_in(xlsx), None);
    }

    #[test]
    fn inflating_stops_at_its_bound() {
        // 1 MiB of zeros deflates to about 1 KiB: a head can hold it, the bound refuses it.
        let bomb = deflate(&vec![0; 1 << 20]);
        assert!(bomb.len() < 1100, "{}", bomb.len());
        assert_eq!(inflate(&bomb), None);
        assert_eq!(inflate(&deflate(b"<Types/>")).as_deref(), Some(&b"<Types/>"[..]));
        assert_eq!(inflate(&deflate(b"<Types/>")[..4]), None, "a cut stream is not complete");
    }

    pub(in crate::sniff) fn deflate(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len() + 64);
        let mut deflater = flate2::Compress::new(flate2::Compression::best(), false);
        deflater.compress_vec(bytes, &mut out, flate2::FlushCompress::Finish).unwrap();
        out
    }
}
