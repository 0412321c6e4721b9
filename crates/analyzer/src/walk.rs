//! The single walk over one parsed statement: it runs every rule on every statement node and
//! function call, collects the names of the tables the statement reads or writes, and
//! classifies the statement by the strongest thing anything in it does — a data-modifying CTE
//! under a `SELECT` makes it an `update`, the `DELETE` of an `EXPLAIN ANALYZE` a `delete`, a
//! call of a function the analyzer cannot see into a `SELECT` a `call`.
//!
//! The walk uses `sqlparser`'s `Visitor`, whose recursion grows the stack on demand
//! (`recursive-protection`); the callbacks here never recurse themselves.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, ObjectName, Query, Statement as AstStatement, TableFactor, Visit, Visitor,
};

use crate::report::StatementKind;
use crate::rules::{self, Cx, span_pos};
use crate::source::Pos;
use crate::summary::{describe, explain_runs, strength};

/// Up to this many tables, a statement's list of tables is searched for a name; past it, a set
/// of the names is kept beside the list.
const SEARCHED_TABLES: usize = 8;

/// Walks `stmt`, whose own kind is `kind`, reporting findings through `cx` and adding the
/// tables it names to `tables` (the ones it writes first, then in order of appearance, each
/// once). Returns the statement's kind: the strongest of what it and everything in it that
/// runs now does.
pub(crate) fn walk(
    stmt: &AstStatement,
    kind: StatementKind,
    cx: Cx<'_>,
    tables: &mut Vec<String>,
) -> StatementKind {
    let seen = if tables.len() > SEARCHED_TABLES {
        tables.iter().cloned().collect()
    } else {
        HashSet::new()
    };
    let definition = match stmt {
        AstStatement::CreateView(view) if !view.materialized => Definition::View,
        AstStatement::CreateTable(_) | AstStatement::CreateView(_) => Definition::Table,
        _ => Definition::None,
    };
    let mut walker = Walker {
        cx,
        depth: 0,
        defers: Vec::new(),
        deferred: 0,
        tables,
        seen,
        ctes: HashSet::new(),
        function_relation: false,
        kind,
        definition,
        queries: 0,
    };
    // The walker never breaks.
    let _ = stmt.visit(&mut walker);
    let kind = walker.kind;
    let mut cx = walker.cx;
    cx.nested = false;
    cx.anchor = cx.start;
    rules::check_classified(stmt, kind, &mut cx);
    kind
}

/// Whether a top-level statement defines an object whose expressions run later, if at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Definition {
    None,
    /// `CREATE VIEW`: its query runs when the view is read.
    View,
    /// `CREATE TABLE` (or a materialized view): only its query (`AS SELECT …`) runs now, not
    /// its column defaults or checks.
    Table,
}

struct Walker<'a, 'b> {
    cx: Cx<'a>,
    /// How many statement nodes enclose the current position.
    depth: usize,
    /// For each enclosing statement node, whether its nested statements only run later.
    defers: Vec<bool>,
    /// How many enclosing statement nodes defer their nested statements.
    deferred: usize,
    tables: &'b mut Vec<String>,
    /// The names in `tables` once there are more than [`SEARCHED_TABLES`] (empty until then).
    seen: HashSet<String>,
    /// Lower-cased names of the CTEs defined so far: a relation of that name is not a table.
    ctes: HashSet<String>,
    /// Whether the next relation visited is the name of a function called in `FROM`.
    function_relation: bool,
    /// The strongest kind of what the statement does, so far.
    kind: StatementKind,
    definition: Definition,
    /// How many queries enclose the current position.
    queries: usize,
}

impl Walker<'_, '_> {
    /// Whether a function called at the current position runs as part of the statement.
    fn calls_run_now(&self) -> bool {
        self.deferred == 0
            && match self.definition {
                Definition::None => true,
                Definition::View => false,
                Definition::Table => self.queries > 0,
            }
    }

    /// Takes `kind` (writing `written`) as the statement's kind if it is stronger.
    fn strengthen(&mut self, kind: StatementKind, written: Vec<String>) {
        let stronger = matches!(
            (strength(self.kind), strength(kind)),
            (Some(now), Some(new)) if new > now
        );
        if !stronger {
            return;
        }
        self.kind = kind;
        for (i, table) in written.into_iter().enumerate() {
            if let Some(at) = self.tables.iter().position(|t| *t == table) {
                self.tables.remove(at);
                self.tables.insert(i.min(self.tables.len()), table);
            } else {
                self.add_table(i, table);
            }
        }
    }

    /// Whether `tables` holds `name`.
    fn has_table(&self, name: &str) -> bool {
        if self.tables.len() > SEARCHED_TABLES {
            self.seen.contains(name)
        } else {
            self.tables.iter().any(|t| t == name)
        }
    }

