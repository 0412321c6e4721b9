//! `procedural-code`: code the analyzer cannot see into — `CALL`, `EXECUTE`, PostgreSQL `DO`
//! blocks, and `CREATE FUNCTION`/`PROCEDURE`/`TRIGGER` (plus `CREATE EXTENSION` and MySQL
//! `CREATE EVENT`), which install code that runs later.

use sqlparser::ast::Statement;

use super::{Cx, RuleInfo, name_pos};
use crate::Dialect;
use crate::fallback::Unparsed;
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "procedural-code",
    severity: Severity::Danger,
    summary: "CALL, DO blocks, CREATE FUNCTION/PROCEDURE/TRIGGER: code the analyzer cannot see \
              into",
    help: "Stored code runs logic this analysis cannot check: CALL, EXECUTE and DO run \
           statements the analyzer does not see, and CREATE FUNCTION/PROCEDURE/TRIGGER install \
           code that runs later, on other people's changes too. Review the code itself line by \
           line — or better, write the edit as plain statements — and install routines and \
           triggers through your schema-migration process.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let (message, at) = match stmt {
        Statement::Call(function) => (
            format!(
                "`CALL {}` runs a stored procedure the analyzer cannot see into.",
                super::snippet(&function.name, 80)
            ),
            name_pos(&function.name),
        ),
        Statement::Execute { .. } => (
            "`EXECUTE` runs a statement the analyzer cannot see.".to_owned(),
            None,
        ),
        Statement::CreateFunction(function) => (
            format!(
                "`CREATE FUNCTION {}` installs code that runs later.",
                super::snippet(&function.name, 80)
            ),
            None,
        ),
        Statement::CreateProcedure { name, .. } => (
            format!(
                "`CREATE PROCEDURE {}` installs code that runs later.",
                super::snippet(name, 80)
            ),
            None,
        ),
        Statement::CreateTrigger(trigger) => (
            format!(
                "`CREATE TRIGGER {}` installs code that runs on every matching change to `{}`.",
                super::snippet(&trigger.name, 80),
                super::snippet(&trigger.table_name, 80)
            ),
            None,
        ),
        Statement::CreateMacro { .. } => ("`CREATE MACRO` installs code.".to_owned(), None),
        Statement::CreateExtension(extension) => (
            format!(
                "`CREATE EXTENSION {}` installs code into the database.",
                extension.name
            ),
            None,
        ),
        _ => return,
    };
    cx.report(&RULE, at, message);
}

pub(crate) fn check_unparsed(unparsed: &Unparsed, cx: &mut Cx<'_>) {
    let message = match (unparsed.word(0), unparsed.object()) {
        (Some("DO"), _) if cx.dialect != Dialect::Mysql => {
            "This `DO` block runs procedural code the analyzer cannot see into."
        }
        (Some("CALL" | "EXECUTE"), _) => "This statement runs code the analyzer cannot see into.",
        (Some("CREATE"), Some("FUNCTION" | "PROCEDURE" | "TRIGGER" | "EVENT" | "EXTENSION")) => {
            "This statement installs code that runs later."
        }
        _ => return,
    };
    cx.report(&RULE, None, message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_calls_and_blocks() {
        assert_fires(
            &RULE,
            "CALL archive_orders(2024)",
            &[Postgres, Mysql, Generic],
        );
        assert_fires(
            &RULE,
            "DO $$ BEGIN DELETE FROM t; END $$",
            &[Postgres, Generic],
        );
        assert_fires(&RULE, "EXECUTE purge(1)", &[Postgres]);
    }

    #[test]
    fn fires_on_stored_code_definitions() {
        for sql in [
            "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql",
            "CREATE OR REPLACE FUNCTION f() RETURNS int AS 'SELECT 1' LANGUAGE sql",
            "CREATE PROCEDURE p() LANGUAGE sql AS $$ DELETE FROM t $$",
            "CREATE TRIGGER tr BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f()",
            "CREATE EXTENSION pgcrypto",
        ] {
            assert_fires(&RULE, sql, &[Postgres]);
        }
        assert_fires(
            &RULE,
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE u SET n = 1; END",
            &[Sqlite],
        );
        assert_fires(
            &RULE,
            "CREATE PROCEDURE p() BEGIN DELETE FROM t; END",
            &[Mysql],
        );
        assert_fires(
            &RULE,
            "CREATE DEFINER=`root`@`%` TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1",
            &[Mysql],
        );
    }

    #[test]
    fn does_not_fire_on_plain_statements() {
        assert_silent(&RULE, "SELECT f(1)", ALL);
        assert_silent(&RULE, "CREATE TABLE procedures (id int)", ALL);
        assert_silent(&RULE, "UPDATE t SET note = 'CALL me' WHERE id = 1", ALL);
    }
}
