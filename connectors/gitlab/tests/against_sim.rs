//! The GitLab connector against the simulated GitLab over 127.0.0.1 (real HTTP).

use leaver_connector::{ActionRequest, Connector, ErrorClass, Identity};
use leaver_connector_gitlab::{GitlabConfig, GitlabConnector};
use leaver_sim::faults::{Fault, FaultRule};
use leaver_sim::gitlab::{GitlabSim, GitlabSimConfig, SourceKind, UserState};
use serde_json::{json, Value};
use std::time::Duration;

/// Recognisable, so a leak is easy to spot in any message.
const TOKEN: &str = "glpat-CANARY_s3cr3t_gitlab_T0KEN_42";

async fn sim() -> GitlabSim {
    GitlabSim::start(GitlabSimConfig {
        token: TOKEN.into(),
        ..Default::default()
    })
    .await
    .expect("sim")
}

fn connector_with(sim: &GitlabSim, token: &str, page_size: u32) -> GitlabConnector {
    GitlabConnector::new(GitlabConfig {
        api_url: sim.api_url(),
        token: token.into(),
        request_timeout: Duration::from_millis(800),
        page_size,
    })
    .expect("connector")
}

fn connector(sim: &GitlabSim) -> GitlabConnector {
    connector_with(sim, TOKEN, 100)
}

fn request(action: &str, identity: &Identity) -> ActionRequest {
    ActionRequest {
        action: action.into(),
        params: Value::Null,
        identity: identity.clone(),
        run_id: "run-1".into(),
        step_id: action.into(),
    }
}

fn assert_no_leak(text: &str) {
    assert!(!text.contains(TOKEN), "token leaked: {text}");
    assert!(!text.contains("CANARY"), "token leaked: {text}");
}

/// Alice: two tokens, two groups and a project. Bob: a colleague with the same kinds.
struct World {
    alice: u64,
    bob: u64,
    alice_identity: Identity,
}

fn seed(sim: &GitlabSim) -> World {
    let alice = sim.add_user("alice", "Alice", "alice@example.com");
    let bob = sim.add_user("bob", "Bob", "bob@example.com");
    let acme = sim.add_group("acme");
    let platform = sim.add_group("acme/platform");
    let api = sim.add_project("acme/api");
    for user in [alice, bob] {
        sim.add_member(SourceKind::Group, acme, user, 30);
        sim.add_member(SourceKind::Project, api, user, 40);
        sim.add_personal_access_token(user, "laptop", &["api"])
            .unwrap();
    }
    sim.add_member(SourceKind::Group, platform, alice, 50);
    sim.add_personal_access_token(alice, "ci", &["read_repository"])
        .unwrap();
    World {
        alice,
        bob,
        alice_identity: Identity::new("alice@example.com").with_account("gitlab", "alice"),
    }
}

fn assert_bob_untouched(sim: &GitlabSim, w: &World) {
    assert_eq!(sim.user_state(w.bob), Some(UserState::Active));
    assert_eq!(sim.active_tokens(w.bob).len(), 1);
    assert_eq!(sim.memberships(w.bob).len(), 2);
}

#[tokio::test]
async fn block_user_changes_verifies_and_is_idempotent() {
    let sim = sim().await;
    let w = seed(&sim);
    let gitlab = connector(&sim);
    let step = request("block_user", &w.alice_identity);

    let preview = gitlab.preview(&step).await.unwrap();
    assert_eq!(preview.would_revoke.len(), 1, "{preview:?}");
    assert_eq!(preview.would_revoke[0].kind, "user");
    assert!(!gitlab.verify(&step).await.unwrap().verified);

    let outcome = gitlab.execute(&step).await.unwrap();
    assert!(outcome.changed, "{outcome:?}");
    assert!(
        outcome.summary.starts_with("blocked GitLab user alice"),
        "{}",
        outcome.summary
    );
    assert_eq!(sim.user_state(w.alice), Some(UserState::Blocked));
    let verification = gitlab.verify(&step).await.unwrap();
    assert!(verification.verified, "{verification:?}");
    assert!(verification.observation.contains("state=blocked"));

    let again = gitlab.execute(&step).await.unwrap();
    assert!(!again.changed);
    assert!(
        again.summary.contains("already blocked"),
        "{}",
        again.summary
    );
    assert!(gitlab.verify(&step).await.unwrap().verified);
    assert_eq!(
        sim.active_tokens(w.alice).len(),
        2,
        "blocking revokes no token"
    );
    assert_bob_untouched(&sim, &w);
    assert_no_leak(&format!(
        "{preview:?} {outcome:?} {verification:?} {again:?}"
    ));
}

