//! Vault audit device lines (file and socket devices write the same JSON lines): one
//! line to an [`Entry`], with the secret access it records, if any.
//!
//! Only the fields that say who read what are deserialized; `request.data` and
//! `response.data` (where a secret value would be, were it not HMAC'd) are skipped by
//! the parser and never kept. HMAC'd strings (`hmac-sha256:…`) are never taken as
//! names, paths or addresses.

use super::event::{
    is_hmac, name_kind, parse_time_ms, plain, Operation, Outcome, Principal, SecretAccess, Source,
};
use serde::Deserialize;
use std::borrow::Cow;

/// One parsed audit line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryKind,
    /// `request.id`: a request line and its response line share it.
    pub request_id: String,
    pub at_ms: i64,
    /// The secret access this line records, if it is one.
    pub access: Option<SecretAccess>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Request,
    Response,
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    auth: Option<Auth<'a>>,
    #[serde(borrow)]
    request: Option<Request<'a>>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Auth<'a> {
    #[serde(borrow)]
    entity_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    display_name: Option<Cow<'a, str>>,
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    username: Option<serde_json::Value>,
    email: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    operation: Option<Cow<'a, str>>,
    #[serde(borrow)]
    path: Option<Cow<'a, str>>,
    #[serde(borrow)]
    mount_point: Option<Cow<'a, str>>,
    #[serde(borrow)]
    mount_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    remote_address: Option<Cow<'a, str>>,
}

/// Parse one line. `Err` is the reason the line is malformed (not JSON, not an audit
/// entry); a well-formed line that records no secret access has `access: None`.
pub fn parse_line(line: &[u8]) -> Result<Entry, String> {
    parse_raw(line).map(RawEntry::into_entry)
}

/// A parsed line whose strings still borrow from the line: what [`parse_line`] gives
/// before anything is copied. A reader that sees the response of a request can drop
/// the request's `RawEntry` without building its access.
pub struct RawEntry<'a> {
    pub kind: EntryKind,
    pub at_ms: i64,
    auth: Option<Auth<'a>>,
    request: Request<'a>,
    denied: bool,
}

impl<'a> RawEntry<'a> {
    /// `request.id`: a request line and its response line share it.
    pub fn request_id(&self) -> &str {
        self.request.id.as_deref().unwrap_or_default()
    }

    /// The entry, with the access it records and all the principal's names.
    pub fn into_entry(self) -> Entry {
        self.into_entry_with(|_| true)
    }

    /// The entry, with the access it records; the principal's names only when
    /// `with_names(identity key)` says so (false: the reader already gave them for
    /// this identity key, and building them again would only be thrown away).
    pub fn into_entry_with(self, with_names: impl FnOnce(&str) -> bool) -> Entry {
        let access = classify(&self.request).and_then(|(secret, operation)| {
            let auth = self.auth.as_ref()?;
            let key = principal_key(auth)?;
            let names = if with_names(&key) {
                principal_names(auth)
            } else {
                Vec::new()
            };
            Some(SecretAccess {
                source: Source::Vault,
                principal: Principal { key, names },
                secret,
                operation,
                at_ms: self.at_ms,
                address: plain(self.request.remote_address.as_deref()).map(str::to_string),
                outcome: if self.denied {
                    Outcome::Denied
                } else {
                    Outcome::Read
                },
            })
        });
        Entry {
            kind: self.kind,
            request_id: self.request_id().to_string(),
            at_ms: self.at_ms,
            access,
        }
    }
}

/// Parse one line without copying its strings; `Err` as [`parse_line`].
pub fn parse_raw(line: &[u8]) -> Result<RawEntry<'_>, String> {
    let parsed: Line = serde_json::from_slice(line).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => format!("not an audit entry: {e}"),
        _ => format!("not JSON: {e}"),
    })?;
    let kind = match parsed.kind.as_deref() {
        Some("request") => EntryKind::Request,
        Some("response") => EntryKind::Response,
        Some(other) => {
            return Err(format!(
                "`type` is `{}`, expected request or response",
                truncate(other)
            ))
        }
        None => return Err("no `type` (request or response)".into()),
    };
    let time = parsed.time.as_deref().ok_or("no `time`")?;
    let at_ms = parse_time_ms(time)
        .ok_or_else(|| format!("`time` `{}` is not an RFC 3339 time", truncate(time)))?;
    let request = parsed.request.ok_or("no `request` object")?;
    let denied = match &parsed.error {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    };
    Ok(RawEntry {
        kind,
        at_ms,
        auth: parsed.auth,
        request,
        denied,
    })
}

fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

/// Which secret a request reads, as a logical path, and how; `None` for anything that
/// is not a secret read.
///
/// - KV v2 (`mount_type` kv, path `<mount>data/<key>`): `read` of `<mount><key>`;
///   `list` of `<mount>metadata/<dir>` is a `list` of `<mount><dir>`; metadata reads
///   are not secret reads.
/// - KV v1 (`kv`/`generic`, any other path under the mount): `read` / `list`.
/// - Dynamic credentials: `read` under `<mount>creds/` or `static-creds/` of a
///   `database` mount, `creds/` or `sts/` of an `aws` mount.
fn classify(request: &Request) -> Option<(String, Operation)> {
    let operation = match request.operation.as_deref()? {
        "read" => Operation::Read,
        "list" => Operation::List,
        _ => return None,
    };
    let path = request.path.as_deref()?;
    if path.is_empty() || is_hmac(path) {
        return None;
    }
    let mount_type = request.mount_type.as_deref().unwrap_or_default();
    let mount = match request.mount_point.as_deref() {
        Some(m) if !m.is_empty() && path.starts_with(m) => m.to_string(),
        // Older lines without mount fields: the first path segment.
        _ => match path.split_once('/') {
            Some((first, _)) => format!("{first}/"),
            None => return None,
        },
    };
    let rel = &path[mount.len()..];
    match mount_type {
        "kv" | "generic" | "" => {
            if mount_type.is_empty() && mount != "secret/" {
                return None;
            }
            if let Some(key) = rel.strip_prefix("data/") {
                (operation == Operation::Read && !key.is_empty())
                    .then(|| (format!("{mount}{key}"), operation))
            } else if let Some(dir) = rel.strip_prefix("metadata/") {
                (operation == Operation::List).then(|| (format!("{mount}{dir}"), operation))
            } else if rel.is_empty() && operation == Operation::Read {
                None
            } else {
                Some((path.to_string(), operation))
            }
        }
        "database" => (operation == Operation::Read
            && (rel.starts_with("creds/") || rel.starts_with("static-creds/")))
        .then(|| (path.to_string(), operation)),
        "aws" => (operation == Operation::Read
            && (rel.starts_with("creds/") || rel.starts_with("sts/")))
        .then(|| (path.to_string(), operation)),
        _ => None,
    }
}

/// The identity behind a request: keyed by entity id, else by display name.
fn principal_key(auth: &Auth) -> Option<String> {
    let entity_id = plain(auth.entity_id.as_deref());
    let display_name = plain(auth.display_name.as_deref());
    match (entity_id, display_name) {
        (Some(id), _) => Some(format!("vault:entity:{id}")),
        (None, Some(name)) => Some(format!("vault:display_name:{name}")),
        (None, None) => None,
    }
}

