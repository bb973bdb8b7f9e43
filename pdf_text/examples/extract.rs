//! `cargo run --example extract FILE.pdf`: prints the text, or the error (exit 2).

fn main() {
    let path = std::env::args().nth(1).expect("usage: extract FILE.pdf");
    let bytes = std::fs::read(&path).expect("readable input");
    match pdf_text::extract_text(&bytes, &pdf_text::Limits::default()) {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
