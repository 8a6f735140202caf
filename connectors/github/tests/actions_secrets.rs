//! `github_actions.set_secret` against the simulated GitHub over 127.0.0.1: the value
//! is sealed to the target's public key, PUT, and the simulator opens the stored sealed
//! box with its private key to the original value.

use leaver_connector::{ActionRequest, Connector, ConnectorError, ErrorClass, Identity};
use leaver_connector_github::actions_secrets::{
    ActionsSecrets, GithubActionsConnector, SecretTarget, SecretValueSource, Visibility,
};
use leaver_connector_github::GithubConfig;
use leaver_sim::github::secrets::SecretPlace;
use leaver_sim::github::{GithubSim, GithubSimConfig};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "ghp_secrets_T0KEN_do_not_leak_42";
const CANARY: &str = "CANARY-s3cr3t-value-9f8e7d";

async fn sim() -> GithubSim {
    let sim = GithubSim::start(GithubSimConfig {
        token: TOKEN.into(),
        ..Default::default()
    })
    .await
    .expect("sim");
    sim.add_org("acme");
    sim.add_repo("acme", "api");
    sim.add_environment("acme", "api", "production eu");
    sim
}

fn config(sim: &GithubSim) -> GithubConfig {
    GithubConfig {
        api_url: sim.base_url(),
        org: Some("acme".into()),
        token: TOKEN.into(),
        request_timeout: Duration::from_secs(2),
        max_rate_limit_wait: Duration::from_secs(5),
        ..GithubConfig::default()
    }
}

/// Values a rotation hands over (`rotation:ID`).
#[derive(Default)]
struct Staged(Mutex<HashMap<String, String>>);

impl Staged {
    fn stage(&self, id: &str, value: &str) {
        self.0.lock().unwrap().insert(id.into(), value.into());
    }
}

impl SecretValueSource for Staged {
    fn value(&self, id: &str) -> Result<SecretString, String> {
        self.0
            .lock()
            .unwrap()
            .get(id)
            .map(|v| SecretString::from(v.clone()))
            .ok_or_else(|| format!("nothing staged under {id}"))
    }
}

fn connector(sim: &GithubSim) -> (GithubActionsConnector, Arc<Staged>) {
    let staged = Arc::new(Staged::default());
    let connector = GithubActionsConnector::new(config(sim))
        .expect("connector")
        .with_value_source(staged.clone());
    (connector, staged)
}

fn step(step_id: &str, params: Value) -> ActionRequest {
    ActionRequest {
        action: "set_secret".into(),
        params,
        identity: Identity::new("rotation@example.com"),
        run_id: "run-1".into(),
        step_id: step_id.into(),
    }
}

/// Everything a connector hands back, as text, for leak checks.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    fn add(&mut self, text: impl Into<String>) {
        self.0.push(text.into());
    }

    fn error(&mut self, e: &ConnectorError) {
        self.add(format!("{e} {e:?}"));
    }

    fn assert_clean(&self) {
        for text in &self.0 {
            assert!(!text.contains(CANARY), "the value leaked: {text}");
            assert!(!text.contains("CANARY"), "the value leaked: {text}");
            assert!(!text.contains(TOKEN), "the token leaked: {text}");
        }
    }
}

/// Execute then verify (what the engine does in one attempt).
async fn set_and_verify(
    connector: &GithubActionsConnector,
    request: &ActionRequest,
    seen: &mut Seen,
) -> leaver_connector::ActionOutcome {
    let outcome = connector.execute(request).await.expect("execute");
    seen.add(format!(
        "{outcome:?} {}",
        serde_json::to_string(&outcome).unwrap()
    ));
    let verification = connector.verify(request).await.expect("verify");
    seen.add(format!("{verification:?}"));
    assert!(verification.verified, "{}", verification.observation);
    assert!(
        verification.observation.contains("updated_at")
            && verification.observation.contains("at or after the write")
            && verification
                .observation
                .contains("never returns secret values"),
        "{}",
        verification.observation
    );
    outcome
}

