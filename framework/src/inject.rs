//! What a factory can ask for: the [`Inject`] trait for one dependency and
//! [`Dependencies`] for a tuple of them (like axum extractors).

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use crate::error::ResolveError;
use crate::key::ProviderKey;

/// A built provider instance, type-erased. It always holds an `Arc<T>` for the
/// provided `T` (which may be unsized, e.g. `dyn Trait`).
pub type Instance = Arc<dyn Any + Send + Sync>;

/// Wraps `Arc<T>` into an [`Instance`].
pub(crate) fn erase<T: ?Sized + Send + Sync + 'static>(value: Arc<T>) -> Instance {
    Arc::new(value)
}

/// Gets the `Arc<T>` back out of an [`Instance`].
pub(crate) fn downcast<T: ?Sized + Send + Sync + 'static>(instance: &Instance) -> Option<Arc<T>> {
    instance.downcast_ref::<Arc<T>>().cloned()
}

/// One dependency a provider declares, read by the check phase before anything is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dependency {
    /// The provider wanted.
    pub key: ProviderKey,
    /// `true` for `Option<Arc<T>>`: absence is not an error.
    pub optional: bool,
}

/// Where dependencies are read from while a factory runs: the built singletons,
/// and in a request the request-scoped and transient values built for it.
pub trait InstanceSource: Send + Sync {
    /// The instance registered under `key`, if it was built.
    fn instance(&self, key: &ProviderKey) -> Option<Instance>;
}

/// The dependencies handed to [`Inject::extract`].
pub struct Deps<'a> {
    source: &'a dyn InstanceSource,
}

impl<'a> Deps<'a> {
    pub(crate) fn new(source: &'a dyn InstanceSource) -> Self {
        Self { source }
    }

    /// The `Arc<T>` registered under `key`, if any.
    pub fn get<T: ?Sized + Send + Sync + 'static>(&self, key: &ProviderKey) -> Option<Arc<T>> {
        self.source.instance(key).and_then(|i| downcast::<T>(&i))
    }

    /// Like [`Deps::get`], but a missing value is a [`ResolveError`].
    pub fn require<T: ?Sized + Send + Sync + 'static>(
        &self,
        key: &ProviderKey,
    ) -> Result<Arc<T>, ResolveError> {
        self.get::<T>(key)
            .ok_or(ResolveError::NotBuilt { key: *key })
    }
}

/// One injectable dependency: `Arc<T>`, `Option<Arc<T>>`, [`Named<T, Q>`],
/// [`Config<T>`](crate::Config), or a type of your own.
///
/// Implement it for a type of your own to make it injectable as a factory argument.
pub trait Inject: Sized + Send + 'static {
    /// What this dependency needs from the container, for the check phase.
    fn dependency() -> Dependency;
    /// Reads the dependency from built instances.
    fn extract(deps: &Deps<'_>) -> Result<Self, ResolveError>;
}

impl<T: ?Sized + Send + Sync + 'static> Inject for Arc<T> {
    fn dependency() -> Dependency {
        Dependency {
            key: ProviderKey::of::<T>(),
            optional: false,
        }
    }
    fn extract(deps: &Deps<'_>) -> Result<Self, ResolveError> {
        deps.require::<T>(&ProviderKey::of::<T>())
    }
}

impl<T: ?Sized + Send + Sync + 'static> Inject for Option<Arc<T>> {
    fn dependency() -> Dependency {
        Dependency {
            key: ProviderKey::of::<T>(),
            optional: true,
        }
    }
    fn extract(deps: &Deps<'_>) -> Result<Self, ResolveError> {
        Ok(deps.get::<T>(&ProviderKey::of::<T>()))
    }
}

/// A type-level name token for [`Named`] dependencies. Declare one with [`qualifier!`](crate::qualifier).
pub trait Qualifier: Send + 'static {
    /// The name the provider was registered under (`Provider::named`).
    const NAME: &'static str;
}

