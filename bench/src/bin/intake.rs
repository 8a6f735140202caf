//! Webhook intake benchmark (issue 8): how many Okta Event Hook deliveries a `leaver
//! serve` process durably accepts per second, and at what latency, on SQLite and on
//! PostgreSQL; and the memory of that serving process.
//!
//! A real `leaver serve` (the release binary) is started on a fresh database with a
//! plan triggered by `user.lifecycle.deactivate`; N deliveries, each one event for a
//! different user in Okta's wire format, are posted by C concurrent clients. Okta
//! waits for the answer, and Leaver answers 200 only after the event and the run it
//! starts are committed, so "accepted" means durable. Workers are off, so the number is
//! intake alone. Afterwards the runs in the database are counted (every accepted
//! delivery must have started exactly one) and the process's resident memory is read
//! from /proc.
//!
//! Run: `cargo build --release -p leaver && cargo run --release -p leaver-bench --bin
//! intake -- --deliveries 5000 --concurrency 32 --repeat 3`

use clap::Parser;
use leaver_bench::{cleanup, database, median, memory_mib, quantile};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Deliveries per measurement.
    #[arg(long, default_value_t = 5000)]
    deliveries: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Repetitions per database; medians are reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// The leaver binary to serve with.
    #[arg(long, default_value = "target/release/leaver")]
    leaver: PathBuf,
    /// PostgreSQL server URL (a fresh database per repetition).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres: String,
    /// Skip PostgreSQL.
    #[arg(long)]
    skip_postgres: bool,
}

const SECRET: &str = "bench-okta-hook-secret";

const PLAN: &str = r#"
name: okta-leaver
trigger: { events: [okta.user.lifecycle.deactivate] }
steps:
  - id: github
    uses: github.remove_org_member
    with: { org: acme }
"#;

fn write_config(dir: &Path, db_url: &str) -> anyhow::Result<PathBuf> {
    let plans = dir.join("workflows");
    std::fs::create_dir_all(&plans)?;
    std::fs::write(plans.join("okta-leaver.yaml"), PLAN)?;
    std::fs::write(dir.join("okta-secret"), SECRET)?;
    std::fs::write(dir.join("github-token"), "bench-github-token")?;
    let config = format!(
        r#"
[server]
listen = "127.0.0.1:0"
# The intake is what is measured: no per-hook rate limit in the way.
hook_rate_limit_per_second = 1000000
hook_rate_limit_burst = 1000000
[database]
url = "{db_url}"
max_connections = 16
[plans]
dir = "{plans}"
[evidence]
signing_key = "file:{key}"
[engine]
workers = false
[idp.okta]
org_url = "https://example-corp.okta.com"
hook_auth_header = "Authorization"
hook_secret = "file:{secret}"
[connectors.github]
api_url = "http://127.0.0.1:9"
org = "acme"
token = "file:{token}"
"#,
        plans = plans.display(),
        key = dir.join("signing.key").display(),
        secret = dir.join("okta-secret").display(),
        token = dir.join("github-token").display(),
    );
    let path = dir.join("leaver.toml");
    std::fs::write(&path, config)?;
    Ok(path)
}

/// Start `leaver serve` and read its URL from stderr.
fn serve(binary: &Path, config: &Path) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(binary)
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env("LEAVER_LOG", "leaver=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow::anyhow!("starting {}: {e}", binary.display()))?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent {
                if let Some(url) = line.strip_prefix("leaver listening on ") {
                    let _ = tx.send(url.trim().to_string());
                    sent = true;
                }
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| anyhow::anyhow!("leaver serve did not start"))?;
    Ok((child, base))
}

/// One Okta Event Hook delivery: one `user.lifecycle.deactivate` for user `n`.
fn delivery(n: usize, run: &str) -> String {
    let uuid = uuid::Uuid::new_v4();
    let user = format!("bench{n}-{run}@example-corp.com");
    serde_json::json!({
        "eventType": "com.okta.event_hook",
        "eventTypeVersion": "1.0",
        "cloudEventsVersion": "0.1",
        "source": "https://example-corp.okta.com/api/v1/eventHooks/whobench",
        "eventId": uuid::Uuid::new_v4().to_string(),
        "eventTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "contentType": "application/json",
        "data": {"events": [{
            "uuid": uuid.to_string(),
            "published": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "eventType": "user.lifecycle.deactivate",
            "version": "0",
            "displayMessage": "Deactivate Okta user",
            "severity": "INFO",
            "actor": {"id": "00uhradmin", "type": "User", "alternateId": "hr@example-corp.com", "displayName": "HR"},
            "outcome": {"result": "SUCCESS", "reason": null},
            "target": [{"id": format!("00ubench{n}"), "type": "User", "alternateId": user, "displayName": format!("Bench {n}")}],
        }]}
    })
    .to_string()
}

