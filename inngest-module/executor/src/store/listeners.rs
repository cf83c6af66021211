//! Listeners: runs waiting for an event (`wait_for_event`) or cancelled by one
//! (`cancel_on`), indexed by event name and, where the match expression allows, by the value
//! the event must have at one path (see [`crate::matching`]).

use std::collections::{HashMap, HashSet};

use rusqlite::params;
use serde_json::Value;

use super::{Tx, from_json, to_json};
use crate::error::StoreResult;

/// What a listener does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListenerKind {
    /// Resumes a `wait_for_event` step.
    Wait,
    /// Cancels the run.
    Cancel,
}

impl ListenerKind {
    fn as_str(self) -> &'static str {
        match self {
            ListenerKind::Wait => "wait",
            ListenerKind::Cancel => "cancel",
        }
    }
}

/// A listener to store.
pub(crate) struct NewListener<'a> {
    /// Wait or cancel.
    pub kind: ListenerKind,
    /// The event name (exact, or `prefix/*` for cancellations).
    pub event: &'a str,
    /// The indexed path and value, when the condition has an indexable equality.
    pub matching: Option<(String, String)>,
    /// The `if` condition, evaluated on candidates.
    pub condition: Option<&'a str>,
    /// The run.
    pub run_id: &'a str,
    /// The wait step's hash (waits only).
    pub hash: Option<&'a str>,
    /// The run's triggering event (the `event` variable of the condition).
    pub trigger: &'a Value,
    /// When it stops listening (ms).
    pub expires_at: i64,
}

/// A stored listener found for an event.
#[derive(Debug, Clone)]
pub(crate) struct Listener {
    /// Row id.
    pub id: i64,
    /// Wait or cancel.
    pub kind: ListenerKind,
    /// The run.
    pub run_id: String,
    /// The wait step's hash (waits only).
    pub hash: Option<String>,
    /// The `if` condition.
    pub condition: Option<String>,
    /// The run's triggering event.
    pub trigger: Value,
    /// When it stops listening (ms).
    pub expires_at: i64,
}

impl Tx<'_> {
    /// Stores a listener.
    pub(crate) fn insert_listener(&self, listener: &NewListener<'_>) -> StoreResult<()> {
        let (path, value) = listener.matching.clone().unzip();
        self.connection
            .prepare_cached(
                "INSERT INTO listeners (kind, event, match_path, match_value, condition, run_id,
                                        hash, trigger, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                listener.kind.as_str(),
                listener.event,
                path,
                value,
                listener.condition,
                listener.run_id,
                listener.hash,
                to_json(listener.trigger)?,
                listener.expires_at
            ])?;
        Ok(())
    }

    /// Listeners for `event` that are not indexed by value (their condition is evaluated).
    pub(crate) fn unindexed_listeners(&self, event: &str) -> StoreResult<Vec<Listener>> {
        self.listeners("WHERE event = ?1 AND match_path IS NULL", params![event])
    }

    /// Listeners for `event` indexed under `path` with `value`.
    pub(crate) fn indexed_listeners(
        &self,
        event: &str,
        path: &str,
        value: &str,
    ) -> StoreResult<Vec<Listener>> {
        self.listeners(
            "WHERE event = ?1 AND match_path = ?2 AND match_value = ?3",
            params![event, path, value],
        )
    }

    fn listeners(&self, filter: &str, params: impl rusqlite::Params) -> StoreResult<Vec<Listener>> {
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT id, kind, run_id, hash, condition, trigger, expires_at FROM listeners {filter}"
        ))?;
        let rows = statement.query_map(params, |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, i64>(6)?,
            ))
        })?;
        let mut listeners = Vec::new();
        for row in rows {
            let (id, kind, run_id, hash, condition, trigger, expires_at) = row?;
            listeners.push(Listener {
                id,
                kind: if kind == "cancel" {
                    ListenerKind::Cancel
                } else {
                    ListenerKind::Wait
                },
                run_id,
                hash,
                condition,
                trigger: from_json(&trigger)?,
                expires_at,
            });
        }
        Ok(listeners)
    }

    /// Removes one listener; `false` if it was gone already.
    pub(crate) fn delete_listener(&self, id: i64) -> StoreResult<bool> {
        Ok(self
            .connection
            .prepare_cached("DELETE FROM listeners WHERE id = ?1")?
            .execute(params![id])?
            > 0)
    }

    /// Removes a run's wait for step `hash`; `false` if it was gone already.
    pub(crate) fn delete_wait(&self, run_id: &str, hash: &str) -> StoreResult<bool> {
        Ok(self
            .connection
            .prepare_cached("DELETE FROM listeners WHERE run_id = ?1 AND hash = ?2")?
            .execute(params![run_id, hash])?
            > 0)
    }

    /// Removes every listener of a run.
    pub(crate) fn delete_run_listeners(&self, run_id: &str) -> StoreResult<()> {
        self.connection
            .prepare_cached("DELETE FROM listeners WHERE run_id = ?1")?
            .execute(params![run_id])?;
        Ok(())
    }
}

/// Every match path stored per event name (loaded at start; kept up to date as listeners
/// are added).
pub(crate) fn match_paths(
    connection: &rusqlite::Connection,
) -> StoreResult<HashMap<String, HashSet<String>>> {
    let mut statement = connection
        .prepare("SELECT DISTINCT event, match_path FROM listeners WHERE match_path IS NOT NULL")?;
    let rows = statement.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    let mut paths: HashMap<String, HashSet<String>> = HashMap::new();
    for row in rows {
        let (event, path) = row?;
        paths.entry(event).or_default().insert(path);
    }
    Ok(paths)
}
