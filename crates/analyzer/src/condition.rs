//! What can be shown about a `WHERE` condition without the data: that it holds for every row
//! ([`Truth::AlwaysTrue`]), for every row of a table whose `id` is its primary key
//! ([`Truth::NearlyTrue`]), for none ([`Truth::AlwaysFalse`]), or nothing ([`Truth::Unknown`]).
//!
//! It folds constants the way the database does — literals, casts of literals (`1::int`,
//! `CAST('1' AS INT)`), sign, `+ - *` and the bitwise `| & ^` (MySQL's `^` is XOR,
//! PostgreSQL's an exponent, which is left alone), `coalesce`/`ifnull` — and knows MySQL's and
//! SQLite's reading of a number as a condition (`WHERE 1`, `WHERE 1+2`). A column compared with
//! itself, also through `+ 0`, `* 1` and the like (`id = id + 0`), is always true (the existing
//! reading: rows where it is NULL aside), `EXISTS (SELECT 1)` with no `FROM` always true.
//! `id IS NOT NULL`, and on MySQL/SQLite a bare `id`, are true for every row of a table whose
//! `id` is its primary key — which the analyzer, offline, cannot know: nearly true.
//!
//! The evaluation is deliberately small and sure: it says "true" only when it can show it,
//! and "don't know" otherwise; `NULL` is always "don't know" (three-valued logic). `OR`/`AND`
//! chains are flattened with an explicit stack and everything else recurses at most
//! [`MAX_DEPTH`] levels, so no input can exhaust the stack.

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident,
    ObjectNamePart, Query, SetExpr, UnaryOperator, Value,
};

use crate::Dialect;

/// The comparison operators, as a pattern.
macro_rules! comparison {
    () => {
        BinaryOperator::Eq
            | BinaryOperator::NotEq
            | BinaryOperator::Lt
            | BinaryOperator::LtEq
            | BinaryOperator::Gt
            | BinaryOperator::GtEq
            | BinaryOperator::Spaceship
    };
}

/// How deep the evaluation looks through `NOT`, parentheses, arithmetic and alternating
/// `AND`/`OR`.
const MAX_DEPTH: usize = 32;

/// What can be shown about a condition.
#[derive(Debug)]
pub(crate) enum Truth<'e> {
    /// True for every row; the expression that shows it.
    AlwaysTrue(&'e Expr),
    /// True for every row if `id` is the table's primary key; the expression that shows it.
    NearlyTrue(&'e Expr),
    /// False (or NULL) for every row.
    AlwaysFalse,
    Unknown,
}

/// What `expr`, read as a condition on `dialect`, can be shown to be.
pub(crate) fn truth(expr: &Expr, dialect: Dialect) -> Truth<'_> {
    Eval { dialect }.truth(expr, 0)
}

/// The value of a constant expression.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Const<'v> {
    Bool(bool),
    Number(f64),
    Text(&'v str),
}

#[derive(Clone, Copy)]
struct Eval {
    dialect: Dialect,
}

impl Eval {
    /// Whether numbers are conditions (MySQL and SQLite; the generic dialect assumes so).
    fn numbers_are_conditions(self) -> bool {
        self.dialect != Dialect::Postgres
    }

