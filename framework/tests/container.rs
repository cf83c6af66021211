//! Providers, scopes, visibility and every check-phase error, with messages asserted.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use framework::{
    ContributionKind, Error, Module, Named, Provider, TestingModule, injectable, qualifier,
};

async fn build(module: Module) -> Result<framework::TestApp, Error> {
    TestingModule::new(module).build().await
}

/// The sorted problem messages of a failed build.
async fn problems(module: Module) -> Vec<String> {
    match build(module).await {
        Err(Error::Invalid(report)) => report.messages(),
        Err(other) => panic!("expected an invalid-graph report, got: {other}"),
        Ok(_) => panic!("expected the build to fail"),
    }
}

struct PgPool {
    url: String,
}
struct UserRepo {
    pool: Arc<PgPool>,
}
struct UserService {
    repo: Arc<UserRepo>,
}

fn db_module() -> Module {
    Module::new("db")
        .provider(Provider::value(PgPool {
            url: "postgres://db".into(),
        }))
        .export::<PgPool>()
}

fn users_module() -> Module {
    Module::new("users")
        .import(db_module())
        .provider(Provider::factory(|pool: Arc<PgPool>| UserRepo { pool }))
        .provider(Provider::factory(|repo: Arc<UserRepo>| UserService {
            repo,
        }))
        .export::<UserService>()
}

#[tokio::test]
async fn factories_receive_injected_dependencies_across_modules() {
    let app = build(Module::new("app").import(users_module()))
        .await
        .unwrap();
    let service = app.get::<UserService>().unwrap();
    assert_eq!(service.repo.pool.url, "postgres://db");
    // Singletons are shared: the pool in the repo is the exported pool.
    assert!(Arc::ptr_eq(
        &service.repo.pool,
        &app.get::<PgPool>().unwrap()
    ));
}

#[tokio::test]
async fn async_factories_are_awaited_in_dependency_order() {
    struct Conn(u32);
    struct Cache(u32);
    let module = Module::new("app")
        .provider(Provider::async_factory(|conn: Arc<Conn>| async move {
            tokio::task::yield_now().await;
            Ok::<_, std::io::Error>(Cache(conn.0 + 1))
        }))
        .provider(Provider::async_factory(|(): ()| async {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            Ok::<_, std::io::Error>(Conn(41))
        }));
    let app = build(module).await.unwrap();
    assert_eq!(app.get::<Cache>().unwrap().0, 42);
}

#[tokio::test]
async fn a_failing_factory_names_module_and_provider() {
    struct Broken;
    let module =
        Module::new("payments").provider(Provider::<Broken>::async_factory(|(): ()| async {
            Err::<Broken, _>(std::io::Error::other("connection refused"))
        }));
    let error = build(Module::new("app").import(module.export::<Broken>()))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "module `payments`: building provider `Broken` failed: connection refused"
    );
}

trait Greeter: Send + Sync {
    fn greet(&self) -> String;
}
struct English;
impl Greeter for English {
    fn greet(&self) -> String {
        "hello".into()
    }
}

#[tokio::test]
async fn interfaces_bind_to_implementations() {
    let module = Module::new("app")
        .provider(Provider::value(English))
        .provider(Provider::<dyn Greeter>::interface(|e: Arc<English>| {
            e as Arc<dyn Greeter>
        }));
    let app = build(module).await.unwrap();
    assert_eq!(app.get::<dyn Greeter>().unwrap().greet(), "hello");
}

qualifier!(Replica = "replica");

