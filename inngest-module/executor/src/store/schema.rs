//! The store's tables. One transaction per change of state; see the module docs of
//! [`super`] for what each table holds.

use std::path::Path;

use rusqlite::Connection;

use crate::error::{StoreError, StoreResult};

/// The schema this version reads and writes (`PRAGMA user_version`).
pub(crate) const VERSION: i64 = 2;

const TABLES: &str = "
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX events_id ON events(id, received_at);
CREATE INDEX events_received ON events(received_at);
CREATE INDEX events_name ON events(name, seq);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    function_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    ended_at INTEGER,
    singleton_key TEXT,
    events TEXT NOT NULL,
    state TEXT NOT NULL,
    output TEXT,
    error TEXT
);
CREATE INDEX runs_function ON runs(function_id, created_at);
CREATE INDEX runs_created ON runs(created_at);
CREATE INDEX runs_status ON runs(status, created_at);
CREATE INDEX runs_active ON runs(function_id, singleton_key) WHERE ended_at IS NULL;
CREATE INDEX runs_ended ON runs(ended_at) WHERE ended_at IS NOT NULL;
CREATE TABLE run_events (
    event_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (event_id, run_id)
) WITHOUT ROWID;
CREATE INDEX run_events_run ON run_events(run_id);
CREATE TABLE steps (
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
) WITHOUT ROWID;
CREATE TABLE listeners (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    event TEXT NOT NULL,
    match_path TEXT,
    match_value TEXT,
    condition TEXT,
    run_id TEXT NOT NULL,
    hash TEXT,
    trigger TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX listeners_match ON listeners(event, match_path, match_value);
CREATE INDEX listeners_run ON listeners(run_id);
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    run_id TEXT,
    due_at INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    prioritized INTEGER NOT NULL,
    payload TEXT NOT NULL,
    dedupe TEXT,
    ckey1 TEXT,
    limit1 INTEGER,
    ckey2 TEXT,
    limit2 INTEGER,
    parked_on TEXT,
    lease_owner INTEGER,
    lease_version INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_ready ON jobs(prioritized, rank, id)
    WHERE lease_owner IS NULL AND parked_on IS NULL;
CREATE INDEX jobs_keyed ON jobs(ckey1, ckey2)
    WHERE lease_owner IS NOT NULL AND ckey1 IS NOT NULL;
CREATE INDEX jobs_parked ON jobs(parked_on, rank, id) WHERE parked_on IS NOT NULL;
CREATE INDEX jobs_run ON jobs(run_id) WHERE run_id IS NOT NULL;
CREATE INDEX jobs_dedupe ON jobs(dedupe) WHERE dedupe IS NOT NULL;
CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at INTEGER
);
CREATE INDEX kv_expires ON kv(expires_at) WHERE expires_at IS NOT NULL;
";

/// Creates the tables in an empty database, or checks an existing one is this version's.
pub(crate) fn prepare(connection: &Connection, path: Option<&Path>) -> StoreResult<()> {
    let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version == VERSION {
        return Ok(());
    }
    let tables: i64 = connection.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |row| row.get(0),
    )?;
    if tables > 0 || version != 0 {
        return Err(StoreError::Schema {
            path: path.map(Path::to_path_buf).unwrap_or_default(),
            found: version,
            expected: VERSION,
        });
    }
    connection.execute_batch(&format!(
        "BEGIN IMMEDIATE; {TABLES} PRAGMA user_version = {VERSION}; COMMIT;"
    ))?;
    Ok(())
}
