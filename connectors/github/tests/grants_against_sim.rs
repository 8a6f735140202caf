//! The list-shaped GitHub actions (outside collaborators, invitations, SSO credential
//! authorizations, fine-grained tokens), account discovery and App authentication,
//! against the simulated GitHub over 127.0.0.1.

use leaver_connector::{ActionRequest, Connector, ConnectorError, ErrorClass, Identity};
use leaver_connector_github::{GithubAppConfig, GithubConfig, GithubConnector};
use leaver_sim::github::{GithubSim, GithubSimConfig};
use leaver_sim::okta::KeyPair;
use std::sync::OnceLock;
use std::time::Duration;

const TOKEN: &str = "ghp_CANARY_grants_T0KEN_do_not_leak_77";
const APP_ID: u64 = 123_456;
const INSTALLATION: u64 = 987_654;

fn keys() -> &'static KeyPair {
    static KEYS: OnceLock<KeyPair> = OnceLock::new();
    KEYS.get_or_init(|| KeyPair::generate_rsa().expect("rsa key"))
}

async fn sim() -> GithubSim {
    let sim = GithubSim::start(GithubSimConfig {
        token: TOKEN.into(),
        ..Default::default()
    })
    .await
    .expect("sim");
    sim.add_org("acme");
    sim
}

fn token_config(sim: &GithubSim) -> GithubConfig {
    GithubConfig {
        api_url: sim.base_url(),
        org: Some("acme".into()),
        token: TOKEN.into(),
        request_timeout: Duration::from_secs(2),
        ..GithubConfig::default()
    }
}

fn app_config(sim: &GithubSim) -> GithubConfig {
    sim.register_app(APP_ID, &keys().public_key_pem, &[INSTALLATION])
        .expect("register app");
    GithubConfig {
        token: String::new(),
        app: Some(GithubAppConfig {
            app_id: APP_ID,
            installation_id: INSTALLATION,
            private_key_pem: keys().private_key_pem.clone(),
        }),
        ..token_config(sim)
    }
}

fn bob() -> Identity {
    Identity::new("bob@example.com").with_account("github", "bob-gh")
}

fn step(action: &str, identity: Identity) -> ActionRequest {
    ActionRequest {
        action: action.into(),
        params: serde_json::json!({"org": "acme"}),
        identity,
        run_id: "run-1".into(),
        step_id: action.into(),
    }
}

fn assert_no_leak(text: &str) {
    assert!(
        !text.contains(TOKEN) && !text.contains("CANARY"),
        "token leaked: {text}"
    );
    assert!(!text.contains("PRIVATE KEY"), "key leaked: {text}");
}

/// What the engine does with one attempt: execute then verify; the step succeeds only
/// when verification observed the access gone.
async fn attempt(
    github: &GithubConnector,
    request: &ActionRequest,
) -> Result<bool, ConnectorError> {
    github.execute(request).await?;
    Ok(github.verify(request).await?.verified)
}

