//! Container benchmarks: singleton resolution and building a 1,000-provider graph.
//!
//! Run with `cargo bench -p framework --bench container`. Every group also measures a
//! baseline in the same run, so results can be read as ratios (see `docs/PERFORMANCE.md`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use framework::{Module, Provider, TestingModule};
use rustc_hash::FxHashMap;
use tokio::runtime::Runtime;

/// Number of providers in the `build_graph_1000` graphs.
const PROVIDERS: usize = 1_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

// ---------------------------------------------------------------------------------------
// resolve_singleton
// ---------------------------------------------------------------------------------------

struct Settings {
    url: String,
}
struct Repo {
    settings: Arc<Settings>,
}
struct Mailer;
struct Service {
    repo: Arc<Repo>,
    mailer: Arc<Mailer>,
}

/// A small, realistic graph: two modules, an import and an export, a few factories.
fn small_graph() -> Module {
    let data = Module::new("data")
        .provider(Provider::value(Settings {
            url: "postgres://localhost/app".into(),
        }))
        .provider(Provider::factory(|settings: Arc<Settings>| Repo {
            settings,
        }))
        .export::<Repo>();
    Module::new("app")
        .import(data)
        .provider(Provider::value(Mailer))
        .provider(Provider::factory(
            |(repo, mailer): (Arc<Repo>, Arc<Mailer>)| Service { repo, mailer },
        ))
        .export::<Service>()
}

fn resolve_singleton(c: &mut Criterion) {
    let rt = runtime();
    let app = rt
        .block_on(TestingModule::new(small_graph()).build())
        .expect("small graph builds");
    let container = Arc::clone(app.container());
    // Sanity: the graph is wired as intended.
    let service = container.get::<Service>().unwrap();
    assert_eq!(service.repo.settings.url, "postgres://localhost/app");
    let _ = &service.mailer;

    // The same lookup in a container holding 1,000 more providers.
    let big = rt
        .block_on(TestingModule::new(named_factories(&names()).import(small_graph())).build())
        .expect("big graph builds");
    let big_container = Arc::clone(big.container());

    // Baselines: the `Arc<T>` held directly, and a hand-rolled type map.
    let direct: Arc<Service> = Arc::clone(&service);
    let mut std_map: HashMap<TypeId, Arc<dyn Any + Send + Sync>> = HashMap::new();
    let mut fx_map: FxHashMap<TypeId, Arc<dyn Any + Send + Sync>> = FxHashMap::default();
    let erased: Arc<dyn Any + Send + Sync> = Arc::clone(&service) as _;
    for map_insert in [
        (
            TypeId::of::<Settings>(),
            Arc::new(()) as Arc<dyn Any + Send + Sync>,
        ),
        (TypeId::of::<Repo>(), Arc::new(1_u8) as _),
        (TypeId::of::<Mailer>(), Arc::new(2_u16) as _),
        (TypeId::of::<Service>(), erased),
    ] {
        std_map.insert(map_insert.0, Arc::clone(&map_insert.1));
        fx_map.insert(map_insert.0, map_insert.1);
    }

    let mut group = c.benchmark_group("resolve_singleton");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(100);

    group.bench_function("baseline_arc_clone", |b| {
        b.iter(|| Arc::clone(black_box(&direct)));
    });
    group.bench_function("baseline_std_hashmap_downcast", |b| {
        b.iter(|| {
            black_box(&std_map)
                .get(&TypeId::of::<Service>())
                .cloned()
                .and_then(|any| any.downcast::<Service>().ok())
        });
    });
    group.bench_function("baseline_fx_hashmap_downcast", |b| {
        b.iter(|| {
            black_box(&fx_map)
                .get(&TypeId::of::<Service>())
                .cloned()
                .and_then(|any| any.downcast::<Service>().ok())
        });
    });
    // Lookup alone, without touching the reference count (returns `&Service`).
    group.bench_function("baseline_fx_hashmap_downcast_ref", |b| {
        b.iter(|| {
            black_box(&fx_map)
                .get(&TypeId::of::<Service>())
                .and_then(|any| any.downcast_ref::<Service>())
                .map(|service| service as *const Service)
        });
    });
    group.bench_function("container_get", |b| {
        b.iter(|| black_box(&*container).get::<Service>());
    });
    group.bench_function("container_get_named", |b| {
        b.iter(|| black_box(&*big_container).get_named::<Node>("node-500"));
    });
    group.bench_function("container_get_1000_providers", |b| {
        b.iter(|| black_box(&*big_container).get::<Service>());
    });
    group.finish();
    drop(big);
    drop(app);
}

// ---------------------------------------------------------------------------------------
// build_graph_1000
// ---------------------------------------------------------------------------------------

/// A shared dependency every named node asks for, so each factory extracts an argument.
struct Root(usize);
struct Node(usize);

/// 1,000 name tokens, leaked once (names are `&'static str`).
fn names() -> Vec<&'static str> {
    (0..PROVIDERS)
        .map(|i| &*Box::leak(format!("node-{i}").into_boxed_str()))
        .collect()
}

