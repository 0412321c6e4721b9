//! The rule catalogue: every rule's id, severity, summary and help, and the dispatch that runs
//! them all over one statement in a single walk.
//!
//! Each rule lives in its own module and owns its decision and its wording. A rule is one or
//! more of:
//! - a statement check, called for the top-level statement and for every statement nested in
//!   it that runs now (a data-modifying CTE, the statement of `EXPLAIN ANALYZE`), but not for
//!   statements that are only stored for later (a trigger or routine body, `PREPARE`);
//! - a function-call check, called for every function call anywhere in a statement (and told
//!   whether the call runs now);
//! - a classified check, called once for the top-level statement after the walk, with the
//!   kind the walk found for it (the strongest thing it does);
//! - an unparsed check, called for a statement the parser rejected, with its leading keywords
//!   (from the token stream, so never fooled by comments or strings);
//! - a script check, run by the driver (`parse-error`, `empty-script`, `multiple-statements`,
//!   `executable-comment`, `implicit-commit-mixed`).
//!
//! Ids are a contract: policies (`blocked_rules`) and CI scripts name them. Never rename one.

use std::collections::HashSet;
use std::fmt;

use serde::Serialize;
use sqlparser::ast::{Function, ObjectName, Statement as AstStatement};
use sqlparser::tokenizer::Span;

use crate::Dialect;
use crate::fallback::Unparsed;
use crate::report::{Finding, Severity, StatementKind};
use crate::source::Pos;

pub(crate) mod alter_table;
pub(crate) mod calls_unknown_function;
pub(crate) mod copy_or_load;
pub(crate) mod create_index_blocking;
pub(crate) mod create_object;
pub(crate) mod dangerous_function;
pub(crate) mod ddl_implicit_commit;
pub(crate) mod delete_without_where;
pub(crate) mod drop_column;
pub(crate) mod drop_database;
pub(crate) mod drop_other;
pub(crate) mod drop_schema;
pub(crate) mod drop_table;
pub(crate) mod empty_script;
pub(crate) mod executable_comment;
pub(crate) mod grant_revoke;
pub(crate) mod implicit_commit_mixed;
pub(crate) mod insert_from_select;
pub(crate) mod insert_without_columns;
pub(crate) mod lexing_setting;
pub(crate) mod limit_without_order_by;
pub(crate) mod lock_table;
pub(crate) mod multiple_statements;
pub(crate) mod non_transactional;
pub(crate) mod parse_error;
pub(crate) mod procedural_code;
pub(crate) mod rename;
pub(crate) mod role_management;
pub(crate) mod select_in_script;
pub(crate) mod session_setting;
pub(crate) mod transaction_control;
pub(crate) mod truncate;
pub(crate) mod update_with_join;
pub(crate) mod update_without_where;
pub(crate) mod where_always_true;
pub(crate) mod where_nearly_always_true;

#[cfg(test)]
pub(crate) mod testing;

/// A rule of the catalogue, as policies and documentation see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// Stable kebab-case id, e.g. `update-without-where`.
    pub id: &'static str,
    /// The severity of every finding of this rule.
    pub severity: Severity,
    /// One line: what the rule fires on.
    pub summary: &'static str,
    /// For a reviewer: why it matters and what a safer form looks like.
    pub help: &'static str,
}

/// Every rule, in the order of the catalogue in `docs/rules.md`; the rules added in wave 2
/// (`lexing-setting`, `implicit-commit-mixed`, `executable-comment`, `calls-unknown-function`,
/// `where-nearly-always-true`) sit beside their kin of the same severity.
static RULES: [RuleInfo; 36] = [
    parse_error::RULE,
    empty_script::RULE,
    transaction_control::RULE,
    non_transactional::RULE,
    lexing_setting::RULE,
    implicit_commit_mixed::RULE,
    update_without_where::RULE,
    delete_without_where::RULE,
    where_always_true::RULE,
    truncate::RULE,
    drop_table::RULE,
    drop_schema::RULE,
    drop_database::RULE,
    drop_column::RULE,
    grant_revoke::RULE,
    role_management::RULE,
    dangerous_function::RULE,
    copy_or_load::RULE,
    procedural_code::RULE,
    executable_comment::RULE,
    alter_table::RULE,
    rename::RULE,
    drop_other::RULE,
    create_index_blocking::RULE,
    ddl_implicit_commit::RULE,
    session_setting::RULE,
    lock_table::RULE,
    limit_without_order_by::RULE,
    insert_without_columns::RULE,
    insert_from_select::RULE,
    update_with_join::RULE,
    calls_unknown_function::RULE,
    where_nearly_always_true::RULE,
    create_object::RULE,
    select_in_script::RULE,
    multiple_statements::RULE,
];

/// Every rule the analyzer has, for validating rule names (a policy's `blocked_rules`) and
/// for documentation.
pub fn rules() -> &'static [RuleInfo] {
    &RULES
}

/// The rule with this id, if there is one.
pub fn rule(id: &str) -> Option<&'static RuleInfo> {
    RULES.iter().find(|rule| rule.id == id)
}

