//! Vault audit device lines (file and socket devices write the same JSON lines): one
//! line to an [`Entry`], with the secret access it records, if any.
//!
//! Only the fields that say who read what are deserialized; `request.data` and
//! `response.data` (where a secret value would be, were it not HMAC'd) are skipped by
//! the parser and never kept. HMAC'd strings (`hmac-sha256:…`) are never taken as
//! names, paths or addresses.

use super::batch::{Batch, NamesGiven, Read};
use super::event::{
    is_hmac, name_kind, parse_time_ms, plain, Operation, Outcome, Principal, SecretAccess, Source,
};
use super::skim;
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

/// The fields of a line that say who read what, however the line was read.
#[derive(Debug, Default)]
pub(super) struct Fields<'a> {
    pub kind: Option<Cow<'a, str>>,
    pub time: Option<Cow<'a, str>>,
    pub auth: Option<Auth<'a>>,
    pub request: Option<Request<'a>>,
    /// `error` is there (not null, not empty).
    pub denied: bool,
    /// Where the line's `auth` member begins and the `request` member right after it
    /// ends (the skimming reader says; serde_json does not): the bytes a response line
    /// repeats of its request line.
    pub shared: Option<&'a [u8]>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Auth<'a> {
    pub entity_id: Option<Cow<'a, str>>,
    pub display_name: Option<Cow<'a, str>>,
    /// `metadata.username` and `metadata.email`, when strings.
    pub username: Option<Cow<'a, str>>,
    pub email: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
pub(super) struct Request<'a> {
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub operation: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub path: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub mount_point: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub mount_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub remote_address: Option<Cow<'a, str>>,
}

/// The line as serde_json reads it (when the skimming reader leaves it).
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    auth: Option<LineAuth<'a>>,
    #[serde(borrow)]
    request: Option<Request<'a>>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct LineAuth<'a> {
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

impl<'a> Line<'a> {
    fn into_fields(self) -> Fields<'a> {
        let string = |value: Option<serde_json::Value>| match value {
            Some(serde_json::Value::String(text)) => Some(Cow::Owned(text)),
            _ => None,
        };
        Fields {
            kind: self.kind,
            time: self.time,
            auth: self.auth.map(|auth| {
                let (username, email) = match auth.metadata {
                    Some(metadata) => (string(metadata.username), string(metadata.email)),
                    None => (None, None),
                };
                Auth {
                    entity_id: auth.entity_id,
                    display_name: auth.display_name,
                    username,
                    email,
                }
            }),
            request: self.request,
            denied: match &self.error {
                None | Some(serde_json::Value::Null) => false,
                Some(serde_json::Value::String(s)) => !s.is_empty(),
                Some(_) => true,
            },
            shared: None,
        }
    }
}

/// Parse one line. `Err` is the reason the line is malformed (not JSON, not an audit
/// entry); a well-formed line that records no secret access has `access: None`.
pub fn parse_line(line: &[u8]) -> Result<Entry, String> {
    parse_raw(line).map(RawEntry::into_entry)
}

/// [`parse_line`] with serde_json reading every line (no skimming): what the fast
/// path must always agree with (tests and the fuzz target compare them).
#[doc(hidden)]
pub fn parse_line_with_serde_json(line: &[u8]) -> Result<Entry, String> {
    serde_line(line)
        .and_then(entry_of)
        .map(RawEntry::into_entry)
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
    /// The line's `auth` and `request` members, when the skimming reader found the
    /// one right after the other (see [`Fields::shared`]).
    shared: Option<&'a [u8]>,
}

impl<'a> RawEntry<'a> {
    /// The line's `auth` member and the `request` member right after it, as written,
    /// when the skimming reader read the line: a request line that holds the same
    /// bytes is this entry's request (see `chunk`).
    pub fn shared(&self) -> Option<&'a [u8]> {
        self.shared
    }

    /// `request.id`: a request line and its response line share it.
    pub fn request_id(&self) -> &str {
        self.request.id.as_deref().unwrap_or_default()
    }

    /// `request.id`, given away.
    pub fn into_request_id(self) -> Cow<'a, str> {
        self.request.id.unwrap_or_default()
    }

    /// The entry, with the access it records and all the principal's names.
    pub fn into_entry(self) -> Entry {
        let mut text = AccessText::default();
        let access = self.read(&mut text).map(|(read, auth)| SecretAccess {
            source: read.source,
            principal: Principal {
                key: read.identity_key.to_string(),
                names: principal_names(auth),
            },
            secret: read.secret.to_string(),
            operation: read.operation,
            at_ms: read.at_ms,
            address: read.address.map(str::to_string),
            outcome: read.outcome,
        });
        Entry {
            kind: self.kind,
            request_id: self.request_id().to_string(),
            at_ms: self.at_ms,
            access,
        }
    }

    /// The secret access this entry records, if any (its identity key and secret
    /// written into `text`), with the `auth` its names come from.
    fn read<'s>(&'s self, text: &'s mut AccessText) -> Option<(Read<'s>, &'s Auth<'a>)> {
        let operation = classify_into(&self.request, &mut text.secret)?;
        let auth = self.auth.as_ref()?;
        if !principal_key_into(auth, &mut text.key) {
            return None;
        }
        let read = Read {
            identity_key: &text.key,
            source: Source::Vault,
            secret: &text.secret,
            address: plain(self.request.remote_address.as_deref()),
            operation,
            at_ms: self.at_ms,
            outcome: if self.denied {
                Outcome::Denied
            } else {
                Outcome::Read
            },
        };
        Some((read, auth))
    }
}

