//! One Vault audit log line, and one CloudTrail record (the audit trail's parsers).
#![no_main]

use leaver::trail::{cloudtrail, vault};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vault::parse_line(data);
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = cloudtrail::parse_record(&value);
        if let Some(records) = value.get("Records").and_then(|r| r.as_array()) {
            for record in records {
                let _ = cloudtrail::parse_record(record);
            }
        }
    }
});
