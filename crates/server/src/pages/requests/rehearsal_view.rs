//! The rehearsal as the request page shows it: each statement's count ("changes 3 rows"), why
//! a statement was skipped, the sample as a before → after table with the changed cells marked,
//! and a warning when the total is not what the author expected. Computed here; the template
//! only displays it.

use serde_json::Value;

use crate::views::RehearsalView;

/// The rehearsal panel of the request page.
pub struct RehearsalPanel {
    /// `done`, `running`, `error`, `timeout`.
    pub status: String,
    pub on_target: String,
    pub by: String,
    pub started_at: String,
    pub rows_affected: Option<i64>,
    /// Set when the rehearsal's total differs from the request's expected rows.
    pub differs: Option<String>,
    pub statements: Vec<RehearsedStatement>,
    pub error: Option<String>,
    /// Set when the rehearsal is of an earlier revision than the request's current one.
    pub stale: Option<String>,
    /// Whether the run could be undone, in words; `None` when the rehearsal could not tell.
    pub undo: Option<String>,
    /// Whether [`Self::undo`] is a warning.
    pub undo_warns: bool,
}

/// One statement of the rehearsal.
pub struct RehearsedStatement {
    /// From 1, as people count.
    pub number: usize,
    pub summary: String,
    /// "changes 3 rows", "changes no row", or "not run: …".
    pub effect: String,
    pub skipped: bool,
    pub sample: Option<SampleTable>,
}

/// A before → after table of some changed rows.
pub struct SampleTable {
    pub table: String,
    pub columns: Vec<String>,
    /// Each row: its cells before and after, and whether that cell changed.
    pub rows: Vec<Vec<SampleCell>>,
    pub shown: usize,
}

pub struct SampleCell {
    pub before: String,
    pub after: String,
    pub changed: bool,
}

impl RehearsalPanel {
    pub fn new(r: &RehearsalView, expected_rows: Option<i64>, revision: i64) -> RehearsalPanel {
        let differs = match (r.rows_affected, expected_rows) {
            (Some(rows), Some(expected)) if rows != expected => Some(format!(
                "The rehearsal changed {rows} rows; the author expects {expected}."
            )),
            _ => None,
        };
        RehearsalPanel {
            status: r.status.as_str().to_owned(),
            on_target: r.on_target.clone(),
            by: r
                .requested_by
                .clone()
                .unwrap_or_else(|| "the system".to_owned()),
            started_at: countersign_core::timestamp::format(r.started_at),
            rows_affected: r.rows_affected,
            differs,
            statements: r.statements.iter().map(statement).collect(),
            error: r.error.clone(),
            undo: match (r.undo_possible, &r.undo_reason) {
                (Some(true), _) => {
                    Some("Undo will be possible: every row it changes can be restored.".into())
                }
                (Some(false), Some(reason)) => {
                    Some(format!("Undo will not be possible: {reason}."))
                }
                (Some(false), None) => Some("Undo will not be possible.".into()),
                (None, _) => None,
            },
            undo_warns: r.undo_possible == Some(false),
            stale: (r.revision != revision).then(|| {
                format!(
                    "This rehearsal is of revision {}; the request is at revision {revision} \
                     since. Rehearse again to see what the current SQL does.",
                    r.revision
                )
            }),
        }
    }
}

fn statement(s: &Value) -> RehearsedStatement {
    let index = s["index"].as_u64().unwrap_or_default();
    let rows = s["rows_affected"].as_u64().unwrap_or_default();
    let skipped = s["skipped"].as_str();
    let effect = match (skipped, rows) {
        (Some(why), _) => format!("not run: {why}"),
        (None, 0) => "changes no row".to_owned(),
        (None, 1) => "changes 1 row".to_owned(),
        (None, n) => format!("changes {n} rows"),
    };
    RehearsedStatement {
        number: usize::try_from(index).unwrap_or_default() + 1,
        summary: s["summary"].as_str().unwrap_or_default().to_owned(),
        effect,
        skipped: skipped.is_some(),
        sample: sample(&s["sample"]),
    }
}

fn sample(s: &Value) -> Option<SampleTable> {
    if s.is_null() {
        return None;
    }
    let columns: Vec<String> = s["columns"]
        .as_array()?
        .iter()
        .map(|c| c.as_str().unwrap_or_default().to_owned())
        .collect();
    let rows_of = |key: &str| -> Vec<Vec<Option<String>>> {
        s[key]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|row| {
                        row.as_array()
                            .map(|cells| {
                                cells
                                    .iter()
                                    .map(|c| c.as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = rows_of("before");
    let after = rows_of("after");
    let shown = before.len().max(after.len());
    let show = |v: Option<&Option<String>>| match v {
        None => String::new(),
        Some(None) => "NULL".to_owned(),
        Some(Some(text)) => text.clone(),
    };
    let rows = (0..shown)
        .map(|i| {
            (0..columns.len())
                .map(|c| {
                    let b = before.get(i).map(|row| row.get(c).cloned().unwrap_or(None));
                    let a = after.get(i).map(|row| row.get(c).cloned().unwrap_or(None));
                    SampleCell {
                        changed: b != a,
                        before: show(b.as_ref()),
                        after: show(a.as_ref()),
                    }
                })
                .collect()
        })
        .collect();
    Some(SampleTable {
        table: s["table"].as_str().unwrap_or_default().to_owned(),
        columns,
        rows,
        shown,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn counts_read_as_words_and_changed_cells_are_marked() {
        let s = statement(&json!({
            "index": 0, "summary": "update accounts", "rows_affected": 2, "skipped": null,
            "sample": {"table": "accounts", "columns": ["id", "v", "note"],
                "before": [["1", "0", null], ["2", "0", "x"]],
                "after": [["1", "5", null], ["2", "5", "x"]], "masked": []}
        }));
        assert_eq!((s.number, s.effect.as_str()), (1, "changes 2 rows"));
        let t = s.sample.expect("sample");
        assert_eq!(t.shown, 2);
        let changed: Vec<bool> = t.rows[0].iter().map(|c| c.changed).collect();
        assert_eq!(changed, [false, true, false]);
        assert_eq!(t.rows[0][2].before, "NULL");

        let one =
            statement(&json!({"index": 1, "rows_affected": 1, "skipped": null, "sample": null}));
        assert_eq!(one.effect, "changes 1 row");
        let skipped = statement(
            &json!({"index": 2, "rows_affected": 0, "skipped": "it would end the rehearsal's transaction", "sample": null}),
        );
        assert!(skipped.skipped && skipped.effect.starts_with("not run: it would end"));
    }

    #[test]
    fn inserted_rows_have_no_before_and_deleted_rows_no_after() {
        let t = sample(&json!({"table": "t", "columns": ["id"], "before": [], "after": [["7"]]}))
            .expect("sample");
        assert_eq!(
            (t.rows[0][0].before.as_str(), t.rows[0][0].after.as_str()),
            ("", "7")
        );
        assert!(t.rows[0][0].changed);
    }
}
