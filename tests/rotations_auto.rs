//! Automatic rotations end to end, on SQLite and PostgreSQL. An identity read three
//! production Vault KV v2 secrets (ingested Vault audit lines): a plain secret (a
//! generated value, `leaver_generator = hex:48`); a secret mirrored into a GitHub
//! Actions repository secret and an organization secret (`github_actions_secrets`);
//! and a secret holding an IAM service user's access key (`aws_iam_user`), itself
//! mirrored into an environment secret.
//!
//! After the offboarding every rotation is done and verified against the simulated
//! Vault, GitHub (the sealed boxes open to the new Vault values) and IAM (a new Active
//! key, the old one still Active until the grace period has passed; then the
//! deactivation job sets it Inactive, exactly once). An IAM user that already has two
//! keys leaves the rotation open with the reason. No value, old or new, reaches the
//! database, the evidence export or the logs.

mod common;
#[path = "support/vault_audit.rs"]
mod vault_audit;

use common::*;
use leaver::app::App;
use leaver::config::{AwsIamSection, VaultSection};
use leaver::trail::{ingest_vault_file, FollowOptions, NoProgress};
use leaver_connector_github::actions_secrets::{ActionsSecrets, SecretTarget, Visibility};
use leaver_sim::aws_iam::{IamSim, IamSimConfig};
use leaver_sim::github::secrets::SecretPlace;
use leaver_sim::github::{GithubSim, GithubSimConfig};
use leaver_sim::vault::{VaultSim, VaultSimConfig};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use vault_audit::vault_read;

const VAULT_TOKEN: &str = "hvs.auto-rotations-canary-9b1e";
const SIGNING_KEY: &str = "signing-key-original-canary-3c5a";
const NPM_TOKEN: &str = "npm_original-canary-77e2";

const PLAN: &str = r#"
name: rotate-leaver
trigger: { events: [manual] }
sla: 15m
steps:
  - id: rotate
    uses: trail.schedule_rotations
    with: { lookback: 90d, due: { production: 24h, default: 7d } }
"#;

const SIGNING: &str = "secret/prod/payments/signing";
const NPM: &str = "secret/prod/ci/npm";
const DEPLOYER: &str = "secret/prod/ci/deployer";

/// Everything every test of this binary logs (one subscriber per process).
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,leaver=debug,leaver_connector_aws_iam=debug,\
                 leaver_connector_github=debug,leaver_connector_vault=debug",
            ))
            .with_writer(move || LogSink(sink.clone()))
            .with_ansi(false)
            .try_init();
        buffer
    })
    .clone()
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn ingest_reads(store: &leaver::store::Store, dir: &Path, email: &str, paths: &[&str]) {
    let entity = format!("entity-{email}");
    let mut lines = String::new();
    for (i, path) in paths.iter().enumerate() {
        let (mount, rest) = path.split_once('/').unwrap();
        lines += &vault_read(
            email,
            &entity,
            &format!("{mount}/data/{rest}"),
            &format!("{email}-{i}"),
        );
    }
    let log = dir.join(format!("{email}-audit.log"));
    std::fs::write(&log, lines).unwrap();
    let report = ingest_vault_file(store, &log, &FollowOptions::default(), &NoProgress, None)
        .await
        .unwrap();
    assert_eq!(report.reads_indexed as usize, paths.len(), "{report:?}");
}

async fn offboard(server: &Server, email: &str, key: &str) -> Value {
    server.offboard("rotate-leaver", email, key).await
}

async fn rotations(server: &Server) -> Vec<Value> {
    let body: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/rotations", server.base))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["rotations"].as_array().cloned().unwrap_or_default()
}

fn by_secret(all: &[Value], secret: &str) -> Value {
    all.iter()
        .find(|r| r["secret"] == secret)
        .cloned()
        .unwrap_or_else(|| panic!("{secret} not in {all:#?}"))
}

/// The simulators and a configuration pointing at them.
struct World {
    vault: VaultSim,
    github: GithubSim,
    iam: IamSim,
}

