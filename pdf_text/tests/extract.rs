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
