//! The User resource: what a client sends is normalised against the schema (canonical
//! attribute names, types checked, `"True"`/`"False"` strings read as booleans,
//! read-only attributes ignored, the write-only `password` dropped: never kept), then
//! stored; what is returned is the stored resource with `id` and `meta`, narrowed by
//! `attributes` / `excludedAttributes`.

use super::error::ScimError;
use super::filter::{parse_bool, resolve, Target};
use super::schema::{self, Attr, Kind, Mutability, ENTERPRISE_SCHEMA, USER_SCHEMA};
use crate::store::ScimUserRecord;
use leaver_connector::Identity;
use serde_json::{Map, Value};

/// Normalise one attribute value. `Ok(None)`: unassigned (null, empty).
pub fn normalize_value(attr: &Attr, value: &Value, name: &str) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if attr.multi {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        let mut out = Vec::new();
        for item in items {
            if let Some(item) = normalize_single(attr, item, name)? {
                out.push(item);
            }
        }
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    match value {
        // A one-element list for a single-valued attribute (Entra has sent the
        // manager so).
        Value::Array(items) if items.len() == 1 => normalize_single(attr, &items[0], name),
        Value::Array(_) => Err(ScimError::invalid_value(format!(
            "`{name}` is single-valued but several values were given"
        ))),
        single => normalize_single(attr, single, name),
    }
}

fn normalize_single(attr: &Attr, value: &Value, name: &str) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if attr.kind == Kind::Complex {
        return match value {
            Value::Object(fields) => {
                let mut out = Map::new();
                for (key, sub_value) in fields {
                    let Some(sub) = attr.sub_attr(key) else {
                        tracing::debug!(attribute = %name, sub = %key, "ignoring an unknown SCIM sub-attribute");
                        continue;
                    };
                    if sub.mutability == Mutability::ReadOnly {
                        continue;
                    }
                    let sub_name = format!("{name}.{}", sub.name);
                    if let Some(v) = normalize_single(sub, sub_value, &sub_name)? {
                        out.insert(sub.name.to_string(), v);
                    }
                }
                Ok((!out.is_empty()).then_some(Value::Object(out)))
            }
            // `"manager": "<id>"` (Entra) or `"emails": ["a@b"]`: the value itself.
            Value::String(_) | Value::Number(_) if attr.sub_attr("value").is_some() => {
                let sub = attr.sub_attr("value").expect("checked");
                let sub_name = format!("{name}.value");
                Ok(normalize_single(sub, value, &sub_name)?.map(|v| {
                    let mut out = Map::new();
                    out.insert("value".into(), v);
                    Value::Object(out)
                }))
            }
            _ => Err(ScimError::invalid_value(format!(
                "`{name}` must be an object"
            ))),
        };
    }
    match (attr.kind, value) {
        (Kind::Boolean, Value::Bool(b)) => Ok(Some(Value::Bool(*b))),
        (Kind::Boolean, Value::String(s)) => {
            parse_bool(s).map(|b| Some(Value::Bool(b))).ok_or_else(|| {
                ScimError::invalid_value(format!("`{name}` must be a boolean (true or false)"))
            })
        }
        (Kind::Boolean, _) => Err(ScimError::invalid_value(format!(
            "`{name}` must be a boolean (true or false)"
        ))),
        (_, Value::String(s)) if s.is_empty() => Ok(None),
        (_, Value::String(s)) => Ok(Some(Value::String(s.clone()))),
        // Numbers where strings are expected (employeeNumber: 4711) are kept as text.
        (_, Value::Number(n)) => Ok(Some(Value::String(n.to_string()))),
        _ => Err(ScimError::invalid_value(format!(
            "`{name}` must be a string"
        ))),
    }
}

