//! The command line (clap). Each verb is a module; `main.rs` only parses and dispatches.

pub mod drill_cmd;
pub mod entra_cmd;
mod evidence_cmd;
mod identities;
mod offboard;
mod plan_cmd;
mod serve;
mod token;
mod trail_cmd;

use crate::config::Config;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "leaver",
    version,
    about = "Identity-driven offboarding and revocation orchestrator"
)]
pub struct Cli {
    /// Configuration file (default: ./leaver.toml when present). Every key can also be
    /// set with a LEAVER_* environment variable.
    #[arg(long, global = true, env = "LEAVER_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start everything on an embedded SQLite with simulated upstreams, offboard a sample
    /// user, and show what was revoked and the verified evidence chain.
    Demo(crate::demo::DemoArgs),
    /// Serve the HTTP API, webhooks and dashboard, and run the workers.
    Serve(serve::ServeArgs),
    /// Validate, explain or describe revocation plans.
    #[command(subcommand)]
    Plan(plan_cmd::PlanCommand),
    /// Offboard one identity now (or dry-run it).
    Offboard(offboard::OffboardArgs),
    /// Revocation drills against canary identities.
    #[command(subcommand)]
    Drill(drill_cmd::DrillCommand),
    /// Export and verify the evidence ledger.
    #[command(subcommand)]
    Evidence(evidence_cmd::EvidenceCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Map identities to their accounts in each system (CSV import, show).
    #[command(subcommand)]
    Identities(identities::IdentitiesCommand),
    /// Microsoft Entra ID: the Graph change-notification subscription.
    #[command(subcommand)]
    Entra(entra_cmd::EntraCommand),
    /// The audit trail: index Vault and CloudTrail audit logs, ask who read which secret.
    #[command(subcommand)]
    Trail(trail_cmd::TrailCommand),
}

pub fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    Ok(Config::load(cli.config.as_deref())?)
}

/// Run the parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match &cli.command {
        Command::Demo(args) => crate::demo::run(args).await,
        Command::Serve(args) => serve::run(load_config(&cli)?, args).await,
        Command::Plan(command) => plan_cmd::run(&cli, command).await,
        Command::Offboard(args) => offboard::run(load_config(&cli)?, args).await,
        Command::Drill(command) => drill_cmd::run(load_config(&cli)?, command).await,
        Command::Evidence(command) => evidence_cmd::run(&cli, command).await,
        Command::Token(command) => token::run(load_config(&cli)?, command).await,
        Command::Identities(command) => identities::run(load_config(&cli)?, command).await,
        Command::Entra(command) => entra_cmd::run(load_config(&cli)?, command).await,
        Command::Trail(command) => trail_cmd::run(load_config(&cli)?, command).await,
    }
}

/// Parse `system=key` account pairs.
pub fn parse_account(text: &str) -> Result<(String, String), String> {
    let (system, key) = text
        .split_once('=')
        .ok_or_else(|| format!("expected SYSTEM=KEY (e.g. github=alice-gh), got `{text}`"))?;
    if system.is_empty() || key.is_empty() {
        return Err(format!("expected SYSTEM=KEY, got `{text}`"));
    }
    Ok((system.to_string(), key.to_string()))
}

/// Write to standard output; a closed pipe (`leaver plan schema | head`) ends quietly.
pub fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}
