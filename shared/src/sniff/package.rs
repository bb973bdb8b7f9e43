//! Just enough of the ZIP format (APPNOTE 6.3) to list a package's entry names: the local file
//! headers that lie within the head, and the central directory at the end of the file. Every
//! read is bounds-checked; sizes the file states are never trusted for an allocation.

pub(super) const LOCAL_HEADER: &[u8] = b"PK\x03\x04";
const CENTRAL_HEADER: &[u8] = b"PK\x01\x02";
const END_RECORD: &[u8] = b"PK\x05\x06";
const ZIP64_END_RECORD: &[u8] = b"PK\x06\x06";
const ZIP64_LOCATOR: &[u8] = b"PK\x06\x07";
const LOCAL_HEADER_LEN: usize = 30;
const CENTRAL_HEADER_LEN: usize = 46;
const END_RECORD_LEN: usize = 22;
const ZIP64_END_RECORD_LEN: usize = 56;
const ZIP64_LOCATOR_LEN: usize = 20;
const MAX_COMMENT_LEN: usize = u16::MAX as usize;
/// General purpose flag bit 3: sizes and CRC follow the data, the local header has zeros.
const DATA_DESCRIPTOR: u16 = 0x08;

pub(super) const DOCUMENT_PART: &[u8] = b"word/document.xml";
pub(super) const NO_DOCUMENT: &str = "a ZIP archive without a Word document part (word/document.xml)";
pub(super) const DAMAGED: &str = "a damaged or truncated ZIP archive (its central directory cannot be read)";
const SPLIT: &str = "a ZIP archive split across several files";
pub(super) const TOO_LONG: &str = "a ZIP archive whose list of entries is too long to check (over 128 KiB)";

/// An entry whose local file header lies within the head.
#[derive(Debug)]
pub(super) struct LocalEntry<'a> {
    pub name: &'a [u8],
    /// 0 stored, 8 deflated.
    pub method: u16,
    /// Its (compressed) data, when the header gives its size and the data lies within the head.
    pub data: Option<&'a [u8]>,
}

/// The entries whose local headers follow one another from the start of `head`, until the head
/// ends, something else starts (the central directory), or a header gives no size to skip by.
pub(super) fn local_entries(head: &[u8]) -> Vec<LocalEntry<'_>> {
    let mut entries = Vec::new();
    let mut at = 0;
    while let Some(header) = head.get(at..).filter(|rest| rest.starts_with(LOCAL_HEADER)) {
        let (Some(flags), Some(method), Some(compressed), Some(name_len), Some(extra_len)) =
            (u16_at(header, 6), u16_at(header, 8), u32_at(header, 18), u16_at(header, 26), u16_at(header, 28))
        else {
            break;
        };
        let name_start = at + LOCAL_HEADER_LEN;
        let Some(name) = head.get(name_start..name_start + name_len as usize) else { break };
        let data_start = name_start + name_len as usize + extra_len as usize;
        // Sizes of 0xFFFFFFFF are in a ZIP64 extra field: not followed here.
        let sized = flags & DATA_DESCRIPTOR == 0 && compressed != u32::MAX;
        let data_end = data_start.checked_add(compressed as usize).filter(|_| sized);
        let data = data_end.and_then(|end| head.get(data_start..end));
        entries.push(LocalEntry { name, method, data });
        match data_end {
            Some(end) => at = end,
            None => break,
        }
    }
    entries
}

/// The entry names the central directory lists, from `tail`, the last bytes of a file of `size`
/// bytes (the whole file when it is that small). `Err` names what the bytes are instead.
pub(super) fn central_names(tail: &[u8], size: u64) -> Result<Vec<&[u8]>, &'static str> {
    let partial = (tail.len() as u64) < size;
    let end = find_end_record(tail).ok_or(DAMAGED)?;
    let field16 = |at| u16_at(tail, end + at).ok_or(DAMAGED);
    let field32 = |at| u32_at(tail, end + at).ok_or(DAMAGED);
    let (disk, directory_disk, entry_count) = (field16(4)?, field16(6)?, field16(10)?);
    let (directory_len, directory_offset) = (field32(12)?, field32(16)?);
    let zip64 = entry_count == u16::MAX || directory_len == u32::MAX || directory_offset == u32::MAX;
    let (directory_end, directory_len) = if zip64 {
        let record = zip64_end_record(tail, end, size).ok_or(if partial { TOO_LONG } else { DAMAGED })?;
        let disks = (u32_at(tail, record + 16), u32_at(tail, record + 20));
        if disks != (Some(0), Some(0)) {
            return Err(SPLIT);
        }
        (record, u64_at(tail, record + 40).ok_or(DAMAGED)?)
    } else {
        if (disk, directory_disk) != (0, 0) {
            return Err(SPLIT);
        }
        (end, u64::from(directory_len))
    };
    // The directory ends where the end record starts: this also finds it when data was put
    // before the archive (a self-extractor), where the offset it states is off by that much.
    let Some(start) = (directory_end as u64).checked_sub(directory_len) else {
        return Err(if partial { TOO_LONG } else { DAMAGED });
    };
    let directory = &tail[start as usize..directory_end];
    let mut names = Vec::new();
    let mut at = 0;
    while at < directory.len() {
        let header = &directory[at..];
        let (Some(name_len), Some(extra_len), Some(comment_len)) =
            (u16_at(header, 28), u16_at(header, 30), u16_at(header, 32))
        else {
            return Err(DAMAGED);
        };
        if !header.starts_with(CENTRAL_HEADER) {
            return Err(DAMAGED);
        }
        let name_end = CENTRAL_HEADER_LEN + name_len as usize;
        names.push(header.get(CENTRAL_HEADER_LEN..name_end).ok_or(DAMAGED)?);
        at += name_end + extra_len as usize + comment_len as usize;
    }
    if at != directory.len() {
        return Err(DAMAGED);
    }
    Ok(names)
}