async fn world() -> World {
    let vault = VaultSim::start(VaultSimConfig {
        token: VAULT_TOKEN.into(),
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
    github.add_org("acme");
    github.add_repo("acme", "api");
    github.add_environment("acme", "api", "production");
    let iam = IamSim::start(IamSimConfig::default()).await.unwrap();
    // The connector reads the default credential chain: the simulator's key.
    std::env::set_var("AWS_ACCESS_KEY_ID", iam.access_key_id());
    std::env::set_var("AWS_SECRET_ACCESS_KEY", iam.secret_access_key());
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    World { vault, github, iam }
}

/// IAM user `ci-deployer` with one access key, stored in Vault at DEPLOYER (with
/// `data` besides the key pair) and tied to the user by custom metadata (with
/// `metadata` besides `aws_iam_user`): the old key id and secret.
fn seed_deployer(w: &World, data: &[(&str, &str)], metadata: &[(&str, &str)]) -> (String, String) {
    let account = w.iam.account();
    account.create_user("ci-deployer", &[]);
    let (old_key, old_secret) = account.add_access_key("ci-deployer").unwrap();
    let (mount, deployer) = DEPLOYER.split_once('/').unwrap();
    let root = w.vault.root();
    let pair = [
        ("access_key_id", old_key.as_str()),
        ("secret_access_key", old_secret.as_str()),
    ];
    root.put_kv(mount, deployer, &[&pair[..], data].concat());
    let user = [("aws_iam_user", "ci-deployer")];
    root.set_kv_custom_metadata(mount, deployer, &[&user[..], metadata].concat());
    (old_key, old_secret)
}

fn config(w: &World, db_url: &str, dir: &Path) -> leaver::config::Config {
    let plans = plans_dir(dir, &[("rotate-leaver", PLAN)]);
    let mut config = test_config(db_url, dir, &plans, Some(&w.github.base_url()));
    let token_file = dir.join("vault-token");
    std::fs::write(&token_file, VAULT_TOKEN).unwrap();
    config.connectors.vault = Some(VaultSection {
        addr: w.vault.base_url(),
        token: format!("file:{}", token_file.display()),
        namespace: None,
        request_timeout: "5s".into(),
    });
    config.connectors.aws_iam = Some(AwsIamSection {
        region: "us-east-1".into(),
        endpoint_url: Some(w.iam.base_url()),
        request_timeout: "10s".into(),
        max_attempts: 1,
        default_account: None,
        page_size: None,
        accounts: Default::default(),
    });
    config.trail.environments = vec![leaver::config::TrailEnvironment {
        name: "production".into(),
        patterns: vec!["secret/prod/*".into()],
    }];
    let auto = &mut config.trail.auto_rotate;
    auto.vault_kv = true;
    auto.aws_iam_keys = true;
    auto.github_actions = true;
    auto.aws_key_grace = "1h".into();
    config
}

fn aws_connector(iam: &IamSim) -> leaver_connector_aws_iam::AwsIamConnector {
    leaver_connector_aws_iam::AwsIamConnector::with_credentials(
        leaver_connector_aws_iam::AwsIamConfig {
            endpoint_url: Some(iam.base_url()),
            max_attempts: 1,
            request_timeout: Duration::from_secs(10),
            ..Default::default()
        },
        leaver_connector_aws_iam::Credentials::new(
            iam.access_key_id(),
            iam.secret_access_key(),
            None,
            None,
            "test",
        ),
    )
    .unwrap()
}

/// Every table's rows as text (PostgreSQL), or the database file and its WAL (SQLite).
async fn database_text(db: &TestDb) -> String {
    if db.is_postgres() {
        use sqlx::{Connection, Row};
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let tables: Vec<String> = sqlx::query(
            "SELECT table_name::text AS t FROM information_schema.tables \
             WHERE table_schema = 'public'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>("t"))
        .collect();
        assert!(tables.iter().any(|t| t == "rotation_key_deactivations"));
        let mut text = String::new();
        for table in tables {
            let rows = sqlx::query(&format!(
                "SELECT row_to_json(x)::text AS j FROM \"{table}\" x"
            ))
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for row in rows {
                text.push_str(&row.get::<String, _>("j"));
                text.push('\n');
            }
        }
        text
    } else {
        let path = db.url.trim_start_matches("sqlite://");
        let path = path.split('?').next().unwrap_or(path);
        let mut bytes = std::fs::read(path).unwrap();
        if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
            bytes.extend(wal);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

async fn export(server: &Server) -> String {
    reqwest::Client::new()
        .get(format!("{}/api/v1/evidence/export", server.base))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_github_and_iam_key_rotations_are_done_verified_and_leak_nothing() {
    let logs = captured_logs();
    for db in databases().await {
        let kind = db.kind;
        let dir = tempfile::tempdir().unwrap();
        let w = world().await;
        let root = w.vault.root();
        root.add_kv_mount("secret");
        let (mount, signing) = SIGNING.split_once('/').unwrap();
        root.put_kv(mount, signing, &[("signing_key", SIGNING_KEY)]);
        root.set_kv_custom_metadata(
            mount,
            signing,
            &[
                ("owner", "payments@example.com"),
                ("leaver_generator", "hex:48"),
            ],
        );
        let npm = NPM.split_once('/').unwrap().1;
        root.put_kv(mount, npm, &[("token", NPM_TOKEN)]);
        root.set_kv_custom_metadata(
            mount,
            npm,
            &[(
                "github_actions_secrets",
                "acme/api:NPM_TOKEN, org:acme:NPM_TOKEN",
            )],
        );
        let deployer = DEPLOYER.split_once('/').unwrap().1;
        let (old_key, old_secret) = seed_deployer(
            &w,
            &[("region", "eu-west-1")],
            &[
                (
                    "github_actions_secrets",
                    "acme/api@production:AWS_SECRET_ACCESS_KEY",
                ),
                ("github_actions_key", "secret_access_key"),
            ],
        );
        let account = w.iam.account();
        // The organization secret exists (private), with the old value.
        let github_client = ActionsSecrets::new(&leaver_connector_github::GithubConfig {
            api_url: w.github.base_url(),
            token: GITHUB_TOKEN.into(),
            ..Default::default()
        })
        .unwrap();
        github_client
            .set_secret(
                &SecretTarget::org("acme").with_visibility(Visibility::Private, None),
                "NPM_TOKEN",
                &SecretString::from(NPM_TOKEN),
            )
            .await
            .unwrap();
        let org_before = w
            .github
            .actions_secret(&SecretPlace::org("acme"), "NPM_TOKEN")
            .unwrap();

        let server =
            Server::start(App::build(config(&w, &db.url, dir.path())).await.unwrap()).await;
        let store = server.app.store.clone();
        let email = "frank@example.com";
        ingest_reads(&store, dir.path(), email, &[SIGNING, NPM, DEPLOYER]).await;
        // GitHub's updated_at has whole seconds: the writes must be in a later second.
        tokio::time::sleep(Duration::from_millis(1100)).await;

        let run = offboard(&server, email, "auto-frank").await;
        assert_eq!(run["status"], "completed", "{kind}: {run:#}");
        let all = rotations(&server).await;
        assert_eq!(all.len(), 3, "{kind}: {all:#?}");
        for r in &all {
            assert_eq!(r["status"], "done", "{kind}: {r:#}");
            assert_eq!(r["auto"], true, "{kind}: {r:#}");
        }

        // Generated: 48 hex characters (the secret's own policy), version 2.
        assert_eq!(root.kv_current_version(mount, signing), Some(2));
        let new_signing = root.kv_current_data(mount, signing).unwrap()["signing_key"].clone();
        assert_eq!(new_signing.len(), 48, "{kind}");
        assert!(new_signing.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(new_signing, SIGNING_KEY);

        // Mirrored: the repository and organization secrets open to the new value.
        let new_npm = root.kv_current_data(mount, npm).unwrap()["token"].clone();
        assert_ne!(new_npm, NPM_TOKEN);
        assert_eq!(new_npm.len(), 32);
        let repo = SecretPlace::repo("acme", "api");
        let org = SecretPlace::org("acme");
        assert_eq!(
            w.github.open_actions_secret(&repo, "NPM_TOKEN").as_deref(),
            Some(new_npm.as_str()),
            "{kind}"
        );
        assert_eq!(
            w.github.open_actions_secret(&org, "NPM_TOKEN").as_deref(),
            Some(new_npm.as_str()),
            "{kind}"
        );
        let org_after = w.github.actions_secret(&org, "NPM_TOKEN").unwrap();
        assert!(org_after.updated_at > org_before.updated_at, "{kind}");
        assert_eq!(org_after.visibility, org_before.visibility);

        // IAM key: a new active key in Vault (other keys kept), mirrored; the old key
        // still active during the grace period.
        let new_pair = root.kv_current_data(mount, deployer).unwrap();
        let new_key = new_pair["access_key_id"].clone();
        let new_secret = new_pair["secret_access_key"].clone();
        assert_ne!(new_key, old_key);
        assert_ne!(new_secret, old_secret);
        assert_eq!(new_pair["region"], "eu-west-1");
        let keys = account.user("ci-deployer").unwrap().access_keys;
        let status = |id: &str| keys.iter().find(|k| k.id == id).map(|k| k.active);
        assert_eq!(keys.len(), 2, "{kind}: {keys:?}");
        assert_eq!(status(&new_key), Some(true));
        assert_eq!(status(&old_key), Some(true));
        let env = SecretPlace::environment("acme", "api", "production");
        assert_eq!(
            w.github
                .open_actions_secret(&env, "AWS_SECRET_ACCESS_KEY")
                .as_deref(),
            Some(new_secret.as_str()),
            "{kind}"
        );

        // Evidence: versions and key ids.
        let rotation = by_secret(&all, DEPLOYER);
        let id = rotation["id"].as_str().unwrap();
        let evidence = store.evidence_for_subject(id).await.unwrap();
        let done = evidence
            .iter()
            .find(|e| e.kind == "rotation.completed")
            .unwrap();
        assert_eq!(done.payload["method"], "aws_iam_key");
        assert_eq!(done.payload["aws"]["new_access_key_id"], new_key.as_str());
        assert_eq!(done.payload["aws"]["old_access_key_id"], old_key.as_str());
        assert_eq!(done.payload["from_version"], 1);
        assert_eq!(done.payload["to_version"], 2);
        assert_eq!(done.payload["github"][0]["verified"], true);
        let signing_done = store
            .evidence_for_subject(by_secret(&all, SIGNING)["id"].as_str().unwrap())
            .await
            .unwrap();
        let signing_done = signing_done
            .iter()
            .find(|e| e.kind == "rotation.completed")
            .unwrap();
        assert_eq!(signing_done.payload["generator"], "hex:48");

        // The deactivation: pending for an hour; the job does nothing before it is due,
        // then deactivates the old key once.
        let pending = store.key_deactivations(id).await.unwrap();
        assert_eq!(pending.len(), 1, "{kind}");
        assert_eq!(
            (
                pending[0].status.as_str(),
                pending[0].access_key_id.as_str()
            ),
            ("pending", old_key.as_str())
        );
        let aws = aws_connector(&w.iam);
        let now = leaver::store::now_ms();
        let pass = leaver::rotations::keys::deactivate_due_keys(&store, &aws, now)
            .await
            .unwrap();
        assert_eq!(pass.deactivated, 0, "{kind}");
        let later = now + 2 * 3_600_000;
        let pass = leaver::rotations::keys::deactivate_due_keys(&store, &aws, later)
            .await
            .unwrap();
        assert_eq!(pass.deactivated, 1, "{kind}");
        let pass = leaver::rotations::keys::deactivate_due_keys(&store, &aws, later + 1)
            .await
            .unwrap();
        assert_eq!(pass.deactivated, 0, "{kind}");
        let keys = account.user("ci-deployer").unwrap().access_keys;
        let status = |id: &str| keys.iter().find(|k| k.id == id).map(|k| k.active);
        assert_eq!(status(&old_key), Some(false), "{kind}");
        assert_eq!(status(&new_key), Some(true), "{kind}");
        let updates = w
            .iam
            .actions()
            .into_iter()
            .filter(|a| a == "UpdateAccessKey")
            .count();
        assert_eq!(updates, 1, "{kind}");
        let deactivated: Vec<_> = store
            .evidence_for_subject(id)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "rotation.key_deactivated")
            .collect();
        assert_eq!(deactivated.len(), 1, "{kind}");
        assert_eq!(deactivated[0].payload["access_key_id"], old_key.as_str());
        assert_eq!(deactivated[0].payload["verified"], true);

        // Canary: no value, old or new, in the evidence, the database or the logs.
        let values = [
            SIGNING_KEY,
            NPM_TOKEN,
            VAULT_TOKEN,
            GITHUB_TOKEN,
            old_secret.as_str(),
            new_signing.as_str(),
            new_npm.as_str(),
            new_secret.as_str(),
        ];
        let exported = export(&server).await;
        assert!(exported.contains("rotation.key_deactivated"), "{kind}");
        server.stop().await;
        let database = database_text(&db).await;
        assert!(database.contains(&new_key), "{kind}: key ids are recorded");
        let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
        assert!(logged.contains("aws access key created"), "logs captured");
        for value in values {
            assert!(
                !exported.contains(value),
                "{kind}: a value is in the evidence"
            );
            assert!(
                !database.contains(value),
                "{kind}: a value is in the database"
            );
            assert!(!logged.contains(value), "{kind}: a value is in the logs");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_two_keys_leaves_the_rotation_open_with_the_reason() {
    for db in databases().await {
        let kind = db.kind;
        let dir = tempfile::tempdir().unwrap();
        let w = world().await;
        let root = w.vault.root();
        root.add_kv_mount("secret");
        let deployer = DEPLOYER.split_once('/').unwrap().1;
        let (_, old_secret) = seed_deployer(&w, &[], &[]);
        let account = w.iam.account();
        account.add_access_key("ci-deployer").unwrap();

        let server =
            Server::start(App::build(config(&w, &db.url, dir.path())).await.unwrap()).await;
        let store = server.app.store.clone();
        ingest_reads(&store, dir.path(), "grace@example.com", &[DEPLOYER]).await;
        let run = offboard(&server, "grace@example.com", "auto-grace").await;
        assert_eq!(run["status"], "completed", "{kind}: {run:#}");

        let all = rotations(&server).await;
        let rotation = by_secret(&all, DEPLOYER);
        assert_eq!(rotation["status"], "open", "{kind}: {rotation:#}");
        assert_eq!(rotation["auto"], true);
        let reason = rotation["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("AWS allows two"), "{kind}: {reason}");
        assert!(reason.contains("aws_create"), "{kind}: {reason}");
        // Nothing changed upstream.
        assert_eq!(root.kv_current_version("secret", deployer), Some(1));
        assert_eq!(account.user("ci-deployer").unwrap().access_keys.len(), 2);
        assert!(!w.iam.actions().iter().any(|a| a == "CreateAccessKey"));
        let id = rotation["id"].as_str().unwrap();
        let evidence = store.evidence_for_subject(id).await.unwrap();
        let kinds: Vec<&str> = evidence.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            vec!["rotation.scheduled", "rotation.auto_failed"],
            "{kind}"
        );
        assert_eq!(evidence[1].payload["stage"], "aws_create");
        assert!(evidence[1].payload["message"]
            .as_str()
            .unwrap()
            .contains("already has 2 access keys"));
        assert!(store.key_deactivations(id).await.unwrap().is_empty());
        let step = &run["steps"][0];
        let notes = step["outcome"]["details"]["notes"].to_string();
        assert!(notes.contains("AWS allows two"), "{kind}: {step:#}");
        assert!(!notes.contains(&old_secret));
        server.stop().await;
    }
}

/// The key-deactivation job runs on `trail.auto_rotate.key_deactivation_schedule`; a
/// schedule that is not cron is refused, naming the setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_deactivation_job_follows_its_configured_schedule() {
    let w = world().await;
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let store = leaver::store::Store::connect(&db.url, 2).await.unwrap();
    let mut config = config(&w, &db.url, dir.path());
    assert_eq!(
        config.trail.auto_rotate.key_deactivation_schedule,
        "*/5 * * * *"
    );
    config.trail.auto_rotate.key_deactivation_schedule = "17 3 * * *".into();
    let job = leaver::rotations::keys::deactivation_job(&store, &config)
        .unwrap()
        .expect("a job, [connectors.aws_iam] being configured");
    assert_eq!(job.schedule_text, "17 3 * * *");
    let day = 86_400_000;
    let next = job.next_after(10 * day).unwrap();
    assert_eq!(next, 10 * day + 3 * 3_600_000 + 17 * 60_000);

    config.trail.auto_rotate.key_deactivation_schedule = "every tuesday".into();
    let error = leaver::rotations::keys::deactivation_job(&store, &config)
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("trail.auto_rotate.key_deactivation_schedule"),
        "{error}"
    );
    store.close().await;
}

/// Rotations whose automatic attempt was interrupted (the process died) are finished
/// from the journal the attempt left, by the next run that reaches them: one whose
/// Vault write had happened is verified and its mirror written, not rotated again;
/// one that had only created an IAM key has that key deleted and is rotated afresh;
/// one another run started moments ago is left to that run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_automatic_rotations_are_finished_from_their_journal() {
    for db in databases().await {
        let kind = db.kind;
        let dir = tempfile::tempdir().unwrap();
        let w = world().await;
        let root = w.vault.root();
        root.add_kv_mount("secret");
        let mount = "secret";
        let npm = NPM.split_once('/').unwrap().1;
        root.put_kv(mount, npm, &[("token", NPM_TOKEN)]);
        root.set_kv_custom_metadata(
            mount,
            npm,
            &[("github_actions_secrets", "acme/api:NPM_TOKEN")],
        );
        let signing = SIGNING.split_once('/').unwrap().1;
        root.put_kv(mount, signing, &[("signing_key", SIGNING_KEY)]);
        let deployer = DEPLOYER.split_once('/').unwrap().1;
        let (old_key, _) = seed_deployer(&w, &[], &[]);
        let account = w.iam.account();

        // A first offboarding opens the three rotations (automatic rotation off).
        let mut manual = config(&w, &db.url, dir.path());
        manual.trail.auto_rotate.vault_kv = false;
        manual.trail.auto_rotate.aws_iam_keys = false;
        manual.trail.auto_rotate.github_actions = false;
        let server = Server::start(App::build(manual).await.unwrap()).await;
        let store = server.app.store.clone();
        ingest_reads(
            &store,
            dir.path(),
            "ivan@example.com",
            &[NPM, SIGNING, DEPLOYER],
        )
        .await;
        let run = offboard(&server, "ivan@example.com", "auto-ivan").await;
        assert_eq!(run["status"], "completed", "{kind}: {run:#}");
        let all = rotations(&server).await;
        let id = |secret: &str| by_secret(&all, secret)["id"].as_str().unwrap().to_string();
        server.stop().await;

        // What three attempts left when their processes died: NPM written to Vault
        // (version 2) but not yet mirrored; an IAM key created but not yet in Vault;
        // SIGNING just started by another run.
        let long_ago = chrono::Utc::now().timestamp_millis() - 20 * 60 * 1000;
        let written_before_the_crash = "npm_written-before-the-crash-51c0";
        assert_eq!(
            root.put_kv(mount, npm, &[("token", written_before_the_crash)]),
            2
        );
        let (orphan_key, _) = account.add_access_key("ci-deployer").unwrap();
        let journal = |attempt: Value| serde_json::to_string(&attempt).unwrap();
        for (secret, attempt) in [
            (
                NPM,
                journal(
                    json!({"run_id": "run-that-died", "started_at": long_ago, "from_version": 1}),
                ),
            ),
            (
                DEPLOYER,
                journal(
                    json!({"run_id": "run-that-died", "started_at": long_ago, "from_version": 1,
                               "old_access_key_id": old_key, "new_access_key_id": orphan_key}),
                ),
            ),
            (
                SIGNING,
                journal(json!({"run_id": "run-still-going",
                               "started_at": chrono::Utc::now().timestamp_millis(), "from_version": 1})),
            ),
        ] {
            assert!(store
                .set_auto_attempt(&id(secret), Some(&attempt))
                .await
                .unwrap());
        }

        // The next offboarding that reaches them, with automatic rotation on.
        let server =
            Server::start(App::build(config(&w, &db.url, dir.path())).await.unwrap()).await;
        let store = server.app.store.clone();
        ingest_reads(
            &store,
            dir.path(),
            "judy@example.com",
            &[NPM, SIGNING, DEPLOYER],
        )
        .await;
        tokio::time::sleep(Duration::from_millis(1100)).await; // GitHub's whole seconds
        let run = offboard(&server, "judy@example.com", "auto-judy").await;
        assert_eq!(run["status"], "completed", "{kind}: {run:#}");
        let all = rotations(&server).await;

        // NPM: finished, not rotated again; the mirror now holds the written value.
        assert_eq!(by_secret(&all, NPM)["status"], "done", "{kind}: {all:#?}");
        assert_eq!(root.kv_current_version(mount, npm), Some(2), "{kind}");
        assert_eq!(
            w.github
                .open_actions_secret(&SecretPlace::repo("acme", "api"), "NPM_TOKEN")
                .as_deref(),
            Some(written_before_the_crash),
            "{kind}"
        );
        let evidence = store.evidence_for_subject(&id(NPM)).await.unwrap();
        let done = evidence
            .iter()
            .find(|e| e.kind == "rotation.completed")
            .expect("completed");
        assert_eq!(done.payload["recovered"], true, "{kind}");
        assert_eq!(done.payload["from_version"], 1);
        assert_eq!(done.payload["to_version"], 2);
        assert_eq!(done.payload["github"][0]["verified"], true);

        // DEPLOYER: the orphan key deleted, then rotated afresh.
        assert_eq!(by_secret(&all, DEPLOYER)["status"], "done", "{kind}");
        let pair = root.kv_current_data(mount, deployer).unwrap();
        let new_key = pair["access_key_id"].clone();
        let keys: Vec<String> = account
            .user("ci-deployer")
            .unwrap()
            .access_keys
            .iter()
            .map(|k| k.id.clone())
            .collect();
        assert!(!keys.contains(&orphan_key), "{kind}: {keys:?}");
        assert!(
            keys.contains(&old_key) && keys.contains(&new_key),
            "{kind}: {keys:?}"
        );
        assert_ne!(new_key, orphan_key);
        let evidence = store.evidence_for_subject(&id(DEPLOYER)).await.unwrap();
        let done = evidence
            .iter()
            .find(|e| e.kind == "rotation.completed")
            .expect("completed");
        assert_eq!(done.payload["recovered"], false, "{kind}");
        assert!(
            done.payload["interrupted"]
                .to_string()
                .contains(&format!("deleted the new access key {orphan_key}")),
            "{kind}: {}",
            done.payload
        );
        assert_eq!(done.payload["aws"]["old_access_key_id"], old_key.as_str());
        assert_eq!(
            store.key_deactivations(&id(DEPLOYER)).await.unwrap().len(),
            1
        );

        // SIGNING: another run's attempt, moments old: left alone.
        let signing_row = by_secret(&all, SIGNING);
        assert_eq!(signing_row["status"], "open", "{kind}");
        assert_eq!(root.kv_current_version(mount, signing), Some(1));
        for secret in [NPM, DEPLOYER] {
            let row = store.get_rotation(&id(secret)).await.unwrap().unwrap();
            assert_eq!(row.auto_attempt, None, "{kind}: the journal is cleared");
        }
        let row = store.get_rotation(&id(SIGNING)).await.unwrap().unwrap();
        assert!(row.auto_attempt.is_some());
        server.stop().await;
    }
}
