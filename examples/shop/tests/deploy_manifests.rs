//! The Kubernetes manifests under `deploy/k8s/` (docs/deploy.md), checked against the real
//! shop: every YAML document parses; the probes name routes the shop binary serves (200)
//! on the container port, which is `server.port` of `config/production.toml`; every variable
//! the Deployment sets is one the app reads, the production keys are all there and come
//! from a Secret; the grace period covers `drain_delay + shutdown_timeout`; the Services
//! reach the containers. The checks return their problems, so the mutation test below shows
//! each one fails on a broken manifest.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{ShopProcess, shop};
use serde::Deserialize;
use serde_json::{Value, json};

const SHOP_DEPLOYMENT: &str = "shop";
const SHOP_SERVICE: &str = "shop";
const INNGEST_DEPLOYMENT: &str = "inngest";
const INNGEST_SERVICE: &str = "inngest";
const SECRETS_EXAMPLE: &str = "secrets.example.yaml";
/// What the module refuses to start without in production (docs/inngest.md, Validation).
const REQUIRED_IN_PRODUCTION: [&str; 3] = [
    "INNGEST_SIGNING_KEY",
    "INNGEST_EVENT_KEY",
    "INNGEST_SERVE_ORIGIN",
];
/// Variables that hold a secret: only ever from a `secretKeyRef`.
const SECRET_VARIABLES: [&str; 3] = [
    "INNGEST_SIGNING_KEY",
    "INNGEST_SIGNING_KEY_FALLBACK",
    "INNGEST_EVENT_KEY",
];
/// The probes and the paths they must use (docs/health.md: liveness checks no dependency).
const PROBES: [(&str, &str); 3] = [
    ("startupProbe", "/health/live"),
    ("livenessProbe", "/health/live"),
    ("readinessProbe", "/health/ready"),
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(workspace().join(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

/// One YAML document of a manifest file.
#[derive(Clone)]
struct Doc {
    file: String,
    value: Value,
}

impl Doc {
    fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }
    fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
}

/// Every document of every `deploy/k8s/*.yaml`, each with `apiVersion`, `kind` and a name.
fn manifests() -> Vec<Doc> {
    let dir = workspace().join("deploy/k8s");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifest in {}", dir.display());
    let mut docs = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        for document in serde_norway::Deserializer::from_str(&text) {
            let value = Value::deserialize(document)
                .unwrap_or_else(|e| panic!("deploy/k8s/{file} is not valid YAML: {e}"));
            if value.is_null() {
                continue;
            }
            let doc = Doc {
                file: file.clone(),
                value,
            };
            assert!(
                doc.value["apiVersion"].is_string()
                    && !doc.kind().is_empty()
                    && !doc.name().is_empty(),
                "deploy/k8s/{file}: a document without apiVersion, kind or metadata.name: {}",
                doc.value
            );
            docs.push(doc);
        }
    }
    docs
}

fn find<'a>(docs: &'a [Doc], kind: &str, name: &str) -> &'a Doc {
    docs.iter()
        .find(|doc| doc.kind() == kind && doc.name() == name)
        .unwrap_or_else(|| panic!("no {kind} `{name}` under deploy/k8s"))
}

/// `config/default.toml` with `config/production.toml` over it: what APP_ENV=production
/// reads (before any variable).
fn production_config() -> toml::Table {
    fn merge(base: &mut toml::Table, over: toml::Table) {
        for (key, value) in over {
            match (base.get_mut(&key), value) {
                (Some(toml::Value::Table(base)), toml::Value::Table(over)) => merge(base, over),
                (_, value) => {
                    base.insert(key, value);
                }
            }
        }
    }
    let parse = |name: &str| -> toml::Table {
        read(&format!("examples/shop/config/{name}"))
            .parse()
            .unwrap_or_else(|e| panic!("examples/shop/config/{name}: {e}"))
    };
    let mut config = parse("default.toml");
    merge(&mut config, parse("production.toml"));
    config
}

fn config_value<'a>(config: &'a toml::Table, path: &[&str]) -> Option<&'a toml::Value> {
    let (last, sections) = path.split_last()?;
    let mut table = config;
    for section in sections {
        table = table.get(*section)?.as_table()?;
    }
    table.get(*last)
}

/// A duration as the config writes it (`"5s"`, `"500ms"`, `"1m"`, `"1h"`), in seconds.
fn seconds(text: &str) -> f64 {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let number: f64 = digits
        .parse()
        .unwrap_or_else(|_| panic!("`{text}` is not a duration"));
    match &text[digits.len()..] {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        unit => panic!("`{text}`: unit `{unit}` not handled by this test"),
    }
}

