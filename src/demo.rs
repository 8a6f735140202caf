//! `leaver demo`: one command that shows the whole loop on this machine. It starts the
//! simulated upstreams (the same ones the tests use), an embedded SQLite database and
//! the HTTP server, offboards a sample user through the public API, and prints what was
//! revoked, the verified evidence chain, and where to look next.

use crate::app::App;
use crate::config::{AwsIamSection, Config, GithubSection, JiraSection, OktaSection, VaultSection};
use anyhow::Context as _;
use clap::Args;
use leaver_sim::aws_iam::{IamSim, IamSimConfig};
use leaver_sim::github::{GithubSim, GithubSimConfig};
use leaver_sim::jira::{JiraSim, JiraSimConfig};
use leaver_sim::okta::{KeyPair, OktaSim, OktaSimConfig, SimClient};
use leaver_sim::vault::{VaultSim, VaultSimConfig};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;

/// The shipped plans, so the demo runs from any directory.
const SHIPPED_PLANS: &[(&str, &str)] = &[(
    "standard-leaver.yaml",
    include_str!("../workflows/standard-leaver.yaml"),
)];

const DEMO_GITHUB_TOKEN: &str = "demo-github-token";
const DEMO_JIRA_TOKEN: &str = "demo-jira-api-token";
const DEMO_TICKET: &str = "HR-4312";
const DEMO_VAULT_TOKEN: &str = "hvs.demo-operator-token";
const DEMO_OKTA_CLIENT: &str = "0oademoleaver00001";
const DEMO_OKTA_KEY_ID: &str = "demo-key-1";

