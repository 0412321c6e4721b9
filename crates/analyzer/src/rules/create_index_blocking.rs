//! `create-index-blocking`: PostgreSQL `CREATE INDEX` without `CONCURRENTLY`, which blocks
//! writes to the table while the index builds. An index on a table created earlier in the
//! same script blocks nobody (no one else can see the table yet), so it is not reported.

use sqlparser::ast::Statement;

use super::{Cx, RuleInfo, name_pos};
use crate::Dialect;
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "create-index-blocking",
    severity: Severity::Warning,
    summary: "PostgreSQL CREATE INDEX without CONCURRENTLY: blocks writes to the table while it \
              builds",
    help: "A plain CREATE INDEX holds a lock that blocks INSERT, UPDATE and DELETE on the table \
           for the whole build, which on a large table can take minutes. CREATE INDEX \
           CONCURRENTLY avoids that but cannot run inside a transaction, so it does not belong \
           in a Countersign script either: build indexes on large tables through your \
           migration process, or accept the lock on a small table and say so in the intent.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let Statement::CreateIndex(index) = stmt else {
        return;
    };
    if cx.dialect != Dialect::Postgres || index.concurrently {
        return;
    }
    let table = index.table_name.to_string();
    if cx.script.created_tables.contains(&table.to_lowercase()) {
        return;
    }
    let table = super::snippet(&table, 80);
    let message = format!(
        "`CREATE INDEX` without CONCURRENTLY blocks writes to `{table}` until the index is built."
    );
    cx.report(&RULE, name_pos(&index.table_name), message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_plain_create_index_on_postgres() {
        assert_fires(&RULE, "CREATE INDEX i ON orders (customer_id)", &[Postgres]);
        assert_fires(
            &RULE,
            "CREATE UNIQUE INDEX IF NOT EXISTS i ON app.orders (code)",
            &[Postgres],
        );
    }

    #[test]
    fn does_not_fire_concurrently_or_on_other_dialects() {
        assert_silent(
            &RULE,
            "CREATE INDEX CONCURRENTLY i ON orders (customer_id)",
            &[Postgres],
        );
        assert_silent(
            &RULE,
            "CREATE INDEX i ON orders (customer_id)",
            &[Mysql, Sqlite, Generic],
        );
    }

    #[test]
    fn does_not_fire_on_a_table_created_in_the_same_script() {
        let sql = "CREATE TABLE audit (id int); CREATE INDEX i ON AUDIT (id);";
        assert_silent(&RULE, sql, &[Postgres]);
        let sql = "CREATE INDEX i ON audit (id); CREATE TABLE audit (id int);";
        assert_fires(&RULE, sql, &[Postgres]);
    }
}
