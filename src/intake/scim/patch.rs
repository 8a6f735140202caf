//! PATCH (RFC 7644 §3.5.2): `add`, `replace` and `remove` operations (in any case),
//! with a path (`attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`, URN-qualified
//! or not, or the enterprise extension's URN) or, for add and replace, without one: the
//! value is then an object whose keys are paths. Operations apply in order to a copy
//! of the resource, which is validated as a whole afterwards: a request applies
//! entirely or not at all.
//!
//! Entra's variants are accepted: `"op": "Replace"`, `"value": "False"` for a boolean,
//! the manager given as a bare id, and `emails[type eq "work"].value` creating the work
//! email when there is none.

use super::error::ScimError;
use super::filter::{parse_patch_path, resolve, AttrRef, CompareOp, Filter, Literal, PatchPath};
use super::resource::{normalize_user, normalize_value};
use super::schema::{self, Attr, Kind, Mutability, ENTERPRISE_SCHEMA, PATCH_OP};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    /// The path as sent, for messages.
    pub path_text: Option<String>,
    pub value: Option<Value>,
}

fn get_ci<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// Parse a PatchOp body.
pub fn parse(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let Value::Object(fields) = body else {
        return Err(ScimError::invalid_syntax("a PatchOp must be a JSON object"));
    };
    if let Some(schemas) = get_ci(fields, "schemas") {
        let names_patch_op = schemas.as_array().is_some_and(|l| {
            l.iter()
                .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP)))
        });
        if !names_patch_op {
            return Err(ScimError::invalid_syntax(format!(
                "`schemas` must name {PATCH_OP}"
            )));
        }
    }
    let operations = match get_ci(fields, "Operations") {
        Some(Value::Array(ops)) if !ops.is_empty() => ops,
        Some(Value::Array(_)) => return Err(ScimError::invalid_value("`Operations` is empty")),
        Some(_) => return Err(ScimError::invalid_syntax("`Operations` must be an array")),
        None => return Err(ScimError::invalid_syntax("a PatchOp needs `Operations`")),
    };
    operations
        .iter()
        .enumerate()
        .map(|(i, op)| parse_operation(i, op))
        .collect()
}

fn parse_operation(index: usize, op: &Value) -> Result<Operation, ScimError> {
    let n = index + 1;
    let Value::Object(fields) = op else {
        return Err(ScimError::invalid_syntax(format!(
            "operation {n} must be an object"
        )));
    };
    let kind = match get_ci(fields, "op")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("add") => OpKind::Add,
        Some("replace") => OpKind::Replace,
        Some("remove") => OpKind::Remove,
        Some(_) | None => {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n}: `op` must be add, replace or remove"
            )))
        }
    };
    let path_text = match get_ci(fields, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(p.clone()),
        Some(_) => {
            return Err(ScimError::invalid_path(format!(
                "operation {n}: `path` must be a string"
            )))
        }
    };
    let path = path_text
        .as_deref()
        .map(|p| {
            parse_patch_path(p).map_err(|e| ScimError::invalid_path(format!("operation {n}: {e}")))
        })
        .transpose()?;
    let value = get_ci(fields, "value").cloned();
    match (kind, &path, &value) {
        (OpKind::Remove, None, _) => Err(ScimError::no_target(format!(
            "operation {n}: remove needs a `path`"
        ))),
        (OpKind::Add | OpKind::Replace, None, Some(Value::Object(_))) => Ok(()),
        (OpKind::Add | OpKind::Replace, None, _) => Err(ScimError::invalid_value(format!(
            "operation {n}: without a `path`, `value` must be an object of attributes"
        ))),
        (OpKind::Add | OpKind::Replace, Some(_), None) => Err(ScimError::invalid_value(format!(
            "operation {n}: `value` is required"
        ))),
        _ => Ok(()),
    }?;
    Ok(Operation {
        op: kind,
        path,
        path_text,
        value,
    })
}

