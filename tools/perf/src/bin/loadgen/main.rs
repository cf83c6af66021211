//! `loadgen`: sends the same HTTP/1.1 request over persistent connections, one task per
//! connection, on a multi-thread tokio runtime (`--threads` workers, default one per core),
//! until a time limit or a request count is reached; then prints requests/s,
//! status counts, p50/p99 latency and errors.
//!
//! ```sh
//! loadgen --url 'http://127.0.0.1:3000/api/inngest?fnId=shop-process-order&stepId=step' \
//!   --connections 32 --duration 10 --requests 2000000 --body request.json \
//!   --header 'Content-Type: application/json' --sign-key signkey-prod-… \
//!   --expect 206 --expect-body '"op":"Sleep"'
//! ```
//!
//! `--show-first` prints the first answer's status and body. Exits non-zero when a response
//! had another status than `--expect` (any 2xx without it), lacked the `--expect-body`
//! text, or a request failed.

mod conn;
mod report;
mod worker;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use hyper::body::Bytes;
use perf::Result;
use perf::args::Args;
use perf::target::Target;

use crate::report::Report;
use crate::worker::{Plan, Tally};

const VALUED: &[&str] = &[
    "url",
    "connections",
    "duration",
    "requests",
    "body",
    "header",
    "method",
    "expect",
    "expect-body",
    "sign-key",
    "threads",
];

/// Reads the options into the plan every connection follows.
fn plan(args: &Args) -> Result<(Plan, usize, usize)> {
    let target = Target::parse(args.required("url")?)?;
    let connections: usize = args.parsed("connections")?.unwrap_or(4);
    if connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    let seconds: f64 = args.parsed("duration")?.unwrap_or(10.0);
    if !(seconds > 0.0 && seconds <= 3600.0) {
        return Err("--duration must be between 0 and 3600 seconds".into());
    }
    let threads = match args.parsed("threads")? {
        Some(threads) => threads,
        None => std::thread::available_parallelism().map_or(2, usize::from),
    };
    let body = match args.value("body") {
        Some(path) => Bytes::from(std::fs::read(path).map_err(|e| format!("--body {path}: {e}"))?),
        None => Bytes::new(),
    };
    let method = match args.value("method") {
        Some(method) => Method::from_bytes(method.as_bytes())?,
        None if body.is_empty() => Method::GET,
        None => Method::POST,
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::HOST,
        HeaderValue::from_str(&target.authority)?,
    );
    for line in args.values("header") {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("--header {line:?}: expected `Name: value`"))?;
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes())?,
            HeaderValue::from_str(value.trim())?,
        );
    }
    let sign_key = args.value("sign-key").map(str::to_string);
    if let Some(key) = &sign_key
        && !inngest_protocol::signature::is_well_formed_key(key)
    {
        return Err("--sign-key: expected signkey-<env>-<hex>".into());
    }
    let plan = Plan {
        authority: target.authority,
        uri: target.path_and_query.parse()?,
        method,
        headers,
        body,
        sign_key,
        expect: args.parsed("expect")?,
        expect_body: args
            .value("expect-body")
            .map(|t| Bytes::from(t.to_string())),
        deadline: Instant::now() + Duration::from_secs_f64(seconds),
        limit: args.parsed("requests")?.unwrap_or(u64::MAX),
        issued: AtomicU64::new(0),
        show_first: args.switch("show-first"),
    };
    Ok((plan, connections, threads))
}

fn main() -> std::process::ExitCode {
    perf::exit(run())
}

fn run() -> Result<()> {
    let args = Args::parse(std::env::args().skip(1), VALUED, &["show-first"])?;
    let url = args.required("url")?.to_string();
    let (plan, connections, threads) = plan(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?;
    let plan = Arc::new(plan);
    let started = Instant::now();
    let tallies: Vec<Tally> = runtime.block_on(async {
        let tasks: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(worker::run(Arc::clone(&plan))))
            .collect();
        let mut tallies = Vec::with_capacity(tasks.len());
        for task in tasks {
            match task.await {
                Ok(tally) => tallies.push(tally),
                Err(e) => tallies.push(Tally::failed(format!("connection task: {e}"))),
            }
        }
        tallies
    });
    let report = Report::new(&url, connections, started.elapsed(), tallies, plan.expect);
    print!("{report}");
    if report.ok() {
        Ok(())
    } else {
        Err("some requests failed or got an unexpected answer (see above)".into())
    }
}
