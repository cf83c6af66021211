//! Property tests through the public API: the Event API's batch path ([`Executor::send`]):
//! any batch of JSON values (names, ids and `ts` of every type and size, `i64::MIN`/`MAX`,
//! floats, strings) is stored whole or refused whole with a reason naming the first bad
//! event; and the register path ([`Executor::register_app`]): any function config (cron
//! schedules, CEL expressions, durations past `u64` seconds, limits at the ends of `u32`),
//! then events for it, is served or refused, and routed, never with a panic or a store
//! failure.
//!
//! The decoders themselves (cron schedules, CEL expressions, one event's validation) are
//! private; their properties are `properties` modules in `src/cron.rs`, `src/expr.rs`,
//! `src/events.rs` and `src/ids.rs` (`cargo test -p inngest-executor --lib properties`).
//!
//! Failure persistence is off: a failing case is printed, nothing is written to the repo.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use inngest_executor::transport::{Http, Transport};
use inngest_executor::{Executor, ExecutorError, Settings};
use inngest_protocol::{
    BatchEvents, Cancel, Concurrency, ConcurrencyLimits, ConcurrencyScope, Debounce,
    FunctionConfig, Priority, RateLimit, Singleton, SingletonMode, StepConfig, StepRetries,
    StepRuntime, Throttle, Timeouts, Trigger,
};
use proptest::prelude::*;
use proptest::test_runner::RngAlgorithm;
use serde_json::{Map, Value, json};
use url::Url;

/// `cases` cases, no failure persistence (nothing written under the repo), and the XorShift
/// generator (ChaCha, the default, is slow in an unoptimized test build).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    }
}

/// Strings: short, long (around the 512-byte name limit), blank, control and multi-byte.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[a-z0-9./_-]{1,16}",
        1 => "\\PC{0,16}",
        1 => prop::sample::select(vec!["", " ", "\u{0}", "a\u{0}b", "'; DROP TABLE events; --", "é"])
            .prop_map(str::to_owned),
        1 => (505..520usize).prop_map(|n| "x".repeat(n)),
    ]
    .boxed()
}

/// Arbitrary JSON, numbers at the ends of their ranges included.
fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z]{1,4}", inner), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
    .boxed()
}

/// `ts` values: the ends of `i64`, past them, floats, strings.
fn timestamp() -> BoxedStrategy<Value> {
    prop_oneof![
        2 => any::<i64>().prop_map(Value::from),
        2 => prop::sample::select(vec![
            json!(i64::MIN), json!(i64::MAX), json!(i64::MAX as u64 + 1), json!(u64::MAX),
            json!(-1), json!(1.5), json!(1e300), json!(1_700_000_000_000.0),
            json!("1700000000000"), json!(null),
        ]),
        1 => json_value(),
    ]
    .boxed()
}

/// An incoming event: mostly valid, sometimes with one field of the wrong type or size.
fn incoming() -> BoxedStrategy<Value> {
    let field = |right: BoxedStrategy<Value>, wrong: f64| {
        prop::option::weighted(
            0.85,
            prop_oneof![
                ((1.0 - wrong) * 100.0) as u32 => right,
                (wrong * 100.0) as u32 => json_value(),
            ],
        )
    };
    let object = (
        field(text().prop_map(Value::String).boxed(), 0.05),
        field(json_value(), 0.05),
        field(text().prop_map(Value::String).boxed(), 0.05),
        prop::option::weighted(0.85, timestamp()),
        field(text().prop_map(Value::String).boxed(), 0.05),
        field(json_value(), 0.2),
    )
        .prop_map(|(name, data, id, ts, v, user)| {
            let mut object = Map::new();
            for (key, value) in [
                ("name", name),
                ("data", data),
                ("id", id),
                ("ts", ts),
                ("v", v),
                ("user", user),
            ] {
                if let Some(value) = value {
                    object.insert(key.to_owned(), value);
                }
            }
            Value::Object(object)
        });
    prop_oneof![12 => object, 1 => json_value()].boxed()
}

