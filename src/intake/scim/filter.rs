//! SCIM filters (RFC 7644 §3.4.2.2) and attribute paths (§3.5.2, `attributes`
//! parameters): parsed against the served schemas, so attribute names resolve without
//! regard to case to their canonical names, and an unknown attribute or an operator
//! that makes no sense for an attribute's type is refused (`invalidFilter`) instead of
//! silently matching nothing.
//!
//! Grammar (operators, `and`/`or`/`not` and attribute names case-insensitive):
//!
//! ```text
//! FILTER    = OR
//! OR        = AND *("or" AND)
//! AND       = UNARY *("and" UNARY)
//! UNARY     = "not" "(" FILTER ")" / "(" FILTER ")" / ATTREXP
//! ATTREXP   = PATH "pr" / PATH OP VALUE
//!           / PATH "[" FILTER "]" [ "." SUBATTR OP VALUE / "." SUBATTR "pr" ]
//! OP        = eq / ne / co / sw / ew / gt / lt / ge / le
//! VALUE     = "string" / number / true / false / null
//! PATH      = [URN ":"] ATTRNAME ["." SUBATTR]
//! ```
//!
//! `emails[type eq "work"].value eq "x"` (what Entra sends) is accepted: any email
//! whose type is work and whose value is x.

use super::schema::{self, Attr, Kind, ENTERPRISE_SCHEMA, USER_SCHEMA};
use serde_json::Value;

/// Longest filter accepted, and deepest nesting.
const MAX_FILTER_LEN: usize = 4096;
const MAX_DEPTH: usize = 32;

/// A resolved attribute: `attr` (with `sub`) in the core schema or, with `ext`, in the
/// enterprise extension.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttrRef {
    pub ext: bool,
    pub attr: &'static Attr,
    pub sub: Option<&'static Attr>,
}

impl AttrRef {
    /// The attribute a comparison looks at: the sub-attribute, or a multi-valued
    /// complex attribute's `value` (RFC 7644: `emails eq x` compares the values).
    fn leaf(&self) -> &'static Attr {
        match self.sub {
            Some(sub) => sub,
            None if self.attr.kind == Kind::Complex => {
                self.attr.sub_attr("value").unwrap_or(self.attr)
            }
            None => self.attr,
        }
    }

    /// `name`, `name.sub`, `urn:…:User:name.sub`.
    pub fn display(&self) -> String {
        let base = match self.sub {
            Some(sub) => format!("{}.{}", self.attr.name, sub.name),
            None => self.attr.name.to_string(),
        };
        if self.ext {
            format!("{ENTERPRISE_SCHEMA}:{base}")
        } else {
            base
        }
    }

    /// The container (resource root or the extension object) this attribute lives in.
    pub fn container<'a>(&self, resource: &'a Value) -> Option<&'a Value> {
        if self.ext {
            resource.get(ENTERPRISE_SCHEMA)
        } else {
            Some(resource)
        }
    }
}

