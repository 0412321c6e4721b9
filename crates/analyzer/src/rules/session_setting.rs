//! `session-setting`: `SET` (and `RESET`, SQLite `PRAGMA`) of a session or global variable.
//! Some settings quietly switch off the database's own protections; the message names what
//! the well-known ones do. MySQL user variables (`SET @x = 1`) are plain values, not settings.
//! A setting that changes how SQL is read (`sql_mode`, `standard_conforming_strings`) is a
//! `lexing-setting` instead.

use sqlparser::ast::{ContextModifier, ObjectName, Reset, Set, Statement};

use super::{Cx, RuleInfo, lexing_setting};
use crate::Dialect;
use crate::fallback::Unparsed;
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "session-setting",
    severity: Severity::Warning,
    summary: "SET of a session or global variable (for example session_replication_role, which \
              turns off triggers and foreign keys)",
    help: "Settings change how the rest of the script runs, often silently: \
           session_replication_role = replica or FOREIGN_KEY_CHECKS = 0 turn off triggers and \
           foreign keys, sql_log_bin = 0 hides the changes from replicas, a timeout setting \
           overrides the target policy's limits, and SET GLOBAL changes every session on the \
           server. Remove the setting unless the edit really needs it, and explain why in the \
           intent.",
};

/// Well-known settings and what changing them does.
const KNOWN: &[(&str, &str)] = &[
    (
        "session_replication_role",
        "turns off triggers and foreign-key checks",
    ),
    ("foreign_key_checks", "turns off foreign-key checks"),
    ("foreign_keys", "turns foreign-key enforcement on or off"),
    ("unique_checks", "turns off unique checks"),
    (
        "sql_safe_updates",
        "turns off the guard against UPDATE/DELETE without a key",
    ),
    (
        "sql_log_bin",
        "keeps the changes out of the binary log and replicas",
    ),
    ("sql_mode", "changes how strictly data is validated"),
    (
        "statement_timeout",
        "overrides the target policy's time limit",
    ),
    ("lock_timeout", "overrides the target policy's lock limit"),
    (
        "idle_in_transaction_session_timeout",
        "changes how long the transaction may idle",
    ),
    (
        "max_execution_time",
        "overrides the target policy's time limit",
    ),
    (
        "innodb_lock_wait_timeout",
        "overrides the target policy's lock limit",
    ),
    (
        "lock_wait_timeout",
        "overrides the target policy's lock limit",
    ),
    (
        "search_path",
        "changes which tables unqualified names refer to",
    ),
    (
        "role",
        "changes the privileges the rest of the script runs with",
    ),
    (
        "session_authorization",
        "changes the user the rest of the script runs as",
    ),
];

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    match stmt {
        Statement::Set(set) => match set {
            Set::SingleAssignment {
                scope, variable, ..
            } => setting(cx, variable, *scope),
            Set::ParenthesizedAssignments { variables, .. } => {
                for variable in variables {
                    setting(cx, variable, None);
                }
            }
            Set::MultipleAssignments { assignments } => {
                for assignment in assignments {
                    setting(cx, &assignment.name, assignment.scope);
                }
            }
            Set::SetRole { .. } => report(cx, "ROLE", Some("role"), false),
            Set::SetSessionAuthorization(_) => {
                report(
                    cx,
                    "SESSION AUTHORIZATION",
                    Some("session_authorization"),
                    false,
                );
            }
            Set::SetTimeZone { .. } => report(cx, "TIME ZONE", None, false),
            Set::SetNames { .. } | Set::SetNamesDefault {} => report(cx, "NAMES", None, false),
            Set::SetSessionParam(_) => report(cx, "a session parameter", None, false),
            Set::SetTransaction { .. } => {}
        },
        Statement::Reset(reset) => match &reset.reset {
            Reset::ConfigurationParameter(name)
                if lexing_setting::is_lexing_setting(
                    &name.to_string().to_ascii_lowercase(),
                    cx.dialect,
                ) =>
            {
                lexing_setting::report(cx, &format!("RESET {name}"));
            }
            _ => report(cx, "RESET", None, false),
        },
        Statement::Pragma { name, .. } => {
            let name = name.to_string();
            let known = name.rsplit('.').next().map(str::to_ascii_lowercase);
            report(cx, &format!("PRAGMA {name}"), known.as_deref(), false);
        }
        _ => {}
    }
}

