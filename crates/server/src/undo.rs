//! Undo as the server offers it (design §11): the revert of an executed request — a new
//! request whose SQL restores the rows its run changed, from the images stored with the
//! execution — the images as JSON Lines for the people allowed to see production rows, which
//! rows a failed revert found changed since, and the pruning of images past the target's
//! `undo_retention`.

use std::time::Duration;

use countersign_core::mask::{MASKED, Masks};
use countersign_core::permission;
use countersign_core::request::{ExecutionOutcome, RequestStatus};
use countersign_core::timestamp;
use countersign_core::user::User;
use countersign_core::validation::NewRequest;
use countersign_executor::{Images, RowImage, literal_text, revert_sql};
use countersign_store::{RequestRecord, Store, StoreError};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::ApiError;

/// Images read from the store at a time.
const IMAGES_PER_PAGE: i64 = 1_000;

/// How often images past their retention are looked for.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// A row a failed revert found changed since the run it reverts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedRow {
    pub table: String,
    /// `id = 5`, `a = 1, b = 'x'`.
    pub key: String,
}

impl AppState {
    /// Every image of request `id`'s run, in capture order.
    async fn all_images(&self, id: i64) -> Result<Vec<RowImage>, ApiError> {
        let mut images = Vec::new();
        let mut after = 0;
        loop {
            let page = self.store.images(id, after, IMAGES_PER_PAGE).await?;
            let Some(&(last, _)) = page.last() else {
                break;
            };
            after = last;
            for (_, json) in page {
                images.push(serde_json::from_str(&json).map_err(ApiError::internal)?);
            }
        }
        Ok(images)
    }

    /// `POST /api/v1/requests/{id}/revert` as `user`: a new request, by `user`, whose SQL
    /// restores the rows request `id`'s run changed — each only while it still holds what the
    /// run left in it — with the same target and reviewers and `expected_rows` = the rows to
    /// restore. It is analyzed, rehearsed, reviewed and executed like any request. Returns its
    /// id.
    pub async fn revert(&self, id: i64, user: &User) -> Result<i64, ApiError> {
        let record = self.load_request(id).await?;
        permission::may_revert(user, &record.author)?;
        if record.status != RequestStatus::Executed {
            return Err(ApiError::conflict(
                "not_executed",
                format!(
                    "request #{id} is {}: only an executed request can be reverted",
                    record.status
                ),
            ));
        }
        let undo = record
            .execution
            .as_ref()
            .map(|e| e.undo.clone())
            .unwrap_or_default();
        if undo["available"] != json!(true) {
            let why = undo["reason"].as_str().unwrap_or("no images were taken");
            return Err(ApiError::conflict(
                "undo_unavailable",
                format!("request #{id} cannot be undone: {why}"),
            ));
        }
        for other in &record.reverted_by {
            let other = self.load_request(*other).await?;
            if !matches!(
                other.status,
                RequestStatus::Failed | RequestStatus::Withdrawn | RequestStatus::Rejected
            ) {
                return Err(ApiError::conflict(
                    "already_reverted",
                    format!(
                        "request #{} already reverts request #{id} ({})",
                        other.id, other.status
                    ),
                ));
            }
        }
        let target = self.config.target(&record.target).ok_or_else(|| {
            ApiError::conflict(
                "target_unavailable",
                format!("target {:?} is no longer configured", record.target),
            )
        })?;
        let images = self.all_images(id).await?;
        let statements = revert_sql(target.driver, &images);
        if statements.is_empty() {
            return Err(ApiError::conflict(
                "undo_unavailable",
                format!("request #{id} changed no rows that could be restored"),
            ));
        }
        let sql: Vec<&str> = statements.iter().map(|s| s.sql.as_str()).collect();
        let rows = statements.len();
        let bytes = sql.iter().map(|s| s.len() + 2).sum::<usize>();
        let most = self.config.server.max_sql_bytes;
        if bytes > most {
            return Err(ApiError::conflict(
                "undo_too_large",
                format!(
                    "the revert of request #{id} restores {rows} rows, which takes {bytes} bytes \
                     of SQL, more than a request may hold ({most}, the server's max_sql_bytes); \
                     its images are at GET /api/v1/requests/{id}/images"
                ),
            ));
        }
        let current = record.current();
        let new = NewRequest {
            title: revert_title(id, &record.title),
            intent: format!(
                "Revert request #{id} (\"{}\"): restore the {rows} row(s) its execution changed, \
                 each only if it still holds the values that execution left in it.",
                record.title
            ),
            sql: sql.join(";\n"),
            target: record.target.clone(),
            reviewers: current.reviewers.clone(),
            expected_rows: Some(i64::try_from(rows).unwrap_or(i64::MAX)),
            without_undo: false,
        };
        let revert = self.submit_revert(user, new, id).await?;
        tracing::info!(request = id, revert, rows, "revert submitted");
        Ok(revert)
    }

    /// The images of request `id`'s run as JSON Lines, one a row: `{statement, table, key,
    /// before, after}`, values as text (`null` for NULL), the target's masked columns masked.
    /// Only for the request's author, its named reviewers and admins.
    pub async fn image_lines(&self, id: i64, user: &User) -> Result<Vec<u8>, ApiError> {
        let record = self.load_request(id).await?;
        permission::may_read_images(user, &record.author, &record.current().reviewers)?;
        let masks = Masks::new(
            self.config
                .target(&record.target)
                .map(|t| t.rehearsal.mask_columns.as_slice())
                .unwrap_or_default(),
        );
        let mut body = Vec::new();
        for image in self.all_images(id).await? {
            serde_json::to_writer(&mut body, &image_json(&image, &masks))
                .map_err(ApiError::internal)?;
            body.push(b'\n');
        }
        Ok(body)
    }

