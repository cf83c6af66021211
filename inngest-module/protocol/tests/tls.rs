//! The shared client over HTTPS against a real TLS server on loopback whose certificate a
//! private CA signed: refused with Mozilla's roots alone, trusted once `SSL_CERT_FILE` names
//! the CA's PEM file.
//!
//! The client is built once per process and reads `SSL_CERT_FILE` then, so each case runs
//! in a child process (this test binary again, running the ignored `probe`) with its own
//! environment.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{ServerConfig, crypto};

/// A private CA (its certificate as PEM) and a server certificate for `localhost` it signed.
struct Pki {
    ca_pem: String,
    server: ServerConfig,
}

fn pki() -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "inngest-protocol test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let server =
        ServerConfig::builder_with_provider(Arc::new(crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], key)
            .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        server,
    }
}

/// Serves `200 ok` over TLS on a loopback port until the test ends.
async fn serve_tls(config: ServerConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to serve.
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let ok = service_fn(|_request| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("ok"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), ok)
                    .await;
            });
        }
    });
    address
}

/// Runs the ignored test `name` in a child process with `TLS_PROBE_URL=url` and
/// `SSL_CERT_FILE` set to `cert_file` (or unset).
async fn in_child(name: &str, url: &str, cert_file: Option<&std::path::Path>) -> Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TLS_PROBE_URL", url)
        .env_remove("SSL_CERT_FILE");
    if let Some(path) = cert_file {
        command.env("SSL_CERT_FILE", path);
    }
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_private_ca_is_trusted_only_when_ssl_cert_file_names_it() {
    let pki = pki();
    let address = serve_tls(pki.server).await;
    let url = format!("https://localhost:{}/", address.port());
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("private-ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();

    let trusted = in_child("probe", &url, Some(&ca_file)).await;
    let stdout = String::from_utf8_lossy(&trusted.stdout);
    assert!(trusted.status.success(), "{stdout}");
    assert!(stdout.contains("probe: 200 ok"), "{stdout}");

    // Mozilla's roots alone do not know the private CA.
    let untrusted = in_child("probe", &url, None).await;
    let stdout = String::from_utf8_lossy(&untrusted.stdout);
    assert!(!untrusted.status.success(), "{stdout}");
    assert!(stdout.contains("probe: error"), "{stdout}");
    assert!(stdout.to_lowercase().contains("certificate"), "{stdout}");
}

/// The child side: one GET through the shared client to `TLS_PROBE_URL`; prints
/// `probe: <status> <body>` or fails with `probe: error …`. Run by the test above.
#[tokio::test]
#[ignore = "run by a_private_ca_is_trusted_only_when_ssl_cert_file_names_it in a child process"]
async fn probe() {
    let url = std::env::var("TLS_PROBE_URL").expect("TLS_PROBE_URL is set by the parent test");
    match inngest_protocol::client::shared().get(&url).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            println!("probe: {status} {body}");
            assert_eq!(status, 200);
        }
        Err(error) => {
            let mut chain = format!("{error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                chain.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            println!("probe: error {chain}");
            panic!("the request failed");
        }
    }
}

#[tokio::test]
async fn a_wrong_ssl_cert_file_is_named_with_what_is_wrong_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, pki().ca_pem).unwrap();

    let check = |file: std::path::PathBuf| async move {
        let output = in_child("check", "", Some(&file)).await;
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let out = check(missing.clone()).await;
    assert!(
        out.contains(&format!(
            "check: error SSL_CERT_FILE names `{}`, which cannot be read",
            missing.display()
        )),
        "{out}"
    );
    let out = check(not_pem.clone()).await;
    assert!(
        out.contains(&format!(
            "check: error SSL_CERT_FILE names `{}`, which holds no PEM certificate",
            not_pem.display()
        )),
        "{out}"
    );
    assert!(out.contains("or unset it"), "{out}");
    let out = check(ca_file).await;
    assert!(out.contains("check: 1 certificate(s)"), "{out}");
    let unset = in_child("check", "", None).await;
    let out = String::from_utf8_lossy(&unset.stdout);
    assert!(out.contains("check: 0 certificate(s)"), "{out}");
}

/// The child side: prints what `cert_file_roots` makes of `SSL_CERT_FILE`. Run by the test
/// above.
#[test]
#[ignore = "run by a_wrong_ssl_cert_file_is_named_with_what_is_wrong_with_it in a child process"]
fn check() {
    match inngest_protocol::client::cert_file_roots() {
        Ok(roots) => println!("check: {} certificate(s)", roots.len()),
        Err(error) => println!("check: error {error}"),
    }
}
