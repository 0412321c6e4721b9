//! `countersign check`: offline analysis of SQL files for pre-commit hooks and CI.
//!
//! Each input is analyzed on its own with [`countersign_analyzer::analyze`]. The text report
//! prints one line per finding in the `path:line:column: severity[rule] message` form that
//! editors and CI annotate; the JSON report prints `{"files": [{"path", …analysis}]}`. Reports
//! are streamed file by file, so only one input is held in memory at a time.

use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use countersign_analyzer::{Analysis, Dialect, Severity, analyze};
use serde::Serialize;

/// How the report is printed (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// One line per finding: `path:line:column: severity[rule] message`.
    #[default]
    Text,
    /// `{"files": [{"path": …, "dialect": …, "risk": …, "statements": […], "findings": […]}]}`.
    Json,
}

/// Exit code: no finding above `info`.
pub const EXIT_CLEAN: i32 = 0;
/// Exit code: at least one `warning`, nothing worse.
pub const EXIT_WARNING: i32 = 1;
/// Exit code: at least one `danger` or `error`.
pub const EXIT_DANGER: i32 = 2;
/// Exit code: an input could not be read (or the report could not be written).
pub const EXIT_UNREADABLE: i32 = 3;

/// Analyzes each input ("-" = stdin), writes the report to `out`, returns the process exit code:
/// 0 nothing above info, 1 warning, 2 danger or error, 3 an input could not be read (the message goes to `err`).
///
/// Every readable input is still analyzed and reported when another cannot be read. No paths
/// at all means standard input.
pub fn run(
    paths: &[PathBuf],
    dialect: Dialect,
    format: Format,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    run_with_stdin(paths, dialect, format, out, err, &mut io::stdin().lock())
}

/// [`run`], with standard input given explicitly.
fn run_with_stdin(
    paths: &[PathBuf],
    dialect: Dialect,
    format: Format,
    out: &mut dyn Write,
    err: &mut dyn Write,
    stdin: &mut dyn Read,
) -> i32 {
    let stdin_only = [PathBuf::from("-")];
    let paths = if paths.is_empty() {
        &stdin_only[..]
    } else {
        paths
    };
    let mut report = Report {
        format,
        out: BufWriter::new(out),
        files: 0,
    };
    let mut worst = EXIT_CLEAN;
    let mut unreadable = false;

    let mut written = report.begin();
    for path in paths {
        if written.is_err() {
            break;
        }
        let shown = display_path(path);
        match read_input(path, stdin) {
            Ok(sql) => {
                let analysis = analyze(&sql, dialect);
                worst = worst.max(exit_code(&analysis));
                written = report.file(&shown, &analysis);
            }
            Err(message) => {
                unreadable = true;
                // A failure to write the error itself leaves nothing else to tell.
                let _ = writeln!(err, "countersign check: {shown}: {message}");
            }
        }
    }
    if let Err(error) = written.and_then(|()| report.end()) {
        let _ = writeln!(err, "countersign check: cannot write the report: {error}");
        return EXIT_UNREADABLE;
    }
    if unreadable { EXIT_UNREADABLE } else { worst }
}

/// The exit code that one analysis calls for.
fn exit_code(analysis: &Analysis) -> i32 {
    match analysis.max_severity() {
        None | Some(Severity::Info) => EXIT_CLEAN,
        Some(Severity::Warning) => EXIT_WARNING,
        Some(Severity::Danger | Severity::Error) => EXIT_DANGER,
    }
}

/// How an input is named in the report: `-` for standard input, else the path as given.
fn display_path(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Reads one input as UTF-8 text, or says why it cannot be.
fn read_input(path: &Path, stdin: &mut dyn Read) -> Result<String, String> {
    let mut bytes = Vec::new();
    let read = if path.as_os_str() == "-" {
        stdin.read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut file| file.read_to_end(&mut bytes).map(|_| ()))
    };
    read.map_err(|error| error.to_string())?;
    String::from_utf8(bytes).map_err(|error| {
        format!(
            "not valid UTF-8 (byte {} is not part of a UTF-8 character)",
            error.utf8_error().valid_up_to()
        )
    })
}

/// Writes the report in the chosen format, one file at a time.
struct Report<W: Write> {
    format: Format,
    out: BufWriter<W>,
    /// How many files the JSON report has listed so far.
    files: usize,
}

