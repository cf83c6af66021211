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

use std::sync::Arc;

use crate::key::ProviderKey;

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
