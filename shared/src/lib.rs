//! Everything the Lambda functions share: configuration, identity, the HTTP mapping, the domain
//! rules and the DynamoDB and S3 adapters. A function's `main.rs` only wires these together.

pub mod auth;
pub mod classifier;
pub mod classify;
pub mod cleanup;
pub mod clients;
pub mod config;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod http;
pub mod invocation;
pub mod metrics;
pub mod model;
pub mod sniff;
pub mod storage;
pub mod table;
pub mod workflows;
pub mod xray;

pub use config::Config;
pub use error::ApiError;
pub use invocation::Invocation;

use storage::ObjectStorage;
use table::DocumentTable;

/// Extraction children one process runs at once: a function handles one event at a time, so
/// two are enough and bound the memory they can take together.
const EXTRACTION_CHILDREN: usize = 2;

/// What a handler works with; built once per process, in `main`, before the first event.
#[derive(Clone, Debug)]
pub struct App {
    pub config: Config,
    pub table: DocumentTable,
    pub storage: ObjectStorage,
    /// Runs document parsers in bounded child processes (see `extract`).
    pub sandbox: sandbox::Sandbox,
    pub metrics: metrics::Metrics,
    /// What classify and reclassify file documents with (see `classifier`).
    pub classifier: std::sync::Arc<dyn classifier::Classifier>,
}

impl App {
    pub async fn from_env() -> Result<Self, config::ConfigError> {
        Self::from_config(Config::from_env()?).await
    }

    pub async fn from_config(config: Config) -> Result<Self, config::ConfigError> {
        let sdk = clients::sdk_config().await;
        let app = Self {
            table: clients::document_table(&sdk, &config),
            storage: clients::object_storage(&sdk, &config),
            sandbox: sandbox::Sandbox::new(EXTRACTION_CHILDREN),
            metrics: metrics::Metrics::stdout(&config.metrics_namespace),
            classifier: clients::classifier(&sdk, &config)?,
            config,
        };
        if app.config.warm_connections {
            app.warm_connections().await;
        }
        Ok(app)
    }

    /// Opens the pooled connections to DynamoDB and S3 during init, so that the first request
    /// does not pay the TCP and TLS handshakes. Any answer (even "not found" or "access denied"
    /// for these probe keys) leaves its connection in the pool; failures are ignored.
    async fn warm_connections(&self) {
        let dynamodb = self.table.warm_up();
        let s3 = self.storage.object_size("users/connection-warm-up");
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async { tokio::join!(dynamodb, s3) }).await;
    }
}

/// Logging as Lambda expects it: JSON lines when `AWS_LAMBDA_LOG_FORMAT` is `JSON`, each with
/// the runtime's request id (and the operation, see `handlers`), at `LOG_LEVEL` (else Lambda's
/// `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO). `template.yaml` lets Lambda pass every
/// line and sets `LOG_LEVEL`: Lambda's own filter would also drop the metric lines.
pub fn init_tracing() {
    if let Ok(level) = std::env::var("LOG_LEVEL") {
        // Runs first thing in `main`, before any other thread exists.
        std::env::set_var("AWS_LAMBDA_LOG_LEVEL", level);
    }
    lambda_http::tracing::init_default_subscriber();
}
