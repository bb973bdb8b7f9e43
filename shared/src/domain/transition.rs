//! The document's states and the transitions between them:
//!
//! ```text
//!   upload-url ──> pending ──confirm──> uploaded
//!          (object arrives │ └──reject──> rejected
//!    undeclared: reserve)  └────────────────┴───────remove──> (gone)   (also from uploaded)
//! ```
//!
//! Every transition starts from exactly one status and reservation (the ones the caller read),
//! and moves the owner's counters by one [`QuotaDelta`]: the storage adapter applies both in one
//! write, guarded by that status and reservation, so a transition happens once and the counters
//! follow it exactly. What a pending document holds reserved is its declared size, or, for an
//! upload without one, its object's size from the moment the object arrives
//! ([`Transition::reserve_arrival`]): so undeclared uploads count against the quota as they
//! arrive, and the sum stored for a user never exceeds the limit by more than one object in
//! flight.
//! Classification writes on `pending` and `uploaded` documents only ([`CLASSIFIABLE`]).

use super::{Document, DocumentStatus, QuotaDelta};

/// The statuses a classification result may be written on: never on a rejected document, and
/// never one that is gone.
pub const CLASSIFIABLE: &[DocumentStatus] = &[DocumentStatus::Pending, DocumentStatus::Uploaded];

/// One state change of a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The status it starts from (the write is conditional on it).
    pub from: DocumentStatus,
    /// The status it ends in; `None` when the document is removed.
    pub to: Option<DocumentStatus>,
    /// What it does to the owner's counters.
    pub delta: QuotaDelta,
}

impl Transition {
    /// upload-url: a new pending document, its declared size reserved.
    pub fn start(document: &Document) -> Self {
        Self {
            from: DocumentStatus::Pending,
            to: Some(DocumentStatus::Pending),
            delta: QuotaDelta::upload_started(document.declared_size_bytes),
        }
    }

    /// The object of an upload without a declared size arrived with `size` bytes: they are
    /// reserved (they must fit), once. `None` when the document already holds a reservation.
    pub fn reserve_arrival(document: &Document, size: u64) -> Option<Self> {
        (document.status == DocumentStatus::Pending && document.reserved_bytes().is_none()).then_some(Self {
            from: DocumentStatus::Pending,
            to: Some(DocumentStatus::Pending),
            delta: QuotaDelta::arrived(size),
        })
    }

    /// confirm: `size` bytes are charged; what the document held reserved becomes usage.
    pub fn confirm(document: &Document, size: u64) -> Self {
        Self {
            from: DocumentStatus::Pending,
            to: Some(DocumentStatus::Uploaded),
            delta: QuotaDelta::confirmed(document.reserved_bytes(), size),
        }
    }

    /// A pending upload refused (over quota, or not its declared type): nothing charged ever,
    /// its reservation released.
    pub fn reject(document: &Document) -> Self {
        Self {
            from: DocumentStatus::Pending,
            to: Some(DocumentStatus::Rejected),
            delta: QuotaDelta::rejected(document.reserved_bytes()),
        }
    }

    /// delete or clean-up: the document goes from the status it was read in, with what it held.
    pub fn remove(document: &Document) -> Self {
        Self { from: document.status, to: None, delta: QuotaDelta::removed(document) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    fn pending(declared: Option<u64>) -> Document {
        Document::pending(UserId::parse("u").unwrap(), "a.txt".into(), "text/plain".into(), declared, 0)
    }

    #[test]
    fn each_transition_starts_from_one_status_and_moves_the_counters_once() {
        let document = pending(Some(10));
        let confirm = Transition::confirm(&document, 12);
        assert_eq!((confirm.from, confirm.to), (DocumentStatus::Pending, Some(DocumentStatus::Uploaded)));
        assert_eq!(confirm.delta, QuotaDelta { used: 12, reserved: -10, pending: -1 });
        let reject = Transition::reject(&document);
        assert_eq!((reject.from, reject.to), (DocumentStatus::Pending, Some(DocumentStatus::Rejected)));
        assert_eq!(reject.delta, QuotaDelta { used: 0, reserved: -10, pending: -1 });
        assert_eq!(Transition::start(&document).delta, QuotaDelta { used: 0, reserved: 10, pending: 1 });
    }

    #[test]
    fn an_undeclared_object_reserves_its_size_once_and_confirm_turns_it_into_usage() {
        let undeclared = pending(None);
        let reserve = Transition::reserve_arrival(&undeclared, 40).unwrap();
        assert_eq!(
            (reserve.from, reserve.to, reserve.delta.reserved),
            (DocumentStatus::Pending, Some(DocumentStatus::Pending), 40)
        );
        let reserved = Document { arrival_bytes: Some(40), ..undeclared };
        assert_eq!(Transition::reserve_arrival(&reserved, 40), None, "a duplicate event reserves nothing more");
        assert_eq!(Transition::reserve_arrival(&pending(Some(40)), 40), None, "a declared size is reserved already");
        assert_eq!(Transition::confirm(&reserved, 40).delta, QuotaDelta { used: 40, reserved: -40, pending: -1 });
        assert_eq!(Transition::reject(&reserved).delta, QuotaDelta { used: 0, reserved: -40, pending: -1 });
    }

    #[test]
    fn removal_starts_from_the_status_read() {
        let mut uploaded = pending(None);
        uploaded.status = DocumentStatus::Uploaded;
        uploaded.size_bytes = Some(7);
        let remove = Transition::remove(&uploaded);
        assert_eq!((remove.from, remove.to), (DocumentStatus::Uploaded, None));
        assert_eq!(remove.delta.used, -7);
        assert!(!CLASSIFIABLE.contains(&DocumentStatus::Rejected));
    }
}
