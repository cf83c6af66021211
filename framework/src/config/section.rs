//! Typed config sections: [`ConfigSection`], the injectable [`Config<T>`], and turning
//! serde and `validator` failures into path-qualified problems.

use std::ops::Deref;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use super::Environment;
use crate::error::{Problem, ResolveError};
use crate::inject::{Dependency, Deps, Inject, Instance, erase};
use crate::key::ProviderKey;

/// A module's typed configuration section.
///
/// Deserialized with serde (unknown keys are reported), validated with `validator`, then
/// checked by [`ConfigSection::check`] with the environment known.
///
/// ```
/// use framework::{ConfigSection, Environment, Secret, SectionProblems};
/// use serde::Deserialize;
/// use validator::Validate;
///
/// #[derive(Deserialize, Validate)]
/// struct MailerConfig {
///     #[validate(range(min = 1, max = 100))]
///     batch_size: u32,
///     api_key: Option<Secret>,
/// }
///
/// impl ConfigSection for MailerConfig {
///     fn check(&self, env: Environment, problems: &mut SectionProblems) {
///         if env.is_production_like() && self.api_key.is_none() {
///             problems.add("api_key", format!("required in {env}"));
///         }
///     }
/// }
/// ```
pub trait ConfigSection: DeserializeOwned + Validate + Send + Sync + 'static {
    /// Environment-aware checks beyond the `validator` rules. Add every problem found.
    fn check(&self, env: Environment, problems: &mut SectionProblems) {
        let _ = (env, problems);
    }
}

/// Problems found by [`ConfigSection::check`]; fields are qualified with the section path.
#[derive(Debug)]
pub struct SectionProblems {
    section: &'static str,
    problems: Vec<Problem>,
}

impl SectionProblems {
    pub(crate) fn new(section: &'static str) -> Self {
        Self {
            section,
            problems: Vec::new(),
        }
    }

    /// Reports a problem with `field` (relative to the section; may be dotted).
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.problems.push(Problem::config(
            format!("{}.{field}", self.section),
            message,
        ));
    }

    pub(crate) fn into_problems(self) -> Vec<Problem> {
        self.problems
    }
}

/// An injectable, validated config section.
///
/// ```
/// use std::sync::Arc;
/// use framework::{Config, Provider};
/// # #[derive(serde::Deserialize, validator::Validate, Clone)] struct Greetings { greeting: String }
/// # impl framework::ConfigSection for Greetings {}
/// struct Greeter { greeting: String }
/// let greeter = Provider::factory(|cfg: Config<Greetings>| Greeter { greeting: cfg.greeting.clone() });
/// # let _ = greeter;
/// ```
#[derive(Debug)]
pub struct Config<T>(Arc<T>);

impl<T> Config<T> {
    /// Wraps a value (for tests and `for_root` style modules).
    pub fn new(value: T) -> Self {
        Self(Arc::new(value))
    }

    /// A copy of the section.
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        (*self.0).clone()
    }

    /// The shared section.
    pub fn arc(&self) -> Arc<T> {
        Arc::clone(&self.0)
    }
}

impl<T> Clone for Config<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Deref for Config<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Send + Sync + 'static> Inject for Config<T> {
    fn dependency() -> Dependency {
        Dependency {
            key: ProviderKey::of::<Config<T>>(),
            optional: false,
        }
    }
    fn extract(deps: &Deps<'_>) -> Result<Self, ResolveError> {
        deps.require::<Config<T>>(&ProviderKey::of::<Config<T>>())
            .map(|config| (*config).clone())
    }
}

