//! The evidence ledger in a real database: the triggers refuse UPDATE and DELETE, and
//! rows changed behind their back (modified, deleted, reordered, history rewritten) are
//! caught by `leaver evidence verify`, which names the entry.

mod common;

use common::*;
use leaver::evidence::{Entry, EntryBody, GENESIS_HASH};
use leaver::ledger::Ledger;
use leaver::store::{AppendEvidence, Store};
use std::path::Path;
use std::process::Command;

async fn seeded(db: &TestDb, dir: &Path) -> (Store, Ledger) {
    let store = Store::connect(&db.url, 4).await.expect("store");
    let key = leaver::app::load_signing_key(&format!("file:{}", dir.join("signing.key").display()))
        .unwrap();
    let ledger = Ledger::new(store.clone(), key);
    for i in 1..=10 {
        store
            .append_evidence(&[AppendEvidence::new(
                "test.event",
                "tester",
                format!("subject-{}", i % 3),
                serde_json::json!({"n": i, "note": format!("entry {i}")}),
            )])
            .await
            .unwrap();
        if i == 6 {
            ledger.checkpoint().await.unwrap();
        }
    }
    store.seal_pending().await.unwrap();
    (store, ledger)
}

/// Run raw SQL with the append-only triggers out of the way, as an attacker with
/// database access would.
async fn tamper(store: &Store, statements: &[&str]) {
    match store.dialect() {
        leaver::store::Dialect::Sqlite => {
            let mut all = vec![
                "DROP TRIGGER evidence_refuse_update",
                "DROP TRIGGER evidence_refuse_delete",
            ];
            all.extend_from_slice(statements);
            for sql in all {
                sqlx::query(sql).execute(store.pool()).await.expect(sql);
            }
        }
        leaver::store::Dialect::Postgres => {
            let mut tx = store.pool().begin().await.unwrap();
            sqlx::query("ALTER TABLE evidence DISABLE TRIGGER USER")
                .execute(&mut *tx)
                .await
                .unwrap();
            for sql in statements {
                sqlx::query(sql).execute(&mut *tx).await.expect(sql);
            }
            sqlx::query("ALTER TABLE evidence ENABLE TRIGGER USER")
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }
}

/// Export with the library (as `leaver evidence export` does) and verify with the
/// real binary; returns (success, stdout).
async fn export_and_verify(ledger: &Ledger, dir: &Path) -> (bool, String) {
    let path = dir.join("bundle.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    ledger.export(None, None, &mut out, "test").await.unwrap();
    std::io::Write::flush(&mut out).unwrap();
    drop(out);
    let output = Command::new(env!("CARGO_BIN_EXE_leaver"))
        .args(["evidence", "verify"])
        .arg(&path)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_refuses_update_and_delete_of_evidence() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = seeded(&db, dir.path()).await;
        for sql in [
            "UPDATE evidence SET kind = 'forged' WHERE seq = 3",
            "DELETE FROM evidence WHERE seq = 3",
            "UPDATE evidence_checkpoints SET seq = 1",
            "DELETE FROM evidence_checkpoints",
        ] {
            let error = sqlx::query(sql).execute(store.pool()).await.expect_err(sql);
            assert!(
                error.to_string().contains("append-only"),
                "{}: {sql}: {error}",
                db.kind
            );
        }
        if db.is_postgres() {
            let error = sqlx::query("TRUNCATE evidence")
                .execute(store.pool())
                .await
                .expect_err("truncate");
            assert!(error.to_string().contains("append-only"), "{error}");
        }
        let (ok, out) = export_and_verify(
            &Ledger::new(
                store.clone(),
                leaver::app::load_signing_key(&format!(
                    "file:{}",
                    dir.path().join("signing.key").display()
                ))
                .unwrap(),
            ),
            dir.path(),
        )
        .await;
        assert!(ok, "{}: {out}", db.kind);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modified_payload_is_named() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let (store, ledger) = seeded(&db, dir.path()).await;
        tamper(&store, &["UPDATE evidence SET payload = '{\"n\":4,\"note\":\"nothing happened\"}' WHERE seq = 4"]).await;
        let (ok, out) = export_and_verify(&ledger, dir.path()).await;
        assert!(!ok, "{}: tampering went unnoticed: {out}", db.kind);
        assert!(out.contains("entry 4"), "{}: {out}", db.kind);
        let report = ledger.verify_store().await.unwrap();
        assert!(!report.ok);
        assert_eq!(report.failure.as_ref().and_then(|f| f.seq), Some(4));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modified_kind_is_named() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let (store, ledger) = seeded(&db, dir.path()).await;
        tamper(
            &store,
            &["UPDATE evidence SET kind = 'test.other' WHERE seq = 7"],
        )
        .await;
        let (ok, out) = export_and_verify(&ledger, dir.path()).await;
        assert!(!ok, "{}: {out}", db.kind);
        assert!(out.contains("entry 7"), "{}: {out}", db.kind);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_entry_is_named() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let (store, ledger) = seeded(&db, dir.path()).await;
        tamper(&store, &["DELETE FROM evidence WHERE seq = 5"]).await;
        let (ok, out) = export_and_verify(&ledger, dir.path()).await;
        assert!(!ok, "{}: {out}", db.kind);
        assert!(out.contains("5"), "{}: {out}", db.kind);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_entries_are_named() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let (store, ledger) = seeded(&db, dir.path()).await;
        tamper(
            &store,
            &[
                "UPDATE evidence SET seq = -1 WHERE seq = 3",
                "UPDATE evidence SET seq = 3 WHERE seq = 4",
                "UPDATE evidence SET seq = 4 WHERE seq = -1",
            ],
        )
        .await;
        let (ok, out) = export_and_verify(&ledger, dir.path()).await;
        assert!(!ok, "{}: {out}", db.kind);
        assert!(out.contains("entry 3"), "{}: {out}", db.kind);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewritten_history_is_caught_by_an_earlier_checkpoint() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let (store, ledger) = seeded(&db, dir.path()).await;
        // Rewrite entry 2 and re-hash everything after it, head included, so the
        // chain itself is consistent again; only the checkpoint signed at 6 knows.
        let entries = store.evidence_range(1, 10, 100).await.unwrap();
        let mut prev = GENESIS_HASH.to_string();
        let mut statements = Vec::new();
        for entry in &entries {
            let payload = if entry.seq == 2 {
                serde_json::json!({"n": 2, "note": "rewritten"})
            } else {
                entry.payload.clone()
            };
            let sealed = Entry::seal(
                EntryBody {
                    seq: entry.seq,
                    time: entry.time.clone(),
                    kind: entry.kind.clone(),
                    actor: entry.actor.clone(),
                    subject: entry.subject.clone(),
                    payload: payload.clone(),
                },
                &prev,
            )
            .unwrap();
            statements.push(format!(
                "UPDATE evidence SET payload = '{}', payload_digest = '{}', prev_hash = '{}', hash = '{}' WHERE seq = {}",
                payload.to_string().replace('\'', "''"),
                sealed.payload_digest,
                sealed.prev_hash,
                sealed.hash,
                entry.seq
            ));
            prev = sealed.hash;
        }
        statements.push(format!(
            "UPDATE evidence_head SET hash = '{prev}' WHERE id = 1"
        ));
        let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
        tamper(&store, &refs).await;
        let (ok, out) = export_and_verify(&ledger, dir.path()).await;
        assert!(
            !ok,
            "{}: a consistent rewrite went unnoticed: {out}",
            db.kind
        );
        assert!(
            out.contains("checkpoint") && out.contains('6'),
            "{}: {out}",
            db.kind
        );
    }
}
