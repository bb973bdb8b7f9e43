//! The proxy's tests, one binary: a small upstream started per test, raw and hyper clients.

mod common;
mod connections;
mod dynamodb;
mod forwarding;
mod rules;
mod s3;
