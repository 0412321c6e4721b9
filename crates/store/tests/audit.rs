//! Reading the audit trail back: the oldest-first stream (filters, order, paging), the
//! newest-first pages, the chain's head and its signed checkpoints, on SQLite and PostgreSQL.

use countersign_core::audit::{AuditAction, AuditEvent, GENESIS_HASH, verify_chain};
use countersign_store::audit::AuditFilter;
use countersign_store::{CheckpointRecord, NewEvent, Store, StoreError, store_tests};
use futures_util::{StreamExt, TryStreamExt};
use serde_json::json;

/// Reads the whole stream (tests only: the stream exists so that real readers need not).
async fn read_all(store: &Store, filter: &AuditFilter) -> Vec<AuditEvent> {
    store
        .audit_events(filter)
        .try_collect()
        .await
        .expect("events stream")
}

fn seqs(events: &[AuditEvent]) -> Vec<i64> {
    events.iter().map(|e| e.seq).collect()
}

/// Records `count` events: actors cycle through alice, bob and the system; actions through
/// submitted, approved and withdrawn; every tenth event is on request 7.
async fn record(store: &Store, count: i64) -> Vec<AuditEvent> {
    let actors = [Some("alice"), Some("bob"), None];
    let actions = [
        AuditAction::RequestSubmitted,
        AuditAction::ReviewApproved,
        AuditAction::RequestWithdrawn,
    ];
    let mut events = Vec::new();
    for n in 0..count {
        let i = n as usize;
        let mut event = NewEvent::new(actors[i % 3], actions[i % 3], json!({ "n": n }));
        if n % 10 == 0 {
            event = event.on_request(7, 1);
        }
        events.push(store.record_event(event).await.expect("record"));
    }
    events
}

store_tests! {
    async fn an_empty_trail_streams_nothing_and_its_head_is_genesis(store: Store) {
        assert!(read_all(&store, &AuditFilter::default()).await.is_empty());
        assert_eq!(store.audit_head().await.expect("head"), (0, GENESIS_HASH.to_owned()));
        assert!(store.audit_page(&AuditFilter::default(), None, 10).await.expect("page").is_empty());
    }

    async fn the_stream_pages_across_the_page_size_oldest_first_and_verifies(store: Store) {
        let written = record(&store, 2_500).await;
        let events = read_all(&store, &AuditFilter::default()).await;
        assert_eq!(seqs(&events), (1..=2_500).collect::<Vec<_>>(), "every event once, in order");
        assert_eq!(events, written, "events read back exactly as written");
        assert_eq!(verify_chain(&events), Ok(2_500));
        let last = written.last().expect("events");
        assert_eq!(store.audit_head().await.expect("head"), (2_500, last.hash.clone()));

        // Consumed one at a time, and a stream may outlive the handle that made it.
        let stream = store.clone().audit_events(&AuditFilter::default());
        let mut stream = std::pin::pin!(stream);
        let mut count = 0;
        while let Some(event) = stream.next().await {
            count += 1;
            assert_eq!(event.expect("event").seq, count);
        }
        assert_eq!(count, 2_500);
    }

    async fn filters_narrow_the_stream_and_combine(store: Store) {
        let written = record(&store, 30).await;
        let by_actor = read_all(&store, &AuditFilter { actor: Some("bob".into()), ..Default::default() }).await;
        assert_eq!(seqs(&by_actor), (2..=30).step_by(3).collect::<Vec<_>>());
        assert!(by_actor.iter().all(|e| e.actor.as_deref() == Some("bob")));

        let by_action = read_all(&store, &AuditFilter { action: Some("request.withdrawn".into()), ..Default::default() }).await;
        assert_eq!(seqs(&by_action), (3..=30).step_by(3).collect::<Vec<_>>());

        let by_request = read_all(&store, &AuditFilter { request_id: Some(7), ..Default::default() }).await;
        assert_eq!(seqs(&by_request), vec![1, 11, 21]);

        // Since is inclusive, until exclusive.
        let window = AuditFilter { since: Some(written[9].at), until: Some(written[19].at), ..Default::default() };
        assert_eq!(seqs(&read_all(&store, &window).await), (10..20).collect::<Vec<_>>());

        let combined = AuditFilter {
            since: Some(written[9].at),
            actor: Some("bob".into()),
            request_id: Some(7),
            ..Default::default()
        };
        assert_eq!(seqs(&read_all(&store, &combined).await), vec![11]);

        let none = AuditFilter { actor: Some("nobody".into()), ..Default::default() };
        assert!(read_all(&store, &none).await.is_empty());
    }

    async fn pages_go_newest_first_from_a_cursor(store: Store) {
        record(&store, 25).await;
        let all = AuditFilter::default();
        let first = store.audit_page(&all, None, 10).await.expect("page");
        assert_eq!(seqs(&first), (16..=25).rev().collect::<Vec<_>>());
        let second = store.audit_page(&all, Some(16), 10).await.expect("page");
        assert_eq!(seqs(&second), (6..=15).rev().collect::<Vec<_>>());
        let last = store.audit_page(&all, Some(6), 10).await.expect("page");
        assert_eq!(seqs(&last), (1..=5).rev().collect::<Vec<_>>());

        let alice = AuditFilter { actor: Some("alice".into()), ..Default::default() };
        let page = store.audit_page(&alice, Some(20), 3).await.expect("page");
        assert_eq!(seqs(&page), vec![19, 16, 13]);
    }

    async fn the_head_follows_every_append(store: Store) {
        let first = record(&store, 1).await;
        assert_eq!(store.audit_head().await.expect("head"), (1, first[0].hash.clone()));
        assert_eq!(first[0].prev_hash, GENESIS_HASH);
        let second = record(&store, 1).await;
        assert_eq!(second[0].prev_hash, first[0].hash);
        let head: Result<(i64, String), StoreError> = store.audit_head().await;
        assert_eq!(head.expect("head"), (2, second[0].hash.clone()));
    }

    async fn a_checkpoint_is_kept_once_per_seq_and_says_whether_it_was(store: Store) {
        let c = CheckpointRecord {
            seq: 3,
            hash: "ab".repeat(32),
            public_key: "public".into(),
            signature: "signature".into(),
        };
        let at = countersign_core::timestamp::now();
        assert!(store.record_checkpoint(&c, at).await.expect("record"), "kept");
        let other = CheckpointRecord { signature: "another instance's".into(), ..c.clone() };
        assert!(!store.record_checkpoint(&other, at).await.expect("record"), "a seq is kept once");
        assert_eq!(store.checkpoints().await.expect("read"), vec![c]);
        assert_eq!(store.last_checkpoint_seq().await.expect("seq"), 3);
    }
}
