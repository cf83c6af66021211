//! Payloads as the runs API and page show them: a stored JSON text larger than the view
//! allows is never parsed; it becomes a marker with its size and its beginning, so no
//! response (and no memory spent building one) grows with what users put in events and
//! step outputs.
//!
//! ```json
//! {"truncated": true, "bytes": 4194304, "preview": "{\"blob\":\"aaaa…"}
//! ```

use inngest_protocol::Event;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::error::StoreResult;
use crate::model::RunEvents;
use crate::store::from_json;

/// Characters of a truncated payload shown as its preview.
const PREVIEW_CHARS: usize = 200;

/// The largest stored JSON text a view shows whole; `None`: everything (the in-process
/// API).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Bound(pub Option<usize>);

impl Bound {
    /// No limit.
    pub(crate) const NONE: Bound = Bound(None);
    /// Lists (runs, events): a few kilobytes per payload.
    pub(crate) const LIST: Bound = Bound(Some(4 * 1024));
    /// The runs page's single run.
    pub(crate) const PAGE: Bound = Bound(Some(64 * 1024));
    /// The single-run JSON API.
    pub(crate) const DETAIL: Bound = Bound(Some(1024 * 1024));

    /// Whether a stored JSON text is shown whole.
    pub(crate) fn allows(self, text: &str) -> bool {
        self.0.is_none_or(|cap| text.len() <= cap)
    }

    /// A stored JSON text as a value, or the truncation marker.
    pub(crate) fn value(self, text: &str) -> StoreResult<Value> {
        if self.allows(text) {
            from_json(text)
        } else {
            Ok(marker(text))
        }
    }

    /// An optional stored JSON text, bounded.
    pub(crate) fn value_opt(self, text: Option<String>) -> StoreResult<Option<Value>> {
        text.map(|text| self.value(&text)).transpose()
    }

    /// A run's stored events: each event whole, or its name, id and time with `data`
    /// replaced by the marker. The array is split without parsing the events' contents.
    pub(crate) fn events(self, text: &str) -> StoreResult<RunEvents> {
        if self.allows(text) {
            return from_json(text);
        }
        let raw: Vec<&RawValue> = serde_json::from_str(text)?;
        raw.into_iter()
            .map(|event| {
                let text = event.get();
                if self.allows(text) {
                    return from_json(text);
                }
                /// What a truncated event keeps; `data` is skipped, not parsed.
                #[derive(Deserialize)]
                struct Header {
                    #[serde(default)]
                    name: String,
                    id: Option<String>,
                    ts: Option<i64>,
                }
                let header: Header = from_json(text)?;
                let mut event = Event::new(header.name, marker(text));
                event.id = header.id;
                event.ts = header.ts;
                Ok(event)
            })
            .collect()
    }
}

/// `{"truncated": true, "bytes": N, "preview": "<first characters>"}`.
pub(crate) fn marker(text: &str) -> Value {
    let end = text
        .char_indices()
        .nth(PREVIEW_CHARS)
        .map_or(text.len(), |(at, _)| at);
    json!({ "truncated": true, "bytes": text.len(), "preview": &text[..end] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_payloads_pass_whole_and_large_ones_become_markers() {
        let small = r#"{"a":1}"#;
        assert_eq!(Bound::LIST.value(small).unwrap(), json!({"a": 1}));
        let large = format!(r#"{{"blob":"{}"}}"#, "é".repeat(5000));
        let bounded = Bound::LIST.value(&large).unwrap();
        assert_eq!(bounded["truncated"], true);
        assert_eq!(bounded["bytes"], large.len());
        assert_eq!(
            bounded["preview"].as_str().unwrap().chars().count(),
            PREVIEW_CHARS
        );
        assert_eq!(
            Bound::NONE.value(&large).unwrap()["blob"]
                .as_str()
                .unwrap()
                .len(),
            10_000
        );
    }

    #[test]
    fn a_large_event_keeps_its_name_id_and_time() {
        let events = format!(
            r#"[{{"name":"small","data":{{}},"id":"e1","ts":1}},{{"name":"big","data":{{"blob":"{}"}},"id":"e2","ts":2}}]"#,
            "x".repeat(10_000)
        );
        let bounded = Bound::LIST.events(&events).unwrap();
        assert_eq!(bounded[0].data, json!({}));
        assert_eq!(bounded[1].name, "big");
        assert_eq!(bounded[1].id.as_deref(), Some("e2"));
        assert_eq!(bounded[1].ts, Some(2));
        assert_eq!(bounded[1].data["truncated"], true);
    }
}
