//! `make eval`: the service's offline classifiers on a labelled corpus (default
//! `eval/classification/corpus`: `topics.json`, `labels.tsv` with `file<TAB>topic key` or
//! `none`, and the documents). Prints accuracy, macro-F1 (the topics and "none"), how many
//! off-topic documents were filed, the confusions and the time per document, as Markdown.
//!
//! Each classifier decides as in `classify`, with its defaults: term matching; the semantic
//! classifier with the table `make model` built (or `CLASSIFIER_MODEL_PATH`), by score alone;
//! and with the document-type bank (or `CLASSIFIER_DOCUMENT_TYPES_PATH`), as the service runs
//! it. Figures, not assertions.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;
use std::sync::Arc;

use shared::classifier::document_types::DocumentTypes;
use shared::classifier::embedding::EmbeddingTable;
use shared::classifier::{Classifier, SemanticClassifier, TermMatchClassifier};
use shared::domain::{Topic, TopicId};

const NONE: &str = "none";

struct Labelled {
    file: String,
    label: String,
    text: String,
}

fn load(corpus: &std::path::Path) -> (Vec<(String, Topic)>, Vec<Labelled>) {
    let read = |name: &str| {
        std::fs::read_to_string(corpus.join(name)).unwrap_or_else(|e| panic!("{}: {e}", corpus.join(name).display()))
    };
    let topics: Vec<Value> = serde_json::from_str(&read("topics.json")).expect("topics.json is a JSON array");
    // Created in order, so that ties go to the earlier topic, as for a user's older topic.
    let topics = topics
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let topic = Topic {
                id: TopicId::new(),
                name: t["name"].as_str().unwrap().to_owned(),
                description: t["description"].as_str().unwrap_or_default().to_owned(),
                created_at: i as i64,
            };
            (t["key"].as_str().unwrap().to_owned(), topic)
        })
        .collect();
    let documents = read("labels.tsv")
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (file, label) = line.split_once('\t').expect("file<TAB>label");
            let bytes = std::fs::read(corpus.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            Labelled {
                file: file.to_owned(),
                label: label.trim().to_owned(),
                text: String::from_utf8_lossy(&bytes).into(),
            }
        })
        .collect();
    (topics, documents)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let corpus = std::env::args().nth(1).map(PathBuf::from).unwrap_or(root.join("eval/classification/corpus"));
    let model =
        std::env::var("CLASSIFIER_MODEL_PATH").map(PathBuf::from).unwrap_or(root.join("target/model/static-128.bin"));
    let (topics, documents) = load(&corpus);
    let types_path = std::env::var("CLASSIFIER_DOCUMENT_TYPES_PATH")
        .map(PathBuf::from)
        .unwrap_or(root.join("target/model/document-types.json"));
    let mut classifiers: Vec<(String, Arc<dyn Classifier>)> =
        vec![("`term-match`, filed from 0.15".into(), Arc::new(TermMatchClassifier::default()))];
    let started = Instant::now();
    match EmbeddingTable::load(&model) {
        Ok(table) => {
            eprintln!("{} loaded in {:.1} ms", model.display(), started.elapsed().as_secs_f64() * 1000.0);
            let table = Arc::new(table);
            let by_score = SemanticClassifier::new(table.clone(), None);
            let name = format!("`minilm-static` by score alone, filed from {:.3}", by_score.min_score);
            classifiers.push((name, Arc::new(by_score)));
            let started = Instant::now();
            match DocumentTypes::load(&types_path, table.clone()).map(|types| (types.keys().len(), types)) {
                Ok((count, types)) => {
                    let took = started.elapsed().as_secs_f64() * 1000.0;
                    eprintln!("{} ({count} types) learnt in {took:.1} ms", types_path.display());
                    let name = "`minilm-static` with document types (the default)".to_owned();
                    classifiers.push((name, Arc::new(SemanticClassifier::new(table, Some(Arc::new(types))))));
                }
                Err(error) => eprintln!("no document types ({error}): run `make model`"),
            }
        }
        Err(error) => eprintln!("no semantic classifier ({error}): run `make model`"),
    }
    println!(
        "Corpus `{}`: {} documents, {} topics, {} on-topic, {} off-topic.\n",
        corpus.strip_prefix(&root).unwrap_or(&corpus).display(),
        documents.len(),
        topics.len(),
        documents.iter().filter(|d| d.label != NONE).count(),
        documents.iter().filter(|d| d.label == NONE).count()
    );
    println!("| classifier | accuracy | macro-F1 | off-topic filed | on-topic unclassified | on-topic misfiled | time per document |");
    println!("|---|---|---|---|---|---|---|");
    let mut details = String::new();
    for (name, classifier) in &classifiers {
        let (row, detail) = evaluate(name, classifier.as_ref(), &topics, &documents).await;
        println!("{row}");
        details.push_str(&detail);
    }
    println!("{details}");
}

