//! Reading plan files: YAML (serde-saphyr) into located raw structs, then
//! `validate` into a `Plan`. Syntax and shape errors (bad YAML,
//! unknown keys, wrong types) come from the parser, which stops at the first; all
//! semantic errors of a file are reported together.

use super::error::{from_parser, PlanError};
use super::model::{Plan, PlanSet};
use super::validate::validate;
use leaver_connector::Registry;
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};
use std::collections::BTreeMap;
use std::path::Path;

/// A plan file as written, with the location of everything validation may complain
/// about. Unknown keys are refused by the parser, at their location.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlan {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub trigger: Option<RawTrigger>,
    #[serde(default)]
    pub sla: Option<Spanned<String>>,
    #[serde(default)]
    pub steps: Option<Spanned<Vec<Spanned<RawStep>>>>,
    #[serde(default)]
    pub restore: Option<Spanned<Vec<Spanned<RawStep>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrigger {
    #[serde(default)]
    pub events: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub id: Spanned<String>,
    pub uses: Spanned<String>,
    #[serde(default)]
    pub with: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    pub needs: Vec<Spanned<String>>,
    #[serde(default)]
    pub when: Option<Spanned<String>>,
    #[serde(default)]
    pub retry: Option<Spanned<RawRetry>>,
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetry {
    #[serde(default)]
    pub max_attempts: Option<Spanned<u32>>,
    #[serde(default)]
    pub initial_backoff: Option<Spanned<String>>,
    #[serde(default)]
    pub max_backoff: Option<Spanned<String>>,
}

/// Parse and validate a plan's text. `source` names the file in errors; when it ends
/// in `.yaml` or `.yml`, its stem must equal the plan's name.
pub fn load_plan_str(
    text: &str,
    source: &str,
    registry: &Registry,
) -> Result<Plan, Vec<PlanError>> {
    load_located(text, source, registry).map(|(plan, _)| plan)
}

/// Read and validate one plan file.
pub fn load_plan_file(path: &Path, registry: &Registry) -> Result<Plan, Vec<PlanError>> {
    let source = path.display().to_string();
    let text = read(path, &source)?;
    load_plan_str(&text, &source, registry)
}

fn read(path: &Path, source: &str) -> Result<String, Vec<PlanError>> {
    let bytes = std::fs::read(path)
        .map_err(|e| vec![PlanError::whole_file(source, format!("cannot read: {e}"))])?;
    String::from_utf8(bytes).map_err(|_| {
        vec![PlanError::whole_file(
            source,
            "not a text file: plans are UTF-8 YAML",
        )]
    })
}

/// The plan and the location of its `name`.
fn load_located(
    text: &str,
    source: &str,
    registry: &Registry,
) -> Result<(Plan, Location), Vec<PlanError>> {
    let raw: RawPlan = serde_saphyr::from_str(text).map_err(|error| {
        vec![shape_error(text, source).unwrap_or_else(|| from_parser(source, &error))]
    })?;
    let name_location = raw.name.referenced;
    validate(raw, source, registry).map(|plan| (plan, name_location))
}

/// When the document is valid YAML but not a mapping at all, say so plainly.
fn shape_error(text: &str, source: &str) -> Option<PlanError> {
    let found = match serde_saphyr::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_)) => return None,
        Ok(serde_json::Value::Null) => "nothing (the file is empty)",
        Ok(serde_json::Value::Array(_)) => "a list",
        Ok(serde_json::Value::String(_)) => "a string",
        Ok(serde_json::Value::Number(_)) => "a number",
        Ok(serde_json::Value::Bool(_)) => "a boolean",
        Err(_) if text.lines().all(is_blank_or_comment) => "nothing (the file is empty)",
        Err(_) => return None,
    };
    Some(PlanError::whole_file(
        source,
        format!("a plan must be a YAML mapping with at least `name` and `steps`, found {found}"),
    ))
}

fn is_blank_or_comment(line: &str) -> bool {
    let line = line.trim();
    line.is_empty() || line.starts_with('#') || line == "---" || line == "..."
}

