//! The embedded executor's runs page in a real browser: after a three-step run completes, the
//! list (`/_inngest/runs`) and the run (`/_inngest/runs/{id}`) are loaded in headless
//! Chromium (Debian's `chromium`, installed by `scripts/test`); the DOM it built must show the
//! run id, the function, the status and every step, and a screenshot of the run is saved to
//! `<target>/test-artifacts/runs-page.png` (the list next to it, `runs-list.png`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use framework::{Module, RunningApp, TestingModule, injectable};
use inngest_module::{self as inngest, Ctx, InngestModule};
use serde_json::{Value, json};

const STEPS: [&str; 3] = ["reserve-stock", "charge-card", "send-receipt"];

struct Orders;

#[injectable]
impl Orders {
    fn new() -> Self {
        Orders
    }

    /// Three steps, one after the other.
    #[inngest::function(id = "process-order", event = "shop/order.created", retries = 0)]
    async fn process_order(&self, ctx: Ctx) -> inngest::Result<Value> {
        let order = ctx.event.data["order"].clone();
        let stock: Value = ctx
            .step
            .run(
                "reserve-stock",
                || async move { Ok(json!({ "reserved": 2 })) },
            )
            .await?;
        let charge: Value = ctx
            .step
            .run(
                "charge-card",
                || async move { Ok(json!({ "charged": 1999 })) },
            )
            .await?;
        let receipt: Value = ctx
            .step
            .run("send-receipt", || async move { Ok(json!("receipt-42")) })
            .await?;
        Ok(json!({ "order": order, "stock": stock, "charge": charge, "receipt": receipt }))
    }
}

async fn shop() -> RunningApp {
    let root = Module::new("app")
        .import(InngestModule::from_config())
        .import(Module::new("orders").provide::<Orders>());
    TestingModule::new(root)
        .config("[inngest]\napp_id = \"shop\"")
        .build()
        .await
        .expect("the app builds")
        .start()
        .await
        .expect("the app starts")
}

/// The `chromium` binary, or a failure saying how to get it.
fn chromium() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("chromium"))
        .chain([PathBuf::from("/usr/bin/chromium")])
        .find(|path| path.is_file());
    on_path.unwrap_or_else(|| {
        panic!(
            "headless Chromium is required by this test but `chromium` is not installed: run \
             scripts/test (it installs Debian's `chromium` with apt-get), or \
             `apt-get install -y --no-install-recommends chromium`"
        )
    })
}

/// Where test artifacts go: `$CARGO_TARGET_DIR/test-artifacts`, else the workspace's
/// `target/test-artifacts`.
fn artifacts_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                workspace.join(dir)
            }
        })
        .unwrap_or_else(|| workspace.join("target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {dir:?}: {e}"));
    dir
}

