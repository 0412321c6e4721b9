//! The rule catalogue as a document: `docs/rules.md` is generated from [`crate::rules`] by
//! [`markdown`], and a test fails when the committed file is stale, so the document can never
//! disagree with the code.

use std::fmt::Write;

use crate::rules::rules;

/// What the catalogue says before its rules.
const PREFACE: &str = "\
# The analyzer's rule catalogue

<!-- Generated from the rule catalogue in crates/analyzer/src/rules/ by
     `countersign_analyzer::catalogue::markdown()`; the test crates/analyzer/tests/rules_doc.rs
     fails when this file is stale and writes the fresh one. Do not edit by hand. -->

Each rule has a stable kebab-case id (never renamed: target policies and CI scripts name it), a
severity, and a message with help that tells a reviewer why it matters and what a safer form looks
like. The analyzer works from the parsed syntax tree (`sqlparser`) and the token stream, never from
patterns over the text: a `WHERE` inside a comment or a string is not a `WHERE`.

Severities, lowest first: `info`, `warning`, `danger`, `error`. The **risk** of a script is `high`
if any finding is `danger`, `medium` if any is `warning`, else `low`. An `error` finding means the
system cannot run the script as asked: the request is refused at submission (HTTP 422) whatever
the policy. A target's `blocked_rules` turns any rule into a refusal for that target; an id that is
not in this catalogue is a configuration error.

## How the analyzer reads SQL

The analyzer reads the text the way the target's server does, with the settings Countersign pins
for every run:

- **MySQL/MariaDB**: without `ANSI_QUOTES` (so `\"…\"` is a string) and without
  `NO_BACKSLASH_ESCAPES` (so `\\'` escapes a quote), whatever the server's global `sql_mode`;
  executable comments (`/*! … */`, `/*!50000 … */`, `/*M! … */`) are code.
- **PostgreSQL**: with `standard_conforming_strings = on` (a backslash in `'…'` is a backslash).

A script that changes one of these settings is refused (`lexing-setting`).

## Output

A finding: `{rule, severity, message, help, statement, line, column}` — `statement` is the 0-based
index of the statement, `line`/`column` 1-based positions in the submitted text. A statement:
`{index, kind, tables, line, column, sql}`. An analysis: `{dialect, risk, statements, findings}`.
`countersign check --format json` prints `{\"files\": [{\"path\", ...analysis}]}`; `--format text`
prints one line a finding, `path:line:column: severity[rule] message`.

## Rules
";

/// `docs/rules.md`: the preface, then every rule of the catalogue with its severity, what it
/// fires on and its help.
pub fn markdown() -> String {
    let mut out = String::from(PREFACE);
    out.push_str("\n| id | severity | fires on |\n|---|---|---|\n");
    for rule in rules() {
        let summary = rule.summary.replace('|', "\\|");
        let _ = writeln!(out, "| `{}` | {} | {summary} |", rule.id, rule.severity);
    }
    for rule in rules() {
        let _ = write!(
            out,
            "\n### `{}` ({})\n\n{}\n\n{}\n",
            rule.id, rule.severity, rule.summary, rule.help
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_in_the_document_once_with_its_severity() {
        let doc = markdown();
        for rule in rules() {
            let heading = format!("### `{}` ({})", rule.id, rule.severity);
            assert_eq!(doc.matches(&heading).count(), 1, "{heading}");
        }
    }
}