struct Measurement {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    rss_mib: f64,
    peak_mib: f64,
}

async fn measure(args: &Args, kind: &'static str, round: usize) -> anyhow::Result<Measurement> {
    let db = database(kind, &args.postgres).await?;
    let dir = tempfile::tempdir()?;
    let config = write_config(dir.path(), &db.url)?;
    let (mut child, base) = serve(&args.leaver, &config)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let url = format!("{base}/hooks/okta");
    let run_tag = format!("{kind}{round}");
    // Warm-up: connections, statement caches.
    for n in 0..50 {
        post(&client, &url, delivery(1_000_000 + n, &run_tag)).await?;
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (client, url, next, tag) = (client.clone(), url.clone(), next.clone(), run_tag.clone());
        let total = args.deliveries;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= total {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let body = delivery(n, &tag);
                let sent = Instant::now();
                post(&client, &url, body).await?;
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
        }));
    }
    let mut latencies = Vec::with_capacity(args.deliveries);
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (rss_mib, peak_mib) = memory_mib(child.id()).unwrap_or((0.0, 0.0));
    let _ = child.kill();
    let _ = child.wait();
    // Every accepted delivery started exactly one run, durably.
    let store = leaver::store::Store::connect(&db.url, 2).await?;
    let runs: i64 = store
        .count_runs_by_status()
        .await?
        .into_iter()
        .map(|(_, n)| n)
        .sum();
    let expected = (args.deliveries + 50) as i64;
    anyhow::ensure!(
        runs == expected,
        "{kind}: {runs} runs in the database for {expected} accepted deliveries"
    );
    drop(store);
    cleanup(db).await;
    latencies.sort_by(|a, b| a.total_cmp(b));
    Ok(Measurement {
        per_second: args.deliveries as f64 / elapsed,
        p50_ms: quantile(&latencies, 0.50),
        p99_ms: quantile(&latencies, 0.99),
        rss_mib,
        peak_mib,
    })
}

async fn post(client: &reqwest::Client, url: &str, body: String) -> anyhow::Result<()> {
    let response = client
        .post(url)
        .header("Authorization", SECRET)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "delivery refused: {} {}",
        response.status(),
        response.text().await.unwrap_or_default()
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.leaver.exists(),
        "{} not found: build it first with `cargo build --release -p leaver`",
        args.leaver.display()
    );
    let mut kinds = vec!["sqlite"];
    if !args.skip_postgres {
        kinds.push("postgres");
    }
    println!(
        "Okta Event Hook intake: {} deliveries, {} concurrent clients, median of {}",
        args.deliveries, args.concurrency, args.repeat
    );
    println!("| database | durable accepts/s | p50 | p99 | RSS after | peak RSS |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for kind in kinds {
        let mut rate = Vec::new();
        let mut p50 = Vec::new();
        let mut p99 = Vec::new();
        let mut rss = Vec::new();
        let mut peak = Vec::new();
        for round in 0..args.repeat {
            let m = measure(&args, kind, round).await?;
            eprintln!(
                "  {kind} #{round}: {:.0}/s p50 {:.1} ms p99 {:.1} ms rss {:.1} MiB peak {:.1} MiB",
                m.per_second, m.p50_ms, m.p99_ms, m.rss_mib, m.peak_mib
            );
            rate.push(m.per_second);
            p50.push(m.p50_ms);
            p99.push(m.p99_ms);
            rss.push(m.rss_mib);
            peak.push(m.peak_mib);
        }
        println!(
            "| {kind} | {:.0} | {:.1} ms | {:.1} ms | {:.1} MiB | {:.1} MiB |",
            median(&mut rate),
            median(&mut p50),
            median(&mut p99),
            median(&mut rss),
            median(&mut peak)
        );
    }
    Ok(())
}