#[tokio::test]
async fn repo_secret_is_created_then_updated_and_opens_to_the_value() {
    let sim = sim().await;
    let (github, staged) = connector(&sim);
    let mut seen = Seen::default();
    staged.stage("rot-1", CANARY);
    let request = step(
        "repo",
        json!({"scope": "repo", "owner": "acme", "repo": "api", "name": "deploy_key", "value_from": "rotation:rot-1"}),
    );

    let outcome = set_and_verify(&github, &request, &mut seen).await;
    assert!(outcome.changed);
    assert!(
        outcome
            .summary
            .starts_with("created Actions secret DEPLOY_KEY in the repository acme/api"),
        "{}",
        outcome.summary
    );
    assert_eq!(outcome.details["status"], 201);
    let place = SecretPlace::repo("acme", "api");
    assert_eq!(
        sim.open_actions_secret(&place, "DEPLOY_KEY").as_deref(),
        Some(CANARY)
    );

    // A new value: 204, updated.
    let second = format!("{CANARY}-2");
    staged.stage("rot-1", &second);
    let outcome = set_and_verify(&github, &request, &mut seen).await;
    assert!(
        outcome
            .summary
            .starts_with("updated Actions secret DEPLOY_KEY"),
        "{}",
        outcome.summary
    );
    assert_eq!(outcome.details["status"], 204);
    assert_eq!(
        sim.open_actions_secret(&place, "DEPLOY_KEY").as_deref(),
        Some(second.as_str())
    );
    assert_eq!(sim.actions_secret(&place, "DEPLOY_KEY").unwrap().writes, 2);

    // The wire: key first, then the sealed PUT; the value never travels in clear.
    let calls: Vec<String> = sim
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        &calls[..3],
        [
            "GET /repos/acme/api/actions/secrets/public-key",
            "PUT /repos/acme/api/actions/secrets/DEPLOY_KEY",
            "GET /repos/acme/api/actions/secrets/DEPLOY_KEY",
        ]
    );
    for record in sim.requests() {
        seen.add(format!("{record:?}"));
    }
    seen.add(format!("{github:?}"));
    seen.assert_clean();
    sim.shutdown().await;
}

#[tokio::test]
async fn org_secret_with_selected_repositories_keeps_them_on_rotation() {
    let sim = sim().await;
    let web = sim.add_repo("acme", "web");
    let api = sim.add_repo("acme", "api");
    let (github, staged) = connector(&sim);
    let mut seen = Seen::default();
    staged.stage("org-1", CANARY);

    // Creating an org secret needs a visibility.
    let bare = step(
        "org-bare",
        json!({"scope": "org", "name": "NPM_TOKEN", "value_from": "rotation:org-1"}),
    );
    let error = github.execute(&bare).await.unwrap_err();
    seen.error(&error);
    assert_eq!(error.class, ErrorClass::Permanent);
    assert!(
        error.message.contains("needs `visibility`"),
        "{}",
        error.message
    );

    let create = step(
        "org",
        json!({"scope": "org", "org": "acme", "name": "NPM_TOKEN", "value_from": "rotation:org-1",
               "visibility": "selected", "selected_repository_ids": [web, api]}),
    );
    let outcome = set_and_verify(&github, &create, &mut seen).await;
    assert_eq!(outcome.details["visibility"], "selected");
    let place = SecretPlace::org("acme");
    assert_eq!(
        sim.open_actions_secret(&place, "NPM_TOKEN").as_deref(),
        Some(CANARY)
    );

    // A rotation without `visibility` keeps the secret's visibility and repositories.
    staged.stage("org-1", "CANARY-next");
    let outcome = set_and_verify(&github, &bare, &mut seen).await;
    assert_eq!(outcome.details["status"], 204);
    let info = sim.actions_secret(&place, "NPM_TOKEN").unwrap();
    assert_eq!(info.visibility.as_deref(), Some("selected"));
    assert_eq!(info.selected_repository_ids, [web, api]);
    assert_eq!(
        sim.open_actions_secret(&place, "NPM_TOKEN").as_deref(),
        Some("CANARY-next")
    );
    seen.assert_clean();
    sim.shutdown().await;
}

