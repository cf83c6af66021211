//! Runs: status, times, the triggering events (written once), the small mutable state, and
//! the index from event ids to the runs they started.

use rusqlite::{OptionalExtension, Row, params};

use super::{Tx, from_json, from_json_opt, to_json};
use crate::bounded::Bound;
use crate::error::StoreResult;
use crate::model::{Run, RunEvents, RunFilter, RunStatus};

const RUN_COLUMNS: &str = "id, function_id, status, created_at, started_at, ended_at, singleton_key, state, output, error";

fn decode(row: &Row<'_>) -> rusqlite::Result<RawRun> {
    Ok(RawRun {
        id: row.get(0)?,
        function_id: row.get(1)?,
        status: row.get(2)?,
        created_at: row.get(3)?,
        started_at: row.get(4)?,
        ended_at: row.get(5)?,
        singleton_key: row.get(6)?,
        state: row.get(7)?,
        output: row.get(8)?,
        error: row.get(9)?,
    })
}

struct RawRun {
    id: String,
    function_id: String,
    status: String,
    created_at: i64,
    started_at: Option<i64>,
    ended_at: Option<i64>,
    singleton_key: Option<String>,
    state: String,
    output: Option<String>,
    error: Option<String>,
}

impl RawRun {
    fn into_run(self) -> StoreResult<Run> {
        self.into_bounded_run(Bound::NONE)
    }

    /// The run, with its output and error bounded for a view.
    fn into_bounded_run(self, bound: Bound) -> StoreResult<Run> {
        Ok(Run {
            status: RunStatus::parse(&self.status).unwrap_or(RunStatus::Failed),
            state: from_json(&self.state)?,
            output: bound.value_opt(self.output)?,
            error: bound.value_opt(self.error)?,
            id: self.id,
            function_id: self.function_id,
            created_at: self.created_at,
            started_at: self.started_at,
            ended_at: self.ended_at,
            singleton_key: self.singleton_key,
        })
    }
}

