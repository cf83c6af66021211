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

/// Mozilla's roots, and those of `SSL_CERT_FILE` (none if it is unusable: start-up checks
/// report that with [`cert_file_roots`]).
#[cfg(feature = "tls")]
fn roots() -> Vec<reqwest::Certificate> {
    let mut roots: Vec<reqwest::Certificate> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der).ok())
        .collect();
    roots.extend(cert_file_roots().unwrap_or_default());
    roots
}

/// Why the file named by `SSL_CERT_FILE` adds no trusted root.
#[cfg(feature = "tls")]
#[derive(Debug, thiserror::Error)]
pub enum CertFileError {
    /// The file cannot be read.
    #[error(
        "SSL_CERT_FILE names `{path}`, which cannot be read ({source}): point it at a PEM file of CA certificates, or unset it"
    )]
    Unreadable {
        /// The path `SSL_CERT_FILE` gives.
        path: String,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The file holds no PEM certificate.
    #[error(
        "SSL_CERT_FILE names `{path}`, which holds no PEM certificate{detail}: point it at a PEM file of CA certificates (`-----BEGIN CERTIFICATE-----` blocks), or unset it"
    )]
    NoCertificate {
        /// The path `SSL_CERT_FILE` gives.
        path: String,
        /// What the PEM parser said, as ` (…)`, or nothing.
        detail: String,
    },
}

/// The certificates of the PEM file named by `SSL_CERT_FILE` (a private CA), which the
/// shared client trusts beside Mozilla's roots: none when the variable is unset or empty.
///
/// The client is built on first use, so an app checks this at start-up to report a wrong
/// path then, rather than a certificate error on its first HTTPS call.
#[cfg(feature = "tls")]
pub fn cert_file_roots() -> Result<Vec<reqwest::Certificate>, CertFileError> {
    let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|path| !path.is_empty()) else {
        return Ok(Vec::new());
    };
    let shown = path.to_string_lossy().into_owned();
    let pem = std::fs::read(&path).map_err(|source| CertFileError::Unreadable {
        path: shown.clone(),
        source,
    })?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certificates) if !certificates.is_empty() => Ok(certificates),
        Ok(_) => Err(CertFileError::NoCertificate {
            path: shown,
            detail: String::new(),
        }),
        Err(error) => Err(CertFileError::NoCertificate {
            path: shown,
            detail: format!(" ({error})"),
        }),
    }
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    #[test]
    fn mozillas_roots_are_loaded() {
        assert!(super::roots().len() > 100);
    }
}