fn duration_setting(config: &toml::Table, path: &[&str], default: &str) -> f64 {
    seconds(
        config_value(config, path)
            .map(|value| value.as_str().expect("a duration is a string"))
            .unwrap_or(default),
    )
}

/// The `INNGEST_*` names in the options table of docs/inngest.md.
fn documented_inngest_variables() -> BTreeSet<String> {
    let guide = read("docs/inngest.md");
    let start = guide
        .find("### `InngestOptions`")
        .expect("docs/inngest.md has the options table");
    let end = start
        + guide[start..]
            .find("Where the module sends requests")
            .expect("the options table ends before `Where the module sends requests`");
    let table = &guide[start..end];
    let mut names = BTreeSet::new();
    for (at, _) in table.match_indices("`INNGEST_") {
        let rest = &table[at + 1..];
        let name = &rest[..rest.find('`').unwrap()];
        names.insert(name.to_string());
    }
    assert!(
        names.contains("INNGEST_SIGNING_KEY") && names.len() >= 10,
        "the options table of docs/inngest.md lists the INNGEST_* variables: {names:?}"
    );
    names
}

/// The `INNGEST_*` names the module's options code reads (`inngest-module/src/options/`).
fn inngest_variables_in_source() -> String {
    let dir = workspace().join("inngest-module/src/options");
    let mut source = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            source.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }
    source
}

/// The pod template's spec of a Deployment, and its only container.
fn pod_spec(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]
}

fn container(deployment: &Value) -> &Value {
    let containers = pod_spec(deployment)["containers"]
        .as_array()
        .expect("the Deployment has containers");
    assert_eq!(containers.len(), 1, "one container: {containers:?}");
    &containers[0]
}

fn env_of(container: &Value) -> Vec<Value> {
    container["env"].as_array().cloned().unwrap_or_default()
}

fn env_entry<'a>(env: &'a [Value], name: &str) -> Option<&'a Value> {
    env.iter().find(|entry| entry["name"] == name)
}

