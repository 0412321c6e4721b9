//! The export as an HTTP body: a stream of chunks of about 64 KiB, read from the store one
//! event at a time, that ends early — never looking whole — when the store fails midway.

use std::cell::RefCell;
use std::io::{self, Write};
use std::pin::Pin;

use countersign_store::{CopyChunks, StoreError, StoredEvent};
use futures_util::{Stream, StreamExt, stream};

use super::export::{CopyTail, ExportFormat, ExportWriter};

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

/// The export of `events` (as the store holds them: [`countersign_store::Store::audit_rows`]) as
/// a stream of body chunks of about 64 KiB each.
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
    S: Stream<Item = Result<StoredEvent, StoreError>> + Send + 'static,
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

/// An export the database copied ([`countersign_store::Store::audit_copy`]) as a stream of body
/// chunks of about 64 KiB, ended by the signed trailer when `key` is given (JSON Lines). An error
/// midway ends the stream with it, as in [`body_chunks`].
pub fn copied_body_chunks(
    format: ExportFormat,
    copied: CopyChunks,
    key: Option<crate::anchor::AuditKey>,
) -> impl Stream<Item = Result<Vec<u8>, ExportError>> + Send + 'static {
    let state = (Some(copied), CopyTail::new(format, key));
    stream::try_unfold(state, |(copied, mut tail)| async move {
        let Some(mut copied) = copied else {
            return Ok(None);
        };
        let mut chunk = Vec::with_capacity(CHUNK_BYTES + 4096);
        while chunk.len() < CHUNK_BYTES {
            match copied.next().await.transpose()? {
                Some(bytes) => {
                    tail.saw(bytes.as_ref());
                    chunk.extend_from_slice(bytes.as_ref());
                }
                None => {
                    chunk.extend(tail.finish()?);
                    return Ok(Some((chunk, (None, tail))));
                }
            }
        }
        Ok(Some((chunk, (Some(copied), tail))))
    })
    .inspect(|chunk| {
        if let Err(e) = chunk {
            tracing::error!(error = %e, "audit export stopped part way; the response is cut off");
        }
    })
}

/// The state of [`body_chunks`]: the events still to come and the writer; no writer once the
/// export has ended.
struct Chunker<S> {
    events: Pin<Box<S>>,
    /// An event read ahead (the first one).
    pending: Option<StoredEvent>,
    writer: Option<ExportWriter<Spool>>,
}

impl<S> Chunker<S>
where
    S: Stream<Item = Result<StoredEvent, StoreError>>,
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
            writer.write_stored(&event)?;
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

#[cfg(test)]
mod tests {
    use countersign_core::audit::{AuditEntry, GENESIS_HASH};
    use serde_json::json;
    use time::macros::datetime;

    use super::*;
    use crate::audit::testing::{events, export};

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
        let stored: Vec<StoredEvent> = many.iter().map(StoredEvent::from_event).collect();
        let source = stream::iter(stored.into_iter().map(Ok));
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
        let source = stream::iter([
            Ok(StoredEvent::from_event(&events[0])),
            Err(StoreError::Corrupt("x".into())),
        ]);
        let chunks: Vec<Result<Vec<u8>, ExportError>> =
            body_chunks(ExportFormat::Json, source, None)
                .await
                .unwrap()
                .collect()
                .await;
        assert!(matches!(chunks.last(), Some(Err(ExportError::Store(_)))));
    }
}