/// What the analyzer remembers from earlier statements of the same script.
#[derive(Debug, Default)]
pub(crate) struct ScriptState {
    /// Tables created earlier in the script (lower-cased names as written).
    pub created_tables: HashSet<String>,
}

/// Where a statement check runs: which statement, and where findings go.
pub(crate) struct Cx<'a> {
    pub dialect: Dialect,
    /// 0-based index of the top-level statement.
    pub statement: usize,
    /// Where the top-level statement starts.
    pub start: Pos,
    /// Where the statement node being checked starts (its keyword when nested, else `start`).
    pub anchor: Pos,
    /// Whether the statement node being checked is nested inside the top-level statement.
    pub nested: bool,
    pub script: &'a ScriptState,
    pub findings: &'a mut Vec<Finding>,
}

impl RuleInfo {
    /// A finding of this rule.
    pub(crate) fn finding(&self, statement: usize, at: Pos, message: String) -> Finding {
        Finding {
            rule: self.id.to_owned(),
            severity: self.severity,
            message,
            help: self.help.to_owned(),
            statement,
            line: at.line,
            column: at.column,
        }
    }
}

impl Cx<'_> {
    /// Records a finding of `rule` at `at` (a position inside the statement), or at the
    /// statement node's start where `at` is unknown or outside the statement.
    pub fn report(&mut self, rule: &RuleInfo, at: Option<Pos>, message: impl Into<String>) {
        let at = at.filter(|&pos| pos >= self.start).unwrap_or(self.anchor);
        self.findings
            .push(rule.finding(self.statement, at, message.into()));
    }
}

/// Runs every statement check over one statement node.
pub(crate) fn check_statement(stmt: &AstStatement, cx: &mut Cx<'_>) {
    transaction_control::check(stmt, cx);
    non_transactional::check(stmt, cx);
    update_without_where::check(stmt, cx);
    delete_without_where::check(stmt, cx);
    where_always_true::check(stmt, cx);
    truncate::check(stmt, cx);
    drop_table::check(stmt, cx);
    drop_schema::check(stmt, cx);
    drop_database::check(stmt, cx);
    drop_column::check(stmt, cx);
    grant_revoke::check(stmt, cx);
    role_management::check(stmt, cx);
    copy_or_load::check(stmt, cx);
    procedural_code::check(stmt, cx);
    alter_table::check(stmt, cx);
    rename::check(stmt, cx);
    drop_other::check(stmt, cx);
    create_index_blocking::check(stmt, cx);
    ddl_implicit_commit::check(stmt, cx);
    session_setting::check(stmt, cx);
    lock_table::check(stmt, cx);
    limit_without_order_by::check(stmt, cx);
    insert_without_columns::check(stmt, cx);
    insert_from_select::check(stmt, cx);
    update_with_join::check(stmt, cx);
    create_object::check(stmt, cx);
}

/// Runs the checks that judge a whole top-level statement once the walk has classified it.
pub(crate) fn check_classified(stmt: &AstStatement, kind: StatementKind, cx: &mut Cx<'_>) {
    select_in_script::check(stmt, kind, cx);
}

/// Runs every function-call check over one call, anywhere in a statement or in code it only
/// stores (`runs_now` is false there). Returns whether the call runs now and is of a function
/// the analyzer cannot see into, which may change data.
pub(crate) fn check_function(function: &Function, runs_now: bool, cx: &mut Cx<'_>) -> bool {
    lexing_setting::check_function(function, cx);
    check_table_function(&function.name, runs_now, cx)
}

/// Runs every function-call check over a call known by its name alone, as in a `FROM` clause.
pub(crate) fn check_table_function(name: &ObjectName, runs_now: bool, cx: &mut Cx<'_>) -> bool {
    dangerous_function::check_name(name, cx);
    runs_now && calls_unknown_function::check(name, cx)
}

/// Runs the checks that can judge a statement the parser rejected from its leading keywords.
pub(crate) fn check_unparsed(unparsed: &Unparsed, cx: &mut Cx<'_>) {
    transaction_control::check_unparsed(unparsed, cx);
    non_transactional::check_unparsed(unparsed, cx);
    truncate::check_unparsed(unparsed, cx);
    alter_table::check_unparsed(unparsed, cx);
    drop_column::check_unparsed(unparsed, cx);
    drop_table::check_unparsed(unparsed, cx);
    drop_schema::check_unparsed(unparsed, cx);
    drop_database::check_unparsed(unparsed, cx);
    grant_revoke::check_unparsed(unparsed, cx);
    role_management::check_unparsed(unparsed, cx);
    copy_or_load::check_unparsed(unparsed, cx);
    procedural_code::check_unparsed(unparsed, cx);
    rename::check_unparsed(unparsed, cx);
    drop_other::check_unparsed(unparsed, cx);
    ddl_implicit_commit::check_unparsed(unparsed, cx);
    session_setting::check_unparsed(unparsed, cx);
    lock_table::check_unparsed(unparsed, cx);
}

/// The position where a span starts, if the parser recorded one.
pub(crate) fn span_pos(span: Span) -> Option<Pos> {
    Pos::from_location(span.start)
}