/// What a path names: an attribute, or the whole enterprise extension.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    Extension,
    Attr(AttrRef),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Lt,
    Ge,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "lt" => Self::Lt,
            "ge" => Self::Ge,
            "le" => Self::Le,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Lt => "lt",
            Self::Ge => "ge",
            Self::Le => "le",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    String(String),
    Number(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Present(AttrRef),
    Compare(AttrRef, CompareOp, Literal),
    /// `attr[filter]`, optionally followed by `.sub op value` (or `.sub pr`): some
    /// element of the multi-valued `attr` matches.
    ValuePath {
        path: AttrRef,
        filter: Box<Filter>,
        then: Option<(&'static Attr, Option<(CompareOp, Literal)>)>,
    },
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

/// Resolve an attribute path (`userName`, `name.givenName`, `urn:…:User:userName`,
/// `urn:…:enterprise:2.0:User:manager.value`, `urn:…:enterprise:2.0:User`).
pub fn resolve(text: &str) -> Result<Target, String> {
    let lower = text.to_ascii_lowercase();
    let enterprise = ENTERPRISE_SCHEMA.to_ascii_lowercase();
    let core = USER_SCHEMA.to_ascii_lowercase();
    if lower == enterprise {
        return Ok(Target::Extension);
    }
    let (ext, rest) = if let Some(rest) = lower.strip_prefix(&format!("{enterprise}:")) {
        (true, &text[text.len() - rest.len()..])
    } else if let Some(rest) = lower.strip_prefix(&format!("{core}:")) {
        (false, &text[text.len() - rest.len()..])
    } else if lower.starts_with("urn:") {
        return Err(format!(
            "`{text}` names a schema this server does not serve"
        ));
    } else {
        (false, text)
    };
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    let attr = if ext {
        schema::find(schema::ENTERPRISE_ATTRS, name)
    } else {
        schema::user_attr(name)
    }
    .ok_or_else(|| format!("unknown attribute `{text}`"))?;
    let sub = match sub {
        None => None,
        Some(sub) => Some(attr.sub_attr(sub).ok_or_else(|| {
            format!(
                "unknown attribute `{text}`: `{}` has no sub-attribute `{sub}`",
                attr.name
            )
        })?),
    };
    Ok(Target::Attr(AttrRef { ext, attr, sub }))
}

fn resolve_attr(text: &str) -> Result<AttrRef, String> {
    match resolve(text)? {
        Target::Attr(attr) => Ok(attr),
        Target::Extension => Err(format!("`{text}` is a schema, not an attribute")),
    }
}

// ---- tokens ----

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Str(String),
    Word(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::OpenBracket,
                    _ => Token::CloseBracket,
                });
            }
            '"' => {
                // A JSON string: find its end (an unescaped quote), then decode it.
                chars.next();
                let mut escaped = false;
                let mut end = None;
                for (i, c) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        end = Some(i);
                        break;
                    }
                }
                let end =
                    end.ok_or_else(|| format!("unterminated string starting at character {at}"))?;
                let value: String = serde_json::from_str(&text[at..=end])
                    .map_err(|_| format!("invalid string literal at character {at}"))?;
                tokens.push(Token::Str(value));
            }
            _ => {
                let start = at;
                let mut end = text.len();
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"') {
                        end = i;
                        break;
                    }
                    chars.next();
                }
                tokens.push(Token::Word(text[start..end].to_string()));
            }
        }
    }
    Ok(tokens)
}

// ---- parser ----

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

