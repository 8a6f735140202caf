//! The filter expressions of `GET /api/v1/logs?filter=` (and `GET /api/v1/users?search=`):
//! SCIM-style comparisons (`eq`, `ne`, `sw`, `co`, `gt`, `ge`, `lt`, `le`, `pr`) over
//! dotted attribute paths, combined with `and`, `or`, `not` and parentheses:
//!
//! ```text
//! (eventType eq "user.lifecycle.deactivate" or eventType eq "user.lifecycle.suspend")
//!     and target.id eq "00u7frankexample01"
//! ```
//!
//! A path that crosses an array (`target.id`) matches when any element matches.
//! Operators and `and`/`or`/`not` are case-insensitive; attribute names and string
//! values compare exactly, as the System Log does.

use serde_json::Value;

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare {
        path: Vec<String>,
        op: Op,
        value: Value,
    },
    Present(Vec<String>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Sw,
    Co,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Open,
    Close,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some(escaped) => value.push(escaped),
                            None => return Err("unterminated string".into()),
                        },
                        '"' => {
                            closed = true;
                            break;
                        }
                        other => value.push(other),
                    }
                }
                if !closed {
                    return Err("unterminated string".into());
                }
                tokens.push(Token::Str(value));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn or(&mut self, depth: usize) -> Result<Filter, String> {
        let mut left = self.and(depth)?;
        while self.peek_word("or") {
            self.at += 1;
            let right = self.and(depth)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Filter, String> {
        let mut left = self.factor(depth)?;
        while self.peek_word("and") {
            self.at += 1;
            let right = self.factor(depth)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn factor(&mut self, depth: usize) -> Result<Filter, String> {
        if depth > 32 {
            return Err("expression nested too deeply".into());
        }
        if self.peek_word("not") {
            self.at += 1;
            return Ok(Filter::Not(Box::new(self.factor(depth + 1)?)));
        }
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or(depth + 1)?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("missing `)`".into()),
                }
            }
            Some(Token::Word(attribute)) => self.comparison(attribute),
            Some(other) => Err(format!("expected an attribute, found {other:?}")),
            None => Err("unexpected end of expression".into()),
        }
    }

    fn comparison(&mut self, attribute: String) -> Result<Filter, String> {
        if attribute.is_empty()
            || !attribute
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            return Err(format!("`{attribute}` is not an attribute name"));
        }
        let path: Vec<String> = attribute.split('.').map(str::to_string).collect();
        if path.iter().any(String::is_empty) {
            return Err(format!("`{attribute}` is not an attribute name"));
        }
        let op = match self.next() {
            Some(Token::Word(op)) => op.to_ascii_lowercase(),
            _ => return Err(format!("expected an operator after `{attribute}`")),
        };
        let op = match op.as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "sw" => Op::Sw,
            "co" => Op::Co,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            other => return Err(format!("unknown operator `{other}`")),
        };
        let value = match self.next() {
            Some(Token::Str(s)) => Value::String(s),
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => match w.parse::<f64>() {
                    Ok(n) => serde_json::Number::from_f64(n)
                        .map(Value::Number)
                        .ok_or_else(|| format!("`{w}` is not a value"))?,
                    Err(_) => return Err(format!("`{w}` is not a value (quote strings)")),
                },
            },
            _ => return Err(format!("expected a value after `{attribute} {op:?}`")),
        };
        Ok(Filter::Compare { path, op, value })
    }
}

/// Parse a filter expression. `Err` says what is wrong, for Okta's `errorCauses`.
pub fn parse(text: &str) -> Result<Filter, String> {
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err("empty filter".into());
    }
    let mut parser = Parser { tokens, at: 0 };
    let filter = parser.or(0)?;
    if parser.at < parser.tokens.len() {
        return Err(format!(
            "unexpected {:?} after the expression",
            parser.tokens[parser.at]
        ));
    }
    Ok(filter)
}

/// Every value found at `path` in `value` (arrays are crossed element-wise).
fn values_at<'a>(value: &'a Value, path: &[String], out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => {
            for item in items {
                values_at(item, path, out);
            }
        }
        _ => match path.split_first() {
            None => out.push(value),
            Some((head, rest)) => {
                if let Some(next) = value.get(head.as_str()) {
                    values_at(next, rest, out);
                }
            }
        },
    }
}

fn compare(found: &Value, op: Op, wanted: &Value) -> bool {
    match (found, wanted) {
        (Value::String(a), Value::String(b)) => match op {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Sw => a.starts_with(b.as_str()),
            Op::Co => a.contains(b.as_str()),
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Lt => a < b,
            Op::Le => a <= b,
        },
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN),
            );
            match op {
                Op::Eq => a == b,
                Op::Ne => a != b,
                Op::Gt => a > b,
                Op::Ge => a >= b,
                Op::Lt => a < b,
                Op::Le => a <= b,
                Op::Sw | Op::Co => false,
            }
        }
        (a, b) => match op {
            Op::Eq => a == b,
            Op::Ne => a != b,
            _ => false,
        },
    }
}

impl Filter {
    /// Whether `value` (a LogEvent, a user…) satisfies the filter.
    pub fn matches(&self, value: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(value) && b.matches(value),
            Filter::Or(a, b) => a.matches(value) || b.matches(value),
            Filter::Not(inner) => !inner.matches(value),
            Filter::Present(path) => {
                let mut found = Vec::new();
                values_at(value, path, &mut found);
                found.iter().any(|v| !v.is_null())
            }
            Filter::Compare {
                path,
                op,
                value: wanted,
            } => {
                let mut found = Vec::new();
                values_at(value, path, &mut found);
                if found.is_empty() {
                    // An absent attribute is null: `ne "x"` holds, `eq null` holds.
                    return compare(&Value::Null, *op, wanted);
                }
                if *op == Op::Ne {
                    return found.iter().all(|f| compare(f, Op::Ne, wanted));
                }
                found.iter().any(|f| compare(f, *op, wanted))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "eventType": "group.user_membership.remove",
            "outcome": {"result": "SUCCESS"},
            "target": [
                {"id": "00u1", "type": "User"},
                {"id": "00g1", "type": "UserGroup"}
            ]
        })
    }

    #[test]
    fn comparisons_and_arrays() {
        let e = event();
        assert!(parse("eventType eq \"group.user_membership.remove\"")
            .unwrap()
            .matches(&e));
        assert!(parse("target.id eq \"00g1\"").unwrap().matches(&e));
        assert!(!parse("target.id eq \"00u2\"").unwrap().matches(&e));
        assert!(parse("eventType sw \"group.\" AND target.type eq \"User\"")
            .unwrap()
            .matches(&e));
        assert!(parse(
            "(eventType eq \"user.lifecycle.deactivate\" or eventType co \"membership\") and outcome.result eq \"SUCCESS\""
        )
        .unwrap()
        .matches(&e));
        assert!(parse("not (target.id eq \"00u9\")").unwrap().matches(&e));
        assert!(parse("debugContext pr").is_ok());
        assert!(!parse("debugContext pr").unwrap().matches(&e));
    }

    #[test]
    fn bad_expressions_are_refused() {
        for bad in [
            "",
            "eventType",
            "eventType eq",
            "eventType eq unquoted",
            "eventType xx \"a\"",
            "(eventType eq \"a\"",
            "eventType eq \"a\" extra",
            "eventType eq \"unterminated",
            "a..b eq \"x\"",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = format!("{}a eq \"b\"{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep).is_err());
    }
}
