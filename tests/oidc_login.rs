//! Dashboard sign-in through an OpenID Connect provider: the Okta simulator as the
//! organisation's provider (discovery, authorize, the authorization_code grant with
//! PKCE, RS256 ID tokens and JWKS). The browser's part is played step by step with a
//! real HTTP client: Leaver's /login/oidc, the provider's authorize endpoint, then the
//! callback. Each way a sign-in must fail is checked to fail with a clear message and
//! no session: a state from another sign-in, a replayed code, a tampered PKCE verifier,
//! a user the provider refuses or who is outside the allowed email domains.

mod common;

use common::*;
use leaver::app::App;
use leaver::ui::OidcSection;
use leaver_sim::okta::{OktaSim, OktaSimConfig, WebApp};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use std::collections::BTreeMap;

const CLIENT_ID: &str = "0oadashboard00001";
const CLIENT_SECRET: &str = "dashboard-client-secret-canary-31c7";
const REDIRECT: &str = "http://leaver.test/login/oidc/callback";

struct Setup {
    okta: OktaSim,
    server: Server,
    http: reqwest::Client,
    alice: String,
    _dir: tempfile::TempDir,
}

async fn setup(db: &TestDb, allowed_domains: &[&str]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let okta = OktaSim::start(OktaSimConfig::default()).await.unwrap();
    okta.register_web_app(WebApp {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_uris: vec![REDIRECT.into()],
    })
    .unwrap();
    let alice = okta.add_user("alice@example.com", "Alice", "Example");
    okta.sign_in_browser(Some(&alice));
    let plans = plans_dir(dir.path(), &[]);
    let mut config = test_config(&db.url, dir.path(), &plans, None);
    let secret = dir.path().join("oidc-secret");
    std::fs::write(&secret, CLIENT_SECRET).unwrap();
    config.ui.oidc = Some(OidcSection {
        issuer: okta.base_url(),
        client_id: CLIENT_ID.into(),
        client_secret: format!("file:{}", secret.display()),
        redirect_url: REDIRECT.into(),
        allowed_email_domains: allowed_domains.iter().map(|d| d.to_string()).collect(),
    });
    let server = Server::start(App::build(config).await.unwrap()).await;
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    Setup {
        okta,
        server,
        http,
        alice,
        _dir: dir,
    }
}

fn cookies(response: &reqwest::Response) -> BTreeMap<String, String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn query_of(url: &str) -> BTreeMap<String, String> {
    let url = reqwest::Url::parse(url).unwrap();
    url.query_pairs().into_owned().collect()
}

/// GET /login/oidc: (the pending cookie, the provider URL).
async fn start(s: &Setup) -> (String, String) {
    let response = s
        .http
        .get(format!("{}/login/oidc", s.server.base))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let pending = cookies(&response)
        .remove("leaver_oidc")
        .expect("pending cookie");
    (pending, location(&response))
}

/// The provider's authorize endpoint: where it sends the browser back.
async fn authorize(s: &Setup, url: &str) -> BTreeMap<String, String> {
    let response = s.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 302, "{:?}", response.text().await);
    let back = location(&response);
    assert!(back.starts_with(REDIRECT), "{back}");
    query_of(&back)
}

async fn callback(s: &Setup, pending: &str, query: &BTreeMap<String, String>) -> reqwest::Response {
    s.http
        .get(format!("{}/login/oidc/callback", s.server.base))
        .query(query)
        .header(COOKIE, format!("leaver_oidc={pending}"))
        .send()
        .await
        .unwrap()
}

async fn sessions(s: &Setup) -> i64 {
    let row: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM dashboard_sessions")
        .fetch_one(s.server.app.store.pool())
        .await
        .unwrap();
    row.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signs_in_with_the_authorization_code_flow_and_pkce() {
    for db in databases().await {
        let s = setup(&db, &["example.com"]).await;
        let (pending, url) = start(&s).await;
        // What Leaver asked the provider for.
        let asked = query_of(&url);
        assert!(url.starts_with(&format!("{}/oauth2/v1/authorize", s.okta.base_url())));
        assert_eq!(asked["response_type"], "code");
        assert_eq!(asked["client_id"], CLIENT_ID);
        assert_eq!(asked["redirect_uri"], REDIRECT);
        assert_eq!(asked["code_challenge_method"], "S256");
        assert!(asked["scope"].split(' ').any(|s| s == "openid"));
        assert!(!asked["state"].is_empty() && !asked["nonce"].is_empty());
        assert!(!url.contains(CLIENT_SECRET));

        let back = authorize(&s, &url).await;
        let response = callback(&s, &pending, &back).await;
        assert!(response.status().is_redirection(), "{}", response.status());
        assert_eq!(location(&response), "/");
        let session = cookies(&response)
            .remove("leaver_session")
            .expect("session cookie");
        let page = s
            .http
            .get(format!("{}/", s.server.base))
            .header(COOKIE, format!("leaver_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("oidc:alice@example.com"), "{html}");
        assert_eq!(sessions(&s).await, 1, "{}", db.kind);

        // The code works once: a replay is refused by the provider, no new session.
        let replay = callback(&s, &pending, &back).await;
        assert_eq!(replay.status(), 403, "{}", db.kind);
        assert!(replay.text().await.unwrap().contains("invalid_grant"));
        assert_eq!(sessions(&s).await, 1);
        s.server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_forged_tampered_and_unauthorised_sign_ins() {
    let db = sqlite_db();
    let s = setup(&db, &["example.com"]).await;

    // A callback whose state is not the one this browser started.
    let (pending, url) = start(&s).await;
    let mut back = authorize(&s, &url).await;
    back.insert("state".into(), "forged-state".into());
    let response = callback(&s, &pending, &back).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("state mismatch"));

    // No pending cookie at all (a link from somewhere else).
    let (_, url) = start(&s).await;
    let back = authorize(&s, &url).await;
    let response = s
        .http
        .get(format!("{}/login/oidc/callback", s.server.base))
        .query(&back)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // A tampered PKCE verifier: the provider refuses the exchange.
    let (pending, url) = start(&s).await;
    let back = authorize(&s, &url).await;
    let mut login = leaver::ui::oidc::PendingLogin::decode(&pending).unwrap();
    login.verifier = "x".repeat(43);
    let response = callback(&s, &login.encode(), &back).await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("PKCE"));

    // Nobody signed in at the provider: it says so, and Leaver shows it.
    s.okta.sign_in_browser(None);
    let (pending, url) = start(&s).await;
    let back = authorize(&s, &url).await;
    assert_eq!(back["error"], "login_required");
    let response = callback(&s, &pending, &back).await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("login_required"));

    // A deactivated user is refused by the provider.
    let bob = s.okta.add_user("bob@example.com", "Bob", "Example");
    s.okta.admin_deactivate(&bob);
    s.okta.sign_in_browser(Some(&bob));
    let (pending, url) = start(&s).await;
    let back = authorize(&s, &url).await;
    assert_eq!(back["error"], "access_denied");
    assert_eq!(callback(&s, &pending, &back).await.status(), 403);

    // A user outside the allowed domains is refused by Leaver.
    let mallory = s.okta.add_user("mallory@elsewhere.test", "Mallory", "Else");
    s.okta.sign_in_browser(Some(&mallory));
    let (pending, url) = start(&s).await;
    let back = authorize(&s, &url).await;
    let response = callback(&s, &pending, &back).await;
    assert_eq!(response.status(), 403);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("not allowed to sign in"));

    assert_eq!(sessions(&s).await, 0, "no refused sign-in left a session");
    let _ = &s.alice;
    s.server.stop().await;
}