#[derive(Serialize)]
struct JsonFile<'a> {
    path: &'a str,
    #[serde(flatten)]
    analysis: &'a Analysis,
}

impl<W: Write> Report<W> {
    fn begin(&mut self) -> io::Result<()> {
        match self.format {
            Format::Text => Ok(()),
            Format::Json => self.out.write_all(b"{\"files\":["),
        }
    }

    fn file(&mut self, path: &str, analysis: &Analysis) -> io::Result<()> {
        match self.format {
            Format::Text => {
                for finding in &analysis.findings {
                    writeln!(
                        self.out,
                        "{path}:{}:{}: {}[{}] {}",
                        finding.line,
                        finding.column,
                        finding.severity,
                        finding.rule,
                        finding.message
                    )?;
                }
                Ok(())
            }
            Format::Json => {
                if self.files > 0 {
                    self.out.write_all(b",")?;
                }
                self.files += 1;
                serde_json::to_writer(&mut self.out, &JsonFile { path, analysis })
                    .map_err(io::Error::from)
            }
        }
    }

    fn end(&mut self) -> io::Result<()> {
        if self.format == Format::Json {
            self.out.write_all(b"]}\n")?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Outcome {
        code: i32,
        out: String,
        err: String,
    }

    fn check(paths: &[PathBuf], format: Format, stdin: &str) -> Outcome {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_with_stdin(
            paths,
            Dialect::Postgres,
            format,
            &mut out,
            &mut err,
            &mut stdin.as_bytes(),
        );
        Outcome {
            code,
            out: String::from_utf8(out).unwrap(),
            err: String::from_utf8(err).unwrap(),
        }
    }

    fn file_with(dir: &tempfile::TempDir, name: &str, contents: &[u8]) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn update_without_where_in_a_comment_is_danger_at_line_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_with(
            &dir,
            "fix.sql",
            b"UPDATE orders SET status = 'x' -- WHERE id = 1\n",
        );
        let outcome = check(std::slice::from_ref(&path), Format::Text, "");
        assert_eq!(outcome.code, EXIT_DANGER);
        let expected = format!("{}:1:1: danger[update-without-where] ", path.display());
        assert!(outcome.out.starts_with(&expected), "{}", outcome.out);
        assert_eq!(outcome.out.lines().count(), 1);
        assert!(outcome.err.is_empty());
    }

    #[test]
    fn exit_codes_follow_the_worst_finding() {
        let dir = tempfile::tempdir().unwrap();
        let clean = file_with(&dir, "clean.sql", b"UPDATE t SET a = 1 WHERE id = 1;");
        let info = file_with(&dir, "info.sql", b"CREATE TABLE t (id int)");
        let warning = file_with(&dir, "warning.sql", b"INSERT INTO t VALUES (1)");
        let error = file_with(&dir, "error.sql", b"BEGIN");
        assert_eq!(
            check(std::slice::from_ref(&clean), Format::Text, "").code,
            EXIT_CLEAN
        );
        assert_eq!(
            check(std::slice::from_ref(&info), Format::Text, "").code,
            EXIT_CLEAN
        );
        assert_eq!(
            check(std::slice::from_ref(&warning), Format::Text, "").code,
            EXIT_WARNING
        );
        assert_eq!(check(&[error], Format::Text, "").code, EXIT_DANGER);
        assert_eq!(
            check(&[clean, warning, info], Format::Text, "").code,
            EXIT_WARNING
        );
    }

    #[test]
    fn standard_input_is_named_dash() {
        let outcome = check(&[PathBuf::from("-")], Format::Text, "\n\nDELETE FROM t");
        assert_eq!(outcome.code, EXIT_DANGER);
        assert!(
            outcome
                .out
                .starts_with("-:3:1: danger[delete-without-where] "),
            "{}",
            outcome.out
        );
        let outcome = check(&[], Format::Text, "SELECT 1");
        assert_eq!(
            outcome.out,
            "-:1:1: info[select-in-script] This SELECT changes nothing; it still runs inside the script's transaction.\n"
        );
    }

    #[test]
    fn unreadable_inputs_exit_3_and_the_others_are_still_reported() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.sql");
        let binary = file_with(&dir, "latin1.sql", b"SELECT 'caf\xe9'");
        let bad = file_with(&dir, "bad.sql", b"DELETE FROM t");
        let outcome = check(&[missing.clone(), binary, bad.clone()], Format::Text, "");
        assert_eq!(outcome.code, EXIT_UNREADABLE);
        assert!(
            outcome.err.contains(&format!("{}: ", missing.display())),
            "{}",
            outcome.err
        );
        assert!(
            outcome.err.contains("not valid UTF-8 (byte 11"),
            "{}",
            outcome.err
        );
        assert!(outcome.out.contains(&format!(
            "{}:1:1: danger[delete-without-where]",
            bad.display()
        )));
    }

