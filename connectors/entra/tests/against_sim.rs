//! The Entra connector against the simulated Entra / Microsoft Graph over real HTTP on
//! 127.0.0.1: client-credentials tokens (cached), revoke_sessions and disable_user
//! verified by reading Graph back, idempotency, clear errors, throttling, a wrong secret,
//! and no secret in any error.

use leaver_connector::{ActionRequest, Connector, ErrorClass, Identity};
use leaver_connector_entra::{EntraConfig, EntraConnector, Graph, DISABLE_USER, REVOKE_SESSIONS};
use leaver_sim::entra::{EntraSim, EntraSimConfig};
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "entra-client-secret-canary-3f9b";

async fn sim() -> EntraSim {
    EntraSim::start(EntraSimConfig {
        client_secret: SECRET.into(),
        ..EntraSimConfig::default()
    })
    .await
    .unwrap()
}

fn config(sim: &EntraSim, secret: &str) -> EntraConfig {
    EntraConfig {
        tenant_id: sim.tenant_id().to_string(),
        authority_url: sim.base_url(),
        graph_url: sim.base_url(),
        client_id: EntraSimConfig::default().client_id,
        client_secret: secret.into(),
        request_timeout: Duration::from_secs(5),
    }
}

fn connector(sim: &EntraSim) -> EntraConnector {
    EntraConnector::new(config(sim, SECRET)).unwrap()
}

fn request(action: &str, identity: Identity, step: &str) -> ActionRequest {
    ActionRequest {
        action: action.into(),
        params: serde_json::Value::Null,
        identity,
        run_id: "run-1".into(),
        step_id: step.into(),
    }
}

fn by_email(email: &str) -> Identity {
    let mut identity = Identity::new(email);
    identity.idp = "entra".into();
    identity
}

#[tokio::test]
async fn revoke_sessions_is_verified_by_the_sessions_timestamp() {
    let sim = sim().await;
    let alice = sim.add_user("alice@example.com", "Alice Example");
    let before = sim.user(&alice).unwrap().sign_in_sessions_valid_from;
    let c = connector(&sim);
    let mut identity = by_email("alice@example.com");
    identity.idp_user_id = Some(alice.clone());
    let req = request(REVOKE_SESSIONS, identity, "sessions");

    let outcome = c.execute(&req).await.unwrap();
    assert!(outcome.changed);
    assert_eq!(outcome.details["user_id"], alice.as_str());
    let verification = c.verify(&req).await.unwrap();
    assert!(verification.verified, "{}", verification.observation);
    let user = sim.user(&alice).unwrap();
    assert!(user.sign_in_sessions_valid_from > before);
    assert_eq!(user.revocations, 1);

    // Idempotent: again is fine, and verified again.
    c.execute(&req).await.unwrap();
    assert!(c.verify(&req).await.unwrap().verified);
    assert_eq!(sim.user(&alice).unwrap().revocations, 2);
    // A verified revocation is forgotten: a later probe without a new revocation (after
    // a restart, say) is not taken as proof.
    assert!(!c.verify(&req).await.unwrap().verified);

    // A verification without a revocation by this step is not a success.
    let other = request(REVOKE_SESSIONS, by_email("alice@example.com"), "never-ran");
    assert!(!c.verify(&other).await.unwrap().verified);

    // One token for all of it (cached), fetched with the client secret.
    assert_eq!(sim.tokens_issued(), 1);
}

