//! Running the statements of a run with undo as planned (`plan`): in messages of many
//! statements, each `UPDATE`/`DELETE` after its re-select, each `INSERT` with its keys
//! returned; then the after-images, selected by key; then the check that capture saw every
//! row the database counted as changed.

use std::collections::HashMap;
use std::time::Duration;

use crate::error::{DriverError, ErrorKind, Failure, Step as RunStep};
use crate::rehearse::sample::quote_ident;
use crate::report::{Progress, StatementResult, TableChanges};
use crate::run::{DEADLINE_GRACE, Stop};
use crate::session::Session;
use crate::target::{Driver, Limits, Target};
use crate::text::{Fetched, Keep};

use super::plan::{CapturePlan, CapturedTable, Change};
use super::{Literal, RowImage, UndoMode};

/// The most statements sent in one message.
const BATCH_STATEMENTS: usize = 5_000;

/// The most keys one after-image select asks for.
const KEYS_PER_SELECT: usize = 500;

/// One row's net change so far.
#[derive(Debug)]
struct Entry {
    statement: usize,
    table: usize,
    key: Vec<Literal>,
    before: Option<Vec<Literal>>,
    after: Option<Vec<Literal>>,
}

/// What capture found: the images, or why they are not whole.
#[derive(Debug)]
pub(crate) struct Captured {
    tables: Vec<CapturedTable>,
    entries: Vec<Entry>,
    /// Entry of each (table, key).
    at: HashMap<(usize, Vec<Literal>), usize>,
    /// Rows captured per table, `[inserted, updated, deleted]`.
    counts: Vec<[u64; 3]>,
    limit: u64,
    /// Why the images are not whole; `None` while they are.
    incomplete: Option<String>,
}

impl Captured {
    fn new(plan: &CapturePlan, limit: u64) -> Self {
        Self {
            tables: plan.tables.clone(),
            entries: Vec::new(),
            at: HashMap::new(),
            counts: vec![[0; 3]; plan.tables.len()],
            limit,
            incomplete: None,
        }
    }

    /// Why the images are not whole, if they are not.
    pub(crate) fn incomplete(&self) -> Option<&str> {
        self.incomplete.as_deref()
    }

    fn give_up(&mut self, reason: String) {
        if self.incomplete.is_none() {
            self.incomplete = Some(reason);
        }
        self.entries = Vec::new();
        self.at = HashMap::new();
    }

    /// Records what statement `index` (`change` of table `table`) captured; `reported` is the
    /// server's count of the rows it changed.
    fn add(&mut self, index: usize, change: Change, table: usize, rows: &Fetched, reported: u64) {
        self.counts[table][change.counter()] += rows.returned;
        if self.incomplete.is_some() {
            return;
        }
        if rows.returned != reported {
            self.give_up(format!(
                "statement {}: the database changed {reported} row(s) where capture found {}",
                index + 1,
                rows.returned
            ));
            return;
        }
        let key_at = self.tables[table].key_at.clone();
        for row in &rows.rows {
            let row: Vec<Literal> = row
                .iter()
                .map(|v| v.clone().unwrap_or_else(|| "NULL".to_owned()))
                .collect();
            let key: Vec<Literal> = match change {
                // `RETURNING` gives the key alone.
                Change::Insert => row.clone(),
                Change::Update | Change::Delete => key_at.iter().map(|&i| row[i].clone()).collect(),
            };
            if self.at.contains_key(&(table, key.clone())) {
                // Changed before in this run: its first before-image stands.
                continue;
            }
            let before = match change {
                Change::Insert => None,
                Change::Update | Change::Delete => Some(row),
            };
            self.at.insert((table, key.clone()), self.entries.len());
            self.entries.push(Entry {
                statement: index,
                table,
                key,
                before,
                after: None,
            });
        }
        if self.entries.len() as u64 > self.limit || rows.returned > rows.rows.len() as u64 {
            let limit = self.limit;
            self.give_up(format!(
                "it changes more than {limit} rows (at least {}), the target's undo_limit_rows",
                self.entries.len().max(rows.returned as usize)
            ));
        }
    }

