//! Providers: how a value is made (value, sync or async factory, `#[injectable]`
//! constructor), its scope, and what it contributes (hooks, discovery items).

use std::any::{Any, TypeId};
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::discovery::ContributionKind;
use crate::error::{BoxError, ResolveError};
use crate::inject::{Dependencies, Dependency, Deps, Instance, downcast, erase};
use crate::key::ProviderKey;
use crate::lifecycle::IntoHookResult;
use crate::phase::Phase;

/// How long a provided value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Scope {
    /// Built once at start-up, shared by everyone (the default).
    #[default]
    Singleton,
    /// Built anew for every dependent that asks for it.
    Transient,
    /// Built once per HTTP request, resolved with the [`Inject<T>`](crate::http::Inject) extractor.
    Request,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scope::Singleton => "singleton",
            Scope::Transient => "transient",
            Scope::Request => "request-scoped",
        })
    }
}

pub(crate) type BuildFuture = BoxFuture<'static, Result<Instance, BoxError>>;
pub(crate) type FactoryFn =
    Arc<dyn Fn(&Deps<'_>) -> Result<BuildFuture, ResolveError> + Send + Sync>;
pub(crate) type HookFn =
    Arc<dyn Fn(Instance) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;
pub(crate) type ContributeFn =
    Arc<dyn Fn(&Instance) -> Option<Box<dyn Any + Send + Sync>> + Send + Sync>;

/// A factory that hands out one already-built instance.
pub(crate) fn ready_factory(instance: Instance) -> FactoryFn {
    Arc::new(move |_: &Deps<'_>| Ok(futures_util::future::ready(Ok(Arc::clone(&instance))).boxed()))
}

/// A lifecycle hook registered on a provider.
#[derive(Clone)]
pub(crate) struct ErasedHook {
    pub(crate) phase: Phase,
    pub(crate) run: HookFn,
}

/// A discovery item registered on a provider.
#[derive(Clone)]
pub(crate) struct ErasedContribution {
    pub(crate) kind: TypeId,
    pub(crate) make: ContributeFn,
}

/// A provider of `T`: how to make it, its scope, its hooks and its contributions.
///
/// `T` may be unsized (`dyn Trait`) for providers built with [`Provider::arc_value`] or
/// [`Provider::interface`].
///
/// ```
/// use std::sync::Arc;
/// use framework::{Module, Provider};
///
/// struct Settings { greeting: String }
/// struct Greeter { settings: Arc<Settings> }
///
/// let module = Module::new("greetings")
///     .provider(Provider::value(Settings { greeting: "hi".into() }))
///     .provider(Provider::factory(|settings: Arc<Settings>| Greeter { settings }))
///     .export::<Greeter>();
/// # let _ = module;
/// ```
pub struct Provider<T: ?Sized> {
    pub(crate) def: ProviderDef,
    marker: PhantomData<fn() -> Arc<T>>,
}

/// A provider with its type erased, as stored in a [`Module`](crate::Module).
#[derive(Clone)]
pub struct ProviderDef {
    pub(crate) key: ProviderKey,
    pub(crate) scope: Scope,
    pub(crate) dependencies: Vec<Dependency>,
    pub(crate) factory: FactoryFn,
    pub(crate) hooks: Vec<ErasedHook>,
    pub(crate) contributions: Vec<ErasedContribution>,
}

impl ProviderDef {
    /// A singleton provider of an already-built instance under `key`.
    pub(crate) fn instance(key: ProviderKey, instance: Instance) -> Self {
        Self {
            key,
            scope: Scope::Singleton,
            dependencies: Vec::new(),
            factory: ready_factory(instance),
            hooks: Vec::new(),
            contributions: Vec::new(),
        }
    }

    /// The key this provider registers.
    pub fn key(&self) -> ProviderKey {
        self.key
    }
    /// Its scope.
    pub fn scope(&self) -> Scope {
        self.scope
    }
    /// What it needs.
    pub fn dependencies(&self) -> &[Dependency] {
        &self.dependencies
    }
}

impl<T: ?Sized> From<Provider<T>> for ProviderDef {
    fn from(provider: Provider<T>) -> Self {
        provider.def
    }
}

impl<T: Send + Sync + 'static> Provider<T> {
    /// A provider of a ready value (a singleton shared by everyone).
    pub fn value(value: T) -> Self {
        Self::arc_value(Arc::new(value))
    }

    /// A provider built by a synchronous factory whose argument is injected:
    /// one dependency (`Arc<Repo>`) or a tuple of them (`(Arc<Repo>, Config<Settings>)`).
    pub fn factory<D, F>(factory: F) -> Self
    where
        D: Dependencies,
        F: Fn(D) -> T + Send + Sync + 'static,
    {
        Self::try_factory(move |deps: D| Ok::<T, std::convert::Infallible>(factory(deps)))
    }

    /// Like [`Provider::factory`], for factories that can fail. The error stops start-up
    /// with the module and provider named.
    pub fn try_factory<D, E, F>(factory: F) -> Self
    where
        D: Dependencies,
        E: Into<BoxError>,
        F: Fn(D) -> Result<T, E> + Send + Sync + 'static,
    {
        let factory: FactoryFn = Arc::new(move |deps: &Deps<'_>| {
            let args = D::extract(deps)?;
            let built = factory(args)
                .map(|value| erase(Arc::new(value)))
                .map_err(Into::into);
            Ok(futures_util::future::ready(built).boxed())
        });
        Self::from_parts(D::dependencies(), factory)
    }

    /// A provider built by an asynchronous factory whose argument is injected
    /// (connect to a database, fetch a secret, ...).
    ///
    /// ```
    /// use framework::{Config, Provider};
    /// # #[derive(serde::Deserialize, validator::Validate)] struct DbSettings { url: String }
    /// # impl framework::ConfigSection for DbSettings {}
    /// struct Pool { url: String }
    ///
    /// let pool = Provider::async_factory(|settings: Config<DbSettings>| async move {
    ///     Ok::<_, std::io::Error>(Pool { url: settings.url.clone() })
    /// });
    /// # let _ = pool;
    /// ```
    pub fn async_factory<D, E, F, Fut>(factory: F) -> Self
    where
        D: Dependencies,
        E: Into<BoxError>,
        F: Fn(D) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let factory: FactoryFn = Arc::new(move |deps: &Deps<'_>| {
            let args = D::extract(deps)?;
            let future = factory(args);
            Ok(async move {
                future
                    .await
                    .map(|value| erase(Arc::new(value)))
                    .map_err(Into::into)
            }
            .boxed())
        });
        Self::from_parts(D::dependencies(), factory)
    }
}

