//! What one ingest did: counts, the malformed lines (the first few with their line
//! numbers), rotations and truncations followed, throughput.

use serde::Serialize;
use std::time::Duration;

/// How many malformed lines are kept with their reason; the rest are only counted.
pub const MALFORMED_KEPT: usize = 20;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Malformed {
    pub file: String,
    /// 1-based line number (CloudTrail: the record's index in `Records`, 1-based).
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct IngestReport {
    pub files: Vec<String>,
    /// Lines read (Vault) — CloudTrail: files read.
    pub lines: u64,
    /// Well-formed entries (Vault lines, CloudTrail records).
    pub records: u64,
    /// Successful secret reads indexed.
    pub reads_indexed: u64,
    /// Failed attempts indexed separately (Vault error, CloudTrail errorCode).
    pub denied: u64,
    pub malformed: u64,
    pub malformed_samples: Vec<Malformed>,
    pub bytes: u64,
    pub rotations: u64,
    pub truncations: u64,
    /// Files skipped because they were already indexed (CloudTrail).
    pub skipped_files: u64,
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub elapsed: Duration,
}

impl IngestReport {
    pub fn malformed(&mut self, file: &str, line: u64, reason: String) {
        self.malformed += 1;
        if self.malformed_samples.len() < MALFORMED_KEPT {
            self.malformed_samples.push(Malformed {
                file: file.to_string(),
                line,
                reason,
            });
        }
    }

    pub fn bytes_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.bytes as f64 / secs
        } else {
            0.0
        }
    }

    /// The human summary the CLI prints.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{} lines, {} records, {} reads indexed, {} denied, {} malformed; {} bytes in {:.2}s ({:.1} MB/s)\n",
            self.lines,
            self.records,
            self.reads_indexed,
            self.denied,
            self.malformed,
            self.bytes,
            self.elapsed.as_secs_f64(),
            self.bytes_per_second() / 1e6
        );
        if self.rotations > 0 || self.truncations > 0 {
            text.push_str(&format!(
                "followed {} rotation(s), {} truncation(s)\n",
                self.rotations, self.truncations
            ));
        }
        if self.skipped_files > 0 {
            text.push_str(&format!(
                "{} file(s) already indexed, skipped\n",
                self.skipped_files
            ));
        }
        for m in &self.malformed_samples {
            text.push_str(&format!("malformed: {}:{}: {}\n", m.file, m.line, m.reason));
        }
        if self.malformed > self.malformed_samples.len() as u64 {
            text.push_str(&format!(
                "… and {} more malformed\n",
                self.malformed - self.malformed_samples.len() as u64
            ));
        }
        for w in &self.warnings {
            text.push_str(&format!("warning: {w}\n"));
        }
        text
    }
}
