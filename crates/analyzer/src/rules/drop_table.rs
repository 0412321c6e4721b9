//! `drop-table`: `DROP TABLE`, with or without `IF EXISTS`.

use sqlparser::ast::{ObjectType, Statement};

use super::{Cx, RuleInfo, name_list, name_pos};
use crate::fallback::Unparsed;
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "drop-table",
    severity: Severity::Danger,
    summary: "DROP TABLE (also IF EXISTS)",
    help: "DROP TABLE deletes the table with all of its rows, indexes, triggers and grants; only \
           a restore from backup brings them back, and every query that names the table starts \
           failing at once. Make sure nothing uses it any more, keep a copy of its data (a dump, \
           or CREATE TABLE … AS SELECT) and say in the intent why it must go.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    if let Statement::Drop {
        object_type: ObjectType::Table,
        names,
        cascade,
        ..
    } = stmt
    {
        let cascade = if *cascade {
            ", and CASCADE also drops the views and constraints that depend on it"
        } else {
            ""
        };
        let message = format!(
            "`DROP TABLE` deletes {} and every row in it{cascade}.",
            name_list(names)
        );
        cx.report(&RULE, names.first().and_then(name_pos), message);
    }
}

pub(crate) fn check_unparsed(unparsed: &Unparsed, cx: &mut Cx<'_>) {
    if unparsed.word(0) == Some("DROP") && unparsed.object() == Some("TABLE") {
        cx.report(
            &RULE,
            None,
            "`DROP TABLE` deletes the table and every row in it.",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_drop_table() {
        assert_fires(&RULE, "DROP TABLE orders", ALL);
        assert_fires(&RULE, "DROP TABLE IF EXISTS orders", ALL);
        assert_fires(&RULE, "drop table a, b", ALL);
        assert_fires(&RULE, "DROP TEMPORARY TABLE tmp", &[crate::Dialect::Mysql]);
    }

    #[test]
    fn points_at_the_table_name() {
        let found = hits(
            &RULE,
            "DROP TABLE IF EXISTS orders",
            crate::Dialect::Postgres,
        );
        assert_eq!(found[0].column, 22);
    }

    #[test]
    fn does_not_fire_on_other_drops() {
        assert_silent(&RULE, "DROP VIEW v", ALL);
        assert_silent(&RULE, "ALTER TABLE t DROP COLUMN a", ALL);
        assert_silent(&RULE, "SELECT 1 -- DROP TABLE orders", ALL);
    }
}