impl<T: ?Sized + Send + Sync + 'static> Provider<T> {
    /// A provider of a ready `Arc<T>`; `T` may be a trait object.
    pub fn arc_value(value: Arc<T>) -> Self {
        Self::from_parts(Vec::new(), ready_factory(erase(value)))
    }

    /// Binds an interface (`dyn Trait`) to an implementation: the factory receives injected
    /// dependencies (usually the implementation) and returns the `Arc<dyn Trait>`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use framework::Provider;
    ///
    /// trait Greeter: Send + Sync { fn greet(&self) -> String; }
    /// struct English;
    /// impl Greeter for English { fn greet(&self) -> String { "hello".into() } }
    ///
    /// let implementation = Provider::value(English);
    /// let interface = Provider::<dyn Greeter>::interface(|english: Arc<English>| english as Arc<dyn Greeter>);
    /// # let _ = (implementation, interface);
    /// ```
    pub fn interface<D, F>(factory: F) -> Self
    where
        D: Dependencies,
        F: Fn(D) -> Arc<T> + Send + Sync + 'static,
    {
        let factory: FactoryFn = Arc::new(move |deps: &Deps<'_>| {
            let instance = erase(factory(D::extract(deps)?));
            Ok(futures_util::future::ready(Ok(instance)).boxed())
        });
        Self::from_parts(D::dependencies(), factory)
    }

    fn from_parts(dependencies: Vec<Dependency>, factory: FactoryFn) -> Self {
        Self {
            def: ProviderDef {
                key: ProviderKey::of::<T>(),
                scope: Scope::Singleton,
                dependencies,
                factory,
                hooks: Vec::new(),
                contributions: Vec::new(),
            },
            marker: PhantomData,
        }
    }

    /// Registers this provider under a name token, so several providers of one type can
    /// coexist. Inject it with [`Named<T, Q>`](crate::Named).
    pub fn named(mut self, name: &'static str) -> Self {
        self.def.key = self.def.key.with_name(Some(name));
        self
    }

    /// Sets the scope (singleton by default).
    pub fn scope(mut self, scope: Scope) -> Self {
        self.def.scope = scope;
        self
    }

    /// Shorthand for `.scope(Scope::Transient)`.
    pub fn transient(self) -> Self {
        self.scope(Scope::Transient)
    }

    /// Shorthand for `.scope(Scope::Request)`.
    pub fn request_scoped(self) -> Self {
        self.scope(Scope::Request)
    }

    /// Runs `hook` on the built instance in the given lifecycle phase. The hook may return
    /// `()` or `Result<(), E>`. Hooks need a singleton provider.
    pub fn hook<F, Fut>(mut self, phase: Phase, hook: F) -> Self
    where
        F: Fn(Arc<T>) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoHookResult,
    {
        let key = self.def.key;
        let run: HookFn = Arc::new(move |instance: Instance| match downcast::<T>(&instance) {
            Some(this) => {
                let future = hook(this);
                async move { future.await.into_hook_result() }.boxed()
            }
            None => {
                let error: BoxError = ResolveError::NotBuilt { key }.into();
                futures_util::future::ready(Err(error)).boxed()
            }
        });
        self.def.hooks.push(ErasedHook { phase, run });
        self
    }

    /// Contributes one item of kind `K` for discovery, computed from the built instance.
    /// Contributions need a singleton provider.
    pub fn contribute<K, F>(self, make: F) -> Self
    where
        K: ContributionKind,
        F: Fn(&Arc<T>) -> K::Item + Send + Sync + 'static,
    {
        self.with_contribution(Contribution::new::<K, F>(make))
    }

    /// Adds a contribution built elsewhere (used by contribution attribute macros).
    pub fn with_contribution(mut self, contribution: Contribution<T>) -> Self {
        self.def.contributions.push(contribution.erased);
        self
    }

    /// The key this provider registers.
    pub fn key(&self) -> ProviderKey {
        self.def.key
    }
}

