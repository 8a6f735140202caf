//! Reading plan files: YAML (serde-saphyr) into located raw structs, then validation
//! into a `Plan`. Every problem is a `PlanError` with file, line, column and reason;
//! all semantic problems of a file are reported, not just the first.

use super::model::{Plan, PlanSet, RetryPolicy, StepDef, Trigger, KNOWN_TRIGGER_EVENTS};
use crate::domain::SWEEP_STEP_ID;
use crate::duration::parse_duration;
use leaver_connector::Registry;
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

/// One problem in a plan file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub reason: String,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.reason
        )
    }
}

impl std::error::Error for PlanError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    name: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    trigger: Option<RawTrigger>,
    #[serde(default)]
    sla: Option<Spanned<String>>,
    #[serde(default)]
    steps: Option<Spanned<Vec<Spanned<RawStep>>>>,
    #[serde(default)]
    restore: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    #[serde(default)]
    events: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: Spanned<String>,
    uses: Spanned<String>,
    #[serde(default)]
    with: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    needs: Vec<Spanned<String>>,
    #[serde(default)]
    retry: Option<Spanned<RawRetry>>,
    #[serde(default)]
    timeout: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    #[serde(default)]
    max_attempts: Option<u32>,
    #[serde(default)]
    initial_backoff: Option<String>,
    #[serde(default)]
    max_backoff: Option<String>,
}

/// Collects errors for one file.
struct Errors<'a> {
    file: &'a str,
    list: Vec<PlanError>,
}

impl Errors<'_> {
    fn at(&mut self, location: &Location, reason: impl Into<String>) {
        self.list.push(PlanError {
            file: self.file.to_string(),
            line: location.line().max(1),
            column: location.column().max(1),
            reason: reason.into(),
        });
    }
}

