//! A revert's SQL, generated from a run's images: one statement a row, newest change first,
//! each restoring its row only while the row still holds what the run left in it — so a row
//! changed since is never overwritten, and the revert's row-count guard (one row a statement)
//! fails instead.
//!
//! - A row the run updated: `UPDATE … SET <changed columns> = <before> WHERE <key> AND <every
//!   column still as after>`.
//! - A row the run inserted: `DELETE … WHERE <key> AND <every column still as after>`.
//! - A row the run deleted: `INSERT` of its before-image only where its key is still free
//!   (PostgreSQL `ON CONFLICT DO NOTHING`, which also yields to any other unique value taken
//!   since; MySQL/MariaDB and SQLite `INSERT … SELECT … WHERE NOT EXISTS` on the key).
//!
//! "Still as after" compares values exactly: PostgreSQL compares each column's text (`::text IS
//! NOT DISTINCT FROM`, which also covers types without equality such as `json`), MySQL/MariaDB
//! compares bytes (`CAST(… AS BINARY) <=>`, so a case-insensitive collation cannot take `A`
//! for `a`), SQLite compares with `IS`.

use crate::rehearse::sample::quote_ident;
use crate::target::Driver;

use super::{Literal, RowImage};

/// One statement of a revert, and the image it restores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevertStatement {
    /// Where the image is among those given to [`revert_sql`].
    pub image: usize,
    pub sql: String,
}

/// The statements restoring `images` (a run's, in the order they were captured), newest first:
/// rows a later statement changed are restored before the ones an earlier statement changed
/// (children before parents were deleted, so parents come back first).
pub fn revert_sql(driver: Driver, images: &[RowImage]) -> Vec<RevertStatement> {
    let mut order: Vec<usize> = (0..images.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(images[i].statement), std::cmp::Reverse(i)));
    order
        .into_iter()
        .filter_map(|i| restore(driver, &images[i]).map(|sql| RevertStatement { image: i, sql }))
        .collect()
}

fn restore(driver: Driver, image: &RowImage) -> Option<String> {
    let table = &image.table;
    let written = |i: usize| !image.generated.contains(&image.columns[i]);
    match (&image.before, &image.after) {
        (Some(before), Some(after)) => {
            let set: Vec<String> = (0..image.columns.len())
                .filter(|&i| written(i) && before.get(i) != after.get(i))
                .map(|i| format!("{} = {}", quote_ident(driver, &image.columns[i]), before[i]))
                .collect();
            if set.is_empty() {
                return None;
            }
            Some(format!(
                "UPDATE {table} SET {} WHERE {}",
                set.join(", "),
                still(driver, image, after)
            ))
        }
        (None, Some(after)) => Some(format!(
            "DELETE FROM {table} WHERE {}",
            still(driver, image, after)
        )),
        (Some(before), None) => {
            let at: Vec<usize> = (0..image.columns.len()).filter(|&i| written(i)).collect();
            let columns: Vec<String> = at
                .iter()
                .map(|&i| quote_ident(driver, &image.columns[i]))
                .collect();
            let values: Vec<&str> = at.iter().map(|&i| before[i].as_str()).collect();
            let (columns, values) = (columns.join(", "), values.join(", "));
            Some(match driver {
                // Identity columns GENERATED ALWAYS take the old value back too.
                Driver::Postgres => format!(
                    "INSERT INTO {table} ({columns}) OVERRIDING SYSTEM VALUE VALUES ({values}) \
                     ON CONFLICT DO NOTHING"
                ),
                Driver::Mysql => format!(
                    "INSERT INTO {table} ({columns}) SELECT {values} FROM DUAL WHERE NOT EXISTS \
                     (SELECT 1 FROM {table} WHERE {})",
                    key_only(driver, image, before)
                ),
                Driver::Sqlite => format!(
                    "INSERT INTO {table} ({columns}) SELECT {values} WHERE NOT EXISTS \
                     (SELECT 1 FROM {table} WHERE {})",
                    key_only(driver, image, before)
                ),
            })
        }
        (None, None) => None,
    }
}

/// `<key> = <its value in row>`, every key column.
fn key_only(driver: Driver, image: &RowImage, row: &[Literal]) -> String {
    let terms: Vec<String> = image
        .columns
        .iter()
        .zip(row)
        .filter(|(column, _)| image.key_columns.contains(column))
        .map(|(column, value)| format!("{} = {value}", quote_ident(driver, column)))
        .collect();
    terms.join(" AND ")
}

