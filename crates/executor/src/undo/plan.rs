//! How a run with undo captures its images, statement by statement, decided before any
//! statement runs (in the run's transaction, from the target's catalog) — or why it cannot.

use std::collections::HashMap;

use countersign_analyzer::{Analysis, Statement, StatementKind};

use crate::rehearse::sample::{Shape, quote_ident};
use crate::session::{ColumnInfo, Session, TableInfo, TableName};
use crate::target::Driver;

/// Whether a revision's run could be undone, as a rehearsal finds it in advance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UndoCheck {
    pub possible: bool,
    /// Why not; `None` when possible.
    pub reason: Option<String>,
}

/// What a statement changes, for its images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Insert,
    Update,
    Delete,
}

impl Change {
    /// Its column among the counters' `[inserted, updated, deleted]`.
    pub(crate) const fn counter(self) -> usize {
        match self {
            Self::Insert => 0,
            Self::Update => 1,
            Self::Delete => 2,
        }
    }
}

/// A table images are captured of.
#[derive(Debug, Clone)]
pub(crate) struct CapturedTable {
    /// As the first statement that changes it names it.
    pub(crate) written: String,
    /// What identifies it across statements that name it differently (lower-cased where the
    /// database folds names).
    pub(crate) id: String,
    pub(crate) info: TableInfo,
    /// Where the key's columns are among [`TableInfo::columns`].
    pub(crate) key_at: Vec<usize>,
}

impl CapturedTable {
    /// `SELECT <every column as a literal> FROM <from>`, columns qualified with `qualifier`.
    pub(crate) fn select(&self, driver: Driver, qualifier: &str, from: &str) -> String {
        self.select_and(driver, qualifier, from, None)
    }

    /// [`Self::select`], with `extra` as one more column after the table's.
    pub(crate) fn select_and(
        &self,
        driver: Driver,
        qualifier: &str,
        from: &str,
        extra: Option<&str>,
    ) -> String {
        let mut columns: Vec<String> = self
            .info
            .columns
            .iter()
            .map(|column| literal(driver, column, Some(qualifier)))
            .collect();
        columns.extend(extra.map(str::to_owned));
        format!("SELECT {} FROM {from}", columns.join(", "))
    }

    /// `k = v` (one column) or `(k1, k2)`, qualified with nothing.
    pub(crate) fn key_tuple(&self, driver: Driver) -> String {
        let keys: Vec<String> = self
            .info
            .key
            .iter()
            .map(|k| quote_ident(driver, k))
            .collect();
        match keys.as_slice() {
            [one] => one.clone(),
            many => format!("({})", many.join(", ")),
        }
    }
}

/// One statement of a run with undo.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    /// Its position in the script, from 0.
    pub(crate) index: usize,
    /// What is sent: its approved text, with `RETURNING <key>` appended to an `INSERT`.
    pub(crate) sql: String,
    /// The re-select of its rows, sent just before it (`UPDATE`, `DELETE`).
    pub(crate) before: Option<String>,
    /// What it changes, and in which of [`CapturePlan::tables`].
    pub(crate) capture: Option<(Change, usize)>,
}

impl Step {
    /// `statement` sent as it is, with nothing to capture.
    fn as_written(statement: &Statement) -> Step {
        Step {
            index: statement.index,
            sql: statement.sql.clone(),
            before: None,
            capture: None,
        }
    }
}

/// How every statement of a run is sent and captured.
#[derive(Debug, Clone, Default)]
pub(crate) struct CapturePlan {
    pub(crate) steps: Vec<Step>,
    pub(crate) tables: Vec<CapturedTable>,
}

impl CapturePlan {
    /// The counter names of the tables it captures.
    pub(crate) fn counters(&self) -> Vec<String> {
        self.tables.iter().map(|t| t.info.counter.clone()).collect()
    }
}

/// Kinds sent as they are, with nothing to capture: reads, and calls of functions and
/// procedures, whose effects only the database's counts can see — a call that changes rows
/// makes the counts exceed what was captured, and the run has no undo (under `required`:
/// rolls back).
const fn reads(kind: StatementKind) -> bool {
    matches!(
        kind,
        StatementKind::Select
            | StatementKind::Show
            | StatementKind::Explain
            | StatementKind::Call
            | StatementKind::Do
            | StatementKind::Lock
    )
}

