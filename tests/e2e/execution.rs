//! Execution end to end, on real targets: SQLite always, PostgreSQL and MariaDB/MySQL when
//! `COUNTERSIGN_TEST_POSTGRES_URL` / `COUNTERSIGN_TEST_MYSQL_URL` are set. Exactly once under
//! concurrent calls and across server processes; whole-script rollback; the row-count guard;
//! timeouts; and a server killed mid-run, restarted and reconciled without running anything again.

use std::time::Duration;

use crate::common::{
    Backend, TestApp, World, config_for, free_addr, spawn_server, wait_up, write_config,
};
use countersign_store::Store;
use countersign_store::testing::TestStore;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection};

#[tokio::test]
async fn an_approved_request_commits_once_and_records_its_run() {
    for b in Backend::all() {
        b.create_accounts(3).await;
        let w = World::new(&b.target_toml("")).await;
        let sql = format!(
            "UPDATE {t} SET v = v + 1 WHERE id = 1;\nUPDATE {t} SET v = v + 10 WHERE id IN (2, 3)",
            t = b.table
        );
        let id = w.approved(b.name, &sql, Some(3)).await;
        // Not yet approved or not the author: refused before anything runs.
        let (status, _) = w.execute("bob", id).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{}: a reviewer may not execute",
            b.driver
        );
        let (status, r) = w.execute("alice", id).await;
        assert_eq!(status, StatusCode::OK, "{}: {r}", b.driver);
        assert_eq!(r["status"], "executed", "{}: {r}", b.driver);
        let run = &r["execution"];
        assert_eq!(run["outcome"], "committed");
        assert_eq!(run["triggered_by"], "alice");
        assert_eq!(run["rows_affected"], 3);
        assert_eq!(run["expected_rows"], 3);
        assert_eq!(
            run["statements"],
            json!([{"index": 0, "rows_affected": 1}, {"index": 1, "rows_affected": 2}])
        );
        assert_eq!(run["guard_source"], "expected_rows");
        let tables = run["tables"].as_array().expect("tables");
        let (table, updated) = match b.driver {
            "postgres" => (format!("public.{}", b.table), 3),
            "sqlite" => (format!("main.{}", b.table), 3),
            _ => ("*".to_owned(), 3),
        };
        assert_eq!(
            tables,
            &vec![json!({"table": table, "inserted": 0, "updated": updated, "deleted": 0})],
            "{}: the database's own count",
            b.driver
        );
        assert_eq!(run["error"], Value::Null);
        for key in ["started_at", "finished_at", "duration_ms"] {
            assert!(!run[key].is_null(), "{}: {key}", b.driver);
        }
        assert_eq!(b.values().await, vec![1, 10, 10], "{}", b.driver);
        let (status, body) = w.execute("alice", id).await;
        assert_eq!(status, StatusCode::CONFLICT, "{}: {body}", b.driver);
        let (status, _) = w.execute("root", id).await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "{}: an admin cannot run it again either",
            b.driver
        );
        assert_eq!(b.values().await, vec![1, 10, 10], "{}: ran once", b.driver);
        let runs: Vec<(String, Option<String>)> = w
            .app
            .store
            .request_events(id)
            .await
            .expect("events")
            .into_iter()
            .filter(|e| e.action.starts_with("execution."))
            .map(|e| (e.action, e.actor))
            .collect();
        let alice = Some("alice".to_owned());
        assert_eq!(
            runs,
            vec![
                ("execution.started".to_owned(), alice.clone()),
                ("execution.finished".to_owned(), alice)
            ],
            "{}: one start and one end, by who triggered it",
            b.driver
        );
        let text = r.to_string();
        assert!(!text.contains(&b.url), "{}: the URL leaked", b.driver);
        b.drop_table().await;
        w.done().await;
    }
}

