//! Registration (sync): `POST {api}/fn/register` with the app's functions, and its answer.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::function::FunctionConfig;

/// What an SDK can do beyond the basics, as it declares on sync and in introspection.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Capabilities {
    /// `"v1"` when the SDK answers the trust probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_probe: Option<String>,
    /// `"v1"` when the SDK can connect out to the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<String>,
    /// `"v1"` when the SDK accepts in-band sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_band_sync: Option<String>,
}

/// The body of `POST /fn/register`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    /// The serve URL the server calls.
    pub url: String,
    /// Payload version (`"0.1"`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub v: String,
    /// `"ping"`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub deploy_type: String,
    /// SDK name and version (`inngest-rs:v0.1.0`).
    #[serde(default)]
    pub sdk: String,
    /// The web framework.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub framework: String,
    /// The app id.
    #[serde(alias = "app_id")]
    pub app_name: String,
    /// The app version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// The functions.
    #[serde(default)]
    pub functions: Vec<FunctionConfig>,
    /// What the SDK can do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    /// Diagnostics the JS SDK reports; kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_observations: Option<Value>,
}

/// The server's answer to `POST /fn/register`: `{ok, modified, app_id}` on success, an
/// `error` (and `status`) when refused.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RegisterResponse {
    /// `true` when accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    /// `true` when the functions changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<bool>,
    /// The app's id on the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// The sync's id on the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_id: Option<String>,
    /// The HTTP status, repeated in the body of a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why the sync was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Details of a refusal (`null` is kept apart from absent).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub data: Option<Value>,
}

/// Reads a field that is present (even as `null`) as `Some`.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// The SDK's answer to an out-of-band sync request (`PUT serve_path`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SyncReply {
    /// What happened (`Successfully synced.`, or why it failed).
    pub message: String,
    /// `true` when the server reported that the functions changed.
    pub modified: bool,
}