/// `<key> AND <every column as in row>`.
fn still(driver: Driver, image: &RowImage, row: &[Literal]) -> String {
    let mut terms = Vec::with_capacity(image.columns.len());
    for (column, value) in image.columns.iter().zip(row) {
        let c = quote_ident(driver, column);
        let is_key = image.key_columns.contains(column);
        terms.push(match (driver, is_key) {
            // The key by plain equality, which the primary key's index serves.
            (_, true) if value != "NULL" => format!("{c} = {value}"),
            (Driver::Postgres, _) => format!("{c}::text IS NOT DISTINCT FROM {value}"),
            (Driver::Mysql, _) => format!("CAST({c} AS BINARY) <=> CAST({value} AS BINARY)"),
            (Driver::Sqlite, _) => format!("{c} IS {value}"),
        });
    }
    terms.join(" AND ")
}

/// A literal as the value it writes, for people: `None` for `NULL`, strings unquoted and
/// unescaped, `X'…'` as `\x…`, numbers as they are.
pub fn literal_text(literal: &str) -> Option<String> {
    if literal == "NULL" {
        return None;
    }
    if let Some(hex) = literal
        .strip_prefix("X'")
        .or_else(|| literal.strip_prefix("x'"))
        .and_then(|l| l.strip_suffix('\''))
    {
        return Some(format!("\\x{}", hex.to_ascii_lowercase()));
    }
    let (escapes, body) = match literal.strip_prefix('E') {
        Some(rest) => (true, rest),
        None => (false, literal),
    };
    let Some(body) = body.strip_prefix('\'').and_then(|b| b.strip_suffix('\'')) else {
        return Some(literal.to_owned());
    };
    let mut text = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if chars.peek() == Some(&'\'') => {
                chars.next();
                text.push('\'');
            }
            // PostgreSQL's E'…' and MySQL's QUOTE() escape with backslashes.
            '\\' => match chars.next() {
                Some('0') if !escapes => text.push('\0'),
                Some('Z') if !escapes => text.push('\u{1a}'),
                Some(other) => text.push(other),
                None => text.push('\\'),
            },
            other => text.push(other),
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(before: Option<&[&str]>, after: Option<&[&str]>) -> RowImage {
        let row = |r: &[&str]| r.iter().map(|v| (*v).to_owned()).collect();
        RowImage {
            statement: 0,
            table: "t".into(),
            columns: vec!["id".into(), "v".into(), "g".into()],
            generated: vec!["g".into()],
            key_columns: vec!["id".into()],
            key: vec!["'1'".into()],
            before: before.map(row),
            after: after.map(row),
        }
    }

    #[test]
    fn each_change_is_restored_only_where_the_row_still_holds_its_after_image() {
        let updated = image(
            Some(&["'1'", "'old'", "'x'"]),
            Some(&["'1'", "'new'", "'y'"]),
        );
        assert_eq!(
            revert_sql(Driver::Postgres, &[updated])[0].sql,
            "UPDATE t SET \"v\" = 'old' WHERE \"id\" = '1' AND \"v\"::text IS NOT DISTINCT \
             FROM 'new' AND \"g\"::text IS NOT DISTINCT FROM 'y'"
        );
        let inserted = image(None, Some(&["'1'", "NULL", "'y'"]));
        assert_eq!(
            revert_sql(Driver::Mysql, &[inserted])[0].sql,
            "DELETE FROM t WHERE `id` = '1' AND CAST(`v` AS BINARY) <=> CAST(NULL AS BINARY) \
             AND CAST(`g` AS BINARY) <=> CAST('y' AS BINARY)"
        );
        let deleted = image(Some(&["1", "X'00'", "2"]), None);
        assert_eq!(
            revert_sql(Driver::Sqlite, std::slice::from_ref(&deleted))[0].sql,
            "INSERT INTO t (\"id\", \"v\") SELECT 1, X'00' WHERE NOT EXISTS \
             (SELECT 1 FROM t WHERE \"id\" = 1)"
        );
        assert!(
            revert_sql(Driver::Postgres, &[deleted])[0]
                .sql
                .ends_with("VALUES (1, X'00') ON CONFLICT DO NOTHING")
        );
    }

    #[test]
    fn the_newest_change_is_restored_first() {
        let mut first = image(Some(&["'1'", "'a'", "'g'"]), None);
        first.statement = 0;
        let mut second = image(Some(&["'2'", "'b'", "'g'"]), None);
        second.statement = 3;
        let order: Vec<usize> = revert_sql(Driver::Postgres, &[first, second])
            .iter()
            .map(|s| s.image)
            .collect();
        assert_eq!(order, [1, 0]);
    }

    #[test]
    fn literals_read_back_as_values() {
        assert_eq!(literal_text("NULL"), None);
        assert_eq!(literal_text("'it''s'").as_deref(), Some("it's"));
        assert_eq!(literal_text("E'a\\\\b'").as_deref(), Some("a\\b"));
        assert_eq!(literal_text("'a\\nb\\\\'").as_deref(), Some("anb\\"));
        assert_eq!(literal_text("X'00FF'").as_deref(), Some("\\x00ff"));
        assert_eq!(literal_text("12.5").as_deref(), Some("12.5"));
    }
}
