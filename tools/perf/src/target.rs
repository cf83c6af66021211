//! The address and request target of an `http://` URL.

use http::Uri;

use crate::Result;

/// Where to connect and what to ask for.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port`, for connecting and for the `Host` header.
    pub authority: String,
    /// The path and query (`/` when the URL has none).
    pub path_and_query: String,
}

impl Target {
    /// Parses an `http://host[:port][/path][?query]` URL (port 80 when none is given).
    pub fn parse(url: &str) -> Result<Self> {
        let uri: Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("{url:?}: only http:// URLs are supported").into());
        }
        let host = uri.host().ok_or_else(|| format!("{url:?} has no host"))?;
        let port = uri.port_u16().unwrap_or(80);
        let path_and_query = uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
        Ok(Self {
            authority: format!("{host}:{port}"),
            path_and_query,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_http_urls_only() {
        let t = Target::parse("http://127.0.0.1:3000/api/inngest?fnId=a&stepId=step").unwrap();
        assert_eq!(t.authority, "127.0.0.1:3000");
        assert_eq!(t.path_and_query, "/api/inngest?fnId=a&stepId=step");
        assert_eq!(
            Target::parse("http://localhost").unwrap().path_and_query,
            "/"
        );
        assert!(Target::parse("https://localhost/").is_err());
    }
}
