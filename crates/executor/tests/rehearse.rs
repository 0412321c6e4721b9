//! Rehearsals on real databases: SQLite files, and the PostgreSQL and MariaDB servers named
//! by `COUNTERSIGN_TEST_POSTGRES_URL` / `COUNTERSIGN_TEST_MYSQL_URL` (skipped without them).

mod common;

use common::{Db, rehearsals};

/// Counts forever: only an interrupt ends it.
const ENDLESS: &str = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) \
                       SELECT COUNT(*) FROM n";

mod sqlite {
    use super::*;
    use countersign_executor::Driver;

    driver_tests!(Some(Db::sqlite().await); in rehearsals;
        the_fixtures_checksum_sees_every_change,
        counts_and_samples_each_statement_and_leaves_nothing,
        a_table_the_script_creates_is_sampled_and_gone_afterwards,
        samples_are_bounded_and_can_be_turned_off,
        an_error_in_statement_two_leaves_nothing,
        masked_columns_never_appear,
        an_unknown_function_is_skipped_unless_allowed,
    );

    #[tokio::test]
    async fn a_dangerous_function_is_skipped() {
        let mut db = Db::sqlite().await;
        rehearsals::a_dangerous_function_is_skipped(&mut db, "SELECT load_extension('x')").await;
    }

    #[tokio::test]
    async fn an_endless_statement_times_out_and_leaves_no_lock() {
        let mut db = Db::sqlite().await;
        rehearsals::a_rehearsal_past_its_timeout_leaves_no_lock(&mut db, ENDLESS).await;
    }

    #[tokio::test]
    async fn a_dropped_rehearsal_leaves_nothing_and_no_lock() {
        let mut db = Db::sqlite().await;
        rehearsals::a_dropped_rehearsal_leaves_nothing_and_no_lock(&mut db, ENDLESS).await;
    }

    #[tokio::test]
    async fn the_targets_statement_timeout_bounds_each_statement() {
        let mut db = Db::sqlite().await;
        rehearsals::the_targets_statement_timeout_bounds_each_statement(&mut db, ENDLESS).await;
    }

    #[tokio::test]
    async fn a_missing_file_is_an_error_and_is_not_created() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("missing.db");
        let url = format!("sqlite://{}", path.display());
        rehearsals::an_unreachable_target_is_an_error_without_the_url(Driver::Sqlite, &url, &[])
            .await;
        assert!(!path.exists());
    }

    /// Nothing of a rehearsal stays, not even the run marker table.
    #[tokio::test]
    async fn no_table_is_created() {
        let mut db = Db::sqlite().await;
        let script = db.statements(&["UPDATE {t} SET balance = 1 WHERE id = 1"]);
        let options = countersign_executor::RehearsalOptions::new(Default::default());
        let rehearsal = countersign_executor::rehearse(db.target(), &script.sql, options).await;
        assert_eq!(
            rehearsal.status,
            countersign_executor::RehearsalStatus::Done
        );
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'")
                .await,
            1
        );
    }
}

mod postgres {
    use super::*;
    use countersign_executor::Driver;

    driver_tests!(Db::postgres().await; in rehearsals;
        the_fixtures_checksum_sees_every_change,
        counts_and_samples_each_statement_and_leaves_nothing,
        a_table_the_script_creates_is_sampled_and_gone_afterwards,
        samples_are_bounded_and_can_be_turned_off,
        an_error_in_statement_two_leaves_nothing,
        masked_columns_never_appear,
        an_unknown_function_is_skipped_unless_allowed,
    );

    #[tokio::test]
    async fn a_dangerous_function_is_skipped() {
        let Some(mut db) = Db::postgres().await else {
            return;
        };
        rehearsals::a_dangerous_function_is_skipped(&mut db, "SELECT pg_sleep(1)").await;
        db.clean_up().await;
    }

    #[tokio::test]
    async fn a_long_statement_times_out_and_leaves_no_lock() {
        let Some(mut db) = Db::postgres().await else {
            return;
        };
        rehearsals::a_rehearsal_past_its_timeout_leaves_no_lock(
            &mut db,
            "SELECT COUNT(*) FROM generate_series(1, 2000000000)",
        )
        .await;
        db.clean_up().await;
    }

    /// The session is ended from outside at once (the server would notice the gone client
    /// within a second: `client_connection_check_interval`).
    #[tokio::test]
    async fn a_dropped_rehearsal_leaves_nothing_and_no_lock() {
        let Some(mut db) = Db::postgres().await else {
            return;
        };
        rehearsals::a_dropped_rehearsal_leaves_nothing_and_no_lock(
            &mut db,
            "SELECT COUNT(*) FROM generate_series(1, 2000000000)",
        )
        .await;
        db.clean_up().await;
    }

    #[tokio::test]
    async fn the_targets_statement_timeout_bounds_each_statement() {
        let Some(mut db) = Db::postgres().await else {
            return;
        };
        rehearsals::the_targets_statement_timeout_bounds_each_statement(
            &mut db,
            "SELECT COUNT(*) FROM generate_series(1, 2000000000)",
        )
        .await;
        db.clean_up().await;
    }

    #[tokio::test]
    async fn a_wrong_port_is_an_error_without_the_url() {
        if std::env::var(common::POSTGRES_ENV).is_err() {
            println!("skipped: {} is not set", common::POSTGRES_ENV);
            return;
        }
        let url = "postgres://postgres:Sup3r%2FSecret@127.0.0.1:1/test";
        rehearsals::an_unreachable_target_is_an_error_without_the_url(
            Driver::Postgres,
            url,
            &["Sup3r", "Sup3r/Secret", "127.0.0.1:1"],
        )
        .await;
    }
}

