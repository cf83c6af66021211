//! Per-function middleware: code around one function's runs and steps, attached where the
//! function is declared (`#[middleware(self.audit)]`), beside the app-wide
//! [hooks](crate::InngestHook).
//!
//! A middleware is a provider like any other (it may inject its own dependencies); the
//! function's provider injects it and lists it. Middleware listed first is outermost.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use inngest_module::{Event, FunctionMiddleware, MiddlewareFuture, Next, RunInfo};
//!
//! /// Refuses runs whose event carries no tenant, and counts the steps that ran.
//! #[derive(Default)]
//! struct TenantGuard { steps: AtomicU64 }
//!
//! impl FunctionMiddleware for TenantGuard {
//!     fn transform_input(&self, _run: &RunInfo, events: &mut Vec<Event>) -> inngest_module::Result<()> {
//!         for event in events.iter() {
//!             if event.data.get("tenant").is_none() {
//!                 return Err(inngest_module::Error::non_retriable("the event names no tenant"));
//!             }
//!         }
//!         Ok(())
//!     }
//!     fn wrap_step<'a>(&'a self, _run: &'a RunInfo, _step: &'a str, next: Next<'a>) -> MiddlewareFuture<'a> {
//!         Box::pin(async move {
//!             let output = next.await;
//!             self.steps.fetch_add(1, Ordering::Relaxed);
//!             output
//!         })
//!     }
//! }
//! # let _ = Arc::new(TenantGuard::default());
//! ```

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use crate::error::Error;
use crate::event::Event;
use crate::hooks::RunInfo;

/// What a middleware returns: the output (as JSON) of what it wraps, or its error.
pub type MiddlewareFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, Error>> + Send + 'a>>;

/// What a middleware wraps: the function (and the middleware after this one) or a step's
/// body. Await it to run it; its output is JSON, which the middleware may change.
pub struct Next<'a> {
    future: MiddlewareFuture<'a>,
}

impl<'a> Next<'a> {
    pub(crate) fn new(future: MiddlewareFuture<'a>) -> Self {
        Self { future }
    }
}

impl<'a> IntoFuture for Next<'a> {
    type Output = Result<Value, Error>;
    type IntoFuture = MiddlewareFuture<'a>;

    fn into_future(self) -> Self::IntoFuture {
        self.future
    }
}

/// Code around one function's runs and steps. Every method has a pass-through default.
///
/// Each execution request of a run (a run of N steps takes about N requests) goes through
/// [`transform_input`](Self::transform_input) and [`wrap_run`](Self::wrap_run); each step
/// body that runs in a request goes through [`wrap_step`](Self::wrap_step). A request that
/// ends at a new step (to run it, sleep or wait) never resumes the function, so the code
/// after `next.await` in `wrap_run` runs only in the request where the function returns or
/// fails: use [`InngestHook::on_run_end`](crate::InngestHook::on_run_end) to see every
/// request.
pub trait FunctionMiddleware: Send + Sync + 'static {
    /// The run's events before they are decoded into the function's payload type. It may
    /// change them, or refuse the request (authorization): a non-retriable error fails the
    /// run, a retriable one retries it. A function with middleware pays one JSON round trip
    /// of its events per request for this.
    fn transform_input(&self, run: &RunInfo, events: &mut Vec<Event>) -> Result<(), Error> {
        let _ = (run, events);
        Ok(())
    }

    /// Around the function's code in each request: call `next` (or not, to refuse) and
    /// return its output, which may be changed (the function's result, as JSON).
    fn wrap_run<'a>(&'a self, run: &'a RunInfo, next: Next<'a>) -> MiddlewareFuture<'a> {
        let _ = run;
        next.into_future()
    }

    /// Around each step body that runs (`step.run`, `step.send_event`): its output (as JSON)
    /// may be changed before it is memoized, its error mapped. Memoized steps do not run
    /// and do not pass here. A changed output is what the function reads back on the
    /// next request, so it must still decode as the step's type; the output of a
    /// `send_event` step is the SDK's record of the sent ids: leave it as it is.
    fn wrap_step<'a>(
        &'a self,
        run: &'a RunInfo,
        step_id: &'a str,
        next: Next<'a>,
    ) -> MiddlewareFuture<'a> {
        let _ = (run, step_id);
        next.into_future()
    }
}

/// A function's middleware, outermost first.
pub(crate) type MiddlewareList = Arc<[Arc<dyn FunctionMiddleware>]>;

/// A step body with every middleware's `wrap_step` around it.
pub(crate) fn around_step<'a>(
    middleware: &'a MiddlewareList,
    run: &'a RunInfo,
    step_id: &'a str,
    body: impl Future<Output = Result<Value, Error>> + Send + 'a,
) -> MiddlewareFuture<'a> {
    let mut next: MiddlewareFuture<'a> = Box::pin(body);
    for layer in middleware.iter().rev() {
        next = layer.wrap_step(run, step_id, Next::new(next));
    }
    next
}
