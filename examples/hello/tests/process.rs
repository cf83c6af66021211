//! Runs the real `hello` binary: graceful shutdown on SIGTERM during a slow request, and
//! refusal to start in production with a missing required value.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn hello() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hello"));
    command
        .env_remove("RUST_LOG")
        .env_remove("APP_CONFIG_DIR")
        .env("APP_ENV", "test")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[tokio::test]
async fn sigterm_lets_the_slow_request_finish_runs_hooks_in_reverse_and_exits_zero() {
    let mut child = hello().spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let base = loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the app logs its address");
        lines.push(line.clone());
        if let Some(at) = line.find("listening on http://") {
            let url = line[at + "listening on ".len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_string();
            break url;
        }
    };

    assert_eq!(
        reqwest::get(format!("{base}/hello/ada"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "Hello, ada!"
    );
    let slow = tokio::spawn({
        let url = format!("{base}/slow?ms=1500");
        async move {
            let response = reqwest::get(url).await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();

    let (status, body) = slow.await.unwrap();
    assert_eq!((status, body.as_str()), (200, "worked 1500 ms"));
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(exit.code(), Some(0), "clean exit after SIGTERM");

    lines.extend(lines_rx.try_iter());
    let hooks: Vec<String> = lines
        .iter()
        .filter(|l| l.contains("lifecycle"))
        .filter_map(|l| {
            let module = l.split("module=\"").nth(1)?.split('"').next()?;
            let hook = l.split("hook=\"").nth(1)?.split('"').next()?;
            Some(format!("{hook}:{module}"))
        })
        .collect();
    assert_eq!(
        hooks,
        [
            "on_module_init:audit",
            "on_module_init:greetings",
            "before_application_shutdown:greetings",
            "before_application_shutdown:audit",
            "on_module_destroy:greetings",
            "on_module_destroy:audit",
            "on_application_shutdown:greetings",
            "on_application_shutdown:audit",
        ],
        "log was:\n{}",
        lines.join("\n")
    );
    let finished = lines
        .iter()
        .position(|l| l.contains("in-flight requests finished"));
    let first_hook = lines
        .iter()
        .position(|l| l.contains("before_application_shutdown"));
    assert!(
        finished < first_hook,
        "requests finish before the shutdown hooks"
    );
}

#[test]
fn production_with_a_missing_secret_exits_non_zero_before_binding() {
    let output = hello()
        .env("APP_ENV", "production")
        .env_remove("APP__GREETINGS__API_KEY")
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("greetings.api_key: required in production: set APP__GREETINGS__API_KEY"),
        "stderr was: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stdout.contains("listening on"),
        "no port was bound: {stdout}"
    );
}

#[test]
fn an_unknown_app_env_is_refused() {
    let output = hello().env("APP_ENV", "prod").output().unwrap();
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("APP_ENV: APP_ENV=\"prod\" is not an environment"),
        "{stderr}"
    );
}
