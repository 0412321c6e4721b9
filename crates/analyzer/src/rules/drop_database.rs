//! `drop-database`: `DROP DATABASE`, which removes a database and all of its data.

use sqlparser::ast::{ObjectType, Statement};

use super::{Cx, RuleInfo, name_list, name_pos};
use crate::fallback::Unparsed;
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "drop-database",
    severity: Severity::Danger,
    summary: "DROP DATABASE",
    help: "DROP DATABASE removes a whole database: every schema, table and row in it, beyond \
           any rollback. It has no place in a reviewed data edit; decommission databases \
           through your operations process, after a final backup.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    if let Statement::Drop {
        object_type: ObjectType::Database,
        names,
        ..
    } = stmt
    {
        let message = format!(
            "`DROP DATABASE` removes {} with every table and row in it.",
            name_list(names)
        );
        cx.report(&RULE, names.first().and_then(name_pos), message);
    }
}

pub(crate) fn check_unparsed(unparsed: &Unparsed, cx: &mut Cx<'_>) {
    if unparsed.word(0) == Some("DROP") && unparsed.object() == Some("DATABASE") {
        cx.report(&RULE, None, "`DROP DATABASE` removes a whole database.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_drop_database() {
        assert_fires(&RULE, "DROP DATABASE shop", ALL);
        assert_fires(&RULE, "DROP DATABASE IF EXISTS shop", ALL);
    }

    #[test]
    fn does_not_fire_on_other_statements() {
        assert_silent(&RULE, "DROP TABLE shop", ALL);
        assert_silent(&RULE, "CREATE DATABASE shop", ALL);
    }
}
