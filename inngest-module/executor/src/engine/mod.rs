//! State transitions. Each runs inside one store transaction (a closure on the writing
//! connection): routing an event, creating a run under flow control, applying what an SDK
//! answered, firing a timer, finishing a run. A transition either commits whole or not at
//! all, and reports its [`Effects`] so the caller can wake the scheduler and the waiters.

mod apply;
mod checkpoint;
mod create;
mod finish;
mod handover;
mod route;
mod timers;

use parking_lot::{Mutex, RwLock};
use std::cell::Cell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use inngest_protocol::Event;
use serde_json::Value;

pub(crate) use apply::{Executed, Outcome};
pub(crate) use checkpoint::{Checkpointed, parse_queue_item_id, queue_item_id};
pub(crate) use handover::Continuation;

use crate::expr::Expression;
use crate::functions::Catalog;
use crate::ids::new_id;
use crate::store::Tx;

/// Idempotency keys and event ids are remembered for 24 hours.
pub(crate) const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// What a transition changed that others must hear about.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Effects {
    /// Work was queued (the scheduler should look).
    pub queued: bool,
    /// Runs created.
    pub created: u32,
    /// Runs that finished.
    pub finished: u32,
}

/// In-memory flow-control state (rate-limit windows and throttle schedules). It is rebuilt
/// from nothing after a restart: at worst a restart admits one more window of events.
#[derive(Default)]
struct Limits {
    rate: HashMap<String, VecDeque<i64>>,
    throttle: HashMap<String, i64>,
}

/// Most compiled conditions kept.
const EXPRESSION_CACHE: usize = 10_000;

/// What transitions share across transactions.
pub(crate) struct Engine {
    catalog: RwLock<Arc<Catalog>>,
    limits: Mutex<Limits>,
    /// Compiled conditions by source (compiling is far dearer than evaluating).
    expressions: Mutex<HashMap<String, Option<Arc<Expression>>>>,
    /// Match paths stored per event name (see [`crate::matching`]).
    match_paths: Mutex<HashMap<String, HashSet<String>>>,
    /// This process's lease owner id.
    pub(crate) owner: i64,
    /// Retry backoff: first delay and ceiling, ms.
    backoff: (i64, i64),
    /// Draining: crons fire no runs.
    pub(crate) draining: bool,
}

impl Engine {
    pub(crate) fn new(
        owner: i64,
        backoff: (i64, i64),
        match_paths: HashMap<String, HashSet<String>>,
        draining: bool,
    ) -> Self {
        Self {
            catalog: RwLock::new(Arc::new(Catalog::default())),
            limits: Mutex::new(Limits::default()),
            expressions: Mutex::new(HashMap::new()),
            match_paths: Mutex::new(match_paths),
            owner,
            backoff,
            draining,
        }
    }

