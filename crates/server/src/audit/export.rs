//! The audit trail's export formats (docs/audit.md), written by one [`ExportWriter`] for both
//! `GET /api/v1/audit` and `countersign audit export`, so the two give the same bytes:
//!
//! - `json`: one JSON array of the events, in order;
//! - `jsonl` (JSON Lines): one event per line as serde_json writes an [`AuditEvent`], which is
//!   what `countersign audit verify --file` reads back, ended by a signed trailer when the
//!   server holds a signing key;
//! - `csv`: RFC 4180 with the header row [`CSV_HEADER`]; `details` is its canonical JSON text,
//!   and absent values (the system as actor, an event on no request) are empty fields. Fields
//!   holding commas, quotes or line breaks are quoted by the `csv` crate.
//!
//! Events are written as the store holds them ([`StoredEvent`]): the time and the details are
//! already text in their exported form (the fixed timestamp, canonical JSON), so they are copied,
//! not parsed and written again. [`ExportWriter::write`] takes a parsed event and writes the same
//! bytes.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use countersign_core::audit::AuditEvent;
use countersign_store::{CopyFormat, StoredEvent};

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

    /// The format in which PostgreSQL can write this export itself
    /// ([`countersign_store::Store::audit_copy`]): CSV and JSON Lines, not the JSON array.
    pub fn copy_format(self) -> Option<CopyFormat> {
        match self {
            ExportFormat::Json => None,
            ExportFormat::JsonLines => Some(CopyFormat::JsonLines),
            ExportFormat::Csv => Some(CopyFormat::Csv),
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
        self.write_stored(&StoredEvent::from_event(event))
    }

    /// Writes the next event as the store holds it: its time and details copied as they are.
    pub fn write_stored(&mut self, event: &StoredEvent) -> io::Result<()> {
        match &mut self.sink {
            Sink::Json(out) => {
                if self.events > 0 {
                    out.write_all(b",")?;
                }
                write_json_object(out, event)?;
            }
            Sink::JsonLines(out) => {
                write_json_object(out, event)?;
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

/// Follows an export the database copied ([`countersign_store::Store::audit_copy`], one event a
/// chunk, after the CSV header): counts its events and writes what comes after the last — for
/// JSON Lines with a key, the signed trailer of the last event, read back from its line.
pub struct CopyTail {
    format: ExportFormat,
    signer: Option<crate::anchor::AuditKey>,
    chunks: u64,
    last: Vec<u8>,
}

impl CopyTail {
    pub fn new(format: ExportFormat, key: Option<crate::anchor::AuditKey>) -> CopyTail {
        CopyTail {
            format,
            signer: key.filter(|_| format == ExportFormat::JsonLines),
            chunks: 0,
            last: Vec::new(),
        }
    }

    /// Notes the next chunk as it goes out.
    pub fn saw(&mut self, chunk: &[u8]) {
        self.chunks += 1;
        if self.signer.is_some() {
            self.last.clear();
            self.last.extend_from_slice(chunk);
        }
    }

    /// How many events went out.
    pub fn events(&self) -> u64 {
        match self.format {
            ExportFormat::Csv => self.chunks.saturating_sub(1),
            _ => self.chunks,
        }
    }

    /// What ends the export: the trailer line, or nothing.
    pub fn finish(&self) -> io::Result<Vec<u8>> {
        let (Some(key), false) = (&self.signer, self.last.is_empty()) else {
            return Ok(Vec::new());
        };
        #[derive(serde::Deserialize)]
        struct Last {
            seq: i64,
            hash: String,
        }
        let last: Last = serde_json::from_slice(&self.last)?;
        let trailer = crate::anchor::Trailer {
            checkpoint: key.sign(last.seq, &last.hash),
        };
        let mut out = serde_json::to_vec(&trailer)?;
        out.push(b'\n');
        Ok(out)
    }
}

/// An event as one JSON object, exactly as serde_json writes an [`AuditEvent`] (fields in
/// declaration order, compact): numbers and strings written here, the time and the details
/// copied from the store (the details are canonical JSON, which is what serde_json writes for
/// a `Value`, whose objects keep their keys sorted).
fn write_json_object<W: Write>(out: &mut W, event: &StoredEvent) -> io::Result<()> {
    write!(out, "{{\"seq\":{},\"at\":", event.seq)?;
    serde_json::to_writer(&mut *out, &event.at)?;
    out.write_all(b",\"actor\":")?;
    serde_json::to_writer(&mut *out, &event.actor)?;
    out.write_all(b",\"action\":")?;
    serde_json::to_writer(&mut *out, &event.action)?;
    out.write_all(b",\"request_id\":")?;
    write_optional_int(out, event.request_id)?;
    out.write_all(b",\"revision\":")?;
    write_optional_int(out, event.revision)?;
    out.write_all(b",\"details\":")?;
    out.write_all(event.details.as_bytes())?;
    out.write_all(b",\"prev_hash\":")?;
    serde_json::to_writer(&mut *out, &event.prev_hash)?;
    out.write_all(b",\"hash\":")?;
    serde_json::to_writer(&mut *out, &event.hash)?;
    out.write_all(b"}")
}

fn write_optional_int<W: Write>(out: &mut W, n: Option<i64>) -> io::Result<()> {
    match n {
        Some(n) => write!(out, "{n}"),
        None => out.write_all(b"null"),
    }
}

fn write_csv_record<W: Write>(csv: &mut csv::Writer<W>, event: &StoredEvent) -> csv::Result<()> {
    let mut number = Number::default();
    csv.write_field(number.format(event.seq))?;
    csv.write_field(&event.at)?;
    csv.write_field(event.actor.as_deref().unwrap_or(""))?;
    csv.write_field(&event.action)?;
    csv.write_field(event.request_id.map_or(&b""[..], |n| number.format(n)))?;
    let mut revision = Number::default();
    csv.write_field(event.revision.map_or(&b""[..], |n| revision.format(n)))?;
    csv.write_field(&event.details)?;
    csv.write_field(&event.prev_hash)?;
    csv.write_field(&event.hash)?;
    csv.write_record(None::<&[u8]>)
}

/// An integer's decimal digits, written into a buffer of its own (no allocation per field).
#[derive(Default)]
struct Number {
    buf: [u8; 20],
}

impl Number {
    fn format(&mut self, n: i64) -> &[u8] {
        let mut cursor = io::Cursor::new(&mut self.buf[..]);
        // 20 bytes hold every i64 ("-9223372036854775808").
        let _ = write!(cursor, "{n}");
        let len = cursor.position() as usize;
        &self.buf[..len]
    }
}

/// The I/O error inside a CSV error, so that callers see one error type (writing a record of
/// fixed width can fail in no other way).
fn csv_to_io(err: csv::Error) -> io::Error {
    match err.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("CSV: {other:?}")),
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::audit::testing::{events, export};

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
    fn stored_events_are_written_as_serde_writes_the_parsed_ones() {
        let mut events = events();
        events[1].request_id = Some(i64::MIN);
        events[1].revision = Some(i64::MAX);
        events[1].actor = Some("ünïcode \"quoted\"\tname".into());
        for event in &events {
            let mut line = Vec::new();
            write_json_object(&mut line, &StoredEvent::from_event(event)).unwrap();
            assert_eq!(
                String::from_utf8(line).unwrap(),
                serde_json::to_string(event).unwrap()
            );
        }
        let text = export(ExportFormat::Csv, &events);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(
            (&rows[1][2], &rows[1][4], &rows[1][5]),
            (
                "ünïcode \"quoted\"\tname",
                "-9223372036854775808",
                "9223372036854775807"
            )
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
}
