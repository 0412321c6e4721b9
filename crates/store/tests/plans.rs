//! Every list is served by an index, whatever the store holds (issue 18): the query plans of
//! each request-list filter and of the audit page's filters, on a store of a few thousand
//! requests (analyzed), read no table whole. Not timed: the plans are what makes a page cost
//! O(page) at a million requests; `benches/load.sh` measures it.
//!
//! PostgreSQL's `EXPLAIN` must show no `Seq Scan` of the lists' tables and no `Sort` (a sort reads
//! every match before the first row), SQLite's `EXPLAIN QUERY PLAN` no `SCAN` and no temporary
//! B-tree for the order. And where a filter's value is rare (or matches nothing), the plan must
//! not walk the requests' primary key looking for matches: that reads the table down to the
//! oldest match. (PostgreSQL may walk it for a common value, where the page is found within a
//! few rows of each other: it plans with the value's statistics.)

use countersign_core::request::RequestStatus;
use countersign_core::user::Role;
use countersign_store::audit::AuditFilter;
use countersign_store::testing::{FILL_USERS, Fill};
use countersign_store::{Backend, RequestFilter, Store, WAITING_COUNT_CAP, store_tests};

const REQUESTS: i64 = 20_000;

async fn filled(store: &Store) {
    for name in FILL_USERS {
        store
            .create_user(name, &[Role::Author, Role::Reviewer], None, None)
            .await
            .expect("user");
    }
    store
        .create_user("erin", &[Role::Reviewer], None, None)
        .await
        .expect("erin");
    store
        .fill_requests(&Fill {
            requests: REQUESTS,
            analysis: "{}",
        })
        .await
        .expect("fill");
}

/// What in a plan reads a table whole, every match before the first row or, for a `rare` value,
/// the requests by primary key down to the oldest match.
fn whole_reads(backend: Backend, rare: bool, plan: &[String]) -> Vec<String> {
    const TABLES: [&str; 5] = [
        "Seq Scan on requests",
        "Seq Scan on revisions",
        "Seq Scan on revision_reviewers",
        "Seq Scan on pending_reviews",
        "Seq Scan on audit_events",
    ];
    plan.iter()
        .filter(|line| match backend {
            Backend::Postgres => {
                TABLES.iter().any(|t| line.contains(t))
                    || line.contains("Sort")
                    || (rare && line.contains("Backward using requests_pkey"))
            }
            Backend::Sqlite => {
                line.trim_start().starts_with("SCAN")
                    || line.contains("TEMP B-TREE")
                    || (rare && line.contains("SEARCH r USING INTEGER PRIMARY KEY (rowid<"))
            }
        })
        .cloned()
        .collect()
}