mod mysql {
    use super::*;
    use countersign_executor::{Driver, RehearsalOptions, RehearsalStatus, SkipReason, rehearse};

    driver_tests!(Db::mysql().await; in rehearsals;
        the_fixtures_checksum_sees_every_change,
        counts_and_samples_each_statement_and_leaves_nothing,
        samples_are_bounded_and_can_be_turned_off,
        an_error_in_statement_two_leaves_nothing,
        masked_columns_never_appear,
        an_unknown_function_is_skipped_unless_allowed,
    );

    #[tokio::test]
    async fn a_dangerous_function_is_skipped() {
        let Some(mut db) = Db::mysql().await else {
            return;
        };
        rehearsals::a_dangerous_function_is_skipped(&mut db, "SELECT SLEEP(1)").await;
        db.clean_up().await;
    }

    #[tokio::test]
    async fn a_long_statement_times_out_and_leaves_no_lock() {
        let Some(mut db) = Db::mysql().await else {
            return;
        };
        rehearsals::a_rehearsal_past_its_timeout_leaves_no_lock(
            &mut db,
            "SELECT COUNT(*) FROM information_schema.COLUMNS a, information_schema.COLUMNS b, \
             information_schema.COLUMNS c",
        )
        .await;
        db.clean_up().await;
    }

    /// MariaDB would run the statement to its end, locks held, after its client went: the
    /// session is ended from outside.
    #[tokio::test]
    async fn a_dropped_rehearsal_leaves_nothing_and_no_lock() {
        let Some(mut db) = Db::mysql().await else {
            return;
        };
        rehearsals::a_dropped_rehearsal_leaves_nothing_and_no_lock(
            &mut db,
            "SELECT COUNT(*) FROM information_schema.COLUMNS a, information_schema.COLUMNS b, \
             information_schema.COLUMNS c",
        )
        .await;
        db.clean_up().await;
    }

    #[tokio::test]
    async fn the_targets_statement_timeout_bounds_each_statement() {
        let Some(mut db) = Db::mysql().await else {
            return;
        };
        rehearsals::the_targets_statement_timeout_bounds_each_statement(
            &mut db,
            "SELECT COUNT(*) FROM information_schema.COLUMNS a, information_schema.COLUMNS b, \
             information_schema.COLUMNS c",
        )
        .await;
        db.clean_up().await;
    }

    /// DDL commits implicitly on MySQL/MariaDB: skipped, named, and the table keeps its shape.
    #[tokio::test]
    async fn ddl_is_skipped_and_the_table_keeps_its_shape() {
        let Some(mut db) = Db::mysql().await else {
            return;
        };
        let script = db.statements(&[
            "UPDATE {t} SET balance = 1 WHERE id = 1",
            "ALTER TABLE {t} ADD COLUMN cs_added INT",
            "UPDATE {t} SET balance = 1 WHERE id = 2",
        ]);
        let rehearsal = rehearse(
            db.target(),
            &script.sql,
            RehearsalOptions::new(Default::default()),
        )
        .await;
        assert_eq!(rehearsal.status, RehearsalStatus::Done, "{rehearsal:#?}");
        let skipped = rehearsal.skipped().expect("the ALTER is skipped");
        assert_eq!(skipped.index, 1);
        assert_eq!(
            skipped.skipped.as_ref().map(|s| s.reason),
            Some(SkipReason::ImplicitCommit)
        );
        assert_eq!(rehearsal.statements.len(), 2);
        assert_eq!(rehearsal.rows_affected, 1);
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{t}'")
                .await,
            2
        );
        assert!(db.is_untouched().await);
        db.clean_up().await;
    }

    /// A table without a primary key: counts, but no sample for an UPDATE.
    #[tokio::test]
    async fn a_table_without_a_key_has_counts_but_no_update_sample() {
        let Some(mut db) = Db::mysql().await else {
            return;
        };
        db.exec("CREATE TABLE {t}_k (a INT, b INT)").await;
        db.exec("INSERT INTO {t}_k VALUES (1, 1), (2, 2)").await;
        let script = db.statements(&["UPDATE {t}_k SET b = 5 WHERE a = 1"]);
        let rehearsal = rehearse(
            db.target(),
            &script.sql,
            RehearsalOptions::new(Default::default()),
        )
        .await;
        db.exec("DROP TABLE {t}_k").await;
        assert_eq!(rehearsal.status, RehearsalStatus::Done, "{rehearsal:#?}");
        assert_eq!(rehearsal.rows_affected, 1);
        assert_eq!(rehearsal.statements[0].sample, None);
        db.clean_up().await;
    }

    #[tokio::test]
    async fn a_wrong_port_is_an_error_without_the_url() {
        if std::env::var(common::MYSQL_ENV).is_err() {
            println!("skipped: {} is not set", common::MYSQL_ENV);
            return;
        }
        let url = "mysql://root:Sup3r%2FSecret@127.0.0.1:1/test";
        rehearsals::an_unreachable_target_is_an_error_without_the_url(
            Driver::Mysql,
            url,
            &["Sup3r", "Sup3r/Secret", "127.0.0.1:1"],
        )
        .await;
    }
}
