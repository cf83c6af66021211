//! Introspection (`GET serve_path`) and the in-band sync answer (`PUT serve_path` with
//! `X-Inngest-Sync-Kind: in_band`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::function::FunctionConfig;
use crate::register::Capabilities;

/// The answer to `GET serve_path`: what anyone may see, plus the [`Authenticated`] part
/// when the request carried a valid signature.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Introspection {
    /// SDK-specific details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
    /// An event key is configured.
    pub has_event_key: bool,
    /// A signing key is configured.
    pub has_signing_key: bool,
    /// A fallback signing key is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_signing_key_fallback: Option<bool>,
    /// Functions served (failure handlers count).
    pub function_count: usize,
    /// `dev` or `cloud`.
    pub mode: String,
    /// Schema version (`2024-05-24`).
    pub schema_version: String,
    /// What the SDK can do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    /// `true` after a valid signature; absent or `null` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_succeeded: Option<bool>,
    /// Shown only to a signed request.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub authenticated: Option<Authenticated>,
}

/// The part of introspection shown only to a signed request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Authenticated {
    /// The API origin the SDK calls.
    pub api_origin: Option<String>,
    /// The app id (required: without it the part is absent).
    pub app_id: String,
    /// The Inngest environment.
    pub env: Option<String>,
    /// The Event API origin.
    pub event_api_origin: Option<String>,
    /// Hash of the event key.
    pub event_key_hash: Option<String>,
    /// The web framework.
    pub framework: Option<String>,
    /// The SDK language.
    pub sdk_language: Option<String>,
    /// The SDK version.
    pub sdk_version: Option<String>,
    /// The configured serve origin.
    pub serve_origin: Option<String>,
    /// The configured serve path.
    pub serve_path: Option<String>,
    /// Hash (or hash prefix) of the fallback signing key.
    pub signing_key_fallback_hash: Option<String>,
    /// Hash (or hash prefix) of the signing key.
    pub signing_key_hash: Option<String>,
}

/// The answer to an in-band sync: the register payload's content, in introspection's
/// snake-case field names, plus the introspection itself.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InBandSync {
    /// The app id.
    pub app_id: String,
    /// The app version.
    #[serde(
        rename = "appVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub app_version: Option<String>,
    /// What the SDK can do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    /// The Inngest environment.
    #[serde(default)]
    pub env: Option<String>,
    /// Diagnostics the JS SDK reports; kept as sent.
    #[serde(
        rename = "featureObservations",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub feature_observations: Option<Value>,
    /// The web framework.
    #[serde(default)]
    pub framework: String,
    /// The functions.
    #[serde(default)]
    pub functions: Vec<FunctionConfig>,
    /// Introspection, as a signed `GET` would answer.
    pub inspection: Introspection,
    /// The hosting platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `"inngest"`.
    #[serde(default)]
    pub sdk_author: String,
    /// The SDK language.
    #[serde(default)]
    pub sdk_language: String,
    /// The SDK version.
    #[serde(default)]
    pub sdk_version: String,
    /// SDK name and version.
    #[serde(default)]
    pub sdk: String,
    /// The serve URL.
    pub url: String,
}
