//! The Okta connector against the simulated Okta org over 127.0.0.1 (real HTTP): the
//! private_key_jwt token flow (the simulator checks every client assertion), both
//! actions changing and verifying state, idempotency, classification of Okta's errors
//! and rate limits, and no secret in any message.

use leaver_connector::{ActionRequest, Connector, ErrorClass, Identity};
use leaver_connector_okta::{LogQuery, OktaApiConfig, OktaConnector};
use leaver_sim::faults::{Fault, FaultRule};
use leaver_sim::okta::{KeyPair, OktaSim, OktaSimConfig, SimClient};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Duration;

const CLIENT_ID: &str = "0oaleaversvc000001";
const KEY_ID: &str = "leaver-key-1";

fn keys() -> &'static KeyPair {
    static KEYS: OnceLock<KeyPair> = OnceLock::new();
    KEYS.get_or_init(|| KeyPair::generate_rsa().expect("rsa key"))
}

fn other_keys() -> &'static KeyPair {
    static KEYS: OnceLock<KeyPair> = OnceLock::new();
    KEYS.get_or_init(|| KeyPair::generate_rsa().expect("rsa key"))
}

async fn sim() -> OktaSim {
    OktaSim::start(OktaSimConfig {
        clients: vec![SimClient {
            client_id: CLIENT_ID.into(),
            name: "Leaver offboarding".into(),
            public_key_pem: keys().public_key_pem.clone(),
            key_id: Some(KEY_ID.into()),
            scopes: vec![
                "okta.users.manage".into(),
                "okta.users.read".into(),
                "okta.logs.read".into(),
            ],
        }],
        deactivation_delay: Duration::from_millis(300),
        ..Default::default()
    })
    .await
    .expect("sim starts")
}

fn config(sim: &OktaSim, key: &KeyPair) -> OktaApiConfig {
    OktaApiConfig {
        org_url: sim.base_url(),
        client_id: CLIENT_ID.into(),
        private_key_pem: key.private_key_pem.clone(),
        key_id: Some(KEY_ID.into()),
        request_timeout: Duration::from_secs(5),
        ..OktaApiConfig::default()
    }
}

fn connector(sim: &OktaSim) -> OktaConnector {
    OktaConnector::new(config(sim, keys())).expect("connector")
}

fn request(action: &str, identity: &Identity, params: Value) -> ActionRequest {
    ActionRequest {
        action: action.into(),
        params,
        identity: identity.clone(),
        run_id: "run-1".into(),
        step_id: action.into(),
    }
}

fn okta_identity(email: &str, id: &str) -> Identity {
    let mut identity = Identity::new(email);
    identity.idp = "okta".into();
    identity.idp_user_id = Some(id.into());
    identity
}

/// No secret in `text`: no piece of either private key, no bearer token, no assertion.
fn assert_no_secret(text: &str) {
    for key in [keys(), other_keys()] {
        for line in key
            .private_key_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
        {
            assert!(!text.contains(line), "private key leaked: {text}");
        }
    }
    assert!(!text.contains("Bearer "), "a bearer token leaked: {text}");
    assert!(!text.contains("eyJ"), "a JWT leaked: {text}");
    assert!(!text.contains("CANARY"), "a canary leaked: {text}");
}

