//! Revocation plans (`workflows/*.yaml`): the model, loading and validation with
//! `file:line:column: reason` errors, the JSON Schema for editors, and `explain`.
//!
//! - `model`: `Plan`, `StepDef`, `RetryPolicy`, `PlanSet`, the known trigger events.
//! - `load`: YAML (serde-saphyr) into located raw structs; files and directories.
//! - `validate`: every semantic check, all errors of a file collected; `cycles`.
//! - `schema`: `json_schema(&Registry)`.
//! - `explain`: `explain(&Plan, &Registry, &Identity)`, previews only.

mod cycles;
mod error;
mod explain;
mod load;
mod model;
mod schema;
mod validate;

#[cfg(test)]
mod testing;

pub use error::{format_errors, PlanError};
pub use explain::{explain, Explanation, StepExplanation, EXPLAIN_RUN_ID};
pub use load::{load_plan_file, load_plan_str};
pub use model::{Plan, PlanSet, RetryPolicy, StepDef, StepWhen, Trigger, KNOWN_TRIGGER_EVENTS};
pub use schema::{json_schema, SCHEMA_ID};
