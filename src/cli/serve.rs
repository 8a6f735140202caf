use crate::app::App;
use crate::config::Config;
use anyhow::Context as _;
use clap::Args;
use tokio::sync::watch;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Override server.listen.
    #[arg(long)]
    pub listen: Option<String>,
}

pub async fn run(mut config: Config, args: &ServeArgs) -> anyhow::Result<i32> {
    if let Some(listen) = &args.listen {
        config.server.listen = listen.clone();
    }
    let listen = config.server.listen.clone();
    let app = App::build(config).await?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, database = app.store.dialect().name(), worker = app.engine.worker_id(), "leaver serving");
    eprintln!("leaver listening on http://{address}");
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight steps");
        let _ = stop.send(true);
    });
    app.serve(listener, shutdown).await?;
    Ok(0)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
