//! SCIM request bodies: a User (POST/PUT) normalized, and a PatchOp parsed and applied
//! to a stored user, then the `active` interpretation and the identity it names.
#![no_main]

use leaver::intake::scim::{filter, patch, resource};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fn inspect(user: &Value) {
    let _ = resource::is_active(user);
    let _ = resource::user_name(user);
    let _ = resource::external_id(user);
    let _ = resource::identity("2819c223-7f76-453a-919d-413861904646", user, "entra");
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        // Not JSON: still a filter or a PATCH path, as the query string carries them.
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = filter::parse(text);
            let _ = filter::parse_patch_path(text);
        }
        return;
    };
    if let Ok(user) = resource::normalize_user(&body) {
        inspect(&user);
    }
    if let Ok(operations) = patch::parse(&body) {
        let stored = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "alice@example.com",
            "externalId": "00u1alice",
            "active": true,
            "name": {"givenName": "Alice", "familyName": "Example"},
            "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
        });
        let stored = resource::normalize_user(&stored).expect("the stored user is valid");
        if let Ok(after) = patch::apply(&stored, &operations) {
            inspect(&after);
        }
    }
});