/// A probe's or a Service's port (a number, or the name of a container port) as a number.
fn resolve_port(container: &Value, port: &Value) -> Option<u64> {
    if let Some(number) = port.as_u64() {
        return Some(number);
    }
    let name = port.as_str()?;
    container["ports"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
}

fn container_port(container: &Value) -> Option<u64> {
    container["ports"][0]["containerPort"].as_u64()
}

/// What is wrong with the shop Deployment, judged by the app's own config and docs.
fn shop_deployment_problems(deployment: &Value, secrets: &[Doc]) -> Vec<String> {
    let mut problems = Vec::new();
    let config = production_config();
    let container = container(deployment);
    let env = env_of(container);

    // Replicas: the point of the exercise.
    if deployment["spec"]["replicas"].as_u64().unwrap_or(1) < 2 {
        problems.push(format!(
            "spec.replicas is {}: the guide runs N replicas",
            deployment["spec"]["replicas"]
        ));
    }

    // The port: production.toml's server.port.
    let port = config_value(&config, &["server", "port"]).and_then(toml::Value::as_integer);
    let container_port = container_port(container);
    if port.and_then(|p| u64::try_from(p).ok()) != container_port {
        problems.push(format!(
            "containerPort {container_port:?} is not server.port {port:?} of config/production.toml"
        ));
    }

    // Probes: the paths of docs/health.md, on the container port.
    for (probe, path) in PROBES {
        let get = &container[probe]["httpGet"];
        if container[probe].is_null() && probe == "startupProbe" {
            continue;
        }
        if get["path"] != path {
            problems.push(format!("{probe} path is {} instead of {path}", get["path"]));
        }
        if resolve_port(container, &get["port"]) != container_port {
            problems.push(format!(
                "{probe} port {} is not the container port {container_port:?}",
                get["port"]
            ));
        }
    }

    // Variables: each one the app reads.
    let documented = documented_inngest_variables();
    let source = inngest_variables_in_source();
    for entry in &env {
        let name = entry["name"].as_str().unwrap_or_default();
        if name.starts_with("INNGEST_") {
            if !documented.contains(name) {
                problems.push(format!(
                    "{name} is not in the options table of docs/inngest.md: the app does not read it"
                ));
            } else if !source.contains(&format!("\"{name}\"")) {
                problems.push(format!(
                    "{name} is documented but inngest-module/src/options/ never reads it"
                ));
            }
        } else if let Some(path) = name.strip_prefix("APP__") {
            let path: Vec<String> = path.split("__").map(str::to_lowercase).collect();
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            if config_value(&config, &path).is_none() {
                problems.push(format!(
                    "{name} sets {}, which examples/shop/config/*.toml does not have",
                    path.join(".")
                ));
            }
        } else if name != "APP_ENV" {
            problems.push(format!("{name} is not a variable the app reads"));
        }
    }
    let app_env = env_entry(&env, "APP_ENV").map(|entry| &entry["value"]);
    if app_env != Some(&json!("production")) {
        problems.push(format!("APP_ENV is {app_env:?}, not production"));
    }
    for name in REQUIRED_IN_PRODUCTION {
        if env_entry(&env, name).is_none() {
            problems.push(format!("{name} is required in production and not set"));
        }
    }
    if let Some(origin) = env_entry(&env, "INNGEST_SERVE_ORIGIN").and_then(|e| e["value"].as_str())
        && !(origin.starts_with("http://") || origin.starts_with("https://"))
    {
        problems.push(format!(
            "INNGEST_SERVE_ORIGIN `{origin}` is not an http(s) origin"
        ));
    }

    // Keys: from the Secret, and the Secret example has them.
    for name in SECRET_VARIABLES {
        let Some(entry) = env_entry(&env, name) else {
            continue;
        };
        let reference = &entry["valueFrom"]["secretKeyRef"];
        if !entry["value"].is_null() || !reference.is_object() {
            problems.push(format!("{name} must come from a secretKeyRef, not inline"));
            continue;
        }
        let optional = reference["optional"] == true;
        let (secret, key) = (
            reference["name"].as_str().unwrap_or_default(),
            reference["key"].as_str().unwrap_or_default(),
        );
        let in_example = secrets
            .iter()
            .filter(|doc| doc.kind() == "Secret" && doc.name() == secret)
            .any(|doc| {
                !doc.value["stringData"][key].is_null() || !doc.value["data"][key].is_null()
            });
        if !optional && !in_example {
            problems.push(format!(
                "{name} comes from Secret `{secret}` key `{key}`, which {SECRETS_EXAMPLE} does not show"
            ));
        }
    }

    // Shutdown: SIGKILL only after the drain and the in-flight requests.
    let grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
        .as_f64()
        .unwrap_or(30.0); // the Kubernetes default
    let drain_delay = duration_setting(&config, &["server", "drain_delay"], "0s");
    let shutdown_timeout = duration_setting(&config, &["server", "shutdown_timeout"], "30s");
    if drain_delay <= 0.0 {
        problems.push("config/production.toml sets no server.drain_delay".into());
    }
    if grace <= drain_delay + shutdown_timeout {
        problems.push(format!(
            "terminationGracePeriodSeconds {grace} does not exceed server.drain_delay ({drain_delay}s) + server.shutdown_timeout ({shutdown_timeout}s)"
        ));
    }

    // Non-root, read-only root file system.
    let pod_security = &pod_spec(deployment)["securityContext"];
    let security = &container["securityContext"];
    if pod_security["runAsNonRoot"] != true && security["runAsNonRoot"] != true {
        problems.push("runAsNonRoot is not set".into());
    }
    if security["readOnlyRootFilesystem"] != true {
        problems.push("readOnlyRootFilesystem is not set".into());
    }
    if security["allowPrivilegeEscalation"] != false {
        problems.push("allowPrivilegeEscalation is not false".into());
    }
    if container["resources"]["requests"].is_null() || container["resources"]["limits"].is_null() {
        problems.push("resources.requests and resources.limits are not both set".into());
    }
    problems
}

/// No Secret outside the example, placeholders only in it, and no secret-looking variable
/// with an inline value in any container.
fn secret_problems(docs: &[Doc]) -> Vec<String> {
    let mut problems = Vec::new();
    for doc in docs {
        if doc.kind() == "Secret" {
            if doc.file != SECRETS_EXAMPLE {
                problems.push(format!("{}: a Secret outside {SECRETS_EXAMPLE}", doc.file));
            }
            let values = doc.value["stringData"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            if !doc.value["data"].is_null() {
                problems.push(format!(
                    "{}: Secret `{}` has `data`: use stringData placeholders",
                    doc.file,
                    doc.name()
                ));
            }
            for (key, value) in values {
                if !value.as_str().unwrap_or_default().contains("REPLACE_ME") {
                    problems.push(format!(
                        "{}: Secret `{}` key `{key}` is not a REPLACE_ME placeholder",
                        doc.file,
                        doc.name()
                    ));
                }
            }
        }
        let containers = doc.value["spec"]["template"]["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for container in containers {
            for entry in env_of(&container) {
                let name = entry["name"].as_str().unwrap_or_default();
                let Some(value) = entry["value"].as_str() else {
                    continue;
                };
                let secret_name = ["KEY", "SECRET", "TOKEN", "PASSWORD", "URI"]
                    .iter()
                    .any(|word| name.contains(word));
                if secret_name || value.contains("signkey-") {
                    problems.push(format!(
                        "{}: {name} has an inline value: take it from a secretKeyRef",
                        doc.file
                    ));
                }
            }
        }
    }
    problems
}

/// The shop Service reaches the container port; the Inngest server runs `inngest start` on
/// Postgres and Redis from its Secret, and the shop's INNGEST_BASE_URL names its Service.
fn topology_problems(docs: &[Doc]) -> Vec<String> {
    let mut problems = Vec::new();
    let shop_deployment = &find(docs, "Deployment", SHOP_DEPLOYMENT).value;
    let shop_container = container(shop_deployment);
    let shop_service = &find(docs, "Service", SHOP_SERVICE).value;
    let labels = &shop_deployment["spec"]["template"]["metadata"]["labels"];
    for (key, value) in shop_service["spec"]["selector"]
        .as_object()
        .cloned()
        .unwrap_or_default()
    {
        if labels[&key] != value {
            problems.push(format!(
                "Service `shop` selects {key}={value}, which the pods do not carry"
            ));
        }
    }
    let service_port = &shop_service["spec"]["ports"][0];
    if service_port["port"] != 80 {
        problems.push(format!(
            "Service `shop` listens on {} instead of 80",
            service_port["port"]
        ));
    }
    if resolve_port(shop_container, &service_port["targetPort"]) != container_port(shop_container) {
        problems.push(format!(
            "Service `shop` targets {} instead of the container port",
            service_port["targetPort"]
        ));
    }

    let server = &find(docs, "Deployment", INNGEST_DEPLOYMENT).value;
    let server_container = container(server);
    let mut command: Vec<String> = Vec::new();
    for part in ["command", "args"] {
        for word in server_container[part]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            command.push(word.as_str().unwrap_or_default().to_string());
        }
    }
    if !command.iter().any(|word| word == "start") {
        problems.push(format!(
            "the Inngest server does not run `inngest start`: {command:?}"
        ));
    }
    let server_env = env_of(server_container);
    for flag in [
        "--postgres-uri",
        "--redis-uri",
        "--signing-key",
        "--event-key",
    ] {
        let Some(at) = command.iter().position(|word| word == flag) else {
            problems.push(format!("the Inngest server is started without {flag}"));
            continue;
        };
        let value = command.get(at + 1).cloned().unwrap_or_default();
        let from_secret = value
            .strip_prefix("$(")
            .and_then(|rest| rest.strip_suffix(')'))
            .and_then(|variable| env_entry(&server_env, variable))
            .is_some_and(|entry| entry["valueFrom"]["secretKeyRef"].is_object());
        if !from_secret {
            problems.push(format!(
                "{flag} `{value}` is not $(VARIABLE) from a secretKeyRef"
            ));
        }
    }
    let server_port = container_port(server_container);
    if server_port != Some(8288) {
        problems.push(format!(
            "the Inngest server listens on {server_port:?}, not 8288"
        ));
    }
    let inngest_service = &find(docs, "Service", INNGEST_SERVICE).value;
    let port = inngest_service["spec"]["ports"][0]["port"].as_u64();
    let base_url = env_entry(&env_of(shop_container), "INNGEST_BASE_URL")
        .and_then(|entry| entry["value"].as_str())
        .unwrap_or_default()
        .to_string();
    let expected = format!("http://{INNGEST_SERVICE}:{}", port.unwrap_or_default());
    if base_url.trim_end_matches('/') != expected {
        problems.push(format!(
            "INNGEST_BASE_URL `{base_url}` is not the Inngest server's Service ({expected})"
        ));
    }
    problems
}

fn assert_none(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "problems:\n  - {}",
        problems.join("\n  - ")
    );
}

