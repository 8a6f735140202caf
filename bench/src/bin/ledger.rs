//! Evidence ledger under load (issue 8): append N entries (default 100,000) to the
//! hash-chained ledger on SQLite and PostgreSQL, export them as a signed bundle, verify
//! the bundle offline (what `leaver evidence verify` does), and verify the chain in the
//! database (GET /api/v1/evidence/verify). Entries are written in transactions of
//! `--batch` entries, each payload shaped like a step result.
//!
//! Run: `cargo run --release -p leaver-bench --bin ledger -- --entries 100000 --repeat 3`

use clap::Parser;
use leaver::evidence::{self, LedgerKey};
use leaver::ledger::Ledger;
use leaver::store::{AppendEvidence, Store};
use leaver_bench::{cleanup, database, median};
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// Entries appended.
    #[arg(long, default_value_t = 100_000)]
    entries: usize,
    /// Entries per transaction.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres: String,
    #[arg(long)]
    skip_postgres: bool,
}

struct Times {
    append_s: f64,
    export_s: f64,
    bundle_mb: f64,
    verify_offline_s: f64,
    verify_db_s: f64,
}

fn entry(n: usize) -> AppendEvidence {
    AppendEvidence::new(
        "step.result",
        "worker:bench",
        format!("run-{}", n / 9),
        serde_json::json!({
            "run_id": format!("run-{}", n / 9),
            "step": format!("step-{}", n % 9),
            "uses": "github.remove_org_member",
            "attempt": 1,
            "changed": true,
            "summary": format!("removed user{n} from acme"),
            "details": {"org": "acme", "login": format!("user{n}"), "status": 204},
        }),
    )
}

async fn measure(args: &Args, kind: &'static str) -> anyhow::Result<Times> {
    let db = database(kind, &args.postgres).await?;
    let store = Store::connect(&db.url, 4).await?;
    let ledger = Ledger::new(store.clone(), LedgerKey::generate());
    let started = Instant::now();
    let mut n = 0;
    while n < args.entries {
        let items: Vec<AppendEvidence> =
            (n..(n + args.batch).min(args.entries)).map(entry).collect();
        n += items.len();
        store.append_evidence(&items).await?;
    }
    store.seal_pending().await?;
    let append_s = started.elapsed().as_secs_f64();

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("evidence.jsonl");
    let started = Instant::now();
    {
        let file = std::fs::File::create(&path)?;
        let mut out = std::io::BufWriter::new(file);
        ledger.export(None, None, &mut out, "bench").await?;
        std::io::Write::flush(&mut out)?;
    }
    let export_s = started.elapsed().as_secs_f64();
    let bundle_mb = std::fs::metadata(&path)?.len() as f64 / 1e6;

    let started = Instant::now();
    let report = evidence::verify_bundle(&path);
    let verify_offline_s = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.ok,
        "offline verification failed: {}",
        report.render_text()
    );

    let started = Instant::now();
    let report = ledger.verify_store().await?;
    let verify_db_s = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.ok,
        "database verification failed: {}",
        report.render_text()
    );

    drop(ledger);
    drop(store);
    cleanup(db).await;
    Ok(Times {
        append_s,
        export_s,
        bundle_mb,
        verify_offline_s,
        verify_db_s,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut kinds = vec!["sqlite"];
    if !args.skip_postgres {
        kinds.push("postgres");
    }
    println!(
        "Evidence ledger: {} entries appended in transactions of {}, median of {}",
        args.entries, args.batch, args.repeat
    );
    println!(
        "| database | append | entries/s | export | bundle | verify offline | verify in database |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for kind in kinds {
        let mut append = Vec::new();
        let mut export = Vec::new();
        let mut size = Vec::new();
        let mut offline = Vec::new();
        let mut in_db = Vec::new();
        for round in 0..args.repeat {
            let t = measure(&args, kind).await?;
            eprintln!(
                "  {kind} #{round}: append {:.2}s export {:.2}s ({:.1} MB) verify {:.2}s / db {:.2}s",
                t.append_s, t.export_s, t.bundle_mb, t.verify_offline_s, t.verify_db_s
            );
            append.push(t.append_s);
            export.push(t.export_s);
            size.push(t.bundle_mb);
            offline.push(t.verify_offline_s);
            in_db.push(t.verify_db_s);
        }
        let append_s = median(&mut append);
        println!(
            "| {kind} | {:.2} s | {:.0} | {:.2} s | {:.1} MB | {:.2} s | {:.2} s |",
            append_s,
            args.entries as f64 / append_s,
            median(&mut export),
            median(&mut size),
            median(&mut offline),
            median(&mut in_db)
        );
    }
    Ok(())
}
