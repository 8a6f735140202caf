//! Revocation plans (`workflows/*.yaml`): the model, loading and validation with
//! file:line:column errors, the JSON Schema for editors, and `explain`.

mod explain;
mod load;
mod model;
mod schema;

pub use explain::{explain, Explanation, StepExplanation};
pub use load::{load_plan_file, load_plan_str, PlanError};
pub use model::{Plan, PlanSet, RetryPolicy, StepDef, Trigger, KNOWN_TRIGGER_EVENTS};
pub use schema::json_schema;

#[cfg(test)]
mod tests;
