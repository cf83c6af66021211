//! The event log: every accepted event, kept for deduplication (24 h) and the events API.

use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use super::{Tx, from_json};
use crate::bounded::Bound;
use crate::error::StoreResult;

impl Tx<'_> {
    /// Stores an accepted event (`payload` is its JSON).
    pub(crate) fn insert_event(
        &self,
        id: &str,
        name: &str,
        payload: &str,
        now: i64,
    ) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "INSERT INTO events (id, name, payload, received_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![id, name, payload, now])?;
        Ok(())
    }

    /// `true` if an event with this id was received at or after `since`.
    pub(crate) fn event_seen(&self, id: &str, since: i64) -> StoreResult<bool> {
        Ok(self
            .connection
            .prepare_cached("SELECT 1 FROM events WHERE id = ?1 AND received_at >= ?2 LIMIT 1")?
            .query_row(params![id, since], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// The most recent events, newest first, with their `received_at`.
    pub(crate) fn recent_events(
        &self,
        limit: u32,
        name: Option<&str>,
        before: Option<i64>,
        bound: Bound,
    ) -> StoreResult<Vec<(i64, Value)>> {
        let mut statement = self.connection.prepare_cached(
            "SELECT seq, id, name, payload, received_at FROM events
             WHERE (?1 IS NULL OR name = ?1) AND (?3 IS NULL OR seq < ?3)
             ORDER BY seq DESC LIMIT ?2",
        )?;
        let mut rows = statement.query(params![name, limit, before])?;
        let mut events = Vec::new();
        while let Some(row) = rows.next()? {
            let payload: String = row.get(3)?;
            let received_at: i64 = row.get(4)?;
            let mut event = if bound.allows(&payload) {
                from_json(&payload)?
            } else {
                serde_json::json!({
                    "id": row.get::<_, String>(1)?,
                    "name": row.get::<_, String>(2)?,
                    "data": crate::bounded::marker(&payload),
                })
            };
            if let Some(object) = event.as_object_mut() {
                object.insert("received_at".into(), Value::from(received_at));
            }
            events.push((row.get(0)?, event));
        }
        Ok(events)
    }
}
