//! The request pages' data kept between views: each request's [`PageData`] with the
//! [`RequestVersion`] read before it, so that a page shown again while its request has not
//! changed costs the session's one query (which reads the version too) and the rendering.
//!
//! Correct across instances and restarts: the version comes from the store at every view, so a
//! change made anywhere is seen at the next view. Bounded by weight (the SQL a page holds); a
//! request too large to keep is read at every view.

use std::sync::Arc;

use countersign_store::RequestVersion;
use quick_cache::Weighter;
use quick_cache::sync::Cache;

use super::page::PageData;

/// How much the cache holds, in bytes of SQL (and a fixed share per page for the rest).
const CAPACITY: u64 = 16 * 1024 * 1024;
/// A page holding more SQL than this is never kept (its analysis dwarfs it).
const LARGEST_KEPT: u64 = 256 * 1024;
/// What a page weighs besides its SQL.
const PAGE_WEIGHT: u64 = 2048;

/// A request's page data and the version it was read at (or after).
pub(crate) struct Kept {
    version: RequestVersion,
    pub(crate) data: PageData,
}

#[derive(Clone)]
struct BySql;

impl Weighter<i64, Arc<Kept>> for BySql {
    fn weight(&self, _: &i64, kept: &Arc<Kept>) -> u64 {
        PAGE_WEIGHT + kept.data.sql_bytes()
    }
}

/// The request pages' data, by request id.
pub struct PageCache {
    pages: Cache<i64, Arc<Kept>, BySql>,
}

impl Default for PageCache {
    fn default() -> PageCache {
        let pages = (CAPACITY / PAGE_WEIGHT) as usize;
        PageCache {
            pages: Cache::with_weighter(pages, CAPACITY, BySql),
        }
    }
}

impl PageCache {
    /// The data of request `id` as of `version`: kept, or read with `read` (and kept when it is
    /// small enough). `version` must have been read before `read` runs: data read after it is
    /// at least that recent, and a later change gives a later version.
    pub(crate) async fn get_or_read<F, E>(
        &self,
        id: i64,
        version: RequestVersion,
        read: F,
    ) -> Result<Arc<Kept>, E>
    where
        F: Future<Output = Result<PageData, E>>,
    {
        if let Some(kept) = self.pages.get(&id).filter(|k| k.version == version) {
            return Ok(kept);
        }
        let data = read.await?;
        let kept = Arc::new(Kept { version, data });
        if kept.data.keepable() && kept.data.sql_bytes() <= LARGEST_KEPT {
            self.pages.insert(id, Arc::clone(&kept));
        }
        Ok(kept)
    }
}
