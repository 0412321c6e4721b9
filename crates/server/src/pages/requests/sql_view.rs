//! The SQL as the request page shows it: a window of numbered lines with the findings beside
//! them, links to the other windows (and to those with findings), and the line-by-line change
//! between two revisions — bounded, so that the page of a 4 MiB script stays a page.

use std::time::Duration;

use countersign_analyzer::{Analysis, Finding};

/// How many lines of SQL the request page shows at once.
pub const SQL_WINDOW: usize = 500;

/// One line of the SQL, with the findings that point at it.
pub struct SqlLine {
    pub number: usize,
    pub text: String,
    pub findings: Vec<Finding>,
}

/// The lines of the SQL the page shows, and where the rest is.
pub struct SqlWindow {
    /// The lines shown, numbered from [`SqlWindow::first`].
    pub lines: Vec<SqlLine>,
    pub first: usize,
    pub last: usize,
    /// Lines in the whole SQL.
    pub total: usize,
    /// The first line of the window before and after this one.
    pub previous: Option<usize>,
    pub next: Option<usize>,
    /// The other windows that hold findings, in order.
    pub flagged_elsewhere: Vec<FlaggedWindow>,
}

/// A window, not shown, with findings in it.
pub struct FlaggedWindow {
    pub first: usize,
    pub last: usize,
    pub findings: usize,
}

impl SqlWindow {
    /// Whether the SQL is longer than one window (the page then says where the rest is).
    pub fn is_partial(&self) -> bool {
        self.total > self.lines.len()
    }
}

/// The window of `sql` that holds line `from` (1-based; windows start at lines 1, 501, 1001 …; a
/// line past the end shows the last window), each finding hung on its line (findings past the
/// end, which should not happen, go on the last line rather than vanish). Only the window's
/// lines are copied.
pub fn sql_window(sql: &str, analysis: &Analysis, from: usize) -> SqlWindow {
    let total = sql.split('\n').count();
    let window_of = |line: usize| (line.clamp(1, total) - 1) / SQL_WINDOW;
    let shown = window_of(from);
    let first = shown * SQL_WINDOW + 1;
    let mut lines: Vec<SqlLine> = sql
        .split('\n')
        .skip(first - 1)
        .take(SQL_WINDOW)
        .enumerate()
        .map(|(i, text)| SqlLine {
            number: first + i,
            text: text.trim_end_matches('\r').to_owned(),
            findings: Vec::new(),
        })
        .collect();
    let last = first + lines.len() - 1;
    let mut flagged_elsewhere: Vec<FlaggedWindow> = Vec::new();
    for finding in &analysis.findings {
        let at = usize::try_from(finding.line.max(1))
            .unwrap_or(usize::MAX)
            .min(total);
        let window = window_of(at);
        if window == shown {
            lines[at - first].findings.push(finding.clone());
            continue;
        }
        let start = window * SQL_WINDOW + 1;
        match flagged_elsewhere.iter_mut().find(|w| w.first == start) {
            Some(w) => w.findings += 1,
            None => flagged_elsewhere.push(FlaggedWindow {
                first: start,
                last: (start + SQL_WINDOW - 1).min(total),
                findings: 1,
            }),
        }
    }
    flagged_elsewhere.sort_by_key(|w| w.first);
    SqlWindow {
        lines,
        first,
        last,
        total,
        previous: (shown > 0).then(|| first - SQL_WINDOW),
        next: (last < total).then_some(last + 1),
        flagged_elsewhere,
    }
}

/// One line of the change between two revisions' SQL.
pub struct DiffLine {
    /// `+`, `-` or ` `.
    pub sign: char,
    pub css: &'static str,
    pub text: String,
}

/// The most lines the change between two revisions shows; the rest is counted.
pub const DIFF_LINES: usize = 2000;

/// How long the diff may take before it settles for a coarser (still correct) answer.
const DIFF_TIMEOUT: Duration = Duration::from_millis(500);