    /// The database's count of what the transaction changed (`tables`) against what capture
    /// saw: a table or kind of change it counted beyond the captured rows was changed by
    /// something capture did not see.
    pub(crate) fn check_counts(&mut self, driver: Driver, tables: &[TableChanges]) {
        for changed in tables {
            let mut seen = [0_u64; 3];
            for (table, counts) in self.tables.iter().zip(&self.counts) {
                let same = match driver {
                    Driver::Postgres => table.info.counter == changed.table,
                    Driver::Mysql | Driver::Sqlite => {
                        table.info.counter.eq_ignore_ascii_case(&changed.table)
                    }
                };
                if same {
                    for (s, c) in seen.iter_mut().zip(counts) {
                        *s += c;
                    }
                }
            }
            let counted = [changed.inserted, changed.updated, changed.deleted];
            if counted.iter().zip(&seen).any(|(c, s)| c > s) {
                self.give_up(format!(
                    "the database counted {} row(s) inserted, {} updated and {} deleted in {} \
                     where capture saw {}, {} and {}: something else changed rows (a trigger, a \
                     function, a CTE)",
                    counted[0], counted[1], counted[2], changed.table, seen[0], seen[1], seen[2]
                ));
                return;
            }
        }
    }

    /// Selects the after-image of every captured row, by key.
    pub(crate) async fn select_after(
        &mut self,
        session: &mut Session,
        target: Target<'_>,
    ) -> Result<(), Stop> {
        if self.incomplete.is_some() {
            return Ok(());
        }
        let driver = target.driver;
        for (t, table) in self.tables.iter().enumerate() {
            let keys: Vec<&Vec<Literal>> = self
                .entries
                .iter()
                .filter(|e| e.table == t)
                .map(|e| &e.key)
                .collect();
            let mut found: Vec<(Vec<Literal>, Vec<Literal>, bool)> = Vec::new();
            for chunk in keys.chunks(KEYS_PER_SELECT) {
                let sql = after_select(driver, table, chunk);
                let mut fetch = session.fetch(&sql, &[Keep::First(usize::MAX)]).await;
                if let Some(error) = fetch.error {
                    return Err(check_failed(target, &error));
                }
                let rows = fetch.results.pop().unwrap_or_default().rows;
                for row in rows {
                    let mut row: Vec<Literal> = row
                        .into_iter()
                        .map(|v| v.unwrap_or_else(|| "NULL".to_owned()))
                        .collect();
                    // PostgreSQL says whether this transaction wrote the row (see below).
                    let written = match driver {
                        Driver::Postgres => row.pop().is_some_and(|w| w == "true"),
                        Driver::Mysql | Driver::Sqlite => true,
                    };
                    let key = table.key_at.iter().map(|&i| row[i].clone()).collect();
                    found.push((key, row, written));
                }
            }
            for (key, row, written) in found {
                let Some(&at) = self.at.get(&(t, key)) else {
                    continue;
                };
                // A row captured as changed that the transaction did not write: the statement
                // changed other rows than its predicate found again (the database read it
                // otherwise). With the counts equal, every captured row written means the
                // captured rows are the changed ones.
                if !written {
                    let statement = self.entries[at].statement;
                    self.give_up(format!(
                        "statement {}: the rows found again by its predicate are not the rows it \
                         changed",
                        statement + 1
                    ));
                    return Ok(());
                }
                self.entries[at].after = Some(row);
            }
        }
        Ok(())
    }

    /// The images: every captured row whose values the run changed, made one at a time as
    /// they are read, and how many there are.
    pub(crate) fn into_images(self) -> (u64, Images) {
        let rows = self.entries.iter().filter(|e| e.before != e.after).count() as u64;
        let images = Images {
            tables: self.tables,
            entries: self.entries.into_iter(),
        };
        (rows, images)
    }
}

/// The images of a run, in capture order, each made as it is read (so that they reach the
/// store without all being held twice).
#[derive(Debug)]
pub struct Images {
    tables: Vec<CapturedTable>,
    entries: std::vec::IntoIter<Entry>,
}

impl Iterator for Images {
    type Item = RowImage;

    fn next(&mut self) -> Option<RowImage> {
        let e = self.entries.by_ref().find(|e| e.before != e.after)?;
        let table = &self.tables[e.table];
        let key = match (&e.after, &e.before) {
            (Some(row), _) | (None, Some(row)) => {
                table.key_at.iter().map(|&i| row[i].clone()).collect()
            }
            (None, None) => e.key,
        };
        Some(RowImage {
            statement: e.statement,
            table: table.written.clone(),
            columns: table.info.columns.iter().map(|c| c.name.clone()).collect(),
            generated: table
                .info
                .columns
                .iter()
                .filter(|c| c.generated)
                .map(|c| c.name.clone())
                .collect(),
            key_columns: table.info.key.clone(),
            key,
            before: e.before,
            after: e.after,
        })
    }
}

