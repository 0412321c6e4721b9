//! Runs `analyze` on a file many times, for profiling: `profile_parts FILE [RUNS]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "/tmp/bench.sql".into());
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(20);
    let Ok(sql) = std::fs::read_to_string(&path) else {
        eprintln!("cannot read {path}");
        std::process::exit(3);
    };
    let started = std::time::Instant::now();
    let mut findings = 0;
    for _ in 0..runs {
        findings += countersign_analyzer::analyze(&sql, countersign_analyzer::Dialect::Postgres)
            .findings
            .len();
    }
    println!(
        "{:?} per run ({findings} findings)",
        started.elapsed() / runs as u32
    );
}
