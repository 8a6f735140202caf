//! `leaver` as a separate process: the CLI, and `leaver serve` with its stderr kept in
//! a log file (for tests that kill it with SIGKILL or run several replicas).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `leaver --config CONFIG ARGS…`.
pub fn leaver(config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leaver"));
    command.arg("--config").arg(config).args(args);
    command
}

/// Start `leaver serve` and return it with its base URL (read from its stderr, which
/// is appended to `log`).
pub fn start_serve(config: &Path, log: &Path) -> (Child, String) {
    let mut child = leaver(config, &["serve"])
        .env("LEAVER_LOG", "leaver=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn leaver serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let log = log.to_path_buf();
    std::thread::spawn(move || {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            use std::io::Write;
            let _ = writeln!(file, "{line}");
            if !sent {
                if let Some(url) = line.strip_prefix("leaver listening on ") {
                    let _ = tx.send(url.trim().to_string());
                    sent = true;
                }
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("leaver serve did not start");
    (child, base)
}

/// Create a token with `role` through the CLI; it prints the token alone.
pub fn create_token(config: &Path, role: &str) -> String {
    let out = leaver(config, &["token", "create", "--role", role])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(
        token.lines().count(),
        1,
        "token create prints the token alone"
    );
    token
}

/// `leaver evidence export` into `bundle`, then `leaver evidence verify` it offline:
/// both must succeed.
pub fn export_and_verify(config: &Path, bundle: &Path) {
    let bundle = bundle.to_str().expect("a UTF-8 path");
    let export = leaver(config, &["evidence", "export", "--out", bundle])
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let verify = leaver(config, &["evidence", "verify", bundle])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}
