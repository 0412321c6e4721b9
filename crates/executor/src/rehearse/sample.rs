//! A rehearsal's samples: at most a few of the rows a statement changed, before and after,
//! values as text, masked columns masked. Each sample's SQL runs in the rehearsal's message,
//! around its statement, in the same transaction.
//!
//! - `INSERT` into one table: the statement runs with `RETURNING *` appended (PostgreSQL,
//!   SQLite, MariaDB; not MySQL): its after-image. No before-image.
//! - `DELETE` from one table: with `RETURNING *` appended (the same databases), its
//!   before-image; on MySQL, the rows are re-selected by its predicate just before it.
//! - `UPDATE` of one table: its rows are re-selected by its own predicate (and its `ORDER BY` /
//!   `LIMIT`, MySQL) just before it, ordered by the table's primary key (from the catalog;
//!   SQLite's `rowid` without one), at most as many as a sample holds; the after-image is the
//!   statement's own `RETURNING <key>, *` (PostgreSQL, SQLite), of which only the rows with
//!   those keys are kept, or (MySQL) a re-select by those keys just after it. The keys are
//!   quoted by the database itself (`quote_nullable`, `QUOTE`, `quote`). Without a key an
//!   `UPDATE` has no sample (its rows could not be paired).
//!
//! Anything else (a statement that does not parse alone, joins, `UPDATE … FROM`, CTEs,
//! `MERGE`) has no sample. Values are cut at [`MAX_VALUE_CHARS`] characters and masked before
//! they leave this module.

use std::collections::HashMap;

use countersign_core::mask::{MASKED, Masks};
use sqlparser::ast::{
    AssignmentTarget, Delete, Expr, FromTable, Insert, ObjectName, ObjectNamePart, OnConflict,
    OnConflictAction, OnInsert, OrderByExpr, SqliteOnConflict, Statement, TableFactor, TableObject,
    TableWithJoins, Update,
};
use sqlparser::parser::Parser;

use crate::session::{Session, TableName};
use crate::target::Driver;
use crate::text::Fetched;

/// The longest value a sample shows, in characters.
pub const MAX_VALUE_CHARS: usize = 200;

/// Some of the rows one statement changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The table, as the statement names it.
    pub table: String,
    pub columns: Vec<String>,
    /// The rows as they were before the statement (none for an `INSERT`).
    pub before: Vec<Vec<Option<String>>>,
    /// The same rows after it, in the same order (none for a `DELETE`; the inserted rows for
    /// an `INSERT`).
    pub after: Vec<Vec<Option<String>>>,
    /// The columns whose values are shown as `••••`.
    pub masked: Vec<String>,
}

/// What kind of sample a statement can have, read from its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    /// An `UPDATE` (`delete: false`) or `DELETE` of one table, found again by its predicate.
    Filtered {
        delete: bool,
        table: TableName,
        /// The table's alias in the statement, as written.
        alias: Option<String>,
        selection: Option<String>,
        order_by: Option<String>,
        limit: Option<String>,
        /// The columns an `UPDATE` assigns (their last name part, as written).
        assigned: Vec<String>,
    },
    /// An `INSERT` into one table.
    Insert {
        table: TableName,
        /// It may change rows already there: `ON CONFLICT … DO UPDATE`, `ON DUPLICATE KEY
        /// UPDATE`, `REPLACE`, `INSERT OR REPLACE`. (`ON CONFLICT DO NOTHING` inserts or does
        /// nothing: not an upsert.)
        upsert: bool,
    },
}

