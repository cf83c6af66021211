//! Configuration per environment: layered files and environment variables, typed sections
//! validated all at once before anything starts.
//!
//! Layers, later wins: `config/default.toml` → `config/{APP_ENV}.toml` → `config/local.toml`
//! (git-ignored) → environment variables `APP__SECTION__KEY` (double underscores).

mod builtin;
mod environment;
mod secret;
mod section;
mod suggest;
pub(crate) use suggest::closest;

use std::collections::HashMap;
use std::path::PathBuf;

pub(crate) use builtin::ModuleToggles;
pub use builtin::{
    CompressionConfig, CorsConfig, LogConfig, LogFormat, ServerConfig, TrustedProxy,
};
pub use environment::{Environment, UnknownEnvironment};
pub use secret::Secret;
pub use section::{Config, ConfigSection, InvalidOptions, SectionProblems, check_options};
pub(crate) use section::{SectionDef, parse_section};

use crate::error::Error;

/// Where configuration comes from. [`App`](crate::App) reads files and the process
/// environment; [`TestingModule`](crate::TestingModule) uses inline TOML and explicit variables.
#[derive(Debug, Clone)]
pub struct ConfigSources {
    pub(crate) dir: Option<PathBuf>,
    pub(crate) inline: Vec<String>,
    /// `None`: the process environment; `Some`: exactly these variables.
    pub(crate) vars: Option<HashMap<String, String>>,
}

impl ConfigSources {
    /// Files under `dir` and the process environment.
    pub fn files(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: Some(dir.into()),
            inline: Vec::new(),
            vars: None,
        }
    }

    /// No files, no process environment: only what is added inline.
    pub fn inline() -> Self {
        Self {
            dir: None,
            inline: Vec::new(),
            vars: Some(HashMap::new()),
        }
    }

    /// Adds a TOML document, layered after the files.
    pub fn toml(mut self, toml: impl Into<String>) -> Self {
        self.inline.push(toml.into());
        self
    }

    /// Adds an `APP__…` variable (switches off reading the process environment).
    pub fn var(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars
            .get_or_insert_with(HashMap::new)
            .insert(name.into(), value.into());
        self
    }

    /// The value of an environment variable: from the explicit map when one was given,
    /// otherwise from the process environment. Empty values count as unset.
    fn var_value(&self, name: &str) -> Option<String> {
        let value = match &self.vars {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        };
        value.filter(|v| !v.trim().is_empty())
    }

    /// Reads and merges every layer. `aliases` map foreign variables (`INNGEST_DEV`) to
    /// config keys; they sit below every file and `APP__` variable.
    pub(crate) fn load(
        &self,
        env: Environment,
        aliases: &[(&'static str, &'static str)],
    ) -> Result<config::Config, Error> {
        use config::{File, FileFormat};
        let mut builder = config::Config::builder();
        for (var, path) in aliases {
            if let Some(value) = self.var_value(var) {
                builder = builder
                    .set_default(*path, value)
                    .map_err(|e| Error::ConfigLoad(format!("{var} → {path}: {e}")))?;
            }
        }
        if let Some(dir) = &self.dir {
            for name in ["default", env.as_str(), "local"] {
                let path = dir.join(format!("{name}.toml"));
                builder =
                    builder.add_source(File::from(path).format(FileFormat::Toml).required(false));
            }
        }
        for doc in &self.inline {
            builder = builder.add_source(File::from_str(doc, FileFormat::Toml));
        }
        let mut vars = config::Environment::with_prefix("APP")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true);
        if let Some(map) = &self.vars {
            vars = vars.source(Some(map.clone()));
        }
        builder
            .add_source(vars)
            .build()
            .map_err(|e| Error::ConfigLoad(self.locate(env, e.to_string())))
    }

    /// The config crate's message for a number that does not fit (`number too large to fit
    /// in target type`, `floating-point number overflowed`) says neither where nor which
    /// key: add the document, line and key, and what fits.
    fn locate(&self, env: Environment, message: String) -> String {
        let overflow = [
            "number too large to fit in target type",
            "number too small to fit in target type",
            "floating-point number overflowed",
        ]
        .iter()
        .any(|m| message.contains(m));
        if !overflow {
            return message;
        }
        let mut documents = Vec::new();
        if let Some(dir) = &self.dir {
            for name in ["default", env.as_str(), "local"] {
                let path = dir.join(format!("{name}.toml"));
                if let Ok(text) = std::fs::read_to_string(&path) {
                    documents.push((path.display().to_string(), text));
                }
            }
        }
        for (index, doc) in self.inline.iter().enumerate() {
            documents.push((format!("inline config #{}", index + 1), doc.clone()));
        }
        documents
            .iter()
            .find_map(|(origin, text)| {
                out_of_range_number(text).map(|(line, key, number)| {
                    format!(
                        "{origin}, line {line}: `{key}` = {number}: {message}; integers must be \
                         between -9223372036854775808 and 9223372036854775807, floats finite"
                    )
                })
            })
            .unwrap_or(message)
    }
}

