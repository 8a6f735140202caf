use super::Cli;
use crate::connectors::build_catalog;
use crate::plan::{self, PlanSet};
use anyhow::Context as _;
use clap::{Args, Subcommand};
use leaver_connector::Identity;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Check plan files: unknown actions and keys, missing parameters, cycles, bad
    /// durations, each reported as file:line:column: reason.
    Validate(ValidateArgs),
    /// Show what a plan would revoke for an identity, touching nothing.
    Explain(ExplainArgs),
    /// Print the JSON Schema of plan files, for editors.
    Schema,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Plan files or directories (default: plans.dir).
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[arg(long)]
    pub plan: String,
    /// The identity's email.
    #[arg(long)]
    pub identity: String,
    /// Known account keys, e.g. --account github=alice-gh (repeatable).
    #[arg(long = "account", value_parser = super::parse_account)]
    pub accounts: Vec<(String, String)>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(cli: &Cli, command: &PlanCommand) -> anyhow::Result<i32> {
    let config = super::load_config(cli)?;
    let registry = crate::connectors::build_registry(&config)?;
    let catalog = build_catalog(&registry)?;
    match command {
        PlanCommand::Schema => {
            super::emit(&format!(
                "{}\n",
                serde_json::to_string_pretty(&plan::json_schema(&catalog))?
            ))?;
            Ok(0)
        }
        PlanCommand::Validate(args) => {
            let paths = if args.paths.is_empty() {
                vec![config.plans.dir.clone()]
            } else {
                args.paths.clone()
            };
            let mut failed = false;
            for path in plan_files(&paths)? {
                match plan::load_plan_file(&path, &catalog) {
                    Ok(plan) => super::emit(&format!("ok  {} ({})\n", plan.name, path.display()))?,
                    Err(errors) => {
                        failed = true;
                        for error in errors {
                            eprintln!("{error}");
                        }
                    }
                }
            }
            Ok(i32::from(failed))
        }
        PlanCommand::Explain(args) => {
            let plans = PlanSet::load_dir(&config.plans.dir, &catalog).map_err(|errors| {
                anyhow::anyhow!(
                    "{}",
                    errors
                        .iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            })?;
            let plan = plans.get(&args.plan).with_context(|| {
                format!(
                    "unknown plan `{}` (known: {})",
                    args.plan,
                    plans.names().collect::<Vec<_>>().join(", ")
                )
            })?;
            let mut identity = Identity::new(&args.identity);
            for (system, key) in &args.accounts {
                identity.accounts.insert(system.clone(), key.clone());
            }
            let explanation = plan::explain(plan, &registry, &identity).await;
            if args.json {
                super::emit(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&explanation)?
                ))?;
            } else {
                super::emit(&explanation.render_text())?;
            }
            Ok(0)
        }
    }
}

/// The plan files named: files as given, directories expanded to their `*.yaml` and
/// `*.yml` files (each validated on its own, so one bad file hides no good one).
fn plan_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}