#[tokio::test]
async fn a_failing_statement_rolls_back_the_whole_script() {
    for b in Backend::all() {
        b.create_accounts(2).await;
        let w = World::new(&b.target_toml("")).await;
        let sql = format!(
            "UPDATE {t} SET v = 100 WHERE id = 1;\nUPDATE {t}_missing SET v = 1 WHERE id = 2",
            t = b.table
        );
        let id = w.approved(b.name, &sql, None).await;
        let (status, r) = w.execute("alice", id).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{}: whatever the outcome, 200: {r}",
            b.driver
        );
        assert_eq!(r["status"], "failed");
        assert_eq!(r["execution"]["outcome"], "error");
        let error = r["execution"]["error"]
            .as_str()
            .expect("the database's message");
        assert!(error.contains("_missing"), "{}: {error}", b.driver);
        assert!(!error.contains(&b.url), "{}: {error}", b.driver);
        assert_eq!(
            b.values().await,
            vec![0, 0],
            "{}: statement 1 was rolled back",
            b.driver
        );
        let (status, _) = w.execute("alice", id).await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "{}: a failed request is never retried",
            b.driver
        );
        b.drop_table().await;
        w.done().await;
    }
}

#[tokio::test]
async fn the_row_count_guard_rolls_back_a_surprise() {
    for b in Backend::all() {
        b.create_accounts(4).await;
        let w = World::new(&b.target_toml("")).await;
        let sql = format!("UPDATE {} SET v = 7 WHERE id > 2", b.table);
        let id = w.approved(b.name, &sql, Some(1)).await;
        let (_, r) = w.execute("alice", id).await;
        assert_eq!(r["status"], "failed", "{}: {r}", b.driver);
        assert_eq!(r["execution"]["outcome"], "guard");
        assert_eq!(r["execution"]["expected_rows"], 1);
        assert_eq!(r["execution"]["rows_affected"], 2);
        assert_eq!(
            b.values().await,
            vec![0, 0, 0, 0],
            "{}: rolled back",
            b.driver
        );
        b.drop_table().await;
        w.done().await;
    }
}

/// Writes the statement kinds do not show — a data-modifying CTE under a SELECT, `EXPLAIN
/// ANALYZE` of an UPDATE, a MariaDB executable comment — are counted by the database, and the
/// guard rolls them back; the record says how many rows the database counted, where.
#[tokio::test]
async fn hidden_writes_are_counted_by_the_database_and_rolled_back() {
    let mut cases = Vec::new();
    if let Some(b) = Backend::from_env("COUNTERSIGN_TEST_POSTGRES_URL", "pg", "postgres") {
        let t = b.table.clone();
        cases.push((
            b.clone(),
            format!("WITH u AS (UPDATE {t} SET v = 5 WHERE id > 1 RETURNING 1) SELECT 1"),
            1,
            4,
        ));
        cases.push((
            b,
            format!("EXPLAIN ANALYZE UPDATE {t} SET v = 6 WHERE id > 2"),
            0,
            3,
        ));
    }
    if let Some(b) = Backend::from_env("COUNTERSIGN_TEST_MYSQL_URL", "my", "mysql") {
        let t = b.table.clone();
        cases.push((
            b,
            format!("UPDATE {t} SET v = 7 WHERE /*M! id > 0 OR */ id = 1"),
            1,
            5,
        ));
    }
    for (b, sql, expected, counted) in cases {
        b.create_accounts(5).await;
        // The guard itself, without undo (under undo = "required" such statements are refused
        // before they run: capture cannot follow them).
        let w = World::new(&b.target_toml("undo = \"off\"")).await;
        let id = w.approved(b.name, &sql, Some(expected)).await;
        let (_, r) = w.execute("alice", id).await;
        assert_eq!(r["status"], "failed", "{}: {sql}: {r}", b.driver);
        let run = &r["execution"];
        assert_eq!(run["outcome"], "guard", "{sql}");
        assert_eq!(run["rows_affected"], counted, "{sql}: {r}");
        let in_tables: u64 = run["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .map(|t| {
                ["inserted", "updated", "deleted"]
                    .iter()
                    .map(|k| t[*k].as_u64().unwrap_or(0))
                    .sum::<u64>()
            })
            .sum();
        assert_eq!(in_tables, counted, "{sql}: {r}");
        assert!(
            run["error"].as_str().unwrap_or("").contains("rolled back"),
            "{sql}: {r}"
        );
        assert_eq!(
            b.values().await,
            vec![0; 5],
            "{}: {sql}: nothing stays",
            b.driver
        );
        b.drop_table().await;
        w.done().await;
    }
}

