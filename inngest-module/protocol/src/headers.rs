//! Header names of the protocol (lower case, as `http` stores them).

/// SDK name and version; a 2xx without it is an error for the server.
pub const SDK: &str = "x-inngest-sdk";
/// Request version.
pub const REQ_VERSION: &str = "x-inngest-req-version";
/// `t=<unix seconds>&s=<hex hmac>`.
pub const SIGNATURE: &str = "x-inngest-signature";
/// `true` when the error must not be retried.
pub const NO_RETRY: &str = "x-inngest-no-retry";
/// Seconds or a date before the next attempt.
pub const RETRY_AFTER: &str = "retry-after";
/// `in_band` or `out_of_band`.
pub const SYNC_KIND: &str = "x-inngest-sync-kind";
/// `dev` or `cloud`, sent by the server on its own sync PUT.
pub const SERVER_KIND: &str = "x-inngest-server-kind";
/// Echo of the server kind on register.
pub const EXPECTED_SERVER_KIND: &str = "x-inngest-expected-server-kind";
/// The Inngest environment (branch) name.
pub const ENV: &str = "x-inngest-env";
/// The web framework.
pub const FRAMEWORK: &str = "x-inngest-framework";
/// The hosting platform.
pub const PLATFORM: &str = "x-inngest-platform";
/// Targeted step of a parallel plan (the query parameter wins).
pub const STEP_ID: &str = "x-inngest-step-id";
/// Seed from which the server derives event ids, so a retried send never duplicates.
pub const EVENT_ID_SEED: &str = "x-inngest-event-id-seed";
/// Marks a response as produced by an SDK.
pub const SDK_HANDLED: &str = "x-inngest-sdk-handled";
/// The run an execution request belongs to.
pub const RUN_ID: &str = "x-run-id";
/// The id of one execution request.
pub const REQUEST_ID: &str = "x-request-id";
/// The generation of the run's state an execution request was made from.
pub const GENERATION_ID: &str = "x-inngest-generation-id";
