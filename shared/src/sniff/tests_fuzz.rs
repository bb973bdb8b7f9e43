//! Property-style tests: on random, truncated and mutated bytes the checks answer without
//! panicking, and a tail request always stays within the object and [`TAIL_BYTES`].

use super::tests::zip_file;
use super::*;

const TYPES: [&str; 3] =
    ["application/pdf", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "text/plain"];
const FIXTURES: [&[u8]; 3] = [
    include_bytes!("../../tests/fixtures/sniff/python-docx.docx"),
    include_bytes!("../../tests/fixtures/sniff/libreoffice.docx"),
    include_bytes!("../../tests/fixtures/sniff/setup-and-readme.zip"),
];

/// xorshift64*: deterministic, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Random bytes, fewer than `n` of them.
    fn bytes_below(&mut self, n: usize) -> Vec<u8> {
        let len = self.below(n);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Runs both steps as confirm would on `file` (whose size may be stated larger than the bytes
/// given, as when storage holds more), checking the tail request's bounds.
fn run(content_type: &str, file: &[u8], size: u64) {
    let head = &file[..file.len().min(HEAD_BYTES as usize)];
    if let Verdict::NeedTail(tail) = check_head(content_type, head, size) {
        assert!(tail.range_len() <= TAIL_BYTES && tail.range_len() <= size && tail.range_len() > 0);
        assert_eq!(tail.range_start() + tail.range_len(), size);
        assert!(tail.range().starts_with("bytes="));
        let _ = tail.check(file);
        let _ = tail.check(&file[file.len() / 2..]);
        let _ = tail.check(&[]);
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x5eed);
    let prefixes: [&[u8]; 4] = [b"", b"PK\x03\x04", b"%PDF-", b"PK\x05\x06"];
    for _ in 0..3000 {
        let prefix = prefixes[rng.below(prefixes.len())];
        let file = [prefix, &rng.bytes_below(1500)].concat();
        let size = match rng.below(3) {
            0 => file.len() as u64,
            1 => file.len() as u64 + rng.below(1 << 20) as u64,
            _ => rng.next(),
        };
        for content_type in TYPES {
            run(content_type, &file, size);
        }
    }
}

#[test]
fn truncated_and_mutated_files_never_panic() {
    let mut rng = Rng(0xf1a7);
    let padding = vec![b'x'; 3000];
    let synthetic = [
        zip_file(&[("word/media/a.png", &padding), ("word/document.xml", b"<w/>")], b"a comment", false),
        zip_file(&[("word/media/a.png", &padding), ("word/document.xml", b"<w/>")], b"", true),
    ];
    let files: Vec<&[u8]> = FIXTURES.into_iter().chain(synthetic.iter().map(Vec::as_slice)).collect();
    for file in files {
        for _ in 0..150 {
            let cut = &file[..rng.below(file.len() + 1)];
            run(TYPES[1], cut, cut.len() as u64);
            run(TYPES[1], cut, file.len() as u64);
            let mut mutated = file.to_vec();
            for _ in 0..1 + rng.below(8) {
                // Mostly near the end, where the directory and its end record are.
                let at = match rng.below(2) {
                    0 => rng.below(mutated.len()),
                    _ => mutated.len() - 1 - rng.below(300.min(mutated.len())),
                };
                mutated[at] = match rng.below(3) {
                    0 => 0xff,
                    1 => 0,
                    _ => rng.next() as u8,
                };
            }
            run(TYPES[1], &mutated, mutated.len() as u64);
        }
    }
}

#[test]
fn forged_end_records_never_panic() {
    let mut rng = Rng(0xe0cd);
    for _ in 0..400 {
        let mut tail = rng.bytes_below(4000);
        let records = [&b"PK\x05\x06"[..], b"PK\x06\x06", b"PK\x06\x07", b"PK\x01\x02"];
        for _ in 0..rng.below(6) {
            let record = records[rng.below(records.len())];
            let at = rng.below(tail.len().saturating_sub(record.len()));
            if at + record.len() <= tail.len() {
                tail[at..at + record.len()].copy_from_slice(record);
            }
        }
        // An end record at the very end with fields at their limits.
        let mut end = b"PK\x05\x06".to_vec();
        let fields = [rng.next() as u16 % 2, 0, 0xffff, 0xffff, rng.next() as u16, 0xffff, rng.next() as u16, 0xffff];
        end.extend(fields.iter().flat_map(|f| f.to_le_bytes()));
        end.extend(0u16.to_le_bytes());
        tail.extend(end);
        let size = tail.len() as u64 + if rng.below(2) == 0 { 0 } else { rng.next() % (1 << 40) };
        let check = TailCheck { declared: TYPES[1].into(), size: size.max(1), main_part: None };
        let _ = check.check(&tail);
        assert!(package::central_names(&tail, tail.len() as u64).map_or(true, |names| names.len() <= tail.len() / 46));
    }
}

#[test]
fn random_archives_are_docx_exactly_when_they_list_the_document_part() {
    let mut rng = Rng(0xa7c1);
    let names = ["word/document.xml", "word/styles.xml", "setup.exe", "readme.txt", "docProps/app.xml", "a/b/c.bin"];
    for _ in 0..300 {
        let data: Vec<Vec<u8>> = (0..rng.below(12)).map(|_| rng.bytes_below(6000)).collect();
        let entries: Vec<(&str, &[u8])> = data.iter().map(|d| (names[rng.below(names.len())], d.as_slice())).collect();
        let longest = if rng.below(4) == 0 { 70_000 } else { 50 };
        let comment = rng.bytes_below(longest);
        let comment = &comment[..comment.len().min(u16::MAX as usize)];
        let file = zip_file(&entries, comment, rng.below(2) == 0);
        let listed = entries.iter().any(|(name, _)| *name == "word/document.xml");
        let head = &file[..file.len().min(HEAD_BYTES as usize)];
        let verdict = match check_head(TYPES[1], head, file.len() as u64) {
            Verdict::NeedTail(tail) => tail.check(&file[tail.range_start() as usize..]),
            Verdict::Fits => Ok(()),
            Verdict::Mismatch(mismatch) => Err(mismatch),
        };
        assert_eq!(verdict.is_ok(), listed, "{:?} with a comment of {} bytes", entries.len(), comment.len());
    }
}
