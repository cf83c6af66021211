//! Launching the real `shop` binary: a clean environment, the address it logs, and a way to
//! stop it (gracefully, or with SIGKILL).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The binary with a clean environment: no `RUST_LOG`, `APP_CONFIG_DIR`, `INNGEST_*` or
/// `APP__*` variables inherited from the shell running the tests.
pub fn shop() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shop"));
    command
        .env_remove("RUST_LOG")
        .env_remove("APP_CONFIG_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars() {
        if name.starts_with("INNGEST_") || name.starts_with("APP__") {
            command.env_remove(name);
        }
    }
    command
}

/// A running shop process. Killed (SIGKILL) when dropped.
pub struct ShopProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`, as the app logged it.
    pub base: String,
    /// Everything it wrote to stdout and stderr so far.
    output: Arc<Mutex<String>>,
}

impl ShopProcess {
    /// Spawns `command` and waits (up to 60 s) for its `listening on http://…` line.
    pub fn start(mut command: Command) -> Self {
        let mut child = command.spawn().expect("the shop binary starts");
        let output = Arc::new(Mutex::new(String::new()));
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stdout_log = Arc::clone(&output);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                stdout_log.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = lines_tx.send(line);
            }
        });
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let stderr_log = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                stderr_log
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        let base = loop {
            let Ok(line) = lines_rx.recv_timeout(Duration::from_secs(60)) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the shop never logged its address; output:\n{}",
                    output.lock().unwrap()
                );
            };
            if let Some(at) = line.find("listening on http://") {
                break line[at + "listening on ".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_string();
            }
        };
        Self {
            child,
            base,
            output,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process logged so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// SIGTERM, then waits (up to 30 s) for a graceful exit; returns the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        kill(pid, Signal::SIGTERM).expect("SIGTERM is delivered");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the shop did not exit after SIGTERM; output:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no shutdown hook, no flush, no goodbye. Waits until the process is gone.
    pub fn kill9(mut self) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        kill(pid, Signal::SIGKILL).expect("SIGKILL is delivered");
        let status = self.child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "killed by SIGKILL: {status:?}"
        );
    }
}

impl Drop for ShopProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now (bound to port 0, then released).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `POST /orders` for `quantity` mugs at `unit_price_cents` (with a `traceparent` header when
/// given); returns the accepted body (`orderId`, `eventIds`).
pub async fn place_order(
    http: &reqwest::Client,
    base: &str,
    quantity: u32,
    unit_price_cents: u32,
    traceparent: Option<&str>,
) -> serde_json::Value {
    let mut request = http.post(format!("{base}/orders"));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    request
        .json(&serde_json::json!({
            "customerId": "cus-1",
            "email": "ada@example.com",
            "items": [{ "sku": "mug", "quantity": quantity, "unitPriceCents": unit_price_cents }]
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls the embedded executor's runs API until the run that `event_id` started ends
/// (`Completed` or `Failed`, at most 30 s); returns that run.
pub async fn wait_for_run(
    http: &reqwest::Client,
    process: &ShopProcess,
    event_id: &str,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let runs: serde_json::Value = http
            .get(format!(
                "{}/_inngest/api/runs?event={event_id}",
                process.base
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let run = &runs["data"][0];
        if run["status"] == "Completed" || run["status"] == "Failed" {
            return run.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run did not finish: {runs}\n{}",
            process.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