/// The End Of Central Directory record: the only one in the archive's last 64 KiB, whose
/// comment ends within the file. Two (one hidden in the other's comment) make the archive
/// ambiguous: readers disagree on which one counts, so it is refused rather than guessed.
fn find_end_record(tail: &[u8]) -> Option<usize> {
    let last = tail.len().checked_sub(END_RECORD_LEN)?;
    let first = last.saturating_sub(MAX_COMMENT_LEN);
    let mut records = (first..=last).filter(|&at| tail[at..].starts_with(END_RECORD));
    let (at, None) = (records.next()?, records.next()) else { return None };
    u16_at(tail, at + 20).filter(|comment| at + END_RECORD_LEN + *comment as usize <= tail.len()).map(|_| at)
}

/// The ZIP64 end record, through the locator just before the end record at `end`: where the
/// locator says (an offset in the file), or else just before the locator.
fn zip64_end_record(tail: &[u8], end: usize, size: u64) -> Option<usize> {
    let locator = end.checked_sub(ZIP64_LOCATOR_LEN)?;
    if !tail[locator..].starts_with(ZIP64_LOCATOR) {
        return None;
    }
    let tail_start = size.checked_sub(tail.len() as u64)?;
    let stated = u64_at(tail, locator + 8)?.checked_sub(tail_start).and_then(|at| usize::try_from(at).ok());
    let adjacent = locator.checked_sub(ZIP64_END_RECORD_LEN);
    let record_at = |record: Option<usize>| {
        record.filter(|&record| {
            record.checked_add(ZIP64_END_RECORD_LEN).is_some_and(|end| end <= locator)
                && tail[record..].starts_with(ZIP64_END_RECORD)
        })
    };
    // Readers take either the record the locator names or the one right before the locator:
    // when both are records and they differ, the archive is ambiguous and refused.
    match (record_at(stated), record_at(adjacent)) {
        (Some(a), Some(b)) if a != b => None,
        (a, b) => a.or(b),
    }
}

/// Whether `name` is the main document part: `word/document.xml`, or `main_part` (the part
/// `[Content_Types].xml` names), ignoring ASCII case as OPC part names do.
pub(super) fn is_main_part(name: &[u8], main_part: Option<&str>) -> bool {
    name.eq_ignore_ascii_case(DOCUMENT_PART) || main_part.is_some_and(|part| name.eq_ignore_ascii_case(part.as_bytes()))
}

/// `Ok` when `names` (every entry of the archive) include the main document part; else names
/// what kind of package it is.
pub(super) fn main_part_listed(names: &[&[u8]], main_part: Option<&str>) -> Result<(), &'static str> {
    if names.iter().any(|name| is_main_part(name, main_part)) {
        Ok(())
    } else {
        Err(kind_of(names.iter().copied()).unwrap_or(NO_DOCUMENT))
    }
}

/// What the entries seen in the head suggest, for a mismatch's detail.
pub(super) fn kind_seen(entries: &[LocalEntry<'_>]) -> &'static str {
    if entries.iter().any(|entry| is_main_part(entry.name, None)) {
        return "a Word document (DOCX)";
    }
    other_kind_seen(entries).unwrap_or("a ZIP archive")
}

/// Another kind of package, from the entries seen in the head.
pub(super) fn other_kind_seen(entries: &[LocalEntry<'_>]) -> Option<&'static str> {
    kind_of(entries.iter().map(|entry| entry.name))
}

/// Another kind of package, recognised by its entry names.
fn kind_of<'a>(mut names: impl Iterator<Item = &'a [u8]>) -> Option<&'static str> {
    names.find_map(|name| match name {
        b"mimetype" => Some("an OpenDocument file"),
        _ if name.starts_with(b"xl/") => Some("a spreadsheet (XLSX)"),
        _ if name.starts_with(b"ppt/") => Some("a presentation (PPTX)"),
        _ => None,
    })
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at.checked_add(8)?)?.try_into().ok()?))
}
