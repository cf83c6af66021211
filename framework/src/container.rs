//! The built, frozen container: singletons resolved without a lock, transients and
//! request-scoped values built on demand, discovery, and lifecycle hooks.

use parking_lot::Mutex;
use std::any::{Any, TypeId};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use rustc_hash::FxHashMap;
use tokio::sync::OnceCell;

use crate::discovery::{ContributionKind, Discovered};
use crate::error::{Error, ResolveError};
use crate::graph::{Plan, PlannedProvider};
use crate::inject::{Deps, Instance, InstanceSource, downcast};
use crate::key::ProviderKey;
use crate::phase::Phase;
use crate::provider::{ErasedHook, Scope};

type Item = Arc<dyn Any + Send + Sync>;

struct HookEntry {
    module: Arc<str>,
    provider: ProviderKey,
    instance: Instance,
    hook: ErasedHook,
}

/// The frozen container. Cheap to share (`Arc<Container>`); every singleton lookup is a
/// hash-map read with no lock.
pub struct Container {
    providers: Vec<PlannedProvider>,
    module_names: Vec<Arc<str>>,
    index: FxHashMap<ProviderKey, usize>,
    singletons: FxHashMap<ProviderKey, Instance>,
    contributions: FxHashMap<TypeId, Vec<(Arc<str>, ProviderKey, Item)>>,
    /// In start-up order: modules in dependency order, providers in build order.
    hooks: Vec<HookEntry>,
}

impl std::fmt::Debug for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Container")
            .field("modules", &self.module_names)
            .field("providers", &self.providers.len())
            .field("singletons", &self.singletons.len())
            .finish()
    }
}

/// Dependencies gathered into a map, read by factories through [`Deps`].
pub(crate) struct MapSource<'a>(pub(crate) &'a FxHashMap<ProviderKey, Instance>);

impl InstanceSource for MapSource<'_> {
    fn instance(&self, key: &ProviderKey) -> Option<Instance> {
        self.0.get(key).cloned()
    }
}

/// What is needed to build one provider: the definitions, the singletons built so far,
/// and the request scope if inside a request.
struct Builder<'a> {
    providers: &'a [PlannedProvider],
    index: &'a FxHashMap<ProviderKey, usize>,
    singletons: &'a FxHashMap<ProviderKey, Instance>,
    request: Option<&'a RequestScope>,
}

impl<'a> Builder<'a> {
    /// Builds provider `p`: gathers its dependencies (building transients, reusing
    /// request-scoped values), then runs its factory.
    fn build(&self, p: usize) -> BoxFuture<'a, Result<Instance, ResolveError>> {
        let providers = self.providers;
        let index = self.index;
        let singletons = self.singletons;
        let request = self.request;
        async move {
            let this = Builder {
                providers,
                index,
                singletons,
                request,
            };
            let def = &providers[p].def;
            let mut gathered: FxHashMap<ProviderKey, Instance> = FxHashMap::default();
            for dep in &def.dependencies {
                if let Some(instance) = this.dependency(&dep.key).await? {
                    gathered.insert(dep.key, instance);
                }
            }
            let future = (def.factory)(&Deps::new(&MapSource(&gathered)))?;
            future.await.map_err(|source| ResolveError::Factory {
                key: def.key,
                source,
            })
        }
        .boxed()
    }

    async fn dependency(&self, key: &ProviderKey) -> Result<Option<Instance>, ResolveError> {
        let Some(&q) = self.index.get(key) else {
            return Ok(None);
        };
        match self.providers[q].def.scope {
            Scope::Singleton => Ok(self.singletons.get(key).cloned()),
            Scope::Transient => self.build(q).await.map(Some),
            Scope::Request => match self.request {
                Some(scope) => scope.get_or_build(q, self).await.map(Some),
                None => Err(ResolveError::OutsideRequest { key: *key }),
            },
        }
    }
}

