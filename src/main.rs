use clap::Parser;
use leaver::cli::{run, Cli};

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    // The demo prints its own story; its logs would only interleave with it.
    let default_filter = match cli.command {
        leaver::cli::Command::Demo(_) => "warn",
        _ => "leaver=info,warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LEAVER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(cli).await {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::exit(1);
        }
    }
}
