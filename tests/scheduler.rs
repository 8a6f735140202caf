//! Cron jobs shared by replicas fire once per fire time, however many schedulers tick.

mod common;

use common::*;
use leaver::scheduler::{Job, Scheduler};
use leaver::store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_firing_runs_once_across_replicas() {
    for db in databases().await {
        let fired: Arc<Mutex<HashMap<i64, Vec<String>>>> = Arc::default();
        let mut replicas = Vec::new();
        for replica in 0..3 {
            // Each replica has its own connection pool, as separate processes would.
            let store = Store::connect(&db.url, 4).await.unwrap();
            let owner = format!("replica-{replica}");
            let log = fired.clone();
            let who = owner.clone();
            let job = Job::new(
                "every-second",
                "* * * * * *",
                Arc::new(move |fire_time| {
                    let log = log.clone();
                    let who = who.clone();
                    Box::pin(async move {
                        log.lock().unwrap().entry(fire_time).or_default().push(who);
                        Ok(())
                    })
                }),
            )
            .unwrap();
            replicas.push((store.clone(), Scheduler::new(store, owner, vec![job])));
        }
        for (_, scheduler) in &replicas {
            scheduler.register().await.unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(3500);
        while tokio::time::Instant::now() < deadline {
            let ticks = replicas.iter().map(|(_, s)| s.tick());
            for result in futures::future::join_all(ticks).await {
                result.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let fired = fired.lock().unwrap().clone();
        assert!(
            fired.len() >= 2,
            "{}: expected several firings, got {fired:?}",
            db.kind
        );
        for (time, owners) in &fired {
            assert_eq!(
                owners.len(),
                1,
                "{}: fire time {time} ran on {owners:?}",
                db.kind
            );
        }
        let recorded = replicas[0].0.cron_firings("every-second").await.unwrap();
        assert_eq!(recorded.len(), fired.len(), "{}", db.kind);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_missed_while_down_fires_once_on_start() {
    let db = sqlite_db();
    let store = Store::connect(&db.url, 2).await.unwrap();
    let count = Arc::new(Mutex::new(0));
    let seen = count.clone();
    let job = Job::new(
        "catch-up",
        "* * * * * *",
        Arc::new(move |_| {
            let seen = seen.clone();
            Box::pin(async move {
                *seen.lock().unwrap() += 1;
                Ok(())
            })
        }),
    )
    .unwrap();
    // Registered long ago: many periods were missed.
    store
        .upsert_cron_job("catch-up", "* * * * * *", 1_000)
        .await
        .unwrap();
    let scheduler = Scheduler::new(store, "replica".into(), vec![job]);
    assert_eq!(scheduler.tick().await.unwrap(), 1);
    assert_eq!(
        scheduler.tick().await.unwrap(),
        0,
        "the missed periods are not replayed"
    );
    assert_eq!(*count.lock().unwrap(), 1);
}
