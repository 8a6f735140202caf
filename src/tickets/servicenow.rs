//! ServiceNow (Table API): reports as work notes on the case whose `number` is the
//! ticket key, found again through the journal (`sys_journal_field`) by their marker.

use super::http::Endpoint;
use leaver_connector::ConnectorError;
use serde_json::{json, Value};

pub struct ServiceNow {
    pub endpoint: Endpoint,
    /// The table whose `number` the ticket key is (`sn_hr_core_case`).
    pub table: String,
}

impl ServiceNow {
    /// The `sys_id` of the record numbered `number`.
    pub async fn locate(&self, number: &str) -> Result<String, ConnectorError> {
        let table = &self.table;
        let found = self
            .endpoint
            .send_json(
                self.endpoint
                    .get(&format!("/api/now/table/{table}"))
                    .query(&[
                        (
                            "sysparm_query",
                            format!("number={}", encoded_value(number)?),
                        ),
                        ("sysparm_fields", "sys_id,number".to_string()),
                        ("sysparm_limit", "1".to_string()),
                    ]),
                &format!("looking up {number} in {table}"),
            )
            .await?;
        found
            .get("result")
            .and_then(Value::as_array)
            .and_then(|rows| rows.first())
            .and_then(|row| row.get("sys_id"))
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| {
                ConnectorError::permanent(format!(
                    "ServiceNow: no record numbered {number} in table {table}"
                ))
            })
    }

    /// The work note on record `sys_id` holding `marker`, if any.
    pub async fn find(&self, sys_id: &str, marker: &str) -> Result<Option<String>, ConnectorError> {
        let query = format!(
            "element_id={}^element=work_notes^valueLIKE{}",
            encoded_value(sys_id)?,
            encoded_value(marker)?
        );
        let found = self
            .endpoint
            .send_json(
                self.endpoint
                    .get("/api/now/table/sys_journal_field")
                    .query(&[
                        ("sysparm_query", query),
                        ("sysparm_fields", "sys_id,value".to_string()),
                        ("sysparm_limit", "1".to_string()),
                    ]),
                "reading the work notes",
            )
            .await?;
        Ok(found
            .get("result")
            .and_then(Value::as_array)
            .and_then(|rows| {
                rows.iter().find(|row| {
                    row.get("value")
                        .and_then(Value::as_str)
                        .is_some_and(|v| v.contains(marker))
                })
            })
            .and_then(|row| row.get("sys_id"))
            .and_then(Value::as_str)
            .map(String::from))
    }

    pub async fn post(&self, sys_id: &str, number: &str, text: &str) -> Result<(), ConnectorError> {
        let table = &self.table;
        self.endpoint
            .send_json(
                self.endpoint
                    .patch(&format!("/api/now/table/{table}/{}", path_id(sys_id)?))
                    .json(&json!({ "work_notes": text })),
                &format!("adding a work note to {number}"),
            )
            .await?;
        Ok(())
    }
}

/// A value inside an encoded query: `^` separates conditions, so it may not appear.
fn encoded_value(value: &str) -> Result<&str, ConnectorError> {
    if value.is_empty() || value.contains('^') || value.contains('\n') {
        Err(ConnectorError::permanent(format!(
            "ServiceNow: `{value}` cannot be used in a query"
        )))
    } else {
        Ok(value)
    }
}

/// A sys_id as it came from ServiceNow (32 hex digits); anything else would change the path.
fn path_id(sys_id: &str) -> Result<&str, ConnectorError> {
    if !sys_id.is_empty() && sys_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(sys_id)
    } else {
        Err(ConnectorError::permanent(format!(
            "ServiceNow: `{sys_id}` is not a sys_id"
        )))
    }
}
