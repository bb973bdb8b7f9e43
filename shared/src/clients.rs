//! The one place that builds AWS clients. Functions build them once in `main`, outside the
//! handler, and reuse them for every invocation.

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::SdkConfig;
use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use crate::classifier::document_types::DocumentTypes;
use crate::classifier::embedding::EmbeddingTable;
use crate::classifier::{BedrockClassifier, Classifier, SemanticClassifier, TermMatchClassifier};
use crate::config::{Config, ConfigError};
use crate::storage::ObjectStorage;
use crate::table::DocumentTable;
use crate::xray;

/// Region, credentials and endpoints (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_S3`) from
/// the environment Lambda sets (see `sdk` for why not aws-config's loader), over rustls with
/// ring (smaller and quicker to build than aws-lc).
pub async fn sdk_config() -> SdkConfig {
    let http_client =
        aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https();
    crate::sdk::config_from_env(http_client, retry_config())
}

/// Throttling, 5xx answers and lost connections are retried by the SDK (the standard mode's
/// classification), five attempts in all, with jittered backoff short enough for a function that
/// answers an HTTP request within seconds: a burst of throttling should cost milliseconds, not a
/// failed upload. Transactions add their own retries on top (`retry::RetryPolicy::TRANSACTIONS`).
fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(5)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_secs(2))
}

pub fn document_table(sdk: &SdkConfig, config: &Config) -> DocumentTable {
    let mut client = aws_sdk_dynamodb::config::Builder::from(sdk);
    if let Some(daemon) = config.xray_daemon {
        client.push_interceptor(xray::interceptor(daemon));
    }
    DocumentTable::new(aws_sdk_dynamodb::Client::from_conf(client.build()), &config.table_name, config.quota_policy())
}

pub fn object_storage(sdk: &SdkConfig, config: &Config) -> ObjectStorage {
    let mut internal = aws_sdk_s3::config::Builder::from(sdk).force_path_style(config.s3_force_path_style);
    if let Some(daemon) = config.xray_daemon {
        internal.push_interceptor(xray::interceptor(daemon));
    }
    // The public client only signs URLs: it sends nothing, so it has nothing to trace.
    let mut public = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(config.s3_force_path_style)
        // The SDK's default checksum would be signed into presigned URLs and browsers do not
        // send it; only add one where an operation requires it.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired);
    if let Some(endpoint) = &config.s3_public_endpoint {
        public = public.endpoint_url(endpoint);
    }
    ObjectStorage::new(
        aws_sdk_s3::Client::from_conf(internal.build()),
        aws_sdk_s3::Client::from_conf(public.build()),
        &config.bucket_name,
    )
}

/// The classifier `config` asks for: Bedrock's model when `BEDROCK_MODEL_ID` is set (its calls
/// traced like the others), deciding with the offline classifier as its fallback; the offline
/// one is the semantic classifier when its table is configured, else term matching.
pub fn classifier(sdk: &SdkConfig, config: &Config) -> Result<Arc<dyn Classifier>, ConfigError> {
    let offline: Arc<dyn Classifier> = match &config.classifier_model_path {
        Some(path) => {
            let table = Arc::new(
                EmbeddingTable::load(path)
                    .map_err(|e| ConfigError::Inconsistent(format!("CLASSIFIER_MODEL_PATH: {e}")))?,
            );
            let types = match &config.classifier_document_types_path {
                Some(path) => Some(Arc::new(
                    DocumentTypes::load(path, table.clone())
                        .map_err(|e| ConfigError::Inconsistent(format!("CLASSIFIER_DOCUMENT_TYPES_PATH: {e}")))?,
                )),
                None => None,
            };
            let mut semantic = SemanticClassifier::new(table, types);
            if let Some(min_score) = config.classify_min_score {
                semantic.min_score = min_score;
            }
            Arc::new(semantic)
        }
        None => {
            let mut term_match = TermMatchClassifier::default();
            if let Some(min_score) = config.classify_min_score {
                term_match.min_score = min_score;
            }
            Arc::new(term_match)
        }
    };
    let Some(model_id) = &config.bedrock_model_id else { return Ok(offline) };
    let mut client = aws_sdk_bedrockruntime::config::Builder::from(sdk);
    if let Some(daemon) = config.xray_daemon {
        client.push_interceptor(xray::interceptor(daemon));
    }
    Ok(Arc::new(BedrockClassifier::new(
        aws_sdk_bedrockruntime::Client::from_conf(client.build()),
        model_id,
        config.bedrock_prompt.as_deref(),
        config.bedrock_timeout,
        offline,
    )))
}
