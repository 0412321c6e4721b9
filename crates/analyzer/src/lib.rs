//! The analyzer: SQL text and a dialect in, an [`Analysis`] (statements, findings, risk) out.
//! Pure and synchronous: no I/O, no database, never panics on any input.
