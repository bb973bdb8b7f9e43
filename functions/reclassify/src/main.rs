use lambda_http::{run, service_fn, Error};
use shared::entry::http;
use shared::App;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // A child started to parse one document runs that and exits here (no threads exist yet).
    shared::extract::run_child_if_requested();
    shared::init_tracing();
    let app = App::from_env().await?;
    let classifier = app.classifier()?;
    run(service_fn(|request| http::reclassify(&app, classifier.as_ref(), request))).await
}