/// Apply `operations` to a stored resource; the result is normalised and validated.
pub fn apply(resource: &Value, operations: &[Operation]) -> Result<Value, ScimError> {
    let mut doc = match resource {
        Value::Object(fields) => fields.clone(),
        _ => Map::new(),
    };
    for (i, operation) in operations.iter().enumerate() {
        let n = i + 1;
        match &operation.path {
            Some(path) => apply_path(&mut doc, operation.op, path, operation.value.as_ref(), n)?,
            None => {
                let Some(Value::Object(values)) = &operation.value else {
                    return Err(ScimError::invalid_value(format!(
                        "operation {n}: `value` must be an object"
                    )));
                };
                for (key, value) in values {
                    let path = match parse_patch_path(key) {
                        Ok(path) => path,
                        // Attributes of schemas Leaver does not serve are ignored,
                        // as on create.
                        Err(_)
                            if key.to_ascii_lowercase().starts_with("urn:")
                                && resolve(key).is_err() =>
                        {
                            continue
                        }
                        Err(e) => {
                            return Err(ScimError::invalid_path(format!("operation {n}: {e}")))
                        }
                    };
                    apply_path(&mut doc, operation.op, &path, Some(value), n)?;
                }
            }
        }
    }
    normalize_user(&Value::Object(doc))
}

fn apply_path(
    doc: &mut Map<String, Value>,
    op: OpKind,
    path: &PatchPath,
    value: Option<&Value>,
    n: usize,
) -> Result<(), ScimError> {
    match path {
        PatchPath::Extension => {
            if op == OpKind::Remove {
                doc.remove(ENTERPRISE_SCHEMA);
                return Ok(());
            }
            let value = value.unwrap_or(&Value::Null);
            let Value::Object(fields) = value else {
                return Err(ScimError::invalid_value(format!(
                    "operation {n}: `{ENTERPRISE_SCHEMA}` must be an object"
                )));
            };
            for (key, v) in fields {
                let Some(attr) = schema::find(schema::ENTERPRISE_ATTRS, key) else {
                    continue;
                };
                let path = AttrRef {
                    ext: true,
                    attr,
                    sub: None,
                };
                apply_attr(doc, op, &path, Some(v), n)?;
            }
            Ok(())
        }
        PatchPath::Attr(path) => apply_attr(doc, op, path, value, n),
        PatchPath::Filtered { path, filter, sub } => {
            apply_filtered(doc, op, path, filter, *sub, value, n)
        }
    }
}

fn check_writable(path: &AttrRef, n: usize) -> Result<(), ScimError> {
    let read_only = path.attr.mutability == Mutability::ReadOnly
        || path
            .sub
            .is_some_and(|s| s.mutability == Mutability::ReadOnly);
    if read_only {
        return Err(ScimError::mutability(format!(
            "operation {n}: `{}` is read-only",
            path.display()
        )));
    }
    Ok(())
}

/// The object an attribute lives in (the root, or the extension, created if needed).
fn container<'a>(doc: &'a mut Map<String, Value>, path: &AttrRef) -> &'a mut Map<String, Value> {
    if !path.ext {
        return doc;
    }
    let ext = doc
        .entry(ENTERPRISE_SCHEMA)
        .or_insert_with(|| Value::Object(Map::new()));
    if !ext.is_object() {
        *ext = Value::Object(Map::new());
    }
    ext.as_object_mut().expect("made an object above")
}

fn normalized(attr: &Attr, value: &Value, name: &str) -> Result<Option<Value>, ScimError> {
    normalize_value(attr, value, name)
}

