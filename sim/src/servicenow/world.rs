//! The simulated instance's data: tables of records (every value a string, as the
//! Table API renders them without `sysparm_display_value`), and the journal
//! (`sys_journal_field`) that work notes and comments are appended to.

use std::collections::BTreeMap;

/// The table journal entries live in.
pub(crate) const JOURNAL_TABLE: &str = "sys_journal_field";

/// Journal fields: written through the record, stored in the journal, read back as "".
pub(crate) const JOURNAL_FIELDS: &[&str] = &["work_notes", "comments"];

/// Fields every record of a task-like table has.
const TASK_FIELDS: &[&str] = &[
    "sys_id",
    "number",
    "short_description",
    "description",
    "state",
    "active",
    "sys_class_name",
    "sys_created_on",
    "sys_created_by",
    "sys_updated_on",
    "sys_updated_by",
    "sys_mod_count",
    "work_notes",
    "comments",
];

/// Fields of a journal entry.
const JOURNAL_ENTRY_FIELDS: &[&str] = &[
    "sys_id",
    "element",
    "element_id",
    "name",
    "value",
    "sys_created_on",
    "sys_created_by",
];

pub(crate) type Record = BTreeMap<String, String>;

#[derive(Debug, Default)]
pub(crate) struct Table {
    /// In insertion order.
    pub records: Vec<Record>,
}

#[derive(Debug)]
pub(crate) struct World {
    tables: BTreeMap<String, Table>,
    next_id: u64,
}

impl Default for World {
    fn default() -> Self {
        let mut tables = BTreeMap::new();
        tables.insert(JOURNAL_TABLE.to_string(), Table::default());
        Self { tables, next_id: 1 }
    }
}

/// ServiceNow's `sys_created_on` format (UTC).
pub(crate) fn now_text() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

impl World {
    /// A new 32-hex-digit sys_id.
    fn sys_id(&mut self) -> String {
        let n = self.next_id;
        self.next_id += 1;
        let salt: u64 = rand::random();
        format!("{:016x}{:016x}", salt, n)
    }

    pub(crate) fn has_table(&self, table: &str) -> bool {
        self.tables.contains_key(table)
    }

    pub(crate) fn ensure_table(&mut self, table: &str) {
        self.tables.entry(table.to_string()).or_default();
    }

    pub(crate) fn table(&self, table: &str) -> Option<&Table> {
        self.tables.get(table)
    }

    /// The fields a table knows (for refusing queries on unknown fields).
    pub(crate) fn fields_of(&self, table: &str) -> &'static [&'static str] {
        if table == JOURNAL_TABLE {
            JOURNAL_ENTRY_FIELDS
        } else {
            TASK_FIELDS
        }
    }

    /// Add a record to `table` (created if needed); returns its sys_id.
    pub(crate) fn add_record(
        &mut self,
        table: &str,
        number: &str,
        short_description: &str,
        user: &str,
    ) -> String {
        let sys_id = self.sys_id();
        let now = now_text();
        let record: Record = [
            ("sys_id", sys_id.as_str()),
            ("number", number),
            ("short_description", short_description),
            ("description", ""),
            ("state", "10"),
            ("active", "true"),
            ("sys_class_name", table),
            ("sys_created_on", &now),
            ("sys_created_by", user),
            ("sys_updated_on", &now),
            ("sys_updated_by", user),
            ("sys_mod_count", "0"),
            ("work_notes", ""),
            ("comments", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        self.tables
            .entry(table.to_string())
            .or_default()
            .records
            .push(record);
        sys_id
    }

    pub(crate) fn record(&self, table: &str, sys_id: &str) -> Option<&Record> {
        self.tables
            .get(table)?
            .records
            .iter()
            .find(|r| r.get("sys_id").map(String::as_str) == Some(sys_id))
    }

    /// Apply a PATCH/PUT: journal fields append entries (an empty value appends
    /// nothing), other known fields are set, unknown fields are ignored, as the Table
    /// API does. Returns the updated record, or `None` when it does not exist.
    pub(crate) fn update(
        &mut self,
        table: &str,
        sys_id: &str,
        changes: &serde_json::Map<String, serde_json::Value>,
        user: &str,
    ) -> Option<Record> {
        self.record(table, sys_id)?;
        let now = now_text();
        let mut journal = Vec::new();
        for (field, value) in changes {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            if JOURNAL_FIELDS.contains(&field.as_str()) && !text.trim().is_empty() {
                journal.push((field.clone(), text));
            }
        }
        for (element, value) in journal {
            let entry_id = self.sys_id();
            let entry: Record = [
                ("sys_id", entry_id.as_str()),
                ("element", element.as_str()),
                ("element_id", sys_id),
                ("name", table),
                ("value", value.as_str()),
                ("sys_created_on", now.as_str()),
                ("sys_created_by", user),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            self.tables
                .entry(JOURNAL_TABLE.to_string())
                .or_default()
                .records
                .push(entry);
        }
        let record = self
            .tables
            .get_mut(table)?
            .records
            .iter_mut()
            .find(|r| r.get("sys_id").map(String::as_str) == Some(sys_id))?;
        for (field, value) in changes {
            let settable = TASK_FIELDS.contains(&field.as_str())
                && !JOURNAL_FIELDS.contains(&field.as_str())
                && !field.starts_with("sys_");
            if settable {
                let text = match value {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                };
                record.insert(field.clone(), text);
            }
        }
        let count: u64 = record
            .get("sys_mod_count")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        record.insert("sys_mod_count".into(), (count + 1).to_string());
        record.insert("sys_updated_on".into(), now);
        record.insert("sys_updated_by".into(), user.to_string());
        Some(record.clone())
    }

    /// Journal entries of one record's field, oldest first.
    pub(crate) fn journal(&self, sys_id: &str, element: &str) -> Vec<Record> {
        self.tables
            .get(JOURNAL_TABLE)
            .map(|t| {
                t.records
                    .iter()
                    .filter(|r| {
                        r.get("element_id").map(String::as_str) == Some(sys_id)
                            && r.get("element").map(String::as_str) == Some(element)
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn updates_append_journal_entries() {
        let mut world = World::default();
        let id = world.add_record("sn_hr_core_case", "HRC0001001", "Offboard", "admin");
        assert_eq!(id.len(), 32);
        assert!(world.has_table("sn_hr_core_case"));
        let changes = json!({"work_notes": "note one", "comments": "", "short_description": "Leaver", "sys_id": "x", "bogus": 1});
        let record = world
            .update("sn_hr_core_case", &id, changes.as_object().unwrap(), "bot")
            .unwrap();
        assert_eq!(record["short_description"], "Leaver");
        assert_eq!(record["sys_id"], id, "sys_ fields are read-only");
        assert_eq!(record["work_notes"], "", "journal fields read back empty");
        assert_eq!(record["sys_mod_count"], "1");
        assert!(!record.contains_key("bogus"));
        let notes = world.journal(&id, "work_notes");
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0]["value"], "note one");
        assert_eq!(notes[0]["sys_created_by"], "bot");
        assert!(
            world.journal(&id, "comments").is_empty(),
            "empty input appends nothing"
        );
        assert!(world
            .update(
                "sn_hr_core_case",
                "nope",
                changes.as_object().unwrap(),
                "bot"
            )
            .is_none());
    }
}
