//! The user's examples: documents they filed by hand, which teach the classifier what each of
//! their topics holds (`classifier::examples` says how they count).
//!
//! Invariants, kept by the writes in `table::examples` and checked by the integration tests:
//!
//! * an example of topic T names a document that exists, belongs to T's owner and is filed by
//!   the user under T (`Classification::filed_by_user_under`); filing it elsewhere, unfiling it,
//!   deleting it or replacing the user's choice by a reclassification removes the example, and
//!   deleting T removes all of T's examples;
//! * a topic holds at most [`EXAMPLES_PER_TOPIC`]: filing one more replaces the oldest
//!   ([`evicted`]), so what one classification reads is bounded by the number of topics, never
//!   by the number of documents;
//! * only documents with features (classified automatically since features are stored) become
//!   examples; one filed before its text was read becomes one when it is classified.

use super::{DocumentId, TopicId};

/// The most examples one topic holds (and the classifier counts).
pub const EXAMPLES_PER_TOPIC: usize = crate::classifier::EXAMPLES_PER_TOPIC;

/// One stored example: the topic, the document, its features as stored, and when it was filed
/// (Unix milliseconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicExample {
    pub topic: TopicId,
    pub document: DocumentId,
    pub features: Vec<u8>,
    pub filed_at: i64,
}

/// Which of a topic's `existing` examples (document, filed at) go when `incoming` is filed under
/// it: none while there is room, else the oldest (ties: the smaller id), so that the topic holds
/// at most `cap` with the new one. Filing a document that already is an example replaces it and
/// evicts nothing more.
pub fn evicted(existing: &[(DocumentId, i64)], incoming: DocumentId, cap: usize) -> Vec<DocumentId> {
    let mut others: Vec<(i64, DocumentId)> =
        existing.iter().filter(|(id, _)| *id != incoming).map(|(id, at)| (*at, *id)).collect();
    let keep = cap.saturating_sub(1);
    if others.len() <= keep {
        return Vec::new();
    }
    others.sort();
    others[..others.len() - keep].iter().map(|(_, id)| *id).collect()
}

/// The examples to give the classifier: most recent first, at most `EXAMPLES_PER_TOPIC` per
/// topic (a topic never holds more, but a reader does not rely on writers for its cost).
pub fn most_recent_first(mut examples: Vec<TopicExample>) -> Vec<TopicExample> {
    examples.sort_by(|a, b| b.filed_at.cmp(&a.filed_at).then(b.document.cmp(&a.document)));
    let mut counts = std::collections::HashMap::<TopicId, usize>::new();
    examples.retain(|e| {
        let count = counts.entry(e.topic).or_default();
        *count += 1;
        *count <= EXAMPLES_PER_TOPIC
    });
    examples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_examples_make_room_for_a_new_one() {
        let ids: Vec<DocumentId> = (0..4).map(|_| DocumentId::new()).collect();
        let existing: Vec<(DocumentId, i64)> = ids.iter().zip([30, 10, 20, 40]).map(|(id, at)| (*id, at)).collect();
        let new = DocumentId::new();
        assert_eq!(evicted(&existing, new, 5), Vec::<DocumentId>::new(), "room left");
        assert_eq!(evicted(&existing, new, 4), [ids[1]], "full: the oldest goes");
        assert_eq!(evicted(&existing, new, 3), [ids[1], ids[2]], "over the cap (a lower cap): down to it");
        assert_eq!(evicted(&existing, ids[3], 4), Vec::<DocumentId>::new(), "filed again: replaces itself");
    }

    #[test]
    fn the_reader_takes_the_most_recent_examples_of_each_topic() {
        let (a, b) = (TopicId::new(), TopicId::new());
        let example = |topic, filed_at| TopicExample { topic, document: DocumentId::new(), features: vec![], filed_at };
        let mut examples: Vec<TopicExample> = (0..EXAMPLES_PER_TOPIC as i64 + 3).map(|at| example(a, at)).collect();
        examples.push(example(b, 5));
        let read = most_recent_first(examples);
        assert_eq!(read.len(), EXAMPLES_PER_TOPIC + 1);
        assert_eq!(read[0].filed_at, EXAMPLES_PER_TOPIC as i64 + 2);
        assert!(read.iter().filter(|e| e.topic == a).all(|e| e.filed_at >= 3), "the oldest are beyond the cap");
    }
}
