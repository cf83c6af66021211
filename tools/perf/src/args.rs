//! A small command-line parser: `--name value` pairs (a name may repeat), `--flag` switches,
//! and everything after `--` kept as a command.

use std::collections::HashMap;
use std::str::FromStr;

use crate::Result;

/// Parsed arguments.
#[derive(Debug, Default)]
pub struct Args {
    values: HashMap<String, Vec<String>>,
    switches: Vec<String>,
    /// What followed `--`, as given.
    pub command: Vec<String>,
}

impl Args {
    /// Parses `args` (without the program name). `valued` lists the options that take a value,
    /// `switches` those that do not; anything else is an error.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        valued: &[&str],
        switches: &[&str],
    ) -> Result<Self> {
        let mut parsed = Args::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "--" {
                parsed.command = args.collect();
                break;
            }
            let Some(name) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument `{arg}`").into());
            };
            let (name, inline) = match name.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (name, None),
            };
            if switches.contains(&name) && inline.is_none() {
                parsed.switches.push(name.to_string());
            } else if valued.contains(&name) {
                let value = match inline {
                    Some(value) => value,
                    None => args
                        .next()
                        .ok_or_else(|| format!("--{name} needs a value"))?,
                };
                parsed
                    .values
                    .entry(name.to_string())
                    .or_default()
                    .push(value);
            } else {
                let mut known: Vec<&str> = valued.iter().chain(switches).copied().collect();
                known.sort_unstable();
                return Err(
                    format!("unknown option --{name} (known: --{})", known.join(", --")).into(),
                );
            }
        }
        Ok(parsed)
    }

    /// The last value of `--name`, if given.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|values| values.last())
            .map(String::as_str)
    }

    /// Every value of `--name`, in order.
    pub fn values(&self, name: &str) -> &[String] {
        self.values.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    /// The value of `--name`, which must be given.
    pub fn required(&self, name: &str) -> Result<&str> {
        self.value(name)
            .ok_or_else(|| format!("--{name} is required").into())
    }

    /// The value of `--name` parsed as `T`, if given.
    pub fn parsed<T>(&self, name: &str) -> Result<Option<T>>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        self.value(name)
            .map(|text| {
                text.parse()
                    .map_err(|e| format!("--{name} {text:?}: {e}").into())
            })
            .transpose()
    }

    /// Whether the switch `--name` was given.
    pub fn switch(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn values_switches_and_command() {
        let args = Args::parse(
            strings(&[
                "--url",
                "u",
                "--header=a: b",
                "--header",
                "c: d",
                "--quick",
                "--",
                "x",
                "--y",
            ]),
            &["url", "header"],
            &["quick"],
        )
        .unwrap();
        assert_eq!(args.value("url"), Some("u"));
        assert_eq!(args.values("header"), ["a: b", "c: d"]);
        assert!(args.switch("quick"));
        assert_eq!(args.command, ["x", "--y"]);
        assert!(Args::parse(strings(&["--nope"]), &["url"], &[]).is_err());
        assert!(Args::parse(strings(&["--url"]), &["url"], &[]).is_err());
        assert!(args.parsed::<u32>("url").is_err());
    }
}
