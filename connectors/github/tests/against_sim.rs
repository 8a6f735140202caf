//! The GitHub connector against the simulated GitHub over 127.0.0.1 (real HTTP).

use leaver_connector::{ActionRequest, Connector, ErrorClass, Identity};
use leaver_connector_github::{GithubConfig, GithubConnector};
use leaver_sim::github::{GithubSim, GithubSimConfig};
use std::time::Duration;

/// Recognisable, so a leak is easy to spot in any message.
const TOKEN: &str = "ghp_CANARY_s3cr3t_T0KEN_do_not_leak_42";

async fn sim() -> GithubSim {
    sim_with(GithubSimConfig::default()).await
}

async fn sim_with(config: GithubSimConfig) -> GithubSim {
    let sim = GithubSim::start(GithubSimConfig {
        token: TOKEN.into(),
        ..config
    })
    .await
    .expect("sim");
    sim.add_member("acme", "alice-gh", "member");
    sim
}

fn config(sim: &GithubSim) -> GithubConfig {
    GithubConfig {
        api_url: sim.base_url(),
        org: Some("acme".into()),
        token: TOKEN.into(),
        request_timeout: Duration::from_secs(5),
        ..GithubConfig::default()
    }
}

fn connector(sim: &GithubSim) -> GithubConnector {
    GithubConnector::new(config(sim)).expect("connector")
}

fn alice() -> Identity {
    Identity::new("alice@example.com").with_account("github", "alice-gh")
}

fn request(identity: Identity, params: serde_json::Value) -> ActionRequest {
    ActionRequest {
        action: "remove_org_member".into(),
        params,
        identity,
        run_id: "run-1".into(),
        step_id: "github".into(),
    }
}

fn remove_alice() -> ActionRequest {
    request(alice(), serde_json::json!({ "org": "acme" }))
}

fn assert_no_leak(text: &str) {
    assert!(!text.contains(TOKEN), "token leaked: {text}");
    assert!(!text.contains("CANARY"), "token leaked: {text}");
}

#[tokio::test]
async fn removes_then_verifies_then_is_idempotent() {
    let sim = sim().await;
    let github = connector(&sim);

    let preview = github.preview(&remove_alice()).await.unwrap();
    assert_eq!(preview.would_revoke.len(), 1);
    let holding = &preview.would_revoke[0];
    assert_eq!(
        (
            holding.system.as_str(),
            holding.kind.as_str(),
            holding.resource.as_str()
        ),
        ("github", "org_membership", "acme")
    );
    assert!(sim.is_member("acme", "alice-gh"), "preview changed nothing");

    let before = github.verify(&remove_alice()).await.unwrap();
    assert!(!before.verified);
    assert!(
        before.observation.contains("state active"),
        "{}",
        before.observation
    );

    let outcome = github.execute(&remove_alice()).await.unwrap();
    assert!(outcome.changed, "{outcome:?}");
    assert_eq!(outcome.summary, "removed alice-gh from GitHub org acme");
    assert!(!sim.is_member("acme", "alice-gh"));
    assert_eq!(sim.removals("acme", "alice-gh"), 1);

    let verification = github.verify(&remove_alice()).await.unwrap();
    assert!(verification.verified);
    assert_eq!(
        verification.observation,
        "GET /orgs/acme/memberships/alice-gh answered 404"
    );

    let again = github.execute(&remove_alice()).await.unwrap();
    assert!(!again.changed, "second run is unchanged: {again:?}");
    assert!(again.summary.contains("already not a member"));
    assert_eq!(sim.removals("acme", "alice-gh"), 1);

    assert!(github
        .inventory(&alice(), &[remove_alice()])
        .await
        .unwrap()
        .is_empty());
    assert_no_leak(&format!(
        "{outcome:?} {verification:?} {again:?} {preview:?}"
    ));
}

#[tokio::test]
async fn default_org_comes_from_config() {
    let sim = sim().await;
    let github = connector(&sim);
    let outcome = github
        .execute(&request(alice(), serde_json::json!({})))
        .await
        .unwrap();
    assert!(outcome.changed);
    assert!(!sim.is_member("acme", "alice-gh"));
}

