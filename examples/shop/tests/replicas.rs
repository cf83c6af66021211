//! The shop as N replicas: the topology an operator runs in production (stateless app
//! replicas behind a load balancer, one Inngest server driving them), on loopback.
//!
//! - The **embedded executor** is hosted by this test process (a `TestingModule` app with
//!   `InngestModule::from_config()` and no dev mode or base URL), at `{host}/_inngest`.
//! - **3 real `shop` binaries** run in dev mode against it (`INNGEST_DEV={host}/_inngest/`,
//!   the same app id), each registering the **proxy**'s URL (`INNGEST_SERVE_ORIGIN`).
//! - A small **round-robin HTTP proxy** (written here) forwards each request to the next
//!   replica in turn: the orders placed by the "customers" and every execution request of
//!   the executor, so consecutive steps of one run land on different replicas.
//!
//! 1,000 orders are placed through the proxy (32 in flight), then every order must have
//! exactly one `process-order` run, completed, with its own charge id, and exactly one
//! charge across the three replicas' gateways (read from their logs: each gateway logs
//! `payment gateway entry=charge <order> <amount> id="<charge id>"`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::{ShopProcess, shop};
use framework::{Module, TestingModule};
use inngest_module::InngestModule;
use serde_json::{Value, json};

const REPLICAS: usize = 3;
const ORDERS: usize = 1000;
/// Orders placed at once.
const IN_FLIGHT: usize = 32;
/// Longest wait for every run to end once the orders are placed.
const RUN_DEADLINE: Duration = Duration::from_secs(120);
/// The embedded executor's composite id of the order function.
const PROCESS_ORDER: &str = "shop-process-order";

/// The host: no `dev`, no base URL, so the test environment picks the embedded executor.
const HOST_CONFIG: &str = "[inngest]\napp_id = \"replicas-host\"\n[inngest.embedded]\nretry_backoff = \"50ms\"\nretry_max_backoff = \"500ms\"";