/// Each filter, named; a name that says "few" or "none" marks a rare value.
fn filters() -> Vec<(&'static str, RequestFilter)> {
    let f = RequestFilter::default;
    vec![
        // Kept prepared on PostgreSQL: its plan is the generic one.
        ("unfiltered", f()),
        (
            "unfiltered, next page",
            RequestFilter {
                before_id: Some(REQUESTS / 2),
                ..f()
            },
        ),
        (
            "status executed",
            RequestFilter {
                status: Some(RequestStatus::Executed),
                ..f()
            },
        ),
        (
            "status failed (few)",
            RequestFilter {
                status: Some(RequestStatus::Failed),
                ..f()
            },
        ),
        (
            "status approved (none)",
            RequestFilter {
                status: Some(RequestStatus::Approved),
                ..f()
            },
        ),
        (
            "author alice",
            RequestFilter {
                author: Some("alice".into()),
                ..f()
            },
        ),
        (
            "author frank (few)",
            RequestFilter {
                author: Some("frank".into()),
                ..f()
            },
        ),
        (
            "author erin (none)",
            RequestFilter {
                author: Some("erin".into()),
                ..f()
            },
        ),
        (
            "target shop",
            RequestFilter {
                target: Some("shop".into()),
                ..f()
            },
        ),
        (
            "target archive (few)",
            RequestFilter {
                target: Some("archive".into()),
                ..f()
            },
        ),
        (
            "reviewer bob",
            RequestFilter {
                reviewer: Some("bob".into()),
                ..f()
            },
        ),
        (
            "reviewer carol",
            RequestFilter {
                reviewer: Some("carol".into()),
                ..f()
            },
        ),
        (
            "reviewer erin (none)",
            RequestFilter {
                reviewer: Some("erin".into()),
                ..f()
            },
        ),
        (
            "waiting for bob (many)",
            RequestFilter {
                awaiting_review_by: Some("bob".into()),
                ..f()
            },
        ),
        (
            "waiting for carol (none)",
            RequestFilter {
                awaiting_review_by: Some("carol".into()),
                ..f()
            },
        ),
        (
            "status and target",
            RequestFilter {
                status: Some(RequestStatus::PendingReview),
                target: Some("billing".into()),
                ..f()
            },
        ),
        (
            "author, next page",
            RequestFilter {
                author: Some("alice".into()),
                before_id: Some(REQUESTS / 2),
                ..f()
            },
        ),
        (
            "author frank, next page (few)",
            RequestFilter {
                author: Some("frank".into()),
                before_id: Some(REQUESTS / 2),
                ..f()
            },
        ),
        (
            "reviewer, next page",
            RequestFilter {
                reviewer: Some("bob".into()),
                before_id: Some(REQUESTS / 2),
                ..f()
            },
        ),
        (
            "waiting, next page",
            RequestFilter {
                awaiting_review_by: Some("bob".into()),
                before_id: Some(REQUESTS / 2),
                ..f()
            },
        ),
        (
            "target archive, next page (few)",
            RequestFilter {
                target: Some("archive".into()),
                before_id: Some(REQUESTS / 2),
                ..f()
            },
        ),
        (
            "no filter, next page",
            RequestFilter {
                before_id: Some(REQUESTS / 2),
                ..f()
            },
        ),
    ]
}

