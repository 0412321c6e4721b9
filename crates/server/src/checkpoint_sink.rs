//! Sending signed audit checkpoints out of the server (`audit.checkpoint_sink`), so that a copy
//! lives somewhere the store's writers cannot reach: appended as one JSON line per checkpoint to
//! a file (`file:/path`), or sent as one syslog datagram to a local socket (`syslog`, which is
//! `/dev/log`, or `syslog:/path/to/socket`).
//!
//! A line is a [`SentCheckpoint`]: the signed [`Checkpoint`] (seq, hash, public key, signature)
//! and when it was signed, which the signature does not cover. A syslog message is the same line
//! in the local RFC 3164 format that `syslog(3)` writes: `<37>Mmm dd hh:mm:ss
//! countersign[pid]: {…}` (facility auth, severity notice, time in UTC).
//!
//! Delivery is best effort: a failure is logged as a warning and never keeps a checkpoint from
//! being stored or the server from running.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::anchor::Checkpoint;

/// Where syslog listens on the local host.
pub const DEFAULT_SYSLOG_SOCKET: &str = "/dev/log";

/// How long one delivery may take before it is given up (a hung file system, say).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Where checkpoints are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointSink {
    /// Append one JSON line per checkpoint to this file (created if missing).
    File(PathBuf),
    /// Send one syslog datagram per checkpoint to this Unix datagram socket.
    Syslog(PathBuf),
}

/// A sink that is not `file:/path`, `syslog` or `syslog:/path` (absolute paths).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected file:/path/to/checkpoints.jsonl, syslog, or syslog:/path/to/socket \
     (absolute paths)"
)]
pub struct BadSink;

impl CheckpointSink {
    /// Parses `file:/path`, `syslog` or `syslog:/path`; paths are absolute.
    pub fn parse(text: &str) -> Result<CheckpointSink, BadSink> {
        let text = text.trim();
        let path = |p: &str| {
            let p = p.trim();
            // Absolute, and not `//host…`: a remote syslog address is not a socket path.
            if !p.starts_with('/') || p.starts_with("//") || p.chars().any(char::is_control) {
                Err(BadSink)
            } else {
                Ok(PathBuf::from(p))
            }
        };
        if text == "syslog" {
            Ok(CheckpointSink::Syslog(PathBuf::from(DEFAULT_SYSLOG_SOCKET)))
        } else if let Some(p) = text.strip_prefix("syslog:") {
            path(p).map(CheckpointSink::Syslog)
        } else if let Some(p) = text.strip_prefix("file:") {
            path(p).map(CheckpointSink::File)
        } else {
            Err(BadSink)
        }
    }

