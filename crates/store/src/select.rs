//! Statements built from the filters that are set: SQL text with `$n` placeholders numbered as
//! values are bound, and the values to bind. A list query then names only the conditions it
//! needs, so each backend's planner sees plain equalities and picks the index that serves them
//! (a catch-all `CAST($n AS TEXT) IS NULL OR …` hides them, and scans).
//!
//! sqlx's own `QueryBuilder` writes `?` placeholders for the `Any` driver, which PostgreSQL does
//! not read; `$n` works on both backends. Only this crate builds statements, and only from
//! fixed fragments: values always go through a bind, never into the text — but for page sizes
//! (`i64`s, which carry no SQL), written in: SQLite plans with a bound `LIMIT`'s value, and so
//! prepares the statement again every time it is bound; and for the names of a closed set (a
//! status: the code's own constants), so that each has a statement of its own, planned for it.

use sqlx::any::AnyArguments;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe, Postgres};

use crate::Backend;

/// A value to bind.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Text(String),
    Int(i64),
}

/// A statement under construction.
#[derive(Debug, Clone, Default)]
pub(crate) struct Select {
    sql: String,
    values: Vec<Value>,
    /// One plan is as good as another for every value bound (see [`Select::query`]).
    any_value: bool,
}

impl Select {
    pub(crate) fn new(sql: &'static str) -> Select {
        Select {
            sql: sql.to_owned(),
            values: Vec::new(),
            any_value: false,
        }
    }

    /// Appends a fixed piece of SQL in which every `$v` is the number `value` written into the
    /// text, like [`Select::limit`]'s.
    pub(crate) fn push_with(&mut self, sql: &'static str, value: i64) -> &mut Select {
        self.sql.push_str(&sql.replace("$v", &value.to_string()));
        self
    }

    /// Appends `LIMIT n` with the number written into the text. SQLite reads a bound `LIMIT`'s
    /// value when it plans and so prepares the statement again each time it is bound (about as
    /// costly as the query); an `i64` carries no SQL.
    pub(crate) fn limit(&mut self, n: i64) -> &mut Select {
        self.sql.push_str(" LIMIT ");
        self.sql.push_str(&n.to_string());
        self
    }

    /// Appends a fixed piece of SQL.
    pub(crate) fn push(&mut self, sql: &'static str) -> &mut Select {
        self.sql.push_str(sql);
        self
    }

    /// Appends `name`, one of a closed set of names the code defines (a status's), as a quoted
    /// literal: each name then has a statement of its own, which PostgreSQL may keep prepared
    /// with a plan made for that name (a bound one is planned for an average value, or at
    /// every call).
    pub(crate) fn name(&mut self, name: &'static str) -> &mut Select {
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "not a name: {name:?}"
        );
        self.sql.push('\'');
        self.sql.push_str(name);
        self.sql.push('\'');
        self
    }

    /// Appends the placeholder of a text value.
    pub(crate) fn text(&mut self, value: impl Into<String>) -> &mut Select {
        self.values.push(Value::Text(value.into()));
        self.placeholder()
    }

    /// Appends the placeholder of an integer value.
    pub(crate) fn int(&mut self, value: i64) -> &mut Select {
        self.values.push(Value::Int(value));
        self.placeholder()
    }

    fn placeholder(&mut self) -> &mut Select {
        self.sql.push('$');
        self.sql.push_str(&self.values.len().to_string());
        self
    }

    /// The statement with its values bound. On PostgreSQL it is not kept prepared unless
    /// [`Select::same_plan_for_any_value`]: the database plans each call for the values it is
    /// given (a statement prepared once may be planned once for any value, which for a filter
    /// means for an average one). SQLite plans without the values (the list queries name their
    /// index), so there it is kept prepared, one statement per shape of filter.
    pub(crate) fn query(&self, backend: Backend) -> Query<'static, Any, AnyArguments> {
        self.bound(self.sql.clone())
            .persistent(Select::kept_prepared(backend, self.any_value))
    }

    /// Whether [`Select::query`] keeps a statement prepared on `backend`, given whether one
    /// plan serves it for any value ([`Select::same_plan_for_any_value`]).
    pub(crate) fn kept_prepared(backend: Backend, any_value: bool) -> bool {
        backend == Backend::Sqlite || any_value
    }

    /// Says that one plan serves every value this statement is bound with (an unfiltered list's
    /// cursor): then PostgreSQL keeps it prepared too.
    pub(crate) fn same_plan_for_any_value(&mut self) -> &mut Select {
        self.any_value = true;
        self
    }

    /// The statement with its values bound, never kept prepared (whatever the backend).
    pub(crate) fn query_once(&self) -> Query<'static, Any, AnyArguments> {
        self.bound(self.sql.clone()).persistent(false)
    }

    /// The backend's plan of the statement: `EXPLAIN` on PostgreSQL, `EXPLAIN QUERY PLAN` on
    /// SQLite (one row per step, its text in the last column).
    #[cfg(feature = "testing")]
    pub(crate) fn explain(&self, backend: Backend) -> Query<'static, Any, AnyArguments> {
        let prefix = match backend {
            Backend::Postgres => "EXPLAIN ",
            Backend::Sqlite => "EXPLAIN QUERY PLAN ",
        };
        self.bound(format!("{prefix}{}", self.sql))
            .persistent(false)
    }

    /// The plan the backend runs the statement with: on PostgreSQL, for a statement kept
    /// prepared ([`Select::same_plan_for_any_value`]), the generic plan it ends up with.
    #[cfg(feature = "testing")]
    pub(crate) async fn plan(
        &self,
        pool: &sqlx::AnyPool,
        backend: Backend,
    ) -> Result<Vec<String>, crate::StoreError> {
        if backend == Backend::Postgres && self.any_value {
            generic_plan(pool, backend, &self.sql, &self.values).await
        } else {
            plan_lines(pool, self.explain(backend)).await
        }
    }

    /// The statement for the native PostgreSQL driver, with its values bound (not kept
    /// prepared either).
    pub(crate) fn postgres(&self) -> Query<'static, Postgres, PgArguments> {
        let mut query = sqlx::query(AssertSqlSafe(self.sql.clone()));
        for value in &self.values {
            query = match value {
                Value::Text(text) => query.bind(text.clone()),
                Value::Int(n) => query.bind(*n),
            };
        }
        query.persistent(false)
    }

    fn bound(&self, sql: String) -> Query<'static, Any, AnyArguments> {
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in &self.values {
            query = match value {
                Value::Text(text) => query.bind(text.clone()),
                Value::Int(n) => query.bind(*n),
            };
        }
        query
    }

    #[cfg(test)]
    fn sql(&self) -> &str {
        &self.sql
    }
}

