//! `transaction-control`: statements that begin, end or shape a transaction. Countersign runs
//! every script in a transaction of its own, so these cannot be honoured.

use sqlparser::ast::{Set, Statement};

use super::{Cx, RuleInfo};
use crate::Dialect;
use crate::fallback::Unparsed;
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "transaction-control",
    severity: Severity::Error,
    summary: "BEGIN, START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, SET TRANSACTION: \
              the system owns the transaction",
    help: "Countersign runs every statement of a request in one transaction that it opens, \
           guards (row-count check, timeouts) and commits or rolls back itself. A statement that \
           begins, commits, rolls back or reconfigures a transaction would break that guarantee, \
           so the script is refused. Remove it: the whole script already commits or rolls back \
           as one.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let what = match stmt {
        Statement::StartTransaction { begin: true, .. } => "`BEGIN` starts a transaction",
        Statement::StartTransaction { .. } => "`START TRANSACTION` starts a transaction",
        Statement::Commit { end: true, .. } => "`END` commits the transaction",
        Statement::Commit { .. } => "`COMMIT` commits the transaction",
        Statement::Rollback {
            savepoint: Some(_), ..
        } => "`ROLLBACK TO SAVEPOINT` undoes part of the transaction",
        Statement::Rollback { .. } => "`ROLLBACK` undoes and ends the transaction",
        Statement::Savepoint { .. } => "`SAVEPOINT` manages the transaction",
        Statement::ReleaseSavepoint { .. } => "`RELEASE SAVEPOINT` manages the transaction",
        Statement::Set(Set::SetTransaction { .. }) => {
            "`SET TRANSACTION` changes the transaction's characteristics"
        }
        Statement::Set(Set::SingleAssignment { variable, .. })
            if cx.dialect != Dialect::Postgres
                && variable
                    .to_string()
                    .trim_start_matches('@')
                    .rsplit('.')
                    .next()
                    .is_some_and(|name| name.eq_ignore_ascii_case("autocommit")) =>
        {
            "`SET autocommit` commits the open transaction on MySQL/MariaDB"
        }
        _ => return,
    };
    cx.report(&RULE, None, message(what));
}

pub(crate) fn check_unparsed(unparsed: &Unparsed, cx: &mut Cx<'_>) {
    let what = match unparsed.word(0) {
        Some("BEGIN") => "`BEGIN` starts a transaction",
        Some("START") if unparsed.word(1) == Some("TRANSACTION") => {
            "`START TRANSACTION` starts a transaction"
        }
        Some("COMMIT" | "END") => "`COMMIT` commits the transaction",
        Some("ROLLBACK" | "ABORT") => "`ROLLBACK` undoes the transaction",
        Some("SAVEPOINT" | "RELEASE") => "`SAVEPOINT` manages the transaction",
        Some("XA") => "`XA` manages a distributed transaction",
        Some("PREPARE") if unparsed.word(1) == Some("TRANSACTION") => {
            "`PREPARE TRANSACTION` ends the transaction"
        }
        Some("SET") if unparsed.word(1) == Some("TRANSACTION") => {
            "`SET TRANSACTION` changes the transaction's characteristics"
        }
        _ => return,
    };
    cx.report(&RULE, None, message(what));
}

fn message(what: &str) -> String {
    format!("{what}, but Countersign runs the whole script in one transaction of its own.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_every_transaction_statement() {
        for sql in [
            "BEGIN",
            "START TRANSACTION",
            "COMMIT",
            "ROLLBACK",
            "SAVEPOINT a",
            "RELEASE SAVEPOINT a",
            "ROLLBACK TO SAVEPOINT a",
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        ] {
            assert_fires(&RULE, sql, ALL);
        }
        assert_fires(&RULE, "END", &[Dialect::Postgres]);
        assert_fires(&RULE, "ABORT", &[Dialect::Postgres]);
        assert_fires(
            &RULE,
            "BEGIN; UPDATE t SET a = 1 WHERE id = 1; COMMIT;",
            ALL,
        );
    }

    #[test]
    fn fires_on_mysql_autocommit_and_xa() {
        assert_fires(&RULE, "SET autocommit = 1", &[Dialect::Mysql]);
        assert_fires(&RULE, "XA START 'x'", &[Dialect::Mysql]);
    }

    #[test]
    fn fires_on_unparseable_forms() {
        assert_fires(&RULE, "PREPARE TRANSACTION 'x'", &[Dialect::Postgres]);
    }

    #[test]
    fn does_not_fire_on_words_in_strings_comments_or_names() {
        assert_silent(
            &RULE,
            "UPDATE t SET note = 'COMMIT' WHERE id = 1 -- ROLLBACK",
            ALL,
        );
        assert_silent(&RULE, "SELECT begin, commit FROM log", &[Dialect::Postgres]);
        assert_silent(&RULE, "SET search_path = app", ALL);
    }
}
