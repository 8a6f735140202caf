//! The secret-access index's segments (migration 0016) on SQLite and PostgreSQL:
//! commits add one segment per identity, an identity's segments are merged as they
//! pile up without changing any answer, two writers committing and merging the same
//! identity's segments at once count every read once, and a damaged segment is a
//! clear error for the query and no obstacle to the next commit.

mod common;

use common::*;
use leaver::store::{AccountMapping, Store, TrailTerms};
use leaver::trail::batch::Batch;
use leaver::trail::event::{Operation, Outcome, Principal, SecretAccess, Source};
use leaver::trail::secret_access;
use std::collections::BTreeMap;

const DAY: i64 = 86_400_000;
/// `store::trail_segments::COMPACT_AT`: an identity has fewer segments than this after
/// every commit.
const COMPACT_AT: i64 = 8;

async fn store(db: &TestDb) -> Store {
    Store::connect(&db.url, 4).await.expect("store")
}

async fn map(store: &Store, user: &str) {
    store
        .upsert_mappings(
            &[AccountMapping {
                email: format!("{user}@example.com"),
                system: "vault".into(),
                account: format!("e-{user}"),
            }],
            "test",
            "test",
        )
        .await
        .unwrap();
}

fn read(user: &str, secret: &str, at_ms: i64, address: &str, outcome: Outcome) -> SecretAccess {
    SecretAccess {
        source: Source::Vault,
        principal: Principal {
            key: format!("vault:entity:e-{user}"),
            names: vec![("entity_id".into(), format!("e-{user}"))],
        },
        secret: secret.into(),
        operation: Operation::Read,
        at_ms,
        address: Some(address.into()),
        outcome,
    }
}

/// Segments per identity key.
async fn segments(store: &Store) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT t.value, COUNT(*) FROM trail_segments s JOIN trail_terms t ON t.id = s.identity_id \
         GROUP BY t.value",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    rows.into_iter().collect()
}

/// (secret → (reads, denied, addresses)) of `user` since `since_ms`.
async fn answer(
    store: &Store,
    user: &str,
    since_ms: i64,
) -> BTreeMap<String, (i64, i64, Vec<String>)> {
    secret_access(store, &format!("{user}@example.com"), since_ms)
        .await
        .unwrap()
        .secrets
        .into_iter()
        .map(|s| (s.secret, (s.count, s.denied, s.source_addresses)))
        .collect()
}

/// The reads of commit `n`: alice reads one of five secrets on one of three days from
/// one of two addresses (every seventh attempt denied), bob reads one secret.
fn commit_reads(n: i64, now: i64) -> Vec<SecretAccess> {
    let outcome = if n % 7 == 0 {
        Outcome::Denied
    } else {
        Outcome::Read
    };
    vec![
        read(
            "alice",
            &format!("secret/app/s{}", n % 5),
            now - (n % 3) * DAY,
            &format!("10.0.0.{}", n % 2),
            outcome,
        ),
        read(
            "alice",
            "secret/app/always",
            now - 100 * DAY,
            "10.0.1.1",
            Outcome::Read,
        ),
        read("bob", "secret/app/bob", now, "10.0.2.1", Outcome::Read),
    ]
}

/// What `commit_reads` for `commits` gives alice since `since_ms`.
fn expected(
    commits: std::ops::Range<i64>,
    now: i64,
    since_ms: i64,
) -> BTreeMap<String, (i64, i64, Vec<String>)> {
    let mut want: BTreeMap<String, (i64, i64, std::collections::BTreeSet<String>)> =
        BTreeMap::new();
    for n in commits {
        for access in commit_reads(n, now) {
            if access.principal.key != "vault:entity:e-alice"
                || access.at_ms.div_euclid(DAY) < since_ms.div_euclid(DAY)
            {
                continue;
            }
            let entry = want.entry(access.secret.clone()).or_default();
            match access.outcome {
                Outcome::Read => entry.0 += 1,
                Outcome::Denied => entry.1 += 1,
            }
            entry.2.insert(access.address.clone().unwrap());
        }
    }
    want.into_iter()
        .map(|(secret, (reads, denied, addresses))| {
            (secret, (reads, denied, addresses.into_iter().collect()))
        })
        .collect()
}