/// The YAML parser's message without its snippet and location prefix.
fn parser_message(error: &serde_saphyr::Error) -> String {
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // "line 4 column 5: unknown field ..." → "unknown field ..."
    match first.split_once(": ") {
        Some((prefix, rest)) if prefix.starts_with("line ") => rest.to_string(),
        _ => first.to_string(),
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn valid_step_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Parse and validate a plan's text. `source` names the file in errors; when it is a
/// path, its stem must equal the plan's name.
pub fn load_plan_str(
    text: &str,
    source: &str,
    registry: &Registry,
) -> Result<Plan, Vec<PlanError>> {
    let raw: RawPlan = serde_saphyr::from_str(text).map_err(|error| {
        let (line, column) = error
            .location()
            .map(|l| (l.line().max(1), l.column().max(1)))
            .unwrap_or((1, 1));
        vec![PlanError {
            file: source.to_string(),
            line,
            column,
            reason: parser_message(&error),
        }]
    })?;
    let mut errors = Errors {
        file: source,
        list: Vec::new(),
    };

    let name = raw.name.value.clone();
    if !valid_name(&name) {
        errors.at(
            &raw.name.referenced,
            format!("plan name `{name}` must be lower-case letters, digits and dashes"),
        );
    }
    if let Some(stem) = Path::new(source).file_stem().and_then(|s| s.to_str()) {
        let is_file = source.ends_with(".yaml") || source.ends_with(".yml");
        if is_file && stem != name {
            errors.at(
                &raw.name.referenced,
                format!("plan name `{name}` must match its file name `{stem}`"),
            );
        }
    }

    let mut trigger = Trigger::default();
    if let Some(raw_trigger) = &raw.trigger {
        for event in &raw_trigger.events {
            if !KNOWN_TRIGGER_EVENTS.contains(&event.value.as_str()) {
                errors.at(
                    &event.referenced,
                    format!(
                        "unknown trigger event `{}` (known: {})",
                        event.value,
                        KNOWN_TRIGGER_EVENTS.join(", ")
                    ),
                );
            }
            trigger.events.push(event.value.clone());
        }
    }

    let sla = raw
        .sla
        .as_ref()
        .and_then(|sla| match parse_duration(&sla.value) {
            Ok(d) => Some(d),
            Err(reason) => {
                errors.at(&sla.referenced, format!("sla: {reason}"));
                None
            }
        });

    let steps = match &raw.steps {
        Some(steps) if !steps.value.is_empty() => {
            convert_steps(&steps.value, registry, &mut errors, "steps")
        }
        Some(steps) => {
            errors.at(&steps.referenced, "a plan needs at least one step");
            Vec::new()
        }
        None => {
            errors.at(
                &raw.name.referenced,
                "missing `steps`: a plan needs at least one step",
            );
            Vec::new()
        }
    };
    let restore = convert_steps(&raw.restore, registry, &mut errors, "restore");

    if !errors.list.is_empty() {
        errors.list.sort_by_key(|e| (e.line, e.column));
        return Err(errors.list);
    }
    Ok(Plan {
        name,
        description: raw.description,
        trigger,
        sla,
        steps,
        restore,
        source: source.to_string(),
    })
}

fn convert_steps(
    raw_steps: &[Spanned<RawStep>],
    registry: &Registry,
    errors: &mut Errors<'_>,
    section: &str,
) -> Vec<StepDef> {
    let mut seen: BTreeMap<String, Location> = BTreeMap::new();
    let mut steps = Vec::new();
    for raw in raw_steps {
        let step = &raw.value;
        let id = step.id.value.clone();
        if !valid_step_id(&id) {
            errors.at(
                &step.id.referenced,
                format!("step id `{id}` must be letters, digits, `-` and `_`"),
            );
        } else if id == SWEEP_STEP_ID {
            errors.at(
                &step.id.referenced,
                format!("step id `{id}` is reserved for the residual-access sweep"),
            );
        }
        if let Some(first) = seen.get(&id) {
            errors.at(
                &step.id.referenced,
                format!(
                    "duplicate step id `{id}` in {section} (first at line {})",
                    first.line()
                ),
            );
        } else {
            seen.insert(id.clone(), step.id.referenced);
        }

        let with = step
            .with
            .as_ref()
            .map(|w| w.value.clone())
            .unwrap_or(serde_json::Value::Null);
        let with_location = step
            .with
            .as_ref()
            .map(|w| w.referenced)
            .unwrap_or(step.uses.referenced);
        let (with, with_is_mapping) = match with {
            serde_json::Value::Null => (serde_json::json!({}), true),
            value @ serde_json::Value::Object(_) => (value, true),
            _ => {
                errors.at(&with_location, "`with` must be a mapping of parameters");
                (serde_json::json!({}), false)
            }
        };
        match registry.resolve(&step.uses.value) {
            Ok(_) if !with_is_mapping => {}
            Ok((connector, spec)) => {
                if let Err(reason) = spec.validate(&with) {
                    errors.at(&with_location, format!("{}: {reason}", step.uses.value));
                } else if let Err(reason) = connector.check_params(spec.name, &with) {
                    errors.at(&with_location, format!("{}: {reason}", step.uses.value));
                }
            }
            Err(reason) => errors.at(&step.uses.referenced, reason),
        }

        let retry = step.retry.as_ref().map(|retry| {
            let mut policy = RetryPolicy::default();
            if let Some(max) = retry.value.max_attempts {
                if max == 0 {
                    errors.at(&retry.referenced, "retry.max_attempts must be at least 1");
                }
                policy.max_attempts = max.max(1);
            }
            for (key, text, slot) in [
                (
                    "initial_backoff",
                    &retry.value.initial_backoff,
                    &mut policy.initial_backoff,
                ),
                (
                    "max_backoff",
                    &retry.value.max_backoff,
                    &mut policy.max_backoff,
                ),
            ] {
                if let Some(text) = text {
                    match parse_duration(text) {
                        Ok(d) => *slot = d,
                        Err(reason) => {
                            errors.at(&retry.referenced, format!("retry.{key}: {reason}"))
                        }
                    }
                }
            }
            if policy.initial_backoff > policy.max_backoff {
                errors.at(
                    &retry.referenced,
                    "retry.initial_backoff is longer than retry.max_backoff",
                );
            }
            policy
        });
        let timeout = step
            .timeout
            .as_ref()
            .and_then(|t| match parse_duration(&t.value) {
                Ok(d) => Some(d),
                Err(reason) => {
                    errors.at(&t.referenced, format!("timeout: {reason}"));
                    None
                }
            });
        steps.push(StepDef {
            id,
            uses: step.uses.value.clone(),
            with,
            needs: step.needs.iter().map(|n| n.value.clone()).collect(),
            retry,
            timeout,
            line: raw.referenced.line(),
        });
    }

    // `needs` must name steps of the same section, not the step itself.
    for raw in raw_steps {
        for need in &raw.value.needs {
            if need.value == raw.value.id.value {
                errors.at(
                    &need.referenced,
                    format!("step `{}` needs itself", need.value),
                );
            } else if !seen.contains_key(&need.value) {
                errors.at(
                    &need.referenced,
                    format!(
                        "step `{}` needs unknown step `{}`",
                        raw.value.id.value, need.value
                    ),
                );
            }
        }
    }
    if let Some(cycle) = find_cycle(&steps) {
        let location = seen.get(&cycle[0]).copied().unwrap_or(Location::UNKNOWN);
        errors.at(
            &location,
            format!("cycle in `needs`: {}", cycle.join(" -> ")),
        );
    }
    steps
}

/// A cycle through `needs`, as step ids with the first repeated at the end.
fn find_cycle(steps: &[StepDef]) -> Option<Vec<String>> {
    let needs: BTreeMap<&str, Vec<&str>> = steps
        .iter()
        .map(|s| (s.id.as_str(), s.needs.iter().map(String::as_str).collect()))
        .collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit<'a>(
        id: &'a str,
        needs: &BTreeMap<&'a str, Vec<&'a str>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match marks.get(id) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = path.iter().position(|p| *p == id).unwrap_or(0);
                let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(id.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(id, Mark::Visiting);
        path.push(id);
        for need in needs.get(id).into_iter().flatten() {
            // Self-needs and unknown needs are reported on their own.
            if *need != id && needs.contains_key(need) {
                if let Some(cycle) = visit(need, needs, marks, path) {
                    return Some(cycle);
                }
            }
        }
        path.pop();
        marks.insert(id, Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for step in steps {
        let mut path = Vec::new();
        if let Some(cycle) = visit(&step.id, &needs, &mut marks, &mut path) {
            return Some(cycle);
        }
    }
    None
}

/// Read and validate one plan file.
pub fn load_plan_file(path: &Path, registry: &Registry) -> Result<Plan, Vec<PlanError>> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![PlanError {
            file: source.clone(),
            line: 1,
            column: 1,
            reason: format!("cannot read: {e}"),
        }]
    })?;
    load_plan_str(&text, &source, registry)
}

impl PlanSet {
    /// Every `*.yaml` / `*.yml` plan in `dir`; plan names must be unique.
    pub fn load_dir(dir: &Path, registry: &Registry) -> Result<PlanSet, Vec<PlanError>> {
        let source = dir.display().to_string();
        let entries = std::fs::read_dir(dir).map_err(|e| {
            vec![PlanError {
                file: source.clone(),
                line: 1,
                column: 1,
                reason: format!("cannot read the plans directory: {e}"),
            }]
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        paths.sort();
        let mut errors = Vec::new();
        let mut plans: BTreeMap<String, Plan> = BTreeMap::new();
        let mut names: BTreeSet<String> = BTreeSet::new();
        for path in paths {
            match load_plan_file(&path, registry) {
                Ok(plan) => {
                    if !names.insert(plan.name.clone()) {
                        errors.push(PlanError {
                            file: path.display().to_string(),
                            line: 1,
                            column: 1,
                            reason: format!("duplicate plan name `{}`", plan.name),
                        });
                    }
                    plans.insert(plan.name.clone(), plan);
                }
                Err(mut file_errors) => errors.append(&mut file_errors),
            }
        }
        if errors.is_empty() {
            Ok(PlanSet { plans })
        } else {
            Err(errors)
        }
    }
}
