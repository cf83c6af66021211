//! Import an existing [shaku](https://docs.rs/shaku) module (cargo feature `shaku`): its
//! components become exported providers, resolvable as `Arc<dyn Interface>`.
//!
//! shaku builds synchronously and fixes its graph at compile time, so it is not the core
//! container; this bridge lets a team keep its shaku modules while moving to `framework`.
//!
//! ```ignore
//! let legacy = LegacyModule::builder().build();
//! let module = framework::shaku::import("legacy", legacy)
//!     .component::<dyn Mailer>()
//!     .component::<dyn Clock>()
//!     .into_module();
//! ```

use std::sync::Arc;

use shaku::{HasComponent, Interface};

use crate::module::Module;
use crate::provider::Provider;

/// A shaku module being turned into a framework [`Module`].
pub struct ShakuImport<M> {
    shaku: Arc<M>,
    module: Module,
}

/// Starts importing the built shaku module `shaku` as a framework module named `name`.
pub fn import<M: shaku::Module>(name: &str, shaku: M) -> ShakuImport<M> {
    ShakuImport {
        shaku: Arc::new(shaku),
        module: Module::new(name),
    }
}

impl<M: shaku::Module> ShakuImport<M> {
    /// Provides and exports the shaku component implementing `I` (e.g. `dyn Mailer`).
    pub fn component<I: Interface + ?Sized>(mut self) -> Self
    where
        M: HasComponent<I>,
    {
        let component: Arc<I> = self.shaku.resolve();
        self.module = self
            .module
            .provider(Provider::<I>::arc_value(component))
            .export::<I>();
        self
    }

    /// The framework module.
    pub fn into_module(self) -> Module {
        self.module
    }
}