async fn commit(store: &Store, accesses: &[SecretAccess], terms: &mut TrailTerms) {
    let mut batch = Batch::default();
    for access in accesses {
        batch.add(access);
    }
    store
        .trail_commit(std::slice::from_ref(&batch), None, terms)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_are_merged_as_they_pile_up_and_every_answer_stays_the_same() {
    let now = chrono::Utc::now().timestamp_millis();
    for db in databases().await {
        let store = store(&db).await;
        map(&store, "alice").await;
        let mut terms = TrailTerms::default();
        for n in 0..60 {
            commit(&store, &commit_reads(n, now), &mut terms).await;
            let counts = segments(&store).await;
            for (identity, count) in &counts {
                assert!(
                    *count < COMPACT_AT,
                    "{}: {identity} has {count} segments after commit {n}",
                    db.kind
                );
            }
            if n % 9 == 0 || n == 59 {
                assert_eq!(
                    answer(&store, "alice", 0).await,
                    expected(0..n + 1, now, 0),
                    "{} after {n}",
                    db.kind
                );
                let since = now - DAY;
                assert_eq!(
                    answer(&store, "alice", since).await,
                    expected(0..n + 1, now, since),
                    "{} after {n}",
                    db.kind
                );
            }
        }
        let all = answer(&store, "alice", 0).await;
        assert_eq!(all["secret/app/always"].0, 60);
        assert_eq!(all.values().map(|v| v.1).sum::<i64>(), 9, "denied attempts");
        // Merged, not just written: 60 commits, a handful of segments each.
        let counts = segments(&store).await;
        assert_eq!(counts.len(), 2, "{}: {counts:?}", db.kind);
        store.close().await;
    }
}

/// A batch counted in parts (one per parsing thread) and committed as such comes to
/// what the parts merged into one batch come to: a row counted in several parts is one
/// row (a segment holding one key twice would not decode), terms and names met in
/// several parts are added once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_committed_in_parts_counts_as_the_parts_merged() {
    let now = chrono::Utc::now().timestamp_millis();
    for db in databases().await {
        let store = store(&db).await;
        map(&store, "alice").await;
        // Three parts, each read of a commit's reads in a part of its own: every
        // part sees alice's "always" secret on the same day from the same address.
        let mut parts: Vec<Batch> = (0..3).map(|_| Batch::default()).collect();
        for n in 0..30 {
            for (i, access) in commit_reads(n, now).iter().enumerate() {
                parts[(n as usize + i) % 3].add(access);
            }
        }
        store
            .trail_commit(&parts, None, &mut TrailTerms::default())
            .await
            .unwrap();
        assert_eq!(
            answer(&store, "alice", 0).await,
            expected(0..30, now, 0),
            "{}",
            db.kind
        );
        assert_eq!(answer(&store, "alice", 0).await["secret/app/always"].0, 30);
        let counts = segments(&store).await;
        assert_eq!(
            counts.values().collect::<Vec<_>>(),
            [&1, &1],
            "{}: one segment per identity",
            db.kind
        );
        let names: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM trail_identity_names")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(names, 2, "{}: alice's and bob's entity ids", db.kind);
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_committing_and_merging_one_identity_at_once_count_each_read_once() {
    let now = chrono::Utc::now().timestamp_millis();
    for db in databases().await {
        let first = store(&db).await;
        let second = store(&db).await;
        map(&first, "alice").await;
        let (mut terms_a, mut terms_b) = (TrailTerms::default(), TrailTerms::default());
        for round in 0..20 {
            let a = commit_reads(2 * round, now);
            let b = commit_reads(2 * round + 1, now);
            tokio::join!(
                commit(&first, &a, &mut terms_a),
                commit(&second, &b, &mut terms_b)
            );
        }
        assert_eq!(
            answer(&first, "alice", 0).await,
            expected(0..40, now, 0),
            "{}",
            db.kind
        );
        let counts = segments(&first).await;
        assert!(
            counts.values().all(|&c| c <= COMPACT_AT),
            "{}: {counts:?}",
            db.kind
        );
        first.close().await;
        second.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_segment_is_a_clear_error_and_does_not_stop_the_next_commit() {
    let now = chrono::Utc::now().timestamp_millis();
    for db in databases().await {
        let store = store(&db).await;
        map(&store, "alice").await;
        let mut terms = TrailTerms::default();
        commit(&store, &commit_reads(1, now), &mut terms).await;
        sqlx::query(
            "UPDATE trail_segments SET body = $1 WHERE identity_id = \
             (SELECT id FROM trail_terms WHERE kind = 'identity' AND value = 'vault:entity:e-alice')",
        )
        .bind(&[1u8, 200][..])
            .execute(store.pool())
            .await
            .unwrap();
        let error = secret_access(&store, "alice@example.com", 0)
            .await
            .expect_err("a damaged segment is an error");
        let message = format!("{error:#}");
        assert!(message.contains("trail_segments"), "{}: {message}", db.kind);
        // Commits go on (merging the damaged identity's segments fails with a warning
        // and is retried later); the other identities answer.
        for n in 2..12 {
            commit(&store, &commit_reads(n, now), &mut terms).await;
        }
        map(&store, "bob").await;
        let bob = answer(&store, "bob", 0).await;
        assert_eq!(bob["secret/app/bob"].0, 11, "{}", db.kind);
        let counts = segments(&store).await;
        assert!(
            counts["vault:entity:e-bob"] < COMPACT_AT,
            "{}: {counts:?}",
            db.kind
        );
        assert!(secret_access(&store, "alice@example.com", 0).await.is_err());
        store.close().await;
    }
}
