//! Topics, in the same per-user partition:
//!
//! * `TOPIC#<uuid>`: name, description, `topic_state` (`domain::TopicState`);
//! * `TOPICNAME#<name key>`: the guard that keeps names unique per user (`domain::topics::name_key`),
//!   written in the same transaction as the topic and naming it (`topic_id`);
//! * `topic_count` on the `QUOTA` item: the user's topics, counted up and down in the same
//!   transactions, so the cap (`QuotaPolicy::max_topics`) holds under concurrent creations.
//!
//! A topic's item also holds the user's examples of it (`examples`), removed with it.
//!
//! A classified document carries `topic_pk` (`USER#<sub>#TOPIC#<uuid>`), the key of the sparse
//! `DocumentsByTopic` index. Deleting a topic is a sequence of the steps here, run by
//! `operations::topics::delete_topic`.

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{Delete, Put, ReturnValue, TransactWriteItem, Update};

use super::documents::documents_page;
use super::examples::examples_of;
use super::expression::WithExpr;
use super::paging::{query_all, query_page, Page};
use super::{
    doc_sk, get_n, get_s, key, n, s, unless_condition_failed, user_pk, DocumentTable, Expr, Item, TableError,
    DOC_PREFIX, QUOTA_SK,
};
use crate::domain::examples::TopicExample;
use crate::domain::topics::name_key;
use crate::domain::{ClassificationStatus, Document, DocumentId, Topic, TopicId, TopicState, UserId};
use crate::invocation::Invocation;

const TOPIC_PREFIX: &str = "TOPIC#";
const TOPIC_NAME_PREFIX: &str = "TOPICNAME#";
pub const TOPIC_INDEX: &str = "DocumentsByTopic";

pub(super) fn topic_sk(id: TopicId) -> String {
    format!("{TOPIC_PREFIX}{id}")
}

fn topic_name_sk(name: &str) -> String {
    format!("{TOPIC_NAME_PREFIX}{}", name_key(name))
}

/// The `DocumentsByTopic` partition of `topic`'s documents.
pub(super) fn topic_pk(user: &UserId, topic: TopicId) -> String {
    format!("{}#{TOPIC_PREFIX}{topic}", user_pk(user))
}

/// What creating a topic found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewTopic {
    Created(Topic),
    /// The user has a topic of that name, ignoring case; nothing written.
    NameTaken,
    /// The user has `max` topics already; nothing written.
    TooMany {
        max: u64,
    },
}

impl NewTopic {
    /// The topic, when it was created.
    pub fn created(self) -> Option<Topic> {
        match self {
            Self::Created(topic) => Some(topic),
            Self::NameTaken | Self::TooMany { .. } => None,
        }
    }
}

fn parse_topic(item: &Item) -> Option<Topic> {
    Some(Topic {
        id: TopicId::parse(get_s(item, "sk")?.strip_prefix(TOPIC_PREFIX)?).ok()?,
        name: get_s(item, "name")?.to_owned(),
        description: get_s(item, "description").unwrap_or_default().to_owned(),
        created_at: get_n(item, "created_at").unwrap_or_default(),
    })
}

