//! The one configuration loader: every function reads its settings from the environment here.

use std::net::SocketAddr;
use std::time::Duration;

use sandbox::Limits;

use crate::domain::topics::DEFAULT_MAX_TOPICS;
use crate::domain::{QuotaPolicy, StepTime};
use crate::domain::{MAX_PART_BYTES, MIN_PART_BYTES};
pub use crate::error::ConfigError;
use crate::extract::MAX_TEXT_CHARS;
use crate::metrics::DEFAULT_NAMESPACE;
use crate::xray;

/// Content types accepted at upload-url unless `ALLOWED_CONTENT_TYPES` says otherwise.
pub const DEFAULT_ALLOWED_CONTENT_TYPES: &[&str] = &[
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "text/plain",
    "text/markdown",
];

pub const DEFAULT_QUOTA_BYTES: u64 = 100 * 1024 * 1024;
/// The most pending uploads a user may be allowed: their ids are listed on the user's `QUOTA`
/// item (`table::charges`), 16 KB at this bound.
pub const MAX_PENDING_UPLOADS: u64 = 1000;

/// The longest upload URL lifetime: in AWS a URL is signed with the function role's temporary
/// credentials and stops working when they expire, whatever its `X-Amz-Expires`; 900 s is the
/// shortest session STS issues (AssumeRole's `DurationSeconds` minimum), and Lambda does not
/// promise the role's session setting (README, "Presigned URLs and temporary credentials").
pub const MAX_UPLOAD_URL_EXPIRY: Duration = Duration::from_secs(900);

#[derive(Clone, Debug)]
pub struct Config {
    /// DynamoDB table holding documents, quotas and pending object removals.
    pub table_name: String,
    pub bucket_name: String,
    /// Browser-visible S3 endpoint used only to sign URLs (the signature covers the host).
    /// `None` in AWS, where the regional endpoint is already public.
    pub s3_public_endpoint: Option<String>,
    /// Path-style addressing, needed by LocalStack and MinIO.
    pub s3_force_path_style: bool,
    pub default_quota_bytes: u64,
    /// Lifetime of presigned upload URLs (PUT and part), at most [`MAX_UPLOAD_URL_EXPIRY`].
    pub upload_url_expiry: Duration,
    pub download_url_expiry: Duration,
    /// Lower-case media types (without parameters) accepted at upload-url.
    pub allowed_content_types: Vec<String>,
    /// Local-only mode: when set, a bearer HS256 token signed with this secret identifies the
    /// caller. `template.yaml` never sets it; in AWS the API Gateway JWT authorizer does that.
    pub local_jwt_secret: Option<String>,
    /// Clean-up removes pending uploads older than this; always longer than `upload_url_expiry`,
    /// or a URL could still create an object after its document was cleaned up.
    pub pending_upload_max_age: Duration,
    /// At most this many pending uploads per user (upload-url answers 429 beyond).
    pub max_pending_uploads: u64,
    /// At most this many topics per user (creating one more answers 429).
    pub max_topics: u64,
    /// Size of each part of a multipart upload but the last (at least S3's 5 MiB).
    pub multipart_part_size: u64,
    /// Items per Query page of the pending index, and pages one clean-up run may read.
    pub cleanup_page_size: i32,
    pub cleanup_page_budget: u64,
    /// Classification reads at most this much of a PDF or DOCX (they are only readable whole)
    /// and of plain text (read as a prefix), and gives extraction this long.
    pub classify_max_object_bytes: u64,
    pub classify_text_prefix_bytes: u64,
    pub classify_timeout: Duration,
    /// Address space allowed to the child process that parses one PDF or DOCX.
    pub classify_memory_bytes: u64,
    /// The lowest score (0 to 1) at which the offline classifier files a document under a
    /// topic; each classifier has its own default (see `classifier`).
    pub classify_min_score: Option<f64>,
    /// The static embedding table of the semantic classifier (`make model`; in AWS the model
    /// layer's file). Without it, the offline classifier is term matching.
    pub classifier_model_path: Option<std::path::PathBuf>,
    /// The document-type bank the semantic classifier learns kinds of document from (`make
    /// model`; in AWS beside the table in the model layer). Without it, topics are filed by
    /// score alone.
    pub classifier_document_types_path: Option<std::path::PathBuf>,
    /// Which connections init opens (`WARM_CONNECTIONS`, set per function by template.yaml):
    /// only those whose probe the function's role permits, so that no cold start logs a denial.
    pub warm_connections: WarmConnections,
    /// CloudWatch namespace of the metrics (see `metrics`).
    pub metrics_namespace: String,
    /// Where X-Ray subsegments of AWS calls go (`AWS_XRAY_DAEMON_ADDRESS`, set by Lambda); they
    /// are sent only for sampled invocations (see `xray`).
    pub xray_daemon: Option<SocketAddr>,
    /// An Amazon Bedrock model classifies documents when set (classify and reclassify only);
    /// `BEDROCK_PROMPT` replaces the default instructions. Term matching decides when it cannot.
    pub bedrock_model_id: Option<String>,
    pub bedrock_prompt: Option<String>,
    pub bedrock_timeout: Duration,
}