    fn truth(self, expr: &Expr, depth: usize) -> Truth<'_> {
        if depth > MAX_DEPTH {
            return Truth::Unknown;
        }
        let expr = unwrap_nested(expr);
        match expr {
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr: inner,
            } => match self.truth(inner, depth + 1) {
                Truth::AlwaysFalse => Truth::AlwaysTrue(expr),
                Truth::AlwaysTrue(_) => Truth::AlwaysFalse,
                Truth::NearlyTrue(_) | Truth::Unknown => Truth::Unknown,
            },
            Expr::IsTrue(inner) => match self.truth(inner, depth + 1) {
                Truth::AlwaysTrue(_) => Truth::AlwaysTrue(expr),
                Truth::NearlyTrue(_) => Truth::NearlyTrue(expr),
                _ => Truth::Unknown,
            },
            Expr::BinaryOp {
                op: op @ (BinaryOperator::Or | BinaryOperator::And),
                ..
            } => self.chain(expr, op, depth),
            Expr::BinaryOp {
                left,
                op: op @ comparison!(),
                right,
            } => self.compare(expr, left, op, right, depth),
            Expr::IsNotDistinctFrom(left, right) if self.same_value(left, right, depth) => {
                Truth::AlwaysTrue(expr)
            }
            Expr::IsNotNull(inner) if is_id(inner) => Truth::NearlyTrue(expr),
            Expr::Identifier(_) | Expr::CompoundIdentifier(_)
                if self.numbers_are_conditions() && is_id(expr) =>
            {
                Truth::NearlyTrue(expr)
            }
            Expr::Exists { subquery, negated } if returns_one_row(subquery) => {
                if *negated {
                    Truth::AlwaysFalse
                } else {
                    Truth::AlwaysTrue(expr)
                }
            }
            _ => match self.value(expr, depth) {
                Some(Const::Bool(true)) => Truth::AlwaysTrue(expr),
                Some(Const::Bool(false)) => Truth::AlwaysFalse,
                Some(Const::Number(n)) if self.numbers_are_conditions() => {
                    if n != 0.0 {
                        Truth::AlwaysTrue(expr)
                    } else {
                        Truth::AlwaysFalse
                    }
                }
                _ => Truth::Unknown,
            },
        }
    }

    /// Evaluates a whole chain of `op` (`OR` or `AND`) iteratively, in written order.
    fn chain<'e>(self, expr: &'e Expr, op: &BinaryOperator, depth: usize) -> Truth<'e> {
        let is_or = *op == BinaryOperator::Or;
        let mut pending = vec![expr];
        let mut all_decided = true;
        let mut nearly: Option<&Expr> = None;
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
            match (self.truth(next, depth + 1), is_or) {
                (Truth::AlwaysTrue(witness), true) => return Truth::AlwaysTrue(witness),
                (Truth::AlwaysFalse, false) => return Truth::AlwaysFalse,
                (Truth::NearlyTrue(witness), _) => {
                    nearly.get_or_insert(witness);
                }
                (Truth::Unknown, _) => all_decided = false,
                _ => {}
            }
        }
        match (nearly, all_decided, is_or) {
            (Some(witness), _, true) => Truth::NearlyTrue(witness),
            (Some(_), true, false) => Truth::NearlyTrue(expr),
            (None, true, true) => Truth::AlwaysFalse,
            (None, true, false) => Truth::AlwaysTrue(expr),
            (_, false, _) => Truth::Unknown,
        }
    }

    /// A comparison of two constants, or of a value with itself.
    fn compare<'e>(
        self,
        expr: &'e Expr,
        left: &Expr,
        op: &BinaryOperator,
        right: &Expr,
        depth: usize,
    ) -> Truth<'e> {
        use BinaryOperator::*;
        if self.same_value(left, right, depth) {
            return match op {
                Eq | LtEq | GtEq | Spaceship => Truth::AlwaysTrue(expr),
                _ => Truth::Unknown,
            };
        }
        let (Some(left), Some(right)) = (self.value(left, depth), self.value(right, depth)) else {
            return Truth::Unknown;
        };
        let numbers = |a: f64, b: f64| match op {
            Eq | Spaceship => Some(a == b),
            NotEq => Some(a != b),
            Lt => Some(a < b),
            LtEq => Some(a <= b),
            Gt => Some(a > b),
            GtEq => Some(a >= b),
            _ => None,
        };
        let outcome = match (left, right) {
            (Const::Number(a), Const::Number(b)) => numbers(a, b),
            // Equal texts compare equal under any collation; different ones may not differ.
            (Const::Text(a), Const::Text(b)) if a == b => match op {
                Eq | LtEq | GtEq | Spaceship => Some(true),
                NotEq | Lt | Gt => Some(false),
                _ => None,
            },
            (Const::Bool(a), Const::Bool(b)) => match op {
                Eq | Spaceship => Some(a == b),
                NotEq => Some(a != b),
                _ => None,
            },
            // MySQL and SQLite: TRUE is 1.
            (Const::Bool(a), Const::Number(b)) if self.numbers_are_conditions() => {
                numbers(f64::from(u8::from(a)), b)
            }
            (Const::Number(a), Const::Bool(b)) if self.numbers_are_conditions() => {
                numbers(a, f64::from(u8::from(b)))
            }
            _ => None,
        };
        match outcome {
            Some(true) => Truth::AlwaysTrue(expr),
            Some(false) => Truth::AlwaysFalse,
            None => Truth::Unknown,
        }
    }

    /// The value of a constant expression; `None` where it is not one (or is NULL).
    fn value<'e>(self, expr: &'e Expr, depth: usize) -> Option<Const<'e>> {
        if depth > MAX_DEPTH {
            return None;
        }
        match unwrap_nested(expr) {
            Expr::Value(value) => literal(&value.value),
            Expr::UnaryOp { op, expr: inner } => match (op, self.value(inner, depth + 1)?) {
                (UnaryOperator::Minus, Const::Number(n)) => Some(Const::Number(-n)),
                (UnaryOperator::Plus, Const::Number(n)) => Some(Const::Number(n)),
                _ => None,
            },
            Expr::BinaryOp { left, op, right } => {
                let (Const::Number(a), Const::Number(b)) =
                    (self.value(left, depth + 1)?, self.value(right, depth + 1)?)
                else {
                    return None;
                };
                let integers = || {
                    let exact = |n: f64| (n.fract() == 0.0 && n.abs() < 9.0e15).then_some(n as i64);
                    Some((exact(a)?, exact(b)?))
                };
                let n = match op {
                    BinaryOperator::Plus => a + b,
                    BinaryOperator::Minus => a - b,
                    BinaryOperator::Multiply => a * b,
                    BinaryOperator::BitwiseOr => integers().map(|(a, b)| (a | b) as f64)?,
                    BinaryOperator::BitwiseAnd => integers().map(|(a, b)| (a & b) as f64)?,
                    BinaryOperator::BitwiseXor => integers().map(|(a, b)| (a ^ b) as f64)?,
                    _ => return None,
                };
                n.is_finite().then_some(Const::Number(n))
            }
            Expr::Cast {
                expr: inner,
                data_type,
                ..
            } => {
                let target = data_type.to_string().to_ascii_lowercase();
                match self.value(inner, depth + 1)? {
                    Const::Number(n) if is_number_type(&target) => Some(Const::Number(n)),
                    Const::Text(text) if is_number_type(&target) => text
                        .trim()
                        .parse()
                        .ok()
                        .filter(|n: &f64| n.is_finite())
                        .map(Const::Number),
                    Const::Bool(b) if target.starts_with("bool") => Some(Const::Bool(b)),
                    _ => None,
                }
            }
            Expr::Function(function) => {
                let name = match function.name.0.as_slice() {
                    [ObjectNamePart::Identifier(name)] => name.value.to_ascii_lowercase(),
                    _ => return None,
                };
                if !matches!(name.as_str(), "coalesce" | "ifnull") {
                    return None;
                }
                let FunctionArguments::List(list) = &function.args else {
                    return None;
                };
                // The first argument that is not NULL; a non-constant one decides nothing.
                for arg in &list.args {
                    let FunctionArg::Unnamed(FunctionArgExpr::Expr(arg)) = arg else {
                        return None;
                    };
                    if is_null(arg) {
                        continue;
                    }
                    return self.value(arg, depth + 1);
                }
                None
            }
            _ => None,
        }
    }

    /// Whether both sides are the same column, also through arithmetic that leaves a value
    /// unchanged (`id + 0`, `1 * id`), or the same arithmetic on the same columns and numbers.
    fn same_value(self, left: &Expr, right: &Expr, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        let left = self.strip_identity(left, depth);
        let right = self.strip_identity(right, depth);
        if let (Some(a), Some(b)) = (column_parts(left), column_parts(right)) {
            return a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_ident(x, y));
        }
        match (left, right) {
            (
                Expr::BinaryOp {
                    left: l1,
                    op: op1,
                    right: r1,
                },
                Expr::BinaryOp {
                    left: l2,
                    op: op2,
                    right: r2,
                },
            ) if op1 == op2
                && matches!(
                    op1,
                    BinaryOperator::Plus | BinaryOperator::Minus | BinaryOperator::Multiply
                ) =>
            {
                self.same_operand(l1, l2, depth + 1) && self.same_operand(r1, r2, depth + 1)
            }
            _ => false,
        }
    }

    /// Whether two operands of arithmetic are the same column or the same number.
    fn same_operand(self, left: &Expr, right: &Expr, depth: usize) -> bool {
        match (self.value(left, depth), self.value(right, depth)) {
            (Some(Const::Number(a)), Some(Const::Number(b))) => a == b,
            (None, None) => self.same_value(left, right, depth),
            _ => false,
        }
    }

    /// `expr` without arithmetic that leaves its value unchanged: `x + 0`, `0 + x`, `x - 0`,
    /// `x * 1`, `1 * x`, parentheses.
    fn strip_identity(self, mut expr: &Expr, depth: usize) -> &Expr {
        for _ in 0..MAX_DEPTH {
            expr = unwrap_nested(expr);
            let Expr::BinaryOp { left, op, right } = expr else {
                break;
            };
            let number = |e: &Expr| match self.value(e, depth + 1) {
                Some(Const::Number(n)) => Some(n),
                _ => None,
            };
            expr = match (op, number(left), number(right)) {
                (BinaryOperator::Plus | BinaryOperator::Minus, None, Some(0.0)) => left,
                (BinaryOperator::Plus, Some(0.0), None) => right,
                (BinaryOperator::Multiply, None, Some(1.0)) => left,
                (BinaryOperator::Multiply, Some(1.0), None) => right,
                _ => break,
            };
        }
        expr
    }
}