impl Shape {
    /// The sample shape of `sql`, one statement of `driver`'s dialect, if it has one.
    pub(crate) fn of(sql: &str, driver: Driver) -> Option<Self> {
        let dialect = driver.dialect().parser_dialect();
        let mut statements = Parser::parse_sql(dialect, sql).ok()?;
        if statements.len() != 1 {
            return None;
        }
        match statements.pop()? {
            Statement::Update(Update {
                table,
                assignments,
                from: None,
                selection,
                returning: None,
                order_by,
                limit,
                ..
            }) => {
                let (table, alias) = single_table(&table)?;
                let assigned = assignments
                    .iter()
                    .flat_map(|a| match &a.target {
                        AssignmentTarget::ColumnName(name) => vec![name],
                        AssignmentTarget::Tuple(names) => names.iter().collect(),
                    })
                    .filter_map(|name| match name.0.last() {
                        Some(ObjectNamePart::Identifier(ident)) => Some(ident.value.clone()),
                        _ => None,
                    })
                    .collect();
                Some(Self::Filtered {
                    delete: false,
                    table,
                    alias,
                    selection: selection.as_ref().map(Expr::to_string),
                    order_by: order(&order_by),
                    limit: limit.as_ref().map(Expr::to_string),
                    assigned,
                })
            }
            Statement::Delete(Delete {
                tables,
                from: FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from),
                using: None,
                selection,
                returning: None,
                order_by,
                limit,
                ..
            }) if tables.is_empty() && from.len() == 1 => {
                let (table, alias) = single_table(&from[0])?;
                Some(Self::Filtered {
                    delete: true,
                    table,
                    alias,
                    selection: selection.as_ref().map(Expr::to_string),
                    order_by: order(&order_by),
                    limit: limit.as_ref().map(Expr::to_string),
                    assigned: Vec::new(),
                })
            }
            Statement::Insert(Insert {
                table: TableObject::TableName(name),
                returning: None,
                on,
                replace_into,
                or,
                ..
            }) => Some(Self::Insert {
                table: table_name(&name)?,
                upsert: !matches!(
                    on,
                    None | Some(OnInsert::OnConflict(OnConflict {
                        action: OnConflictAction::DoNothing,
                        ..
                    }))
                ) || replace_into
                    || matches!(or, Some(SqliteOnConflict::Replace)),
            }),
            _ => None,
        }
    }
}

fn single_table(table: &TableWithJoins) -> Option<(TableName, Option<String>)> {
    if !table.joins.is_empty() {
        return None;
    }
    let TableFactor::Table {
        name, alias, args, ..
    } = &table.relation
    else {
        return None;
    };
    if args.is_some() {
        return None;
    }
    Some((
        table_name(name)?,
        alias.as_ref().map(|a| a.name.to_string()),
    ))
}

fn table_name(name: &ObjectName) -> Option<TableName> {
    let mut parts = name.0.iter().map(|part| match part {
        ObjectNamePart::Identifier(ident) => Some(ident.value.clone()),
        _ => None,
    });
    let parts: Vec<String> = parts.by_ref().collect::<Option<_>>()?;
    let (name_part, schema) = match parts.as_slice() {
        [name] => (name.clone(), None),
        [schema, name] => (name.clone(), Some(schema.clone())),
        _ => return None,
    };
    Some(TableName {
        written: name.to_string(),
        schema,
        name: name_part,
    })
}

