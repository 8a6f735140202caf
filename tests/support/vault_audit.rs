//! Audit lines as Vault's file audit device writes them, for tests that ingest reads.

use serde_json::json;

/// An RFC 3339 time `offset_s` seconds ago.
pub fn now_rfc3339(offset_s: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::seconds(offset_s))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A KV v2 read by `email` as Vault's file audit device logs it: the request and its
/// response (same `request.id`), values HMAC'd.
pub fn vault_read(email: &str, entity: &str, path: &str, id: &str) -> String {
    let auth = json!({
        "client_token": "hmac-sha256:5b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c",
        "accessor": "hmac-sha256:a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00",
        "display_name": format!("oidc-{email}"),
        "policies": ["default", "payments-read"],
        "metadata": {"role": "engineer"},
        "entity_id": entity,
        "token_type": "service",
    });
    let request = json!({
        "id": id, "client_id": entity, "operation": "read",
        "mount_point": "secret/", "mount_type": "kv", "mount_class": "secret",
        "namespace": {"id": "root"}, "path": path,
        "remote_address": "10.20.3.17", "remote_port": 51522,
    });
    let req = json!({"time": now_rfc3339(60), "type": "request", "auth": auth, "request": request});
    let resp = json!({"time": now_rfc3339(59), "type": "response", "auth": auth, "request": request,
        "response": {"mount_point": "secret/", "mount_type": "kv",
            "data": {"data": {"api_key": "hmac-sha256:0f9e8d7c6b5a49382716050f4e3d2c1b0a99887766554433221100ffeeddccbb"},
                     "metadata": {"version": 1}}}});
    format!("{req}\n{resp}\n")
}
