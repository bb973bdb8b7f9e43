//! The shared SDK configuration, read from the environment Lambda gives a function (and the local
//! stack imitates): `AWS_REGION`, the function role's credentials in `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, and endpoints in `AWS_ENDPOINT_URL_<SERVICE>`
//! or `AWS_ENDPOINT_URL`.
//!
//! Why not `aws_config::defaults(..).load()`: measured with `bench --bin startup`, it took most of
//! a function's start (about 3.8 of 6.2 ms on the project's machine), and its code (the whole
//! credential chain: profile files, SSO-less assume-role through an STS client, web identity,
//! ECS and IMDS providers) added some 300 KiB of machine code to every package, none of it used:
//! in Lambda the environment always carries the role's credentials and region. What `load()`
//! resolves and a function still needs is set here the same way: region, credentials (the
//! SDK's own environment provider, behind the usual lazy identity cache), endpoint URLs (per
//! service first), the default 3.1 s connect timeout, the async sleep and the clock.
//! Profile files, `AWS_PROFILE`, FIPS/dual-stack switches and the other `AWS_*` tuning variables
//! are not read: none is set for the functions (see `template.yaml`, `localstack/devstack.py`).

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_async::rt::sleep::default_async_sleep;
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_types::sdk_config::SharedCredentialsProvider;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

/// aws-config's default connect timeout (`default_provider::timeout_config`).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// The shared configuration from the environment, with `http_client` and `retry_config`.
pub(crate) fn config_from_env(http_client: SharedHttpClient, retry_config: RetryConfig) -> SdkConfig {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let region = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")).map(Region::new);
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new()))
        .identity_cache(IdentityCache::lazy().build())
        .service_config(EnvServiceConfig)
        .http_client(LazyTls(http_client))
        .retry_config(retry_config)
        .timeout_config(TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).build())
        .time_source(SharedTimeSource::default());
    builder.set_region(region);
    builder.set_endpoint_url(env("AWS_ENDPOINT_URL"));
    builder.set_sleep_impl(default_async_sleep());
    builder.build()
}

/// Per-service settings from the environment, as aws-config reads them (less profile files):
/// `AWS_ENDPOINT_URL_S3` for S3's `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB` for
/// DynamoDB's, then the variable without the service.
#[derive(Debug)]
struct EnvServiceConfig;

impl LoadServiceConfig for EnvServiceConfig {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        service_setting(&key, |name| std::env::var(name).ok())
    }
}

fn service_setting(key: &ServiceConfigKey<'_>, lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    let service = key.service_id().to_ascii_uppercase().replace(' ', "_");
    let non_empty = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    non_empty(&format!("{}_{service}", key.env())).or_else(|| non_empty(key.env()))
}

/// The SDK's HTTPS client, without its eager TLS set-up.
///
/// The hyper client builds a whole rustls configuration (the platform's root certificates read
/// from disk and parsed) each time an SDK client is constructed, only to throw it away
/// (`validate_base_client_config`, "so that native certs load at client initialization time"),
/// and then once more on the first request, which keeps it. A function constructs three clients
/// (DynamoDB, S3, S3 for presigning) before it can ask for its first event, and the scan of
/// `/etc/ssl/certs` alone took a few milliseconds of that. Skipping the eager copies leaves the
/// one that is used, built at the first request; certificate validation is unchanged.
#[derive(Debug)]
struct LazyTls(SharedHttpClient);

impl HttpClient for LazyTls {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(service: &'a str) -> ServiceConfigKey<'a> {
        ServiceConfigKey::builder().service_id(service).env("AWS_ENDPOINT_URL").profile("endpoint_url").build().unwrap()
    }

    #[test]
    fn service_endpoint_before_the_global_one() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
        };
        let local =
            env(&[("AWS_ENDPOINT_URL_S3", "http://s3.local:4566"), ("AWS_ENDPOINT_URL", "http://global.local")]);
        assert_eq!(service_setting(&key("S3"), local).as_deref(), Some("http://s3.local:4566"));
        assert_eq!(service_setting(&key("DynamoDB"), local).as_deref(), Some("http://global.local"));
        let dynamodb = env(&[("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"), ("AWS_ENDPOINT_URL_S3", " ")]);
        assert_eq!(service_setting(&key("DynamoDB"), dynamodb).as_deref(), Some("http://127.0.0.1:8000"));
        assert_eq!(service_setting(&key("S3"), dynamodb), None);
    }
}