    /// For a failed revert: the rows it found changed since the run it reverts (its
    /// statements that matched no row), from that run's images. Empty when it is no failed
    /// revert or the images are gone.
    pub async fn rows_changed_since(
        &self,
        record: &RequestRecord,
    ) -> Result<Vec<ChangedRow>, ApiError> {
        let (Some(original), Some(execution)) = (record.reverts, &record.execution) else {
            return Ok(Vec::new());
        };
        if execution.outcome != Some(ExecutionOutcome::Guard) {
            return Ok(Vec::new());
        }
        let Some(target) = self.config.target(&record.target) else {
            return Ok(Vec::new());
        };
        let images = self.all_images(original).await?;
        let statements = revert_sql(target.driver, &images);
        let ran = execution.statements.as_array().cloned().unwrap_or_default();
        Ok(ran
            .iter()
            .filter(|s| s["rows_affected"] == json!(0))
            .filter_map(|s| s["index"].as_u64())
            .filter_map(|index| statements.get(usize::try_from(index).ok()?))
            .map(|statement| {
                let image = &images[statement.image];
                ChangedRow {
                    table: image.table.clone(),
                    key: key_words(image),
                }
            })
            .collect())
    }

    /// Prunes, on every target, the images of runs older than its `undo_retention`.
    pub async fn prune_images(&self) {
        for target in &self.config.targets {
            let cutoff = timestamp::now() - target.undo.retention;
            let reason = format!(
                "its images were removed after {} (the target's undo_retention)",
                humantime::format_duration(target.undo.retention)
            );
            match self.store.prune_images(&target.name, cutoff, &reason).await {
                Ok(pruned) if !pruned.is_empty() => {
                    tracing::info!(target = ?target.name, requests = ?pruned, "undo images pruned");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(target = ?target.name, error = %e, "cannot prune images"),
            }
        }
    }

    /// [`Self::prune_images`] at start-up and every hour.
    pub fn spawn_image_pruner(&self) -> tokio::task::JoinHandle<()> {
        let state = self.clone();
        tokio::spawn(async move {
            loop {
                state.prune_images().await;
                tokio::time::sleep(PRUNE_EVERY).await;
            }
        })
    }
}

/// Stores a run's images, pending, as JSON (one a row) — called by the executor before the
/// target commits. Each image becomes JSON only as the store writes it, and is let go then.
pub async fn store_pending(store: &Store, id: i64, images: Images) -> Result<(), StoreError> {
    let json = images.map(|image| serde_json::to_string(&image).unwrap_or_default());
    store.store_pending_images(id, json).await
}

/// "Revert #12: Fix order 42", cut to the longest title allowed.
fn revert_title(id: i64, title: &str) -> String {
    let full = format!("Revert #{id}: {title}");
    full.chars()
        .take(countersign_core::validation::MAX_TITLE_CHARS)
        .collect()
}

/// `id = 5, b = x`: the key as a person reads it.
fn key_words(image: &RowImage) -> String {
    image
        .key_columns
        .iter()
        .zip(&image.key)
        .map(|(column, literal)| {
            format!(
                "{column} = {}",
                literal_text(literal).unwrap_or_else(|| "NULL".into())
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The table's own name, as masks name it: no schema, no quotes.
fn bare_table(written: &str) -> &str {
    let last = written.rsplit('.').next().unwrap_or(written);
    last.trim_matches(|c| c == '"' || c == '`')
}

/// One line of the images API.
fn image_json(image: &RowImage, masks: &Masks) -> Value {
    let table = bare_table(&image.table);
    let row = |values: &Option<Vec<String>>| -> Value {
        let Some(values) = values else {
            return Value::Null;
        };
        let mut row = Map::new();
        for (column, literal) in image.columns.iter().zip(values) {
            let value = if masks.covers(table, column) {
                json!(MASKED)
            } else {
                json!(literal_text(literal))
            };
            row.insert(column.clone(), value);
        }
        Value::Object(row)
    };
    let mut key = Map::new();
    for (column, literal) in image.key_columns.iter().zip(&image.key) {
        let value = if masks.covers(table, column) {
            json!(MASKED)
        } else {
            json!(literal_text(literal))
        };
        key.insert(column.clone(), value);
    }
    json!({
        "statement": image.statement,
        "table": image.table,
        "key": key,
        "before": row(&image.before),
        "after": row(&image.after),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> RowImage {
        RowImage {
            statement: 2,
            table: "public.\"customers\"".into(),
            columns: vec!["id".into(), "email".into(), "note".into()],
            generated: vec![],
            key_columns: vec!["id".into()],
            key: vec!["'7'".into()],
            before: Some(vec!["'7'".into(), "'a@b.c'".into(), "'it''s'".into()]),
            after: None,
        }
    }

    #[test]
    fn an_image_line_shows_values_as_text_with_masked_columns_masked() {
        let masks = Masks::new(&["customers.email"]);
        let line = image_json(&image(), &masks);
        assert_eq!(
            line,
            json!({
                "statement": 2,
                "table": "public.\"customers\"",
                "key": {"id": "7"},
                "before": {"id": "7", "email": MASKED, "note": "it's"},
                "after": null,
            })
        );
    }

    #[test]
    fn keys_and_titles_read_as_words() {
        assert_eq!(key_words(&image()), "id = 7");
        assert_eq!(revert_title(3, "Fix"), "Revert #3: Fix");
        let long = "x".repeat(500);
        assert_eq!(
            revert_title(3, &long).chars().count(),
            countersign_core::validation::MAX_TITLE_CHARS
        );
    }
}