    /// The registered functions now.
    pub(crate) fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.catalog.read())
    }

    /// Replaces the registered functions.
    pub(crate) fn set_catalog(&self, catalog: Catalog) {
        *self.catalog.write() = Arc::new(catalog);
    }

    /// A compiled condition from the cache, compiling it on first use (`None` when it does
    /// not compile).
    pub(crate) fn expression(&self, source: &str) -> Option<Arc<Expression>> {
        if let Some(cached) = self.expressions.lock().get(source) {
            return cached.clone();
        }
        let compiled = Expression::compile(source).ok().map(Arc::new);
        let mut cache = self.expressions.lock();
        if cache.len() >= EXPRESSION_CACHE {
            cache.clear();
        }
        cache.insert(source.to_string(), compiled.clone());
        compiled
    }

    fn known_paths(&self, event: &str) -> Vec<String> {
        self.match_paths
            .lock()
            .get(event)
            .map(|paths| paths.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn add_path(&self, event: &str, path: &str) {
        self.match_paths
            .lock()
            .entry(event.to_string())
            .or_default()
            .insert(path.to_string());
    }

    /// Runs a transition in `tx` at `now` with the current catalog; returns what `work`
    /// returned and the transition's effects.
    pub(crate) fn transition<R>(
        &self,
        tx: &Tx<'_>,
        now: i64,
        work: impl FnOnce(&Transition<'_>) -> crate::error::StoreResult<R>,
    ) -> crate::error::StoreResult<(R, Effects)> {
        let catalog = self.catalog();
        let transition = Transition {
            engine: self,
            catalog: &catalog,
            tx,
            now,
            effects: Cell::new(Effects::default()),
            handover: std::cell::RefCell::new(None),
            internal_depth: Cell::new(0),
            internal_emitted: Cell::new(0),
        };
        let result = work(&transition)?;
        Ok((result, transition.effects.get()))
    }
}

/// One transition: the transaction, the time, the functions, and the effects so far.
pub(crate) struct Transition<'a> {
    pub(crate) engine: &'a Engine,
    pub(crate) catalog: &'a Catalog,
    pub(crate) tx: &'a Tx<'a>,
    pub(crate) now: i64,
    effects: Cell<Effects>,
    /// The claimed job this transition settles, and its run's next execution.
    handover: std::cell::RefCell<Option<handover::Handover>>,
    /// How deep the current chain of `inngest/function.*` events is, and how many this
    /// transition emitted: each may finish runs that emit more (a cancellation that starts a
    /// run that cancels others …); past either limit none is emitted.
    internal_depth: Cell<u32>,
    internal_emitted: Cell<u32>,
}

/// Chained `inngest/function.*` events one transition follows.
const MAX_INTERNAL_DEPTH: u32 = 8;
/// `inngest/function.*` events one transition emits.
const MAX_INTERNAL_EVENTS: u32 = 64;

impl Transition<'_> {
    pub(crate) fn queued(&self) {
        let mut effects = self.effects.get();
        effects.queued = true;
        self.effects.set(effects);
    }

    fn finished(&self) {
        let mut effects = self.effects.get();
        effects.finished += 1;
        self.effects.set(effects);
    }

    fn created(&self) {
        let mut effects = self.effects.get();
        effects.created += 1;
        self.effects.set(effects);
    }

    /// An event produced by the executor itself.
    pub(crate) fn internal_event(&self, name: &str, data: Value) -> Event {
        Event {
            name: name.to_string(),
            data,
            id: Some(new_id(self.now)),
            ts: Some(self.now),
            v: None,
            user: Some(Value::Object(serde_json::Map::new())),
        }
    }

    /// Stores an event the executor made (an invoke, a cron's timer) with its id and time.
    pub(crate) fn store_event(&self, event: &Event) -> crate::error::StoreResult<()> {
        self.tx.insert_event(
            event.id_str(),
            &event.name,
            &serde_json::to_string(event)?,
            self.now,
        )
    }

    /// The retry time for `attempt`: `Retry-After` when given, else exponential backoff.
    fn backoff(&self, attempt: u32, retry_after: Option<&str>) -> i64 {
        if let Some(at) = retry_after.and_then(|v| retry_after_ms(v, self.now)) {
            return at;
        }
        let (initial, max) = self.engine.backoff;
        let factor = 1_i64.checked_shl(attempt.min(30)).unwrap_or(i64::MAX);
        self.now
            .saturating_add(initial.saturating_mul(factor).min(max))
    }
}

/// A sleep or timeout spec as an absolute time (ms): an RFC 3339 time (tried first for 10+
/// characters, like the server) or a duration from `now`.
pub(crate) fn wake_time(spec: &str, now: i64) -> Option<i64> {
    if spec.len() >= 10
        && let Ok(at) = chrono::DateTime::parse_from_rfc3339(spec)
    {
        return Some(at.timestamp_millis());
    }
    inngest_protocol::parse_duration_ms(spec)
        .ok()
        .map(|ms| now.saturating_add(ms))
}

/// `Retry-After` as an absolute time: integer seconds or a date, clamped to 1 s..24 h.
fn retry_after_ms(value: &str, now: i64) -> Option<i64> {
    let value = value.trim();
    let delay = if let Ok(seconds) = value.parse::<i64>() {
        seconds.saturating_mul(1000)
    } else if let Ok(at) = chrono::DateTime::parse_from_rfc3339(value) {
        at.timestamp_millis().saturating_sub(now)
    } else if let Ok(at) = chrono::DateTime::parse_from_rfc2822(value) {
        at.timestamp_millis().saturating_sub(now)
    } else {
        return None;
    };
    Some(now.saturating_add(delay.clamp(1_000, DAY_MS)))
}

/// An error value in the protocol's shape.
pub(crate) fn error_value(name: &str, message: impl Into<String>) -> Value {
    let mut map = serde_json::Map::new();
    map.insert("name".into(), Value::String(name.into()));
    map.insert("message".into(), Value::String(message.into()));
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates_and_clamps() {
        assert_eq!(retry_after_ms("3", 0), Some(3_000));
        assert_eq!(retry_after_ms("0", 0), Some(1_000));
        assert_eq!(retry_after_ms("999999999", 0), Some(DAY_MS));
        assert_eq!(
            retry_after_ms("2026-11-23T09:08:56.330Z", 1_795_424_930_000),
            Some(1_795_424_936_330)
        );
        assert_eq!(retry_after_ms("soon", 0), None);
        assert_eq!(retry_after_ms("-9223372036854775808", 0), Some(1_000));
    }

    #[test]
    fn sleeps_take_durations_or_times() {
        assert_eq!(wake_time("2s", 1_000), Some(3_000));
        assert_eq!(wake_time("1h30m", 0), Some(5_400_000));
        assert_eq!(
            wake_time("2026-11-23T09:08:56Z", 0),
            Some(1_795_424_936_000)
        );
        assert_eq!(wake_time("tomorrow", 0), None);
    }
}
