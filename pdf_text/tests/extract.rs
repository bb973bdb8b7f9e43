//! End-to-end tests on small PDFs: fixtures written by corpus/make_corpus.py (copied here so the
//! crate tests stand alone) and documents built with lopdf in the test.

use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, Stream};
use pdf_text::{extract_text, Error, Limits};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A one-page PDF the way `shared/tests/common/mod.rs` makes them: Helvetica, WinAnsiEncoding,
/// no /Widths and no ToUnicode (the shape of the invoice pdf-extract returned nothing for).
fn lopdf_pdf(ops: Vec<Operation>, xobjects: Option<lopdf::Dictionary>) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica", "Encoding" => "WinAnsiEncoding",
    });
    let mut resources = dictionary! { "Font" => dictionary! { "F1" => font_id } };
    if let Some(x) = xobjects {
        resources.set("XObject", x);
    }
    let content_id = doc.add_object(Stream::new(dictionary! {}, Content { operations: ops }.encode().unwrap()));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id, "Resources" => resources,
        "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1 }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

fn op(name: &str, args: Vec<Object>) -> Operation {
    Operation::new(name, args)
}

fn lines(text: &[&str]) -> Vec<Operation> {
    let mut ops = vec![
        op("BT", vec![]),
        op("Tf", vec!["F1".into(), 12.into()]),
        op("TL", vec![16.into()]),
        op("Td", vec![72.into(), 720.into()]),
    ];
    for line in text {
        ops.push(op("Tj", vec![Object::string_literal(*line)]));
        ops.push(op("T*", vec![]));
    }
    ops.push(op("ET", vec![]));
    ops
}

#[test]
fn helvetica_winansi_without_widths_or_tounicode() {
    let pdf = lopdf_pdf(lines(&["INVOICE No. 42", "Total due: 1,110.15"]), None);
    assert_eq!(extract_text(&pdf, &Limits::default()).unwrap(), "INVOICE No. 42\nTotal due: 1,110.15\n\n");
}

#[test]
fn spaces_come_from_positions_not_only_space_characters() {
    let text = extract_text(&fixture("hw_tj_kerning.pdf"), &Limits::default()).unwrap();
    assert!(text.contains("Thank you for your letter"), "{text}");
    let pdf = lopdf_pdf(
        vec![
            op("BT", vec![]),
            op("Tf", vec!["F1".into(), 10.into()]),
            op("Tm", vec![1.into(), 0.into(), 0.into(), 1.into(), 72.into(), 700.into()]),
            op("Tj", vec![Object::string_literal("Qty")]),
            op("Tm", vec![1.into(), 0.into(), 0.into(), 1.into(), 150.into(), 700.into()]),
            op("Tj", vec![Object::string_literal("Price")]),
            op("ET", vec![]),
        ],
        None,
    );
    assert_eq!(extract_text(&pdf, &Limits::default()).unwrap().trim(), "Qty Price");
}

#[test]
fn type0_tounicode_ligatures_and_object_streams() {
    let text = extract_text(&fixture("hw_type0_tounicode.pdf"), &Limits::default()).unwrap();
    assert!(text.contains("Office chairs") && text.contains("Königstraße") && text.contains("First-aid"), "{text}");
    let text = extract_text(&fixture("hw_objstm.pdf"), &Limits::default()).unwrap();
    assert!(text.contains("Müller & Söhne GmbH"), "{text}");
}

#[test]
fn encrypted_is_an_error_and_an_image_is_no_text() {
    assert_eq!(extract_text(&fixture("hw_encrypted.pdf"), &Limits::default()), Err(Error::Encrypted));
    assert_eq!(extract_text(&fixture("hw_image_only.pdf"), &Limits::default()).unwrap(), "");
}

#[test]
fn flate_bomb_stops_at_the_cap() {
    let start = std::time::Instant::now();
    let limits = Limits { max_stream_bytes: 1 << 20, ..Limits::default() };
    assert_eq!(extract_text(&fixture("flate_bomb_1gib.pdf"), &limits), Err(Error::TooLarge));
    assert!(start.elapsed().as_secs() < 5);
}

#[test]
fn output_and_pages_are_capped() {
    let pdf = lopdf_pdf(lines(&["abcdefghij"; 50]), None);
    let text = extract_text(&pdf, &Limits { max_chars: 25, ..Limits::default() }).unwrap();
    assert_eq!(text.chars().count(), 25);
}

