//! The command line as a user runs it: the real binary, real files, the simulated
//! GitHub over HTTP.

mod common;

use common::*;
use leaver_sim::github::{GithubSim, GithubSimConfig};
use std::path::Path;
use std::process::{Command, Output};

fn leaver(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leaver"))
        .current_dir(dir)
        .args(args)
        .env("LEAVER_LOG", "warn")
        .output()
        .expect("run leaver")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn write_config(dir: &Path, github_url: &str) {
    plans_dir(dir, &[("gh-leaver", GITHUB_PLAN)]);
    std::fs::write(dir.join("github-token"), GITHUB_TOKEN).unwrap();
    std::fs::write(
        dir.join("leaver.toml"),
        format!(
            "[database]\nurl = \"sqlite://{}\"\n[engine]\npoll_interval = \"50ms\"\n\
             [connectors.github]\napi_url = \"{github_url}\"\norg = \"acme\"\ntoken = \"file:github-token\"\n",
            dir.join("leaver.db").display()
        ),
    )
    .unwrap();
}

#[test]
fn plan_validate_reports_file_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.yaml");
    std::fs::write(
        &bad,
        "name: broken\ntrigger: { events: [manual] }\nsteps:\n  - id: gh\n    uses: github.remove_org_membr\n    with: { org: acme }\n",
    )
    .unwrap();
    let output = leaver(dir.path(), &["plan", "validate", bad.to_str().unwrap()]);
    assert!(!output.status.success());
    let out = text(&output);
    assert!(out.contains("broken.yaml:5"), "{out}");
    assert!(out.contains("remove_org_membr"), "{out}");
}

#[test]
fn shipped_plans_validate_and_schema_lists_actions() {
    let output = leaver(&repo_path(""), &["plan", "validate"]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("standard-leaver"));
    let output = leaver(&repo_path(""), &["plan", "schema"]);
    assert!(output.status.success(), "{}", text(&output));
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).expect("schema is JSON");
    assert!(schema.to_string().contains("github.remove_org_member"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_then_offboard_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let sim = GithubSim::start(GithubSimConfig {
        token: GITHUB_TOKEN.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    sim.add_member("acme", "alice-gh", "member");
    write_config(dir.path(), &sim.base_url());
    let path = dir.path().to_path_buf();

    let explain = tokio::task::spawn_blocking({
        let path = path.clone();
        move || {
            leaver(
                &path,
                &[
                    "plan",
                    "explain",
                    "--plan",
                    "gh-leaver",
                    "--identity",
                    "alice@example.com",
                    "--account",
                    "github=alice-gh",
                ],
            )
        }
    })
    .await
    .unwrap();
    assert!(explain.status.success(), "{}", text(&explain));
    assert!(text(&explain).contains("acme"), "{}", text(&explain));
    assert!(
        sim.is_member("acme", "alice-gh"),
        "explain touched the upstream"
    );
    assert_eq!(sim.removals("acme", "alice-gh"), 0);

    let offboard = tokio::task::spawn_blocking(move || {
        leaver(
            &path,
            &[
                "offboard",
                "--identity",
                "alice@example.com",
                "--plan",
                "gh-leaver",
                "--account",
                "github=alice-gh",
            ],
        )
    })
    .await
    .unwrap();
    assert!(offboard.status.success(), "{}", text(&offboard));
    assert!(text(&offboard).contains("completed"), "{}", text(&offboard));
    assert!(!sim.is_member("acme", "alice-gh"));
}

#[test]
fn demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let output = leaver(
        dir.path(),
        &[
            "demo",
            "--exit",
            "--listen",
            "127.0.0.1:0",
            "--dir",
            dir.path().join("demo").to_str().unwrap(),
        ],
    );
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("completed"), "{out}");
    assert!(out.contains("github.remove_org_member"), "{out}");
    assert!(out.contains("still a GitHub member: false"), "{out}");
    // The shipped standard plan covers the IdP, GitHub, AWS IAM and Vault, verified.
    for action in [
        "okta.revoke_sessions",
        "okta.deactivate_user",
        "github.cancel_invitations",
        "aws_iam.revoke_sessions",
        "aws_iam.disable_user",
        "vault.disable_entity",
        "vault.revoke_tokens",
        "ticket.update",
    ] {
        assert!(out.contains(action), "{action} missing: {out}");
    }
    assert!(!out.contains("verified=false"), "{out}");
    assert!(
        out.contains("Okta status DEPROVISIONED, Okta sessions 0"),
        "{out}"
    );
    assert!(out.contains("AWS IAM user grants nothing: true"), "{out}");
    assert!(
        out.contains("Vault entity disabled: true, live Vault tokens 0"),
        "{out}"
    );
    assert!(
        out.contains("Revocations: 8 of 8 succeeded, 8 verified."),
        "{out}"
    );
    assert!(dir.path().join("demo/evidence.jsonl").exists());
    let verify = leaver(
        dir.path(),
        &[
            "evidence",
            "verify",
            dir.path().join("demo/evidence.jsonl").to_str().unwrap(),
        ],
    );
    assert!(verify.status.success(), "{}", text(&verify));
}

#[test]
fn bad_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("leaver.toml"),
        "[connectors.github]\ntoken = \"ghp_literal_canary\"\n",
    )
    .unwrap();
    let output = leaver(dir.path(), &["token", "create", "--role", "viewer"]);
    assert!(!output.status.success());
    let out = text(&output);
    assert!(out.contains("env:NAME"), "{out}");
    assert!(!out.contains("ghp_literal_canary"), "{out}");
}
