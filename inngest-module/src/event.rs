//! Events: what triggers functions and what [`InngestService::send`](crate::InngestService::send) sends.

use serde::de::DeserializeOwned;
use serde_json::Value;

pub use inngest_protocol::{Event, EventPayload, FunctionCancelled, FunctionFailed, IntoEvents};

/// Decodes an event payload, naming the field that does not fit.
pub(crate) fn decode<T: DeserializeOwned>(value: &Value, what: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if path == "." {
            format!("{what} does not fit the expected type: {inner}")
        } else {
            format!("{what} does not fit the expected type at `{path}`: {inner}")
        }
    })
}

/// The milliseconds since the Unix epoch, now.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Order {
        id: u64,
        lines: Vec<Line>,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Line {
        qty: u32,
    }

    #[test]
    fn decode_names_the_field_that_does_not_fit() {
        let bad = json!({"id": 1, "lines": [{"qty": 1}, {"qty": "two"}]});
        let message = decode::<Order>(&bad, "event `order.created` data").unwrap_err();
        assert!(message.contains("at `lines[1].qty`"), "{message}");
        assert!(decode::<Order>(&json!({"id": 1, "lines": []}), "x").is_ok());
    }
}
