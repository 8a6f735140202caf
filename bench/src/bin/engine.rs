//! Engine benchmark (issue 2):
//!
//! 1. Throughput: N runs of a 5-step plan (five independent GitHub removals) against a
//!    zero-latency simulated GitHub, on SQLite and on PostgreSQL: runs/s and steps/s
//!    (plan steps, plus the residual-access sweep each run ends with).
//! 2. Overhead over the critical path: one run of a 3-step chain against a simulated
//!    GitHub answering every call after 50 ms. The critical path is the upstream time
//!    the run cannot avoid: per step one removal and one verification call, then the
//!    sweep's membership lookups; overhead = (run time − critical path) / critical path.
//!
//! Run: `cargo run --release -p leaver-bench --bin engine -- --runs 200 --repeat 5`
//! (pin to one core with `taskset -c 0` to measure the single-core rate).

use clap::Parser;
use leaver::app::App;
use leaver::config::{Config, GithubSection};
use leaver::engine::OffboardRequest;
use leaver::store::SubmitOutcome;
use leaver_bench::{cleanup, database, median};
use leaver_connector::Identity;
use leaver_sim::github::{GithubSim, GithubSimConfig};
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Runs per throughput measurement.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Repetitions; the median is reported.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// PostgreSQL server URL (a fresh database is created per repetition).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres: String,
    /// Skip PostgreSQL.
    #[arg(long)]
    sqlite_only: bool,
}

const TOKEN: &str = "bench-token";
const ORGS: [&str; 5] = ["org-1", "org-2", "org-3", "org-4", "org-5"];

fn wide_plan() -> String {
    let mut plan = String::from("name: bench-wide\ntrigger: { events: [manual] }\nsteps:\n");
    for (i, org) in ORGS.iter().enumerate() {
        plan.push_str(&format!(
            "  - id: s{i}\n    uses: github.remove_org_member\n    with: {{ org: {org} }}\n"
        ));
    }
    plan
}

const CHAIN_PLAN: &str = "name: bench-chain\ntrigger: { events: [manual] }\nsteps:\n  - id: a\n    uses: github.remove_org_member\n    with: { org: org-1 }\n  - id: b\n    uses: github.remove_org_member\n    with: { org: org-2 }\n    needs: [a]\n  - id: c\n    uses: github.remove_org_member\n    with: { org: org-3 }\n    needs: [b]\n";

fn config(dir: &Path, db_url: &str, github: &str) -> anyhow::Result<Config> {
    let plans = dir.join("workflows");
    std::fs::create_dir_all(&plans)?;
    std::fs::write(plans.join("bench-wide.yaml"), wide_plan())?;
    std::fs::write(plans.join("bench-chain.yaml"), CHAIN_PLAN)?;
    std::fs::write(dir.join("token"), TOKEN)?;
    let mut config = Config::default();
    config.database.url = db_url.to_string();
    config.plans.dir = plans;
    config.evidence.signing_key = format!("file:{}", dir.join("key").display());
    config.engine.poll_interval = "20ms".into();
    config.engine.max_in_flight = 64;
    config.engine.per_connector_limit = 32;
    config.connectors.github = Some(GithubSection {
        api_url: github.to_string(),
        org: None,
        token: format!("file:{}", dir.join("token").display()),
        app: None,
        request_timeout: "30s".into(),
    });
    Ok(config)
}

fn request(user: usize, plan: &str) -> OffboardRequest {
    OffboardRequest {
        identity: Identity::new(format!("user{user}@example.com"))
            .with_account("github", format!("user{user}")),
        plan: plan.to_string(),
        mode: leaver::domain::Mode::Live,
        effective_at: None,
        ticket: None,
        reason: None,
        trigger: Some("bench".into()),
    }
}