/// `SELECT <literals> FROM t WHERE <key> IN (…)` for `keys` — on PostgreSQL with one more
/// column: whether this transaction wrote the row (`xmin`).
fn after_select(driver: Driver, table: &CapturedTable, keys: &[&Vec<Literal>]) -> String {
    let written = format!("({}.xmin = pg_current_xact_id()::xid)::text", table.written);
    let extra = (driver == Driver::Postgres).then_some(written.as_str());
    let mut sql = table.select_and(driver, &table.written, &table.written, extra);
    if let [_] = table.key_at.as_slice() {
        let list: Vec<&str> = keys.iter().map(|k| k[0].as_str()).collect();
        sql.push_str(&format!(
            " WHERE {} IN ({})",
            table.key_tuple(driver),
            list.join(", ")
        ));
    } else {
        let columns: Vec<String> = table
            .key_at
            .iter()
            .map(|&i| quote_ident(driver, &table.info.columns[i].name))
            .collect();
        let alternatives: Vec<String> = keys
            .iter()
            .map(|key| {
                let terms: Vec<String> = columns
                    .iter()
                    .zip(key.iter())
                    .map(|(c, v)| format!("{c} = {v}"))
                    .collect();
                format!("({})", terms.join(" AND "))
            })
            .collect();
        sql.push_str(&format!(" WHERE {}", alternatives.join(" OR ")));
    }
    sql
}

/// Sends the planned statements batch by batch, recording each one's count in `progress`
/// and its rows in the capture. Under `required`, stops (outcome `no_undo`) as soon as capture
/// cannot be whole.
pub(crate) async fn run_captured(
    session: &mut Session,
    target: Target<'_>,
    plan: &CapturePlan,
    limits: &Limits,
    mode: UndoMode,
    limit_rows: u64,
    progress: &mut Progress,
) -> Result<Captured, Stop> {
    let mut captured = Captured::new(plan, limit_rows);
    let keep_rows = usize::try_from(limit_rows.saturating_add(1)).unwrap_or(usize::MAX);
    for batch in plan.steps.chunks(BATCH_STATEMENTS) {
        let mut sql = String::new();
        let mut keep = Vec::new();
        let mut push = |piece: &str, rule: Keep| {
            if !sql.is_empty() {
                sql.push_str(";\n");
            }
            sql.push_str(piece);
            keep.push(rule);
        };
        for step in batch {
            let capturing = captured.incomplete.is_none() && step.capture.is_some();
            if let Some(before) = &step.before {
                push(before, Keep::First(if capturing { keep_rows } else { 0 }));
            }
            let rule = match step.capture {
                Some((Change::Insert, _)) if capturing => Keep::First(keep_rows),
                _ => Keep::First(0),
            };
            push(&step.sql, rule);
        }
        let pieces = keep.len();
        let fetch = match limits.statement_timeout {
            None => session.fetch(&sql, &keep).await,
            Some(limit) => {
                let deadline = limit
                    .saturating_mul(u32::try_from(pieces).unwrap_or(u32::MAX))
                    .saturating_add(DEADLINE_GRACE);
                match tokio::time::timeout(deadline, session.fetch(&sql, &keep)).await {
                    Ok(fetch) => fetch,
                    Err(_) => return Err(deadline_passed(batch[0].index, deadline)),
                }
            }
        };
        if fetch.error.is_none() && fetch.results.len() != pieces {
            return Err(Failure::Split {
                analyzed: plan.steps.len(),
                executed: progress.statements.len() + fetch.results.len(),
            }
            .into());
        }
        let mut results = fetch.results.into_iter();
        for step in batch {
            let before = match step.before {
                Some(_) => match results.next() {
                    Some(rows) => Some(rows),
                    None => break,
                },
                None => None,
            };
            let Some(result) = results.next() else {
                break;
            };
            let rows_affected = match step.capture {
                None => 0,
                Some(_) => result.rows_affected.max(result.returned),
            };
            progress.statements.push(StatementResult {
                index: step.index,
                rows_affected,
            });
            if let Some((change, table)) = step.capture {
                let rows = match change {
                    Change::Insert => &result,
                    Change::Update | Change::Delete => before.as_ref().unwrap_or(&result),
                };
                captured.add(step.index, change, table, rows, rows_affected);
            }
        }
        if let Some(error) = fetch.error {
            let index = plan
                .steps
                .get(progress.statements.len())
                .map_or(progress.statements.len(), |s| s.index);
            let error = DriverError::new(target, &error);
            let connection_usable = error.kind != ErrorKind::Connection;
            return Err(Stop {
                failure: Failure::at(RunStep::Statement(index), error),
                connection_usable,
            });
        }
        if mode == UndoMode::Required
            && let Some(reason) = captured.incomplete()
        {
            return Err(Failure::NoUndo {
                reason: reason.to_owned(),
            }
            .into());
        }
    }
    Ok(captured)
}

