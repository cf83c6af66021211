//! Flow-control state kept across restarts: idempotency keys, debounce and batch buffers.

use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use super::{Tx, from_json_opt, to_json};
use crate::error::StoreResult;

impl Tx<'_> {
    /// A stored value, unless expired at `now`.
    pub(crate) fn kv_get(&self, key: &str, now: i64) -> StoreResult<Option<Value>> {
        let text: Option<String> = self
            .connection
            .prepare_cached(
                "SELECT value FROM kv WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
            )?
            .query_row(params![key, now], |row| row.get(0))
            .optional()?;
        from_json_opt(text)
    }

    /// Stores a value, optionally expiring.
    pub(crate) fn kv_set(
        &self,
        key: &str,
        value: &Value,
        expires_at: Option<i64>,
    ) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![key, to_json(value)?, expires_at])?;
        Ok(())
    }

    /// Removes a value.
    pub(crate) fn kv_delete(&self, key: &str) -> StoreResult<()> {
        self.connection
            .prepare_cached("DELETE FROM kv WHERE key = ?1")?
            .execute(params![key])?;
        Ok(())
    }
}

impl Tx<'_> {
    /// Writes the health heartbeat (the indicator's cheap write).
    pub(crate) fn heartbeat(&self, now: i64) -> StoreResult<()> {
        self.connection
            .prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES ('heartbeat', ?1)")?
            .execute(params![now.to_string()])?;
        Ok(())
    }

    /// Reads the health heartbeat (the indicator's cheap read).
    pub(crate) fn read_heartbeat(&self) -> StoreResult<Option<String>> {
        Ok(self
            .connection
            .prepare_cached("SELECT value FROM meta WHERE key = 'heartbeat'")?
            .query_row([], |row| row.get(0))
            .optional()?)
    }
}
