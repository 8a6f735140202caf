//! Atlassian Document Format (ADF), the rich-text JSON that Jira Cloud's REST API v3
//! takes and returns for comment bodies: validation of what a client posts, and the
//! plain text of a document (for tests and marker searches).
//!
//! The checks follow the ADF structure documentation: a `doc` root with `version: 1`
//! and a `content` array of block nodes; block nodes hold block or inline nodes as the
//! node type allows; `text` nodes carry non-empty `text` and optional `marks`. Node
//! types outside the subset below are refused, as Jira refuses a document that does not
//! validate against its schema (`INVALID_INPUT`).

use serde_json::Value;

/// Deepest nesting accepted (Jira's own limit is higher; ours only guards recursion).
const MAX_DEPTH: usize = 32;

/// Why a document is not valid ADF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AdfError(pub String);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Block,
    Inline,
    ListItem,
    /// A `codeBlock`'s content: unmarked text only.
    PlainText,
}

const BLOCKS: &[&str] = &[
    "paragraph",
    "heading",
    "bulletList",
    "orderedList",
    "codeBlock",
    "blockquote",
    "rule",
    "panel",
];
const INLINES: &[&str] = &["text", "hardBreak", "mention", "emoji", "inlineCard"];
const MARKS: &[&str] = &[
    "strong",
    "em",
    "code",
    "strike",
    "underline",
    "link",
    "subsup",
    "textColor",
];
const PANEL_TYPES: &[&str] = &["info", "note", "warning", "success", "error"];

fn error(message: impl Into<String>) -> AdfError {
    AdfError(message.into())
}

/// Check that `doc` is an ADF document Jira would accept.
pub(crate) fn validate(doc: &Value) -> Result<(), AdfError> {
    let object = doc
        .as_object()
        .ok_or_else(|| error("the document is not a JSON object"))?;
    if object.get("type").and_then(Value::as_str) != Some("doc") {
        return Err(error("the root node must have type `doc`"));
    }
    if object.get("version").and_then(Value::as_u64) != Some(1) {
        return Err(error("the root node must have version 1"));
    }
    let content = object
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| error("the root node must have a `content` array"))?;
    for node in content {
        node_ok(node, Kind::Block, 1)?;
    }
    Ok(())
}

fn content_of(node: &serde_json::Map<String, Value>) -> Result<&[Value], AdfError> {
    match node.get("content") {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(error("`content` must be an array")),
    }
}

fn node_ok(node: &Value, expected: Kind, depth: usize) -> Result<(), AdfError> {
    if depth > MAX_DEPTH {
        return Err(error("the document is nested too deeply"));
    }
    let object = node
        .as_object()
        .ok_or_else(|| error("every node must be a JSON object"))?;
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| error("every node must have a string `type`"))?;
    let allowed = match expected {
        Kind::Block => BLOCKS.contains(&kind),
        Kind::Inline => INLINES.contains(&kind),
        Kind::ListItem => kind == "listItem",
        Kind::PlainText => kind == "text",
    };
    if !allowed {
        return Err(error(format!("node type `{kind}` is not allowed here")));
    }
    let content = content_of(object)?;
    let children = |kind: Kind| -> Result<(), AdfError> {
        content
            .iter()
            .try_for_each(|child| node_ok(child, kind, depth + 1))
    };
    match kind {
        "text" => {
            let text = object.get("text").and_then(Value::as_str).unwrap_or("");
            if text.is_empty() {
                return Err(error("a text node must have non-empty `text`"));
            }
            if object.contains_key("content") {
                return Err(error("a text node has no `content`"));
            }
            if let Some(marks) = object.get("marks") {
                if expected == Kind::PlainText {
                    return Err(error("text in a codeBlock cannot have marks"));
                }
                marks_ok(marks)?;
            }
            Ok(())
        }
        "paragraph" => children(Kind::Inline),
        "heading" => {
            let level = object
                .get("attrs")
                .and_then(|a| a.get("level"))
                .and_then(Value::as_u64);
            if !matches!(level, Some(1..=6)) {
                return Err(error("a heading needs attrs.level between 1 and 6"));
            }
            children(Kind::Inline)
        }
        "bulletList" | "orderedList" => {
            if content.is_empty() {
                return Err(error(format!("a {kind} needs at least one listItem")));
            }
            children(Kind::ListItem)
        }
        "listItem" | "blockquote" => {
            if content.is_empty() {
                return Err(error(format!("a {kind} needs content")));
            }
            children(Kind::Block)
        }
        "panel" => {
            let panel_type = object
                .get("attrs")
                .and_then(|a| a.get("panelType"))
                .and_then(Value::as_str);
            if !panel_type.is_some_and(|t| PANEL_TYPES.contains(&t)) {
                return Err(error(format!(
                    "a panel needs attrs.panelType, one of {}",
                    PANEL_TYPES.join(", ")
                )));
            }
            children(Kind::Block)
        }
        "codeBlock" => children(Kind::PlainText),
        "rule" | "hardBreak" => {
            if content.is_empty() {
                Ok(())
            } else {
                Err(error(format!("a {kind} has no content")))
            }
        }
        "mention" => attr_string(object, "id", kind),
        "emoji" => attr_string(object, "shortName", kind),
        "inlineCard" => attr_string(object, "url", kind),
        _ => Err(error(format!("node type `{kind}` is not supported"))),
    }
}

