//! ServiceNow encoded queries (`sysparm_query`): conditions joined by `^` (AND), each
//! `<field><OPERATOR><value>`, and `ORDERBY<field>` / `ORDERBYDESC<field>` terms. A
//! literal `^` in a value is written `^^`.
//!
//! Supported operators: `=`, `!=`, `LIKE` (contains), `NOT LIKE`, `STARTSWITH`,
//! `ENDSWITH`, `ISEMPTY`, `ISNOTEMPTY`. String comparisons are case-insensitive, as on
//! ServiceNow's default database collation. `^OR`, `^NQ` and other operators are not
//! supported: such a query is refused ([`QueryError`]), and the table API then returns
//! no rows — what an instance with `glide.invalid_query.returns_no_rows = true` does
//! for an invalid query (the safe setting; the default instead ignores the invalid
//! condition).

use std::cmp::Ordering;
use std::collections::BTreeMap;

/// A parsed encoded query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Query {
    pub conditions: Vec<Condition>,
    /// `(field, descending)`, in priority order.
    pub order: Vec<(String, bool)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Condition {
    pub field: String,
    pub op: Op,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Like,
    NotLike,
    StartsWith,
    EndsWith,
    IsEmpty,
    IsNotEmpty,
}

/// Why a query cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryError(pub String);

/// Operators in the order they must be tried (longer spellings first).
const OPERATORS: &[(&str, Op)] = &[
    ("ISNOTEMPTY", Op::IsNotEmpty),
    ("ISEMPTY", Op::IsEmpty),
    ("NOT LIKE", Op::NotLike),
    ("STARTSWITH", Op::StartsWith),
    ("ENDSWITH", Op::EndsWith),
    ("LIKE", Op::Like),
    ("!=", Op::Ne),
    ("=", Op::Eq),
];

/// Split on `^`, with `^^` standing for a literal caret.
fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '^' {
            if chars.peek() == Some(&'^') {
                chars.next();
                current.push('^');
            } else {
                out.push(std::mem::take(&mut current));
            }
        } else {
            current.push(c);
        }
    }
    out.push(current);
    out
}

fn is_field_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'
}

/// Parse `sysparm_query`. An empty query matches everything.
pub(crate) fn parse(text: &str) -> Result<Query, QueryError> {
    let mut query = Query::default();
    for term in terms(text) {
        let term = term.as_str();
        if term.is_empty() || term == "EQ" {
            continue;
        }
        if let Some(field) = term.strip_prefix("ORDERBYDESC") {
            query.order.push((order_field(field)?, true));
            continue;
        }
        if let Some(field) = term.strip_prefix("ORDERBY") {
            query.order.push((order_field(field)?, false));
            continue;
        }
        if term.starts_with("OR") || term.starts_with("NQ") {
            return Err(QueryError(format!(
                "`{term}`: OR and NQ queries are not supported by the simulator"
            )));
        }
        let split = term.find(|c: char| !is_field_char(c)).unwrap_or(term.len());
        let (field, rest) = term.split_at(split);
        if field.is_empty() {
            return Err(QueryError(format!(
                "`{term}` does not start with a field name"
            )));
        }
        let (op, value) = OPERATORS
            .iter()
            .find_map(|(spelling, op)| rest.strip_prefix(spelling).map(|value| (*op, value)))
            .ok_or_else(|| QueryError(format!("`{term}`: unknown operator")))?;
        if matches!(op, Op::IsEmpty | Op::IsNotEmpty) && !value.is_empty() {
            return Err(QueryError(format!("`{term}`: {op:?} takes no value")));
        }
        query.conditions.push(Condition {
            field: field.to_string(),
            op,
            value: value.to_string(),
        });
    }
    Ok(query)
}

fn order_field(field: &str) -> Result<String, QueryError> {
    if !field.is_empty() && field.chars().all(is_field_char) {
        Ok(field.to_string())
    } else {
        Err(QueryError(format!("`{field}` is not a field to order by")))
    }
}

