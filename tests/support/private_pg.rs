//! A PostgreSQL server of the test's own: `initdb` into a temporary directory and
//! `pg_ctl` on a free port, so a test can stop and start it (a database restart)
//! without disturbing the shared server other tests use. Uses the machine's
//! PostgreSQL binaries (/usr/lib/postgresql/<version>/bin); as root, runs them as the
//! `postgres` user (initdb refuses root).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

pub struct PrivatePostgres {
    bin: PathBuf,
    run_as_postgres: bool,
    data: PathBuf,
    log: PathBuf,
    pub port: u16,
    _dir: tempfile::TempDir,
}

/// The newest installed PostgreSQL's bin directory.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("pg_ctl").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn id(args: &[&str]) -> Option<u32> {
    let out = Command::new("id").args(args).output().ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl PrivatePostgres {
    /// Start a fresh server, or `None` when PostgreSQL's binaries are not installed.
    pub fn start() -> Option<Self> {
        let bin = bin_dir()?;
        let run_as_postgres = id(&["-u"]) == Some(0);
        let dir = tempfile::Builder::new()
            .prefix("leaver-pg-")
            .tempdir()
            .expect("tempdir");
        if run_as_postgres {
            let uid = id(&["-u", "postgres"]).expect("a postgres user");
            let gid = id(&["-g", "postgres"]).expect("a postgres group");
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown");
        }
        let data = dir.path().join("data");
        let log = dir.path().join("postgres.log");
        let server = Self {
            bin,
            run_as_postgres,
            data,
            log,
            port: free_port(),
            _dir: dir,
        };
        let data = server.data.to_string_lossy().to_string();
        let out = server.run(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        assert!(out.status.success(), "initdb: {}", text(&out));
        server.pg_ctl_start();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let program = self.bin.join(tool);
        let mut command = if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command
            .args(args)
            .current_dir(self.data.parent().unwrap_or(Path::new("/")))
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", program.display()))
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=100",
            self.port,
            self.data.parent().unwrap_or(Path::new("/tmp")).display()
        );
        let data = self.data.to_string_lossy().to_string();
        let log = self.log.to_string_lossy().to_string();
        let out = self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}\n{}",
            text(&out),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// Stop the server the way a crash does (`-m immediate`: no shutdown checkpoint,
    /// every connection cut), stay down for `down`, and start it again.
    pub fn restart(&self, down: Duration) {
        self.stop();
        std::thread::sleep(down);
        self.pg_ctl_start();
    }

    fn stop(&self) {
        let data = self.data.to_string_lossy().to_string();
        let out = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        assert!(out.status.success(), "pg_ctl stop: {}", text(&out));
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data.to_string_lossy().to_string();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
