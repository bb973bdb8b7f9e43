//! The one way this adapter pages through a Query: a page at a time for the caller's cursor,
//! or every page for the few reads that need all items (a user's topics, a topic's documents).

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;

use super::{Item, TableError};
use crate::domain::DocumentId;

/// A page of items, and where the next page starts when more may follow.
#[derive(Debug)]
pub struct Page<T, Cursor = DocumentId> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

/// One page of `query` from `start`: its items and the key the next page starts after.
pub(super) async fn query_page(
    query: QueryFluentBuilder,
    start: Option<Item>,
    context: &'static str,
) -> Result<Page<Item, Item>, TableError> {
    let output = query.set_exclusive_start_key(start).send().await.map_err(|e| TableError::new(context, e))?;
    Ok(Page { items: output.items().to_vec(), next: output.last_evaluated_key().cloned() })
}

/// Every item `query` finds, page after page.
pub(super) async fn query_all(query: QueryFluentBuilder, context: &'static str) -> Result<Vec<Item>, TableError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = query_page(query.clone(), start, context).await?;
        items.extend(page.items);
        match page.next {
            Some(next) => start = Some(next),
            None => return Ok(items),
        }
    }
}
