//! # inngest-protocol
//!
//! The Inngest SDK HTTP protocol, typed once and shared by both sides of the wire: the SDK
//! (`inngest-module`) that serves functions and the embedded executor (`inngest-executor`)
//! that drives them. Every type serializes **and** deserializes, so a body one side writes
//! is read back by the other through the same definition; the conformance tests decode and
//! re-encode every body recorded between the real Inngest server and the official JS SDK.
//!
//! | Module | What travels |
//! |---|---|
//! | [`execution`] | the execution request (`POST serve_path?fnId=…&stepId=…`): events, memo, `ctx` |
//! | [`op`] | the ops of a `206` answer (`StepRun`, `Sleep`, `WaitForEvent`, …) |
//! | [`checkpoint`] | steps posted mid-request (`POST /v1/checkpoint/{run_id}/async`) |
//! | [`function`] | a function's config: triggers and flow control, as registered |
//! | [`register`] | the register payload (`POST /fn/register`) and its answer |
//! | [`introspection`] | introspection (`GET serve_path`) and the in-band sync answer |
//! | [`event`] | events, and the Event API's answer |
//! | [`error`] | error bodies (`{name, message, stack}`) |
//! | [`step_id`], [`duration`] | step-id hashing and duration strings |
//! | [`signature`] | request signatures and signing-key hashes |
//! | [`headers`] | header names |
//! | `client` | the shared HTTP client (feature `client`; `https://` with feature `tls`) |
//!
//! ```
//! use inngest_protocol::op::{Op, Opcode};
//! let ops: Vec<Op> = serde_json::from_str(
//!     r#"[{"id":"c3ca5f78","op":"Sleep","name":"1s","displayName":"nap","userland":{"id":"nap"},"data":null}]"#,
//! ).unwrap();
//! assert_eq!(ops[0].op, Opcode::Sleep);
//! assert_eq!(ops[0].name.as_deref(), Some("1s"));
//! ```

pub mod checkpoint;
#[cfg(feature = "client")]
pub mod client;
pub mod duration;
pub mod error;
pub mod event;
pub mod execution;
pub mod function;
pub mod headers;
pub mod introspection;
pub mod op;
pub mod register;
pub mod signature;
pub mod step_id;

pub use duration::{DurationError, format_duration, parse_duration, parse_duration_ms};
pub use error::ErrorBody;
pub use event::{
    Event, EventPayload, FunctionCancelled, FunctionFailed, IntoEvents, SendEventsResponse,
};
pub use execution::{ExecutionRequest, Memo, RequestContext, Stack};
pub use function::{
    BatchEvents, Cancel, Concurrency, ConcurrencyLimits, ConcurrencyScope, Debounce,
    FunctionConfig, Priority, RateLimit, Singleton, SingletonMode, StepConfig, StepRetries,
    StepRuntime, Throttle, Timeouts, Trigger,
};
pub use introspection::{Authenticated, InBandSync, Introspection};
pub use op::{
    InvokePayload, Op, OpData, OpOptions, Opcode, OpsError, Timing, Userland, decode_ops,
};
pub use register::{Capabilities, RegisterRequest, RegisterResponse, SyncReply};
pub use step_id::{hash_step_id, indexed_step_id};

/// The SDK name and version sent as `X-Inngest-SDK`, `User-Agent` and the register `sdk`.
pub const SDK: &str = concat!("inngest-rs:v", env!("CARGO_PKG_VERSION"));
/// The SDK language reported in introspection and in-band sync.
pub const SDK_LANGUAGE: &str = "rust";
/// The SDK version reported in introspection and in-band sync.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The request version this SDK speaks (`X-Inngest-Req-Version`).
pub const REQ_VERSION: &str = "2";
/// The framework name reported to the server.
pub const FRAMEWORK: &str = "axum";
/// Introspection schema version.
pub const SCHEMA_VERSION: &str = "2024-05-24";
