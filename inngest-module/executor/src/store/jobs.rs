//! The job queue, with leases and concurrency parking.
//!
//! - **Claim**: one write transaction picks due jobs in rank order and leases each to the
//!   caller (`lease_owner`, `lease_version + 1`). A job whose concurrency key is full is
//!   *parked* on that key instead, out of the claim index, so a backlog behind a busy key
//!   costs nothing until a slot frees.
//! - **Complete / release**: a job's result is applied in the transaction that deletes the
//!   job *with the lease it was claimed with*; if the lease changed (the job was deleted by a
//!   cancellation, or released), nothing is applied. Freeing a leased job unparks one job
//!   per concurrency key it held.
//! - Concurrency counts are read from the leased rows in the claim transaction itself, so
//!   they can never disagree with the leases.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, Row, params};

use super::{Tx, from_json, to_json};
use crate::error::StoreResult;
use crate::model::{ClaimedJob, ConcurrencyKey, Job};

/// Candidate rows read per query while claiming.
const PAGE: usize = 128;
/// Pages read at most per claim (parked jobs drop out of the index between pages).
const MAX_PAGES: usize = 8;

/// A job to enqueue.
pub(crate) struct NewJob<'a> {
    /// What to do.
    pub job: &'a Job,
    /// When it becomes due (ms).
    pub due_at: i64,
    /// Ranked this much earlier among due jobs (ms; may be negative).
    pub priority_ms: i64,
    /// Concurrency keys an execution counts against (at most two are kept).
    pub concurrency: &'a [ConcurrencyKey],
}

struct Candidate {
    id: i64,
    rank: i64,
    payload: String,
    keys: Vec<(String, u32)>,
}

fn candidate(row: &Row<'_>) -> rusqlite::Result<Candidate> {
    let mut keys = Vec::new();
    for (key, limit) in [(3, 4), (5, 6)] {
        if let (Some(key), Some(limit)) = (
            row.get::<_, Option<String>>(key)?,
            row.get::<_, Option<u32>>(limit)?,
        ) {
            keys.push((key, limit));
        }
    }
    Ok(Candidate {
        id: row.get(0)?,
        rank: row.get(7)?,
        payload: row.get(2)?,
        keys,
    })
}

const CANDIDATE_COLUMNS: &str = "id, due_at, payload, ckey1, limit1, ckey2, limit2, rank";