impl DocumentTable {
    /// Creates a topic, counted against the user's cap (`topic_count` on the `QUOTA` item), in
    /// one transaction with its name guard.
    pub async fn create_topic(
        &self,
        invocation: &Invocation,
        user: &UserId,
        name: &str,
        description: &str,
        now: i64,
    ) -> Result<NewTopic, TableError> {
        let topic =
            Topic { id: TopicId::new(), name: name.to_owned(), description: description.to_owned(), created_at: now };
        let mut item = key(user_pk(user), topic_sk(topic.id));
        item.extend([
            ("name".to_owned(), s(name)),
            ("description".to_owned(), s(description)),
            ("created_at".to_owned(), n(now)),
            ("topic_state".to_owned(), s(TopicState::Active.as_str())),
        ]);
        let mut guard = key(user_pk(user), topic_name_sk(name));
        guard.insert("topic_id".to_owned(), s(topic.id.to_string()));
        let put = |item: Item| -> Result<TransactWriteItem, TableError> {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .with(Expr::condition("attribute_not_exists(pk)"))
                .build()
                .map_err(|e| TableError::new("building the topic put", e))?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), QUOTA_SK.to_owned())))
            .with(
                Expr::condition("attribute_not_exists(topic_count) OR topic_count < :max_topics")
                    .and(Expr::update("SET topic_count = if_not_exists(topic_count, :zero) + :one"))
                    .value(":max_topics", n(self.policy.max_topics))
                    .value(":zero", n(0))
                    .value(":one", n(1)),
            )
            .build()
            .map_err(|e| TableError::new("building the topic count", e))?;
        let count = TransactWriteItem::builder().update(count).build();
        let purpose = format!("create topic {} {}", user.as_str(), topic.id);
        Ok(match self.transact(invocation, &purpose, vec![put(item)?, put(guard)?, count]).await? {
            None => NewTopic::Created(topic),
            // The id is new: an existing topic item is this very write from an earlier attempt.
            Some(failed) if failed.failed(0) => NewTopic::Created(topic),
            Some(failed) if failed.failed(1) => NewTopic::NameTaken,
            Some(_) => NewTopic::TooMany { max: self.policy.max_topics },
        })
    }

    /// The user's active topics, oldest first (at most the cap: classification reads them all).
    pub async fn list_topics(&self, user: &UserId) -> Result<Vec<Topic>, TableError> {
        Ok(self.list_topics_with_examples(user).await?.0)
    }

    /// The user's active topics, oldest first, and the examples they hold (`examples`): what
    /// one classification reads, at most the cap of topics times the cap of examples.
    pub async fn list_topics_with_examples(
        &self,
        user: &UserId,
    ) -> Result<(Vec<Topic>, Vec<TopicExample>), TableError> {
        let query = self.topics_query(user);
        let mut topics = Vec::new();
        let mut examples = Vec::new();
        for item in query_all(query, "listing topics").await? {
            let Some(topic) = parse_topic(&item) else { continue };
            examples.extend(examples_of(topic.id, &item));
            topics.push(topic);
        }
        topics.sort_by_key(|t| t.id);
        Ok((topics, examples))
    }

    /// A page of the user's active topics, oldest first, `limit` at most, after `after`.
    pub async fn list_topics_page(
        &self,
        user: &UserId,
        limit: u32,
        after: Option<TopicId>,
    ) -> Result<Page<Topic, TopicId>, TableError> {
        // Without the examples: a page of topics for the API reads only what it shows.
        let query = self
            .topics_query(user)
            .limit(limit as i32)
            .projection_expression("pk, sk, #topic_name, description, created_at")
            .expression_attribute_names("#topic_name", "name");
        let start = after.map(|after| key(user_pk(user), topic_sk(after)));
        let page = query_page(query, start, "listing topics").await?;
        let next = page
            .next
            .and_then(|k| get_s(&k, "sk")?.strip_prefix(TOPIC_PREFIX).map(TopicId::parse))
            .and_then(Result::ok);
        Ok(Page { items: page.items.iter().filter_map(parse_topic).collect(), next })
    }

    fn topics_query(&self, user: &UserId) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :topic)")
            .with(
                Expr::condition("topic_state = :active")
                    .value(":pk", s(user_pk(user)))
                    .value(":topic", s(TOPIC_PREFIX))
                    .value(":active", s(TopicState::Active.as_str())),
            )
            .consistent_read(true)
    }

    /// Marks a topic `deleting`, so classification can no longer choose it; returns it, or
    /// `None` when there is no such topic.
    pub async fn mark_topic_deleting(&self, user: &UserId, id: TopicId) -> Result<Option<Topic>, TableError> {
        let marked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), topic_sk(id))))
            .with(
                Expr::condition("attribute_exists(pk)")
                    .and(Expr::update("SET topic_state = :deleting"))
                    .value(":deleting", s(TopicState::Deleting.as_str())),
            )
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let Some(marked) = unless_condition_failed(marked, "marking a topic for deletion")? else {
            return Ok(None);
        };
        let topic = marked.attributes().and_then(parse_topic);
        topic.map(Some).ok_or_else(|| TableError::new("reading the marked topic", "missing attributes"))
    }

    /// Moves every document filed under `topic` back to unclassified. Found with a strongly
    /// consistent read, so a classification committed before the topic was marked is seen; a
    /// document reclassified or deleted meanwhile is left alone.
    pub async fn unfile_documents_of(&self, user: &UserId, topic: TopicId) -> Result<(), TableError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :doc)")
            .with(
                Expr::condition("topic_id = :topic")
                    .value(":pk", s(user_pk(user)))
                    .value(":doc", s(DOC_PREFIX))
                    .value(":topic", s(topic.to_string())),
            )
            .projection_expression("sk")
            .consistent_read(true);
        for item in query_all(query, "finding the documents of a topic").await? {
            let Some(sk) = get_s(&item, "sk") else { continue };
            self.unfile_document(user, sk.to_owned(), topic).await?;
        }
        Ok(())
    }

    /// Moves the document `sk` back to unclassified if it is still filed under `topic`.
    pub(super) async fn unfile_document(&self, user: &UserId, sk: String, topic: TopicId) -> Result<(), TableError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), sk)))
            .with(
                Expr::condition("topic_id = :topic")
                    .and(Expr::update("SET classification_status = :unclassified REMOVE topic_id, topic_pk"))
                    .value(":topic", s(topic.to_string()))
                    .value(":unclassified", s(ClassificationStatus::Unclassified.as_str())),
            )
            .send()
            .await;
        // A failed condition means reclassified or deleted meanwhile: nothing to move.
        unless_condition_failed(result, "moving a document to unclassified")?;
        Ok(())
    }

    /// Removes a topic marked for deletion with its name guard, the guard only if it still names
    /// this topic (a late duplicate delete must not free the name of a newer topic).
    pub async fn remove_topic(&self, invocation: &Invocation, user: &UserId, topic: &Topic) -> Result<(), TableError> {
        let delete = |sk: String, condition: Option<Expr>| -> Result<TransactWriteItem, TableError> {
            let mut delete = Delete::builder().table_name(&self.table).set_key(Some(key(user_pk(user), sk)));
            if let Some(condition) = condition {
                delete = delete.with(condition);
            }
            let delete = delete.build().map_err(|e| TableError::new("building the topic delete", e))?;
            Ok(TransactWriteItem::builder().delete(delete).build())
        };
        let id = topic.id;
        let guard_is_ours =
            Expr::condition("attribute_not_exists(pk) OR topic_id = :topic").value(":topic", s(id.to_string()));
        // The topic goes only once (a late duplicate finds it gone and counts nothing down).
        let topic_item = || delete(topic_sk(id), Some(Expr::condition("attribute_exists(pk)")));
        let count_down = || -> Result<TransactWriteItem, TableError> {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(user_pk(user), QUOTA_SK.to_owned())))
                .with(
                    Expr::condition("topic_count >= :one")
                        .and(Expr::update("SET topic_count = topic_count - :one"))
                        .value(":one", n(1)),
                )
                .build()
                .map_err(|e| TableError::new("building the topic count", e))?;
            Ok(TransactWriteItem::builder().update(update).build())
        };
        let guard = delete(topic_name_sk(&topic.name), Some(guard_is_ours.clone()))?;
        let items = vec![topic_item()?, guard, count_down()?];
        let Some(failed) = self.transact(invocation, &format!("delete topic {id}"), items).await? else {
            return Ok(());
        };
        if failed.failed(0) {
            return Ok(()); // already removed by an earlier attempt
        }
        // The name already belongs to a newer topic (leave its guard alone), or the topic was
        // created before topics were counted (count nothing down): remove what is ours.
        let mut items = vec![topic_item()?];
        if !failed.failed(1) {
            items.push(delete(topic_name_sk(&topic.name), Some(guard_is_ours))?);
        }
        if !failed.failed(2) {
            items.push(count_down()?);
        }
        self.transact(invocation, &format!("delete topic {id} in part"), items).await?;
        Ok(())
    }

    /// A page of the user's documents filed under `topic`, newest first (the index is
    /// eventually consistent: a document classified a moment ago may show a moment later).
    pub async fn list_documents_of_topic(
        &self,
        user: &UserId,
        topic: TopicId,
        limit: u32,
        after: Option<DocumentId>,
    ) -> Result<Page<Document>, TableError> {
        let start = after.map(|after| {
            let mut start = key(user_pk(user), doc_sk(after));
            start.insert("topic_pk".to_owned(), s(topic_pk(user, topic)));
            start
        });
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(TOPIC_INDEX)
            .key_condition_expression("topic_pk = :topic_pk")
            .expression_attribute_values(":topic_pk", s(topic_pk(user, topic)))
            .scan_index_forward(false)
            .limit(limit as i32);
        Ok(documents_page(query_page(query, start, "listing the documents of a topic").await?))
    }
}
