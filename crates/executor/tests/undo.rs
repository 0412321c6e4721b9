//! Undo on real databases: SQLite files, and the PostgreSQL and MariaDB servers named by
//! `COUNTERSIGN_TEST_POSTGRES_URL` / `COUNTERSIGN_TEST_MYSQL_URL` (skipped without them).

mod common;

use common::Db;

macro_rules! undo_tests {
    ($db:expr) => {
        driver_tests!($db; in undo;
            every_change_is_reverted_to_the_same_checksum,
            a_row_changed_since_is_not_overwritten,
            a_table_without_a_key_is_refused_unless_optional,
            more_rows_than_the_limit_are_refused,
            statements_capture_cannot_follow_are_refused,
            a_trigger_capture_cannot_see_makes_undo_unavailable,
            net_effects_no_ops_and_the_revert_of_a_revert,
            the_rehearsal_says_whether_undo_is_possible,
        );
    };
}

mod sqlite {
    use super::*;
    undo_tests!(Some(Db::sqlite().await));
}

mod postgres {
    use super::*;
    undo_tests!(Db::postgres().await);
}

mod mysql {
    use super::*;
    undo_tests!(Db::mysql().await);
}
