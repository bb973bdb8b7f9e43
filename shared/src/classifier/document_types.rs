//! What kind of document a text is (an invoice, a payslip, a recipe, a restaurant review, a job
//! advert...), learnt from a bank of example documents (`model/document-types/`, seven
//! per type, about forty types), and which of them a user's topic stands for.
//!
//! Why: comparing a document with a one-line topic description tells what it is *about*, not
//! what it *is*. A job offer is about pay, a restaurant review about food, a bank statement
//! about money owed; each scored like a real payslip, recipe or invoice, and no threshold told
//! them apart (the study in `eval/classification/REPORT.md`). A document's type shows in the
//! words its kind of document uses ("gross pay", "tax code"; "preheat", "tbsp"; "ambience",
//! "our waiter"), which the examples of each type teach.
//!
//! - A text's type evidence is the cosine of its TF-IDF vector (stemmed terms, as term matching
//!   splits them; IDF over the examples) with each type's centroid (the mean of its examples'
//!   unit vectors).
//! - A topic claims the types whose names come closest to its own name or description in the
//!   embedding ("Invoices", "Bills and invoices to pay" → the invoice type), when close enough.
//!
//! The model is learnt from the examples' text in the process, not generated at build time, so
//! nothing can drift from this code: about 25-35 ms of one core (release build, here), on a thread
//! of its own, so that start-up does not wait for it (classify starts in 3.6 ms with or without
//! the bank: `startup` in the bench). Reading and checking the bank (about 1 ms) happens in
//! [`DocumentTypes::load`], at start-up: a missing, truncated or malformed bank stops start-up
//! with an error naming the file, and learning, which cannot fail, is all the thread does.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;

use rust_stemmers::{Algorithm, Stemmer};
use serde::Deserialize;

use super::embedding::EmbeddingTable;
use super::term_match::{frequencies, words};
use crate::domain::Topic;

/// A topic claims a type when one of its texts is at least this close to one of the type's
/// names (cosine in the static embedding): "Salary" claims payslips (0.89), "Travel bookings"
/// does not claim travel writing (0.58).
const CLAIM: f64 = 0.70;
/// ... and the type is within this of the topic's closest type, so that a topic claims the
/// type it names, not every type near it.
const CLAIM_SPREAD: f64 = 0.05;

#[derive(Debug, thiserror::Error)]
pub enum DocumentTypesError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not a document-type bank: {problem}")]
    Invalid { path: String, problem: String },
}

/// The bank as `make model` bundles it: every type's names and example texts.
#[derive(Deserialize)]
struct Bank {
    types: Vec<BankType>,
}

#[derive(Deserialize)]
struct BankType {
    key: String,
    names: Vec<String>,
    examples: Vec<String>,
}

/// The bank, learnt from once per process. Learning takes about 25-35 ms of one core (the
/// examples' 70,000 words stemmed and weighed), so it runs on a thread of its own from start-up:
/// a cold start does not wait for it, and the first document waits only for what is left.
pub struct DocumentTypes {
    learnt: OnceLock<Learnt>,
    learning: Mutex<Option<JoinHandle<Learnt>>>,
}

struct Learnt {
    keys: Vec<String>,
    /// Each type's names, embedded, as unit vectors.
    names: Vec<Vec<Vec<f32>>>,
    /// The examples' stemmed terms, numbered in order of first use.
    vocabulary: HashMap<String, u32>,
    /// By term: its IDF over the examples.
    idf: Vec<f64>,
    /// By term: its weight in each type's centroid that has it.
    centroids: Vec<Vec<(u16, f64)>>,
}

/// A text's terms and how often each occurs, sorted by term: sums over them come out the same
/// on every run (a `HashMap`'s order would change their last bits, and maybe a tie).
type Frequencies = Vec<(u32, f64)>;

impl std::fmt::Debug for DocumentTypes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentTypes").field("learnt", &self.learnt.get().is_some()).finish_non_exhaustive()
    }
}

impl DocumentTypes {
    /// Reads and checks the bundled bank at `path`, then starts learning from it; the table
    /// embeds the types' names. A bank that is missing, truncated or malformed is a broken
    /// deployment, like a missing layer: an `Err` here, so the function does not start (the
    /// caller names the variable), rather than classifications that fail, or file by score
    /// alone, later. Only learning (25-35 ms) runs off the cold start, on its own thread.
    pub fn load(path: &Path, table: Arc<EmbeddingTable>) -> Result<Self, DocumentTypesError> {
        let bank = read(path)?;
        let learning = std::thread::Builder::new()
            .name("document-types".into())
            .spawn(move || Learnt::learn(bank, &table))
            .map_err(|source| DocumentTypesError::Read { path: path.display().to_string(), source })?;
        Ok(Self { learnt: OnceLock::new(), learning: Mutex::new(Some(learning)) })
    }

