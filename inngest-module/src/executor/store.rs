//! Durable executor state in SQLite: events, runs, step memos, pending waits, the job queue
//! and flow-control state. Every state change is one transaction, so a crash at any point
//! leaves either the state before a transition or the state after it.
//!
//! Access is serialised through one connection behind a mutex. Statements are short
//! (WAL journal, `synchronous = NORMAL`: a commit survives a killed process; only an OS
//! crash or power loss can lose the last transactions), so they run inline on the async
//! worker instead of hopping to a blocking thread.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation.
    #[error("the executor's SQLite store failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored JSON column does not decode (the file was edited or is from another version).
    #[error("the executor's store holds data it cannot read: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_id ON events(id);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    function_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    ended_at INTEGER,
    state TEXT NOT NULL,
    output TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS runs_function ON runs(function_id, created_at);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created_at);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status, created_at);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    op TEXT NOT NULL,
    status TEXT NOT NULL,
    done INTEGER NOT NULL,
    memo TEXT,
    input TEXT,
    attempts INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    PRIMARY KEY (run_id, hash)
);
CREATE TABLE IF NOT EXISTS waits (
    run_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    event TEXT NOT NULL,
    expression TEXT,
    trigger TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, hash)
);
CREATE INDEX IF NOT EXISTS waits_event ON waits(event);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT,
    due_at INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    job TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs(rank);
CREATE INDEX IF NOT EXISTS jobs_due_at ON jobs(due_at);
CREATE INDEX IF NOT EXISTS jobs_run ON jobs(run_id);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at INTEGER
);
";

/// The SQLite store.
pub struct Store {
    connection: Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> StoreResult<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // A missing directory surfaces as SQLite's "unable to open" below.
            let _ = std::fs::create_dir_all(parent);
        }
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        Self::init(connection)
    }

    /// A store that lives in memory and is gone when dropped (tests, throw-away runs).
    pub fn in_memory() -> StoreResult<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(connection: Connection) -> StoreResult<Self> {
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.pragma_update(None, "foreign_keys", "OFF")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch(SCHEMA)?;
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (the transaction rolls
        // back on drop), so a poisoned lock is safe to reuse.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `work` in one transaction, committed if it returns `Ok`.
    pub fn write<R>(&self, work: impl FnOnce(&Tx<'_>) -> StoreResult<R>) -> StoreResult<R> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let result = work(&Tx(&transaction))?;
        transaction.commit()?;
        Ok(result)
    }

    /// Runs read-only `work`.
    pub fn read<R>(&self, work: impl FnOnce(&Tx<'_>) -> StoreResult<R>) -> StoreResult<R> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        work(&Tx(&transaction))
    }
}

/// Status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunStatus {
    /// Created, waiting for its first execution.
    Queued,
    /// Executing or waiting for a step, sleep, event or child run.
    Running,
    /// Returned a value.
    Completed,
    /// Failed for good.
    Failed,
    /// Cancelled by an event, a timeout or a singleton.
    Cancelled,
}

impl RunStatus {
    /// The name used in the store and the runs API.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "Queued",
            RunStatus::Running => "Running",
            RunStatus::Completed => "Completed",
            RunStatus::Failed => "Failed",
            RunStatus::Cancelled => "Cancelled",
        }
    }

    /// Parses a stored status name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "Queued" => RunStatus::Queued,
            "Running" => RunStatus::Running,
            "Completed" => RunStatus::Completed,
            "Failed" => RunStatus::Failed,
            "Cancelled" => RunStatus::Cancelled,
            _ => return None,
        })
    }

    /// `true` once the run can no longer change.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

/// Where an invoked run reports back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Parent {
    /// The invoking run.
    pub run_id: String,
    /// The invoke step's hash in that run.
    pub hash: String,
}

/// The mutable part of a run that is not in its own column.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunState {
    /// The triggering events (one, or a batch).
    pub events: Vec<Value>,
    /// Attempt of the current unit of work (resets after a step succeeds).
    pub attempt: u32,
    /// Memoized step hashes in the order they finished.
    pub stack: Vec<String>,
    /// Ops reported and not resolved yet (planned steps, sleeps, waits, invokes).
    pub pending: Vec<String>,
    /// `disable_immediate_execution` for the next requests (set by parallelism).
    pub force_plan: bool,
    /// The request version the SDK reported (-1 before the first response).
    pub version: i64,
    /// Set when this run was invoked by another.
    pub parent: Option<Parent>,
    /// Concurrency keys this run's executions count against.
    pub concurrency_keys: Vec<(String, u32)>,
    /// Singleton key, if the function is a singleton.
    pub singleton_key: Option<String>,
    /// Priority in milliseconds (a run is ranked as if enqueued that much earlier).
    pub priority_ms: i64,
}

