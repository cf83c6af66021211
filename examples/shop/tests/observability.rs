//! The shop binary under real tools: `promtool check metrics` on a scrape taken after
//! functions ran, a real Prometheus server scraping it with `deploy/prometheus.yml`, the
//! Grafana dashboard's queries, and Kubernetes probe semantics at SIGTERM.
//!
//! Needs `prometheus` and `promtool` on PATH (Debian's `prometheus` package; `scripts/test`
//! installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ShopProcess, free_port, place_order, shop, wait_for_run};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn start_shop() -> ShopProcess {
    ShopProcess::start({
        let mut command = shop();
        command.env("APP_ENV", "test");
        command
    })
}

/// Places an order and waits until its run completes on the embedded executor.
async fn place_order_and_wait(http: &reqwest::Client, process: &ShopProcess) {
    let accepted = place_order(http, &process.base, 1, 900, None).await;
    let event_id = accepted["eventIds"][0].as_str().unwrap();
    let run = wait_for_run(http, process, event_id).await;
    assert_eq!(run["status"], "Completed", "{run}");
}

async fn scrape(http: &reqwest::Client, base: &str) -> String {
    let response = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.unwrap()
}

/// `# TYPE <name> <type>` lines of an exposition.
fn types(exposition: &str) -> Vec<(String, String)> {
    exposition
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| {
            let mut parts = rest.split_whitespace();
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect()
}

/// The sample names of an exposition (`name{labels} value` → `name`).
fn sample_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            line.split(['{', ' '])
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// The value of the sample `name{labels}` (labels given exactly as exposed).
fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn a_scrape_after_runs_passes_promtool_and_histograms_are_well_formed() {
    let process = start_shop();
    let base = process.base.clone();
    let http = reqwest::Client::new();
    place_order_and_wait(&http, &process).await;
    let exposition = scrape(&http, &base).await;

    // promtool reads the exposition on stdin and reports problems (lint included).
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (Debian package `prometheus`; scripts/test installs it)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool failed:\n{report}");
    assert_eq!(report.trim(), "", "promtool reported problems");

    // Types and sample names: histograms expose _bucket (with le), _sum and _count.
    let types = types(&exposition);
    let names = sample_names(&exposition);
    for histogram in [
        "inngest_function_duration_seconds",
        "inngest_step_duration_seconds",
        "http_request_duration_seconds",
    ] {
        assert!(
            types.contains(&(histogram.to_string(), "histogram".to_string())),
            "{histogram} is not declared a histogram: {types:?}"
        );
        for suffix in ["_bucket", "_sum", "_count"] {
            assert!(
                names.contains(&format!("{histogram}{suffix}")),
                "{histogram}{suffix} missing"
            );
        }
        assert!(
            exposition.contains(&format!("{histogram}_bucket{{"))
                && exposition
                    .lines()
                    .any(|l| l.starts_with(&format!("{histogram}_bucket{{"))
                        && l.contains("le=\"+Inf\"")),
            "{histogram} has no +Inf bucket"
        );
        assert!(
            !names.contains(histogram),
            "{histogram} has a bare sample next to its buckets"
        );
    }
    for (counter, kind) in [
        ("inngest_function_runs_total", "counter"),
        ("inngest_step_runs_total", "counter"),
        ("inngest_events_sent_total", "counter"),
        ("inngest_syncs_total", "counter"),
        ("http_requests_total", "counter"),
        ("process_cpu_seconds_total", "counter"),
        ("inngest_function_runs_in_flight", "gauge"),
        ("inngest_registered_functions", "gauge"),
        ("inngest_build_info", "gauge"),
        ("process_resident_memory_bytes", "gauge"),
    ] {
        assert!(
            types.contains(&(counter.to_string(), kind.to_string())),
            "{counter} is not a {kind}: {types:?}"
        );
    }

    // The values follow what ran: one completed order run, one embedded sync, seven
    // functions, the order event sent by the HTTP handler.
    assert_eq!(
        sample(
            &exposition,
            r#"inngest_function_runs_total{function_id="shop-process-order",status="completed"}"#
        ),
        Some(1.0),
        "{exposition}"
    );
    assert_eq!(
        sample(&exposition, r#"inngest_syncs_total{status="ok"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&exposition, "inngest_registered_functions"),
        Some(7.0)
    );
    assert!(sample(&exposition, r#"inngest_events_sent_total{status="ok"}"#).unwrap() >= 1.0);
    assert_eq!(
        sample(
            &exposition,
            r#"http_requests_total{method="POST",route="/orders",status="202"}"#
        ),
        Some(1.0),
        "{exposition}"
    );
    // Low cardinality: no run or event ids in any label.
    assert!(
        !exposition.contains("run_id") && !exposition.contains("event_id"),
        "ids leaked into labels"
    );
}

/// Starts `prometheus` on a free loopback port with `config`; killed on drop.
struct PrometheusServer {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl PrometheusServer {
    fn start(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let check = Command::new("promtool")
            .args(["check", "config"])
            .arg(&config_path)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "promtool check config: {}",
            String::from_utf8_lossy(&check.stdout)
        );
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed (Debian package `prometheus`)");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// An instant query; the `data.result` array.
    async fn query(&self, http: &reqwest::Client, promql: &str) -> Result<Vec<Value>, String> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/query", self.url),
            &[("query", promql)],
        )
        .map_err(|e| e.to_string())?;
        let response = http.get(url).send().await.map_err(|e| e.to_string())?;
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        if body["status"] != "success" {
            return Err(body.to_string());
        }
        Ok(body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Polls `promql` until `accept` likes the result (up to 60 s).
    async fn wait_for(
        &self,
        http: &reqwest::Client,
        promql: &str,
        accept: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = Err(String::from("no answer yet"));
        while Instant::now() < deadline {
            last = self.query(http, promql).await;
            if let Ok(result) = &last
                && accept(result)
            {
                return result.clone();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("`{promql}` never gave the expected result; last: {last:?}");
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn value_of(result: &[Value]) -> Option<f64> {
    result.first()?["value"][1].as_str()?.parse().ok()
}

/// PromQL metric names in an expression: identifiers outside label matchers, grouping
/// lists, ranges and strings that are not function calls or keywords.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: [&str; 10] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
    ];
    let mut cleaned = String::new();
    let mut depth_braces = 0;
    let mut depth_brackets = 0;
    let mut in_string = false;
    for c in expr.chars() {
        match c {
            '"' => in_string = !in_string,
            '{' if !in_string => depth_braces += 1,
            '}' if !in_string => depth_braces -= 1,
            '[' if !in_string => depth_brackets += 1,
            ']' if !in_string => depth_brackets -= 1,
            _ if in_string || depth_braces > 0 || depth_brackets > 0 => {}
            c => cleaned.push(c),
        }
        if matches!(c, '{' | '}' | '[' | ']' | '"') {
            cleaned.push(' ');
        }
    }
    // Drop `by (...)` / `without (...)` label lists.
    let grouping = regex_lite(&cleaned);
    let mut names = BTreeSet::new();
    let chars: Vec<char> = grouping.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_alphabetic() || chars[i] == '_' || chars[i] == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            if next != Some(&'(') && !KEYWORDS.contains(&word.as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// Removes `by (...)` and `without (...)` groups.
fn regex_lite(expr: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(at) = ["by", "without"]
        .iter()
        .filter_map(|kw| {
            rest.match_indices(kw).find(|(i, _)| {
                let before = rest[..*i].chars().last();
                let after = rest[i + kw.len()..].trim_start().starts_with('(');
                before.is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_') && after
            })
        })
        .map(|(i, kw)| (i, kw.len()))
        .min()
    {
        let (i, len) = at;
        out.push_str(&rest[..i]);
        let after = &rest[i + len..];
        let close = after.find(')').map_or(after.len(), |c| c + 1);
        rest = &after[close..];
    }
    out.push_str(rest);
    out
}

#[test]
fn metric_names_are_extracted_from_promql() {
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.95, sum by (le, function_id) (rate(inngest_step_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))"#
        ),
        BTreeSet::from(["inngest_step_duration_seconds_bucket".to_string()])
    );
    assert_eq!(
        metric_names(
            r#"sum by (function_id) (rate(a_total{status="failed"}[5m])) / sum without (x) (b_total)"#
        ),
        BTreeSet::from(["a_total".to_string(), "b_total".to_string()])
    );
}

/// Every `expr` of the dashboard, with Grafana's variables replaced for a direct query.
fn dashboard_queries() -> Vec<String> {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("deploy/grafana/inngest-dashboard.json"))
            .unwrap(),
    )
    .unwrap();
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            queries.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"]["query"].as_str() {
            // `label_values(metric{...}, label)`: the metric must exist too.
            let inner = query
                .trim_start_matches("label_values(")
                .rsplit_once(',')
                .map_or(query, |(metric, _)| metric);
            queries.push(inner.to_string());
        }
    }
    queries
}

fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$job", ".*")
        .replace("$function", ".*")
}

#[tokio::test]
async fn a_real_prometheus_scrapes_the_shop_and_the_dashboard_queries_exist() {
    let process = start_shop();
    let base = process.base.clone();
    let target = base.trim_start_matches("http://").to_string();
    let http = reqwest::Client::new();
    place_order_and_wait(&http, &process).await;

    // The shipped scrape config, pointed at this shop, every second.
    let shipped = std::fs::read_to_string(repo_root().join("deploy/prometheus.yml")).unwrap();
    assert!(shipped.contains("localhost:3000") && shipped.contains("scrape_interval: 15s"));
    let config = shipped
        .replace("localhost:3000", &target)
        .replace("scrape_interval: 15s", "scrape_interval: 1s")
        .replace("scrape_timeout: 5s", "scrape_timeout: 1s");
    let prometheus = PrometheusServer::start(&config);

    let up = prometheus
        .wait_for(&http, r#"up{job="shop"}"#, |r| value_of(r) == Some(1.0))
        .await;
    assert_eq!(up[0]["metric"]["instance"], target.as_str());
    let runs = prometheus
        .wait_for(
            &http,
            r#"inngest_function_runs_total{job="shop",function_id="shop-process-order",status="completed"}"#,
            |r| value_of(r).is_some(),
        )
        .await;
    let exposition = scrape(&http, &base).await;
    assert_eq!(
        value_of(&runs),
        sample(
            &exposition,
            r#"inngest_function_runs_total{function_id="shop-process-order",status="completed"}"#
        ),
        "Prometheus and the app disagree"
    );
    assert_eq!(value_of(&runs), Some(1.0));

    // The dashboard: every metric it queries is in the scrape, and every query is valid
    // PromQL for a real Prometheus (variables substituted).
    let names = sample_names(&exposition);
    let queries = dashboard_queries();
    assert!(queries.len() >= 14, "{queries:?}");
    let mut queried = BTreeSet::new();
    for query in &queries {
        queried.extend(metric_names(query));
        prometheus
            .query(&http, &substitute(query))
            .await
            .unwrap_or_else(|error| panic!("Prometheus rejects `{query}`: {error}"));
    }
    let missing: Vec<&String> = queried.iter().filter(|n| !names.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics the app does not expose: {missing:?}"
    );
    for expected in [
        "inngest_function_runs_total",
        "inngest_function_duration_seconds_bucket",
        "inngest_step_runs_total",
        "inngest_events_sent_total",
        "inngest_syncs_total",
        "inngest_registered_functions",
        "inngest_function_runs_in_flight",
    ] {
        assert!(
            queried.contains(expected),
            "the dashboard has no panel for {expected}"
        );
    }
}

#[tokio::test]
async fn at_sigterm_ready_turns_503_while_live_stays_200() {
    let process = ShopProcess::start({
        let mut command = shop();
        command
            .env("APP_ENV", "test")
            .env("APP__SERVER__DRAIN_DELAY", "3s")
            .env("APP__HEALTH__CACHE_MS", "0");
        command
    });
    let base = process.base.clone();
    let http = reqwest::Client::new();
    for path in ["/health/ready", "/readyz", "/health/live", "/livez"] {
        let response = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path} before SIGTERM");
    }
    let inngest: Value = http
        .get(format!("{base}/health/inngest"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inngest["status"], "ok", "{inngest}");
    assert_eq!(
        inngest["info"]["inngest"]["executor"], "embedded",
        "{inngest}"
    );

    kill(
        Pid::from_raw(i32::try_from(process.pid()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    // During the drain delay the listener still accepts: ready says 503, live says 200.
    let deadline = Instant::now() + Duration::from_secs(2);
    let ready = loop {
        let response = http
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .unwrap();
        if response.status() == 503 {
            break response.json::<Value>().await.unwrap();
        }
        assert!(Instant::now() < deadline, "ready never turned 503");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(ready["status"], "shutting_down", "{ready}");
    let readyz = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(readyz.status(), 503);
    for path in ["/health/live", "/livez"] {
        let response = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path} while draining");
    }
}
