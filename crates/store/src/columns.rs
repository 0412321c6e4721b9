//! How the store reads its columns back: times (RFC 3339 text on both backends) and values
//! parsed from their names, a value that does not read being [`StoreError::Corrupt`].

use std::str::FromStr;

use countersign_core::timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use crate::StoreError;

pub(crate) fn parse<T: FromStr>(row: &AnyRow, column: &str) -> Result<T, StoreError> {
    let text: String = row.try_get(column)?;
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("{column} {text:?}")))
}

pub(crate) fn parse_time(text: &str) -> Result<OffsetDateTime, StoreError> {
    timestamp::parse(text).map_err(|_| StoreError::Corrupt(format!("time {text:?}")))
}

pub(crate) fn time_col(row: &AnyRow, column: &str) -> Result<OffsetDateTime, StoreError> {
    let text: String = row.try_get(column)?;
    parse_time(&text)
}
