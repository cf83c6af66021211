//! Runs the real `shop` binary: with the example's config files and no Inngest server it
//! runs an order end to end on the embedded executor, and it refuses to start in production
//! without the Inngest keys.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ShopProcess, place_order, shop, wait_for_run};
use serde_json::Value;

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
async fn the_binary_runs_an_order_on_the_embedded_executor_with_no_inngest_server() {
    // APP_ENV=test: config/test.toml picks a free port; no Inngest server is configured, so
    // the embedded executor (in memory) runs the functions.
    let process = ShopProcess::start({
        let mut command = shop();
        command.env("APP_ENV", "test");
        command
    });
    let base = process.base.clone();
    let http = reqwest::Client::new();

    let introspection: Value = http
        .get(format!("{base}/api/inngest"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Five functions, plus process-order's failure handler and the cancellation clean-up.
    assert_eq!(introspection["function_count"], 7, "{introspection}");
    let apps: Value = http
        .get(format!("{base}/_inngest/api/apps"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(apps["data"][0]["app_id"], "shop", "{apps}");
    assert_eq!(
        apps["data"][0]["functions"].as_array().map(Vec::len),
        Some(7),
        "{apps}"
    );

    let accepted = place_order(&http, &base, 2, 1250, None).await;
    let order_id = accepted["orderId"].as_str().unwrap().to_string();
    let event_id = accepted["eventIds"][0].as_str().unwrap().to_string();

    // config/test.toml: a 1 s cool-off.
    let run = wait_for_run(&http, &process, &event_id).await;
    assert_eq!(run["function_id"], "shop-process-order", "{run}");
    assert_eq!(run["status"], "Completed", "{run}");
    assert_eq!(run["output"]["orderId"], order_id.as_str(), "{run}");
    assert_eq!(run["output"]["amountCents"], 2500, "{run}");

    let page = http
        .get(format!("{base}/_inngest/runs"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("shop-process-order"));
    drop(process);
}