/// Where attribute names resolve: the resource, or the elements of a multi-valued
/// attribute inside `[…]`.
#[derive(Clone, Copy)]
enum Scope {
    Resource,
    Element(&'static Attr),
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self, scope: Scope) -> Result<Filter, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("filter nested deeper than {MAX_DEPTH} levels"));
        }
        let mut left = self.and(scope)?;
        while self.keyword("or") {
            self.next();
            let right = self.and(scope)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self, scope: Scope) -> Result<Filter, String> {
        let mut left = self.unary(scope)?;
        while self.keyword("and") {
            self.next();
            let right = self.unary(scope)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn expect(&mut self, wanted: Token, what: &str) -> Result<(), String> {
        match self.next() {
            Some(token) if token == wanted => Ok(()),
            Some(other) => Err(format!("expected {what}, found {}", describe(&other))),
            None => Err(format!("expected {what}, found the end of the filter")),
        }
    }

    fn unary(&mut self, scope: Scope) -> Result<Filter, String> {
        if self.keyword("not") {
            self.next();
            self.expect(Token::Open, "`(` after `not`")?;
            let inner = self.or(scope)?;
            self.expect(Token::Close, "`)`")?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Token::Open) {
            self.next();
            let inner = self.or(scope)?;
            self.expect(Token::Close, "`)`")?;
            return Ok(inner);
        }
        self.attr_exp(scope)
    }

    fn attr_exp(&mut self, scope: Scope) -> Result<Filter, String> {
        let word = match self.next() {
            Some(Token::Word(word)) => word,
            Some(other) => {
                return Err(format!(
                    "expected an attribute name, found {}",
                    describe(&other)
                ))
            }
            None => return Err("expected an attribute name, found the end of the filter".into()),
        };
        let path = match scope {
            Scope::Resource => resolve_attr(&word)?,
            Scope::Element(parent) => {
                let sub = parent
                    .sub_attr(&word)
                    .ok_or_else(|| format!("unknown attribute `{word}` in `{}[…]`", parent.name))?;
                AttrRef {
                    ext: false,
                    attr: sub,
                    sub: None,
                }
            }
        };
        if self.peek() == Some(&Token::OpenBracket) {
            if matches!(scope, Scope::Element(_)) {
                return Err("a value filter `[…]` cannot be nested in another".into());
            }
            if path.sub.is_some() || path.attr.kind != Kind::Complex || !path.attr.multi {
                return Err(format!(
                    "`{}[…]`: a value filter needs a multi-valued complex attribute",
                    path.display()
                ));
            }
            self.next();
            let inner = self.or(Scope::Element(path.attr))?;
            self.expect(Token::CloseBracket, "`]`")?;
            let then = match self.peek() {
                Some(Token::Word(w)) if w.starts_with('.') => {
                    let name = w[1..].to_string();
                    self.next();
                    let sub = path.attr.sub_attr(&name).ok_or_else(|| {
                        format!("`{}` has no sub-attribute `{name}`", path.attr.name)
                    })?;
                    let element = AttrRef {
                        ext: false,
                        attr: sub,
                        sub: None,
                    };
                    Some((sub, self.comparison(&element)?))
                }
                _ => None,
            };
            return Ok(Filter::ValuePath {
                path,
                filter: Box::new(inner),
                then,
            });
        }
        Ok(match self.comparison(&path)? {
            None => Filter::Present(path),
            Some((op, value)) => Filter::Compare(path, op, value),
        })
    }

    /// `pr` (None) or `op value`.
    fn comparison(&mut self, path: &AttrRef) -> Result<Option<(CompareOp, Literal)>, String> {
        let op_word = match self.next() {
            Some(Token::Word(word)) => word,
            Some(other) => {
                return Err(format!(
                    "expected an operator after `{}`, found {}",
                    path.display(),
                    describe(&other)
                ))
            }
            None => return Err(format!("expected an operator after `{}`", path.display())),
        };
        if op_word.eq_ignore_ascii_case("pr") {
            return Ok(None);
        }
        let op = CompareOp::parse(&op_word).ok_or_else(|| {
            format!(
                "unknown operator `{op_word}` (expected eq, ne, co, sw, ew, gt, lt, ge, le or pr)"
            )
        })?;
        let value = match self.next() {
            Some(Token::Str(s)) => Literal::String(s),
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Literal::Bool(true),
                "false" => Literal::Bool(false),
                "null" => Literal::Null,
                _ => Literal::Number(w.parse::<f64>().map_err(|_| {
                    format!("`{w}` is not a value: strings are quoted (\"…\"), or use a number, true, false or null")
                })?),
            },
            Some(other) => return Err(format!("expected a value after `{}`, found {}", op.name(), describe(&other))),
            None => return Err(format!("expected a value after `{}`", op.name())),
        };
        check_operands(path, op, &value)?;
        Ok(Some((op, value)))
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Open => "`(`".into(),
        Token::Close => "`)`".into(),
        Token::OpenBracket => "`[`".into(),
        Token::CloseBracket => "`]`".into(),
        Token::Str(_) => "a string".into(),
        Token::Word(w) => format!("`{w}`"),
    }
}

/// Refuse comparisons that cannot mean anything for the attribute's type.
fn check_operands(path: &AttrRef, op: CompareOp, value: &Literal) -> Result<(), String> {
    let leaf = path.leaf();
    let name = path.display();
    if leaf.kind == Kind::Complex {
        return Err(format!(
            "`{name}` is complex: compare one of its sub-attributes"
        ));
    }
    if leaf.mutability == schema::Mutability::WriteOnly {
        return Err(format!("`{name}` is write-only and cannot be filtered on"));
    }
    let ordering = matches!(
        op,
        CompareOp::Gt | CompareOp::Lt | CompareOp::Ge | CompareOp::Le
    );
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    match (leaf.kind, value) {
        (_, Literal::Null) if matches!(op, CompareOp::Eq | CompareOp::Ne) => Ok(()),
        (_, Literal::Null) => Err(format!("`{}` null is meaningless", op.name())),
        (Kind::Boolean, Literal::Bool(_)) if !ordering && !substring => Ok(()),
        (Kind::Boolean, Literal::String(s))
            if !ordering && !substring && parse_bool(s).is_some() =>
        {
            Ok(())
        }
        (Kind::Boolean, _) => Err(format!(
            "`{name}` is a boolean: only `eq` and `ne` with true or false apply"
        )),
        (Kind::Binary, _) if ordering || substring => Err(format!(
            "`{name}` is binary: only `eq`, `ne` and `pr` apply"
        )),
        (Kind::DateTime, Literal::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|_| ())
            .map_err(|_| format!("`{name}` is a dateTime: compare it with an RFC 3339 time")),
        (Kind::String | Kind::Reference | Kind::Binary, Literal::String(_)) => Ok(()),
        _ => Err(format!(
            "`{name}` is a {}: compare it with a quoted string",
            kind_name(leaf.kind)
        )),
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::String => "string",
        Kind::Boolean => "boolean",
        Kind::Reference => "reference",
        Kind::Binary => "binary",
        Kind::DateTime => "dateTime",
        Kind::Complex => "complex attribute",
    }
}

