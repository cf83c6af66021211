//! Inngest expressions (`if` filters and key expressions), evaluated with CEL.
//!
//! The Inngest server evaluates every expression a function declares — a trigger's `if`, the
//! `if` of `wait_for_event` and `cancel_on`, batch `if`, and the keys of concurrency, rate
//! limit, throttle, debounce, idempotency and priority — with the
//! [Common Expression Language](https://github.com/google/cel-spec). This module does the same
//! with the [`cel`] crate so the embedded executor accepts and answers the same expressions.
//!
//! Variables are JSON values bound by name: `event` (the triggering event,
//! `{name, data, id, ts, user, v}`), `async` (a later event a wait or a cancellation is
//! matched against) and `events` (the events of a batch). JSON maps to CEL as:
//!
//! | JSON                          | CEL      |
//! |-------------------------------|----------|
//! | `null`                        | `null`   |
//! | `true` / `false`              | `bool`   |
//! | integer that fits an `i64`    | `int`    |
//! | integer above `i64::MAX`      | `uint`   |
//! | any other number              | `double` |
//! | string                        | `string` |
//! | array                         | `list`   |
//! | object                        | `map` with `string` keys |
//!
//! so `event.data.amount > 100`, `event.data.tier == 'pro'`, `has(event.data.x)` and
//! `event.name.startsWith('shop/')` read the way they are written. The CEL standard library
//! and the `strings` extension (`lowerAscii`, `upperAscii`, `split`, `replace`, ...) are
//! available.
//!
//! A reference to something the data does not have (`event.data.missing`, an index past the
//! end of a list, a field of a `null`) does not fail a filter: like the Inngest server,
//! [`Expression::matches`] answers `false`, and [`Expression::key`] answers no key.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use cel::objects::{Key, Map};
use cel::{Context, Env, ExecutionError, Program, Value};

/// Why an expression could not be compiled or did not give a usable result.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExpressionError {
    /// The expression is not valid CEL.
    #[error(
        "invalid expression {expression:?}: {message} (expressions are CEL, e.g. \
         \"event.data.amount > 100 && event.data.tier == 'pro'\")"
    )]
    Parse {
        /// The expression as written.
        expression: String,
        /// What the parser found wrong, with line and column.
        message: String,
    },
    /// The expression is valid CEL but evaluating it failed, e.g. it compares a string with a
    /// number, calls an unknown function or names an unknown variable.
    #[error("cannot evaluate expression {expression:?}: {message}")]
    Evaluate {
        /// The expression as written.
        expression: String,
        /// What went wrong.
        message: String,
    },
    /// A filter (`if`) evaluated to something other than `true` or `false`.
    #[error(
        "expression {expression:?} must evaluate to a boolean (true or false), \
         but it evaluated to {found}"
    )]
    NotBoolean {
        /// The expression as written.
        expression: String,
        /// The CEL type and the value it evaluated to, e.g. `int 42`.
        found: String,
    },
}

/// A compiled Inngest expression: its source and the CEL program parsed from it.
///
/// Compile once with [`Expression::compile`] and evaluate as often as needed; it is `Send` and
/// `Sync`, so it can be shared in an `Arc` across tasks.
#[derive(Debug)]
pub(crate) struct Expression {
    /// The expression as written.
    source: String,
    /// The parsed CEL program.
    program: Program,
    /// The depth of the program's tree: deep ones are evaluated on a thread of their own.
    depth: usize,
}

/// What evaluating an expression gave.
enum Outcome {
    /// The value the expression evaluated to.
    Value(Value),
    /// The expression referenced a field (or list element) the data does not have; the
    /// message says which.
    Missing(String),
}

/// The CEL environment every expression is compiled and evaluated in: the standard library
/// and the `strings` extension, built once.
fn env() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    Arc::clone(ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        if env.add_extension(cel::extensions::strings).is_err() {
            // The extension never conflicts with the standard library; should it ever, the
            // standard library alone still evaluates every standard expression.
            env = Env::stdlib();
        }
        Arc::new(env)
    }))
}

impl Expression {
    /// Compiles `source` as a CEL expression.
    ///
    /// Fails with [`ExpressionError::Parse`], quoting the expression and saying what is wrong
    /// and where, if it is not valid CEL (an empty expression included), or if it is too long
    /// ([`MAX_SOURCE_BYTES`]), nests brackets too deeply ([`MAX_BRACKET_NESTING`]) or
    /// compiles to too deep a tree ([`MAX_TREE_DEPTH`]) to be evaluated safely.
    ///
    /// The CEL parser recurses deeply (over 100 KiB of stack per nested bracket in a debug
    /// build), so it runs on a short-lived thread with a [`PARSER_STACK_BYTES`] stack, and the
    /// limits above keep it well within that stack.
    pub(crate) fn compile(source: &str) -> Result<Self, ExpressionError> {
        let parse_error = |message: String| ExpressionError::Parse {
            expression: source.to_owned(),
            message,
        };
        if source.trim().is_empty() {
            return Err(parse_error("the expression is empty".to_owned()));
        }
        if source.len() > MAX_SOURCE_BYTES {
            return Err(parse_error(format!(
                "the expression is {} bytes long, more than the {MAX_SOURCE_BYTES} allowed",
                source.len()
            )));
        }
        let nesting = bracket_nesting(source);
        if nesting > MAX_BRACKET_NESTING {
            return Err(parse_error(format!(
                "brackets nest {nesting} deep, more than the {MAX_BRACKET_NESTING} allowed"
            )));
        }
        let owned = source.to_owned();
        let parsed = std::thread::Builder::new()
            .name("inngest-expr-parse".to_owned())
            .stack_size(PARSER_STACK_BYTES)
            .spawn(move || parse(&owned))
            .map_err(|e| parse_error(format!("cannot start the parser thread: {e}")))?
            .join()
            .map_err(|_| parse_error("the CEL parser failed on it".to_owned()))?;
        let (program, depth) = parsed.map_err(parse_error)?;
        Ok(Self {
            source: source.to_owned(),
            program,
            depth,
        })
    }

    /// The expression as written.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// The parsed tree (for [`crate::matching`] to find an indexable equality).
    pub(crate) fn tree(&self) -> &cel::IdedExpr {
        self.program.expression()
    }

