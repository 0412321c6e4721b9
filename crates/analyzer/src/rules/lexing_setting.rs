//! `lexing-setting`: a change of a setting that changes how the server reads SQL text — MySQL's
//! `sql_mode` (`ANSI_QUOTES` makes `"…"` a name, `NO_BACKSLASH_ESCAPES` changes strings,
//! `PIPES_AS_CONCAT`, `IGNORE_SPACE`, …), PostgreSQL's `standard_conforming_strings` and
//! `backslash_quote` — in any form: `SET`, `SET SESSION`/`GLOBAL`/`LOCAL`, `SET @@…`, `RESET`,
//! `set_config('…', …)`, and inside a MySQL executable comment. The system pins these settings
//! for a run, and the analyzer reads the script as they are pinned: a script that changes
//! them would run as something other than what was analyzed and reviewed, so it is refused.
//!
//! `escape_string_warning` only changes a warning, not the reading, so it stays a
//! `session-setting`. `session-setting` does not fire where this rule does.

use sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectNamePart, Value,
};

use super::{Cx, RuleInfo};
use crate::Dialect;
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "lexing-setting",
    severity: Severity::Error,
    summary: "A change of a setting that changes how SQL is read: MySQL sql_mode, PostgreSQL \
              standard_conforming_strings or backslash_quote",
    help: "These settings change how the server reads the text of the statements that follow \
           — what a quote, a backslash or `||` means — so the same script can run as \
           something other than what was analyzed and reviewed. The system pins them for the \
           run and analyzes the script as they are pinned. Remove the setting from the script; \
           if the edit needs a different reading, write it for the pinned one.",
};

/// Whether `name` (lower case, without `@@` or scope) is a setting that changes how
/// `dialect` reads SQL text. The generic dialect assumes every database's.
pub(crate) fn is_lexing_setting(name: &str, dialect: Dialect) -> bool {
    let mysql = name == "sql_mode";
    let postgres = matches!(name, "standard_conforming_strings" | "backslash_quote");
    match dialect {
        Dialect::Mysql => mysql,
        Dialect::Postgres => postgres,
        Dialect::Sqlite => false,
        Dialect::Generic => mysql || postgres,
    }
}

/// Reports the change of a lexing setting, written as `written` (`SET sql_mode`, …).
pub(crate) fn report(cx: &mut Cx<'_>, written: &str) {
    let message = format!(
        "`{written}` changes how the server reads SQL text; the system pins this setting for \
         the run, and the analyzer's reading of the script depends on it."
    );
    cx.report(&RULE, None, message);
}

/// PostgreSQL's `set_config('standard_conforming_strings', …)`.
pub(crate) fn check_function(function: &Function, cx: &mut Cx<'_>) {
    let is_set_config = matches!(
        function.name.0.last(),
        Some(ObjectNamePart::Identifier(ident)) if ident.value.eq_ignore_ascii_case("set_config")
    );
    if !is_set_config || cx.dialect == Dialect::Sqlite {
        return;
    }
    let FunctionArguments::List(list) = &function.args else {
        return;
    };
    let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(value)))) = list.args.first()
    else {
        return;
    };
    let (Value::SingleQuotedString(name) | Value::EscapedStringLiteral(name)) = &value.value else {
        return;
    };
    let name = name.trim().to_ascii_lowercase();
    if is_lexing_setting(&name, cx.dialect) {
        report(cx, &format!("set_config('{name}', …)"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::session_setting;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_sql_mode_in_every_form_on_mysql() {
        for sql in [
            "SET sql_mode = 'ANSI_QUOTES'",
            "SET SESSION sql_mode = ''",
            "SET GLOBAL sql_mode = ''",
            "SET LOCAL sql_mode = ''",
            "SET @@sql_mode = 'NO_BACKSLASH_ESCAPES'",
            "SET @@session.sql_mode = ''",
            "SET @@global.sql_mode = ''",
            "SET SQL_MODE = ''",
            "/*!40101 SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */",
            "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='' */",
        ] {
            assert_fires(&RULE, sql, &[Mysql]);
            assert_silent(&session_setting::RULE, sql, &[Mysql]);
        }
        assert_fires(&RULE, "SET a_var = 1, sql_mode = ''", &[Mysql]);
        // Forms the parser rejects.
        assert_fires(&RULE, "SET PERSIST sql_mode = ''", &[Mysql]);
        assert_fires(&RULE, "SET @@GLOBAL.sql_mode := ''", &[Mysql]);
    }

    #[test]
    fn fires_on_postgres_string_settings() {
        for sql in [
            "SET standard_conforming_strings = off",
            "SET standard_conforming_strings TO off",
            "SET SESSION standard_conforming_strings = off",
            "SET LOCAL backslash_quote = on",
            "RESET standard_conforming_strings",
            "SELECT set_config('standard_conforming_strings', 'off', false)",
        ] {
            assert_fires(&RULE, sql, &[Postgres, Generic]);
        }
        let found = hits(&RULE, "SET standard_conforming_strings = off", Postgres);
        assert!(found[0].message.contains("pins"), "{}", found[0].message);
        assert_silent(
            &session_setting::RULE,
            "SET standard_conforming_strings = off",
            &[Postgres],
        );
    }

    #[test]
    fn does_not_fire_on_other_settings_or_dialects() {
        assert_silent(&RULE, "SET search_path TO app", ALL);
        assert_silent(&RULE, "SET escape_string_warning = off", &[Postgres]);
        assert_silent(&RULE, "SET @sql_mode = 'x'", &[Mysql]);
        assert_silent(&RULE, "SELECT @@sql_mode", &[Mysql]);
        assert_silent(&RULE, "SET standard_conforming_strings = off", &[Mysql]);
        assert_silent(&RULE, "SET sql_mode = ''", &[Postgres]);
        assert_silent(
            &RULE,
            "SELECT set_config('search_path', 'x', false)",
            &[Postgres],
        );
        assert_silent(&RULE, "UPDATE t SET sql_mode = 'x' WHERE id = 1", ALL);
        assert_fires(
            &session_setting::RULE,
            "SET search_path TO app",
            &[Postgres],
        );
    }
}