    #[test]
    fn json_lists_each_file_with_its_analysis_flattened() {
        let dir = tempfile::tempdir().unwrap();
        let first = file_with(&dir, "a.sql", b"TRUNCATE t");
        let second = file_with(&dir, "b.sql", b"SELECT 1");
        let outcome = check(&[first.clone(), second], Format::Json, "");
        assert_eq!(outcome.code, EXIT_DANGER);
        let json: serde_json::Value = serde_json::from_str(&outcome.out).unwrap();
        let files = json["files"].as_array().unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0]["path"], first.display().to_string());
        assert_eq!(files[0]["dialect"], "postgres");
        assert_eq!(files[0]["risk"], "high");
        assert_eq!(files[0]["statements"][0]["kind"], "truncate");
        assert_eq!(files[0]["findings"][0]["rule"], "truncate");
        assert_eq!(files[1]["risk"], "low");
        let analysis: Analysis = serde_json::from_value(files[1].clone()).unwrap();
        assert_eq!(analysis.statements[0].sql, "SELECT 1");
    }

    #[test]
    fn json_with_no_readable_file_is_still_valid() {
        let outcome = check(&[PathBuf::from("/nonexistent/x.sql")], Format::Json, "");
        assert_eq!(outcome.code, EXIT_UNREADABLE);
        assert_eq!(outcome.out, "{\"files\":[]}\n");
    }

    #[test]
    fn formats_are_named_as_on_the_command_line() {
        assert_eq!(Format::from_str("json", false), Ok(Format::Json));
        assert_eq!(
            Format::Text
                .to_possible_value()
                .map(|v| v.get_name().to_owned()),
            Some("text".to_owned())
        );
        assert!(Format::from_str("yaml", false).is_err());
    }

    /// One script a rule fires on, for each rule of the catalogue: its `countersign check`
    /// report is a snapshot (`src/snapshots/`), so a change to any rule's words, place or
    /// severity shows up in review.
    const RULE_EXAMPLES: &[(&str, Dialect, &str)] = &[
        (
            "alter-table",
            Dialect::Postgres,
            "ALTER TABLE orders ADD COLUMN note text;\n",
        ),
        (
            "calls-unknown-function",
            Dialect::Postgres,
            "SELECT refresh_totals(42);\n",
        ),
        (
            "copy-or-load",
            Dialect::Postgres,
            "COPY orders FROM '/tmp/orders.csv';\n",
        ),
        (
            "create-index-blocking",
            Dialect::Postgres,
            "CREATE INDEX orders_status ON orders (status);\n",
        ),
        (
            "create-object",
            Dialect::Postgres,
            "CREATE TABLE refunds (id int PRIMARY KEY);\n",
        ),
        (
            "dangerous-function",
            Dialect::Postgres,
            "SELECT pg_terminate_backend(4242);\n",
        ),
        (
            "ddl-implicit-commit",
            Dialect::Mysql,
            "ALTER TABLE orders ADD COLUMN note text;\n",
        ),
        (
            "delete-without-where",
            Dialect::Postgres,
            "DELETE FROM orders;\n",
        ),
        (
            "drop-column",
            Dialect::Postgres,
            "ALTER TABLE orders DROP COLUMN note;\n",
        ),
        ("drop-database", Dialect::Postgres, "DROP DATABASE shop;\n"),
        (
            "drop-other",
            Dialect::Postgres,
            "DROP INDEX orders_status;\n",
        ),
        ("drop-schema", Dialect::Postgres, "DROP SCHEMA archive;\n"),
        ("drop-table", Dialect::Postgres, "DROP TABLE orders;\n"),
        ("empty-script", Dialect::Postgres, "-- nothing to run\n"),
        (
            "executable-comment",
            Dialect::Mysql,
            "UPDATE orders SET status = 'z' WHERE /*M! id > 0 OR */ id = 1;\n",
        ),
        (
            "grant-revoke",
            Dialect::Postgres,
            "GRANT SELECT ON orders TO reporting;\n",
        ),
        (
            "implicit-commit-mixed",
            Dialect::Mysql,
            "UPDATE orders SET status = 'x' WHERE id IN (12, 13);\nCREATE TABLE t_tmp (a int);\n",
        ),
        (
            "insert-from-select",
            Dialect::Postgres,
            "INSERT INTO archive (id) SELECT id FROM orders WHERE id < 10;\n",
        ),
        (
            "insert-without-columns",
            Dialect::Postgres,
            "INSERT INTO orders VALUES (1, 'paid');\n",
        ),
        (
            "lexing-setting",
            Dialect::Mysql,
            "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES';\n",
        ),
        (
            "limit-without-order-by",
            Dialect::Mysql,
            "DELETE FROM orders WHERE status = 'stale' LIMIT 10;\n",
        ),
        ("lock-table", Dialect::Postgres, "LOCK TABLE orders;\n"),
        (
            "multiple-statements",
            Dialect::Postgres,
            "UPDATE orders SET status = 'paid' WHERE id = 1;\nUPDATE orders SET status = 'paid' WHERE id = 2;\n",
        ),
        ("non-transactional", Dialect::Postgres, "VACUUM orders;\n"),
        (
            "parse-error",
            Dialect::Postgres,
            "UPDATE orders SET WHERE;\n",
        ),
        (
            "procedural-code",
            Dialect::Postgres,
            "DO $$ BEGIN PERFORM 1; END $$;\n",
        ),
        (
            "rename",
            Dialect::Postgres,
            "ALTER TABLE orders RENAME TO old_orders;\n",
        ),
        (
            "role-management",
            Dialect::Postgres,
            "CREATE ROLE auditor;\n",
        ),
        (
            "select-in-script",
            Dialect::Postgres,
            "SELECT * FROM orders WHERE id = 1;\n",
        ),
        (
            "session-setting",
            Dialect::Postgres,
            "SET search_path = archive;\n",
        ),
        (
            "transaction-control",
            Dialect::Postgres,
            "BEGIN;\nUPDATE orders SET status = 'x' WHERE id = 1;\nCOMMIT;\n",
        ),
        ("truncate", Dialect::Postgres, "TRUNCATE orders;\n"),
        (
            "update-with-join",
            Dialect::Postgres,
            "UPDATE orders o SET status = 'held' FROM customers c WHERE c.id = o.customer_id AND c.blocked;\n",
        ),
        (
            "update-without-where",
            Dialect::Postgres,
            "UPDATE orders SET status = 'x';\n",
        ),
        (
            "where-always-true",
            Dialect::Postgres,
            "UPDATE orders SET status = 'x' WHERE 1 = 1;\n",
        ),
        (
            "where-nearly-always-true",
            Dialect::Postgres,
            "UPDATE orders SET status = 'x' WHERE id IS NOT NULL;\n",
        ),
    ];

    #[test]
    fn every_rule_has_an_example_whose_report_is_its_snapshot() {
        let mut covered: Vec<&str> = RULE_EXAMPLES.iter().map(|(id, _, _)| *id).collect();
        covered.sort_unstable();
        let mut catalogue: Vec<&str> = countersign_analyzer::rules().iter().map(|r| r.id).collect();
        catalogue.sort_unstable();
        assert_eq!(
            covered, catalogue,
            "every rule of the catalogue needs an example here"
        );

        for (rule, dialect, sql) in RULE_EXAMPLES {
            let analysis = analyze(sql, *dialect);
            assert!(
                analysis.findings.iter().any(|f| f.rule == *rule),
                "{rule} does not fire on its example: {:?}",
                analysis.findings
            );
            let (mut out, mut err) = (Vec::new(), Vec::new());
            run_with_stdin(
                &[],
                *dialect,
                Format::Text,
                &mut out,
                &mut err,
                &mut sql.as_bytes(),
            );
            let report = format!(
                "-- {dialect}\n{sql}-- countersign check\n{}",
                String::from_utf8(out).expect("utf-8")
            );
            insta::assert_snapshot!(*rule, report);
        }
    }
}