/// `true`/`false` in any case (Entra sends "True" and "False").
pub fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn parse_with(text: &str, scope: Scope) -> Result<Filter, String> {
    if text.len() > MAX_FILTER_LEN {
        return Err(format!("filter longer than {MAX_FILTER_LEN} characters"));
    }
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err("empty filter".into());
    }
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    let filter = parser.or(scope)?;
    if let Some(extra) = parser.next() {
        return Err(format!("unexpected {} after the filter", describe(&extra)));
    }
    Ok(filter)
}

/// Parse a filter on User resources.
pub fn parse(text: &str) -> Result<Filter, String> {
    parse_with(text, Scope::Resource)
}

/// A PATCH path (RFC 7644 §3.5.2): `attr`, `attr.sub`, `attr[filter]`,
/// `attr[filter].sub`, each optionally URN-qualified, or the extension's URN.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchPath {
    Extension,
    Attr(AttrRef),
    Filtered {
        path: AttrRef,
        filter: Filter,
        sub: Option<&'static Attr>,
    },
}

pub fn parse_patch_path(text: &str) -> Result<PatchPath, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty path".into());
    }
    let Some(open) = text.find('[') else {
        return Ok(match resolve(text)? {
            Target::Extension => PatchPath::Extension,
            Target::Attr(attr) => PatchPath::Attr(attr),
        });
    };
    let close = text
        .rfind(']')
        .filter(|close| *close > open)
        .ok_or_else(|| format!("`{text}`: `[` without a closing `]`"))?;
    let path = resolve_attr(&text[..open])?;
    if path.sub.is_some() || path.attr.kind != Kind::Complex || !path.attr.multi {
        return Err(format!(
            "`{}[…]`: a value filter needs a multi-valued complex attribute",
            path.display()
        ));
    }
    let filter = parse_with(&text[open + 1..close], Scope::Element(path.attr))?;
    let rest = &text[close + 1..];
    let sub = if rest.is_empty() {
        None
    } else {
        let name = rest
            .strip_prefix('.')
            .ok_or_else(|| format!("`{text}`: expected `.subAttribute` after `]`"))?;
        Some(
            path.attr
                .sub_attr(name)
                .ok_or_else(|| format!("`{}` has no sub-attribute `{name}`", path.attr.name))?,
        )
    };
    Ok(PatchPath::Filtered { path, filter, sub })
}

// ---- evaluation ----

/// The values `path` holds in `container`: multi-valued attributes contribute each
/// element (or each element's sub-attribute / `value`).
fn values<'a>(path: &AttrRef, container: &'a Value) -> Vec<&'a Value> {
    let Some(value) = container.get(path.attr.name) else {
        return Vec::new();
    };
    let pick = |element: &'a Value| -> Option<&'a Value> {
        match (path.sub, path.attr.kind) {
            (Some(sub), _) => element.get(sub.name),
            (None, Kind::Complex) => element.get("value"),
            (None, _) => Some(element),
        }
    };
    match value {
        Value::Array(items) => items.iter().filter_map(pick).collect(),
        Value::Null => Vec::new(),
        single => pick(single).into_iter().collect(),
    }
}