#[test]
fn every_manifest_parses_and_the_shop_deployment_fits_the_app() {
    let docs = manifests();
    let shop = find(&docs, "Deployment", SHOP_DEPLOYMENT);
    assert_eq!(shop.file, "shop-deployment.yaml");
    assert_none(shop_deployment_problems(&shop.value, &docs));
    assert_none(secret_problems(&docs));
    assert_none(topology_problems(&docs));
}

#[test]
fn the_guide_and_the_manifests_link_each_other() {
    let guide = read("docs/deploy.md");
    for entry in std::fs::read_dir(workspace().join("deploy/k8s")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            guide.contains(&format!("deploy/k8s/{name}")),
            "docs/deploy.md does not mention deploy/k8s/{name}"
        );
    }
    assert!(read("deploy/k8s/README.md").contains("docs/deploy.md"));
    assert!(read("docs/inngest.md").contains("deploy.md"));
    assert!(read("README.md").contains("docs/deploy.md"));
}

/// Each check catches its kind of mistake.
#[test]
fn each_check_fails_on_a_broken_manifest() {
    let docs = manifests();
    let shop = find(&docs, "Deployment", SHOP_DEPLOYMENT).value.clone();
    type Break = fn(&mut Value);
    let cases: [(&str, Break, &str); 11] = [
        (
            "wrong readiness path",
            |d| {
                d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] =
                    json!("/health")
            },
            "readinessProbe path",
        ),
        (
            "wrong liveness port",
            |d| {
                d["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] =
                    json!(3000)
            },
            "livenessProbe port",
        ),
        (
            "wrong container port",
            |d| {
                d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] =
                    json!(3000)
            },
            "containerPort",
        ),
        (
            "one replica",
            |d| d["spec"]["replicas"] = json!(1),
            "spec.replicas",
        ),
        (
            "short grace period",
            |d| d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(5),
            "terminationGracePeriodSeconds",
        ),
        (
            "no grace period (30 s default)",
            |d| {
                d["spec"]["template"]["spec"]
                    .as_object_mut()
                    .unwrap()
                    .remove("terminationGracePeriodSeconds");
            },
            "terminationGracePeriodSeconds",
        ),
        (
            "an unknown variable",
            |d| push_env(d, json!({"name": "INNGEST_SIGNING_SECRET", "value": "x"})),
            "INNGEST_SIGNING_SECRET is not in the options table",
        ),
        (
            "a config key the app lacks",
            |d| push_env(d, json!({"name": "APP__SERVER__DRAIN", "value": "5s"})),
            "server.drain",
        ),
        (
            "an inline signing key",
            |d| {
                set_env(
                    d,
                    "INNGEST_SIGNING_KEY",
                    json!({"name": "INNGEST_SIGNING_KEY", "value": "signkey-prod-00"}),
                )
            },
            "INNGEST_SIGNING_KEY must come from a secretKeyRef",
        ),
        (
            "no serve origin",
            |d| remove_env(d, "INNGEST_SERVE_ORIGIN"),
            "INNGEST_SERVE_ORIGIN is required",
        ),
        (
            "a writable root file system",
            |d| {
                d["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] =
                    json!(false)
            },
            "readOnlyRootFilesystem",
        ),
    ];
    for (what, break_it, expected) in cases {
        let mut broken = shop.clone();
        break_it(&mut broken);
        let problems = shop_deployment_problems(&broken, &docs);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{what}: expected a problem containing `{expected}`, got {problems:?}"
        );
    }

    // A key in clear text in any manifest, and a real-looking value in the Secret example.
    let mut broken = docs.clone();
    let server = broken
        .iter_mut()
        .find(|doc| doc.kind() == "Deployment" && doc.name() == INNGEST_DEPLOYMENT)
        .unwrap();
    push_env(
        &mut server.value,
        json!({"name": "INNGEST_REDIS_URI", "value": "redis://:hunter2@redis:6379"}),
    );
    let secret = broken
        .iter_mut()
        .find(|doc| doc.kind() == "Secret")
        .unwrap();
    secret.value["stringData"]["INNGEST_EVENT_KEY"] = json!("0123456789abcdef");
    let problems = secret_problems(&broken);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("INNGEST_REDIS_URI has an inline value")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("not a REPLACE_ME placeholder")),
        "{problems:?}"
    );

    // The server without Postgres, and the shop pointed elsewhere.
    let mut broken = docs.clone();
    for doc in &mut broken {
        if doc.kind() == "Deployment" && doc.name() == INNGEST_DEPLOYMENT {
            let args = doc.value["spec"]["template"]["spec"]["containers"][0]["args"]
                .as_array_mut()
                .unwrap();
            let at = args.iter().position(|a| a == "--postgres-uri").unwrap();
            args.drain(at..at + 2);
        }
        if doc.kind() == "Deployment" && doc.name() == SHOP_DEPLOYMENT {
            set_env(
                &mut doc.value,
                "INNGEST_BASE_URL",
                json!({"name": "INNGEST_BASE_URL", "value": "http://inngest:9999"}),
            );
        }
    }
    let problems = topology_problems(&broken);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("without --postgres-uri")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("INNGEST_BASE_URL")),
        "{problems:?}"
    );
}