/// Normalise the attributes of a schema (the resource root, or the extension object).
fn normalize_attrs(
    attrs: &'static [Attr],
    fields: &Map<String, Value>,
    prefix: &str,
    out: &mut Map<String, Value>,
) -> Result<(), ScimError> {
    for (key, value) in fields {
        let Some(attr) = schema::find(attrs, key) else {
            continue;
        };
        if attr.mutability != Mutability::ReadWrite {
            // Read-only (groups) is ignored on input; write-only (password) is
            // accepted and dropped: Leaver keeps no credential.
            continue;
        }
        let name = format!("{prefix}{}", attr.name);
        if let Some(v) = normalize_value(attr, value, &name)? {
            out.insert(attr.name.to_string(), v);
        }
    }
    Ok(())
}

/// Normalise a whole User (a POST or PUT body, or a patched resource) into what is
/// stored: `schemas`, `externalId`, core attributes, the enterprise extension.
/// `id`, `meta` and attributes of schemas Leaver does not serve are ignored.
pub fn normalize_user(input: &Value) -> Result<Value, ScimError> {
    let Value::Object(fields) = input else {
        return Err(ScimError::invalid_syntax("a User must be a JSON object"));
    };
    if let Some(schemas) = fields.get("schemas") {
        let ok = schemas
            .as_array()
            .is_some_and(|list| list.iter().all(Value::is_string));
        if !ok {
            return Err(ScimError::invalid_syntax(
                "`schemas` must be an array of URIs",
            ));
        }
    }
    let mut out = Map::new();
    let mut extension = Map::new();
    for (key, value) in fields {
        if key.eq_ignore_ascii_case("externalId") {
            if let Some(v) = normalize_single(&schema::EXTERNAL_ID, value, "externalId")? {
                out.insert("externalId".into(), v);
            }
        } else if key.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) {
            match value {
                Value::Object(ext) => normalize_attrs(
                    schema::ENTERPRISE_ATTRS,
                    ext,
                    &format!("{ENTERPRISE_SCHEMA}:"),
                    &mut extension,
                )?,
                Value::Null => {}
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "`{ENTERPRISE_SCHEMA}` must be an object"
                    )))
                }
            }
        }
    }
    normalize_attrs(schema::USER_ATTRS, fields, "", &mut out)?;
    match out.get("userName") {
        Some(Value::String(name)) if !name.trim().is_empty() => {}
        _ => {
            return Err(ScimError::invalid_value(
                "`userName` is required and must be a non-empty string",
            ))
        }
    }
    let mut schemas = vec![Value::String(USER_SCHEMA.into())];
    if !extension.is_empty() {
        schemas.push(Value::String(ENTERPRISE_SCHEMA.into()));
        out.insert(ENTERPRISE_SCHEMA.into(), Value::Object(extension));
    }
    out.insert("schemas".into(), Value::Array(schemas));
    Ok(Value::Object(out))
}

/// False only when the resource says `"active": false`.
pub fn is_active(resource: &Value) -> bool {
    resource.get("active") != Some(&Value::Bool(false))
}

