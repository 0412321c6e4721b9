//! Agreement with squawk's own rule test cases (`tests/corpus/squawk.json`: the SQL of each
//! `lint_errors`/`lint_ok` test of the squawk rules that have a counterpart here, at a pinned
//! commit). For each case, the mapped rule of ours should fire where squawk's does; where
//! squawk's stays silent ours may still fire, because several of ours are broader by design
//! (`alter-table` warns on every `ALTER TABLE`, `transaction-control` refuses every `BEGIN`).
//! The figures are printed (`--nocapture`) and recorded in BENCHMARKS.md; the test fails if
//! agreement on squawk's findings falls below what was recorded, or if a case no longer parses.

use countersign_analyzer::{Dialect, analyze};
use serde_json::Value;

/// Cases where squawk's rule fires and ours (mapped) must too, as recorded in BENCHMARKS.md.
const MIN_POSITIVES_AGREED: usize = 32;

#[test]
fn squawk_rule_cases_agree() {
    let corpus: Value =
        serde_json::from_str(include_str!("corpus/squawk.json")).expect("corpus is JSON");
    let cases = corpus["cases"].as_array().expect("cases");
    let (mut positives, mut positives_agreed) = (0, 0);
    let (mut negatives, mut negatives_silent) = (0, 0);
    let mut parse_errors = Vec::new();
    let mut missed = Vec::new();
    for case in cases {
        let sql = case["sql"].as_str().expect("sql");
        let ours = case["ours"].as_str().expect("ours");
        let squawk_fires = case["squawk_fires"].as_bool().expect("squawk_fires");
        let analysis = analyze(sql, Dialect::Postgres);
        let fires = analysis.findings.iter().any(|f| f.rule == ours);
        if analysis.findings.iter().any(|f| f.rule == "parse-error") {
            parse_errors.push(case["source"].clone());
        }
        if squawk_fires {
            positives += 1;
            if fires {
                positives_agreed += 1;
            } else {
                missed.push((case["squawk_rule"].clone(), sql.to_owned()));
            }
        } else {
            negatives += 1;
            negatives_silent += usize::from(!fires);
        }
    }
    println!(
        "squawk corpus: {} cases; squawk fires on {positives}, ours agrees on \
         {positives_agreed}; squawk silent on {negatives}, ours silent on {negatives_silent}; \
         parse errors: {}",
        cases.len(),
        parse_errors.len()
    );
    for (rule, sql) in &missed {
        println!("missed {rule}: {sql}");
    }
    assert!(parse_errors.is_empty(), "{parse_errors:?}");
    assert!(
        positives_agreed >= MIN_POSITIVES_AGREED,
        "agreement fell to {positives_agreed} of {positives}: {missed:#?}"
    );
}