type LoadFn =
    fn(&'static str, Option<config::Value>, Environment) -> Result<Instance, Vec<Problem>>;

/// A declared section: where it lives and how to load it.
#[derive(Clone, Copy)]
pub(crate) struct SectionDef {
    pub(crate) path: &'static str,
    pub(crate) key: ProviderKey,
    load: LoadFn,
}

impl SectionDef {
    pub(crate) fn of<T: ConfigSection>(path: &'static str) -> Self {
        Self {
            path,
            key: ProviderKey::of::<Config<T>>(),
            load: load_section::<T>,
        }
    }

    /// A section that is parsed and validated (`validator`) but not checked
    /// ([`ConfigSection::check`] is skipped): see `Module::config_completed_by_factory`.
    pub(crate) fn unchecked<T: ConfigSection>(path: &'static str) -> Self {
        Self {
            path,
            key: ProviderKey::of::<Config<T>>(),
            load: load_unchecked_section::<T>,
        }
    }

    /// Loads, validates and checks this section from its raw value.
    pub(crate) fn load(
        &self,
        value: Option<config::Value>,
        env: Environment,
    ) -> Result<Instance, Vec<Problem>> {
        (self.load)(self.path, value, env)
    }
}

fn load_unchecked_section<T: ConfigSection>(
    path: &'static str,
    value: Option<config::Value>,
    _env: Environment,
) -> Result<Instance, Vec<Problem>> {
    load::<T>(path, value, None)
}

fn load_section<T: ConfigSection>(
    path: &'static str,
    value: Option<config::Value>,
    env: Environment,
) -> Result<Instance, Vec<Problem>> {
    load::<T>(path, value, Some(env))
}

/// Parses and validates a section, and runs its [`ConfigSection::check`] for `env` when
/// one is given.
fn load<T: ConfigSection>(
    path: &'static str,
    value: Option<config::Value>,
    check_for: Option<Environment>,
) -> Result<Instance, Vec<Problem>> {
    let section: T = parse_section(path, value)?;
    let mut problems = validation_problems(path, section.validate());
    if let Some(env) = check_for {
        let mut checks = SectionProblems::new(path);
        section.check(env, &mut checks);
        problems.extend(checks.into_problems());
    }
    if problems.is_empty() {
        Ok(erase(Arc::new(Config::new(section))))
    } else {
        Err(problems)
    }
}

/// Deserializes `T` from a section's raw value, reporting unknown keys and the first
/// malformed or missing value, path-qualified.
pub(crate) fn parse_section<T: DeserializeOwned>(
    path: &str,
    value: Option<config::Value>,
) -> Result<T, Vec<Problem>> {
    let value = value
        .unwrap_or_else(|| config::Value::new(None, config::ValueKind::Table(config::Map::new())));
    let mut unknown = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let mut on_unknown = |p: serde_ignored::Path<'_>| unknown.push(p.to_string());
    let result = {
        let ignoring = serde_ignored::Deserializer::new(value, &mut on_unknown);
        let tracked = serde_path_to_error::Deserializer::new(ignoring, &mut track);
        T::deserialize(tracked)
    };
    let mut problems: Vec<Problem> = unknown
        .into_iter()
        .map(|key| {
            let hint = match super::suggest::closest_key::<T>(&key) {
                Some(setting) => format!("did you mean `{setting}`?"),
                None => "check the spelling".to_string(),
            };
            Problem::config(
                join(path, &key),
                format!("unknown key: no such setting in this section ({hint})"),
            )
        })
        .collect();
    match result {
        Ok(section) if problems.is_empty() => Ok(section),
        Ok(_) => Err(problems),
        Err(error) => {
            let at = track.path().to_string();
            let at = if at == "." { String::new() } else { at };
            let message = error.to_string();
            // serde says "missing field `x`"; the config crate says "missing configuration field \"x\"".
            let missing = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next())
                .or_else(|| {
                    message
                        .strip_prefix("missing configuration field \"")
                        .and_then(|rest| rest.split('"').next())
                });
            let problem = match missing {
                Some(field) => {
                    let full = join(path, &join(&at, field));
                    let var = format!("APP__{}", full.replace('.', "__").to_ascii_uppercase());
                    Problem::config(
                        full,
                        format!("required, but not set: add it to a config file or set {var}"),
                    )
                }
                None => Problem::config(join(path, &at), message),
            };
            problems.push(problem);
            Err(problems)
        }
    }
}

fn join(parent: &str, child: &str) -> String {
    match (parent.is_empty(), child.is_empty()) {
        (true, _) => child.to_string(),
        (_, true) => parent.to_string(),
        _ => format!("{parent}.{child}"),
    }
}

