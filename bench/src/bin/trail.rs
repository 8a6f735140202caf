//! Trail benchmark (issue 6), all in one run:
//!
//! 0. Parsing + aggregation alone (no database; one thread, then all of them), for
//!    reference.
//! 1. DuckDB (`bench/trail_duckdb.py`, PyPI duckdb) answering "which secrets did E
//!    read in the last 90 days" for one identity straight from the log with
//!    `read_ndjson`.
//! 2. Ingest throughput: a generated Vault file audit log (request + response lines in
//!    the real format, 1,000 identities, 5,000 KV v2 secrets, 180 days) indexed by
//!    `leaver::trail::ingest_vault_file` into SQLite and PostgreSQL: MB/s, lines/s and
//!    the ratio to DuckDB's read (`--baseline`: also 5,000 lines per commit).
//! 3. Query latency on a 10-million-event index: events fed through the same batch,
//!    writer and store path (no parsing), then `secret_access` for random identities:
//!    median and p95.
//!
//! Run: `cargo run --release -p leaver-bench --bin trail` (1 GB, 10 M events;
//! `-- --size-mb 128 --index-events 500000` for a quick run, `--postgres none` without
//! PostgreSQL).

use clap::Parser;
use leaver::store::Store;
use leaver::trail::batch::Batch;
use leaver::trail::event::{Operation, Outcome, Principal, SecretAccess, Source};
use leaver::trail::writer::Committer;
use leaver::trail::{ingest_vault_file, secret_access, FollowOptions, NoProgress};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Size of the generated Vault audit log, in MB.
    #[arg(long, default_value_t = 1024)]
    size_mb: u64,
    /// Events in the index the query latency is measured on.
    #[arg(long, default_value_t = 10_000_000)]
    index_events: u64,
    /// Queries (latency) / DuckDB repetitions.
    #[arg(long, default_value_t = 50)]
    queries: usize,
    #[arg(long, default_value_t = 3)]
    duckdb_repeat: usize,
    /// Python with duckdb installed.
    #[arg(long, default_value = ".venv/bin/python")]
    python: String,
    /// PostgreSQL server for the PostgreSQL ingest (a fresh database is created on
    /// it and dropped after); `none` to skip.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres: String,
    /// Also ingest with the former settings (5,000 lines per commit), for comparison.
    #[arg(long)]
    baseline: bool,
    /// MiB of log per commit (default: the ingest's default).
    #[arg(long)]
    batch_mib: Option<u64>,
    /// Generate the log in time order, as Vault writes it (default: times at random
    /// over 180 days, the worst case for the index).
    #[arg(long)]
    chronological: bool,
    /// Only write the generated log to this path and stop (to profile an ingest of it
    /// with `leaver trail ingest vault PATH`).
    #[arg(long)]
    write_log: Option<std::path::PathBuf>,
}

const USERS: u64 = 1_000;
const SECRETS: u64 = 5_000;
const DAYS: i64 = 180;
const DAY_MS: i64 = 86_400_000;

/// A small deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Write request/response pairs until `size` bytes; returns lines written. Times are
/// random over the 180 days, or, `chronological`, rising through them as a real log's
/// (Vault writes its audit log in time order).
fn generate(path: &Path, size: u64, now: i64, chronological: bool) -> std::io::Result<u64> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut written, mut lines, mut n) = (0u64, 0u64, 0u64);
    let start = now - DAYS * DAY_MS;
    while written < size {
        let user = rng.next() % USERS;
        let secret = rng.next() % SECRETS;
        let random = start + (rng.next() % (DAYS * DAY_MS) as u64) as i64;
        let at = if chronological {
            start + (written as f64 / size as f64 * (DAYS * DAY_MS) as f64) as i64
        } else {
            random
        };
        let time = rfc3339(at);
        let auth = format!(
            r#""auth":{{"accessor":"hmac-sha256:{n:064x}","client_token":"hmac-sha256:{:064x}","display_name":"oidc-user{user}@example.com","entity_id":"entity-{user:06}","identity_policies":["app-read"],"metadata":{{"role":"default","username":"user{user}@example.com"}},"policies":["default","app-read"],"token_policies":["default"],"token_issue_time":"{time}","token_ttl":3600,"token_type":"service"}}"#,
            n ^ 0xabcdef
        );
        let request = format!(
            r#""request":{{"client_token":"hmac-sha256:{:064x}","id":"req-{n:012}","mount_accessor":"kv_5e1f2a3b","mount_class":"secret","mount_point":"secret/","mount_running_version":"v0.24.0+builtin","mount_type":"kv","namespace":{{"id":"root"}},"operation":"read","path":"secret/data/app/s{secret:05}","remote_address":"10.20.{}.{}","remote_port":51234}}"#,
            n ^ 0x1234,
            user % 8,
            user % 250
        );
        let line1 = format!("{{\"time\":\"{time}\",{auth},{request},\"type\":\"request\"}}\n");
        let line2 = format!(
            "{{\"time\":\"{time}\",{auth},{request},\"response\":{{\"data\":{{\"data\":{{\"password\":\"hmac-sha256:{:064x}\"}},\"metadata\":{{\"created_time\":\"hmac-sha256:{:064x}\",\"version\":3}}}},\"mount_point\":\"secret/\",\"mount_type\":\"kv\"}},\"type\":\"response\"}}\n",
            n, n
        );
        out.write_all(line1.as_bytes())?;
        out.write_all(line2.as_bytes())?;
        written += (line1.len() + line2.len()) as u64;
        lines += 2;
        n += 1;
    }
    out.flush()?;
    Ok(lines)
}