proptest! {
    #![proptest_config(config(2000))]

    /// Any batch: `send` stores every event and answers one id each, or stores none and
    /// names the first event it refuses; a store failure never comes from an event.
    #[test]
    fn any_batch_is_stored_whole_or_refused_whole(
        batch in prop::collection::vec(incoming(), 0..6),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let executor = Executor::open(Settings::default()).unwrap();
        let result = runtime.block_on(executor.send(batch.clone()));
        let stored = runtime.block_on(executor.events(1000, None)).unwrap();
        match result {
            Ok(ids) => {
                prop_assert_eq!(ids.len(), batch.len());
                prop_assert!(ids.iter().all(|id| !id.is_empty()));
                prop_assert!(!stored.is_empty() || batch.is_empty());
            }
            Err(ExecutorError::InvalidEvent { index, reason }) => {
                prop_assert!(index < batch.len());
                prop_assert!(!reason.is_empty());
                prop_assert!(stored.is_empty(), "a refused batch stored {:?}", stored);
            }
            Err(other) => prop_assert!(false, "{:?} failed the store: {}", batch, other),
        }
    }
}

/// Caps this test process's address space at 4 GiB: a case that allocates without end (as
/// the cancellation loops of the regression tests below once did) then fails with an
/// allocation error instead of exhausting the machine.
fn cap_memory() {
    static CAPPED: OnceLock<()> = OnceLock::new();
    CAPPED.get_or_init(|| {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::As);
        let cap = 4u64 << 30;
        let current = limit.current.map_or(cap, |current| current.min(cap));
        let _ = setrlimit(
            Resource::As,
            Rlimit {
                current: Some(current),
                maximum: limit.maximum,
            },
        );
    });
}

/// The one transport every registered app gets (never called: the executor is not started).
fn transport() -> Arc<dyn Transport> {
    static TRANSPORT: OnceLock<Arc<dyn Transport>> = OnceLock::new();
    Arc::clone(TRANSPORT.get_or_init(|| {
        Arc::new(Http::new(
            reqwest::Client::new(),
            Url::parse("http://127.0.0.1:9/api/inngest").unwrap(),
            Duration::from_secs(1),
        ))
    }))
}

/// Event names the triggers, cancellations and events share, wildcards included.
fn event_name() -> BoxedStrategy<String> {
    prop_oneof![
        30 => prop::sample::select(vec!["shop/order.created", "shop/*", "a", "*", "", "shop/"])
            .prop_map(str::to_owned),
        1 => text(),
    ]
    .boxed()
}

/// Cron schedules, valid and not.
fn cron() -> BoxedStrategy<String> {
    prop_oneof![
        30 => prop::sample::select(vec![
            "* * * * *", "0 3 * * *", "TZ=Europe/Paris 0 3 * * *", "@every 1s", "@daily",
            "0 0 29 2 *", "0 0 30 2 *", "@every 9223372036854775807ns",
            "TZ=Pacific/Kiritimati * * * * * *",
        ])
        .prop_map(str::to_owned),
        1 => prop::sample::select(vec!["", "60 * * * *", "*/0 * * * *"]).prop_map(str::to_owned),
        1 => text(),
    ]
    .boxed()
}

/// CEL expressions over `event` and `async`, valid and not.
fn expression() -> BoxedStrategy<String> {
    prop_oneof![
        30 => prop::sample::select(vec![
            "event.data.x == 1", "event.data.x", "event.data.missing.deeper",
            "event.data.n * 9223372036854775807", "event.data.x == async.data.x",
            "size(event.data) > 0", "event.name", "'k-' + string(event.data.n)",
            "event.data.n > 3 ? 100 : -100", "int(event.data.s)", "event.data.n",
            "event.data.items.map(i, i * 2)", "9223372036854775807 + 1", "-9223372036854775807 - 1",
            "double(event.data.n) * 1e308", "event.ts", "true", "false",
        ])
        .prop_map(str::to_owned),
        1 => prop::sample::select(vec!["(((((", "", " "]).prop_map(str::to_owned),
        1 => text(),
    ]
    .boxed()
}

/// Durations, valid and not, up to past `u64` seconds.
fn duration() -> BoxedStrategy<String> {
    prop_oneof![
        30 => prop::sample::select(vec![
            "1s", "10s", "1m", "1h", "7d", "0s", "18446744073709551615s", "9223372036854775807ms",
            "2021-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z",
        ])
        .prop_map(str::to_owned),
        1 => prop::sample::select(vec!["", "-1s", "abc", "18446744073709551616s"]).prop_map(str::to_owned),
        1 => text(),
    ]
    .boxed()
}

/// Limits at the ends of `u32`.
fn limit() -> BoxedStrategy<u32> {
    prop_oneof![6 => 1..5u32, 1 => Just(0), 1 => any::<u32>(), 1 => Just(u32::MAX)].boxed()
}

