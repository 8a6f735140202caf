//! The Vault socket audit device (`vault audit enable socket address=HOST:PORT
//! socket_type=tcp`): Vault connects and writes the same JSON lines as the file
//! device. Each connection is read line by line, paired and indexed in batches (every
//! `BATCH_LINES` lines or `FLUSH_EVERY`, and when it closes). There is no offset to
//! resume from: lines in flight when Leaver stops are lost, so keep a file device
//! too when every read must be accounted for (Vault blocks on, or with
//! `fallback`/several devices tolerates, an unreachable socket).

use super::batch::Batch;
use super::pairing::Pairer;
use super::vault::parse_line;
use crate::store::{Store, TrailTerms};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const BATCH_LINES: usize = 1_000;
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Longest accepted line; a longer one is counted malformed and skipped.
const MAX_LINE: usize = 16 << 20;

/// What the socket device has taken since start.
#[derive(Debug, Default)]
pub struct SocketStats {
    pub connections: AtomicU64,
    pub lines: AtomicU64,
    pub reads_indexed: AtomicU64,
    pub malformed: AtomicU64,
}

/// Accept Vault's connections on `listener` until `shutdown`.
pub async fn serve(
    store: Store,
    listener: TcpListener,
    stats: Arc<SocketStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    stats.connections.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(%peer, "vault audit socket connected");
                    tokio::spawn(connection(store.clone(), stream, stats.clone(), shutdown.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "vault audit socket: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

async fn connection(
    store: Store,
    stream: TcpStream,
    stats: Arc<SocketStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut pairer = Pairer::default();
    let mut batch = Batch::default();
    let mut terms = TrailTerms::default();
    let mut accesses = Vec::new();
    let mut buf = Vec::with_capacity(8192);
    let mut pending_lines = 0usize;
    let mut line_no = 0u64;
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    loop {
        // `read_line` keeps what it consumed in `buf` when a tick interrupts it: the
        // line goes on in the next call.
        let read = tokio::select! {
            read = read_line(&mut reader, &mut buf) => read,
            _ = tick.tick() => {
                flush(&store, &mut batch, &mut terms, &stats).await;
                pending_lines = 0;
                continue;
            }
            _ = shutdown.changed() => break,
        };
        let at_end = match read {
            Ok(0) if buf.is_empty() => break,
            Ok(_) => !buf.ends_with(b"\n"),
            Err(error) => {
                tracing::warn!(%peer, %error, "vault audit socket: read failed");
                break;
            }
        };
        line_no += 1;
        stats.lines.fetch_add(1, Ordering::Relaxed);
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if buf.len() > MAX_LINE {
            stats.malformed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%peer, line = line_no, "vault audit socket: line too long, skipped");
        } else if !line.iter().all(u8::is_ascii_whitespace) {
            match parse_line(line) {
                Ok(entry) => pairer.feed(entry, &mut accesses),
                Err(reason) => {
                    stats.malformed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%peer, line = line_no, %reason, "vault audit socket: malformed line");
                }
            }
        }
        buf.clear();
        if at_end {
            break;
        }
        for access in accesses.drain(..) {
            batch.add(&access);
        }
        for access in pairer.take_retracted() {
            batch.retract(&access);
        }
        pending_lines += 1;
        if pending_lines >= BATCH_LINES {
            flush(&store, &mut batch, &mut terms, &stats).await;
            pending_lines = 0;
        }
    }
    // The connection is over: requests still waiting will not see a response here.
    pairer.drain(&mut accesses);
    for access in accesses.drain(..) {
        batch.add(&access);
    }
    flush(&store, &mut batch, &mut terms, &stats).await;
    tracing::info!(%peer, lines = line_no, "vault audit socket disconnected");
}

/// One line, at most `MAX_LINE` bytes kept (the rest is read and dropped).
async fn read_line(reader: &mut BufReader<TcpStream>, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(total);
        }
        let (take, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if buf.len() <= MAX_LINE {
            buf.extend_from_slice(&available[..take]);
        }
        reader.consume(take);
        total += take;
        if done {
            return Ok(total);
        }
    }
}

async fn flush(store: &Store, batch: &mut Batch, terms: &mut TrailTerms, stats: &SocketStats) {
    if batch.is_empty() {
        return;
    }
    // A failed write is retried with the next flush: the batch is kept.
    match store
        .trail_commit(std::slice::from_ref(batch), None, terms)
        .await
    {
        Ok(()) => {
            stats
                .reads_indexed
                .fetch_add(batch.reads, Ordering::Relaxed);
            batch.clear();
        }
        Err(error) => tracing::error!(%error, "vault audit socket: indexing failed; will retry"),
    }
}
