//! Property tests of the `[inngest]` config section (`InngestOptions`, with
//! `[inngest.send]`, `[inngest.embedded]`, `[inngest.tracing]`, `[inngest.health]`) as
//! `InngestModule::from_config()` reads it: arbitrary TOML — values of the wrong type,
//! negative and huge integers, durations past `u64` seconds, dev modes that are neither a
//! boolean nor a URL, nested tables where scalars belong — never panics, and a bad value is
//! refused with a problem that names its key.
//!
//! No case writes a file: `embedded.database` is only ever given a path under a temporary
//! directory outside the repo, or a value of the wrong type. Failure persistence is off.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::OnceLock;
use std::time::Duration;

use framework::{Environment, Error, Module, TestingModule};
use inngest_module::{DevMode, ExecutorKind, InngestModule, InngestOptions};
use proptest::prelude::*;
use proptest::test_runner::RngAlgorithm;

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

/// One runtime for every case.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

/// A temporary directory outside the repo for the databases some cases name.
fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap())
}

/// Builds an app importing `InngestModule::from_config()` from `toml` in `env`.
fn build(toml: &str, env: Environment) -> Result<framework::TestApp, Error> {
    runtime().block_on(
        TestingModule::new(Module::new("app").import(InngestModule::from_config()))
            .environment(env)
            .config(toml)
            .build(),
    )
}

/// A TOML basic string holding `text`.
fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

const KEY: &str = "signkey-test-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff";

/// Strings an `[inngest]` value may hold.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "shop", "Shop App", "a--b", "", " ", "0s", "1s", "30s", "5m", "1h 30m", "-1s", "abc",
            "5", "18446744073709551615s", "18446744073709551616s", "99999999999999999999999s",
            "584942417355y", "true", "false", "1", "0", "yes", "maybe", "http://localhost:8288",
            "https://api.example.com/", "not a url", "//x", "ftp://x", "/api/inngest", "api",
            "/_inngest", "/_inngest/", "embedded", "remote", "local", "parent", "link",
            "traceContext", "shop.example.com", "x:80", "a/b", "signkey-prod-00ff", KEY,
            "signkey-prod-xyz",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{0,12}",
    ]
    .boxed()
}

/// A TOML scalar literal.
fn scalar() -> BoxedStrategy<String> {
    prop_oneof![
        2 => any::<i64>().prop_map(|n| n.to_string()),
        3 => prop::sample::select(vec![
            "0", "1", "-1", "2", "20", "21", "1023", "1024", "4096", "4097", "5000", "5001",
            "65535", "65536", "67108864", "67108865", "9223372036854775807",
            "-9223372036854775808", "9223372036854775808", "1.5", "-0.5", "inf", "nan", "1e400",
            "true", "false", "1979-05-27T07:32:00Z",
        ])
        .prop_map(str::to_owned),
        4 => text().prop_map(|t| quoted(&t)),
    ]
    .boxed()
}

/// A TOML value: a scalar, an array, or an inline table (where a scalar may belong).
fn value() -> BoxedStrategy<String> {
    prop_oneof![
        6 => scalar(),
        1 => prop::collection::vec(scalar(), 0..3).prop_map(|items| format!("[{}]", items.join(", "))),
        1 => prop::collection::vec(("[a-z]{1,6}", scalar()), 0..3).prop_map(|pairs| {
            let pairs: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k} = {v}")).collect();
            format!("{{ {} }}", pairs.join(", "))
        }),
    ]
    .boxed()
}

const TOP_KEYS: &[&str] = &[
    "app_id",
    "app_version",
    "environment",
    "dev",
    "event_key",
    "signing_key",
    "signing_key_fallback",
    "base_url",
    "api_base_url",
    "event_api_base_url",
    "serve_path",
    "serve_origin",
    "serve_host",
    "serve_port",
    "verify_signatures",
    "allow_in_band_sync",
    "body_limit",
    "request_timeout",
    "executor",
];
const SEND_KEYS: &[&str] = &[
    "max_attempts",
    "initial_backoff",
    "max_backoff",
    "batch_size",
];
const EMBEDDED_KEYS: &[&str] = &[
    "prefix",
    "max_parallel",
    "retry_backoff",
    "retry_max_backoff",
    "request_timeout",
    "retention",
    "console",
    "console_token",
    "allowed_hosts",
    "app_origins",
];
const TRACING_KEYS: &[&str] = &["enabled", "context_field", "inject", "executor_traceparent"];

