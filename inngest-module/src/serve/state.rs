//! What the serve handler works with (its state, the query parameters it reads), and what
//! each method answers.

use std::sync::Arc;

use framework::config::TrustedProxy;

use super::error::ServeError;
use super::reply::Reply;
use crate::registry::Registry;

/// What the serve handler works with.
pub(crate) struct ServeState {
    pub registry: Arc<Registry>,
    pub trusted_proxies: Vec<TrustedProxy>,
}

/// The query parameters the serve path reads; others are ignored.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct ServeQuery {
    #[serde(rename = "fnId")]
    pub fn_id: Option<String>,
    #[serde(rename = "stepId")]
    pub step_id: Option<String>,
    pub probe: Option<String>,
    #[serde(rename = "deployId")]
    pub deploy_id: Option<String>,
}

/// What a method's handler answers: the reply or why there is none, and the key that
/// verified the request (the response is signed with it).
pub(crate) struct Answer {
    pub reply: Result<Reply, ServeError>,
    pub key: Option<String>,
}

impl Answer {
    /// A request refused before it was verified: nothing is signed.
    pub fn refused(error: ServeError) -> Self {
        Self {
            reply: Err(error),
            key: None,
        }
    }
}
