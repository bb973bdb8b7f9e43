//! Learning from the user's filing, through the real stack: documents filed by hand become
//! examples of their topic (stored on the topic's item), later uploads are filed by them, per
//! user only; examples follow their documents (moved, unfiled, deleted) and topics (deleted),
//! and a topic holds at most `EXAMPLES_PER_TOPIC`.

use std::collections::BTreeSet;
use std::sync::Arc;

use reqwest::Method;
use serde_json::json;
use shared::classifier::document_types::DocumentTypes;
use shared::classifier::embedding::EmbeddingTable;
use shared::classifier::{Classifier, Example, SemanticClassifier};
use shared::domain::{Topic, TopicId, UserId};

use crate::common::{app, env, new_user, Api};

/// A vet's messages about one cat: nothing in a topic named "Box 7" for "papers to sort later"
/// says where they go (nor do the user's other topics), so only the user's filing can teach it.
const VET: [&str; 3] = [
    "Riverside Vets: reminder, Luna (cat) is due for her annual booster vaccination. Please call us to book.",
    "Riverside Vets: Luna's check-up went well, weight stable, teeth fine. Next visit in six months.",
    "Riverside Vets: Luna's worming and flea treatment are due this month; the tablets can be collected at \
     reception.",
];
/// Two later messages like them.
const NEW_VET: [&str; 2] = [
    "Riverside Vets: Luna's blood test results are normal. Her booster vaccination is due in March; please call \
     us to book.",
    "Riverside Vets: Max (dog) is due for his kennel cough vaccination; call us to book a visit.",
];
const TOPICS: [(&str, &str); 3] =
    [("Box 7", "papers to sort later"), ("Recipes", "cooking and baking recipes"), ("Car", "insurance, repairs, MOT")];

/// The user's examples of `topic`, by document id.
async fn examples_of(user: &str, topic: &str) -> BTreeSet<String> {
    let app = app().await;
    let (_, examples) = app.table.list_topics_with_examples(&UserId::parse(user).unwrap()).await.unwrap();
    examples.iter().filter(|e| e.topic.to_string() == topic).map(|e| e.document.to_string()).collect()
}

/// Whether the topic's item is gone (examples and all), not just hidden while being deleted.
async fn topic_item_gone(user: &str, topic: &str) -> bool {
    let app = app().await;
    let key = [("pk", format!("USER#{user}")), ("sk", format!("TOPIC#{topic}"))]
        .map(|(k, v)| (k.to_owned(), aws_sdk_dynamodb::types::AttributeValue::S(v)));
    let item = app.table.client().get_item().table_name(&app.config.table_name).set_key(Some(key.into()));
    item.consistent_read(true).send().await.unwrap().item().is_none()
}

async fn create_topics(api: &Api, user: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for (name, description) in TOPICS {
        ids.push(api.create_topic(user, name, description).await);
    }
    ids
}

/// Uploads `text` and waits for its classification; returns its id and the document.
async fn upload_text(api: &Api, user: &str, text: &str) -> (String, serde_json::Value) {
    let id = api.upload_as(user, "note.txt", "text/plain", text.as_bytes().to_vec()).await;
    let document = api.classified(user, &id).await;
    (id, document)
}

async fn file(api: &Api, user: &str, id: &str, topic: Option<&str>) -> crate::common::Reply {
    api.call(Method::PUT, &format!("/api/documents/{id}/topic"), user, Some(json!({ "topic_id": topic }))).await
}

