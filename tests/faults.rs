//! The worst day: several people offboarded at once with the shipped standard plan
//! while every upstream (Okta, GitHub, AWS IAM, Vault, Jira fakes) answers 20% of calls
//! with a 5xx or a 429 and hangs some past the client's timeout, and — on PostgreSQL —
//! the database server is stopped like a crash and started again mid-run. Every run
//! completes, every revocation is verified and really applied upstream (checked in each
//! fake's state, once per membership), and the evidence chain verifies. A permanent
//! upstream error is flagged with the upstream's own message and never reported as
//! verified.

mod common;
#[path = "support/private_pg.rs"]
mod private_pg;

use common::*;
use leaver::app::App;
use leaver::config::{AwsIamSection, JiraSection, OktaSection, VaultSection};
use leaver_sim::aws_iam::{IamSim, IamSimConfig};
use leaver_sim::faults::{Fault, FaultRule};
use leaver_sim::github::{GithubSim, GithubSimConfig};
use leaver_sim::jira::{JiraSim, JiraSimConfig};
use leaver_sim::okta::{KeyPair, OktaSim, OktaSimConfig};
use leaver_sim::vault::{VaultSim, VaultSimConfig};
use private_pg::PrivatePostgres;
use serde_json::json;
use std::path::Path;
use std::time::Duration;

const OKTA_CLIENT_ID: &str = "0oaleaverfaults0001";
const OKTA_KEY_ID: &str = "leaver-faults-key";
const VAULT_TOKEN: &str = "hvs.faults-suite-token";
const JIRA_TOKEN: &str = "jira-faults-suite-token";
const PEOPLE: usize = 5;
const FAULT_RATE: f64 = 0.2;

fn secret_file(dir: &Path, name: &str, value: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, value).unwrap();
    format!("file:{}", path.display())
}

struct Upstreams {
    okta: OktaSim,
    github: GithubSim,
    iam: IamSim,
    vault: VaultSim,
    jira: JiraSim,
    keys: KeyPair,
}

struct Person {
    email: String,
    okta_id: String,
    github: String,
    iam_user: String,
    vault_entity: String,
    ticket: String,
}

