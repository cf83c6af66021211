//! The HTTP client every Inngest call of the process shares (feature `client`): the SDK's
//! event sends, registration and API reads, and the embedded executor's requests to apps it
//! drives over HTTP. It is built on first use, never at start-up, so an app that sends
//! nothing over the network never pays for it.
//!
//! With the feature `tls`, `https://` goes through rustls (no system library). The trusted
//! roots are Mozilla's, compiled in from `webpki-root-certs`, plus the certificates of the
//! PEM file named by `SSL_CERT_FILE`, if set (a private CA). Timeouts and the user agent are
//! set per request.

use std::sync::OnceLock;

static SHARED: OnceLock<reqwest::Client> = OnceLock::new();

/// The shared client (a cheap clone of one connection pool).
pub fn shared() -> reqwest::Client {
    SHARED.get_or_init(build).clone()
}

fn build() -> reqwest::Client {
    let builder = reqwest::Client::builder();
    #[cfg(feature = "tls")]
    let builder = builder.tls_certs_only(roots());
    // Building fails only if the TLS backend cannot start; the default client is the same
    // client without the extra roots.
    builder.build().unwrap_or_default()
}

/// Mozilla's roots, and those of `SSL_CERT_FILE`.
#[cfg(feature = "tls")]
fn roots() -> Vec<reqwest::Certificate> {
    let mut roots: Vec<reqwest::Certificate> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der).ok())
        .collect();
    if let Some(extra) = std::env::var_os("SSL_CERT_FILE")
        .and_then(|path| std::fs::read(path).ok())
        .and_then(|pem| reqwest::Certificate::from_pem_bundle(&pem).ok())
    {
        roots.extend(extra);
    }
    roots
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    #[test]
    fn mozillas_roots_are_loaded() {
        assert!(super::roots().len() > 100);
    }
}