pub fn user_name(resource: &Value) -> String {
    resource
        .get("userName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub fn external_id(resource: &Value) -> Option<String> {
    resource
        .get("externalId")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The weak ETag of a version.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

fn rfc3339(ms: i64) -> String {
    crate::store::runs::ms_to_rfc3339(ms)
}

/// The resource as returned: stored attributes plus `id` and `meta`.
pub fn render(record: &ScimUserRecord, base: &str) -> Value {
    let mut out = match &record.resource {
        Value::Object(fields) => fields.clone(),
        _ => Map::new(),
    };
    out.insert("id".into(), Value::String(record.id.clone()));
    out.insert(
        "meta".into(),
        serde_json::json!({
            "resourceType": "User",
            "created": rfc3339(record.created_at),
            "lastModified": rfc3339(record.updated_at),
            "location": format!("{base}/Users/{}", record.id),
            "version": etag(record.version),
        }),
    );
    if !out.contains_key("schemas") {
        out.insert("schemas".into(), serde_json::json!([USER_SCHEMA]));
    }
    Value::Object(out)
}

/// `attributes` or `excludedAttributes` (RFC 7644 §3.4.2.5).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Projection {
    include: Option<Vec<Target>>,
    exclude: Vec<Target>,
}

fn parse_names(names: &[String]) -> Vec<Target> {
    names
        .iter()
        .flat_map(|n| n.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        // A name Leaver does not serve selects nothing.
        .filter_map(|n| resolve(n).ok())
        .collect()
}

impl Projection {
    pub fn new(attributes: &[String], excluded: &[String]) -> Result<Self, ScimError> {
        let has = |list: &[String]| list.iter().any(|s| !s.trim().is_empty());
        if has(attributes) && has(excluded) {
            return Err(ScimError::invalid_syntax(
                "`attributes` and `excludedAttributes` are mutually exclusive",
            ));
        }
        Ok(Self {
            include: has(attributes).then(|| parse_names(attributes)),
            exclude: parse_names(excluded),
        })
    }

    /// Narrow a rendered resource. `id` and `schemas` are always returned.
    pub fn apply(&self, resource: Value) -> Value {
        let Value::Object(mut fields) = resource else {
            return resource;
        };
        if let Some(include) = &self.include {
            let mut out = Map::new();
            for key in ["schemas", "id"] {
                if let Some(v) = fields.get(key) {
                    out.insert(key.into(), v.clone());
                }
            }
            for target in include {
                copy_target(&fields, &mut out, target);
            }
            fields = out;
        }
        for target in &self.exclude {
            remove_target(&mut fields, target);
        }
        Value::Object(fields)
    }
}

fn copy_target(from: &Map<String, Value>, to: &mut Map<String, Value>, target: &Target) {
    let (source, dest) = match target {
        Target::Extension => {
            if let Some(ext) = from.get(ENTERPRISE_SCHEMA) {
                to.insert(ENTERPRISE_SCHEMA.into(), ext.clone());
            }
            return;
        }
        Target::Attr(path) if path.ext => {
            let Some(Value::Object(ext)) = from.get(ENTERPRISE_SCHEMA) else {
                return;
            };
            let dest = to
                .entry(ENTERPRISE_SCHEMA)
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(dest) = dest else { return };
            copy_attr(ext, dest, path.attr, path.sub);
            return;
        }
        Target::Attr(path) => (from, (path.attr, path.sub)),
    };
    copy_attr(source, to, dest.0, dest.1);
}

fn copy_attr(
    from: &Map<String, Value>,
    to: &mut Map<String, Value>,
    attr: &Attr,
    sub: Option<&Attr>,
) {
    if attr.returned == schema::Returned::Never {
        return;
    }
    let Some(value) = from.get(attr.name) else {
        return;
    };
    let Some(sub) = sub else {
        to.insert(attr.name.into(), value.clone());
        return;
    };
    let pick = |element: &Value, existing: Option<&Value>| -> Option<Value> {
        let v = element.get(sub.name)?;
        let mut object = existing
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        object.insert(sub.name.into(), v.clone());
        Some(Value::Object(object))
    };
    match value {
        Value::Array(items) => {
            let existing = to.get(attr.name).and_then(Value::as_array).cloned();
            let picked: Vec<Value> = items
                .iter()
                .enumerate()
                .filter_map(|(i, element)| {
                    let prior = existing.as_ref().and_then(|e| e.get(i));
                    pick(element, prior).or_else(|| prior.cloned())
                })
                .collect();
            if !picked.is_empty() {
                to.insert(attr.name.into(), Value::Array(picked));
            }
        }
        single => {
            if let Some(v) = pick(single, to.get(attr.name)) {
                to.insert(attr.name.into(), v);
            }
        }
    }
}

fn remove_target(fields: &mut Map<String, Value>, target: &Target) {
    match target {
        Target::Extension => {
            fields.remove(ENTERPRISE_SCHEMA);
        }
        Target::Attr(path) => {
            if path.attr.name == "id" && !path.ext {
                return; // returned always
            }
            let container = if path.ext {
                match fields.get_mut(ENTERPRISE_SCHEMA) {
                    Some(Value::Object(ext)) => ext,
                    _ => return,
                }
            } else {
                fields
            };
            match path.sub {
                None => {
                    container.remove(path.attr.name);
                }
                Some(sub) => match container.get_mut(path.attr.name) {
                    Some(Value::Array(items)) => {
                        for item in items.iter_mut() {
                            if let Value::Object(o) = item {
                                o.remove(sub.name);
                            }
                        }
                    }
                    Some(Value::Object(o)) => {
                        o.remove(sub.name);
                    }
                    _ => {}
                },
            }
        }
    }
}

/// The person a SCIM user is, for an offboarding: the email from userName (when it
/// is an address) or the emails (primary, then work, then the first), the IdP's id
/// (externalId, else Leaver's id) and a display name. None without any address.
pub fn identity(id: &str, resource: &Value, idp: &str) -> Option<Identity> {
    let user_name = resource
        .get("userName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let from_user_name = Some(user_name.trim()).filter(|n| n.contains('@'));
    let emails: Vec<&Value> = resource
        .get("emails")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    fn email_value<'a>(e: &&'a Value) -> Option<&'a str> {
        e.get("value")
            .and_then(Value::as_str)
            .filter(|v| v.contains('@'))
    }
    let from_emails = emails
        .iter()
        .find(|e| e.get("primary") == Some(&Value::Bool(true)))
        .and_then(email_value)
        .or_else(|| {
            emails
                .iter()
                .find(|e| e.get("type").and_then(Value::as_str) == Some("work"))
                .and_then(email_value)
        })
        .or_else(|| emails.iter().find_map(email_value));
    let email = from_user_name.or(from_emails)?.trim().to_lowercase();
    let mut identity = Identity::new(email);
    identity.idp = idp.to_string();
    identity.idp_user_id = Some(external_id(resource).unwrap_or_else(|| id.to_string()));
    let name = resource.get("name");
    identity.display_name = resource
        .get("displayName")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            name.and_then(|n| n.get("formatted"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| {
            let part = |k: &str| name.and_then(|n| n.get(k)).and_then(Value::as_str);
            match (part("givenName"), part("familyName")) {
                (Some(g), Some(f)) => Some(format!("{g} {f}")),
                (g, f) => g.or(f).map(str::to_string),
            }
        });
    Some(identity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIXTURE: &str = include_str!("../../../tests/scim/scim-user.json");

    fn record(resource: Value) -> ScimUserRecord {
        ScimUserRecord {
            id: "u1".into(),
            user_name: user_name(&resource),
            external_id: external_id(&resource),
            active: is_active(&resource),
            resource,
            version: 3,
            deactivations: 0,
            pending_event: None,
            created_at: 0,
            updated_at: 1000,
            deleted_at: None,
        }
    }

    #[test]
    fn the_fixture_user_normalises_and_keeps_its_extension() {
        let input: Value = serde_json::from_str(FIXTURE).unwrap();
        let user = normalize_user(&input).unwrap();
        assert_eq!(user["userName"], "grace@example-corp.com");
        assert_eq!(user["externalId"], "6c1d2e3f-0a9b-4c8d-9e7f-112233445566");
        assert_eq!(user["name"]["givenName"], "Grace");
        assert_eq!(user[ENTERPRISE_SCHEMA]["employeeNumber"], "4711");
        assert_eq!(user["schemas"], json!([USER_SCHEMA, ENTERPRISE_SCHEMA]));
        let identity = identity("u1", &user, "entra").unwrap();
        assert_eq!(identity.email, "grace@example-corp.com");
        assert_eq!(identity.idp, "entra");
        assert_eq!(
            identity.idp_user_id.as_deref(),
            Some("6c1d2e3f-0a9b-4c8d-9e7f-112233445566")
        );
        assert_eq!(identity.display_name.as_deref(), Some("Grace Example"));
    }

    #[test]
    fn names_are_canonicalised_and_types_checked() {
        let user = normalize_user(&json!({
            "USERNAME": "a@b.example",
            "Active": "False",
            "password": "canary-password-value",
            "groups": [{"value": "g1"}],
            "id": "client-chosen",
            "meta": {"version": "x"},
            "emails": {"Value": "a@b.example", "TYPE": "work"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"Manager": "m1", "EmployeeNumber": 4711},
            "urn:example:custom:1.0:User": {"x": 1},
            "unknownThing": 1,
        }))
        .unwrap();
        assert_eq!(
            user,
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
                "userName": "a@b.example",
                "active": false,
                "emails": [{"value": "a@b.example", "type": "work"}],
                ENTERPRISE_SCHEMA: {"manager": {"value": "m1"}, "employeeNumber": "4711"},
            })
        );
        assert!(!user.to_string().contains("canary-password-value"));
        for (bad, reason) in [
            (json!({"userName": ""}), "userName"),
            (json!({"displayName": "x"}), "userName"),
            (
                json!({"userName": "a", "active": "maybe"}),
                "`active` must be a boolean",
            ),
            (
                json!({"userName": "a", "name": "x"}),
                "`name` must be an object",
            ),
            (
                json!({"userName": "a", "displayName": ["a", "b"]}),
                "single-valued",
            ),
            (json!({"userName": "a", "schemas": "x"}), "schemas"),
            (json!([1]), "object"),
        ] {
            let err = normalize_user(&bad).unwrap_err();
            assert!(err.detail.contains(reason), "{bad}: {err}");
        }
    }

    #[test]
    fn projection_includes_and_excludes() {
        let rendered = render(
            &record(json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
                "userName": "a@b.example",
                "displayName": "A",
                "name": {"givenName": "G", "familyName": "F"},
                "emails": [{"value": "a@b.example", "type": "work"}],
                ENTERPRISE_SCHEMA: {"department": "D", "costCenter": "C"},
            })),
            "http://h/scim/v2",
        );
        assert_eq!(rendered["meta"]["location"], "http://h/scim/v2/Users/u1");
        assert_eq!(rendered["meta"]["version"], "W/\"3\"");
        let only = Projection::new(
            &[
                "userName,name.givenName".into(),
                format!("{ENTERPRISE_SCHEMA}:department"),
            ],
            &[],
        )
        .unwrap()
        .apply(rendered.clone());
        assert_eq!(
            only,
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
                "id": "u1",
                "userName": "a@b.example",
                "name": {"givenName": "G"},
                ENTERPRISE_SCHEMA: {"department": "D"},
            })
        );
        let without = Projection::new(
            &[],
            &[
                "displayName,emails.type,id".into(),
                ENTERPRISE_SCHEMA.into(),
            ],
        )
        .unwrap()
        .apply(rendered);
        assert!(without.get("displayName").is_none());
        assert!(without.get(ENTERPRISE_SCHEMA).is_none());
        assert_eq!(without["emails"], json!([{"value": "a@b.example"}]));
        assert_eq!(without["id"], "u1");
        assert!(Projection::new(&["a".into()], &["b".into()]).is_err());
    }

    #[test]
    fn identity_falls_back_to_emails_and_names() {
        let r = json!({
            "userName": "grace",
            "name": {"givenName": "Grace", "familyName": "Example"},
            "emails": [{"value": "home@x.example", "type": "home"}, {"value": "Grace@Work.Example", "type": "work"}],
        });
        let identity = identity("u1", &r, "okta").unwrap();
        assert_eq!(identity.email, "grace@work.example");
        assert_eq!(identity.idp_user_id.as_deref(), Some("u1"));
        assert_eq!(identity.display_name.as_deref(), Some("Grace Example"));
        assert!(super::identity("u1", &json!({"userName": "nomail"}), "okta").is_none());
    }
}