/// The connections `App` opens during init, each by a probe its role must permit: DynamoDB by
/// a GetItem of the key `WARM-UP`, S3 by a HeadObject of `users/connection-warm-up` (which needs
/// s3:GetObject, and s3:ListBucket for a 404 instead of a 403).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WarmConnections {
    pub dynamodb: bool,
    pub s3: bool,
}

impl WarmConnections {
    /// `WARM_CONNECTIONS`: absent, `false` or `0` for none; `true` or `1` for both; otherwise a
    /// comma-separated list of `dynamodb` and `s3`.
    pub fn parse(raw: Option<String>) -> Result<Self, ConfigError> {
        let Some(raw) = raw else { return Ok(Self::default()) };
        match raw.as_str() {
            "false" | "0" => return Ok(Self::default()),
            "true" | "1" => return Ok(Self { dynamodb: true, s3: true }),
            _ => {}
        }
        let mut warm = Self::default();
        for service in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match service.to_ascii_lowercase().as_str() {
                "dynamodb" => warm.dynamodb = true,
                "s3" => warm.s3 = true,
                _ => return Err(ConfigError::Invalid { name: "WARM_CONNECTIONS", value: raw.clone() }),
            }
        }
        Ok(warm)
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, so tests can supply their own environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let non_empty = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let required = |name: &'static str| non_empty(name).ok_or(ConfigError::Missing(name));
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match non_empty(name) {
                None => Ok(default),
                Some(raw) => raw.parse().map_err(|_| ConfigError::Invalid { name, value: raw }),
            }
        };
        let allowed_content_types = match non_empty("ALLOWED_CONTENT_TYPES") {
            Some(list) => list.split(',').map(|t| t.trim().to_ascii_lowercase()).filter(|t| !t.is_empty()).collect(),
            None => DEFAULT_ALLOWED_CONTENT_TYPES.iter().map(|t| t.to_string()).collect(),
        };
        let flag = |name: &'static str| match non_empty(name).as_deref() {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(other) => Err(ConfigError::Invalid { name, value: other.to_owned() }),
        };
        let config = Self {
            table_name: required("TABLE_NAME")?,
            bucket_name: required("BUCKET_NAME")?,
            s3_public_endpoint: non_empty("S3_PUBLIC_ENDPOINT"),
            s3_force_path_style: flag("S3_FORCE_PATH_STYLE")?,
            default_quota_bytes: number("DEFAULT_QUOTA_BYTES", DEFAULT_QUOTA_BYTES)?,
            upload_url_expiry: Duration::from_secs(number("UPLOAD_URL_EXPIRY_SECONDS", 900)?),
            download_url_expiry: Duration::from_secs(number("DOWNLOAD_URL_EXPIRY_SECONDS", 300)?),
            allowed_content_types,
            local_jwt_secret: non_empty("LOCAL_JWT_SECRET"),
            pending_upload_max_age: Duration::from_secs(number("PENDING_UPLOAD_MAX_AGE_SECONDS", 3600)?),
            cleanup_page_size: number("CLEANUP_PAGE_SIZE", 100)?.clamp(1, 1000) as i32,
            cleanup_page_budget: number("CLEANUP_PAGE_BUDGET", 200)?,
            classify_max_object_bytes: number("CLASSIFY_MAX_OBJECT_BYTES", 20 * 1024 * 1024)?,
            classify_text_prefix_bytes: number("CLASSIFY_TEXT_PREFIX_BYTES", 1024 * 1024)?,
            classify_timeout: Duration::from_secs(number("CLASSIFY_TIMEOUT_SECONDS", 20)?.max(1)),
            classify_memory_bytes: number("CLASSIFY_MEMORY_BYTES", 256 * 1024 * 1024)?,
            classify_min_score: match non_empty("CLASSIFY_MIN_SCORE") {
                None => None,
                Some(raw) => Some(
                    raw.parse::<f64>()
                        .ok()
                        .filter(|v| (0.0..=1.0).contains(v))
                        .ok_or(ConfigError::Invalid { name: "CLASSIFY_MIN_SCORE", value: raw })?,
                ),
            },
            classifier_model_path: non_empty("CLASSIFIER_MODEL_PATH").map(Into::into),
            classifier_document_types_path: non_empty("CLASSIFIER_DOCUMENT_TYPES_PATH").map(Into::into),
            warm_connections: WarmConnections::parse(non_empty("WARM_CONNECTIONS"))?,
            max_pending_uploads: number("MAX_PENDING_UPLOADS", 100)?,
            max_topics: number("MAX_TOPICS_PER_USER", DEFAULT_MAX_TOPICS)?.max(1),
            multipart_part_size: number("MULTIPART_PART_SIZE_BYTES", 8 * 1024 * 1024)?,
            metrics_namespace: non_empty("METRICS_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            bedrock_model_id: non_empty("BEDROCK_MODEL_ID"),
            bedrock_prompt: non_empty("BEDROCK_PROMPT"),
            bedrock_timeout: Duration::from_secs(number("BEDROCK_TIMEOUT_SECONDS", 10)?.max(1)),
            xray_daemon: match non_empty("AWS_XRAY_DAEMON_ADDRESS") {
                None => None,
                Some(raw) => Some(
                    xray::daemon_address(&raw)
                        .ok_or(ConfigError::Invalid { name: "AWS_XRAY_DAEMON_ADDRESS", value: raw })?,
                ),
            },
        };
        if !(1..=MAX_PENDING_UPLOADS).contains(&config.max_pending_uploads) {
            return Err(ConfigError::Inconsistent(format!(
                "MAX_PENDING_UPLOADS ({}) must be 1 to {MAX_PENDING_UPLOADS}: the user's QUOTA item lists the ids of \
                 pending uploads (16 bytes each; DynamoDB items hold at most 400 KB, and each KB costs a write unit)",
                config.max_pending_uploads
            )));
        }
        if !(MIN_PART_BYTES..=MAX_PART_BYTES).contains(&config.multipart_part_size) {
            return Err(ConfigError::Inconsistent(format!(
                "MULTIPART_PART_SIZE_BYTES ({}) is outside S3's part sizes ({MIN_PART_BYTES} to {MAX_PART_BYTES} bytes)",
                config.multipart_part_size
            )));
        }
        if config.upload_url_expiry > MAX_UPLOAD_URL_EXPIRY {
            return Err(ConfigError::Inconsistent(format!(
                "UPLOAD_URL_EXPIRY_SECONDS ({}) is above {} s: a URL signed with a role's temporary credentials \
                 may stop working sooner (README, \"Presigned URLs and temporary credentials\")",
                config.upload_url_expiry.as_secs(),
                MAX_UPLOAD_URL_EXPIRY.as_secs()
            )));
        }
        if config.pending_upload_max_age <= config.upload_url_expiry {
            return Err(ConfigError::Inconsistent(format!(
                "PENDING_UPLOAD_MAX_AGE_SECONDS ({}) must be greater than UPLOAD_URL_EXPIRY_SECONDS ({}): \
                 clean-up would remove uploads whose URL still works",
                config.pending_upload_max_age.as_secs(),
                config.upload_url_expiry.as_secs()
            )));
        }
        Ok(config)
    }

    /// Limits of the child that extracts one document's text: its memory, its CPU and wall time
    /// (both the extraction timeout), and text output of at most 4 bytes per kept character.
    pub fn extraction_limits(&self) -> Limits {
        Limits {
            memory_bytes: self.classify_memory_bytes,
            cpu_seconds: self.classify_timeout.as_secs(),
            wall_time: self.classify_timeout,
            max_output_bytes: MAX_TEXT_CHARS * 4,
        }
    }

    /// [`Self::extraction_limits`] with the time a step was given (`domain::step_time`): its
    /// wall time, and CPU time rounded up to whole seconds.
    pub fn extraction_limits_within(&self, time: StepTime) -> Limits {
        Limits { cpu_seconds: time.whole_seconds(), wall_time: time.allowed, ..self.extraction_limits() }
    }

    pub fn quota_policy(&self) -> QuotaPolicy {
        QuotaPolicy {
            default_limit_bytes: self.default_quota_bytes,
            max_pending_uploads: self.max_pending_uploads,
            max_topics: self.max_topics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_only_resources_are_named() {
        let c = config(&[("TABLE_NAME", "t"), ("BUCKET_NAME", "b")]).unwrap();
        assert_eq!(c.default_quota_bytes, 104_857_600);
        assert_eq!(c.upload_url_expiry, Duration::from_secs(900));
        assert_eq!(c.allowed_content_types.len(), 4);
        assert!(c.local_jwt_secret.is_none());
        assert!(!c.s3_force_path_style);
    }

    #[test]
    fn missing_table_and_bad_numbers_are_reported_by_name() {
        assert!(matches!(config(&[("BUCKET_NAME", "b")]), Err(ConfigError::Missing("TABLE_NAME"))));
        let err = config(&[("TABLE_NAME", "t"), ("BUCKET_NAME", "b"), ("DEFAULT_QUOTA_BYTES", "lots")]).unwrap_err();
        assert!(err.to_string().contains("DEFAULT_QUOTA_BYTES"));
    }

    #[test]
    fn a_pending_max_age_within_the_url_lifetime_is_refused() {
        let vars = |age: &'static str| {
            [
                ("TABLE_NAME", "t"),
                ("BUCKET_NAME", "b"),
                ("UPLOAD_URL_EXPIRY_SECONDS", "900"),
                ("PENDING_UPLOAD_MAX_AGE_SECONDS", age),
            ]
        };
        for age in ["30", "900"] {
            let err = config(&vars(age)).unwrap_err();
            assert!(matches!(err, ConfigError::Inconsistent(_)), "{err}");
            assert!(err.to_string().contains("PENDING_UPLOAD_MAX_AGE_SECONDS"), "{err}");
        }
        assert!(config(&vars("901")).is_ok());
    }

    #[test]
    fn an_upload_url_lifetime_beyond_what_role_credentials_honour_is_refused() {
        let vars = [("TABLE_NAME", "t"), ("BUCKET_NAME", "b"), ("UPLOAD_URL_EXPIRY_SECONDS", "901")];
        let err = config(&vars).unwrap_err();
        assert!(err.to_string().contains("UPLOAD_URL_EXPIRY_SECONDS (901)"), "{err}");
    }

    #[test]
    fn content_type_list_is_normalised() {
        let c =
            config(&[("TABLE_NAME", "t"), ("BUCKET_NAME", "b"), ("ALLOWED_CONTENT_TYPES", " Text/Plain , image/png,")])
                .unwrap();
        assert_eq!(c.allowed_content_types, vec!["text/plain", "image/png"]);
    }

    #[test]
    fn warm_connections_name_the_services() {
        let warm = |raw: &str| config(&[("TABLE_NAME", "t"), ("BUCKET_NAME", "b"), ("WARM_CONNECTIONS", raw)]);
        let both = WarmConnections { dynamodb: true, s3: true };
        let dynamodb = WarmConnections { dynamodb: true, s3: false };
        assert_eq!(config(&[("TABLE_NAME", "t"), ("BUCKET_NAME", "b")]).unwrap().warm_connections, Default::default());
        assert_eq!(warm("false").unwrap().warm_connections, Default::default());
        assert_eq!(warm("true").unwrap().warm_connections, both);
        assert_eq!(warm("dynamodb").unwrap().warm_connections, dynamodb);
        assert_eq!(warm(" DynamoDB , s3 ").unwrap().warm_connections, both);
        let err = warm("dynamodb,sqs").unwrap_err();
        assert!(err.to_string().contains("WARM_CONNECTIONS"), "{err}");
    }
}