/// The simulated upstreams of the demo, and what it seeded in them.
struct Upstreams {
    okta: OktaSim,
    okta_key: KeyPair,
    alice_okta: String,
    github: GithubSim,
    aws: IamSim,
    vault: VaultSim,
    alice_entity: String,
    jira: JiraSim,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address for the demo's HTTP server (default: 127.0.0.1:8080, or a free port if
    /// that one is taken).
    #[arg(long)]
    pub listen: Option<String>,
    /// Exit after printing, instead of serving until Ctrl-C.
    #[arg(long)]
    pub exit: bool,
    /// Directory for the demo's database, key and evidence (default: a new temporary one).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub async fn run(args: &DemoArgs) -> anyhow::Result<i32> {
    let dir = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.clone()
        }
        None => std::env::temp_dir().join(format!("leaver-demo-{}", uuid::Uuid::now_v7())),
    };
    std::fs::create_dir_all(dir.join("workflows"))?;
    for (name, text) in SHIPPED_PLANS {
        std::fs::write(dir.join("workflows").join(name), text)?;
    }

    println!(
        "Leaver demo — everything runs on this machine, in {}\n",
        dir.display()
    );
    let up = start_upstreams().await?;
    let github = &up.github;
    let jira = &up.jira;
    let config = demo_config(&dir, &up)?;
    // The simulated AWS takes the demo's own keys, not whatever the default chain finds.
    let mut registry = crate::connectors::build_registry(&config)?;
    let aws_config = config
        .connectors
        .aws_iam
        .as_ref()
        .map(|aws| aws.to_connector_config())
        .transpose()?
        .unwrap_or_default();
    // (`to_connector_config` validated the section above.)
    registry.register(std::sync::Arc::new(
        leaver_connector_aws_iam::AwsIamConnector::with_credentials(
            aws_config,
            leaver_connector_aws_iam::Credentials::new(
                up.aws.access_key_id(),
                up.aws.secret_access_key(),
                None,
                None,
                "leaver-demo",
            ),
        )
        .map_err(|e| anyhow::anyhow!("the demo's AWS IAM connector: {e}"))?,
    ));
    let app = App::build_with_registry(config, registry).await?;
    let listener = bind(args.listen.as_deref()).await?;
    let address = listener.local_addr()?;
    let base = format!("http://{address}");
    let (stop, shutdown) = watch::channel(false);
    let server = tokio::spawn(app.clone().serve(listener, shutdown));
    println!(
        "leaver             {base}  (database {})",
        app.store.dialect().name()
    );

    let token = crate::store::generate_token();
    app.store
        .create_token(&token, "demo-admin", crate::domain::Role::Admin, "demo")
        .await?;

    let client = reqwest::Client::new();
    println!("\n1. The IdP deactivates alice@example.com; Leaver is asked to offboard her:");
    let request = serde_json::json!({
        "identity": {
            "email": "alice@example.com", "idp": "okta", "idp_user_id": "00u1abc",
            "display_name": "Alice Example",
            "accounts": {"github": "alice-gh", "vault": up.alice_entity}
        },
        "plan": "standard-leaver", "mode": "live",
        "ticket": {"system": "jira", "key": "HR-4312"},
        "reason": "resignation"
    });
    println!("   POST {base}/api/v1/offboardings  (Idempotency-Key: HR-4312)");
    let created: serde_json::Value = client
        .post(format!("{base}/api/v1/offboardings"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "HR-4312")
        .json(&request)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = created["id"].as_str().unwrap_or_default().to_string();
    println!("   → 202 run {id}");

    let run = wait_for_run(&client, &base, &token, &id).await?;
    println!("\n2. The plan ran; every revocation was verified by a probe:");
    if let Some(steps) = run["steps"].as_array() {
        for step in steps {
            let outcome = &step["outcome"];
            let detail = outcome["summary"]
                .as_str()
                .map(str::to_string)
                .or_else(|| {
                    outcome["holdings"]
                        .as_array()
                        .map(|h| format!("{} holding(s) left", h.len()))
                })
                .or_else(|| step["error"].as_str().map(str::to_string))
                .unwrap_or_default();
            println!(
                "   {:<24} {:<32} {:<10} verified={:<5} {}",
                step["id"].as_str().unwrap_or_default(),
                step["uses"].as_str().unwrap_or_default(),
                step["status"].as_str().unwrap_or_default(),
                step["verified"],
                detail
            );
        }
    }
    println!(
        "   status {}, completion {}, time to revoke {} ms",
        run["status"].as_str().unwrap_or_default(),
        run["completion"],
        run["time_to_revoke_ms"],
    );
    let okta_user = up.okta.user(&up.alice_okta);
    let aws_user = up.aws.account().user("alice");
    println!(
        "   upstreams now: Okta status {}, Okta sessions {}, still a GitHub member: {}, \
         AWS IAM user grants nothing: {}, Vault entity disabled: {}, live Vault tokens {}",
        okta_user.map(|u| u.status).unwrap_or_default(),
        up.okta.sessions(&up.alice_okta).len(),
        github.is_member("acme", "alice-gh"),
        aws_user.is_some_and(|u| u.grants_nothing(&[leaver_connector_aws_iam::REVOKE_POLICY_NAME])),
        up.vault
            .root()
            .is_disabled(&up.alice_entity)
            .unwrap_or(false),
        up.vault.root().live_tokens(&up.alice_entity).len(),
    );

    let comments = jira.comments(DEMO_TICKET);
    println!("\n3. The HR ticket {DEMO_TICKET} got the summary (a Jira comment):");
    match comments.last() {
        Some(comment) => {
            for line in comment.text.lines().filter(|l| !l.trim().is_empty()) {
                println!("   | {line}");
            }
        }
        None => println!("   (no comment was posted)"),
    }

    let bundle = dir.join("evidence.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&bundle)?);
    let summary = app.ledger.export(None, None, &mut file, "demo").await?;
    std::io::Write::flush(&mut file)?;
    drop(file);
    let report = crate::evidence::verify_bundle_reader(
        std::io::BufReader::new(std::fs::File::open(&bundle)?),
        None,
    );
    println!("\n4. The evidence ledger, exported and verified offline:");
    println!(
        "   {} entries (seq {}..{}), signed by key {}",
        summary.entries, summary.from_seq, summary.to_seq, summary.key_id
    );
    println!("   {}", report.render_text().replace('\n', "\n   "));

    println!("\nWhere to look next:");
    println!(
        "   run:       curl -H 'Authorization: Bearer {token}' {base}/api/v1/offboardings/{id}"
    );
    println!("   metrics:   curl {base}/metrics");
    println!("   evidence:  leaver evidence verify {}", bundle.display());
    println!(
        "   plan:      {}",
        dir.join("workflows/standard-leaver.yaml").display()
    );

    let code = if report.ok && run["status"] == "completed" {
        0
    } else {
        1
    };
    if !args.exit {
        println!("\nServing until Ctrl-C (admin token above).");
        let _ = tokio::signal::ctrl_c().await;
    }
    let _ = stop.send(true);
    let _ = server.await;
    Ok(code)
}

async fn start_upstreams() -> anyhow::Result<Upstreams> {
    let okta_key = KeyPair::generate_rsa()
        .map_err(|e| anyhow::anyhow!("generating the demo's Okta client key: {e}"))?;
    let okta = OktaSim::start(OktaSimConfig {
        clients: vec![SimClient {
            client_id: DEMO_OKTA_CLIENT.into(),
            name: "Leaver offboarding".into(),
            public_key_pem: okta_key.public_key_pem.clone(),
            key_id: Some(DEMO_OKTA_KEY_ID.into()),
            scopes: vec![
                "okta.users.manage".into(),
                "okta.users.read".into(),
                "okta.logs.read".into(),
            ],
        }],
        latency: Duration::from_millis(30),
        ..OktaSimConfig::default()
    })
    .await
    .context("starting the simulated Okta")?;
    let alice_okta = okta.add_user("alice@example.com", "Alice", "Example");
    let bob_okta = okta.add_user("bob@example.com", "Bob", "Example");
    for user in [&alice_okta, &bob_okta] {
        okta.add_session(user);
        okta.add_refresh_token(user, "0oaslack", &["openid", "offline_access"]);
    }
    println!(
        "simulated Okta     {}  (alice@, bob@: a session and a refresh token each)",
        okta.base_url()
    );

    let github = GithubSim::start(GithubSimConfig {
        token: DEMO_GITHUB_TOKEN.to_string(),
        latency: Duration::from_millis(40),
        ..GithubSimConfig::default()
    })
    .await
    .context("starting the simulated GitHub")?;
    github.add_member("acme", "alice-gh", "member");
    github.add_member("acme", "bob-gh", "admin");
    println!(
        "simulated GitHub   {}  (org acme: alice-gh, bob-gh)",
        github.base_url()
    );

    let aws = IamSim::start(IamSimConfig {
        latency: Duration::from_millis(20),
        ..IamSimConfig::default()
    })
    .await
    .context("starting the simulated AWS IAM")?;
    for (user, email) in [("alice", "alice@example.com"), ("bob", "bob@example.com")] {
        aws.account()
            .seed_full_user(user, Some(email))
            .with_context(|| format!("seeding the simulated AWS IAM user {user}"))?;
    }
    println!(
        "simulated AWS IAM  {}  (users alice, bob tagged email=…: keys, console password, MFA, \
         SSH key, groups, policies)",
        aws.base_url()
    );

    let vault = VaultSim::start(VaultSimConfig {
        token: DEMO_VAULT_TOKEN.into(),
        latency: Duration::from_millis(10),
        ..VaultSimConfig::default()
    })
    .await
    .context("starting the simulated Vault")?;
    let root = vault.root();
    root.add_userpass_user("userpass", "alice", "alice-demo-password", &["dev"]);
    root.add_userpass_user("userpass", "bob", "bob-demo-password", &["dev"]);
    let (_, alice_entity) = root
        .login_userpass("userpass", "alice", "alice-demo-password")
        .context("seeding the simulated Vault: logging alice in")?;
    root.login_userpass("userpass", "bob", "bob-demo-password")
        .context("seeding the simulated Vault: logging bob in")?;
    println!(
        "simulated Vault    {}  (userpass alice, bob: logged in, a token each)",
        vault.base_url()
    );

    let jira = JiraSim::start(JiraSimConfig {
        api_token: DEMO_JIRA_TOKEN.to_string(),
        ..JiraSimConfig::default()
    })
    .await
    .context("starting the simulated Jira")?;
    jira.add_issue(DEMO_TICKET, "Offboard Alice Example (resignation)")
        .context("creating the demo ticket")?;
    println!(
        "simulated Jira     {}  (issue {DEMO_TICKET})",
        jira.base_url()
    );
    Ok(Upstreams {
        okta,
        okta_key,
        alice_okta,
        github,
        aws,
        vault,
        alice_entity,
        jira,
    })
}

fn demo_config(dir: &Path, up: &Upstreams) -> anyhow::Result<Config> {
    let secret = |name: &str, value: &str| -> anyhow::Result<String> {
        let path = dir.join(name);
        std::fs::write(&path, value).with_context(|| format!("writing {}", path.display()))?;
        Ok(format!("file:{}", path.display()))
    };
    let mut config = Config::default();
    config.database.url = format!("sqlite://{}", dir.join("leaver.db").display());
    config.plans.dir = dir.join("workflows");
    config.evidence.signing_key = format!("file:{}", dir.join("leaver-signing.key").display());
    config.engine.poll_interval = "100ms".into();
    config.idp.okta = Some(OktaSection {
        org_url: Some(up.okta.base_url()),
        hook_secret: secret("okta-hook-secret", "demo-okta-hook-secret")?,
        client_id: Some(DEMO_OKTA_CLIENT.into()),
        private_key: Some(secret("okta-client-key.pem", &up.okta_key.private_key_pem)?),
        key_id: Some(DEMO_OKTA_KEY_ID.into()),
        ..OktaSection::default()
    });
    config.connectors.github = Some(GithubSection {
        api_url: up.github.base_url(),
        org: Some("acme".into()),
        token: secret("github-token", DEMO_GITHUB_TOKEN)?,
        app: None,
        request_timeout: "10s".into(),
    });
    config.connectors.aws_iam = Some(AwsIamSection {
        region: "us-east-1".into(),
        endpoint_url: Some(up.aws.base_url()),
        request_timeout: "10s".into(),
        max_attempts: 3,
        default_account: None,
        page_size: None,
        accounts: Default::default(),
    });
    config.connectors.vault = Some(VaultSection {
        addr: up.vault.base_url(),
        token: secret("vault-token", DEMO_VAULT_TOKEN)?,
        namespace: None,
        request_timeout: "10s".into(),
    });
    config.tickets.jira = Some(JiraSection {
        base_url: up.jira.base_url(),
        email: JiraSimConfig::default().email,
        api_token: secret("jira-api-token", DEMO_JIRA_TOKEN)?,
        request_timeout: "10s".into(),
    });
    Ok(config)
}

async fn bind(listen: Option<&str>) -> anyhow::Result<tokio::net::TcpListener> {
    if let Some(listen) = listen {
        return tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"));
    }
    match tokio::net::TcpListener::bind("127.0.0.1:8080").await {
        Ok(listener) => Ok(listener),
        Err(_) => Ok(tokio::net::TcpListener::bind("127.0.0.1:0").await?),
    }
}

async fn wait_for_run(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
) -> anyhow::Result<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let run: serde_json::Value = client
            .get(format!("{base}/api/v1/offboardings/{id}"))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let status = run["status"].as_str().unwrap_or_default();
        if matches!(
            status,
            "completed" | "failed" | "partially_failed" | "cancelled"
        ) {
            return Ok(run);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("run {id} did not finish within 60 s (status {status})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
