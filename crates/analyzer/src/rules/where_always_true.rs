//! `where-always-true`: an `UPDATE` or `DELETE` whose `WHERE` holds for every row, so it is no
//! restriction at all: a constant true (`1 = 1`, `TRUE`, `NOT FALSE`, MySQL/SQLite `WHERE 1`),
//! a column compared with itself (`id = id`), an `OR` with such a branch, or an `AND` of them.
//!
//! The evaluation is deliberately small and sure: it says "always true" only when it can show
//! it, and "don't know" otherwise. `OR`/`AND` chains are flattened with an explicit stack and
//! everything else recurses at most [`MAX_DEPTH`] levels, so no input can exhaust the stack.

use sqlparser::ast::{BinaryOperator, Expr, Ident, Statement, UnaryOperator, Value};

use super::{Cx, RuleInfo, snippet, span_pos};
use crate::Dialect;
use crate::report::Severity;
use crate::source::Pos;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "where-always-true",
    severity: Severity::Danger,
    summary: "UPDATE/DELETE whose WHERE is true for every row (1 = 1, TRUE, WHERE 1, id = id, \
              or an OR with such a branch)",
    help: "A WHERE that is true for every row restricts nothing: the statement changes the \
           whole table, exactly as if it had no WHERE. This is often a leftover from testing \
           (`WHERE 1 = 1 AND …` with the rest commented out) or a typo comparing a column with \
           itself. Write the condition that selects exactly the rows to change, and state the \
           expected row count on the request.",
};

/// How deep the evaluation looks through `NOT`, parentheses and alternating `AND`/`OR`.
const MAX_DEPTH: usize = 32;

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let (verb, selection) = match stmt {
        Statement::Update(update) => ("UPDATE", &update.selection),
        Statement::Delete(delete) => ("DELETE", &delete.selection),
        _ => return,
    };
    let Some(selection) = selection else {
        return;
    };
    if let Truth::AlwaysTrue(witness) = truth(selection, cx.dialect, 0) {
        let message = format!(
            "The WHERE clause of this {verb} is always true (`{}`), so it {} every row.",
            snippet(witness, 60),
            if verb == "UPDATE" {
                "changes"
            } else {
                "removes"
            },
        );
        cx.report(&RULE, leftmost_pos(witness), message);
    }
}

/// What can be shown about a condition.
#[derive(Debug)]
enum Truth<'e> {
    /// True for every row; the expression that shows it.
    AlwaysTrue(&'e Expr),
    /// False for every row.
    AlwaysFalse,
    Unknown,
}

fn truth(expr: &Expr, dialect: Dialect, depth: usize) -> Truth<'_> {
    if depth > MAX_DEPTH {
        return Truth::Unknown;
    }
    let expr = unwrap_nested(expr);
    match expr {
        // Numbers are conditions where the database says so (MySQL and SQLite: `WHERE 1`);
        // PostgreSQL refuses them.
        Expr::Value(value) => match literal(&value.value) {
            Some(Literal::Bool(true)) => Truth::AlwaysTrue(expr),
            Some(Literal::Bool(false)) => Truth::AlwaysFalse,
            Some(Literal::Number(n)) if dialect != Dialect::Postgres => {
                if n != 0.0 {
                    Truth::AlwaysTrue(expr)
                } else {
                    Truth::AlwaysFalse
                }
            }
            _ => Truth::Unknown,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr: inner,
        } => match truth(inner, dialect, depth + 1) {
            Truth::AlwaysFalse => Truth::AlwaysTrue(expr),
            Truth::AlwaysTrue(_) => Truth::AlwaysFalse,
            Truth::Unknown => Truth::Unknown,
        },
        Expr::IsTrue(inner) => match truth(inner, dialect, depth + 1) {
            Truth::AlwaysTrue(_) => Truth::AlwaysTrue(expr),
            _ => Truth::Unknown,
        },
        Expr::BinaryOp {
            op: op @ (BinaryOperator::Or | BinaryOperator::And),
            ..
        } => chain(expr, op, dialect, depth),
        Expr::BinaryOp { left, op, right } => compare(expr, left, op, right),
        Expr::IsNotDistinctFrom(left, right) if same_column(left, right) => Truth::AlwaysTrue(expr),
        _ => Truth::Unknown,
    }
}