    /// Evaluates the expression as a filter: a trigger's `if`, a wait's or a cancellation's
    /// `if`, or a batch `if`.
    ///
    /// A reference to a field the data does not have (e.g. `event.data.missing`) is a
    /// non-match, `Ok(false)`, as on the Inngest server. A result other than a boolean is
    /// [`ExpressionError::NotBoolean`]; any other failure is [`ExpressionError::Evaluate`].
    pub(crate) fn matches(
        &self,
        vars: &[(&str, &serde_json::Value)],
    ) -> Result<bool, ExpressionError> {
        self.run(vars, |outcome| match outcome {
            Outcome::Missing(_) => Ok(false),
            Outcome::Value(Value::Bool(matched)) => Ok(matched),
            Outcome::Value(other) => Err(ExpressionError::NotBoolean {
                expression: self.source.clone(),
                found: describe(&other),
            }),
        })
    }

    /// Evaluates the expression to JSON: for concurrency, rate limit, throttle, debounce and
    /// idempotency keys, and a priority's `run` (a number of seconds).
    ///
    /// CEL values map back to JSON as they came in; a `timestamp` becomes its RFC 3339 text, a
    /// `duration` its seconds as text (`"90s"`), `bytes` their base64 text, a non-finite
    /// `double` `null`, and map keys their text. A reference to a missing field, like any
    /// other failure, is [`ExpressionError::Evaluate`]; use [`Expression::key`] to tell it
    /// apart.
    pub(crate) fn evaluate(
        &self,
        vars: &[(&str, &serde_json::Value)],
    ) -> Result<serde_json::Value, ExpressionError> {
        self.run(vars, |outcome| match outcome {
            Outcome::Value(value) => {
                to_json(&value).map_err(|message| self.evaluate_error(message))
            }
            Outcome::Missing(message) => Err(self.evaluate_error(format!(
                "it references a field the data does not have ({message})"
            ))),
        })
    }

    /// Evaluates the expression and renders it as a key: a string as it is, anything else as
    /// its JSON text (so `42` gives `"42"` and `null` gives `"null"`).
    ///
    /// A reference to a field the data does not have gives `Ok(None)`: there is no key.
    pub(crate) fn key(
        &self,
        vars: &[(&str, &serde_json::Value)],
    ) -> Result<Option<String>, ExpressionError> {
        self.run(vars, |outcome| match outcome {
            Outcome::Missing(_) => Ok(None),
            Outcome::Value(Value::String(text)) => Ok(Some(text.as_str().to_owned())),
            Outcome::Value(value) => to_json(&value)
                .map(|json| Some(json.to_string()))
                .map_err(|message| self.evaluate_error(message)),
        })
    }

    /// Runs the program with `vars` bound and hands the outcome to `finish`, on this thread
    /// for a shallow program and on a thread with an [`EVALUATOR_STACK_BYTES`] stack for one
    /// deeper than [`INLINE_TREE_DEPTH`] (the interpreter recurses, tens of KiB of stack per
    /// level in a debug build).
    fn run<T: Send>(
        &self,
        vars: &[(&str, &serde_json::Value)],
        finish: impl FnOnce(Outcome) -> Result<T, ExpressionError> + Send,
    ) -> Result<T, ExpressionError> {
        if self.depth <= INLINE_TREE_DEPTH {
            return self.run_here(vars).and_then(finish);
        }
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("inngest-expr-eval".to_owned())
                .stack_size(EVALUATOR_STACK_BYTES)
                .spawn_scoped(scope, || self.run_here(vars).and_then(finish))
                .map_err(|e| {
                    self.evaluate_error(format!("cannot start the evaluator thread: {e}"))
                })?
                .join()
                .map_err(|_| self.evaluate_error("the CEL interpreter failed on it".to_owned()))?
        })
    }

    /// Runs the program with `vars` bound on this thread, telling a missing field apart from
    /// other failures.
    fn run_here(&self, vars: &[(&str, &serde_json::Value)]) -> Result<Outcome, ExpressionError> {
        let mut context = Context::with_env(env());
        for (name, json) in vars {
            let value: Box<dyn cel::common::value::Val> =
                from_json(json).try_into().map_err(|e: ExecutionError| {
                    self.evaluate_error(format!("cannot bind variable `{name}`: {e}"))
                })?;
            context.add_variable_as_val(*name, value);
        }
        let result = catch_unwind(AssertUnwindSafe(|| self.program.execute(&context)))
            .map_err(|_| self.evaluate_error("the CEL interpreter failed on it".to_owned()))?;
        match result {
            Ok(value) => Ok(Outcome::Value(value)),
            Err(error) if is_missing(&error) => Ok(Outcome::Missing(error.to_string())),
            Err(error) => Err(self.evaluate_error(error.to_string())),
        }
    }

    /// An [`ExpressionError::Evaluate`] for this expression.
    fn evaluate_error(&self, message: String) -> ExpressionError {
        ExpressionError::Evaluate {
            expression: self.source.clone(),
            message,
        }
    }
}

/// The longest expression [`Expression::compile`] accepts, in bytes.
pub(crate) const MAX_SOURCE_BYTES: usize = 16 * 1024;
/// How deeply `(`, `[` and `{` may nest in an expression.
pub(crate) const MAX_BRACKET_NESTING: usize = 32;
/// How deep the compiled expression tree may be (`a + b` is two levels deep, `a.b.c` three).
pub(crate) const MAX_TREE_DEPTH: usize = 64;
/// The deepest tree evaluated on the caller's thread; deeper ones get a thread of their own.
/// Real filters and keys are far shallower (`event.data.a == async.data.a && x` is 5 deep).
const INLINE_TREE_DEPTH: usize = 16;
/// The stack of the thread that parses an expression.
const PARSER_STACK_BYTES: usize = 64 * 1024 * 1024;
/// The stack of the thread that evaluates a tree deeper than [`INLINE_TREE_DEPTH`].
const EVALUATOR_STACK_BYTES: usize = 32 * 1024 * 1024;