fn deadline_passed(index: usize, deadline: Duration) -> Stop {
    Stop {
        failure: Failure::Timeout {
            step: RunStep::Statement(index),
            message: format!(
                "the statements sent with it were still running after {deadline:?}; the \
                 executor dropped the connection, which rolls the transaction back"
            ),
        },
        connection_usable: false,
    }
}

fn check_failed(target: Target<'_>, error: &sqlx::Error) -> Stop {
    let error = DriverError::new(target, error);
    let connection_usable = error.kind != ErrorKind::Connection;
    Stop {
        failure: Failure::Check {
            message: format!("reading the rows' after-images failed: {}", error.message),
        },
        connection_usable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{ColumnInfo, TableInfo};

    fn table(key: &[&str]) -> CapturedTable {
        let columns = ["id", "k2", "v"]
            .iter()
            .map(|n| ColumnInfo {
                name: (*n).into(),
                binary: false,
                generated: false,
            })
            .collect();
        CapturedTable {
            written: "t".into(),
            id: "t".into(),
            info: TableInfo {
                counter: "public.t".into(),
                columns,
                key: key.iter().map(|k| (*k).to_string()).collect(),
            },
            key_at: (0..key.len()).collect(),
        }
    }

    #[test]
    fn after_images_are_selected_by_key() {
        let one = table(&["id"]);
        let keys = [vec!["'1'".to_owned()], vec!["'2'".to_owned()]];
        let refs: Vec<&Vec<Literal>> = keys.iter().collect();
        assert_eq!(
            after_select(Driver::Postgres, &one, &refs),
            "SELECT quote_nullable(t.\"id\"), quote_nullable(t.\"k2\"), quote_nullable(t.\"v\"), \
             (t.xmin = pg_current_xact_id()::xid)::text FROM t WHERE \"id\" IN ('1', '2')"
        );
        let two = table(&["id", "k2"]);
        let keys = [vec!["1".to_owned(), "'a'".to_owned()]];
        let refs: Vec<&Vec<Literal>> = keys.iter().collect();
        assert!(
            after_select(Driver::Sqlite, &two, &refs)
                .ends_with("WHERE (\"id\" = 1 AND \"k2\" = 'a')")
        );
    }

    fn fetched(rows: &[&[&str]]) -> Fetched {
        Fetched {
            rows_affected: rows.len() as u64,
            returned: rows.len() as u64,
            columns: vec![],
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| Some((*v).to_owned())).collect())
                .collect(),
        }
    }

    #[test]
    fn a_row_keeps_its_first_before_image_and_gives_up_past_the_limit() {
        let plan = CapturePlan {
            steps: vec![],
            tables: vec![table(&["id"])],
        };
        let mut captured = Captured::new(&plan, 2);
        captured.add(0, Change::Update, 0, &fetched(&[&["1", "x", "old"]]), 1);
        captured.add(1, Change::Update, 0, &fetched(&[&["1", "x", "newer"]]), 1);
        assert_eq!(captured.entries.len(), 1);
        assert_eq!(
            captured.entries[0].before.as_deref(),
            Some(&["1".to_owned(), "x".to_owned(), "old".to_owned()][..])
        );
        captured.add(2, Change::Insert, 0, &fetched(&[&["2"]]), 1);
        assert_eq!(captured.incomplete(), None);
        captured.add(3, Change::Delete, 0, &fetched(&[&["3", "y", "z"]]), 1);
        assert!(captured.incomplete().unwrap().contains("more than 2 rows"));
    }

    #[test]
    fn a_count_capture_did_not_see_makes_it_incomplete() {
        let plan = CapturePlan {
            steps: vec![],
            tables: vec![table(&["id"])],
        };
        let mut captured = Captured::new(&plan, 10);
        captured.add(0, Change::Update, 0, &fetched(&[&["1", "x", "old"]]), 1);
        captured.check_counts(
            Driver::Postgres,
            &[TableChanges {
                table: "public.t".into(),
                inserted: 0,
                updated: 1,
                deleted: 0,
            }],
        );
        assert_eq!(captured.incomplete(), None);
        captured.check_counts(
            Driver::Postgres,
            &[TableChanges {
                table: "public.audit".into(),
                inserted: 1,
                updated: 0,
                deleted: 0,
            }],
        );
        assert!(captured.incomplete().unwrap().contains("public.audit"));
        let mut mismatch = Captured::new(&plan, 10);
        mismatch.add(0, Change::Delete, 0, &fetched(&[&["1", "x", "old"]]), 2);
        assert!(mismatch.incomplete().unwrap().contains("changed 2 row(s)"));
    }
}