fn present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare(leaf: &Attr, op: CompareOp, actual: &Value, expected: &Literal) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (actual, expected) {
        (Value::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Literal::String(s)) => parse_bool(s).map(|b| a.cmp(&b)),
        (Value::String(a), Literal::String(b)) if leaf.kind == Kind::DateTime => {
            match (
                chrono::DateTime::parse_from_rfc3339(a),
                chrono::DateTime::parse_from_rfc3339(b),
            ) {
                (Ok(a), Ok(b)) => Some(a.cmp(&b)),
                _ => None,
            }
        }
        (Value::String(a), Literal::String(b)) => {
            let (a, b) = if leaf.case_exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            return match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                CompareOp::Gt => a > b,
                CompareOp::Lt => a < b,
                CompareOp::Ge => a >= b,
                CompareOp::Le => a <= b,
            };
        }
        (Value::Number(a), Literal::Number(b)) => a.as_f64().and_then(|a| a.partial_cmp(b)),
        _ => None,
    };
    let Some(ordering) = ordering else {
        return false;
    };
    match op {
        CompareOp::Eq => ordering.is_eq(),
        CompareOp::Ne => !ordering.is_eq(),
        CompareOp::Gt => ordering.is_gt(),
        CompareOp::Lt => ordering.is_lt(),
        CompareOp::Ge => ordering.is_ge(),
        CompareOp::Le => ordering.is_le(),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn compare_any(path: &AttrRef, op: CompareOp, expected: &Literal, container: &Value) -> bool {
    let found: Vec<&Value> = values(path, container)
        .into_iter()
        .filter(|v| present(v))
        .collect();
    match (op, expected) {
        (CompareOp::Eq, Literal::Null) => found.is_empty(),
        (CompareOp::Ne, Literal::Null) => !found.is_empty(),
        // `ne`: no value equals the literal (an absent attribute matches).
        (CompareOp::Ne, _) => !found
            .iter()
            .any(|v| compare(path.leaf(), CompareOp::Eq, v, expected)),
        _ => found.iter().any(|v| compare(path.leaf(), op, v, expected)),
    }
}

impl Filter {
    /// Whether a resource (or, inside `[…]`, an element) matches.
    pub fn matches(&self, resource: &Value) -> bool {
        match self {
            Filter::Present(path) => path
                .container(resource)
                .is_some_and(|c| values(path, c).into_iter().any(present)),
            Filter::Compare(path, op, literal) => path
                .container(resource)
                .is_some_and(|c| compare_any(path, *op, literal, c)),
            Filter::ValuePath { path, filter, then } => {
                let Some(Value::Array(items)) =
                    path.container(resource).and_then(|c| c.get(path.attr.name))
                else {
                    return false;
                };
                items.iter().any(|element| {
                    filter.matches(element)
                        && match then {
                            None => true,
                            Some((sub, comparison)) => {
                                let leaf = AttrRef {
                                    ext: false,
                                    attr: sub,
                                    sub: None,
                                };
                                match comparison {
                                    None => element.get(sub.name).is_some_and(present),
                                    Some((op, literal)) => {
                                        compare_any(&leaf, *op, literal, element)
                                    }
                                }
                            }
                        }
                })
            }
            Filter::And(a, b) => a.matches(resource) && b.matches(resource),
            Filter::Or(a, b) => a.matches(resource) || b.matches(resource),
            Filter::Not(inner) => !inner.matches(resource),
        }
    }

    /// An indexed equality every match must satisfy (`userName eq`, `externalId eq`,
    /// `id eq`, alone or and-ed), so a listing reads only those rows.
    pub fn narrowing(&self) -> Option<(&'static str, String)> {
        match self {
            Filter::Compare(path, CompareOp::Eq, Literal::String(value))
                if !path.ext && path.sub.is_none() =>
            {
                match path.attr.name {
                    "userName" | "externalId" | "id" => Some((path.attr.name, value.clone())),
                    _ => None,
                }
            }
            Filter::And(a, b) => a.narrowing().or_else(|| b.narrowing()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "id": "2819c223",
            "userName": "Grace@Example-Corp.com",
            "externalId": "6c1d2e3f",
            "active": true,
            "displayName": "Grace Example",
            "name": {"givenName": "Grace", "familyName": "Example"},
            "emails": [
                {"value": "grace@example-corp.com", "type": "work", "primary": true},
                {"value": "grace@home.example", "type": "home"}
            ],
            "meta": {"created": "2026-01-02T03:04:05.000Z", "lastModified": "2026-01-02T03:04:05.000Z"},
            ENTERPRISE_SCHEMA: {"department": "Platform", "manager": {"value": "m1"}}
        })
    }

    fn check(filter: &str) -> bool {
        parse(filter)
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
            .matches(&user())
    }

    #[test]
    fn user_name_eq_ignores_case_of_value_attribute_and_operator() {
        assert!(check(r#"userName eq "grace@example-corp.com""#));
        assert!(check(r#"USERNAME EQ "GRACE@EXAMPLE-CORP.COM""#));
        assert!(check(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "grace@example-corp.com""#
        ));
        assert!(!check(r#"userName eq "someone@example-corp.com""#));
    }

    #[test]
    fn external_id_and_id_are_case_exact() {
        assert!(check(r#"externalId eq "6c1d2e3f""#));
        assert!(!check(r#"externalId eq "6C1D2E3F""#));
        assert!(check(r#"id eq "2819c223""#));
    }

    #[test]
    fn value_paths_as_entra_sends_them() {
        assert!(check(
            r#"emails[type eq "work"].value eq "grace@example-corp.com""#
        ));
        assert!(!check(
            r#"emails[type eq "home"].value eq "grace@example-corp.com""#
        ));
        assert!(check(r#"emails[type eq "work" and primary eq true]"#));
        assert!(check(r#"emails[type eq "home"].value pr"#));
        assert!(check(r#"emails.value eq "grace@home.example""#));
        assert!(check(r#"emails eq "grace@home.example""#));
        assert!(check(r#"emails co "home""#));
    }

    #[test]
    fn logic_precedence_and_grouping() {
        assert!(check(
            r#"userName eq "x" or active eq true and displayName sw "grace""#
        ));
        assert!(!check(
            r#"(userName eq "x" or active eq true) and displayName sw "nobody""#
        ));
        assert!(check(
            r#"not (userName eq "x") and externalId eq "6c1d2e3f""#
        ));
        assert!(check(r#"active eq "True""#));
        assert!(check(r#"title ne "boss""#));
        assert!(check(r#"title eq null"#));
        assert!(!check(r#"title pr"#));
        assert!(check(r#"name.givenName sw "gr""#));
        assert!(check(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "platform""#
        ));
        assert!(check(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m1""#
        ));
        assert!(check(r#"meta.lastModified gt "2026-01-01T00:00:00Z""#));
        assert!(!check(r#"meta.created gt "2026-01-02T03:04:05Z""#));
    }

    #[test]
    fn unsupported_or_malformed_filters_are_refused_with_a_reason() {
        for (filter, reason) in [
            ("", "empty"),
            ("userName", "operator"),
            (r#"userName xx "a""#, "unknown operator"),
            (r#"nickname eq"#, "value"),
            (r#"userName eq grace"#, "not a value"),
            (r#"bogus eq "a""#, "unknown attribute"),
            (r#"name eq "a""#, "complex"),
            (r#"active gt true"#, "boolean"),
            (r#"password eq "a""#, "write-only"),
            (r#"(userName eq "a""#, "`)`"),
            (r#"userName eq "a" extra"#, "unexpected"),
            (r#"userName eq "unterminated"#, "unterminated"),
            (r#"emails[type[value eq "a"]]"#, "nested"),
            (r#"displayName[value eq "a"]"#, "multi-valued"),
            (r#"urn:example:custom:attr eq "a""#, "schema"),
            (r#"meta.created gt "yesterday""#, "RFC 3339"),
        ] {
            let err = parse(filter).expect_err(filter);
            assert!(err.contains(reason), "{filter}: {err}");
        }
        let deep = format!("{}userName eq \"a\"{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep).unwrap_err().contains("nested deeper"));
    }

    #[test]
    fn narrowing_finds_indexed_equalities() {
        let f = parse(r#"active eq true and UserName eq "A@B.C""#).unwrap();
        assert_eq!(f.narrowing(), Some(("userName", "A@B.C".into())));
        assert_eq!(
            parse(r#"userName eq "a" or active eq true"#)
                .unwrap()
                .narrowing(),
            None
        );
        assert_eq!(
            parse(r#"externalId eq "x""#).unwrap().narrowing(),
            Some(("externalId", "x".into()))
        );
    }

    #[test]
    fn patch_paths() {
        assert_eq!(
            parse_patch_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User").unwrap(),
            PatchPath::Extension
        );
        match parse_patch_path(r#"emails[type eq "work"].value"#).unwrap() {
            PatchPath::Filtered { path, sub, .. } => {
                assert_eq!(path.attr.name, "emails");
                assert_eq!(sub.unwrap().name, "value");
            }
            other => panic!("{other:?}"),
        }
        match parse_patch_path(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:Manager.Value",
        )
        .unwrap()
        {
            PatchPath::Attr(path) => {
                assert!(path.ext);
                assert_eq!(path.display(), format!("{ENTERPRISE_SCHEMA}:manager.value"));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_patch_path("emails[type eq \"work\"").is_err());
        assert!(parse_patch_path("nope").is_err());
    }
}
