//! Configuration: layering, typed sections, validation, environment checks, unknown keys,
//! toggles, and secrets — with the exact messages asserted.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use framework::{
    Config, ConfigSection, ConfigSources, Environment, Error, Module, Provider, Secret,
    SectionProblems, TestingModule,
};
use serde::Deserialize;
use validator::Validate;

#[derive(Debug, Clone, Deserialize, Validate)]
struct Mailer {
    #[validate(range(min = 1, max = 100))]
    batch_size: u32,
    #[validate(email)]
    from: String,
    #[serde(default)]
    api_key: Option<Secret>,
}

impl ConfigSection for Mailer {
    fn check(&self, env: Environment, problems: &mut SectionProblems) {
        if env.is_production_like() && self.api_key.is_none() {
            problems.add("api_key", format!("required in {env}"));
        }
    }
}

fn mailer_module() -> Module {
    Module::new("mailer").config::<Mailer>("mailer")
}

async fn report(testing: TestingModule) -> Vec<String> {
    match testing.build().await {
        Err(Error::Invalid(report)) => report.messages(),
        Err(other) => panic!("expected a report, got: {other}"),
        Ok(_) => panic!("expected the build to fail"),
    }
}

#[tokio::test]
async fn a_valid_section_is_injectable() {
    struct Sender {
        from: String,
    }
    let module = mailer_module().provider(Provider::factory(|c: Config<Mailer>| Sender {
        from: c.from.clone(),
    }));
    let app = TestingModule::new(module)
        .config("[mailer]\nbatch_size = 10\nfrom = \"shop@example.com\"")
        .build()
        .await
        .unwrap();
    assert_eq!(app.get::<Sender>().unwrap().from, "shop@example.com");
}

#[tokio::test]
async fn every_problem_of_every_module_is_listed_sorted_and_path_qualified() {
    #[derive(Debug, Deserialize, Validate)]
    struct Cache {
        #[validate(range(min = 1))]
        ttl_seconds: u64,
    }
    impl ConfigSection for Cache {}
    let root = Module::new("app")
        .import(mailer_module())
        .import(Module::new("cache").config::<Cache>("cache"));
    let messages = report(
        TestingModule::new(root)
            .environment(Environment::Production)
            .config(
                r#"
                [server]
                port = 70000
                [mailer]
                batch_size = 0
                from = "not-an-email"
                [cache]
                ttl_seconds = 0
                "#,
            ),
    )
    .await;
    assert_eq!(
        messages,
        [
            "cache.ttl_seconds: must be at least 1",
            "mailer.api_key: required in production",
            "mailer.batch_size: must be between 1 and 100",
            "mailer.from: must be a valid email address",
            "server.port: must be between 0 and 65535 (0 picks a free port)",
        ]
    );
}

#[tokio::test]
async fn unknown_keys_and_sections_are_reported() {
    let messages = report(TestingModule::new(mailer_module()).config(
        r#"
        [mailer]
        batch_size = 5
        from = "a@b.co"
        batch_szie = 6
        colour = "red"
        [server]
        prot = 8080
        [mailr]
        x = 1
        [zzz]
        y = 2
        "#,
    ))
    .await;
    assert_eq!(
        messages,
        [
            "mailer.batch_szie: unknown key: no such setting in this section (did you mean `batch_size`?)",
            "mailer.colour: unknown key: no such setting in this section (check the spelling)",
            "mailr: unknown section: no module reads it (did you mean `mailer`?)",
            "server.prot: unknown key: no such setting in this section (did you mean `port`?)",
            "zzz: unknown section: no module reads it (check the spelling, or import the module that reads it)",
        ]
    );
}

#[tokio::test]
async fn missing_and_malformed_values_name_the_path_and_the_variable() {
    let missing =
        report(TestingModule::new(mailer_module()).config("[mailer]\nfrom = \"a@b.co\"")).await;
    assert_eq!(
        missing,
        [
            "mailer.batch_size: required, but not set: add it to a config file or set APP__MAILER__BATCH_SIZE"
        ]
    );
    let malformed = report(
        TestingModule::new(mailer_module())
            .config("[mailer]\nbatch_size = \"lots\"\nfrom = \"a@b.co\""),
    )
    .await;
    assert_eq!(malformed.len(), 1);
    assert!(
        malformed[0].starts_with("mailer.batch_size: invalid"),
        "unexpected message: {}",
        malformed[0]
    );
}

