//! The analyzer: SQL text and a dialect in, an [`Analysis`] (statements, findings, risk) out.
//! Pure and synchronous: no I/O, no database, never panics on any input.
//!
//! ```
//! use countersign_analyzer::{analyze, Dialect, Risk};
//!
//! let analysis = analyze("UPDATE orders SET status = 'x' -- WHERE id = 1", Dialect::Postgres);
//! assert_eq!(analysis.risk, Risk::High);
//! assert_eq!(analysis.findings[0].rule, "update-without-where");
//! ```
//!
//! How it works (see `docs/rules.md`, generated from the catalogue):
//! - `driver` tokenizes the text (a large script a 64 KiB window at a time), then parses one
//!   statement at a time, so a script's memory holds a window's tokens and the findings,
//!   never all of its tokens or syntax trees;
//! - `walk` runs every rule of `rules` over a statement and everything nested in it in one
//!   pass of `sqlparser`'s visitor, and `summary` names what the statement is;
//! - `builtins` knows which functions are read-only built-ins of each dialect;
//! - `condition` shows what it can about a `WHERE` condition's truth without the data;
//! - `fallback` lets the rules judge statements the parser rejects by their leading keywords;
//! - `executable` reads MySQL's executable comments (`/*! … */`) as the code they are;
//! - `mysql_forms` reads MySQL text `sqlparser` rejects (`UPDATE t1, t2 SET`, `"…"` strings,
//!   `ALTER TABLE … TRUNCATE PARTITION`, routines, `GRANT SUPER`) the way the server does;
//! - `source` turns token positions into each statement's own text;
//! - `stack` keeps arbitrarily deep syntax trees from overflowing the stack.
//!
//! The rules work from the syntax tree and the token stream, never from patterns over the
//! text: a `WHERE` in a comment or a string is not a `WHERE`.

mod builtins;
pub mod catalogue;
mod condition;
mod dialect;
mod driver;
mod executable;
mod fallback;
mod mysql_forms;
mod report;
mod rules;
mod source;
mod stack;
mod summary;
mod walk;

pub use dialect::{Dialect, UnknownDialect};
pub use report::{Analysis, Finding, Risk, Severity, Statement, StatementKind};
pub use rules::{RuleInfo, rule, rules};

/// Analyzes `sql` as a script for `dialect`: its statements, what a reviewer should know about
/// each, and the script's risk.
///
/// Never panics and always returns: text that cannot be parsed gives a `parse-error` finding
/// (the other statements are still analyzed where they can be told apart), empty text an
/// `empty-script` finding. Time and memory are linear in the length of the text.
pub fn analyze(sql: &str, dialect: Dialect) -> Analysis {
    driver::analyze(sql, dialect)
}
