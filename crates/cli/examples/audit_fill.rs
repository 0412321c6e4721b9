//! Writes COUNT audit events forming a valid hash chain, as the CSV export (header included), to
//! standard output: the fixture of `benches/audit_export.sh`, which loads it into a fresh store
//! with `psql \copy audit_events … FROM STDIN CSV HEADER`.
//!
//! The events are sealed by the store's own code (`AuditEntry::seal`) and written by the export's
//! own writer, so the loaded trail verifies and exports back byte for byte.
//!
//! ```text
//! cargo run --release -p countersign --example audit_fill -- 1000000 > events.csv
//! ```

use std::io::{self, BufWriter};
use std::process::ExitCode;

use countersign_core::audit::{AuditAction, AuditEntry, FIRST_SEQ, GENESIS_HASH};
use countersign_core::request::sql_sha256;
use countersign_server::audit::{ExportFormat, ExportWriter};
use serde_json::json;
use time::macros::datetime;

fn main() -> ExitCode {
    let count = match std::env::args().nth(1).map(|a| a.parse::<i64>()) {
        Some(Ok(n)) if n >= 0 => n,
        _ => {
            eprintln!("usage: audit_fill COUNT   (writes COUNT chained events as CSV to stdout)");
            return ExitCode::from(2);
        }
    };
    match fill(count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("audit_fill: {e}");
            ExitCode::FAILURE
        }
    }
}

fn fill(count: i64) -> io::Result<()> {
    let out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut writer = ExportWriter::new(ExportFormat::Csv, out)?;
    let start = datetime!(2025-01-01 00:00:00 UTC);
    let mut prev_hash = GENESIS_HASH.to_owned();
    for n in 0..count {
        let seq = FIRST_SEQ + n;
        let request = n / 5 + 1;
        let sql = format!("UPDATE orders SET status = 'paid' WHERE id = {request}");
        // A request's life in five events: submitted, a rejection, revised, approved, sign-in.
        let (actor, action, on_request, details) = match n % 5 {
            0 => (
                "alice",
                AuditAction::RequestSubmitted,
                true,
                json!({
                    "title": format!("Mark order {request} paid, as \"the bank\" confirmed"),
                    "target": "production",
                    "sql_sha256": sql_sha256(&sql),
                    "risk": "low",
                    "expected_rows": 1,
                    "reviewers": ["bob", "carol"],
                }),
            ),
            1 => (
                "bob",
                AuditAction::ReviewRejected,
                true,
                json!({
                    "comment": "Which order? Say \"42\",\nand link the ticket.",
                    "sql_sha256": sql_sha256(&sql),
                    "status": "rejected",
                }),
            ),
            2 => (
                "alice",
                AuditAction::RequestRevised,
                true,
                json!({ "title": format!("Mark order {request} paid"), "new_revision": true }),
            ),
            3 => (
                "carol",
                AuditAction::ReviewApproved,
                true,
                json!({ "comment": "ok", "sql_sha256": sql_sha256(&sql), "status": "approved" }),
            ),
            _ => (
                "dave",
                AuditAction::UserLogin,
                false,
                json!({ "expires_at": "2025-01-01T12:00:00.000000Z" }),
            ),
        };
        let event = AuditEntry {
            seq,
            at: start + time::Duration::milliseconds(n * 250),
            actor: Some(actor.to_owned()),
            action: action.as_str().to_owned(),
            request_id: on_request.then_some(request),
            revision: on_request.then_some(1 + i64::from(n % 5 >= 2)),
            details,
        }
        .seal(&prev_hash);
        writer.write(&event)?;
        prev_hash = event.hash;
    }
    writer.finish()?;
    Ok(())
}
