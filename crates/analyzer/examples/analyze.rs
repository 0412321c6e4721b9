//! Prints the analysis of a file (or standard input) as JSON: `cargo run --example analyze -- FILE [DIALECT]`.

use std::io::Read;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "-".into());
    let dialect = args
        .next()
        .map_or(Ok(countersign_analyzer::Dialect::Postgres), |d| d.parse());
    let dialect = match dialect {
        Ok(dialect) => dialect,
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(2);
        }
    };
    let mut sql = String::new();
    let read = if path == "-" {
        std::io::stdin().read_to_string(&mut sql).map(|_| ())
    } else {
        std::fs::read_to_string(&path).map(|text| sql = text)
    };
    if let Err(err) = read {
        eprintln!("{path}: {err}");
        std::process::exit(3);
    }
    let analysis = countersign_analyzer::analyze(&sql, dialect);
    match serde_json::to_string_pretty(&analysis) {
        Ok(json) => println!("{json}"),
        Err(err) => eprintln!("{err}"),
    }
}
