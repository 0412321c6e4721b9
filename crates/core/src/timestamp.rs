//! The one text form of a point in time used in the store, the API and the audit chain:
//! RFC 3339 in UTC with exactly six fractional digits (`2026-11-25T03:24:21.123456Z`).
//! Fixed width, so it sorts as text and hashes the same on every backend.

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

const FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// The current time, truncated to microseconds so that it survives a round trip through text.
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}

/// Formats `at` (converted to UTC) in the fixed form.
pub fn format(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_else(|_| unreachable!("every UTC date in range formats"))
}

/// Parses the fixed form back; also accepts any RFC 3339 time (e.g. from a query string).
pub fn parse(text: &str) -> Result<OffsetDateTime, time::error::Parse> {
    match PrimitiveDateTime::parse(text, FORMAT) {
        Ok(t) => Ok(t.assume_utc()),
        Err(_) => OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_fixed_width() {
        let t = now();
        let text = format(t);
        assert_eq!(text.len(), "2026-11-25T03:24:21.123456Z".len());
        assert!(text.ends_with('Z'));
        assert_eq!(parse(&text).ok(), Some(t));
    }

    #[test]
    fn accepts_other_rfc3339_offsets_and_normalises_to_utc() {
        let t = parse("2026-11-25T05:00:00+02:00").expect("valid RFC 3339");
        assert_eq!(format(t), "2026-11-25T03:00:00.000000Z");
    }

    #[test]
    fn refuses_garbage() {
        assert!(parse("yesterday").is_err());
    }
}
