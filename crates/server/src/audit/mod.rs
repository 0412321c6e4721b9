//! The audit trail as it leaves the server: its export formats and the one writer of them
//! ([`export`]), the export as an HTTP body streamed in chunks ([`stream`]), and the filter as a
//! query string or the command line carries it ([`filter`]). Signed checkpoints of the chain
//! live in [`crate::anchor`].
//!
//! Every event carries its chain fields (`prev_hash`, `hash`), so an export can be verified
//! offline. Writers hold one event at a time and streams one chunk at a time: exports take
//! constant memory whatever the length of the trail.

pub mod export;
pub mod filter;
pub mod stream;

pub use export::{CSV_HEADER, CopyTail, ExportFormat, ExportWriter, UnknownFormat};
pub use filter::{FilterQuery, InvalidFilter, InvalidTime, parse_time};
pub use stream::{ExportError, body_chunks, copied_body_chunks};

/// Two sealed events and an export of them, for the tests of the formats and the stream.
#[cfg(test)]
mod testing {
    use countersign_core::audit::{AuditEntry, AuditEvent, GENESIS_HASH};
    use serde_json::json;
    use time::macros::datetime;

    use super::{ExportFormat, ExportWriter};

    pub fn events() -> Vec<AuditEvent> {
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

    pub fn export(format: ExportFormat, events: &[AuditEvent]) -> String {
        let mut writer = ExportWriter::new(format, Vec::new()).unwrap();
        for event in events {
            writer.write(event).unwrap();
        }
        assert_eq!(writer.events(), events.len() as u64);
        String::from_utf8(writer.finish().unwrap()).unwrap()
    }
}