#[tokio::test]
async fn environment_secret_from_a_file() {
    let sim = sim().await;
    let (github, _) = connector(&sim);
    let mut seen = Seen::default();
    let path = std::env::temp_dir().join(format!("leaver-actions-secret-{}", std::process::id()));
    std::fs::write(&path, format!("{CANARY}\n")).unwrap();
    let request = step(
        "env",
        json!({"scope": "environment", "repo": "api", "environment": "production eu",
               "name": "DB_PASSWORD", "value_from": format!("file:{}", path.display())}),
    );
    let outcome = set_and_verify(&github, &request, &mut seen).await;
    assert!(
        outcome
            .summary
            .contains("environment `production eu` of acme/api"),
        "{}",
        outcome.summary
    );
    let place = SecretPlace::environment("acme", "api", "production eu");
    assert_eq!(
        sim.open_actions_secret(&place, "DB_PASSWORD").as_deref(),
        Some(CANARY)
    );
    assert!(sim
        .requests()
        .iter()
        .any(|r| r.path == "/repos/acme/api/environments/production%20eu/secrets/public-key"));
    std::fs::remove_file(&path).ok();
    seen.assert_clean();
    sim.shutdown().await;
}

#[tokio::test]
async fn rotation_code_calls_the_rust_api_directly() {
    let sim = sim().await;
    let secrets = ActionsSecrets::new(&config(&sim)).unwrap();
    let value = SecretString::from(CANARY.to_string());
    let target = SecretTarget::org("acme").with_visibility(Visibility::Private, None);
    let write = secrets
        .set_secret(&target, "signing_key", &value)
        .await
        .unwrap();
    assert!(write.created());
    let verification = secrets.verify_write(&write).await.unwrap();
    assert!(verification.verified, "{}", verification.observation);
    assert!(verification.observation.contains("visibility `private`"));
    assert_eq!(
        sim.open_actions_secret(&SecretPlace::org("acme"), "SIGNING_KEY")
            .as_deref(),
        Some(CANARY)
    );
    // A stored value older than the write does not verify.
    let mut later = write.clone();
    later.not_before += chrono::Duration::hours(1);
    let stale = secrets.verify_write(&later).await.unwrap();
    assert!(!stale.verified);
    assert!(
        stale.observation.contains("before the write"),
        "{}",
        stale.observation
    );
    let meta = secrets
        .metadata(&target, "SIGNING_KEY")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(meta.visibility, Some(Visibility::Private));
    let mut seen = Seen::default();
    seen.add(format!(
        "{write:?} {} {value:?} {secrets:?} {meta:?}",
        serde_json::to_string(&write).unwrap()
    ));
    seen.assert_clean();
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_repository_is_permanent_with_githubs_message() {
    let sim = sim().await;
    let (github, staged) = connector(&sim);
    staged.stage("r", CANARY);
    let request = step(
        "nope",
        json!({"scope": "repo", "owner": "acme", "repo": "nope", "name": "K", "value_from": "rotation:r"}),
    );
    let error = github.execute(&request).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Permanent);
    assert_eq!(error.status, Some(404));
    assert!(
        error
            .message
            .starts_with("GitHub 404: Not Found (GET /repos/acme/nope/actions/secrets/public-key)"),
        "{}",
        error.message
    );
    // Nothing verified without a write.
    let verification = github.verify(&request).await.unwrap();
    assert!(!verification.verified);
    // The preview reads the same key and fails the same way.
    let preview = github.preview(&request).await.unwrap_err();
    assert_eq!(preview.status, Some(404));
    let mut seen = Seen::default();
    seen.error(&error);
    seen.error(&preview);
    seen.add(verification.observation);
    seen.assert_clean();
    sim.shutdown().await;
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_transient() {
    let sim = sim().await;
    let (github, staged) = connector(&sim);
    staged.stage("t", CANARY);
    let request = step(
        "t",
        json!({"scope": "repo", "repo": "api", "name": "K", "value_from": "rotation:t"}),
    );
    let mut seen = Seen::default();

    // 503 on the PUT, after the key was read.
    sim.faults()
        .fail_next_on("/repos/acme/api/actions/secrets/K", 1, 503);
    let error = github.execute(&request).await.unwrap_err();
    seen.error(&error);
    assert_eq!(
        (error.class, error.status),
        (ErrorClass::Transient, Some(503))
    );
    assert!(
        error
            .message
            .contains("PUT /repos/acme/api/actions/secrets/K"),
        "{}",
        error.message
    );

    // 429 with Retry-After.
    sim.faults()
        .too_many_requests_next(1, Duration::from_secs(1));
    let error = github.execute(&request).await.unwrap_err();
    seen.error(&error);
    assert_eq!(
        (error.class, error.status),
        (ErrorClass::Transient, Some(429))
    );
    assert_eq!(error.retry_after, Some(Duration::from_secs(1)));

    // Secondary rate limit (403 + Retry-After).
    sim.faults()
        .secondary_rate_limit_next(1, Some(Duration::from_secs(2)));
    let error = github.execute(&request).await.unwrap_err();
    seen.error(&error);
    assert_eq!(
        (error.class, error.status),
        (ErrorClass::Transient, Some(403))
    );
    assert_eq!(error.retry_after, Some(Duration::from_secs(2)));
    assert!(
        error.message.contains("secondary rate limit"),
        "{}",
        error.message
    );

    // The engine's next attempt (the budget waits out the pause) succeeds.
    set_and_verify(&github, &request, &mut seen).await;
    assert_eq!(
        sim.open_actions_secret(&SecretPlace::repo("acme", "api"), "K")
            .as_deref(),
        Some(CANARY)
    );
    seen.assert_clean();
    sim.shutdown().await;
}

#[tokio::test]
async fn preview_and_value_sources() {
    let sim = sim().await;
    let (github, staged) = connector(&sim);
    let request = step(
        "p",
        json!({"scope": "repo", "repo": "api", "name": "K", "value_from": "rotation:p"}),
    );
    let preview = github.preview(&request).await.unwrap();
    assert!(preview.would_revoke.is_empty());
    assert!(
        preview.notes[0].contains("the step will fail"),
        "{:?}",
        preview.notes
    );
    assert!(
        preview.notes[1].starts_with("would create Actions secret K"),
        "{:?}",
        preview.notes
    );

    // A missing value fails permanently, naming only the reference.
    let error = github.execute(&request).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Permanent);
    assert!(
        error.message.contains("value_from rotation:p"),
        "{}",
        error.message
    );

    staged.stage("p", CANARY);
    github.execute(&request).await.unwrap();
    let preview = github.preview(&request).await.unwrap();
    assert_eq!(preview.notes.len(), 1);
    assert!(
        preview.notes[0].starts_with("would update Actions secret K"),
        "{:?}",
        preview.notes
    );
    let mut seen = Seen::default();
    seen.add(format!("{preview:?}"));

    // `env:` references resolve from the process environment.
    let var = format!("LEAVER_TEST_ACTIONS_SECRET_{}", std::process::id());
    std::env::set_var(&var, CANARY);
    let env_step = step(
        "e",
        json!({"scope": "repo", "repo": "api", "name": "FROM_ENV", "value_from": format!("env:{var}")}),
    );
    let outcome = set_and_verify(&github, &env_step, &mut seen).await;
    assert_eq!(outcome.details["value_from"], format!("env:{var}"));
    std::env::remove_var(&var);
    assert_eq!(
        sim.open_actions_secret(&SecretPlace::repo("acme", "api"), "FROM_ENV")
            .as_deref(),
        Some(CANARY)
    );
    assert!(github
        .inventory(&Identity::new("a@example.com"), &[env_step])
        .await
        .unwrap()
        .is_empty());
    seen.assert_clean();
    sim.shutdown().await;
}