/// One table row, and the per-class F1 and the documents it got wrong.
async fn evaluate(
    name: &str,
    classifier: &dyn Classifier,
    topics: &[(String, Topic)],
    documents: &[Labelled],
) -> (String, String) {
    let key_of: BTreeMap<TopicId, &str> = topics.iter().map(|(key, topic)| (topic.id, key.as_str())).collect();
    let user_topics: Vec<Topic> = topics.iter().map(|(_, topic)| topic.clone()).collect();
    let started = Instant::now();
    let mut rows = Vec::new();
    for document in documents {
        let verdict = classifier.classify(&document.text, &user_topics).await;
        let predicted = verdict.filed_under().map_or(NONE, |id| key_of[&id]);
        rows.push((document, predicted, verdict.best.map_or(0.0, |(_, score)| score)));
    }
    let per_document = started.elapsed() / documents.len().max(1) as u32;
    let mut classes: Vec<&str> = topics.iter().map(|(key, _)| key.as_str()).collect();
    classes.push(NONE);
    let correct = rows.iter().filter(|(d, p, ..)| d.label == *p).count();
    let f1 = |class: &str| {
        let tp = rows.iter().filter(|(d, p, ..)| *p == class && d.label == class).count() as f64;
        let fp = rows.iter().filter(|(d, p, ..)| *p == class && d.label != class).count() as f64;
        let fn_ = rows.iter().filter(|(d, p, ..)| *p != class && d.label == class).count() as f64;
        let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        let recall = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
        if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        }
    };
    let macro_f1 = classes.iter().map(|c| f1(c)).sum::<f64>() / classes.len() as f64;
    let off_topic: Vec<_> = rows.iter().filter(|(d, ..)| d.label == NONE).collect();
    let filed = off_topic.iter().filter(|(_, p, ..)| *p != NONE).count();
    let on_topic = rows.len() - off_topic.len();
    let unclassified = rows.iter().filter(|(d, p, ..)| d.label != NONE && *p == NONE).count();
    let misfiled = rows.iter().filter(|(d, p, ..)| d.label != NONE && *p != NONE && d.label != *p).count();

    let row = format!(
        "| {name} | {:.3} ({correct}/{}) | {macro_f1:.3} | {filed}/{} ({:.3}) | {unclassified}/{on_topic} | {misfiled}/{on_topic} | {} us |",
        correct as f64 / rows.len().max(1) as f64,
        rows.len(),
        off_topic.len(),
        filed as f64 / off_topic.len().max(1) as f64,
        per_document.as_micros()
    );
    let mut out = String::new();
    let per_class: Vec<String> = classes.iter().map(|c| format!("{c} {:.2}", f1(c))).collect();
    writeln!(out, "\n{name}: F1 per class: {}.", per_class.join(", ")).unwrap();
    let wrong: Vec<String> = rows
        .iter()
        .filter(|(d, p, ..)| d.label != *p)
        .map(|(d, p, score, ..)| format!("`{}` {} -> {p} ({score:.2})", d.file, d.label))
        .collect();
    writeln!(out, "\nWrong ({}): {}.", wrong.len(), wrong.join(", ")).unwrap();
    (row, out)
}