impl PlanSet {
    /// Every `*.yaml` / `*.yml` plan in `dir` (not recursive; dot-files such as editor
    /// lock files are ignored). All errors of all files are returned; plan names must
    /// be unique across files.
    pub fn load_dir(dir: &Path, registry: &Registry) -> Result<PlanSet, Vec<PlanError>> {
        let source = dir.display().to_string();
        let entries = std::fs::read_dir(dir).map_err(|e| {
            vec![PlanError::whole_file(
                &source,
                format!("cannot read the plans directory: {e}"),
            )]
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| is_plan_file(p))
            .collect();
        paths.sort();
        let mut errors = Vec::new();
        let mut plans: BTreeMap<String, (Plan, String)> = BTreeMap::new();
        for path in paths {
            let file = path.display().to_string();
            let loaded = read(&path, &file).and_then(|text| load_located(&text, &file, registry));
            match loaded {
                Ok((plan, name_location)) => {
                    if let Some((_, first)) = plans.get(&plan.name) {
                        errors.push(PlanError::new(
                            &file,
                            name_location.line(),
                            name_location.column(),
                            format!(
                                "duplicate plan name `{}`: also defined in {first}",
                                plan.name
                            ),
                        ));
                    } else {
                        plans.insert(plan.name.clone(), (plan, file));
                    }
                }
                Err(mut file_errors) => errors.append(&mut file_errors),
            }
        }
        if errors.is_empty() {
            Ok(PlanSet::from_plans(
                plans.into_values().map(|(plan, _)| plan),
            ))
        } else {
            Err(errors)
        }
    }
}

fn is_plan_file(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'));
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    yaml && !hidden && !path.is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::testing::{registry, GOOD};

    fn load(text: &str) -> Result<Plan, Vec<PlanError>> {
        let (registry, _) = registry();
        load_plan_str(text, "workflows/p.yaml", &registry)
    }

    fn one_error(text: &str) -> PlanError {
        let list = load(text).expect_err("should fail");
        assert_eq!(list.len(), 1, "{list:#?}");
        list.into_iter().next().unwrap()
    }

    #[test]
    fn a_valid_plan_loads_with_lines_and_defaults() {
        let (registry, _) = registry();
        let plan = load_plan_str(GOOD, "plans/good.yaml", &registry).unwrap();
        assert_eq!(plan.name, "good");
        assert_eq!(plan.source, "plans/good.yaml");
        assert_eq!(plan.description.as_deref(), Some("a test plan"));
        assert_eq!(plan.sla, Some(std::time::Duration::from_secs(900)));
        assert_eq!(plan.steps.len(), 3);
        let lines: Vec<u64> = plan.steps.iter().map(|s| s.line).collect();
        assert_eq!(lines, vec![7, 10, 16]);
        assert_eq!(plan.steps[0].with, serde_json::json!({"org": "acme"}));
        assert_eq!(plan.steps[1].needs, vec!["first"]);
        let retry = plan.steps[1].retry.as_ref().unwrap();
        assert_eq!(retry.max_attempts, 3);
        assert_eq!(retry.initial_backoff, std::time::Duration::from_millis(100));
        assert_eq!(retry.max_backoff, std::time::Duration::from_secs(2));
        assert_eq!(
            plan.steps[1].timeout,
            Some(std::time::Duration::from_secs(30))
        );
        assert_eq!(plan.steps[0].retry, None);
        assert_eq!(plan.restore.len(), 1);
        assert_eq!(plan.restore[0].line, 20);
        assert!(plan.triggered_by("okta.user.lifecycle.deactivate"));
        assert!(!plan.triggered_by("drill"));
    }

    #[test]
    fn retry_keys_default_individually() {
        let plan = load(
            "name: p\nsteps:\n  - id: a\n    uses: fake.remove\n    with: { org: acme }\n    retry: { max_attempts: 2 }\n",
        )
        .unwrap();
        let retry = plan.steps[0].retry.clone().unwrap();
        assert_eq!(retry.max_attempts, 2);
        assert_eq!(retry.initial_backoff, std::time::Duration::from_secs(1));
        assert_eq!(retry.max_backoff, std::time::Duration::from_secs(300));
    }

    #[test]
    fn the_json_snapshot_round_trips() {
        let (registry, _) = registry();
        let plan = load_plan_str(GOOD, "good", &registry).unwrap();
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["sla"], "15m");
        assert_eq!(json["steps"][1]["retry"]["initial_backoff"], "100ms");
        let back: Plan = serde_json::from_value(json).unwrap();
        assert_eq!(back, plan);
    }

