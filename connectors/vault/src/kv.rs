//! KV secrets engine version 2, for rotations: the metadata (`current_version`,
//! `custom_metadata` such as the secret's `owner`), the key names of the current
//! version, and writing a new version with check-and-set.
//!
//! Secret values only pass through: [`VaultConnector::kv_keys`] drops them as it
//! parses, and [`VaultConnector::kv_write`] sends the caller's values without keeping,
//! logging or echoing them (Vault's errors never contain them either).

use crate::client::segment;
use crate::VaultConnector;
use leaver_connector::ConnectorError;
use std::collections::BTreeMap;

/// What `GET <mount>/metadata/<path>` tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvMetadata {
    pub current_version: u64,
    pub custom_metadata: BTreeMap<String, String>,
}

/// One version's data. Holds secret values: `Debug` shows only the version and key
/// names, and nothing here is `Display` or `Serialize`.
#[derive(Clone)]
pub struct KvData {
    pub version: u64,
    values: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for KvData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvData")
            .field("version", &self.version)
            .field("keys", &self.keys())
            .finish_non_exhaustive()
    }
}

impl KvData {
    /// The key names, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.values.keys().cloned().collect()
    }

    /// A string value (`None`: absent or not a string).
    pub fn text(&self, key: &str) -> Option<&str> {
        self.values.get(key).and_then(|v| v.as_str())
    }

    /// The values, to build the next version from.
    pub fn into_values(self) -> serde_json::Map<String, serde_json::Value> {
        self.values
    }
}

/// A logical KV path (`secret/prod/db`) split into its mount (`secret`) and the path
/// inside it (`prod/db`). The mount is the first segment.
pub fn split_kv_path(logical: &str) -> Option<(String, String)> {
    let logical = logical.trim().trim_matches('/');
    let (mount, path) = logical.split_once('/')?;
    if mount.is_empty() || path.is_empty() {
        return None;
    }
    Some((mount.to_string(), path.to_string()))
}

fn encoded(path: &str) -> String {
    path.split('/').map(segment).collect::<Vec<_>>().join("/")
}

impl VaultConnector {
    /// The secret's KV v2 metadata; `None` when the path is not a KV v2 secret Vault
    /// lets us read (404, 405, 400, 403: no such secret, not a KV v2 mount, no access).
    pub async fn kv_metadata(
        &self,
        mount: &str,
        path: &str,
    ) -> Result<Option<KvMetadata>, ConnectorError> {
        let call = format!("{}/metadata/{}", segment(mount), encoded(path));
        let response = self.api().read(self.default_namespace(), &call).await?;
        match response.status {
            200 => {}
            400 | 403 | 404 | 405 => return Ok(None),
            _ => return Err(self.api().failure(&response, &format!("GET /v1/{call}"))),
        }
        let body = response.json();
        let data = &body["data"];
        let Some(current_version) = data["current_version"].as_u64() else {
            return Ok(None);
        };
        let custom_metadata = data["custom_metadata"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(KvMetadata {
            current_version,
            custom_metadata,
        }))
    }

    /// The version number and key names of the secret's current version (values are
    /// dropped); `None` when there is no readable current version.
    pub async fn kv_keys(
        &self,
        mount: &str,
        path: &str,
    ) -> Result<Option<(u64, Vec<String>)>, ConnectorError> {
        let current = self
            .kv_current::<BTreeMap<String, serde::de::IgnoredAny>>(mount, path)
            .await?;
        Ok(current.map(|(version, data)| (version, data.into_keys().collect())))
    }

    /// The current version with its values, for a rotation that keeps some of them
    /// (an AWS key's other fields) or must know a non-secret one (the old
    /// `access_key_id`). `None` when there is no readable current version. The values
    /// stay inside [`KvData`], whose `Debug` shows only the key names.
    pub async fn kv_read(&self, mount: &str, path: &str) -> Result<Option<KvData>, ConnectorError> {
        let current = self
            .kv_current::<serde_json::Map<String, serde_json::Value>>(mount, path)
            .await?;
        Ok(current.map(|(version, values)| KvData { version, values }))
    }

    /// `GET <mount>/data/<path>`: the current version's number and its `data` read
    /// as `T` (empty when Vault gives none); `None` when there is no readable current
    /// version.
    async fn kv_current<T: serde::de::DeserializeOwned + Default>(
        &self,
        mount: &str,
        path: &str,
    ) -> Result<Option<(u64, T)>, ConnectorError> {
        let call = format!("{}/data/{}", segment(mount), encoded(path));
        let response = self.api().read(self.default_namespace(), &call).await?;
        match response.status {
            200 => {}
            400 | 403 | 404 | 405 => return Ok(None),
            _ => return Err(self.api().failure(&response, &format!("GET /v1/{call}"))),
        }
        #[derive(serde::Deserialize)]
        struct Envelope<T> {
            data: Inner<T>,
        }
        #[derive(serde::Deserialize)]
        struct Inner<T> {
            data: Option<T>,
            metadata: Meta,
        }
        #[derive(serde::Deserialize)]
        struct Meta {
            version: u64,
        }
        // serde_json's errors name a position, never the text.
        let envelope: Envelope<T> = serde_json::from_slice(&response.body).map_err(|e| {
            ConnectorError::permanent(format!(
                "GET /v1/{call}: unreadable KV v2 answer at line {} column {}",
                e.line(),
                e.column()
            ))
        })?;
        Ok(Some((
            envelope.data.metadata.version,
            envelope.data.data.unwrap_or_default(),
        )))
    }

    /// Write a new version with `data`, only if the current version is still `cas`.
    /// Returns the new version number.
    pub async fn kv_write(
        &self,
        mount: &str,
        path: &str,
        data: serde_json::Map<String, serde_json::Value>,
        cas: u64,
    ) -> Result<u64, ConnectorError> {
        let call = format!("{}/data/{}", segment(mount), encoded(path));
        let body = serde_json::json!({"data": data, "options": {"cas": cas}});
        let response = self
            .api()
            .write(self.default_namespace(), &call, &body)
            .await?;
        drop(body);
        if !(200..300).contains(&response.status) {
            return Err(self.api().failure(&response, &format!("POST /v1/{call}")));
        }
        response.json()["data"]["version"].as_u64().ok_or_else(|| {
            ConnectorError::permanent(format!("POST /v1/{call}: no version in the answer"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_logical_paths() {
        assert_eq!(
            split_kv_path("secret/prod/db"),
            Some(("secret".into(), "prod/db".into()))
        );
        assert_eq!(split_kv_path("secret"), None);
        assert_eq!(split_kv_path("/secret/"), None);
    }
}
