//! The SQL as the request page shows it: numbered lines with the findings beside them, and
//! the line-by-line change between two revisions.

use countersign_analyzer::{Analysis, Finding};

/// One line of the SQL, with the findings that point at it.
pub struct SqlLine {
    pub number: usize,
    pub text: String,
    pub findings: Vec<Finding>,
}

/// Numbers the lines of `sql` and hangs each finding on its line (findings past the end, which
/// should not happen, go on the last line rather than vanish).
pub fn sql_lines(sql: &str, analysis: &Analysis) -> Vec<SqlLine> {
    let mut lines: Vec<SqlLine> = sql
        .split('\n')
        .enumerate()
        .map(|(i, text)| SqlLine {
            number: i + 1,
            text: text.trim_end_matches('\r').to_owned(),
            findings: Vec::new(),
        })
        .collect();
    for finding in &analysis.findings {
        let at = usize::try_from(finding.line.max(1)).unwrap_or(usize::MAX);
        let index = at.min(lines.len()).saturating_sub(1);
        if let Some(line) = lines.get_mut(index) {
            line.findings.push(finding.clone());
        }
    }
    lines
}

/// One line of the change between two revisions' SQL.
pub struct DiffLine {
    /// `+`, `-` or ` `.
    pub sign: char,
    pub css: &'static str,
    pub text: String,
}

/// The line-by-line change from `before` to `after`.
pub fn sql_diff(before: &str, after: &str) -> Vec<DiffLine> {
    similar::TextDiff::from_lines(before, after)
        .iter_all_changes()
        .map(|change| {
            let (sign, css) = match change.tag() {
                similar::ChangeTag::Delete => ('-', "del"),
                similar::ChangeTag::Insert => ('+', "ins"),
                similar::ChangeTag::Equal => (' ', "same"),
            };
            DiffLine {
                sign,
                css,
                text: change.value().trim_end_matches(['\n', '\r']).to_owned(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_marks_removed_and_added_lines() {
        let diff = sql_diff(
            "UPDATE t SET a = 1\nWHERE id = 1;\n",
            "UPDATE t SET a = 1\nWHERE id = 2;\n",
        );
        let signs: String = diff.iter().map(|d| d.sign).collect();
        assert_eq!(signs, " -+");
        assert_eq!(diff[1].text, "WHERE id = 1;");
        assert_eq!(diff[2].css, "ins");
    }

    #[test]
    fn findings_hang_on_their_lines() {
        let analysis = countersign_analyzer::analyze(
            "SELECT 1;\nUPDATE t SET a = 1;",
            countersign_analyzer::Dialect::Postgres,
        );
        let lines = sql_lines("SELECT 1;\nUPDATE t SET a = 1;", &analysis);
        assert_eq!(lines.len(), 2);
        assert!(
            lines[1]
                .findings
                .iter()
                .any(|f| f.rule == "update-without-where")
        );
    }
}
