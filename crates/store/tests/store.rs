//! The store's own suite: every test runs on SQLite, and on PostgreSQL when
//! `COUNTERSIGN_TEST_POSTGRES_URL` is set, each in a fresh database.

use countersign_core::timestamp;
use countersign_core::user::Role;
use countersign_store::{Store, StoreError, store_tests};
use time::Duration;

/// How long a session may go unused in these tests.
const IDLE: std::time::Duration = std::time::Duration::from_secs(3600);

store_tests! {
    async fn migrating_twice_changes_nothing(store: Store) {
        let first = store.migrate().await.expect("migrate");
        let second = store.migrate().await.expect("migrate again");
        assert_eq!(first, second);
        assert!(store.list_users().await.expect("list").is_empty());
    }

    async fn users_keep_their_roles_and_names_are_unique(store: Store) {
        let bob = store
            .create_user("bob", &[Role::Reviewer, Role::Admin, Role::Reviewer], Some("hash"), None)
            .await
            .expect("create bob");
        assert_eq!(bob.roles, vec![Role::Reviewer, Role::Admin]);
        let again = store.user_by_name("bob").await.expect("read").expect("bob exists");
        assert_eq!(again, bob);
        let dup = store.create_user("bob", &[Role::Author], None, None).await;
        assert!(matches!(dup, Err(StoreError::AlreadyExists(ref what)) if what.contains("bob")), "{dup:?}");
        assert!(store.user_by_name("nobody").await.expect("read").is_none());
    }

    async fn passwords_can_be_replaced(store: Store) {
        store.create_user("alice", &[Role::Author], Some("old"), None).await.expect("create");
        store.set_password_hash("alice", "new", None).await.expect("set");
        let c = store.credentials("alice").await.expect("read").expect("alice");
        assert_eq!(c.password_hash.as_deref(), Some("new"));
        assert!(matches!(store.set_password_hash("zed", "x", None).await, Err(StoreError::NotFound(_))));
    }

    async fn tokens_find_their_user_until_the_user_is_disabled(store: Store) {
        let alice = store.create_user("alice", &[Role::Author], None, None).await.expect("create");
        store.create_token(&alice, "tokenhash", None).await.expect("token");
        let found = store.user_by_token_hash("tokenhash").await.expect("read");
        assert_eq!(found.map(|u| u.name), Some("alice".to_owned()));
        assert!(store.user_by_token_hash("otherhash").await.expect("read").is_none());
        store.disable_user("alice", None).await.expect("disable");
        assert!(store.user_by_token_hash("tokenhash").await.expect("read").is_none());
        assert!(store.user_by_name("alice").await.expect("read").expect("alice").disabled);
    }

    async fn sessions_live_until_they_expire_or_end(store: Store) {
        let alice = store.create_user("alice", &[Role::Author], None, None).await.expect("create");
        let later = timestamp::now() + Duration::hours(1);
        store.create_session("live", &alice, "csrf1", later).await.expect("session");
        store.create_session("old", &alice, "csrf2", timestamp::now() - Duration::seconds(1)).await.expect("session");
        let s = store.session("live", IDLE).await.expect("read").expect("live session");
        assert_eq!((s.user.name.as_str(), s.csrf_token.as_str()), ("alice", "csrf1"));
        assert_eq!(s.expires_at, later);
        assert!(store.session("old", IDLE).await.expect("read").is_none(), "expired session is refused");
        store.delete_session("live").await.expect("sign out");
        assert!(store.session("live", IDLE).await.expect("read").is_none());
    }

    async fn disabling_a_user_ends_their_sessions(store: Store) {
        let alice = store.create_user("alice", &[Role::Author], None, None).await.expect("create");
        store.create_session("s", &alice, "c", timestamp::now() + Duration::hours(1)).await.expect("session");
        store.disable_user("alice", None).await.expect("disable");
        assert!(store.session("s", IDLE).await.expect("read").is_none());
        assert!(matches!(store.disable_user("nobody", None).await, Err(StoreError::NotFound(_))));
        assert!(store.enable_user("alice", Some("root")).await.expect("enable"), "she was disabled");
        assert!(!store.user_by_name("alice").await.expect("read").expect("alice").disabled);
        assert!(!store.enable_user("alice", Some("root")).await.expect("enable"), "already active");
        assert!(matches!(store.enable_user("nobody", None).await, Err(StoreError::NotFound(_))));
    }
}

#[tokio::test]
async fn sessions_are_seen_by_a_second_handle_on_the_same_store() {
    let db = countersign_store::testing::TestStore::sqlite().await;
    let alice = db
        .store
        .create_user("alice", &[Role::Author], None, None)
        .await
        .expect("create");
    db.store
        .create_session("s", &alice, "c", timestamp::now() + Duration::hours(1))
        .await
        .expect("session");
    let other = db.reopen().await.expect("reopen");
    assert!(other.session("s", IDLE).await.expect("read").is_some());
    other.close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn connections_postgresql_closed_while_idle_are_not_handed_out() {
    // The store pings a PostgreSQL connection only once it has stood idle (not at every
    // query): one the server closed meanwhile (a restart, an administrator) must still never
    // reach a caller.
    let Some(db) = countersign_store::testing::TestStore::postgres().await else {
        return;
    };
    let store = &db.store;
    // Several connections open at once, then idle in the pool.
    let sleeps = (0..5).map(|_| store.raw_execute_for_test("SELECT pg_sleep(0.2)"));
    for slept in futures_util::future::join_all(sleeps).await {
        slept.expect("sleep");
    }
    store
        .raw_execute_for_test(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await
        .expect("close the others");
    tokio::time::sleep(countersign_store::PING_AFTER_IDLE + std::time::Duration::from_millis(300))
        .await;
    for _ in 0..6 {
        store
            .user_by_name("nobody")
            .await
            .expect("a live connection");
    }
    let reads = (0..6).map(|_| store.user_by_name("nobody"));
    for read in futures_util::future::join_all(reads).await {
        read.expect("a live connection");
    }
    db.cleanup().await;
}

#[tokio::test]
async fn sqlite_reads_its_file_through_memory_maps() {
    // Every connection of a SQLite store maps the file (SQLite's own cache is 2 MiB a
    // connection): a list page read from a large store costs fewer read() calls.
    let db = countersign_store::testing::TestStore::sqlite().await;
    let reads = (0..6).map(|_| db.store.sqlite_mmap_size());
    for size in futures_util::future::join_all(reads).await {
        assert_eq!(size.expect("pragma"), 1 << 30);
    }
    db.cleanup().await;
}
