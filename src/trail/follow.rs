//! Vault file audit device logs, followed like `tail -F` and resumable: the cursor
//! (file identity, byte offset, line, reader state) is committed in the same
//! transaction as the counts of the lines before it, so an interrupted ingest resumes
//! exactly where its last commit ended and never counts a line twice.
//!
//! - Rotation (the log renamed, a new one created at the path): the old file is read
//!   to its end — through the open handle when following, or found again in the same
//!   directory by its device and inode on the next run — then the new one from 0.
//! - Truncation (copytruncate, or a new file that reused the inode): the file is
//!   shorter than the cursor, or its first bytes no longer match the fingerprint
//!   taken when it was read: read again from 0.

use super::batch::{Batch, NamesGiven};
use super::chunk::{absorb, parse_chunk, threads};
use super::logfile::{find_by_id, LogFile, HEAD_BYTES};
use super::pairing::{Pairer, STALE_MS};
use super::report::IngestReport;
use super::writer::Committer;
use super::{Progress, TrailError};
use crate::store::{Store, TrailCursor};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Default cap of lines per commit: none, the bytes decide (a batch holds at most one
/// row per line, and a line is at least its newline). A cap is kept exactly, which
/// takes counting the lines as they are read (see `read_batch`).
pub const DEFAULT_BATCH_LINES: usize = usize::MAX;
/// Default bytes of log per commit (256 MiB): the index's pages a commit rewrites are
/// shared by more reads the larger the commit (1 GB ingest 655 → 836 MB/s from 64 MiB
/// to 256 MiB, see BENCHMARKS.md).
pub const DEFAULT_BATCH_BYTES: u64 = 256 << 20;
/// Default bytes of log read and parsed at a time.
pub const READ_CHUNK_BYTES: u64 = 16 << 20;
/// Bytes mapped past a batch's budget, for the line that crosses it.
const SLACK: u64 = 1 << 20;

#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// At most this many lines per commit.
    pub batch_lines: usize,
    /// At most about this many bytes of log per commit (a commit ends at the first
    /// line boundary at or past it). Memory stays bounded by the batch, not the log.
    pub batch_bytes: u64,
    /// Keep reading after the end (`tail -F`) until `shutdown`.
    pub follow: bool,
    /// How often a followed file is checked for new lines, rotation and truncation.
    pub poll: Duration,
    /// Stop after this many lines (a partial run; the next one resumes).
    pub stop_after_lines: Option<u64>,
    /// Threads parsing each batch (default: the machine's cores, at most 8).
    pub parse_threads: usize,
    /// Read the log mapped into memory where it can be (see [`super::mapped`]),
    /// instead of copying it out of the page cache.
    pub map: bool,
    /// Bytes of log parsed at a time (a batch is one or more chunks).
    pub chunk_bytes: u64,
}

impl Default for FollowOptions {
    fn default() -> Self {
        Self {
            batch_lines: DEFAULT_BATCH_LINES,
            batch_bytes: DEFAULT_BATCH_BYTES,
            follow: false,
            poll: Duration::from_millis(250),
            stop_after_lines: None,
            parse_threads: threads(),
            map: true,
            chunk_bytes: READ_CHUNK_BYTES,
        }
    }
}

/// The reader's state kept in the cursor.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ReaderState {
    /// Length and SHA-256 of the file's head when it was read.
    head_len: u64,
    head_sha256: Option<String>,
    /// Requests still waiting for their response.
    pairer: Pairer,
}

impl ReaderState {
    /// A new file (or one read from the start again): its head is fingerprinted anew.
    fn forget_head(&mut self) {
        self.head_len = 0;
        self.head_sha256 = None;
    }
}

/// The cursor name of a followed file: its absolute path.
pub fn cursor_name(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    format!("vault-file:{}", absolute.display())
}

struct Follower<'a> {
    /// Commits batches while the next one is read.
    writer: Committer,
    name: String,
    options: &'a FollowOptions,
    progress: &'a dyn Progress,
    state: ReaderState,
    /// The batch being read: what the parsing threads counted (one each) and the
    /// accesses the pairing completed.
    part_batches: Vec<Batch>,
    batch: Batch,
    /// Name sources whose names went to the writer in this run's batches.
    names_given: NamesGiven,
    report: IngestReport,
    lines_this_run: u64,
    /// The lines of the chunk being parsed, and of the one read meanwhile.
    buf: Vec<u8>,
    spare: Vec<u8>,
    accesses: Vec<crate::trail::event::SecretAccess>,
    /// (file id, offset) of the last commit: an idle poll writes nothing.
    committed: Option<(String, u64)>,
}

