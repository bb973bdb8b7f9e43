use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use shared::entry::object_events::handle_s3_event;
use shared::App;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // A child started to parse one document runs that and exits here (no threads exist yet).
    shared::extract::run_child_if_requested();
    shared::init_tracing();
    let app = App::from_env().await?;
    let classifier = app.classifier()?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| handle_s3_event(&app, classifier.as_ref(), event))).await
}