/// The first `key = value` line of a TOML document whose value holds a number that fits
/// neither an `i64` nor an `f64`: its line (from 1), the key (under its table) and the
/// number as written.
fn out_of_range_number(text: &str) -> Option<(usize, String, String)> {
    let mut table = String::new();
    for (index, line) in text.lines().enumerate() {
        let (key, value) = split_assignment(line);
        let Some(value) = value else {
            let header = key.trim();
            if header.starts_with('[') {
                table = header.trim_matches(['[', ']']).trim().to_owned();
            }
            continue;
        };
        let number = value
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '{' | '}' | '='))
            .find(|token| does_not_fit(token));
        if let Some(number) = number {
            let key = key.trim();
            let key = if table.is_empty() {
                key.to_owned()
            } else {
                format!("{table}.{key}")
            };
            return Some((index + 1, key, number.to_owned()));
        }
    }
    None
}

/// A line cut at its first `=` outside quotes: the key and the value with its strings and
/// comment removed; a line with no `=` (a table header) is all key, its comment removed.
fn split_assignment(line: &str) -> (&str, Option<String>) {
    let mut quote = None;
    let mut escaped = false;
    let mut key_end = None;
    let mut value = String::new();
    for (at, c) in line.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q == '"' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '#' => break,
            '=' if key_end.is_none() => {
                key_end = Some(at);
                continue;
            }
            _ => {}
        }
        if key_end.is_some() {
            value.push(c);
        }
    }
    match key_end {
        Some(end) => (&line[..end], Some(value)),
        None => (line.split('#').next().unwrap_or_default(), None),
    }
}

/// Whether `token` is a TOML number that fits neither an `i64` (integers, with `_`, `+`,
/// `0x`/`0o`/`0b`) nor an `f64` (floats that overflow to infinity).
fn does_not_fit(token: &str) -> bool {
    let digits = token.replace('_', "");
    let unsigned = digits.trim_start_matches(['+', '-']);
    if !unsigned.starts_with(|c: char| c.is_ascii_digit()) {
        return false;
    }
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
        .into_iter()
        .find_map(|(prefix, radix)| unsigned.strip_prefix(prefix).map(|rest| (rest, radix)));
    if let Some((rest, radix)) = radix {
        return !rest.is_empty()
            && rest.chars().all(|c| c.is_digit(radix))
            && i64::from_str_radix(rest, radix).is_err();
    }
    if unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return digits.trim_start_matches('+').parse::<i64>().is_err();
    }
    digits.parse::<f64>().is_ok_and(f64::is_infinite)
}

/// Looks up a dotted path in the merged configuration.
pub(crate) fn value_at(root: &config::Config, path: &str) -> Option<config::Value> {
    root.get::<config::Value>(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_that_does_not_fit_is_located_by_key_and_line() {
        // The config crate says only "number too large to fit in target type".
        for (doc, expected) in [
            (
                "[server]\nhost = \"x\"\nport = 9223372036854775808\n",
                "inline config #1, line 3: `server.port` = 9223372036854775808: ",
            ),
            (
                "[telemetry] # traces\nsampler_ratio = 1e400 # too big\n",
                "inline config #1, line 2: `telemetry.sampler_ratio` = 1e400: ",
            ),
            (
                "[server]\nnote = \"99999999999999999999 = 1\"\nlimits = { a = -9223372036854775809 }\n",
                "inline config #1, line 3: `server.limits` = -9223372036854775809: ",
            ),
            (
                "[\"a.b\"]\n\"k=1\" = 0x8000000000000000\n",
                "inline config #1, line 2: `\"a.b\".\"k=1\"` = 0x8000000000000000: ",
            ),
        ] {
            let sources = ConfigSources::inline().toml(doc);
            let error = sources
                .load(Environment::Test, &[])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.contains(expected), "{doc:?}: {error}");
            assert!(error.contains("integers must be between"), "{error}");
        }
        // Numbers that fit, in strings and comments, are not blamed.
        assert_eq!(
            out_of_range_number("a = 9223372036854775807\nb = \"1e400\" # 1e400\nc = inf\n"),
            None
        );
    }
}