/// Evaluates a whole chain of `op` (`OR` or `AND`) iteratively, in written order.
fn chain<'e>(expr: &'e Expr, op: &BinaryOperator, dialect: Dialect, depth: usize) -> Truth<'e> {
    let is_or = *op == BinaryOperator::Or;
    let mut pending = vec![expr];
    let mut all_decided = true;
    while let Some(next) = pending.pop() {
        let next = unwrap_nested(next);
        if let Expr::BinaryOp {
            left,
            op: next_op,
            right,
        } = next
            && next_op == op
        {
            pending.push(right);
            pending.push(left);
            continue;
        }
        match (truth(next, dialect, depth + 1), is_or) {
            (Truth::AlwaysTrue(witness), true) => return Truth::AlwaysTrue(witness),
            (Truth::AlwaysFalse, false) => return Truth::AlwaysFalse,
            (Truth::Unknown, _) => all_decided = false,
            _ => {}
        }
    }
    match (all_decided, is_or) {
        (true, true) => Truth::AlwaysFalse,
        (true, false) => Truth::AlwaysTrue(expr),
        (false, _) => Truth::Unknown,
    }
}

/// A comparison of two literals, or of a column with itself.
fn compare<'e>(expr: &'e Expr, left: &Expr, op: &BinaryOperator, right: &Expr) -> Truth<'e> {
    use BinaryOperator::*;
    if same_column(left, right) {
        return match op {
            Eq | LtEq | GtEq | Spaceship => Truth::AlwaysTrue(expr),
            _ => Truth::Unknown,
        };
    }
    let (Expr::Value(left), Expr::Value(right)) = (unwrap_nested(left), unwrap_nested(right))
    else {
        return Truth::Unknown;
    };
    let outcome = match (literal(&left.value), literal(&right.value)) {
        (Some(Literal::Number(a)), Some(Literal::Number(b))) => match op {
            Eq | Spaceship => Some(a == b),
            NotEq => Some(a != b),
            Lt => Some(a < b),
            LtEq => Some(a <= b),
            Gt => Some(a > b),
            GtEq => Some(a >= b),
            _ => None,
        },
        // Equal texts compare equal under any collation; different ones may not differ.
        (Some(Literal::Text(a)), Some(Literal::Text(b))) if a == b => match op {
            Eq | LtEq | GtEq | Spaceship => Some(true),
            NotEq | Lt | Gt => Some(false),
            _ => None,
        },
        (Some(Literal::Bool(a)), Some(Literal::Bool(b))) => match op {
            Eq | Spaceship => Some(a == b),
            NotEq => Some(a != b),
            _ => None,
        },
        _ => None,
    };
    match outcome {
        Some(true) => Truth::AlwaysTrue(expr),
        Some(false) => Truth::AlwaysFalse,
        None => Truth::Unknown,
    }
}

enum Literal<'v> {
    Bool(bool),
    Number(f64),
    Text(&'v str),
}

/// A literal's value.
fn literal(value: &Value) -> Option<Literal<'_>> {
    match value {
        Value::Boolean(b) => Some(Literal::Bool(*b)),
        Value::Number(n, _) => n
            .parse()
            .ok()
            .filter(|n: &f64| !n.is_nan())
            .map(Literal::Number),
        Value::SingleQuotedString(s) => Some(Literal::Text(s)),
        _ => None,
    }
}

fn unwrap_nested(mut expr: &Expr) -> &Expr {
    while let Expr::Nested(inner) = expr {
        expr = inner;
    }
    expr
}

