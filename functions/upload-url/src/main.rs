use lambda_http::{run, service_fn, Error};
use shared::entry::http;
use shared::App;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::init_tracing();
    let app = App::from_env().await?;
    run(service_fn(|request| http::upload_url(&app, request))).await
}
