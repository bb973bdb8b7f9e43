//! Candidate harness: extracts the text of the PDF named by the first argument and prints it to stdout.
//! Exit 0 = text printed, 2 = the library returned an error (message on stderr), 101 = panic.

fn main() {
    let path = std::env::args().nth(1).expect("usage: candidate FILE.pdf");
    let bytes = std::fs::read(&path).expect("readable input");
    match extract(&bytes) {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

fn extract(bytes: &[u8]) -> Result<String, String> {
    let reader =
        oxidize_pdf::parser::PdfReader::new(std::io::Cursor::new(bytes.to_vec())).map_err(|e| e.to_string())?;
    let doc = oxidize_pdf::parser::PdfDocument::new(reader);
    let pages = doc.extract_text().map_err(|e| e.to_string())?;
    Ok(pages.into_iter().map(|p| p.text).collect::<Vec<_>>().join("\n"))
}