/// An access's identity key and secret path, built in place.
#[derive(Debug, Default)]
struct AccessText {
    key: String,
    secret: String,
}

/// Room to build an access's text in, kept from one line to the next (so that
/// counting a read allocates nothing), and the name sources whose names were given
/// since the reader started with it.
#[derive(Debug, Default)]
pub struct Scratch {
    text: AccessText,
    names_source: String,
    given: NamesGiven,
}

impl Scratch {
    /// The name sources whose names [`RawEntry::record_into`] gave.
    pub fn into_given(self) -> NamesGiven {
        self.given
    }
}

impl RawEntry<'_> {
    /// Count the access this entry records, if any, in `batch`, with the identity's
    /// names unless `given` or `scratch` says they were given already (for the same
    /// entity id, display name and aliases): [`RawEntry::into_entry`] added to a batch,
    /// without building the entry. Returns whether the entry records an access.
    pub fn record_into(
        &self,
        batch: &mut Batch,
        scratch: &mut Scratch,
        given: &NamesGiven,
    ) -> bool {
        let Some((read, auth)) = self.read(&mut scratch.text) else {
            return false;
        };
        let source = &mut scratch.names_source;
        source.clear();
        source.push_str(read.identity_key);
        for value in [&auth.display_name, &auth.username, &auth.email] {
            source.push('\0');
            source.push_str(value.as_deref().unwrap_or_default());
        }
        let identity = batch.identity(read.identity_key);
        // Most reads are by an identity whose names this batch has already made sure
        // of, under the same source: one comparison instead of two set lookups.
        if !batch.names_checked(identity, source) {
            if !given.contains(source) && !scratch.given.contains(source) {
                batch.add_names(read.identity_key, Source::Vault, principal_names(auth));
                scratch.given.insert(source);
            }
            batch.set_names_checked(identity, source);
        }
        batch.record_as(identity, read);
        true
    }
}

/// Parse one line without copying its strings; `Err` as [`parse_line`].
pub fn parse_raw(line: &[u8]) -> Result<RawEntry<'_>, String> {
    let parsed = match skim::fields(line) {
        Some(fields) => fields,
        None => serde_line(line)?,
    };
    entry_of(parsed)
}

/// The line's fields as serde_json reads them.
fn serde_line(line: &[u8]) -> Result<Fields<'_>, String> {
    serde_json::from_slice::<Line>(line)
        .map(Line::into_fields)
        .map_err(|e| match e.classify() {
            serde_json::error::Category::Data => format!("not an audit entry: {e}"),
            _ => format!("not JSON: {e}"),
        })
}

fn entry_of(parsed: Fields<'_>) -> Result<RawEntry<'_>, String> {
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
    Ok(RawEntry {
        kind,
        at_ms,
        auth: parsed.auth,
        request,
        denied: parsed.denied,
        shared: parsed.shared,
    })
}

fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

/// Which secret a request reads, as a logical path (written into `secret`, cleared
/// first), and how; `None` for anything that is not a secret read.
///
/// - KV v2 (`mount_type` kv, path `<mount>data/<key>`): `read` of `<mount><key>`;
///   `list` of `<mount>metadata/<dir>` is a `list` of `<mount><dir>`; metadata reads
///   are not secret reads.
/// - KV v1 (`kv`/`generic`, any other path under the mount): `read` / `list`.
/// - Dynamic credentials: `read` under `<mount>creds/` or `static-creds/` of a
///   `database` mount, `creds/` or `sts/` of an `aws` mount.
fn classify_into(request: &Request, secret: &mut String) -> Option<Operation> {
    secret.clear();
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
        Some(m) if !m.is_empty() && path.starts_with(m) => m,
        // Older lines without mount fields: the first path segment.
        _ => match path.find('/') {
            Some(slash) => &path[..=slash],
            None => return None,
        },
    };
    let rel = &path[mount.len()..];
    let under = |prefixes: &[&str]| prefixes.iter().any(|p| rel.starts_with(p));
    match mount_type {
        "kv" | "generic" | "" => {
            if mount_type.is_empty() && mount != "secret/" {
                return None;
            }
            if let Some(key) = rel.strip_prefix("data/") {
                if operation != Operation::Read || key.is_empty() {
                    return None;
                }
                secret.push_str(mount);
                secret.push_str(key);
            } else if let Some(dir) = rel.strip_prefix("metadata/") {
                if operation != Operation::List {
                    return None;
                }
                secret.push_str(mount);
                secret.push_str(dir);
            } else if rel.is_empty() && operation == Operation::Read {
                return None;
            } else {
                secret.push_str(path);
            }
        }
        "database" if operation == Operation::Read && under(&["creds/", "static-creds/"]) => {
            secret.push_str(path)
        }
        "aws" if operation == Operation::Read && under(&["creds/", "sts/"]) => {
            secret.push_str(path)
        }
        _ => return None,
    }
    Some(operation)
}

