//! Who may reach which route (see `docs/SECURITY.md`):
//!
//! - the *console* (page and read APIs) is off, open to a loopback `Host`, or behind a
//!   credential ([`console`]);
//! - every state-changing route takes only `application/json` and refuses requests a
//!   browser marks as coming from another site, so a web page cannot forge one
//!   ([`check_write`]);
//! - whatever no key guards answers only to a loopback name, an IP address or a configured
//!   host, so a web page cannot reach it by DNS rebinding ([`check_host`]);
//! - `/fn/register` accepts only apps served from loopback or a configured origin
//!   ([`check_app_url`]).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;

use crate::executor::{Executor, constant_time_eq};
use crate::options::Access;

/// A refused request: the status and what to do about it.
#[derive(Debug)]
pub(super) struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// Guards the console routes: 404 when it is off, 401 without a credential it requires,
/// 403 for a `Host` it does not answer to when it is open.
pub(super) async fn console(
    State(executor): State<Executor>,
    request: Request,
    next: Next,
) -> Response {
    let access = &executor.inner.settings.access;
    if !access.console_enabled {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({
                "error": "the executor console is off: set inngest.embedded.console = true to serve it"
            })),
        )
            .into_response();
    }
    let refusal = if access.console_credentials.is_empty() {
        check_host(access, request.headers()).err()
    } else if credential_given(access, request.headers()) {
        None
    } else {
        Some(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "the executor console needs a credential: `Authorization: Bearer <inngest.embedded.console_token>` (the hashed signing key works too), or HTTP Basic auth with it as the password",
        ))
    };
    match refusal {
        None => next.run(request).await,
        Some(refusal) => {
            let mut response = (
                refusal.status,
                axum::Json(json!({ "error": refusal.message })),
            )
                .into_response();
            if refusal.status == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"inngest executor\", charset=\"UTF-8\""),
                );
            }
            response
        }
    }
}

/// Whether the request carries one of the console's credentials, as a bearer token or as
/// the password of HTTP Basic auth.
fn credential_given(access: &Access, headers: &HeaderMap) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let secret = if let Some(token) = given.strip_prefix("Bearer ") {
        token.trim().to_string()
    } else if let Some(encoded) = given.strip_prefix("Basic ") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let decoded = String::from_utf8_lossy(&decoded).into_owned();
        match decoded.split_once(':') {
            Some((_, password)) => password.to_string(),
            None => return false,
        }
    } else {
        return false;
    };
    // Every credential is compared, so the time taken does not say which one was close.
    access
        .console_credentials
        .iter()
        .fold(false, |found, expected| {
            constant_time_eq(expected.as_bytes(), secret.as_bytes()) | found
        })
}

/// Refuses a `Host` that is neither a loopback name, an IP address nor an allowed host: a
/// page on another site reaches a loopback server only through a name it controls (DNS
/// rebinding).
pub(super) fn check_host(access: &Access, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let name = host_name(host);
    let allowed = name.parse::<std::net::IpAddr>().is_ok()
        || is_loopback_name(&name)
        || access
            .allowed_hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(&name));
    if allowed {
        Ok(())
    } else {
        Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!(
                "the host `{name}` is not allowed here: without a key or console token the executor answers only to localhost, IP addresses and inngest.embedded.allowed_hosts; add `{name}` there"
            ),
        ))
    }
}

/// The host part of a `Host` header, lowercase, without port or IPv6 brackets.
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(name, _)| name)
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn is_loopback_name(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

/// The rule of the routes SDKs call with the API's credentials (`/fn/register`,
/// `/v1/checkpoint/…`): with a signing key, `Authorization: Bearer <hashed signing key>`
/// (what every Inngest SDK sends); without one, nothing to check.
pub(super) fn check_signing_bearer(
    signing_key: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    let Some(key) = signing_key else {
        return Ok(());
    };
    let expected = inngest_protocol::signature::hashed_key(key);
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|given| {
        crate::executor::constant_time_eq(given.as_bytes(), expected.as_bytes())
    }) {
        Ok(())
    } else {
        Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "the Authorization bearer is not the hashed signing key of this executor",
        ))
    }
}

/// The rules of every state-changing route: a JSON body, not sent by a page of another
/// site; and, when no key guards the route (`guarded` false), an allowed `Host`.
pub(super) fn check_write(
    access: &Access,
    headers: &HeaderMap,
    guarded: bool,
) -> Result<(), Refusal> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json" {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "the body must be sent as `Content-Type: application/json`, not `{content_type}` (with curl: -H 'Content-Type: application/json')"
            ),
        ));
    }
    if let Some(site) = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .filter(|site| !matches!(*site, "same-origin" | "none"))
    {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!(
                "a browser sent this request from another site (Sec-Fetch-Site: {site}); the executor accepts writes only from servers and its own pages"
            ),
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !same_origin(origin, host) {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                format!(
                    "a page of another origin ({origin}) sent this request; the executor accepts writes only from servers and its own pages"
                ),
            ));
        }
    }
    if guarded {
        Ok(())
    } else {
        check_host(access, headers)
    }
}

