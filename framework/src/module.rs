//! Modules: a name, imports, providers, exports, routes and config sections.
//! Dynamic modules are plain functions returning a [`Module`].

use std::sync::Arc;

use axum::Router;

use crate::config::{Config, ConfigSection, Environment, SectionDef, check_options};
use crate::error::ResolveError;
use crate::inject::{Dependencies, Dependency, Deps};
use crate::key::ProviderKey;
use crate::provider::{Injectable, Provider, ProviderDef};

pub(crate) type RouterFn = Arc<dyn Fn(&Deps<'_>) -> Result<Router, ResolveError> + Send + Sync>;

/// Routes a module contributes, built after the container with injected dependencies.
#[derive(Clone)]
pub(crate) struct RouteDef {
    pub(crate) dependencies: Vec<Dependency>,
    pub(crate) build: RouterFn,
}

/// The structure of a module definition, compared when two definitions share a name.
#[derive(PartialEq)]
pub(crate) struct ModuleShape {
    providers: Vec<(ProviderKey, crate::provider::Scope)>,
    exports: Vec<ProviderKey>,
    reexports: Vec<Arc<str>>,
    imports: Vec<(Arc<str>, bool, Option<&'static str>)>,
    sections: Vec<&'static str>,
    routes: usize,
    global: bool,
}

/// An import of another module.
#[derive(Clone)]
pub(crate) struct Import {
    /// Shared, so cloning a module does not copy its whole import tree.
    pub(crate) module: Arc<Module>,
    pub(crate) optional: bool,
    /// A boolean config key that must be `true` for the import to take effect.
    pub(crate) when: Option<&'static str>,
}

/// A module: a unit of composition with its own providers, what it shows to importers
/// (exports), the modules it uses (imports), its HTTP routes and its config sections.
///
/// Dynamic modules are functions that return one:
///
/// ```
/// use framework::{Module, Provider};
///
/// #[derive(Clone)]
/// pub struct MailerOptions { pub from: String }
/// pub struct Mailer { pub options: MailerOptions }
///
/// pub struct MailerModule;
/// impl MailerModule {
///     pub fn for_root(options: MailerOptions) -> Module {
///         Module::new("mailer")
///             .provider(Provider::value(options))
///             .provider(Provider::factory(|o: std::sync::Arc<MailerOptions>| Mailer { options: (*o).clone() }))
///             .export::<Mailer>()
///     }
/// }
///
/// let app = Module::new("app").import(MailerModule::for_root(MailerOptions { from: "shop@example.com".into() }));
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct Module {
    pub(crate) name: Arc<str>,
    pub(crate) imports: Vec<Import>,
    pub(crate) providers: Vec<ProviderDef>,
    pub(crate) exports: Vec<ProviderKey>,
    pub(crate) reexports: Vec<Arc<str>>,
    pub(crate) global: bool,
    pub(crate) routes: Vec<RouteDef>,
    pub(crate) sections: Vec<SectionDef>,
    pub(crate) env_aliases: Vec<(&'static str, &'static str)>,
}

impl Module {
    /// A new, empty module. The name identifies it in messages, in `modules.<name>.enabled`
    /// toggles and in imports (a module imported from several places is built once).
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self {
            name: name.into(),
            imports: Vec::new(),
            providers: Vec::new(),
            exports: Vec::new(),
            reexports: Vec::new(),
            global: false,
            routes: Vec::new(),
            sections: Vec::new(),
            env_aliases: Vec::new(),
        }
    }

    /// The module's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Imports a module: its exports become visible to this module's providers.
    pub fn import(mut self, module: Module) -> Self {
        self.imports.push(Import {
            module: Arc::new(module),
            optional: false,
            when: None,
        });
        self
    }

    /// Imports a module that configuration may switch off (`modules.<name>.enabled = false`).
    /// Depend on its providers with `Option<Arc<T>>`.
    pub fn import_optional(mut self, module: Module) -> Self {
        self.imports.push(Import {
            module: Arc::new(module),
            optional: true,
            when: None,
        });
        self
    }

    /// Imports a module only when the boolean config key `path` is `true` (a missing key
    /// is `false`), like NestJS's `ConditionalModule.registerWhen`. When the key is false
    /// the module is not part of the app at all: no providers, no routes, no hooks.
    /// Depend on its providers with `Option<Arc<T>>`.
    ///
    /// ```
    /// use framework::Module;
    /// let app = Module::new("app")
    ///     .import_when("features.audit", Module::new("audit"));
    /// # let _ = app;
    /// ```
    ///
    /// With `[features] audit = true` (or `APP__FEATURES__AUDIT=true`) the `audit` module is
    /// imported. The key's section must be read by some module (or be `modules`), since
    /// unknown sections are reported. A value that is not a boolean is a start-up error.
    pub fn import_when(mut self, path: &'static str, module: Module) -> Self {
        self.imports.push(Import {
            module: Arc::new(module),
            optional: true,
            when: Some(path),
        });
        self
    }

    /// Adds a provider.
    pub fn provider<T: ?Sized>(mut self, provider: Provider<T>) -> Self {
        self.providers.push(provider.into());
        self
    }

    /// Adds the provider of an `#[injectable]` type.
    pub fn provide<T: Injectable>(self) -> Self {
        self.provider(T::provider())
    }

    /// Exports the unnamed provider of `T` (declared here or re-exported) to importers.
    pub fn export<T: ?Sized + 'static>(self) -> Self {
        self.export_key(ProviderKey::of::<T>())
    }

    /// Exports the provider of `T` registered under `name`.
    pub fn export_named<T: ?Sized + 'static>(self, name: &'static str) -> Self {
        self.export_key(ProviderKey::named::<T>(name))
    }

    /// Exports a provider by key.
    pub fn export_key(mut self, key: ProviderKey) -> Self {
        self.exports.push(key);
        self
    }

    /// Re-exports everything an imported module exports (by that module's name).
    pub fn reexport(mut self, module_name: impl Into<Arc<str>>) -> Self {
        self.reexports.push(module_name.into());
        self
    }

    /// Makes this module's exports visible to every module without an import.
    pub fn global(mut self) -> Self {
        self.global = true;
        self
    }

    /// Declares a typed config section at `path` (e.g. `"greetings"`), validated at start-up
    /// and injectable as [`Config<T>`](crate::Config).
    pub fn config<T: ConfigSection>(mut self, path: &'static str) -> Self {
        self.sections.push(SectionDef::of::<T>(path));
        self
    }

    /// This module's options of type `T`, injectable as `Arc<T>`: read from the `[path]`
    /// section when `given` is `None`, else `given`, checked at start-up exactly as the
    /// section would be ([`check_options`]: `validator` rules, then
    /// [`ConfigSection::check`] for the environment, each problem named `path.field`). The
    /// two ways to configure a dynamic module, `new()` from config and
    /// `for_root(options)` from code, share one set of checks and one way of reporting.
    ///
    /// ```
    /// use framework::{ConfigSection, Environment, Module, SectionProblems};
    /// use serde::Deserialize;
    /// use validator::Validate;
    ///
    /// #[derive(Clone, Default, Deserialize, Validate)]
    /// #[serde(default)]
    /// pub struct CacheOptions {
    ///     #[validate(range(min = 1, message = "must be at least 1"))]
    ///     pub capacity: u32,
    /// }
    /// impl ConfigSection for CacheOptions {
    ///     fn check(&self, _env: Environment, _problems: &mut SectionProblems) {}
    /// }
    ///
    /// pub struct CacheModule;
    /// impl CacheModule {
    ///     /// Options from `[cache]`.
    ///     pub fn new() -> Module {
    ///         Module::new("cache").options::<CacheOptions>("cache", None)
    ///     }
    ///     /// Options from code, checked the same way.
    ///     pub fn for_root(options: CacheOptions) -> Module {
    ///         Module::new("cache").options("cache", Some(options))
    ///     }
    /// }
    /// # let _ = (CacheModule::new(), CacheModule::for_root(CacheOptions::default()));
    /// ```
    pub fn options<T: ConfigSection + Clone>(self, path: &'static str, given: Option<T>) -> Self {
        match given {
            None => self
                .config::<T>(path)
                .provider(Provider::factory(|config: Config<T>| config.get())),
            Some(options) => self.provider(Provider::try_factory(move |env: Arc<Environment>| {
                check_options(path, &options, *env).map(|()| options.clone())
            })),
        }
    }

    /// Declares the section `path` like [`Module::config`], for a dynamic module whose
    /// async factory completes the options (a secret store, another section) and checks the
    /// result itself: unknown keys and malformed values are still reported, and `validator`
    /// rules still apply, but the section's [`ConfigSection::check`] is not run on the file
    /// alone, so a key the factory supplies need not be in the file.
    pub fn config_completed_by_factory<T: ConfigSection>(mut self, path: &'static str) -> Self {
        self.sections.push(SectionDef::unchecked::<T>(path));
        self
    }

    /// Reads the environment variable `var` (e.g. `INNGEST_SIGNING_KEY`, a name other tools
    /// already use) into the config key `path` (e.g. `inngest.signing_key`) **when no config
    /// file and no `APP__…` variable sets that key**: explicit configuration wins.
    pub fn env_alias(mut self, var: &'static str, path: &'static str) -> Self {
        self.env_aliases.push((var, path));
        self
    }

    /// Adds routes built from injected dependencies once the container is built.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use axum::{routing::get, extract::State, Router};
    /// use framework::{Module, Provider};
    ///
    /// struct Clock;
    /// impl Clock { fn now(&self) -> &'static str { "noon" } }
    ///
    /// let module = Module::new("clock")
    ///     .provider(Provider::value(Clock))
    ///     .routes(|clock: Arc<Clock>| {
    ///         Router::new()
    ///             .route("/now", get(|State(clock): State<Arc<Clock>>| async move { clock.now() }))
    ///             .with_state(clock)
    ///     });
    /// # let _ = module;
    /// ```
    pub fn routes<D, F>(mut self, build: F) -> Self
    where
        D: Dependencies,
        F: Fn(D) -> Router + Send + Sync + 'static,
    {
        self.routes.push(RouteDef {
            dependencies: D::dependencies(),
            build: Arc::new(move |deps: &Deps<'_>| Ok(build(D::extract(deps)?))),
        });
        self
    }

    /// Adds a ready router (for handlers that use the [`Inject`](crate::http::Inject) extractor).
    pub fn router(self, router: Router) -> Self {
        self.routes(move |(): ()| router.clone())
    }

    /// A fingerprint of the definition, to tell two different modules sharing a name apart.
    /// Provider *values* cannot be compared; everything structural is.
    pub(crate) fn shape(&self) -> ModuleShape {
        ModuleShape {
            providers: self.providers.iter().map(|p| (p.key, p.scope)).collect(),
            exports: self.exports.clone(),
            reexports: self.reexports.clone(),
            imports: self
                .imports
                .iter()
                .map(|i| (Arc::clone(&i.module.name), i.optional, i.when))
                .collect(),
            sections: self.sections.iter().map(|s| s.path).collect(),
            routes: self.routes.len(),
            global: self.global,
        }
    }
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("name", &self.name)
            .field(
                "imports",
                &self
                    .imports
                    .iter()
                    .map(|i| &*i.module.name)
                    .collect::<Vec<_>>(),
            )
            .field(
                "providers",
                &self.providers.iter().map(|p| p.key).collect::<Vec<_>>(),
            )
            .field("exports", &self.exports)
            .field("global", &self.global)
            .finish()
    }
}