impl Container {
    /// Builds every singleton in dependency order, then freezes.
    pub(crate) async fn build(plan: Plan) -> Result<Self, Error> {
        let Plan {
            modules,
            providers,
            index,
            singleton_order,
        } = plan;
        let mut singletons: FxHashMap<ProviderKey, Instance> = FxHashMap::default();
        for &p in &singleton_order {
            let built = Builder {
                providers: &providers,
                index: &index,
                singletons: &singletons,
                request: None,
            }
            .build(p)
            .await;
            let module = Arc::clone(&modules[providers[p].module].name);
            let instance = built.map_err(|error| Error::Build {
                module: module.to_string(),
                key: providers[p].def.key,
                source: match error {
                    ResolveError::Factory { source, .. } => source,
                    other => Box::new(other),
                },
            })?;
            singletons.insert(providers[p].def.key, instance);
        }

        let module_names: Vec<Arc<str>> = modules.iter().map(|m| Arc::clone(&m.name)).collect();
        let mut contributions: FxHashMap<TypeId, Vec<(Arc<str>, ProviderKey, Item)>> =
            FxHashMap::default();
        let mut hooks = Vec::new();
        // Hooks run module by module in dependency order, then provider build order.
        for (m, _) in modules.iter().enumerate() {
            for &p in singleton_order
                .iter()
                .filter(|&&p| providers[p].module == m)
            {
                let def = &providers[p].def;
                let Some(instance) = singletons.get(&def.key) else {
                    continue;
                };
                for contribution in &def.contributions {
                    if let Some(item) = (contribution.make)(instance) {
                        contributions.entry(contribution.kind).or_default().push((
                            Arc::clone(&module_names[m]),
                            def.key,
                            Arc::from(item),
                        ));
                    }
                }
                for hook in &def.hooks {
                    hooks.push(HookEntry {
                        module: Arc::clone(&module_names[m]),
                        provider: def.key,
                        instance: Arc::clone(instance),
                        hook: hook.clone(),
                    });
                }
            }
        }
        Ok(Self {
            providers,
            module_names,
            index,
            singletons,
            contributions,
            hooks,
        })
    }

