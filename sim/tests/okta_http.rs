//! The simulated Okta org over real HTTP: the org authorization server with
//! private_key_jwt client assertions, the Management API calls an offboarding makes,
//! the System Log, rate limits and injected faults — driven with a plain reqwest client
//! and client assertions signed with jsonwebtoken.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use leaver_sim::okta::{KeyPair, LogEventSpec, OktaSim, OktaSimConfig, Party, SimClient};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const CLIENT_ID: &str = "0oaleaversvc000001";
const ALL_SCOPES: &str = "okta.users.manage okta.users.read okta.logs.read okta.sessions.read";

fn keys() -> &'static KeyPair {
    static KEYS: OnceLock<KeyPair> = OnceLock::new();
    KEYS.get_or_init(|| KeyPair::generate_rsa().expect("rsa key"))
}

fn other_keys() -> &'static KeyPair {
    static KEYS: OnceLock<KeyPair> = OnceLock::new();
    KEYS.get_or_init(|| KeyPair::generate_rsa().expect("rsa key"))
}

fn client(scopes: &[&str]) -> SimClient {
    SimClient {
        client_id: CLIENT_ID.into(),
        name: "Leaver offboarding".into(),
        public_key_pem: keys().public_key_pem.clone(),
        key_id: Some("leaver-key-1".into()),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    }
}