async fn upstreams() -> Upstreams {
    let keys = KeyPair::generate_rsa().expect("rsa key");
    let okta = OktaSim::start(OktaSimConfig {
        clients: vec![okta_service_app(
            OKTA_CLIENT_ID,
            OKTA_KEY_ID,
            &keys.public_key_pem,
        )],
        ..Default::default()
    })
    .await
    .unwrap();
    let github = GithubSim::start(GithubSimConfig {
        token: GITHUB_TOKEN.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let iam = IamSim::start(IamSimConfig::default()).await.unwrap();
    let vault = VaultSim::start(VaultSimConfig {
        token: VAULT_TOKEN.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let jira = JiraSim::start(JiraSimConfig {
        api_token: JIRA_TOKEN.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    Upstreams {
        okta,
        github,
        iam,
        vault,
        jira,
        keys,
    }
}

/// `name` everywhere: an Okta user with a session and a refresh token, a GitHub org
/// member, an IAM user with one of everything (tagged with the email), a Vault
/// userpass entity with a live token, and an HR ticket.
fn seed(up: &Upstreams, name: &str, number: usize) -> Person {
    let email = format!("{name}@example.com");
    let okta_id = up.okta.add_user(&email, name, "Example");
    up.okta.add_session(&okta_id);
    up.okta
        .add_refresh_token(&okta_id, "0oaslack", &["openid", "offline_access"]);
    let github = format!("{name}-gh");
    up.github.add_member("acme", &github, "member");
    up.iam
        .account()
        .seed_full_user(name, Some(&email))
        .expect("iam user");
    let root = up.vault.root();
    root.add_userpass_user("userpass", name, "vault-pw", &["dev"]);
    let (_, vault_entity) = root
        .login_userpass("userpass", name, "vault-pw")
        .expect("vault login");
    let ticket = format!("HR-{}", 100 + number);
    up.jira
        .add_issue(&ticket, &format!("Offboard {name}"))
        .unwrap();
    Person {
        email,
        okta_id,
        github,
        iam_user: name.to_string(),
        vault_entity,
        ticket,
    }
}

fn config(db_url: &str, dir: &Path, up: &Upstreams) -> leaver::config::Config {
    let plans = plans_dir(
        dir,
        &[(
            "standard-leaver",
            &std::fs::read_to_string(repo_path("workflows/standard-leaver.yaml")).unwrap(),
        )],
    );
    let mut config = test_config(db_url, dir, &plans, Some(&up.github.base_url()));
    config.engine.step_timeout = "30s".into();
    config.engine.max_attempts = 12;
    config.idp.okta = Some(OktaSection {
        org_url: Some(up.okta.base_url()),
        hook_secret: secret_file(dir, "okta-hook", "okta-hook-secret"),
        client_id: Some(OKTA_CLIENT_ID.into()),
        private_key: Some(secret_file(dir, "okta-key.pem", &up.keys.private_key_pem)),
        key_id: Some(OKTA_KEY_ID.into()),
        request_timeout: "2s".into(),
        ..OktaSection::default()
    });
    config.connectors.aws_iam = Some(AwsIamSection {
        region: "us-east-1".into(),
        endpoint_url: Some(up.iam.base_url()),
        request_timeout: "2s".into(),
        max_attempts: 3,
        default_account: None,
        page_size: None,
        accounts: Default::default(),
    });
    config.connectors.vault = Some(VaultSection {
        addr: up.vault.base_url(),
        token: secret_file(dir, "vault-token", VAULT_TOKEN),
        namespace: None,
        request_timeout: "2s".into(),
    });
    config.tickets.jira = Some(JiraSection {
        base_url: up.jira.base_url(),
        email: JiraSimConfig::default().email,
        api_token: secret_file(dir, "jira-token", JIRA_TOKEN),
        request_timeout: "2s".into(),
    });
    if let Some(github) = config.connectors.github.as_mut() {
        github.request_timeout = "2s".into();
    }
    config
}

/// 20% of every upstream's calls fail (500, 502, 503, 429 and 403 secondary rate
/// limits with Retry-After), and the first two calls to each hang past the client's
/// 2-second timeout.
fn break_upstreams(up: &Upstreams) {
    for (seed, faults) in [
        up.okta.faults(),
        up.github.faults(),
        up.iam.faults(),
        up.vault.faults(),
        up.jira.faults(),
    ]
    .into_iter()
    .enumerate()
    {
        faults.set_random(FAULT_RATE, 11 + seed as u64);
        faults.inject(FaultRule::next(2, Fault::Hang(Duration::from_secs(4))));
        faults.set_latency(Duration::from_millis(5));
    }
}

fn heal_upstreams(up: &Upstreams) -> u64 {
    [
        up.okta.faults(),
        up.github.faults(),
        up.iam.faults(),
        up.vault.faults(),
        up.jira.faults(),
    ]
    .into_iter()
    .map(|faults| {
        let injected = faults.injected();
        faults.clear();
        injected
    })
    .sum()
}

async fn start_runs(server: &Server, people: &[Person]) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for person in people {
        let response = client
            .post(format!("{}/api/v1/offboardings", server.base))
            .bearer_auth(&server.admin_token)
            .json(&json!({
                "identity": {
                    "email": person.email,
                    "accounts": {"github": person.github, "vault": person.vault_entity}
                },
                "plan": "standard-leaver",
                "ticket": {"system": "jira", "key": person.ticket},
                "reason": "layoff",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
        let created: serde_json::Value = response.json().await.unwrap();
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    ids
}

/// Every run completed with every step verified, and each fake shows the access gone.
async fn assert_all_revoked(
    kind: &str,
    server: &Server,
    up: &Upstreams,
    people: &[Person],
    ids: &[String],
) {
    for id in ids {
        let run = server.wait_run(id, Duration::from_secs(240)).await;
        assert_eq!(run["status"], "completed", "{kind}: {run:#}");
        for step in run["steps"].as_array().unwrap() {
            assert_eq!(step["status"], "succeeded", "{kind}: {step:#}");
            assert_eq!(step["verified"], true, "{kind}: {step:#}");
        }
    }
    let root = up.vault.root();
    for person in people {
        assert!(up.okta.sessions(&person.okta_id).is_empty(), "{kind}");
        assert_eq!(
            up.okta.user(&person.okta_id).unwrap().status,
            "DEPROVISIONED",
            "{kind}"
        );
        assert!(!up.github.is_member("acme", &person.github), "{kind}");
        assert_eq!(
            up.github.removals("acme", &person.github),
            1,
            "{kind}: {} removed more than once",
            person.github
        );
        let user = up.iam.account().user(&person.iam_user);
        if let Some(user) = user {
            assert!(
                user.grants_nothing(&["LeaverRevokeOlderSessions"]),
                "{kind}: {user:#?}"
            );
        }
        assert_eq!(root.is_disabled(&person.vault_entity), Some(true), "{kind}");
        assert!(root.live_tokens(&person.vault_entity).is_empty(), "{kind}");
        let comments = up.jira.comments(&person.ticket);
        assert!(
            !comments.is_empty(),
            "{kind}: no summary on {}",
            person.ticket
        );
    }
    let verify: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/evidence/verify", server.base))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verify["ok"], true, "{kind}: {verify:#}");
}

fn set_aws_credentials(iam: &IamSim) {
    std::env::set_var("AWS_ACCESS_KEY_ID", iam.access_key_id());
    std::env::set_var("AWS_SECRET_ACCESS_KEY", iam.secret_access_key());
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_offboarding_completes_under_upstream_faults_on_sqlite() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let up = upstreams().await;
    set_aws_credentials(&up.iam);
    let people: Vec<Person> = (0..PEOPLE)
        .map(|i| seed(&up, &format!("lite{i}"), i))
        .collect();
    let server = Server::start(App::build(config(&db.url, dir.path(), &up)).await.unwrap()).await;
    break_upstreams(&up);
    let ids = start_runs(&server, &people).await;
    for id in &ids {
        server.wait_run(id, Duration::from_secs(240)).await;
    }
    assert!(heal_upstreams(&up) > 0, "no fault was injected");
    assert_all_revoked("sqlite", &server, &up, &people, &ids).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_offboarding_completes_under_upstream_faults_and_a_database_restart() {
    let Some(pg) = PrivatePostgres::start() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "PostgreSQL's binaries are required in CI"
        );
        eprintln!("NOTICE: no PostgreSQL binaries; the database-restart test is skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let up = upstreams().await;
    set_aws_credentials(&up.iam);
    let people: Vec<Person> = (0..PEOPLE)
        .map(|i| seed(&up, &format!("pg{i}"), i))
        .collect();
    let server = Server::start(
        App::build(config(&pg.url(), dir.path(), &up))
            .await
            .unwrap(),
    )
    .await;
    break_upstreams(&up);
    let ids = start_runs(&server, &people).await;

    // Crash-stop the database once revocations are under way, for two seconds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while up.github.total_removals() == 0 && up.okta.request_count() < 10 {
        assert!(tokio::time::Instant::now() < deadline, "nothing started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut unfinished = 0;
    for id in &ids {
        let run: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/api/v1/offboardings/{id}", server.base))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if matches!(run["status"].as_str(), Some("pending" | "running")) {
            unfinished += 1;
        }
    }
    assert!(
        unfinished > 0,
        "every run ended before the restart; nothing tested"
    );
    let pg = tokio::task::spawn_blocking(move || {
        pg.restart(Duration::from_secs(2));
        pg
    })
    .await
    .unwrap();

    for id in &ids {
        server.wait_run(id, Duration::from_secs(240)).await;
    }
    assert!(heal_upstreams(&up) > 0, "no fault was injected");
    assert_all_revoked("postgres (restarted)", &server, &up, &people, &ids).await;
    server.stop().await;
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_upstream_error_is_flagged_with_its_message_and_never_verified() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let up = upstreams().await;
        set_aws_credentials(&up.iam);
        let person = seed(&up, "perm", 99);
        let server =
            Server::start(App::build(config(&db.url, dir.path(), &up)).await.unwrap()).await;
        // GitHub refuses the membership removal for good: 422 with GitHub's error body.
        up.github.faults().inject(
            FaultRule::always(Fault::Status(422))
                .on_path(format!("/orgs/acme/members/{}", person.github)),
        );
        up.github.faults().inject(
            FaultRule::always(Fault::Status(422))
                .on_path(format!("/orgs/acme/memberships/{}", person.github)),
        );
        let ids = start_runs(&server, std::slice::from_ref(&person)).await;
        let run = server.wait_run(&ids[0], Duration::from_secs(120)).await;
        assert_eq!(run["status"], "partially_failed", "{}: {run:#}", db.kind);
        let github = run["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == "github")
            .cloned()
            .expect("github step");
        assert_eq!(github["status"], "failed", "{github:#}");
        assert_ne!(github["verified"], true, "{github:#}");
        let error = github["error"].to_string();
        assert!(
            error.contains("422") && error.contains("Unprocessable Entity"),
            "the upstream's message is not in the error: {github:#}"
        );
        // Still a member upstream, and no evidence claims otherwise.
        assert!(up.github.is_member("acme", &person.github));
        let evidence = server
            .app
            .store
            .evidence_for_subject(&ids[0])
            .await
            .unwrap();
        assert!(!evidence.iter().any(|e| e.kind == "step.verification"
            && e.payload["step"] == "github"
            && e.payload["verified"] == true));
        // The other systems were still revoked and verified.
        for step in run["steps"].as_array().unwrap() {
            if step["id"] != "github" && step["status"] == "succeeded" {
                assert_eq!(step["verified"], true, "{step:#}");
            }
        }
        server.stop().await;
    }
}
