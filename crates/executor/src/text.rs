//! Reading what a statement returns as text, whatever the driver: the column names, each value
//! as the database writes it (NULL as `None`, bytes that are not UTF-8 as `\x` hex), and the
//! statement count the server reported. Used by rehearsals, whose samples show values as text.
//!
//! The SQL goes through sqlx's `raw_sql` (PostgreSQL's simple query, MySQL's `COM_QUERY`),
//! whose results come in the text format.

use futures_util::TryStreamExt;
use sqlx::{AssertSqlSafe, Column, ColumnIndex, Database, Decode, Either, Executor, Row, ValueRef};

/// What one statement gave back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Fetched {
    /// How many statement results the server sent: more than one means it read the text as
    /// several statements.
    pub(crate) results: usize,
    /// The server's count (rows changed, or rows returned where the driver says so).
    pub(crate) rows_affected: u64,
    /// The rows returned, all of them counted, only the first `keep` kept.
    pub(crate) returned: u64,
    /// The names of the columns of the rows returned (empty without rows).
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<Vec<Option<String>>>,
}

/// Runs `sql` on `executor` and reads its results as text, keeping at most `keep` rows.
pub(crate) async fn fetch<'e, DB, E>(
    executor: E,
    sql: &str,
    keep: usize,
    rows_affected: fn(&DB::QueryResult) -> u64,
) -> Result<Fetched, sqlx::Error>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> String: Decode<'r, DB>,
    for<'r> Vec<u8>: Decode<'r, DB>,
{
    let mut fetched = Fetched::default();
    let mut stream = sqlx::raw_sql(AssertSqlSafe(sql.to_owned())).fetch_many(executor);
    while let Some(item) = stream.try_next().await? {
        match item {
            Either::Left(result) => {
                fetched.results += 1;
                fetched.rows_affected =
                    fetched.rows_affected.saturating_add(rows_affected(&result));
            }
            Either::Right(row) => {
                fetched.returned += 1;
                if fetched.rows.len() >= keep {
                    continue;
                }
                if fetched.columns.is_empty() {
                    fetched.columns = row.columns().iter().map(|c| c.name().to_owned()).collect();
                }
                fetched.rows.push(values(&row)?);
            }
        }
    }
    Ok(fetched)
}

/// A row's values as text.
fn values<R>(row: &R) -> Result<Vec<Option<String>>, sqlx::Error>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database>,
{
    (0..row.len())
        .map(|index| {
            if row.try_get_raw(index)?.is_null() {
                return Ok(None);
            }
            match row.try_get_unchecked::<String, _>(index) {
                Ok(text) => Ok(Some(text)),
                Err(_) => {
                    let bytes: Vec<u8> = row.try_get_unchecked(index)?;
                    Ok(Some(hex(&bytes)))
                }
            }
        })
        .collect()
}

/// Bytes as PostgreSQL writes a `bytea`: `\x` and two hex digits a byte.
fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(2 + 2 * bytes.len());
    text.push_str("\\x");
    for byte in bytes {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_shown_as_hex() {
        assert_eq!(hex(&[0, 0xff, 0x10]), "\\x00ff10");
        assert_eq!(hex(&[]), "\\x");
    }
}