#[test]
fn self_referencing_form_xobject_terminates() {
    // The form draws text and then itself: only the depth cap ends the recursion.
    let mut doc = Document::with_version("1.5");
    let (pages_id, form_id) = (doc.new_object_id(), doc.new_object_id());
    let font_id = doc.add_object(dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica" });
    let resources =
        dictionary! { "Font" => dictionary! { "F1" => font_id }, "XObject" => dictionary! { "X" => form_id } };
    let form_ops = vec![
        op("BT", vec![]),
        op("Tf", vec!["F1".into(), 10.into()]),
        op("Tj", vec![Object::string_literal("loop")]),
        op("ET", vec![]),
        op("Do", vec!["X".into()]),
    ];
    let form_dict = dictionary! { "Type" => "XObject", "Subtype" => "Form", "Resources" => resources.clone() };
    let form = Stream::new(form_dict, Content { operations: form_ops }.encode().unwrap());
    doc.objects.insert(form_id, Object::Stream(form));
    let page_ops = Content { operations: vec![op("Do", vec!["X".into()])] }.encode().unwrap();
    let content_id = doc.add_object(Stream::new(dictionary! {}, page_ops));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id, "Resources" => resources,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1 }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut pdf = Vec::new();
    doc.save_to(&mut pdf).unwrap();
    let text = extract_text(&pdf, &Limits { max_xobject_depth: 4, ..Limits::default() }).unwrap();
    assert_eq!(text.matches("loop").count(), 4, "{text}");
}

#[test]
fn garbage_and_truncations_never_panic() {
    assert!(matches!(extract_text(b"%PDF-1.7 garbage", &Limits::default()), Err(Error::Malformed(_))));
    for name in ["hw_type0_tounicode.pdf", "hw_objstm.pdf", "hw_tj_kerning.pdf"] {
        let data = fixture(name);
        for cut in (0..data.len()).step_by(37) {
            let _ = extract_text(&data[..cut], &Limits::default());
        }
        let mut flipped = data.clone();
        for i in (0..flipped.len()).step_by(53) {
            flipped[i] ^= 0x5A;
            let _ = extract_text(&flipped, &Limits::default());
        }
    }
}