/// One discovery item a provider of `T` contributes, built from the instance.
///
/// Contribution attribute macros (such as `#[contribute]`, or `#[inngest::function]` later)
/// generate a `__contribution_<method>() -> Contribution<Self>` function next to the method;
/// `#[injectable]` attaches it to the provider.
pub struct Contribution<T: ?Sized> {
    erased: ErasedContribution,
    marker: PhantomData<fn() -> Arc<T>>,
}

impl<T: ?Sized + Send + Sync + 'static> Contribution<T> {
    /// A contribution of kind `K` made from the built instance.
    pub fn new<K, F>(make: F) -> Self
    where
        K: ContributionKind,
        F: Fn(&Arc<T>) -> K::Item + Send + Sync + 'static,
    {
        Self {
            erased: ErasedContribution {
                kind: TypeId::of::<K>(),
                make: Arc::new(move |instance: &Instance| {
                    downcast::<T>(instance)
                        .map(|this| Box::new(make(&this)) as Box<dyn Any + Send + Sync>)
                }),
            },
            marker: PhantomData,
        }
    }
}

/// A type with a provider, usually generated by `#[injectable]` on its impl block.
pub trait Injectable: Send + Sync + 'static {
    /// The provider: constructor injection plus any hooks and contributions.
    fn provider() -> Provider<Self>;
}