/// One run as stored.
#[derive(Debug, Clone)]
pub struct Run {
    /// Run id (ULID).
    pub id: String,
    /// Composite function id.
    pub function_id: String,
    /// Status.
    pub status: RunStatus,
    /// Creation time (ms).
    pub created_at: i64,
    /// First execution (ms).
    pub started_at: Option<i64>,
    /// End (ms).
    pub ended_at: Option<i64>,
    /// Everything else.
    pub state: RunState,
    /// The return value, once completed.
    pub output: Option<Value>,
    /// The error, once failed or cancelled.
    pub error: Option<Value>,
}

/// One step as stored (for memoization and the runs API).
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    /// SHA-1 hash id.
    pub hash: String,
    /// Order of first appearance.
    pub seq: i64,
    /// The user's step id.
    pub name: String,
    /// The op as reported (`StepRun`, `Sleep`, `WaitForEvent`, …).
    pub op: String,
    /// `Running`, `Waiting`, `Sleeping`, `Completed`, `Failed`, `Retrying`.
    pub status: String,
    /// Memoized value (what the SDK receives), once done.
    pub memo: Option<Value>,
    /// The op's options (sleep duration, wait event, invoke payload, …).
    pub input: Option<Value>,
    /// Executions of this step.
    pub attempts: u32,
    /// First seen (ms).
    pub started_at: i64,
    /// Done (ms).
    pub ended_at: Option<i64>,
}

/// A pending `wait_for_event`.
#[derive(Debug, Clone)]
pub struct Wait {
    /// The waiting run.
    pub run_id: String,
    /// The wait step's hash.
    pub hash: String,
    /// The `if` expression, if any.
    pub expression: Option<String>,
    /// The run's triggering event (the `event` variable).
    pub trigger: Value,
    /// Expiry (ms).
    pub expires_at: i64,
}

/// Filters for listing runs.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunFilter {
    /// Composite function id.
    pub function: Option<String>,
    /// Status name.
    pub status: Option<String>,
    /// Created at or after (ms).
    pub since: Option<i64>,
    /// Created before (ms).
    pub until: Option<i64>,
    /// Only runs triggered by this event id.
    pub event: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// A transaction with the executor's operations.
pub struct Tx<'a>(&'a Transaction<'a>);

fn json_text(value: &impl Serialize) -> StoreResult<String> {
    Ok(serde_json::to_string(value)?)
}

fn parse_opt(text: Option<String>) -> StoreResult<Option<Value>> {
    Ok(match text {
        Some(text) => Some(serde_json::from_str(&text)?),
        None => None,
    })
}