    /// The learnt model, waiting for the learning thread the first time.
    fn learnt(&self) -> &Learnt {
        self.learnt.get_or_init(|| {
            let learning = self.learning.lock().unwrap_or_else(PoisonError::into_inner).take();
            match learning.expect("joined only once").join() {
                Ok(learnt) => learnt,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// The types' keys, in the order of `evidence` and `claims`.
    pub fn keys(&self) -> &[String] {
        &self.learnt().keys
    }

    /// How much `text` reads like each type: cosine in 0..=1 with the type's centroid.
    pub fn evidence(&self, text: &str) -> Vec<f64> {
        self.evidence_of(&frequencies(text))
    }

    /// `evidence` of a text's term `frequency` (`term_match::frequencies`).
    pub(super) fn evidence_of(&self, frequency: &HashMap<String, f64>) -> Vec<f64> {
        self.learnt().evidence(frequency)
    }

    /// The types `topic` stands for (indices into `keys`); none for a topic that names no known
    /// kind of document ("Project Atlas", "Car"), which is then decided on its meaning alone.
    pub fn claims(&self, table: &EmbeddingTable, topic: &Topic) -> Vec<usize> {
        self.learnt().claims(table, topic)
    }
}

/// The bundled bank, checked: an empty, truncated or malformed file is `Invalid`, naming it.
/// Nothing is allocated from a claim in the file: JSON has no length header, and `fs::read`
/// sizes its buffer from the file's real length.
fn read(path: &Path) -> Result<Bank, DocumentTypesError> {
    let invalid = |problem: String| DocumentTypesError::Invalid { path: path.display().to_string(), problem };
    match std::fs::metadata(path) {
        Ok(metadata) if !metadata.is_file() => return Err(invalid("not a file".into())),
        _ => {}
    }
    let bytes =
        std::fs::read(path).map_err(|source| DocumentTypesError::Read { path: path.display().to_string(), source })?;
    let bank: Bank = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    if bank.types.is_empty() || bank.types.len() > usize::from(u16::MAX) {
        return Err(invalid(format!("{} types", bank.types.len())));
    }
    if let Some(empty) = bank.types.iter().find(|t| t.names.is_empty() || t.examples.is_empty()) {
        return Err(invalid(format!("type {:?} has no names or no examples", empty.key)));
    }
    Ok(bank)
}

impl Learnt {
    fn learn(bank: Bank, table: &EmbeddingTable) -> Self {
        let stemmer = Stemmer::create(Algorithm::English);
        // The examples' 70,000 words are 12,000 distinct ones: stemming each once makes
        // learning 4 times faster.
        let mut stems: HashMap<String, u32> = HashMap::new();
        let mut vocabulary: HashMap<String, u32> = HashMap::new();
        let mut examples: Vec<(u16, Frequencies)> = Vec::new();
        for (index, t) in bank.types.iter().enumerate() {
            for text in &t.examples {
                let mut frequency: HashMap<u32, f64> = HashMap::new();
                for word in words(text) {
                    let term = match stems.get(&word) {
                        Some(term) => *term,
                        None => {
                            let next = vocabulary.len() as u32;
                            let term = *vocabulary.entry(stemmer.stem(&word).into_owned()).or_insert(next);
                            *stems.entry(word).or_insert(term)
                        }
                    };
                    *frequency.entry(term).or_default() += 1.0;
                }
                examples.push((index as u16, sorted(frequency)));
            }
        }
        drop(stems);
        let mut document_frequency = vec![0.0; vocabulary.len()];
        for (_, frequency) in &examples {
            frequency.iter().for_each(|(term, _)| document_frequency[*term as usize] += 1.0);
        }
        // Smoothed IDF, as scikit-learn's: ln((n + 1) / (df + 1)) + 1.
        let n = examples.len() as f64;
        let idf: Vec<f64> = document_frequency.iter().map(|df| ((n + 1.0) / (df + 1.0)).ln() + 1.0).collect();
        let mut sums: Vec<HashMap<u32, f64>> = vec![HashMap::new(); bank.types.len()];
        for (index, frequency) in &examples {
            for (term, weight) in unit_tf_idf(&idf, frequency) {
                *sums[usize::from(*index)].entry(term).or_default() += weight;
            }
        }
        let mut centroids: Vec<Vec<(u16, f64)>> = vec![Vec::new(); vocabulary.len()];
        for (index, sum) in sums.into_iter().enumerate() {
            let sum = sorted(sum);
            let norm = sum.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
            sum.into_iter().for_each(|(term, w)| centroids[term as usize].push((index as u16, w / norm)));
        }
        let names = bank.types.iter().map(|t| t.names.iter().map(|name| unit(table.embed(name))).collect()).collect();
        let keys = bank.types.into_iter().map(|t| t.key).collect();
        Self { keys, names, vocabulary, idf, centroids }
    }

    fn evidence(&self, frequency: &HashMap<String, f64>) -> Vec<f64> {
        let known = frequency.iter().filter_map(|(term, tf)| self.vocabulary.get(term).map(|id| (*id, *tf)));
        let frequency: HashMap<u32, f64> = known.collect();
        let mut evidence = vec![0.0; self.keys.len()];
        for (term, weight) in unit_tf_idf(&self.idf, &sorted(frequency)) {
            for (index, centroid) in &self.centroids[term as usize] {
                evidence[usize::from(*index)] += weight * centroid;
            }
        }
        evidence
    }

    fn claims(&self, table: &EmbeddingTable, topic: &Topic) -> Vec<usize> {
        let texts: Vec<Vec<f32>> = super::topic_texts(topic).iter().map(|t| unit(table.embed(t))).collect();
        let affinity: Vec<f64> = self
            .names
            .iter()
            .map(|names| {
                let cosines = names.iter().flat_map(|name| texts.iter().map(move |t| dot(t, name)));
                f64::from(cosines.fold(f32::MIN, f32::max))
            })
            .collect();
        let closest = affinity.iter().copied().fold(f64::MIN, f64::max);
        let floor = CLAIM.max(closest - CLAIM_SPREAD);
        (0..affinity.len()).filter(|&i| affinity[i] >= floor).collect()
    }
}

fn unit(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = dot(&vector, &vector).sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn sorted(frequency: HashMap<u32, f64>) -> Frequencies {
    let mut frequency: Frequencies = frequency.into_iter().collect();
    frequency.sort_unstable_by_key(|(term, _)| *term);
    frequency
}

/// Sublinear TF-IDF (`(1 + ln tf) x idf`) of the terms, as a unit vector.
fn unit_tf_idf(idf: &[f64], frequency: &Frequencies) -> Vec<(u32, f64)> {
    let weighted: Vec<(u32, f64)> =
        frequency.iter().map(|(term, tf)| (*term, (1.0 + tf.ln()) * idf[*term as usize])).collect();
    let norm = weighted.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
    if norm == 0.0 {
        return Vec::new();
    }
    weighted.into_iter().map(|(term, w)| (term, w / norm)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BANK: &str = r#"{"types": [{"key": "recipe", "names": ["Recipes"], "examples": ["Preheat the oven."]}]}"#;

    #[test]
    fn a_truncated_empty_or_malformed_bank_stops_loading_with_its_name() {
        let table = Arc::new(EmbeddingTable::tiny());
        let dir = std::env::temp_dir().join(format!("document-types-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let whole = dir.join("bank.json");
        std::fs::write(&whole, BANK).unwrap();
        assert_eq!(DocumentTypes::load(&whole, table.clone()).unwrap().keys(), ["recipe"]);

        let broken = [
            ("empty.json", String::new()),
            ("truncated.json", BANK[..BANK.len() / 2].to_owned()),
            ("garbage.json", "PK\u{3}\u{4}\u{0}garbage".to_owned()),
            ("no-types.json", r#"{"types": []}"#.to_owned()),
            ("no-names.json", BANK.replace(r#"["Recipes"]"#, "[]")),
        ];
        for (name, contents) in broken {
            let path = dir.join(name);
            std::fs::write(&path, contents).unwrap();
            let error = DocumentTypes::load(&path, table.clone()).unwrap_err();
            assert!(matches!(error, DocumentTypesError::Invalid { .. }), "{name}: {error}");
            assert!(error.to_string().contains(&path.display().to_string()), "{error}");
        }
        let missing = dir.join("missing.json");
        let error = DocumentTypes::load(&missing, table.clone()).unwrap_err();
        assert!(matches!(error, DocumentTypesError::Read { .. }) && error.to_string().contains("missing.json"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn every_truncation_of_a_bank_is_an_error() {
        let dir = std::env::temp_dir().join(format!("document-types-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bank.json");
        for len in 0..BANK.len() {
            std::fs::write(&path, &BANK[..len]).unwrap();
            assert!(read(&path).is_err(), "{len} bytes");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