fn apply_attr(
    doc: &mut Map<String, Value>,
    op: OpKind,
    path: &AttrRef,
    value: Option<&Value>,
    n: usize,
) -> Result<(), ScimError> {
    check_writable(path, n)?;
    let name = path.display();
    let attr = path.attr;
    if attr.mutability == Mutability::WriteOnly {
        // The password: checked, accepted, never kept.
        if let Some(v) = value {
            normalized(attr, v, &name)?;
        }
        return Ok(());
    }
    let target = container(doc, path);
    match (op, path.sub) {
        (OpKind::Remove, None) => {
            if attr.required {
                return Err(ScimError::mutability(format!(
                    "operation {n}: `{name}` is required and cannot be removed"
                )));
            }
            match (attr.multi, value) {
                // Remove the given values from a multi-valued attribute.
                (true, Some(v)) if !v.is_null() => {
                    let remove = normalized(attr, v, &name)?.unwrap_or(Value::Array(Vec::new()));
                    let remove = remove.as_array().cloned().unwrap_or_default();
                    if let Some(Value::Array(items)) = target.get_mut(attr.name) {
                        items.retain(|item| !remove.iter().any(|r| same_element(item, r)));
                        if items.is_empty() {
                            target.remove(attr.name);
                        }
                    }
                }
                _ => {
                    target.remove(attr.name);
                }
            }
        }
        (OpKind::Add | OpKind::Replace, None) => {
            let v = value.unwrap_or(&Value::Null);
            match normalized(attr, v, &name)? {
                None => {
                    if attr.required {
                        return Err(ScimError::invalid_value(format!(
                            "operation {n}: `{name}` cannot be empty"
                        )));
                    }
                    target.remove(attr.name);
                }
                Some(new) => set_attr(target, attr, new, op),
            }
        }
        (_, Some(sub)) => {
            let sub_name = name.to_string();
            let new = match op {
                OpKind::Remove => None,
                _ => normalized(sub, value.unwrap_or(&Value::Null), &sub_name)?,
            };
            match target.get_mut(attr.name) {
                Some(Value::Array(items)) => {
                    for item in items.iter_mut() {
                        set_sub(item, sub, new.clone());
                    }
                    items.retain(|item| item.as_object().is_some_and(|o| !o.is_empty()));
                    if items.is_empty() {
                        target.remove(attr.name);
                    }
                }
                Some(existing @ Value::Object(_)) => {
                    set_sub(existing, sub, new);
                    if existing.as_object().is_some_and(|o| o.is_empty()) {
                        target.remove(attr.name);
                    }
                }
                _ => {
                    if let Some(new) = new {
                        let mut object = Map::new();
                        object.insert(sub.name.into(), new);
                        let element = Value::Object(object);
                        target.insert(
                            attr.name.into(),
                            if attr.multi {
                                Value::Array(vec![element])
                            } else {
                                element
                            },
                        );
                    }
                }
            }
        }
    }
    if path.ext && target.is_empty() {
        doc.remove(ENTERPRISE_SCHEMA);
    }
    Ok(())
}

/// Set (or, with None, remove) one sub-attribute of an element.
fn set_sub(element: &mut Value, sub: &Attr, value: Option<Value>) {
    if !element.is_object() {
        *element = Value::Object(Map::new());
    }
    let object = element.as_object_mut().expect("made an object above");
    match value {
        Some(v) => {
            object.insert(sub.name.into(), v);
        }
        None => {
            object.remove(sub.name);
        }
    }
}

