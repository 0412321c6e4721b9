//! Agreement with other tools' own rule test cases (`tests/corpus/*.json`): squawk's
//! PostgreSQL cases and Bytebase's MySQL SQL-review cases, for the rules that have a
//! counterpart here, at pinned commits. For each case, one of the mapped rules of ours should
//! fire where theirs does; where theirs stays silent ours may still fire, because several of
//! ours are broader by design (`alter-table` warns on every `ALTER TABLE`,
//! `transaction-control` refuses every `BEGIN`, `truncate` fires without `CASCADE`). The
//! figures are printed (`--nocapture`) and recorded in BENCHMARKS.md; the test fails if
//! agreement on their findings falls below what was recorded, or if a case does not parse.

use countersign_analyzer::{Dialect, analyze};
use serde_json::Value;

/// What one corpus showed.
#[derive(Debug, Default)]
struct Agreement {
    cases: usize,
    /// Cases where their rule fires, and of those, where one of ours does too.
    positives: usize,
    positives_agreed: usize,
    /// Cases where their rule is silent, and of those, where ours are too.
    negatives: usize,
    negatives_silent: usize,
    parse_errors: Vec<String>,
    missed: Vec<String>,
}

fn agreement(corpus: &str) -> Agreement {
    let corpus: Value = serde_json::from_str(corpus).expect("corpus is JSON");
    let dialect: Dialect = corpus["dialect"]
        .as_str()
        .expect("dialect")
        .parse()
        .expect("a dialect");
    let mut result = Agreement::default();
    for case in corpus["cases"].as_array().expect("cases") {
        let sql = case["sql"].as_str().expect("sql");
        let ours: Vec<&str> = case["ours"]
            .as_array()
            .expect("ours")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let analysis = analyze(sql, dialect);
        let fires = analysis
            .findings
            .iter()
            .any(|f| ours.contains(&f.rule.as_str()));
        result.cases += 1;
        if analysis.findings.iter().any(|f| f.rule == "parse-error") {
            result.parse_errors.push(sql.to_owned());
        }
        if case["they_fire"].as_bool().expect("they_fire") {
            result.positives += 1;
            if fires {
                result.positives_agreed += 1;
            } else {
                result.missed.push(format!("{}: {sql}", case["their_rule"]));
            }
        } else {
            result.negatives += 1;
            result.negatives_silent += usize::from(!fires);
        }
    }
    println!(
        "{} cases; they fire on {}, ours agree on {}; they are silent on {}, ours on {}; \
         parse errors: {}",
        result.cases,
        result.positives,
        result.positives_agreed,
        result.negatives,
        result.negatives_silent,
        result.parse_errors.len()
    );
    for missed in &result.missed {
        println!("missed {missed}");
    }
    result
}

#[test]
fn squawk_rule_cases_agree() {
    let result = agreement(include_str!("corpus/squawk.json"));
    assert!(result.parse_errors.is_empty(), "{:?}", result.parse_errors);
    assert!(result.positives_agreed >= 32, "{result:#?}");
}

#[test]
fn bytebase_mysql_rule_cases_agree() {
    let result = agreement(include_str!("corpus/bytebase_mysql.json"));
    assert!(result.parse_errors.is_empty(), "{:?}", result.parse_errors);
    assert!(result.positives_agreed >= 29, "{result:#?}");
}
