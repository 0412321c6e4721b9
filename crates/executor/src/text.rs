//! Reading what a message of one or more statements returns, as text, whatever the driver: for
//! each statement, the column names, its rows' values as the database writes them (NULL as
//! `None`, bytes that are not UTF-8 as `\x` hex), and the count the server reported. Used by
//! rehearsals, whose samples show values as text.
//!
//! The SQL goes through sqlx's `raw_sql` (PostgreSQL's simple query, MySQL's `COM_QUERY`),
//! whose results come in the text format. Which rows of a statement are kept is said per
//! statement ([`Keep`]); the others are counted and dropped as they come.

use std::collections::HashSet;

use futures_util::StreamExt;
use sqlx::{AssertSqlSafe, Column, ColumnIndex, Database, Decode, Either, Executor, Row, ValueRef};

/// One statement's part of what a message gave back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Fetched {
    /// The server's count (rows changed, or rows returned where the driver says so).
    pub(crate) rows_affected: u64,
    /// The rows returned, all of them counted, only those kept kept.
    pub(crate) returned: u64,
    /// The names of the columns of the rows returned (empty without rows kept).
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<Vec<Option<String>>>,
}

/// Which rows of a statement's result to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// The first so many.
    First(usize),
    /// Those whose first `keys` values equal the first `keys` values of a row kept from the
    /// result of statement `of` of the same message (an earlier one).
    Matching { of: usize, keys: usize },
}

/// What a message gave back: each statement's result until the first error, if any.
#[derive(Debug, Default)]
pub(crate) struct Fetch {
    pub(crate) results: Vec<Fetched>,
    pub(crate) error: Option<sqlx::Error>,
}

/// Runs `sql` on `executor` and reads each statement's results as text, keeping rows as
/// `keep` says for each statement (`First(0)` beyond its end). `on_result` is called as each
/// statement ends.
pub(crate) async fn fetch<'e, DB, E>(
    executor: E,
    sql: &str,
    keep: &[Keep],
    rows_affected: fn(&DB::QueryResult) -> u64,
    mut on_result: impl FnMut(),
) -> Fetch
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> String: Decode<'r, DB>,
    for<'r> Vec<u8>: Decode<'r, DB>,
{
    let mut fetch = Fetch::default();
    let mut current = Fetched::default();
    let mut wanted: Option<HashSet<Vec<Option<String>>>> = None;
    let mut stream = sqlx::raw_sql(AssertSqlSafe(sql.to_owned())).fetch_many(executor);
    while let Some(item) = stream.next().await {
        let item = match item {
            Ok(item) => item,
            Err(error) => {
                fetch.error = Some(error);
                break;
            }
        };
        let index = fetch.results.len();
        let rule = keep.get(index).copied().unwrap_or(Keep::First(0));
        match item {
            Either::Left(result) => {
                current.rows_affected =
                    current.rows_affected.saturating_add(rows_affected(&result));
                fetch.results.push(std::mem::take(&mut current));
                wanted = None;
                on_result();
            }
            Either::Right(row) => {
                current.returned += 1;
                let kept = match rule {
                    Keep::First(limit) => current.rows.len() < limit,
                    Keep::Matching { of, keys } => {
                        let wanted = wanted.get_or_insert_with(|| {
                            fetch.results.get(of).map_or_else(HashSet::new, |earlier| {
                                earlier
                                    .rows
                                    .iter()
                                    .map(|r| r[..keys.min(r.len())].to_vec())
                                    .collect()
                            })
                        });
                        let key: Result<Vec<_>, _> =
                            (0..keys.min(row.len())).map(|i| value(&row, i)).collect();
                        match key {
                            Ok(key) => wanted.contains(&key),
                            Err(error) => {
                                fetch.error = Some(error);
                                break;
                            }
                        }
                    }
                };
                if !kept {
                    continue;
                }
                if current.columns.is_empty() {
                    current.columns = row.columns().iter().map(|c| c.name().to_owned()).collect();
                }
                match (0..row.len()).map(|i| value(&row, i)).collect() {
                    Ok(values) => current.rows.push(values),
                    Err(error) => {
                        fetch.error = Some(error);
                        break;
                    }
                }
            }
        }
    }
    fetch
}

/// One value of a row as text.
fn value<R>(row: &R, index: usize) -> Result<Option<String>, sqlx::Error>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database>,
{
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