#[tokio::test]
async fn documents_filed_by_hand_teach_where_similar_uploads_go_for_their_user_only() {
    let (api, user, other) = (Api::new(), new_user(), new_user());
    let topics = create_topics(&api, &user).await;
    let box7 = &topics[0];
    // Without examples, the later message goes nowhere.
    let (later, document) = upload_text(&api, &user, NEW_VET[0]).await;
    assert_eq!(document["classification_status"], "unclassified", "{document}");
    // The user files three messages by hand.
    let mut filed = BTreeSet::new();
    for text in VET {
        let (id, _) = upload_text(&api, &user, text).await;
        let reply = file(&api, &user, &id, Some(box7)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        filed.insert(id);
    }
    assert_eq!(examples_of(&user, box7).await, filed);
    // Now the same message is filed there, and so is a new upload like them.
    let again = api.call(Method::POST, &format!("/api/documents/{later}/classify"), &user, None).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["topic_id"], box7.as_str(), "{}", again.body);
    let (_, document) = upload_text(&api, &user, NEW_VET[1]).await;
    assert_eq!(document["topic_id"], box7.as_str(), "{document}");
    assert_eq!(document["classified_by"], "minilm-static", "learnt, not filed by hand: {document}");
    assert_eq!(examples_of(&user, box7).await, filed, "automatic filings are no examples");
    // Another user with the same topics has no examples: the user's never count for them.
    create_topics(&api, &other).await;
    let (_, document) = upload_text(&api, &other, NEW_VET[1]).await;
    assert_eq!(document["classification_status"], "unclassified", "{document}");
}

#[tokio::test]
async fn examples_follow_their_documents_and_go_with_their_topic() {
    let (api, user) = (Api::new(), new_user());
    let topics = create_topics(&api, &user).await;
    let (box7, recipes, car) = (&topics[0], &topics[1], &topics[2]);
    let mut ids = Vec::new();
    for text in VET {
        let (id, _) = upload_text(&api, &user, text).await;
        assert_eq!(file(&api, &user, &id, Some(box7)).await.status, 200);
        ids.push(id);
    }
    let set = |ids: &[&String]| ids.iter().map(|id| id.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(examples_of(&user, box7).await, set(&[&ids[0], &ids[1], &ids[2]]));
    // Moving a document moves its example; unfiling or deleting it removes it.
    assert_eq!(file(&api, &user, &ids[0], Some(car)).await.status, 200);
    assert_eq!(examples_of(&user, box7).await, set(&[&ids[1], &ids[2]]));
    assert_eq!(examples_of(&user, car).await, set(&[&ids[0]]));
    assert_eq!(file(&api, &user, &ids[1], None).await.status, 200);
    assert_eq!(examples_of(&user, box7).await, set(&[&ids[2]]));
    assert_eq!(api.delete(&user, &ids[2]).await.status, 204);
    assert!(examples_of(&user, box7).await.is_empty());
    // Replacing the user's choice by a reclassification: no longer an example.
    let reclassified =
        api.call(Method::POST, &format!("/api/documents/{}/classify?replace_manual=true", ids[0]), &user, None).await;
    assert_eq!(reclassified.status, 200, "{}", reclassified.body);
    assert!(examples_of(&user, car).await.is_empty());
    // Deleting a topic removes its examples with its item.
    assert_eq!(file(&api, &user, &ids[0], Some(recipes)).await.status, 200);
    assert_eq!(file(&api, &user, &ids[1], Some(recipes)).await.status, 200);
    assert_eq!(examples_of(&user, recipes).await, set(&[&ids[0], &ids[1]]));
    assert_eq!(api.call(Method::DELETE, &format!("/api/topics/{recipes}"), &user, None).await.status, 204);
    assert!(topic_item_gone(&user, recipes).await);
    assert!(api.get(&user, &ids[0]).await.body["topic_id"].is_null());
    // A document filed by hand before its text was read becomes an example once it is read.
    let upload = api.upload_url(&user, "early.txt", "text/plain", Some(NEW_VET[0].len() as u64)).await;
    let early = upload.body["document_id"].as_str().unwrap().to_owned();
    assert_eq!(file(&api, &user, &early, Some(box7)).await.status, 200);
    assert!(examples_of(&user, box7).await.is_empty(), "no text read yet, no features");
    assert_eq!(api.put_object(&upload.body, NEW_VET[0].as_bytes().to_vec()).await, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while examples_of(&user, box7).await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "the early filing never became an example");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(examples_of(&user, box7).await, set(&[&early]));
    let document = api.get(&user, &early).await.body;
    assert_eq!(
        (document["topic_id"].as_str(), document["classified_by"].as_str()),
        (Some(box7.as_str()), Some("user"))
    );
}

#[tokio::test]
async fn a_document_deleted_while_being_filed_leaves_no_example() {
    let (api, user) = (Api::new(), new_user());
    let topics = create_topics(&api, &user).await;
    let box7 = &topics[0];
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(upload_text(&api, &user, &format!("{} (copy {i})", VET[i % 3])).await.0);
    }
    let races: Vec<_> = ids
        .into_iter()
        .map(|id| {
            let (user, box7) = (user.clone(), box7.clone());
            tokio::spawn(async move {
                let api = Api::new();
                let (filed, deleted) = tokio::join!(file(&api, &user, &id, Some(&box7)), api.delete(&user, &id));
                assert!(matches!(filed.status, 200 | 404), "{}", filed.body);
                assert_eq!(deleted.status, 204, "{}", deleted.body);
            })
        })
        .collect();
    for race in races {
        race.await.unwrap();
    }
    assert!(examples_of(&user, box7).await.is_empty(), "every document is gone, and so is every example");
}

