//! The audit trail's export formats (docs/audit.md), written by one [`ExportWriter`] for both
//! `GET /api/v1/audit` and `countersign audit export`, so the two give the same bytes:
//!
//! - `json`: one JSON array of the events, in order;
//! - `jsonl` (JSON Lines): one event per line as serde_json writes an [`AuditEvent`], which is
//!   what `countersign audit verify --file` reads back;
//! - `csv`: RFC 4180 with the header row [`CSV_HEADER`]; `details` is its canonical JSON text,
//!   and absent values (the system as actor, an event on no request) are empty fields. Fields
//!   holding commas, quotes or line breaks are quoted by the `csv` crate.
//!
//! Every event carries its chain fields (`prev_hash`, `hash`), so an export can be verified
//! offline. Writers hold one event at a time and streams one chunk at a time: exports take
//! constant memory whatever the length of the trail.
//!
//! Also here: how the filter reads from a query string or the command line ([`FilterQuery`],
//! [`parse_time`]), shared by the API, the `/audit` page and the CLI.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Write};
use std::pin::Pin;
use std::str::FromStr;

use countersign_core::audit::{AuditEvent, canonical_json};
use countersign_core::timestamp;
use countersign_store::StoreError;
use countersign_store::audit::AuditFilter;
use futures_util::{Stream, StreamExt, stream};
use serde::Deserialize;
use time::OffsetDateTime;
use time::macros::format_description;

