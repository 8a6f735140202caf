use super::*;
use async_trait::async_trait;
use leaver_connector::{
    typed_action, ActionOutcome, ActionRequest, ActionSpec, Connector, ConnectorError, Holding,
    Identity, ParamError, Preview, Registry, Verification,
};
use serde::Deserialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RemoveParams {
    org: Option<String>,
    #[serde(default)]
    teams: Vec<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RequiredParams {
    path: String,
}

/// A connector that describes two actions and counts executions.
#[derive(Default)]
struct Fake {
    executes: AtomicUsize,
}

#[async_trait]
impl Connector for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn actions(&self) -> Vec<ActionSpec> {
        vec![
            typed_action::<RemoveParams>("remove", "remove a member"),
            typed_action::<RequiredParams>("needs_path", "needs a path"),
        ]
    }
    fn check_params(&self, action: &str, params: &serde_json::Value) -> Result<(), ParamError> {
        if action == "remove" && params.get("org").is_none() {
            return Err(ParamError(
                "missing parameter `org` (and no default org is configured)".into(),
            ));
        }
        Ok(())
    }
    async fn execute(&self, _: &ActionRequest) -> Result<ActionOutcome, ConnectorError> {
        self.executes.fetch_add(1, Ordering::SeqCst);
        Ok(ActionOutcome::changed("done"))
    }
    async fn verify(&self, _: &ActionRequest) -> Result<Verification, ConnectorError> {
        Ok(Verification::gone("gone"))
    }
    async fn preview(&self, request: &ActionRequest) -> Result<Preview, ConnectorError> {
        let org = request
            .params
            .get("org")
            .and_then(|o| o.as_str())
            .unwrap_or("?");
        Ok(Preview {
            would_revoke: vec![Holding {
                system: "fake".into(),
                kind: "membership".into(),
                resource: org.into(),
                description: format!("{} is in {org}", request.identity.email),
            }],
            notes: vec![],
        })
    }
    async fn inventory(
        &self,
        _: &Identity,
        _: &[ActionRequest],
    ) -> Result<Vec<Holding>, ConnectorError> {
        Ok(vec![])
    }
}

fn registry() -> (Registry, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let mut registry = Registry::new();
    registry.register(fake.clone());
    (registry, fake)
}

const GOOD: &str = "name: good
description: a test plan
trigger: { events: [manual, okta.user.lifecycle.deactivate] }
sla: 15m
steps:
  - id: first
    uses: fake.remove
    with: { org: acme }
  - id: second
    uses: fake.remove
    with: { org: other, teams: [a, b] }
    needs: [first]
    retry: { max_attempts: 3, initial_backoff: 100ms, max_backoff: 2s }
    timeout: 30s
  - id: third
    uses: fake.needs_path
    with: { path: secret/x }
";

fn errors(text: &str) -> Vec<PlanError> {
    let (registry, _) = registry();
    load_plan_str(text, "workflows/p.yaml", &registry).expect_err("should fail")
}

fn one_error(text: &str) -> PlanError {
    let list = errors(text);
    assert_eq!(list.len(), 1, "{list:#?}");
    list.into_iter().next().unwrap()
}

#[test]
fn a_valid_plan_loads_with_lines_and_defaults() {
    let (registry, _) = registry();
    let plan = load_plan_str(GOOD, "good", &registry).unwrap();
    assert_eq!(plan.name, "good");
    assert_eq!(plan.sla, Some(std::time::Duration::from_secs(900)));
    assert_eq!(plan.steps.len(), 3);
    assert_eq!(plan.steps[0].line, 6);
    assert_eq!(plan.steps[1].line, 9);
    assert_eq!(plan.steps[1].needs, vec!["first"]);
    assert_eq!(plan.steps[1].retry.as_ref().unwrap().max_attempts, 3);
    assert_eq!(
        plan.steps[1].timeout,
        Some(std::time::Duration::from_secs(30))
    );
    assert!(plan.triggered_by("okta.user.lifecycle.deactivate"));
    let order: Vec<_> = plan
        .topological_order()
        .iter()
        .map(|s| s.id.clone())
        .collect();
    assert_eq!(order, vec!["first", "third", "second"]);
    // The JSON snapshot round-trips.
    let json = serde_json::to_value(&plan).unwrap();
    let back: Plan = serde_json::from_value(json).unwrap();
    assert_eq!(back, plan);
}

