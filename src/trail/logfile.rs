//! One open log file read line by line from a byte offset: its identity (device and
//! inode), a fingerprint of its head (to tell a truncated or replaced file from the
//! one the cursor points into), and complete lines only — a line still being written
//! (no newline yet) is left for the next read.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Bytes of a file's head that identify its content (a few whole audit lines, each
/// with its time and request id).
pub const HEAD_BYTES: u64 = 4096;

#[derive(Debug)]
pub struct LogFile {
    pub path: PathBuf,
    pub id: String,
    reader: BufReader<File>,
    /// Byte offset of the next unread line.
    pub offset: u64,
    /// Complete lines before `offset`.
    pub line: u64,
}

/// `dev:inode` of a file.
#[cfg(unix)]
pub fn file_id(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!("{}:{}", meta.dev(), meta.ino())
}

#[cfg(not(unix))]
pub fn file_id(meta: &std::fs::Metadata) -> String {
    format!("len:{}", meta.len())
}

impl LogFile {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let id = file_id(&file.metadata()?);
        Ok(Self {
            path: path.to_path_buf(),
            id,
            reader: BufReader::with_capacity(1 << 20, file),
            offset: 0,
            line: 0,
        })
    }

    pub fn len(&self) -> std::io::Result<u64> {
        Ok(self.reader.get_ref().metadata()?.len())
    }

    pub fn is_empty(&self) -> std::io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Continue from `offset` (at a line start), numbering lines after `line`.
    pub fn seek(&mut self, offset: u64, line: u64) -> std::io::Result<()> {
        self.reader.seek(SeekFrom::Start(offset))?;
        self.offset = offset;
        self.line = line;
        Ok(())
    }

    /// Append complete lines to `buf` (newlines kept) until `max_lines` lines or at
    /// least `max_bytes` bytes were read, or the end of what is written; returns the
    /// lines read and whether the end was reached. A trailing line without its
    /// newline is taken only when `final_read` is set and it is a complete JSON value
    /// (the writer is done with it).
    pub fn read_lines(
        &mut self,
        buf: &mut Vec<u8>,
        max_bytes: u64,
        max_lines: u64,
        final_read: bool,
    ) -> std::io::Result<(u64, bool)> {
        let start = self.offset;
        let mut lines = 0;
        while lines < max_lines && self.offset - start < max_bytes {
            let before = buf.len();
            let n = self.reader.read_until(b'\n', buf)?;
            if n == 0 {
                return Ok((lines, true));
            }
            if buf.last() != Some(&b'\n') {
                let complete = final_read
                    && serde_json::from_slice::<serde::de::IgnoredAny>(&buf[before..]).is_ok();
                if !complete {
                    // Not written to the end yet: read it again next time.
                    self.reader.seek(SeekFrom::Start(self.offset))?;
                    buf.truncate(before);
                    return Ok((lines, true));
                }
            }
            self.offset += n as u64;
            self.line += 1;
            lines += 1;
        }
        Ok((lines, false))
    }

    /// SHA-256 (hex) of the first `len` bytes, or None when the file is shorter.
    pub fn head_digest(&self, len: u64) -> std::io::Result<Option<String>> {
        head_digest(self.reader.get_ref(), len)
    }
}

#[cfg(unix)]
fn head_digest(file: &File, len: u64) -> std::io::Result<Option<String>> {
    use std::os::unix::fs::FileExt;
    let mut head = vec![0u8; len as usize];
    let mut done = 0;
    while done < head.len() {
        let n = file.read_at(&mut head[done..], done as u64)?;
        if n == 0 {
            return Ok(None);
        }
        done += n;
    }
    Ok(Some(hex::encode(Sha256::digest(&head))))
}

#[cfg(not(unix))]
fn head_digest(_file: &File, _len: u64) -> std::io::Result<Option<String>> {
    Ok(None)
}

/// The file in `dir` whose identity is `id` (a rotated log under its new name).
pub fn find_by_id(dir: &Path, id: &str, except: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path != except)
        .find(|path| {
            std::fs::metadata(path)
                .map(|meta| meta.is_file() && file_id(&meta) == id)
                .unwrap_or(false)
        })
}