/// Retry transient errors as the engine would (without its waits), up to `max` attempts.
async fn until_done(
    github: &GithubConnector,
    request: &ActionRequest,
    max: usize,
) -> Result<(), ConnectorError> {
    let mut last = None;
    for _ in 0..max {
        match attempt(github, request).await {
            Ok(true) => return Ok(()),
            Ok(false) => last = None,
            Err(e) if e.is_transient() => {
                assert!(
                    e.message.starts_with("GitHub ")
                        || e.message.contains("timed out")
                        || e.message.contains("rate limit"),
                    "a transient error names the upstream's answer: {}",
                    e.message
                );
                assert_no_leak(&e.message);
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| ConnectorError::transient("never verified")))
}

#[tokio::test]
async fn outside_collaborator_removed_across_pages_verified_and_idempotent() {
    let sim = sim().await;
    for i in 0..230 {
        sim.add_outside_collaborator("acme", &format!("contractor{i:03}"), "api");
    }
    sim.add_outside_collaborator("acme", "bob-gh", "web");
    sim.add_outside_collaborator("acme", "bob-gh", "infra");
    sim.add_outside_collaborator("acme", "zed-gh", "web"); // sorts after bob: page 3
    let github = GithubConnector::new(token_config(&sim)).unwrap();
    let request = step("remove_outside_collaborator", bob());

    let preview = github.preview(&request).await.unwrap();
    assert_eq!(preview.would_revoke.len(), 1, "{preview:?}");
    assert_eq!(preview.would_revoke[0].kind, "outside_collaborator");
    assert!(!github.verify(&request).await.unwrap().verified);

    let outcome = github.execute(&request).await.unwrap();
    assert!(outcome.changed, "{outcome:?}");
    assert!(!sim
        .outside_collaborators("acme")
        .contains(&"bob-gh".to_string()));
    assert_eq!(sim.outside_collaborators("acme").len(), 231, "others stay");
    let verification = github.verify(&request).await.unwrap();
    assert!(verification.verified, "{verification:?}");
    let pages = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/orgs/acme/outside_collaborators")
        .count();
    assert!(pages >= 6, "each listing read 3 pages: {pages}");

    let again = github.execute(&request).await.unwrap();
    assert!(!again.changed, "{again:?}");
    let deletes = sim
        .requests()
        .iter()
        .filter(|r| r.method == http::Method::DELETE)
        .count();
    assert_eq!(deletes, 1, "idempotent: the second run sends no DELETE");
    assert!(github
        .inventory(&bob(), &[request])
        .await
        .unwrap()
        .is_empty());

    // Someone who is a collaborator on page 3 (after 230 others) is found too.
    let zed = step(
        "remove_outside_collaborator",
        Identity::new("zed@example.com").with_account("github", "zed-gh"),
    );
    assert!(github.execute(&zed).await.unwrap().changed);
    assert!(github.verify(&zed).await.unwrap().verified);
}

#[tokio::test]
async fn removing_a_member_as_collaborator_fails_with_githubs_message() {
    let sim = sim().await;
    sim.add_member("acme", "bob-gh", "member");
    sim.add_outside_collaborator("acme", "bob-gh", "web");
    let github = GithubConnector::new(token_config(&sim)).unwrap();
    let error = github
        .execute(&step("remove_outside_collaborator", bob()))
        .await
        .unwrap_err();
    assert_eq!(
        (error.class, error.status),
        (ErrorClass::Permanent, Some(422))
    );
    assert!(
        error
            .message
            .contains("cannot specify an organization member"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn invitations_by_login_and_email_are_cancelled_failed_ones_ignored() {
    let sim = sim().await;
    for i in 0..120 {
        sim.add_email_invitation("acme", &format!("new{i}@example.com"), false);
    }
    sim.add_pending_invitation("acme", "bob-gh", "member");
    sim.add_email_invitation("acme", "BOB@example.com", false);
    sim.add_email_invitation("acme", "bob@example.com", true); // failed
    let github = GithubConnector::new(token_config(&sim)).unwrap();
    let request = step("cancel_invitations", bob());

    let preview = github.preview(&request).await.unwrap();
    assert_eq!(preview.would_revoke.len(), 2, "{preview:?}");
    let outcome = github.execute(&request).await.unwrap();
    assert!(outcome.changed);
    assert_eq!(outcome.details["revoked"].as_array().unwrap().len(), 2);
    assert!(!sim.has_pending_invitation("acme", "bob-gh"));
    assert!(!sim
        .email_invitations("acme")
        .iter()
        .any(|e| e.eq_ignore_ascii_case("bob@example.com")));
    assert_eq!(sim.email_invitations("acme").len(), 120, "others stay");
    assert_eq!(sim.failed_invitations("acme"), vec!["bob@example.com"]);
    assert!(github.verify(&request).await.unwrap().verified);
    assert!(!github.execute(&request).await.unwrap().changed);

    // Without any login (no accounts, no SAML), an invitation by email still matches.
    sim.add_email_invitation("acme", "carol@example.com", false);
    let carol = step("cancel_invitations", Identity::new("carol@example.com"));
    assert!(github.execute(&carol).await.unwrap().changed);
    assert!(github.verify(&carol).await.unwrap().verified);
}

#[tokio::test]
async fn sso_authorizations_are_revoked_over_several_pages() {
    let sim = sim().await;
    let mut bobs = Vec::new();
    for i in 0..150 {
        bobs.push(sim.add_credential_authorization(
            "acme",
            "bob-gh",
            if i % 3 == 0 {
                "SSH key"
            } else {
                "personal access token"
            },
        ));
        sim.add_credential_authorization("acme", "dave-gh", "personal access token");
    }
    let github = GithubConnector::new(token_config(&sim)).unwrap();
    let request = step("revoke_sso_authorizations", bob());
    let held = github
        .inventory(&bob(), std::slice::from_ref(&request))
        .await
        .unwrap();
    assert_eq!(held.len(), 150);
    assert!(held.iter().all(|h| h.kind == "sso_authorization"));
    let outcome = github.execute(&request).await.unwrap();
    assert!(outcome.changed);
    assert!(sim.credential_authorizations("acme", "bob-gh").is_empty());
    assert_eq!(sim.credential_authorizations("acme", "dave-gh").len(), 150);
    assert!(github.verify(&request).await.unwrap().verified);
    assert!(!github.execute(&request).await.unwrap().changed);
    assert_no_leak(&format!("{outcome:?}"));
}

#[tokio::test]
async fn fine_grained_revocation_with_a_token_fails_with_the_reason() {
    let sim = sim().await;
    sim.add_fine_grained_token("acme", "bob-gh", "deploy");
    let github = GithubConnector::new(token_config(&sim)).unwrap();
    let request = step("revoke_fine_grained_tokens", bob());
    for error in [
        github.execute(&request).await.unwrap_err(),
        github.verify(&request).await.unwrap_err(),
    ] {
        assert_eq!(
            (error.class, error.status),
            (ErrorClass::Permanent, Some(403))
        );
        assert!(
            error
                .message
                .contains("Resource not accessible by personal access token"),
            "{}",
            error.message
        );
        assert!(
            error.message.contains("GitHub Apps only"),
            "{}",
            error.message
        );
        assert_no_leak(&error.message);
    }
    assert_eq!(sim.fine_grained_tokens("acme", "bob-gh").len(), 1);
    let preview = github.preview(&request).await.unwrap();
    assert!(preview.notes[0].contains("will fail"), "{preview:?}");
    let residual = github.inventory(&bob(), &[request]).await.unwrap();
    assert_eq!(residual.len(), 1, "unknown is reported, not taken for none");
    assert!(residual[0].description.contains("could not be listed"));
}

#[tokio::test]
async fn app_auth_end_to_end_revokes_fine_grained_tokens() {
    let sim = sim().await;
    let mut ids = Vec::new();
    for i in 0..130 {
        ids.push(sim.add_fine_grained_token("acme", "bob-gh", &format!("t{i}")));
    }
    sim.add_fine_grained_token("acme", "dave-gh", "keep");
    sim.add_member("acme", "bob-gh", "member");
    let github = GithubConnector::new(app_config(&sim)).unwrap();
    let request = step("revoke_fine_grained_tokens", bob());
    let preview = github.preview(&request).await.unwrap();
    assert_eq!(preview.would_revoke.len(), 130);
    let outcome = github.execute(&request).await.unwrap();
    assert!(outcome.changed);
    assert!(sim.fine_grained_tokens("acme", "bob-gh").is_empty());
    assert_eq!(sim.fine_grained_tokens("acme", "dave-gh").len(), 1);
    assert!(github.verify(&request).await.unwrap().verified);
    let revokes = sim
        .requests()
        .iter()
        .filter(|r| r.method == http::Method::POST && r.path == "/orgs/acme/personal-access-tokens")
        .count();
    assert_eq!(revokes, 2, "130 ids go in calls of at most 100");
    assert!(!github.execute(&request).await.unwrap().changed);

    // The same App credentials serve the other actions; one installation token so far.
    let member = step("remove_org_member", bob());
    assert!(github.execute(&member).await.unwrap().changed);
    assert!(github.verify(&member).await.unwrap().verified);
    assert_eq!(sim.installation_tokens_issued(), 1);
    for r in sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/orgs/"))
    {
        assert!(r.auth_ok, "{r:?}");
    }

    // An expired installation token is replaced on the 401.
    sim.expire_installation_tokens();
    sim.add_fine_grained_token("acme", "bob-gh", "late");
    assert!(github.execute(&request).await.unwrap().changed);
    assert_eq!(sim.installation_tokens_issued(), 2);
    assert_no_leak(&format!("{github:?} {:?}", app_config(&sim)));
}

#[tokio::test]
async fn app_auth_with_an_unknown_key_fails_permanently() {
    let sim = sim().await;
    sim.add_member("acme", "bob-gh", "member");
    let mut config = app_config(&sim);
    let other = KeyPair::generate_rsa().unwrap();
    if let Some(app) = config.app.as_mut() {
        app.private_key_pem = other.private_key_pem.clone();
    }
    let github = GithubConnector::new(config).unwrap();
    let error = github
        .execute(&step("remove_org_member", bob()))
        .await
        .unwrap_err();
    assert_eq!(
        (error.class, error.status),
        (ErrorClass::Permanent, Some(401))
    );
    assert!(
        error.message.contains("installation token"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("JSON web token"),
        "{}",
        error.message
    );
    assert!(sim.is_member("acme", "bob-gh"));
    assert_no_leak(&error.message);
}

#[test]
fn token_and_app_together_are_refused() {
    let config = GithubConfig {
        token: TOKEN.into(),
        app: Some(GithubAppConfig {
            app_id: 1,
            installation_id: 2,
            private_key_pem: keys().private_key_pem.clone(),
        }),
        ..GithubConfig::default()
    };
    let error = GithubConnector::new(config).unwrap_err().to_string();
    assert!(error.contains("either token or app_id"), "{error}");
    let bad_key = GithubConfig {
        app: Some(GithubAppConfig {
            app_id: 1,
            installation_id: 2,
            private_key_pem: "-----BEGIN RSA PRIVATE KEY-----\nnot a key canary\n".into(),
        }),
        ..GithubConfig::default()
    };
    let error = GithubConnector::new(bad_key).unwrap_err().to_string();
    assert!(!error.contains("canary"), "{error}");
}

#[tokio::test]
async fn logins_are_discovered_from_saml_identities_over_pages() {
    let sim = sim().await;
    for i in 0..140 {
        sim.add_saml_identity(
            "acme",
            &format!("person{i}@example.com"),
            &format!("person{i}-gh"),
        );
    }
    sim.add_saml_identity("acme", "Erin@Example.com", "erin-gh");
    sim.add_member("acme", "erin-gh", "member");
    sim.add_outside_collaborator("acme", "frank-gh", "web");
    let github = GithubConnector::new(token_config(&sim)).unwrap();

    let erin = step("remove_org_member", Identity::new("erin@example.com"));
    assert!(github.execute(&erin).await.unwrap().changed);
    assert!(!sim.is_member("acme", "erin-gh"));
    assert!(github.verify(&erin).await.unwrap().verified);
    let graphql = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/graphql")
        .count();
    assert_eq!(graphql, 2, "two pages once, then remembered");

    // The IdP profile attribute comes before SAML.
    let frank = step(
        "remove_outside_collaborator",
        Identity::new("frank@example.com").with_account("githubUsername", "frank-gh"),
    );
    assert!(github.execute(&frank).await.unwrap().changed);
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.path == "/graphql")
            .count(),
        2
    );
}

#[tokio::test]
async fn every_action_completes_or_fails_with_the_upstreams_message_under_faults() {
    let sim = sim().await;
    sim.register_app(APP_ID, &keys().public_key_pem, &[INSTALLATION])
        .unwrap();
    let people: Vec<Identity> = (0..4)
        .map(|i| {
            Identity::new(format!("p{i}@example.com")).with_account("github", format!("p{i}-gh"))
        })
        .collect();
    for (i, person) in people.iter().enumerate() {
        let login = person.account("github").unwrap();
        sim.add_outside_collaborator("acme", login, "web");
        sim.add_pending_invitation("acme", login, "member");
        sim.add_email_invitation("acme", &person.email, false);
        sim.add_credential_authorization("acme", login, "personal access token");
        sim.add_fine_grained_token("acme", login, &format!("t{i}"));
        // Filler, so every listing spans pages.
        for j in 0..40 {
            sim.add_credential_authorization("acme", login, "SSH key");
            sim.add_outside_collaborator("acme", &format!("filler{i}-{j}"), "api");
        }
    }
    let github = GithubConnector::new(GithubConfig {
        request_timeout: Duration::from_millis(400),
        max_rate_limit_wait: Duration::from_secs(5),
        ..app_config(&sim)
    })
    .unwrap();
    sim.faults().set_latency(Duration::from_millis(2));
    sim.faults().set_random(0.25, 42);
    let actions = [
        "remove_outside_collaborator",
        "cancel_invitations",
        "revoke_sso_authorizations",
        "revoke_fine_grained_tokens",
    ];
    for person in &people {
        for action in actions {
            let request = step(action, person.clone());
            until_done(&github, &request, 60)
                .await
                .unwrap_or_else(|e| panic!("{action} for {}: {e:?}", person.email));
        }
    }
    sim.faults().clear();
    assert!(sim.faults().injected() > 10, "faults were injected");
    for person in &people {
        let login = person.account("github").unwrap();
        assert!(!sim
            .outside_collaborators("acme")
            .contains(&login.to_string()));
        assert!(!sim.has_pending_invitation("acme", login));
        assert!(sim.credential_authorizations("acme", login).is_empty());
        assert!(sim.fine_grained_tokens("acme", login).is_empty());
        for action in actions {
            assert!(
                github
                    .verify(&step(action, person.clone()))
                    .await
                    .unwrap()
                    .verified
            );
        }
    }
    assert!(sim.email_invitations("acme").is_empty());
}

#[tokio::test]
async fn a_hung_listing_is_a_transient_timeout_never_a_success() {
    let sim = sim().await;
    sim.add_outside_collaborator("acme", "bob-gh", "web");
    let github = GithubConnector::new(GithubConfig {
        request_timeout: Duration::from_millis(300),
        ..token_config(&sim)
    })
    .unwrap();
    let request = step("remove_outside_collaborator", bob());
    sim.faults().hang_next(1, Duration::from_secs(10));
    let error = github.verify(&request).await.unwrap_err();
    assert!(
        error.is_transient() && error.message.contains("timed out"),
        "{}",
        error.message
    );
    sim.faults().fail_next(1, 502);
    let error = github.execute(&request).await.unwrap_err();
    assert_eq!(error.status, Some(502));
    assert!(sim
        .outside_collaborators("acme")
        .contains(&"bob-gh".to_string()));
    assert!(attempt(&github, &request).await.unwrap());
}
