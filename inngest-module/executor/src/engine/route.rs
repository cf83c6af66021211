//! Routing an accepted event: the runs it starts (triggers, batching, debounce), the waits
//! it resumes and the runs it cancels.

use inngest_protocol::Event;
use serde_json::{Value, json};

use super::{DAY_MS, Transition};
use crate::error::StoreResult;
use crate::functions::{FunctionDef, event_name_matches};
use crate::matching::{canonical, lookup};
use crate::model::{Job, StepStatus};
use crate::store::{Listener, ListenerKind, NewJob};

impl Transition<'_> {
    /// Stores and routes one event (already validated, with `id` and `ts`). A repeated id
    /// within 24 hours is stored but starts nothing.
    pub(crate) fn accept_event(&self, event: &Event) -> StoreResult<()> {
        let json = serde_json::to_value(event)?;
        let id = event.id_str();
        let duplicate = self.tx.event_seen(id, self.now - DAY_MS)?;
        self.tx
            .insert_event(id, &event.name, &json.to_string(), self.now)?;
        if duplicate {
            tracing::debug!(event = %id, "duplicate event id within 24 h; no runs started");
            return Ok(());
        }
        for function in &self.catalog.sorted {
            if function.triggered_by(event, &json) {
                self.schedule(function, event, &json)?;
            }
        }
        for listener in self.listeners_for(&event.name, &json)? {
            self.notify_listener(listener, event, &json)?;
        }
        Ok(())
    }

    /// The listeners an event named `name` may match: by name (exact, and the wildcard
    /// cancellation patterns it falls under), unindexed ones plus those indexed under the
    /// value the event has at each known match path.
    fn listeners_for(&self, name: &str, json: &Value) -> StoreResult<Vec<Listener>> {
        let mut keys = vec![name.to_string()];
        keys.extend(
            self.catalog
                .cancel_wildcards
                .iter()
                .filter(|pattern| event_name_matches(pattern, name))
                .cloned(),
        );
        let mut found = Vec::new();
        for key in &keys {
            found.extend(self.tx.unindexed_listeners(key)?);
            for path in self.engine.known_paths(key) {
                let segments: Vec<String> = path.split('.').map(String::from).collect();
                if let Some(value) = lookup(json, &segments).and_then(canonical) {
                    found.extend(self.tx.indexed_listeners(key, &path, &value)?);
                }
            }
        }
        found.sort_by_key(|listener| listener.id);
        Ok(found)
    }

    fn notify_listener(&self, listener: Listener, event: &Event, json: &Value) -> StoreResult<()> {
        if listener.expires_at < self.now {
            return Ok(());
        }
        // A run is not cancelled by the very event that started it.
        if listener.kind == ListenerKind::Cancel
            && listener.trigger.get("id").and_then(Value::as_str) == event.id.as_deref()
        {
            return Ok(());
        }
        let matched = match &listener.condition {
            None => true,
            Some(source) => match self.engine.expression(source) {
                Some(expression) => expression
                    .matches(&[("event", &listener.trigger), ("async", json)])
                    .unwrap_or(false),
                None => false,
            },
        };
        if !matched || !self.tx.delete_listener(listener.id)? {
            return Ok(());
        }
        match (listener.kind, listener.hash) {
            (ListenerKind::Wait, Some(hash)) => {
                self.resolve(&listener.run_id, &hash, json.clone(), StepStatus::Completed)
            }
            (ListenerKind::Cancel, _) => match self.tx.run(&listener.run_id)? {
                Some(run) if !run.status.is_final() => {
                    let reason = format!("cancelled by event {} ({})", event.name, event.id_str());
                    self.cancel(run, &reason)
                }
                _ => Ok(()),
            },
            (ListenerKind::Wait, None) => Ok(()),
        }
    }

    /// Applies batching and debounce, then creates the run.
    fn schedule(&self, function: &FunctionDef, event: &Event, json: &Value) -> StoreResult<()> {
        if let Some(batch) = &function.batch {
            let eligible = batch
                .condition
                .as_ref()
                .is_none_or(|c| c.matches(&[("event", json)]).unwrap_or(false));
            if eligible && batch.max_size > 1 {
                let key = FunctionDef::key_of(batch.key.as_ref(), json);
                let kv = format!("batch:{}:{key}", function.id);
                let mut events: Vec<Event> = match self.tx.kv_get(&kv, self.now)? {
                    Some(value) => serde_json::from_value(value).unwrap_or_default(),
                    None => Vec::new(),
                };
                events.push(event.clone());
                let flush = Job::BatchFlush {
                    function_id: function.id.clone(),
                    key,
                };
                if events.len() >= batch.max_size {
                    self.tx.kv_delete(&kv)?;
                    if let Some(dedupe) = flush.dedupe_key() {
                        self.tx.delete_job_by_dedupe(&dedupe)?;
                    }
                    self.create_run(function, events, None)?;
                } else {
                    if events.len() == 1 {
                        self.enqueue(&flush, self.now.saturating_add(batch.timeout_ms))?;
                    }
                    self.tx.kv_set(&kv, &serde_json::to_value(&events)?, None)?;
                }
                return Ok(());
            }
        }
        if let Some(debounce) = &function.debounce {
            let key = FunctionDef::key_of(debounce.key.as_ref(), json);
            let kv = format!("debounce:{}:{key}", function.id);
            let first_at = self
                .tx
                .kv_get(&kv, self.now)?
                .and_then(|v| v.get("first_at").and_then(Value::as_i64))
                .unwrap_or(self.now);
            let mut due = self.now.saturating_add(debounce.period_ms);
            if let Some(timeout) = debounce.timeout_ms {
                due = due.min(first_at.saturating_add(timeout));
            }
            self.tx
                .kv_set(&kv, &json!({"event": event, "first_at": first_at}), None)?;
            // Replaces the debounce job queued for this key, if any.
            self.enqueue(
                &Job::Debounce {
                    function_id: function.id.clone(),
                    key,
                },
                due,
            )?;
            return Ok(());
        }
        self.create_run(function, vec![event.clone()], None)?;
        Ok(())
    }

    /// Queues a job that belongs to no concurrency key and has no priority.
    pub(crate) fn enqueue(&self, job: &Job, due_at: i64) -> StoreResult<()> {
        self.tx.enqueue(&NewJob {
            job,
            due_at,
            priority_ms: 0,
            concurrency: &[],
        })?;
        self.queued();
        Ok(())
    }
}