impl Tx<'_> {
    /// Enqueues a job. A job with a dedupe key replaces the queued one with that key.
    pub(crate) fn enqueue(&self, new: &NewJob<'_>) -> StoreResult<i64> {
        let dedupe = new.job.dedupe_key();
        if let Some(key) = &dedupe {
            self.delete_job_by_dedupe(key)?;
        }
        let key = |i: usize| new.concurrency.get(i).map(|c| (c.key.as_str(), c.limit));
        let (ckey1, limit1) = key(0).unzip();
        let (ckey2, limit2) = key(1).unzip();
        self.connection
            .prepare_cached(
                "INSERT INTO jobs (run_id, due_at, rank, prioritized, payload, dedupe,
                                   ckey1, limit1, ckey2, limit2)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                new.job.run_id(),
                new.due_at,
                new.due_at.saturating_sub(new.priority_ms),
                new.priority_ms != 0,
                to_json(new.job)?,
                dedupe,
                ckey1,
                limit1,
                ckey2,
                limit2
            ])?;
        Ok(self.connection.last_insert_rowid())
    }

    /// `true` if a job with this dedupe key is queued.
    pub(crate) fn job_exists(&self, dedupe: &str) -> StoreResult<bool> {
        Ok(self
            .connection
            .prepare_cached("SELECT 1 FROM jobs WHERE dedupe = ?1 LIMIT 1")?
            .query_row(params![dedupe], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Removes the job with this dedupe key (and frees its slots if it was leased).
    pub(crate) fn delete_job_by_dedupe(&self, dedupe: &str) -> StoreResult<()> {
        let freed = self.collect_keys(
            "DELETE FROM jobs WHERE dedupe = ?1 RETURNING lease_owner, ckey1, ckey2",
            params![dedupe],
        )?;
        self.unpark(&freed)
    }

    /// Removes every job of a run, freeing the slots of those leased.
    pub(crate) fn delete_run_jobs(&self, run_id: &str) -> StoreResult<()> {
        let freed = self.collect_keys(
            "DELETE FROM jobs WHERE run_id = ?1 RETURNING lease_owner, ckey1, ckey2",
            params![run_id],
        )?;
        self.unpark(&freed)
    }

    /// Deletes a job claimed with `lease`, freeing its slots; `false` when the lease no
    /// longer holds (the job is gone or was claimed again), so its result must be dropped.
    pub(crate) fn complete_job(&self, id: i64, owner: i64, lease: i64) -> StoreResult<bool> {
        let row: Option<(Option<String>, Option<String>)> = self
            .connection
            .prepare_cached(
                "DELETE FROM jobs WHERE id = ?1 AND lease_owner = ?2 AND lease_version = ?3
                 RETURNING ckey1, ckey2",
            )?
            .query_row(params![id, owner, lease], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        let Some((a, b)) = row else {
            return Ok(false);
        };
        self.unpark(&[a, b].into_iter().flatten().collect::<Vec<_>>())?;
        Ok(true)
    }

    /// Gives a claimed job back to the queue, due at `due_at`; `false` when the lease no
    /// longer holds.
    pub(crate) fn release_job(
        &self,
        id: i64,
        owner: i64,
        lease: i64,
        due_at: i64,
    ) -> StoreResult<bool> {
        let row: Option<(Option<String>, Option<String>)> = self
            .connection
            .prepare_cached(
                "UPDATE jobs SET lease_owner = NULL, rank = rank + (?4 - due_at), due_at = ?4
                 WHERE id = ?1 AND lease_owner = ?2 AND lease_version = ?3
                 RETURNING ckey1, ckey2",
            )?
            .query_row(params![id, owner, lease, due_at], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        let Some((a, b)) = row else {
            return Ok(false);
        };
        self.unpark(&[a, b].into_iter().flatten().collect::<Vec<_>>())?;
        Ok(true)
    }

    /// Turns a job claimed with `lease` into `next` (an unkeyed job of the same run), still
    /// leased to `owner` with a new lease version: the run's next execution, for the worker
    /// that holds the row. `None` when the lease no longer holds.
    pub(crate) fn hand_over_job(
        &self,
        id: i64,
        owner: i64,
        lease: i64,
        next: &NewJob<'_>,
    ) -> StoreResult<Option<ClaimedJob>> {
        let version: Option<i64> = self
            .connection
            .prepare_cached(
                "UPDATE jobs SET payload = ?4, due_at = ?5, rank = ?6, prioritized = ?7,
                    dedupe = NULL, ckey1 = NULL, limit1 = NULL, ckey2 = NULL, limit2 = NULL,
                    lease_version = lease_version + 1
                 WHERE id = ?1 AND lease_owner = ?2 AND lease_version = ?3
                 RETURNING lease_version",
            )?
            .query_row(
                params![
                    id,
                    owner,
                    lease,
                    to_json(next.job)?,
                    next.due_at,
                    next.due_at.saturating_sub(next.priority_ms),
                    next.priority_ms != 0
                ],
                |row| row.get(0),
            )
            .optional()?;
        Ok(version.map(|lease| ClaimedJob {
            id,
            job: next.job.clone(),
            lease,
        }))
    }

    /// `true` while the job is still leased with `lease`.
    pub(crate) fn job_leased(&self, id: i64, owner: i64, lease: i64) -> StoreResult<bool> {
        Ok(self
            .connection
            .prepare_cached(
                "SELECT 1 FROM jobs WHERE id = ?1 AND lease_owner = ?2 AND lease_version = ?3",
            )?
            .query_row(params![id, owner, lease], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Claims up to `want` due jobs for `owner`, best ranked first, parking those whose
    /// concurrency key is full. Also returns the earliest due time left in the queue.
    pub(crate) fn claim(
        &self,
        owner: i64,
        now: i64,
        want: usize,
    ) -> StoreResult<(Vec<ClaimedJob>, Option<i64>)> {
        let mut running = self.running_counts()?;
        let mut claimed = Vec::new();
        let mut lease = self.connection.prepare_cached(
            "UPDATE jobs SET lease_owner = ?2, lease_version = lease_version + 1 WHERE id = ?1
             RETURNING lease_version",
        )?;
        let mut park = self
            .connection
            .prepare_cached("UPDATE jobs SET parked_on = ?2 WHERE id = ?1")?;
        for _ in 0..MAX_PAGES {
            if claimed.len() >= want {
                break;
            }
            let candidates = self.candidates(now)?;
            let exhausted = candidates.len() < PAGE;
            for candidate in candidates {
                if claimed.len() >= want {
                    break;
                }
                let full = candidate
                    .keys
                    .iter()
                    .find(|(key, limit)| running.get(key).copied().unwrap_or(0) >= *limit);
                if let Some((key, _)) = full {
                    park.execute(params![candidate.id, key])?;
                    continue;
                }
                for (key, _) in &candidate.keys {
                    *running.entry(key.clone()).or_default() += 1;
                }
                let version: i64 =
                    lease.query_row(params![candidate.id, owner], |row| row.get(0))?;
                claimed.push(ClaimedJob {
                    id: candidate.id,
                    job: from_json(&candidate.payload)?,
                    lease: version,
                });
            }
            if exhausted {
                break;
            }
        }
        Ok((claimed, self.next_due()?))
    }

    /// Due candidates in rank order: plain jobs (rank = due time, so `rank <= now` is the
    /// index range of due ones) and prioritized ones (few: only functions with `priority`).
    fn candidates(&self, now: i64) -> StoreResult<Vec<Candidate>> {
        let mut plain = self.connection.prepare_cached(&format!(
            "SELECT {CANDIDATE_COLUMNS} FROM jobs
             WHERE lease_owner IS NULL AND parked_on IS NULL AND prioritized = 0 AND rank <= ?1
             ORDER BY rank, id LIMIT ?2"
        ))?;
        let mut prioritized = self.connection.prepare_cached(&format!(
            "SELECT {CANDIDATE_COLUMNS} FROM jobs
             WHERE lease_owner IS NULL AND parked_on IS NULL AND prioritized = 1 AND due_at <= ?1
             ORDER BY rank, id LIMIT ?2"
        ))?;
        let mut all = Vec::new();
        for statement in [&mut plain, &mut prioritized] {
            for row in statement.query_map(params![now, PAGE as i64], candidate)? {
                all.push(row?);
            }
        }
        all.sort_by_key(|c| (c.rank, c.id));
        all.truncate(PAGE);
        Ok(all)
    }

    /// Executions in flight per concurrency key (from the leased rows).
    fn running_counts(&self) -> StoreResult<HashMap<String, u32>> {
        let mut statement = self.connection.prepare_cached(
            "SELECT ckey1, ckey2 FROM jobs WHERE lease_owner IS NOT NULL AND ckey1 IS NOT NULL",
        )?;
        let mut counts: HashMap<String, u32> = HashMap::new();
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, Option<String>>(0)?,
                row.get::<_, Option<String>>(1)?,
            ))
        })?;
        for row in rows {
            let (a, b) = row?;
            for key in [a, b].into_iter().flatten() {
                *counts.entry(key).or_default() += 1;
            }
        }
        Ok(counts)
    }

    /// The earliest due time of a job that is neither leased nor parked.
    pub(crate) fn next_due(&self) -> StoreResult<Option<i64>> {
        let mut earliest: Option<i64> = None;
        for sql in [
            // Plain jobs: rank is the due time; the first index entry.
            "SELECT MIN(rank) FROM jobs
             WHERE lease_owner IS NULL AND parked_on IS NULL AND prioritized = 0",
            "SELECT MIN(due_at) FROM jobs
             WHERE lease_owner IS NULL AND parked_on IS NULL AND prioritized = 1",
        ] {
            let due: Option<i64> = self
                .connection
                .prepare_cached(sql)?
                .query_row([], |row| row.get(0))?;
            earliest = match (earliest, due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(earliest)
    }

    /// Runs a `DELETE … RETURNING lease_owner, ckey1, ckey2` and returns the keys of the
    /// rows that were leased (the slots it frees).
    fn collect_keys(&self, sql: &str, params: impl rusqlite::Params) -> StoreResult<Vec<String>> {
        let mut statement = self.connection.prepare_cached(sql)?;
        let rows = statement.query_map(params, |row| {
            Ok((
                row.get::<_, Option<i64>>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, Option<String>>(2)?,
            ))
        })?;
        let mut keys = Vec::new();
        for row in rows {
            let (owner, a, b) = row?;
            if owner.is_some() {
                keys.extend([a, b].into_iter().flatten());
            }
        }
        Ok(keys)
    }

    /// Unparks the best-ranked job parked on each key (one slot each).
    fn unpark(&self, keys: &[String]) -> StoreResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut statement = self.connection.prepare_cached(
            "UPDATE jobs SET parked_on = NULL WHERE id =
                (SELECT id FROM jobs WHERE parked_on = ?1 ORDER BY rank, id LIMIT 1)",
        )?;
        for key in keys {
            statement.execute(params![key])?;
        }
        Ok(())
    }
}