/// Headers that describe one connection, not the message: never forwarded.
const HOP_BY_HOP: [HeaderName; 5] = [
    header::CONNECTION,
    header::HOST,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The round-robin proxy's state: the replicas and how many requests each got.
struct Proxy {
    upstreams: Vec<String>,
    next: AtomicUsize,
    served: Vec<AtomicUsize>,
    client: reqwest::Client,
}

impl Proxy {
    fn served(&self) -> Vec<usize> {
        self.served
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect()
    }
}

/// Forwards the request to the next replica, buffered both ways; 502 when it cannot.
async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let index = proxy.next.fetch_add(1, Ordering::Relaxed) % proxy.upstreams.len();
    proxy.served[index].fetch_add(1, Ordering::Relaxed);
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return (StatusCode::BAD_REQUEST, "unreadable body").into_response();
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = proxy
        .client
        .request(
            parts.method.clone(),
            format!("{}{path}", proxy.upstreams[index]),
        )
        .body(body);
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(name) {
            upstream = upstream.header(name, value);
        }
    }
    let answer = match upstream.send().await {
        Ok(answer) => answer,
        Err(error) => {
            return (StatusCode::BAD_GATEWAY, format!("replica {index}: {error}")).into_response();
        }
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let Ok(bytes) = answer.bytes().await else {
        return (
            StatusCode::BAD_GATEWAY,
            format!("replica {index}: body cut"),
        )
            .into_response();
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if !HOP_BY_HOP.contains(name) {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}

/// `GET {api}{path}` on the host's executor, as JSON.
async fn get(http: &reqwest::Client, api: &str, path: &str) -> Value {
    let response = http.get(format!("{api}{path}")).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

/// Every run of `function` the executor holds, page after page.
async fn all_runs(http: &reqwest::Client, api: &str, function: &str) -> Vec<Value> {
    let mut runs = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut path = format!("/api/runs?function={function}&limit=100");
        if let Some(cursor) = &before {
            path.push_str(&format!("&before={cursor}"));
        }
        let page = get(http, api, &path).await;
        runs.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(cursor) => before = Some(cursor.to_string()),
            None => return runs,
        }
    }
}

fn is_final(run: &Value) -> bool {
    matches!(
        run["status"].as_str(),
        Some("Completed" | "Failed" | "Cancelled")
    )
}

/// The charges a replica's gateway logged: `(order id, amount, charge id)`.
fn charges_logged(output: &str) -> Vec<(String, u64, String)> {
    output
        .lines()
        .filter(|line| line.contains("payment gateway"))
        .filter_map(|line| {
            let entry = &line[line.find("entry=charge ")? + "entry=charge ".len()..];
            let mut words = entry.split_whitespace();
            let order = words.next()?.to_string();
            let amount = words.next()?.parse().ok()?;
            let id = words.next()?.strip_prefix("id=")?.trim_matches('"');
            Some((order, amount, id.to_string()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_behind_a_round_robin_proxy_run_every_order_once_and_charge_it_once() {
    let started = Instant::now();
    let host = TestingModule::new(Module::new("host").import(InngestModule::from_config()))
        .config(HOST_CONFIG)
        .build()
        .await
        .expect("the host builds")
        .start()
        .await
        .expect("the host starts");
    let api = format!("{}/_inngest", host.base_url());

    // The proxy's address first: the replicas register it as their URL.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_base = format!("http://{}", listener.local_addr().unwrap());

    let replicas: Vec<ShopProcess> = {
        let starting: Vec<_> = (0..REPLICAS)
            .map(|_| {
                let mut command = shop();
                command
                    .env("APP_ENV", "test")
                    .env("INNGEST_DEV", format!("{api}/"))
                    .env("INNGEST_SERVE_ORIGIN", &proxy_base);
                tokio::task::spawn_blocking(move || ShopProcess::start(command))
            })
            .collect();
        let mut replicas = Vec::new();
        for replica in starting {
            replicas.push(replica.await.unwrap());
        }
        replicas
    };
    let proxy = Arc::new(Proxy {
        upstreams: replicas.iter().map(|r| r.base.clone()).collect(),
        next: AtomicUsize::new(0),
        served: (0..REPLICAS).map(|_| AtomicUsize::new(0)).collect(),
        client: reqwest::Client::new(),
    });
    let router = Router::new()
        .fallback(forward)
        .with_state(Arc::clone(&proxy));
    let proxy_task = tokio::spawn(async move { axum::serve(listener, router).await });

    // Sync through the proxy, once per replica (round robin: each registers the app).
    let http = reqwest::Client::new();
    for _ in 0..REPLICAS {
        let response = http
            .put(format!("{proxy_base}/api/inngest"))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "sync through the proxy: {body}");
    }
    assert_eq!(proxy.served(), vec![1; REPLICAS], "one sync per replica");
    let apps = get(&http, &api, "/api/apps").await;
    let app = apps["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|app| app["app_id"] == "shop")
        .unwrap_or_else(|| panic!("the shop is not registered: {apps}"))
        .clone();
    assert_eq!(
        app["target"],
        format!("{proxy_base}/api/inngest"),
        "the executor drives the replicas through the proxy"
    );
    assert!(
        app["functions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == PROCESS_ORDER),
        "{app}"
    );
    let synced = started.elapsed();

    // 1,000 orders through the proxy, 32 in flight; 50 customers (the function allows 10
    // orders of one customer at once).
    let placing = Instant::now();
    let permits = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut placed = tokio::task::JoinSet::new();
    for n in 0..ORDERS {
        let permit = Arc::clone(&permits).acquire_owned().await.unwrap();
        let http = http.clone();
        let url = format!("{proxy_base}/orders");
        placed.spawn(async move {
            let quantity = 1 + (n % 3) as u64;
            let unit_price = 100 + n as u64;
            let response = http
                .post(url)
                .json(&json!({
                    "customerId": format!("cus-{}", n % 50),
                    "email": format!("customer-{n}@example.com"),
                    "items": [{ "sku": "mug", "quantity": quantity, "unitPriceCents": unit_price }]
                }))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            drop(permit);
            assert_eq!(status, 202, "order {n}: {body}");
            (
                body["orderId"].as_str().unwrap().to_string(),
                quantity * unit_price,
            )
        });
    }
    let mut orders: HashMap<String, u64> = HashMap::new();
    while let Some(order) = placed.join_next().await {
        let (order_id, amount) = order.unwrap();
        assert!(
            orders.insert(order_id.clone(), amount).is_none(),
            "order id {order_id} handed out twice"
        );
    }
    assert_eq!(orders.len(), ORDERS);
    let placed_in = placing.elapsed();

    // Every run ends within the deadline.
    let deadline = Instant::now() + RUN_DEADLINE;
    let runs = loop {
        let runs = all_runs(&http, &api, PROCESS_ORDER).await;
        if runs.len() >= ORDERS && runs.iter().all(is_final) {
            break runs;
        }
        if Instant::now() >= deadline {
            let finished = runs.iter().filter(|run| is_final(run)).count();
            let outputs: Vec<String> = replicas.iter().map(ShopProcess::output).collect();
            let tails: Vec<&str> = outputs
                .iter()
                .map(|output| &output[output.len().saturating_sub(4000)..])
                .collect();
            panic!(
                "after {RUN_DEADLINE:?}: {} runs, {finished} finished, of {ORDERS} orders; replicas' last output:\n{}",
                runs.len(),
                tails.join("\n-----\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let ran_in = placing.elapsed();

    // Exactly one run per order, completed, with the order's receipt.
    let mut runs_of: HashMap<String, Vec<&Value>> = HashMap::new();
    for run in &runs {
        let order_id = run["events"][0]["data"]["orderId"]
            .as_str()
            .unwrap_or_else(|| panic!("a run without its order: {run}"))
            .to_string();
        runs_of.entry(order_id).or_default().push(run);
    }
    assert_eq!(runs.len(), ORDERS, "one run per order, no more");
    let mut charge_ids = HashSet::new();
    for (order_id, amount) in &orders {
        let runs = runs_of.get(order_id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(runs.len(), 1, "order {order_id}: {runs:#?}");
        let run = runs[0];
        assert_eq!(run["status"], "Completed", "order {order_id}: {run:#}");
        let receipt = &run["output"];
        assert_eq!(receipt["orderId"], order_id.as_str(), "{run:#}");
        assert_eq!(receipt["reservationId"], format!("res-{order_id}"));
        assert_eq!(receipt["amountCents"], *amount, "{run:#}");
        let charge_id = receipt["chargeId"].as_str().unwrap().to_string();
        assert!(charge_id.starts_with("ch-"), "{charge_id}");
        assert!(
            charge_ids.insert(charge_id.clone()),
            "charge id {charge_id} given to two orders"
        );
    }
    assert!(
        all_runs(&http, &api, "shop-process-order-failure")
            .await
            .is_empty(),
        "no order failed"
    );

    // Exactly one charge per order across the three gateways, the one in the receipt. The
    // replicas' output is read by threads: give them a moment to catch up.
    let logs_deadline = Instant::now() + Duration::from_secs(10);
    let logged: Vec<Vec<(String, u64, String)>> = loop {
        let logged: Vec<_> = replicas
            .iter()
            .map(|replica| charges_logged(&replica.output()))
            .collect();
        if logged.iter().map(Vec::len).sum::<usize>() >= ORDERS || Instant::now() >= logs_deadline {
            break logged;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let charges_per_replica: Vec<usize> = logged.iter().map(Vec::len).collect();
    let mut charges_of: HashMap<&str, Vec<(u64, &str)>> = HashMap::new();
    for (order_id, amount, charge_id) in logged.iter().flatten() {
        charges_of
            .entry(order_id.as_str())
            .or_default()
            .push((*amount, charge_id.as_str()));
    }
    assert_eq!(
        charges_per_replica.iter().sum::<usize>(),
        ORDERS,
        "one charge per order across the replicas: {charges_per_replica:?}"
    );
    for (order_id, amount) in &orders {
        let charges = charges_of
            .get(order_id.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        assert_eq!(charges.len(), 1, "charges of {order_id}: {charges:?}");
        let receipt = &runs_of[order_id][0]["output"];
        assert_eq!(charges[0], (*amount, receipt["chargeId"].as_str().unwrap()));
    }
    assert!(
        charges_per_replica.iter().all(|&n| n > 0),
        "every replica charged some orders: {charges_per_replica:?}"
    );
    let served = proxy.served();
    assert!(
        served.iter().all(|&n| n > ORDERS / REPLICAS),
        "the proxy spread the requests: {served:?}"
    );

    eprintln!(
        "replicas: {ORDERS} orders, {} runs completed, {} charges (per replica {charges_per_replica:?}), {} distinct charge ids; proxy requests per replica {served:?}; started and synced in {} ms, orders placed in {} ms, all runs done {} ms after the first order; total {} ms",
        runs.len(),
        charges_per_replica.iter().sum::<usize>(),
        charge_ids.len(),
        synced.as_millis(),
        placed_in.as_millis(),
        ran_in.as_millis(),
        started.elapsed().as_millis(),
    );

    proxy_task.abort();
    for replica in replicas {
        assert_eq!(replica.terminate(), Some(0));
    }
    host.shutdown().await.unwrap();
}