#[tokio::test]
async fn deactivate_user_changes_verifies_and_is_idempotent() {
    let sim = sim().await;
    let frank = sim.add_user("frank@example.com", "Frank", "Example");
    let grace = sim.add_user("grace@example.com", "Grace", "Example");
    let okta = connector(&sim);
    let identity = okta_identity("frank@example.com", &frank);
    let deactivate = request("deactivate_user", &identity, Value::Null);

    let first = okta.execute(&deactivate).await.expect("deactivate");
    assert!(first.changed, "{first:?}");
    assert_eq!(first.details["user_id"], frank.as_str());
    // Deactivation is asynchronous at Okta: the probe waits for it to finish.
    let verified = okta.verify(&deactivate).await.expect("verify");
    assert!(verified.verified, "{verified:?}");
    assert!(verified.observation.contains("DEPROVISIONED"));
    assert_eq!(sim.user(&frank).unwrap().status, "DEPROVISIONED");
    assert_eq!(sim.user(&grace).unwrap().status, "ACTIVE");
    let calls: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/lifecycle/deactivate"))
        .collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].query.as_deref(), Some("sendEmail=false"));

    // Again: already DEPROVISIONED is success without a change, still verified.
    let second = okta.execute(&deactivate).await.expect("again");
    assert!(!second.changed, "{second:?}");
    assert!(okta.verify(&deactivate).await.unwrap().verified);
    // Found by email as well (no idp_user_id), and by the search that includes
    // DEPROVISIONED users.
    let by_email = request(
        "deactivate_user",
        &Identity::new("frank@example.com"),
        json!({}),
    );
    assert!(!okta.execute(&by_email).await.unwrap().changed);

    // One access token for all of it: cached.
    assert_eq!(sim.access_tokens_issued(), 1);
    let holdings = okta
        .inventory(&identity, std::slice::from_ref(&deactivate))
        .await
        .unwrap();
    assert!(holdings.is_empty(), "{holdings:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn revoke_sessions_clears_sessions_and_oauth_tokens_and_verifies() {
    let sim = sim().await;
    let frank = sim.add_user("frank@example.com", "Frank", "Example");
    let grace = sim.add_user("grace@example.com", "Grace", "Example");
    for user in [&frank, &grace] {
        sim.add_session(user);
        sim.add_session(user);
        sim.add_refresh_token(user, "0oaslack", &["openid", "offline_access"]);
        sim.add_refresh_token(user, "0oagitlab", &["openid", "offline_access"]);
    }
    sim.add_grant(&frank, "0oaslack", "openid");
    let okta = connector(&sim);
    let identity = okta_identity("frank@example.com", &frank);
    let revoke = request("revoke_sessions", &identity, json!({}));

    let preview = okta.preview(&revoke).await.unwrap();
    assert_eq!(preview.would_revoke.len(), 2, "{preview:?}");
    let before = okta
        .inventory(&identity, std::slice::from_ref(&revoke))
        .await
        .unwrap();
    assert_eq!(before.len(), 2, "two refresh tokens: {before:?}");

    let outcome = okta.execute(&revoke).await.expect("revoke");
    assert!(outcome.changed);
    assert_eq!(outcome.details["refresh_tokens_revoked"], 2);
    assert!(sim.sessions(&frank).is_empty());
    assert!(sim.refresh_tokens(&frank).is_empty());
    let clears = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::DELETE && r.path.ends_with("/sessions"))
        .collect::<Vec<_>>();
    assert_eq!(clears.len(), 1);
    assert_eq!(clears[0].query.as_deref(), Some("oauthTokens=true"));
    let verification = okta.verify(&revoke).await.expect("verify");
    assert!(verification.verified, "{verification:?}");
    assert!(
        verification.observation.contains("user.session.clear")
            && verification.observation.contains("no active refresh token"),
        "{}",
        verification.observation
    );
    // Grace keeps everything.
    assert_eq!(sim.sessions(&grace).len(), 2);
    assert_eq!(sim.refresh_tokens(&grace).len(), 2);

    // Again: harmless, still verified.
    assert!(okta.execute(&revoke).await.is_ok());
    assert!(okta.verify(&revoke).await.unwrap().verified);
    assert!(okta
        .inventory(&identity, std::slice::from_ref(&revoke))
        .await
        .unwrap()
        .is_empty());

    // After a deactivation there is nothing left to clear: changed=false.
    let deactivate = request("deactivate_user", &identity, Value::Null);
    okta.execute(&deactivate).await.unwrap();
    assert!(okta.verify(&deactivate).await.unwrap().verified);
    let after = okta.execute(&revoke).await.unwrap();
    assert!(!after.changed, "{after:?}");
    assert!(okta.verify(&revoke).await.unwrap().verified);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_session_clear_the_log_does_not_show_yet_is_not_verified() {
    let sim = sim().await;
    let frank = sim.add_user("frank@example.com", "Frank", "Example");
    sim.add_session(&frank);
    sim.set_log_delay(Duration::from_secs(60));
    let okta = connector(&sim);
    let revoke = request(
        "revoke_sessions",
        &okta_identity("frank@example.com", &frank),
        json!({}),
    );
    okta.execute(&revoke).await.unwrap();
    let verification = okta.verify(&revoke).await.unwrap();
    assert!(!verification.verified, "{verification:?}");
    assert!(verification.observation.contains("eventually consistent"));
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_users_are_a_clear_permanent_error() {
    let sim = sim().await;
    let okta = connector(&sim);
    let identity = okta_identity("nobody@example.com", "00unobody0000000001");
    for action in ["deactivate_user", "revoke_sessions"] {
        let error = okta
            .execute(&request(action, &identity, Value::Null))
            .await
            .expect_err("unknown user");
        assert_eq!(error.class, ErrorClass::Permanent, "{error:?}");
        assert!(
            error
                .message
                .contains("no Okta user found for nobody@example.com")
                && error.message.contains("00unobody0000000001"),
            "{}",
            error.message
        );
        assert_no_secret(&error.message);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_transient() {
    let sim = sim().await;
    let frank = sim.add_user("frank@example.com", "Frank", "Example");
    let okta = connector(&sim);
    let identity = okta_identity("frank@example.com", &frank);
    let deactivate = request("deactivate_user", &identity, Value::Null);
    // A token first, so the faults hit the API calls.
    assert!(!okta.verify(&deactivate).await.unwrap().verified);

    sim.faults().inject(
        FaultRule::next(
            1,
            Fault::RateLimited {
                status: 429,
                retry_after: Some(Duration::from_secs(7)),
            },
        )
        .on_path("/api/v1/users"),
    );
    let limited = okta.execute(&deactivate).await.expect_err("429");
    assert_eq!(limited.class, ErrorClass::Transient);
    assert_eq!(limited.status, Some(429));
    let wait = limited.retry_after.expect("waits for X-Rate-Limit-Reset");
    assert!(
        wait >= Duration::from_secs(5) && wait <= Duration::from_secs(8),
        "{wait:?}"
    );
    assert!(limited.message.contains("E0000047"), "{}", limited.message);

    // Each call gets three tries (CallRetry::STANDARD): three 503s in a row fail it.
    sim.faults().fail_next_on("/api/v1/users", 3, 503);
    let unavailable = okta.execute(&deactivate).await.expect_err("503");
    assert_eq!(unavailable.class, ErrorClass::Transient);
    assert_eq!(unavailable.status, Some(503));
    assert!(
        unavailable.message.starts_with("Okta 503:"),
        "{}",
        unavailable.message
    );

    // A rate-limited token endpoint is transient too.
    sim.revoke_access_tokens();
    let fresh = OktaConnector::new(config(&sim, keys())).unwrap();
    sim.faults().inject(
        FaultRule::next(
            1,
            Fault::RateLimited {
                status: 429,
                retry_after: Some(Duration::from_secs(3)),
            },
        )
        .on_path("/oauth2/v1/token"),
    );
    let token_limited = fresh.execute(&deactivate).await.expect_err("429 token");
    assert!(token_limited.is_transient(), "{token_limited:?}");
    assert!(token_limited.retry_after.is_some());
    for e in [&limited, &unavailable, &token_limited] {
        assert_no_secret(&e.message);
    }

    // Nothing was applied by the failed calls; the next attempt goes through, a
    // single 503 absorbed by the call's own retry.
    sim.faults().fail_next_on("/api/v1/users", 1, 503);
    assert!(okta.execute(&deactivate).await.unwrap().changed);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_refused_token_is_replaced_once() {
    let sim = sim().await;
    let frank = sim.add_user("frank@example.com", "Frank", "Example");
    let okta = connector(&sim);
    let deactivate = request(
        "deactivate_user",
        &okta_identity("frank@example.com", &frank),
        Value::Null,
    );
    assert!(!okta.verify(&deactivate).await.unwrap().verified);
    sim.revoke_access_tokens();
    assert!(okta.execute(&deactivate).await.unwrap().changed);
    assert_eq!(sim.access_tokens_issued(), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_wrong_key_is_permanent_with_oktas_error_and_no_secret() {
    let sim = sim().await;
    let frank = sim.add_user("frank@example.com", "Frank", "Example");
    let wrong = OktaConnector::new(config(&sim, other_keys())).unwrap();
    let error = wrong
        .execute(&request(
            "deactivate_user",
            &okta_identity("frank@example.com", &frank),
            Value::Null,
        ))
        .await
        .expect_err("refused");
    assert_eq!(error.class, ErrorClass::Permanent, "{error:?}");
    assert_eq!(error.status, Some(401));
    assert!(
        error.message.contains("invalid_client") && error.message.contains("/oauth2/v1/token"),
        "{}",
        error.message
    );
    assert_no_secret(&error.message);
    assert_eq!(sim.user(&frank).unwrap().status, "ACTIVE");

    // A scope the app was not granted: Okta's invalid_scope, permanent.
    let mut greedy = config(&sim, keys());
    greedy.scopes.push("okta.groups.manage".into());
    let error = OktaConnector::new(greedy)
        .unwrap()
        .execute(&request(
            "deactivate_user",
            &okta_identity("frank@example.com", &frank),
            Value::Null,
        ))
        .await
        .expect_err("invalid scope");
    assert_eq!(error.class, ErrorClass::Permanent);
    assert!(error.message.contains("invalid_scope"), "{}", error.message);

    // A key that is no key: refused at setup, without echoing it.
    let canary = OktaApiConfig {
        private_key_pem:
            "-----BEGIN PRIVATE KEY-----\nCANARYs3cr3tK3yMaterial\n-----END PRIVATE KEY-----\n"
                .into(),
        ..config(&sim, keys())
    };
    let setup = OktaConnector::new(canary.clone()).expect_err("not a key");
    assert_no_secret(&setup.to_string());
    assert_no_secret(&format!("{canary:?}"));
    assert_no_secret(&format!("{:?}", connector(&sim)));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_system_log_is_read_page_by_page() {
    let sim = sim().await;
    let users: Vec<String> = (0..5)
        .map(|i| sim.add_user(&format!("u{i}@example.com"), "U", "Ser"))
        .collect();
    for user in &users {
        sim.admin_deactivate(user).unwrap();
    }
    let api = connector(&sim).api();
    let mut page = api
        .log_page(&LogQuery {
            since: chrono::Utc::now() - chrono::Duration::minutes(5),
            filter: Some("eventType eq \"user.lifecycle.deactivate\"".into()),
            limit: 2,
            descending: false,
        })
        .await
        .unwrap();
    let mut seen = Vec::new();
    loop {
        if page.events.is_empty() {
            break;
        }
        seen.extend(page.events.iter().map(|e| e["uuid"].clone()));
        page = api.log_next(page.next.as_deref().unwrap()).await.unwrap();
    }
    assert_eq!(seen.len(), 5);
    assert!(api
        .log_next("http://evil.example/api/v1/logs")
        .await
        .is_err());
    sim.shutdown().await;
}