/// Runs headless Chromium with `args` then `url`, with its own profile, for at most 90 s.
async fn run_chromium(args: &[String], url: &str) -> Output {
    let binary = chromium();
    let profile = std::env::temp_dir().join(format!(
        "runs-page-chromium-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let mut command = Command::new(&binary);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let target = url.to_string();
    let output = tokio::task::spawn_blocking(move || {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{binary:?} does not start ({e}): run scripts/test"));
        let pid = child.id();
        let (done, wait) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let output = child.wait_with_output();
            let _ = done.send(());
            output
        });
        if wait.recv_timeout(Duration::from_secs(90)).is_err() {
            // Only the browser this test started, by its id.
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("chromium did not finish within 90 s for {target}");
        }
        waiter.join().unwrap().expect("chromium's output")
    })
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        output.status.success(),
        "chromium failed for {url}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The DOM Chromium built for `url`, serialized.
async fn dump_dom(url: &str) -> String {
    let output = run_chromium(&["--dump-dom".to_string()], url).await;
    let dom = String::from_utf8(output.stdout).expect("UTF-8 DOM");
    assert!(
        dom.contains("</html>"),
        "chromium dumped no document for {url}: {dom}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    dom
}

/// A 1280×900 screenshot of `url` at `path`; returns its bytes.
async fn screenshot(url: &str, path: &Path) -> Vec<u8> {
    let _ = std::fs::remove_file(path);
    run_chromium(
        &[
            format!("--screenshot={}", path.display()),
            "--window-size=1280,900".to_string(),
        ],
        url,
    )
    .await;
    std::fs::read(path).unwrap_or_else(|e| panic!("no screenshot at {path:?}: {e}"))
}

/// Checks a PNG: signature, the IHDR size, and more than a blank page's worth of bytes.
fn assert_png(bytes: &[u8], path: &Path) {
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR",
        "{path:?} is not a PNG"
    );
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 900), "{path:?}");
    assert!(
        bytes.len() > 20_000,
        "{path:?} is only {} bytes: the page looks blank",
        bytes.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runs_page_renders_a_completed_run_in_chromium() {
    let binary = chromium(); // fail first, with the fix, when it is missing
    let app = shop().await;
    let api = format!("{}/_inngest", app.base_url());
    let client = reqwest::Client::new();
    let sent: Value = client
        .post(format!("{api}/e/test-key"))
        .json(&json!({"name": "shop/order.created", "data": {"order": "o-1001"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event_id = sent["ids"][0].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let run = loop {
        let runs: Value = client
            .get(format!("{api}/api/runs?event={event_id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let run = runs["data"][0].clone();
        if run["status"] == "Completed" {
            break run;
        }
        assert!(
            Instant::now() < deadline && run["status"] != "Failed",
            "the run did not complete: {runs:#}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let run_id = run["run_id"].as_str().unwrap().to_string();
    assert_eq!(run["function_id"], "shop-process-order");

    let started = Instant::now();
    let list = dump_dom(&format!("{api}/runs")).await;
    assert!(
        list.contains(&format!("data-run-id=\"{run_id}\"")),
        "the list shows the run {run_id}:\n{list}"
    );
    assert!(list.contains(&format!("<code>{run_id}</code>")), "{list}");
    assert!(list.contains(">shop-process-order</a>"), "{list}");
    assert!(
        list.contains("<span class=\"status Completed\">Completed</span>"),
        "{list}"
    );
    assert!(list.contains("shop/order.created"), "{list}");

    let url = format!("{api}/runs/{run_id}");
    let page = dump_dom(&url).await;
    assert!(
        page.contains(&format!("<h1>Run <code>{run_id}</code></h1>")),
        "{page}"
    );
    assert!(
        page.contains("<code id=\"function\">shop-process-order</code>"),
        "{page}"
    );
    assert!(
        page.contains("<span id=\"status\" class=\"status Completed\">Completed</span>"),
        "{page}"
    );
    let mut last = 0;
    for step in STEPS {
        let row = format!("<tr class=\"step\" data-step=\"{step}\">");
        let at = page
            .find(&row)
            .unwrap_or_else(|| panic!("no row for step `{step}`:\n{page}"));
        assert!(at > last, "steps in order: `{step}`");
        last = at;
        let cells = &page[at..at + page[at..].find("</tr>").unwrap()];
        assert!(cells.contains(&format!("<code>{step}</code>")), "{cells}");
        assert!(cells.contains("StepRun"), "{cells}");
        assert!(cells.contains(">Completed</span>"), "{cells}");
    }
    assert!(page.contains("receipt-42"), "the output is shown:\n{page}");

    let dir = artifacts_dir();
    let shot = dir.join("runs-page.png");
    let bytes = screenshot(&url, &shot).await;
    assert_png(&bytes, &shot);
    let list_shot = dir.join("runs-list.png");
    let list_bytes = screenshot(&format!("{api}/runs"), &list_shot).await;
    assert_png(&list_bytes, &list_shot);
    eprintln!(
        "runs_page: {binary:?} rendered 2 pages and 2 screenshots in {} ms; {} ({} bytes), {} ({} bytes)",
        started.elapsed().as_millis(),
        shot.display(),
        bytes.len(),
        list_shot.display(),
        list_bytes.len()
    );
}