fn row_to_run(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRun> {
    Ok(RawRun {
        id: row.get(0)?,
        function_id: row.get(1)?,
        status: row.get(2)?,
        created_at: row.get(3)?,
        started_at: row.get(4)?,
        ended_at: row.get(5)?,
        state: row.get(6)?,
        output: row.get(7)?,
        error: row.get(8)?,
    })
}

struct RawRun {
    id: String,
    function_id: String,
    status: String,
    created_at: i64,
    started_at: Option<i64>,
    ended_at: Option<i64>,
    state: String,
    output: Option<String>,
    error: Option<String>,
}

impl RawRun {
    fn decode(self) -> StoreResult<Run> {
        Ok(Run {
            status: RunStatus::parse(&self.status).unwrap_or(RunStatus::Failed),
            state: serde_json::from_str(&self.state)?,
            output: parse_opt(self.output)?,
            error: parse_opt(self.error)?,
            id: self.id,
            function_id: self.function_id,
            created_at: self.created_at,
            started_at: self.started_at,
            ended_at: self.ended_at,
        })
    }
}

const RUN_COLUMNS: &str =
    "id, function_id, status, created_at, started_at, ended_at, state, output, error";

impl Tx<'_> {
    // ---- events ----

    /// Stores an accepted event.
    pub fn insert_event(&self, id: &str, name: &str, payload: &Value, now: i64) -> StoreResult<()> {
        self.0.execute(
            "INSERT INTO events (id, name, payload, received_at) VALUES (?1, ?2, ?3, ?4)",
            params![id, name, json_text(payload)?, now],
        )?;
        Ok(())
    }

    /// `true` if an event with this id was received at or after `since`.
    pub fn event_seen(&self, id: &str, since: i64) -> StoreResult<bool> {
        Ok(self
            .0
            .query_row(
                "SELECT 1 FROM events WHERE id = ?1 AND received_at >= ?2 LIMIT 1",
                params![id, since],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// The most recent events, newest first.
    pub fn recent_events(&self, limit: u32, name: Option<&str>) -> StoreResult<Vec<Value>> {
        let mut statement = self.0.prepare_cached(
            "SELECT payload, received_at FROM events WHERE (?1 IS NULL OR name = ?1)
             ORDER BY seq DESC LIMIT ?2",
        )?;
        let rows = statement.query_map(params![name, limit], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        let mut events = Vec::new();
        for row in rows {
            let (payload, received_at) = row?;
            let mut event: Value = serde_json::from_str(&payload)?;
            if let Some(object) = event.as_object_mut() {
                object.insert("received_at".into(), Value::from(received_at));
            }
            events.push(event);
        }
        Ok(events)
    }

    // ---- runs ----

    /// Stores a new run.
    pub fn insert_run(&self, run: &Run) -> StoreResult<()> {
        self.0.execute(
            "INSERT INTO runs (id, function_id, status, created_at, started_at, ended_at, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                run.id,
                run.function_id,
                run.status.as_str(),
                run.created_at,
                run.started_at,
                run.ended_at,
                json_text(&run.state)?
            ],
        )?;
        Ok(())
    }

    /// Saves a run's status, times, state, output and error.
    pub fn update_run(&self, run: &Run) -> StoreResult<()> {
        let output = run.output.as_ref().map(json_text).transpose()?;
        let error = run.error.as_ref().map(json_text).transpose()?;
        self.0.execute(
            "UPDATE runs SET status = ?2, started_at = ?3, ended_at = ?4, state = ?5,
             output = ?6, error = ?7 WHERE id = ?1",
            params![
                run.id,
                run.status.as_str(),
                run.started_at,
                run.ended_at,
                json_text(&run.state)?,
                output,
                error
            ],
        )?;
        Ok(())
    }

    /// One run.
    pub fn run(&self, id: &str) -> StoreResult<Option<Run>> {
        let mut statement = self
            .0
            .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"))?;
        statement
            .query_row(params![id], row_to_run)
            .optional()?
            .map(RawRun::decode)
            .transpose()
    }

    /// Runs matching `filter`, newest first.
    pub fn runs(&self, filter: &RunFilter) -> StoreResult<Vec<Run>> {
        let limit = filter.limit.unwrap_or(100).clamp(1, 1000);
        let mut statement = self.0.prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM runs
             WHERE (?1 IS NULL OR function_id = ?1) AND (?2 IS NULL OR status = ?2)
               AND (?3 IS NULL OR created_at >= ?3) AND (?4 IS NULL OR created_at < ?4)
               AND (?5 IS NULL OR EXISTS (SELECT 1 FROM json_each(json_extract(state, '$.events'))
                                          WHERE json_extract(value, '$.id') = ?5))
             ORDER BY created_at DESC, id DESC LIMIT ?6"
        ))?;
        let rows = statement.query_map(
            params![
                filter.function,
                filter.status,
                filter.since,
                filter.until,
                filter.event,
                limit
            ],
            row_to_run,
        )?;
        let mut runs = Vec::new();
        for row in rows {
            runs.push(row?.decode()?);
        }
        Ok(runs)
    }

    /// Runs of `function_id` that have not finished.
    pub fn active_runs(&self, function_id: &str) -> StoreResult<Vec<Run>> {
        let mut statement = self.0.prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE function_id = ?1
             AND status IN ('Queued', 'Running') ORDER BY created_at"
        ))?;
        let rows = statement.query_map(params![function_id], row_to_run)?;
        let mut runs = Vec::new();
        for row in rows {
            runs.push(row?.decode()?);
        }
        Ok(runs)
    }

    /// Runs not finished, any function (to restore in-memory accounting at start).
    pub fn count_active(&self) -> StoreResult<i64> {
        Ok(self.0.query_row(
            "SELECT COUNT(*) FROM runs WHERE status IN ('Queued', 'Running')",
            [],
            |row| row.get(0),
        )?)
    }

    // ---- steps ----

    /// The memo map for a run: every finished step's value.
    pub fn memo(&self, run_id: &str) -> StoreResult<Map<String, Value>> {
        let mut statement = self
            .0
            .prepare_cached("SELECT hash, memo FROM steps WHERE run_id = ?1 AND done = 1")?;
        let rows = statement.query_map(params![run_id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
        })?;
        let mut memo = Map::new();
        for row in rows {
            let (hash, value) = row?;
            memo.insert(hash, parse_opt(value)?.unwrap_or(Value::Null));
        }
        Ok(memo)
    }

    /// All steps of a run in order of appearance.
    pub fn steps(&self, run_id: &str) -> StoreResult<Vec<StepRecord>> {
        let mut statement = self.0.prepare_cached(
            "SELECT hash, seq, name, op, status, memo, input, attempts, started_at, ended_at, done
             FROM steps WHERE run_id = ?1 ORDER BY seq",
        )?;
        let rows = statement.query_map(params![run_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, Option<String>>(5)?,
                row.get::<_, Option<String>>(6)?,
                row.get::<_, u32>(7)?,
                row.get::<_, i64>(8)?,
                row.get::<_, Option<i64>>(9)?,
                row.get::<_, bool>(10)?,
            ))
        })?;
        let mut steps = Vec::new();
        for row in rows {
            let (hash, seq, name, op, status, memo, input, attempts, started_at, ended_at, done) =
                row?;
            let memo = parse_opt(memo)?;
            steps.push(StepRecord {
                hash,
                seq,
                name,
                op,
                status,
                memo: if done {
                    Some(memo.unwrap_or(Value::Null))
                } else {
                    None
                },
                input: parse_opt(input)?,
                attempts,
                started_at,
                ended_at,
            });
        }
        Ok(steps)
    }

    /// Records that a step was seen (or seen again): creates it, or bumps its attempts and
    /// status. Never touches a finished step.
    #[allow(clippy::too_many_arguments)]
    pub fn touch_step(
        &self,
        run_id: &str,
        hash: &str,
        name: &str,
        op: &str,
        status: &str,
        input: Option<&Value>,
        count_attempt: bool,
        now: i64,
    ) -> StoreResult<()> {
        let input = input.map(json_text).transpose()?;
        self.0.execute(
            "INSERT INTO steps (run_id, hash, seq, name, op, status, done, input, attempts, started_at)
             VALUES (?1, ?2, (SELECT COUNT(*) FROM steps WHERE run_id = ?1), ?3, ?4, ?5, 0, ?6, ?7, ?8)
             ON CONFLICT (run_id, hash) DO UPDATE SET
                op = excluded.op, status = excluded.status,
                input = COALESCE(excluded.input, input),
                attempts = attempts + ?7
             WHERE done = 0",
            params![run_id, hash, name, op, status, input, u32::from(count_attempt), now],
        )?;
        Ok(())
    }

    /// Memoizes a step's final value. Returns `false` if it was already memoized (the
    /// value is kept: a completed step's result never changes).
    pub fn finish_step(
        &self,
        run_id: &str,
        hash: &str,
        status: &str,
        memo: &Value,
        now: i64,
    ) -> StoreResult<bool> {
        let changed = self.0.execute(
            "UPDATE steps SET done = 1, status = ?3, memo = ?4, ended_at = ?5
             WHERE run_id = ?1 AND hash = ?2 AND done = 0",
            params![run_id, hash, status, json_text(memo)?, now],
        )?;
        Ok(changed > 0)
    }

    // ---- waits ----

    /// Registers a wait.
    pub fn insert_wait(&self, wait: &Wait, event: &str) -> StoreResult<()> {
        self.0.execute(
            "INSERT OR REPLACE INTO waits (run_id, hash, event, expression, trigger, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                wait.run_id,
                wait.hash,
                event,
                wait.expression,
                json_text(&wait.trigger)?,
                wait.expires_at
            ],
        )?;
        Ok(())
    }

    /// Waits for events named `event`.
    pub fn waits_for(&self, event: &str) -> StoreResult<Vec<Wait>> {
        let mut statement = self.0.prepare_cached(
            "SELECT run_id, hash, expression, trigger, expires_at FROM waits WHERE event = ?1",
        )?;
        let rows = statement.query_map(params![event], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
            ))
        })?;
        let mut waits = Vec::new();
        for row in rows {
            let (run_id, hash, expression, trigger, expires_at) = row?;
            waits.push(Wait {
                run_id,
                hash,
                expression,
                trigger: serde_json::from_str(&trigger)?,
                expires_at,
            });
        }
        Ok(waits)
    }

    /// Removes a wait; `false` if it was gone already.
    pub fn delete_wait(&self, run_id: &str, hash: &str) -> StoreResult<bool> {
        Ok(self.0.execute(
            "DELETE FROM waits WHERE run_id = ?1 AND hash = ?2",
            params![run_id, hash],
        )? > 0)
    }

    // ---- jobs ----

    /// Enqueues a job due at `due_at`, ranked `priority_ms` earlier among due jobs.
    pub fn enqueue(
        &self,
        run_id: Option<&str>,
        due_at: i64,
        priority_ms: i64,
        job: &super::Job,
    ) -> StoreResult<i64> {
        self.0.execute(
            "INSERT INTO jobs (run_id, due_at, rank, job) VALUES (?1, ?2, ?3, ?4)",
            params![run_id, due_at, due_at - priority_ms, json_text(job)?],
        )?;
        Ok(self.0.last_insert_rowid())
    }

    /// Removes a job; `false` if it was gone already.
    pub fn delete_job(&self, id: i64) -> StoreResult<bool> {
        Ok(self
            .0
            .execute("DELETE FROM jobs WHERE id = ?1", params![id])?
            > 0)
    }

    /// Removes every job of a run.
    pub fn delete_run_jobs(&self, run_id: &str) -> StoreResult<()> {
        self.0
            .execute("DELETE FROM jobs WHERE run_id = ?1", params![run_id])?;
        self.0
            .execute("DELETE FROM waits WHERE run_id = ?1", params![run_id])?;
        Ok(())
    }

    /// Jobs due by `now`, best ranked first.
    pub fn due_jobs(&self, now: i64, limit: usize) -> StoreResult<Vec<QueuedJob>> {
        let mut statement = self.0.prepare_cached(
            "SELECT id, run_id, due_at, job FROM jobs WHERE due_at <= ?1 ORDER BY rank, id LIMIT ?2",
        )?;
        let rows = statement.query_map(params![now, limit as i64], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, String>(3)?,
            ))
        })?;
        let mut jobs = Vec::new();
        for row in rows {
            let (id, run_id, due_at, job) = row?;
            jobs.push(QueuedJob {
                id,
                run_id,
                due_at,
                job: serde_json::from_str(&job)?,
            });
        }
        Ok(jobs)
    }

    /// The earliest due time of any job.
    pub fn next_due(&self) -> StoreResult<Option<i64>> {
        Ok(self
            .0
            .query_row("SELECT MIN(due_at) FROM jobs", [], |row| row.get(0))?)
    }

    /// `true` if a job with exactly this payload is queued.
    pub fn job_exists(&self, job: &super::Job) -> StoreResult<bool> {
        Ok(self
            .0
            .query_row(
                "SELECT 1 FROM jobs WHERE job = ?1 LIMIT 1",
                params![json_text(job)?],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Removes every job with exactly this payload.
    pub fn delete_jobs_like(&self, job: &super::Job) -> StoreResult<()> {
        self.0
            .execute("DELETE FROM jobs WHERE job = ?1", params![json_text(job)?])?;
        Ok(())
    }

    // ---- key/value flow-control state ----

    /// A stored value, unless expired at `now`.
    pub fn kv_get(&self, key: &str, now: i64) -> StoreResult<Option<Value>> {
        let text: Option<String> = self
            .0
            .query_row(
                "SELECT value FROM kv WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
                params![key, now],
                |row| row.get(0),
            )
            .optional()?;
        parse_opt(text)
    }

    /// Stores a value, optionally expiring.
    pub fn kv_set(&self, key: &str, value: &Value, expires_at: Option<i64>) -> StoreResult<()> {
        self.0.execute(
            "INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?1, ?2, ?3)",
            params![key, json_text(value)?, expires_at],
        )?;
        Ok(())
    }

    /// Removes a value.
    pub fn kv_delete(&self, key: &str) -> StoreResult<()> {
        self.0
            .execute("DELETE FROM kv WHERE key = ?1", params![key])?;
        Ok(())
    }
}

/// A job read from the queue.
#[derive(Debug, Clone)]
pub struct QueuedJob {
    /// Queue row id.
    pub id: i64,
    /// The run it belongs to, if any.
    pub run_id: Option<String>,
    /// When it became due (ms).
    pub due_at: i64,
    /// What to do.
    pub job: super::Job,
}
