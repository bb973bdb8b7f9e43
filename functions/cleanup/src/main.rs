use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use shared::entry::schedule;
use shared::App;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::init_tracing();
    let app = App::from_env().await?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| schedule::handle(&app, event))).await
}
