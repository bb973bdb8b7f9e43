//! The integration tests, one binary (the SDK and the helpers link once). They run against the
//! local stack that `make test` starts: Dynoxide, LocalStack with signature checks on, and the
//! functions under `cargo lambda watch`.

mod common;

mod arrival;
mod bedrock;
mod chaos;
mod classify;
mod cleanup;
mod deadlines;
mod events;
mod failures;
mod http_api;
mod learning;
mod metrics;
mod multipart;
mod quota_race;
mod semantic;
mod xray;