/// Plans the capture of `analysis`'s statements on `session` (inside the run's transaction,
/// before any of them runs). `Ok(Err(reason))` when they cannot all be captured.
pub(crate) async fn plan_capture(
    session: &mut Session,
    driver: Driver,
    analysis: &Analysis,
) -> Result<Result<CapturePlan, String>, sqlx::Error> {
    let mut plan = CapturePlan::default();
    let mut returning = None;
    // Each table as written, looked up once.
    let mut known: HashMap<String, Option<usize>> = HashMap::new();
    for statement in &analysis.statements {
        let refuse = |why: &str| Ok(Err(format!("{}: {why}", describe(statement))));
        let shape = match classify(statement, driver) {
            Ok(None) => {
                plan.steps.push(Step::as_written(statement));
                continue;
            }
            Ok(Some(shape)) => shape,
            Err(why) => return refuse(why),
        };
        let table = match &shape {
            Shape::Filtered { table, .. } | Shape::Insert { table, .. } => table.clone(),
        };
        let found = match known.get(&table.written) {
            Some(&at) => Ok(at),
            None => {
                let found = table_at(session, driver, &mut plan, &table).await?;
                if let Ok(at) = found {
                    known.insert(table.written.clone(), at);
                }
                found
            }
        };
        let at = match found {
            Ok(Some(at)) => at,
            // No such table: the statement fails on its own, with the database's message. (Were
            // one to appear meanwhile, the rows it changed would be counted and found
            // uncaptured.)
            Ok(None) => {
                plan.steps.push(Step::as_written(statement));
                continue;
            }
            Err(why) => return refuse(&why),
        };
        let captured = &plan.tables[at];
        let step = match shape {
            Shape::Insert { .. } => {
                let has = match returning {
                    Some(has) => has,
                    None => *returning.insert(session.has_returning().await?),
                };
                if !has {
                    return refuse(
                        "MySQL has no INSERT … RETURNING, so the rows an INSERT adds cannot be \
                         found again (MariaDB, PostgreSQL and SQLite have it)",
                    );
                }
                let keys: Vec<String> = captured
                    .key_at
                    .iter()
                    .map(|&i| literal(driver, &captured.info.columns[i], None))
                    .collect();
                Step {
                    index: statement.index,
                    sql: format!("{}\nRETURNING {}", statement.sql, keys.join(", ")),
                    before: None,
                    capture: Some((Change::Insert, at)),
                }
            }
            Shape::Filtered {
                delete,
                alias,
                selection,
                order_by,
                limit,
                assigned,
                ..
            } => {
                if let Some(key) = assigned
                    .iter()
                    .find(|a| captured.info.key.iter().any(|k| same_name(k, a)))
                {
                    return refuse(&format!(
                        "it changes the primary key ({key}), so its rows could not be paired \
                         before and after"
                    ));
                }
                let qualifier = alias.clone().unwrap_or_else(|| captured.written.clone());
                let mut from = table.written.clone();
                if let Some(alias) = &alias {
                    from.push_str(&format!(" AS {alias}"));
                }
                let mut before = captured.select(driver, &qualifier, &from);
                if let Some(selection) = selection {
                    before.push_str(&format!(" WHERE {selection}"));
                }
                if let Some(order_by) = order_by {
                    before.push_str(&format!(" ORDER BY {order_by}"));
                }
                if let Some(limit) = limit {
                    before.push_str(&format!(" LIMIT {limit}"));
                }
                if driver != Driver::Sqlite {
                    // Its rows cannot change between the re-select and the statement.
                    before.push_str(" FOR UPDATE");
                }
                Step {
                    index: statement.index,
                    sql: statement.sql.clone(),
                    before: Some(before),
                    capture: Some((
                        if delete {
                            Change::Delete
                        } else {
                            Change::Update
                        },
                        at,
                    )),
                }
            }
        };
        plan.steps.push(step);
    }
    Ok(Ok(plan))
}

/// What capture makes of `statement`, from its text alone: `None` for a statement sent as it
/// is (a read, a call), its shape for an `INSERT`/`UPDATE`/`DELETE` capture can follow, or why
/// it cannot.
fn classify(statement: &Statement, driver: Driver) -> Result<Option<Shape>, &'static str> {
    if reads(statement.kind) {
        return Ok(None);
    }
    if !matches!(
        statement.kind,
        StatementKind::Insert | StatementKind::Update | StatementKind::Delete
    ) {
        return Err(
            "only INSERT, UPDATE and DELETE (and reads) can be undone; this statement cannot",
        );
    }
    let Some(shape) = Shape::of(&statement.sql, driver) else {
        return Err(
            "its rows cannot be found again (only an INSERT, UPDATE or DELETE of one table, \
             without joins, FROM/USING, WITH or RETURNING, can be undone)",
        );
    };
    match &shape {
        Shape::Insert { upsert: true, .. } => Err(
            "an upsert (ON CONFLICT … DO UPDATE, ON DUPLICATE KEY UPDATE, REPLACE) may change \
             rows already there, whose images cannot be taken before it",
        ),
        Shape::Filtered {
            limit: Some(_),
            order_by: None,
            ..
        } => Err("LIMIT without ORDER BY picks rows that could not be picked again for certain"),
        _ => Ok(Some(shape)),
    }
}

