use super::Cli;
use crate::evidence;
use anyhow::Context as _;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Write an export bundle (JSONL: header, entries, signed checkpoints).
    Export(ExportArgs),
    /// Verify a bundle offline; names the first entry that fails.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long)]
    pub out: PathBuf,
    /// First sequence number (default 1).
    #[arg(long)]
    pub from: Option<i64>,
    /// Last sequence number (default: the head).
    #[arg(long)]
    pub to: Option<i64>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    pub file: PathBuf,
    /// The ledger's public key (PEM) as given to you out of band; the bundle's own key
    /// must match it.
    #[arg(long)]
    pub public_key: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(cli: &Cli, command: &EvidenceCommand) -> anyhow::Result<i32> {
    match command {
        EvidenceCommand::Export(args) => {
            let config = super::load_config(cli)?;
            let store = crate::store::Store::connect(&config.database.url, 2).await?;
            let key = crate::app::load_signing_key(&config.evidence.signing_key)?;
            let ledger = crate::ledger::Ledger::new(store, key);
            let file = std::fs::File::create(&args.out)
                .with_context(|| format!("cannot create {}", args.out.display()))?;
            let mut writer = std::io::BufWriter::new(file);
            let summary = ledger
                .export(args.from, args.to, &mut writer, "cli")
                .await?;
            std::io::Write::flush(&mut writer)?;
            println!(
                "exported entries {}..{} ({} entries, {} checkpoints, key {}) to {}",
                summary.from_seq,
                summary.to_seq,
                summary.entries,
                summary.checkpoints,
                summary.key_id,
                args.out.display()
            );
            Ok(0)
        }
        EvidenceCommand::Verify(args) => {
            let expected = args
                .public_key
                .as_ref()
                .map(|path| {
                    std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read {}", path.display()))
                })
                .transpose()?;
            let file = std::fs::File::open(&args.file)
                .with_context(|| format!("cannot open {}", args.file.display()))?;
            let report =
                evidence::verify_bundle_reader(std::io::BufReader::new(file), expected.as_deref());
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{}", report.render_text());
            }
            Ok(if report.ok { 0 } else { 1 })
        }
    }
}