/// The line-by-line change from `before` to `after`: the changed lines with three lines of
/// context, a `⋯` line between hunks, at most [`DIFF_LINES`] lines (then a last line says how
/// many more changed).
pub fn sql_diff(before: &str, after: &str) -> Vec<DiffLine> {
    let diff = similar::TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(before, after);
    let gap = |text: String| DiffLine {
        sign: '⋯',
        css: "gap",
        text,
    };
    let mut lines = Vec::new();
    let mut left_out = 0usize;
    for (i, group) in diff.grouped_ops(3).iter().enumerate() {
        if i > 0 && lines.len() < DIFF_LINES {
            lines.push(gap(String::new()));
        }
        for change in group.iter().flat_map(|op| diff.iter_changes(op)) {
            if lines.len() >= DIFF_LINES {
                left_out += usize::from(change.tag() != similar::ChangeTag::Equal);
                continue;
            }
            let (sign, css) = match change.tag() {
                similar::ChangeTag::Delete => ('-', "del"),
                similar::ChangeTag::Insert => ('+', "ins"),
                similar::ChangeTag::Equal => (' ', "same"),
            };
            lines.push(DiffLine {
                sign,
                css,
                text: change.value().trim_end_matches(['\n', '\r']).to_owned(),
            });
        }
    }
    if left_out > 0 {
        lines.push(gap(format!("{left_out} more changed lines are not shown")));
    }
    lines
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
    fn a_long_script_is_shown_a_window_at_a_time_with_its_findings_beside_their_lines() {
        // 1,200 lines; the one UPDATE without WHERE is on line 700.
        let sql: String = (1..=1200)
            .map(|n| match n {
                700 => "UPDATE t SET a = 1;\n".to_owned(),
                n => format!("UPDATE t SET a = {n} WHERE id = {n};\n"),
            })
            .collect::<String>()
            .trim_end()
            .to_owned();
        let analysis = countersign_analyzer::analyze(&sql, countersign_analyzer::Dialect::Postgres);
        let first = sql_window(&sql, &analysis, 1);
        assert!(first.is_partial());
        assert_eq!((first.first, first.last, first.total), (1, 500, 1200));
        assert_eq!((first.previous, first.next), (None, Some(501)));
        // Only the script-wide note on line 1 is in the first window.
        let flagged: Vec<(usize, &str)> = first
            .lines
            .iter()
            .flat_map(|l| l.findings.iter().map(move |f| (l.number, f.rule.as_str())))
            .collect();
        assert_eq!(flagged, [(1, "multiple-statements")]);
        let elsewhere: Vec<(usize, usize, usize)> = first
            .flagged_elsewhere
            .iter()
            .map(|w| (w.first, w.last, w.findings))
            .collect();
        assert_eq!(elsewhere, [(501, 1000, 1)]);
        let second = sql_window(&sql, &analysis, 700);
        assert_eq!((second.first, second.last), (501, 1000));
        assert_eq!((second.previous, second.next), (Some(1), Some(1001)));
        let flagged: Vec<usize> = second
            .lines
            .iter()
            .filter(|l| !l.findings.is_empty())
            .map(|l| l.number)
            .collect();
        assert_eq!(flagged, [700]);
        assert_eq!(second.lines[199].text, "UPDATE t SET a = 1;");
        let elsewhere: Vec<usize> = second.flagged_elsewhere.iter().map(|w| w.first).collect();
        assert_eq!(elsewhere, [1], "the first window, for its note");
        let last = sql_window(&sql, &analysis, 99_999);
        assert_eq!((last.first, last.last, last.next), (1001, 1200, None));
    }

    #[test]
    fn the_diff_of_large_scripts_is_bounded() {
        let before: String = (0..20_000)
            .map(|n| format!("DELETE FROM t WHERE id = {n};\n"))
            .collect();
        let after = before.replace("= 1", "= 9");
        let diff = sql_diff(&before, &after);
        assert!(diff.len() <= DIFF_LINES + 1, "{}", diff.len());
        assert!(
            diff.iter().any(|d| d.css == "gap" && !d.text.is_empty()),
            "says what is left out"
        );
        assert!(diff.iter().any(|d| d.sign == '-'));
    }

    #[test]
    fn findings_hang_on_their_lines() {
        let analysis = countersign_analyzer::analyze(
            "SELECT 1;\nUPDATE t SET a = 1;",
            countersign_analyzer::Dialect::Postgres,
        );
        let window = sql_window("SELECT 1;\nUPDATE t SET a = 1;", &analysis, 1);
        assert!(!window.is_partial());
        let lines = window.lines;
        assert_eq!(lines.len(), 2);
        assert!(
            lines[1]
                .findings
                .iter()
                .any(|f| f.rule == "update-without-where")
        );
    }
}
