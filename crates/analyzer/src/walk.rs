//! The single walk over one parsed statement: it runs every rule on every statement node and
//! function call, and collects the names of the tables the statement reads or writes.
//!
//! The walk uses `sqlparser`'s `Visitor`, whose recursion grows the stack on demand
//! (`recursive-protection`); the callbacks here never recurse themselves.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, ObjectName, Query, Statement as AstStatement, TableFactor, Visit, Visitor,
};

use crate::rules::{self, Cx, span_pos};
use crate::source::Pos;

/// Walks `stmt`, reporting findings through `cx` and adding the tables it names to `tables`
/// (in order of appearance, each once).
pub(crate) fn walk(stmt: &AstStatement, cx: Cx<'_>, tables: &mut Vec<String>) {
    let mut seen: HashSet<String> = tables.iter().cloned().collect();
    let mut walker = Walker {
        cx,
        depth: 0,
        defers: Vec::new(),
        deferred: 0,
        tables,
        seen: &mut seen,
        ctes: HashSet::new(),
        function_relation: false,
    };
    // The walker never breaks.
    let _ = stmt.visit(&mut walker);
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
    seen: &'b mut HashSet<String>,
    /// Lower-cased names of the CTEs defined so far: a relation of that name is not a table.
    ctes: HashSet<String>,
    /// Whether the next relation visited is the name of a function called in `FROM`.
    function_relation: bool,
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
            rules::check_function(function, &mut self.cx);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
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
                rules::check_table_function(name, &mut self.cx);
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
            [single] => single
                .as_ident()
                .is_some_and(|ident| self.ctes.contains(&ident.value.to_lowercase())),
            _ => false,
        };
        if !is_cte {
            let name = name_text(relation);
            if !self.seen.contains(&name) {
                self.seen.insert(name.clone());
                self.tables.push(name);
            }
        }
        ControlFlow::Continue(())
    }
}

/// A relation's name as written. Plain names (the common case) are joined directly, which is
/// several times faster than going through `Display`.
pub(crate) fn name_text(name: &ObjectName) -> String {
    let mut text = String::new();
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
        AstStatement::Explain { analyze, .. } => !analyze,
        _ => false,
    }
}
