//! How the audit filter reads from a query string or the command line ([`FilterQuery`],
//! [`parse_time`]), shared by the API, the `/audit` page and the CLI.

use countersign_core::timestamp;
use countersign_store::audit::AuditFilter;
use serde::Deserialize;
use time::OffsetDateTime;
use time::macros::format_description;

/// Parses a time bound as people write it: RFC 3339 (`2025-06-01T12:00:00Z`, any offset), or a
/// bare date (`2025-06-01`), meaning its midnight in UTC.
pub fn parse_time(text: &str) -> Result<OffsetDateTime, InvalidTime> {
    let text = text.trim();
    if let Ok(at) = timestamp::parse(text) {
        return Ok(at);
    }
    time::Date::parse(text, format_description!("[year]-[month]-[day]"))
        .map(|date| date.midnight().assume_utc())
        .map_err(|_| InvalidTime(text.to_owned()))
}

/// Text that is neither an RFC 3339 time nor a date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a time: give RFC 3339 (2025-06-01T12:00:00Z) or a date (2025-06-01, UTC)")]
pub struct InvalidTime(pub String);

/// The filter of the audit trail as a query string carries it (`?since=&until=&actor=&request=&action=`):
/// what `GET /api/v1/audit` and the `/audit` page read, as typed. Blank values mean "any", since
/// an HTML form sends every field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct FilterQuery {
    pub since: Option<String>,
    pub until: Option<String>,
    pub actor: Option<String>,
    /// A request number (`12` or `#12`).
    pub request: Option<String>,
    pub action: Option<String>,
}

/// A filter value that cannot be read, naming its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidFilter {
    pub field: &'static str,
    pub reason: String,
}

impl FilterQuery {
    /// The filter these values ask for.
    pub fn to_filter(&self) -> Result<AuditFilter, InvalidFilter> {
        let time = |field: &'static str, value: Option<&str>| {
            value
                .map(|v| {
                    parse_time(v).map_err(|e| InvalidFilter {
                        field,
                        reason: e.to_string(),
                    })
                })
                .transpose()
        };
        let request_id = given(&self.request)
            .map(|v| {
                v.trim_start_matches('#')
                    .parse::<i64>()
                    .map_err(|_| InvalidFilter {
                        field: "request",
                        reason: format!("{v:?} is not a request number"),
                    })
            })
            .transpose()?;
        Ok(AuditFilter {
            since: time("since", given(&self.since))?,
            until: time("until", given(&self.until))?,
            actor: given(&self.actor).map(str::to_owned),
            request_id,
            action: given(&self.action).map(str::to_owned),
        })
    }

    /// The fields that are set, as `(name, value)` pairs for a link to the same selection.
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("since", &self.since),
            ("until", &self.until),
            ("actor", &self.actor),
            ("request", &self.request),
            ("action", &self.action),
        ]
        .into_iter()
        .filter_map(|(name, value)| given(value).map(|v| (name, v)))
    }
}

/// A field's value, trimmed; `None` when blank.
fn given(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn filters_read_from_a_query_string() {
        let query = FilterQuery {
            since: Some("2025-06-01".into()),
            until: Some(" 2025-06-02T12:00:00+02:00 ".into()),
            actor: Some("".into()),
            request: Some("#12".into()),
            action: Some("review.approved".into()),
        };
        let filter = query.to_filter().unwrap();
        assert_eq!(filter.since, Some(datetime!(2025-06-01 0:00 UTC)));
        assert_eq!(filter.until, Some(datetime!(2025-06-02 10:00 UTC)));
        assert_eq!(filter.actor, None);
        assert_eq!(filter.request_id, Some(12));
        assert_eq!(filter.action.as_deref(), Some("review.approved"));
        assert_eq!(
            query.pairs().collect::<Vec<_>>(),
            [
                ("since", "2025-06-01"),
                ("until", "2025-06-02T12:00:00+02:00"),
                ("request", "#12"),
                ("action", "review.approved")
            ]
        );
        assert_eq!(
            FilterQuery::default().to_filter().unwrap(),
            AuditFilter::default()
        );

        let bad = FilterQuery {
            since: Some("yesterday".into()),
            ..Default::default()
        };
        assert_eq!(bad.to_filter().unwrap_err().field, "since");
        let bad = FilterQuery {
            request: Some("twelve".into()),
            ..Default::default()
        };
        assert_eq!(bad.to_filter().unwrap_err().field, "request");
    }
}
