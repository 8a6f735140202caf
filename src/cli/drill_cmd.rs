//! `leaver drill run --plan P --identity CANARY`: run a drill in this process (worker
//! included), wait for its report, print it as a table; exit 0 on pass, 1 on fail.

use crate::app::App;
use crate::config::Config;
use crate::drills::{self, DrillReport, DrillStart, Verdict};
use clap::{Args, Subcommand};
use std::fmt::Write as _;
use tokio::sync::watch;

#[derive(Debug, Subcommand)]
pub enum DrillCommand {
    /// Revoke a canary's access for real with a plan, measure, verify, restore.
    Run(DrillRunArgs),
}

#[derive(Debug, Args)]
pub struct DrillRunArgs {
    /// The plan to drill.
    #[arg(long)]
    pub plan: String,
    /// The canary identity's email.
    #[arg(long)]
    pub identity: String,
}

pub async fn run(config: Config, command: &DrillCommand) -> anyhow::Result<i32> {
    let DrillCommand::Run(args) = command;
    let app = App::build(config).await?;
    let (code, table) = run_drill(&app, &args.plan, &args.identity).await?;
    super::emit(&table)?;
    Ok(code)
}

/// Run one drill with this process's worker; the exit code (0 pass, 1 fail) and the
/// report as a table.
pub async fn run_drill(app: &App, plan: &str, identity: &str) -> anyhow::Result<(i32, String)> {
    let (stop, shutdown) = watch::channel(false);
    let tasks = app.spawn_background(shutdown)?;
    let request = DrillStart {
        plan: plan.to_string(),
        identity: identity.to_string(),
        started_by: "cli".into(),
        scheduled_for: None,
    };
    let result = drills::run(&app.engine, &request).await;
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
    let report = result?.ok_or_else(|| anyhow::anyhow!("the drill was not recorded"))?;
    let code = match report.verdict {
        Verdict::Pass => 0,
        Verdict::Fail => 1,
    };
    Ok((code, render(&report)))
}

fn ms(value: Option<i64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v}ms"))
}

/// The report as a plain-text table.
pub fn render(report: &DrillReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "drill {} plan {} canary {}: {}",
        report.drill_id,
        report.plan,
        report.canary,
        report.verdict.as_str().to_uppercase()
    );
    let _ = writeln!(
        out,
        "time to revoke {} (SLA {}), run {} {}",
        ms(report.time_to_revoke_ms),
        ms(report.sla_ms),
        report.run_id,
        report.run_status
    );
    let _ = writeln!(
        out,
        "  {:<8} {:<24} {:<32} {:<10} {:>10} {:>12} {:>8} {:>8}  error",
        "phase", "step", "uses", "status", "duration", "to revoke", "verified", "attempts"
    );
    let rows = report
        .steps
        .iter()
        .map(|s| ("revoke", s))
        .chain(report.restore.steps.iter().map(|s| ("restore", s)));
    for (phase, step) in rows {
        let _ = writeln!(
            out,
            "  {:<8} {:<24} {:<32} {:<10} {:>10} {:>12} {:>8} {:>8}  {}",
            phase,
            step.id,
            step.uses,
            step.status.as_str(),
            ms(step.duration_ms),
            ms(step.time_to_revoke_ms),
            step.verified,
            step.attempts,
            step.error.as_deref().unwrap_or("")
        );
    }
    for (system, ttr) in &report.systems {
        let _ = writeln!(out, "  system {system}: time to revoke {}", ms(*ttr));
    }
    let _ = writeln!(
        out,
        "restore: {}",
        if report.restore.succeeded {
            "succeeded"
        } else {
            "FAILED"
        }
    );
    for failure in &report.failures {
        let _ = writeln!(out, "fail: {failure}");
    }
    out
}
