//! The audit trail on SQLite and PostgreSQL: Vault file audit logs (the shared
//! fixtures and generated lines) followed through rotation and truncation, resumed
//! after an interruption without double counting, malformed lines reported with their
//! line numbers, CloudTrail files (gzip, directories), the Vault socket device over
//! real TCP, and the query through the library, the CLI and the HTTP API.

mod common;

use common::*;
use leaver::store::{AccountMapping, Store};
use leaver::trail::{
    ingest_cloudtrail, ingest_vault_file, secret_access, FollowOptions, NoProgress,
    SecretAccessReport,
};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const CANARY: &str = "CANARY-secret-value-7f3a91";
const FIXTURES: &str = "tests/fixtures/trail"; // copies of ../shared/fixtures
const FRANK_ENTITY: &str = "6f0d1c2b-3a49-5867-9a0b-1c2d3e4f5a6b";
const LONG_AGO: i64 = 0;

fn fixture(name: &str) -> PathBuf {
    repo_path(FIXTURES).join(name)
}

async fn store(db: &TestDb) -> Store {
    Store::connect(&db.url, 4).await.expect("store")
}

async fn map(store: &Store, email: &str, system: &str, account: &str) {
    store
        .upsert_mappings(
            &[AccountMapping {
                email: email.into(),
                system: system.into(),
                account: account.into(),
            }],
            "test",
            "test",
        )
        .await
        .unwrap();
}

fn secret<'a>(
    report: &'a SecretAccessReport,
    path: &str,
) -> &'a leaver::trail::query::SecretAccessSummary {
    report
        .secrets
        .iter()
        .find(|s| s.secret == path)
        .unwrap_or_else(|| panic!("{path} not in {report:#?}"))
}

fn total_reads(report: &SecretAccessReport) -> i64 {
    report.secrets.iter().map(|s| s.count).sum()
}

