//! The JSON Schema (draft 2020-12) of plan files, for editors: top-level and step keys,
//! `uses` as the list of every action, and each action's `with` parameters.

use super::model::KNOWN_TRIGGER_EVENTS;
use leaver_connector::Registry;
use serde_json::{json, Map, Value};

const DURATION_PATTERN: &str = r"^\s*([0-9]+\s*(ns|us|ms|s|sec|secs|m|min|mins|h|hr|hrs|d|day|days|w|week|weeks|M|month|months|y|year|years)\s*)+$";

/// Rewrite `#/$defs/X` references of an action's schema to `#/$defs/{prefix}X`.
fn prefix_refs(value: &mut Value, prefix: &str) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if key == "$ref" {
                    if let Value::String(reference) = inner {
                        if let Some(name) = reference.strip_prefix("#/$defs/") {
                            *reference = format!("#/$defs/{prefix}{name}");
                        }
                    }
                } else {
                    prefix_refs(inner, prefix);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| prefix_refs(v, prefix)),
        _ => {}
    }
}

pub fn json_schema(registry: &Registry) -> Value {
    let mut defs = Map::new();
    defs.insert(
        "duration".into(),
        json!({"type": "string", "pattern": DURATION_PATTERN, "description": "e.g. 30s, 15m, 24h, 7d"}),
    );
    let actions = registry.all_actions();
    let mut uses = Vec::new();
    let mut per_action = Vec::new();
    for (name, spec) in &actions {
        uses.push(Value::String(name.clone()));
        let prefix = format!("{}__", name.replace('.', "_"));
        let mut params = spec.params_schema.clone();
        prefix_refs(&mut params, &prefix);
        if let Some(Value::Object(nested)) = params.as_object_mut().and_then(|o| o.remove("$defs"))
        {
            for (def, schema) in nested {
                defs.insert(format!("{prefix}{def}"), schema);
            }
        }
        if let Some(obj) = params.as_object_mut() {
            obj.insert(
                "description".into(),
                Value::String(spec.description.to_string()),
            );
        }
        per_action.push(json!({
            "if": {"properties": {"uses": {"const": name}}, "required": ["uses"]},
            "then": {"properties": {"with": params}}
        }));
    }
    let step = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["id", "uses"],
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]*$"},
            "uses": {"enum": uses, "description": "connector.action"},
            "with": {"type": "object", "description": "the action's parameters"},
            "needs": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
            "retry": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "max_attempts": {"type": "integer", "minimum": 1},
                    "initial_backoff": {"$ref": "#/$defs/duration"},
                    "max_backoff": {"$ref": "#/$defs/duration"}
                }
            },
            "timeout": {"$ref": "#/$defs/duration"}
        },
        "allOf": per_action
    });
    defs.insert("step".into(), step);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://leaver.dev/schemas/plan.json",
        "title": "Leaver revocation plan",
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "steps"],
        "properties": {
            "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$", "description": "equals the file name without .yaml"},
            "description": {"type": "string"},
            "trigger": {
                "type": "object",
                "additionalProperties": false,
                "properties": {"events": {"type": "array", "items": {"enum": KNOWN_TRIGGER_EVENTS}}}
            },
            "sla": {"$ref": "#/$defs/duration"},
            "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}},
            "restore": {"type": "array", "items": {"$ref": "#/$defs/step"}}
        },
        "$defs": defs
    })
}