/// Every name the identity behind a request goes by (lower-cased).
fn principal_names(auth: &Auth) -> Vec<(String, String)> {
    let mut names: Vec<(String, String)> = Vec::with_capacity(5);
    let mut add = |kind: &str, value: &str| {
        let value = value.to_lowercase();
        if !names.iter().any(|(k, v)| k == kind && *v == value) {
            names.push((kind.to_string(), value));
        }
    };
    if let Some(id) = plain(auth.entity_id.as_deref()) {
        add(name_kind::ENTITY_ID, id);
    }
    if let Some(name) = plain(auth.display_name.as_deref()) {
        add(name_kind::DISPLAY_NAME, name);
        // `<auth mount>-<alias name>`: oidc-alice@example.com, userpass-bob.
        if let Some((_, login)) = name.split_once('-') {
            if !login.is_empty() {
                add(name_kind::LOGIN, login);
            }
        }
    }
    if let Some(metadata) = &auth.metadata {
        for value in [&metadata.username, &metadata.email].into_iter().flatten() {
            if let Some(alias) = plain(value.as_str()) {
                add(name_kind::ALIAS, alias);
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(kind: &str, op: &str, path: &str, mount: &str, mount_type: &str) -> String {
        serde_json::json!({
            "time": "2026-11-18T09:14:03.552817Z", "type": kind,
            "auth": {"entity_id": "e-1", "display_name": "oidc-alice@example.com",
                     "metadata": {"username": "alice@example.com"},
                     "client_token": "hmac-sha256:aa"},
            "request": {"id": "r-1", "operation": op, "path": path, "mount_point": mount,
                        "mount_type": mount_type, "remote_address": "10.0.0.1"}
        })
        .to_string()
    }

    fn access(text: &str) -> Option<(String, Operation)> {
        parse_line(text.as_bytes())
            .unwrap()
            .access
            .map(|a| (a.secret, a.operation))
    }

    #[test]
    fn kv_paths_are_normalised() {
        let read = |p: &str, m: &str, t: &str| access(&line("response", "read", p, m, t));
        assert_eq!(
            read("secret/data/payments/db", "secret/", "kv"),
            Some(("secret/payments/db".into(), Operation::Read))
        );
        assert_eq!(
            read("kv1/app/token", "kv1/", "kv"),
            Some(("kv1/app/token".into(), Operation::Read))
        );
        assert_eq!(read("secret/metadata/payments/db", "secret/", "kv"), None);
        assert_eq!(
            access(&line(
                "response",
                "list",
                "secret/metadata/infra/",
                "secret/",
                "kv"
            )),
            Some(("secret/infra/".into(), Operation::List))
        );
        assert_eq!(
            read("database/creds/readonly", "database/", "database"),
            Some(("database/creds/readonly".into(), Operation::Read))
        );
        assert_eq!(
            read("aws/creds/deploy", "aws/", "aws"),
            Some(("aws/creds/deploy".into(), Operation::Read))
        );
        assert_eq!(read("database/config/pg", "database/", "database"), None);
        assert_eq!(
            read(
                "sys/internal/ui/mounts/secret/payments/db",
                "sys/",
                "system"
            ),
            None
        );
        assert_eq!(
            access(&line(
                "response",
                "update",
                "secret/data/x",
                "secret/",
                "kv"
            )),
            None
        );
    }

    #[test]
    fn names_skip_hmac_values() {
        let text = serde_json::json!({
            "time": "2026-11-18T09:14:03Z", "type": "response",
            "auth": {"entity_id": "hmac-sha256:0011", "display_name": "hmac-sha256:2233",
                     "metadata": {"username": "hmac-sha256:4455"}},
            "request": {"id": "r", "operation": "read", "path": "secret/data/a",
                        "mount_point": "secret/", "mount_type": "kv",
                        "remote_address": "hmac-sha256:6677"}
        })
        .to_string();
        let entry = parse_line(text.as_bytes()).unwrap();
        assert!(entry.access.is_none(), "no plain identity: nothing indexed");
        let access =
            parse_line(line("response", "read", "secret/data/a", "secret/", "kv").as_bytes())
                .unwrap()
                .access
                .unwrap();
        assert_eq!(access.principal.key, "vault:entity:e-1");
        assert!(access
            .principal
            .names
            .contains(&("login".into(), "alice@example.com".into())));
        assert!(access
            .principal
            .names
            .contains(&("alias".into(), "alice@example.com".into())));
    }

    #[test]
    fn malformed_lines_say_why() {
        assert!(parse_line(b"{not json")
            .unwrap_err()
            .starts_with("not JSON"));
        assert!(
            parse_line(br#"{"type":"other","time":"2026-01-01T00:00:00Z","request":{}}"#)
                .unwrap_err()
                .contains("expected request or response")
        );
        assert!(
            parse_line(br#"{"type":"request","time":"yesterday","request":{}}"#)
                .unwrap_err()
                .contains("RFC 3339")
        );
    }
}
