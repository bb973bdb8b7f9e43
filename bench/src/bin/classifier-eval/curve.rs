//! The learning curve: with `k` documents of each topic filed by hand (drawn deterministically
//! from that topic's documents, for a few seeds), the rest of the corpus scored with those
//! examples; accuracy and off-topic filing, the mean over the seeds. And the settings that
//! experiments change (`EVAL_*`).

use std::fmt::Write as _;
use std::time::Instant;

use shared::classifier::{Classifier, Combine, DocumentFeatures, Example, SemanticClassifier};
use shared::domain::Topic;

use super::{Labelled, NONE};

/// Documents filed by hand per topic.
const KS: [usize; 4] = [0, 1, 3, 5];
/// Draws of the examples per `k` (one for `k` = 0: nothing to draw).
const SEEDS: u64 = 5;

pub struct Point {
    pub k: usize,
    pub accuracy: f64,
    pub off_topic_filed: f64,
    /// Documents scored per draw (the rest of the corpus).
    pub scored: usize,
    pub micros_per_document: f64,
}

/// The service's defaults, changed by `EVAL_PHRASES` (0/1), `EVAL_CHUNK` (tokens, 0: off),
/// `EVAL_PUBLISHED` (0/1), `EVAL_CENTRE` (0/1), `EVAL_CLAIMED_MIN_SCORE`,
/// `EVAL_COMBINE` (`centroid`, `nearest1`, `nearest3`...), `EVAL_MIN_SIMILARITY`, `EVAL_MARGIN`
/// and `EVAL_MIN_SCORE`, for experiments.
pub fn settings(mut classifier: SemanticClassifier) -> SemanticClassifier {
    let var = |name: &str| std::env::var(name).ok();
    if let Some(v) = var("EVAL_PHRASES") {
        classifier.zero_shot.phrases = v == "1";
    }
    if let Some(v) = var("EVAL_CHUNK") {
        classifier.zero_shot.chunk_tokens = v.parse().expect("EVAL_CHUNK: tokens");
    }
    if let Some(v) = var("EVAL_COMBINE") {
        classifier.learning.combine = match v.strip_prefix("nearest") {
            Some(n) => Combine::Nearest(n.parse().expect("EVAL_COMBINE=nearestN")),
            None => Combine::Centroid,
        };
    }
    if let Some(v) = var("EVAL_MIN_SIMILARITY") {
        classifier.learning.min_similarity = v.parse().expect("EVAL_MIN_SIMILARITY");
    }
    if let Some(v) = var("EVAL_MARGIN") {
        classifier.learning.margin = v.parse().expect("EVAL_MARGIN");
    }
    if let Some(v) = var("EVAL_CLAIMED_MIN_SCORE") {
        classifier.claimed_min_score = v.parse().expect("EVAL_CLAIMED_MIN_SCORE");
    }
    if let Some(v) = var("EVAL_CENTRE") {
        classifier.learning.centre = v == "1";
    }
    if let Some(v) = var("EVAL_PUBLISHED") {
        classifier.zero_shot.published_only_where_claimed = v == "1";
    }
    if let Some(v) = var("EVAL_MIN_SCORE") {
        classifier.min_score = v.parse().expect("EVAL_MIN_SCORE");
    }
    classifier
}

