//! The check phase: flatten the module tree (dropping disabled modules), index providers,
//! and verify existence, visibility, duplicates, cycles and scopes — collecting every
//! problem — then compute the build order.

use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::config::ModuleToggles;
use crate::error::Problem;
use crate::inject::Dependency;
use crate::key::ProviderKey;
use crate::module::{Module, RouteDef};
use crate::provider::{ProviderDef, Scope};

/// A module after flattening, in dependency order (imports first).
pub(crate) struct PlannedModule {
    pub(crate) name: Arc<str>,
    pub(crate) routes: Vec<RouteDef>,
}

/// A provider with the module that declares it.
#[derive(Clone)]
pub(crate) struct PlannedProvider {
    pub(crate) module: usize,
    pub(crate) def: ProviderDef,
    /// Visible everywhere (framework built-ins and config sections).
    pub(crate) everywhere: bool,
}

/// The checked graph, ready to build.
pub(crate) struct Plan {
    pub(crate) modules: Vec<PlannedModule>,
    pub(crate) providers: Vec<PlannedProvider>,
    pub(crate) index: FxHashMap<ProviderKey, usize>,
    /// Singletons in an order where every dependency comes first.
    pub(crate) singleton_order: Vec<usize>,
}

/// The modules of the tree that are enabled, flattened; and the problems found doing it.
pub(crate) struct Flattened {
    pub(crate) modules: Vec<Module>,
    /// Import edges by module index.
    pub(crate) imports: Vec<Vec<usize>>,
    pub(crate) problems: Vec<Problem>,
}

/// Walks the tree depth-first (imports first), de-duplicating modules by name and dropping
/// the disabled ones. Index 0 is the framework's built-in module.
pub(crate) fn flatten(
    root: &Module,
    toggles: &ModuleToggles,
    switch: &dyn Fn(&str) -> Result<bool, String>,
) -> Flattened {
    struct Walk<'a> {
        toggles: &'a ModuleToggles,
        switch: &'a dyn Fn(&str) -> Result<bool, String>,
        order: Vec<Module>,
        by_name: FxHashMap<Arc<str>, usize>,
        edges: Vec<(Arc<str>, Arc<str>)>,
        seen_names: FxHashSet<Arc<str>>,
        first_shape: FxHashMap<Arc<str>, crate::module::ModuleShape>,
        problems: Vec<Problem>,
    }

    impl Walk<'_> {
        fn enabled(&self, name: &str) -> bool {
            self.toggles.get(name).is_none_or(|t| t.enabled)
        }

        fn visit(&mut self, module: &Module) {
            self.seen_names.insert(Arc::clone(&module.name));
            if let Some(first) = self.first_shape.get(&module.name) {
                if *first != module.shape() {
                    self.problems.push(Problem::graph(
                        &*module.name,
                        format!(
                            "module `{}` is defined twice with different providers, imports, exports, routes or config sections: \
                             build it once (e.g. in a function) and import that same definition everywhere, or give each its own name",
                            module.name
                        ),
                    ));
                }
                return;
            }
            if &*module.name == crate::app::FRAMEWORK_MODULE {
                self.problems.push(Problem::graph(
                    &*module.name,
                    "the module name `framework` is reserved for the framework's built-in providers: rename your module",
                ));
            }
            self.first_shape
                .insert(Arc::clone(&module.name), module.shape());
            for import in &module.imports {
                let child = &import.module;
                self.seen_names.insert(Arc::clone(&child.name));
                if let Some(path) = import.when {
                    let on = (self.switch)(path).unwrap_or_else(|message| {
                        self.problems.push(Problem::config(path, message));
                        false
                    });
                    if !on {
                        self.note_names(child);
                        continue;
                    }
                }
                if !self.enabled(&child.name) {
                    if !import.optional {
                        self.problems.push(Problem::graph(
                            &*module.name,
                            format!(
                                "module `{}` imports `{}`, which is disabled by `modules.{}.enabled = false`: \
                                 enable it, or import it with `.import_optional(..)` and depend on its providers as `Option<Arc<T>>`",
                                module.name, child.name, child.name
                            ),
                        ));
                    }
                    // Record names below a disabled module so its toggles are not reported unknown.
                    self.note_names(child);
                    continue;
                }
                self.edges
                    .push((Arc::clone(&module.name), Arc::clone(&child.name)));
                self.visit(child);
            }
            self.by_name
                .insert(Arc::clone(&module.name), self.order.len());
            self.order.push(module.clone());
        }

        fn note_names(&mut self, module: &Module) {
            for import in &module.imports {
                if self.seen_names.insert(Arc::clone(&import.module.name)) {
                    self.note_names(&import.module);
                }
            }
        }
    }

    let mut walk = Walk {
        toggles,
        switch,
        order: Vec::new(),
        by_name: FxHashMap::default(),
        edges: Vec::new(),
        seen_names: FxHashSet::default(),
        first_shape: FxHashMap::default(),
        problems: Vec::new(),
    };
    if !walk.enabled(&root.name) {
        walk.problems.push(Problem::config(
            format!("modules.{}.enabled", root.name),
            format!("`{}` is the root module and cannot be disabled", root.name),
        ));
    }
    // The framework's own global module (built-in providers) comes first, at index 0.
    walk.by_name
        .insert(Arc::from(crate::app::FRAMEWORK_MODULE), walk.order.len());
    walk.order.push(Module::new(crate::app::FRAMEWORK_MODULE));
    walk.visit(root);
    for name in toggles.keys() {
        if !walk.seen_names.contains(name.as_str()) {
            let mut known: Vec<&str> = walk.seen_names.iter().map(|n| &**n).collect();
            known.sort_unstable();
            walk.problems.push(Problem::config(
                format!("modules.{name}"),
                format!(
                    "no module is named `{name}` (known modules: {})",
                    known.join(", ")
                ),
            ));
        }
    }
    let mut imports = vec![Vec::new(); walk.order.len()];
    for (from, to) in &walk.edges {
        if let (Some(&f), Some(&t)) = (walk.by_name.get(from), walk.by_name.get(to))
            && !imports[f].contains(&t)
        {
            imports[f].push(t);
        }
    }
    Flattened {
        modules: walk.order,
        imports,
        problems: walk.problems,
    }
}

