//! Text extraction time per document at Lambda's share of each `MemorySize`.
//!
//! `bench extract --executable BOOTSTRAP --passes N FILE...` (the sub-command) extracts each file
//! as classify does: plain text in-process, PDF and DOCX in a sandboxed child under classify's
//! limits (`Config::extraction_limits`, defaults), the child being classify's own release binary
//! (it re-executes itself in Lambda). It prints one JSON line per file and pass: wall time and
//! CPU (its own and its children's, `getrusage`). [`measure`] runs that sub-command inside a
//! [`Share`] per memory size and makes the table.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shared::extract::{extract_bounded, Format};
use tokio::io::AsyncBufReadExt;

use crate::lambda_share::{self, Share};

pub const PASSES: usize = 3;

/// A group of documents reported together.
pub struct Corpus {
    pub name: String,
    pub files: Vec<PathBuf>,
}

fn format_of(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "pdf" => Some(Format::Pdf),
        "docx" => Some(Format::Docx),
        "txt" | "md" => Some(Format::Text),
        _ => None,
    }
}

/// The documents of `dir` (not its sub-folders) whose extension classify reads and `keep` takes.
pub fn files(dir: &Path, keep: impl Fn(Format) -> bool) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect()).unwrap_or_default();
    // A corpus's README describes it; it is not one of its documents.
    files.retain(|f| f.is_file() && f.file_name().is_some_and(|n| n != "README.md") && format_of(f).is_some_and(&keep));
    files.sort();
    files
}

fn cpu_of_process_and_children() -> Duration {
    let usage = |who| {
        // SAFETY: getrusage fills the struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut usage) };
        let time = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
        time(usage.ru_utime) + time(usage.ru_stime)
    };
    usage(libc::RUSAGE_SELF) + usage(libc::RUSAGE_CHILDREN)
}

/// The sub-command: `args` after `extract`.
pub fn run_subcommand(args: &[String]) {
    let mut executable = None;
    let mut passes = PASSES;
    let mut paths = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--executable" => executable = args.next().map(PathBuf::from),
            "--passes" => passes = args.next().and_then(|n| n.parse().ok()).expect("--passes N"),
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    let executable = executable.expect("--executable BOOTSTRAP (classify's binary, which serves extraction children)");
    // Classify's limits with its defaults (the table and bucket are not used here).
    let config = shared::config::Config::from_lookup(|name| {
        std::env::var(name).ok().or_else(|| matches!(name, "TABLE_NAME" | "BUCKET_NAME").then(|| "unused".into()))
    })
    .expect("classify's configuration");
    let limits = config.extraction_limits();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let sandbox = sandbox::Sandbox::new(1).with_executable(executable);
        for _ in 0..passes {
            for path in &paths {
                let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let format = format_of(path).expect("a PDF, DOCX, text or Markdown file");
                let (cpu, started) = (cpu_of_process_and_children(), Instant::now());
                let outcome = extract_bounded(&sandbox, format, &bytes, &limits).await;
                let wall = started.elapsed();
                let cpu = cpu_of_process_and_children().saturating_sub(cpu);
                println!(
                    "{}",
                    json!({
                        "file": path.display().to_string(),
                        "wall_us": wall.as_micros() as u64,
                        "cpu_us": cpu.as_micros() as u64,
                        "error": outcome.err().map(|e| e.to_string()),
                    })
                );
            }
        }
    });
}

/// One document's figures at one memory size (median of its passes).
struct Document {
    file: String,
    wall: Duration,
    cpu: Duration,
    error: Option<String>,
}

struct Run {
    documents: Vec<Document>,
    peak_memory_bytes: u64,
    oom_kills: u64,
    /// The sub-command did not finish (killed by the OOM killer, for one).
    incomplete: Option<String>,
}