/// A table's lines: some of its keys (now and then an unknown one), each once.
fn table_lines(keys: &'static [&'static str]) -> BoxedStrategy<Vec<String>> {
    let key = prop_oneof![
        8 => prop::sample::select(keys.to_vec()).prop_map(str::to_owned),
        1 => "[a-z_]{1,10}",
    ];
    prop::collection::vec((key, value()), 0..6)
        .prop_map(|pairs| {
            let mut seen = Vec::new();
            pairs
                .into_iter()
                .filter(|(key, _)| {
                    let fresh = !seen.contains(key);
                    seen.push(key.clone());
                    fresh
                })
                .map(|(key, value)| format!("{key} = {value}"))
                .collect()
        })
        .boxed()
}

/// `embedded.database`: a file in the scratch directory, or a value of the wrong type
/// (never a scalar: the config crate would read it as a path under the repo).
fn database() -> BoxedStrategy<Option<String>> {
    prop::option::weighted(
        0.05,
        prop_oneof![
            (0..1_000_000u32).prop_map(|n| {
                let path = scratch().path().join(format!("db-{n}.sqlite3"));
                quoted(&path.display().to_string())
            }),
            prop::sample::select(vec!["[]", "[1]", "{}", "{ a = 1 }"]).prop_map(str::to_owned),
        ],
    )
    .boxed()
}

/// A value that is right for `key` (dotted under `inngest`), huge durations included.
fn valid(key: &str) -> BoxedStrategy<String> {
    let pick =
        |values: Vec<&'static str>| prop::sample::select(values).prop_map(str::to_owned).boxed();
    let durations = || {
        pick(vec![
            "\"1s\"",
            "\"10s\"",
            "\"5m\"",
            "\"1h 30m\"",
            "\"18446744073709551615s\"",
        ])
    };
    let url = || {
        pick(vec![
            "\"http://localhost:8288\"",
            "\"https://inngest.example.com/base/\"",
        ])
    };
    match key {
        "app_id" => pick(vec!["\"shop\"", "\"billing-api-2\""]),
        "app_version" | "environment" => pick(vec!["\"v1\"", "\"branch-1\"", "\"\""]),
        "dev" => pick(vec![
            "true",
            "false",
            "1",
            "0",
            "\"1\"",
            "\"false\"",
            "\"http://localhost:8288\"",
        ]),
        "event_key" => pick(vec!["\"evt\""]),
        "signing_key" | "signing_key_fallback" => Just(quoted(KEY)).boxed(),
        "base_url" | "api_base_url" | "event_api_base_url" | "serve_origin" => url(),
        "serve_path" => pick(vec!["\"/api/inngest\"", "\"/\""]),
        "serve_host" => pick(vec!["\"shop.example.com\"", "\"10.0.0.1\""]),
        "serve_port" => (1..=65535u32).prop_map(|n| n.to_string()).boxed(),
        "verify_signatures" | "allow_in_band_sync" | "embedded.console" | "tracing.enabled"
        | "tracing.inject" => pick(vec!["true", "false"]),
        "body_limit" => (1024..=67_108_864u32).prop_map(|n| n.to_string()).boxed(),
        "executor" => pick(vec!["\"embedded\"", "\"remote\""]),
        "send.max_attempts" => (1..=20u32).prop_map(|n| n.to_string()).boxed(),
        "send.initial_backoff" => pick(vec!["\"0s\"", "\"100ms\"", "\"1s\""]),
        "send.batch_size" => (1..=5000u32).prop_map(|n| n.to_string()).boxed(),
        "embedded.prefix" => pick(vec!["\"/_inngest\"", "\"/x\""]),
        "embedded.max_parallel" => (1..=4096u32).prop_map(|n| n.to_string()).boxed(),
        "embedded.retry_backoff" => pick(vec!["\"0s\"", "\"1ms\"", "\"1s\""]),
        "embedded.retention" => pick(vec![
            "\"0s\"",
            "\"1m\"",
            "\"7d\"",
            "\"18446744073709551615s\"",
        ]),
        "embedded.console_token" => pick(vec!["\"token\""]),
        "embedded.allowed_hosts" => pick(vec!["[]", "[\"app.internal\"]"]),
        "embedded.app_origins" => pick(vec!["[]", "[\"http://localhost:3000\"]"]),
        "tracing.context_field" => pick(vec!["\"traceContext\"", "\"tc\""]),
        "tracing.executor_traceparent" => pick(vec!["\"parent\"", "\"link\""]),
        _ => durations(),
    }
}

