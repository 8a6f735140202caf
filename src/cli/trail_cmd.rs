//! `leaver trail ingest vault|cloudtrail FILE` and `leaver trail query --identity
//! EMAIL --since 90d`.

use crate::config::Config;
use crate::store::{redact_url, Store};
use crate::trail::{FollowOptions, IngestReport, NoProgress, Progress};
use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum TrailCommand {
    /// Index an audit log: a Vault file audit device log (resumable; `--follow` keeps
    /// reading like `tail -F`), or CloudTrail files (`.json`, `.json.gz`, a directory).
    Ingest(IngestArgs),
    /// Which secrets an identity read, from the index.
    Query(QueryArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TrailKind {
    Vault,
    Cloudtrail,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    pub kind: TrailKind,
    pub file: PathBuf,
    /// Vault: keep following the log (rotation, truncation) until interrupted.
    #[arg(long)]
    pub follow: bool,
    /// Vault: at most this many lines per database commit (default: no cap, the
    /// bytes decide; a cap is kept exactly, which costs counting the lines as they are
    /// read).
    #[arg(long)]
    pub batch_lines: Option<usize>,
    /// Vault: about this many MiB of log per database commit (the batch and the
    /// cursor it brings the log to are committed together).
    #[arg(long, default_value_t = crate::trail::follow::DEFAULT_BATCH_BYTES >> 20)]
    pub batch_mib: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The identity's email.
    #[arg(long)]
    pub identity: String,
    /// How far back (`90d`, `24h`, `2w`).
    #[arg(long, default_value = "90d")]
    pub since: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// An indicatif bar, drawn only when standard output is a terminal.
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new() -> Option<Self> {
        if !std::io::stdout().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(0),
            indicatif::ProgressDrawTarget::stdout(),
        );
        let style = indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        Some(Bar(bar))
    }
}

impl Progress for Bar {
    fn file(&self, path: &Path, total: u64) {
        self.0.set_message(path.display().to_string());
        self.0.set_length(total);
        self.0.set_position(0);
    }

    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

pub async fn run(config: Config, command: &TrailCommand) -> anyhow::Result<i32> {
    let store = Store::connect(&config.database.url, 2)
        .await
        .with_context(|| format!("opening {}", redact_url(&config.database.url)))?;
    match command {
        TrailCommand::Ingest(args) => ingest(&store, args).await,
        TrailCommand::Query(args) => query(&store, args).await,
    }
}

async fn ingest(store: &Store, args: &IngestArgs) -> anyhow::Result<i32> {
    let bar = Bar::new();
    let progress: &dyn Progress = match &bar {
        Some(bar) => bar,
        None => &NoProgress,
    };
    let report: IngestReport = match args.kind {
        TrailKind::Vault => {
            let (stop, shutdown) = tokio::sync::watch::channel(false);
            if args.follow {
                tokio::spawn(async move {
                    if tokio::signal::ctrl_c().await.is_ok() {
                        let _ = stop.send(true);
                    }
                });
            }
            let options = FollowOptions {
                batch_lines: args
                    .batch_lines
                    .unwrap_or(crate::trail::follow::DEFAULT_BATCH_LINES),
                batch_bytes: args.batch_mib.max(1) << 20,
                follow: args.follow,
                ..FollowOptions::default()
            };
            crate::trail::ingest_vault_file(store, &args.file, &options, progress, Some(shutdown))
                .await
                .with_context(|| format!("ingesting {}", args.file.display()))?
        }
        TrailKind::Cloudtrail => crate::trail::ingest_cloudtrail(store, &args.file, progress)
            .await
            .with_context(|| format!("ingesting {}", args.file.display()))?,
    };
    if let Some(bar) = bar {
        bar.0.finish_and_clear();
    }
    if args.json {
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        super::emit(&report.summary())?;
    }
    Ok(0)
}

async fn query(store: &Store, args: &QueryArgs) -> anyhow::Result<i32> {
    let window = crate::duration::parse_duration(&args.since)
        .map_err(|reason| anyhow::anyhow!("--since: {reason}"))?;
    let since_ms = chrono::Utc::now().timestamp_millis()
        - i64::try_from(window.as_millis()).unwrap_or(i64::MAX / 2);
    let report = crate::trail::secret_access(store, &args.identity, since_ms).await?;
    if args.json {
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
        return Ok(0);
    }
    let mut text = format!(
        "{}: {} secret(s) read since {}\n",
        report.identity,
        report.secrets.len(),
        report.since
    );
    for m in &report.matches {
        text.push_str(&format!(
            "  matched {} by {} = {} (via {})\n",
            m.identity_key, m.kind, m.value, m.via
        ));
    }
    for s in &report.secrets {
        text.push_str(&format!(
            "{:<10} {}  ops={} count={} denied={} first={} last={} from={}\n",
            s.source,
            s.secret,
            s.operations.join(","),
            s.count,
            s.denied,
            s.first_seen,
            s.last_seen,
            s.source_addresses.join(",")
        ));
    }
    super::emit(&text)?;
    Ok(0)
}
