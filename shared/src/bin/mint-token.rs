//! Prints a local-mode bearer token: `mint-token <user> [ttl-seconds]`.
//! Signed with `LOCAL_JWT_SECRET` (default: the documented dev secret `local-dev-secret`).

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(user) = args.next().filter(|u| shared::domain::UserId::parse(u).is_ok()) else {
        eprintln!("usage: mint-token <user> [ttl-seconds]  (user: letters, digits and -_.:@|+=)");
        std::process::exit(2);
    };
    let ttl = args.next().map_or(Ok(12 * 3600), |t| t.parse::<i64>());
    let Ok(ttl) = ttl else {
        eprintln!("ttl-seconds must be an integer");
        std::process::exit(2);
    };
    let secret = std::env::var("LOCAL_JWT_SECRET").unwrap_or_else(|_| "local-dev-secret".to_owned());
    println!("{}", shared::auth::mint_local_token(&user, &secret, ttl));
}