#[tokio::test]
async fn revoke_tokens_changes_verifies_and_is_idempotent() {
    let sim = sim().await;
    let w = seed(&sim);
    let gitlab = connector(&sim);
    let step = request("revoke_personal_access_tokens", &w.alice_identity);
    assert_eq!(gitlab.preview(&step).await.unwrap().would_revoke.len(), 2);
    assert!(!gitlab.verify(&step).await.unwrap().verified);

    let outcome = gitlab.execute(&step).await.unwrap();
    assert!(outcome.changed);
    assert_eq!(
        outcome.details["revoked"].as_array().unwrap().len(),
        2,
        "{outcome:?}"
    );
    assert!(sim.active_tokens(w.alice).is_empty());
    let verification = gitlab.verify(&step).await.unwrap();
    assert!(verification.verified, "{verification:?}");

    let again = gitlab.execute(&step).await.unwrap();
    assert!(!again.changed, "{again:?}");
    assert!(gitlab.verify(&step).await.unwrap().verified);
    assert_bob_untouched(&sim, &w);
    assert_no_leak(&format!("{outcome:?} {verification:?}"));
}

#[tokio::test]
async fn remove_memberships_changes_verifies_and_is_idempotent() {
    let sim = sim().await;
    let w = seed(&sim);
    let gitlab = connector(&sim);
    let step = request("remove_memberships", &w.alice_identity);
    let preview = gitlab.preview(&step).await.unwrap();
    let kinds: Vec<_> = preview
        .would_revoke
        .iter()
        .map(|h| h.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        ["group_membership", "group_membership", "project_membership"]
    );

    let outcome = gitlab.execute(&step).await.unwrap();
    assert!(outcome.changed);
    assert!(
        outcome.summary.contains("from 2 groups and 1 project"),
        "{}",
        outcome.summary
    );
    assert!(sim.memberships(w.alice).is_empty());
    assert!(gitlab.verify(&step).await.unwrap().verified);

    let again = gitlab.execute(&step).await.unwrap();
    assert!(!again.changed);
    assert!(gitlab.verify(&step).await.unwrap().verified);
    assert_bob_untouched(&sim, &w);
}

#[tokio::test]
async fn user_found_by_email_and_inventory_reports_what_is_left() {
    let sim = sim().await;
    let w = seed(&sim);
    let gitlab = connector(&sim);
    let by_email = Identity::new("Alice@Example.com");
    let all = [
        request("block_user", &by_email),
        request("revoke_personal_access_tokens", &by_email),
        request("remove_memberships", &by_email),
    ];
    let before = gitlab.inventory(&by_email, &all).await.unwrap();
    assert_eq!(before.len(), 1 + 2 + 3, "{before:#?}");
    assert!(gitlab.inventory(&by_email, &all[..1]).await.unwrap().len() == 1);

    let outcome = gitlab.execute(&all[0]).await.unwrap();
    assert_eq!(outcome.details["found_by"], "email Alice@Example.com");
    gitlab.execute(&all[2]).await.unwrap();
    let left = gitlab.inventory(&by_email, &all).await.unwrap();
    assert_eq!(left.len(), 2, "the tokens remain: {left:#?}");
    assert!(left.iter().all(|h| h.kind == "personal_access_token"));
    gitlab.execute(&all[1]).await.unwrap();
    assert!(gitlab.inventory(&by_email, &all).await.unwrap().is_empty());
    assert_eq!(sim.user_state(w.alice), Some(UserState::Blocked));
    assert_bob_untouched(&sim, &w);
    assert_no_leak(&format!("{before:?} {left:?}"));
}