/// Something that has dependencies: a provider, or a module's routes.
struct Consumer<'a> {
    module: usize,
    what: String,
    scope: Scope,
    dependencies: &'a [Dependency],
}

/// Checks the flattened graph. `extra` are providers visible everywhere (built-ins and
/// config sections, attributed to their module index).
pub(crate) fn check(
    flat: &Flattened,
    extra: Vec<PlannedProvider>,
    overrides: &[ProviderDef],
) -> (Option<Plan>, Vec<Problem>) {
    let mut problems = Vec::new();
    let name = |i: usize| &*flat.modules[i].name;

    // Index providers; duplicates are problems. Overrides replace by key.
    let mut providers: Vec<PlannedProvider> = extra;
    for (m, module) in flat.modules.iter().enumerate() {
        for def in &module.providers {
            providers.push(PlannedProvider {
                module: m,
                def: def.clone(),
                everywhere: false,
            });
        }
    }
    for planned in &mut providers {
        if let Some(replacement) = overrides.iter().find(|o| o.key == planned.def.key) {
            planned.def = replacement.clone();
        }
    }
    let root = flat.modules.last().map_or("app", |m| &*m.name);
    for unmatched in overrides
        .iter()
        .filter(|o| !providers.iter().any(|p| p.def.key == o.key))
    {
        problems.push(Problem::graph(
            root,
            format!(
                "the override for `{}` replaces nothing: no enabled module provides it (remove the override, or check its type and name)",
                unmatched.key
            ),
        ));
    }
    let mut index: FxHashMap<ProviderKey, usize> = FxHashMap::default();
    for (i, planned) in providers.iter().enumerate() {
        if let Some(&first) = index.get(&planned.def.key) {
            let (a, b) = (providers[first].module, planned.module);
            let message = if a == b {
                format!(
                    "module `{}` provides `{}` twice: remove one, or register the second under a name with `.named(\"...\")`",
                    name(a),
                    planned.def.key
                )
            } else {
                format!(
                    "`{}` is provided by both `{}` and `{}`: provide it once and export it, or give one a name with `.named(\"...\")`",
                    planned.def.key,
                    name(a),
                    name(b)
                )
            };
            problems.push(Problem::graph(name(b), message));
        } else {
            index.insert(planned.def.key, i);
        }
    }

    // Effective exports, in dependency order (imports first, so re-exports are known).
    let mut exports: Vec<FxHashSet<ProviderKey>> = vec![FxHashSet::default(); flat.modules.len()];
    for (m, module) in flat.modules.iter().enumerate() {
        let mut set = FxHashSet::default();
        for reexport in &module.reexports {
            match flat.imports[m].iter().find(|&&i| flat.modules[i].name == *reexport) {
                Some(&i) => set.extend(exports[i].iter().copied()),
                None => problems.push(Problem::graph(
                    name(m),
                    format!(
                        "module `{}` re-exports `{reexport}` but does not import it: add `.import(..)` for `{reexport}` to `{}`",
                        name(m),
                        name(m)
                    ),
                )),
            }
        }
        for key in &module.exports {
            let own = index.get(key).is_some_and(|&p| providers[p].module == m);
            let from_import = flat.imports[m].iter().any(|&i| exports[i].contains(key));
            if own || from_import || set.contains(key) {
                set.insert(*key);
            } else {
                problems.push(Problem::graph(
                    name(m),
                    format!(
                        "module `{}` exports `{key}` but neither provides it nor imports a module that exports it: \
                         add a provider for `{key}` to `{}` or remove the export",
                        name(m),
                        name(m)
                    ),
                ));
            }
        }
        exports[m] = set;
    }

    // Every consumer: providers and route builders.
    let mut consumers: Vec<Consumer<'_>> = providers
        .iter()
        .filter(|p| !p.everywhere)
        .map(|p| Consumer {
            module: p.module,
            what: format!("`{}`", p.def.key),
            scope: p.def.scope,
            dependencies: &p.def.dependencies,
        })
        .collect();
    for (m, module) in flat.modules.iter().enumerate() {
        for routes in &module.routes {
            consumers.push(Consumer {
                module: m,
                what: "its routes".into(),
                scope: Scope::Singleton,
                dependencies: &routes.dependencies,
            });
        }
    }

    let visible = |m: usize, key: &ProviderKey| -> bool {
        let Some(&p) = index.get(key) else {
            return false;
        };
        let owner = providers[p].module;
        owner == m
            || providers[p].everywhere
            || (flat.modules[owner].global && exports[owner].contains(key))
            || flat.imports[m].iter().any(|&i| exports[i].contains(key))
    };

    for consumer in &consumers {
        let m = consumer.module;
        for dep in consumer.dependencies {
            match index.get(&dep.key) {
                None if dep.optional => {}
                None => problems.push(Problem::graph(
                    name(m),
                    format!(
                        "module `{}` needs `{}` (for {}), but no enabled module provides it: \
                         add a provider for `{}` to `{}`, or import a module that provides and exports it",
                        name(m),
                        dep.key,
                        consumer.what,
                        dep.key,
                        name(m)
                    ),
                )),
                Some(_) if visible(m, &dep.key) => {}
                Some(&p) => {
                    let owner = providers[p].module;
                    let message = if exports[owner].contains(&dep.key) {
                        format!(
                            "module `{}` needs `{}` (for {}), which module `{}` exports, but `{}` does not import `{}`: \
                             add `.import(..)` for `{}` to `{}`",
                            name(m),
                            dep.key,
                            consumer.what,
                            name(owner),
                            name(m),
                            name(owner),
                            name(owner),
                            name(m)
                        )
                    } else {
                        format!(
                            "module `{}` needs `{}` (for {}), which module `{}` provides but does not export: \
                             add `.export::<{}>()` to `{}` and import `{}` into `{}`",
                            name(m),
                            dep.key,
                            consumer.what,
                            name(owner),
                            crate::key::short_type_name(dep.key.type_name()),
                            name(owner),
                            name(owner),
                            name(m)
                        )
                    };
                    problems.push(Problem::graph(name(m), message));
                }
            }
        }
    }

    // Hooks and contributions need an instance that lives for the whole application.
    for planned in &providers {
        let def = &planned.def;
        if def.scope != Scope::Singleton && (!def.hooks.is_empty() || !def.contributions.is_empty())
        {
            problems.push(Problem::graph(
                name(planned.module),
                format!(
                    "`{}` in module `{}` is {} but has lifecycle hooks or contributions, which need one long-lived instance: make it a singleton",
                    def.key,
                    name(planned.module),
                    def.scope
                ),
            ));
        }
    }

    // Cycles (reported once each) and the build order.
    let order = topological_order(&providers, &index, &mut problems, &flat.modules);

    // Scopes: does building this need a request?
    let mut needs_request = vec![false; providers.len()];
    for &p in &order {
        let def = &providers[p].def;
        needs_request[p] = def.scope == Scope::Request
            || def.dependencies.iter().any(|d| {
                index.get(&d.key).is_some_and(|&q| {
                    providers[q].def.scope != Scope::Singleton && needs_request[q]
                })
            });
    }
    for consumer in &consumers {
        if consumer.scope != Scope::Singleton {
            continue;
        }
        for dep in consumer.dependencies {
            let Some(&q) = index.get(&dep.key) else {
                continue;
            };
            if providers[q].def.scope != Scope::Singleton && needs_request[q] {
                let fix = if consumer.what == "its routes" {
                    "resolve it per request in a handler with the `Inject<T>` extractor instead"
                        .to_string()
                } else {
                    format!(
                        "make {} request-scoped too (`.request_scoped()`)",
                        consumer.what
                    )
                };
                problems.push(Problem::graph(
                    name(consumer.module),
                    format!(
                        "module `{}`: {} {} built once at start-up but needs `{}`, which is {}{} and only exists inside a request: {fix}",
                        name(consumer.module),
                        consumer.what,
                        if consumer.what == "its routes" { "are" } else { "is" },
                        dep.key,
                        providers[q].def.scope,
                        if providers[q].def.scope == Scope::Transient { " and depends on a request-scoped provider" } else { "" },
                    ),
                ));
            }
        }
    }

    if !problems.is_empty() {
        return (None, problems);
    }
    let singleton_order = order
        .into_iter()
        .filter(|&p| providers[p].def.scope == Scope::Singleton)
        .collect();
    let modules = flat
        .modules
        .iter()
        .map(|module| PlannedModule {
            name: Arc::clone(&module.name),
            routes: module.routes.clone(),
        })
        .collect();
    (
        Some(Plan {
            modules,
            providers,
            index,
            singleton_order,
        }),
        problems,
    )
}

