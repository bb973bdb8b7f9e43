//! Sets or clears a user's own storage limit: `set-user-limit <user> <bytes|default>`.
//! Uses the deployment's configuration (TABLE_NAME, endpoints, credentials) from the environment.

use shared::domain::UserId;
use shared::App;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [user, limit] = args.as_slice() else {
        eprintln!("usage: set-user-limit <user> <bytes|default>");
        std::process::exit(2);
    };
    let user = UserId::parse(user).map_err(|e| e.to_string())?;
    let limit = match limit.as_str() {
        "default" => None,
        bytes => Some(bytes.parse::<u64>().map_err(|_| "the limit must be a number of bytes or 'default'")?),
    };
    let app = App::from_env().await?;
    app.table.set_user_limit(&user, limit).await.map_err(|e| e.to_string())?;
    let quota = app.table.get_quota(&user).await.map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::json!({ "user": user.as_str(), "used_bytes": quota.used_bytes, "limit_bytes": quota.limit_bytes })
    );
    Ok(())
}