/// A function's config as an SDK registers it: any triggers, flow control and durations.
fn function_config() -> BoxedStrategy<FunctionConfig> {
    let trigger = prop_oneof![
        (event_name(), prop::option::of(expression()))
            .prop_map(|(event, expression)| Trigger::Event { event, expression }),
        (cron(), prop::option::of(duration()))
            .prop_map(|(cron, jitter)| Trigger::Cron { cron, jitter }),
    ];
    let concurrency = (
        limit(),
        prop::option::of(expression()),
        prop::option::of(prop::sample::select(vec![
            ConcurrencyScope::Fn,
            ConcurrencyScope::Env,
            ConcurrencyScope::Account,
        ])),
    )
        .prop_map(|(limit, key, scope)| Concurrency { limit, key, scope });
    let flow = (
        prop::option::weighted(
            0.2,
            (
                limit(),
                duration(),
                prop::option::of(expression()),
                prop::option::of(expression()),
            )
                .prop_map(|(max_size, timeout, key, condition)| BatchEvents {
                    max_size,
                    timeout,
                    key,
                    condition,
                }),
        ),
        prop::option::weighted(
            0.2,
            (limit(), duration(), prop::option::of(expression()))
                .prop_map(|(limit, period, key)| RateLimit { limit, period, key }),
        ),
        prop::option::weighted(
            0.2,
            (
                limit(),
                duration(),
                prop::option::of(limit()),
                prop::option::of(expression()),
            )
                .prop_map(|(limit, period, burst, key)| Throttle {
                    limit,
                    period,
                    burst,
                    key,
                }),
        ),
        prop::option::weighted(
            0.2,
            (
                prop::option::of(expression()),
                prop::sample::select(vec![SingletonMode::Skip, SingletonMode::Cancel]),
            )
                .prop_map(|(key, mode)| Singleton { key, mode }),
        ),
        prop::option::weighted(
            0.3,
            prop_oneof![
                limit().prop_map(ConcurrencyLimits::Limit),
                concurrency.clone().prop_map(ConcurrencyLimits::One),
                prop::collection::vec(concurrency, 0..3).prop_map(ConcurrencyLimits::Many),
            ],
        ),
        prop::option::weighted(
            0.2,
            (
                duration(),
                prop::option::of(expression()),
                prop::option::of(duration()),
            )
                .prop_map(|(period, key, timeout)| Debounce {
                    period,
                    key,
                    timeout,
                }),
        ),
    );
    let more = (
        prop::option::weighted(0.2, expression().prop_map(|run| Priority { run })),
        prop::option::weighted(
            0.2,
            (prop::option::of(duration()), prop::option::of(duration()))
                .prop_map(|(start, finish)| Timeouts { start, finish }),
        ),
        prop::collection::vec(
            (
                event_name(),
                prop::option::of(duration()),
                prop::option::of(expression()),
            )
                .prop_map(|(event, timeout, condition)| Cancel {
                    event,
                    timeout,
                    condition,
                }),
            0..2,
        ),
        prop::option::weighted(0.2, expression()),
        prop::option::of(limit()),
    );
    (
        prop_oneof![20 => "[a-z]{1,8}", 1 => text()],
        prop::collection::vec(trigger, 0..3),
        flow,
        more,
    )
        .prop_map(|(id, triggers, flow, more)| {
            let (batch_events, rate_limit, throttle, mut singleton, concurrency, debounce) = flow;
            let (priority, timeouts, cancel, idempotency, retries) = more;
            // Functions started by `inngest/function.cancelled` that also cancel on it are
            // generated too: they once looped without end (see the regression tests below).
            let _ = &mut singleton;
            let steps = [(
                "step".to_owned(),
                StepConfig {
                    id: "step".into(),
                    name: "step".into(),
                    runtime: StepRuntime {
                        kind: "http".into(),
                        url: "http://127.0.0.1:9/api/inngest".into(),
                    },
                    retries: retries.map(|attempts| StepRetries { attempts }),
                },
            )]
            .into_iter()
            .collect();
            FunctionConfig {
                id: id.clone(),
                name: id,
                triggers,
                steps,
                idempotency,
                batch_events,
                rate_limit,
                throttle,
                singleton,
                concurrency,
                debounce,
                priority,
                timeouts,
                cancel,
            }
        })
        .boxed()
}