/// The corpus of real producers (LibreOffice, pdfTeX, Ghostscript, groff, Chromium, reportlab,
/// fpdf2) and hand-written files that `pdf_text/eval/corpus/make_corpus.py` writes: `make test`
/// generates it and names its directory in `PDF_CORPUS_DIR`. Every producer's lowest word recall
/// must be at least 0.98, scored as `pdf_text/eval/measure.py` scores it. Without the variable
/// the test says it is skipped and passes.
mod corpus {
    use pdf_text::{extract_text, Limits};
    use std::collections::{BTreeMap, HashMap};
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};
    use unicode_normalization::UnicodeNormalization;

    const MIN_RECALL: f64 = 0.98;
    /// Per hostile file (truncated, byte-flipped, broken xref): an answer, error or text, in time.
    const MAX_HOSTILE: Duration = Duration::from_secs(5);

    /// measure.py's `tokens`: `\w+` runs of NFKC(casefold(NFKC(text))), counted. Python's `\w` is
    /// "alphanumeric or `_`", where alphanumeric excludes combining marks (Rust's alphabetic has some).
    fn tokens(text: &str) -> HashMap<String, usize> {
        let folded: String = caseless::default_case_fold_str(&text.nfkc().collect::<String>()).nfkc().collect();
        let mut counts = HashMap::new();
        let word = |c: char| c == '_' || (c.is_alphanumeric() && !unicode_normalization::char::is_combining_mark(c));
        for token in folded.split(|c: char| !word(c)).filter(|t| !t.is_empty()) {
            *counts.entry(token.to_string()).or_insert(0) += 1;
        }
        counts
    }

    /// Multiset recall of the truth's tokens in `got`, with the words that fell short.
    fn recall(truth: &str, got: &str) -> (f64, Vec<String>) {
        let (want, have) = (tokens(truth), tokens(got));
        let total: usize = want.values().sum();
        let found: usize = want.iter().map(|(w, n)| (*n).min(have.get(w).copied().unwrap_or(0))).sum();
        let mut missing: Vec<String> =
            want.iter().filter(|(w, n)| have.get(*w).copied().unwrap_or(0) < **n).map(|(w, _)| w.clone()).collect();
        missing.sort();
        (if total == 0 { 1.0 } else { found as f64 / total as f64 }, missing)
    }

    #[test]
    fn tokens_match_measure_py() {
        // Python: collections.Counter(re.findall(r"\w+", NFKC(NFKC(s).casefold())))
        let t = tokens("Soufﬂé, STRASSE straße — 1,110.15 € ﬁrst_aid ½");
        let mut got: Vec<_> = t.iter().map(|(w, n)| format!("{w}:{n}")).collect();
        got.sort();
        assert_eq!(got, ["110:1", "15:1", "1:2", "2:1", "first_aid:1", "soufflé:1", "strasse:2"]);
        assert_eq!(recall("a b b c", "b a c"), (0.75, vec!["b".to_string()]));
    }

    #[test]
    fn recall_of_every_producer_is_at_least_0_98() {
        let Some(dir) = std::env::var_os("PDF_CORPUS_DIR").map(PathBuf::from) else {
            println!("skipped: PDF_CORPUS_DIR is not set (make test generates the corpus and sets it)");
            return;
        };
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join("manifest.json"))
                .unwrap_or_else(|e| panic!("{}/manifest.json: {e} (make_corpus.py writes it)", dir.display())),
        )
        .unwrap();
        let mut problems = Vec::new();
        for key in ["skipped_producers", "failed"] {
            let v = &manifest[key];
            if v.as_array().is_some_and(|a| !a.is_empty()) || v.as_object().is_some_and(|o| !o.is_empty()) {
                problems.push(format!("make_corpus.py {key}: {v} (is every producer installed?)"));
            }
        }

        // producer -> (file, recall, missing words) of the files whose text is expected.
        let mut by_producer: BTreeMap<String, Vec<(String, f64, Vec<String>)>> = BTreeMap::new();
        let files = manifest["files"].as_object().expect("manifest.json has files");
        assert!(!files.is_empty(), "the corpus in {} has no files", dir.display());
        for (name, meta) in files {
            let pdf = read(&dir, &format!("{name}.pdf"));
            let truth = String::from_utf8(read(&dir, &format!("{name}.txt"))).unwrap();
            let got = extract_text(&pdf, &Limits::default());
            match meta["expect"].as_str() {
                Some("text") => {
                    let (score, missing) = match &got {
                        Ok(text) => recall(&truth, text),
                        Err(e) => (0.0, vec![format!("error: {e}")]),
                    };
                    let producer = meta["producer"].as_str().unwrap_or("?").to_string();
                    by_producer.entry(producer).or_default().push((name.clone(), score, missing));
                }
                Some("empty") => match &got {
                    Ok(text) if tokens(text).is_empty() => println!("{name}: empty text, as expected"),
                    other => problems.push(format!("{name}: expected empty text, got {other:?}")),
                },
                Some("error") => match &got {
                    Err(e) => println!("{name}: error \"{e}\", as expected"),
                    Ok(text) => problems.push(format!("{name}: expected an error, got {} chars", text.len())),
                },
                other => problems.push(format!("{name}: unknown expect {other:?}")),
            }
        }

        println!("\nword recall of pdf_text per producer (corpus: {})", dir.display());
        println!("{:<16} {:>5} {:>6} {:>6}  lowest file", "producer", "files", "min", "mean");
        for (producer, rows) in &by_producer {
            let (worst, min, missing) = rows.iter().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
            let mean = rows.iter().map(|r| r.1).sum::<f64>() / rows.len() as f64;
            println!("{producer:<16} {:>5} {min:>6.3} {mean:>6.3}  {worst}", rows.len());
            if *min < MIN_RECALL {
                let shown: Vec<_> = missing.iter().take(12).collect();
                problems.push(format!("{producer}: recall {min:.3} < {MIN_RECALL} on {worst}, missing {shown:?}"));
            }
        }
        if let Some(versions) = manifest["producers"].as_object() {
            let v: Vec<String> = versions.values().filter_map(|v| v.as_str().map(String::from)).collect();
            println!("producers: {}", v.join("; "));
        }

        // Hostile files (no ground truth): each must come back, as text or an error, in time.
        let mut hostile = std::fs::read_dir(dir.join("adversarial"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect::<Vec<_>>())
            .unwrap_or_default();
        hostile.sort();
        let (mut ok, mut err) = (0, 0);
        for path in hostile.iter().filter(|p| p.extension().is_some_and(|e| e == "pdf")) {
            let start = Instant::now();
            match extract_text(&std::fs::read(path).unwrap(), &Limits::default()) {
                Ok(_) => ok += 1,
                Err(_) => err += 1,
            }
            if start.elapsed() > MAX_HOSTILE {
                problems.push(format!("{}: took {:?}", path.display(), start.elapsed()));
            }
        }
        println!("hostile files: {} ({ok} text, {err} errors), none over {MAX_HOSTILE:?}", ok + err);

        assert!(problems.is_empty(), "the PDF corpus check failed:\n  {}", problems.join("\n  "));
    }

    fn read(dir: &Path, name: &str) -> Vec<u8> {
        std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
    }
}