/// On MySQL/MariaDB a DDL script commits statement by statement: it runs without a guard
/// promise, and its record says it committed — no error, no guard source.
#[tokio::test]
async fn a_mysql_ddl_script_runs_without_a_guard_and_is_recorded_as_committed() {
    let Some(b) = Backend::from_env("COUNTERSIGN_TEST_MYSQL_URL", "my", "mysql") else {
        return;
    };
    b.create_accounts(2).await;
    let w = World::new(&b.target_toml("undo = \"off\"")).await;
    let t = &b.table;
    let sql =
        format!("ALTER TABLE {t} ADD COLUMN note VARCHAR(20);\nCREATE INDEX {t}_v ON {t} (v)");
    let id = w.approved(b.name, &sql, Some(0)).await;
    let (_, r) = w.execute("alice", id).await;
    assert_eq!(r["status"], "executed", "{r}");
    let run = &r["execution"];
    assert_eq!(run["outcome"], "committed", "{r}");
    assert_eq!(run["guard_source"], Value::Null, "{r}");
    assert_eq!(run["error"], Value::Null, "{r}");
    assert_eq!(run["statements"].as_array().map(Vec::len), Some(2), "{r}");
    b.drop_table().await;
    w.done().await;
}

#[tokio::test]
async fn only_statements_that_change_rows_count_toward_the_guard() {
    for b in Backend::all() {
        b.create_accounts(3).await;
        let w = World::new(&b.target_toml("")).await;
        let sql = format!(
            "UPDATE {t} SET v = 2 WHERE id = 1;\nSELECT id, v FROM {t}",
            t = b.table
        );
        let id = w.approved(b.name, &sql, Some(1)).await;
        let (_, r) = w.execute("alice", id).await;
        assert_eq!(
            r["status"], "executed",
            "{}: the SELECT's rows are not changes: {r}",
            b.driver
        );
        assert_eq!(
            r["execution"]["statements"],
            json!([{"index": 0, "rows_affected": 1}, {"index": 1, "rows_affected": 0}])
        );
        assert_eq!(b.values().await, vec![2, 0, 0], "{}", b.driver);
        b.drop_table().await;
        w.done().await;
    }
}

#[tokio::test]
async fn a_run_past_its_timeout_is_stopped_and_rolled_back() {
    for b in Backend::all() {
        b.create_accounts(1).await;
        let w =
            World::new(&b.target_toml("statement_timeout = \"300ms\"\nlock_timeout = \"300ms\""))
                .await;
        // Another session holds the row, so the run waits on its lock until the timeout.
        let mut holder = b.conn().await;
        let begin = if b.driver == "sqlite" {
            "BEGIN IMMEDIATE"
        } else {
            "BEGIN"
        };
        sqlx::raw_sql(AssertSqlSafe(begin.to_owned()))
            .execute(&mut holder)
            .await
            .expect("begin");
        sqlx::raw_sql(AssertSqlSafe(format!(
            "UPDATE {} SET v = 5 WHERE id = 1",
            b.table
        )))
        .execute(&mut holder)
        .await
        .expect("lock");
        let id = w
            .approved(
                b.name,
                &format!("UPDATE {} SET v = 9 WHERE id = 1", b.table),
                Some(1),
            )
            .await;
        let (_, r) = w.execute("alice", id).await;
        assert_eq!(r["status"], "failed", "{}: {r}", b.driver);
        assert_eq!(r["execution"]["outcome"], "timeout", "{}: {r}", b.driver);
        sqlx::raw_sql(AssertSqlSafe("ROLLBACK".to_owned()))
            .execute(&mut holder)
            .await
            .expect("rollback");
        holder.close().await.ok();
        assert_eq!(b.values().await, vec![0], "{}", b.driver);
        b.drop_table().await;
        w.done().await;
    }
}