/// Ingest (and with `options.follow`, keep following) a Vault file audit log.
pub async fn ingest_vault_file(
    store: &Store,
    path: &Path,
    options: &FollowOptions,
    progress: &dyn Progress,
    mut shutdown: Option<watch::Receiver<bool>>,
) -> Result<IngestReport, TrailError> {
    let started = Instant::now();
    let name = cursor_name(path);
    let cursor = store.trail_cursor(&name).await?;
    let mut follower = Follower {
        writer: Committer::start(store.clone()),
        name,
        options,
        progress,
        state: ReaderState::default(),
        part_batches: Vec::new(),
        batch: Batch::default(),
        names_given: NamesGiven::default(),
        report: IngestReport::default(),
        lines_this_run: 0,
        buf: Vec::new(),
        spare: Vec::new(),
        accesses: Vec::new(),
        committed: None,
    };
    follower.report.files.push(path.display().to_string());
    let mut log = open_waiting(path, options.follow, &mut shutdown).await?;
    if let Some(cursor) = cursor {
        follower.state = serde_json::from_str(&cursor.state).unwrap_or_else(|error| {
            follower.report.warnings.push(format!(
                "the saved reader state was unreadable ({error}); requests awaiting a response were dropped"
            ));
            ReaderState::default()
        });
        if cursor.file_id == log.id {
            follower.resume(&mut log, &cursor)?;
        } else {
            follower.finish_rotated(path, &cursor).await?;
            follower.state.forget_head();
            follower.commit(&log).await?;
        }
    }
    progress.file(&log.path, log.len().unwrap_or(0));
    progress.advance(log.offset);
    loop {
        // Truncated (copytruncate, rewritten) since the last read: from 0 again,
        // checked before reading on so that no line of the new content is read twice.
        if options.follow && follower.truncated(&log)? {
            follower.report.truncations += 1;
            follower.restart(&mut log);
            follower.commit(&log).await?;
        }
        let eof = follower.read_batch(&mut log, false)?;
        follower.commit(&log).await?;
        if follower.done() {
            break;
        }
        if !eof {
            continue;
        }
        if !options.follow {
            // One-shot: a final line without newline, then requests whose response
            // should have come by now count alone.
            follower.read_batch(&mut log, true)?;
            let now = chrono::Utc::now().timestamp_millis();
            follower
                .state
                .pairer
                .expire(now - STALE_MS, &mut follower.accesses);
            follower.take_accesses();
            follower.commit(&log).await?;
            break;
        }
        match std::fs::metadata(path) {
            Ok(meta) if super::logfile::file_id(&meta) != log.id => {
                // Rotated: finish the old file through the open handle, then switch.
                while !follower.read_batch(&mut log, false)? {
                    follower.commit(&log).await?;
                }
                follower.read_batch(&mut log, true)?;
                follower.commit(&log).await?;
                match LogFile::open(path) {
                    Ok(new) => {
                        log = new;
                        follower.report.rotations += 1;
                        follower.state.forget_head();
                        follower.report.files.push(path.display().to_string());
                        progress.file(&log.path, log.len().unwrap_or(0));
                        follower.commit(&log).await?;
                        continue;
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => {
                        return Err(TrailError::Io {
                            path: path.to_path_buf(),
                            source,
                        })
                    }
                }
            }
            _ => {}
        }
        if wait(options.poll, &mut shutdown).await {
            break;
        }
    }
    follower.writer.finish().await?;
    follower.report.elapsed = started.elapsed();
    Ok(follower.report)
}

/// Open `path`; when following, wait for it to appear.
async fn open_waiting(
    path: &Path,
    follow: bool,
    shutdown: &mut Option<watch::Receiver<bool>>,
) -> Result<LogFile, TrailError> {
    loop {
        match LogFile::open(path) {
            Ok(log) => return Ok(log),
            Err(error) if follow && error.kind() == std::io::ErrorKind::NotFound => {
                if wait(Duration::from_millis(250), shutdown).await {
                    return Err(TrailError::Stopped);
                }
            }
            Err(source) => {
                return Err(TrailError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// Sleep `poll`; true when shutdown was asked for.
async fn wait(poll: Duration, shutdown: &mut Option<watch::Receiver<bool>>) -> bool {
    match shutdown {
        Some(rx) => {
            if *rx.borrow() {
                return true;
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => *rx.borrow(),
                changed = rx.changed() => changed.is_err() || *rx.borrow(),
            }
        }
        None => {
            tokio::time::sleep(poll).await;
            false
        }
    }
}

impl Follower<'_> {
    fn done(&self) -> bool {
        self.options
            .stop_after_lines
            .is_some_and(|limit| self.lines_this_run >= limit)
    }

    /// Continue a file read before, unless it was truncated or replaced since.
    fn resume(&mut self, log: &mut LogFile, cursor: &TrailCursor) -> Result<(), TrailError> {
        let offset = u64::try_from(cursor.offset).unwrap_or(0);
        let line = u64::try_from(cursor.line).unwrap_or(0);
        let len = log.len().map_err(|source| io(log, source))?;
        if len < offset || !self.head_matches(log)? {
            self.report.truncations += 1;
            self.restart(log);
        } else {
            log.seek(offset, line);
        }
        Ok(())
    }

    fn truncated(&self, log: &LogFile) -> Result<bool, TrailError> {
        let len = log.len().map_err(|source| io(log, source))?;
        Ok(len < log.offset || !self.head_matches(log)?)
    }

    fn restart(&mut self, log: &mut LogFile) {
        self.state.forget_head();
        log.seek(0, 0);
    }

    fn head_matches(&self, log: &LogFile) -> Result<bool, TrailError> {
        if self.state.head_len == 0 {
            return Ok(true);
        }
        let digest = log
            .head_digest(self.state.head_len)
            .map_err(|source| io(log, source))?;
        Ok(digest.is_some() && digest == self.state.head_sha256)
    }

    /// The cursor pointed into a file no longer at the path: read the rest of it if it
    /// is still in the same directory (renamed by rotation).
    async fn finish_rotated(
        &mut self,
        path: &Path,
        cursor: &TrailCursor,
    ) -> Result<(), TrailError> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let Some(old_path) = find_by_id(&dir, &cursor.file_id, path) else {
            self.report.warnings.push(format!(
                "{} was rotated and the file last read is no longer in {}: lines written to it after offset {} were not indexed",
                path.display(),
                dir.display(),
                cursor.offset
            ));
            return Ok(());
        };
        let mut old = LogFile::open(&old_path).map_err(|source| TrailError::Io {
            path: old_path.clone(),
            source,
        })?;
        self.report.rotations += 1;
        self.report.files.push(old_path.display().to_string());
        self.resume(&mut old, cursor)?;
        while !self.read_batch(&mut old, false)? {
            self.commit(&old).await?;
        }
        self.read_batch(&mut old, true)?;
        self.commit(&old).await
    }

    /// Read up to one batch of lines; true when the end of the file was reached. The
    /// batch is parsed in place where it can be (`read_batch_mapped`); otherwise it is
    /// read in chunks, each parsed while the next is read (on a thread of its own), so
    /// that reading the file costs no parsing time.
    fn read_batch(&mut self, log: &mut LogFile, final_read: bool) -> Result<bool, TrailError> {
        let mut limit = u64::try_from(self.options.batch_lines.max(1)).unwrap_or(u64::MAX);
        if let Some(stop) = self.options.stop_after_lines {
            limit = limit.min(stop.saturating_sub(self.lines_this_run));
        }
        if self.options.map && !final_read {
            if let Some(eof) = self.read_batch_mapped(log, limit)? {
                return Ok(eof);
            }
        }
        let start = log.offset;
        let byte_limit = self.options.batch_bytes.max(1);
        let path = log.path.display().to_string();
        let mut read = 0;
        let mut eof = false;
        // In chunks of at most `chunk_bytes`: memory holds two chunks of log and
        // the batch's aggregated rows, however large the batch.
        let mut chunk = if limit > 0 {
            let chunk_limit = byte_limit.min(self.options.chunk_bytes.max(1));
            Some(
                Chunk::read(log, &mut self.buf, chunk_limit, limit, final_read)
                    .map_err(|source| io(log, source))?,
            )
        } else {
            None
        };
        while let Some(current) = chunk.take() {
            read += current.lines;
            let left = byte_limit.saturating_sub(log.offset - start);
            let more = !current.at_end && read < limit && left > 0;
            let chunk_limit = left.min(self.options.chunk_bytes.max(1));
            let mut spare = std::mem::take(&mut self.spare);
            let buf = std::mem::take(&mut self.buf);
            let (counted, next) = std::thread::scope(|scope| {
                let reader = more.then(|| {
                    let (log, spare) = (&mut *log, &mut spare);
                    scope.spawn(move || {
                        Chunk::read(log, spare, chunk_limit, limit - read, final_read)
                    })
                });
                let counted = self.count_chunk(&buf, current.first_line);
                let next = reader.map(|reader| match reader.join() {
                    Ok(next) => next,
                    Err(panic) => std::panic::resume_unwind(panic),
                });
                (counted, next)
            });
            for (line, reason) in counted.malformed {
                self.report.malformed(&path, line, reason);
            }
            // The chunk read ahead becomes the one to parse.
            (self.buf, self.spare) = (spare, buf);
            match next {
                Some(next) => chunk = Some(next.map_err(|source| io(log, source))?),
                None => eof = current.at_end,
            }
        }
        self.lines_this_run += read;
        self.report.lines += read;
        self.report.bytes += log.offset - start;
        Ok(eof)
    }

    /// Read up to one batch of lines in place, mapped (see [`super::mapped`]), in
    /// chunks parsed on every core; true when the end of the file was reached. `None`
    /// when the batch is better read: nothing new, a line cap it could reach (caps are
    /// kept exactly, and the read path counts lines as it reads; counting here would
    /// touch every byte once more), no complete line within the batch's bytes, or a
    /// region that cannot be mapped. A truncation while mapped ends the batch at the
    /// chunk it hit: the lines read before it count, what read as zeros does not (and
    /// is not reported as malformed); the next read finds the file shorter.
    fn read_batch_mapped(
        &mut self,
        log: &mut LogFile,
        line_limit: u64,
    ) -> Result<Option<bool>, TrailError> {
        let len = log.len().map_err(|source| io(log, source))?;
        let budget = self.options.batch_bytes.max(1);
        // The batch ends at the first line end at or past its budget, as a read one
        // does: the line crossing it is mapped too when it is shorter than SLACK.
        let want = len
            .saturating_sub(log.offset)
            .min(budget.saturating_add(SLACK));
        // A batch of `want` bytes holds at most `want` lines.
        if want == 0 || line_limit < want {
            return Ok(None);
        }
        let Some(region) = log.map(want) else {
            return Ok(None);
        };
        let to_end = log.offset + want == len;
        let bytes = region.bytes();
        let crossing = usize::try_from(budget - 1)
            .ok()
            .and_then(|from| Some(from + memchr::memchr(b'\n', bytes.get(from..)?)?));
        let last = match crossing {
            Some(last) => last,
            // The file ends before the budget: up to its last complete line.
            None if to_end => match memchr::memrchr(b'\n', bytes) {
                Some(last) => last,
                None => return Ok(None),
            },
            // A line longer than SLACK crosses the budget: read it.
            None => return Ok(None),
        };
        let data = &bytes[..=last];
        let to_end = to_end && crossing.is_none();
        let (start, path) = (log.offset, log.path.display().to_string());
        let chunk_bytes = usize::try_from(self.options.chunk_bytes.max(1)).unwrap_or(usize::MAX);
        let (mut at, mut read, mut truncated_any) = (0, 0, false);
        while at < data.len() {
            let cut = at.saturating_add(chunk_bytes);
            let end = match data.get(cut..).and_then(|rest| memchr::memchr(b'\n', rest)) {
                Some(newline) => cut + newline + 1,
                None => data.len(),
            };
            let counted = self.count_chunk(&data[at..end], log.line);
            // Checked once the chunk is counted: every read of it is over. A file cut
            // within the chunk's last page reads as zeros there without a fault.
            let chunk_end = log.offset + (end - at) as u64;
            let truncated =
                region.truncated() || log.len().map_err(|source| io(log, source))? < chunk_end;
            if !truncated {
                for (line, reason) in counted.malformed {
                    self.report.malformed(&path, line, reason);
                }
            }
            let chunk_start = log.offset;
            log.seek(chunk_end, log.line + counted.lines);
            read += counted.lines;
            at = end;
            if truncated {
                truncated_any = true;
                self.report.warnings.push(format!(
                    "{path} was truncated while bytes {chunk_start} to {} were being read: what was read after the truncation (zeros) was not indexed",
                    log.offset
                ));
                break;
            }
        }
        self.lines_this_run += read;
        self.report.lines += read;
        self.report.bytes += log.offset - start;
        Ok(Some(to_end && at == data.len() && !truncated_any))
    }

    /// Parse `chunk`, whose first line is line `first_line + 1` of its file, on
    /// every core and count it into the batch (the records go to the report, the
    /// bytes to the progress); its malformed lines are returned for the caller to
    /// report (or not: see `read_batch_mapped`).
    fn count_chunk(&mut self, chunk: &[u8], first_line: u64) -> Counted {
        let parts = parse_chunk(
            chunk,
            first_line,
            self.options.parse_threads,
            &self.names_given,
            &mut self.part_batches,
        );
        let lines = parts.iter().map(|part| part.lines).sum();
        let mut malformed = Vec::new();
        self.report.records += absorb(
            parts,
            &mut self.state.pairer,
            &mut self.batch,
            &mut self.names_given,
            |line, reason| malformed.push((line, reason)),
        );
        self.progress.advance(chunk.len() as u64);
        Counted { lines, malformed }
    }

    fn take_accesses(&mut self) {
        for access in self.accesses.drain(..) {
            self.batch.take(access);
        }
    }

    /// Hand the batch, with the cursor at `log`'s position, to the writer (committed
    /// together, in order; `finish` waits for the last).
    async fn commit(&mut self, log: &LogFile) -> Result<(), TrailError> {
        let position = (log.id.clone(), log.offset);
        let empty = self.batch.is_empty() && self.part_batches.iter().all(Batch::is_empty);
        if empty && self.committed.as_ref() == Some(&position) {
            return Ok(());
        }
        if self.state.head_len < HEAD_BYTES && log.offset > self.state.head_len {
            let len = log.offset.min(HEAD_BYTES);
            self.state.head_sha256 = log.head_digest(len).map_err(|source| io(log, source))?;
            self.state.head_len = if self.state.head_sha256.is_some() {
                len
            } else {
                0
            };
        }
        let cursor = TrailCursor {
            name: self.name.clone(),
            file_id: log.id.clone(),
            offset: log.offset as i64,
            line: log.line as i64,
            state: serde_json::to_string(&self.state).unwrap_or_else(|_| "{}".into()),
        };
        let mut parts = std::mem::take(&mut self.part_batches);
        parts.push(std::mem::take(&mut self.batch));
        // A batch holding counts taken back has wrapped below zero on its own; the
        // batches of one commit sum to what it adds (see `Batch::retract`).
        for batch in &parts {
            self.report.reads_indexed = self.report.reads_indexed.wrapping_add(batch.reads);
            self.report.denied = self.report.denied.wrapping_add(batch.denied);
        }
        self.writer.send_parts(parts, Some(cursor)).await?;
        self.committed = Some(position);
        Ok(())
    }
}

/// What [`Follower::count_chunk`] found in a chunk.
struct Counted {
    lines: u64,
    /// Malformed lines: number in the file, reason.
    malformed: Vec<(u64, String)>,
}

/// One chunk of lines read from a log (into a buffer of the follower's).
struct Chunk {
    /// Lines before it in its file.
    first_line: u64,
    lines: u64,
    /// The end of what is written was reached.
    at_end: bool,
}

impl Chunk {
    /// Read the next chunk of `log` into `buf` (cleared first): at most `max_bytes`
    /// (at a line end) or `max_lines` lines.
    fn read(
        log: &mut LogFile,
        buf: &mut Vec<u8>,
        max_bytes: u64,
        max_lines: u64,
        final_read: bool,
    ) -> std::io::Result<Chunk> {
        let first_line = log.line;
        buf.clear();
        let (lines, at_end) = log.read_lines(buf, max_bytes, max_lines, final_read)?;
        Ok(Chunk {
            first_line,
            lines,
            at_end,
        })
    }
}

fn io(log: &LogFile, source: std::io::Error) -> TrailError {
    TrailError::Io {
        path: log.path.clone(),
        source,
    }
}
