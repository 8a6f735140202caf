use serde::de::DeserializeOwned;
use std::fmt;

/// Why a step's `with:` parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError(pub String);

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParamError {}

/// One action of a connector: its name, what it revokes, the JSON Schema of its
/// parameters, and a validator that parses them into the action's typed struct.
#[derive(Clone)]
pub struct ActionSpec {
    /// Action name without the connector prefix.
    pub name: &'static str,
    pub description: &'static str,
    /// JSON Schema of the `with:` mapping.
    pub params_schema: serde_json::Value,
    validate: fn(&serde_json::Value) -> Result<(), ParamError>,
}

impl fmt::Debug for ActionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionSpec")
            .field("name", &self.name)
            .finish()
    }
}

impl ActionSpec {
    /// Check that `params` parse into the action's typed parameters (unknown keys,
    /// missing required keys and wrong types are refused).
    pub fn validate(&self, params: &serde_json::Value) -> Result<(), ParamError> {
        (self.validate)(params)
    }
}

fn validate_as<P: DeserializeOwned>(params: &serde_json::Value) -> Result<(), ParamError> {
    let params = if params.is_null() {
        serde_json::Value::Object(Default::default())
    } else {
        params.clone()
    };
    serde_json::from_value::<P>(params)
        .map(|_| ())
        .map_err(|e| ParamError(e.to_string()))
}

/// Build the spec of an action whose parameters are the struct `P` (which should use
/// `#[serde(deny_unknown_fields)]`).
pub fn typed_action<P>(name: &'static str, description: &'static str) -> ActionSpec
where
    P: DeserializeOwned + schemars::JsonSchema,
{
    let schema = schemars::schema_for!(P);
    let mut params_schema = serde_json::to_value(schema).unwrap_or_default();
    if let Some(obj) = params_schema.as_object_mut() {
        obj.remove("$schema");
        obj.remove("title");
    }
    ActionSpec {
        name,
        description,
        params_schema,
        validate: validate_as::<P>,
    }
}

/// Parse validated parameters into the action's typed struct (`null` counts as `{}`).
pub fn parse_params<P: DeserializeOwned>(params: &serde_json::Value) -> Result<P, ParamError> {
    let params = if params.is_null() {
        serde_json::Value::Object(Default::default())
    } else {
        params.clone()
    };
    serde_json::from_value(params).map_err(|e| ParamError(e.to_string()))
}