#[tokio::test]
async fn named_tokens_let_one_type_have_several_providers() {
    struct Reports {
        primary: Arc<PgPool>,
        replica: Arc<PgPool>,
    }
    let module = Module::new("app")
        .provider(Provider::value(PgPool {
            url: "primary".into(),
        }))
        .provider(
            Provider::value(PgPool {
                url: "replica".into(),
            })
            .named("replica"),
        )
        .provider(Provider::factory(
            |(primary, replica): (Arc<PgPool>, Named<PgPool, Replica>)| Reports {
                primary,
                replica: replica.into_inner(),
            },
        ));
    let app = build(module).await.unwrap();
    let reports = app.get::<Reports>().unwrap();
    assert_eq!(
        (reports.primary.url.as_str(), reports.replica.url.as_str()),
        ("primary", "replica")
    );
    assert_eq!(
        app.container().get_named::<PgPool>("replica").unwrap().url,
        "replica"
    );
}

#[tokio::test]
async fn optional_dependencies_are_none_when_absent() {
    struct Mailer;
    struct Signup {
        mailer: Option<Arc<Mailer>>,
    }
    let without = build(Module::new("app").provider(Provider::factory(
        |mailer: Option<Arc<Mailer>>| Signup { mailer },
    )))
    .await
    .unwrap();
    assert!(without.get::<Signup>().unwrap().mailer.is_none());
    let with = build(
        Module::new("app")
            .provider(Provider::value(Mailer))
            .provider(Provider::factory(|mailer: Option<Arc<Mailer>>| Signup {
                mailer,
            })),
    )
    .await
    .unwrap();
    assert!(with.get::<Signup>().unwrap().mailer.is_some());
}

#[tokio::test]
async fn transient_providers_are_built_for_each_dependent() {
    static BUILT: AtomicUsize = AtomicUsize::new(0);
    struct Id(usize);
    struct A(Arc<Id>);
    struct B(Arc<Id>);
    let module = Module::new("app")
        .provider(Provider::factory(|(): ()| Id(BUILT.fetch_add(1, Ordering::SeqCst))).transient())
        .provider(Provider::factory(|id: Arc<Id>| A(id)))
        .provider(Provider::factory(|id: Arc<Id>| B(id)));
    let app = build(module).await.unwrap();
    let (a, b) = (app.get::<A>().unwrap(), app.get::<B>().unwrap());
    assert_ne!(a.0.0, b.0.0);
    let fresh = app.container().resolve::<Id>().await.unwrap();
    assert_ne!(fresh.0, a.0.0);
    assert_ne!(fresh.0, b.0.0);
}

pub struct Counter {
    inits: AtomicUsize,
}

#[injectable]
impl Counter {
    fn new() -> Self {
        Counter {
            inits: AtomicUsize::new(0),
        }
    }
    async fn on_module_init(&self) {
        self.inits.fetch_add(1, Ordering::SeqCst);
    }
}

pub struct Report {
    counter: Arc<Counter>,
    title: String,
}

#[injectable]
impl Report {
    async fn new(counter: Arc<Counter>, pool: Option<Arc<PgPool>>) -> Result<Self, std::io::Error> {
        tokio::task::yield_now().await;
        Ok(Report {
            counter,
            title: format!("pool: {}", pool.is_some()),
        })
    }
}

#[tokio::test]
async fn injectable_turns_constructors_and_hook_methods_into_a_provider() {
    let app = build(Module::new("app").provide::<Counter>().provide::<Report>())
        .await
        .unwrap();
    let report = app.get::<Report>().unwrap();
    assert_eq!(report.title, "pool: false");
    assert_eq!(
        report.counter.inits.load(Ordering::SeqCst),
        1,
        "on_module_init ran once"
    );
}

// ---- discovery ----

struct Checks;
impl ContributionKind for Checks {
    type Item = String;
}

pub struct Database;

#[injectable]
impl Database {
    fn new() -> Self {
        Database
    }
    #[framework::contribute(Checks)]
    fn health_check(&self) -> String {
        "database".into()
    }
}

