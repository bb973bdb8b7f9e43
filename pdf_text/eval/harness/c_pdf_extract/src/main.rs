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
    pdf_extract::extract_text_from_mem(bytes).map_err(|e| e.to_string())
}