impl Query {
    /// Fields the query names (conditions and ordering).
    pub(crate) fn fields(&self) -> impl Iterator<Item = &str> {
        self.conditions
            .iter()
            .map(|c| c.field.as_str())
            .chain(self.order.iter().map(|(f, _)| f.as_str()))
    }

    /// Whether a record (field → value) satisfies every condition.
    pub(crate) fn matches(&self, record: &BTreeMap<String, String>) -> bool {
        self.conditions.iter().all(|condition| {
            let value = record
                .get(&condition.field)
                .map(String::as_str)
                .unwrap_or("")
                .to_lowercase();
            let wanted = condition.value.to_lowercase();
            match condition.op {
                Op::Eq => value == wanted,
                Op::Ne => value != wanted,
                Op::Like => value.contains(&wanted),
                Op::NotLike => !value.contains(&wanted),
                Op::StartsWith => value.starts_with(&wanted),
                Op::EndsWith => value.ends_with(&wanted),
                Op::IsEmpty => value.is_empty(),
                Op::IsNotEmpty => !value.is_empty(),
            }
        })
    }

    /// Order two records by the query's ORDERBY terms (equal when none decide).
    pub(crate) fn compare(
        &self,
        a: &BTreeMap<String, String>,
        b: &BTreeMap<String, String>,
    ) -> Ordering {
        for (field, descending) in &self.order {
            let left = a.get(field).map(String::as_str).unwrap_or("");
            let right = b.get(field).map(String::as_str).unwrap_or("");
            let ordering = left.cmp(right);
            let ordering = if *descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_conditions_and_ordering() {
        let q = parse(
            "element_id=abc^element=work_notes^valueLIKE[leaver run 1^^2]^ORDERBYDESCsys_created_on",
        )
        .unwrap();
        assert_eq!(q.conditions.len(), 3);
        assert_eq!(q.conditions[2].op, Op::Like);
        assert_eq!(q.conditions[2].value, "[leaver run 1^2]");
        assert_eq!(q.order, vec![("sys_created_on".to_string(), true)]);
        assert_eq!(
            q.fields().collect::<Vec<_>>(),
            vec!["element_id", "element", "value", "sys_created_on"]
        );
        let q =
            parse("numberSTARTSWITHHR^stateISNOTEMPTY^short_descriptionNOT LIKEtest^ORDERBYnumber")
                .unwrap();
        assert_eq!(
            q.conditions.iter().map(|c| c.op).collect::<Vec<_>>(),
            vec![Op::StartsWith, Op::IsNotEmpty, Op::NotLike]
        );
        assert_eq!(parse("").unwrap(), Query::default());
        assert_eq!(parse("number=HR1^EQ").unwrap().conditions.len(), 1);
    }

    #[test]
    fn refuses_what_it_cannot_evaluate() {
        for bad in [
            "number=a^ORnumber=b",
            "number=a^NQnumber=b",
            "=x",
            "number>5",
            "NUMBER=x",
            "ORDERBY",
            "ORDERBYDESCbad field",
            "stateISEMPTYx",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching_is_case_insensitive_and_ordering_stable() {
        let a = record(&[
            ("number", "HRC0001"),
            ("sys_created_on", "2026-01-01 10:00:00"),
        ]);
        let b = record(&[
            ("number", "HRC0002"),
            ("sys_created_on", "2026-01-01 11:00:00"),
        ]);
        assert!(parse("number=hrc0001").unwrap().matches(&a));
        assert!(!parse("number=hrc0001").unwrap().matches(&b));
        assert!(parse("numberLIKE0002").unwrap().matches(&b));
        assert!(parse("number!=HRC0001").unwrap().matches(&b));
        assert!(parse("missingISEMPTY").unwrap().matches(&a));
        assert!(parse("numberENDSWITH01").unwrap().matches(&a));
        let desc = parse("ORDERBYDESCsys_created_on").unwrap();
        assert_eq!(desc.compare(&a, &b), Ordering::Greater);
        let asc = parse("ORDERBYsys_created_on").unwrap();
        assert_eq!(asc.compare(&a, &b), Ordering::Less);
        assert_eq!(Query::default().compare(&a, &b), Ordering::Equal);
    }
}
