//! Everything the Lambda functions share. `docs/ARCHITECTURE.md` draws it; in short:
//!
//! * `entry`: the entry points (HTTP routes, S3 object events, the schedule): decode, call one
//!   operation, encode;
//! * `operations`: one module per thing a user or the system does, combining the rules with
//!   the adapters;
//! * `domain`: the types and the rules (quota, document states, topics, input validation), with
//!   no AWS types and no I/O;
//! * `table` (DynamoDB) and `storage` (S3): the adapters, which only map;
//! * around them: `config`, `clients` (the one place AWS clients are built), `auth`, `error`
//!   (the HTTP error and its mapping), `invocation` and `retry` (deadlines and retry budgets),
//!   `metrics`, `xray`, `classifier`, `extract`, `sniff`.
//!
//! A function's `main.rs` only wires these together.

pub mod auth;
pub mod classifier;
pub mod clients;
pub mod config;
pub mod domain;
pub mod entry;
pub mod error;
pub mod extract;
pub mod invocation;
pub mod metrics;
pub mod operations;
pub mod retry;
mod sdk;
pub mod sniff;
pub mod storage;
pub mod table;
pub mod xray;

pub use config::Config;
pub use error::ApiError;
pub use invocation::Invocation;

use storage::ObjectStorage;
use table::DocumentTable;

/// Extraction children one process runs at once: a function handles one event at a time, so
/// two are enough and bound the memory they can take together.
const EXTRACTION_CHILDREN: usize = 2;
/// The longest init waits for the connections to open.
const WARM_UP_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

/// What a handler works with; built once per process, in `main`, before the first event.
#[derive(Clone, Debug)]
pub struct App {
    pub config: Config,
    pub table: DocumentTable,
    pub storage: ObjectStorage,
    /// Runs document parsers in bounded child processes (see `extract`).
    pub sandbox: sandbox::Sandbox,
    pub metrics: metrics::Metrics,
    /// The shared SDK configuration, for the clients only some functions build.
    pub sdk: aws_config::SdkConfig,
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
            sdk,
            config,
        };
        let warm = app.config.warm_connections;
        if warm.dynamodb || warm.s3 {
            app.warm_connections().await;
        }
        Ok(app)
    }

    /// The classifier the configuration asks for (see `clients::classifier`). Only classify
    /// and reclassify build one: the other functions' packages then carry none of its code.
    pub fn classifier(&self) -> Result<std::sync::Arc<dyn classifier::Classifier>, config::ConfigError> {
        clients::classifier(&self.sdk, &self.config)
    }

    /// Opens the pooled connections to DynamoDB and S3 during init (those `WARM_CONNECTIONS`
    /// names), so that the first request does not pay the TCP and TLS handshakes. Any answer
    /// (even "not found" for these probe keys) leaves its connection in the pool; failures are
    /// ignored. template.yaml names only the services whose probe the function's role permits.
    async fn warm_connections(&self) {
        let warm = self.config.warm_connections;
        let invocation = Invocation::standalone(WARM_UP_BUDGET);
        let dynamodb = async {
            if warm.dynamodb {
                self.table.warm_up().await;
            }
        };
        let s3 = async {
            if warm.s3 {
                let _ = self.storage.object_size(&invocation, "users/connection-warm-up").await;
            }
        };
        let _ = tokio::time::timeout(WARM_UP_BUDGET, async { tokio::join!(dynamodb, s3) }).await;
    }
}

/// Logging as Lambda expects it: JSON lines when `AWS_LAMBDA_LOG_FORMAT` is `JSON`, each with
/// the runtime's request id (and the operation, see `entry::http`), at `LOG_LEVEL` (else Lambda's
/// `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO). `template.yaml` lets Lambda pass every
/// line and sets `LOG_LEVEL`: Lambda's own filter would also drop the metric lines.
///
/// The subscriber is lambda_runtime's default one (`init_default_subscriber`: no target, no
/// time, stdout), built here with tracing-subscriber's `Targets` filter instead of `EnvFilter`,
/// which would bring a regex engine into every package for directive syntax nobody uses here.
/// `RUST_LOG` keeps its meaning as far as `Targets` goes (`info`, `shared=debug,info`): when it
/// holds a directive, it replaces the level, as with `EnvFilter`'s default directive.
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let var = |name: &str| std::env::var(name).ok();
    let filter = log_filter(
        var("LOG_LEVEL").or_else(|| var("AWS_LAMBDA_LOG_LEVEL")).or_else(|| var("RUST_LOG")).as_deref(),
        var("RUST_LOG").as_deref(),
    );
    let format = tracing_subscriber::fmt::layer().with_target(false).without_time().with_writer(std::io::stdout);
    let registry = tracing_subscriber::registry().with(filter);
    if var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json")) {
        registry.with(format.json()).init();
    } else {
        registry.with(format).init();
    }
}

/// What `init_tracing` lets through: the directives of `rust_log` that parse (others are
/// reported and skipped), else everything at `level` (INFO when absent or not a level).
fn log_filter(level: Option<&str>, rust_log: Option<&str>) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    let mut directives = Targets::new();
    let mut any = false;
    for directive in rust_log.unwrap_or_default().split(',').map(str::trim).filter(|d| !d.is_empty()) {
        match directive.parse::<Targets>() {
            Ok(parsed) => {
                any = true;
                if let Some(level) = parsed.default_level() {
                    directives = directives.with_default(level);
                }
                for (target, level) in parsed.iter() {
                    directives = directives.with_target(target, level);
                }
            }
            Err(error) => eprintln!("ignoring `{directive}`: {error}"),
        }
    }
    if any {
        return directives;
    }
    let level = level.and_then(|l| l.trim().parse::<LevelFilter>().ok()).unwrap_or(LevelFilter::INFO);
    Targets::new().with_default(level)
}

#[cfg(test)]
mod log_filter_tests {
    use tracing::Level;

    use super::log_filter;

    #[test]
    fn level_when_no_directive() {
        let filter = log_filter(Some("DEBUG"), None);
        assert!(filter.would_enable("shared::handlers", &Level::DEBUG));
        assert!(!filter.would_enable("shared::handlers", &Level::TRACE));
        let filter = log_filter(None, None);
        assert!(filter.would_enable("quota", &Level::INFO) && !filter.would_enable("quota", &Level::DEBUG));
        let filter = log_filter(Some("chatty"), Some(""));
        assert!(filter.would_enable("quota", &Level::INFO) && !filter.would_enable("quota", &Level::DEBUG));
    }

    #[test]
    fn rust_log_directives_replace_the_level() {
        let filter = log_filter(Some("TRACE"), Some("warn,shared=debug,[bad"));
        assert!(filter.would_enable("shared::table", &Level::DEBUG));
        assert!(!filter.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(filter.would_enable("aws_smithy_runtime", &Level::WARN));
    }
}
