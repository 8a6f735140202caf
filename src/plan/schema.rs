//! The JSON Schema (draft 2020-12) of plan files, for editors: top-level and step keys,
//! `uses` as the list of every `connector.action`, and each action's `with` parameters
//! selected by the value of `uses` (`if`/`then`).

use super::model::KNOWN_TRIGGER_EVENTS;
use crate::duration::duration_schema;
use leaver_connector::Registry;
use serde_json::{json, Map, Value};

/// Where editors and `$id` say the schema lives.
pub const SCHEMA_ID: &str = "https://leaver.dev/schemas/plan.json";

/// Rewrite `#/$defs/X` references of an action's schema to `#/$defs/{prefix}X`.
fn prefix_refs(value: &mut Value, prefix: &str) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(reference)) => {
                        if let Some(name) = reference.strip_prefix("#/$defs/") {
                            *reference = format!("#/$defs/{prefix}{name}");
                        } else if reference == "#" {
                            *reference = format!("#/$defs/{prefix}with");
                        }
                    }
                    (_, inner) => prefix_refs(inner, prefix),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| prefix_refs(v, prefix)),
        _ => {}
    }
}

/// The schema of plan files for the actions in `registry`.
pub fn json_schema(registry: &Registry) -> Value {
    let mut defs = Map::new();
    defs.insert(
        "duration".into(),
        serde_json::to_value(duration_schema()).unwrap_or_else(|_| json!({"type": "string"})),
    );
    let mut actions = registry.all_actions();
    actions.sort_by(|a, b| a.0.cmp(&b.0));
    let mut uses = Vec::new();
    let mut per_action = Vec::new();
    for (name, spec) in &actions {
        uses.push(Value::String(name.clone()));
        let prefix = format!("{}.", name);
        let mut params = spec.params_schema.clone();
        prefix_refs(&mut params, &prefix);
        let has_required = params
            .get("required")
            .and_then(Value::as_array)
            .is_some_and(|r| !r.is_empty());
        if let Some(obj) = params.as_object_mut() {
            if let Some(Value::Object(nested)) = obj.remove("$defs") {
                for (def, schema) in nested {
                    defs.insert(format!("{prefix}{def}"), schema);
                }
            }
            obj.remove("$schema");
            obj.insert("description".into(), Value::String(spec.description.into()));
        }
        let with_def = format!("{prefix}with");
        defs.insert(with_def.clone(), params);
        let with_ref = json!({"$ref": format!("#/$defs/{with_def}")});
        // `with:` left empty means no parameters, which only actions without required
        // parameters accept.
        let then = if has_required {
            json!({"properties": {"with": with_ref}, "required": ["with"]})
        } else {
            json!({"properties": {"with": {"anyOf": [{"type": "null"}, with_ref]}}})
        };
        per_action.push(json!({
            "if": {"properties": {"uses": {"const": name}}, "required": ["uses"]},
            "then": then
        }));
    }
    let step = json!({
        "type": "object",
        "description": "One action of the plan.",
        "additionalProperties": false,
        "required": ["id", "uses"],
        "properties": {
            "id": {
                "type": "string",
                "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
                "description": "Unique step id; other steps name it in `needs`."
            },
            "uses": {
                "enum": uses,
                "description": "The action, as connector.action."
            },
            "with": {
                "type": ["object", "null"],
                "description": "The action's parameters."
            },
            "needs": {
                "type": "array",
                "items": {"type": "string"},
                "uniqueItems": true,
                "description": "Steps that must be done before this one; the others run in parallel."
            },
            "when": {
                "enum": crate::dag::StepWhen::ALL.iter().map(|w| w.as_str()).collect::<Vec<_>>(),
                "default": "success",
                "description": "success: run once every step in `needs` succeeded (skipped if one did not); always: run once every step in `needs` has ended, whatever the outcome (e.g. a final report)."
            },
            "retry": {
                "type": "object",
                "additionalProperties": false,
                "description": "Retries of transient failures, with exponential backoff and jitter.",
                "properties": {
                    "max_attempts": {"type": "integer", "minimum": 1, "default": 8},
                    "initial_backoff": {"$ref": "#/$defs/duration", "default": "1s"},
                    "max_backoff": {"$ref": "#/$defs/duration", "default": "5m"}
                }
            },
            "timeout": {
                "$ref": "#/$defs/duration",
                "description": "Time limit of one attempt."
            }
        },
        "allOf": per_action
    });
    defs.insert("step".into(), step);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Leaver revocation plan",
        "description": "A plan file in workflows/: what to revoke, in which order, when a person leaves.",
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "steps"],
        "properties": {
            "name": {
                "type": "string",
                "pattern": "^[a-z0-9][a-z0-9-]{0,63}$",
                "description": "The plan's name; equals the file name without .yaml."
            },
            "description": {"type": "string"},
            "trigger": {
                "type": "object",
                "additionalProperties": false,
                "description": "Events that start this plan.",
                "properties": {
                    "events": {
                        "type": "array",
                        "items": {"enum": KNOWN_TRIGGER_EVENTS}
                    }
                }
            },
            "sla": {
                "$ref": "#/$defs/duration",
                "description": "Time from the trigger until every step must be verified done."
            },
            "steps": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/$defs/step"}
            },
            "restore": {
                "type": "array",
                "description": "Steps a drill runs afterwards to give the canary identity its access back.",
                "items": {"$ref": "#/$defs/step"}
            }
        },
        "$defs": defs
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::testing::registry;

    /// Every `$ref` in `value`, recursively.
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    if key == "$ref" {
                        out.push(inner.as_str().unwrap_or_default().to_string());
                    } else {
                        refs(inner, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn schema_lists_every_action_with_its_parameters() {
        let (registry, _) = registry();
        let schema = json_schema(&registry);
        // Valid JSON that survives a text round trip.
        let text = serde_json::to_string_pretty(&schema).unwrap();
        let reparsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(reparsed, schema);
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["required"], json!(["name", "steps"]));

        let step = &schema["$defs"]["step"];
        let uses: Vec<String> =
            serde_json::from_value(step["properties"]["uses"]["enum"].clone()).unwrap();
        let mut expected: Vec<String> =
            registry.all_actions().into_iter().map(|(n, _)| n).collect();
        expected.sort();
        assert_eq!(uses, expected);
        assert_eq!(uses, vec!["fake.needs_path", "fake.remove"]);

        // One if/then per action, selecting that action's `with` schema.
        let branches = step["allOf"].as_array().unwrap();
        assert_eq!(branches.len(), uses.len());
        for (branch, name) in branches.iter().zip(&uses) {
            assert_eq!(branch["if"]["properties"]["uses"]["const"], name.as_str());
            let with = &branch["then"]["properties"]["with"];
            let reference = with["$ref"]
                .as_str()
                .or_else(|| with["anyOf"][1]["$ref"].as_str())
                .unwrap();
            let def = reference.strip_prefix("#/$defs/").unwrap();
            assert!(schema["$defs"][def].is_object(), "{reference}");
        }
        let needs_path = &schema["$defs"]["fake.needs_path.with"];
        assert_eq!(needs_path["required"], json!(["path"]));
        assert_eq!(needs_path["additionalProperties"], false);
        assert_eq!(
            branches[0]["then"]["required"],
            json!(["with"]),
            "required params need `with`"
        );
        assert!(branches[1]["then"].get("required").is_none());
        assert!(schema["$defs"]["fake.remove.with"]["properties"]["teams"].is_object());

        // Every reference resolves.
        let mut all = Vec::new();
        refs(&schema, &mut all);
        assert!(!all.is_empty());
        for reference in all {
            let def = reference
                .strip_prefix("#/$defs/")
                .unwrap_or_else(|| panic!("{reference}"));
            assert!(schema["$defs"].get(def).is_some(), "dangling {reference}");
        }
        assert_eq!(
            step["properties"]["when"]["enum"],
            json!(["success", "always"])
        );
        let events =
            schema["properties"]["trigger"]["properties"]["events"]["items"]["enum"].clone();
        assert_eq!(events.as_array().unwrap().len(), KNOWN_TRIGGER_EVENTS.len());
        assert_eq!(
            schema["$defs"]["duration"]["pattern"],
            crate::duration::DURATION_PATTERN
        );
    }

    #[test]
    fn nested_definitions_of_actions_are_namespaced() {
        let mut params = json!({
            "type": "object",
            "properties": {"due": {"$ref": "#/$defs/Due"}, "self": {"$ref": "#"}},
            "$defs": {"Due": {"type": "object"}}
        });
        prefix_refs(&mut params, "trail.schedule_rotations.");
        assert_eq!(
            params["properties"]["due"]["$ref"],
            "#/$defs/trail.schedule_rotations.Due"
        );
        assert_eq!(
            params["properties"]["self"]["$ref"],
            "#/$defs/trail.schedule_rotations.with"
        );
    }
}
