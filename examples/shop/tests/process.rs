//! Runs the real `shop` binary: it serves every function in dev mode with the example's
//! config files, and refuses to start in production without the Inngest keys.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn shop() -> Command {
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

#[test]
fn production_without_keys_exits_non_zero_naming_the_missing_keys() {
    let output = shop().env("APP_ENV", "production").output().unwrap();
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("inngest.signing_key: is required in production: set INNGEST_SIGNING_KEY"),
        "stderr was: {stderr}"
    );
    assert!(
        stderr.contains("inngest.event_key: is required in production: set INNGEST_EVENT_KEY"),
        "stderr was: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stdout.contains("listening on"),
        "no port was bound: {stdout}"
    );
}

#[tokio::test]
async fn the_binary_serves_the_five_functions_in_dev_mode() {
    // APP_ENV=test: config/test.toml picks a free port and turns dev mode on.
    let mut child = shop().env("APP_ENV", "test").spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let base = loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the app logs its address");
        if let Some(at) = line.find("listening on http://") {
            break line[at + "listening on ".len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_string();
        }
    };

    let introspection: serde_json::Value = reqwest::get(format!("{base}/api/inngest"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(introspection["mode"], "dev", "{introspection}");
    assert_eq!(introspection["function_count"], 5, "{introspection}");
}
