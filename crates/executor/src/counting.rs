//! The database's own count of the rows a transaction changed: a [`Counters`] snapshot at the
//! start of the run and one just before its commit, and the difference per table.
//!
//! | driver | counter |
//! |---|---|
//! | PostgreSQL | `pg_stat_xact_user_tables` (`n_tup_ins`, `n_tup_upd`, `n_tup_del`) per table |
//! | MySQL / MariaDB | the session's `Handler_write`, `Handler_update`, `Handler_delete` (one `*` row) |
//! | SQLite | `total_changes()`, split per table and kind by the connection's update hook |
//!
//! Every one of them counts rows changed by CTEs, functions and triggers, not only by the
//! statements' own targets; none of them is read from the SQL's text.

use std::collections::BTreeMap;

use crate::report::TableChanges;

/// Rows inserted, updated and deleted per table, as read at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Counters(pub(crate) BTreeMap<String, [u64; 3]>);

impl Counters {
    pub(crate) fn add(
        &mut self,
        table: impl Into<String>,
        inserted: u64,
        updated: u64,
        deleted: u64,
    ) {
        let entry = self.0.entry(table.into()).or_default();
        entry[0] = entry[0].saturating_add(inserted);
        entry[1] = entry[1].saturating_add(updated);
        entry[2] = entry[2].saturating_add(deleted);
    }

    /// The rows counted over every table and kind.
    pub(crate) fn total(&self) -> u64 {
        self.0
            .values()
            .flatten()
            .fold(0, |sum, n| sum.saturating_add(*n))
    }

    /// What changed from `before` to `self`, table by table; tables with no change left out.
    /// A counter that went down (it cannot, within one transaction) counts as no change.
    pub(crate) fn since(&self, before: &Self) -> Vec<TableChanges> {
        self.0
            .iter()
            .filter_map(|(table, now)| {
                let then = before.0.get(table).copied().unwrap_or_default();
                let changes = TableChanges {
                    table: table.clone(),
                    inserted: now[0].saturating_sub(then[0]),
                    updated: now[1].saturating_sub(then[1]),
                    deleted: now[2].saturating_sub(then[2]),
                };
                (changes.total() > 0).then_some(changes)
            })
            .collect()
    }
}

/// A counter as the database gives it (PostgreSQL's `bigint`, MySQL's text), never negative.
pub(crate) fn non_negative(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_differences_per_table_and_kind() {
        let mut before = Counters::default();
        before.add("public.a", 5, 1, 0);
        let mut after = Counters::default();
        after.add("public.a", 5, 4, 2);
        after.add("public.b", 1, 0, 0);
        after.add("public.c", 0, 0, 0);
        let changes = after.since(&before);
        assert_eq!(
            changes,
            [
                TableChanges {
                    table: "public.a".into(),
                    inserted: 0,
                    updated: 3,
                    deleted: 2
                },
                TableChanges {
                    table: "public.b".into(),
                    inserted: 1,
                    updated: 0,
                    deleted: 0
                },
            ]
        );
    }

    #[test]
    fn a_counter_never_goes_below_zero() {
        let mut before = Counters::default();
        before.add("t", 3, 0, 0);
        let after = Counters::default();
        assert!(after.since(&before).is_empty());
        assert_eq!(non_negative(-4), 0);
        assert_eq!(non_negative(4), 4);
    }
}
