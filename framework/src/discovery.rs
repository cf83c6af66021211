//! Discovery: providers contribute items of a kind; any module can list every item of a
//! kind from the providers of **enabled** modules (NestJS's DiscoveryService, without
//! runtime reflection).
//!
//! ```
//! use std::sync::Arc;
//! use framework::{ContributionKind, Module, Provider, TestingModule};
//!
//! /// A kind: "things that can report their health".
//! struct Checks;
//! impl ContributionKind for Checks { type Item = &'static str; }
//!
//! struct Db;
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let app = TestingModule::new(
//!     Module::new("app").provider(Provider::value(Db).contribute::<Checks, _>(|_db: &Arc<Db>| "db")),
//! )
//! .build()
//! .await
//! .unwrap();
//! let found = app.container().discover::<Checks>();
//! assert_eq!(found.len(), 1);
//! assert_eq!(*found[0].item, "db");
//! assert_eq!(&*found[0].module, "app");
//! # });
//! ```

use std::sync::{Arc, OnceLock, Weak};

use crate::container::Container;
use crate::error::ResolveError;
use crate::key::ProviderKey;

/// Injectable access to discovery (`Arc<Discovery>`), for providers that collect
/// contributions themselves — typically in `on_module_init`, once the container is built.
///
/// ```
/// use std::sync::Arc;
/// use framework::{ContributionKind, Discovery, Module, Phase, Provider, TestingModule};
///
/// struct Routes;
/// impl ContributionKind for Routes { type Item = &'static str; }
/// struct Registry { discovery: Arc<Discovery> }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let module = Module::new("app")
///     .provider(Provider::value(1_u8).contribute::<Routes, _>(|_: &Arc<u8>| "/orders"))
///     .provider(Provider::factory(|discovery: Arc<Discovery>| Registry { discovery }).hook(
///         Phase::ModuleInit,
///         |registry: Arc<Registry>| async move {
///             let found = registry.discovery.discover::<Routes>()?;
///             assert_eq!(*found[0].item, "/orders");
///             Ok::<(), framework::ResolveError>(())
///         },
///     ));
/// TestingModule::new(module).build().await.unwrap();
/// # });
/// ```
#[derive(Debug, Default)]
pub struct Discovery {
    container: OnceLock<Weak<Container>>,
}

impl Discovery {
    pub(crate) fn attach(&self, container: &Arc<Container>) {
        let _ = self.container.set(Arc::downgrade(container));
    }

    /// Every item of kind `K` from providers of enabled modules. Available once the
    /// container is built (from `on_module_init` on), not inside factories.
    pub fn discover<K: ContributionKind>(&self) -> Result<Vec<Discovered<K::Item>>, ResolveError> {
        self.container
            .get()
            .and_then(Weak::upgrade)
            .map(|container| container.discover::<K>())
            .ok_or(ResolveError::DiscoveryNotReady)
    }
}

/// A kind of contribution (Inngest functions, health indicators, middleware hooks, ...).
/// The kind is a marker type; `Item` is what providers contribute.
pub trait ContributionKind: Send + Sync + 'static {
    /// What one contribution of this kind is.
    type Item: Send + Sync + 'static;
}

/// One discovered item, with where it came from.
#[derive(Debug)]
pub struct Discovered<I> {
    /// The module that declares the contributing provider.
    pub module: Arc<str>,
    /// The contributing provider.
    pub provider: ProviderKey,
    /// The item.
    pub item: Arc<I>,
}

impl<I> Clone for Discovered<I> {
    fn clone(&self) -> Self {
        Self {
            module: Arc::clone(&self.module),
            provider: self.provider,
            item: Arc::clone(&self.item),
        }
    }
}