/// The identity behind a request, keyed by entity id, else by display name, written
/// into `key` (cleared first); false when there is none.
fn principal_key_into(auth: &Auth, key: &mut String) -> bool {
    key.clear();
    let entity_id = plain(auth.entity_id.as_deref());
    let display_name = plain(auth.display_name.as_deref());
    match (entity_id, display_name) {
        (Some(id), _) => {
            key.push_str("vault:entity:");
            key.push_str(id);
        }
        (None, Some(name)) => {
            key.push_str("vault:display_name:");
            key.push_str(name);
        }
        (None, None) => return false,
    }
    true
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
    for value in [&auth.username, &auth.email].into_iter().flatten() {
        if let Some(alias) = plain(Some(value)) {
            add(name_kind::ALIAS, alias);
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

    /// Lines as Vault writes them, and with odd but valid JSON.
    fn samples() -> Vec<String> {
        let full = r#"{"time":"2026-11-18T09:14:03.552817Z","type":"response","auth":{"accessor":"hmac-sha256:1f","client_token":"hmac-sha256:2e","display_name":"oidc-alice@example.com","entity_id":"e-1","metadata":{"role":"default","username":"alice@example.com"},"policies":["default"],"token_ttl":3600},"request":{"id":"r-1","operation":"read","mount_point":"secret/","mount_type":"kv","path":"secret/data/payments/db","remote_address":"10.0.0.1","remote_port":51234,"namespace":{"id":"root"},"data":null},"response":{"data":{"data":{"password":"hmac-sha256:3d"},"metadata":{"version":3}}},"error":""}"#;
        vec![
            full.to_string(),
            full.replace(r#""error":"""#, r#""error":"permission denied""#),
            full.replace(r#""type":"response""#, r#""type":"request""#),
            r#" { "type" : "request" , "time":"2026-11-18T09:14:03Z", "request" : { "id" : "r-2", "operation":"list", "path":"secret/metadata/infra/", "mount_type":"kv", "mount_point":"secret/", "x": [ 1 , -0.5e-3 , 0 , 12E+2 , true , false , null , "a\"\\\/\b\f\n\r\t\u00e9" , { } , [ ] ] } , "auth":{"display_name":"userpass-bob","entity_id":null,"metadata":{"email":"Bob@Example.com"}} } "#.to_string(),
            r#"{"type":"response","time":"2026-11-18T09:14:03Z","auth":null,"request":{"id":"r-3","operation":"read","path":"database/creds/ro","mount_type":"database","mount_point":"database/"},"error":{"code":403}}"#.to_string(),
        ]
    }

    /// A read counted into a batch brings its identity's names the first time they
    /// are seen under a name source (key, display name, aliases), in this batch or
    /// before; a changed alias is a new source and brings its names.
    #[test]
    fn reads_bring_an_identity_names_once_per_name_source() {
        let response = |id: &str, username: &str| {
            serde_json::json!({
                "time": "2026-11-18T09:14:03Z", "type": "response",
                "auth": {"entity_id": id, "display_name": "oidc-x",
                         "metadata": {"username": username}},
                "request": {"id": "r", "operation": "read", "path": "secret/data/a",
                            "mount_point": "secret/", "mount_type": "kv"}
            })
            .to_string()
        };
        let names = |batch: &Batch, id: &str| {
            let key = format!("vault:entity:{id}");
            batch.names.get(&key).map(|(_, names)| names.len())
        };
        let record = |batch: &mut Batch, scratch: &mut Scratch, given: &NamesGiven, line: &str| {
            parse_raw(line.as_bytes())
                .expect("line")
                .record_into(batch, scratch, given)
        };
        let (mut batch, mut scratch) = (Batch::default(), Scratch::default());
        let given = NamesGiven::default();
        record(&mut batch, &mut scratch, &given, &response("e-1", "alice"));
        record(&mut batch, &mut scratch, &given, &response("e-2", "bob"));
        // entity id, display name, login, alias.
        assert_eq!(names(&batch, "e-1"), Some(4));
        batch.names.clear();
        record(&mut batch, &mut scratch, &given, &response("e-1", "alice"));
        assert_eq!(names(&batch, "e-1"), None, "given already");
        record(&mut batch, &mut scratch, &given, &response("e-1", "alice2"));
        assert_eq!(
            names(&batch, "e-1"),
            Some(4),
            "a new alias brings its names"
        );
        assert_eq!(batch.reads, 4);
        // A new batch (the next commit) with the run's given sources: none again.
        let mut given = NamesGiven::default();
        given.absorb(std::mem::take(&mut scratch).into_given());
        let mut next = Batch::default();
        record(&mut next, &mut scratch, &given, &response("e-1", "alice2"));
        record(&mut next, &mut scratch, &given, &response("e-2", "bob"));
        assert!(next.names.is_empty());
        record(&mut next, &mut scratch, &given, &response("e-3", "carol"));
        assert_eq!(names(&next, "e-3"), Some(4));
    }

    /// A wanted field given twice, at any depth, is refused as serde_json refuses it
    /// (the skimming reader leaves such a line to serde_json); given once, with the
    /// others at null, it reads the same both ways.
    #[test]
    fn wanted_fields_given_twice_read_as_serde_json_reads_them() {
        // A line with every wanted field once; each case gives one of them twice.
        let once = r#"{"type":"response","time":"2026-11-18T09:14:03Z","error":null,"auth":{"entity_id":"e-1","display_name":"oidc-a","metadata":{"username":"a","email":"a@x"}},"request":{"id":"r-1","operation":"read","path":"secret/data/a","mount_point":"secret/","mount_type":"kv","remote_address":"10.0.0.1"}}"#;
        let twice = [
            (
                r#""type":"response""#,
                r#""type":"response","type":"response""#,
            ),
            (r#""time":"2026"#, r#""time":null,"time":"2026"#),
            (r#""error":null"#, r#""error":null,"error":"""#),
            (r#""auth":{"#, r#""auth":null,"auth":{"#),
            (r#""request":{"#, r#""request":{},"request":{"#),
            (
                r#""entity_id":"e-1""#,
                r#""entity_id":"e-1","entity_id":"e-2""#,
            ),
            (
                r#""display_name":"#,
                r#""display_name":null,"display_name":"#,
            ),
            (r#""metadata":{"#, r#""metadata":null,"metadata":{"#),
            (r#""username":"a""#, r#""username":"a","username":"b""#),
            (r#""email":"a@x""#, r#""email":"a@x","email":null"#),
            (r#""id":"r-1""#, r#""id":"r-1","id":"r-1""#),
            (
                r#""operation":"read""#,
                r#""operation":"list","operation":"read""#,
            ),
            (r#""path":"#, r#""path":"secret/data/b","path":"#),
            (r#""mount_point":"#, r#""mount_point":null,"mount_point":"#),
            (r#""mount_type":"#, r#""mount_type":"kv","mount_type":"#),
            (
                r#""remote_address":"#,
                r#""remote_address":null,"remote_address":"#,
            ),
        ];
        for (member, given_twice) in twice {
            assert_eq!(once.matches(member).count(), 1, "{member}");
            let line = once.replacen(member, given_twice, 1);
            let (fast, slow) = (
                parse_line(line.as_bytes()),
                parse_line_with_serde_json(line.as_bytes()),
            );
            assert!(fast.is_err(), "{line}");
            assert_eq!(fast, slow, "{line}");
        }
        let entry = parse_line(once.as_bytes()).expect("read");
        assert_eq!(
            Ok(&entry),
            parse_line_with_serde_json(once.as_bytes()).as_ref()
        );
        assert!(entry.access.is_some());
    }

    /// Every sample, and every sample with one byte deleted, replaced or inserted at
    /// each position (bytes that matter to JSON), reads the same through the
    /// skimming reader as through serde_json alone: same entry, or same error.
    #[test]
    fn skimmed_lines_read_as_serde_json_reads_them() {
        let specials: &[u8] = b"\"\\{}[]:,0-1.eE+tfnu \x01\x7f\xc3\xff";
        let mut checked = 0;
        for sample in samples() {
            let line = sample.as_bytes();
            assert_eq!(parse_line(line), parse_line_with_serde_json(line));
            assert!(parse_line(line).is_ok(), "{sample}");
            for variant in crate::trail::differential::one_byte_variants(line, specials) {
                assert_eq!(
                    parse_line(&variant),
                    parse_line_with_serde_json(&variant),
                    "{}",
                    String::from_utf8_lossy(&variant)
                );
                checked += 1;
            }
        }
        assert!(checked > 50_000, "{checked}");
    }
}
