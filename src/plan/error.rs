//! `PlanError`: one problem in a plan file, located as `file:line:column: reason`.

use serde::Serialize;
use serde_saphyr::{Location, MessageFormatter, UserMessageFormatter};
use std::fmt;

/// One problem in a plan file. Lines and columns start at 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanError {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub reason: String,
}

impl PlanError {
    pub fn new(file: impl Into<String>, line: u64, column: u64, reason: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line: line.max(1),
            column: column.max(1),
            reason: reason.into(),
        }
    }

    /// A problem with the file as a whole (unreadable, duplicate plan…): `file:1:1`.
    pub fn whole_file(file: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(file, 1, 1, reason)
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.reason
        )
    }
}

impl std::error::Error for PlanError {}

/// All errors, one per line, for printing.
pub fn format_errors(errors: &[PlanError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Collects the errors of one file.
pub(super) struct Errors {
    file: String,
    list: Vec<PlanError>,
}

impl Errors {
    pub(super) fn new(file: &str) -> Self {
        Self {
            file: file.to_string(),
            list: Vec::new(),
        }
    }

    pub(super) fn at(&mut self, location: &Location, reason: impl Into<String>) {
        self.list.push(PlanError::new(
            self.file.clone(),
            location.line(),
            location.column(),
            reason,
        ));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The errors in file order.
    pub(super) fn into_sorted(mut self) -> Vec<PlanError> {
        self.list.sort_by_key(|e| (e.line, e.column));
        self.list
    }
}

/// The YAML parser's error as a `PlanError`, its message made plain: no snippet, no
/// repeated location, and wording for the shapes a plan expects.
pub(super) fn from_parser(file: &str, error: &serde_saphyr::Error) -> PlanError {
    let (line, column) = error
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    let message = UserMessageFormatter.format_message(error);
    let message = message.lines().next().unwrap_or_default().trim();
    PlanError::new(file, line, column, plain_parser_message(message))
}

fn plain_parser_message(message: &str) -> String {
    let message = message
        .split_once(", set DuplicateKeyPolicy")
        .map_or(message, |(head, _)| head);
    match message {
        "expected mapping start" => {
            "expected a mapping (`key: value` lines or `{ key: value }`)".into()
        }
        "expected sequence start" => "expected a list (`[a, b]` or `- item` lines)".into(),
        "expected string scalar" => "expected a plain value (a string)".into(),
        "unexpected end of file" | "unexpected end of input" => {
            "unexpected end of file: a plan needs at least `name` and `steps`".into()
        }
        m if m.starts_with("invalid u") || m.starts_with("invalid i") => {
            format!("{m}: expected a whole number")
        }
        m if m.contains("tab") => format!("{m} (YAML indentation must use spaces)"),
        m => m.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_file_line_column_reason() {
        let error = PlanError::new("workflows/a.yaml", 4, 7, "unknown action `x.y`");
        assert_eq!(
            error.to_string(),
            "workflows/a.yaml:4:7: unknown action `x.y`"
        );
        // Unknown positions are clamped to 1 so the output stays clickable.
        assert_eq!(PlanError::new("f", 0, 0, "r").to_string(), "f:1:1: r");
        assert_eq!(
            format_errors(&[
                PlanError::whole_file("a", "x"),
                PlanError::whole_file("b", "y")
            ]),
            "a:1:1: x\nb:1:1: y"
        );
    }

    #[test]
    fn parser_messages_are_plain() {
        assert_eq!(
            plain_parser_message(
                "duplicate mapping key: uses, set DuplicateKeyPolicy in Options if acceptable"
            ),
            "duplicate mapping key: uses"
        );
        assert!(plain_parser_message("expected sequence start").contains("list"));
        assert!(plain_parser_message("invalid u32").contains("whole number"));
    }
}