/// Events named like the triggers, with data of any values under the fields the
/// expressions read (and now and then something that is not an event).
fn named_event() -> BoxedStrategy<Value> {
    let data = (json_value(), json_value(), json_value(), json_value())
        .prop_map(|(x, n, s, items)| json!({"x": x, "n": n, "s": s, "items": items}));
    let event = (
        prop::sample::select(vec!["shop/order.created", "a", "shop/x", "b"]),
        data,
        prop::option::weighted(0.3, any::<i64>()),
        prop::option::weighted(0.3, prop::sample::select(vec!["e1", "e2", "e3"])),
    )
        .prop_map(|(name, data, ts, id)| {
            let mut event = json!({"name": name, "data": data});
            if let Some(ts) = ts {
                event["ts"] = Value::from(ts);
            }
            if let Some(id) = id {
                event["id"] = Value::from(id);
            }
            event
        });
    prop_oneof![20 => event, 1 => incoming()].boxed()
}

proptest! {
    #![proptest_config(config(2000))]

    /// Any function configs, then any events for them: registering answers the number
    /// served or every problem, naming function and field; sending routes the events through
    /// triggers, `if` filters, keys, flow control and cancellations without a panic or a
    /// store failure.
    #[test]
    fn any_functions_then_any_events(
        functions in prop::collection::vec(function_config(), 1..3),
        events in prop::collection::vec(named_event(), 0..4),
    ) {
        cap_memory();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let executor = Executor::open(Settings::default()).unwrap();
        match runtime.block_on(executor.register_app("app", transport(), &functions)) {
            Ok(served) => prop_assert_eq!(served, functions.len()),
            Err(ExecutorError::InvalidFunctions { problems, .. }) => {
                prop_assert!(!problems.is_empty());
                return Ok(());
            }
            Err(other) => prop_assert!(false, "{:?}: {}", functions, other),
        }
        match runtime.block_on(executor.send(events.clone())) {
            Ok(ids) => prop_assert_eq!(ids.len(), events.len()),
            Err(ExecutorError::InvalidEvent { index, .. }) => prop_assert!(index < events.len()),
            Err(other) => prop_assert!(false, "{:?}\n{:?}: {}", functions, events, other),
        }
    }
}

/// A function on `*` that cancels runs (singleton `cancel`, or `cancel` on `*`) once started
/// a run for each cancellation it made (`inngest/function.cancelled` matched `*`), which the
/// next cancellation cancelled, without end: the third send never returned. Two functions
/// started by each other's cancellation could do the same.
#[test]
fn cancellations_do_not_start_runs_without_end() {
    cap_memory();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let function = |id: &str, trigger: &str, cancel: Value| -> FunctionConfig {
        serde_json::from_value(json!({
            "id": id, "name": id,
            "triggers": [{"event": trigger}],
            "steps": {"step": {"id": "step", "name": "step", "runtime": {"type": "http", "url": "http://127.0.0.1:9/api/inngest"}}},
        }).as_object().cloned().map(|mut config| {
            if let Value::Object(extra) = cancel { config.extend(extra); }
            Value::Object(config)
        }).unwrap())
        .unwrap()
    };
    let cases = [
        vec![function("f", "*", json!({"singleton": {"mode": "cancel"}}))],
        vec![function("f", "*", json!({"cancel": [{"event": "*"}]}))],
        vec![function(
            "f",
            "inngest/function.cancelled",
            json!({"singleton": {"mode": "cancel"}}),
        )],
        vec![
            function(
                "f",
                "inngest/function.cancelled",
                json!({"singleton": {"mode": "cancel"}}),
            ),
            function(
                "g",
                "inngest/function.cancelled",
                json!({"singleton": {"mode": "cancel"}}),
            ),
            function("h", "a", json!({"singleton": {"mode": "cancel"}})),
        ],
    ];
    for functions in cases {
        let executor = Executor::open(Settings::default()).unwrap();
        runtime
            .block_on(executor.register_app("app", transport(), &functions))
            .unwrap();
        for _ in 0..5 {
            let sent = runtime.block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(10),
                    executor.send(vec![json!({"name": "a", "data": {}})]),
                )
                .await
            });
            assert!(
                matches!(sent, Ok(Ok(_))),
                "{functions:?}: a send did not finish: {sent:?}"
            );
        }
        let runs = runtime
            .block_on(executor.runs(&inngest_executor::RunFilter {
                limit: Some(1000),
                ..Default::default()
            }))
            .unwrap();
        assert!(runs.len() < 200, "{functions:?}: {} runs", runs.len());
    }
}
