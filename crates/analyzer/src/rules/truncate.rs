//! `truncate`: `TRUNCATE`, which empties whole tables at once — and MySQL's `ALTER TABLE …
//! TRUNCATE PARTITION` and `DROP PARTITION`, which do the same to partitions.

use sqlparser::ast::Statement;

use super::{Cx, RuleInfo, name_list};
use crate::fallback::Unparsed;
use crate::mysql_forms::AlterAction;
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "truncate",
    severity: Severity::Danger,
    summary: "TRUNCATE",
    help: "TRUNCATE empties whole tables at once: it skips DELETE triggers, takes an exclusive \
           lock, and with CASCADE empties the tables that reference them too; on MySQL/MariaDB \
           it also commits implicitly and cannot be rolled back. To remove particular rows, use \
           DELETE … WHERE with the expected row count. If the table really must be emptied, \
           say so in the intent and make sure a backup exists.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    if let Statement::Truncate(truncate) = stmt {
        let tables = name_list(truncate.table_names.iter().map(|t| &t.name));
        let message = format!("`TRUNCATE` removes every row of {tables}.");
        cx.report(&RULE, None, message);
    }
}

pub(crate) fn check_unparsed(unparsed: &Unparsed, cx: &mut Cx<'_>) {
    if unparsed.starts_with(&["TRUNCATE"]) {
        cx.report(&RULE, None, "`TRUNCATE` removes every row of the table.");
    }
    // MySQL `ALTER TABLE … TRUNCATE PARTITION` / `DROP PARTITION`.
    let actions: Vec<_> = unparsed.alter_actions().collect();
    if actions.contains(&Some(AlterAction::TruncatePartition)) {
        cx.report(
            &RULE,
            None,
            "`ALTER TABLE … TRUNCATE PARTITION` removes every row of the partitions it names.",
        );
    }
    if actions.contains(&Some(AlterAction::DropPartition)) {
        cx.report(
            &RULE,
            None,
            "`ALTER TABLE … DROP PARTITION` removes the partitions it names and every row in \
             them.",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_truncate() {
        assert_fires(
            &RULE,
            "TRUNCATE orders",
            &[crate::Dialect::Postgres, crate::Dialect::Generic],
        );
        assert_fires(&RULE, "TRUNCATE TABLE orders", ALL);
        let found = hits(&RULE, "TRUNCATE a, b CASCADE", crate::Dialect::Postgres);
        assert!(
            found[0].message.contains("`a` and `b`"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn does_not_fire_on_delete_or_mentions() {
        assert_silent(&RULE, "DELETE FROM orders WHERE id = 1", ALL);
        assert_silent(&RULE, "SELECT 'TRUNCATE orders' -- TRUNCATE orders", ALL);
    }
}