pub(crate) fn check_unparsed(unparsed: &Unparsed, cx: &mut Cx<'_>) {
    match unparsed.word(0) {
        Some("SET") if !matches!(unparsed.word(1), Some("TRANSACTION" | "PASSWORD")) => {
            // Any leading word naming a lexing setting: `SET PERSIST sql_mode`,
            // `SET @@GLOBAL.sql_mode := …`, `SET a = 1, sql_mode = …`.
            let lexing = (1..)
                .map_while(|i| (i < unparsed.len()).then(|| unparsed.word(i)))
                .flatten()
                .map(system_variable_name)
                .find(|name| lexing_setting::is_lexing_setting(name, cx.dialect));
            if let Some(name) = lexing {
                lexing_setting::report(cx, &format!("SET {name}"));
                return;
            }
            let name = unparsed.word(1).map(system_variable_name);
            report(cx, "SET", name.as_deref(), false);
        }
        Some("RESET") => match unparsed.word(1).map(str::to_ascii_lowercase) {
            Some(name) if lexing_setting::is_lexing_setting(&name, cx.dialect) => {
                lexing_setting::report(cx, &format!("RESET {name}"));
            }
            _ => report(cx, "RESET", None, false),
        },
        Some("PRAGMA") => {
            let name = unparsed.word(1).map(str::to_ascii_lowercase);
            report(cx, "PRAGMA", name.as_deref(), false);
        }
        _ => {}
    }
}

/// A setting's name as written in a `SET` the parser rejected, lower-cased and without
/// MySQL's `@@`, `@@session.` or `@@global.`.
fn system_variable_name(word: &str) -> String {
    let lower = word.to_ascii_lowercase();
    let name = lower.strip_prefix("@@").unwrap_or(&lower);
    let name = ["session.", "global.", "local."]
        .iter()
        .find_map(|scope| name.strip_prefix(scope))
        .unwrap_or(name);
    name.to_owned()
}

/// Reports `SET <variable>` unless it is a user variable or MySQL's `autocommit` (a matter
/// for `transaction-control`).
fn setting(cx: &mut Cx<'_>, variable: &ObjectName, scope: Option<ContextModifier>) {
    let written = variable.to_string();
    let (mut global, name) = match written.strip_prefix("@@") {
        Some(system) => {
            let lower = system.to_ascii_lowercase();
            match lower.split_once('.') {
                Some(("global", name)) => (true, name.to_owned()),
                Some(("session" | "local", name)) => (false, name.to_owned()),
                _ => (false, lower),
            }
        }
        None if written.starts_with('@') => return,
        None => (false, written.to_ascii_lowercase()),
    };
    if name == "autocommit" && cx.dialect != Dialect::Postgres {
        return;
    }
    if lexing_setting::is_lexing_setting(&name, cx.dialect) {
        lexing_setting::report(cx, &format!("SET {written}"));
        return;
    }
    global |= scope == Some(ContextModifier::Global);
    report(cx, &written, Some(&name), global);
}

fn report(cx: &mut Cx<'_>, written: &str, name: Option<&str>, global: bool) {
    let effect = name.and_then(|name| KNOWN.iter().find(|(known, _)| *known == name));
    let scope = if global {
        "for every session on the server"
    } else {
        "for the rest of the script"
    };
    let message = match effect {
        Some((_, effect)) => format!("`SET {written}` {effect}, {scope}."),
        None if written.starts_with("PRAGMA") || written == "RESET" || written == "SET" => {
            format!("`{written}` changes a setting {scope}.")
        }
        None => format!("`SET {written}` changes a setting {scope}."),
    };
    cx.report(&RULE, None, message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_settings_and_names_the_known_ones() {
        let found = hits(&RULE, "SET session_replication_role = replica", Postgres);
        assert!(
            found[0].message.contains("turns off triggers"),
            "{}",
            found[0].message
        );
        let found = hits(&RULE, "SET GLOBAL max_connections = 10", Mysql);
        assert!(
            found[0].message.contains("every session"),
            "{}",
            found[0].message
        );
        let found = hits(&RULE, "SET FOREIGN_KEY_CHECKS = 0", Mysql);
        assert!(
            found[0].message.contains("foreign-key"),
            "{}",
            found[0].message
        );
        assert_fires(&RULE, "SET @@session.sql_log_bin = 0", &[Mysql]);
        assert_fires(&RULE, "SET LOCAL statement_timeout = 0", &[Postgres]);
        assert_fires(&RULE, "SET search_path TO app", &[Postgres]);
        assert_fires(&RULE, "SET ROLE admin", &[Postgres]);
        assert_fires(&RULE, "SET NAMES utf8mb4", &[Mysql]);
        assert_fires(&RULE, "RESET ALL", &[Postgres]);
        assert_fires(&RULE, "PRAGMA foreign_keys = OFF", &[Sqlite]);
        let found = hits(&RULE, "SET @@GLOBAL.max_connections := 10", Mysql);
        assert!(
            !found[0].message.contains("SET SET"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn does_not_fire_on_user_variables_transactions_or_updates() {
        assert_silent(&RULE, "SET @n = 1", &[Mysql]);
        assert_silent(&RULE, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", ALL);
        assert_silent(&RULE, "SET autocommit = 0", &[Mysql]);
        assert_silent(&RULE, "UPDATE t SET a = 1 WHERE id = 1", ALL);
    }
}