/// One module: a `Root` value and 1,000 named `Node` factories that each inject `Arc<Root>`.
fn named_factories(names: &[&'static str]) -> Module {
    let mut module = Module::new("nodes").provider(Provider::value(Root(1)));
    for (i, &name) in names.iter().enumerate() {
        module =
            module.provider(Provider::factory(move |root: Arc<Root>| Node(root.0 + i)).named(name));
    }
    module
}

/// A node of the typed chain: `Link<N>` is a distinct type for every `N`.
struct Link<const N: usize>(usize);

/// `Link<N>`, built by a factory from `Link<P>` (`P = N - 1`); `Link<0>` is the root value.
fn link<const N: usize, const P: usize>() -> Provider<Link<N>> {
    if N == 0 {
        Provider::value(Link(0))
    } else {
        Provider::factory(|previous: Arc<Link<P>>| Link(previous.0 + 1))
    }
}

/// Adds `Link<0>` ..= `Link<999>` to `$module` (`Link<N>` depends on `Link<N - 1>`).
macro_rules! chain {
    ($module:ident) => {
        chain!(@h $module; 0 1 2 3 4 5 6 7 8 9)
    };
    (@h $module:ident; $($h:literal)*) => {
        $( chain!(@t $module; $h; 0 1 2 3 4 5 6 7 8 9); )*
    };
    (@t $module:ident; $h:literal; $($t:literal)*) => {
        $( chain!(@u $module; $h; $t; 0 1 2 3 4 5 6 7 8 9); )*
    };
    (@u $module:ident; $h:literal; $t:literal; $($u:literal)*) => {
        $(
            $module = $module.provider(
                link::<{ $h * 100 + $t * 10 + $u }, { ($h * 100 + $t * 10 + $u as usize).saturating_sub(1) }>(),
            );
        )*
    };
}

/// One module: a chain of 1,000 providers of distinct types, each depending on the previous.
fn typed_chain() -> Module {
    let mut module = Module::new("chain");
    chain!(module);
    module
}

/// Ten modules of 100 named factories each; module `k` imports module `k - 1`
/// (so every module but the first has an import), and each exports its nodes.
fn modules_of_100(names: &[&'static str]) -> Module {
    let mut previous: Option<Module> = None;
    for (k, chunk) in names.chunks(PROVIDERS / 10).enumerate() {
        let mut module = Module::new(format!("nodes-{k}"));
        if k == 0 {
            module = module.provider(Provider::value(Root(1))).export::<Root>();
        }
        if let Some(previous) = previous.take() {
            module = module.import(previous).reexport(format!("nodes-{}", k - 1));
        }
        for (i, &name) in chunk.iter().enumerate() {
            module = module
                .provider(Provider::factory(move |root: Arc<Root>| Node(root.0 + i)).named(name))
                .export_named::<Node>(name);
        }
        previous = Some(module);
    }
    previous.expect("ten modules")
}

type ErasedFactory = Box<dyn Fn() -> Arc<dyn Any + Send + Sync>>;

fn build_graph_1000(c: &mut Criterion) {
    let rt = runtime();
    let names = names();

    // Sanity: every graph checks and builds, and the factories ran.
    {
        let app = rt
            .block_on(TestingModule::new(named_factories(&names)).build())
            .expect("named graph builds");
        assert_eq!(
            app.container().get_named::<Node>(names[999]).unwrap().0,
            1000
        );
        let app = rt
            .block_on(TestingModule::new(typed_chain()).build())
            .expect("typed chain builds");
        assert_eq!(app.get::<Link<999>>().unwrap().0, 999);
        let app = rt
            .block_on(TestingModule::new(modules_of_100(&names)).build())
            .expect("modular graph builds");
        assert_eq!(
            app.container().get_named::<Node>(names[999]).unwrap().0,
            100
        );
    }

    let mut group = c.benchmark_group("build_graph_1000");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);

    // Baseline 1: the fixed cost of `TestingModule::build` (config, built-ins, one empty module).
    group.bench_function("baseline_empty_module", |b| {
        b.iter_batched(
            || Module::new("empty"),
            |module| rt.block_on(TestingModule::new(module).build()).unwrap(),
            BatchSize::SmallInput,
        );
    });

    // Baseline 2: the least a container could do — call 1,000 boxed factories and insert
    // the erased results into a hash map.
    group.bench_function("baseline_1000_closures_into_hashmap", |b| {
        b.iter_batched(
            || {
                let root = Arc::new(Root(1));
                (0..PROVIDERS)
                    .map(|i| {
                        let root = Arc::clone(&root);
                        Box::new(move || Arc::new(Node(root.0 + i)) as Arc<dyn Any + Send + Sync>)
                            as ErasedFactory
                    })
                    .collect::<Vec<_>>()
            },
            |factories| {
                let mut built: FxHashMap<usize, Arc<dyn Any + Send + Sync>> = FxHashMap::default();
                for (i, factory) in factories.iter().enumerate() {
                    built.insert(i, factory());
                }
                (factories, built)
            },
            BatchSize::SmallInput,
        );
    });

    group.bench_function("named_factories", |b| {
        b.iter_batched(
            || named_factories(&names),
            |module| rt.block_on(TestingModule::new(module).build()).unwrap(),
            BatchSize::SmallInput,
        );
    });

    group.bench_function("typed_chain", |b| {
        b.iter_batched(
            typed_chain,
            |module| rt.block_on(TestingModule::new(module).build()).unwrap(),
            BatchSize::SmallInput,
        );
    });

    group.bench_function("ten_modules_of_100", |b| {
        b.iter_batched(
            || modules_of_100(&names),
            |module| rt.block_on(TestingModule::new(module).build()).unwrap(),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, resolve_singleton, build_graph_1000);
criterion_main!(benches);
