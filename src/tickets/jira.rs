//! Jira Cloud (REST API v3): reports as issue comments in Atlassian Document Format,
//! found again by their marker line.

use super::http::Endpoint;
use leaver_connector::ConnectorError;
use serde_json::{json, Value};

/// Comments read per page while looking for a marker (Jira caps pages at 5000).
const PAGE: u64 = 100;
/// Pages read at most while looking for a marker.
const MAX_PAGES: u64 = 200;

pub struct Jira {
    pub endpoint: Endpoint,
}

/// Where a report landed.
pub struct Posted {
    pub comment_id: String,
}

impl Jira {
    /// The comment on `key` whose text holds `marker`, if any (newest first).
    pub async fn find(&self, key: &str, marker: &str) -> Result<Option<String>, ConnectorError> {
        let key = checked_key(key)?;
        let mut start_at = 0u64;
        for _ in 0..MAX_PAGES {
            let page = self
                .endpoint
                .send_json(
                    self.endpoint
                        .get(&format!("/rest/api/3/issue/{key}/comment"))
                        .query(&[
                            ("startAt", start_at.to_string()),
                            ("maxResults", PAGE.to_string()),
                            ("orderBy", "-created".to_string()),
                        ]),
                    &format!("reading the comments of {key}"),
                )
                .await?;
            let comments = page
                .get("comments")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for comment in &comments {
                if plain_text(comment.get("body").unwrap_or(&Value::Null)).contains(marker) {
                    let id = comment
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    return Ok(Some(id.to_string()));
                }
            }
            let total = page.get("total").and_then(Value::as_u64).unwrap_or(0);
            start_at += comments.len() as u64;
            if comments.is_empty() || start_at >= total {
                return Ok(None);
            }
        }
        Err(ConnectorError::transient(format!(
            "Jira: {key} has more than {} comments; gave up looking for the report",
            PAGE * MAX_PAGES
        )))
    }

    pub async fn post(&self, key: &str, text: &str) -> Result<Posted, ConnectorError> {
        let key = checked_key(key)?;
        let created = self
            .endpoint
            .send_json(
                self.endpoint
                    .post(&format!("/rest/api/3/issue/{key}/comment"))
                    .json(&json!({ "body": document(text) })),
                &format!("commenting on {key}"),
            )
            .await?;
        let comment_id = created
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok(Posted { comment_id })
    }
}

/// Issue keys (`HR-4312`) and ids (`10042`) only: anything else would change the path.
fn checked_key(key: &str) -> Result<&str, ConnectorError> {
    let ok = !key.is_empty()
        && key.len() <= 255
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(key)
    } else {
        Err(ConnectorError::permanent(format!(
            "Jira: `{key}` is not an issue key or id"
        )))
    }
}

/// Plain text as an ADF document: one paragraph per line.
pub fn document(text: &str) -> Value {
    let paragraphs: Vec<Value> = text
        .lines()
        .map(|line| {
            if line.is_empty() {
                json!({ "type": "paragraph", "content": [] })
            } else {
                json!({ "type": "paragraph", "content": [{ "type": "text", "text": line }] })
            }
        })
        .collect();
    json!({ "type": "doc", "version": 1, "content": paragraphs })
}

/// The text of an ADF document (its `text` nodes, paragraphs on their own lines).
pub fn plain_text(node: &Value) -> String {
    fn walk(node: &Value, out: &mut String) {
        if let Some(text) = node.get("text").and_then(Value::as_str) {
            out.push_str(text);
        }
        if let Some(children) = node.get("content").and_then(Value::as_array) {
            for child in children {
                walk(child, out);
            }
            if node.get("type").and_then(Value::as_str) == Some("paragraph") {
                out.push('\n');
            }
        }
    }
    let mut out = String::new();
    walk(node, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_round_trip_to_the_same_lines() {
        let text = "Leaver: summary\n\n- github: succeeded\nleaver-ref: r/s";
        let doc = document(text);
        assert_eq!(doc["type"], "doc");
        assert_eq!(plain_text(&doc).trim_end(), text);
    }

    #[test]
    fn only_issue_keys_reach_the_path() {
        assert!(checked_key("HR-4312").is_ok());
        assert!(checked_key("10042").is_ok());
        for bad in ["", "HR-1/../../admin", "HR 1", "HR-1?x=1"] {
            assert!(checked_key(bad).is_err(), "{bad}");
        }
    }
}