    /// The singleton `T` (unnamed). No lock, no allocation.
    ///
    /// ```
    /// # use framework::{Module, Provider, TestingModule};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// struct Clock;
    /// let app = TestingModule::new(Module::new("app").provider(Provider::value(Clock))).build().await.unwrap();
    /// let clock: std::sync::Arc<Clock> = app.container().get::<Clock>().unwrap();
    /// # let _ = clock; });
    /// ```
    #[inline]
    pub fn get<T: ?Sized + Send + Sync + 'static>(&self) -> Result<Arc<T>, ResolveError> {
        self.get_key(&ProviderKey::of::<T>())
    }

    /// The singleton `T` registered under `name`.
    pub fn get_named<T: ?Sized + Send + Sync + 'static>(
        &self,
        name: &'static str,
    ) -> Result<Arc<T>, ResolveError> {
        self.get_key(&ProviderKey::named::<T>(name))
    }

    #[inline]
    fn get_key<T: ?Sized + Send + Sync + 'static>(
        &self,
        key: &ProviderKey,
    ) -> Result<Arc<T>, ResolveError> {
        match self.singletons.get(key) {
            Some(instance) => downcast::<T>(instance).ok_or(ResolveError::NotBuilt { key: *key }),
            None => Err(self.missing(key)),
        }
    }

    fn missing(&self, key: &ProviderKey) -> ResolveError {
        match self.index.get(key).map(|&p| self.providers[p].def.scope) {
            Some(Scope::Request) => ResolveError::OutsideRequest { key: *key },
            Some(_) => ResolveError::NotBuilt { key: *key },
            None => ResolveError::NotRegistered { key: *key },
        }
    }

    /// Resolves `T` whatever its scope outside a request: the singleton, or a new transient.
    pub async fn resolve<T: ?Sized + Send + Sync + 'static>(&self) -> Result<Arc<T>, ResolveError> {
        self.resolve_key(&ProviderKey::of::<T>(), None).await
    }

    pub(crate) async fn resolve_key<T: ?Sized + Send + Sync + 'static>(
        &self,
        key: &ProviderKey,
        request: Option<&RequestScope>,
    ) -> Result<Arc<T>, ResolveError> {
        let builder = Builder {
            providers: &self.providers,
            index: &self.index,
            singletons: &self.singletons,
            request,
        };
        let instance = builder
            .dependency(key)
            .await?
            .ok_or_else(|| self.missing(key))?;
        downcast::<T>(&instance).ok_or(ResolveError::NotBuilt { key: *key })
    }

    /// The instance for `key` outside a request: the singleton or a new transient.
    pub(crate) async fn instance(
        &self,
        key: &ProviderKey,
    ) -> Result<Option<Instance>, ResolveError> {
        Builder {
            providers: &self.providers,
            index: &self.index,
            singletons: &self.singletons,
            request: None,
        }
        .dependency(key)
        .await
    }

    /// Every item of kind `K` contributed by providers of enabled modules, in start-up order.
    pub fn discover<K: ContributionKind>(&self) -> Vec<Discovered<K::Item>> {
        self.contributions
            .get(&TypeId::of::<K>())
            .into_iter()
            .flatten()
            .filter_map(|(module, provider, item)| {
                Arc::clone(item)
                    .downcast::<K::Item>()
                    .ok()
                    .map(|item| Discovered {
                        module: Arc::clone(module),
                        provider: *provider,
                        item,
                    })
            })
            .collect()
    }

    /// The enabled modules, in dependency order.
    pub fn modules(&self) -> &[Arc<str>] {
        &self.module_names
    }

    /// `true` if an enabled module provides `key`.
    pub fn contains(&self, key: &ProviderKey) -> bool {
        self.index.contains_key(key)
    }

    /// Runs every hook of `phase`: start-up phases in dependency order, shutdown phases in
    /// reverse. Stops at the first failure (start-up) or runs all and returns the first
    /// failure (shutdown), so one failing hook does not skip the others' clean-up.
    pub(crate) async fn run_hooks(&self, phase: Phase, timeout: Duration) -> Result<(), Error> {
        let reverse = Phase::SHUTDOWN.contains(&phase);
        let entries: Vec<&HookEntry> = if reverse {
            self.hooks
                .iter()
                .rev()
                .filter(|h| h.hook.phase == phase)
                .collect()
        } else {
            self.hooks
                .iter()
                .filter(|h| h.hook.phase == phase)
                .collect()
        };
        let mut first_error = None;
        for entry in entries {
            let provider = entry.provider.to_string();
            tracing::debug!(module = %entry.module, %provider, %phase, "running lifecycle hook");
            let outcome =
                tokio::time::timeout(timeout, (entry.hook.run)(Arc::clone(&entry.instance))).await;
            let error = match outcome {
                Ok(Ok(())) => continue,
                Ok(Err(source)) => Error::Hook {
                    module: entry.module.to_string(),
                    phase,
                    provider,
                    source,
                },
                Err(_) => Error::HookTimeout {
                    module: entry.module.to_string(),
                    phase,
                    provider,
                    timeout,
                },
            };
            if !reverse {
                return Err(error);
            }
            tracing::error!(error = %error, "shutdown hook failed");
            first_error.get_or_insert(error);
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// The values built for one request: each request-scoped provider at most once.
pub struct RequestScope {
    pub(crate) container: Arc<Container>,
    cells: Mutex<FxHashMap<ProviderKey, Arc<OnceCell<Instance>>>>,
}

impl RequestScope {
    /// A new, empty scope (the HTTP layer makes one per request).
    pub fn new(container: Arc<Container>) -> Self {
        Self {
            container,
            cells: Mutex::new(FxHashMap::default()),
        }
    }

    /// Resolves `T` in this request: singleton, new transient, or this request's instance.
    pub async fn resolve<T: ?Sized + Send + Sync + 'static>(&self) -> Result<Arc<T>, ResolveError> {
        let container = Arc::clone(&self.container);
        container
            .resolve_key(&ProviderKey::of::<T>(), Some(self))
            .await
    }

    /// Resolves the provider of `T` registered under `name`.
    pub async fn resolve_named<T: ?Sized + Send + Sync + 'static>(
        &self,
        name: &'static str,
    ) -> Result<Arc<T>, ResolveError> {
        let container = Arc::clone(&self.container);
        container
            .resolve_key(&ProviderKey::named::<T>(name), Some(self))
            .await
    }

    /// Adds a request-scoped value built outside the container (e.g. request metadata).
    pub(crate) fn seed(&self, key: ProviderKey, instance: Instance) {
        let cell = Arc::new(OnceCell::new_with(Some(instance)));
        self.cells.lock().insert(key, cell);
    }

    async fn get_or_build(
        &self,
        p: usize,
        builder: &Builder<'_>,
    ) -> Result<Instance, ResolveError> {
        let key = builder.providers[p].def.key;
        let cell = {
            let mut cells = self.cells.lock();
            Arc::clone(cells.entry(key).or_default())
        };
        let instance = cell.get_or_try_init(|| builder.build(p)).await?;
        Ok(Arc::clone(instance))
    }
}

impl std::fmt::Debug for RequestScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestScope").finish_non_exhaustive()
    }
}
