//! Learning from the user's filing: documents the user filed under a topic are examples of it.
//!
//! - An example is a topic and the features of one document (`features`: 140 bytes, 188
//!   characters of base64), which every verdict carries. The service passes one user's own
//!   examples only, never another user's, most recent first.
//! - The cap: at most `EXAMPLES_PER_TOPIC` (20) examples of each topic count, the first given;
//!   so one classification costs at most 20 x 128-dimension comparisons per topic however many
//!   documents the user has (about 0.1 ms for 8 topics).
//! - How they combine (`Learning::default()`, chosen by `make eval`'s learning curves, see the
//!   README): what the user's examples have in common (the mean of the topics' centroids, when
//!   two topics or more have examples) is taken out of every vector, then a topic's similarity
//!   is the mean cosine of the document with its 3 nearest examples (`Combine::Nearest(3)`;
//!   with fewer, all of them). A topic may take a document by its examples from a similarity of
//!   0.60, when no other topic's examples come within 0.20 of it; the similarity also ranks the
//!   topic beside its score without examples (the higher counts). A topic whose claimed kinds
//!   exclude a published document (news, fiction, adverts) still cannot take it.
//! - With 0 examples (or none of this model: features of another table or format version are
//!   ignored), a topic is scored and filed as without learning.
//! - Only documents the user filed or moved by hand should be passed: counting confident
//!   automatic filings as examples too (`make eval` with `EVAL_AUTOMATIC=<score>`) gained
//!   nothing on any corpus and cost a little (heldout 0.929 -> 0.881 with none by hand and
//!   filings from 0.5 counted; household 0.464 -> 0.429 from 0.6).

use super::features::{DocumentFeatures, Example};
use crate::domain::Topic;

/// The examples of one topic that count: the most recent this many.
pub const EXAMPLES_PER_TOPIC: usize = 20;

/// How a topic's examples make one similarity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Combine {
    /// The cosine with the mean of the examples' vectors.
    Centroid,
    /// The mean of the cosines with the nearest `n` examples (1: the nearest).
    Nearest(usize),
}

/// How examples count: see the module's comment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Learning {
    pub combine: Combine,
    /// The similarity from which a topic may take a document by its examples.
    pub min_similarity: f64,
    /// ... when it is at least this far above any other topic's similarity.
    pub margin: f64,
    /// Whether what the user's examples have in common is taken out before comparing.
    pub centre: bool,
}

impl Default for Learning {
    fn default() -> Self {
        Self { combine: Combine::Nearest(3), min_similarity: 0.60, margin: 0.20, centre: true }
    }
}

/// Each topic's similarity to `document` by its examples, in the order of `topics`; `None` for
/// a topic with no usable example.
pub(super) fn similarities(
    document: &DocumentFeatures,
    topics: &[Topic],
    examples: &[Example],
    learning: &Learning,
) -> Vec<Option<f64>> {
    let dimensions = document.vector().len();
    let own: Vec<Vec<Vec<f64>>> = topics
        .iter()
        .map(|topic| {
            let own = examples.iter().filter(|e| e.topic == topic.id && e.features.model() == document.model());
            let vectors = own.map(|e| e.features.vector()).filter(|v| v.len() == dimensions);
            vectors.take(EXAMPLES_PER_TOPIC).map(|v| v.into_iter().map(f64::from).collect()).collect()
        })
        .collect();
    // What the user's documents have in common (the mean of every topic's centroid, when at
    // least two topics have examples) is taken out of every vector compared: a letter from the
    // vet and one from the tax office read alike until it is.
    let centroids: Vec<Vec<f64>> = own.iter().filter(|v| !v.is_empty()).map(|v| mean(v, dimensions)).collect();
    let common =
        if learning.centre && centroids.len() >= 2 { mean(&centroids, dimensions) } else { vec![0.0; dimensions] };
    let centre = |v: &[f64]| -> Vec<f64> { v.iter().zip(&common).map(|(x, c)| x - c).collect() };
    let document = centre(&document.vector().into_iter().map(f64::from).collect::<Vec<_>>());
    own.iter()
        .map(|vectors| {
            if vectors.is_empty() {
                return None;
            }
            Some(match learning.combine {
                Combine::Centroid => cosine(&document, &centre(&mean(vectors, dimensions))),
                Combine::Nearest(n) => {
                    let mut sorted: Vec<f64> = vectors.iter().map(|v| cosine(&document, &centre(v))).collect();
                    sorted.sort_by(|a, b| b.total_cmp(a));
                    let nearest = &sorted[..n.clamp(1, sorted.len())];
                    nearest.iter().sum::<f64>() / nearest.len() as f64
                }
            })
        })
        .collect()
}