    #[test]
    fn unknown_keys_are_located_by_the_parser() {
        let error = one_error(
            "name: p\nsteps:\n  - id: a\n    uses: fake.remove\n    whith: { org: acme }\n",
        );
        assert_eq!((error.line, error.column), (5, 5));
        assert!(error.reason.contains("unknown field `whith`"), "{error}");
        assert!(
            error.reason.contains("with"),
            "lists the known keys: {error}"
        );

        let error = one_error("name: p\nstepz: []\n");
        assert_eq!((error.line, error.column), (2, 1));
        assert!(
            error
                .to_string()
                .starts_with("workflows/p.yaml:2:1: unknown field `stepz`"),
            "{error}"
        );

        let error = one_error("name: p\ntrigger: { event: [manual] }\nsteps: []\n");
        assert_eq!(error.line, 2);
        assert!(error.reason.contains("unknown field `event`"), "{error}");

        let error = one_error(
            "name: p\nsteps:\n  - id: a\n    uses: fake.remove\n    retry: { attempts: 3 }\n",
        );
        assert_eq!(error.line, 5);
        assert!(error.reason.contains("unknown field `attempts`"), "{error}");
    }

    #[test]
    fn wrong_shapes_are_plain_errors() {
        let error = one_error("name: p\nsteps:\n  - id: a\n    uses: fake.remove\n    needs: b\n");
        assert_eq!(error.line, 5);
        assert!(error.reason.contains("expected a list"), "{error}");
        let error =
            one_error("name: p\nsteps:\n  - id: a\n    uses: fake.remove\n    uses: fake.remove\n");
        assert_eq!(error.line, 5);
        assert!(error.reason.contains("duplicate mapping key"), "{error}");
        assert!(!error.reason.contains("DuplicateKeyPolicy"), "{error}");
        let error = one_error("name: p\nsteps:\n  - id: a\n");
        assert_eq!(error.line, 3);
        assert!(error.reason.contains("missing field `uses`"), "{error}");
        let error = one_error(
            "name: p\nsteps:\n  - id: a\n    uses: fake.remove\n    retry: { max_attempts: -1 }\n",
        );
        assert!(error.reason.contains("whole number"), "{error}");
        let error = one_error("steps: []\n");
        assert!(error.reason.contains("missing field `name`"), "{error}");
    }

    #[test]
    fn garbage_is_a_clean_error_never_a_panic() {
        let (registry, _) = registry();
        for (garbage, says) in [
            ("", "found nothing"),
            ("# only a comment\n---\n", "found nothing"),
            ("- 1\n- 2\n", "found a list"),
            ("just a string", "found a string"),
            ("42", "found a number"),
            ("name: [unclosed\n", ""),
            ("name: p\n\tsteps: 3\n", ""),
            ("\u{0}\u{1}binary", ""),
            ("a: &a [*a]\n", ""),
            ("name: p\n---\nname: q\n", ""),
            ("{{{{", ""),
            (
                "name: p\nsteps:\n  - id: a\n    uses: fake.remove\n    with: {1: a}\n",
                "",
            ),
            ("name: p\nsteps:\n  - !!binary aGVsbG8=\n", ""),
        ] {
            let list = load_plan_str(garbage, "g.yaml", &registry).unwrap_err();
            assert!(!list.is_empty(), "{garbage:?}");
            for error in &list {
                assert!(error.line >= 1 && error.column >= 1, "{garbage:?}: {error}");
                assert!(!error.reason.is_empty(), "{garbage:?}");
                assert!(!error.reason.contains('\n'), "one line: {error}");
            }
            assert!(list[0].reason.contains(says), "{garbage:?}: {:?}", list);
        }
    }

    #[test]
    fn load_file_and_dir() {
        let (registry, _) = registry();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good.yaml"), GOOD).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a plan").unwrap();
        std::fs::write(dir.path().join(".#good.yaml"), "editor lock").unwrap();
        std::fs::create_dir(dir.path().join("sub.yaml")).unwrap();
        let set = PlanSet::load_dir(dir.path(), &registry).unwrap();
        assert_eq!(set.names().collect::<Vec<_>>(), vec!["good"]);
        assert_eq!(set.len(), 1);
        assert_eq!(set.get("good").unwrap().steps.len(), 3);
        assert!(set.get("other").is_none());
        assert_eq!(set.triggered_by("manual").count(), 1);

        let plan = load_plan_file(&dir.path().join("good.yaml"), &registry).unwrap();
        assert!(plan.source.ends_with("good.yaml"));
        let missing = load_plan_file(&dir.path().join("nope.yaml"), &registry).unwrap_err();
        assert!(
            missing[0].reason.starts_with("cannot read"),
            "{:?}",
            missing
        );
        std::fs::write(dir.path().join("binary.yml"), [0xff, 0xfe, 0x00]).unwrap();
        let binary = load_plan_file(&dir.path().join("binary.yml"), &registry).unwrap_err();
        assert!(binary[0].reason.contains("UTF-8"), "{:?}", binary);
        std::fs::remove_file(dir.path().join("binary.yml")).unwrap();