#[tokio::test]
async fn discovery_lists_contributions_from_enabled_modules_only() {
    let cache = Module::new("cache").provider(
        Provider::value(7_u8).contribute::<Checks, _>(|v: &Arc<u8>| format!("cache-{v}")),
    );
    let root = || {
        Module::new("app")
            .import(Module::new("db").provide::<Database>())
            .import_optional(cache.clone())
    };
    let app = build(root()).await.unwrap();
    let mut found: Vec<(String, String)> = app
        .container()
        .discover::<Checks>()
        .into_iter()
        .map(|d| (d.module.to_string(), (*d.item).clone()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("cache".into(), "cache-7".into()),
            ("db".into(), "database".into())
        ]
    );

    let without_cache = TestingModule::new(root())
        .config("[modules.cache]\nenabled = false")
        .build()
        .await
        .unwrap();
    let items: Vec<String> = without_cache
        .container()
        .discover::<Checks>()
        .into_iter()
        .map(|d| (*d.item).clone())
        .collect();
    assert_eq!(items, ["database"]);
}

// ---- check-phase errors ----

#[tokio::test]
async fn visibility_error_names_the_module_to_import() {
    let users =
        Module::new("users").provider(Provider::factory(|pool: Arc<PgPool>| UserRepo { pool }));
    let messages = problems(Module::new("app").import(db_module()).import(users)).await;
    assert_eq!(
        messages,
        [
            "module `users` needs `PgPool` (for `UserRepo`), which module `db` exports, but `users` does not import `db`: add `.import(..)` for `db` to `users`"
        ]
    );
}

#[tokio::test]
async fn unexported_provider_error_says_to_export_it() {
    let db = Module::new("db").provider(Provider::value(PgPool { url: String::new() }));
    let users = Module::new("users")
        .import(db)
        .provider(Provider::factory(|pool: Arc<PgPool>| UserRepo { pool }));
    assert_eq!(
        problems(users).await,
        [
            "module `users` needs `PgPool` (for `UserRepo`), which module `db` provides but does not export: add `.export::<PgPool>()` to `db` and import `db` into `users`"
        ]
    );
}

#[tokio::test]
async fn all_problems_are_reported_at_once() {
    struct Mailer;
    struct Audit;
    let module = Module::new("app")
        .provider(Provider::factory(|pool: Arc<PgPool>| UserRepo { pool }))
        .provider(Provider::factory(|(_m, _a): (Arc<Mailer>, Arc<Audit>)| {
            1_u32
        }));
    assert_eq!(
        problems(module).await,
        [
            "module `app` needs `Audit` (for `u32`), but no enabled module provides it: add a provider for `Audit` to `app`, or import a module that provides and exports it",
            "module `app` needs `Mailer` (for `u32`), but no enabled module provides it: add a provider for `Mailer` to `app`, or import a module that provides and exports it",
            "module `app` needs `PgPool` (for `UserRepo`), but no enabled module provides it: add a provider for `PgPool` to `app`, or import a module that provides and exports it",
        ]
    );
}

#[tokio::test]
async fn cycles_are_reported_with_their_path() {
    struct A;
    struct B;
    struct C;
    let module = Module::new("app")
        .provider(Provider::factory(|_: Arc<B>| A))
        .provider(Provider::factory(|_: Arc<C>| B))
        .provider(Provider::factory(|_: Arc<A>| C));
    assert_eq!(
        problems(module).await,
        [
            "dependency cycle: `A` (app) -> `B` (app) -> `C` (app) -> `A` (app): break it by moving what both sides need into a separate provider"
        ]
    );
}

#[tokio::test]
async fn duplicates_are_reported() {
    let twice = Module::new("app")
        .provider(Provider::value(1_u16))
        .provider(Provider::value(2_u16));
    assert_eq!(
        problems(twice).await,
        [
            "module `app` provides `u16` twice: remove one, or register the second under a name with `.named(\"...\")`"
        ]
    );
    let across = Module::new("app")
        .provider(Provider::value(1_u16))
        .import(Module::new("other").provider(Provider::value(2_u16)));
    assert_eq!(
        problems(across).await,
        [
            "`u16` is provided by both `other` and `app`: provide it once and export it, or give one a name with `.named(\"...\")`"
        ]
    );
}

