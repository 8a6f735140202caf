//! Semantic checks of a parsed plan file. Every problem is collected (not just the
//! first) and located at the offending value.

use super::cycles::find_cycles;
use super::error::{Errors, PlanError};
use super::load::{RawPlan, RawRetry, RawStep};
use super::model::{Plan, RetryPolicy, StepDef, StepWhen, Trigger, KNOWN_TRIGGER_EVENTS};
use crate::domain::SWEEP_STEP_ID;
use crate::duration::parse_duration;
use leaver_connector::Registry;
use serde_saphyr::{Location, Spanned};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

/// Longest plan name or step id.
const MAX_NAME_LEN: usize = 64;

pub(super) fn validate(
    raw: RawPlan,
    source: &str,
    registry: &Registry,
) -> Result<Plan, Vec<PlanError>> {
    let mut errors = Errors::new(source);
    let name = raw.name.value.clone();
    check_name(&raw.name, source, &mut errors);

    let mut trigger = Trigger::default();
    for event in raw.trigger.iter().flat_map(|t| &t.events) {
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
        if !trigger.events.contains(&event.value) {
            trigger.events.push(event.value.clone());
        }
    }

    let sla = raw
        .sla
        .as_ref()
        .and_then(|sla| duration(sla, "sla", &mut errors));

    let steps = match &raw.steps {
        Some(steps) if !steps.value.is_empty() => {
            check_steps(&steps.value, "steps", registry, &mut errors)
        }
        Some(steps) => {
            errors.at(
                &steps.referenced,
                "`steps` is empty: a plan needs at least one step",
            );
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
    let restore = match &raw.restore {
        Some(restore) => {
            let restore_steps = check_steps(&restore.value, "restore", registry, &mut errors);
            let step_ids: BTreeSet<&str> = steps.iter().map(|s| s.id.as_str()).collect();
            for (step, raw_step) in restore_steps.iter().zip(&restore.value) {
                if step_ids.contains(step.id.as_str()) {
                    errors.at(
                        &raw_step.value.id.referenced,
                        format!(
                            "restore step id `{}` is also a step id in `steps`; use another id",
                            step.id
                        ),
                    );
                }
            }
            restore_steps
        }
        None => Vec::new(),
    };

    if !errors.is_empty() {
        return Err(errors.into_sorted());
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

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.len() <= MAX_NAME_LEN
}

fn valid_step_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && id.len() <= MAX_NAME_LEN
}

fn check_name(name: &Spanned<String>, source: &str, errors: &mut Errors) {
    let value = &name.value;
    if !valid_name(value) {
        errors.at(
            &name.referenced,
            format!(
                "invalid plan name `{value}`: use lower-case letters, digits and `-`, starting with a letter or digit (at most {MAX_NAME_LEN} characters)"
            ),
        );
    }
    let path = Path::new(source);
    let is_file = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
        if is_file && stem != value {
            errors.at(
                &name.referenced,
                format!(
                    "plan name `{value}` does not match its file name `{stem}`: name the file `{value}.yaml` or the plan `{stem}`"
                ),
            );
        }
    }
}

/// Parse a duration value; `what` names the key in the message.
fn duration(value: &Spanned<String>, what: &str, errors: &mut Errors) -> Option<Duration> {
    match parse_duration(&value.value) {
        Ok(d) => Some(d),
        Err(reason) => {
            errors.at(&value.referenced, format!("{what}: {reason}"));
            None
        }
    }
}

/// Validate one section (`steps` or `restore`); `needs` may only name steps of the
/// same section.
fn check_steps(
    raw_steps: &[Spanned<RawStep>],
    section: &str,
    registry: &Registry,
    errors: &mut Errors,
) -> Vec<StepDef> {
    let mut seen: BTreeMap<&str, Location> = BTreeMap::new();
    let mut steps = Vec::new();
    for raw in raw_steps {
        let step = &raw.value;
        let id = &step.id.value;
        if !valid_step_id(id) {
            errors.at(
                &step.id.referenced,
                format!(
                    "invalid step id `{id}`: use letters, digits, `-` and `_`, starting with a letter or digit (at most {MAX_NAME_LEN} characters)"
                ),
            );
        } else if id == SWEEP_STEP_ID {
            errors.at(
                &step.id.referenced,
                format!("step id `{id}` is reserved for the residual-access sweep"),
            );
        }
        match seen.get(id.as_str()) {
            Some(first) => errors.at(
                &step.id.referenced,
                format!(
                    "duplicate step id `{id}` in `{section}` (first used on line {})",
                    first.line()
                ),
            ),
            None => {
                seen.insert(id, step.id.referenced);
            }
        }
        let with = check_action(raw, registry, errors);
        let when = match &step.when {
            None => StepWhen::default(),
            Some(when) => when.value.parse().unwrap_or_else(|reason: String| {
                errors.at(&when.referenced, reason);
                StepWhen::default()
            }),
        };
        let retry = step.retry.as_ref().map(|r| retry_policy(&r.value, errors));
        let timeout = step
            .timeout
            .as_ref()
            .and_then(|t| duration(t, "timeout", errors));
        let mut needs: Vec<String> = Vec::new();
        for need in &step.needs {
            if !needs.contains(&need.value) {
                needs.push(need.value.clone());
            }
        }
        steps.push(StepDef {
            id: id.clone(),
            uses: step.uses.value.clone(),
            with,
            needs,
            when,
            retry,
            timeout,
            line: raw.referenced.line(),
        });
    }

    for raw in raw_steps {
        for need in &raw.value.needs {
            if need.value != raw.value.id.value && !seen.contains_key(need.value.as_str()) {
                let known: Vec<&str> = seen
                    .keys()
                    .copied()
                    .filter(|id| *id != raw.value.id.value)
                    .collect();
                errors.at(
                    &need.referenced,
                    format!(
                        "step `{}` needs unknown step `{}` (steps in `{section}`: {})",
                        raw.value.id.value,
                        need.value,
                        if known.is_empty() {
                            "none other".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
            }
        }
    }
    for cycle in find_cycles(&steps) {
        // Report on the first step's `needs` entry that enters the cycle.
        let first = raw_steps.iter().find(|s| s.value.id.value == cycle[0]);
        let location = first
            .and_then(|s| s.value.needs.iter().find(|n| n.value == cycle[1]))
            .map(|n| n.referenced)
            .or_else(|| first.map(|s| s.referenced))
            .unwrap_or(Location::UNKNOWN);
        let hint = if cycle.len() == 2 {
            format!(" (step `{}` needs itself)", cycle[0])
        } else {
            String::new()
        };
        errors.at(&location, format!("cycle: {}{hint}", cycle.join(" -> ")));
    }
    steps
}

/// Resolve `uses` and check `with` against the action; returns the parameters
/// (an object, `{}` when absent).
fn check_action(
    raw: &Spanned<RawStep>,
    registry: &Registry,
    errors: &mut Errors,
) -> serde_json::Value {
    let step = &raw.value;
    let uses = &step.uses.value;
    let with_location = step.with.as_ref().map_or(raw.referenced, |w| w.referenced);
    let with = match step.with.as_ref().map(|w| &w.value) {
        None | Some(serde_json::Value::Null) => serde_json::json!({}),
        Some(value @ serde_json::Value::Object(_)) => value.clone(),
        Some(_) => {
            errors.at(
                &with_location,
                "`with` must be a mapping of parameters, e.g. `with: { org: acme }`",
            );
            return serde_json::json!({});
        }
    };
    match registry.resolve(uses) {
        Ok((connector, spec)) => {
            let refused = spec
                .validate(&with)
                .and_then(|()| connector.check_params(spec.name, &with));
            if let Err(reason) = refused {
                errors.at(
                    &with_location,
                    format!("invalid parameters for `{uses}`: {reason}"),
                );
            }
        }
        Err(reason) => {
            let hint = suggestion(uses, registry)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            errors.at(&step.uses.referenced, format!("{reason}{hint}"));
        }
    }
    with
}

/// The closest known action to a misspelt one, if any is close.
fn suggestion(uses: &str, registry: &Registry) -> Option<String> {
    registry
        .all_actions()
        .into_iter()
        .map(|(name, _)| (edit_distance(uses, &name), name))
        .filter(|(distance, _)| *distance <= 3)
        .min()
        .map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

fn retry_policy(raw: &RawRetry, errors: &mut Errors) -> RetryPolicy {
    let mut policy = RetryPolicy::default();
    if let Some(max) = &raw.max_attempts {
        if max.value == 0 {
            errors.at(&max.referenced, "retry.max_attempts must be at least 1");
        }
        policy.max_attempts = max.value.max(1);
    }
    if let Some(text) = &raw.initial_backoff {
        if let Some(d) = duration(text, "retry.initial_backoff", errors) {
            policy.initial_backoff = d;
        }
    }
    if let Some(text) = &raw.max_backoff {
        if let Some(d) = duration(text, "retry.max_backoff", errors) {
            policy.max_backoff = d;
        }
    }
    if policy.initial_backoff > policy.max_backoff {
        let location = raw
            .initial_backoff
            .as_ref()
            .or(raw.max_backoff.as_ref())
            .map_or(Location::UNKNOWN, |t| t.referenced);
        errors.at(
            &location,
            format!(
                "retry.initial_backoff ({}) is longer than retry.max_backoff ({})",
                crate::duration::format_duration(policy.initial_backoff),
                crate::duration::format_duration(policy.max_backoff)
            ),
        );
    }
    policy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::load_plan_str;
    use crate::plan::testing::registry;

    fn errors(text: &str) -> Vec<PlanError> {
        let (registry, _) = registry();
        load_plan_str(text, "workflows/p.yaml", &registry).expect_err("should fail")
    }

    fn one_error(text: &str) -> PlanError {
        let list = errors(text);
        assert_eq!(list.len(), 1, "{list:#?}");
        list.into_iter().next().unwrap()
    }

    /// A plan named `p` with the given steps (YAML lines under `steps:`).
    fn plan(steps: &str) -> String {
        format!("name: p\nsteps:\n{steps}")
    }

    fn step(id: &str, needs: &str) -> String {
        format!("  - id: {id}\n    uses: fake.needs_path\n    with: {{ path: x }}\n    needs: [{needs}]\n")
    }

    #[test]
    fn unknown_actions_and_connectors_list_what_exists() {
        let error = one_error(&plan(
            "  - id: a\n    uses: fake.remov\n    with: { org: acme }\n",
        ));
        assert_eq!((error.line, error.column), (4, 11));
        assert!(
            error.reason.contains("unknown action `fake.remov`"),
            "{error}"
        );
        assert!(
            error.reason.contains("offers: remove, needs_path"),
            "{error}"
        );
        assert!(
            error.reason.contains("did you mean `fake.remove`?"),
            "{error}"
        );
        let error = one_error(&plan("  - id: a\n    uses: nope.x\n"));
        assert!(
            error
                .reason
                .contains("unknown connector `nope` in `nope.x` (known: fake)"),
            "{error}"
        );
        assert!(!error.reason.contains("did you mean"), "{error}");
        let error = one_error(&plan("  - id: a\n    uses: noseparator\n"));
        assert!(error.reason.contains("connector.action"), "{error}");
    }

    #[test]
    fn parameters_are_checked_against_the_action() {
        let error = one_error(&plan(
            "  - id: a\n    uses: fake.needs_path\n    with: { pth: x }\n",
        ));
        assert_eq!(error.line, 5);
        assert!(
            error
                .reason
                .starts_with("invalid parameters for `fake.needs_path`: unknown field `pth`"),
            "{error}"
        );
        // Without `with`, the error is on the step's line.
        let error = one_error(&plan("  - id: a\n    uses: fake.needs_path\n"));
        assert_eq!(error.line, 3);
        assert!(error.reason.contains("missing field `path`"), "{error}");
        let error = one_error(&plan(
            "  - id: a\n    uses: fake.remove\n    with: { org: 5 }\n",
        ));
        assert!(error.reason.contains("invalid type"), "{error}");
        // The connector's own check (no default org configured).
        let error = one_error(&plan("  - id: a\n    uses: fake.remove\n"));
        assert_eq!(error.line, 3);
        assert!(error.reason.contains("missing parameter `org`"), "{error}");
        let error = one_error(&plan("  - id: a\n    uses: fake.remove\n    with: [1]\n"));
        assert!(error.reason.contains("must be a mapping"), "{error}");
        // `with:` left empty counts as no parameters.
        let error = one_error(&plan("  - id: a\n    uses: fake.needs_path\n    with:\n"));
        assert!(error.reason.contains("missing field `path`"), "{error}");
    }

    #[test]
    fn cycles_are_named() {
        let list = errors(&plan(
            &[step("a", "c"), step("b", "a"), step("c", "b")].concat(),
        ));
        assert_eq!(list.len(), 1, "{list:#?}");
        assert_eq!(list[0].reason, "cycle: a -> c -> b -> a");
        assert_eq!(
            (list[0].line, list[0].column),
            (6, 13),
            "at a's `needs: [c]`"
        );

        let error = one_error(&plan(&[step("a", "b"), step("b", "a")].concat()));
        assert_eq!(error.reason, "cycle: a -> b -> a");

        let error = one_error(&plan(&step("a", "a")));
        assert_eq!(error.reason, "cycle: a -> a (step `a` needs itself)");

        // Two separate cycles are both reported; a step merely depending on a cycle is not.
        let list = errors(&plan(
            &[
                step("a", "b"),
                step("b", "a"),
                step("c", "d"),
                step("d", "c"),
                step("e", "a"),
            ]
            .concat(),
        ));
        let reasons: Vec<&str> = list.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, vec!["cycle: a -> b -> a", "cycle: c -> d -> c"]);
    }

    #[test]
    fn needs_and_ids() {
        let error = one_error(&plan(&step("a", "ghost")));
        assert_eq!((error.line, error.column), (6, 13));
        assert_eq!(
            error.reason,
            "step `a` needs unknown step `ghost` (steps in `steps`: none other)"
        );

        let error = one_error(&plan(&[step("a", ""), step("a", "")].concat()));
        assert_eq!(error.line, 7);
        assert!(
            error
                .reason
                .contains("duplicate step id `a` in `steps` (first used on line 3)"),
            "{error}"
        );

        let error = one_error(&plan(&step("has space", "")));
        assert!(
            error.reason.contains("invalid step id `has space`"),
            "{error}"
        );
        let error = one_error(&plan(&step("residual-access-sweep", "")));
        assert!(error.reason.contains("reserved"), "{error}");

        // Listing a need twice is harmless and deduplicated.
        let (registry, _) = registry();
        let plan = load_plan_str(
            &plan(&[step("a", ""), step("b", "a, a")].concat()),
            "p",
            &registry,
        )
        .unwrap();
        assert_eq!(plan.steps[1].needs, vec!["a"]);
    }

    #[test]
    fn bad_durations_name_the_text() {
        let error = one_error("name: p\nsla: fifteen minutes\nsteps:\n  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n");
        assert_eq!((error.line, error.column), (2, 6));
        assert!(
            error
                .reason
                .starts_with("sla: invalid duration `fifteen minutes`"),
            "{error}"
        );
        let error = one_error(&plan(
            "  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n    timeout: 0s\n",
        ));
        assert_eq!(error.line, 6);
        assert!(
            error
                .reason
                .starts_with("timeout: invalid duration `0s`: must be greater than zero"),
            "{error}"
        );
        let error = one_error(&plan("  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n    retry: { initial_backoff: soon }\n"));
        assert!(
            error
                .reason
                .starts_with("retry.initial_backoff: invalid duration `soon`"),
            "{error}"
        );
        let error = one_error(&plan("  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n    retry: { max_backoff: 15 }\n"));
        assert!(error.reason.contains("`15` needs a unit"), "{error}");
        let error = one_error(&plan("  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n    retry: { initial_backoff: 10m, max_backoff: 1m }\n"));
        assert!(
            error
                .reason
                .contains("(10m) is longer than retry.max_backoff (1m)"),
            "{error}"
        );
        let error = one_error(&plan("  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n    retry: { max_attempts: 0 }\n"));
        assert!(error.reason.contains("at least 1"), "{error}");
    }

    #[test]
    fn all_errors_of_a_file_are_reported_in_file_order() {
        let list = errors("name: p\nsla: never\ntrigger: { events: [okta.user.session.end] }\nsteps:\n  - id: a\n    uses: fake.nope\n  - id: b\n    uses: fake.needs_path\n    needs: [zz]\n");
        let summary: Vec<(u64, &str)> = list
            .iter()
            .map(|e| (e.line, e.reason.split(':').next().unwrap()))
            .collect();
        assert_eq!(summary.len(), 5, "{list:#?}");
        let lines: Vec<u64> = summary.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![2, 3, 6, 7, 9]);
        assert!(list[1].reason.starts_with("unknown trigger event `okta.user.session.end` (known: okta.user.lifecycle.deactivate,"), "{}", list[1]);
        assert!(
            list[3].reason.contains("missing field `path`"),
            "{}",
            list[3]
        );
    }

    #[test]
    fn names_and_files_must_agree() {
        let list = errors(
            "name: Bad_Name\nsteps:\n  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n",
        );
        assert_eq!(list.len(), 2, "{list:#?}");
        assert!(
            list[0].reason.starts_with("invalid plan name `Bad_Name`"),
            "{list:#?}"
        );
        assert!(
            list[1].reason.contains("does not match its file name `p`"),
            "{list:#?}"
        );
        let (registry, _) = registry();
        let list = load_plan_str(
            "name: other\nsteps:\n  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n",
            "dir/p.yml",
            &registry,
        )
        .unwrap_err();
        assert_eq!((list[0].line, list[0].column), (1, 7));
        assert!(
            list[0]
                .reason
                .contains("name the file `other.yaml` or the plan `p`"),
            "{}",
            list[0]
        );
        // Text that is not from a file has no name to match.
        assert!(load_plan_str(
            "name: other\nsteps:\n  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n",
            "<stdin>",
            &registry
        )
        .is_ok());
    }

    #[test]
    fn steps_are_required() {
        let error = one_error("name: p\nsteps: []\n");
        assert_eq!(error.line, 2);
        assert!(error.reason.contains("at least one step"), "{error}");
        let error = one_error("name: p\n");
        assert!(error.reason.contains("missing `steps`"), "{error}");
    }

    #[test]
    fn restore_steps_are_validated_like_steps() {
        let text = format!(
            "{}restore:\n  - id: a\n    uses: fake.remov\n  - id: back\n    uses: fake.needs_path\n    with: {{ path: x }}\n    needs: [zz]\n",
            plan(&step("a", ""))
        );
        let list = errors(&text);
        let reasons: Vec<&str> = list.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(list.len(), 3, "{list:#?}");
        assert!(reasons[0].contains("also a step id in `steps`"));
        assert!(reasons[1].contains("unknown action `fake.remov`"));
        assert!(reasons[2].contains("needs unknown step `zz` (steps in `restore`: a)"));
    }

    #[test]
    fn when_accepts_success_and_always_and_locates_anything_else() {
        let (registry, _) = registry();
        let text = plan(&[
            step("a", ""),
            "  - id: report\n    uses: fake.needs_path\n    with: { path: x }\n    needs: [a]\n    when: always\n".to_string(),
            "  - id: after\n    uses: fake.needs_path\n    with: { path: x }\n    needs: [a]\n    when: success\n".to_string(),
        ]
        .concat());
        let loaded = load_plan_str(&text, "p", &registry).unwrap();
        let whens: Vec<StepWhen> = loaded.steps.iter().map(|s| s.when).collect();
        assert_eq!(
            whens,
            vec![StepWhen::Success, StepWhen::Always, StepWhen::Success]
        );
        let snapshot = serde_json::to_value(&loaded).unwrap();
        assert_eq!(snapshot["steps"][1]["when"], "always");
        assert!(
            snapshot["steps"][0].get("when").is_none(),
            "the default is left out"
        );

        let error = one_error(&plan(
            "  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n    when: sometimes\n",
        ));
        assert_eq!((error.line, error.column), (6, 11));
        assert_eq!(
            error.reason,
            "unknown `when` value `sometimes` (expected one of: success, always)"
        );
        let error = one_error(&plan(
            "  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n    when: [always]\n",
        ));
        assert_eq!(error.line, 6);
    }

    #[test]
    fn trigger_events_are_deduplicated() {
        let (registry, _) = registry();
        let plan = load_plan_str(
            &format!(
                "name: p\ntrigger: {{ events: [manual, drill, manual] }}\n{}",
                &plan(&step("a", ""))[8..]
            ),
            "p",
            &registry,
        )
        .unwrap();
        assert_eq!(plan.trigger.events, vec!["manual", "drill"]);
    }

    #[test]
    fn edit_distance_is_levenshtein() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