    /// Sends `checkpoint`, signed at `signed_at`; a failure is logged, never returned.
    pub async fn deliver(&self, checkpoint: &Checkpoint, signed_at: OffsetDateTime) {
        let sent = SentCheckpoint::new(checkpoint, signed_at);
        let line = match serde_json::to_string(&sent) {
            Ok(line) => line,
            Err(e) => {
                tracing::warn!(error = ?e.to_string(), "cannot encode an audit checkpoint");
                return;
            }
        };
        let sink = self.clone();
        let seq = checkpoint.seq;
        let work = tokio::task::spawn_blocking(move || sink.write(&line, signed_at));
        let outcome = match tokio::time::timeout(DELIVERY_TIMEOUT, work).await {
            Ok(Ok(written)) => written.map_err(|e| e.to_string()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {DELIVERY_TIMEOUT:?}")),
        };
        match outcome {
            Ok(()) => tracing::debug!(seq, sink = ?self.describe(), "audit checkpoint sent"),
            Err(error) => tracing::warn!(
                seq,
                sink = ?self.describe(),
                error = ?error,
                "cannot send the audit checkpoint to its sink; it is stored all the same"
            ),
        }
    }

    /// The sink as configured, for log lines.
    fn describe(&self) -> String {
        match self {
            CheckpointSink::File(p) => format!("file:{}", p.display()),
            CheckpointSink::Syslog(p) => format!("syslog:{}", p.display()),
        }
    }

    /// Writes `line` to the sink (blocking).
    fn write(&self, line: &str, at: OffsetDateTime) -> std::io::Result<()> {
        match self {
            CheckpointSink::File(path) => {
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
                // One write of the whole line: appends from several servers do not interleave.
                file.write_all(format!("{line}\n").as_bytes())
            }
            CheckpointSink::Syslog(path) => {
                let socket = std::os::unix::net::UnixDatagram::unbound()?;
                socket.set_nonblocking(true)?;
                socket
                    .send_to(
                        syslog_message(line, at, std::process::id()).as_bytes(),
                        path,
                    )
                    .map(drop)
            }
        }
    }
}

/// `line` as a local syslog message (RFC 3164, as `syslog(3)` sends it): facility auth (4),
/// severity notice (5), the time in UTC, the tag `countersign` and the process id.
pub fn syslog_message(line: &str, at: OffsetDateTime, pid: u32) -> String {
    const PRI: u8 = 4 * 8 + 5;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let at = at.to_offset(time::UtcOffset::UTC);
    let month = MONTHS[usize::from(u8::from(at.month())) - 1];
    format!(
        "<{PRI}>{month} {:>2} {:02}:{:02}:{:02} countersign[{pid}]: {line}",
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// A checkpoint as a sink receives it: what was signed, and when (not signed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentCheckpoint {
    pub seq: i64,
    pub hash: String,
    /// When the server signed it (RFC 3339, UTC); not covered by the signature.
    pub signed_at: String,
    pub public_key: String,
    pub signature: String,
}

impl SentCheckpoint {
    pub fn new(c: &Checkpoint, signed_at: OffsetDateTime) -> SentCheckpoint {
        SentCheckpoint {
            seq: c.seq,
            hash: c.hash.clone(),
            signed_at: countersign_core::timestamp::format(signed_at),
            public_key: c.public_key.clone(),
            signature: c.signature.clone(),
        }
    }

    /// The signed part, to check with [`crate::anchor::PublicKey::signed`].
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            seq: self.seq,
            hash: self.hash.clone(),
            public_key: self.public_key.clone(),
            signature: self.signature.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anchor::{AuditKey, PublicKey};

    #[test]
    fn sinks_parse_as_file_syslog_or_syslog_with_a_socket() {
        assert_eq!(
            CheckpointSink::parse("file:/var/log/countersign/checkpoints.jsonl"),
            Ok(CheckpointSink::File(
                "/var/log/countersign/checkpoints.jsonl".into()
            ))
        );
        assert_eq!(
            CheckpointSink::parse("syslog"),
            Ok(CheckpointSink::Syslog("/dev/log".into()))
        );
        assert_eq!(
            CheckpointSink::parse(" syslog:/run/log.sock "),
            Ok(CheckpointSink::Syslog("/run/log.sock".into()))
        );
        for bad in [
            "",
            "file:",
            "syslog:",
            "file: ",
            "/var/log/x.jsonl",
            "syslog://host:514",
            "file:checkpoints.jsonl",
            "kafka:topic",
            "Syslog",
            "file:/x\ny",
        ] {
            assert_eq!(CheckpointSink::parse(bad), Err(BadSink), "{bad:?}");
        }
    }

    #[test]
    fn a_sent_checkpoint_is_one_json_line_that_still_verifies() {
        let key = AuditKey::generate();
        let c = key.sign(7, &"ab".repeat(32));
        let at = time::macros::datetime!(2026-12-05 06:30:01 UTC);
        let sent = SentCheckpoint::new(&c, at);
        let line = serde_json::to_string(&sent).expect("json");
        assert!(!line.contains('\n'));
        let back: SentCheckpoint = serde_json::from_str(&line).expect("parse");
        assert_eq!(back.signed_at, "2026-12-05T06:30:01.000000Z");
        let public = PublicKey::parse(&key.public()).expect("public key");
        assert!(public.signed(&back.checkpoint()));
    }

    #[test]
    fn the_syslog_message_is_the_local_rfc_3164_format() {
        let at = time::macros::datetime!(2026-12-05 06:30:01 UTC);
        assert_eq!(
            syslog_message("{\"seq\":7}", at, 42),
            "<37>Dec  5 06:30:01 countersign[42]: {\"seq\":7}"
        );
    }

    #[tokio::test]
    async fn a_sink_that_cannot_be_reached_is_logged_not_returned() {
        let c = AuditKey::generate().sign(1, "00");
        let now = OffsetDateTime::now_utc();
        CheckpointSink::File("/nonexistent-dir/x.jsonl".into())
            .deliver(&c, now)
            .await;
        CheckpointSink::Syslog("/nonexistent-dir/log.sock".into())
            .deliver(&c, now)
            .await;
    }
}