#[test]
fn unknown_keys_are_located() {
    let error =
        one_error("name: p\nsteps:\n  - id: a\n    uses: fake.remove\n    whith: { org: acme }\n");
    assert_eq!((error.line, error.column), (5, 5));
    assert!(error.reason.contains("unknown field `whith`"), "{error}");
    let error = one_error("name: p\nstepz: []\n");
    assert_eq!(error.line, 2);
    assert!(
        error.to_string().starts_with("workflows/p.yaml:2:"),
        "{error}"
    );
}

#[test]
fn unknown_actions_and_connectors_list_what_exists() {
    let error =
        one_error("name: p\nsteps:\n  - id: a\n    uses: fake.remov\n    with: { org: acme }\n");
    assert_eq!(error.line, 4);
    assert!(
        error.reason.contains("unknown action `fake.remov`"),
        "{error}"
    );
    assert!(error.reason.contains("remove"), "{error}");
    let error = one_error("name: p\nsteps:\n  - id: a\n    uses: nope.x\n");
    assert!(error.reason.contains("unknown connector `nope`"), "{error}");
    let error = one_error("name: p\nsteps:\n  - id: a\n    uses: noseparator\n");
    assert!(error.reason.contains("connector.action"), "{error}");
}

#[test]
fn parameters_are_checked_against_the_action() {
    let error =
        one_error("name: p\nsteps:\n  - id: a\n    uses: fake.needs_path\n    with: { pth: x }\n");
    assert_eq!(error.line, 5);
    assert!(error.reason.contains("pth"), "{error}");
    let error = one_error("name: p\nsteps:\n  - id: a\n    uses: fake.needs_path\n");
    assert!(error.reason.contains("missing field `path`"), "{error}");
    let error =
        one_error("name: p\nsteps:\n  - id: a\n    uses: fake.remove\n    with: { org: 5 }\n");
    assert!(error.reason.contains("invalid type"), "{error}");
    let error = one_error("name: p\nsteps:\n  - id: a\n    uses: fake.remove\n");
    assert!(error.reason.contains("missing parameter `org`"), "{error}");
    let error = one_error("name: p\nsteps:\n  - id: a\n    uses: fake.remove\n    with: [1]\n");
    assert!(error.reason.contains("mapping"), "{error}");
}

#[test]
fn needs_cycles_and_duplicates() {
    let list = errors(
        "name: p\nsteps:\n  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n    needs: [c]\n  - id: b\n    uses: fake.needs_path\n    with: { path: x }\n    needs: [a]\n  - id: c\n    uses: fake.needs_path\n    with: { path: x }\n    needs: [b]\n",
    );
    assert_eq!(list.len(), 1, "{list:#?}");
    assert!(
        list[0]
            .reason
            .contains("cycle in `needs`: a -> c -> b -> a"),
        "{}",
        list[0]
    );
    assert_eq!(list[0].line, 3);

    let error = one_error("name: p\nsteps:\n  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n    needs: [ghost]\n");
    assert_eq!(error.line, 6);
    assert!(error.reason.contains("unknown step `ghost`"), "{error}");

    let error = one_error("name: p\nsteps:\n  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n");
    assert_eq!(error.line, 6);
    assert!(error.reason.contains("duplicate step id `a`"), "{error}");

    let error = one_error("name: p\nsteps:\n  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n    needs: [a]\n");
    assert!(error.reason.contains("needs itself"), "{error}");
}

