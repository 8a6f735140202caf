//! KV secrets engine version 2 (`vault secrets enable -version=2 kv`), as Vault's API
//! documents it for the calls rotations make:
//!
//! | call | answer |
//! |---|---|
//! | `GET <mount>/data/<path>` | 200 `data{data, metadata{version, created_time, custom_metadata…}}` of the current version / 404 |
//! | `POST`/`PUT <mount>/data/<path>` `{data, options{cas}}` | 200 `data{version, created_time…}` / 400 `check-and-set parameter did not match the current version` |
//! | `GET <mount>/metadata/<path>` | 200 `data{current_version, oldest_version, versions, custom_metadata…}` / 404 |
//! | `POST <mount>/metadata/<path>` `{custom_metadata, max_versions}` | 204 |
//! | `LIST <mount>/metadata/<dir>` | keys under the directory (sub-directories end in `/`) |
//! | `DELETE <mount>/metadata/<path>` | 204: every version and the metadata go |

use super::wire;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// One secret: its versions (1-based) and metadata.
#[derive(Debug, Clone, Default)]
pub struct KvSecret {
    pub versions: BTreeMap<u64, (Map<String, Value>, SystemTime)>,
    pub custom_metadata: BTreeMap<String, String>,
    pub created: Option<SystemTime>,
    pub updated: Option<SystemTime>,
}

impl KvSecret {
    pub fn current_version(&self) -> u64 {
        self.versions.keys().next_back().copied().unwrap_or(0)
    }

    fn metadata_json(&self) -> Value {
        let versions: Map<String, Value> = self
            .versions
            .iter()
            .map(|(v, (_, at))| {
                (
                    v.to_string(),
                    json!({"created_time": wire::rfc3339(*at), "deletion_time": "", "destroyed": false}),
                )
            })
            .collect();
        let now = SystemTime::now();
        json!({
            "cas_required": false,
            "created_time": wire::rfc3339(self.created.unwrap_or(now)),
            "current_version": self.current_version(),
            "custom_metadata": if self.custom_metadata.is_empty() { Value::Null } else { json!(self.custom_metadata) },
            "delete_version_after": "0s",
            "max_versions": 0,
            "oldest_version": self.versions.keys().next().copied().unwrap_or(0),
            "updated_time": wire::rfc3339(self.updated.unwrap_or(now)),
            "versions": versions,
        })
    }

    /// Add a version; returns its number.
    pub fn write(&mut self, data: Map<String, Value>) -> u64 {
        let now = SystemTime::now();
        let version = self.current_version() + 1;
        self.versions.insert(version, (data, now));
        self.created.get_or_insert(now);
        self.updated = Some(now);
        version
    }
}

/// The KV v2 mounts of a namespace: mount (`secret`) → path → secret.
#[derive(Debug, Clone, Default)]
pub struct KvMounts {
    pub mounts: BTreeMap<String, BTreeMap<String, KvSecret>>,
}

impl KvMounts {
    pub fn is_mount(&self, mount: &str) -> bool {
        self.mounts.contains_key(mount)
    }

    pub fn secret_mut(&mut self, mount: &str, path: &str) -> &mut KvSecret {
        self.mounts
            .entry(mount.to_string())
            .or_default()
            .entry(path.to_string())
            .or_default()
    }

    pub fn secret(&self, mount: &str, path: &str) -> Option<&KvSecret> {
        self.mounts.get(mount)?.get(path)
    }
}

/// What the request does (the router's operation, without its private type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KvOp {
    Read,
    List,
    Write,
    Delete,
}

/// Serve `<mount>/<data|metadata>/<path>`.
pub(crate) fn serve(
    kv: &mut KvMounts,
    op: KvOp,
    mount: &str,
    kind: &str,
    path: &str,
    params: &Map<String, Value>,
) -> axum::response::Response {
    let path = path.trim_matches('/');
    match (kind, op) {
        ("data", KvOp::Read) => match kv.secret(mount, path).filter(|s| s.current_version() > 0) {
            Some(secret) => {
                let version = secret.current_version();
                let (data, at) = &secret.versions[&version];
                wire::data(
                    json!({
                        "data": data,
                        "metadata": {
                            "created_time": wire::rfc3339(*at),
                            "custom_metadata": if secret.custom_metadata.is_empty() { Value::Null } else { json!(secret.custom_metadata) },
                            "deletion_time": "", "destroyed": false, "version": version,
                        }
                    }),
                    "kv",
                )
            }
            None => wire::empty_not_found(),
        },
        ("data", KvOp::Write) => {
            let Some(Value::Object(data)) = params.get("data") else {
                return wire::bad_request("no data provided");
            };
            let cas = params
                .get("options")
                .and_then(|o| o.get("cas"))
                .and_then(Value::as_u64);
            let secret = kv.secret_mut(mount, path);
            if let Some(cas) = cas {
                if cas != secret.current_version() {
                    return wire::bad_request(
                        "check-and-set parameter did not match the current version",
                    );
                }
            }
            let version = secret.write(data.clone());
            let at = secret.versions[&version].1;
            wire::data(
                json!({"created_time": wire::rfc3339(at), "custom_metadata": null,
                       "deletion_time": "", "destroyed": false, "version": version}),
                "kv",
            )
        }
        ("metadata", KvOp::Read) => match kv.secret(mount, path) {
            Some(secret) => wire::data(secret.metadata_json(), "kv"),
            None => wire::empty_not_found(),
        },
        ("metadata", KvOp::Write) => {
            let secret = kv.secret_mut(mount, path);
            if let Some(Value::Object(custom)) = params.get("custom_metadata") {
                secret.custom_metadata = custom
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect();
            }
            wire::no_content()
        }
        ("metadata", KvOp::Delete) => {
            if let Some(m) = kv.mounts.get_mut(mount) {
                m.remove(path);
            }
            wire::no_content()
        }
        ("metadata", KvOp::List) => {
            let prefix = if path.is_empty() {
                String::new()
            } else {
                format!("{path}/")
            };
            let mut keys: Vec<String> = kv
                .mounts
                .get(mount)
                .map(|m| {
                    m.keys()
                        .filter_map(|k| k.strip_prefix(&prefix))
                        .map(|rest| match rest.find('/') {
                            Some(i) => rest[..=i].to_string(),
                            None => rest.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            keys.dedup();
            wire::list(keys, None, "kv")
        }
        _ => wire::unsupported_operation(),
    }
}