/// Parses `source` (on the parser thread) and checks the depth of its tree, so that a tree
/// too deep to evaluate is also dropped there.
fn parse(source: &str) -> Result<(Program, usize), String> {
    let compiled = catch_unwind(AssertUnwindSafe(|| env().compile(source)))
        .map_err(|_| "the CEL parser failed on it".to_owned())?;
    let program = compiled.map_err(|errors| {
        let message = errors
            .errors
            .iter()
            .map(|e| format!("at {}:{}: {}", e.pos.0, e.pos.1, e.msg))
            .collect::<Vec<_>>()
            .join("; ");
        if message.is_empty() {
            "not a valid CEL expression".to_owned()
        } else {
            message
        }
    })?;
    let depth = tree_depth(program.expression());
    if depth > MAX_TREE_DEPTH {
        return Err(format!(
            "the expression is {depth} levels deep, more than the {MAX_TREE_DEPTH} allowed; \
             split long chains of operators or nested calls"
        ));
    }
    Ok((program, depth))
}

/// The depth of an expression tree, walked without recursion.
fn tree_depth(root: &cel::IdedExpr) -> usize {
    use cel::common::ast::{EntryExpr, Expr};
    let mut deepest = 0;
    let mut pending: Vec<(&cel::IdedExpr, usize)> = vec![(root, 1)];
    while let Some((node, depth)) = pending.pop() {
        deepest = deepest.max(depth);
        let below = depth + 1;
        match &node.expr {
            Expr::Call(call) => {
                pending.extend(call.target.as_deref().map(|t| (t, below)));
                pending.extend(call.args.iter().map(|a| (a, below)));
            }
            Expr::Comprehension(c) => pending.extend(
                [
                    &c.iter_range,
                    &c.accu_init,
                    &c.loop_cond,
                    &c.loop_step,
                    &c.result,
                ]
                .map(|e| (e, below)),
            ),
            Expr::List(list) => pending.extend(list.elements.iter().map(|e| (e, below))),
            Expr::Map(map) => {
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(e) = &entry.expr {
                        pending.push((&e.key, below));
                        pending.push((&e.value, below));
                    }
                }
            }
            Expr::Struct(st) => {
                for entry in &st.entries {
                    match &entry.expr {
                        EntryExpr::StructField(f) => pending.push((&f.value, below)),
                        EntryExpr::MapEntry(e) => {
                            pending.push((&e.key, below));
                            pending.push((&e.value, below));
                        }
                    }
                }
            }
            Expr::Select(select) => pending.push((&select.operand, below)),
            Expr::Unspecified | Expr::Ident(_) | Expr::Literal(_) => {}
        }
    }
    deepest
}

/// How deeply `(`, `[` and `{` nest in `source`, outside string literals.
fn bracket_nesting(source: &str) -> usize {
    let mut deepest = 0usize;
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in source.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Whether `error` means the expression reached for something the data does not have: a
/// missing map key, an index past the end of a list, or a field or index of a `null` (as
/// `event.data.user.id` when `user` is `null`).
fn is_missing(error: &ExecutionError) -> bool {
    match error {
        ExecutionError::NoSuchKey(_) | ExecutionError::IndexOutOfBounds(_) => true,
        ExecutionError::NoSuchOverload(overload) => {
            matches!(overload.function(), "_._" | "_[_]")
                && overload.argument_types().first().map(String::as_str) == Some("null_type")
        }
        _ => false,
    }
}

/// Converts JSON to the CEL value it reads as (see the module docs for the mapping).
fn from_json(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                Value::UInt(u)
            } else {
                n.as_f64().map_or(Value::Null, Value::Float)
            }
        }
        serde_json::Value::String(s) => Value::String(Arc::new(s.clone())),
        serde_json::Value::Array(items) => {
            Value::List(Arc::new(items.iter().map(from_json).collect()))
        }
        serde_json::Value::Object(fields) => {
            let map: HashMap<Key, Value> = fields
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), from_json(v)))
                .collect();
            Value::Map(Map { map: Arc::new(map) })
        }
    }
}

/// Converts a CEL result back to JSON, or says why it cannot be.
fn to_json(value: &Value) -> Result<serde_json::Value, String> {
    Ok(match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::UInt(u) => serde_json::Value::from(*u),
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::String(s) => serde_json::Value::String(s.as_str().to_owned()),
        Value::Bytes(bytes) => serde_json::Value::String(
            base64::engine::general_purpose::STANDARD.encode(bytes.as_slice()),
        ),
        Value::Timestamp(ts) => serde_json::Value::String(ts.to_rfc3339()),
        Value::Duration(d) => {
            let seconds = d.num_milliseconds() as f64 / 1000.0;
            serde_json::Value::String(format!("{seconds}s"))
        }
        Value::List(items) => {
            serde_json::Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Value::Map(map) => {
            let mut object = serde_json::Map::new();
            for (key, item) in map.map.iter() {
                let key = match key {
                    Key::String(s) => s.as_str().to_owned(),
                    Key::Int(i) => i.to_string(),
                    Key::Uint(u) => u.to_string(),
                    Key::Bool(b) => b.to_string(),
                };
                object.insert(key, to_json(item)?);
            }
            serde_json::Value::Object(object)
        }
        other => {
            return Err(format!(
                "its result, of type {}, has no JSON form",
                other.type_of()
            ));
        }
    })
}