/// Options a module was given in code, checked exactly as its config section would be:
/// the `validator` rules, then [`ConfigSection::check`] for `env`. Every problem is named
/// by its key under the section (`health.path: …`), as a problem in a config file is.
///
/// Modules taking options "from config or from code" get this through [`Module::options`];
/// a factory that completes options itself (`for_root_async`) calls it on the result.
///
/// ```
/// use framework::config::{ConfigSection, Environment, SectionProblems, check_options};
/// use serde::Deserialize;
/// use validator::Validate;
///
/// #[derive(Deserialize, Validate)]
/// struct CacheOptions {
///     #[validate(range(min = 1, message = "must be at least 1"))]
///     capacity: u32,
///     path: String,
/// }
/// impl ConfigSection for CacheOptions {
///     fn check(&self, _env: Environment, problems: &mut SectionProblems) {
///         if !self.path.starts_with('/') {
///             problems.add("path", "must start with `/`");
///         }
///     }
/// }
///
/// let bad = CacheOptions { capacity: 0, path: "cache".into() };
/// let error = check_options("cache", &bad, Environment::Production).unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "the `cache` options are invalid in production:\n  - cache.capacity: must be at least 1\n  - cache.path: must start with `/`"
/// );
/// ```
///
/// [`Module::options`]: crate::Module::options
pub fn check_options<T: ConfigSection>(
    section: &'static str,
    options: &T,
    env: Environment,
) -> Result<(), InvalidOptions> {
    let mut problems = validation_problems(section, options.validate());
    let mut checks = SectionProblems::new(section);
    options.check(env, &mut checks);
    problems.extend(checks.into_problems());
    if problems.is_empty() {
        return Ok(());
    }
    problems.sort_by_key(ToString::to_string);
    Err(InvalidOptions {
        section,
        env,
        problems,
    })
}

/// Options given in code that do not pass their section's checks ([`check_options`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidOptions {
    /// The module's section (`health`, `inngest`, …).
    pub section: &'static str,
    /// The environment they were checked for.
    pub env: Environment,
    /// Every problem, each named by its key under the section.
    pub problems: Vec<Problem>,
}

impl std::fmt::Display for InvalidOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the `{}` options are invalid in {}:",
            self.section, self.env
        )?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidOptions {}

impl InvalidOptions {
    /// The dotted paths of the values found wrong (`health.path`), in order.
    ///
    /// ```
    /// # use framework::config::{InvalidOptions};
    /// # use framework::{Environment, Problem};
    /// let invalid = InvalidOptions {
    ///     section: "health",
    ///     env: Environment::Production,
    ///     problems: vec![Problem::config("health.path", "must start with `/`")],
    /// };
    /// assert_eq!(invalid.paths(), ["health.path"]);
    /// ```
    pub fn paths(&self) -> Vec<&str> {
        self.problems
            .iter()
            .filter_map(|problem| match problem {
                Problem::Config { path, .. } => Some(path.as_str()),
                Problem::Graph { .. } => None,
            })
            .collect()
    }
}

/// Turns `validator` errors into problems. Values are never echoed (they may be secrets).
pub(crate) fn validation_problems(
    path: &str,
    result: Result<(), ValidationErrors>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Err(errors) = result {
        collect_validation(path, &errors, &mut problems);
    }
    problems
}

fn collect_validation(path: &str, errors: &ValidationErrors, out: &mut Vec<Problem>) {
    for (field, kind) in errors.errors() {
        let field_path = if field == "__all__" {
            path.to_string()
        } else {
            join(path, field)
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for error in list {
                    out.push(Problem::config(field_path.clone(), describe(error)));
                }
            }
            ValidationErrorsKind::Struct(inner) => collect_validation(&field_path, inner, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect_validation(&format!("{field_path}[{index}]"), inner, out);
                }
            }
        }
    }
}

fn describe(error: &validator::ValidationError) -> String {
    if let Some(message) = &error.message {
        return message.to_string();
    }
    let param = |name: &str| error.params.get(name).map(|v| v.to_string());
    match (
        error.code.as_ref(),
        param("min"),
        param("max"),
        param("equal"),
    ) {
        ("range", Some(min), Some(max), _) => format!("must be between {min} and {max}"),
        ("range", Some(min), None, _) => format!("must be at least {min}"),
        ("range", None, Some(max), _) => format!("must be at most {max}"),
        ("length", _, _, Some(equal)) => format!("length must be exactly {equal}"),
        ("length", Some(min), Some(max), _) => format!("length must be between {min} and {max}"),
        ("length", Some(min), None, _) => format!("length must be at least {min}"),
        ("length", None, Some(max), _) => format!("length must be at most {max}"),
        ("email", ..) => "must be a valid email address".into(),
        ("url", ..) => "must be a valid URL".into(),
        ("required", ..) => "is required".into(),
        ("regex", ..) => "has an invalid format".into(),
        ("contains", ..) => "does not contain the required text".into(),
        (code, ..) => format!("failed the `{code}` check"),
    }
}