/// The columns of the CSV export, in order: the event's fields as the contract names them.
pub const CSV_HEADER: [&str; 9] = [
    "seq",
    "at",
    "actor",
    "action",
    "request_id",
    "revision",
    "details",
    "prev_hash",
    "hash",
];

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    JsonLines,
    Csv,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 3] = [
        ExportFormat::Json,
        ExportFormat::JsonLines,
        ExportFormat::Csv,
    ];

    /// The name in `?format=` and `--format`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::JsonLines => "jsonl",
            ExportFormat::Csv => "csv",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Json => "application/json",
            ExportFormat::JsonLines => "application/x-ndjson",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }

    /// The `Content-Disposition` of a download: JSON Lines and CSV are files to keep; the JSON
    /// array is for programs and is shown inline.
    pub fn content_disposition(self) -> Option<&'static str> {
        match self {
            ExportFormat::Json => None,
            ExportFormat::JsonLines => Some("attachment; filename=\"countersign-audit.jsonl\""),
            ExportFormat::Csv => Some("attachment; filename=\"countersign-audit.csv\""),
        }
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name that is none of [`ExportFormat::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("format: {0:?} is not an export format (json, jsonl or csv)")]
pub struct UnknownFormat(pub String);

impl FromStr for ExportFormat {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ExportFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
            .ok_or_else(|| UnknownFormat(name.to_owned()))
    }
}

/// Writes events in one format to `W`, one at a time. Give it a buffered writer: it writes
/// each event's pieces as they come.
pub struct ExportWriter<W: Write> {
    sink: Sink<W>,
    events: u64,
    /// With a key, a JSON Lines export ends with the signed trailer of its last event.
    signer: Option<crate::anchor::AuditKey>,
    last: Option<(i64, String)>,
}

enum Sink<W: Write> {
    Json(W),
    JsonLines(W),
    /// Boxed: the CSV writer carries its own buffer and state.
    Csv(Box<csv::Writer<W>>),
}

impl<W: Write> ExportWriter<W> {
    /// Starts an export: writes what comes before the first event (`[`, or the CSV header).
    pub fn new(format: ExportFormat, mut out: W) -> io::Result<ExportWriter<W>> {
        let sink = match format {
            ExportFormat::Json => {
                out.write_all(b"[")?;
                Sink::Json(out)
            }
            ExportFormat::JsonLines => Sink::JsonLines(out),
            ExportFormat::Csv => {
                let mut csv = csv::WriterBuilder::new().from_writer(out);
                csv.write_record(CSV_HEADER).map_err(csv_to_io)?;
                Sink::Csv(Box::new(csv))
            }
        };
        Ok(ExportWriter {
            sink,
            events: 0,
            signer: None,
            last: None,
        })
    }

    /// The same writer, ending a JSON Lines export with the trailer `{"checkpoint": …}` of its
    /// last event, signed with `key` (see [`crate::anchor`]); other formats carry none.
    pub fn signed_by(mut self, key: Option<crate::anchor::AuditKey>) -> ExportWriter<W> {
        self.signer = key.filter(|_| matches!(self.sink, Sink::JsonLines(_)));
        self
    }

    /// Writes the next event.
    pub fn write(&mut self, event: &AuditEvent) -> io::Result<()> {
        match &mut self.sink {
            Sink::Json(out) => {
                if self.events > 0 {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut *out, event)?;
            }
            Sink::JsonLines(out) => {
                serde_json::to_writer(&mut *out, event)?;
                out.write_all(b"\n")?;
            }
            Sink::Csv(csv) => write_csv_record(csv, event).map_err(csv_to_io)?,
        }
        if self.signer.is_some() {
            self.last = Some((event.seq, event.hash.clone()));
        }
        self.events += 1;
        Ok(())
    }

    /// How many events have been written.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Pushes everything written so far through to `W`.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Json(out) | Sink::JsonLines(out) => out.flush(),
            Sink::Csv(csv) => csv.flush(),
        }
    }

    /// The writer underneath (what was written may still be buffered: [`Self::flush`] first).
    pub fn get_ref(&self) -> &W {
        match &self.sink {
            Sink::Json(out) | Sink::JsonLines(out) => out,
            Sink::Csv(csv) => csv.get_ref(),
        }
    }

    /// Ends the export (writes the closing `]` of a JSON array), flushes and returns the writer.
    pub fn finish(self) -> io::Result<W> {
        match self.sink {
            Sink::Json(mut out) => {
                out.write_all(b"]")?;
                out.flush()?;
                Ok(out)
            }
            Sink::JsonLines(mut out) => {
                if let (Some(key), Some((seq, hash))) = (&self.signer, &self.last) {
                    let trailer = crate::anchor::Trailer {
                        checkpoint: key.sign(*seq, hash),
                    };
                    serde_json::to_writer(&mut out, &trailer)?;
                    out.write_all(b"\n")?;
                }
                out.flush()?;
                Ok(out)
            }
            Sink::Csv(csv) => csv.into_inner().map_err(|e| e.into_error()),
        }
    }
}

fn write_csv_record<W: Write>(csv: &mut csv::Writer<W>, event: &AuditEvent) -> csv::Result<()> {
    let optional = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    csv.write_field(event.seq.to_string())?;
    csv.write_field(timestamp::format(event.at))?;
    csv.write_field(event.actor.as_deref().unwrap_or(""))?;
    csv.write_field(&event.action)?;
    csv.write_field(optional(event.request_id))?;
    csv.write_field(optional(event.revision))?;
    csv.write_field(canonical_json(&event.details))?;
    csv.write_field(&event.prev_hash)?;
    csv.write_field(&event.hash)?;
    csv.write_record(None::<&[u8]>)
}

/// The I/O error inside a CSV error, so that callers see one error type (writing a record of
/// fixed width can fail in no other way).
fn csv_to_io(err: csv::Error) -> io::Error {
    match err.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("CSV: {other:?}")),
    }
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot read the audit trail: {0}")]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Write(#[from] io::Error),
}

/// How many bytes an HTTP body chunk gathers before it is sent.
const CHUNK_BYTES: usize = 64 * 1024;

/// The export of `events` as a stream of body chunks of about 64 KiB each.
///
/// The first event is read before this returns, so that a store that cannot be read is an
/// error the caller can still answer with a status. An error after that can only end the body
/// early: it is logged, and the stream yields it, which makes the server abort the response
/// (no final chunk) so that the client sees an incomplete transfer rather than a shorter export
/// that looks whole.
pub async fn body_chunks<S>(
    format: ExportFormat,
    events: S,
    key: Option<crate::anchor::AuditKey>,
) -> Result<impl Stream<Item = Result<Vec<u8>, ExportError>> + Send + 'static, ExportError>
where
    S: Stream<Item = Result<AuditEvent, StoreError>> + Send + 'static,
{
    let mut events = Box::pin(events);
    let pending = events.next().await.transpose()?;
    let chunker = Chunker {
        events,
        pending,
        writer: Some(ExportWriter::new(format, Spool::default())?.signed_by(key)),
    };
    let chunks = stream::try_unfold(chunker, Chunker::next_chunk);
    Ok(chunks.inspect(|chunk| {
        if let Err(e) = chunk {
            tracing::error!(error = %e, "audit export stopped part way; the response is cut off");
        }
    }))
}

/// The state of [`body_chunks`]: the events still to come and the writer; no writer once the
/// export has ended.
struct Chunker<S> {
    events: Pin<Box<S>>,
    /// An event read ahead (the first one).
    pending: Option<AuditEvent>,
    writer: Option<ExportWriter<Spool>>,
}

impl<S> Chunker<S>
where
    S: Stream<Item = Result<AuditEvent, StoreError>>,
{
    async fn next_chunk(mut self) -> Result<Option<(Vec<u8>, Chunker<S>)>, ExportError> {
        let Some(mut writer) = self.writer.take() else {
            return Ok(None);
        };
        loop {
            let event = match self.pending.take() {
                Some(event) => Some(event),
                None => self.events.next().await.transpose()?,
            };
            let Some(event) = event else {
                let rest = writer.finish()?.into_inner();
                return Ok(Some((rest, self)));
            };
            writer.write(&event)?;
            if writer.get_ref().len() >= CHUNK_BYTES {
                writer.flush()?;
                let chunk = writer.get_ref().take();
                self.writer = Some(writer);
                return Ok(Some((chunk, self)));
            }
        }
    }
}

/// An in-memory sink whose bytes can be taken out while a writer owns it.
#[derive(Default)]
struct Spool(RefCell<Vec<u8>>);

impl Spool {
    fn len(&self) -> usize {
        self.0.borrow().len()
    }

    fn take(&self) -> Vec<u8> {
        self.0.take()
    }

    fn into_inner(self) -> Vec<u8> {
        self.0.into_inner()
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.get_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

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
    use countersign_core::audit::{AuditEntry, GENESIS_HASH};
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    fn events() -> Vec<AuditEvent> {
        let first = AuditEntry {
            seq: 1,
            at: datetime!(2025-01-02 03:04:05.5 UTC),
            actor: None,
            action: "user.created".into(),
            request_id: None,
            revision: None,
            details: json!({"name": "bob"}),
        }
        .seal(GENESIS_HASH);
        let second = AuditEntry {
            seq: 2,
            at: datetime!(2025-01-02 03:04:06 UTC),
            actor: Some("bob".into()),
            action: "review.rejected".into(),
            request_id: Some(12),
            revision: Some(2),
            details: json!({"status": "rejected", "comment": "no, \"never\",\nnot like this"}),
        }
        .seal(&first.hash);
        vec![first, second]
    }

    fn export(format: ExportFormat, events: &[AuditEvent]) -> String {
        let mut writer = ExportWriter::new(format, Vec::new()).unwrap();
        for event in events {
            writer.write(event).unwrap();
        }
        assert_eq!(writer.events(), events.len() as u64);
        String::from_utf8(writer.finish().unwrap()).unwrap()
    }

    #[test]
    fn json_is_one_array_of_the_events() {
        let events = events();
        let text = export(ExportFormat::Json, &events);
        assert_eq!(
            serde_json::from_str::<Vec<AuditEvent>>(&text).unwrap(),
            events
        );
        assert_eq!(export(ExportFormat::Json, &[]), "[]");
    }

    #[test]
    fn json_lines_has_one_event_per_line() {
        let events = events();
        let text = export(ExportFormat::JsonLines, &events);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(text.ends_with('\n'));
        let parsed: Vec<AuditEvent> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(parsed, events);
        assert_eq!(export(ExportFormat::JsonLines, &[]), "");
    }

    #[test]
    fn csv_quotes_what_needs_it_and_reads_back() {
        let events = events();
        let text = export(ExportFormat::Csv, &events);
        assert!(
            text.starts_with("seq,at,actor,action,request_id,revision,details,prev_hash,hash\n")
        );
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][1], "2025-01-02T03:04:05.500000Z");
        assert_eq!((&rows[0][2], &rows[0][4], &rows[0][5]), ("", "", ""));
        assert_eq!(
            &rows[1][6],
            r#"{"comment":"no, \"never\",\nnot like this","status":"rejected"}"#
        );
        assert_eq!(
            (&rows[1][7], &rows[1][8]),
            (events[0].hash.as_str(), events[1].hash.as_str())
        );
    }

    #[test]
    fn formats_have_names_types_and_downloads() {
        for format in ExportFormat::ALL {
            assert_eq!(format.as_str().parse(), Ok(format));
        }
        assert_eq!(
            "xml".parse::<ExportFormat>(),
            Err(UnknownFormat("xml".into()))
        );
        assert_eq!(
            ExportFormat::JsonLines.content_type(),
            "application/x-ndjson"
        );
        assert_eq!(ExportFormat::Json.content_disposition(), None);
        assert!(
            ExportFormat::Csv
                .content_disposition()
                .unwrap()
                .contains("countersign-audit.csv")
        );
    }

    #[tokio::test]
    async fn body_chunks_carry_the_whole_export() {
        let mut many = Vec::new();
        let mut prev = GENESIS_HASH.to_owned();
        for seq in 1..=2_000 {
            let event = AuditEntry {
                seq,
                at: datetime!(2025-01-02 03:04:05 UTC),
                actor: Some("alice".into()),
                action: "user.login".into(),
                request_id: None,
                revision: None,
                details: json!({"padding": "x".repeat(100)}),
            }
            .seal(&prev);
            prev = event.hash.clone();
            many.push(event);
        }
        let expected = export(ExportFormat::Csv, &many);
        let source = stream::iter(many.into_iter().map(Ok));
        let chunks: Vec<Vec<u8>> = body_chunks(ExportFormat::Csv, source, None)
            .await
            .unwrap()
            .map(Result::unwrap)
            .collect()
            .await;
        assert!(chunks.len() > 2, "a long export comes in several chunks");
        assert!(chunks.iter().all(|c| c.len() < 2 * CHUNK_BYTES));
        assert_eq!(String::from_utf8(chunks.concat()).unwrap(), expected);
    }

    #[tokio::test]
    async fn a_store_error_before_the_first_event_is_returned() {
        let failing = stream::iter([Err(StoreError::Corrupt("x".into()))]);
        assert!(
            body_chunks(ExportFormat::Json, failing, None)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_store_error_later_ends_the_stream_with_it() {
        let events = events();
        let source = stream::iter([Ok(events[0].clone()), Err(StoreError::Corrupt("x".into()))]);
        let chunks: Vec<Result<Vec<u8>, ExportError>> =
            body_chunks(ExportFormat::Json, source, None)
                .await
                .unwrap()
                .collect()
                .await;
        assert!(matches!(chunks.last(), Some(Err(ExportError::Store(_)))));
    }

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
