//! An Okta event hook delivery body to the events it would start (the pure part of
//! `POST /hooks/okta`: parse, then map each event to an `IdpEvent`).
#![no_main]

use leaver::intake::okta;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(delivery) = okta::parse_delivery(data) else {
        return;
    };
    for event in &delivery.data.events {
        let _ = okta::trigger_for(&event.event_type);
        let _ = okta::to_idp_event_for(event, Some("0oaleaversvc000001"));
        let _ = okta::to_idp_event(event);
    }
});