/// Every key of the section, dotted under `inngest`.
fn all_keys() -> Vec<String> {
    TOP_KEYS
        .iter()
        .map(|k| (*k).to_owned())
        .chain(SEND_KEYS.iter().map(|k| format!("send.{k}")))
        .chain(EMBEDDED_KEYS.iter().map(|k| format!("embedded.{k}")))
        .chain(TRACING_KEYS.iter().map(|k| format!("tracing.{k}")))
        .collect()
}

/// A document of valid values for some keys, now and then one wrong value: most of these
/// build (the embedded executor opens, in memory, when it is chosen).
fn nearly_valid() -> BoxedStrategy<String> {
    let keys = all_keys();
    let lines: Vec<BoxedStrategy<Option<String>>> = keys
        .iter()
        .map(|key| {
            prop::option::weighted(0.3, prop_oneof![30 => valid(key), 1 => invalid(key)]).boxed()
        })
        .collect();
    lines
        .prop_map(move |values| {
            let mut tables: Vec<(String, Vec<String>)> = Vec::new();
            for (key, value) in keys.iter().zip(values) {
                let Some(value) = value else { continue };
                let (table, name) = match key.split_once('.') {
                    Some((table, name)) => (format!("inngest.{table}"), name),
                    None => ("inngest".to_owned(), key.as_str()),
                };
                let line = format!("{name} = {value}");
                match tables.iter_mut().find(|(t, _)| *t == table) {
                    Some((_, lines)) => lines.push(line),
                    None => tables.push((table, vec![line])),
                }
            }
            if !tables.iter().any(|(t, _)| t == "inngest") {
                tables.insert(0, ("inngest".to_owned(), Vec::new()));
            }
            let top = &mut tables[0].1;
            if !top.iter().any(|l| l.starts_with("app_id =")) {
                top.push("app_id = \"shop\"".to_owned());
            }
            tables
                .into_iter()
                .map(|(table, lines)| format!("[{table}]\n{}\n", lines.join("\n")))
                .collect()
        })
        .boxed()
}

/// A whole `[inngest]` document: arbitrary, or nearly valid.
fn document() -> BoxedStrategy<String> {
    prop_oneof![4 => arbitrary_document(), 1 => nearly_valid()].boxed()
}

/// An `[inngest]` document of arbitrary values.
fn arbitrary_document() -> BoxedStrategy<String> {
    (
        table_lines(TOP_KEYS),
        table_lines(SEND_KEYS),
        table_lines(EMBEDDED_KEYS),
        database(),
        table_lines(TRACING_KEYS),
        prop::option::weighted(
            0.1,
            prop::sample::select(vec!["true", "false", "\"maybe\"", "[]", "1"]),
        ),
        prop::option::weighted(
            0.1,
            prop::sample::select(vec!["true", "false", "\"yes\"", "{}"]),
        ),
        prop::option::weighted(
            0.5,
            prop::sample::select(vec![
                "dev = true",
                "dev = false",
                "dev = \"http://localhost:8288\"",
            ]),
        ),
    )
        .prop_map(
            |(top, send, embedded, database, tracing, health, monitoring, dev)| {
                let mut top = top;
                if let Some(dev) = dev
                    && !top.iter().any(|line| line.starts_with("dev ="))
                {
                    top.push(dev.to_owned());
                }
                let mut doc = format!("[inngest]\n{}\n", top.join("\n"));
                doc.push_str(&format!("[inngest.send]\n{}\n", send.join("\n")));
                let mut embedded = embedded;
                if let Some(database) = database {
                    embedded.push(format!("database = {database}"));
                }
                doc.push_str(&format!("[inngest.embedded]\n{}\n", embedded.join("\n")));
                doc.push_str(&format!("[inngest.tracing]\n{}\n", tracing.join("\n")));
                if let Some(health) = health {
                    doc.push_str(&format!("[inngest.health]\nenabled = {health}\n"));
                }
                if let Some(monitoring) = monitoring {
                    doc.push_str(&format!("[inngest.monitoring]\nenabled = {monitoring}\n"));
                }
                doc
            },
        )
        .boxed()
}