store_tests! {
    async fn the_waiting_count_agrees_with_the_list_and_stops_at_its_cap(store: Store) {
        filled(&store).await;
        let mut capped = false;
        for name in FILL_USERS.iter().copied().chain(["erin"]) {
            let count = store.count_awaiting_review(name).await.expect("count");
            let filter = RequestFilter {
                awaiting_review_by: Some(name.to_owned()),
                ..RequestFilter::default()
            };
            let listed = store
                .list_requests(&filter, WAITING_COUNT_CAP + 1)
                .await
                .expect("list")
                .len() as i64;
            assert_eq!(count, listed.min(WAITING_COUNT_CAP), "{name}");
            capped |= count == WAITING_COUNT_CAP;
        }
        assert!(capped, "someone has more waiting than is counted");
    }

    async fn the_waiting_count_walks_an_index_even_in_a_plan_made_for_anyone(store: Store) {
        // Every page's navigation reads it with the session, a prepared statement: PostgreSQL
        // soon plans that once for any user, and such a plan scanned pending_reviews whole for
        // a reviewer with nothing waiting.
        filled(&store).await;
        let plan = store.waiting_count_plan().await.expect("plan");
        eprintln!("waiting count:\n  {}", plan.join("\n  "));
        assert!(!plan.is_empty(), "a plan");
        let whole = |line: &&String| match store.backend() {
            Backend::Postgres => line.contains("Seq Scan on pending_reviews") || line.contains("Sort"),
            Backend::Sqlite => line.trim_start().starts_with("SCAN p") || line.contains("TEMP B-TREE"),
        };
        let bad: Vec<_> = plan.iter().filter(whole).collect();
        assert!(bad.is_empty(), "reads pending_reviews whole: {bad:?} in\n  {}", plan.join("\n  "));
        for name in ["erin", "nobody"] {
            assert_eq!(store.count_awaiting_review(name).await.expect("count"), 0, "{name}");
        }
    }

    async fn a_request_version_is_read_from_indexes_in_a_plan_made_for_any_request(store: Store) {
        // A request page reads its request's version with the session, a prepared statement
        // (PostgreSQL soon plans it once for any request): two index probes, never a scan.
        filled(&store).await;
        let plan = store.request_version_plan().await.expect("plan");
        eprintln!("request version:\n  {}", plan.join("\n  "));
        assert!(!plan.is_empty(), "a plan");
        // (SQLite's `SCAN CONSTANT ROW` is the one row of a SELECT without FROM.)
        let mut bad = whole_reads(store.backend(), true, &plan);
        bad.retain(|line| !line.contains("CONSTANT ROW"));
        assert!(bad.is_empty(), "reads a table whole: {bad:?} in\n  {}", plan.join("\n  "));
    }

    async fn postgresql_never_compiles_a_store_statement(store: Store) {
        // A plan made once for any value can be estimated far above what it reads; past
        // jit_above_cost PostgreSQL compiled a reviewer's list at every call (200 ms).
        if store.backend() == Backend::Postgres {
            for _ in 0..3 {
                assert_eq!(store.postgres_setting("jit").await.expect("setting"), "off");
            }
        }
    }

    async fn every_request_list_filter_is_served_by_an_index(store: Store) {
        filled(&store).await;
        let backend = store.backend();
        let mut failures = Vec::new();
        for (name, filter) in filters() {
            let plan = store.list_requests_plan(&filter, 51).await.expect("plan");
            eprintln!("{name}:\n  {}", plan.join("\n  "));
            assert!(!plan.is_empty(), "{name}: a plan");
            let rare = name.contains("few") || name.contains("none");
            let mut bad = whole_reads(backend, rare, &plan);
            if name == "unfiltered" {
                // SQLite's walk of the table in key order, newest first (no sort: no temporary
                // B-tree), stops at the page's end.
                bad.retain(|line| line.trim() != "SCAN r");
            }
            if !bad.is_empty() {
                failures.push(format!("{name}: {bad:?} in\n  {}", plan.join("\n  ")));
            }
            // The query the plan is of answers what the filter asks.
            let rows = store.list_requests(&filter, 51).await.expect("list");
            assert!(rows.windows(2).all(|w| w[0].id > w[1].id), "{name}: newest first");
        }
        assert!(failures.is_empty(), "plans that read a table whole:\n{}", failures.join("\n"));
    }

    async fn the_audit_filters_are_served_by_an_index(store: Store) {
        filled(&store).await;
        let backend = store.backend();
        let f = AuditFilter::default;
        let cases = [
            ("actor alice", AuditFilter { actor: Some("alice".into()), ..f() }),
            ("actor frank (few)", AuditFilter { actor: Some("frank".into()), ..f() }),
            ("actor erin (none)", AuditFilter { actor: Some("erin".into()), ..f() }),
            ("request", AuditFilter { request_id: Some(REQUESTS / 3), ..f() }),
            ("action", AuditFilter { action: Some("review.rejected".into()), ..f() }),
        ];
        let mut failures = Vec::new();
        for (name, filter) in cases {
            let plan = store.audit_page_plan(&filter).await.expect("plan");
            eprintln!("{name}:\n  {}", plan.join("\n  "));
            let bad = whole_reads(backend, true, &plan);
            if !bad.is_empty() {
                failures.push(format!("{name}: {bad:?} in\n  {}", plan.join("\n  ")));
            }
        }
        assert!(failures.is_empty(), "plans that read a table whole:\n{}", failures.join("\n"));
        let one = store
            .audit_page(&AuditFilter { request_id: Some(REQUESTS / 3), ..f() }, None, 50)
            .await
            .expect("page");
        assert_eq!(one.len(), 1);
    }
}
