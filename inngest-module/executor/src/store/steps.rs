//! Steps: what each step of a run reported, and its memoized value once done.

use std::collections::HashMap;

use inngest_protocol::Opcode;
use rusqlite::params;
use serde_json::Value;
use serde_json::value::RawValue;

use super::{Tx, to_json};
use crate::bounded::Bound;
use crate::error::StoreResult;
use crate::model::{StepRecord, StepStatus};

/// A step seen in an SDK answer.
#[derive(Clone, Copy)]
pub(crate) struct StepUpdate<'a> {
    /// The run.
    pub run_id: &'a str,
    /// The step's hash.
    pub hash: &'a str,
    /// The user's step id.
    pub name: &'a str,
    /// The op reported.
    pub op: &'a Opcode,
    /// Where the step is now.
    pub status: StepStatus,
    /// The op's options, if any.
    pub input: Option<&'a Value>,
    /// Counts as one more execution of the step.
    pub count_attempt: bool,
    /// Now (ms).
    pub now: i64,
}

/// A stored op name as an opcode.
fn opcode(text: String) -> Opcode {
    serde_json::from_value(Value::String(text.clone())).unwrap_or(Opcode::Other(text))
}

impl<'a> StepUpdate<'a> {
    /// The same step with this status, attempt counting and input.
    pub(crate) fn with(
        self,
        status: StepStatus,
        count_attempt: bool,
        input: Option<&'a Value>,
    ) -> Self {
        Self {
            status,
            count_attempt,
            input,
            ..self
        }
    }
}

impl Tx<'_> {
    /// The memo map for a run: every finished step's value, as the JSON text stored (it
    /// goes into the execution request verbatim).
    pub(crate) fn memo(&self, run_id: &str) -> StoreResult<HashMap<String, Box<RawValue>>> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT hash, memo FROM steps WHERE run_id = ?1 AND done = 1")?;
        let rows = statement.query_map(params![run_id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
        })?;
        let mut memo = HashMap::new();
        for row in rows {
            let (hash, value) = row?;
            let value = RawValue::from_string(value.unwrap_or_else(|| "null".into()))?;
            memo.insert(hash, value);
        }
        Ok(memo)
    }

    /// All steps of a run in order of appearance.
    pub(crate) fn steps(&self, run_id: &str, bound: Bound) -> StoreResult<Vec<StepRecord>> {
        let mut statement = self.connection.prepare_cached(
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
            let memo = bound.value_opt(memo)?;
            steps.push(StepRecord {
                hash,
                seq,
                name,
                op: opcode(op),
                status: StepStatus::parse(&status).unwrap_or(StepStatus::Failed),
                memo: done.then(|| memo.unwrap_or(Value::Null)),
                input: bound.value_opt(input)?,
                attempts,
                started_at,
                ended_at,
            });
        }
        Ok(steps)
    }

    /// Records that a step was seen (or seen again): creates it, or updates its op, status
    /// and attempts. Never touches a finished step.
    pub(crate) fn touch_step(&self, step: &StepUpdate<'_>) -> StoreResult<()> {
        let input = step.input.map(to_json).transpose()?;
        self.connection
            .prepare_cached(
                "INSERT INTO steps (run_id, hash, seq, name, op, status, done, input, attempts, started_at)
                 VALUES (?1, ?2, (SELECT COUNT(*) FROM steps WHERE run_id = ?1), ?3, ?4, ?5, 0, ?6, ?7, ?8)
                 ON CONFLICT (run_id, hash) DO UPDATE SET
                    op = excluded.op, status = excluded.status,
                    input = COALESCE(excluded.input, input),
                    attempts = attempts + ?7
                 WHERE done = 0",
            )?
            .execute(params![
                step.run_id,
                step.hash,
                step.name,
                step.op.as_str(),
                step.status.as_str(),
                input,
                u32::from(step.count_attempt),
                step.now
            ])?;
        Ok(())
    }

    /// Records a step and memoizes its final value in one statement. Returns `false` if it
    /// was already memoized (the value is kept: a finished step's result never changes).
    pub(crate) fn finish_new_step(&self, step: &StepUpdate<'_>, memo: &Value) -> StoreResult<bool> {
        let input = step.input.map(to_json).transpose()?;
        let changed = self
            .connection
            .prepare_cached(
                "INSERT INTO steps (run_id, hash, seq, name, op, status, done, memo, input, attempts,
                                    started_at, ended_at)
                 VALUES (?1, ?2, (SELECT COUNT(*) FROM steps WHERE run_id = ?1), ?3, ?4, ?5, 1, ?6,
                         ?7, ?8, ?9, ?9)
                 ON CONFLICT (run_id, hash) DO UPDATE SET
                    op = excluded.op, status = excluded.status, done = 1, memo = excluded.memo,
                    input = COALESCE(excluded.input, input), attempts = attempts + ?8,
                    ended_at = excluded.ended_at
                 WHERE done = 0",
            )?
            .execute(params![
                step.run_id,
                step.hash,
                step.name,
                step.op.as_str(),
                step.status.as_str(),
                to_json(memo)?,
                input,
                u32::from(step.count_attempt),
                step.now
            ])?;
        Ok(changed > 0)
    }

    /// Memoizes a known step's final value. Returns `false` if it was already memoized or
    /// is unknown.
    pub(crate) fn finish_step(
        &self,
        run_id: &str,
        hash: &str,
        status: StepStatus,
        memo: &Value,
        now: i64,
    ) -> StoreResult<bool> {
        let changed = self
            .connection
            .prepare_cached(
                "UPDATE steps SET done = 1, status = ?3, memo = ?4, ended_at = ?5
                 WHERE run_id = ?1 AND hash = ?2 AND done = 0",
            )?
            .execute(params![run_id, hash, status.as_str(), to_json(memo)?, now])?;
        Ok(changed > 0)
    }
}