fn environment() -> BoxedStrategy<Environment> {
    prop::sample::select(Environment::ALL.to_vec()).boxed()
}

/// Durations that are wrong for every duration key.
const BAD_DURATIONS: &[&str] = &[
    "\"-1s\"",
    "\"\"",
    "\"abc\"",
    "\"5\"",
    "5",
    "\"1 parsec\"",
    "\"18446744073709551616s\"",
    "\"99999999999999999999999s\"",
    "\"584942417355y\"",
    "true",
    "[]",
    "{ a = 1 }",
];

/// A value that is wrong for `key` (dotted under `inngest`) whatever the environment, next
/// to the valid baseline of `one_bad_key`.
fn invalid(key: &str) -> BoxedStrategy<String> {
    let pick =
        |values: Vec<&'static str>| prop::sample::select(values).prop_map(str::to_owned).boxed();
    let nested = |mut values: Vec<&'static str>| {
        values.extend(["[]", "[1, 2]", "{ a = 1 }", "{}"]);
        pick(values)
    };
    let durations = |extra: &[&'static str]| {
        let mut values = BAD_DURATIONS.to_vec();
        values.extend_from_slice(extra);
        pick(values)
    };
    let url = || nested(vec!["\"not a url\"", "\"\"", "\"//x\"", "5", "\"http://\""]);
    let boolean = || nested(vec!["\"maybe\"", "\"\"", "\"2\""]);
    match key {
        "app_id" => nested(vec![
            "\"\"",
            "\" \"",
            "\"Shop App\"",
            "\"a--b\"",
            "\"-a\"",
            "\"shop_api\"",
        ]),
        "app_version" | "environment" => nested(vec![]),
        "dev" => nested(vec![
            "\"maybe\"",
            "2",
            "-1",
            "1.5",
            "\"ftp//x\"",
            "9223372036854775807",
        ]),
        "event_key" => nested(vec!["\"\"", "\"  \""]),
        "signing_key" => nested(vec![
            "\"not-a-key\"",
            "\"signkey-prod-xyz\"",
            "\"\"",
            "\"signkey--00\"",
        ]),
        "signing_key_fallback" => nested(vec!["\"not-a-key\"", "\"signkey-prod-\""]),
        "base_url" | "api_base_url" | "event_api_base_url" | "serve_origin" => url(),
        "serve_path" => nested(vec!["\"api\"", "\"\"", "5"]),
        "serve_host" => nested(vec![
            "\"\"",
            "\"a/b\"",
            "\"x:80\"",
            "\"a@b\"",
            "\"http://x\"",
        ]),
        "serve_port" => nested(vec!["0", "-1", "65536", "\"abc\"", "9223372036854775808"]),
        "verify_signatures" | "allow_in_band_sync" => boolean(),
        "body_limit" => nested(vec![
            "0",
            "1023",
            "67108865",
            "-1",
            "\"abc\"",
            "99999999999999999999",
        ]),
        "request_timeout" => durations(&["\"0s\""]),
        "executor" => nested(vec!["\"local\"", "5", "\"Embedded\"", "\"\""]),
        "send.max_attempts" => nested(vec!["0", "21", "-1", "\"abc\""]),
        // Longer than the default max_backoff (5s) is wrong too.
        "send.initial_backoff" => durations(&["\"1h\""]),
        "send.max_backoff" => durations(&["\"1ms\""]),
        "send.batch_size" => nested(vec!["0", "5001", "-1"]),
        "embedded.prefix" => nested(vec!["\"x\"", "\"/x/\"", "\"\"", "\"/\""]),
        "embedded.max_parallel" => nested(vec!["0", "4097", "-1"]),
        // Longer than the default retry_max_backoff (10m) is wrong too.
        "embedded.retry_backoff" => durations(&["\"1h\""]),
        "embedded.retry_max_backoff" => durations(&["\"1ms\""]),
        "embedded.request_timeout" => durations(&["\"0s\""]),
        "embedded.retention" => durations(&["\"30s\"", "\"59s\""]),
        "embedded.console" => boolean(),
        "embedded.console_token" => pick(vec!["[]", "{ a = 1 }"]),
        "embedded.allowed_hosts" => pick(vec!["[[]]", "{ a = 1 }", "[{}]"]),
        "embedded.app_origins" => pick(vec![
            "[\"not a url\"]",
            "[5]",
            "[[]]",
            "{ a = 1 }",
            "[\"\"]",
        ]),
        "tracing.enabled" | "tracing.inject" => boolean(),
        "tracing.context_field" => nested(vec!["\"\""]),
        "tracing.executor_traceparent" => nested(vec!["\"child\"", "5", "\"Parent\""]),
        _ => pick(BAD_DURATIONS.to_vec()),
    }
}