/// A request line and its response line for a KV v2 read by `user` (entity
/// `entity-<user>`), the response holding `value` in plain text (as with
/// `log_raw`): it must never be stored.
fn pair(n: u64, user: &str, key: &str, time: &str, value: &str) -> String {
    let auth = json!({
        "client_token": "hmac-sha256:5b2c", "accessor": "hmac-sha256:a1b2",
        "display_name": format!("oidc-{user}@example.com"), "entity_id": format!("entity-{user}"),
        "metadata": {"username": format!("{user}@example.com")}, "policies": ["default"],
        "token_type": "service"
    });
    let request = json!({
        "id": format!("req-{n}"), "operation": "read", "mount_point": "secret/", "mount_type": "kv",
        "path": format!("secret/data/{key}"), "remote_address": format!("10.0.0.{}", n % 3 + 1),
        "namespace": {"id": "root"}, "client_token": "hmac-sha256:5b2c"
    });
    let req = json!({"time": time, "type": "request", "auth": auth, "request": request});
    let resp = json!({"time": time, "type": "response", "auth": auth, "request": request,
        "response": {"mount_point": "secret/", "mount_type": "kv",
                     "data": {"data": {"password": value}, "metadata": {"version": 3}}}});
    format!("{req}\n{resp}\n")
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// `pairs` reads by alice and bob, alternating (from n = 1000 every third by carol),
/// of `app/<n % 4>`.
fn generated(start: u64, pairs: u64) -> String {
    (start..start + pairs)
        .map(|n| {
            let user = match n % 2 {
                _ if n >= 1000 && n % 3 == 0 => "carol",
                0 => "alice",
                _ => "bob",
            };
            pair(n, user, &format!("app/{}", n % 4), &now_text(), CANARY)
        })
        .collect()
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

async fn reads_of(store: &Store, email: &str) -> i64 {
    total_reads(&secret_access(store, email, LONG_AGO).await.unwrap())
}

async fn wait_reads(store: &Store, email: &str, want: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = reads_of(store, email).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{email}: {got} reads indexed, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fresh SQLite store and a log holding `text` (keep the database and the directory
/// alive while they are used).
async fn sqlite_with_log(text: &str) -> (TestDb, Store, tempfile::TempDir, PathBuf) {
    let db = sqlite_db();
    let store = store(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    append(&log, text);
    (db, store, dir, log)
}

type FollowTask =
    tokio::task::JoinHandle<Result<leaver::trail::IngestReport, leaver::trail::TrailError>>;

/// Follow `log` (polling every 20 ms, at most `batch_lines` lines per commit) until
/// `true` is sent on the sender returned.
fn follow(
    store: &Store,
    log: &Path,
    batch_lines: usize,
) -> (tokio::sync::watch::Sender<bool>, FollowTask) {
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let (store, log) = (store.clone(), log.to_path_buf());
    let task = tokio::spawn(async move {
        let options = FollowOptions {
            follow: true,
            batch_lines,
            poll: Duration::from_millis(20),
            ..FollowOptions::default()
        };
        ingest_vault_file(&store, &log, &options, &NoProgress, Some(shutdown)).await
    });
    (stop, task)
}

async fn ingest(
    store: &Store,
    path: &Path,
    options: &FollowOptions,
) -> leaver::trail::IngestReport {
    ingest_vault_file(store, path, options, &NoProgress, None)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_fixtures_answer_through_entity_id_alias_and_email() {
    for db in databases().await {
        let store = store(&db).await;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        for name in ["vault-audit.jsonl", "vault-audit-salted.jsonl"] {
            append(&log, &std::fs::read_to_string(fixture(name)).unwrap());
        }
        let report = ingest(&store, &log, &FollowOptions::default()).await;
        assert_eq!(report.lines, 23, "{}: {report:?}", db.kind);
        assert_eq!(report.malformed, 0, "{report:?}");

        // frank through the mapping table's Vault entity id.
        map(&store, "frank@example-corp.com", "vault", FRANK_ENTITY).await;
        let frank = secret_access(&store, "frank@example-corp.com", LONG_AGO)
            .await
            .unwrap();
        let stripe = secret(&frank, "secret/production/payments/stripe");
        assert_eq!((stripe.count, stripe.denied), (1, 0), "{}", db.kind);
        assert_eq!(stripe.operations, vec!["read"]);
        assert_eq!(stripe.source_addresses, vec!["10.20.3.17"]);
        assert!(
            stripe
                .matched_by
                .contains(&"entity_id via mapping:vault".to_string()),
            "{stripe:?}"
        );
        assert!(
            stripe.matched_by.contains(&"login via email".to_string()),
            "{stripe:?}"
        );
        let payroll = secret(&frank, "secret/production/hr/payroll-db");
        assert_eq!(
            (payroll.count, payroll.denied),
            (0, 1),
            "a denied read is not an access"
        );

        // bob through his Vault alias (userpass username) in the mapping table.
        map(&store, "robert@example.com", "vault", "bob").await;
        let bob = secret_access(&store, "robert@example.com", LONG_AGO)
            .await
            .unwrap();
        assert_eq!(secret(&bob, "secret/infra/grafana").count, 1);
        assert_eq!(secret(&bob, "secret/infra/aws-root").denied, 1);
        assert_eq!(secret(&bob, "secret/infra/").operations, vec!["list"]);
        assert!(bob
            .matches
            .iter()
            .all(|m| m.kind == "alias" && m.via == "mapping:vault"));

        // alice through her email alone; the UI's sys/internal mount lookup is not a read.
        let alice = secret_access(&store, "Alice@Example.com", LONG_AGO)
            .await
            .unwrap();
        let paths: Vec<&str> = alice.secrets.iter().map(|s| s.secret.as_str()).collect();
        assert_eq!(paths, vec!["secret/payments/db", "secret/payments/stripe"]);
        assert_eq!(total_reads(&alice), 2);
        // Her reads are 97 days old: outside a 90-day window, inside 120 days.
        let day = 86_400_000;
        let now = chrono::Utc::now().timestamp_millis();
        assert!(secret_access(&store, "alice@example.com", now - 90 * day)
            .await
            .unwrap()
            .secrets
            .is_empty());
        assert_eq!(
            total_reads(
                &secret_access(&store, "alice@example.com", now - 120 * day)
                    .await
                    .unwrap()
            ),
            2
        );

        // A second run indexes nothing twice.
        let again = ingest(&store, &log, &FollowOptions::default()).await;
        assert_eq!(again.lines, 0);
        assert_eq!(
            total_reads(
                &secret_access(&store, "alice@example.com", LONG_AGO)
                    .await
                    .unwrap()
            ),
            2
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_ingest_resumes_without_double_counting() {
    for db in databases().await {
        let store = store(&db).await;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        append(&log, &generated(0, 500)); // 1,000 lines, 250 reads each
        let mut lines = 0;
        // Interrupted after 337 lines (between a request and its response), then
        // every 101 lines, then to the end.
        for stop in [Some(337), Some(101), Some(101), None] {
            let options = FollowOptions {
                batch_lines: 64,
                stop_after_lines: stop,
                ..FollowOptions::default()
            };
            lines += ingest(&store, &log, &options).await.lines;
        }
        assert_eq!(lines, 1000, "{}", db.kind);
        assert_eq!(
            reads_of(&store, "alice@example.com").await,
            250,
            "{}",
            db.kind
        );
        assert_eq!(reads_of(&store, "bob@example.com").await, 250);

        // A run killed with SIGKILL mid-ingest loses nothing and counts nothing twice.
        let dir2 = tempfile::tempdir().unwrap();
        let big = dir2.path().join("audit.log");
        append(&big, &generated(1000, 6000));
        let leaver = || {
            let mut command = Command::new(env!("CARGO_BIN_EXE_leaver"));
            command
                .current_dir(dir2.path())
                .args([
                    "trail",
                    "ingest",
                    "vault",
                    big.to_str().unwrap(),
                    "--batch-lines",
                    "100",
                ])
                .env("LEAVER_DATABASE_URL", &db.url)
                .env("LEAVER_LOG", "warn")
                .stdout(std::process::Stdio::null());
            command
        };
        let mut child = leaver().spawn().unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let after_kill = reads_of(&store, "carol@example.com").await;
        assert!(leaver().status().unwrap().success());
        assert_eq!(
            reads_of(&store, "alice@example.com").await,
            250 + 2000,
            "{}: killed ({status:?})",
            db.kind
        );
        assert_eq!(reads_of(&store, "bob@example.com").await, 250 + 2000);
        assert_eq!(
            reads_of(&store, "carol@example.com").await,
            2000,
            "{} were indexed before the kill",
            after_kill
        );
    }
}

/// A response that comes after its request was counted alone (five minutes of log time
/// and two looks for stale requests later: a Vault whose `max_request_duration` is
/// raised past five minutes) takes the request's count back: the read counts once,
/// within a run (request and response in different parts of a chunk, on two threads)
/// and across runs (the request counted alone at the end of a one-shot run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_after_its_request_was_counted_alone_counts_once() {
    let t0 = chrono::Utc::now() - chrono::Duration::hours(1);
    let at = |minutes: i64| {
        (t0 + chrono::Duration::minutes(minutes))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    };
    // The request line of `pair(n, …)` at `asked`, and its response line at `answered`.
    let late_pair = |n: u64, user: &str, key: &str, asked: i64, answered: i64| {
        let asked = pair(n, user, key, &at(asked), CANARY);
        let answered = pair(n, user, key, &at(answered), CANARY);
        let request = asked.lines().next().unwrap().to_string() + "\n";
        let response = answered.lines().nth(1).unwrap().to_string() + "\n";
        (request, response)
    };
    let two_threads = FollowOptions {
        parse_threads: 2,
        ..FollowOptions::default()
    };
    for db in databases().await {
        let store = store(&db).await;
        let dir = tempfile::tempdir().unwrap();

        let log = dir.path().join("audit.log");
        let (request, response) = late_pair(1, "dave", "prod/db", 0, 10);
        let others: String = (10..2110)
            .map(|n| pair(n, "erin", "app/x", &at(10), CANARY))
            .collect();
        append(&log, &format!("{request}{others}{response}"));
        let report = ingest(&store, &log, &two_threads).await;
        assert_eq!(report.reads_indexed, 2101, "{}", db.kind);
        let dave = secret_access(&store, "dave@example.com", LONG_AGO)
            .await
            .unwrap();
        assert_eq!(secret(&dave, "secret/prod/db").count, 1, "{}", db.kind);
        assert_eq!(reads_of(&store, "erin@example.com").await, 2100);

        let log = dir.path().join("audit2.log");
        let (request, response) = late_pair(5000, "frank", "prod/api", 0, 30);
        append(&log, &request);
        ingest(&store, &log, &two_threads).await;
        assert_eq!(
            reads_of(&store, "frank@example.com").await,
            1,
            "{}: counted alone at the end of the run",
            db.kind
        );
        append(&log, &response);
        let report = ingest(&store, &log, &two_threads).await;
        assert_eq!(
            report.reads_indexed, 0,
            "{}: one read counted, one taken back",
            db.kind
        );
        let frank = secret_access(&store, "frank@example.com", LONG_AGO)
            .await
            .unwrap();
        assert_eq!(secret(&frank, "secret/prod/api").count, 1, "{}", db.kind);
        assert_eq!(frank.secrets.len(), 1);
    }
}

/// Records the bytes of each batch read (`Progress::advance` is called once per batch,
/// after one call with the offset a run starts from, which is not a batch).
#[derive(Default)]
struct Batches(std::sync::Mutex<(bool, Vec<u64>)>);

impl leaver::trail::Progress for Batches {
    fn file(&self, _path: &Path, _total: u64) {
        self.0.lock().unwrap().0 = true;
    }

    fn advance(&self, bytes: u64) {
        let mut seen = self.0.lock().unwrap();
        if std::mem::take(&mut seen.0) {
            return;
        }
        if bytes > 0 {
            seen.1.push(bytes);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_end_at_a_byte_budget_and_resume_without_double_counting() {
    for db in databases().await {
        let store = store(&db).await;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        append(&log, &generated(0, 400)); // 800 lines, 200 reads each
        let longest = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| l.len() as u64 + 1)
            .max()
            .unwrap();
        let budget = 20_000;
        let mut lines = 0;
        let mut sizes = Vec::new();
        // Interrupted mid-batch (and between a request and its response), then to the end.
        for stop in [Some(333), Some(250), None] {
            let options = FollowOptions {
                batch_lines: 1_000_000,
                batch_bytes: budget,
                stop_after_lines: stop,
                ..FollowOptions::default()
            };
            let progress = Batches::default();
            let report = ingest_vault_file(&store, &log, &options, &progress, None)
                .await
                .unwrap();
            lines += report.lines;
            sizes.extend(progress.0.into_inner().unwrap().1);
        }
        assert_eq!(lines, 800, "{}", db.kind);
        // Each commit covers whole lines up to the first boundary at or past the budget.
        assert!(sizes.len() > 5, "{sizes:?}");
        assert!(sizes.iter().all(|s| *s < budget + longest), "{sizes:?}");
        assert!(
            sizes.iter().filter(|s| **s >= budget).count() + 3 >= sizes.len(),
            "all but the batches cut by a stop or by the end reach the budget: {sizes:?}"
        );
        assert_eq!(
            reads_of(&store, "alice@example.com").await,
            200,
            "{}",
            db.kind
        );
        assert_eq!(
            reads_of(&store, "bob@example.com").await,
            200,
            "{}",
            db.kind
        );

        // The log grows; the next run reads only the new lines.
        append(&log, &generated(400, 100));
        let report = ingest(&store, &log, &FollowOptions::default()).await;
        assert_eq!(report.lines, 200);
        assert_eq!(
            reads_of(&store, "alice@example.com").await,
            250,
            "{}",
            db.kind
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pipelined_ingest_with_byte_sized_commits_counts_each_read_once() {
    for db in databases().await {
        let store = store(&db).await;
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("audit.log");
        append(&big, &generated(0, 8000)); // 16,000 lines, several MiB
        let leaver = || {
            let mut command = Command::new(env!("CARGO_BIN_EXE_leaver"));
            command
                .current_dir(dir.path())
                .args([
                    "trail",
                    "ingest",
                    "vault",
                    big.to_str().unwrap(),
                    "--batch-mib",
                    "1",
                ])
                .env("LEAVER_DATABASE_URL", &db.url)
                .env("LEAVER_LOG", "warn")
                .stdout(std::process::Stdio::null());
            command
        };
        let mut child = leaver().spawn().unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = child.kill(); // SIGKILL, possibly with one batch committing, one queued
        let status = child.wait().unwrap();
        assert!(leaver().status().unwrap().success());
        assert!(
            leaver().status().unwrap().success(),
            "a third run adds nothing"
        );
        let total = reads_of(&store, "alice@example.com").await
            + reads_of(&store, "bob@example.com").await
            + reads_of(&store, "carol@example.com").await;
        assert_eq!(total, 8000, "{}: killed ({status:?})", db.kind);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_and_truncation_between_runs_are_followed() {
    for db in databases().await {
        let store = store(&db).await;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        append(&log, &generated(0, 10));
        ingest(&store, &log, &FollowOptions::default()).await;
        // Vault keeps writing to the renamed file until it reopens, then a new file.
        std::fs::rename(&log, dir.path().join("audit.log.1")).unwrap();
        append(&dir.path().join("audit.log.1"), &generated(10, 6));
        append(&log, &generated(16, 4));
        let report = ingest(&store, &log, &FollowOptions::default()).await;
        assert_eq!(report.rotations, 1, "{report:?}");
        assert_eq!(report.lines, 20);
        assert_eq!(
            reads_of(&store, "alice@example.com").await + reads_of(&store, "bob@example.com").await,
            20,
            "{}",
            db.kind
        );

        // copytruncate: the file emptied and rewritten, even longer than before.
        std::fs::write(&log, generated(20, 30)).unwrap();
        let report = ingest(&store, &log, &FollowOptions::default()).await;
        assert_eq!(report.truncations, 1, "{report:?}");
        assert_eq!(report.lines, 60);
        assert_eq!(
            reads_of(&store, "alice@example.com").await + reads_of(&store, "bob@example.com").await,
            50
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_log_survives_rotation_and_truncation_mid_ingest() {
    for db in databases().await {
        let store = store(&db).await;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        append(&log, &generated(0, 20));
        let (stop, task) = follow(&store, &log, 7);
        wait_reads(&store, "alice@example.com", 10).await;
        // A line written in two parts is read once complete.
        let half = generated(20, 2);
        let (a, b) = half.split_at(half.len() / 3);
        append(&log, a);
        tokio::time::sleep(Duration::from_millis(100)).await;
        append(&log, b);
        wait_reads(&store, "alice@example.com", 11).await;

        std::fs::rename(&log, dir.path().join("audit.log.1")).unwrap();
        append(&dir.path().join("audit.log.1"), &generated(22, 10));
        tokio::time::sleep(Duration::from_millis(100)).await;
        append(&log, &generated(32, 10));
        wait_reads(&store, "alice@example.com", 21).await;
        wait_reads(&store, "bob@example.com", 21).await;

        std::fs::write(&log, generated(42, 40)).unwrap();
        wait_reads(&store, "alice@example.com", 41).await;
        wait_reads(&store, "bob@example.com", 41).await;
        stop.send(true).unwrap();
        let report = task.await.unwrap().unwrap();
        assert_eq!(report.rotations, 1, "{}: {report:?}", db.kind);
        assert_eq!(report.truncations, 1, "{report:?}");
        assert_eq!(report.malformed, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_lines_are_reported_with_line_numbers_and_skipped() {
    let db = sqlite_db();
    let store = store(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let good = generated(0, 3); // lines 1-6
    append(&log, &good);
    append(
        &log,
        "{\"time\": \"2026-11-18T09:14:03Z\", \"type\": \"resp\n",
    ); // 7
    append(&log, "\n"); // 8: blank, not malformed
    append(
        &log,
        "{\"type\":\"audit\",\"time\":\"2026-11-18T09:14:03Z\",\"request\":{}}\n",
    ); // 9
    append(&log, &generated(3, 1)); // 10-11
    append(&log, "[1,2,3]\n"); // 12
    let report = ingest(&store, &log, &FollowOptions::default()).await;
    let lines: Vec<u64> = report.malformed_samples.iter().map(|m| m.line).collect();
    assert_eq!(lines, vec![7, 9, 12], "{report:?}");
    assert_eq!(report.malformed, 3);
    assert!(
        report.malformed_samples[1].reason.contains("`audit`"),
        "{report:?}"
    );
    assert!(
        report.summary().contains("audit.log:7: not JSON"),
        "{}",
        report.summary()
    );
    assert_eq!(report.reads_indexed, 4);
}

/// A batch of several MiB parsed on four threads: responses written five lines after
/// their requests (so that some pairs straddle the parts' boundaries), malformed
/// lines spread through it: every read counted once, every malformed line reported
/// with its own line number — the same as on one thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_parsed_on_several_threads_pairs_and_numbers_lines_as_one_thread_does() {
    const PAIRS: u64 = 3_000;
    const LAG: usize = 5;
    let mut lines: Vec<String> = Vec::new();
    let mut responses: std::collections::VecDeque<String> = Default::default();
    let mut malformed_at = Vec::new();
    for n in 0..PAIRS {
        let user = if n % 2 == 0 { "alice" } else { "bob" };
        let text = pair(n, user, &format!("app/{}", n % 7), &now_text(), CANARY);
        let (request, response) = text.trim_end().split_once('\n').unwrap();
        lines.push(request.to_string());
        responses.push_back(response.to_string());
        if responses.len() > LAG {
            lines.push(responses.pop_front().unwrap());
        }
        if n % 997 == 500 {
            lines.push(format!(
                "{{\"time\": \"2026-11-18T09:14:03Z\", \"type\": \"resp{n}"
            ));
            malformed_at.push(lines.len() as u64);
        }
    }
    lines.extend(responses);
    let text = lines.join("\n") + "\n";
    assert!(
        text.len() > 3 << 20,
        "{} bytes: four parts of over 768 KiB",
        text.len()
    );

    for threads in [4, 1] {
        let (_db, store, _dir, log) = sqlite_with_log(&text).await;
        let options = FollowOptions {
            parse_threads: threads,
            ..FollowOptions::default()
        };
        let report = ingest(&store, &log, &options).await;
        let numbers: Vec<u64> = report.malformed_samples.iter().map(|m| m.line).collect();
        assert_eq!(numbers, malformed_at, "{threads} threads");
        assert_eq!(report.malformed, malformed_at.len() as u64);
        assert_eq!(report.reads_indexed, PAIRS, "{threads} threads: {report:?}");
        assert_eq!(report.records, 2 * PAIRS, "{threads} threads");
        assert_eq!(
            reads_of(&store, "alice@example.com").await,
            (PAIRS / 2) as i64
        );
        let bob = secret_access(&store, "bob@example.com", LONG_AGO)
            .await
            .unwrap();
        assert_eq!(total_reads(&bob), (PAIRS / 2) as i64);
        assert_eq!(bob.secrets.len(), 7, "{threads} threads");
        assert_eq!(
            secret(&bob, "secret/app/1").source_addresses,
            ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
        );
        store.close().await;
    }
}

/// The log read in place (mapped) and read into buffers gives the same ingest: the
/// same lines, records, reads, malformed lines with their numbers, and the same
/// answers, over many chunks and batches, with blank lines, requests never answered
/// and a last line not written to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapped_log_ingests_as_a_read_one_does() {
    let mut text = String::new();
    let mut malformed_at = Vec::new();
    for n in 0..1_500u64 {
        let user = ["alice", "bob", "carol"][(n % 3) as usize];
        let pair = pair(n, user, &format!("app/{}", n % 5), &now_text(), CANARY);
        if n % 211 == 17 {
            // A request whose response never comes.
            text.push_str(pair.split_inclusive('\n').next().unwrap());
        } else {
            text.push_str(&pair);
        }
        if n % 97 == 3 {
            text.push('\n');
        }
        if n % 389 == 100 {
            text.push_str("{\"time\": \"2026-11-18T09:14:03Z\", \"type\": \"resp\n");
            malformed_at.push(text.lines().count() as u64);
        }
    }
    text.push_str("{\"time\": \"2026-11-18T09:14:03Z\", \"type\": \"req");
    let mut answers = Vec::new();
    for map in [true, false] {
        let (_db, store, _dir, log) = sqlite_with_log(&text).await;
        let options = FollowOptions {
            map,
            chunk_bytes: 48 << 10,
            batch_bytes: 200 << 10,
            parse_threads: 2,
            ..FollowOptions::default()
        };
        let report = ingest(&store, &log, &options).await;
        let numbers: Vec<u64> = report.malformed_samples.iter().map(|m| m.line).collect();
        // The unfinished last line is not read (a writer may still be at it).
        assert_eq!(report.lines, text.lines().count() as u64 - 1, "map {map}");
        assert_eq!(numbers, malformed_at, "map {map}");
        assert!(report.warnings.is_empty(), "map {map}: {report:?}");
        let mut answer = vec![
            report.lines,
            report.records,
            report.reads_indexed,
            report.malformed,
            report.bytes,
        ];
        for user in ["alice", "bob", "carol"] {
            let access = secret_access(&store, &format!("{user}@example.com"), LONG_AGO)
                .await
                .unwrap();
            answer.push(access.secrets.len() as u64);
            answer.extend(access.secrets.iter().map(|s| s.count as u64));
        }
        answers.push(answer);
        store.close().await;
    }
    assert_eq!(answers[0], answers[1], "mapped vs read");
    assert!(answers[0][2] > 1_400, "{:?}", answers[0]);
}

/// A log truncated (logrotate's copytruncate) while it is read in place: the pages the
/// truncation took read as zeros instead of killing the process with SIGBUS; what read
/// as zeros is not reported as malformed lines, and the follower reads the file again
/// from its start, where the lines written after the truncation are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_truncated_while_read_in_place_is_read_again_from_its_start() {
    let db = sqlite_db();
    let store = store(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    // Tens of MB, so that the ingest (a debug build here) is still reading when the
    // file is truncated under it.
    let chunk = generated(0, 1_000); // alice and bob only
    let mut file = std::fs::File::create(&log).unwrap();
    for _ in 0..80 {
        file.write_all(chunk.as_bytes()).unwrap();
    }
    drop(file);
    let (stop, task) = follow(&store, &log, FollowOptions::default().batch_lines);
    tokio::time::sleep(Duration::from_millis(150)).await;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    // After the truncation: carol's reads, which only this part of the log holds.
    append(&log, &generated(1_000, 30)); // every third by carol: 10
    wait_reads(&store, "carol@example.com", 10).await;
    stop.send(true).unwrap();
    let report = task.await.unwrap().unwrap();
    assert_eq!(report.malformed, 0, "{report:?}");
    assert!(report.truncations >= 1, "{report:?}");
    assert!(
        reads_of(&store, "alice@example.com").await <= 80 * 500 + 10,
        "nothing counted twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hmac_values_are_never_names_and_secret_values_are_never_stored() {
    for db in databases().await {
        let store = store(&db).await;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        append(&log, &generated(0, 4));
        let hmac_only = json!({"time": now_text(), "type": "response",
            "auth": {"display_name": "hmac-sha256:77aa", "entity_id": "", "metadata": {"username": "hmac-sha256:88bb"}},
            "request": {"id": "h1", "operation": "read", "path": "secret/data/x", "mount_point": "secret/",
                        "mount_type": "kv", "remote_address": "10.9.9.9"},
            "response": {"data": {"data": {"token": CANARY}}}});
        append(&log, &format!("{hmac_only}\n"));
        let report = ingest(&store, &log, &FollowOptions::default()).await;
        assert_eq!(report.reads_indexed, 4, "{report:?}");
        map(
            &store,
            "eve@example.com",
            "vault_display_name",
            "hmac-sha256:77aa",
        )
        .await;
        assert!(secret_access(&store, "eve@example.com", LONG_AGO)
            .await
            .unwrap()
            .matches
            .is_empty());

        let mut dump = String::new();
        for (table, cols) in [
            ("trail_terms", "kind || ' ' || value"),
            (
                "trail_identity_names",
                "kind || ' ' || value || ' ' || identity_key",
            ),
            ("trail_cursors", "name || ' ' || file_id || ' ' || state"),
        ] {
            let rows: Vec<(String,)> = sqlx::query_as(&format!("SELECT {cols} FROM {table}"))
                .fetch_all(store.pool())
                .await
                .unwrap();
            for (row,) in rows {
                dump.push_str(&row);
                dump.push('\n');
            }
        }
        assert!(dump.contains("secret/app/1"), "{dump}");
        assert!(
            !dump.contains(CANARY),
            "{}: a secret value reached the database",
            db.kind
        );
        assert!(
            !dump.contains("hmac-sha256"),
            "an HMAC'd value was indexed: {dump}"
        );
    }
}

fn cloudtrail_dir(dir: &Path) -> PathBuf {
    let root = dir.join("AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/18");
    std::fs::create_dir_all(&root).unwrap();
    let text = std::fs::read(fixture("cloudtrail-getsecretvalue.json")).unwrap();
    let gz =
        std::fs::File::create(root.join("111122223333_CloudTrail_eu-west-1_a.json.gz")).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(gz, flate2::Compression::default());
    encoder.write_all(&text).unwrap();
    encoder.finish().unwrap();
    let more = json!({"Records": [
        {"eventVersion": "1.09", "eventSource": "secretsmanager.amazonaws.com", "eventName": "GetSecretValue",
         "eventTime": now_text(), "awsRegion": "eu-west-1", "recipientAccountId": "111122223333",
         "sourceIPAddress": "198.51.100.41",
         "userIdentity": {"type": "AssumedRole", "principalId": "AROA1:frank@example-corp.com",
            "arn": "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Engineer_0a1b/frank@example-corp.com",
            "accountId": "111122223333",
            "sessionContext": {"sourceIdentity": "frank@example-corp.com",
               "sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/x", "userName": "x"}}},
         "requestParameters": {"secretId": "prod/payments/db"}, "responseElements": null},
        {"eventSource": "secretsmanager.amazonaws.com"},
        {"eventVersion": "1.09", "eventSource": "kms.amazonaws.com", "eventName": "Decrypt",
         "eventTime": now_text(), "userIdentity": {"type": "AWSService"}}
    ]});
    std::fs::write(
        root.join("111122223333_CloudTrail_eu-west-1_b.json"),
        more.to_string(),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("AWSLogs/111122223333/CloudTrail-Digest")).unwrap();
    std::fs::write(
        dir.join("AWSLogs/111122223333/CloudTrail-Digest/d.json.gz"),
        b"not gzip",
    )
    .unwrap();
    dir.join("AWSLogs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudtrail_gzip_directories_answer_through_source_identity_and_iam_user() {
    for db in databases().await {
        let store = store(&db).await;
        let dir = tempfile::tempdir().unwrap();
        let root = cloudtrail_dir(dir.path());
        let report = ingest_cloudtrail(&store, &root, &NoProgress).await.unwrap();
        assert_eq!(report.files.len(), 2, "{report:?}");
        assert_eq!(report.reads_indexed, 3, "{}: {report:?}", db.kind);
        assert_eq!(report.denied, 1);
        assert_eq!(report.malformed, 1);
        assert_eq!(report.malformed_samples[0].line, 2);
        assert!(report.malformed_samples[0].file.ends_with("_b.json"));

        let frank = secret_access(&store, "frank@example-corp.com", LONG_AGO)
            .await
            .unwrap();
        let db_secret = secret(
            &frank,
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/payments/db",
        );
        assert_eq!(
            db_secret.count, 2,
            "full ARN and name are one secret: {frank:#?}"
        );
        assert_eq!(db_secret.operations, vec!["GetSecretValue"]);
        assert_eq!(
            db_secret.source_addresses,
            vec!["198.51.100.40", "198.51.100.41"]
        );
        assert!(
            db_secret
                .matched_by
                .contains(&"source_identity via email".to_string()),
            "{db_secret:?}"
        );
        // The IAM user `frank` only through the mapping table.
        assert!(!frank
            .secrets
            .iter()
            .any(|s| s.secret.contains(":parameter/")));
        map(&store, "frank@example-corp.com", "aws_iam", "frank").await;
        let frank = secret_access(&store, "frank@example-corp.com", LONG_AGO)
            .await
            .unwrap();
        let param = secret(
            &frank,
            "arn:aws:ssm:eu-west-1:111122223333:parameter/prod/search/api-key",
        );
        assert_eq!(
            (param.count, param.operations.clone()),
            (1, vec!["GetParameter"])
        );
        assert!(param
            .matched_by
            .contains(&"user_name via mapping:aws_iam".to_string()));

        let again = ingest_cloudtrail(&store, &root, &NoProgress).await.unwrap();
        assert_eq!((again.skipped_files, again.reads_indexed), (2, 0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_device_indexes_lines_received_over_tcp() {
    for db in databases().await {
        let store = store(&db).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = std::sync::Arc::new(leaver::trail::socket::SocketStats::default());
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(leaver::trail::socket::serve(
            store.clone(),
            listener,
            stats.clone(),
            shutdown,
        ));
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::AsyncWriteExt;
        let fixture_lines = std::fs::read_to_string(fixture("vault-audit.jsonl")).unwrap();
        stream.write_all(fixture_lines.as_bytes()).await.unwrap();
        let text = generated(0, 30);
        // Written in pieces that split lines, as TCP may deliver them.
        for chunk in text.as_bytes().chunks(777) {
            stream.write_all(chunk).await.unwrap();
            stream.flush().await.unwrap();
        }
        stream.write_all(b"garbage\n").await.unwrap();
        // Connection still open: the periodic flush indexes what came.
        wait_reads(&store, "alice@example.com", 15).await;
        map(&store, "frank@example-corp.com", "vault", FRANK_ENTITY).await;
        wait_reads(&store, "frank@example-corp.com", 1).await;
        drop(stream);
        wait_reads(&store, "bob@example.com", 15).await;
        assert_eq!(
            stats.malformed.load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_and_the_api_answer_from_the_index() {
    let dbs = databases().await;
    for db in dbs {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        append(
            &log,
            &std::fs::read_to_string(fixture("vault-audit.jsonl")).unwrap(),
        );
        append(&log, &generated(0, 6));
        append(&log, "not json\n");
        let root = cloudtrail_dir(dir.path());
        let leaver = |args: &[&str]| {
            let out = Command::new(env!("CARGO_BIN_EXE_leaver"))
                .current_dir(dir.path())
                .args(args)
                .env("LEAVER_DATABASE_URL", &db.url)
                .env("LEAVER_LOG", "warn")
                .output()
                .expect("run leaver");
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(
                out.status.success(),
                "{args:?}: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            text
        };
        let summary = leaver(&["trail", "ingest", "vault", log.to_str().unwrap()]);
        assert!(
            summary.contains("18 lines, 17 records, 8 reads indexed, 1 denied, 1 malformed"),
            "{summary}"
        );
        assert!(summary.contains("audit.log:18: not JSON"), "{summary}");
        assert!(
            !summary.contains('\u{1b}'),
            "no progress bar when stdout is not a terminal"
        );
        let summary = leaver(&["trail", "ingest", "cloudtrail", root.to_str().unwrap()]);
        assert!(summary.contains("3 reads indexed"), "{summary}");

        let out = leaver(&[
            "trail",
            "query",
            "--identity",
            "frank@example-corp.com",
            "--since",
            "90d",
            "--json",
        ]);
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        let secrets = report["secrets"].as_array().unwrap();
        let count = |path: &str| {
            secrets
                .iter()
                .find(|s| s["secret"] == path)
                .map(|s| s["count"].as_i64().unwrap())
        };
        assert_eq!(
            count("secret/production/payments/stripe"),
            Some(1),
            "{report:#}"
        );
        assert_eq!(
            count("arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/payments/db"),
            Some(2)
        );
        let table = leaver(&["trail", "query", "--identity", "alice@example.com"]);
        assert!(
            table.contains("secret/app/0") && table.contains("count=2"),
            "{table}"
        );

        let plans = plans_dir(dir.path(), &[]);
        let config = test_config(&db.url, dir.path(), &plans, None);
        let server = Server::start(leaver::app::App::build(config).await.unwrap()).await;
        let viewer = server.token(leaver::domain::Role::Viewer).await;
        let client = reqwest::Client::new();
        let url = format!(
            "{}/api/v1/identities/frank@example-corp.com/secret-access?since=90d",
            server.base
        );
        assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
        let got: serde_json::Value = client
            .get(&url)
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            got["secrets"], report["secrets"],
            "{}: the API and the CLI agree",
            db.kind
        );
        assert!(got["matches"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["kind"] == "source_identity"));
        let bad = client
            .get(format!(
                "{}/api/v1/identities/frank@example-corp.com/secret-access?since=3months",
                server.base
            ))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        let body: serde_json::Value = bad.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_query");
        server.stop().await;
    }
}

/// The index written by the 0009 schema (`trail_access`, `trail_addresses`) answers
/// the same after the 0014 upgrade moved it to `trail_terms` + `trail_reads`, and reads
/// indexed after 0016 (segments) add to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_from_before_the_narrow_schema_answers_the_same_after_the_upgrade() {
    const DAY: i64 = 86_400_000;
    let now = chrono::Utc::now().timestamp_millis();
    let today = now.div_euclid(DAY);
    for db in databases().await {
        let old_statements = [
            "INSERT INTO trail_identity_names (kind, value, identity_key, source) VALUES \
             ('entity_id', 'e-legacy', 'vault:entity:e-legacy', 'vault')"
                .to_string(),
            format!(
                "INSERT INTO trail_access (identity_key, source, secret, day, operations, first_seen, last_seen, reads, denied) VALUES \
                 ('vault:entity:e-legacy', 'vault', 'secret/app/db', {d1}, 1, {t1}, {t1b}, 3, 1), \
                 ('vault:entity:e-legacy', 'vault', 'secret/app/db', {d2}, 3, {t2}, {t2}, 2, 0), \
                 ('vault:entity:e-legacy', 'vault', 'secret/app/old', {d3}, 1, {t3}, {t3}, 9, 0)",
                d1 = today - 1,
                t1 = (today - 1) * DAY + 1_000,
                t1b = (today - 1) * DAY + 5_000,
                d2 = today - 3,
                t2 = (today - 3) * DAY + 7_000,
                d3 = today - 200,
                t3 = (today - 200) * DAY,
            ),
            format!(
                "INSERT INTO trail_addresses (identity_key, source, secret, address, last_seen) VALUES \
                 ('vault:entity:e-legacy', 'vault', 'secret/app/db', '10.0.0.1', {}), \
                 ('vault:entity:e-legacy', 'vault', 'secret/app/db', '10.0.0.2', {}), \
                 ('vault:entity:e-legacy', 'vault', 'secret/app/old', '10.0.0.3', {})",
                (today - 1) * DAY + 5_000,
                (today - 3) * DAY + 7_000,
                (today - 200) * DAY,
            ),
        ];
        migrate_to_0013_with(&db, &old_statements).await;

        let store = store(&db).await;
        map(&store, "legacy@example.com", "vault", "e-legacy").await;
        let report = secret_access(&store, "legacy@example.com", now - 90 * DAY)
            .await
            .unwrap();
        assert_eq!(report.secrets.len(), 1, "{}: {report:#?}", db.kind);
        let db_secret = secret(&report, "secret/app/db");
        assert_eq!(db_secret.count, 5, "{}", db.kind);
        assert_eq!(db_secret.denied, 1);
        assert_eq!(db_secret.operations, ["read", "list"]);
        assert_eq!(db_secret.source_addresses, ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(
            db_secret.first_seen,
            chrono::DateTime::from_timestamp_millis((today - 3) * DAY + 7_000)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
        assert_eq!(
            db_secret.last_seen,
            chrono::DateTime::from_timestamp_millis((today - 1) * DAY + 5_000)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
        let all = secret_access(&store, "legacy@example.com", LONG_AGO)
            .await
            .unwrap();
        assert_eq!(total_reads(&all), 14);
        assert_eq!(
            secret(&all, "secret/app/old").source_addresses,
            ["10.0.0.3"]
        );

        // Reads indexed after the upgrade (segments, 0016) add to the ones before.
        let mut batch = leaver::trail::batch::Batch::default();
        batch.add(&leaver::trail::event::SecretAccess {
            source: leaver::trail::event::Source::Vault,
            principal: leaver::trail::event::Principal {
                key: "vault:entity:e-legacy".into(),
                names: vec![("entity_id".into(), "e-legacy".into())],
            },
            secret: "secret/app/db".into(),
            operation: leaver::trail::event::Operation::Read,
            at_ms: (today - 1) * DAY + 9_000,
            address: Some("10.0.0.9".into()),
            outcome: leaver::trail::event::Outcome::Read,
        });
        store
            .trail_commit(std::slice::from_ref(&batch), None, &mut Default::default())
            .await
            .unwrap();
        let report = secret_access(&store, "legacy@example.com", now - 90 * DAY)
            .await
            .unwrap();
        let db_secret = secret(&report, "secret/app/db");
        assert_eq!(db_secret.count, 6, "{}", db.kind);
        assert_eq!(
            db_secret.source_addresses,
            ["10.0.0.1", "10.0.0.2", "10.0.0.9"]
        );
        assert_eq!(
            db_secret.last_seen,
            chrono::DateTime::from_timestamp_millis((today - 1) * DAY + 9_000)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
        store.close().await;
    }
}

/// Apply the migrations up to 0013 (the schema before `trail_terms`) to `db`, then run
/// `statements` on it.
async fn migrate_to_0013_with(db: &TestDb, statements: &[String]) {
    use std::borrow::Cow;
    fn upto_0013(mut migrator: sqlx::migrate::Migrator) -> sqlx::migrate::Migrator {
        migrator.migrations = Cow::Owned(
            migrator
                .migrations
                .iter()
                .filter(|m| m.version <= 13)
                .cloned()
                .collect(),
        );
        migrator
    }
    sqlx::any::install_default_drivers();
    let (url, migrator) = if db.is_postgres() {
        (db.url.clone(), sqlx::migrate!("./migrations/postgres"))
    } else {
        (
            format!("{}?mode=rwc", db.url),
            sqlx::migrate!("./migrations/sqlite"),
        )
    };
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    upto_0013(migrator).run(&pool).await.unwrap();
    for sql in statements {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
}