    /// Adds `name`, which `tables` does not hold, to `tables` at `at` (or at the end).
    fn add_table(&mut self, at: usize, name: String) {
        if self.tables.len() >= SEARCHED_TABLES {
            // The list becomes too long to search, if it was not already.
            if self.seen.is_empty() {
                self.seen.extend(self.tables.iter().cloned());
            }
            self.seen.insert(name.clone());
        }
        self.tables.insert(at.min(self.tables.len()), name);
    }
}

impl Visitor for Walker<'_, '_> {
    type Break = ();

    fn pre_visit_statement(&mut self, stmt: &AstStatement) -> ControlFlow<()> {
        if self.deferred == 0 {
            let nested = self.depth > 0;
            self.cx.nested = nested;
            self.cx.anchor = if nested {
                keyword_pos(stmt)
                    .filter(|&pos| pos >= self.cx.start)
                    .unwrap_or(self.cx.start)
            } else {
                self.cx.start
            };
            rules::check_statement(stmt, &mut self.cx);
            if nested {
                let (kind, written) = describe(stmt);
                self.strengthen(kind, written);
            }
        }
        let defers = runs_later(stmt);
        self.defers.push(defers);
        if defers {
            self.deferred += 1;
        }
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_statement(&mut self, _stmt: &AstStatement) -> ControlFlow<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.defers.pop() == Some(true) {
            self.deferred = self.deferred.saturating_sub(1);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::Function(function) = expr {
            let runs_now = self.calls_run_now();
            if rules::check_function(function, runs_now, &mut self.cx) {
                self.strengthen(StatementKind::Call, Vec::new());
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.queries = self.queries.saturating_sub(1);
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.queries += 1;
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.ctes.insert(cte.alias.name.value.to_lowercase());
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => {
                let runs_now = self.calls_run_now();
                if rules::check_table_function(name, runs_now, &mut self.cx) {
                    self.strengthen(StatementKind::Call, Vec::new());
                }
                // The name is visited next as a relation, but it is a function's.
                self.function_relation = true;
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        if std::mem::take(&mut self.function_relation) {
            return ControlFlow::Continue(());
        }
        let is_cte = match relation.0.as_slice() {
            [single] if !self.ctes.is_empty() => single
                .as_ident()
                .is_some_and(|ident| self.ctes.contains(&ident.value.to_lowercase())),
            _ => false,
        };
        if !is_cte {
            let name = name_text(relation);
            if !self.has_table(&name) {
                self.add_table(usize::MAX, name);
            }
        }
        ControlFlow::Continue(())
    }
}

/// A relation's name as written. Plain names (the common case) are joined directly, which is
/// several times faster than going through `Display`.
pub(crate) fn name_text(name: &ObjectName) -> String {
    let length = name
        .0
        .iter()
        .map(|part| part.as_ident().map_or(0, |ident| ident.value.len() + 1))
        .sum();
    let mut text = String::with_capacity(length);
    for (i, part) in name.0.iter().enumerate() {
        match part.as_ident() {
            Some(ident) if ident.quote_style.is_none() => {
                if i > 0 {
                    text.push('.');
                }
                text.push_str(&ident.value);
            }
            _ => return name.to_string(),
        }
    }
    text
}

/// The position of a nested statement's own keyword, where the parser kept it.
fn keyword_pos(stmt: &AstStatement) -> Option<Pos> {
    match stmt {
        AstStatement::Update(update) => span_pos(update.update_token.0.span),
        AstStatement::Delete(delete) => span_pos(delete.delete_token.0.span),
        AstStatement::Insert(insert) => span_pos(insert.insert_token.0.span),
        AstStatement::Merge(merge) => span_pos(merge.merge_token.0.span),
        _ => None,
    }
}

/// Whether the statements nested in `stmt` are stored to run later (a routine or trigger
/// body, a prepared statement, a plain `EXPLAIN`) rather than run as part of it.
fn runs_later(stmt: &AstStatement) -> bool {
    match stmt {
        AstStatement::CreateTrigger(_)
        | AstStatement::CreateFunction(_)
        | AstStatement::CreateProcedure { .. }
        | AstStatement::CreateMacro { .. }
        | AstStatement::CreateRule(_)
        | AstStatement::Prepare { .. }
        | AstStatement::Declare { .. } => true,
        AstStatement::Explain { .. } => !explain_runs(stmt),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::Dialect::{self, *};
    use crate::analyze;
    use crate::report::StatementKind::{self, *};

    fn kind_and_rules(sql: &str, dialect: Dialect) -> (StatementKind, Vec<String>) {
        let analysis = analyze(sql, dialect);
        let rules = analysis.findings.into_iter().map(|f| f.rule).collect();
        (analysis.statements[0].kind, rules)
    }

    #[track_caller]
    fn assert_classified(sql: &str, dialect: Dialect, kind: StatementKind, rules: &[&str]) {
        let (found_kind, found_rules) = kind_and_rules(sql, dialect);
        assert_eq!(found_kind, kind, "{sql}");
        for rule in rules {
            assert!(
                found_rules.iter().any(|r| r == rule),
                "{sql}: {found_rules:?}"
            );
        }
    }

    #[test]
    fn a_statement_is_what_the_strongest_thing_in_it_does() {
        assert_classified(
            "WITH u AS (UPDATE accounts SET status='x' WHERE id > 10 RETURNING 1) SELECT 1",
            Postgres,
            Update,
            &[],
        );
        assert_classified(
            "SELECT * FROM (WITH u AS (UPDATE t SET a = 1 RETURNING 1) SELECT 1) x",
            Postgres,
            Update,
            &["update-without-where"],
        );
        assert_classified(
            "WITH d AS (DELETE FROM t RETURNING *) INSERT INTO arch (id) SELECT id FROM d",
            Postgres,
            Delete,
            &["delete-without-where", "insert-from-select"],
        );
        assert_classified("SELECT * INTO backup FROM t", Postgres, CreateTable, &[]);
        assert_classified(
            "CREATE TABLE backup AS SELECT archive(id) FROM t",
            Postgres,
            CreateTable,
            &["calls-unknown-function"],
        );
        assert_classified("SELECT id INTO @x FROM t", Mysql, Select, &[]);
        assert_classified("CALL p()", Mysql, Call, &["procedural-code"]);
        assert_classified("DO $$ BEGIN END $$", Postgres, Do, &["procedural-code"]);
        let analysis = analyze(
            "SELECT * FROM (WITH u AS (UPDATE t SET a = 1 RETURNING 1) SELECT 1) x JOIN y ON true",
            Postgres,
        );
        assert_eq!(analysis.statements[0].tables, ["t", "y"]);
    }

    #[test]
    fn a_statement_of_many_tables_names_each_once_the_written_first() {
        let names: Vec<String> = (1..=12).map(|i| format!("t{i}")).collect();
        let from = names.join(", ");
        for (sql, first) in [
            (format!("SELECT * FROM {from}, t3, T1, t12"), "t1"),
            (
                format!("WITH u AS (UPDATE t10 SET a = 1 RETURNING 1) SELECT * FROM {from}, t10"),
                "t10",
            ),
            (
                format!("WITH u AS (UPDATE t99 SET a = 1 RETURNING 1) SELECT * FROM {from}, t99"),
                "t99",
            ),
        ] {
            let tables = &analyze(&sql, Postgres).statements[0].tables;
            assert_eq!(tables[0], first, "{sql}");
            let mut expected: Vec<&str> = names.iter().map(String::as_str).collect();
            expected.retain(|t| *t != first);
            expected.insert(0, first);
            if sql.contains("T1") {
                expected.push("T1");
            }
            assert_eq!(tables, &expected, "{sql}");
        }
    }

    #[test]
    fn explain_analyze_runs_its_statement_and_plain_explain_does_not() {
        for sql in [
            "EXPLAIN ANALYZE DELETE FROM t",
            "EXPLAIN (ANALYZE) DELETE FROM t",
            "EXPLAIN (ANALYZE true, BUFFERS) DELETE FROM t",
        ] {
            assert_classified(sql, Postgres, Delete, &["delete-without-where"]);
        }
        for sql in [
            "EXPLAIN UPDATE t SET a = 1",
            "EXPLAIN (ANALYZE false) DELETE FROM t",
            "EXPLAIN (ANALYZE off) DELETE FROM t",
            "EXPLAIN SELECT archive(1)",
        ] {
            let (kind, rules) = kind_and_rules(sql, Postgres);
            assert_eq!(kind, Explain, "{sql}");
            assert!(rules.is_empty(), "{sql}: {rules:?}");
        }
    }

    #[test]
    fn functions_in_definitions_do_not_run_now() {
        for sql in [
            "CREATE VIEW v AS SELECT archive(id) FROM t",
            "CREATE TABLE t (a int DEFAULT next_code())",
        ] {
            let (_, rules) = kind_and_rules(sql, Postgres);
            assert!(
                !rules.iter().any(|r| r == "calls-unknown-function"),
                "{sql}"
            );
        }
        let (_, rules) = kind_and_rules(
            "CREATE MATERIALIZED VIEW v AS SELECT archive(id) FROM t",
            Postgres,
        );
        assert!(rules.iter().any(|r| r == "calls-unknown-function"));
    }
}