#[tokio::test]
async fn singleton_depending_on_request_scope_is_a_scope_mismatch() {
    struct Tenant;
    struct Billing;
    let module = Module::new("app")
        .provider(Provider::factory(|(): ()| Tenant).request_scoped())
        .provider(Provider::factory(|_: Arc<Tenant>| Billing));
    assert_eq!(
        problems(module).await,
        [
            "module `app`: `Billing` is built once at start-up but needs `Tenant`, which is request-scoped and only exists inside a request: make `Billing` request-scoped too (`.request_scoped()`)"
        ]
    );
}

#[tokio::test]
async fn scope_mismatch_through_a_transient_is_caught() {
    struct Tenant;
    struct Query;
    struct Billing;
    let module = Module::new("app")
        .provider(Provider::factory(|(): ()| Tenant).request_scoped())
        .provider(Provider::factory(|_: Arc<Tenant>| Query).transient())
        .provider(Provider::factory(|_: Arc<Query>| Billing));
    assert_eq!(
        problems(module).await,
        [
            "module `app`: `Billing` is built once at start-up but needs `Query`, which is transient and depends on a request-scoped provider and only exists inside a request: make `Billing` request-scoped too (`.request_scoped()`)"
        ]
    );
}

#[tokio::test]
async fn reexports_and_global_modules_widen_visibility() {
    // `data` re-exports `db`, so importing `data` is enough.
    let data = Module::new("data").import(db_module()).reexport("db");
    let users = Module::new("users")
        .import(data)
        .provider(Provider::factory(|pool: Arc<PgPool>| UserRepo { pool }));
    build(users).await.unwrap();

    // A global module's exports need no import.
    struct Clock;
    let global = Module::new("clock")
        .provider(Provider::value(Clock))
        .export::<Clock>()
        .global();
    let feature = Module::new("feature").provider(Provider::factory(|_: Arc<Clock>| 3_i8));
    build(Module::new("app").import(global).import(feature))
        .await
        .unwrap();
}

#[tokio::test]
async fn bad_exports_and_reexports_are_reported() {
    let module = Module::new("app").export::<PgPool>().reexport("db");
    assert_eq!(
        problems(module).await,
        [
            "module `app` exports `PgPool` but neither provides it nor imports a module that exports it: add a provider for `PgPool` to `app` or remove the export",
            "module `app` re-exports `db` but does not import it: add `.import(..)` for `db` to `app`",
        ]
    );
}

#[tokio::test]
async fn a_module_imported_twice_is_built_once() {
    static BUILT: AtomicUsize = AtomicUsize::new(0);
    struct Shared;
    let shared = || {
        Module::new("shared")
            .provider(Provider::factory(|(): ()| {
                BUILT.fetch_add(1, Ordering::SeqCst);
                Shared
            }))
            .export::<Shared>()
    };
    let a = Module::new("a")
        .import(shared())
        .provider(Provider::factory(|_: Arc<Shared>| 1_i16));
    let b = Module::new("b")
        .import(shared())
        .provider(Provider::factory(|_: Arc<Shared>| 1_i32));
    build(Module::new("app").import(a).import(b)).await.unwrap();
    assert_eq!(BUILT.load(Ordering::SeqCst), 1);

    let different = Module::new("app")
        .import(Module::new("shared").provider(Provider::value(1_u64)))
        .import(Module::new("x").import(Module::new("shared").provider(Provider::value(1_i64))));
    assert_eq!(
        problems(different).await,
        [
            "module `shared` is defined twice with different providers, imports, exports, routes or config sections: build it once (e.g. in a function) and import that same definition everywhere, or give each its own name"
        ]
    );
}

#[tokio::test]
async fn overrides_replace_providers_wherever_declared() {
    let app = TestingModule::new(Module::new("app").import(users_module()))
        .override_provider(Provider::value(PgPool {
            url: "sqlite::memory:".into(),
        }))
        .build()
        .await
        .unwrap();
    assert_eq!(
        app.get::<UserService>().unwrap().repo.pool.url,
        "sqlite::memory:"
    );
}