/// Declares a [`Qualifier`] marker type.
///
/// ```
/// framework::qualifier!(Replica = "replica");
/// assert_eq!(<Replica as framework::Qualifier>::NAME, "replica");
/// ```
#[macro_export]
macro_rules! qualifier {
    ($(#[$meta:meta])* $vis:vis $ty:ident = $name:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $ty;
        impl $crate::Qualifier for $ty {
            const NAME: &'static str = $name;
        }
    };
}

/// A dependency on the provider of `T` registered under the name `Q::NAME`.
///
/// ```
/// use std::sync::Arc;
/// use framework::{qualifier, Named, Provider};
///
/// qualifier!(Replica = "replica");
/// struct Pool(&'static str);
/// struct Reports { pool: Arc<Pool> }
///
/// let replica = Provider::value(Pool("replica-url")).named("replica");
/// let reports = Provider::factory(|pool: Named<Pool, Replica>| Reports { pool: pool.into_inner() });
/// # let _ = (replica, reports);
/// ```
pub struct Named<T: ?Sized, Q> {
    value: Arc<T>,
    qualifier: PhantomData<fn() -> Q>,
}

impl<T: ?Sized, Q> Named<T, Q> {
    /// The injected `Arc<T>`.
    pub fn into_inner(self) -> Arc<T> {
        self.value
    }
}

impl<T: ?Sized, Q> Deref for Named<T, Q> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: ?Sized, Q> Clone for Named<T, Q> {
    fn clone(&self) -> Self {
        Self {
            value: Arc::clone(&self.value),
            qualifier: PhantomData,
        }
    }
}

impl<T: ?Sized + fmt::Debug, Q: Qualifier> fmt::Debug for Named<T, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Named")
            .field(&Q::NAME)
            .field(&&*self.value)
            .finish()
    }
}

impl<T: ?Sized + Send + Sync + 'static, Q: Qualifier> Inject for Named<T, Q> {
    fn dependency() -> Dependency {
        Dependency {
            key: ProviderKey::named::<T>(Q::NAME),
            optional: false,
        }
    }
    fn extract(deps: &Deps<'_>) -> Result<Self, ResolveError> {
        Ok(Self {
            value: deps.require::<T>(&ProviderKey::named::<T>(Q::NAME))?,
            qualifier: PhantomData,
        })
    }
}

/// The dependencies of a factory: one [`Inject`] value, or a tuple of up to twelve.
///
/// ```
/// use std::sync::Arc;
/// use framework::Provider;
/// struct Repo;
/// struct Mailer;
/// struct Service { repo: Arc<Repo>, mailer: Option<Arc<Mailer>> }
///
/// let provider = Provider::factory(|(repo, mailer): (Arc<Repo>, Option<Arc<Mailer>>)| {
///     Service { repo, mailer }
/// });
/// # let _ = provider;
/// ```
pub trait Dependencies: Sized + Send + 'static {
    /// Every dependency, for the check phase.
    fn dependencies() -> Vec<Dependency>;
    /// Reads every dependency from built instances.
    fn extract(deps: &Deps<'_>) -> Result<Self, ResolveError>;
}

impl<T: Inject> Dependencies for T {
    fn dependencies() -> Vec<Dependency> {
        vec![T::dependency()]
    }
    fn extract(deps: &Deps<'_>) -> Result<Self, ResolveError> {
        T::extract(deps)
    }
}

macro_rules! impl_dependencies_for_tuple {
    ($($ty:ident),*) => {
        impl<$($ty: Inject),*> Dependencies for ($($ty,)*) {
            fn dependencies() -> Vec<Dependency> {
                vec![$($ty::dependency()),*]
            }
            #[allow(unused_variables)]
            fn extract(deps: &Deps<'_>) -> Result<Self, ResolveError> {
                Ok(($($ty::extract(deps)?,)*))
            }
        }
    };
}

impl_dependencies_for_tuple!();
impl_dependencies_for_tuple!(A);
impl_dependencies_for_tuple!(A, B);
impl_dependencies_for_tuple!(A, B, C);
impl_dependencies_for_tuple!(A, B, C, D);
impl_dependencies_for_tuple!(A, B, C, D, E);
impl_dependencies_for_tuple!(A, B, C, D, E, F);
impl_dependencies_for_tuple!(A, B, C, D, E, F, G);
impl_dependencies_for_tuple!(A, B, C, D, E, F, G, H);
impl_dependencies_for_tuple!(A, B, C, D, E, F, G, H, I);
impl_dependencies_for_tuple!(A, B, C, D, E, F, G, H, I, J);
impl_dependencies_for_tuple!(A, B, C, D, E, F, G, H, I, J, K);
impl_dependencies_for_tuple!(A, B, C, D, E, F, G, H, I, J, K, L);
