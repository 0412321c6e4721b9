//! The request lists' pages the store has read, kept against the [`StoreVersion`] they were read
//! at: a list asked again while nothing in the store has changed is answered from memory, its
//! version read with the caller (the session's or the token's one query).
//!
//! Why the version is enough: every write that changes what a list shows (a request, its
//! revisions, reviewers, reviews, status) appends an audit event in the same transaction, and
//! the audit head's `seq` is taken under a row lock held to commit — so `seq` grows in commit
//! order, and a reader that sees a `seq` sees every change up to it. A page read after its
//! version was read is at least that recent; a later change gives a later version. So it holds
//! across instances sharing a store and across restarts (the version is the store's, read at
//! every call). Bounded by weight (the page's JSON).

use std::sync::{Arc, OnceLock};

use quick_cache::Weighter;
use quick_cache::sync::Cache;

use crate::StoreError;
use crate::requests::{RequestFilter, RequestSummary, SummaryPage};

/// Where the whole store stands: the `seq` of the audit trail's last event. Read with the
/// caller (a session, a token) by the queries that need it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct StoreVersion(pub(crate) i64);

/// The column `store_version` of a query: the audit head's `seq` (one primary-key probe).
pub(crate) const STORE_VERSION_COLUMN: &str =
    "(SELECT h.seq FROM audit_head h WHERE h.id = 1) AS store_version";

/// How much the cache holds, in bytes of JSON (and a fixed share per page).
const CAPACITY: u64 = 16 * 1024 * 1024;
/// What a page weighs besides its JSON.
const PAGE_WEIGHT: u64 = 256;

/// What a list page is asked by: its filter and its length.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ListKey {
    pub(crate) filter: RequestFilter,
    pub(crate) limit: i64,
}

/// A list page as read at (or after) `version`, and its rows once someone asked for them.
pub(crate) struct KeptPage {
    version: StoreVersion,
    pub(crate) page: SummaryPage,
    rows: OnceLock<Vec<RequestSummary>>,
}

impl KeptPage {
    /// The page's rows, read from its JSON the first time they are asked for.
    pub(crate) fn rows(&self) -> Result<Vec<RequestSummary>, StoreError> {
        if let Some(rows) = self.rows.get() {
            return Ok(rows.clone());
        }
        let rows: Vec<RequestSummary> = serde_json::from_str(&self.page.items)
            .map_err(|e| StoreError::Corrupt(format!("request list: {e}")))?;
        Ok(self.rows.get_or_init(|| rows).clone())
    }
}

#[derive(Clone)]
struct ByJson;

impl Weighter<ListKey, Arc<KeptPage>> for ByJson {
    fn weight(&self, _: &ListKey, kept: &Arc<KeptPage>) -> u64 {
        PAGE_WEIGHT + kept.page.items.len() as u64
    }
}

/// The list pages read, by what they were asked by.
pub(crate) struct ListCache {
    pages: Cache<ListKey, Arc<KeptPage>, ByJson>,
}

impl std::fmt::Debug for ListCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListCache")
            .field("pages", &self.pages.len())
            .finish()
    }
}

impl Default for ListCache {
    fn default() -> ListCache {
        // About 8 KiB a page of fifty.
        let pages = (CAPACITY / 8192) as usize;
        ListCache {
            pages: Cache::with_weighter(pages, CAPACITY, ByJson),
        }
    }
}

impl ListCache {
    /// The page kept for `key` if it was read at `version`.
    pub(crate) fn get(&self, key: &ListKey, version: StoreVersion) -> Option<Arc<KeptPage>> {
        self.pages.get(key).filter(|kept| kept.version == version)
    }

    /// Whether a page is kept for `key`, at whatever version.
    pub(crate) fn holds(&self, key: &ListKey) -> bool {
        self.pages.contains_key(key)
    }

    /// Keeps `page`, read after `version` was read (so at least that recent), for `key`.
    pub(crate) fn keep(
        &self,
        key: ListKey,
        version: StoreVersion,
        page: SummaryPage,
    ) -> Arc<KeptPage> {
        let kept = Arc::new(KeptPage {
            version,
            page,
            rows: OnceLock::new(),
        });
        self.pages.insert(key, Arc::clone(&kept));
        kept
    }
}