#[tokio::test]
async fn hooks_on_non_singletons_are_rejected() {
    let module = Module::new("app").provider(
        Provider::value(1_u8)
            .transient()
            .hook(framework::Phase::ModuleInit, |_: Arc<u8>| async {}),
    );
    assert_eq!(
        problems(module).await,
        [
            "`u8` in module `app` is transient but has lifecycle hooks or contributions, which need one long-lived instance: make it a singleton"
        ]
    );
}

// ---- dynamic modules ----

#[derive(Debug, Clone, serde::Deserialize, validator::Validate)]
struct CacheOptions {
    #[validate(range(min = 1))]
    capacity: usize,
}
impl framework::ConfigSection for CacheOptions {}

struct CacheClient {
    capacity: usize,
}

struct CacheModule;
impl CacheModule {
    fn module(options: Provider<CacheOptions>) -> Module {
        Module::new("cache")
            .provider(options)
            .provider(Provider::factory(|o: Arc<CacheOptions>| CacheClient {
                capacity: o.capacity,
            }))
            .export::<CacheClient>()
    }
    fn for_root(options: CacheOptions) -> Module {
        Self::module(Provider::value(options))
    }
    fn for_root_async() -> Module {
        Self::module(Provider::async_factory(
            |cfg: framework::Config<CacheOptions>| async move {
                tokio::task::yield_now().await;
                Ok::<_, std::convert::Infallible>(CacheOptions {
                    capacity: cfg.capacity * 2,
                })
            },
        ))
        .config::<CacheOptions>("cache")
    }
}

#[tokio::test]
async fn for_root_and_for_root_async_configure_a_dynamic_module() {
    let app = build(Module::new("app").import(CacheModule::for_root(CacheOptions { capacity: 3 })))
        .await
        .unwrap();
    assert_eq!(app.get::<CacheClient>().unwrap().capacity, 3);

    let app = TestingModule::new(Module::new("app").import(CacheModule::for_root_async()))
        .config("[cache]\ncapacity = 5")
        .build()
        .await
        .unwrap();
    assert_eq!(app.get::<CacheClient>().unwrap().capacity, 10);
}

pub struct Stamp(usize);

#[injectable(scope = "transient")]
impl Stamp {
    async fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        Stamp(NEXT.fetch_add(1, Ordering::SeqCst))
    }
}

pub struct Greeting(String);

#[injectable(constructor = "create")]
impl Greeting {
    fn create(stamp: Arc<Stamp>) -> Result<Self, std::fmt::Error> {
        Ok(Greeting(format!("hi #{}", stamp.0)))
    }
}

#[tokio::test]
async fn injectable_arguments_set_scope_and_constructor() {
    let app = build(Module::new("app").provide::<Stamp>().provide::<Greeting>())
        .await
        .unwrap();
    let first = app.container().resolve::<Stamp>().await.unwrap();
    let second = app.container().resolve::<Stamp>().await.unwrap();
    assert_ne!(first.0, second.0, "transient: a new instance each time");
    assert!(app.get::<Greeting>().unwrap().0.starts_with("hi #"));
}

#[tokio::test]
async fn an_override_that_replaces_nothing_is_reported() {
    struct Unused;
    let error = TestingModule::new(Module::new("app"))
        .override_provider(Provider::value(Unused))
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the application cannot start: 1 problem found\n  - the override for `Unused` replaces nothing: no enabled module provides it (remove the override, or check its type and name)\n"
    );
}

#[tokio::test]
async fn the_framework_module_name_is_reserved() {
    assert_eq!(
        problems(Module::new("app").import(Module::new("framework"))).await,
        [
            "the module name `framework` is reserved for the framework's built-in providers: rename your module"
        ]
    );
}
