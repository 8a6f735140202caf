//! The simulated Jira site's data: issues by key and id, each with its comments.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeMap;

/// One comment.
#[derive(Debug, Clone)]
pub(crate) struct Comment {
    pub id: u64,
    /// The ADF document as posted.
    pub body: Value,
    pub author_id: String,
    pub author_name: String,
    pub created: DateTime<Utc>,
}

/// One issue.
#[derive(Debug, Clone)]
pub(crate) struct Issue {
    pub id: u64,
    pub key: String,
    pub summary: String,
    pub status: String,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub comments: Vec<Comment>,
}

#[derive(Debug)]
pub(crate) struct World {
    /// By upper-cased key.
    issues: BTreeMap<String, Issue>,
    next_issue_id: u64,
    next_comment_id: u64,
}

impl Default for World {
    fn default() -> Self {
        Self {
            issues: BTreeMap::new(),
            next_issue_id: 10_001,
            next_comment_id: 10_000,
        }
    }
}

/// Whether `key` looks like a Jira issue key (`HR-4312`): a project key of an
/// upper-case letter then letters, digits or `_`, a dash, a number.
pub(crate) fn is_issue_key(key: &str) -> bool {
    let Some((project, number)) = key.rsplit_once('-') else {
        return false;
    };
    let mut chars = project.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

impl World {
    /// Create an issue (or return the id of the one with this key).
    pub(crate) fn add_issue(&mut self, key: &str, summary: &str) -> u64 {
        let upper = key.to_ascii_uppercase();
        if let Some(existing) = self.issues.get(&upper) {
            return existing.id;
        }
        let id = self.next_issue_id;
        self.next_issue_id += 1;
        let now = Utc::now();
        self.issues.insert(
            upper.clone(),
            Issue {
                id,
                key: upper,
                summary: summary.to_string(),
                status: "Open".into(),
                created: now,
                updated: now,
                comments: Vec::new(),
            },
        );
        id
    }

    /// An issue by key (case-insensitive) or numeric id.
    pub(crate) fn issue(&self, id_or_key: &str) -> Option<&Issue> {
        self.issues
            .get(&id_or_key.to_ascii_uppercase())
            .or_else(|| {
                let id: u64 = id_or_key.parse().ok()?;
                self.issues.values().find(|i| i.id == id)
            })
    }

    fn issue_mut(&mut self, id_or_key: &str) -> Option<&mut Issue> {
        let key = self.issue(id_or_key)?.key.clone();
        self.issues.get_mut(&key)
    }

    /// Append a comment; `None` when the issue does not exist.
    pub(crate) fn add_comment(
        &mut self,
        id_or_key: &str,
        body: Value,
        author_id: &str,
        author_name: &str,
    ) -> Option<(Issue, Comment)> {
        let id = self.next_comment_id;
        let issue = self.issue_mut(id_or_key)?;
        let now = Utc::now();
        let comment = Comment {
            id,
            body,
            author_id: author_id.to_string(),
            author_name: author_name.to_string(),
            created: now,
        };
        issue.comments.push(comment.clone());
        issue.updated = now;
        let snapshot = issue.clone();
        self.next_comment_id += 1;
        Some((snapshot, comment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_ids() {
        assert!(is_issue_key("HR-4312"));
        assert!(is_issue_key("hr_2-1"));
        assert!(!is_issue_key("HR4312"));
        assert!(!is_issue_key("-1"));
        assert!(!is_issue_key("HR-"));
        assert!(!is_issue_key("4HR-1"));
        let mut world = World::default();
        let id = world.add_issue("HR-1", "Offboard alice");
        assert_eq!(world.add_issue("hr-1", "again"), id);
        assert_eq!(world.issue("hr-1").unwrap().id, id);
        assert_eq!(world.issue(&id.to_string()).unwrap().key, "HR-1");
        assert!(world.issue("HR-2").is_none());
        assert!(world.add_comment("HR-2", Value::Null, "a", "A").is_none());
        let (_, first) = world.add_comment("HR-1", Value::Null, "a", "A").unwrap();
        let (issue, second) = world.add_comment("HR-1", Value::Null, "a", "A").unwrap();
        assert_eq!(second.id, first.id + 1);
        assert_eq!(issue.comments.len(), 2);
    }
}