async fn sim() -> OktaSim {
    OktaSim::start(OktaSimConfig {
        clients: vec![client(&[
            "okta.users.manage",
            "okta.users.read",
            "okta.logs.read",
            "okta.sessions.read",
        ])],
        deactivation_delay: Duration::from_millis(300),
        ..Default::default()
    })
    .await
    .expect("sim starts")
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A client assertion with claims overridable through `edit`.
fn assertion_with(
    sim: &OktaSim,
    alg: Algorithm,
    key: &EncodingKey,
    kid: Option<&str>,
    edit: impl FnOnce(&mut Value),
) -> String {
    let mut claims = json!({
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": sim.token_url(),
        "iat": now(),
        "exp": now() + 300,
        "jti": format!("jti-{}", rand_suffix()),
    });
    edit(&mut claims);
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

fn rand_suffix() -> String {
    format!(
        "{}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(keys().private_key_pem.as_bytes()).unwrap()
}

fn assertion(sim: &OktaSim) -> String {
    assertion_with(
        sim,
        Algorithm::RS256,
        &rsa_key(),
        Some("leaver-key-1"),
        |_| {},
    )
}

async fn token_request(sim: &OktaSim, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = Client::new()
        .post(sim.token_url())
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert!(response.headers().contains_key("x-rate-limit-remaining"));
    (status, response.json().await.unwrap())
}

async fn token_with(sim: &OktaSim, assertion: &str, scope: &str) -> (StatusCode, Value) {
    token_request(
        sim,
        &[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ],
    )
    .await
}

async fn access_token(sim: &OktaSim, scope: &str) -> String {
    let (status, body) = token_with(sim, &assertion(sim), scope).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

struct Api {
    base: String,
    token: String,
    http: Client,
}

impl Api {
    async fn new(sim: &OktaSim) -> Self {
        Self {
            base: sim.base_url(),
            token: access_token(sim, ALL_SCOPES).await,
            http: Client::new(),
        }
    }

    async fn call(&self, method: Method, path: &str) -> reqwest::Response {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap()
    }

    async fn json(&self, method: Method, path: &str) -> (StatusCode, Value) {
        let response = self.call(method, path).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn assert_okta_error(body: &Value, code: &str) {
    assert_eq!(body["errorCode"], code, "{body}");
    assert_eq!(body["errorLink"], code, "{body}");
    assert!(body["errorSummary"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(body["errorId"]
        .as_str()
        .is_some_and(|s| s.starts_with("oae")));
    assert!(body["errorCauses"].is_array());
}

fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all("link")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find(|l| l.contains("rel=\"next\""))
        .and_then(|l| {
            let start = l.find('<')? + 1;
            let end = l.find('>')?;
            Some(l[start..end].to_string())
        })
}

#[tokio::test]
async fn private_key_jwt_grants_the_registered_scopes() {
    let sim = sim().await;
    let (status, body) = token_with(&sim, &assertion(&sim), "okta.users.read okta.logs.read").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "okta.logs.read okta.users.read");
    assert!(body["access_token"].as_str().unwrap().len() > 40);
    assert_eq!(sim.access_tokens_issued(), 1);
    // The client_id form field is allowed when it matches the assertion.
    let (status, _) = token_request(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("scope", "okta.users.read"),
            ("client_assertion_type", leaver_sim::okta::JWT_BEARER),
            ("client_assertion", &assertion(&sim)),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn es256_assertions_are_accepted_for_an_ec_key() {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let private_pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
    let public_pem = secret
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let sim = sim().await;
    sim.register_client(SimClient {
        client_id: CLIENT_ID.into(),
        name: "EC client".into(),
        public_key_pem: public_pem,
        key_id: None,
        scopes: vec!["okta.logs.read".into()],
    })
    .unwrap();
    let key = EncodingKey::from_ec_pem(private_pem.as_bytes()).unwrap();
    let signed = assertion_with(&sim, Algorithm::ES256, &key, None, |_| {});
    let (status, body) = token_with(&sim, &signed, "okta.logs.read").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // An RS256 assertion no longer matches the registered (EC) key.
    let (status, body) = token_with(&sim, &assertion(&sim), "okta.logs.read").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn bad_client_assertions_get_oauth_errors() {
    let sim = sim().await;
    let key = rsa_key();
    let kid = Some("leaver-key-1");
    let cases: Vec<(&str, String, &str, u16, &str)> = vec![
        (
            "wrong audience",
            assertion_with(&sim, Algorithm::RS256, &key, kid, |c| {
                c["aud"] = json!("https://example-corp.okta.com/oauth2/default/v1/token")
            }),
            "invalid_client",
            401,
            "audience",
        ),
        (
            "expired",
            assertion_with(&sim, Algorithm::RS256, &key, kid, |c| {
                c["exp"] = json!(now() - 600)
            }),
            "invalid_client",
            401,
            "expired",
        ),
        (
            "too long-lived",
            assertion_with(&sim, Algorithm::RS256, &key, kid, |c| {
                c["exp"] = json!(now() + 7200)
            }),
            "invalid_client",
            401,
            "too far",
        ),
        (
            "no exp",
            assertion_with(&sim, Algorithm::RS256, &key, kid, |c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            "invalid_client",
            401,
            "exp",
        ),
        (
            "sub differs",
            assertion_with(&sim, Algorithm::RS256, &key, kid, |c| {
                c["sub"] = json!("someone-else")
            }),
            "invalid_client",
            401,
            "sub",
        ),
        (
            "unknown client",
            assertion_with(&sim, Algorithm::RS256, &key, kid, |c| {
                c["iss"] = json!("0oaunknown");
                c["sub"] = json!("0oaunknown");
            }),
            "invalid_client",
            401,
            "Client authentication failed",
        ),
        (
            "signed by another key",
            assertion_with(
                &sim,
                Algorithm::RS256,
                &EncodingKey::from_rsa_pem(other_keys().private_key_pem.as_bytes()).unwrap(),
                kid,
                |_| {},
            ),
            "invalid_client",
            401,
            "signature",
        ),
        (
            "unknown kid",
            assertion_with(&sim, Algorithm::RS256, &key, Some("other-kid"), |_| {}),
            "invalid_client",
            401,
            "unknown key",
        ),
        (
            "HS256",
            assertion_with(
                &sim,
                Algorithm::HS256,
                &EncodingKey::from_secret(b"shared"),
                kid,
                |_| {},
            ),
            "invalid_client",
            401,
            "algorithm",
        ),
        (
            "not a JWT",
            "garbage".to_string(),
            "invalid_client",
            401,
            "malformed",
        ),
    ];
    for (name, signed, error, status, needle) in cases {
        let (got, body) = token_with(&sim, &signed, "okta.users.read").await;
        assert_eq!(got.as_u16(), status, "{name}: {body}");
        assert_eq!(body["error"], error, "{name}: {body}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(needle), "{name}: {description}");
    }
    assert_eq!(sim.access_tokens_issued(), 0);
}

#[tokio::test]
async fn replayed_jti_scopes_and_grant_types_are_refused() {
    let sim = sim().await;
    let once = assertion(&sim);
    assert_eq!(
        token_with(&sim, &once, "okta.users.read").await.0,
        StatusCode::OK
    );
    let (status, body) = token_with(&sim, &once, "okta.users.read").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("already been used"));

    let (status, body) = token_with(&sim, &assertion(&sim), "okta.groups.manage").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (status, body) = token_with(&sim, &assertion(&sim), "").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (status, body) = token_with(&sim, &assertion(&sim), "okta.everything").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );

    // Okta-scoped tokens need private_key_jwt: a client secret is refused.
    let (status, body) = token_request(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", "a-secret"),
            ("scope", "okta.users.read"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("private_key_jwt"));
    let (status, body) = token_request(
        &sim,
        &[("grant_type", "password"), ("scope", "okta.users.read")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
    let (status, body) = token_request(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "okta.users.read"),
            ("client_assertion_type", "urn:other"),
            ("client_assertion", &assertion(&sim)),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    // A JSON body is not a token request.
    let response = Client::new()
        .post(sim.token_url())
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_management_api_needs_a_valid_bearer_token_with_the_scope() {
    let sim = sim().await;
    let frank = sim.add_user("frank@example-corp.com", "Frank", "Example");
    let http = Client::new();
    let url = format!("{}/api/v1/users/{frank}", sim.base_url());
    for auth in [None, Some("Bearer not-a-token"), Some("SSWS something")] {
        let mut request = http.get(&url);
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(challenge.contains("invalid_token"), "{challenge}");
        let body: Value = response.json().await.unwrap();
        assert_okta_error(&body, "E0000011");
        assert_eq!(body["errorSummary"], "Invalid token provided");
    }
    // A logs-only token cannot read users.
    let logs_only = access_token(&sim, "okta.logs.read").await;
    let response = http.get(&url).bearer_auth(&logs_only).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));
    assert_okta_error(&response.json().await.unwrap(), "E0000006");
    // Revoked tokens stop working.
    let api = Api::new(&sim).await;
    assert_eq!(
        api.json(Method::GET, &format!("/api/v1/users/{frank}"))
            .await
            .0,
        StatusCode::OK
    );
    sim.revoke_access_tokens();
    assert_eq!(
        api.json(Method::GET, &format!("/api/v1/users/{frank}"))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn users_are_found_by_id_login_and_search() {
    let sim = sim().await;
    let frank = sim.add_user("frank@example-corp.com", "Frank", "Example");
    let gone = sim.add_user_with(
        "old.login",
        "gone@example-corp.com",
        "Gone",
        "User",
        "DEPROVISIONED",
    );
    let api = Api::new(&sim).await;
    let (status, by_id) = api
        .json(Method::GET, &format!("/api/v1/users/{frank}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_id["status"], "ACTIVE");
    assert_eq!(by_id["profile"]["login"], "frank@example-corp.com");
    assert!(by_id.get("transitioningToStatus").is_none());
    let (_, by_login) = api
        .json(Method::GET, "/api/v1/users/Frank%40example-corp.com")
        .await;
    assert_eq!(by_login["id"], frank.as_str());
    let (status, missing) = api.json(Method::GET, "/api/v1/users/00unobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_okta_error(&missing, "E0000007");
    assert!(missing["errorSummary"]
        .as_str()
        .unwrap()
        .contains("00unobody"));
    // search includes deprovisioned users; q and filter do not.
    let (_, found) = api
        .json(
            Method::GET,
            "/api/v1/users?search=profile.email%20eq%20%22gone%40example-corp.com%22",
        )
        .await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["id"], gone.as_str());
    let (_, q) = api.json(Method::GET, "/api/v1/users?q=gone").await;
    assert_eq!(q.as_array().unwrap().len(), 0);
    let (status, bad) = api
        .json(Method::GET, "/api/v1/users?search=profile.email%20eq")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_okta_error(&bad, "E0000031");
}

#[tokio::test]
async fn deactivation_is_asynchronous_and_logged() {
    let sim = sim().await;
    let frank = sim.add_user("frank@example-corp.com", "Frank", "Example");
    sim.add_session(&frank);
    let api = Api::new(&sim).await;
    let response = api
        .call(
            Method::POST,
            &format!("/api/v1/users/{frank}/lifecycle/deactivate?sendEmail=false"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({}));
    let (_, during) = api
        .json(Method::GET, &format!("/api/v1/users/{frank}"))
        .await;
    assert_eq!(during["status"], "ACTIVE");
    assert_eq!(during["transitioningToStatus"], "DEPROVISIONED");
    assert!(
        sim.sessions(&frank).is_empty(),
        "deactivation ends sessions"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, after) = api
        .json(Method::GET, &format!("/api/v1/users/{frank}"))
        .await;
    assert_eq!(after["status"], "DEPROVISIONED");
    assert!(after.get("transitioningToStatus").is_none());
    // Deactivating a deprovisioned user answers 404, as Okta does.
    let (status, body) = api
        .json(
            Method::POST,
            &format!("/api/v1/users/{frank}/lifecycle/deactivate"),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_okta_error(&body, "E0000007");
    let events = sim.log_events_for("user.lifecycle.deactivate", &frank);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["actor"]["id"], CLIENT_ID);
    assert_eq!(events[0]["actor"]["type"], "PublicClientApp");
    assert_eq!(
        events[0]["target"][0]["alternateId"],
        "frank@example-corp.com"
    );
    assert_eq!(events[0]["outcome"]["result"], "SUCCESS");
    let (status, _) = api
        .json(
            Method::POST,
            &format!("/api/v1/users/{frank}/lifecycle/deactivate?sendEmail=maybe"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn clearing_sessions_keeps_oauth_tokens_unless_asked() {
    let sim = sim().await;
    let frank = sim.add_user("frank@example-corp.com", "Frank", "Example");
    let session = sim.add_session(&frank);
    sim.add_session(&frank);
    sim.add_app("0oaslackapp", "Slack");
    sim.add_refresh_token(&frank, "0oaslackapp", &["openid", "offline_access"]);
    sim.add_refresh_token(&frank, "0oaslackapp", &["openid", "offline_access"]);
    sim.add_refresh_token(&frank, "0oagithubapp", &["openid"]);
    sim.add_grant(&frank, "0oaslackapp", "openid");
    sim.set_remembered_devices(&frank, 2);
    let api = Api::new(&sim).await;

    let (status, live) = api
        .json(Method::GET, &format!("/api/v1/sessions/{session}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(live["userId"], frank.as_str());

    let (status, clients) = api
        .json(Method::GET, &format!("/api/v1/users/{frank}/clients"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = clients
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["0oagithubapp", "0oaslackapp"]);
    assert_eq!(clients[1]["client_name"], "Slack");
    // Paged token listing with Link next.
    let response = api
        .call(
            Method::GET,
            &format!("/api/v1/users/{frank}/clients/0oaslackapp/tokens?limit=1"),
        )
        .await;
    let next = next_link(response.headers()).expect("next page");
    let first: Value = response.json().await.unwrap();
    assert_eq!(first.as_array().unwrap().len(), 1);
    assert_eq!(first[0]["status"], "ACTIVE");
    assert_eq!(first[0]["userId"], frank.as_str());
    let second = api
        .http
        .get(&next)
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert!(next_link(second.headers()).is_none());
    let second: Value = second.json().await.unwrap();
    assert_eq!(second.as_array().unwrap().len(), 1);
    assert_ne!(first[0]["id"], second[0]["id"]);

    // Default oauthTokens=false: sessions end, tokens survive.
    let response = api
        .call(Method::DELETE, &format!("/api/v1/users/{frank}/sessions"))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(sim.sessions(&frank).is_empty());
    assert_eq!(sim.refresh_tokens(&frank).len(), 3);
    assert_eq!(sim.user(&frank).unwrap().remembered_devices, 2);
    let (status, _) = api
        .json(Method::GET, &format!("/api/v1/sessions/{session}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let response = api
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{frank}/sessions?oauthTokens=true&forgetDevices=true"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(sim.refresh_tokens(&frank).is_empty());
    assert_eq!(sim.user(&frank).unwrap().remembered_devices, 0);
    assert_eq!(sim.grants(&frank).len(), 1, "grants (consents) survive");
    let (_, tokens) = api
        .json(
            Method::GET,
            &format!("/api/v1/users/{frank}/clients/0oaslackapp/tokens"),
        )
        .await;
    assert_eq!(tokens, json!([]));
    let (_, grants) = api
        .json(Method::GET, &format!("/api/v1/users/{frank}/grants"))
        .await;
    assert_eq!(grants[0]["clientId"], "0oaslackapp");

    let clears = sim.log_events_for("user.session.clear", &frank);
    assert_eq!(clears.len(), 2);
    assert!(clears[1]["debugContext"]["debugData"]["requestUri"]
        .as_str()
        .unwrap()
        .contains("oauthTokens=true"));
    let (status, body) = api
        .json(
            Method::DELETE,
            &format!("/api/v1/users/{frank}/sessions?oauthTokens=yes"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_okta_error(&body, "E0000001");
    let (status, _) = api
        .json(Method::DELETE, "/api/v1/users/00unobody/sessions")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn published(offset_ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::Duration::milliseconds(offset_ms)
}

#[tokio::test]
async fn the_system_log_pages_filters_and_polls() {
    let sim = sim().await;
    let frank = sim.add_user("frank@example-corp.com", "Frank", "Example");
    let user = sim.user(&frank).unwrap();
    let start = published(-60_000);
    let mut uuids = Vec::new();
    for i in 0..5 {
        uuids.push(
            sim.append_log_event(
                LogEventSpec::new("user.lifecycle.deactivate")
                    .target(Party::user(&user))
                    .published(start + chrono::Duration::seconds(i)),
            ),
        );
    }
    sim.append_log_event(
        LogEventSpec::new("user.session.start")
            .target(Party::user(&user))
            .published(start + chrono::Duration::milliseconds(1500)),
    );
    let api = Api::new(&sim).await;
    let since = leaver_sim::okta::wire::timestamp(start - chrono::Duration::seconds(1));
    let until = leaver_sim::okta::wire::timestamp(published(0));
    let filter = "eventType eq \"user.lifecycle.deactivate\"";
    let first_url = format!(
        "{}/api/v1/logs?since={}&until={}&filter={}&limit=2",
        sim.base_url(),
        enc(&since),
        enc(&until),
        enc(filter)
    );
    // A bounded request: next links until the last page.
    let mut url = Some(first_url);
    let mut seen = Vec::new();
    let mut pages = 0;
    while let Some(next) = url {
        let response = api
            .http
            .get(&next)
            .bearer_auth(&api.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["x-rate-limit-limit"]
            .to_str()
            .unwrap()
            .parse::<u32>()
            .is_ok());
        url = next_link(response.headers());
        let page: Value = response.json().await.unwrap();
        for event in page.as_array().unwrap() {
            assert_eq!(event["eventType"], "user.lifecycle.deactivate");
            seen.push(event["uuid"].as_str().unwrap().to_string());
        }
        pages += 1;
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, uuids, "ascending by published, each once");

    // The LogEvent shape of the event hook fixture.
    let (_, one) = api
        .json(
            Method::GET,
            &format!("/api/v1/logs?since={}&limit=1", enc(&since)),
        )
        .await;
    let event = &one[0];
    for key in [
        "uuid",
        "published",
        "eventType",
        "version",
        "displayMessage",
        "severity",
        "actor",
        "client",
        "outcome",
        "target",
        "transaction",
        "debugContext",
        "authenticationContext",
        "securityContext",
        "legacyEventType",
    ] {
        assert!(event.get(key).is_some(), "missing {key}: {event}");
    }

    // Filtering by target.id and descending order.
    let (_, by_target) = api
        .json(
            Method::GET,
            &format!(
                "/api/v1/logs?since={}&filter={}&sortOrder=DESCENDING",
                enc(&since),
                enc(&format!(
                    "target.id eq \"{frank}\" and eventType sw \"user.lifecycle\""
                ))
            ),
        )
        .await;
    let got: Vec<&str> = by_target
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["uuid"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = uuids.iter().map(String::as_str).collect();
    expected.reverse();
    assert_eq!(got, expected);

    // A polling request (no until) always has a next link, even on an empty page, and
    // that link finds later events.
    let response = api
        .call(
            Method::GET,
            &format!("/api/v1/logs?since={}&filter={}", enc(&until), enc(filter)),
        )
        .await;
    let poll = next_link(response.headers()).expect("polling requests always have next");
    assert_eq!(response.json::<Value>().await.unwrap(), json!([]));
    let later = sim.append_log_event(
        LogEventSpec::new("user.lifecycle.deactivate").target(Party::user(&user)),
    );
    let response = api
        .http
        .get(&poll)
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert!(next_link(response.headers()).is_some());
    let page: Value = response.json().await.unwrap();
    assert_eq!(page[0]["uuid"], later.as_str());

    for bad in [
        "/api/v1/logs?limit=0",
        "/api/v1/logs?limit=1001",
        "/api/v1/logs?since=yesterday",
        "/api/v1/logs?sortOrder=SIDEWAYS",
        "/api/v1/logs?after=nonsense",
        "/api/v1/logs?filter=eventType%20eq",
    ] {
        let (status, body) = api.json(Method::GET, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["errorCode"].as_str().is_some(), "{bad}: {body}");
    }
}

fn enc(text: &str) -> String {
    form_urlencoded_encode(text)
}

fn form_urlencoded_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[tokio::test]
async fn the_log_is_eventually_consistent() {
    let sim = sim().await;
    let frank = sim.add_user("frank@example-corp.com", "Frank", "Example");
    let user = sim.user(&frank).unwrap();
    let late = LogEventSpec::new("user.lifecycle.deactivate")
        .target(Party::user(&user))
        .published(published(-5_000))
        .to_json();
    let uuid = sim.append_log_event_visible_after(late, Duration::from_millis(300));
    let api = Api::new(&sim).await;
    let since = enc(&leaver_sim::okta::wire::timestamp(published(-60_000)));
    let (_, now_page) = api
        .json(Method::GET, &format!("/api/v1/logs?since={since}"))
        .await;
    assert_eq!(now_page, json!([]));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, later) = api
        .json(Method::GET, &format!("/api/v1/logs?since={since}"))
        .await;
    assert_eq!(later[0]["uuid"], uuid.as_str());
    assert_eq!(sim.log_events().len(), 1);
}

#[tokio::test]
async fn rate_limits_and_faults_are_rendered_as_okta_answers_them() {
    let sim = sim().await;
    let frank = sim.add_user("frank@example-corp.com", "Frank", "Example");
    let api = Api::new(&sim).await;
    sim.set_rate_limit(2, Duration::from_secs(60));
    let path = format!("/api/v1/users/{frank}");
    let first = api.call(Method::GET, &path).await;
    assert_eq!(first.headers()["x-rate-limit-limit"], "2");
    assert_eq!(first.headers()["x-rate-limit-remaining"], "1");
    assert!(first.headers().contains_key("x-okta-request-id"));
    let _ = api.call(Method::GET, &path).await;
    let refused = api.call(Method::GET, &path).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["x-rate-limit-remaining"], "0");
    let reset: i64 = refused.headers()["x-rate-limit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset > now() && reset <= now() + 61, "{reset}");
    assert_okta_error(&refused.json().await.unwrap(), "E0000047");
    // Another endpoint group has its own budget.
    assert_eq!(
        api.call(Method::GET, "/api/v1/logs").await.status(),
        StatusCode::OK
    );
    assert_eq!(sim.rate_limited_responses(), 1);
    sim.set_rate_limit(600, Duration::from_secs(60));

    sim.faults().fail_next_on("/api/v1/users", 1, 503);
    let failed = api.call(Method::GET, &path).await;
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_okta_error(&failed.json().await.unwrap(), "E0000009");
    sim.faults()
        .too_many_requests_next(1, Duration::from_secs(7));
    let limited = api.call(Method::GET, &path).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        limited.headers().get("retry-after").is_none(),
        "Okta sends no Retry-After"
    );
    let reset: i64 = limited.headers()["x-rate-limit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((now() + 6..=now() + 8).contains(&reset), "{reset}");
    sim.faults().hang_next(1, Duration::from_millis(200));
    let started = std::time::Instant::now();
    assert_eq!(
        api.call(Method::GET, &path).await.status(),
        StatusCode::GATEWAY_TIMEOUT
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(api.call(Method::GET, &path).await.status(), StatusCode::OK);

    assert!(sim.calls(&Method::GET, "/api/v1/users/") >= 6);
    assert_eq!(sim.calls(&Method::POST, "/oauth2/v1/token"), 1);
    let records = sim.requests();
    assert!(records.iter().any(|r| r.fault.is_some()));
    assert!(records
        .iter()
        .all(|r| r.path != "/oauth2/v1/token" || !r.authorization_sent));
}