#[tokio::test]
async fn unknown_user_is_a_clear_permanent_error() {
    let sim = sim().await;
    seed(&sim);
    let gitlab = connector(&sim);
    let ghost = Identity::new("ghost@example.com").with_account("gitlab", "ghost");
    let e = gitlab
        .execute(&request("block_user", &ghost))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("GitLab user `ghost`"), "{}", e.message);
    assert!(e.message.contains("not found"), "{}", e.message);

    let nobody = Identity::new("nobody@example.com");
    let e = gitlab
        .execute(&request("remove_memberships", &nobody))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(
        e.message
            .contains("no GitLab user found for nobody@example.com"),
        "{}",
        e.message
    );
    let preview = gitlab
        .preview(&request("block_user", &nobody))
        .await
        .unwrap();
    assert!(preview.would_revoke.is_empty());
    assert!(
        preview.notes[0].contains("no GitLab user found"),
        "{preview:?}"
    );
    assert!(gitlab.inventory(&nobody, &[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn refusals_are_permanent_with_gitlabs_message_and_no_token() {
    let sim = sim().await;
    let w = seed(&sim);
    // A wrong token (recognisable too): 401.
    let wrong = "glpat-CANARY_wrong_token_0000";
    let e = connector_with(&sim, wrong, 100)
        .execute(&request("block_user", &w.alice_identity))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert_eq!(e.status, Some(401));
    assert!(e.message.contains("401 Unauthorized"), "{}", e.message);
    assert!(!e.message.contains(wrong));
    // A non-admin's token: 403.
    let own = sim
        .add_personal_access_token(w.bob, "mine", &["api"])
        .unwrap();
    let e = connector_with(&sim, &own.token, 100)
        .execute(&request("block_user", &w.alice_identity))
        .await
        .unwrap_err();
    assert_eq!(e.status, Some(403));
    assert!(e.message.contains("403 Forbidden"), "{}", e.message);
    assert!(!e.message.contains(&own.token));
    // LDAP-blocked users count as blocked; the API would refuse them anyway.
    sim.set_user_state(w.alice, UserState::LdapBlocked);
    let outcome = connector(&sim)
        .execute(&request("block_user", &w.alice_identity))
        .await
        .unwrap();
    assert!(!outcome.changed);
    assert_no_leak(&format!("{e:?} {outcome:?}"));
}

#[tokio::test]
async fn throttling_and_server_errors_are_transient() {
    let sim = sim().await;
    let w = seed(&sim);
    let gitlab = connector(&sim);
    let step = request("block_user", &w.alice_identity);

    sim.faults()
        .too_many_requests_next(1, Duration::from_secs(7));
    let e = gitlab.execute(&step).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert_eq!(e.status, Some(429));
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
    assert!(e.message.contains("Retry later"), "{}", e.message);

    // Each call gets three tries (CallRetry::STANDARD): three failures in a row fail it.
    for status in [500, 502, 503] {
        sim.faults().fail_next(3, status);
        let e = gitlab.execute(&step).await.unwrap_err();
        assert_eq!(e.class, ErrorClass::Transient, "{status}: {e:?}");
        assert_eq!(e.status, Some(status));
    }
    assert_eq!(sim.user_state(w.alice), Some(UserState::Active));
    // A single 503 is absorbed by the call's own retry.
    sim.faults().fail_next(1, 503);
    assert!(gitlab.execute(&step).await.unwrap().changed);
}

#[tokio::test]
async fn rate_limit_quota_wait_comes_from_ratelimit_reset() {
    let sim = GitlabSim::start(GitlabSimConfig {
        token: TOKEN.into(),
        rate_limit: Some((1, Duration::from_secs(20))),
        ..Default::default()
    })
    .await
    .unwrap();
    let w = seed(&sim);
    let gitlab = connector(&sim);
    let e = gitlab
        .execute(&request("revoke_personal_access_tokens", &w.alice_identity))
        .await
        .unwrap_err();
    assert_eq!(e.status, Some(429));
    let wait = e.retry_after.expect("retry_after");
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(20),
        "{wait:?}"
    );
}

#[tokio::test]
async fn a_hung_gitlab_is_a_transient_timeout() {
    let sim = sim().await;
    let w = seed(&sim);
    let gitlab = connector(&sim);
    sim.faults()
        .inject(FaultRule::next(1, Fault::Hang(Duration::from_secs(5))).on_path("/api/v4/users"));
    let started = std::time::Instant::now();
    let e = gitlab
        .execute(&request("block_user", &w.alice_identity))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert!(e.message.contains("timed out"), "{}", e.message);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_no_leak(&e.message);
}

#[tokio::test]
async fn pagination_across_many_pages_of_tokens_and_memberships() {
    let sim = sim().await;
    let carol = sim.add_user("carol", "Carol", "carol@example.com");
    for i in 0..23 {
        sim.add_personal_access_token(carol, &format!("token-{i}"), &["api"])
            .unwrap();
        let g = sim.add_group(&format!("team-{i}"));
        sim.add_member(SourceKind::Group, g, carol, 30);
    }
    for i in 0..4 {
        let p = sim.add_project(&format!("team-0/project-{i}"));
        sim.add_member(SourceKind::Project, p, carol, 40);
    }
    let identity = Identity::new("carol@example.com");
    // Five items per page: tokens take 5 pages, memberships 6.
    let gitlab = connector_with(&sim, TOKEN, 5);
    let inventory = gitlab.inventory(&identity, &[]).await.unwrap();
    assert_eq!(inventory.len(), 1 + 23 + 27);

    let tokens = request("revoke_personal_access_tokens", &identity);
    let outcome = gitlab.execute(&tokens).await.unwrap();
    assert_eq!(outcome.details["revoked"].as_array().unwrap().len(), 23);
    assert!(sim.active_tokens(carol).is_empty());
    assert!(gitlab.verify(&tokens).await.unwrap().verified);

    let members = request("remove_memberships", &identity);
    let outcome = gitlab.execute(&members).await.unwrap();
    assert_eq!(outcome.details["removed"].as_array().unwrap().len(), 27);
    assert!(sim.memberships(carol).is_empty());
    assert!(gitlab.verify(&members).await.unwrap().verified);
    let pages = sim
        .requests()
        .iter()
        .filter(|r| {
            r.path.ends_with("/memberships")
                && r.query.as_deref().is_some_and(|q| q.contains("page=6"))
        })
        .count();
    assert!(pages >= 1, "the sixth page of memberships was read");
}

#[tokio::test]
async fn unknown_params_are_refused() {
    let sim = sim().await;
    let w = seed(&sim);
    let mut step = request("block_user", &w.alice_identity);
    step.params = json!({"org": "acme"});
    let e = connector(&sim).execute(&step).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.starts_with("invalid parameters"), "{}", e.message);
}