/// The lines of a plan from [`Select::explain`]: PostgreSQL's one text column, SQLite's last
/// (`detail`) column.
#[cfg(feature = "testing")]
pub(crate) async fn plan_lines(
    pool: &sqlx::AnyPool,
    explain: Query<'static, Any, AnyArguments>,
) -> Result<Vec<String>, crate::StoreError> {
    use sqlx::Row;
    let rows = explain.fetch_all(pool).await?;
    rows.iter()
        .map(|row| Ok(row.try_get::<String, _>(row.columns().len() - 1)?))
        .collect()
}

/// The plan of `select` with `values` bound — on PostgreSQL the generic one, made once for
/// any value, as a statement kept prepared ends up with — one line a step: for the tests that
/// a statement walks an index whatever it is asked.
#[cfg(feature = "testing")]
pub(crate) async fn generic_plan(
    pool: &sqlx::AnyPool,
    backend: Backend,
    select: &str,
    values: &[Value],
) -> Result<Vec<String>, crate::StoreError> {
    use sqlx::Row;
    let mut conn = pool.acquire().await?;
    let rows = match backend {
        Backend::Postgres => {
            sqlx::query("SET plan_cache_mode = force_generic_plan")
                .execute(&mut *conn)
                .await?;
            sqlx::query(AssertSqlSafe(format!("PREPARE cs_plan AS {select}")))
                .execute(&mut *conn)
                .await?;
            let values: Vec<String> = values
                .iter()
                .map(|value| match value {
                    Value::Text(text) => format!("'{}'", text.replace('\'', "''")),
                    Value::Int(n) => n.to_string(),
                })
                .collect();
            let execute = match values.is_empty() {
                true => "EXPLAIN EXECUTE cs_plan".to_owned(),
                false => format!("EXPLAIN EXECUTE cs_plan({})", values.join(", ")),
            };
            sqlx::query(AssertSqlSafe(execute))
                .fetch_all(&mut *conn)
                .await?
        }
        Backend::Sqlite => {
            let mut query = sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {select}")));
            for value in values {
                query = match value {
                    Value::Text(text) => query.bind(text.clone()),
                    Value::Int(n) => query.bind(*n),
                };
            }
            query.fetch_all(&mut *conn).await?
        }
    };
    // The session's settings changed: it does not go back to the pool.
    conn.close().await?;
    rows.iter()
        .map(|row| Ok(row.try_get::<String, _>(row.len() - 1)?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_as_values_are_bound() {
        let mut s = Select::new("SELECT 1 FROM t WHERE a = ");
        s.text("x").push(" AND b < ").int(3).push(" LIMIT ").int(5);
        assert_eq!(s.sql(), "SELECT 1 FROM t WHERE a = $1 AND b < $2 LIMIT $3");
        assert_eq!(s.values.len(), 3);
    }

    #[test]
    fn page_sizes_are_written_in_and_bound_values_keep_their_numbers() {
        let mut s = Select::new("SELECT count(*) > $v FROM (SELECT id FROM t WHERE a = ");
        s.text("x").limit(51).push(") AS p WHERE p.id > ").int(3);
        s.push_with(" AND $v > 0", 50);
        assert_eq!(
            s.sql(),
            "SELECT count(*) > $v FROM (SELECT id FROM t WHERE a = $1 LIMIT 51) AS p \
             WHERE p.id > $2 AND 50 > 0"
        );
        assert_eq!(s.values.len(), 2, "only the values are bound");
    }
}