fn median(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[(v.len() * 95 / 100).min(v.len() - 1)])
}

/// Build the index through the same batch and store code as an ingest, with the
/// same pipeline (the next batch is aggregated while the previous one is committed).
async fn build_index(store: &Store, events: u64, now: i64) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut writer = Committer::start(store.clone());
    let mut rng = Rng(42);
    let mut batch = Batch::default();
    let start = now - DAYS * DAY_MS;
    for n in 0..events {
        let user = rng.next() % USERS;
        let secret = rng.next() % SECRETS;
        batch.add(&SecretAccess {
            source: Source::Vault,
            principal: Principal {
                key: format!("vault:entity:entity-{user:06}"),
                names: vec![
                    ("entity_id".into(), format!("entity-{user:06}")),
                    ("login".into(), format!("user{user}@example.com")),
                ],
            },
            secret: format!("secret/app/s{secret:05}"),
            operation: Operation::Read,
            at_ms: start + (rng.next() % (DAYS * DAY_MS) as u64) as i64,
            address: Some(format!("10.20.{}.{}", user % 8, user % 250)),
            outcome: Outcome::Read,
        });
        if (n + 1) % 200_000 == 0 {
            writer.send(std::mem::take(&mut batch), None).await?;
        }
    }
    writer.send(batch, None).await?;
    writer.finish().await?;
    Ok(started.elapsed())
}

/// Parse `text` in 16 MiB chunks on `threads` threads, pair and aggregate as an
/// ingest does (one batch per thread, merged at the end), without a database; the
/// number of rows the index would get.
fn parse_and_aggregate(text: &[u8], threads: usize) -> usize {
    use leaver::trail::chunk::{absorb, parse_chunk};
    let mut pairer = leaver::trail::pairing::Pairer::default();
    let mut batch = Batch::default();
    let mut part_batches = Vec::new();
    let mut given = leaver::trail::batch::NamesGiven::default();
    let mut rest = text;
    while !rest.is_empty() {
        let want = rest.len().min(16 << 20);
        let end = match memchr::memchr(b'\n', &rest[want..]) {
            Some(i) => want + i + 1,
            None => rest.len(),
        };
        let parts = parse_chunk(&rest[..end], 0, threads, &given, &mut part_batches);
        absorb(parts, &mut pairer, &mut batch, &mut given, |_, _| {});
        rest = &rest[end..];
    }
    part_batches.push(batch);
    Batch::merged(part_batches).len()
}