fn fnv(seed: u64, text: &str) -> u64 {
    seed.to_le_bytes()
        .iter()
        .chain(text.as_bytes())
        .fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

pub async fn learning_curve(
    classifier: &SemanticClassifier,
    topics: &[(String, Topic)],
    documents: &[Labelled],
) -> Vec<Point> {
    let features: Vec<DocumentFeatures> = documents.iter().map(|d| classifier.features(&d.text)).collect();
    let user_topics: Vec<Topic> = topics.iter().map(|(_, t)| t.clone()).collect();
    let mut points = Vec::new();
    for k in KS {
        let (mut accuracy, mut off_topic_filed, mut scored, mut took) = (0.0, 0.0, 0, 0.0);
        let seeds = if k == 0 { 1 } else { SEEDS };
        for seed in 0..seeds {
            let mut chosen = vec![false; documents.len()];
            let mut examples = Vec::new();
            for (key, topic) in topics {
                let mut own: Vec<usize> = (0..documents.len()).filter(|&i| documents[i].label == *key).collect();
                own.sort_by_key(|&i| fnv(seed, &documents[i].file));
                for &i in own.iter().take(k) {
                    chosen[i] = true;
                    examples.push(Example { topic: topic.id, features: features[i].clone() });
                }
            }
            // `EVAL_AUTOMATIC=<score>`: documents filed from that score in a first pass count as
            // examples of their topic too (never of themselves), as confident automatic filings
            // the user let stand would.
            let mut automatic: Vec<(usize, Example)> = Vec::new();
            if let Some(least) = std::env::var("EVAL_AUTOMATIC").ok().and_then(|v| v.parse::<f64>().ok()) {
                for i in (0..documents.len()).filter(|&i| !chosen[i]) {
                    let verdict = classifier.classify(&documents[i].text, &user_topics, &examples).await;
                    if let Some((topic, _)) = verdict.best.filter(|(_, score)| verdict.filed && *score >= least) {
                        automatic.push((i, Example { topic, features: features[i].clone() }));
                    }
                }
            }
            let (mut correct, mut total, mut off, mut off_filed) = (0, 0, 0, 0);
            let started = Instant::now();
            for (i, document) in documents.iter().enumerate().filter(|(i, _)| !chosen[*i]) {
                let mut examples = examples.clone();
                examples.extend(automatic.iter().filter(|(j, _)| *j != i).map(|(_, e)| e.clone()));
                let verdict = classifier.classify(&document.text, &user_topics, &examples).await;
                let filed = verdict.filed_under();
                let predicted = filed.map_or(NONE, |id| topics.iter().find(|(_, t)| t.id == id).unwrap().0.as_str());
                total += 1;
                correct += usize::from(predicted == document.label);
                if document.label == NONE {
                    off += 1;
                    off_filed += usize::from(filed.is_some());
                }
                if std::env::var("EVAL_DEBUG").is_ok_and(|v| v.parse() == Ok(k)) && seed == 0 {
                    let sims = classifier.example_similarities(&document.text, &user_topics, &examples);
                    let mut ranked: Vec<(f64, &str)> =
                        sims.iter().zip(topics).map(|(s, (key, _))| (s.unwrap_or(-9.0), key.as_str())).collect();
                    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
                    let ok = if predicted == document.label { "ok " } else { "BAD" };
                    eprintln!(
                        "{ok} {} {} -> {predicted}: {} {:.2}, {} {:.2}",
                        document.file, document.label, ranked[0].1, ranked[0].0, ranked[1].1, ranked[1].0
                    );
                }
            }
            took += started.elapsed().as_secs_f64() * 1e6 / total.max(1) as f64;
            accuracy += correct as f64 / total.max(1) as f64;
            off_topic_filed += off_filed as f64 / off.max(1) as f64;
            scored = total;
        }
        let n = seeds as f64;
        points.push(Point {
            k,
            accuracy: accuracy / n,
            off_topic_filed: off_topic_filed / n,
            scored,
            micros_per_document: took / n,
        });
    }
    points
}

pub fn table(curve: &[Point]) -> String {
    let mut out = String::from(
        "Learning curve (`minilm-static` with document types; k documents of each topic filed by hand, \
         the rest scored; mean of 5 draws):\n\n| examples per topic | accuracy | off-topic filed | documents scored | time per document |\n|---|---|---|---|---|\n",
    );
    for p in curve {
        writeln!(
            out,
            "| {} | {:.3} | {:.3} | {} | {:.0} us |",
            p.k, p.accuracy, p.off_topic_filed, p.scored, p.micros_per_document
        )
        .unwrap();
    }
    out
}

pub fn summary(corpora: &[(String, Vec<Point>)]) -> String {
    let mut out = String::from("## Summary: accuracy / off-topic filed with k examples per topic\n\n| corpus |");
    for k in KS {
        write!(out, " k = {k} |").unwrap();
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(KS.len()));
    out.push('\n');
    for (name, curve) in corpora {
        write!(out, "| `{name}` |").unwrap();
        for p in curve {
            write!(out, " {:.3} / {:.2} |", p.accuracy, p.off_topic_filed).unwrap();
        }
        out.push('\n');
    }
    out
}