#[tokio::test]
async fn pending_invitation_is_cancelled_and_seen_by_inventory() {
    let sim = sim().await;
    sim.add_pending_invitation("acme", "dave-gh", "member");
    let github = connector(&sim);
    let dave = Identity::new("dave@example.com").with_account("github", "dave-gh");
    let step = request(dave.clone(), serde_json::json!({"org": "acme"}));

    let held = github
        .inventory(&dave, std::slice::from_ref(&step))
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    assert!(
        held[0].description.contains("pending invitation"),
        "{held:?}"
    );
    assert!(!github.verify(&step).await.unwrap().verified);

    assert!(github.execute(&step).await.unwrap().changed);
    assert!(!sim.has_pending_invitation("acme", "dave-gh"));
    assert!(github.verify(&step).await.unwrap().verified);
    assert!(github.inventory(&dave, &[step]).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_user_who_is_not_a_member_is_already_gone() {
    let sim = sim().await;
    let github = connector(&sim);
    let nobody = Identity::new("nobody@example.com").with_account("github", "nobody-gh");
    let step = request(nobody, serde_json::json!({"org": "acme"}));
    let outcome = github.execute(&step).await.unwrap();
    assert!(!outcome.changed);
    assert!(github.verify(&step).await.unwrap().verified);
    let preview = github.preview(&step).await.unwrap();
    assert!(preview.would_revoke.is_empty());
    assert!(preview.notes[0].contains("not a member"), "{preview:?}");
}

#[tokio::test]
async fn an_unknown_org_is_a_permanent_error_not_a_success() {
    let sim = sim().await;
    let github = connector(&sim);
    let error = github
        .execute(&request(alice(), serde_json::json!({"org": "acme-typo"})))
        .await
        .unwrap_err();
    assert_eq!(error.class, ErrorClass::Permanent);
    assert!(
        error.message.contains("`acme-typo` not found"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn missing_login_is_permanent() {
    let sim = sim().await;
    let github = connector(&sim);
    let no_login = request(
        Identity::new("carol@example.com"),
        serde_json::json!({"org": "acme"}),
    );
    let error = github.execute(&no_login).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Permanent);
    assert!(
        error
            .message
            .starts_with("no GitHub login known for carol@example.com (set accounts.github"),
        "{}",
        error.message
    );
    assert!(
        error
            .message
            .contains("no SAML identity of GitHub org acme"),
        "{}",
        error.message
    );
    assert!(github.verify(&no_login).await.is_err());
    let preview = github.preview(&no_login).await.unwrap();
    assert!(preview.notes[0].contains("set accounts.github"));
    // Only the SAML lookups were sent; nothing was removed.
    assert!(sim.requests().iter().all(|r| r.path == "/graphql"));
    assert!(sim.is_member("acme", "alice-gh"));
}

#[tokio::test]
async fn wrong_token_is_permanent_bad_credentials_without_the_token() {
    let sim = GithubSim::start(GithubSimConfig {
        token: "the-right-token-value".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    sim.add_member("acme", "alice-gh", "member");
    let github = connector(&sim); // sends TOKEN, which is wrong here
    let error = github.execute(&remove_alice()).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Permanent);
    assert_eq!(error.status, Some(401));
    assert!(
        error.message.contains("Bad credentials"),
        "{}",
        error.message
    );
    assert_no_leak(&error.message);
    assert_no_leak(&format!("{error:?} {github:?} {:?}", config(&sim)));
    assert!(sim.is_member("acme", "alice-gh"));
}

#[tokio::test]
async fn server_errors_are_transient() {
    let sim = sim().await;
    let github = connector(&sim);
    for status in [500, 502, 503] {
        sim.faults().fail_next(1, status);
        let error = github.execute(&remove_alice()).await.unwrap_err();
        assert_eq!(error.class, ErrorClass::Transient, "{status}");
        assert_eq!(error.status, Some(status));
        assert!(
            error.message.starts_with(&format!("GitHub {status}:")),
            "{}",
            error.message
        );
        assert_no_leak(&error.message);
    }
    assert!(sim.is_member("acme", "alice-gh"));
    assert!(
        github.execute(&remove_alice()).await.unwrap().changed,
        "recovers after the faults"
    );
}

#[tokio::test]
async fn too_many_requests_carries_the_retry_after_wait() {
    let sim = sim().await;
    let github = connector(&sim);
    sim.faults()
        .too_many_requests_next(1, Duration::from_secs(7));
    let error = github.execute(&remove_alice()).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Transient);
    assert_eq!(error.status, Some(429));
    assert_eq!(error.retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn secondary_rate_limit_403_is_transient() {
    let sim = sim().await;
    let github = connector(&sim);

    sim.faults()
        .secondary_rate_limit_next(1, Some(Duration::from_secs(3)));
    let error = github.verify(&remove_alice()).await.unwrap_err();
    assert_eq!(
        (error.class, error.status),
        (ErrorClass::Transient, Some(403))
    );
    assert_eq!(error.retry_after, Some(Duration::from_secs(3)));

    sim.faults().secondary_rate_limit_next(1, None);
    let error = github.execute(&remove_alice()).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Transient);
    assert_eq!(error.retry_after, Some(Duration::from_secs(60)));
    assert!(
        error.message.contains("secondary rate limit"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn exhausted_primary_limit_waits_for_the_reset_without_sending() {
    let sim = sim_with(GithubSimConfig {
        rate_limit: 1,
        rate_limit_window: Duration::from_secs(30),
        ..Default::default()
    })
    .await;
    let github = connector(&sim);
    assert!(!github.verify(&remove_alice()).await.unwrap().verified);
    // The answer said `remaining: 0`: the next call is not sent, it waits for the
    // reset (longer than the connector's in-process wait, so it is handed back to the
    // engine with the reset as retry_after).
    let error = github.execute(&remove_alice()).await.unwrap_err();
    assert_eq!((error.class, error.status), (ErrorClass::Transient, None));
    let wait = error.retry_after.expect("a reset wait");
    assert!(
        wait >= Duration::from_secs(25) && wait <= Duration::from_secs(31),
        "{wait:?}"
    );
    assert!(error.message.contains("rate limit"), "{}", error.message);
    assert!(sim.is_member("acme", "alice-gh"));
    assert_eq!(
        sim.primary_limit_rejections(),
        0,
        "no request wasted on a 403"
    );
    assert_eq!(sim.request_count(), 1);
}

#[tokio::test]
async fn an_exhausted_limit_seen_only_in_a_403_still_waits_for_the_reset() {
    // Another process used the quota up: this connector learns it from the 403.
    let sim = sim_with(GithubSimConfig {
        rate_limit: 1,
        rate_limit_window: Duration::from_secs(30),
        ..Default::default()
    })
    .await;
    reqwest::Client::new()
        .get(format!("{}/orgs/acme", sim.base_url()))
        .bearer_auth(TOKEN)
        .header("user-agent", "other-process")
        .send()
        .await
        .unwrap();
    let github = connector(&sim);
    let error = github.execute(&remove_alice()).await.unwrap_err();
    assert_eq!(
        (error.class, error.status),
        (ErrorClass::Transient, Some(403))
    );
    assert!(
        error.message.contains("API rate limit exceeded"),
        "{}",
        error.message
    );
    let wait = error.retry_after.expect("a reset wait");
    assert!(wait >= Duration::from_secs(25), "{wait:?}");
    assert_eq!(sim.primary_limit_rejections(), 1);
}

#[tokio::test]
async fn a_hung_upstream_is_a_transient_timeout() {
    let sim = sim().await;
    let github = GithubConnector::new(GithubConfig {
        request_timeout: Duration::from_millis(300),
        ..config(&sim)
    })
    .unwrap();
    sim.faults().hang_next(1, Duration::from_secs(30));
    let started = std::time::Instant::now();
    let error = github.execute(&remove_alice()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(error.class, ErrorClass::Transient);
    assert!(error.message.contains("timed out"), "{}", error.message);
    assert_no_leak(&error.message);
    assert!(sim.is_member("acme", "alice-gh"));
    // The next attempt goes through.
    assert!(github.execute(&remove_alice()).await.unwrap().changed);
}

#[tokio::test]
async fn an_unreachable_upstream_is_transient() {
    let sim = sim().await;
    let cfg = config(&sim);
    sim.shutdown().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let github = GithubConnector::new(cfg).unwrap();
    let error = github.execute(&remove_alice()).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Transient, "{}", error.message);
    assert_no_leak(&error.message);
}

#[tokio::test]
async fn sends_the_headers_github_expects() {
    let sim = sim().await;
    let github = connector(&sim);
    github.verify(&remove_alice()).await.unwrap();
    github.execute(&remove_alice()).await.unwrap();
    let log = sim.requests();
    assert_eq!(log.len(), 2);
    for record in &log {
        assert_eq!(record.auth_scheme.as_deref(), Some("bearer"));
        assert!(record.auth_ok);
        assert!(record.accepts_github_json(), "{:?}", record.accept);
        assert_eq!(record.api_versions, vec!["2022-11-28".to_string()]);
        assert!(record
            .user_agent
            .as_deref()
            .is_some_and(|ua| !ua.is_empty()));
    }
    assert_eq!(log[0].method, http::Method::GET);
    assert_eq!(log[0].path, "/orgs/acme/memberships/alice-gh");
    assert_eq!(log[1].method, http::Method::DELETE);
    assert_eq!(log[1].path, "/orgs/acme/memberships/alice-gh");
}

#[tokio::test]
async fn the_newer_api_version_is_sent_alone() {
    let sim = sim().await;
    let github = GithubConnector::new(GithubConfig {
        api_version: "2026-03-10".into(),
        ..config(&sim)
    })
    .unwrap();
    assert!(github.execute(&remove_alice()).await.unwrap().changed);
    assert_eq!(
        sim.requests()[0].api_versions,
        vec!["2026-03-10".to_string()]
    );
}

#[tokio::test]
async fn canary_token_never_appears_in_errors_or_debug() {
    let sim = sim().await;
    let github = connector(&sim);
    let mut texts = vec![format!("{github:?}"), format!("{:?}", config(&sim))];
    sim.faults().fail_next(1, 500);
    sim.faults()
        .too_many_requests_next(1, Duration::from_secs(1));
    sim.faults().secondary_rate_limit_next(1, None);
    for _ in 0..3 {
        let e = github.execute(&remove_alice()).await.unwrap_err();
        texts.push(format!("{e} {e:?}"));
    }
    let bad_setup = GithubConnector::new(GithubConfig {
        token: format!("{TOKEN}\u{1}"),
        ..config(&sim)
    })
    .unwrap_err();
    texts.push(format!("{bad_setup} {bad_setup:?}"));
    for text in texts {
        assert_no_leak(&text);
    }
}

#[tokio::test]
async fn members_listing_paginates_for_an_octocrab_client() {
    let sim = sim().await;
    for i in 0..5 {
        sim.add_member("big", &format!("member{i}"), "member");
    }
    let octocrab = octocrab::Octocrab::builder()
        .base_uri(sim.base_url())
        .unwrap()
        .personal_token(TOKEN.to_string())
        .build()
        .unwrap();
    let first = octocrab
        .orgs("big")
        .list_members()
        .per_page(2)
        .send()
        .await
        .expect("first page");
    assert!(first.next.is_some(), "Link rel=next parsed");
    assert!(first.last.is_some(), "Link rel=last parsed");
    let all = octocrab.all_pages(first).await.expect("follow Link");
    let logins: Vec<_> = all.into_iter().map(|a| a.login).collect();
    assert_eq!(
        logins,
        (0..5).map(|i| format!("member{i}")).collect::<Vec<_>>()
    );

    // A plain reqwest client sees the header verbatim.
    let response = reqwest::Client::new()
        .get(format!(
            "{}/orgs/big/members?per_page=2&page=3",
            sim.base_url()
        ))
        .bearer_auth(TOKEN)
        .header("user-agent", "test")
        .send()
        .await
        .unwrap();
    let link = response.headers()["link"].to_str().unwrap().to_string();
    assert!(link.contains("page=2>; rel=\"prev\""), "{link}");
    assert!(link.contains("page=1>; rel=\"first\""), "{link}");
    assert!(!link.contains("rel=\"next\""), "{link}");
}
