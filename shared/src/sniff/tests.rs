use super::*;

const PDF: &str = "application/pdf";
const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

// Made as shared/tests/fixtures/sniff/README.md says.
const PYTHON_DOCX: &[u8] = include_bytes!("../../tests/fixtures/sniff/python-docx.docx");
const LIBREOFFICE_DOCX: &[u8] = include_bytes!("../../tests/fixtures/sniff/libreoffice.docx");
const SETUP_ZIP: &[u8] = include_bytes!("../../tests/fixtures/sniff/setup-and-readme.zip");
const PDF_NOTE: &[u8] = include_bytes!("../../tests/fixtures/sniff/pdf-mention.md");

use super::package::{DAMAGED, NO_DOCUMENT, TOO_LONG};

/// A ZIP of stored `entries` with `comment`, in the ZIP64 layout when `zip64`.
pub(super) fn zip_file(entries: &[(&str, &[u8])], comment: &[u8], zip64: bool) -> Vec<u8> {
    let (mut file, mut central) = (Vec::new(), Vec::new());
    for (name, data) in entries {
        let offset = file.len() as u32;
        let sizes = [0u32, data.len() as u32, data.len() as u32]; // CRC (unchecked here), sizes
        file.extend(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        file.extend(sizes.iter().flat_map(|n| n.to_le_bytes()));
        file.extend([(name.len() as u16).to_le_bytes(), [0, 0]].concat());
        file.extend(name.as_bytes());
        file.extend(*data);
        central.extend(b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        central.extend(sizes.iter().flat_map(|n| n.to_le_bytes()));
        central.extend((name.len() as u16).to_le_bytes());
        central.extend([0; 12]); // extra and comment lengths, disk, attributes
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let (count, directory_len, directory_at) = (entries.len() as u64, central.len() as u64, file.len() as u64);
    file.extend(central);
    if zip64 {
        let record_at = file.len() as u64;
        file.extend(b"PK\x06\x06");
        file.extend(44u64.to_le_bytes());
        file.extend([45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        file.extend([count, count, directory_len, directory_at].iter().flat_map(|n| n.to_le_bytes()));
        file.extend(b"PK\x06\x07\x00\x00\x00\x00");
        file.extend(record_at.to_le_bytes());
        file.extend(1u32.to_le_bytes());
        file.extend(b"PK\x05\x06\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff");
    } else {
        file.extend(b"PK\x05\x06\x00\x00\x00\x00");
        file.extend([count as u16, count as u16].iter().flat_map(|n| n.to_le_bytes()));
        file.extend([directory_len as u32, directory_at as u32].iter().flat_map(|n| n.to_le_bytes()));
    }
    file.extend((comment.len() as u16).to_le_bytes());
    file.extend(comment);
    file
}

/// What confirm does: the first KiB and the size; then the range asked for, if asked.
fn confirm(content_type: &str, file: &[u8]) -> Result<(), Mismatch> {
    match check_head(content_type, &file[..file.len().min(1024)], file.len() as u64) {
        Verdict::Fits => Ok(()),
        Verdict::Mismatch(mismatch) => Err(mismatch),
        Verdict::NeedTail(tail) => tail.check(&file[tail.range_start() as usize..]),
    }
}

fn need_tail(content_type: &str, file: &[u8]) -> TailCheck {
    match check_head(content_type, &file[..file.len().min(1024)], file.len() as u64) {
        Verdict::NeedTail(tail) => tail,
        other => panic!("the head settled it: {other:?}"),
    }
}

fn detected(result: Result<(), Mismatch>) -> &'static str {
    result.unwrap_err().detected
}

#[test]
fn each_declared_type_accepts_its_own_content() {
    let pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj";
    assert_eq!(check_head(PDF, pdf, 5000), Verdict::Fits);
    let junk_first = [vec![b' '; 1000], b"%PDF-1.4".to_vec()].concat();
    assert_eq!(check_head(PDF, &junk_first, 5000), Verdict::Fits, "the header may come late in the first KiB");
    let docx = zip_file(&[("[Content_Types].xml", b"<Types/>"), ("word/document.xml", b"<w/>")], b"", false);
    assert_eq!(check_head(DOCX, &docx, docx.len() as u64), Verdict::Fits, "the whole archive is in the head");
    // A larger one: its local headers alone never admit it, its central directory decides.
    assert!(matches!(check_head(DOCX, &docx, 9000), Verdict::NeedTail(_)));
    assert_eq!(check_head("text/markdown; charset=utf-8", "# Title\nCafé".as_bytes(), 13), Verdict::Fits);
    assert_eq!(check_head("text/plain", b"", 0), Verdict::Fits, "an empty text file is text");
}

#[test]
fn text_that_mentions_pdf_is_text() {
    assert!(PDF_NOTE.windows(8).any(|w| w == b"%PDF-1.4"));
    assert_eq!(check_head("text/markdown", PDF_NOTE, PDF_NOTE.len() as u64), Verdict::Fits);
    assert_eq!(check_head("text/plain", b"%PDF-1.4 starts every PDF", 25), Verdict::Fits);
    // A binary PDF is not text: its stream data holds control bytes.
    let pdf =
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<</Length 9/Filter/FlateDecode>>stream\nx\x9c\x03\x00\x00\x00\x00\x01";
    assert_eq!(detected(confirm("text/plain", pdf)), "application/pdf");
}

#[test]
fn a_zip_of_other_files_is_not_a_docx() {
    // The attacker's ZIP of setup.exe and readme.txt (3,352 bytes): the head shows setup.exe's
    // header only, so the tail (here the whole file) decides from the central directory.
    let tail = need_tail(DOCX, SETUP_ZIP);
    assert_eq!((tail.range_start(), tail.range_len()), (0, SETUP_ZIP.len() as u64));
    assert_eq!(tail.range(), "bytes=0-3351");
    let mismatch = tail.check(SETUP_ZIP).unwrap_err();
    assert_eq!(mismatch.detected, NO_DOCUMENT);
    assert!(mismatch.detail().contains(&format!("declared as {DOCX} but its content is a ZIP archive without")));
    // The same, small enough to lie within the head: refused at once.
    let small = zip_file(&[("setup.exe", b"MZ\x90\x00"), ("readme.txt", b"Run setup.exe")], b"", false);
    let Verdict::Mismatch(mismatch) = check_head(DOCX, &small, small.len() as u64) else { panic!() };
    assert_eq!(mismatch.detected, NO_DOCUMENT);
    // A `word/` folder is not enough: the main part itself must be listed.
    let styles_only = zip_file(&[("word/styles.xml", b"<w/>")], b"", false);
    assert_eq!(detected(confirm(DOCX, &styles_only)), NO_DOCUMENT);
}

#[test]
fn real_documents_are_docx() {
    // python-docx: [Content_Types].xml comes first and complete (deflated) in the head, but
    // word/document.xml's local header is at byte 1,688, past the first KiB: the tail is needed
    // (its central directory: 1,121 bytes at 35,511).
    let tail = need_tail(DOCX, PYTHON_DOCX);
    assert_eq!(tail.main_part(), Some("word/document.xml"), "read from the inflated [Content_Types].xml");
    assert_eq!(tail.range_len(), PYTHON_DOCX.len() as u64, "36 KiB: the tail is the whole file");
    assert_eq!(tail.check(PYTHON_DOCX), Ok(()));
    // LibreOffice: local headers carry no sizes (data descriptors), so the walk stops at the
    // first entry (_rels/.rels); word/document.xml is at byte 1,214 and [Content_Types].xml
    // comes last: the tail is needed (its central directory: 572 bytes at 3,670).
    let tail = need_tail(DOCX, LIBREOFFICE_DOCX);
    assert_eq!(tail.main_part(), None);
    assert_eq!(tail.check(LIBREOFFICE_DOCX), Ok(()));
    // Both are what the extractor reads.
    for file in [PYTHON_DOCX, LIBREOFFICE_DOCX] {
        assert!(crate::extract::extract_text(Format::Docx, file).unwrap().len() > 20);
    }
    // Declared as anything else, each is named.
    assert_eq!(detected(confirm(PDF, PYTHON_DOCX)), "a ZIP archive");
    assert_eq!(detected(confirm("text/plain", LIBREOFFICE_DOCX)), "a ZIP archive");
}

#[test]
fn a_large_docx_is_read_from_its_last_bytes() {
    let padding = vec![b'x'; 300_000];
    let file = zip_file(&[("word/media/image1.png", &padding), ("word/document.xml", b"<w/>")], b"", false);
    let tail = need_tail(DOCX, &file);
    assert_eq!(tail.range_len(), TAIL_BYTES);
    assert_eq!(tail.range(), format!("bytes={}-{}", file.len() as u64 - TAIL_BYTES, file.len() - 1));
    assert_eq!(tail.check(&file[tail.range_start() as usize..]), Ok(()));
    assert_eq!(tail.check(&file), Ok(()), "more bytes than asked: the last ones are read");
    assert_eq!(tail.check(&file[file.len() - 200..]), Ok(()), "fewer: read as the end of the file");
    assert_eq!(tail.check(&file[..file.len() - 1]).unwrap_err().detected, DAMAGED);
}

#[test]
fn a_docx_that_is_a_spreadsheet_is_named() {
    let xlsx = zip_file(&[("[Content_Types].xml", b"<Types/>"), ("xl/workbook.xml", b"<w/>")], b"", false);
    let Verdict::Mismatch(mismatch) = check_head(DOCX, &xlsx, xlsx.len() as u64) else { panic!() };
    assert_eq!(mismatch.detected, "a spreadsheet (XLSX)");
    let padding = vec![b'x'; 5000];
    let large = zip_file(&[("xl/media/image1.png", &padding), ("xl/workbook.xml", b"<w/>")], b"", false);
    assert_eq!(detected(confirm(DOCX, &large)), "a spreadsheet (XLSX)");
    let pptx = zip_file(&[("ppt/presentation.xml", b"<p/>")], b"", false);
    assert_eq!(detected(confirm(DOCX, &pptx)), "a presentation (PPTX)");
    let odt = zip_file(&[("mimetype", b"application/vnd.oasis.opendocument.text")], b"", false);
    assert_eq!(detected(confirm(DOCX, &odt)), "an OpenDocument file");
}

#[test]
fn the_main_part_may_be_the_one_content_types_names() {
    let types = format!(r#"<Types><Override PartName="/word/document2.xml" ContentType="{DOCX_MAIN}"/></Types>"#);
    let padding = vec![b'x'; 5000];
    let entries = [("[Content_Types].xml", types.as_bytes()), ("word/document2.xml", b"<w/>")];
    let small = zip_file(&entries, b"", false);
    assert_eq!(check_head(DOCX, &small, small.len() as u64), Verdict::Fits);
    let later = [entries[0], ("word/media/a.png", &padding), entries[1]];
    let later = zip_file(&later, b"", false);
    let tail = need_tail(DOCX, &later);
    assert_eq!(tail.main_part(), Some("word/document2.xml"));
    assert_eq!(tail.check(&later), Ok(()));
    // Without [Content_Types].xml in the head, word/document.xml is the rule.
    let unnamed = zip_file(&[("word/media/a.png", &padding), entries[0], entries[1]], b"", false);
    assert_eq!(detected(confirm(DOCX, &unnamed)), NO_DOCUMENT);
    // A package that names a program as its main part is not a Word document.
    let forged = format!(r#"<Types><Override PartName="/setup.exe" ContentType="{DOCX_MAIN}"/></Types>"#);
    let program = zip_file(&[("[Content_Types].xml", forged.as_bytes()), ("setup.exe", b"MZ\x90\0")], b"", false);
    assert_eq!(detected(confirm(DOCX, &program)), NO_DOCUMENT);
}

#[test]
fn zip_comments_and_zip64_are_read() {
    let padding = vec![b'x'; 200_000];
    let entries = [("word/media/a.png", &padding[..]), ("word/document.xml", b"<w/>")];
    for comment in [&b"made by hand"[..], &vec![b'c'; u16::MAX as usize]] {
        let file = zip_file(&entries, comment, false);
        assert_eq!(confirm(DOCX, &file), Ok(()), "comment of {} bytes", comment.len());
    }
    // End records hidden in the comment make the archive ambiguous (readers disagree on which
    // counts): refused, never guessed.
    let decoy = [b"PK\x05\x06".repeat(10), vec![b'c'; 900]].concat();
    assert_eq!(detected(confirm(DOCX, &zip_file(&entries, &decoy, false))), DAMAGED);
    let zip64 = zip_file(&entries, b"", true);
    let read = ::zip::ZipArchive::new(std::io::Cursor::new(&zip64)).unwrap();
    assert_eq!(read.file_names().count(), 2, "the zip crate reads the same layout");
    assert_eq!(confirm(DOCX, &zip64), Ok(()));
    let setup64 = zip_file(&[("setup.exe", &padding[..])], b"", true);
    assert_eq!(detected(confirm(DOCX, &setup64)), NO_DOCUMENT);
}

#[test]
fn a_directory_that_cannot_be_read_is_refused_with_a_reason() {
    let names: Vec<String> = (0..1500).map(|i| format!("word/media/image-with-a-long-name-{i:05}.png")).collect();
    let mut entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    entries.push(("word/document.xml", b"<w/>"));
    let crowded = zip_file(&entries, b"", false);
    let mismatch = confirm(DOCX, &crowded).unwrap_err();
    assert_eq!(mismatch.detected, TOO_LONG);
    assert!(mismatch.detail().contains("whose list of entries is too long to check"));
    let docx = zip_file(&[("word/media/a.png", &[b'x'; 2000]), ("word/document.xml", b"<w/>")], b"", false);
    let cut = &docx[..docx.len() - 10];
    assert_eq!(detected(confirm(DOCX, cut)), DAMAGED);
    let mut split = docx.clone();
    let end = split.len() - 22;
    split[end + 4] = 1;
    assert_eq!(detected(confirm(DOCX, &split)), "a ZIP archive split across several files");
}

#[test]
fn other_refusals_are_named() {
    let mismatch = head_only(PDF, b"Meeting notes", 13).unwrap_err();
    assert_eq!(mismatch, Mismatch { declared: PDF.into(), detected: "text" });
    assert!(mismatch.detail().contains("declared as application/pdf but its content is text"));
    assert_eq!(detected(head_only("text/plain", b"\x00\x01binary", 8)), "binary data");
    assert_eq!(detected(head_only(PDF, b"", 0)), "empty");
    assert_eq!(detected(head_only(DOCX, b"", 0)), "empty");
    assert_eq!(detected(head_only(DOCX, b"Meeting notes", 13)), "text");
    assert_eq!(detected(head_only(DOCX, b"%PDF-1.4\n", 9)), "application/pdf");
    let docx = zip_file(&[("word/document.xml", b"<w/>")], b"", false);
    assert_eq!(detected(head_only("text/plain", &docx, docx.len() as u64)), "a Word document (DOCX)");
    assert_eq!(detected(head_only(PDF, &docx, docx.len() as u64)), "a Word document (DOCX)");
    assert_eq!(detected(head_only(PDF, &[vec![b' '; 1020], b"%PDF-".to_vec()].concat(), 2000)), "text");
}

#[test]
fn another_kind_of_package_is_named_from_the_head_and_an_unsettled_docx_asks_for_its_end() {
    let xlsx = zip_file(&[("xl/workbook.xml", b"<w/>"), ("xl/media/a.png", &[b'x'; 2000])], b"", false);
    assert_eq!(detected(head_only(DOCX, &xlsx[..1024], xlsx.len() as u64)), "a spreadsheet (XLSX)");
    assert!(matches!(check_head(DOCX, &SETUP_ZIP[..1024], SETUP_ZIP.len() as u64), Verdict::NeedTail(_)));
    assert!(matches!(check_head(DOCX, &PYTHON_DOCX[..1024], PYTHON_DOCX.len() as u64), Verdict::NeedTail(_)));
}

/// The head's verdict where it settles the file.
fn head_only(content_type: &str, head: &[u8], size: u64) -> Result<(), Mismatch> {
    match check_head(content_type, head, size) {
        Verdict::Fits => Ok(()),
        Verdict::Mismatch(mismatch) => Err(mismatch),
        Verdict::NeedTail(_) => panic!("the head does not settle it"),
    }
}

#[test]
fn text_cut_inside_a_character_is_still_text() {
    let text = "é".repeat(600);
    let head = &text.as_bytes()[..1023];
    assert_eq!(check_head("text/plain", head, 1200), Verdict::Fits);
    // The same cut at the real end of the file is not UTF-8, but still no control bytes:
    // text in a single-byte encoding, as a Latin-1 file is.
    assert_eq!(check_head("text/plain", head, 1023), Verdict::Fits);
    assert_eq!(check_head("text/plain", b"Cr\xe8me br\xfbl\xe9e", 13), Verdict::Fits);
    assert!(head_only("text/plain", b"\x1b\x02\xe8\x90", 4).is_err());
    let coloured_log = b"\x1b[31mERREUR\x1b[0m: fichier \xe9crit";
    assert_eq!(head_only("text/plain", coloured_log, coloured_log.len() as u64), Ok(()));
}

#[test]
fn unknown_types_pass() {
    assert_eq!(check_head("image/png", b"\x89PNG", 4), Verdict::Fits);
}

#[test]
fn forged_archives_from_an_attack_review_are_refused() {
    // A local header for word/document.xml that the central directory does not list, in front
    // of a ZIP that holds only setup.exe: every reader opens setup.exe.
    let mut forged = b"PK\x03\x04".to_vec();
    forged.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    forged.extend((17u16).to_le_bytes());
    forged.extend(0u16.to_le_bytes());
    forged.extend(b"word/document.xml");
    let program = zip_file(&[("setup.exe", &[b'M'; 3000][..])], b"", false);
    forged.extend(&program);
    assert_eq!(detected(confirm(DOCX, &forged)), NO_DOCUMENT);
    // [Content_Types].xml naming itself as the main part.
    let selfish = format!(r#"<Types><Override PartName="/[Content_Types].xml" ContentType="{DOCX_MAIN}"/></Types>"#);
    let file = zip_file(&[("[Content_Types].xml", selfish.as_bytes()), ("setup.exe", b"MZ")], b"", false);
    assert_eq!(detected(confirm(DOCX, &file)), NO_DOCUMENT);
}
