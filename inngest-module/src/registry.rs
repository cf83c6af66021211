//! The served functions: collected from discovery at start-up, checked, and turned into the
//! register payload and introspection counts.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use framework::{Discovered, Discovery, short_type_name};

use crate::function::{Function, FunctionOptions, step_config};
use crate::handler::Handler;
use crate::hooks::{HookList, InngestHook, SyncInfo, SyncKind};
use crate::options::{ExecutorKind, InngestOptions};
use crate::protocol::{self, Capabilities, FunctionConfig, RegisterRequest, Trigger};
use crate::service::InngestService;

/// The server's default retry count when a function sets none.
pub const DEFAULT_RETRIES: u32 = 4;

/// One servable entry: a function, its failure handler or its cancellation handler.
pub(crate) struct Entry {
    pub handler: Handler,
    pub max_attempts: u32,
    /// The function's own checkpointing, else the app's.
    pub checkpointing: crate::options::Checkpointing,
}

struct Served {
    entries: HashMap<String, Entry>,
    definitions: Vec<Definition>,
    hooks: HookList,
}

/// A served function's options, and which handlers of its own it has.
struct Definition {
    options: FunctionOptions,
    on_failure: bool,
    on_cancel: bool,
}

/// The handlers a function may have besides its own: `(id suffix, name suffix, the event
/// that triggers it)`.
const FAILURE: (&str, &str, &str) = ("failure", "failure", "inngest/function.failed");
const CANCELLED: (&str, &str, &str) = ("cancelled", "cancelled", "inngest/function.cancelled");

/// Why the functions cannot be served.
#[derive(Debug, thiserror::Error)]
#[error("Inngest functions are misconfigured:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct FunctionsError {
    /// Every problem found, each naming the function and its provider.
    pub problems: Vec<String>,
}

/// The functions this app serves, and what it needs to serve them.
pub struct Registry {
    pub(crate) options: Arc<InngestOptions>,
    pub(crate) service: Arc<InngestService>,
    pub(crate) discovery: Arc<Discovery>,
    executor: ExecutorKind,
    served: OnceLock<Served>,
    /// `inngest.tracing.context_field`: dropped from event data that does not fit the
    /// handler's type with it.
    pub(crate) context_field: Arc<str>,
    last_sync: parking_lot::Mutex<Option<SyncInfo>>,
    trace: Option<crate::trace::TraceSettings>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("functions", &self.function_ids())
            .finish()
    }
}

impl Registry {
    pub(crate) fn new(
        options: Arc<InngestOptions>,
        service: Arc<InngestService>,
        discovery: Arc<Discovery>,
        executor: ExecutorKind,
    ) -> Self {
        // One setting for the service's sends and the run and step spans.
        let trace = service.trace_settings().cloned();
        let context_field = options.tracing.context_field.as_str().into();
        Self {
            context_field,
            options,
            service,
            discovery,
            executor,
            served: OnceLock::new(),
            last_sync: parking_lot::Mutex::new(None),
            trace,
        }
    }

    /// The last sync (registration with an executor) and its outcome, if any happened.
    pub fn last_sync(&self) -> Option<SyncInfo> {
        self.last_sync.lock().clone()
    }

    /// Records a sync and tells the hooks.
    pub(crate) fn record_sync(&self, kind: SyncKind, error: Option<String>) {
        let sync = SyncInfo {
            kind,
            ok: error.is_none(),
            at: std::time::SystemTime::now(),
            error,
            functions: self.function_count(),
        };
        self.hooks().each(|hook| hook.on_sync(&sync));
        *self.last_sync.lock() = Some(sync);
    }

    /// Trace settings when run and step spans are on.
    pub(crate) fn trace(&self) -> Option<&crate::trace::TraceSettings> {
        self.trace.as_ref()
    }

    /// Which executor drives these functions.
    pub fn executor_kind(&self) -> ExecutorKind {
        self.executor
    }