/// Depth-first post-order over provider dependencies; reports each cycle once with its path.
fn topological_order(
    providers: &[PlannedProvider],
    index: &FxHashMap<ProviderKey, usize>,
    problems: &mut Vec<Problem>,
    modules: &[Module],
) -> Vec<usize> {
    let name = |i: usize| &*modules[i].name;
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut marks = vec![Mark::New; providers.len()];
    let mut order = Vec::with_capacity(providers.len());
    let mut reported: FxHashSet<Vec<usize>> = FxHashSet::default();

    for start in 0..providers.len() {
        if marks[start] != Mark::New {
            continue;
        }
        // Iterative DFS: (provider, next dependency index).
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        marks[start] = Mark::Active;
        while let Some(&mut (p, ref mut next)) = stack.last_mut() {
            let deps = &providers[p].def.dependencies;
            if let Some(dep) = deps.get(*next) {
                *next += 1;
                let Some(&q) = index.get(&dep.key) else {
                    continue;
                };
                match marks[q] {
                    Mark::New => {
                        marks[q] = Mark::Active;
                        stack.push((q, 0));
                    }
                    Mark::Active => {
                        let from = stack.iter().position(|&(s, _)| s == q).unwrap_or(0);
                        let cycle: Vec<usize> = stack[from..].iter().map(|&(s, _)| s).collect();
                        let mut canonical = cycle.clone();
                        canonical.sort_unstable();
                        if reported.insert(canonical) {
                            let path: Vec<String> = cycle
                                .iter()
                                .chain(std::iter::once(&q))
                                .map(|&s| {
                                    format!(
                                        "`{}` ({})",
                                        providers[s].def.key,
                                        name(providers[s].module)
                                    )
                                })
                                .collect();
                            problems.push(Problem::graph(
                                name(providers[q].module),
                                format!(
                                    "dependency cycle: {}: break it by moving what both sides need into a separate provider",
                                    path.join(" -> ")
                                ),
                            ));
                        }
                    }
                    Mark::Done => {}
                }
            } else {
                marks[p] = Mark::Done;
                order.push(p);
                stack.pop();
            }
        }
    }
    order
}