async fn run_all(app: &App, ids: &[String]) -> anyhow::Result<()> {
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let tasks = app.spawn_background(shutdown)?;
    loop {
        let mut done = true;
        for id in ids {
            let run = app
                .store
                .get_run(id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("run vanished"))?;
            if !run.status.is_terminal() {
                done = false;
                break;
            }
            if run.status != leaver::domain::RunStatus::Completed {
                anyhow::bail!("run {id} ended {}", run.status);
            }
        }
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

/// (runs/s, steps/s) for one repetition.
async fn throughput(kind: &'static str, args: &Args) -> anyhow::Result<(f64, f64)> {
    let sim = GithubSim::start(GithubSimConfig {
        token: TOKEN.into(),
        ..GithubSimConfig::default()
    })
    .await?;
    for user in 0..args.runs {
        for org in ORGS {
            sim.add_member(org, &format!("user{user}"), "member");
        }
    }
    let db = database(kind, &args.postgres).await?;
    let dir = tempfile::tempdir()?;
    let app = App::build(config(dir.path(), &db.url, &sim.base_url())?).await?;
    let mut ids = Vec::with_capacity(args.runs);
    for user in 0..args.runs {
        match app
            .engine
            .submit(&request(user, "bench-wide"), None, "bench")
            .await?
        {
            SubmitOutcome::Created(run) => ids.push(run.id),
            _ => anyhow::bail!("unexpected submit outcome"),
        }
    }
    let started = Instant::now();
    run_all(&app, &ids).await?;
    let elapsed = started.elapsed().as_secs_f64();
    app.store.close().await;
    cleanup(db).await;
    let runs = args.runs as f64;
    Ok((runs / elapsed, runs * (ORGS.len() as f64 + 1.0) / elapsed))
}

/// (run time, critical path) in ms for one run of the chain at 50 ms per call.
async fn overhead(kind: &'static str, args: &Args) -> anyhow::Result<(f64, f64)> {
    let latency = Duration::from_millis(50);
    let sim = GithubSim::start(GithubSimConfig {
        token: TOKEN.into(),
        latency,
        ..GithubSimConfig::default()
    })
    .await?;
    for org in ["org-1", "org-2", "org-3"] {
        sim.add_member(org, "user0", "member");
    }
    let db = database(kind, &args.postgres).await?;
    let dir = tempfile::tempdir()?;
    let app = App::build(config(dir.path(), &db.url, &sim.base_url())?).await?;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let tasks = app.spawn_background(shutdown)?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let id = match app
        .engine
        .submit(&request(0, "bench-chain"), None, "bench")
        .await?
    {
        SubmitOutcome::Created(run) => run.id,
        _ => anyhow::bail!("unexpected submit outcome"),
    };
    loop {
        let run = app
            .store
            .get_run(&id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("run vanished"))?;
        if run.status.is_terminal() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
    app.store.close().await;
    cleanup(db).await;
    // 3 steps × (removal + verification) + sweep: one membership lookup per org.
    let calls = 3 * 2 + 3;
    Ok((elapsed, calls as f64 * latency.as_secs_f64() * 1000.0))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let kinds: Vec<&str> = if args.sqlite_only {
        vec!["sqlite"]
    } else {
        vec!["sqlite", "postgres"]
    };
    println!(
        "engine throughput: {} runs of a 5-step plan, zero-latency GitHub, median of {}",
        args.runs, args.repeat
    );
    for kind in &kinds {
        let mut runs = Vec::new();
        let mut steps = Vec::new();
        for _ in 0..args.repeat {
            let (r, s) = throughput(kind, &args).await?;
            runs.push(r);
            steps.push(s);
        }
        println!(
            "  {kind:<8} {:>8.1} runs/s {:>8.1} steps/s   (all: {:?})",
            median(&mut runs.clone()),
            median(&mut steps),
            runs.iter().map(|r| r.round()).collect::<Vec<_>>()
        );
    }
    println!(
        "overhead over the critical path: 3-step chain, 50 ms per upstream call, median of {}",
        args.repeat
    );
    for kind in &kinds {
        let mut ratios = Vec::new();
        let mut times = Vec::new();
        let mut critical = 0.0;
        for _ in 0..args.repeat {
            let (elapsed, path) = overhead(kind, &args).await?;
            critical = path;
            times.push(elapsed);
            ratios.push((elapsed - path) / path * 100.0);
        }
        println!(
            "  {kind:<8} run {:>7.1} ms, critical path {:>6.1} ms, overhead {:>5.1}%",
            median(&mut times),
            critical,
            median(&mut ratios)
        );
    }
    Ok(())
}