#[tokio::test]
async fn a_postgres_target_that_requires_tls_is_reached_over_tls() {
    let Some(mut pg) = Backend::from_env("COUNTERSIGN_TEST_POSTGRES_URL", "pg", "postgres") else {
        return;
    };
    pg.create_accounts(1).await;
    let plain = pg.url.clone();
    let with = |mode: &str| {
        format!(
            "{plain}{}sslmode={mode}",
            if plain.contains('?') { '&' } else { '?' }
        )
    };
    pg.url = with("require");
    let w = World::new(&pg.target_toml("")).await;
    // The run records whether its own connection is encrypted.
    let sql = format!(
        "UPDATE {} SET v = (SELECT CASE WHEN ssl THEN 1 ELSE 0 END FROM pg_stat_ssl WHERE pid = pg_backend_pid()) WHERE id = 1",
        pg.table
    );
    let id = w.approved(pg.name, &sql, Some(1)).await;
    let (_, r) = w.execute("alice", id).await;
    assert_eq!(r["execution"]["outcome"], "committed", "{r}");
    assert_eq!(pg.values().await, vec![1], "the run went over TLS");
    w.done().await;

    // verify-full refuses a certificate the host does not trust, and says so without the URL.
    pg.url = with("verify-full");
    let w = World::new(&pg.target_toml("")).await;
    let id = w.approved(pg.name, &sql, Some(1)).await;
    let (_, r) = w.execute("alice", id).await;
    assert_eq!(r["execution"]["outcome"], "error", "{r}");
    let error = r["execution"]["error"].as_str().expect("error");
    assert!(
        !error.contains(&plain) && !error.contains("127.0.0.1:5432"),
        "{error}"
    );
    w.done().await;
    pg.url = plain;
    pg.drop_table().await;
}

#[tokio::test]
async fn sixty_four_concurrent_executes_run_it_exactly_once() {
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let w = World::new(&b.target_toml("")).await;
    let id = w
        .approved(
            b.name,
            &format!("UPDATE {} SET v = v + 1 WHERE id = 1", b.table),
            Some(1),
        )
        .await;
    let calls = (0..64).map(|i| {
        let who = if i % 2 == 0 { "alice" } else { "root" };
        w.execute(who, id)
    });
    let results = futures_util::future::join_all(calls).await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let conflicts = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CONFLICT)
        .count();
    assert_eq!(
        (ok, conflicts),
        (1, 63),
        "{:?}",
        results.iter().map(|(s, _)| *s).collect::<Vec<_>>()
    );
    assert_eq!(b.values().await, vec![1], "applied once");
    w.done().await;
}

#[tokio::test]
async fn two_server_processes_on_one_postgres_store_run_it_exactly_once() {
    let Some(db) = TestStore::postgres().await else {
        return;
    };
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    // Users, tokens and the approved request, made through an in-process server on the store.
    let w = World::on(db, &b.target_toml("")).await;
    let id = w
        .approved(
            b.name,
            &format!("UPDATE {} SET v = v + 1 WHERE id = 1", b.table),
            Some(1),
        )
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), w.store_url(), &b.target_toml(""));
    let (a1, a2) = (free_addr(), free_addr());
    let mut servers = [
        spawn_server(&config, &a1, &[]),
        spawn_server(&config, &a2, &[]),
    ];
    let bases = [format!("http://{a1}"), format!("http://{a2}")];
    for base in &bases {
        wait_up(base).await;
    }
    let client = TestApp::client();
    let calls = (0..32).map(|i| {
        let req = client
            .post(format!("{}/api/v1/requests/{id}/execute", bases[i % 2]))
            .bearer_auth(w.token("alice"))
            .send();
        async move { req.await.expect("execute").status() }
    });
    let statuses = futures_util::future::join_all(calls).await;
    for s in &mut servers {
        s.kill().ok();
        s.wait().ok();
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((ok, conflicts), (1, 31), "{statuses:?}");
    assert_eq!(b.values().await, vec![1], "applied once");
    w.done().await;
}

/// Where a kill -9 lands in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KillPoint {
    /// While a slow statement runs (the server's own probe says so).
    MidStatement,
    /// While `COMMIT` runs a slow deferred trigger (PostgreSQL).
    MidCommit,
}

/// How a killed run was settled after the restart.
struct Settled {
    status: String,
    outcome: Option<String>,
    /// From the restarted server answering to the run being settled.
    after_restart: Duration,
    events: Vec<String>,
    /// The execution's `undo` once settled.
    undo: Value,
    /// Images kept for the run, and images still pending.
    images: (usize, i64),
}