    /// Installs the discovered functions and hooks; every problem is reported at once.
    pub(crate) fn install(
        &self,
        functions: Vec<Discovered<Function>>,
        hooks: Vec<Arc<dyn InngestHook>>,
    ) -> Result<(), FunctionsError> {
        let app_id = &self.options.app_id;
        let mut problems = Vec::new();
        let mut owners: HashMap<String, String> = HashMap::new();
        let mut entries = HashMap::new();
        let mut definitions = Vec::new();
        for found in functions {
            let function = &found.item;
            let owner = format!(
                "{} (module `{}`)",
                short_type_name(found.provider.type_name()),
                found.module
            );
            let id = &function.options.id;
            for problem in function.options.problems() {
                problems.push(format!("function `{id}` of {owner}: {problem}"));
            }
            if self.executor == ExecutorKind::Remote {
                for cron in function.options.crons_with_seconds() {
                    problems.push(format!(
                        "function `{id}` of {owner}: cron `{cron}` has a seconds field, which the embedded executor runs but an Inngest server refuses: use 5 fields (minute hour day month weekday)"
                    ));
                }
            }
            if let Some(first) = owners.insert(id.clone(), owner.clone()) {
                problems.push(format!(
                    "function id `{id}` is declared twice: by {first} and by {owner}; give one of them another id"
                ));
                continue;
            }
            let composite = format!("{app_id}-{id}");
            let max_attempts = function.options.retries.unwrap_or(DEFAULT_RETRIES) + 1;
            let checkpointing = function
                .options
                .checkpointing
                .unwrap_or(self.options.checkpointing);
            entries.insert(
                composite.clone(),
                Entry {
                    handler: function.served_handler(),
                    max_attempts,
                    checkpointing,
                },
            );
            for (handler, (suffix, ..)) in [
                (&function.on_failure, FAILURE),
                (&function.on_cancel, CANCELLED),
            ] {
                if let Some(handler) = handler {
                    entries.insert(
                        format!("{composite}-{suffix}"),
                        Entry {
                            handler: Arc::clone(handler),
                            max_attempts: 2,
                            checkpointing,
                        },
                    );
                }
            }
            definitions.push(Definition {
                options: function.options.clone(),
                on_failure: function.on_failure.is_some(),
                on_cancel: function.on_cancel.is_some(),
            });
        }
        if !problems.is_empty() {
            problems.sort();
            return Err(FunctionsError { problems });
        }
        definitions.sort_by(|a, b| a.options.id.cmp(&b.options.id));
        let hooks = HookList::new(hooks);
        self.service.set_hooks(hooks.clone());
        let _ = self.served.set(Served {
            entries,
            definitions,
            hooks,
        });
        Ok(())
    }

    pub(crate) fn entry(&self, composite_id: &str) -> Option<&Entry> {
        self.served.get()?.entries.get(composite_id)
    }

    pub(crate) fn hooks(&self) -> HookList {
        self.served
            .get()
            .map(|s| s.hooks.clone())
            .unwrap_or_default()
    }

    /// Composite ids of every served function (failure handlers included), sorted.
    pub fn function_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .served
            .get()
            .map(|s| s.entries.keys().cloned().collect())
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// How many functions introspection reports (failure handlers count, as in the JS SDK).
    pub fn function_count(&self) -> usize {
        self.served.get().map_or(0, |s| s.entries.len())
    }

    /// The `functions[]` of the register payload, with step URLs under `url`.
    pub fn function_configs(&self, url: &str) -> Vec<FunctionConfig> {
        let app_id = &self.options.app_id;
        let mut configs = Vec::new();
        for definition in self
            .served
            .get()
            .map(|s| s.definitions.as_slice())
            .unwrap_or_default()
        {
            let options = &definition.options;
            configs.push(options.to_config(app_id, url));
            let composite = format!("{app_id}-{}", options.id);
            let name = options.name.as_deref().unwrap_or(&options.id);
            for (present, (suffix, label, event)) in [
                (definition.on_failure, FAILURE),
                (definition.on_cancel, CANCELLED),
            ] {
                if !present {
                    continue;
                }
                let id = format!("{composite}-{suffix}");
                configs.push(FunctionConfig {
                    name: format!("{name} ({label})"),
                    triggers: vec![Trigger::Event {
                        event: event.into(),
                        expression: Some(format!("event.data.function_id == '{composite}'")),
                    }],
                    steps: step_config(url, &id, Some(1)),
                    id,
                    ..FunctionConfig::default()
                });
            }
        }
        configs
    }

    /// The body of `POST /fn/register`.
    pub fn register_payload(&self, url: &str) -> RegisterRequest {
        RegisterRequest {
            url: url.to_string(),
            v: "0.1".into(),
            deploy_type: "ping".into(),
            sdk: protocol::SDK.into(),
            framework: protocol::FRAMEWORK.into(),
            app_name: self.options.app_id.clone(),
            app_version: self.options.app_version.clone(),
            functions: self.function_configs(url),
            capabilities: Some(Capabilities {
                trust_probe: Some("v1".into()),
                connect: Some("v1".into()),
                in_band_sync: None,
            }),
            feature_observations: None,
        }
    }
}
