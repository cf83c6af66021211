//! Finding the runs an event resumes (`wait_for_event`) or cancels (`cancel_on`) through an
//! index instead of evaluating every listener's expression.
//!
//! Most match expressions compare a field of the incoming event with a field of the run's
//! trigger: `async.data.orderId == event.data.orderId`. When a listener is stored, the
//! trigger side is evaluated once and stored as the listener's *match value* under the
//! async side's *match path* (`data.orderId`). An incoming event is then looked up by the
//! value it has at each match path known for its name — an index probe, not a scan. The full
//! expression is still evaluated on the few candidates found, so the index only has to
//! never miss a match: it is used for scalar values, whose canonical text is equal whenever
//! CEL calls them equal (`1 == 1.0`, `-0.0 == 0`).
//!
//! Expressions without such an equality (`async.data.total > event.data.limit`) are stored
//! without a match path, and every listener of that event name is evaluated.

use cel::IdedExpr;
use cel::common::ast::{Expr, LiteralValue};
use serde_json::Value;

use crate::expr::Expression;

/// The indexable part of a match expression: `async.<path> == <operand>`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EqualityIndex {
    /// The path into the incoming event (`["data", "orderId"]`).
    pub async_path: Vec<String>,
    /// What it is compared with.
    pub other: Operand,
}

/// The side of an indexable equality that does not depend on the incoming event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    /// A field of the run's trigger (`event.data.orderId` → `["data", "orderId"]`).
    EventPath(Vec<String>),
    /// A literal.
    Literal(Value),
}

impl EqualityIndex {
    /// Finds the first `async.<path> == event.<path>` (or a literal) among the top-level
    /// conjuncts (`&&`) of `expression`.
    pub(crate) fn of(expression: &Expression) -> Option<Self> {
        let mut pending = vec![expression.tree()];
        while let Some(node) = pending.pop() {
            let Expr::Call(call) = &node.expr else {
                continue;
            };
            match (call.func_name.as_str(), call.args.as_slice()) {
                ("_&&_", [left, right]) => {
                    // Left first: the first equality written is the one used.
                    pending.push(right);
                    pending.push(left);
                }
                ("_==_", [left, right]) => {
                    for (a, b) in [(left, right), (right, left)] {
                        if let Some(async_path) = path_under(a, "async")
                            && let Some(other) = operand(b)
                        {
                            return Some(Self { async_path, other });
                        }
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// The match path as stored (`data.orderId`).
    pub(crate) fn path_text(&self) -> String {
        self.async_path.join(".")
    }

    /// The match value for a run whose trigger is `trigger`, or `None` when it is not a
    /// scalar (or missing: then the expression can never match, and the listener is stored
    /// unindexed, where evaluating it says so).
    pub(crate) fn value_for(&self, trigger: &Value) -> Option<String> {
        match &self.other {
            Operand::Literal(value) => canonical(value),
            Operand::EventPath(path) => lookup(trigger, path).and_then(canonical),
        }
    }
}

/// The segments of `root.a.b` (plain field selections on the identifier `root`).
fn path_under(node: &IdedExpr, root: &str) -> Option<Vec<String>> {
    let mut segments = Vec::new();
    let mut current = node;
    loop {
        match &current.expr {
            Expr::Select(select) if !select.test => {
                segments.push(select.field.clone());
                current = &select.operand;
            }
            Expr::Ident(name) if name == root && !segments.is_empty() => {
                segments.reverse();
                return Some(segments);
            }
            _ => return None,
        }
    }
}

fn operand(node: &IdedExpr) -> Option<Operand> {
    if let Some(path) = path_under(node, "event") {
        return Some(Operand::EventPath(path));
    }
    let Expr::Literal(literal) = &node.expr else {
        return None;
    };
    let value = match literal {
        LiteralValue::Boolean(b) => Value::Bool(*b.inner()),
        LiteralValue::Int(i) => Value::from(*i.inner()),
        LiteralValue::UInt(u) => Value::from(*u.inner()),
        LiteralValue::Double(d) => serde_json::Number::from_f64(*d.inner()).map(Value::Number)?,
        LiteralValue::String(s) => Value::String(s.inner().to_string()),
        LiteralValue::Null => Value::Null,
        LiteralValue::Bytes(_) => return None,
    };
    Some(Operand::Literal(value))
}

/// The value at `path` in a JSON object.
pub(crate) fn lookup<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter()
        .try_fold(value, |current, segment| current.as_object()?.get(segment))
}

/// The text a scalar is indexed under; equal whenever CEL's `==` holds. `None` for
/// objects and arrays.
pub(crate) fn canonical(value: &Value) -> Option<String> {
    Some(match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("b:{b}"),
        Value::String(s) => format!("s:{s}"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                format!("n:{i}")
            } else if let Some(u) = n.as_u64() {
                format!("n:{u}")
            } else {
                let f = n.as_f64()?;
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    // Provably exact: a whole number below 2^53 converts without loss.
                    #[allow(clippy::cast_possible_truncation)]
                    let whole = f as i64;
                    format!("n:{whole}")
                } else {
                    format!("n:{f:?}")
                }
            }
        }
        Value::Array(_) | Value::Object(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn index(source: &str) -> Option<EqualityIndex> {
        EqualityIndex::of(&Expression::compile(source).unwrap())
    }

    #[test]
    fn equalities_between_async_and_the_trigger_are_indexed() {
        let found = index("async.data.orderId == event.data.orderId").unwrap();
        assert_eq!(found.path_text(), "data.orderId");
        assert_eq!(
            found
                .value_for(&json!({"data": {"orderId": "o-1"}}))
                .as_deref(),
            Some("s:o-1")
        );
        let reversed = index("event.data.id == async.data.ref && async.data.total > 10").unwrap();
        assert_eq!(reversed.path_text(), "data.ref");
        let literal = index("async.data.kind == 'refund' && async.data.x == event.data.x").unwrap();
        assert_eq!(literal.other, Operand::Literal(json!("refund")));
        assert_eq!(literal.value_for(&json!({})).as_deref(), Some("s:refund"));
    }

    #[test]
    fn other_shapes_are_not_indexed() {
        for source in [
            "async.data.total > event.data.limit",
            "async.data.a == event.data.a || async.data.b == event.data.b",
            "async.data['a'] == event.data.a",
            "async == event",
            "has(async.data.a)",
        ] {
            assert_eq!(index(source), None, "{source}");
        }
    }

    #[test]
    fn canonical_text_is_equal_when_cel_equality_holds() {
        assert_eq!(canonical(&json!(1)), canonical(&json!(1.0)));
        assert_eq!(canonical(&json!(-0.0)), canonical(&json!(0)));
        assert_ne!(canonical(&json!(1)), canonical(&json!("1")));
        assert_ne!(canonical(&json!(0.1)), canonical(&json!(0.2)));
        assert_eq!(canonical(&json!({"a": 1})), None);
        assert_eq!(
            lookup(&json!({"data": {"a": 2}}), &["data".into(), "a".into()]),
            Some(&json!(2))
        );
        assert_eq!(
            lookup(&json!({"data": 5}), &["data".into(), "a".into()]),
            None
        );
    }
}