async fn run_at(memory_mb: u32, classify: &Path, files: &[PathBuf]) -> Result<Run, String> {
    let share = Share::create(&format!("extract-{memory_mb}"), memory_mb)?;
    let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
    command.arg("extract").arg("--executable").arg(classify).arg("--passes").arg(PASSES.to_string()).args(files);
    share.enter(&mut command);
    let mut child = command.stdout(Stdio::piped()).kill_on_drop(true).spawn().map_err(|e| e.to_string())?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut samples: Vec<Value> = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        samples.push(serde_json::from_str(&line).map_err(|e| format!("{line}: {e}"))?);
    }
    let status = child.wait().await.map_err(|e| e.to_string())?;
    let mut documents = Vec::new();
    for file in files {
        let file = file.display().to_string();
        let of_file: Vec<&Value> = samples.iter().filter(|s| s["file"] == file.as_str()).collect();
        if of_file.is_empty() {
            continue;
        }
        let median = |key: &str| {
            let mut v: Vec<u64> = of_file.iter().map(|s| s[key].as_u64().unwrap_or_default()).collect();
            v.sort();
            Duration::from_micros(v[v.len() / 2])
        };
        documents.push(Document {
            wall: median("wall_us"),
            cpu: median("cpu_us"),
            error: of_file.last().and_then(|s| s["error"].as_str().map(str::to_owned)),
            file,
        });
    }
    Ok(Run {
        documents,
        peak_memory_bytes: share.peak_memory_bytes(),
        oom_kills: share.oom_kills(),
        incomplete: (!status.success()).then(|| status.to_string()),
    })
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// The section of BENCHMARKS.md: per corpus, per memory size, the median and slowest document.
pub async fn measure(classify: &Path, corpora: &[Corpus], sizes: &[u32]) -> String {
    let mut out = String::new();
    let mut header = "| documents |".to_owned();
    let mut rule = "|---|".to_owned();
    for size in sizes {
        write!(header, " {size} MB ({:.3} vCPU): p50 / max ms per document |", lambda_share::vcpus(*size)).unwrap();
        rule.push_str("---|");
    }
    header.push_str(" CPU per document ms, p50 / max (at 1024 MB) | not extracted |");
    rule.push_str("---|---|");
    writeln!(out, "{header}\n{rule}").unwrap();
    let mut notes = Vec::new();
    for corpus in corpora {
        if corpus.files.is_empty() {
            notes.push(format!("{}: no files (build the PDF corpus with `make test` first)", corpus.name));
            continue;
        }
        let mut row = format!("| {} ({}) |", corpus.name, corpus.files.len());
        let mut last = None;
        for &size in sizes {
            eprintln!("bench: extraction, {} at {size} MB", corpus.name);
            match run_at(size, classify, &corpus.files).await {
                Err(e) => {
                    row.push_str(" n/a |");
                    notes.push(format!("{} at {size} MB: {e}", corpus.name));
                }
                Ok(run) => {
                    let mut walls: Vec<&Document> = run.documents.iter().collect();
                    walls.sort_by_key(|d| d.wall);
                    match (walls.get(walls.len() / 2), walls.last()) {
                        (Some(p50), Some(max)) => write!(
                            row,
                            " {} / {} (`{}`) |",
                            ms(p50.wall),
                            ms(max.wall),
                            Path::new(&max.file).file_name().unwrap().to_string_lossy()
                        )
                        .unwrap(),
                        _ => row.push_str(" none |"),
                    }
                    notes.push(format!(
                        "{} at {size} MB: peak memory of the group {:.0} MiB{}{}",
                        corpus.name,
                        run.peak_memory_bytes as f64 / 1048576.0,
                        if run.oom_kills > 0 {
                            format!(", {} processes killed by the OOM killer", run.oom_kills)
                        } else {
                            String::new()
                        },
                        run.incomplete
                            .as_ref()
                            .map_or(String::new(), |s| format!(", the extraction process ended with {s}")),
                    ));
                    last = Some(run);
                }
            }
        }
        match last {
            Some(run) => {
                let mut cpu: Vec<Duration> = run.documents.iter().map(|d| d.cpu).collect();
                cpu.sort();
                let failed: Vec<String> = run
                    .documents
                    .iter()
                    .filter_map(|d| {
                        let name = Path::new(&d.file).file_name().unwrap().to_string_lossy().into_owned();
                        d.error.as_ref().map(|e| format!("`{name}`: {e}"))
                    })
                    .collect();
                let missing = corpus.files.len() - run.documents.len();
                writeln!(
                    row,
                    " {} / {} | {}{} |",
                    cpu.get(cpu.len() / 2).map_or("n/a".into(), |d| ms(*d)),
                    cpu.last().map_or("n/a".into(), |d| ms(*d)),
                    if failed.is_empty() { "0".into() } else { format!("{}: {}", failed.len(), failed.join("; ")) },
                    if missing > 0 { format!(" ({missing} not reached)") } else { String::new() },
                )
                .unwrap();
            }
            None => row.push_str(" n/a | n/a |\n"),
        }
        out.push_str(&row);
    }
    if !notes.is_empty() {
        writeln!(out, "\n{}.", notes.join("; ")).unwrap();
    }
    out
}
