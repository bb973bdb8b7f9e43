//! The clean-up schedule (the cleanup function): an EventBridge `Scheduled Event`, or `{}` from a
//! manual run, carries nothing the run needs but its deadline.

use std::time::Duration;

use crate::invocation::Invocation;
use crate::operations::cleanup::{limits_for, run, CleanupSummary};
use crate::{xray, App};

/// The time a run allows itself when the runtime gives no deadline (`cargo lambda watch` passes
/// the timeout itself rather than a point in time).
const DEFAULT_RUN: Duration = Duration::from_secs(60);

pub async fn handle(
    app: &App,
    event: lambda_http::LambdaEvent<serde_json::Value>,
) -> Result<CleanupSummary, lambda_http::Error> {
    tracing::info!(detail_type = ?event.payload.get("detail-type"), deadline_ms = event.context.deadline, "clean-up started");
    let invocation = Invocation::from_context_or(&event.context, DEFAULT_RUN);
    let limits = limits_for(app, &invocation);
    Ok(xray::traced(event.context.xray_trace_id.as_deref(), run(app, limits)).await)
}