fn env_mut(deployment: &mut Value) -> &mut Vec<Value> {
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array_mut()
        .unwrap()
}

fn push_env(deployment: &mut Value, entry: Value) {
    env_mut(deployment).push(entry);
}

fn set_env(deployment: &mut Value, name: &str, entry: Value) {
    let env = env_mut(deployment);
    let at = env.iter().position(|e| e["name"] == name).unwrap();
    env[at] = entry;
}

fn remove_env(deployment: &mut Value, name: &str) {
    env_mut(deployment).retain(|e| e["name"] != name);
}

/// The probe paths, GET on the real shop binary: 200. A path it does not serve is not.
#[tokio::test]
async fn the_probe_paths_are_routes_the_real_shop_serves() {
    let docs = manifests();
    let shop_container = container(&find(&docs, "Deployment", SHOP_DEPLOYMENT).value).clone();
    let process = ShopProcess::start({
        let mut command = shop();
        command.env("APP_ENV", "test");
        command
    });
    let http = reqwest::Client::new();
    for (probe, _) in PROBES {
        let Some(path) = shop_container[probe]["httpGet"]["path"].as_str() else {
            continue;
        };
        let status = http
            .get(format!("{}{path}", process.base))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(
            status,
            200,
            "{probe} {path}: {status}\n{}",
            process.output()
        );
    }
    // The same GET on a path the app does not serve fails the check.
    let status = http
        .get(format!("{}/health/alive", process.base))
        .send()
        .await
        .unwrap()
        .status();
    assert_ne!(status, 200, "a wrong probe path must not pass");
}

