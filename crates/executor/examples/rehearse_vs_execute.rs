//! Times a rehearsal against the execution of the same script on a PostgreSQL target: 4,000
//! single-row UPDATEs (`UPDATE bench_rehearsal SET balance = balance + 1 WHERE id = N;`) on a
//! 4,000-row table. Used by `benches/rehearse_vs_execute.sh`.
//!
//! ```text
//! COUNTERSIGN_TARGET_URL=postgres://user@host/db rehearse_vs_execute [rounds] [statements]
//! ```
//!
//! Each round runs, in an order that rotates from round to round: the execution (which
//! commits), a rehearsal with samples, and a rehearsal with counts only; each is checked (the
//! execution committed every row, the rehearsals counted every row and changed none). Prints
//! each side's median wall time and the ratios rehearsal/execution. The URL comes from the
//! environment, never the command line, where `ps` would show it.

use std::convert::Infallible;
use std::error::Error;
use std::time::{Duration, Instant};

use countersign_executor::{
    Driver, Limits, Plan, RehearsalOptions, RehearsalStatus, Target, execute, rehearse_analyzed,
};
use sqlx::{Connection, PgConnection};

const URL_VAR: &str = "COUNTERSIGN_TARGET_URL";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(6);
    let rows: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(4_000);
    let url = std::env::var(URL_VAR).map_err(|_| format!("{URL_VAR} is not set"))?;
    let target = Target {
        driver: Driver::Postgres,
        url: &url,
    };

    let mut admin = PgConnection::connect(&url).await?;
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS bench_rehearsal; \
         CREATE TABLE bench_rehearsal (id integer PRIMARY KEY, balance bigint NOT NULL DEFAULT 0)",
    )
    .execute(&mut admin)
    .await?;
    sqlx::query("INSERT INTO bench_rehearsal (id) SELECT g FROM generate_series(1, $1) AS g")
        .bind(i32::try_from(rows)?)
        .execute(&mut admin)
        .await?;
    let script: String = (1..=rows)
        .map(|id| format!("UPDATE bench_rehearsal SET balance = balance + 1 WHERE id = {id};\n"))
        .collect();
    // The same limits for both, as a target's policy gives them.
    let limits = Limits {
        statement_timeout: Some(Duration::from_secs(600)),
        lock_timeout: Some(Duration::from_secs(600)),
    };
    let with_samples = RehearsalOptions {
        timeout: Duration::from_secs(600),
        ..RehearsalOptions::new(limits)
    };
    let counts_only = RehearsalOptions {
        samples: false,
        ..with_samples
    };

    // The server analyzes a revision when it is submitted and rehearses that analysis (as an
    // execution runs the analyzed text): the analysis is timed apart, not in either side.
    let clock = Instant::now();
    let analysis = countersign_analyzer::analyze(&script, countersign_analyzer::Dialect::Postgres);
    let analysis_time = clock.elapsed();

    let mut times: [Vec<Duration>; 3] = Default::default();
    for round in 0..=rounds {
        sqlx::raw_sql("VACUUM bench_rehearsal")
            .execute(&mut admin)
            .await?;
        for turn in 0..3 {
            let which = (turn + round) % 3;
            let sum_before: i64 =
                sqlx::query_scalar("SELECT sum(balance)::bigint FROM bench_rehearsal")
                    .fetch_one(&mut admin)
                    .await?;
            let clock = Instant::now();
            let expected_change = match which {
                0 => {
                    let plan = Plan {
                        limits,
                        ..Plan::new(&script, rows)
                    };
                    let report = execute(target, plan, async |_| Ok::<(), Infallible>(())).await;
                    if !report.is_committed() || report.rows_affected != rows as u64 {
                        return Err(format!("the execution failed: {report:?}").into());
                    }
                    rows as i64
                }
                _ => {
                    let options = if which == 1 {
                        with_samples
                    } else {
                        counts_only
                    };
                    let rehearsal = rehearse_analyzed(target, &analysis, options).await;
                    let samples = rehearsal
                        .statements
                        .iter()
                        .filter(|s| s.sample.is_some())
                        .count();
                    if rehearsal.status != RehearsalStatus::Done
                        || rehearsal.rows_affected != rows as u64
                        || samples
                            != if which == 1 {
                                rows.min(options.max_sampled_statements)
                            } else {
                                0
                            }
                    {
                        return Err(format!("the rehearsal failed: {:?}", rehearsal.error).into());
                    }
                    0
                }
            };
            let elapsed = clock.elapsed();
            let sum_after: i64 =
                sqlx::query_scalar("SELECT sum(balance)::bigint FROM bench_rehearsal")
                    .fetch_one(&mut admin)
                    .await?;
            if sum_after - sum_before != expected_change {
                return Err("a rehearsal changed the table, or the execution did not".into());
            }
            // Round 0 warms up, untimed.
            if round > 0 {
                times[which].push(elapsed);
            }
        }
    }
    sqlx::raw_sql("DROP TABLE bench_rehearsal")
        .execute(&mut admin)
        .await?;
    admin.close().await?;

    let [execution, samples, counts] = times.map(median);
    println!("statements={rows} rounds={rounds}");
    println!(
        "analysis alone       once   {:>8.3} s  ({} statements)",
        analysis_time.as_secs_f64(),
        analysis.statements.len()
    );
    println!(
        "execution            median {:>8.3} s",
        execution.as_secs_f64()
    );
    println!(
        "rehearsal, samples   median {:>8.3} s  ratio {:.2}",
        samples.as_secs_f64(),
        ratio(samples, execution)
    );
    println!(
        "rehearsal, counts    median {:>8.3} s  ratio {:.2}",
        counts.as_secs_f64(),
        ratio(counts, execution)
    );
    Ok(())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(f64::MIN_POSITIVE)
}