/// Whether both sides name the same column (case-insensitively unless quoted).
fn same_column(left: &Expr, right: &Expr) -> bool {
    match (
        column_parts(unwrap_nested(left)),
        column_parts(unwrap_nested(right)),
    ) {
        (Some(a), Some(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_ident(x, y)),
        _ => false,
    }
}

fn column_parts(expr: &Expr) -> Option<&[Ident]> {
    match expr {
        Expr::Identifier(ident) => Some(std::slice::from_ref(ident)),
        Expr::CompoundIdentifier(parts) => Some(parts),
        _ => None,
    }
}

fn same_ident(a: &Ident, b: &Ident) -> bool {
    match (a.quote_style, b.quote_style) {
        (None, None) => a.value.eq_ignore_ascii_case(&b.value),
        _ => a.quote_style == b.quote_style && a.value == b.value,
    }
}

/// The position of an expression's leftmost leaf, found without recursion.
fn leftmost_pos(mut expr: &Expr) -> Option<Pos> {
    loop {
        expr = match expr {
            Expr::BinaryOp { left, .. } => left,
            Expr::Nested(inner) | Expr::UnaryOp { expr: inner, .. } | Expr::IsTrue(inner) => inner,
            Expr::IsNotDistinctFrom(left, _) => left,
            Expr::Value(value) => return span_pos(value.span),
            Expr::Identifier(ident) => return span_pos(ident.span),
            Expr::CompoundIdentifier(parts) => return parts.first().and_then(|i| span_pos(i.span)),
            _ => return None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_constant_true_conditions() {
        for sql in [
            "UPDATE t SET a = 1 WHERE 1 = 1",
            "UPDATE t SET a = 1 WHERE TRUE",
            "DELETE FROM t WHERE (1 = 1)",
            "DELETE FROM t WHERE 'a' = 'a'",
            "DELETE FROM t WHERE 2 > 1",
            "DELETE FROM t WHERE NOT FALSE",
            "DELETE FROM t WHERE NOT (1 = 0)",
            "UPDATE t SET a = 1 WHERE 1 = 1 AND TRUE",
        ] {
            assert_fires(&RULE, sql, ALL);
        }
    }

    #[test]
    fn fires_on_a_column_compared_with_itself() {
        assert_fires(&RULE, "UPDATE t SET a = 1 WHERE id = id", ALL);
        assert_fires(&RULE, "DELETE FROM t WHERE t.id = T.ID", ALL);
        assert_fires(&RULE, "DELETE FROM t WHERE id >= id", ALL);
        assert_fires(&RULE, "DELETE FROM t WHERE id <=> id", &[Mysql]);
        assert_fires(
            &RULE,
            "DELETE FROM t WHERE id IS NOT DISTINCT FROM id",
            &[Postgres],
        );
    }

    #[test]
    fn fires_on_an_or_with_an_always_true_branch_and_points_at_it() {
        let sql = "DELETE FROM t\nWHERE status = 'old' OR 1 = 1";
        let found = hits(&RULE, sql, Postgres);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].line, found[0].column), (2, 25));
        assert!(found[0].message.contains("`1 = 1`"), "{}", found[0].message);
        assert_fires(
            &RULE,
            "UPDATE t SET a = 1 WHERE a = 1 OR (b = 2 OR id = id)",
            ALL,
        );
    }

    #[test]
    fn numbers_are_conditions_on_mysql_and_sqlite_only() {
        assert_fires(
            &RULE,
            "UPDATE t SET a = 1 WHERE 1",
            &[Mysql, Sqlite, Generic],
        );
        assert_silent(&RULE, "UPDATE t SET a = 1 WHERE 0", &[Mysql, Sqlite]);
        assert_silent(&RULE, "UPDATE t SET a = 1 WHERE 1", &[Postgres]);
    }

    #[test]
    fn fires_inside_a_cte() {
        assert_fires(
            &RULE,
            "WITH x AS (UPDATE t SET a = 1 WHERE 1 = 1 RETURNING *) SELECT 1",
            &[Postgres],
        );
    }

    #[test]
    fn does_not_fire_on_real_conditions() {
        for sql in [
            "UPDATE t SET a = 1 WHERE id = 1",
            "UPDATE t SET a = 1 WHERE 1 = 1 AND id = 7",
            "DELETE FROM t WHERE 1 = 0 OR id = 7",
            "DELETE FROM t WHERE 'a' = 'A'",
            "DELETE FROM t WHERE a.id = b.id",
            "DELETE FROM t WHERE id = \"id\"",
            "DELETE FROM t WHERE NULL = NULL",
            "DELETE FROM t WHERE id <> id",
            "SELECT * FROM t WHERE 1 = 1",
        ] {
            assert_silent(&RULE, sql, ALL);
        }
    }

    #[test]
    fn long_or_chains_are_evaluated_without_recursion() {
        let chain = (0..5_000)
            .map(|i| format!("id = {i}"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let sql = format!("DELETE FROM t WHERE {chain} OR 1 = 1");
        assert_eq!(hits(&RULE, &sql, Postgres).len(), 1);
        let sql = format!("DELETE FROM t WHERE {chain}");
        assert!(hits(&RULE, &sql, Postgres).is_empty());
    }
}