#[tokio::test]
async fn a_topic_holds_at_most_the_cap_of_examples_the_oldest_replaced() {
    let (api, user) = (Api::new(), new_user());
    let topics = create_topics(&api, &user).await;
    let box7 = &topics[0];
    let cap = shared::domain::examples::EXAMPLES_PER_TOPIC;
    let uploads: Vec<_> = (0..=cap)
        .map(|i| {
            let user = user.clone();
            tokio::spawn(
                async move { upload_text(&Api::new(), &user, &format!("{} Reference {i}.", VET[i % 3])).await.0 },
            )
        })
        .collect();
    let mut ids = Vec::new();
    for upload in uploads {
        ids.push(upload.await.unwrap());
    }
    for id in &ids {
        let reply = file(&api, &user, id, Some(box7)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let held = examples_of(&user, box7).await;
    assert_eq!(held.len(), cap);
    assert!(!held.contains(&ids[0]), "the first filed was replaced by the last");
    assert_eq!(held, ids[1..].iter().cloned().collect::<BTreeSet<_>>());
}

fn classifier() -> SemanticClassifier {
    let table = Arc::new(EmbeddingTable::load(env("CLASSIFIER_MODEL_PATH").as_ref()).unwrap());
    let types = DocumentTypes::load(env("CLASSIFIER_DOCUMENT_TYPES_PATH").as_ref(), table.clone()).unwrap();
    SemanticClassifier::new(table, Some(Arc::new(types)))
}

fn topics() -> Vec<Topic> {
    TOPICS
        .iter()
        .enumerate()
        .map(|(i, (name, description))| Topic {
            id: TopicId::new(),
            name: (*name).into(),
            description: (*description).into(),
            created_at: i as i64,
        })
        .collect()
}

/// The texts above are filed by the examples alone: without them the later messages go
/// nowhere, with 1 to 3 of them they go under "Box 7".
#[tokio::test]
async fn the_chosen_texts_are_filed_by_the_examples_alone() {
    let classifier = classifier();
    let topics = topics();
    for text in NEW_VET {
        let without = classifier.classify(text, &topics, &[]).await;
        assert!(!without.filed, "{text}: {without:?}");
        for k in 1..=VET.len() {
            let examples: Vec<Example> =
                VET[..k].iter().map(|t| Example { topic: topics[0].id, features: classifier.features(t) }).collect();
            let with = classifier.classify(text, &topics, &examples).await;
            assert_eq!(with.filed_under(), Some(topics[0].id), "{text} with {k} examples: {with:?}");
        }
    }
}