/// Whether a cast to this (lower-cased) type gives a number.
fn is_number_type(target: &str) -> bool {
    [
        "int",
        "bigint",
        "smallint",
        "tinyint",
        "mediumint",
        "numeric",
        "decimal",
        "float",
        "real",
        "double",
        "signed",
        "unsigned",
    ]
    .iter()
    .any(|t| target.starts_with(t))
}

/// A literal's value; `None` for NULL and for what is not compared here.
fn literal(value: &Value) -> Option<Const<'_>> {
    match value {
        Value::Boolean(b) => Some(Const::Bool(*b)),
        Value::Number(n, _) => n
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite())
            .map(Const::Number),
        Value::SingleQuotedString(s) => Some(Const::Text(s)),
        _ => None,
    }
}

fn is_null(expr: &Expr) -> bool {
    matches!(unwrap_nested(expr), Expr::Value(value) if value.value == Value::Null)
}

pub(crate) fn unwrap_nested(mut expr: &Expr) -> &Expr {
    while let Expr::Nested(inner) = expr {
        expr = inner;
    }
    expr
}

/// Whether `EXISTS (query)` is true whatever the data: a single `SELECT` with no `FROM`,
/// `WHERE`, `HAVING`, `GROUP BY`, `LIMIT` or `OFFSET`, which returns exactly one row.
fn returns_one_row(query: &Query) -> bool {
    let SetExpr::Select(select) = &*query.body else {
        return false;
    };
    query.with.is_none()
        && query.limit_clause.is_none()
        && query.fetch.is_none()
        && select.from.is_empty()
        && select.selection.is_none()
        && select.having.is_none()
        && select.qualify.is_none()
        && matches!(&select.group_by, GroupByExpr::Expressions(exprs, _) if exprs.is_empty())
}

/// Whether `expr` is a column named `id`, qualified or not.
fn is_id(expr: &Expr) -> bool {
    column_parts(unwrap_nested(expr))
        .and_then(|parts| parts.last())
        .is_some_and(|ident| ident.value.eq_ignore_ascii_case("id"))
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
