//! Serves the text-extraction tasks of a sandboxed child for a host whose own binary cannot: the
//! integration tests' harness (the functions re-execute themselves instead).

fn main() {
    shared::extract::run_child_if_requested();
    eprintln!("extract-worker only runs as a text-extraction child (see shared::extract)");
    std::process::exit(2);
}