/// The CEL type of `value` and the value itself, for error messages: `int 42`. Long values
/// are cut after 200 characters.
fn describe(value: &Value) -> String {
    const LIMIT: usize = 200;
    match to_json(value) {
        Ok(json) => {
            let text = json.to_string();
            match text.char_indices().nth(LIMIT) {
                Some((cut, _)) => format!("{} {}...", value.type_of(), &text[..cut]),
                None => format!("{} {text}", value.type_of()),
            }
        }
        Err(_) => format!("a value of type {}", value.type_of()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use serde_json::json;

    /// An event as the executor binds it.
    fn event(name: &str, data: serde_json::Value) -> serde_json::Value {
        json!({"name": name, "data": data, "id": "01J", "ts": 1_700_000_000_000_i64, "user": {}, "v": "1"})
    }

    /// Compiles and matches `source` against `event` only.
    fn matches(source: &str, ev: &serde_json::Value) -> Result<bool, ExpressionError> {
        Expression::compile(source)
            .unwrap()
            .matches(&[("event", ev)])
    }

    #[test]
    fn expression_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Expression>();
        assert_send_sync::<Arc<Expression>>();
    }

    #[test]
    fn compares_numbers_strings_and_names() {
        let ev = event(
            "shop/order.created",
            json!({"amount": 150, "tier": "pro", "price": 99.5}),
        );
        assert!(matches("event.data.amount > 100", &ev).unwrap());
        assert!(!matches("event.data.amount > 200", &ev).unwrap());
        assert!(matches("event.data.amount == 150", &ev).unwrap());
        assert!(matches("event.data.tier == 'pro'", &ev).unwrap());
        assert!(!matches("event.data.tier == 'free'", &ev).unwrap());
        assert!(matches("event.data.price < 100.0", &ev).unwrap());
        assert!(matches("event.name.startsWith('shop/')", &ev).unwrap());
        assert!(!matches("event.name.startsWith('billing/')", &ev).unwrap());
        assert!(matches("event.data.tier.upperAscii() == 'PRO'", &ev).unwrap());
        assert!(matches("event.data.tier in ['pro', 'enterprise']", &ev).unwrap());
    }

    #[test]
    fn mixed_int_and_double_compare_by_value() {
        let ev = event("a", json!({"amount": 150.5, "count": 3}));
        assert!(matches("event.data.amount > 100", &ev).unwrap());
        assert!(!matches("event.data.amount < 100", &ev).unwrap());
        assert!(matches("event.data.count < 3.5", &ev).unwrap());
    }

    #[test]
    fn matches_event_against_async_event() {
        let trigger = event("order/created", json!({"id": 42, "user_id": "u1"}));
        let later = event("order/paid", json!({"id": 42, "user_id": "u1", "ok": true}));
        let other = event("order/paid", json!({"id": 43, "user_id": "u2", "ok": true}));
        let not_ok = event(
            "order/paid",
            json!({"id": 42, "user_id": "u1", "ok": false}),
        );

        let same_id = Expression::compile("event.data.id == async.data.id").unwrap();
        assert!(
            same_id
                .matches(&[("event", &trigger), ("async", &later)])
                .unwrap()
        );
        assert!(
            !same_id
                .matches(&[("event", &trigger), ("async", &other)])
                .unwrap()
        );

        let both = Expression::compile("async.data.user_id == event.data.user_id && async.data.ok")
            .unwrap();
        assert!(
            both.matches(&[("event", &trigger), ("async", &later)])
                .unwrap()
        );
        assert!(
            !both
                .matches(&[("event", &trigger), ("async", &other)])
                .unwrap()
        );
        assert!(
            !both
                .matches(&[("event", &trigger), ("async", &not_ok)])
                .unwrap()
        );
    }

    #[test]
    fn large_unsigned_ids_compare_equal() {
        let a = event("a", json!({"id": u64::MAX}));
        let b = event("b", json!({"id": u64::MAX}));
        let same = Expression::compile("event.data.id == async.data.id").unwrap();
        assert!(same.matches(&[("event", &a), ("async", &b)]).unwrap());
    }

    #[test]
    fn has_tests_field_presence() {
        let ev = event("a", json!({"x": null, "nested": {"y": 1}}));
        assert!(matches("has(event.data.x)", &ev).unwrap());
        assert!(!matches("has(event.data.z)", &ev).unwrap());
        assert!(matches("has(event.data.nested.y)", &ev).unwrap());
        assert!(matches("!has(event.data.z) || event.data.z > 1", &ev).unwrap());
    }

    #[test]
    fn missing_field_is_a_non_match_not_an_error() {
        let ev = event("a", json!({"amount": 5}));
        assert!(!matches("event.data.missing == 'x'", &ev).unwrap());
        assert!(!matches("event.data.missing > 1", &ev).unwrap());
        assert!(!matches("event.data.deep.missing.field", &ev).unwrap());
        assert!(!matches("event.data['missing'] == 1", &ev).unwrap());
        let ev = event("a", json!({"items": [1, 2]}));
        assert!(!matches("event.data.items[5] == 1", &ev).unwrap());
        assert!(matches("event.data.items[1] == 2", &ev).unwrap());
        // A field of a null is missing too.
        let ev = event("a", json!({"user": null}));
        assert!(!matches("event.data.user.id == 'u1'", &ev).unwrap());
        assert!(!matches("event.data.user['id'] == 'u1'", &ev).unwrap());
        assert!(!matches("has(event.data.user.id)", &ev).unwrap());
        assert!(matches("event.data.user == null", &ev).unwrap());
        // ...but a field of a string or a number is a type error.
        let ev = event("a", json!({"s": "text", "n": 1}));
        assert!(matches!(
            matches("event.data.s.id == 'x'", &ev),
            Err(ExpressionError::Evaluate { .. })
        ));
        assert!(matches!(
            matches("event.data.n.id == 1", &ev),
            Err(ExpressionError::Evaluate { .. })
        ));
    }

    #[test]
    fn non_boolean_filter_is_an_error_naming_the_value() {
        let ev = event("a", json!({"amount": 5}));
        let err = matches("event.data.amount + 1", &ev).unwrap_err();
        match &err {
            ExpressionError::NotBoolean { expression, found } => {
                assert_eq!(expression, "event.data.amount + 1");
                assert_eq!(found, "int 6");
            }
            other => panic!("expected NotBoolean, got {other:?}"),
        }
        assert!(
            err.to_string().contains("\"event.data.amount + 1\""),
            "{err}"
        );
        assert!(matches!(
            matches("event.data", &ev),
            Err(ExpressionError::NotBoolean { .. })
        ));
        let big = event("a", json!({"text": "y".repeat(1000)}));
        match matches("event.data.text", &big) {
            Err(ExpressionError::NotBoolean { found, .. }) => {
                assert_eq!(found, format!("string \"{}...", "y".repeat(199)));
            }
            other => panic!("expected NotBoolean, got {other:?}"),
        }
    }

    #[test]
    fn type_errors_and_unknown_names_are_evaluate_errors() {
        let ev = event("a", json!({"amount": "lots"}));
        for source in [
            "event.data.amount > 100",
            "nope == 1",
            "event.data.amount.nosuchfn()",
        ] {
            let err = matches(source, &ev).unwrap_err();
            assert!(
                matches!(&err, ExpressionError::Evaluate { expression, .. } if expression == source),
                "{source}: {err:?}"
            );
            assert!(err.to_string().contains(source), "{err}");
        }
    }

    #[test]
    fn garbage_never_compiles_and_never_panics() {
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        let long_chain = format!("event{}", ".a".repeat(5000));
        let garbage = [
            "",
            "   ",
            "event.data.amount >",
            "&& ||",
            "event.data.",
            "'unterminated",
            "((((",
            ")",
            "1 +",
            "event[",
            "@#$%^",
            "\u{0}\u{1}",
            "événement == 'ü' &&",
            "}{",
            deep.as_str(),
        ];
        for source in garbage {
            let err = Expression::compile(source).err();
            let Some(err) = err else {
                panic!("{source:?} compiled");
            };
            assert!(
                matches!(err, ExpressionError::Parse { .. }),
                "{source:?}: {err:?}"
            );
            assert!(err.to_string().starts_with("invalid expression"), "{err}");
        }
        // Valid syntax with nonsense at run time fails without panicking.
        let ev = event("a", json!({}));
        for source in [
            long_chain.as_str(),
            "1 / 0 == 1",
            "9223372036854775807 + 1 == 0",
            "'abc'.matches('[') ",
            "size(event) / 0 > 1",
            "event.data.x.y.z[0]['k'] == 1",
            "int('x') == 1",
            "[1, 2][-1] == 1",
        ] {
            if let Ok(expression) = Expression::compile(source) {
                let _ = expression.matches(&[("event", &ev)]);
                let _ = expression.evaluate(&[("event", &ev)]);
                let _ = expression.key(&[("event", &ev)]);
            }
        }
    }

    /// Runs `f` on a thread with a 1 MiB stack, half a tokio worker's.
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    /// Expression shapes that grow deeper with `k`.
    fn deep_shape(shape: usize, k: usize) -> Option<String> {
        let nest = |open: &str, inner: &str, close: &str| {
            format!("{}{inner}{}", open.repeat(k), close.repeat(k))
        };
        Some(match shape {
            0 => format!("1{} > 0", " + 1".repeat(k)),
            1 => format!("event.data.l{} == 1", "[0]".repeat(k)),
            2 => format!("{} == 1", nest("size(", "[1]", ")")),
            3 => format!("{} == 1", nest("[", "1", "]")),
            4 => format!("{} == 1", nest("{'a': ", "1", "}")),
            5 => format!("{}true", "!".repeat(k)),
            6 => format!("{}1 == 1", "-".repeat(k)),
            7 => format!("{} == 1", nest("true ? (", "1", ") : 0")),
            8 => nest("[1].all(x, ", "x > 0", ")"),
            9 => nest("[1].exists(x, ", "x > 0", ")"),
            10 => format!("size({}) > 0", nest("[1].map(x, ", "x", ")")),
            11 => format!("has(event{})", ".data".repeat(k)),
            12 => format!("true{}", " && true".repeat(k)),
            13 => format!("false{}", " || event.data.x > 1".repeat(k)),
            14 => format!("'a'{} == ''", " + event.name".repeat(k)),
            15 => format!("event.data.x{} > 0", " * event.data.x - 1".repeat(k)),
            _ => return None,
        })
    }

    /// The deepest expression of `shape` that compiles with a tree at most `depth` deep.
    fn deepest(shape: usize, depth: usize) -> Option<Expression> {
        let fits = |k: usize| {
            deep_shape(shape, k)
                .and_then(|source| Expression::compile(&source).ok())
                .filter(|expression| expression.depth <= depth)
        };
        let mut best = fits(1)?;
        let (mut low, mut high) = (1, 4096);
        while low + 1 < high {
            let mid = (low + high) / 2;
            match fits(mid) {
                Some(expression) => {
                    best = expression;
                    low = mid;
                }
                None => high = mid,
            }
        }
        Some(best)
    }

    #[test]
    fn deepest_accepted_expressions_evaluate_on_a_small_stack() {
        let mut shapes = 0;
        for limit in [INLINE_TREE_DEPTH, MAX_TREE_DEPTH] {
            for shape in 0.. {
                if deep_shape(shape, 1).is_none() {
                    break;
                }
                let expression = deepest(shape, limit).expect("one level compiles");
                assert!(expression.depth <= limit);
                shapes += 1;
                on_small_stack(move || {
                    let ev = event("a", json!({"l": [[[[1]]]], "x": 5}));
                    let vars: [(&str, &serde_json::Value); 1] = [("event", &ev)];
                    let _ = expression.matches(&vars);
                    let _ = expression.evaluate(&vars);
                    let _ = expression.key(&vars);
                });
            }
        }
        assert_eq!(shapes, 32);
        // A deep one still gives the right answer on its own thread.
        let deep = Expression::compile(&format!("1{} == 41", " + 1".repeat(40))).unwrap();
        assert!(deep.depth > INLINE_TREE_DEPTH);
        assert!(deep.matches(&[]).unwrap());
    }

    #[test]
    fn too_deep_or_too_long_is_a_parse_error() {
        let deep_tree = format!("1{} > 0", " + 1".repeat(MAX_TREE_DEPTH));
        let deep_brackets = format!(
            "{}1{} == 1",
            "(".repeat(MAX_BRACKET_NESTING + 1),
            ")".repeat(MAX_BRACKET_NESTING + 1)
        );
        let long = format!("'{}' == ''", "x".repeat(MAX_SOURCE_BYTES));
        for source in [deep_tree, deep_brackets, long] {
            let err = on_small_stack(move || Expression::compile(&source).err());
            assert!(
                matches!(err, Some(ExpressionError::Parse { .. })),
                "{err:?}"
            );
        }
        // Brackets inside string literals do not count.
        let quoted = format!("event.name == '{}'", "(".repeat(100));
        assert!(Expression::compile(&quoted).is_ok());
        assert_eq!(bracket_nesting(r#"f("(\"(", [1]) && '[[[' == ""#), 2);
    }

    #[test]
    fn deep_json_is_bound_and_rendered_on_a_small_stack() {
        // serde_json parses at most 128 levels deep.
        let text = format!("{}1{}", "{\"a\":".repeat(127), "}".repeat(127));
        let data: serde_json::Value = serde_json::from_str(&text).unwrap();
        let key = on_small_stack(move || {
            let ev = event("a", data);
            let expression = Expression::compile("event.data.a.a").unwrap();
            assert!(expression.matches(&[("event", &ev)]).is_err());
            expression.key(&[("event", &ev)]).unwrap()
        });
        assert!(key.unwrap().starts_with(r#"{"a":{"a":"#));
    }

    #[test]
    fn parse_error_quotes_the_expression_and_the_position() {
        let err = Expression::compile("event.data.amount >").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"event.data.amount >\""), "{text}");
        // Line 1, column 20: the end of the 19-character expression.
        assert!(text.contains("at 1:20: "), "{text}");
    }

    #[test]
    fn evaluate_gives_json() {
        let ev = event("a", json!({"customer": {"id": "c1"}, "n": 3, "ratio": 0.5}));
        let vars: [(&str, &serde_json::Value); 1] = [("event", &ev)];
        let eval = |s: &str| Expression::compile(s).unwrap().evaluate(&vars).unwrap();
        assert_eq!(eval("event.data.customer.id"), json!("c1"));
        assert_eq!(eval("event.data.n * 60"), json!(180));
        assert_eq!(eval("event.data.ratio * 2.0"), json!(1.0));
        assert_eq!(eval("event.data.customer"), json!({"id": "c1"}));
        assert_eq!(
            eval("[event.data.n, 'x', null, true]"),
            json!([3, "x", null, true])
        );
        assert_eq!(eval("event.data.n > 2 ? 120 : 0"), json!(120));
        assert_eq!(eval("duration('90s')"), json!("90s"));
        assert_eq!(eval("b'hi'"), json!("aGk="));
        let err = Expression::compile("event.data.missing")
            .unwrap()
            .evaluate(&vars)
            .unwrap_err();
        assert!(matches!(err, ExpressionError::Evaluate { .. }), "{err:?}");
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn key_renders_strings_as_is_and_others_as_json() {
        let ev = event(
            "a",
            json!({"customer": {"id": "c1", "n": 7}, "tags": ["a", "b"]}),
        );
        let vars: [(&str, &serde_json::Value); 1] = [("event", &ev)];
        let key = |s: &str| Expression::compile(s).unwrap().key(&vars).unwrap();
        assert_eq!(key("event.data.customer.id"), Some("c1".to_owned()));
        assert_eq!(key("event.data.customer.n"), Some("7".to_owned()));
        assert_eq!(key("event.data.tags"), Some(r#"["a","b"]"#.to_owned()));
        assert_eq!(
            key("event.data.customer.id + '-' + event.name"),
            Some("c1-a".to_owned())
        );
        assert_eq!(key("event.data.missing"), None);
        assert_eq!(key("event.data.customer.missing.deeper"), None);
        assert!(
            Expression::compile("event.data.customer.id > 1")
                .unwrap()
                .key(&vars)
                .is_err()
        );
    }

    #[test]
    fn batch_keys_see_the_events_list() {
        let events = json!([event("a", json!({"n": 1})), event("a", json!({"n": 5})),]);
        let vars: [(&str, &serde_json::Value); 1] = [("events", &events)];
        let any_big = Expression::compile("events.exists(e, e.data.n > 3)").unwrap();
        assert!(any_big.matches(&vars).unwrap());
        let all_big = Expression::compile("events.all(e, e.data.n > 3)").unwrap();
        assert!(!all_big.matches(&vars).unwrap());
        let count = Expression::compile("size(events)").unwrap();
        assert_eq!(count.evaluate(&vars).unwrap(), json!(2));
    }

    #[test]
    fn source_is_kept_verbatim() {
        let source = "  event.name == 'a'  ";
        assert_eq!(Expression::compile(source).unwrap().source(), source);
    }

    #[test]
    fn shared_across_threads() {
        let expression = Arc::new(Expression::compile("event.data.n % 2 == 0").unwrap());
        let handles: Vec<_> = (0..4)
            .map(|n| {
                let expression = Arc::clone(&expression);
                std::thread::spawn(move || {
                    let ev = event("a", json!({"n": n}));
                    expression.matches(&[("event", &ev)]).unwrap()
                })
            })
            .collect();
        let results: Vec<bool> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results, vec![true, false, true, false]);
    }
}

/// Property tests: any expression text (grammar-built, mutated, deeply nested, with huge
/// literals) compiles or is refused with a parse error, and a compiled expression evaluated
/// against any event JSON answers a value or a typed error, never a panic or a stack
/// overflow.
#[cfg(test)]
mod properties {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;
    use serde_json::json;

    use crate::test_support::proptest_config as config;

    /// Text inside a string literal: plain, escapes (valid and not), quotes, non-ASCII.
    fn literal_text() -> BoxedStrategy<String> {
        prop_oneof![
            4 => "[a-z0-9 ._/-]{0,10}",
            1 => "\\PC{0,10}",
            1 => prop::sample::select(vec![
                "\\\\", "\\'", "\\\"", "\\n", "\\x41", "\\u00e9", "\\U0001F600", "\\q", "\\x",
                "\\u12", "\\777", "\\0", "(", "[", "\\uD800", "é€𝄞",
            ])
            .prop_map(str::to_owned),
        ]
        .boxed()
    }

    /// Literals, identifiers, field paths and calls: the leaves of generated expressions.
    fn atom() -> BoxedStrategy<String> {
        let path_part = prop::sample::select(vec![
            ".data",
            ".name",
            ".id",
            ".ts",
            ".v",
            ".user",
            ".x",
            ".y",
            ".n",
            ".amount",
            ".tier",
            ".items",
            ".missing",
            "[0]",
            "[1]",
            "[-1]",
            "['x']",
            "['data']",
            "[9223372036854775807]",
            "[18446744073709551615u]",
            "[1.5]",
            "[true]",
            "[null]",
        ]);
        let path = (
            prop::sample::select(vec![
                "event",
                "async",
                "events",
                "nope",
                "event.data",
                "events[0]",
            ]),
            prop::collection::vec(path_part, 0..4),
        )
            .prop_map(|(root, parts)| format!("{root}{}", parts.concat()));
        prop_oneof![
            3 => path,
            2 => any::<i64>().prop_map(|n| n.to_string()),
            1 => any::<u64>().prop_map(|n| format!("{n}u")),
            1 => any::<f64>().prop_map(|f| format!("{f:?}")),
            1 => prop::sample::select(vec![
                "9223372036854775807", "-9223372036854775808", "9223372036854775808",
                "-9223372036854775809", "18446744073709551615u", "18446744073709551616u",
                "0x7fffffffffffffff", "-0x8000000000000000", "0xffffffffffffffffu", "1e308",
                "1e309", "-1e309", "1.7976931348623157e308", "5e-324", "0.", ".5", "1.e5",
                "99999999999999999999999999", "true", "false", "null", "[]", "{}",
            ])
            .prop_map(str::to_owned),
            2 => (prop::sample::select(vec!["'", "\"", "b'", "r'", "'''", "\"\"\""]), literal_text())
                .prop_map(|(quote, text)| {
                    let close = quote.trim_start_matches(['b', 'r']);
                    format!("{quote}{text}{close}")
                }),
            1 => (
                prop::sample::select(vec![
                    "duration", "timestamp", "int", "uint", "double", "string", "bytes", "size",
                    "dyn", "type",
                ]),
                prop_oneof![
                    prop::sample::select(vec![
                        "'1s'", "'-1s'", "'999999999999999999h'", "'9223372036854775807s'",
                        "'1.5h'", "'10000000000000000000000ns'", "'0001-01-01T00:00:00Z'",
                        "'9999-12-31T23:59:59Z'", "'10000-01-01T00:00:00Z'", "'not a time'",
                        "1e300", "-1e300", "-1", "18446744073709551615u", "9223372036854775807",
                        "-9223372036854775808", "'9223372036854775808'", "'-1'", "'x'", "b'\\xff'",
                        "event", "event.data", "event.ts", "[1, 2]",
                    ])
                    .prop_map(str::to_owned),
                    any::<i64>().prop_map(|n| n.to_string()),
                ],
            )
                .prop_map(|(function, argument)| format!("{function}({argument})")),
        ]
        .boxed()
    }

    /// Expressions built from the grammar, a few levels deep.
    fn grammar() -> BoxedStrategy<String> {
        atom()
            .prop_recursive(5, 48, 4, |inner| {
                let binary = prop::sample::select(vec![
                    " + ", " - ", " * ", " / ", " % ", " == ", " != ", " < ", " <= ", " > ",
                    " >= ", " && ", " || ", " in ",
                ]);
                let method = prop::sample::select(vec![
                    "startsWith",
                    "endsWith",
                    "contains",
                    "matches",
                    "size",
                    "lowerAscii",
                    "upperAscii",
                    "split",
                    "replace",
                    "indexOf",
                    "substring",
                    "charAt",
                    "join",
                    "trim",
                    "getSeconds",
                    "getFullYear",
                    "nosuch",
                ]);
                let macro_name =
                    prop::sample::select(vec!["all", "exists", "exists_one", "map", "filter"]);
                prop_oneof![
                    (inner.clone(), binary, inner.clone())
                        .prop_map(|(a, op, b)| format!("{a}{op}{b}")),
                    (
                        prop::sample::select(vec!["!", "-", "!!", "--"]),
                        inner.clone()
                    )
                        .prop_map(|(op, a)| format!("{op}{a}")),
                    (inner.clone(), inner.clone(), inner.clone())
                        .prop_map(|(c, a, b)| format!("{c} ? {a} : {b}")),
                    inner.clone().prop_map(|a| format!("({a})")),
                    prop::collection::vec(inner.clone(), 0..3)
                        .prop_map(|items| format!("[{}]", items.join(", "))),
                    (inner.clone(), inner.clone()).prop_map(|(k, v)| format!("{{{k}: {v}}}")),
                    (
                        inner.clone(),
                        method,
                        prop::collection::vec(inner.clone(), 0..3)
                    )
                        .prop_map(|(target, method, args)| format!(
                            "{target}.{method}({})",
                            args.join(", ")
                        )),
                    (inner.clone(), macro_name, inner.clone())
                        .prop_map(|(range, name, body)| format!("{range}.{name}(x, {body})")),
                    inner.prop_map(|a| format!("has({a})")),
                ]
            })
            .boxed()
    }

    /// Deep shapes near and past the limits: chains, nesting and repetition that a
    /// recursive parser or evaluator could overflow its stack on.
    fn deep() -> BoxedStrategy<String> {
        let unit = prop::sample::select(vec![
            ("(", ")"),
            ("[", "]"),
            ("{1: ", "}"),
            ("size(", ")"),
            ("true ? ", " : 0"),
            ("1 == 1 ? 1 : ", ""),
            ("!", ""),
            ("-", ""),
            ("1 + ", ""),
            ("true && ", ""),
            ("false || ", ""),
            ("", ".x"),
            ("", "[0]"),
            ("", ".size()"),
            ("[1].map(x, ", ")"),
            ("[1].all(x, ", ")"),
            ("'a' + ", ""),
            ("1 < ", ""),
            ("1 in ", ""),
        ]);
        (
            unit,
            prop_oneof![0..80usize, 80..3_000usize],
            prop::sample::select(vec!["1", "true", "event", "event.data.x", "[1]", "'s'"]),
        )
            .prop_map(|((open, close), k, core)| {
                format!("{}{core}{}", open.repeat(k), close.repeat(k))
            })
            .boxed()
    }

    /// `source` with random characters inserted, replaced or removed.
    fn mutated(source: BoxedStrategy<String>) -> BoxedStrategy<String> {
        (
            source,
            prop::collection::vec((any::<Index>(), prop::char::any(), 0..3u8), 1..4),
        )
            .prop_map(|(source, edits)| {
                let mut chars: Vec<char> = source.chars().collect();
                for (at, c, edit) in edits {
                    let i = at.index(chars.len() + 1);
                    match edit {
                        0 => chars.insert(i, c),
                        1 if i < chars.len() => chars[i] = c,
                        _ if i < chars.len() => {
                            chars.remove(i);
                        }
                        _ => chars.push(c),
                    }
                }
                chars.into_iter().collect()
            })
            .boxed()
    }

    /// Every kind of expression text.
    fn expression_text() -> BoxedStrategy<String> {
        prop_oneof![
            5 => grammar(),
            2 => mutated(grammar()),
            2 => deep(),
            1 => "\\PC{0,40}",
            1 => "[()\\[\\]{}.,!?:'\"a-z0-9 +*/%<>=&|-]{0,60}",
        ]
        .boxed()
    }

    /// Keys an event's data may have, the ones expressions name among them.
    fn key() -> BoxedStrategy<String> {
        prop_oneof![
            4 => prop::sample::select(vec!["x", "y", "n", "amount", "tier", "items", "user", "id", "data", "name"])
                .prop_map(str::to_owned),
            1 => "\\PC{0,8}",
        ]
        .boxed()
    }

    /// Arbitrary JSON, numbers at the ends of their ranges included.
    fn json_value() -> BoxedStrategy<serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            prop::sample::select(vec![
                json!(i64::MIN),
                json!(i64::MAX),
                json!(u64::MAX),
                json!(0),
                json!(-1),
                json!(1e308),
                json!(-1e308),
                json!(5e-324),
                json!(0.5),
            ]),
            "\\PC{0,16}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
                prop::collection::vec((key(), inner), 0..5)
                    .prop_map(|pairs| serde_json::Value::Object(pairs.into_iter().collect())),
            ]
        })
        .boxed()
    }

    /// An event as the executor binds it, or (now and then) any JSON at all.
    fn event_value() -> BoxedStrategy<serde_json::Value> {
        let event = (
            "\\PC{0,12}",
            json_value(),
            prop_oneof![
                any::<i64>().prop_map(serde_json::Value::from),
                json_value(),
            ],
        )
            .prop_map(|(name, data, ts)| {
                json!({"name": name, "data": data, "id": "01J", "ts": ts, "user": {}, "v": "1"})
            });
        prop_oneof![4 => event, 1 => json_value()].boxed()
    }

    /// Checks an evaluation's outcome: a value or a typed error quoting the expression.
    fn check(expression: &Expression, event: &serde_json::Value, later: &serde_json::Value) {
        let events = serde_json::Value::Array(vec![event.clone(), later.clone()]);
        let vars: [(&str, &serde_json::Value); 3] =
            [("event", event), ("async", later), ("events", &events)];
        let source = expression.source();
        for outcome in [
            expression.matches(&vars).map(|_| ()),
            expression.evaluate(&vars).map(|_| ()),
            expression.key(&vars).map(|_| ()),
        ] {
            match outcome {
                Ok(()) => {}
                Err(ExpressionError::Evaluate {
                    expression,
                    message,
                }) => {
                    assert_eq!(expression, source);
                    // The interpreter's panics are caught and reported as this message:
                    // none must happen.
                    assert!(
                        !message.contains("failed on it"),
                        "{source:?} panicked in the interpreter"
                    );
                }
                Err(ExpressionError::NotBoolean { expression, found }) => {
                    assert_eq!(expression, source);
                    assert!(found.chars().count() < 260, "{found}");
                }
                Err(other) => panic!("{source:?}: unexpected {other:?}"),
            }
        }
    }

    proptest! {
        #![proptest_config(config(2000))]

        /// Any text: `compile` answers an expression or a parse error that quotes it (the
        /// parser never panics); a compiled one evaluates against any event.
        #[test]
        fn any_text_compiles_or_is_a_parse_error(
            source in expression_text(),
            event in event_value(),
            later in event_value(),
        ) {
            match Expression::compile(&source) {
                Ok(expression) => {
                    prop_assert_eq!(expression.source(), source.as_str());
                    prop_assert!(expression.depth <= MAX_TREE_DEPTH);
                    check(&expression, &event, &later);
                }
                Err(ExpressionError::Parse { expression, message }) => {
                    prop_assert_eq!(&expression, &source);
                    prop_assert!(!message.contains("failed on it"), "{:?}: the parser panicked", source);
                    let text = ExpressionError::Parse { expression, message }.to_string();
                    prop_assert!(text.starts_with("invalid expression"), "{}", text);
                }
                Err(other) => prop_assert!(false, "{:?}: unexpected {:?}", source, other),
            }
        }
    }

    /// Filters and keys as functions declare them, compiled once.
    fn realistic() -> &'static [Expression] {
        static COMPILED: OnceLock<Vec<Expression>> = OnceLock::new();
        COMPILED.get_or_init(|| {
            [
                "event.data.amount > 100",
                "event.data.x == async.data.x",
                "event.data.tier == 'pro' && event.data.amount >= 10.5",
                "event.data.n + 1 > 0",
                "event.data.n * event.data.n",
                "event.data.n - 1",
                "-event.data.n",
                "event.data.n / event.data.y",
                "event.data.n % event.data.y",
                "event.data.amount * 1000u",
                "int(event.data.x)",
                "uint(event.data.x)",
                "double(event.data.x)",
                "string(event.data.x)",
                "duration(event.data.x)",
                "timestamp(event.data.x)",
                "timestamp(event.ts)",
                "event.ts + 1",
                "size(event.data)",
                "size(event.data.items) > 0",
                "event.data.items[0]",
                "event.data.items[event.data.n]",
                "event.data[event.name]",
                "has(event.data.user.id)",
                "event.name.startsWith('shop/')",
                "event.data.x.matches(event.data.y)",
                "event.data.x.lowerAscii()",
                "event.data.x.split(',')",
                "event.data.x.substring(event.data.n)",
                "event.data.x in event.data.items",
                "event.data.items.all(i, i > 0)",
                "event.data.items.map(i, i * 2)",
                "events.exists(e, e.data.n > 3)",
                "events.map(e, e.data)",
                "event.data",
                "event",
                "[event.data.x, async.data.y]",
                "{event.data.x: 1}",
                "event.data.x == 1 ? event.data.y : event.data.n",
                "event.data.user.id + '-' + event.name",
                "async.data.x == event.data.x && async.name == event.name",
            ]
            .into_iter()
            .map(|source| Expression::compile(source).unwrap())
            .collect()
        })
    }

    proptest! {
        #![proptest_config(config(2000))]

        /// Any event JSON (numbers at the ends of their ranges, wrong types, missing fields):
        /// every realistic filter and key answers a value or a typed error.
        #[test]
        fn realistic_expressions_take_any_event(
            event in event_value(),
            later in event_value(),
            which in any::<Index>(),
        ) {
            let expressions = realistic();
            let expression = which.get(expressions);
            check(expression, &event, &later);
        }

        /// Round trip: JSON read as CEL and back is the same JSON; `describe` shows at most
        /// 200 characters of it.
        #[test]
        fn json_round_trips_through_cel(value in json_value()) {
            let cel = from_json(&value);
            prop_assert_eq!(to_json(&cel).unwrap(), value);
            let shown = describe(&cel);
            prop_assert!(shown.chars().count() <= 200 + "string ...".len() + 4, "{}", shown);
        }

        /// Any text: the bracket count outside quotes is at most the number of brackets.
        #[test]
        fn bracket_nesting_takes_any_text(source in expression_text()) {
            let brackets = source.chars().filter(|c| "([{".contains(*c)).count();
            prop_assert!(bracket_nesting(&source) <= brackets);
        }
    }
}
