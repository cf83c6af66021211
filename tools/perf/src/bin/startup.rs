//! `startup`: cold start, exec → first `200`. Spawns the command (with this process's
//! environment), polls the URL (connect + `GET`, every ~0.5 ms) until it answers `200`,
//! records the time since the exec, stops the child (SIGTERM, then waits), and repeats.
//!
//! ```sh
//! startup --runs 10 --url http://127.0.0.1:3000/health/live -- target/release/shop
//! ```
//!
//! The child's stdout and stderr go to a log file (`--log`; by default a file in the temp
//! dir, removed after each run), whose end is shown when a run fails. `--timeout` (default
//! 30 s) bounds the wait for the first `200`.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use perf::Result;
use perf::args::Args;
use perf::stats::median;
use perf::target::Target;

/// Pause between two polls.
const POLL_EVERY: Duration = Duration::from_micros(500);
/// How long a stopped child may take to exit before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// Whether `GET target` on `addr` answers `200` now.
fn answers_200(addr: SocketAddr, target: &Target) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_nodelay(true);
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        target.path_and_query, target.authority
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => read += n,
        }
    }
    head.starts_with(b"HTTP/1.") && &head[8..12] == b" 200"
}

/// Sends SIGTERM and waits; SIGKILL after [`STOP_GRACE`]. Returns how long it took.
fn stop(child: &mut Child) -> Result<Duration> {
    let started = Instant::now();
    let pid = Pid::from_raw(i32::try_from(child.id())?);
    kill(pid, Signal::SIGTERM)?;
    while child.try_wait()?.is_none() {
        if started.elapsed() > STOP_GRACE {
            child.kill()?;
            child.wait()?;
            return Err(format!("the child ignored SIGTERM for {STOP_GRACE:?}; killed").into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(started.elapsed())
}

/// The end of the child's log, for a failed run.
fn log_tail(log: &PathBuf) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// One run: exec → first 200, then stop. Returns (start-up, stop) times.
fn run_once(
    command: &[String],
    addr: SocketAddr,
    target: &Target,
    timeout: Duration,
    log: &PathBuf,
) -> Result<(Duration, Duration)> {
    if answers_200(addr, target) {
        return Err(format!(
            "{} already answers before the command starts: stop what listens there",
            target.authority
        )
        .into());
    }
    let out = File::create(log)?;
    let err = out.try_clone()?;
    let (program, rest) = command.split_first().ok_or("no command after --")?;
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    let up = loop {
        if answers_200(addr, target) {
            break started.elapsed();
        }
        if let Some(status) = child.try_wait()? {
            return Err(format!(
                "the command exited ({status}) before answering 200; its log:\n{}",
                log_tail(log)
            )
            .into());
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("no 200 within {timeout:?}; its log:\n{}", log_tail(log)).into());
        }
        std::thread::sleep(POLL_EVERY);
    };
    let down = stop(&mut child)?;
    Ok((up, down))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn main() -> std::process::ExitCode {
    perf::exit(run())
}

fn run() -> Result<()> {
    let args = Args::parse(
        std::env::args().skip(1),
        &["runs", "url", "timeout", "log"],
        &[],
    )?;
    let runs: usize = args.parsed("runs")?.unwrap_or(10);
    if runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    let target = Target::parse(args.required("url")?)?;
    let timeout = Duration::try_from_secs_f64(args.parsed("timeout")?.unwrap_or(30.0))
        .map_err(|e| format!("--timeout: {e}"))?;
    let default_log = args.value("log").is_none();
    let log = args.value("log").map_or_else(
        || std::env::temp_dir().join(format!("perf-startup-{}.log", std::process::id())),
        PathBuf::from,
    );
    if args.command.is_empty() {
        return Err("usage: startup --runs N --url URL -- COMMAND [ARGS…]".into());
    }
    let addr = target
        .authority
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| format!("{} does not resolve", target.authority))?;
    let mut times = Vec::with_capacity(runs);
    for run in 1..=runs {
        let outcome = run_once(&args.command, addr, &target, timeout, &log);
        if default_log {
            let _ = std::fs::remove_file(&log);
        }
        let (up, down) = outcome?;
        println!(
            "run {run:>2}: {:7.2} ms to the first 200 (stopped in {:.1} ms)",
            ms(up),
            ms(down)
        );
        times.push(ms(up));
    }
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    let max = times.iter().copied().fold(0.0, f64::max);
    let median = median(&times).unwrap_or_default();
    println!(
        "startup      median {median:.2} ms, min {min:.2} ms, max {max:.2} ms over {runs} runs"
    );
    Ok(())
}