fn mean(vectors: &[Vec<f64>], dimensions: usize) -> Vec<f64> {
    let mut sum = vec![0f64; dimensions];
    for vector in vectors {
        sum.iter_mut().zip(vector).for_each(|(s, x)| *s += x);
    }
    sum.iter().map(|s| s / vectors.len().max(1) as f64).collect()
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norms = a.iter().map(|x| x * x).sum::<f64>().sqrt() * b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norms > 0.0 {
        dot / norms
    } else {
        0.0
    }
}

/// Whether each topic may take the document by its examples: its similarity is at least
/// `min_similarity`, and at least `margin` above every other topic's.
pub(super) fn taken_by_examples(similarities: &[Option<f64>], learning: &Learning) -> Vec<bool> {
    similarities
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let Some(s) = *s else { return false };
            let others = similarities.iter().enumerate().filter(|(j, _)| *j != i).filter_map(|(_, o)| *o);
            s >= learning.min_similarity && others.fold(f64::MIN, f64::max) + learning.margin <= s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TopicId;

    fn topic(created_at: i64) -> Topic {
        Topic { id: TopicId::new(), name: format!("t{created_at}"), description: String::new(), created_at }
    }

    fn example(topic: &Topic, vector: &[f32]) -> Example {
        Example { topic: topic.id, features: DocumentFeatures::new(1, vector) }
    }

    #[test]
    fn a_topic_is_as_close_as_its_examples_centroid_or_nearest_ones() {
        let (a, b, c) = (topic(0), topic(1), topic(2));
        let examples = [example(&a, &[1.0, 0.0]), example(&a, &[0.0, 1.0]), example(&b, &[-1.0, 0.0])];
        let document = DocumentFeatures::new(1, &[1.0, 0.0]);
        let topics = [a, b, c];
        let learning = |combine| Learning { combine, centre: false, ..Learning::default() };
        let centroid = similarities(&document, &topics, &examples, &learning(Combine::Centroid));
        assert!((centroid[0].unwrap() - std::f64::consts::FRAC_1_SQRT_2).abs() < 0.01, "{centroid:?}");
        assert!((centroid[1].unwrap() + 1.0).abs() < 0.01);
        assert_eq!(centroid[2], None, "no examples");
        let nearest = similarities(&document, &topics, &examples, &learning(Combine::Nearest(1)));
        assert!((nearest[0].unwrap() - 1.0).abs() < 0.01);
        let two = similarities(&document, &topics, &examples, &learning(Combine::Nearest(2)));
        assert!((two[0].unwrap() - 0.5).abs() < 0.01);
    }

    #[test]
    fn examples_of_another_model_and_beyond_the_cap_are_ignored() {
        let a = topic(0);
        let document = DocumentFeatures::new(1, &[1.0, 0.0]);
        let other_model = Example { topic: a.id, features: DocumentFeatures::new(2, &[1.0, 0.0]) };
        let learning = Learning { combine: Combine::Nearest(1), centre: false, ..Learning::default() };
        assert_eq!(similarities(&document, std::slice::from_ref(&a), &[other_model], &learning), [None]);
        let mut examples: Vec<Example> = (0..EXAMPLES_PER_TOPIC).map(|_| example(&a, &[0.0, 1.0])).collect();
        examples.push(example(&a, &[1.0, 0.0]));
        let nearest = similarities(&document, &[a], &examples, &learning);
        assert!(nearest[0].unwrap().abs() < 0.01, "the oldest example is beyond the cap: {nearest:?}");
    }

    #[test]
    fn examples_let_a_topic_take_a_document_from_a_similarity_and_a_margin() {
        let learning = Learning { combine: Combine::Centroid, min_similarity: 0.6, margin: 0.1, centre: false };
        assert_eq!(taken_by_examples(&[Some(0.8), Some(0.5), None], &learning), [true, false, false]);
        assert_eq!(taken_by_examples(&[Some(0.8), Some(0.75)], &learning), [false, false], "too close");
        assert_eq!(taken_by_examples(&[Some(0.55), None], &learning), [false, false], "too far");
    }
}