/// The position of a (possibly qualified) name: its first part.
pub(crate) fn name_pos(name: &ObjectName) -> Option<Pos> {
    name.0
        .first()
        .and_then(|part| part.as_ident())
        .and_then(|ident| span_pos(ident.span))
}

/// The statement's leading keywords for a message, e.g. `ALTER TABLE`.
pub(crate) fn statement_label(kind: StatementKind) -> String {
    match kind {
        StatementKind::CreateOther => "CREATE".into(),
        StatementKind::AlterOther => "ALTER".into(),
        StatementKind::DropOther => "DROP".into(),
        StatementKind::ReleaseSavepoint => "RELEASE SAVEPOINT".into(),
        StatementKind::Other => "this statement".into(),
        kind => kind.as_str().replace('_', " ").to_ascii_uppercase(),
    }
}

/// `a`, `b` and `c` — names for a message, at most five, then how many more.
pub(crate) fn name_list<I>(names: I) -> String
where
    I: IntoIterator,
    I::Item: fmt::Display,
{
    const SHOWN: usize = 5;
    let mut shown = Vec::new();
    let mut more = 0usize;
    for name in names {
        if shown.len() < SHOWN {
            shown.push(format!("`{}`", snippet(&name, 80)));
        } else {
            more += 1;
        }
    }
    let mut list = match shown.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] if more == 0 => format!("{} and {last}", init.join(", ")),
        all => all.join(", "),
    };
    if more > 0 {
        list.push_str(&format!(" and {more} more"));
    }
    list
}

/// The first `max` characters of a value's SQL text, with `…` where it was cut. Formatting
/// stops as soon as the limit is reached, so a huge expression costs no more than a small one.
pub(crate) fn snippet(value: &impl fmt::Display, max: usize) -> String {
    struct Bounded {
        text: String,
        room: usize,
        cut: bool,
    }
    impl fmt::Write for Bounded {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for c in s.chars() {
                if self.room == 0 {
                    self.cut = true;
                    return Err(fmt::Error);
                }
                self.text.push(c);
                self.room -= 1;
            }
            Ok(())
        }
    }
    let mut out = Bounded {
        text: String::new(),
        room: max,
        cut: false,
    };
    // An error here only means the limit was reached.
    let _ = fmt::write(&mut out, format_args!("{value}"));
    if out.cut {
        out.text.push('…');
    }
    out.text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_documented() {
        let mut seen = HashSet::new();
        for rule in rules() {
            assert!(seen.insert(rule.id), "duplicate id {}", rule.id);
            assert!(
                rule.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{} is not kebab-case",
                rule.id
            );
            assert!(
                !rule.summary.is_empty() && rule.help.len() > 60,
                "{}",
                rule.id
            );
        }
        assert_eq!(rule("truncate").map(|r| r.severity), Some(Severity::Danger));
        assert!(rule("no-such-rule").is_none());
    }

    #[test]
    fn severities_match_the_catalogue() {
        use Severity::*;
        let expected = [
            ("parse-error", Danger),
            ("empty-script", Error),
            ("transaction-control", Error),
            ("non-transactional", Error),
            ("lexing-setting", Error),
            ("implicit-commit-mixed", Error),
            ("update-without-where", Danger),
            ("delete-without-where", Danger),
            ("where-always-true", Danger),
            ("truncate", Danger),
            ("drop-table", Danger),
            ("drop-schema", Danger),
            ("drop-database", Danger),
            ("drop-column", Danger),
            ("grant-revoke", Danger),
            ("role-management", Danger),
            ("dangerous-function", Danger),
            ("copy-or-load", Danger),
            ("procedural-code", Danger),
            ("executable-comment", Danger),
            ("alter-table", Warning),
            ("rename", Warning),
            ("drop-other", Warning),
            ("create-index-blocking", Warning),
            ("ddl-implicit-commit", Warning),
            ("session-setting", Warning),
            ("lock-table", Warning),
            ("limit-without-order-by", Warning),
            ("insert-without-columns", Warning),
            ("insert-from-select", Warning),
            ("update-with-join", Warning),
            ("calls-unknown-function", Warning),
            ("where-nearly-always-true", Warning),
            ("create-object", Info),
            ("select-in-script", Info),
            ("multiple-statements", Info),
        ];
        let actual: Vec<_> = rules().iter().map(|r| (r.id, r.severity)).collect();
        assert_eq!(actual, expected);
    }

    #[test]
    fn name_lists_read_naturally() {
        assert_eq!(name_list(["a"]), "`a`");
        assert_eq!(name_list(["a", "b", "c"]), "`a`, `b` and `c`");
        assert_eq!(
            name_list(["a", "b", "c", "d", "e", "f", "g"]),
            "`a`, `b`, `c`, `d`, `e` and 2 more"
        );
    }

    #[test]
    fn snippets_are_bounded() {
        assert_eq!(snippet(&"abc", 5), "abc");
        assert_eq!(snippet(&"abcdef", 3), "abc…");
    }
}