fn order(order_by: &[OrderByExpr]) -> Option<String> {
    (!order_by.is_empty()).then(|| {
        order_by
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// `name` quoted as an identifier of `driver`.
pub(crate) fn quote_ident(driver: Driver, name: &str) -> String {
    match driver {
        Driver::Mysql => format!("`{}`", name.replace('`', "``")),
        Driver::Postgres | Driver::Sqlite => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// The database's own SQL literal of `expr`'s value.
fn quote_value(driver: Driver, expr: &str) -> String {
    match driver {
        Driver::Postgres => format!("quote_nullable({expr})"),
        Driver::Mysql => format!("QUOTE({expr})"),
        Driver::Sqlite => format!("quote({expr})"),
    }
}

/// What rows a statement's own result gives its sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Returned {
    /// None (no `RETURNING`).
    Nothing,
    /// The first rows: an `INSERT`'s after-image, a `DELETE`'s before-image.
    First,
    /// The rows whose first `keys` values (the key literals) match a row of the re-select
    /// before it: an `UPDATE`'s after-image.
    MatchingBefore { keys: usize },
}

/// How one statement runs in a rehearsal, and how its sample is made.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    /// The re-select of its rows as they are, run just before it.
    pub(crate) before: Option<String>,
    /// Its text: as written, or with `RETURNING …` appended.
    pub(crate) statement: String,
    /// Whether `RETURNING` was appended.
    pub(crate) returning: bool,
    /// What its own result gives the sample.
    pub(crate) returned: Returned,
    /// Its after-image is re-selected by key just after it (MySQL's `UPDATE`, which has no
    /// `RETURNING`): the rehearsal must read the before-image first.
    pub(crate) after_by_key: bool,
    sample: Option<Sampled>,
}

/// What a sample is made of.
#[derive(Debug, Clone)]
struct Sampled {
    table: TableName,
    /// The key expressions of the re-selects, qualified; empty without a key.
    keys: Vec<String>,
    /// `FROM` of the re-selects: the table as written, with the statement's alias.
    from: String,
    /// Which image the statement's own rows are.
    image: Image,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Image {
    /// `INSERT … RETURNING`: after only.
    Inserted,
    /// `DELETE … RETURNING`: before only.
    Deleted,
    /// `DELETE` re-selected before it runs: before only.
    DeletedReselected,
    /// `UPDATE`: before re-selected, after from `RETURNING` or re-selected by key.
    Updated,
}

/// Takes samples through one rehearsal's session; remembers each table's key.
pub(crate) struct Sampler<'m> {
    driver: Driver,
    keep: usize,
    masks: &'m Masks,
    keys: HashMap<String, Vec<String>>,
    returning: Option<bool>,
}

impl<'m> Sampler<'m> {
    pub(crate) fn new(driver: Driver, keep: usize, masks: &'m Masks) -> Self {
        Self {
            driver,
            keep,
            masks,
            keys: HashMap::new(),
            returning: None,
        }
    }

    /// The most rows a sample holds.
    pub(crate) fn keep(&self) -> usize {
        self.keep
    }

    /// How to run `sql`, of sample shape `shape` (`None`: no sample).
    pub(crate) async fn plan(
        &mut self,
        session: &mut Session,
        sql: &str,
        shape: Option<Shape>,
    ) -> Result<Planned, sqlx::Error> {
        let plain = Planned {
            before: None,
            statement: sql.to_owned(),
            returning: false,
            returned: Returned::Nothing,
            after_by_key: false,
            sample: None,
        };
        let Some(shape) = shape else {
            return Ok(plain);
        };
        let returning = match self.returning {
            Some(known) => known,
            None => *self.returning.insert(session.has_returning().await?),
        };
        match shape {
            Shape::Insert { table, .. } if returning => Ok(Planned {
                statement: format!("{sql}\nRETURNING *"),
                returning: true,
                returned: Returned::First,
                sample: Some(Sampled {
                    from: table.written.clone(),
                    table,
                    keys: Vec::new(),
                    image: Image::Inserted,
                }),
                ..plain
            }),
            Shape::Insert { .. } => Ok(plain),
            Shape::Filtered {
                delete: true,
                table,
                ..
            } if returning => Ok(Planned {
                statement: format!("{sql}\nRETURNING *"),
                returning: true,
                returned: Returned::First,
                sample: Some(Sampled {
                    from: table.written.clone(),
                    table,
                    keys: Vec::new(),
                    image: Image::Deleted,
                }),
                ..plain
            }),
            Shape::Filtered {
                delete,
                table,
                alias,
                selection,
                order_by,
                limit,
                ..
            } => {
                let key_columns = self.key(session, &table).await?;
                let qualifier = alias.clone().unwrap_or_else(|| table.written.clone());
                let (keys, returned_keys): (Vec<String>, Vec<String>) =
                    match (key_columns.is_empty(), self.driver) {
                        (false, _) => key_columns
                            .iter()
                            .map(|c| {
                                let c = quote_ident(self.driver, c);
                                (format!("{qualifier}.{c}"), c)
                            })
                            .unzip(),
                        (true, Driver::Sqlite) => {
                            (vec![format!("{qualifier}.rowid")], vec!["rowid".to_owned()])
                        }
                        (true, _) if delete => (Vec::new(), Vec::new()),
                        // An UPDATE's rows could not be found again.
                        (true, _) => return Ok(plain),
                    };
                let mut from = table.written.clone();
                if let Some(alias) = &alias {
                    from.push_str(&format!(" AS {alias}"));
                }
                let mut before = self.select(&keys, &qualifier, &from);
                if let Some(selection) = &selection {
                    before.push_str(&format!(" WHERE {selection}"));
                }
                match (&order_by, keys.is_empty()) {
                    (Some(order_by), _) => before.push_str(&format!(" ORDER BY {order_by}")),
                    (None, false) => before.push_str(&format!(" ORDER BY {}", keys.join(", "))),
                    (None, true) => {}
                }
                let keep = match limit.as_deref().map(str::parse::<usize>) {
                    Some(Ok(limit)) => limit.min(self.keep),
                    _ => self.keep,
                };
                before.push_str(&format!(" LIMIT {keep}"));
                let sample = Some(Sampled {
                    table,
                    keys: keys.clone(),
                    from,
                    image: if delete {
                        Image::DeletedReselected
                    } else {
                        Image::Updated
                    },
                });
                if delete || self.driver == Driver::Mysql {
                    return Ok(Planned {
                        before: Some(before),
                        after_by_key: !delete,
                        sample,
                        ..plain
                    });
                }
                let quoted: Vec<String> = returned_keys
                    .iter()
                    .map(|key| quote_value(self.driver, key))
                    .collect();
                Ok(Planned {
                    before: Some(before),
                    statement: format!("{sql}\nRETURNING {}, *", quoted.join(", ")),
                    returning: true,
                    returned: Returned::MatchingBefore { keys: keys.len() },
                    after_by_key: false,
                    sample,
                })
            }
        }
    }

    /// `SELECT <quoted keys>, <qualifier>.* FROM <from>`.
    fn select(&self, keys: &[String], qualifier: &str, from: &str) -> String {
        let mut sql = String::from("SELECT ");
        for key in keys {
            sql.push_str(&quote_value(self.driver, key));
            sql.push_str(", ");
        }
        sql.push_str(&format!("{qualifier}.* FROM {from}"));
        sql
    }

    /// The re-select by key of the rows `before` holds, for a statement planned with
    /// `after_by_key`; `None` when there are none.
    pub(crate) fn after_select(&self, planned: &Planned, before: &Fetched) -> Option<String> {
        let sampled = planned.sample.as_ref()?;
        if !planned.after_by_key || before.rows.is_empty() || sampled.keys.is_empty() {
            return None;
        }
        let qualifier = sampled.from.rsplit(" AS ").next().unwrap_or(&sampled.from);
        let mut sql = self.select(&sampled.keys, qualifier, &sampled.from);
        let tuples: Vec<String> = before
            .rows
            .iter()
            .map(|row| {
                let literals: Vec<&str> = row[..sampled.keys.len().min(row.len())]
                    .iter()
                    .map(|literal| literal.as_deref().unwrap_or("NULL"))
                    .collect();
                format!("({})", literals.join(", "))
            })
            .collect();
        sql.push_str(&format!(
            " WHERE ({}) IN ({})",
            sampled.keys.join(", "),
            tuples.join(", ")
        ));
        Some(sql)
    }

    /// The sample of a statement that has run, from the re-select before it (`before`), its
    /// own result (`statement`) and the re-select by key after it (`after`). `None` when it
    /// changed no rows or has no sample.
    pub(crate) fn sample(
        &self,
        planned: &Planned,
        before: Option<Fetched>,
        statement: Fetched,
        after: Option<Fetched>,
    ) -> Option<Sample> {
        let sampled = planned.sample.as_ref()?;
        let keys = match planned.returned {
            Returned::MatchingBefore { keys } => keys,
            _ => sampled.keys.len(),
        };
        let (columns, before_rows, after_rows) = match sampled.image {
            Image::Inserted => (statement.columns, Vec::new(), statement.rows),
            Image::Deleted => (statement.columns, statement.rows, Vec::new()),
            Image::DeletedReselected => {
                let (_, columns, rows) = split_keys(before?, keys);
                (columns, rows, Vec::new())
            }
            Image::Updated => {
                let (literals, columns, rows) = split_keys(before?, keys);
                let after = match planned.returned {
                    Returned::MatchingBefore { .. } => statement,
                    _ => after.unwrap_or_default(),
                };
                let (after_literals, _, after_rows) = split_keys(after, keys);
                let mut by_key: HashMap<Vec<String>, Vec<Option<String>>> =
                    after_literals.into_iter().zip(after_rows).collect();
                let after = literals
                    .iter()
                    .filter_map(|key| by_key.remove(key))
                    .collect();
                (columns, rows, after)
            }
        };
        if before_rows.is_empty() && after_rows.is_empty() {
            return None;
        }
        Some(self.finish(
            &sampled.table.name,
            sampled.table.written.clone(),
            columns,
            before_rows,
            after_rows,
        ))
    }

    /// Cuts and masks the values.
    fn finish(
        &self,
        table: &str,
        written: String,
        columns: Vec<String>,
        before: Vec<Vec<Option<String>>>,
        after: Vec<Vec<Option<String>>>,
    ) -> Sample {
        let masked_at: Vec<bool> = columns
            .iter()
            .map(|column| self.masks.covers(table, column))
            .collect();
        let shown = |rows: Vec<Vec<Option<String>>>| -> Vec<Vec<Option<String>>> {
            rows.into_iter()
                .map(|row| {
                    row.into_iter()
                        .zip(&masked_at)
                        .map(|(value, masked)| match (value, masked) {
                            (_, true) => Some(MASKED.to_owned()),
                            (Some(value), false) => Some(cut(value)),
                            (None, false) => None,
                        })
                        .collect()
                })
                .collect()
        };
        Sample {
            table: written,
            masked: columns
                .iter()
                .zip(&masked_at)
                .filter(|(_, masked)| **masked)
                .map(|(column, _)| column.clone())
                .collect(),
            before: shown(before),
            after: shown(after),
            columns,
        }
    }

    async fn key(
        &mut self,
        session: &mut Session,
        table: &TableName,
    ) -> Result<Vec<String>, sqlx::Error> {
        if let Some(key) = self.keys.get(&table.written) {
            return Ok(key.clone());
        }
        let key = session.primary_key(table).await?;
        self.keys.insert(table.written.clone(), key.clone());
        Ok(key)
    }
}

/// The first `keys` columns of each row (the key literals) apart from the rest.
#[allow(clippy::type_complexity)]
fn split_keys(
    fetched: Fetched,
    keys: usize,
) -> (Vec<Vec<String>>, Vec<String>, Vec<Vec<Option<String>>>) {
    let columns = fetched.columns.into_iter().skip(keys).collect();
    let mut literals = Vec::with_capacity(fetched.rows.len());
    let mut rows = Vec::with_capacity(fetched.rows.len());
    for mut row in fetched.rows {
        let rest = row.split_off(keys.min(row.len()));
        literals.push(
            row.into_iter()
                .map(|literal| literal.unwrap_or_else(|| "NULL".to_owned()))
                .collect(),
        );
        rows.push(rest);
    }
    (literals, columns, rows)
}

/// `value` cut at [`MAX_VALUE_CHARS`] characters.
fn cut(mut value: String) -> String {
    if let Some((at, _)) = value.char_indices().nth(MAX_VALUE_CHARS) {
        value.truncate(at);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filtered(sql: &str, driver: Driver) -> (String, Option<String>, Option<String>) {
        match Shape::of(sql, driver) {
            Some(Shape::Filtered {
                table,
                alias,
                selection,
                ..
            }) => (table.written, alias, selection),
            other => panic!("{sql}: {other:?}"),
        }
    }

    #[test]
    fn single_table_changes_have_a_shape() {
        assert_eq!(
            filtered(
                "UPDATE shop.accounts a SET b = 1 WHERE a.id < 3",
                Driver::Postgres
            ),
            (
                "shop.accounts".into(),
                Some("a".into()),
                Some("a.id < 3".into())
            )
        );
        assert_eq!(
            filtered("DELETE FROM `t` WHERE id = 'x'", Driver::Mysql),
            ("`t`".into(), None, Some("id = 'x'".into()))
        );
        assert_eq!(
            filtered("delete from t", Driver::Sqlite),
            ("t".into(), None, None)
        );
        assert!(matches!(
            Shape::of("INSERT INTO t (a) VALUES (1)", Driver::Sqlite),
            Some(Shape::Insert { .. })
        ));
        let Some(Shape::Filtered {
            order_by, limit, ..
        }) = Shape::of(
            "UPDATE t SET a = 1 WHERE b > 0 ORDER BY c DESC LIMIT 5",
            Driver::Mysql,
        )
        else {
            panic!("a MySQL UPDATE with ORDER BY and LIMIT");
        };
        assert_eq!(
            (order_by.as_deref(), limit.as_deref()),
            (Some("c DESC"), Some("5"))
        );
    }

    #[test]
    fn joins_ctes_and_returning_have_none() {
        for (sql, driver) in [
            (
                "UPDATE t SET a = u.a FROM u WHERE t.id = u.id",
                Driver::Postgres,
            ),
            ("UPDATE t JOIN u ON t.id = u.id SET t.a = 1", Driver::Mysql),
            ("DELETE FROM t USING u WHERE t.id = u.id", Driver::Postgres),
            ("WITH x AS (SELECT 1) UPDATE t SET a = 1", Driver::Postgres),
            ("UPDATE t SET a = 1 RETURNING *", Driver::Postgres),
            ("SELECT 1", Driver::Sqlite),
            ("not sql at all", Driver::Sqlite),
        ] {
            assert_eq!(Shape::of(sql, driver), None, "{sql}");
        }
    }

    #[test]
    fn identifiers_are_quoted_per_driver() {
        assert_eq!(quote_ident(Driver::Mysql, "a`b"), "`a``b`");
        assert_eq!(quote_ident(Driver::Postgres, "a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_value(Driver::Sqlite, "t.rowid"), "quote(t.rowid)");
    }

    #[test]
    fn values_are_cut_and_masked() {
        let masks = Masks::new(&["t.secret"]);
        let sampler = Sampler::new(Driver::Sqlite, 20, &masks);
        let long = "é".repeat(MAX_VALUE_CHARS + 5);
        let sample = sampler.finish(
            "t",
            "t".into(),
            vec!["id".into(), "secret".into(), "note".into()],
            vec![vec![Some("1".into()), Some("hunter2".into()), Some(long)]],
            vec![vec![Some("1".into()), None, None]],
        );
        assert_eq!(sample.masked, ["secret"]);
        assert_eq!(sample.before[0][1].as_deref(), Some(MASKED));
        assert_eq!(sample.after[0][1].as_deref(), Some(MASKED));
        assert_eq!(
            sample.before[0][2].as_ref().map(|v| v.chars().count()),
            Some(MAX_VALUE_CHARS)
        );
        assert_eq!(sample.after[0][2], None);
    }
}
