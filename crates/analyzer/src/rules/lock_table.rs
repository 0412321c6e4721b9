//! `lock-table`: explicit table locks — PostgreSQL `LOCK TABLE`, MySQL `LOCK TABLES`.

use sqlparser::ast::Statement;

use super::{Cx, RuleInfo, name_list};
use crate::Dialect;
use crate::fallback::Unparsed;
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "lock-table",
    severity: Severity::Warning,
    summary: "LOCK TABLE(S)",
    help: "An explicit lock blocks every other session that needs the table until the script's \
           transaction ends; in a strong mode even reads queue up behind it, and a slow script \
           becomes an outage. On MySQL/MariaDB, LOCK TABLES also commits the open transaction. \
           The row locks taken by UPDATE/DELETE … WHERE are usually enough; if a table lock is \
           truly needed, use the weakest mode that works and keep the script short.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let tables = match stmt {
        Statement::Lock(lock) => name_list(lock.tables.iter().map(|t| &t.name)),
        Statement::LockTables { tables } => name_list(tables.iter().map(|t| &t.table)),
        _ => return,
    };
    report(cx, &tables);
}

pub(crate) fn check_unparsed(unparsed: &Unparsed, cx: &mut Cx<'_>) {
    if unparsed.word(0) == Some("LOCK") {
        report(cx, "the table");
    }
}

fn report(cx: &mut Cx<'_>, tables: &str) {
    let commit = if cx.dialect == Dialect::Mysql {
        " (and commits the open transaction)"
    } else {
        ""
    };
    let message = format!(
        "This statement locks {tables} against other sessions until the script ends{commit}."
    );
    cx.report(&RULE, None, message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_explicit_locks() {
        assert_fires(
            &RULE,
            "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE",
            &[Postgres],
        );
        assert_fires(&RULE, "LOCK orders", &[Postgres]);
        let found = hits(&RULE, "LOCK TABLES orders WRITE, items READ", Mysql);
        assert!(
            found[0].message.contains("`orders` and `items`"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn does_not_fire_on_row_locks_or_unlock() {
        assert_silent(&RULE, "SELECT * FROM t WHERE id = 1 FOR UPDATE", ALL);
        assert_silent(&RULE, "UNLOCK TABLES", &[Mysql]);
    }
}