fn attr_string(
    object: &serde_json::Map<String, Value>,
    attr: &str,
    kind: &str,
) -> Result<(), AdfError> {
    match object
        .get("attrs")
        .and_then(|a| a.get(attr))
        .and_then(Value::as_str)
    {
        Some(value) if !value.is_empty() => Ok(()),
        _ => Err(error(format!("a {kind} needs attrs.{attr}"))),
    }
}

fn marks_ok(marks: &Value) -> Result<(), AdfError> {
    let marks = marks
        .as_array()
        .ok_or_else(|| error("`marks` must be an array"))?;
    for mark in marks {
        let kind = mark
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| error("every mark must have a string `type`"))?;
        if !MARKS.contains(&kind) {
            return Err(error(format!("mark type `{kind}` is not supported")));
        }
        if kind == "link"
            && mark
                .get("attrs")
                .and_then(|a| a.get("href"))
                .and_then(Value::as_str)
                .is_none()
        {
            return Err(error("a link mark needs attrs.href"));
        }
    }
    Ok(())
}

/// The plain text of a document: text nodes in order, blocks on their own lines,
/// `hardBreak` as a newline, mentions and emoji by their text.
pub fn plain_text(doc: &Value) -> String {
    let mut out = String::new();
    collect(doc, &mut out, 0);
    out.trim_end().to_string()
}

fn collect(node: &Value, out: &mut String, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let kind = node.get("type").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "text" => out.push_str(node.get("text").and_then(Value::as_str).unwrap_or_default()),
        "hardBreak" => out.push('\n'),
        "mention" | "emoji" => {
            let attrs = node.get("attrs");
            let text = attrs
                .and_then(|a| a.get("text").or_else(|| a.get("shortName")))
                .and_then(Value::as_str)
                .unwrap_or_default();
            out.push_str(text);
        }
        "inlineCard" => out.push_str(
            node.get("attrs")
                .and_then(|a| a.get("url"))
                .and_then(Value::as_str)
                .unwrap_or_default(),
        ),
        _ => {
            if let Some(children) = node.get("content").and_then(Value::as_array) {
                for child in children {
                    collect(child, out, depth + 1);
                }
            }
            if matches!(kind, "paragraph" | "heading" | "codeBlock" | "rule")
                && !out.ends_with('\n')
            {
                out.push('\n');
            }
        }
    }
}

/// Characters of text in a document (what Jira's 32 767-character limit counts).
pub(crate) fn text_len(doc: &Value) -> usize {
    plain_text(doc).chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(content: Value) -> Value {
        json!({"type": "doc", "version": 1, "content": content})
    }

    #[test]
    fn accepts_the_usual_shapes() {
        let d = doc(json!([
            {"type": "heading", "attrs": {"level": 3}, "content": [{"type": "text", "text": "Title"}]},
            {"type": "paragraph", "content": [
                {"type": "text", "text": "bold", "marks": [{"type": "strong"}]},
                {"type": "hardBreak"},
                {"type": "text", "text": "link", "marks": [{"type": "link", "attrs": {"href": "https://x"}}]}
            ]},
            {"type": "bulletList", "content": [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "one"}]}]}
            ]},
            {"type": "codeBlock", "content": [{"type": "text", "text": "leaver evidence verify"}]},
            {"type": "rule"},
            {"type": "paragraph"}
        ]));
        assert_eq!(validate(&d), Ok(()));
        assert_eq!(
            plain_text(&d),
            "Title\nbold\nlink\none\nleaver evidence verify"
        );
        assert_eq!(validate(&doc(json!([]))), Ok(()));
    }

    #[test]
    fn refuses_what_jira_refuses() {
        for bad in [
            json!("plain text"),
            json!({"type": "doc", "content": []}),
            json!({"type": "doc", "version": 2, "content": []}),
            json!({"type": "paragraph", "version": 1, "content": []}),
            json!({"type": "doc", "version": 1}),
            doc(json!([{"type": "text", "text": "inline at the top"}])),
            doc(json!([{"type": "paragraph", "content": [{"type": "text", "text": ""}]}])),
            doc(json!([{"type": "paragraph", "content": [{"type": "paragraph"}]}])),
            doc(json!([{"type": "heading", "content": []}])),
            doc(json!([{"type": "bulletList", "content": []}])),
            doc(json!([{"type": "bulletList", "content": [{"type": "paragraph"}]}])),
            doc(json!([{"type": "marquee"}])),
            doc(
                json!([{"type": "paragraph", "content": [{"type": "text", "text": "x", "marks": [{"type": "blink"}]}]}]),
            ),
            doc(
                json!([{"type": "codeBlock", "content": [{"type": "text", "text": "x", "marks": [{"type": "strong"}]}]}]),
            ),
            doc(json!([{"type": "paragraph", "content": "text"}])),
            doc(json!([42])),
        ] {
            assert!(validate(&bad).is_err(), "{bad}");
        }
        let mut deep = json!({"type": "text", "text": "x"});
        for _ in 0..40 {
            deep = json!({"type": "blockquote", "content": [deep]});
        }
        assert!(validate(&doc(json!([deep]))).is_err());
    }
}
