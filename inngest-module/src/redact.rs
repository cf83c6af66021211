//! URLs as logs, health details and introspection show them: without the user name and
//! password a base URL may carry (`https://user:pass@inngest.internal`), its query, or an
//! Event API key in its path.

use url::Url;

/// `url` without credentials, query or fragment; an Event API path (`…/e/<key>`) shows
/// `…/e/***`.
pub(crate) fn url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    let path = shown.path().to_string();
    if let Some(at) = path.rfind("/e/")
        && at + 3 < path.len()
    {
        shown.set_path(&format!("{}/e/***", &path[..at]));
    }
    shown.to_string()
}

/// A URL given as text, redacted; text that is not a URL is shown as `<not a URL>`.
pub(crate) fn url_str(text: &str) -> String {
    Url::parse(text).map_or_else(|_| "<not a URL>".to_string(), |parsed| url(&parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_queries_and_event_keys_are_removed() {
        let parse = |text: &str| Url::parse(text).unwrap();
        assert_eq!(
            url(&parse(
                "https://user:s3cret@inngest.internal:8288/api?token=x#f"
            )),
            "https://inngest.internal:8288/api"
        );
        assert_eq!(
            url(&parse("https://inn.gs/e/EVENTKEY123")),
            "https://inn.gs/e/***"
        );
        assert_eq!(
            url(&parse("http://localhost:8288/")),
            "http://localhost:8288/"
        );
        assert_eq!(url_str("not a url"), "<not a URL>");
    }
}
