//! `drop-schema`: `DROP SCHEMA`, which removes a namespace and, with `CASCADE` (or on MySQL,
//! where a schema is a database), everything in it.

use sqlparser::ast::{ObjectType, Statement};

use super::{Cx, RuleInfo, name_list, name_pos};
use crate::Dialect;
use crate::fallback::Unparsed;
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "drop-schema",
    severity: Severity::Danger,
    summary: "DROP SCHEMA",
    help: "DROP SCHEMA removes a namespace, and with CASCADE (or on MySQL/MariaDB, where a \
           schema is a whole database) every table, view and function in it, with all their \
           data. This is not a data edit: do it through your schema-migration process, after a \
           backup, if at all.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    if let Statement::Drop {
        object_type: ObjectType::Schema,
        names,
        cascade,
        ..
    } = stmt
    {
        let contents = if cx.dialect == Dialect::Mysql {
            " — on MySQL/MariaDB a whole database, with every table in it"
        } else if *cascade {
            " and, with CASCADE, everything in it"
        } else {
            ""
        };
        let message = format!("`DROP SCHEMA` removes {}{contents}.", name_list(names));
        cx.report(&RULE, names.first().and_then(name_pos), message);
    }
}

pub(crate) fn check_unparsed(unparsed: &Unparsed, cx: &mut Cx<'_>) {
    if unparsed.word(0) == Some("DROP") && unparsed.object() == Some("SCHEMA") {
        cx.report(
            &RULE,
            None,
            "`DROP SCHEMA` removes a schema and possibly everything in it.",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_drop_schema() {
        assert_fires(
            &RULE,
            "DROP SCHEMA app",
            &[Dialect::Postgres, Dialect::Mysql, Dialect::Generic],
        );
        let found = hits(
            &RULE,
            "DROP SCHEMA IF EXISTS app CASCADE",
            Dialect::Postgres,
        );
        assert!(found[0].message.contains("CASCADE"));
        let found = hits(&RULE, "DROP SCHEMA app", Dialect::Mysql);
        assert!(found[0].message.contains("whole database"));
    }

    #[test]
    fn does_not_fire_on_other_statements() {
        assert_silent(&RULE, "CREATE SCHEMA app", ALL);
        assert_silent(&RULE, "DROP TABLE app.t", ALL);
    }
}
