//! Property tests of config loading: arbitrary TOML documents for the framework's own
//! sections, `[server]`, `[log]` and `[telemetry]` — values of the wrong type, negative and
//! huge integers, durations past `u64` seconds, nested tables where scalars belong, unknown
//! keys, TOML that does not parse — never panic: the app builds, or the build fails with a
//! report (or a load error) that names the offending key.
//!
//! Failure persistence is off: a failing case is printed, nothing is written to the repo.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::OnceLock;
use std::time::Duration;

use framework::config::{LogConfig, LogFormat, ServerConfig};
use framework::telemetry::TelemetryConfig;
use framework::{Environment, Error, Module, TestingModule};
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

/// Builds an empty app from `toml` in `env`: the built app's sections, or the error.
fn build(toml: &str, env: Environment) -> Result<framework::TestApp, Error> {
    runtime().block_on(
        TestingModule::new(Module::new("app"))
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

/// Duration texts: valid, zero, negative, unit-less, past `u64` seconds, odd.
const DURATIONS: &[&str] = &[
    "0s",
    "1s",
    "30s",
    "5m",
    "1h 30m",
    "10ms",
    "1.5s",
    "-1s",
    "",
    " ",
    "abc",
    "5",
    "1 parsec",
    "18446744073709551615s",
    "18446744073709551616s",
    "99999999999999999999999s",
    "584542046090y",
    "584942417355y",
    "9999999999999999999ns",
    "1y",
];

/// Strings a config value may hold.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(DURATIONS.to_vec()).prop_map(str::to_owned),
        3 => prop::sample::select(vec![
            "127.0.0.1", "0.0.0.0", "::", "localhost", "example.com", "999.1.1.1", "", "/api",
            "api", "/api/", "/", "/health", "health", "info", "debug", "info,framework=debug",
            "x=nonsense", "[", "text", "json", "pretty", "xml", "http://localhost:4318",
            "https://otel.example.com/base/", "grpc://collector:4317", "not a url", "10.0.0.0/8",
            "fd00::/8", "10.0.0.1", "10.0.0.0/33", "true", "1", "65536", "-1",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{0,12}",
    ]
    .boxed()
}

/// A TOML scalar literal: integers (in and out of `i64`), floats (`inf`, `nan`), strings,
/// booleans, dates.
fn scalar() -> BoxedStrategy<String> {
    prop_oneof![
        2 => any::<i64>().prop_map(|n| n.to_string()),
        3 => prop::sample::select(vec![
            "0", "1", "-1", "3000", "65535", "65536", "4294967296", "9223372036854775807",
            "-9223372036854775808", "9223372036854775808", "18446744073709551615", "0x10",
            "1_000", "+5", "1.5", "-0.1", "0.0", "1.0", "inf", "-inf", "nan", "1e400", "true",
            "false", "1979-05-27T07:32:00Z", "07:32:00", "1979-05-27",
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

const SERVER_KEYS: &[&str] = &[
    "host",
    "port",
    "global_prefix",
    "request_timeout",
    "body_limit",
    "drain_delay",
    "shutdown_timeout",
    "hook_timeout",
    "header_read_timeout",
    "idle_timeout",
    "max_connections",
    "trusted_proxies",
];
const LOG_KEYS: &[&str] = &["level", "format"];
const TELEMETRY_KEYS: &[&str] = &[
    "enabled",
    "service_name",
    "resource_attributes",
    "sampler_ratio",
    "endpoint",
    "export_timeout",
    "exclude_paths",
];

/// A section's lines: some of its keys (and now and then an unknown one) with any value.
fn section_lines(keys: &'static [&'static str]) -> BoxedStrategy<Vec<String>> {
    let key = prop_oneof![
        8 => prop::sample::select(keys.to_vec()).prop_map(str::to_owned),
        1 => "[a-z_]{1,10}",
    ];
    prop::collection::vec((key, value()), 0..5)
        .prop_map(|pairs| {
            let mut seen = Vec::new();
            pairs
                .into_iter()
                .filter(|(key, _)| {
                    // A key twice is a TOML error; keep that for the garbage below.
                    let fresh = !seen.contains(key);
                    seen.push(key.clone());
                    fresh
                })
                .map(|(key, value)| format!("{key} = {value}"))
                .collect()
        })
        .boxed()
}

/// A whole document: the three sections in any order, sometimes a sub-table, an unknown
/// section, or a line that is not TOML.
fn document() -> BoxedStrategy<String> {
    let garbage = prop::option::weighted(
        0.05,
        prop::sample::select(vec![
            "\"unterminated",
            "= =",
            "[",
            "port = 1\nport = 2",
            "[server]",
        ]),
    );
    (
        section_lines(SERVER_KEYS),
        section_lines(LOG_KEYS),
        section_lines(TELEMETRY_KEYS),
        prop::option::weighted(
            0.1,
            prop::sample::select(vec![
                "[server.port]\nx = 1",
                "[telemetry.resource_attributes]\n\"deployment.environment\" = \"test\"\nn = 5",
                "[telemetry.resource_attributes.nested]\nx = \"y\"",
                "[log.level]\nx = 1",
                "[[server.trusted_proxies]]\nx = 1",
                "[serverr]\nport = 1",
                "[modules.x]\nenabled = \"maybe\"",
            ]),
        ),
        garbage,
        any::<bool>(),
    )
        .prop_map(|(server, log, telemetry, extra, garbage, reverse)| {
            let mut sections = [
                format!("[server]\n{}", server.join("\n")),
                format!("[log]\n{}", log.join("\n")),
                format!("[telemetry]\n{}", telemetry.join("\n")),
            ];
            if reverse {
                sections.reverse();
            }
            let mut doc = sections.join("\n");
            if let Some(extra) = extra {
                doc = format!("{doc}\n{extra}");
            }
            if let Some(garbage) = garbage {
                doc = format!("{doc}\n{garbage}");
            }
            doc
        })
        .boxed()
}

fn environment() -> BoxedStrategy<Environment> {
    prop::sample::select(Environment::ALL.to_vec()).boxed()
}

/// A valid value for each key, as TOML.
fn valid(section: &str, key: &str) -> BoxedStrategy<String> {
    let duration = || {
        prop::sample::select(vec!["1s", "30s", "5m", "1h 30m", "10ms", "1.5s", "2h"])
            .prop_map(quoted)
            .boxed()
    };
    match (section, key) {
        ("server", "host") => prop::sample::select(vec![
            "127.0.0.1",
            "0.0.0.0",
            "10.1.2.3",
            "localhost",
            "::",
            "::1",
        ])
        .prop_map(quoted)
        .boxed(),
        ("server", "port") => (0..=65535u32).prop_map(|n| n.to_string()).boxed(),
        ("server", "global_prefix") => prop::sample::select(vec!["", "/api", "/v1/x"])
            .prop_map(quoted)
            .boxed(),
        ("server", "body_limit" | "max_connections") => {
            (1..1_000_000u32).prop_map(|n| n.to_string()).boxed()
        }
        ("server", "trusted_proxies") => prop::sample::select(vec![
            "[]",
            "[\"10.0.0.0/8\"]",
            "[\"10.0.0.1\", \"fd00::/8\"]",
        ])
        .prop_map(str::to_owned)
        .boxed(),
        ("server", _) => duration(),
        ("log", "level") => prop::sample::select(vec!["info", "debug", "warn,framework=debug"])
            .prop_map(quoted)
            .boxed(),
        ("log", "format") => prop::sample::select(vec!["text", "pretty", "json"])
            .prop_map(quoted)
            .boxed(),
        ("telemetry", "enabled") => Just("false".to_owned()).boxed(),
        ("telemetry", "service_name") => Just(quoted("shop")).boxed(),
        ("telemetry", "resource_attributes") => Just("{ a = \"b\" }".to_owned()).boxed(),
        ("telemetry", "sampler_ratio") => (0..=100u32)
            .prop_map(|n| format!("{:.2}", f64::from(n) / 100.0))
            .boxed(),
        ("telemetry", "endpoint") => Just(quoted("http://localhost:4318")).boxed(),
        ("telemetry", "exclude_paths") => Just("[\"/health\", \"/metrics\"]".to_owned()).boxed(),
        _ => duration(),
    }
}

/// A value that is wrong for each key, whatever the environment: wrong type, out of range,
/// a table, an unparsable duration, a duration past `u64` seconds.
fn invalid(section: &str, key: &str) -> BoxedStrategy<String> {
    let pick =
        |values: Vec<&'static str>| prop::sample::select(values).prop_map(str::to_owned).boxed();
    let nested = vec!["[]", "[1, 2]", "{ a = 1 }", "{}"];
    let with_nested = |mut values: Vec<&'static str>| {
        values.extend(nested.iter().copied());
        pick(values)
    };
    let durations = |zero_is_bad: bool| {
        let mut values = vec![
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
        ];
        if zero_is_bad {
            values.push("\"0s\"");
        }
        with_nested(values)
    };
    match (section, key) {
        ("server", "host") => with_nested(vec![
            "\"\"",
            "\"not a host\"",
            "\"999.1.1.1\"",
            "\"127.0.0.1:80\"",
            "5",
            "true",
        ]),
        ("server", "port") => with_nested(vec![
            "-1",
            "65536",
            "4294967296",
            "-9223372036854775808",
            "9223372036854775808",
            "\"abc\"",
            "\"\"",
        ]),
        ("server", "global_prefix") => with_nested(vec!["\"api\"", "\"/api/\"", "\"/\""]),
        ("server", "body_limit" | "max_connections") => with_nested(vec![
            "0",
            "-1",
            "\"abc\"",
            "-9223372036854775808",
            "99999999999999999999",
            "0x8000000000000000",
        ]),
        ("server", "trusted_proxies") => pick(vec![
            "[\"not an ip\"]",
            "[\"10.0.0.0/33\"]",
            "[1]",
            "[[]]",
            "{ a = 1 }",
            "[\"\"]",
        ]),
        ("server", "drain_delay" | "shutdown_timeout") => durations(false),
        ("server", _) => durations(true),
        ("log", "level") => with_nested(vec!["\"x=nonsense\"", "\"info,[\"", "\"=info\""]),
        ("log", "format") => with_nested(vec!["\"xml\"", "\"Text \"", "5", "true"]),
        // Not a number: the config crate reads any number as a boolean (non-zero is true).
        ("telemetry", "enabled") => with_nested(vec!["\"maybe\"", "\"yes please\"", "\"\""]),
        ("telemetry", "service_name") => pick(nested.clone()),
        ("telemetry", "resource_attributes") => pick(vec![
            "5",
            "\"x\"",
            "[1]",
            "{ a = [1] }",
            "{ a = { b = 1 } }",
        ]),
        ("telemetry", "sampler_ratio") => with_nested(vec![
            "1.5", "-0.1", "\"abc\"", "inf", "-inf", "nan", "1e400", "2",
        ]),
        ("telemetry", "endpoint") => with_nested(vec!["\"not a url\"", "\"\"", "\"://x\""]),
        ("telemetry", "export_timeout") => durations(true),
        ("telemetry", "exclude_paths") => pick(vec![
            "[\"health\"]",
            "[\"/health/\"]",
            "[[]]",
            "{ a = 1 }",
            "[\"\"]",
        ]),
        _ => durations(true),
    }
}

/// A document with every key of every section valid (or absent) except one, and that key.
fn one_bad_key() -> BoxedStrategy<(String, String)> {
    let all: Vec<(&'static str, &'static str)> = [
        ("server", SERVER_KEYS),
        ("log", LOG_KEYS),
        ("telemetry", TELEMETRY_KEYS),
    ]
    .into_iter()
    .flat_map(|(section, keys)| keys.iter().map(move |key| (section, *key)))
    .collect();
    let lines: Vec<BoxedStrategy<Option<String>>> = all
        .iter()
        .map(|(section, key)| prop::option::weighted(0.5, valid(section, key)).boxed())
        .collect();
    (prop::sample::select(all.clone()), lines)
        .prop_flat_map(move |((bad_section, bad_key), values)| {
            let all = all.clone();
            invalid(bad_section, bad_key).prop_map(move |bad| {
                let mut doc = String::new();
                for section in ["server", "log", "telemetry"] {
                    doc.push_str(&format!("[{section}]\n"));
                    for ((s, k), value) in all.iter().zip(&values) {
                        if *s != section {
                            continue;
                        }
                        if (*s, *k) == (bad_section, bad_key) {
                            doc.push_str(&format!("{k} = {bad}\n"));
                        } else if let Some(value) = value {
                            doc.push_str(&format!("{k} = {value}\n"));
                        }
                    }
                }
                (doc, format!("{bad_section}.{bad_key}"))
            })
        })
        .boxed()
}

proptest! {
    #![proptest_config(config(4000))]

    /// Any document: the app builds, or fails with a report whose every problem names a
    /// key or section, or with a load error saying where the TOML is wrong.
    #[test]
    fn any_document_builds_or_names_its_problems(doc in document(), env in environment()) {
        match build(&doc, env) {
            Ok(_) => {}
            Err(Error::Invalid(report)) => {
                let messages = report.messages();
                prop_assert!(!messages.is_empty());
                for message in messages {
                    let (path, what) = message.split_once(": ").unwrap_or(("", ""));
                    prop_assert!(!path.is_empty() && !what.is_empty(), "{}", message);
                    prop_assert!(!path.contains(' '), "{}", message);
                }
            }
            Err(Error::ConfigLoad(message)) => prop_assert!(!message.is_empty()),
            Err(other) => prop_assert!(false, "{}\n---\n{}", other, doc),
        }
    }

    /// One bad value among valid ones: the build fails and the error names the key.
    #[test]
    fn a_bad_value_is_reported_by_its_key((doc, key) in one_bad_key(), env in environment()) {
        match build(&doc, env) {
            Ok(_) => prop_assert!(false, "{} was accepted:\n{}", key, doc),
            Err(Error::Invalid(report)) => {
                let messages = report.messages();
                prop_assert!(
                    messages.iter().any(|m| m.starts_with(&key)),
                    "{} not named in {:?}\n---\n{}", key, messages, doc
                );
            }
            Err(Error::ConfigLoad(message)) => {
                let bare = key.rsplit('.').next().unwrap_or_default();
                prop_assert!(message.contains(bare), "{} not named in {}\n---\n{}", key, message, doc);
            }
            Err(other) => prop_assert!(false, "{}\n---\n{}", other, doc),
        }
    }

    /// Round trip: valid values written as TOML are the values the app gets.
    #[test]
    fn valid_values_are_read_back(
        port in 0..=65535u32,
        host in prop::sample::select(vec!["127.0.0.1", "0.0.0.0", "10.1.2.3", "localhost"]),
        prefix in prop::sample::select(vec!["", "/api", "/v1/x"]),
        body_limit in 1..usize::MAX / 2,
        max_connections in 1..1_000_000usize,
        timeouts in prop::collection::vec((1..u64::MAX / 4, 0..1_000_000_000u32), 6),
        level in prop::sample::select(vec!["info", "debug", "warn,framework=debug"]),
        format in prop::sample::select(vec![("text", LogFormat::Text), ("pretty", LogFormat::Pretty), ("json", LogFormat::Json)]),
        ratio in 0..=1000u32,
        export_timeout in (1..u64::MAX / 4, 0..1_000_000_000u32),
    ) {
        let timeouts: Vec<Duration> = timeouts.into_iter().map(|(s, n)| Duration::new(s, n)).collect();
        let duration = |d: &Duration| quoted(&format!("{}s {}ns", d.as_secs(), d.subsec_nanos()));
        let ratio = f64::from(ratio) / 1000.0;
        let export_timeout = Duration::new(export_timeout.0, export_timeout.1);
        let doc = format!(
            "[server]\nhost = {}\nport = {port}\nglobal_prefix = {}\nbody_limit = {body_limit}\n\
             max_connections = {max_connections}\nrequest_timeout = {}\ndrain_delay = {}\n\
             shutdown_timeout = {}\nhook_timeout = {}\nheader_read_timeout = {}\nidle_timeout = {}\n\
             [log]\nlevel = {}\nformat = {}\n\
             [telemetry]\nsampler_ratio = {ratio:?}\nexport_timeout = {}\n",
            quoted(host), quoted(prefix),
            duration(&timeouts[0]), duration(&timeouts[1]), duration(&timeouts[2]),
            duration(&timeouts[3]), duration(&timeouts[4]), duration(&timeouts[5]),
            quoted(level), quoted(format.0), duration(&export_timeout),
        );
        let app = build(&doc, Environment::Test).map_err(|e| TestCaseError::fail(format!("{e}\n---\n{doc}")))?;
        let server = app.get::<ServerConfig>().unwrap();
        prop_assert_eq!(
            (server.port, server.host.as_str(), server.global_prefix.as_str(), server.body_limit, server.max_connections),
            (port, host, prefix, body_limit, max_connections)
        );
        prop_assert_eq!(
            vec![server.request_timeout, server.drain_delay, server.shutdown_timeout, server.hook_timeout, server.header_read_timeout, server.idle_timeout],
            timeouts
        );
        let log = app.get::<LogConfig>().unwrap();
        prop_assert_eq!((log.level.as_str(), log.format), (level, format.1));
        let telemetry = app.get::<TelemetryConfig>().unwrap();
        prop_assert_eq!((telemetry.sampler_ratio, telemetry.export_timeout), (ratio, export_timeout));
    }
}
