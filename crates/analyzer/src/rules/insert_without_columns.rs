//! `insert-without-columns`: `INSERT` (or MySQL `REPLACE`) without a column list, whose values
//! are matched to columns by position.

use sqlparser::ast::Statement;

use super::{Cx, RuleInfo};
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "insert-without-columns",
    severity: Severity::Warning,
    summary: "INSERT without a column list: silently wrong if the table's columns change",
    help: "Without a column list, values go to the table's columns in their current order: if \
           a column is added, dropped or reordered, the INSERT fails or, worse, silently puts \
           values in the wrong columns. Name the columns: INSERT INTO t (a, b) VALUES (…).",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let Statement::Insert(insert) = stmt else {
        return;
    };
    // `DEFAULT VALUES` has no source; MySQL's `INSERT … SET a = 1` names its columns.
    if insert.columns.is_empty() && insert.source.is_some() && insert.assignments.is_empty() {
        let verb = if insert.replace_into {
            "REPLACE"
        } else {
            "INSERT"
        };
        let message = format!(
            "This {verb} into `{}` lists no columns: its values are matched to columns by position.",
            super::snippet(&insert.table, 80)
        );
        cx.report(&RULE, None, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_without_a_column_list() {
        assert_fires(&RULE, "INSERT INTO t VALUES (1, 'a')", ALL);
        assert_fires(&RULE, "INSERT INTO t SELECT * FROM u", ALL);
        assert_fires(&RULE, "REPLACE INTO t VALUES (1)", &[Mysql]);
        assert_fires(
            &RULE,
            "WITH x AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM x",
            &[Postgres],
        );
    }

    #[test]
    fn does_not_fire_with_columns_or_without_values() {
        assert_silent(&RULE, "INSERT INTO t (id, name) VALUES (1, 'a')", ALL);
        assert_silent(&RULE, "INSERT INTO t DEFAULT VALUES", &[Postgres, Sqlite]);
        assert_silent(&RULE, "INSERT INTO t SET a = 1", &[Mysql]);
    }
}