/// Whether the target is where `point` says, seen from a connection of the test's own.
async fn run_is_at(b: &Backend, point: KillPoint) -> bool {
    let probe = match (b.driver, point) {
        ("postgres", KillPoint::MidStatement) => {
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'countersign' \
             AND state = 'active' AND query LIKE '%pg_sleep%'"
        }
        ("postgres", KillPoint::MidCommit) => {
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'countersign' \
             AND state = 'active' AND query = 'COMMIT'"
        }
        ("mysql", _) => {
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE INFO LIKE '%SLEEP(%' AND INFO NOT LIKE '%PROCESSLIST%'"
        }
        // SQLite: nothing to ask from outside; the statement runs long enough.
        _ => return true,
    };
    let mut c = b.conn().await;
    let n: i64 = sqlx::query_scalar(AssertSqlSafe(probe))
        .fetch_one(&mut c)
        .await
        .unwrap_or(0);
    c.close().await.ok();
    n > 0
}

/// Approves `sql` on `b`, has a `countersign serve` process run it, kills it with SIGKILL at
/// `point`, restarts it and waits until the run is settled.
async fn kill_mid_run_and_restart(b: &Backend, sql: &str, point: KillPoint) -> Settled {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_url = format!("sqlite://{}", dir.path().join("store.db").display());
    let targets = b.target_toml("");
    let config = write_config(dir.path(), &store_url, &targets);
    // Prepare users and an approved request through an in-process server, then stop it.
    let w = World::with_app(TestApp::start(config_for(&store_url, &targets, &[])).await).await;
    let id = w.approved(b.name, sql, None).await;
    let token = w.token("alice").to_owned();
    w.done().await;

    let fast = [("COUNTERSIGN_SERVER_RECONCILE_AFTER", "1s")];
    let addr = free_addr();
    let base = format!("http://{addr}");
    let mut server = spawn_server(&config, &addr, &fast);
    wait_up(&base).await;
    let run = tokio::spawn({
        let url = format!("{base}/api/v1/requests/{id}/execute");
        async move { TestApp::client().post(url).bearer_auth(token).send().await }
    });
    let store = Store::open(&store_url).await.expect("store");
    let mut there = false;
    for _ in 0..200 {
        let executing = store
            .request(id)
            .await
            .expect("read")
            .is_some_and(|r| r.status.as_str() == "executing");
        if executing && run_is_at(b, point).await {
            there = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(there, "{}: the run never got to {point:?}", b.driver);
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill().expect("kill -9");
    server.wait().ok();
    assert!(
        run.await.expect("task").is_err(),
        "the caller saw the server die"
    );
    let status = store
        .request(id)
        .await
        .expect("read")
        .expect("request")
        .status;
    assert_eq!(status.as_str(), "executing", "{}", b.driver);

    // Restart: the run is reconciled, never re-run.
    let mut server = spawn_server(&config, &addr, &fast);
    wait_up(&base).await;
    let restarted = std::time::Instant::now();
    let mut settled = None;
    for _ in 0..300 {
        let r = store.request(id).await.expect("read").expect("request");
        if r.status.as_str() != "executing" {
            settled = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after_restart = restarted.elapsed();
    let r = settled.unwrap_or_else(|| panic!("{}: not settled after the restart", b.driver));
    let images = (
        store.images(id, 0, 1_000).await.expect("images").len(),
        store.pending_images(id).await.expect("pending images"),
    );
    let events = store
        .request_events(id)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.action)
        .collect();
    server.kill().ok();
    server.wait().ok();
    store.close().await;
    Settled {
        status: r.status.as_str().to_owned(),
        undo: r.execution.as_ref().map_or(Value::Null, |e| e.undo.clone()),
        outcome: r
            .execution
            .and_then(|e| e.outcome)
            .map(|o| o.as_str().to_owned()),
        after_restart,
        events,
        images,
    }
}

/// The run started once and was reconciled once; nothing ran again.
fn assert_reconciled_once(driver: &str, settled: &Settled) {
    let count = |action: &str| settled.events.iter().filter(|a| *a == action).count();
    assert_eq!(
        count("execution.started"),
        1,
        "{driver}: {:?}",
        settled.events
    );
    assert_eq!(
        count("execution.reconciled"),
        1,
        "{driver}: {:?}",
        settled.events
    );
    assert!(
        settled.after_restart < Duration::from_secs(5),
        "{driver}: settled {:?} after the restart",
        settled.after_restart
    );
}

#[tokio::test]
async fn a_server_killed_mid_statement_is_settled_from_the_target_after_restart() {
    let mut cases = vec![(
        Backend::sqlite(),
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300000000) SELECT COUNT(*) FROM n",
    )];
    cases.extend(
        Backend::from_env("COUNTERSIGN_TEST_POSTGRES_URL", "pg", "postgres")
            .map(|b| (b, "SELECT pg_sleep(6)")),
    );
    cases.extend(
        Backend::from_env("COUNTERSIGN_TEST_MYSQL_URL", "my", "mysql")
            .map(|b| (b, "SELECT SLEEP(6)")),
    );
    for (b, slow) in cases {
        b.create_accounts(1).await;
        // A change, then a statement long enough to kill the server during it.
        let sql = format!("UPDATE {} SET v = v + 1 WHERE id = 1;\n{slow}", b.table);
        let settled = kill_mid_run_and_restart(&b, &sql, KillPoint::MidStatement).await;
        assert_eq!(settled.status, "failed", "{}", b.driver);
        assert_eq!(
            settled.images,
            (0, 0),
            "{}: no images of a run that never committed",
            b.driver
        );
        assert_eq!(
            settled.outcome.as_deref(),
            Some("rolled_back"),
            "{}: the target tells; never a guess",
            b.driver
        );
        assert_reconciled_once(b.driver, &settled);
        assert_eq!(b.values().await, vec![0], "{}: nothing committed", b.driver);
        b.drop_table().await;
    }
}

/// The server dies while `COMMIT` runs a slow deferred trigger. PostgreSQL notices its client
/// is gone; the restarted server settles the request the way the target ended the
/// transaction, whichever it was, and never while it is still in progress.
#[tokio::test]
async fn a_server_killed_mid_commit_is_settled_as_the_target_ended_it() {
    let Some(b) = Backend::from_env("COUNTERSIGN_TEST_POSTGRES_URL", "pg", "postgres") else {
        return;
    };
    b.create_accounts(1).await;
    let t = &b.table;
    b.exec(format!(
        "CREATE FUNCTION {t}_slow() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_sleep(6); RETURN NULL; END $$"
    ))
    .await;
    b.exec(format!(
        "CREATE CONSTRAINT TRIGGER {t}_slow AFTER UPDATE ON {t} DEFERRABLE INITIALLY DEFERRED \
         FOR EACH ROW EXECUTE FUNCTION {t}_slow()"
    ))
    .await;
    let sql = format!("UPDATE {t} SET v = v + 1 WHERE id = 1");
    let settled = kill_mid_run_and_restart(&b, &sql, KillPoint::MidCommit).await;
    assert_reconciled_once(b.driver, &settled);
    // Whatever PostgreSQL did, the record says the same, and no transaction is left open.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let values = b.values().await;
    // The images were stored, pending, before the commit: kept when the target committed,
    // removed when it did not — never an undo claimed that cannot be done.
    assert_eq!(settled.images.1, 0, "no image stays pending");
    match (settled.status.as_str(), settled.outcome.as_deref()) {
        ("executed", Some("committed")) => {
            assert_eq!(values, vec![1]);
            assert_eq!(settled.images.0, 1);
            assert_eq!(
                settled.undo,
                serde_json::json!({"available": true, "rows": 1, "reason": null})
            );
        }
        ("failed", Some("rolled_back")) => {
            assert_eq!(values, vec![0]);
            assert_eq!(settled.images.0, 0);
            assert_eq!(settled.undo["available"], false);
        }
        other => panic!("settled as {other:?} with {values:?}"),
    }
    b.exec(format!("DROP TABLE {t}")).await;
    b.exec(format!("DROP FUNCTION {t}_slow()")).await;
}