        // Errors of every file are collected; a .yml twin is a duplicate plan.
        std::fs::write(dir.path().join("bad.yaml"), "name: bad\nsteps: 3\n").unwrap();
        std::fs::write(
            dir.path().join("worse.yaml"),
            "name: worse\nsla: never\nsteps:\n  - id: a\n    uses: fake.nope\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("good.yml"), GOOD).unwrap();
        let errors = PlanSet::load_dir(dir.path(), &registry).unwrap_err();
        let files: Vec<&str> = errors
            .iter()
            .map(|e| e.file.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(
            files,
            vec!["bad.yaml", "good.yml", "worse.yaml", "worse.yaml"]
        );
        assert!(errors[1]
            .reason
            .contains("duplicate plan name `good`: also defined in"));
        assert_eq!(errors[1].line, 2, "at the name: {}", errors[1]);

        let none = PlanSet::load_dir(&dir.path().join("missing"), &registry).unwrap_err();
        assert!(none[0].reason.contains("cannot read the plans directory"));
    }

    fn github_catalog() -> Registry {
        let github = leaver_connector_github::GithubConnector::new(
            leaver_connector_github::GithubConfig::default(),
        )
        .expect("spec-only GitHub connector");
        let mut registry = Registry::new();
        registry.register(std::sync::Arc::new(github));
        registry
    }

    fn repo_path(relative: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
    }

    #[test]
    fn the_shipped_plans_validate() {
        let catalog = crate::connectors::build_catalog(&Registry::new()).expect("catalog");
        let set = PlanSet::load_dir(&repo_path("workflows"), &catalog)
            .unwrap_or_else(|errors| panic!("{}", crate::plan::format_errors(&errors)));
        let plan = set.get("standard-leaver").expect("standard-leaver ships");
        assert_eq!(
            plan.trigger.events,
            vec![
                "okta.user.lifecycle.deactivate",
                "entra.scim.deactivate",
                "manual"
            ]
        );
        assert_eq!(plan.sla, Some(std::time::Duration::from_secs(15 * 60)));
        let github = plan.step("github").expect("a github step");
        assert_eq!(github.uses, "github.remove_org_member");
        assert_eq!(github.with, serde_json::json!({"org": "acme"}));
    }

    #[test]
    fn fixtures_report_every_error() {
        let catalog = github_catalog();
        let report = |name: &str| -> String {
            let path = repo_path(&format!("tests/fixtures/plans/{name}"));
            let errors = load_plan_file(&path, &catalog).expect_err(name);
            let prefix = format!("{}:", path.display());
            errors
                .iter()
                .map(|e| e.to_string().replacen(&prefix, &format!("{name}:"), 1))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let known = crate::plan::KNOWN_TRIGGER_EVENTS.join(", ");
        assert_eq!(
            report("broken.yaml"),
            format!(
                "broken.yaml:4:53: unknown trigger event `okta.user.session.end` (known: {known})
broken.yaml:5:6: sla: invalid duration `fifteen minutes`: expected a number at `f` (e.g. 30s, 15m, 24h, 7d, 1h30m)
broken.yaml:8:11: unknown action `github.remove_org_membr` (connector `github` offers: remove_org_member, remove_outside_collaborator, cancel_invitations, revoke_sso_authorizations, revoke_fine_grained_tokens); did you mean `github.remove_org_member`?
broken.yaml:12:11: invalid parameters for `github.remove_org_member`: unknown field `organisation`, expected `org`
broken.yaml:13:13: step `github-again` needs unknown step `gihub` (steps in `steps`: github)
broken.yaml:14:14: timeout: invalid duration `0s`: must be greater than zero
broken.yaml:15:9: duplicate step id `github` in `steps` (first used on line 7)
broken.yaml:18:48: retry.initial_backoff (10m) is longer than retry.max_backoff (1m)"
            )
        );
        assert_eq!(
            report("cycle.yaml"),
            "cycle.yaml:7:13: cycle: a -> c -> b -> a"
        );
        assert_eq!(
            report("unknown-key.yaml"),
            "unknown-key.yaml:6:5: unknown field `whith`, expected one of id, uses, with, needs, when, retry, timeout"
        );
        let valid =
            load_plan_file(&repo_path("tests/fixtures/plans/valid.yaml"), &catalog).unwrap();
        let levels: Vec<Vec<&str>> = valid
            .levels()
            .iter()
            .map(|level| level.iter().map(|s| s.id.as_str()).collect())
            .collect();
        assert_eq!(levels, vec![vec!["github"], vec!["github-labs"]]);
    }
}