/// The Deployment's own variables (the Secret's entries replaced by well-formed test
/// values) start the real binary in production; its probes answer, and readiness turns 503
/// at SIGTERM while liveness stays up: the drain the grace period waits for.
#[tokio::test]
async fn the_deployment_environment_starts_the_shop_in_production() {
    let docs = manifests();
    let shop_container = container(&find(&docs, "Deployment", SHOP_DEPLOYMENT).value).clone();
    let test_values: BTreeMap<&str, &str> = BTreeMap::from([
        (
            "INNGEST_SIGNING_KEY",
            "signkey-prod-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff",
        ),
        (
            "INNGEST_SIGNING_KEY_FALLBACK",
            "signkey-prod-0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
        ),
        ("INNGEST_EVENT_KEY", "test-event-key"),
    ]);
    let mut command = shop();
    for entry in env_of(&shop_container) {
        let name = entry["name"].as_str().unwrap();
        let value = match entry["value"].as_str() {
            Some(value) => value,
            None => test_values
                .get(name)
                .unwrap_or_else(|| panic!("no test value for {name}")),
        };
        command.env(name, value);
    }
    // Only where and how it listens differ from the pod: loopback, a free port, text logs.
    command
        .env("APP__SERVER__HOST", "127.0.0.1")
        .env("APP__SERVER__PORT", "0")
        .env("APP__LOG__FORMAT", "text");
    let process = ShopProcess::start(command);
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}{path}", process.base);
        async move { http.get(url).send().await.unwrap().status() }
    };
    let probe_path = |probe: &str| {
        shop_container[probe]["httpGet"]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("the Deployment has no {probe}"))
            .to_string()
    };
    let (live, ready) = (probe_path("livenessProbe"), probe_path("readinessProbe"));
    assert_eq!(get(live.clone()).await, 200, "{live}\n{}", process.output());
    assert_eq!(
        get(ready.clone()).await,
        200,
        "{ready}\n{}",
        process.output()
    );

    let pid = nix::unistd::Pid::from_raw(i32::try_from(process.pid()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        if get(ready.clone()).await == 503 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "readiness did not turn 503 after SIGTERM:\n{}",
            process.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(get(live).await, 200, "alive while draining");
}