/// A valid document (dev mode, so no executor is opened) with one key wrong, and the key.
fn one_bad_key() -> BoxedStrategy<(String, String)> {
    prop::sample::select(all_keys())
        .prop_flat_map(|key| {
            invalid(&key).prop_map(move |bad| {
                let (table, name) = match key.split_once('.') {
                    Some((table, name)) => (format!("inngest.{table}"), name.to_owned()),
                    None => ("inngest".to_owned(), key.clone()),
                };
                let mut doc = String::from("[inngest]\n");
                if key != "app_id" {
                    doc.push_str("app_id = \"shop\"\n");
                }
                if key != "dev" {
                    doc.push_str("dev = true\n");
                }
                if table == "inngest" {
                    doc.push_str(&format!("{name} = {bad}\n"));
                } else {
                    doc.push_str(&format!("[{table}]\n{name} = {bad}\n"));
                }
                (doc, format!("inngest.{key}"))
            })
        })
        .boxed()
}

proptest! {
    #![proptest_config(config(2000))]

    /// Any `[inngest]` document: the app builds, or fails with a report whose every
    /// problem names a key, or with a load error.
    #[test]
    fn any_inngest_section_builds_or_names_its_problems(doc in document(), env in environment()) {
        match build(&doc, env) {
            Ok(_) => {}
            Err(Error::Invalid(report)) => {
                for message in report.messages() {
                    let (path, what) = message.split_once(": ").unwrap_or(("", ""));
                    prop_assert!(!path.is_empty() && !what.is_empty(), "{}", message);
                    prop_assert!(!path.contains(' '), "{}", message);
                }
            }
            Err(Error::ConfigLoad(message)) => prop_assert!(!message.is_empty()),
            Err(other) => prop_assert!(false, "{}\n---\n{}", other, doc),
        }
    }

    /// One bad value in a valid section: the build fails and a problem names the key.
    #[test]
    fn a_bad_value_is_reported_by_its_key((doc, key) in one_bad_key(), env in environment()) {
        match build(&doc, env) {
            Ok(_) => prop_assert!(false, "{} was accepted:\n{}", key, doc),
            Err(Error::Invalid(report)) => {
                // The key's own problem, or one that relates another key to it
                // ("inngest.send.initial_backoff: must not exceed send.max_backoff").
                let relative = key.trim_start_matches("inngest.");
                let messages = report.messages();
                prop_assert!(
                    messages.iter().any(|m| m.starts_with(&key) || m.ends_with(relative)),
                    "{} not named in {:?}\n---\n{}", key, messages, doc
                );
            }
            Err(Error::ConfigLoad(message)) => {
                prop_assert!(message.contains(&format!("`{key}`")), "{} not named in {}\n---\n{}", key, message, doc);
            }
            Err(other) => prop_assert!(false, "{}: {}\n---\n{}", key, other, doc),
        }
    }

    /// Round trip: valid values written as TOML are the options the app gets.
    #[test]
    fn valid_options_are_read_back(
        app_id in "[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,2}",
        dev in prop_oneof![Just(None), Just(Some(true)), Just(Some(false))],
        serve_path in "/[a-z/]{0,12}",
        serve_port in prop::option::of(1..=65535u16),
        body_limit in 1024..=67_108_864usize,
        request_timeout in (1..u64::MAX / 4, 0..1_000_000_000u32),
        // Milliseconds up to 10^12 (humantime refuses a count of a unit whose nanoseconds
        // pass u64, e.g. "18446744073710ms").
        send in (1..=20u32, 0..5_000u64, 5_000..1_000_000_000_000u64, 1..=5000usize),
        embedded in (1..=4096usize, 0..600_000u64, 600_000..1_000_000_000_000u64, 60..u64::MAX / 4),
        prefix in "/[a-z_]{1,10}",
    ) {
        let (max_attempts, initial_ms, max_ms, batch_size) = send;
        let (max_parallel, retry_ms, retry_max_ms, retention_s) = embedded;
        let request_timeout = Duration::new(request_timeout.0, request_timeout.1);
        let duration = |d: Duration| quoted(&format!("{}s {}ns", d.as_secs(), d.subsec_nanos()));
        let ms = |n: u64| quoted(&format!("{n}ms"));
        let mut doc = format!(
            "[inngest]\napp_id = {}\nserve_path = {}\nbody_limit = {body_limit}\nrequest_timeout = {}\n",
            quoted(&app_id), quoted(&serve_path), duration(request_timeout),
        );
        if let Some(dev) = dev {
            doc.push_str(&format!("dev = {dev}\n"));
        }
        if let Some(port) = serve_port {
            doc.push_str(&format!("serve_port = {port}\n"));
        }
        doc.push_str(&format!(
            "executor = \"remote\"\nverify_signatures = false\n\
             [inngest.send]\nmax_attempts = {max_attempts}\ninitial_backoff = {}\nmax_backoff = {}\nbatch_size = {batch_size}\n\
             [inngest.embedded]\nprefix = {}\nmax_parallel = {max_parallel}\nretry_backoff = {}\nretry_max_backoff = {}\nretention = \"{retention_s}s\"\n",
            ms(initial_ms), ms(max_ms), quoted(&prefix), ms(retry_ms), ms(retry_max_ms),
        ));
        // The section alone: the whole module builds an HTTP client (and loads the system's
        // certificates) per case, which 2000 cases cannot afford.
        let app = runtime()
            .block_on(
                TestingModule::new(Module::new("app").config::<InngestOptions>("inngest"))
                    .config(&doc)
                    .build(),
            )
            .map_err(|e| TestCaseError::fail(format!("{e}\n---\n{doc}")))?;
        let options = app.get::<framework::Config<InngestOptions>>().unwrap();
        prop_assert_eq!(&options.app_id, &app_id);
        prop_assert_eq!(&options.dev, &if dev == Some(true) { DevMode::On } else { DevMode::Off });
        prop_assert_eq!(
            (options.serve_path.as_str(), options.serve_port, options.body_limit, options.request_timeout),
            (serve_path.as_str(), serve_port, body_limit, request_timeout)
        );
        prop_assert_eq!(options.executor, Some(ExecutorKind::Remote));
        prop_assert_eq!(
            (options.send.max_attempts, options.send.initial_backoff, options.send.max_backoff, options.send.batch_size),
            (max_attempts, Duration::from_millis(initial_ms), Duration::from_millis(max_ms), batch_size)
        );
        prop_assert_eq!(
            (options.embedded.prefix.as_str(), options.embedded.max_parallel, options.embedded.retry_backoff, options.embedded.retry_max_backoff, options.embedded.retention),
            (prefix.as_str(), max_parallel, Duration::from_millis(retry_ms), Duration::from_millis(retry_max_ms), Duration::from_secs(retention_s))
        );
    }
}
