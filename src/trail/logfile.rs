//! One open log file read in lines from a byte offset: its identity (device and
//! inode), a fingerprint of its head (to tell a truncated or replaced file from the
//! one the cursor points into), and complete lines only — a line still being written
//! (no newline yet) is left for the next read.

use super::mapped::Mapped;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Bytes of a file's head that identify its content (a few whole audit lines, each
/// with its time and request id).
pub const HEAD_BYTES: u64 = 4096;

/// Bytes read from the file at a time: lines are cut out of these blocks in place
/// (one copy from the page cache, no per-line reads).
const BLOCK: usize = 1 << 20;

#[derive(Debug)]
pub struct LogFile {
    pub path: PathBuf,
    pub id: String,
    file: File,
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
            file,
            offset: 0,
            line: 0,
        })
    }

    pub fn len(&self) -> std::io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    pub fn is_empty(&self) -> std::io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Continue from `offset` (at a line start), numbering lines after `line`.
    pub fn seek(&mut self, offset: u64, line: u64) {
        self.offset = offset;
        self.line = line;
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
        let base = buf.len();
        let mut lines = 0;
        // Bytes (after `base`) of the complete lines taken, and of those searched for
        // a newline.
        let (mut taken, mut searched) = (0usize, 0usize);
        let mut at_end = false;
        loop {
            while lines < max_lines && (taken as u64) < max_bytes {
                match memchr::memchr(b'\n', &buf[base + searched..]) {
                    Some(i) => {
                        searched += i + 1;
                        taken = searched;
                        lines += 1;
                    }
                    None => {
                        searched = buf.len() - base;
                        break;
                    }
                }
            }
            if at_end || lines >= max_lines || taken as u64 >= max_bytes {
                break;
            }
            let position = self.offset + (buf.len() - base) as u64;
            let n = append_at(&self.file, buf, BLOCK, position)?;
            at_end = n == 0;
        }
        let reached_end = at_end && lines < max_lines && (taken as u64) < max_bytes;
        if reached_end && base + taken < buf.len() {
            // A last line without its newline: not written to the end yet, unless this
            // is the final read and it is a whole JSON value.
            let rest = &buf[base + taken..];
            if final_read && serde_json::from_slice::<serde::de::IgnoredAny>(rest).is_ok() {
                taken = buf.len() - base;
                lines += 1;
            }
        }
        // What was read past the lines taken is read again next time.
        buf.truncate(base + taken);
        self.offset += taken as u64;
        self.line += lines;
        Ok((lines, reached_end))
    }

    /// Map `len` bytes from `offset` (see [`Mapped`]); `None` where they cannot be
    /// mapped and guarded: read them.
    pub fn map(&self, len: u64) -> Option<Mapped> {
        Mapped::map(&self.file, self.offset, usize::try_from(len).ok()?)
    }

    /// SHA-256 (hex) of the first `len` bytes, or None when the file is shorter.
    pub fn head_digest(&self, len: u64) -> std::io::Result<Option<String>> {
        head_digest(&self.file, len)
    }
}

/// Append up to `len` bytes from `offset` of `file` to `buf`; the bytes appended (0 at
/// the end of the file). Read straight into `buf`'s spare room, which is not zeroed
/// first (that cost as much as a tenth of an ingest's reading).
fn append_at(
    mut file: &File,
    buf: &mut Vec<u8>,
    len: usize,
    offset: u64,
) -> std::io::Result<usize> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    buf.reserve(len);
    file.take(len as u64).read_to_end(buf)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of `len` bytes (newline included), numbered in their first bytes.
    fn lines(count: usize, len: usize) -> Vec<u8> {
        let mut text = Vec::new();
        for n in 0..count {
            let mut line = format!("{{\"n\":{n},\"pad\":\"");
            line.push_str(&"x".repeat(len - line.len() - 3));
            line.push_str("\"}\n");
            text.extend_from_slice(line.as_bytes());
        }
        text
    }

    #[test]
    fn lines_are_cut_across_read_blocks_by_count_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        // 3,000 lines of 1,000 bytes: the 1 MiB read blocks end inside lines.
        let text = lines(3_000, 1_000);
        std::fs::write(&path, &text).unwrap();
        let mut log = LogFile::open(&path).unwrap();
        let mut buf = Vec::new();

        assert_eq!(
            log.read_lines(&mut buf, u64::MAX, 7, false).unwrap(),
            (7, false)
        );
        assert_eq!(buf, &text[..7_000]);
        assert_eq!((log.offset, log.line), (7_000, 7));

        // At least 1.5 MiB: whole lines only, the first at or past the budget ends it.
        buf.clear();
        let (n, end) = log
            .read_lines(&mut buf, 1_572_864, u64::MAX, false)
            .unwrap();
        assert_eq!((n, end), (1_573, false));
        assert_eq!(buf, &text[7_000..1_580_000]);

        buf.clear();
        let (n, end) = log.read_lines(&mut buf, u64::MAX, u64::MAX, false).unwrap();
        assert_eq!((n, end), (1_420, true));
        assert_eq!(buf, &text[1_580_000..]);
        assert_eq!((log.offset, log.line), (3_000_000, 3_000));
    }

    #[test]
    fn a_last_line_without_newline_waits_unless_final_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, b"{\"a\":1}\n{\"b\":2}").unwrap();
        let mut log = LogFile::open(&path).unwrap();
        let mut buf = Vec::new();
        assert_eq!(
            log.read_lines(&mut buf, u64::MAX, u64::MAX, false).unwrap(),
            (1, true)
        );
        assert_eq!(buf, b"{\"a\":1}\n");
        buf.clear();
        assert_eq!(
            log.read_lines(&mut buf, u64::MAX, u64::MAX, true).unwrap(),
            (1, true)
        );
        assert_eq!(buf, b"{\"b\":2}");
        assert_eq!((log.offset, log.line), (15, 2));

        std::fs::write(&path, b"{\"a\":1}\n{\"b\":").unwrap();
        let mut log = LogFile::open(&path).unwrap();
        buf.clear();
        assert_eq!(
            log.read_lines(&mut buf, u64::MAX, u64::MAX, true).unwrap(),
            (1, true)
        );
        assert_eq!(
            log.offset, 8,
            "a half-written line is left for the next read"
        );
    }
}
