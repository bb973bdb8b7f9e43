//! The entry points, side by side and thin: each decodes what arrived (an HTTP request, an S3
//! event, a scheduled event), calls one operation (`operations`) and encodes its outcome.
//!
//! * [`http`]: the API's routes, one public function per Lambda function;
//! * [`object_events`]: S3 `ObjectCreated` notifications (the classify function);
//! * [`schedule`]: the clean-up schedule (the cleanup function).

pub mod http;
pub mod object_events;
pub mod schedule;
