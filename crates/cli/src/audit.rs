//! `countersign audit export` and `countersign audit verify` (docs/audit.md).
//!
//! Export streams the trail oldest first through the same [`ExportWriter`] as
//! `GET /api/v1/audit`, in constant memory; with `--output` it writes `FILE.partial` and renames
//! it only once complete, so a failed export never leaves a file that looks whole.
//!
//! Verify recomputes the hash chain one event at a time, from the store or from a JSON Lines
//! export, and exits 1 at the first break, naming the event and why. On the store it also checks
//! that the trail reaches the chain head the store records, which catches events removed from
//! its end. A file cannot show that (its end is wherever it stops); the verdict prints its last
//! event and hash to compare with the store's.
//!
//! With `--public-key`, verify also checks the signed checkpoints (see
//! `countersign_server::anchor`): on the store, every checkpoint must carry a valid signature,
//! the chain must have the signed hash at each checkpoint's event and must reach the last one;
//! on a file, its last line must be the signed trailer of its last event. `keygen` makes a key.
//!
//! An export made with `--since` does not start at event #1, so it cannot be verified from the
//! start of the chain: by default that is a failure, with a hint. `--excerpt` checks such a file
//! from its first event instead (every hash and link within it), and says what it cannot check.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::pin::{Pin, pin};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use countersign_core::audit::{AuditEvent, BreakReason, ChainBreak, ChainVerifier, GENESIS_HASH};
use countersign_server::anchor::{AuditKey, Checkpoint, PublicKey, Trailer};
use countersign_server::audit::{CopyTail, ExportFormat, ExportWriter, parse_time};
use countersign_server::config::{self, Config};
use countersign_store::audit::AuditFilter;
use countersign_store::{CopyChunks, Store, StoreError, StoredEvent};
use futures_util::{Stream, TryStreamExt};
use time::OffsetDateTime;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write the audit trail, oldest first, as CSV or JSON Lines
    Export {
        #[arg(long, value_enum)]
        format: Format,
        /// Only events at or after this time (RFC 3339, or a date such as 2025-06-01, in UTC)
        #[arg(long, value_name = "T", value_parser = parse_time)]
        since: Option<OffsetDateTime>,
        /// Only events before this time
        #[arg(long, value_name = "T", value_parser = parse_time)]
        until: Option<OffsetDateTime>,
        /// Write to FILE instead of standard output
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check the audit trail's hash chain, in the store or in a JSON Lines export; exit 1 at the
    /// first break
    Verify {
        /// A JSON Lines export to check instead of the store
        #[arg(long, value_name = "EXPORT.jsonl")]
        file: Option<PathBuf>,
        /// The file is an excerpt (exported with --since): check it from its first event
        #[arg(long, requires = "file")]
        excerpt: bool,
        /// Also check the signed checkpoints (store) or the signed trailer (file) with this
        /// public key (base64, from `audit keygen`)
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
    },
    /// Make a key pair for signing audit checkpoints: the private key goes into the environment
    /// variable that audit.signing_key_env names, the public key to whoever verifies
    Keygen,
}

/// The formats of `audit export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

impl From<Format> for ExportFormat {
    fn from(format: Format) -> ExportFormat {
        match format {
            Format::Csv => ExportFormat::Csv,
            Format::Jsonl => ExportFormat::JsonLines,
        }
    }
}

