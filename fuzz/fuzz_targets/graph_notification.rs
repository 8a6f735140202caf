//! A Microsoft Graph change-notification batch (`POST /hooks/entra`) to what each item
//! means: a user change, a lifecycle event, or nothing.
#![no_main]

use leaver::intake::entra;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = entra::parse_batch(data) else {
        return;
    };
    for item in &batch.value {
        let _ = entra::classify(item);
    }
});