#[tokio::test]
async fn disable_user_is_verified_and_idempotent() {
    let sim = sim().await;
    let bob = sim.add_user("bob@example.com", "Bob Example");
    let carol = sim.add_user("carol@example.com", "Carol Example");
    let c = connector(&sim);
    // Found by UPN (the email), no id known.
    let req = request(DISABLE_USER, by_email("bob@example.com"), "disable");
    let preview = c.preview(&req).await.unwrap();
    assert_eq!(preview.would_revoke.len(), 1);
    assert_eq!(
        c.inventory(&req.identity, std::slice::from_ref(&req))
            .await
            .unwrap()
            .len(),
        1
    );

    let outcome = c.execute(&req).await.unwrap();
    assert!(outcome.changed, "{outcome:?}");
    let verification = c.verify(&req).await.unwrap();
    assert!(verification.verified, "{}", verification.observation);
    assert!(!sim.user(&bob).unwrap().account_enabled);
    assert!(
        sim.user(&carol).unwrap().account_enabled,
        "someone else was disabled"
    );

    let again = c.execute(&req).await.unwrap();
    assert!(!again.changed, "already disabled is unchanged: {again:?}");
    assert!(c
        .inventory(&req.identity, std::slice::from_ref(&req))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn unknown_users_are_a_clear_permanent_error() {
    let sim = sim().await;
    sim.add_user("alice@example.com", "Alice Example");
    let c = connector(&sim);
    let mut identity = by_email("nobody@example.com");
    identity.idp_user_id = Some("00000000-0000-0000-0000-0000000000aa".into());
    for action in [REVOKE_SESSIONS, DISABLE_USER] {
        let error = c
            .execute(&request(action, identity.clone(), "x"))
            .await
            .unwrap_err();
        assert_eq!(error.class, ErrorClass::Permanent);
        assert!(
            error
                .message
                .contains("no Entra user found for nobody@example.com"),
            "{}",
            error.message
        );
    }
}

#[tokio::test]
async fn throttling_is_transient_with_the_wait() {
    let sim = sim().await;
    sim.add_user("alice@example.com", "Alice Example");
    let c = connector(&sim);
    let req = request(DISABLE_USER, by_email("alice@example.com"), "d");
    // Token first, so the fault hits Graph.
    c.graph().unwrap().check_token().await.unwrap();
    sim.faults()
        .too_many_requests_next(1, Duration::from_secs(7));
    let error = c.execute(&req).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Transient);
    assert_eq!(error.status, Some(429));
    assert_eq!(error.retry_after, Some(Duration::from_secs(7)));
    assert!(
        error.message.contains("TooManyRequests"),
        "{}",
        error.message
    );

    // Each call gets three tries (CallRetry::STANDARD): three 503s in a row fail it,
    // a single one is absorbed.
    sim.faults().fail_next(3, 503);
    let error = c.execute(&req).await.unwrap_err();
    assert!(error.is_transient());
    sim.faults().fail_next(1, 503);
    assert!(c.execute(&req).await.unwrap().changed);
}

#[tokio::test]
async fn denied_writes_are_permanent_with_graphs_message() {
    let sim = sim().await;
    sim.add_user("alice@example.com", "Alice Example");
    sim.set_deny_writes(true);
    let c = connector(&sim);
    let error = c
        .execute(&request(DISABLE_USER, by_email("alice@example.com"), "d"))
        .await
        .unwrap_err();
    assert_eq!(error.class, ErrorClass::Permanent);
    assert_eq!(error.status, Some(403));
    assert!(
        error.message.contains("Authorization_RequestDenied")
            && error.message.contains("Insufficient privileges"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_wrong_secret_is_permanent_and_never_echoed() {
    let sim = sim().await;
    sim.add_user("alice@example.com", "Alice Example");
    let wrong = "wrong-secret-canary-77aa";
    let c = EntraConnector::new(config(&sim, wrong)).unwrap();
    let error = c
        .execute(&request(
            REVOKE_SESSIONS,
            by_email("alice@example.com"),
            "r",
        ))
        .await
        .unwrap_err();
    assert_eq!(error.class, ErrorClass::Permanent);
    assert_eq!(error.status, Some(401));
    assert!(
        error.message.contains("invalid_client") && error.message.contains("AADSTS7000215"),
        "{}",
        error.message
    );
    for canary in [wrong, SECRET] {
        assert!(!error.message.contains(canary), "{}", error.message);
        assert!(!format!("{error:?}").contains(canary));
        assert!(!format!("{c:?}").contains(canary));
    }
    // An unreachable authority: transient, no secret either.
    let mut unreachable = config(&sim, SECRET);
    unreachable.authority_url = "http://127.0.0.1:9".into();
    let graph = Graph::new(&unreachable).unwrap();
    let error = graph.check_token().await.unwrap_err();
    assert!(error.is_transient(), "{}", error.message);
    assert!(!error.message.contains(SECRET));
}

#[tokio::test]
async fn an_expired_token_is_replaced_once() {
    let sim = sim().await;
    let alice = sim.add_user("alice@example.com", "Alice Example");
    let graph = Arc::new(Graph::new(&config(&sim, SECRET)).unwrap());
    let c = EntraConnector::with_graph(graph.clone());
    let req = request(DISABLE_USER, by_email("alice@example.com"), "d");
    c.preview(&req).await.unwrap();
    sim.expire_access_tokens();
    c.execute(&req).await.unwrap();
    assert!(!sim.user(&alice).unwrap().account_enabled);
    assert_eq!(graph.tokens_fetched(), 2);
}
