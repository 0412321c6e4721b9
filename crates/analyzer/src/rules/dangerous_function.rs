//! `dangerous-function`: a call, anywhere in a statement, of a function that acts outside the
//! data — on other sessions, the server's files or configuration, other databases, time or
//! locks that outlive the transaction. Matched on the function's own name (the last part of a
//! qualified name), case-insensitively, in every dialect: the names are distinctive enough.

use sqlparser::ast::{ObjectName, ObjectNamePart};

use super::{Cx, RuleInfo, name_pos};
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "dangerous-function",
    severity: Severity::Danger,
    summary: "A call of a function that acts outside the data: pg_terminate_backend, \
              pg_cancel_backend, pg_reload_conf, pg_sleep, pg_read_file, lo_import, lo_export, \
              dblink*, set_config; MySQL SLEEP, BENCHMARK, LOAD_FILE, GET_LOCK",
    help: "These functions act outside the rows the edit is about: on other sessions, the \
           server's files or configuration, other databases, or time and locks. Their effects \
           are not undone when the transaction rolls back and the row-count guard cannot see \
           them. Remove the call; if it is really needed, it is an operations task, not a data \
           edit.",
};

/// Each function, and what it does that a reviewer must know.
const FUNCTIONS: &[(&str, &str)] = &[
    ("pg_terminate_backend", "ends other database sessions"),
    ("pg_cancel_backend", "cancels other sessions' queries"),
    ("pg_reload_conf", "reloads the server's configuration"),
    (
        "pg_sleep",
        "keeps the transaction and its locks open while it waits",
    ),
    (
        "pg_sleep_for",
        "keeps the transaction and its locks open while it waits",
    ),
    (
        "pg_sleep_until",
        "keeps the transaction and its locks open while it waits",
    ),
    ("pg_read_file", "reads files on the database server"),
    ("pg_read_binary_file", "reads files on the database server"),
    ("pg_ls_dir", "lists files on the database server"),
    ("pg_stat_file", "inspects files on the database server"),
    ("lo_import", "reads a file on the database server"),
    ("lo_export", "writes a file on the database server"),
    (
        "set_config",
        "changes a server setting for the rest of the session",
    ),
    (
        "pg_advisory_lock",
        "takes a lock that outlives the transaction",
    ),
    (
        "pg_advisory_lock_shared",
        "takes a lock that outlives the transaction",
    ),
    ("pg_promote", "promotes a standby server"),
    ("pg_switch_wal", "forces a write-ahead-log switch"),
    (
        "sleep",
        "keeps the transaction and its locks open while it waits",
    ),
    ("benchmark", "burns CPU on the database server"),
    ("load_file", "reads files on the database server"),
    ("get_lock", "takes a lock that outlives the transaction"),
    ("load_extension", "loads native code into the database"),
    ("readfile", "reads files on the database server"),
    ("writefile", "writes files on the database server"),
];

/// Checks a call by its name alone, as for a function in a `FROM` clause.
pub(crate) fn check_name(name: &ObjectName, cx: &mut Cx<'_>) {
    let Some(ObjectNamePart::Identifier(ident)) = name.0.last() else {
        return;
    };
    let Some(effect) = effect(&ident.value) else {
        return;
    };
    let message = format!("`{}(…)` {effect}.", ident.value);
    cx.report(&RULE, name_pos(name), message);
}

/// Whether the function `name` is one this rule fires on.
pub(crate) fn is_dangerous(name: &ObjectName) -> bool {
    matches!(name.0.last(), Some(ObjectNamePart::Identifier(ident)) if effect(&ident.value).is_some())
}

/// What the function of this (unqualified) name does outside the data, if it is listed.
fn effect(function: &str) -> Option<&'static str> {
    let lower = function.to_ascii_lowercase();
    if lower.starts_with("dblink") {
        Some("runs SQL on another database, outside this transaction")
    } else {
        FUNCTIONS
            .iter()
            .find(|(known, _)| *known == lower)
            .map(|(_, effect)| *effect)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_calls_anywhere_in_a_statement() {
        assert_fires(
            &RULE,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
            &[Postgres],
        );
        assert_fires(
            &RULE,
            "UPDATE t SET a = 1 WHERE id = (SELECT pg_sleep(5))",
            &[Postgres],
        );
        assert_fires(
            &RULE,
            "DELETE FROM t WHERE id IN (SELECT id FROM dblink('x', 'y') AS r(id int))",
            &[Postgres],
        );
        assert_fires(
            &RULE,
            "SELECT set_config('search_path', 'x', false)",
            &[Postgres],
        );
        assert_fires(
            &RULE,
            "INSERT INTO t (a) VALUES (lo_import('/etc/passwd'))",
            &[Postgres],
        );
        assert_fires(&RULE, "SELECT pg_catalog.pg_reload_conf()", &[Postgres]);
        for sql in [
            "SELECT SLEEP(10)",
            "SELECT BENCHMARK(1000000, MD5('x'))",
            "SELECT LOAD_FILE('/etc/passwd')",
            "SELECT GET_LOCK('x', 10)",
        ] {
            assert_fires(&RULE, sql, &[Mysql, Generic]);
        }
    }

    #[test]
    fn points_at_the_call_and_fires_once_per_call() {
        let found = hits(&RULE, "SELECT 1,\n  pg_sleep(1), pg_sleep(2)", Postgres);
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].line, found[0].column), (2, 3));
    }

    #[test]
    fn does_not_fire_on_ordinary_functions_names_or_strings() {
        assert_silent(&RULE, "SELECT now(), lower(name), count(*) FROM t", ALL);
        assert_silent(&RULE, "SELECT 'pg_sleep(1)' -- pg_sleep(1)", ALL);
        assert_silent(&RULE, "SELECT pg_sleep FROM t", &[Postgres]);
    }
}