/// Whether a browser's `Origin` is the origin the request was sent to (`Host`, in the
/// origin's scheme). `null` (an opaque origin) never is.
fn same_origin(origin: &str, host: &str) -> bool {
    let Ok(origin) = url::Url::parse(origin) else {
        return false;
    };
    let Ok(target) = url::Url::parse(&format!("{}://{host}", origin.scheme())) else {
        return false;
    };
    origin.origin() == target.origin()
}

/// An app may register only if it is served from a loopback address or name, or from one
/// of `inngest.embedded.app_origins`: the executor sends run data wherever the app says.
pub(super) fn check_app_url(access: &Access, url: &url::Url) -> Result<(), Refusal> {
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => is_loopback_name(&name.to_ascii_lowercase()),
        None => false,
    };
    let configured = access
        .app_origins
        .iter()
        .any(|allowed| allowed.origin() == url.origin());
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!(
                "`{url}` is not an http(s) URL; give the app's serve URL, e.g. http://127.0.0.1:3000/api/inngest"
            ),
        ));
    }
    if loopback || configured {
        Ok(())
    } else {
        Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!(
                "apps may register only from loopback or inngest.embedded.app_origins; add `{}` there to drive the app at {url}",
                url.origin().ascii_serialization()
            ),
        ))
    }
}

/// Headers on every response of the executor: its pages run no script, are never framed,
/// never sniffed into another type, never cached, and leak no URL to other sites.
pub(super) async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn hosts_loopback_names_and_ip_addresses_pass_other_names_do_not() {
        let access = Access::default();
        for host in [
            "localhost:3000",
            "127.0.0.1:3000",
            "[::1]:8288",
            "app.localhost",
            "10.0.0.7",
        ] {
            assert!(
                check_host(&access, &headers(&[("host", host)])).is_ok(),
                "{host}"
            );
        }
        let refused = check_host(&access, &headers(&[("host", "rebind.evil.example:3000")]));
        assert_eq!(refused.unwrap_err().status, StatusCode::FORBIDDEN);
        let access = Access {
            allowed_hosts: vec!["shop".into()],
            ..Access::default()
        };
        assert!(check_host(&access, &headers(&[("host", "SHOP:3000")])).is_ok());
    }

    #[test]
    fn writes_need_json_and_the_same_origin() {
        let access = Access::default();
        let json = ("content-type", "application/json; charset=utf-8");
        assert!(
            check_write(
                &access,
                &headers(&[json, ("host", "127.0.0.1:3000")]),
                false
            )
            .is_ok()
        );
        let form = check_write(
            &access,
            &headers(&[("content-type", "text/plain"), ("host", "127.0.0.1:3000")]),
            false,
        );
        assert_eq!(form.unwrap_err().status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        for site in ["cross-site", "same-site"] {
            let refused = check_write(&access, &headers(&[json, ("sec-fetch-site", site)]), true);
            assert_eq!(refused.unwrap_err().status, StatusCode::FORBIDDEN, "{site}");
        }
        let cross = check_write(
            &access,
            &headers(&[
                json,
                ("host", "127.0.0.1:3000"),
                ("origin", "http://evil.example"),
            ]),
            true,
        );
        assert_eq!(cross.unwrap_err().status, StatusCode::FORBIDDEN);
        let other_port = check_write(
            &access,
            &headers(&[
                json,
                ("host", "localhost:3000"),
                ("origin", "http://localhost:5173"),
            ]),
            true,
        );
        assert!(other_port.is_err(), "another port is another origin");
        let same = check_write(
            &access,
            &headers(&[
                json,
                ("host", "localhost:3000"),
                ("origin", "http://localhost:3000"),
            ]),
            true,
        );
        assert!(same.is_ok());
        let null = check_write(
            &access,
            &headers(&[json, ("host", "localhost:3000"), ("origin", "null")]),
            true,
        );
        assert!(null.is_err(), "an opaque origin is another origin");
    }

    #[test]
    fn credentials_as_bearer_or_basic_password() {
        let access = Access {
            console_credentials: vec!["s3cret".into()],
            ..Access::default()
        };
        assert!(credential_given(
            &access,
            &headers(&[("authorization", "Bearer s3cret")])
        ));
        let basic = base64::engine::general_purpose::STANDARD.encode("admin:s3cret");
        assert!(credential_given(
            &access,
            &headers(&[("authorization", &format!("Basic {basic}"))])
        ));
        assert!(!credential_given(
            &access,
            &headers(&[("authorization", "Bearer s3cre")])
        ));
        assert!(!credential_given(&access, &headers(&[])));
    }

    #[test]
    fn apps_register_from_loopback_or_configured_origins() {
        let url = |text: &str| url::Url::parse(text).unwrap();
        let access = Access {
            app_origins: vec![url("http://worker:3000")],
            ..Access::default()
        };
        for ok in [
            "http://127.0.0.1:3939/api/inngest",
            "http://localhost:3000/x",
            "http://[::1]:1/",
            "http://worker:3000/api/inngest",
        ] {
            assert!(check_app_url(&access, &url(ok)).is_ok(), "{ok}");
        }
        for refused in [
            "http://attacker.example/api/inngest",
            "http://worker:3001/",
            "http://169.254.169.254/latest",
            "file:///etc/passwd",
        ] {
            assert!(check_app_url(&access, &url(refused)).is_err(), "{refused}");
        }
    }
}