/// Why a run of `analysis` on `driver` could not keep its images, as far as its text tells
/// (the target's catalog — primary keys — can add reasons at execution): for the request page,
/// before anyone reviews a change that undo would refuse.
pub fn undo_refusal(analysis: &Analysis, driver: Driver) -> Option<String> {
    analysis.statements.iter().find_map(|statement| {
        classify(statement, driver)
            .err()
            .map(|why| format!("{}: {why}", describe(statement)))
    })
}

/// The position of `table` among `plan.tables`, looked up in the catalog the first time;
/// `Ok(None)` when there is no such table.
async fn table_at(
    session: &mut Session,
    driver: Driver,
    plan: &mut CapturePlan,
    table: &TableName,
) -> Result<Result<Option<usize>, String>, sqlx::Error> {
    let info = session.table_info(table).await?;
    if info.columns.is_empty() {
        return Ok(Ok(None));
    }
    if info.key.is_empty() {
        return Ok(Err(format!(
            "table {} has no primary key, so its rows cannot be told apart",
            table.written
        )));
    }
    let id = match driver {
        Driver::Postgres => info.counter.clone(),
        Driver::Mysql | Driver::Sqlite => format!(
            "{}.{}",
            table.schema.as_deref().unwrap_or_default(),
            table.name
        )
        .to_lowercase(),
    };
    if let Some(at) = plan.tables.iter().position(|t| t.id == id) {
        return Ok(Ok(Some(at)));
    }
    let key_at = info
        .key
        .iter()
        .map(|k| info.columns.iter().position(|c| &c.name == k))
        .collect::<Option<Vec<_>>>();
    let Some(key_at) = key_at else {
        return Ok(Err(format!(
            "the primary key of table {} is not among its columns",
            table.written
        )));
    };
    plan.tables.push(CapturedTable {
        written: table.written.clone(),
        id,
        info,
        key_at,
    });
    Ok(Ok(Some(plan.tables.len() - 1)))
}

/// Whether two column names may be the same column. Case is ignored (PostgreSQL folds
/// unquoted names; the others ignore case): at worst a statement is refused that need not be.
fn same_name(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// `statement 3 (update accounts)`.
pub(crate) fn describe(statement: &Statement) -> String {
    let mut what = statement.kind.as_str().replace('_', " ");
    if let Some(table) = statement.tables.first() {
        what.push(' ');
        what.push_str(table);
    }
    format!("statement {} ({what})", statement.index + 1)
}

/// The column's value as the database's own SQL literal (`NULL` for NULL).
pub(crate) fn literal(driver: Driver, column: &ColumnInfo, qualifier: Option<&str>) -> String {
    let name = quote_ident(driver, &column.name);
    let c = match qualifier {
        Some(q) => format!("{q}.{name}"),
        None => name,
    };
    match driver {
        Driver::Postgres => format!("quote_nullable({c})"),
        Driver::Sqlite => format!("quote({c})"),
        Driver::Mysql if column.binary => {
            format!("IF({c} IS NULL, 'NULL', CONCAT('X''', HEX({c}), ''''))")
        }
        Driver::Mysql => format!("QUOTE({c})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, binary: bool) -> ColumnInfo {
        ColumnInfo {
            name: name.into(),
            binary,
            generated: false,
        }
    }

    #[test]
    fn values_are_read_as_the_databases_own_literals() {
        assert_eq!(
            literal(Driver::Postgres, &column("a\"b", false), Some("t")),
            "quote_nullable(t.\"a\"\"b\")"
        );
        assert_eq!(
            literal(Driver::Sqlite, &column("a", false), None),
            "quote(\"a\")"
        );
        assert_eq!(
            literal(Driver::Mysql, &column("b", true), None),
            "IF(`b` IS NULL, 'NULL', CONCAT('X''', HEX(`b`), ''''))"
        );
        assert_eq!(
            literal(Driver::Mysql, &column("c", false), Some("x")),
            "QUOTE(x.`c`)"
        );
    }

    #[test]
    fn reads_are_sent_as_they_are() {
        assert!(reads(StatementKind::Select));
        assert!(reads(StatementKind::Call));
        assert!(!reads(StatementKind::Update));
        assert!(!reads(StatementKind::Set));
    }
}