/// A fresh PostgreSQL database on the server of `admin`, dropped by `drop_database`.
async fn create_database(admin: &str) -> anyhow::Result<(String, String)> {
    use sqlx::Connection as _;
    let name = format!("leaver_trail_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await?;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    Ok((format!("{base}/{name}"), name))
}

async fn drop_database(admin: &str, name: &str) {
    use sqlx::Connection as _;
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

/// One ingest of the whole log into `url`; prints and returns its seconds.
async fn ingest(
    label: &str,
    url: &str,
    log: &Path,
    bytes: u64,
    options: &FollowOptions,
) -> anyhow::Result<(Store, f64)> {
    let store = Store::connect(url, 4).await?;
    let report = ingest_vault_file(&store, log, options, &NoProgress, None).await?;
    let secs = report.elapsed.as_secs_f64();
    println!(
        "leaver ingest into {label}: {} lines, {} reads in {:.2}s: {:.1} MB/s, {:.0} lines/s",
        report.lines,
        report.reads_indexed,
        secs,
        bytes as f64 / 1e6 / secs,
        report.lines as f64 / secs
    );
    Ok((store, secs))
}

/// DuckDB answering the same question from the same file: median seconds.
fn duckdb(args: &Args, log: &Path, bytes: u64, since: i64) -> anyhow::Result<Option<f64>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("trail_duckdb.py");
    let out = std::process::Command::new(&args.python)
        .arg(&script)
        .arg(log)
        .arg("entity-000042")
        .arg(rfc3339(since - since.rem_euclid(DAY_MS)))
        .arg(args.duckdb_repeat.to_string())
        .output();
    match out {
        Ok(out) if out.status.success() => {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            let s = v["median_s"].as_f64().unwrap_or_default();
            println!(
                "duckdb read_ndjson, same question: median {:.2}s ({:.1} MB/s) of {:?}, {} secrets, {} reads",
                s,
                bytes as f64 / 1e6 / s,
                v["times_s"],
                v["secrets"],
                v["reads"]
            );
            Ok(Some(s))
        }
        Ok(out) => {
            println!("duckdb failed: {}", String::from_utf8_lossy(&out.stderr));
            Ok(None)
        }
        Err(e) => {
            println!("duckdb not run ({}): {e}", args.python);
            Ok(None)
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let now = chrono::Utc::now().timestamp_millis();
    let since = now - 90 * DAY_MS;
    let log = args
        .write_log
        .clone()
        .unwrap_or_else(|| dir.path().join("audit.log"));
    let t = Instant::now();
    let lines = generate(&log, args.size_mb * 1_000_000, now, args.chronological)?;
    let bytes = std::fs::metadata(&log)?.len();
    println!(
        "generated {} lines, {:.1} MB in {:.1}s",
        lines,
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    if args.write_log.is_some() {
        return Ok(());
    }

    // 0. Parsing and aggregation alone (no database), for reference: on one thread
    //    and on all of them (the pipeline's parser), in the ingest's 16 MiB chunks.
    let text = std::fs::read(&log)?;
    for threads in [1, leaver::trail::chunk::threads()] {
        let t = Instant::now();
        let rows = parse_and_aggregate(&text, threads);
        let secs = t.elapsed().as_secs_f64();
        println!(
            "parse + aggregate only, {threads} thread(s): {:.1} MB/s ({rows} day rows)",
            bytes as f64 / 1e6 / secs
        );
    }
    drop(text);

    // 1. DuckDB reading the file (first, so that both read it from the page cache).
    let duck = duckdb(&args, &log, bytes, since)?;

    // 2. Ingest into SQLite (and PostgreSQL).
    if args.baseline {
        let options = FollowOptions {
            batch_lines: 5_000,
            ..FollowOptions::default()
        };
        let url = format!("sqlite://{}", dir.path().join("baseline.db").display());
        ingest(
            "SQLite, 5,000 lines per commit",
            &url,
            &log,
            bytes,
            &options,
        )
        .await?;
    }
    let url = format!("sqlite://{}", dir.path().join("ingest.db").display());
    let mut options = FollowOptions::default();
    if let Some(mib) = args.batch_mib {
        options.batch_bytes = mib.max(1) << 20;
    }
    let (store, sqlite_secs) = ingest("SQLite", &url, &log, bytes, &options).await?;
    let t = Instant::now();
    let answer = secret_access(&store, "user42@example.com", since).await?;
    let leaver_small = t.elapsed();
    let reads: i64 = answer.secrets.iter().map(|s| s.count).sum();
    println!(
        "leaver query on this log's index (user42, 90d): {} secrets, {} reads in {:.2} ms",
        answer.secrets.len(),
        reads,
        leaver_small.as_secs_f64() * 1e3
    );
    store.close().await;
    if let Some(duck) = duck {
        println!(
            "ratio leaver SQLite ingest / duckdb read: {:.2} (>= 1 means ingest is at least as fast)",
            duck / sqlite_secs
        );
    }
    if args.postgres != "none" {
        match create_database(&args.postgres).await {
            Ok((url, name)) => {
                let result = ingest("PostgreSQL", &url, &log, bytes, &options).await;
                match result {
                    Ok((store, secs)) => {
                        store.close().await;
                        if let Some(duck) = duck {
                            println!(
                                "ratio leaver PostgreSQL ingest / duckdb read: {:.2}",
                                duck / secs
                            );
                        }
                    }
                    Err(e) => println!("PostgreSQL ingest failed: {e:#}"),
                }
                drop_database(&args.postgres, &name).await;
            }
            Err(e) => println!("PostgreSQL not available ({e}): skipped"),
        }
    }

    // 3. Query latency on a large index.
    let url = format!("sqlite://{}", dir.path().join("index.db").display());
    let big = Store::connect(&url, 4).await?;
    let built = build_index(&big, args.index_events, now).await?;
    let rows: (i64,) =
        sqlx::query_as("SELECT CAST(COALESCE(SUM(row_count), 0) AS BIGINT) FROM trail_segments")
            .fetch_one(big.pool())
            .await?;
    println!(
        "index of {} events built in {:.1}s ({:.0} events/s, {} day rows)",
        args.index_events,
        built.as_secs_f64(),
        args.index_events as f64 / built.as_secs_f64(),
        rows.0
    );
    let mut rng = Rng(7);
    let mut times = Vec::new();
    for _ in 0..args.queries {
        let user = rng.next() % USERS;
        let t = Instant::now();
        let answer = secret_access(&big, &format!("user{user}@example.com"), since).await?;
        times.push(t.elapsed());
        std::hint::black_box(answer);
    }
    let (p50, p95) = median(times);
    println!(
        "leaver query latency on the {}-event index: median {:.2} ms, p95 {:.2} ms ({} queries)",
        args.index_events,
        p50.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3,
        args.queries
    );
    Ok(())
}