/// Two values of a multi-valued attribute are the same when their `value`s are (or,
/// without one, when they are equal).
fn same_element(a: &Value, b: &Value) -> bool {
    match (a.get("value"), b.get("value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Add or replace a whole attribute with its normalised `new` value.
fn set_attr(target: &mut Map<String, Value>, attr: &Attr, new: Value, op: OpKind) {
    match (attr.multi, attr.kind, op) {
        (true, _, OpKind::Add) => {
            let additions = new.as_array().cloned().unwrap_or_default();
            let entry = target
                .entry(attr.name)
                .or_insert_with(|| Value::Array(Vec::new()));
            if !entry.is_array() {
                *entry = Value::Array(Vec::new());
            }
            let items = entry.as_array_mut().expect("made an array above");
            for addition in additions {
                // A new primary value takes the flag from the others (RFC 7643 §2.4).
                if addition.get("primary") == Some(&Value::Bool(true)) {
                    for item in items.iter_mut() {
                        if let Some(o) = item.as_object_mut() {
                            o.remove("primary");
                        }
                    }
                }
                match items.iter_mut().find(|item| **item == addition) {
                    Some(_) => {}
                    None => items.push(addition),
                }
            }
        }
        (false, Kind::Complex, _) => {
            // Sub-attributes given replace theirs; the others stay (§3.5.2.1, §3.5.2.3).
            let entry = target
                .entry(attr.name)
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            let object = entry.as_object_mut().expect("made an object above");
            if let Value::Object(fields) = new {
                object.extend(fields);
            }
        }
        _ => {
            target.insert(attr.name.into(), new);
        }
    }
}

/// The `sub eq "literal"` conditions of a filter made only of and-ed equalities: what
/// a new element must hold to match it.
fn equalities(filter: &Filter) -> Option<Vec<(&'static Attr, Value)>> {
    match filter {
        Filter::Compare(path, CompareOp::Eq, literal) => {
            let value = match literal {
                Literal::String(s) => Value::String(s.clone()),
                Literal::Bool(b) => Value::Bool(*b),
                _ => return None,
            };
            let value = if path.attr.kind == Kind::Boolean {
                match value {
                    Value::String(s) => Value::Bool(super::filter::parse_bool(&s)?),
                    other => other,
                }
            } else {
                value
            };
            Some(vec![(path.attr, value)])
        }
        Filter::And(a, b) => {
            let mut out = equalities(a)?;
            out.extend(equalities(b)?);
            Some(out)
        }
        _ => None,
    }
}

fn apply_filtered(
    doc: &mut Map<String, Value>,
    op: OpKind,
    path: &AttrRef,
    filter: &Filter,
    sub: Option<&'static Attr>,
    value: Option<&Value>,
    n: usize,
) -> Result<(), ScimError> {
    let full = AttrRef { sub, ..*path };
    check_writable(&full, n)?;
    let name = path.display();
    let attr = path.attr;
    // The value to write: a sub-attribute's, or an element's.
    let new = match (op, sub) {
        (OpKind::Remove, _) => None,
        (_, Some(sub)) => normalized(
            sub,
            value.unwrap_or(&Value::Null),
            &format!("{name}.{}", sub.name),
        )?,
        (_, None) => match value.unwrap_or(&Value::Null) {
            Value::Array(items) if items.len() == 1 => normalize_value(attr, &items[0], &name)?
                .and_then(|v| v.as_array()?.first().cloned()),
            other => {
                normalize_value(attr, other, &name)?.and_then(|v| v.as_array()?.first().cloned())
            }
        },
    };
    let target = container(doc, path);
    let items = match target.get_mut(attr.name) {
        Some(Value::Array(items)) => items,
        _ => {
            target.insert(attr.name.into(), Value::Array(Vec::new()));
            target
                .get_mut(attr.name)
                .and_then(Value::as_array_mut)
                .expect("inserted above")
        }
    };
    let matching: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| filter.matches(item))
        .map(|(i, _)| i)
        .collect();
    match op {
        OpKind::Remove => {
            // Nothing to remove is not an error: the state asked for holds.
            match sub {
                None => {
                    let mut i = 0;
                    items.retain(|_| {
                        let keep = !matching.contains(&i);
                        i += 1;
                        keep
                    });
                }
                Some(sub) => {
                    for &i in &matching {
                        set_sub(&mut items[i], sub, None);
                    }
                    items.retain(|item| item.as_object().is_some_and(|o| !o.is_empty()));
                }
            }
        }
        OpKind::Add | OpKind::Replace => {
            let Some(new) = new else {
                return Err(ScimError::invalid_value(format!(
                    "operation {n}: `value` is empty"
                )));
            };
            if matching.is_empty() {
                // Create the element the filter describes, if it describes one.
                let conditions = equalities(filter).ok_or_else(|| {
                    ScimError::no_target(format!(
                        "operation {n}: no value of `{name}` matches the filter"
                    ))
                })?;
                let mut element = Map::new();
                for (attr, v) in conditions {
                    element.insert(attr.name.into(), v);
                }
                match sub {
                    Some(sub) => {
                        element.insert(sub.name.into(), new);
                    }
                    None => {
                        if let Value::Object(fields) = new {
                            element.extend(fields);
                        }
                    }
                }
                items.push(Value::Object(element));
            } else {
                for &i in &matching {
                    match sub {
                        Some(sub) => set_sub(&mut items[i], sub, Some(new.clone())),
                        None => {
                            if let (Some(existing), Value::Object(fields)) =
                                (items[i].as_object_mut(), &new)
                            {
                                existing.extend(fields.clone());
                            }
                        }
                    }
                }
            }
        }
    }
    if items.is_empty() {
        target.remove(attr.name);
    }
    if path.ext && target.is_empty() {
        doc.remove(ENTERPRISE_SCHEMA);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ENTRA_VARIANTS: &str =
        include_str!("../../../tests/scim/scim-patch-deactivate-entra-variants.json");
    const STANDARD: &str = include_str!("../../../tests/scim/scim-patch-deactivate-standard.json");
    const USER: &str = include_str!("../../../tests/scim/scim-user.json");

    fn user() -> Value {
        normalize_user(&serde_json::from_str(USER).unwrap()).unwrap()
    }

    fn patch(resource: &Value, body: Value) -> Result<Value, ScimError> {
        apply(resource, &parse(&body)?)
    }

    fn ops(list: Value) -> Value {
        json!({"schemas": [PATCH_OP], "Operations": list})
    }

    #[test]
    fn every_deactivation_fixture_sets_active_false() {
        let variants: Vec<Value> = serde_json::from_str(ENTRA_VARIANTS).unwrap();
        let mut bodies: Vec<Value> = variants.into_iter().map(|v| v["body"].clone()).collect();
        bodies.push(serde_json::from_str(STANDARD).unwrap());
        for body in bodies {
            let patched = patch(&user(), body.clone()).unwrap();
            assert_eq!(patched["active"], false, "{body}");
            assert_eq!(patched["userName"], "grace@example-corp.com");
        }
        let variants: Vec<Value> = serde_json::from_str(ENTRA_VARIANTS).unwrap();
        let patched = patch(&user(), variants[2]["body"].clone()).unwrap();
        assert_eq!(patched["displayName"], "Grace Example (left)");
    }

    #[test]
    fn paths_without_a_path_and_urn_keys() {
        let patched = patch(
            &user(),
            ops(json!([{"op": "Add", "value": {
                "nickName": "G",
                "name.familyName": "Example-Smith",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Security",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": "m-42",
                "urn:example:custom:2.0:User:thing": "ignored",
            }}])),
        )
        .unwrap();
        assert_eq!(patched["nickName"], "G");
        assert_eq!(patched["name"]["familyName"], "Example-Smith");
        assert_eq!(patched["name"]["givenName"], "Grace");
        assert_eq!(patched[ENTERPRISE_SCHEMA]["department"], "Security");
        assert_eq!(patched[ENTERPRISE_SCHEMA]["employeeNumber"], "4711");
        assert_eq!(
            patched[ENTERPRISE_SCHEMA]["manager"],
            json!({"value": "m-42"})
        );
        let replaced = patch(
            &user(),
            ops(json!([{"op": "replace", "value": {
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"costCenter": "CC1"}
            }}])),
        )
        .unwrap();
        assert_eq!(replaced[ENTERPRISE_SCHEMA]["costCenter"], "CC1");
        assert_eq!(replaced[ENTERPRISE_SCHEMA]["department"], "Platform");
    }

    #[test]
    fn multi_valued_and_filtered_paths() {
        let base = user();
        let added = patch(
            &base,
            ops(json!([{"op": "add", "path": "emails", "value": [{"value": "g@home.example", "type": "home"}]}])),
        )
        .unwrap();
        assert_eq!(added["emails"].as_array().unwrap().len(), 2);
        let work = patch(
            &added,
            ops(json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@example-corp.com"}])),
        )
        .unwrap();
        assert_eq!(work["emails"][0]["value"], "new@example-corp.com");
        assert_eq!(work["emails"][1]["value"], "g@home.example");
        // No matching element: Entra expects it created.
        let created = patch(
            &base,
            ops(json!([{"op": "replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"}])),
        )
        .unwrap();
        assert_eq!(
            created["phoneNumbers"],
            json!([{"type": "mobile", "value": "+1 555 0100"}])
        );
        let removed = patch(
            &added,
            ops(json!([{"op": "remove", "path": "emails[type eq \"home\"]"}])),
        )
        .unwrap();
        assert_eq!(removed["emails"].as_array().unwrap().len(), 1);
        let removed_all = patch(&added, ops(json!([{"op": "remove", "path": "emails"}]))).unwrap();
        assert!(removed_all.get("emails").is_none());
        let by_value = patch(
            &added,
            ops(
                json!([{"op": "remove", "path": "emails", "value": [{"value": "g@home.example"}]}]),
            ),
        )
        .unwrap();
        assert_eq!(by_value["emails"].as_array().unwrap().len(), 1);
        let replaced = patch(&added, ops(json!([{"op": "replace", "path": "emails", "value": [{"value": "only@x.example"}]}]))).unwrap();
        assert_eq!(replaced["emails"], json!([{"value": "only@x.example"}]));
        let no_target = patch(
            &base,
            ops(json!([{"op": "replace", "path": "emails[value co \"zzz\"].type", "value": "other"}])),
        )
        .unwrap_err();
        assert_eq!(no_target.scim_type, Some("noTarget"));
    }

    #[test]
    fn remove_sub_attributes_and_the_extension() {
        let base = user();
        let r = patch(
            &base,
            ops(json!([{"op": "remove", "path": "name.givenName"}])),
        )
        .unwrap();
        assert!(r["name"].get("givenName").is_none());
        let r = patch(&base, ops(json!([{"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}]))).unwrap();
        assert!(r.get(ENTERPRISE_SCHEMA).is_none());
        assert_eq!(r["schemas"], json!([schema::USER_SCHEMA]));
        let r = patch(&base, ops(json!([
            {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"},
            {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"}
        ]))).unwrap();
        assert!(r.get(ENTERPRISE_SCHEMA).is_none());
    }

    #[test]
    fn bad_requests_change_nothing_and_say_why() {
        let base = user();
        for (body, scim_type, reason) in [
            (json!({"Operations": []}), "invalidValue", "empty"),
            (
                json!({"schemas": ["urn:x"], "Operations": [{"op": "add"}]}),
                "invalidSyntax",
                "PatchOp",
            ),
            (
                ops(json!([{"op": "merge", "path": "x", "value": 1}])),
                "invalidSyntax",
                "add, replace or remove",
            ),
            (ops(json!([{"op": "remove"}])), "noTarget", "path"),
            (
                ops(json!([{"op": "add", "value": "x"}])),
                "invalidValue",
                "object",
            ),
            (
                ops(json!([{"op": "replace", "path": "nope", "value": 1}])),
                "invalidPath",
                "unknown attribute",
            ),
            (
                ops(json!([{"op": "replace", "path": "id", "value": "x"}])),
                "mutability",
                "read-only",
            ),
            (
                ops(json!([{"op": "remove", "path": "userName"}])),
                "mutability",
                "required",
            ),
            (
                ops(json!([{"op": "replace", "path": "active", "value": "perhaps"}])),
                "invalidValue",
                "boolean",
            ),
            (
                ops(json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}])),
                "mutability",
                "read-only",
            ),
            // The first operation would succeed; the second fails: nothing applies.
            (
                ops(
                    json!([{"op": "replace", "path": "displayName", "value": "X"}, {"op": "replace", "path": "active", "value": 3}]),
                ),
                "invalidValue",
                "boolean",
            ),
        ] {
            let err = patch(&base, body.clone()).unwrap_err();
            assert_eq!(err.scim_type, Some(scim_type), "{body}: {err}");
            assert!(err.detail.contains(reason), "{body}: {err}");
        }
    }

    #[test]
    fn a_password_is_accepted_and_dropped() {
        let r = patch(
            &user(),
            ops(json!([{"op": "replace", "path": "password", "value": "canary-pw-1"}, {"op": "add", "value": {"password": "canary-pw-2"}}])),
        )
        .unwrap();
        assert!(!r.to_string().contains("canary-pw"));
    }
}