#[tokio::test]
async fn environment_variables_override_files() {
    struct Seen(u32, bool);
    let module = mailer_module().provider(Provider::factory(|c: Config<Mailer>| {
        Seen(
            c.batch_size,
            c.api_key.as_ref().is_some_and(|k| k.expose() == "12345"),
        )
    }));
    let app = TestingModule::new(module)
        .config("[mailer]\nbatch_size = 10\nfrom = \"a@b.co\"")
        .env_var("APP__MAILER__BATCH_SIZE", "42")
        .env_var("APP__MAILER__API_KEY", "12345")
        .build()
        .await
        .unwrap();
    let seen = app.get::<Seen>().unwrap();
    assert_eq!(
        (seen.0, seen.1),
        (42, true),
        "numeric-looking secrets stay text"
    );
}

#[tokio::test]
async fn files_layer_default_then_environment_then_local() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("default.toml"),
        "[mailer]\nbatch_size = 1\nfrom = \"default@x.io\"",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("staging.toml"),
        "[mailer]\nbatch_size = 2\napi_key = \"s3cr3t\"",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("local.toml"),
        "[mailer]\nfrom = \"local@x.io\"",
    )
    .unwrap();
    struct Seen(u32, String);
    let module = mailer_module().provider(Provider::factory(|c: Config<Mailer>| {
        Seen(c.batch_size, c.from.clone())
    }));
    let running = framework::App::new(module)
        .environment(Environment::Staging)
        .init_logging(false)
        .config_sources(
            ConfigSources::files(dir.path())
                .var("APP__SERVER__PORT", "0")
                .var("APP__MAILER__BATCH_SIZE", "3"),
        )
        .start()
        .await
        .unwrap();
    let seen = running.container().get::<Seen>().unwrap();
    assert_eq!((seen.0, seen.1.as_str()), (3, "local@x.io"));
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn secrets_never_print() {
    #[derive(Debug, Deserialize, Validate)]
    struct Keys {
        key: Secret,
        #[validate(range(max = 1))]
        retries: u8,
    }
    impl ConfigSection for Keys {}
    let error = TestingModule::new(Module::new("keys").config::<Keys>("keys"))
        .config("[keys]\nkey = \"signkey-prod-abcdef\"\nretries = 5")
        .build()
        .await
        .unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("keys.retries: must be at most 1"), "{shown}");
    assert!(!shown.contains("abcdef"), "secret leaked: {shown}");

    let parsed: Keys = serde_json::from_str(r#"{"key": "hunter2", "retries": 0}"#).unwrap();
    let debug = format!("{parsed:?}");
    assert!(
        !debug.contains("hunter2") && debug.contains("[redacted]"),
        "{debug}"
    );
    assert_eq!(parsed.key.expose(), "hunter2");
    // A wrongly typed secret is reported without echoing it.
    let err = serde_json::from_str::<Keys>(r#"{"key": {"nested": "hunter2"}, "retries": 0}"#)
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn disabled_modules_contribute_nothing_and_skip_config_checks() {
    struct Feature;
    let root = || {
        Module::new("app").import_optional(
            mailer_module()
                .provider(Provider::value(Feature))
                .export::<Feature>(),
        )
    };
    // Enabled, the mailer's missing config is a problem.
    let messages = report(TestingModule::new(root())).await;
    assert_eq!(
        messages,
        [
            "mailer.batch_size: required, but not set: add it to a config file or set APP__MAILER__BATCH_SIZE"
        ]
    );
    // Disabled: no providers, no config checks.
    let app = TestingModule::new(root())
        .config("[modules.mailer]\nenabled = false")
        .build()
        .await
        .unwrap();
    assert!(app.get::<Feature>().is_err());
    assert!(!app.container().modules().iter().any(|m| &**m == "mailer"));
}

#[tokio::test]
async fn importing_a_disabled_module_without_optional_is_an_error() {
    let root = Module::new("app").import(Module::new("monitoring"));
    let messages =
        report(TestingModule::new(root).config("[modules.monitoring]\nenabled = false")).await;
    assert_eq!(
        messages,
        [
            "module `app` imports `monitoring`, which is disabled by `modules.monitoring.enabled = false`: enable it, or import it with `.import_optional(..)` and depend on its providers as `Option<Arc<T>>`"
        ]
    );
}

#[tokio::test]
async fn toggles_for_unknown_modules_are_typos() {
    let messages = report(
        TestingModule::new(Module::new("app").import(Module::new("monitoring")))
            .config("[modules.monitorng]\nenabled = false\n[modules.app]\nenabled = false"),
    )
    .await;
    assert_eq!(
        messages,
        [
            "modules.app.enabled: `app` is the root module and cannot be disabled",
            "modules.monitorng: no module is named `monitorng` (known modules: app, monitoring)",
        ]
    );
}

#[test]
fn unknown_app_env_is_reported() {
    let err = "qa".parse::<Environment>().unwrap_err();
    assert!(
        err.to_string()
            .contains("use development, test, staging or production")
    );
}

#[tokio::test]
async fn env_aliases_fill_keys_that_config_leaves_unset() {
    #[derive(Debug, Clone, Deserialize, Validate)]
    struct Remote {
        #[serde(default)]
        dev: bool,
        #[serde(default)]
        signing_key: Option<Secret>,
        base_url: Option<String>,
    }
    impl ConfigSection for Remote {}
    struct Seen(bool, Option<String>, Option<String>);
    let module = || {
        Module::new("remote")
            .config::<Remote>("remote")
            .env_alias("REMOTE_DEV", "remote.dev")
            .env_alias("REMOTE_SIGNING_KEY", "remote.signing_key")
            .env_alias("REMOTE_BASE_URL", "remote.base_url")
            .provider(Provider::factory(|c: Config<Remote>| {
                Seen(
                    c.dev,
                    c.signing_key.as_ref().map(|k| k.expose().to_string()),
                    c.base_url.clone(),
                )
            }))
    };
    let app = TestingModule::new(module())
        .config("[remote]\nbase_url = \"http://from-file\"")
        .env_var("REMOTE_DEV", "true")
        .env_var("REMOTE_SIGNING_KEY", "signkey-test-00")
        .env_var("REMOTE_BASE_URL", "http://from-alias")
        .build()
        .await
        .unwrap();
    let seen = app.get::<Seen>().unwrap();
    assert!(seen.0, "alias fills an unset bool");
    assert_eq!(seen.1.as_deref(), Some("signkey-test-00"));
    assert_eq!(
        seen.2.as_deref(),
        Some("http://from-file"),
        "explicit config wins over the alias"
    );

    let app = TestingModule::new(module())
        .env_var("REMOTE_BASE_URL", "http://from-alias")
        .env_var("APP__REMOTE__BASE_URL", "http://from-app-var")
        .build()
        .await
        .unwrap();
    assert_eq!(
        app.get::<Seen>().unwrap().2.as_deref(),
        Some("http://from-app-var"),
        "APP__ variables win too"
    );
}

#[derive(Debug, Clone, Default, Deserialize, Validate)]
struct Features {
    #[serde(default)]
    audit: bool,
}
impl ConfigSection for Features {}

#[tokio::test]
async fn import_when_follows_a_boolean_config_key() {
    struct Audit;
    let root = || {
        Module::new("app")
            .config::<Features>("features")
            .import_when(
                "features.audit",
                Module::new("audit")
                    .provider(Provider::value(Audit))
                    .export::<Audit>(),
            )
    };
    // Missing key: not imported.
    let app = TestingModule::new(root()).build().await.unwrap();
    assert!(app.get::<Audit>().is_err());
    assert!(!app.container().modules().iter().any(|m| &**m == "audit"));
    // From a file.
    let app = TestingModule::new(root())
        .config("[features]\naudit = true")
        .build()
        .await
        .unwrap();
    assert!(app.get::<Audit>().is_ok());
    assert!(app.get::<Config<Features>>().unwrap().audit);
    // From an environment variable (a string), and the module toggle still wins.
    let app = TestingModule::new(root())
        .env_var("APP__FEATURES__AUDIT", "true")
        .build()
        .await
        .unwrap();
    assert!(app.get::<Audit>().is_ok());
    let app = TestingModule::new(root())
        .config("[features]\naudit = true\n[modules.audit]\nenabled = false")
        .build()
        .await
        .unwrap();
    assert!(app.get::<Audit>().is_err());
    // Not a boolean: a clear start-up error.
    let messages =
        report(TestingModule::new(root()).env_var("APP__FEATURES__AUDIT", "sometimes")).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(
        messages[0],
        "features.audit: expected `true` or `false` (it decides whether a module is imported); set it in a config file or with APP__FEATURES__AUDIT"
    );
}

#[tokio::test]
async fn the_telemetry_section_is_checked_and_reads_the_otel_variables() {
    let messages = report(TestingModule::new(Module::new("app")).config(
        "[telemetry]\nenabled = true\nsampler_ratio = 1.5\nendpoint = \"ftp://collector\"\nexclude_paths = [\"health\"]",
    ))
    .await;
    let mut expected = vec![
        "telemetry.endpoint: `ftp://collector/` must be an http:// or https:// URL (OTLP over HTTP), e.g. http://localhost:4318",
        "telemetry.exclude_paths: `health` must start with `/` and not end with one, e.g. \"/health\"",
        "telemetry.sampler_ratio: must be between 0.0 and 1.0",
    ];
    // A build without the exporter says so first (`scripts/test` runs this test both ways).
    if cfg!(not(feature = "telemetry")) {
        expected.insert(
            0,
            "telemetry.enabled: this build has no OpenTelemetry export: turn on the feature `telemetry` of the `framework` crate \
             (on by default; `inngest-module` turns it on with its own feature `telemetry`), or set `enabled = false`",
        );
    }
    assert_eq!(messages, expected);
    // Telemetry off: another tool's endpoint (gRPC, `collector:4317`) does not stop the app.
    TestingModule::new(Module::new("app"))
        .env_var("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")
        .build()
        .await
        .unwrap();
    let app = TestingModule::new(Module::new("app"))
        .env_var("OTEL_SERVICE_NAME", "shop-api")
        .env_var("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
        .build()
        .await
        .unwrap();
    let telemetry = app.get::<framework::telemetry::TelemetryConfig>().unwrap();
    assert!(!telemetry.enabled, "off by default");
    assert_eq!(telemetry.service_name.as_deref(), Some("shop-api"));
    assert_eq!(telemetry.traces_url(), "http://collector:4318/v1/traces");
    // Explicit config wins over the OTEL_* variables.
    let app = TestingModule::new(Module::new("app"))
        .config("[telemetry]\nservice_name = \"from-config\"")
        .env_var("OTEL_SERVICE_NAME", "shop-api")
        .build()
        .await
        .unwrap();
    let telemetry = app.get::<framework::telemetry::TelemetryConfig>().unwrap();
    assert_eq!(telemetry.service_name.as_deref(), Some("from-config"));
}

#[tokio::test]
async fn compression_in_a_build_without_it_is_refused_naming_the_feature() {
    let result = TestingModule::new(Module::new("app"))
        .config("[server.compression]\nenabled = true")
        .build()
        .await;
    // `scripts/test` runs this test with and without the default features.
    if cfg!(feature = "compression") {
        assert!(result.is_ok(), "{:?}", result.err());
    } else {
        let message = format!("{:?}", result.expect_err("refused"));
        assert!(
            message.contains("server.compression.enabled: this build has no compression: turn on the feature `compression` of `framework`"),
            "{message}"
        );
    }
}
