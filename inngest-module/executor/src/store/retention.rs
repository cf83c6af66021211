//! Retention: finished runs (with their steps and event index), old events and expired
//! flow-control state are deleted in small batches, and the freed pages given back.

use rusqlite::params;

use super::Tx;
use crate::error::StoreResult;

/// Rows deleted per batch (one short transaction each, so live work is not held up).
pub(crate) const PRUNE_BATCH: i64 = 500;

/// What one batch removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Finished runs removed (with their steps).
    pub runs: usize,
    /// Events removed.
    pub events: usize,
}

impl Pruned {
    /// `true` when the batch removed nothing.
    pub fn is_empty(&self) -> bool {
        self.runs == 0 && self.events == 0
    }

    /// Both counts added up.
    pub fn plus(self, other: Pruned) -> Pruned {
        Pruned {
            runs: self.runs + other.runs,
            events: self.events + other.events,
        }
    }
}

impl Tx<'_> {
    /// Deletes up to [`PRUNE_BATCH`] runs that ended before `runs_before` (their steps,
    /// listeners and event index with them), up to [`PRUNE_BATCH`] events received before
    /// `events_before`, and expired flow-control state.
    pub(crate) fn prune(
        &self,
        runs_before: i64,
        events_before: i64,
        now: i64,
    ) -> StoreResult<Pruned> {
        let ids: Vec<String> = {
            let mut statement = self.connection.prepare_cached(
                "SELECT id FROM runs WHERE ended_at IS NOT NULL AND ended_at < ?1
                 ORDER BY ended_at LIMIT ?2",
            )?;
            let rows = statement.query_map(params![runs_before, PRUNE_BATCH], |row| row.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for id in &ids {
            for sql in [
                "DELETE FROM steps WHERE run_id = ?1",
                "DELETE FROM run_events WHERE run_id = ?1",
                "DELETE FROM listeners WHERE run_id = ?1",
                "DELETE FROM runs WHERE id = ?1",
            ] {
                self.connection.prepare_cached(sql)?.execute(params![id])?;
            }
        }
        let events = self
            .connection
            .prepare_cached(
                "DELETE FROM events WHERE seq IN
                    (SELECT seq FROM events WHERE received_at < ?1 ORDER BY received_at LIMIT ?2)",
            )?
            .execute(params![events_before, PRUNE_BATCH])?;
        self.connection
            .prepare_cached("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?1")?
            .execute(params![now])?;
        Ok(Pruned {
            runs: ids.len(),
            events,
        })
    }

    /// Gives up to `pages` free pages back to the file system.
    pub(crate) fn vacuum_some(&self, pages: u32) -> StoreResult<()> {
        self.connection
            .execute_batch(&format!("PRAGMA incremental_vacuum({pages})"))?;
        Ok(())
    }
}
