//! Runs a SQL file on a PostgreSQL target through the executor, as the server runs an approved
//! revision: one transaction, the text as it is, the changes counted, commit. Used by `benches/execute_vs_psql.sh`.
//!
//! ```text
//! COUNTERSIGN_TARGET_URL=postgres://user@host/db run_script script.sql [expected_rows]
//! ```
//!
//! The URL comes from the environment, never the command line, where `ps` would show it.
//! Prints one line — outcome, statements, rows affected, milliseconds — and exits 0 only if
//! the run committed.

use std::convert::Infallible;
use std::error::Error;
use std::process::ExitCode;

use countersign_executor::{Driver, Limits, Plan, Target, execute};

const URL_VAR: &str = "COUNTERSIGN_TARGET_URL";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<ExitCode, Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: run_script <script.sql> [expected_rows]")?;
    let expected_rows = args.next().map(|n| n.parse::<i64>()).transpose()?;
    let url = std::env::var(URL_VAR).map_err(|_| format!("{URL_VAR} is not set"))?;
    let script = std::fs::read_to_string(&path)?;
    let statements = count(&script);

    let target = Target {
        driver: Driver::Postgres,
        url: &url,
    };
    let plan = Plan {
        expected_rows,
        limits: Limits::default(),
        ..Plan::new(&script, statements)
    };
    let report = execute(target, plan, async |_txid| Ok::<(), Infallible>(())).await;

    println!(
        "{} statements={} rows_affected={} ms={}{}",
        report.outcome,
        statements,
        report.rows_affected,
        report.duration.as_millis(),
        report
            .error
            .as_ref()
            .map(|e| format!(" error={e}"))
            .unwrap_or_default(),
    );
    Ok(if report.is_committed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The statements in the script, counted at `;` + newline. Good enough for the benchmark's
/// generated script and for nothing else: the application counts statements with the
/// analyzer, which understands SQL. The text itself is sent as it is.
fn count(script: &str) -> usize {
    script
        .split(";\n")
        .filter(|s| !s.trim().trim_end_matches(';').trim().is_empty())
        .count()
}