pub async fn run(config: &Option<PathBuf>, cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Export {
            format,
            since,
            until,
            output,
        } => {
            let store = super::connect_store(config).await?;
            let filter = AuditFilter {
                since,
                until,
                ..Default::default()
            };
            let key = Config::load_audit(config.as_deref(), &config::process_env)
                .context("invalid configuration")?
                .signing_key;
            export(
                &store,
                format.into(),
                &filter,
                output.as_deref(),
                key.as_ref(),
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify {
            file,
            excerpt,
            public_key,
        } => {
            let public_key = public_key
                .map(|k| PublicKey::parse(&k).context("--public-key"))
                .transpose()?;
            match file {
                Some(path) => verify_file(&path, excerpt, public_key.as_ref()),
                None => verify_store(&super::open_store(config).await?, public_key.as_ref()).await,
            }
        }
        AuditCommand::Keygen => {
            let key = AuditKey::generate();
            eprintln!(
                "Put the private key in the environment variable that audit.signing_key_env \
                 names, and keep it out of the store's reach; give the public key to whoever \
                 verifies the trail (countersign audit verify --public-key KEY)."
            );
            println!("private: {}", key.private_base64());
            println!("public: {}", key.public());
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn export(
    store: &Store,
    format: ExportFormat,
    filter: &AuditFilter,
    output: Option<&Path>,
    key: Option<&AuditKey>,
) -> anyhow::Result<()> {
    let copied = match format.copy_format() {
        Some(copy) => store.audit_copy(filter, copy).await?,
        None => None,
    };
    let source = match copied {
        Some(copied) => Source::Copied(copied),
        None => Source::Rows(Box::pin(store.audit_rows(filter))),
    };
    let Some(path) = output else {
        let (_, count) =
            write_export(format, source, BufWriter::new(io::stdout().lock()), key).await?;
        eprintln!("exported {count} events");
        return Ok(());
    };
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file =
        File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let written = async {
        let (out, count) = write_export(format, source, BufWriter::new(file), key).await?;
        out.into_inner()
            .map_err(io::IntoInnerError::into_error)?
            .sync_all()?;
        fs::rename(&partial, path).with_context(|| {
            format!("cannot rename {} to {}", partial.display(), path.display())
        })?;
        anyhow::Ok(count)
    };
    match written.await {
        Ok(count) => {
            eprintln!("exported {count} events to {}", path.display());
            Ok(())
        }
        Err(e) => {
            // Best effort: the error says what went wrong; a stale partial file only costs space.
            let _ = fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Where an export's events come from: the database's own copy (PostgreSQL, CSV and JSON Lines),
/// or the store's rows, written here.
enum Source {
    Copied(CopyChunks),
    Rows(Pin<Box<dyn Stream<Item = Result<StoredEvent, StoreError>> + Send>>),
}

/// Writes every event of `source` to `out`, then, with a `key`, the signed trailer of the last
/// one; returns `out` and how many events it holds.
///
/// The writes are blocking, into a buffer: this command does nothing else meanwhile.
async fn write_export<W: Write>(
    format: ExportFormat,
    source: Source,
    mut out: W,
    key: Option<&AuditKey>,
) -> anyhow::Result<(W, u64)> {
    let mut rows = match source {
        Source::Rows(rows) => rows,
        Source::Copied(mut copied) => {
            let mut tail = CopyTail::new(format, key.cloned());
            while let Some(chunk) = copied.try_next().await? {
                tail.saw(chunk.as_ref());
                out.write_all(chunk.as_ref())
                    .context("cannot write the export")?;
            }
            out.write_all(&tail.finish().context("cannot sign the export")?)
                .context("cannot write the export")?;
            out.flush().context("cannot write the export")?;
            return Ok((out, tail.events()));
        }
    };
    let mut writer = ExportWriter::new(format, out)
        .context("cannot write the export")?
        .signed_by(key.cloned());
    while let Some(event) = rows.try_next().await? {
        writer
            .write_stored(&event)
            .context("cannot write the export")?;
    }
    let count = writer.events();
    let out = writer.finish().context("cannot write the export")?;
    Ok((out, count))
}

/// Why a trail does not verify.
#[derive(Debug, thiserror::Error)]
enum Break {
    #[error(transparent)]
    Chain(#[from] ChainBreak),
    #[error("line {line}{} is not an audit event, so the export was altered: {reason}", after_event(*.after))]
    Unreadable {
        line: u64,
        after: Option<i64>,
        reason: String,
    },
    #[error(
        "event #{seq}'s hash is not the chain head the store recorded, so the end of the trail \
         was altered"
    )]
    HeadMismatch { seq: i64 },
    #[error(
        "the store's chain head is event #{head} but the trail ends at event #{last}, so events \
         were removed from its end"
    )]
    Truncated { head: i64, last: i64 },
    #[error("the checkpoint at event #{seq} is not signed by this key")]
    BadSignature { seq: i64 },
    #[error(
        "event #{seq}'s hash is not the one its signed checkpoint records, so the chain was \
         rewritten up to there"
    )]
    Rewritten { seq: i64 },
    #[error(
        "a signed checkpoint records event #{checkpoint} but the trail ends at event #{last}, so \
         events were removed from its end"
    )]
    PastTheEnd { checkpoint: i64, last: i64 },
    #[error("there is no signed checkpoint to check against: {0}")]
    Unsigned(&'static str),
    #[error("line {line} follows the signed trailer, which must be the export's last line")]
    AfterTrailer { line: u64 },
}

fn after_event(seq: Option<i64>) -> String {
    seq.map(|s| format!(" (after event #{s})"))
        .unwrap_or_default()
}

fn broken(why: &Break) -> ExitCode {
    eprintln!("audit trail broken: {why}");
    ExitCode::FAILURE
}

/// The last event checked: where the chain ends.
fn ending(last: Option<&(i64, String)>) -> String {
    match last {
        Some((seq, hash)) => format!("last event #{seq}, hash {hash}"),
        None => format!("no event, hash {GENESIS_HASH}"),
    }
}

/// Verifies a JSON Lines export, reading one line at a time; with `public_key`, its last line
/// must be the signed trailer of its last event.
fn verify_file(
    path: &Path,
    excerpt: bool,
    public_key: Option<&PublicKey>,
) -> anyhow::Result<ExitCode> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let mut verifier = if excerpt {
        ChainVerifier::excerpt()
    } else {
        ChainVerifier::new()
    };
    let mut first: Option<i64> = None;
    let mut last: Option<(i64, String)> = None;
    let mut line = Vec::new();
    let mut number = 0_u64;
    let mut trailer: Option<Trailer> = None;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if read == 0 {
            break;
        }
        number += 1;
        if line.trim_ascii().is_empty() {
            continue;
        }
        if trailer.is_some() {
            return Ok(broken(&Break::AfterTrailer { line: number }));
        }
        if let Ok(t) = serde_json::from_slice::<Trailer>(&line) {
            trailer = Some(t);
            continue;
        }
        let event: AuditEvent = match serde_json::from_slice(&line) {
            Ok(event) => event,
            Err(e) => {
                return Ok(broken(&Break::Unreadable {
                    line: number,
                    after: last.map(|(seq, _)| seq),
                    reason: e.to_string(),
                }));
            }
        };
        if let Err(at) = verifier.check(&event) {
            let partial = at.position == 1 && at.reason == BreakReason::MissingStart;
            let code = broken(&at.into());
            if partial {
                eprintln!(
                    "hint: if {} was exported with --since, it is an excerpt: \
                     check it with `countersign audit verify --excerpt --file …`",
                    path.display()
                );
            }
            return Ok(code);
        }
        first.get_or_insert(event.seq);
        last = Some((event.seq, event.hash));
    }
    if let Some(key) = public_key {
        let Some(Trailer { checkpoint }) = trailer else {
            return Ok(broken(&Break::Unsigned(
                "the export has no signed trailer, so it may have been cut short",
            )));
        };
        if !key.signed(&checkpoint) {
            return Ok(broken(&Break::BadSignature {
                seq: checkpoint.seq,
            }));
        }
        let last_seq = last.as_ref().map_or(0, |(seq, _)| *seq);
        if checkpoint.seq > last_seq {
            return Ok(broken(&Break::PastTheEnd {
                checkpoint: checkpoint.seq,
                last: last_seq,
            }));
        }
        if last.as_ref() != Some(&(checkpoint.seq, checkpoint.hash.clone())) {
            return Ok(broken(&Break::Rewritten {
                seq: checkpoint.seq,
            }));
        }
        println!(
            "signed trailer valid: event #{} is the export's last",
            checkpoint.seq
        );
    }
    let count = verifier.verified();
    match first.filter(|_| excerpt) {
        Some(start) => println!(
            "audit excerpt intact: {count} events from event #{start} ({}); \
             whether events before #{start} were removed cannot be told from the file",
            ending(last.as_ref())
        ),
        None => println!(
            "audit trail intact: {count} events ({})",
            ending(last.as_ref())
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Verifies the store's trail, streamed, and that it reaches the store's chain head; with
/// `public_key`, also its signed checkpoints.
async fn verify_store(store: &Store, public_key: Option<&PublicKey>) -> anyhow::Result<ExitCode> {
    // Read first: events appended while the check runs only extend the chain past it.
    let (head_seq, head_hash) = store.audit_head().await?;
    let mut checkpoints = std::collections::BTreeMap::new();
    if let Some(key) = public_key {
        for c in store.checkpoints().await? {
            let c = Checkpoint {
                seq: c.seq,
                hash: c.hash,
                public_key: c.public_key,
                signature: c.signature,
            };
            if !key.signed(&c) {
                return Ok(broken(&Break::BadSignature { seq: c.seq }));
            }
            checkpoints.insert(c.seq, c.hash);
        }
        if checkpoints.is_empty() {
            return Ok(broken(&Break::Unsigned(
                "the store holds none (is audit.signing_key_env set on the server?)",
            )));
        }
    }
    let mut verifier = ChainVerifier::new();
    let mut events = pin!(store.audit_events(&AuditFilter::default()));
    let mut last: Option<(i64, String)> = None;
    while let Some(event) = events.try_next().await? {
        if let Err(at) = verifier.check(&event) {
            return Ok(broken(&at.into()));
        }
        if event.seq == head_seq && event.hash != head_hash {
            return Ok(broken(&Break::HeadMismatch { seq: event.seq }));
        }
        if checkpoints
            .get(&event.seq)
            .is_some_and(|h| *h != event.hash)
        {
            return Ok(broken(&Break::Rewritten { seq: event.seq }));
        }
        last = Some((event.seq, event.hash));
    }
    let last_seq = last.as_ref().map_or(0, |(seq, _)| *seq);
    if let Some((&checkpoint, _)) = checkpoints.last_key_value()
        && checkpoint > last_seq
    {
        return Ok(broken(&Break::PastTheEnd {
            checkpoint,
            last: last_seq,
        }));
    }
    if let Some((&checkpoint, _)) = checkpoints.last_key_value() {
        println!(
            "{} signed checkpoints valid, the last at event #{checkpoint}; events after it are \
             covered by the hash chain only",
            checkpoints.len()
        );
    }
    if last_seq < head_seq {
        return Ok(broken(&Break::Truncated {
            head: head_seq,
            last: last_seq,
        }));
    }
    println!(
        "audit trail intact: {} events ({})",
        verifier.verified(),
        ending(last.as_ref())
    );
    Ok(ExitCode::SUCCESS)
}
