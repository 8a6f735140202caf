//! One Vault audit log line, and one CloudTrail record (the audit trail's parsers).
//! A Vault line must read the same through the skimming reader as through serde_json
//! alone (same entry, or same error); several lines must come to the same read as an
//! ingest reads them (requests answered by their shape) and one by one.
#![no_main]

use leaver::trail::{cloudtrail, differential, vault};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    assert_eq!(
        vault::parse_line(data),
        vault::parse_line_with_serde_json(data)
    );
    if data.contains(&b'\n') {
        assert_eq!(
            differential::read_by_chunk(data),
            differential::read_line_by_line(data)
        );
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = cloudtrail::parse_record(&value);
        if let Some(records) = value.get("Records").and_then(|r| r.as_array()) {
            for record in records {
                let _ = cloudtrail::parse_record(record);
            }
        }
    }
});