impl Tx<'_> {
    /// Stores a new run with its events, and indexes it by each event's id.
    pub(crate) fn insert_run(&self, run: &Run, events: &RunEvents) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "INSERT INTO runs (id, function_id, status, created_at, started_at, ended_at,
                                   singleton_key, events, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                run.id,
                run.function_id,
                run.status.as_str(),
                run.created_at,
                run.started_at,
                run.ended_at,
                run.singleton_key,
                to_json(events)?,
                to_json(&run.state)?
            ])?;
        let mut index = self.connection.prepare_cached(
            "INSERT OR IGNORE INTO run_events (event_id, run_id) VALUES (?1, ?2)",
        )?;
        for event in events {
            if let Some(id) = &event.id {
                index.execute(params![id, run.id])?;
            }
        }
        Ok(())
    }

    /// Saves a run's status, times, state, output and error (its events never change).
    pub(crate) fn update_run(&self, run: &Run) -> StoreResult<()> {
        let output = run.output.as_ref().map(to_json).transpose()?;
        let error = run.error.as_ref().map(to_json).transpose()?;
        self.connection
            .prepare_cached(
                "UPDATE runs SET status = ?2, started_at = ?3, ended_at = ?4, state = ?5,
                 output = ?6, error = ?7 WHERE id = ?1",
            )?
            .execute(params![
                run.id,
                run.status.as_str(),
                run.started_at,
                run.ended_at,
                to_json(&run.state)?,
                output,
                error
            ])?;
        Ok(())
    }

    /// One run (without its events).
    pub(crate) fn run(&self, id: &str) -> StoreResult<Option<Run>> {
        self.connection
            .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"))?
            .query_row(params![id], decode)
            .optional()?
            .map(RawRun::into_run)
            .transpose()
    }

    /// A run, if the job `job_id` is still leased with `lease` (one statement).
    pub(crate) fn run_if_leased(
        &self,
        run_id: &str,
        job_id: i64,
        owner: i64,
        lease: i64,
    ) -> StoreResult<Option<Run>> {
        self.connection
            .prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1 AND EXISTS
                    (SELECT 1 FROM jobs WHERE id = ?2 AND lease_owner = ?3 AND lease_version = ?4)"
            ))?
            .query_row(params![run_id, job_id, owner, lease], decode)
            .optional()?
            .map(RawRun::into_run)
            .transpose()
    }

    /// A run's triggering events.
    pub(crate) fn run_events(&self, id: &str) -> StoreResult<RunEvents> {
        let text: Option<String> = self
            .connection
            .prepare_cached("SELECT events FROM runs WHERE id = ?1")?
            .query_row(params![id], |row| row.get(0))
            .optional()?;
        Ok(from_json_opt(text)?.unwrap_or_default())
    }

    /// A run with its events (as stored JSON: they go into the execution request
    /// verbatim), if the job `job_id` is still leased with `lease` (one statement: the lease
    /// check and the read see the same snapshot).
    pub(crate) fn run_for_job(
        &self,
        run_id: &str,
        job_id: i64,
        owner: i64,
        lease: i64,
    ) -> StoreResult<Option<(Run, Vec<Box<serde_json::value::RawValue>>)>> {
        let row = self
            .connection
            .prepare_cached(&format!(
                "SELECT {RUN_COLUMNS}, events FROM runs WHERE id = ?1 AND EXISTS
                    (SELECT 1 FROM jobs WHERE id = ?2 AND lease_owner = ?3 AND lease_version = ?4)"
            ))?
            .query_row(params![run_id, job_id, owner, lease], |row| {
                Ok((decode(row)?, row.get::<_, String>(10)?))
            })
            .optional()?;
        row.map(|(raw, events)| Ok((raw.into_run()?, from_json(&events)?)))
            .transpose()
    }

    /// Runs matching `filter`, newest first, with their events; payloads bounded by
    /// `bound`. Rows are decoded one at a time, so a large payload is never held twice.
    pub(crate) fn runs(
        &self,
        filter: &RunFilter,
        bound: Bound,
    ) -> StoreResult<Vec<(Run, RunEvents)>> {
        let limit = filter.limit.unwrap_or(100).clamp(1, 1000);
        let (before_at, before_id) = filter
            .before
            .as_ref()
            .map(|cursor| (cursor.created_at, cursor.run_id.as_str()))
            .unzip();
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT {RUN_COLUMNS}, events FROM runs
             WHERE (?1 IS NULL OR function_id = ?1) AND (?2 IS NULL OR status = ?2)
               AND (?3 IS NULL OR created_at >= ?3) AND (?4 IS NULL OR created_at < ?4)
               AND (?5 IS NULL OR id IN (SELECT run_id FROM run_events WHERE event_id = ?5))
               AND (?7 IS NULL OR created_at < ?7 OR (created_at = ?7 AND id < ?8))
             ORDER BY created_at DESC, id DESC LIMIT ?6"
        ))?;
        let mut rows = statement.query(params![
            filter.function,
            filter.status.map(RunStatus::as_str),
            filter.since,
            filter.until,
            filter.event,
            limit,
            before_at,
            before_id,
        ])?;
        let mut runs = Vec::new();
        while let Some(row) = rows.next()? {
            let raw = decode(row)?;
            let events: String = row.get(10)?;
            runs.push((raw.into_bounded_run(bound)?, bound.events(&events)?));
        }
        Ok(runs)
    }

    /// One run's events, bounded.
    pub(crate) fn bounded_run_events(&self, id: &str, bound: Bound) -> StoreResult<RunEvents> {
        let text: Option<String> = self
            .connection
            .prepare_cached("SELECT events FROM runs WHERE id = ?1")?
            .query_row(params![id], |row| row.get(0))
            .optional()?;
        text.map_or_else(|| Ok(Vec::new()), |text| bound.events(&text))
    }

    /// One run (without its events), its output and error bounded.
    pub(crate) fn bounded_run(&self, id: &str, bound: Bound) -> StoreResult<Option<Run>> {
        self.connection
            .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"))?
            .query_row(params![id], decode)
            .optional()?
            .map(|raw| raw.into_bounded_run(bound))
            .transpose()
    }

    /// Active runs of `function_id` with this singleton key.
    pub(crate) fn active_singletons(&self, function_id: &str, key: &str) -> StoreResult<Vec<Run>> {
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM runs
             WHERE function_id = ?1 AND singleton_key = ?2 AND ended_at IS NULL"
        ))?;
        let rows = statement.query_map(params![function_id, key], decode)?;
        let mut runs = Vec::new();
        for row in rows {
            runs.push(row?.into_run()?);
        }
        Ok(runs)
    }

    /// The ids of the runs that have not finished.
    pub(crate) fn active_run_ids(&self) -> StoreResult<Vec<String>> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT id FROM runs WHERE ended_at IS NULL")?;
        let rows = statement.query_map([], |row| row.get(0))?;
        let mut ids = Vec::new();
        for row in rows {
            ids.push(row?);
        }
        Ok(ids)
    }

    /// How many runs have not finished.
    pub(crate) fn count_active(&self) -> StoreResult<i64> {
        Ok(self
            .connection
            .prepare_cached("SELECT COUNT(*) FROM runs WHERE ended_at IS NULL")?
            .query_row([], |row| row.get(0))?)
    }
}
