//! Serving a simulator's axum router on 127.0.0.1 over real HTTP, with a shutdown that
//! also fires when the handle is dropped. Shared by every simulator.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why a simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Binding the listening socket failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address we tried.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The configuration is unusable.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
}

/// A receiver that completes when the simulator shuts down. Long sleeps inside handlers
/// (latency, hangs) race against it so that shutdown never waits for them.
#[derive(Debug, Clone)]
pub(crate) struct ShutdownSignal(watch::Receiver<bool>);

impl ShutdownSignal {
    /// Completes once shutdown has been requested (or the sender is gone).
    pub(crate) async fn wait(&self) {
        let mut rx = self.0.clone();
        // `wait_for` errors only when the sender is dropped, which also means shutdown.
        let _ = rx.wait_for(|stopped| *stopped).await;
    }

    /// Sleep for `duration` unless shutdown comes first. Returns false on shutdown.
    pub(crate) async fn sleep(&self, duration: Duration) -> bool {
        if duration.is_zero() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(duration) => true,
            _ = self.wait() => false,
        }
    }
}

/// A bound but not yet serving listener, so that the simulator can learn its base URL
/// before it builds its state.
pub(crate) struct Bound {
    listener: TcpListener,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    signal: ShutdownSignal,
}

impl Bound {
    /// Bind `addr` (normally `127.0.0.1:0`, a free port).
    pub(crate) async fn bind(addr: SocketAddr) -> Result<Self, SimError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;
        let (stop, rx) = watch::channel(false);
        Ok(Self {
            listener,
            addr,
            stop,
            signal: ShutdownSignal(rx),
        })
    }

    /// The bound address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A shutdown signal for the handlers.
    pub(crate) fn signal(&self) -> ShutdownSignal {
        self.signal.clone()
    }

    /// Start serving `router` in a background task.
    pub(crate) fn serve(self, router: axum::Router) -> Server {
        let signal = self.signal.clone();
        let shutdown = async move { signal.wait().await };
        let task = tokio::spawn(serve_until(self.listener, router, shutdown));
        Server {
            addr: self.addr,
            stop: self.stop,
            task: Some(task),
        }
    }
}

async fn serve_until(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    if let Err(error) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::warn!(%error, "simulator server stopped with an error");
    }
}

/// A running simulator server. Dropping it stops the server.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// `http://127.0.0.1:<port>`.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop accepting connections, end in-flight sleeps, and wait (at most `grace`) for
    /// the server task; past that it is aborted.
    pub(crate) async fn shutdown(&mut self, grace: Duration) {
        self.stop.send_replace(true);
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(grace, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        // The task ends by itself once connections drain; keep-alive connections are
        // closed by the graceful shutdown, and handler sleeps race the same signal.
        if let Some(task) = self.task.take() {
            // Bound the wait without blocking the dropping thread: a watchdog aborts the
            // task if it has not finished after a short grace period.
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let mut task = task;
                    if tokio::time::timeout(Duration::from_secs(5), &mut task)
                        .await
                        .is_err()
                    {
                        task.abort();
                    }
                });
            } else {
                task.abort();
            }
        }
    }
}
