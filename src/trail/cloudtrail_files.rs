//! CloudTrail log files (`{"Records": [...]}`, gzip-compressed as CloudTrail delivers
//! them or plain), one file or a directory tree of them. CloudTrail files are written
//! once: each file's records are indexed with a cursor marking the file done, in one
//! transaction, so a re-run skips what was indexed and an interrupted run redoes only
//! the file it was in.

use super::batch::Batch;
use super::cloudtrail::parse_record;
use super::logfile::file_id;
use super::report::IngestReport;
use super::{Progress, TrailError};
use crate::store::{Store, TrailCursor, TrailTerms};
use serde::Deserialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Deserialize)]
struct LogFile {
    #[serde(rename = "Records")]
    records: Vec<serde_json::Value>,
}

/// The files to read under `path`: the file itself, or every `.json` / `.json.gz` in
/// the tree (CloudTrail digest files left out), in name order.
pub fn list_files(path: &Path) -> Result<Vec<PathBuf>, TrailError> {
    let io = |source| TrailError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| TrailError::Io {
            path: dir.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let p = entry.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if p.is_dir() {
                if name != "CloudTrail-Digest" {
                    dirs.push(p);
                }
            } else if name.ends_with(".json") || name.ends_with(".json.gz") {
                files.push(p);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Ingest a CloudTrail file or directory.
pub async fn ingest_cloudtrail(
    store: &Store,
    path: &Path,
    progress: &dyn Progress,
) -> Result<IngestReport, TrailError> {
    let started = Instant::now();
    let mut report = IngestReport::default();
    let files = list_files(path)?;
    let total: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    progress.file(path, total);
    for file in files {
        ingest_file(store, &file, &mut report).await?;
        progress.advance(std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0));
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

async fn ingest_file(
    store: &Store,
    path: &Path,
    report: &mut IngestReport,
) -> Result<(), TrailError> {
    let io = |source| TrailError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let name = format!("cloudtrail-file:{}", absolute.display());
    let id = file_id(&meta);
    let len = meta.len() as i64;
    if let Some(cursor) = store.trail_cursor(&name).await? {
        if cursor.file_id == id && cursor.offset == len {
            report.skipped_files += 1;
            return Ok(());
        }
    }
    let display = path.display().to_string();
    report.files.push(display.clone());
    report.lines += 1;
    report.bytes += meta.len();
    let raw = std::fs::read(path).map_err(io)?;
    let mut batch = Batch::default();
    match gunzip(raw)
        .map_err(|e| format!("cannot decompress: {e}"))
        .and_then(|bytes| {
            serde_json::from_slice::<LogFile>(&bytes).map_err(|error| {
                format!("not a CloudTrail log file ({{\"Records\": [...]}}): {error}")
            })
        }) {
        Ok(file) => {
            for (index, record) in file.records.iter().enumerate() {
                match parse_record(record) {
                    Ok(accesses) => {
                        report.records += 1;
                        for access in &accesses {
                            batch.add(access);
                        }
                    }
                    Err(reason) => report.malformed(&display, index as u64 + 1, reason),
                }
            }
        }
        Err(reason) => report.malformed(&display, 0, reason),
    }
    let cursor = TrailCursor {
        name,
        file_id: id,
        offset: len,
        line: 0,
        state: "{}".into(),
    };
    store
        .trail_commit(
            std::slice::from_ref(&batch),
            Some(&cursor),
            &mut TrailTerms::default(),
        )
        .await?;
    report.reads_indexed += batch.reads;
    report.denied += batch.denied;
    Ok(())
}

/// The file's bytes, gunzipped when they start with the gzip magic number.
fn gunzip(raw: Vec<u8>) -> std::io::Result<Vec<u8>> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 8);
        flate2::read::MultiGzDecoder::new(raw.as_slice()).read_to_end(&mut out)?;
        Ok(out)
    } else {
        Ok(raw)
    }
}