#[test]
fn bad_durations_name_the_text() {
    let error = one_error("name: p\nsla: fifteen minutes\nsteps:\n  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n");
    assert_eq!(error.line, 2);
    assert!(error.reason.contains("`fifteen minutes`"), "{error}");
    let error = one_error("name: p\nsteps:\n  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n    timeout: 0s\n");
    assert!(error.reason.contains("timeout"), "{error}");
    let error = one_error("name: p\nsteps:\n  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n    retry: { initial_backoff: soon }\n");
    assert!(error.reason.contains("retry.initial_backoff"), "{error}");
}

#[test]
fn all_errors_of_a_file_are_reported() {
    let list = errors("name: p\nsla: never\ntrigger: { events: [okta.user.session.end] }\nsteps:\n  - id: a\n    uses: fake.nope\n  - id: b\n    uses: fake.needs_path\n    needs: [zz]\n");
    assert!(list.len() >= 4, "{list:#?}");
    let lines: Vec<u64> = list.iter().map(|e| e.line).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "errors come in file order");
    assert!(list.iter().any(|e| e
        .reason
        .contains("unknown trigger event `okta.user.session.end`")));
}

#[test]
fn names_and_files_must_agree_and_garbage_is_an_error() {
    let list = errors(
        "name: Bad Name\nsteps:\n  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n",
    );
    assert!(
        list.iter().any(|e| e.reason.contains("lower-case")),
        "{list:#?}"
    );
    let (registry, _) = registry();
    let list = load_plan_str(
        "name: other\nsteps:\n  - id: a\n    uses: fake.needs_path\n    with: { path: x }\n",
        "dir/p.yaml",
        &registry,
    )
    .unwrap_err();
    assert!(
        list[0].reason.contains("must match its file name `p`"),
        "{}",
        list[0]
    );
    for garbage in [
        "",
        "- 1\n- 2\n",
        "name: [unclosed\n",
        "\u{0}\u{1}binary",
        "name: p\nsteps: []\n",
        "name: p\n",
    ] {
        let list = load_plan_str(garbage, "g", &registry).unwrap_err();
        assert!(!list.is_empty());
    }
}

#[test]
fn load_dir_reads_every_plan() {
    let (registry, _) = registry();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.yaml"), GOOD).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a plan").unwrap();
    let set = PlanSet::load_dir(dir.path(), &registry).unwrap();
    assert_eq!(set.names().collect::<Vec<_>>(), vec!["good"]);
    std::fs::write(dir.path().join("bad.yaml"), "name: bad\nsteps: 3\n").unwrap();
    let errors = PlanSet::load_dir(dir.path(), &registry).unwrap_err();
    assert!(errors[0].file.ends_with("bad.yaml"));
    assert!(PlanSet::load_dir(&dir.path().join("missing"), &registry).is_err());
}

#[test]
fn schema_lists_every_action_with_its_parameters() {
    let (registry, _) = registry();
    let schema = json_schema(&registry);
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let uses = &schema["$defs"]["step"]["properties"]["uses"]["enum"];
    let mut uses: Vec<String> = serde_json::from_value(uses.clone()).unwrap();
    uses.sort();
    assert_eq!(uses, vec!["fake.needs_path", "fake.remove"]);
    let text = schema.to_string();
    assert!(
        text.contains("\"teams\""),
        "per-action parameters are in the schema"
    );
    assert!(text.contains("\"okta.user.lifecycle.deactivate\""));
}

#[tokio::test]
async fn explain_previews_and_never_executes() {
    let (registry, fake) = registry();
    let plan = load_plan_str(GOOD, "good", &registry).unwrap();
    let explanation = explain(&plan, &registry, &Identity::new("alice@example.com")).await;
    assert_eq!(explanation.steps.len(), 3);
    assert_eq!(explanation.steps[0].would_revoke[0].resource, "acme");
    assert_eq!(fake.executes.load(Ordering::SeqCst), 0);
    let text = explanation.render_text();
    assert!(
        text.contains("would revoke fake membership in acme"),
        "{text}"
    );
    let empty = Registry::new();
    let explanation = explain(&plan, &empty, &Identity::new("alice@example.com")).await;
    assert!(explanation.steps[0]
        .error
        .as_ref()
        .unwrap()
        .contains("not configured"));
}
