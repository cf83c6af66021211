//! Cron triggers, parsed the way the Inngest server parses them.
//!
//! The server uses the standard parser of [robfig/cron v3](https://pkg.go.dev/github.com/robfig/cron/v3):
//!
//! - five fields, `minute hour day-of-month month day-of-week`, each a `*` (or `?`), a
//!   number, a range `a-b`, a step `*/n`, `a-b/n` or `a/n` (`a` to the field's maximum), or a
//!   comma-separated list of those. Months may be named `jan`..`dec` and weekdays `sun`..`sat`
//!   (any case); weekdays run `0` (Sunday) to `6`. When both the day of month and the day of
//!   week are restricted, a day matching either fires (as in Vixie cron); when one is `*`,
//!   only the other counts.
//! - an optional time zone prefix, `TZ=Area/City ` or `CRON_TZ=Area/City ` (an IANA name);
//!   without one the schedule runs in UTC.
//! - the descriptors `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`)
//!   and `@hourly`, and `@every <duration>` with a Go duration such as `1h30m`, `90s` or
//!   `1.5h`. As in robfig/cron, an `@every` interval is truncated to whole seconds, one second
//!   at least, and counts from the time it is asked about.
//!
//! **Extension:** six fields are also accepted, with a leading seconds field
//! (`*/2 * * * * *` fires every two seconds). The Inngest server rejects them; they exist so
//! tests need not wait for a minute boundary.
//!
//! Robfig's parser is stricter than [`croner`]'s (no `L`, `W` or `#`, no weekday `7`), so the
//! fields are parsed and checked here, then handed to `croner`, as plain lists of values, to
//! find fire times in the schedule's time zone.

use chrono::{DateTime, Offset as _};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// What a valid schedule looks like, appended to every error message.
const EXAMPLES: &str = "a valid schedule has five fields, minute hour day-of-month month \
     day-of-week, e.g. \"0 12 * * 5\", optionally after a time zone, e.g. \
     \"TZ=Europe/Paris 0 12 * * 5\", or is a descriptor such as \"@daily\" or \"@every 1h30m\"";

/// Why a cron schedule was rejected.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CronError {
    /// The schedule is empty (or only a time zone prefix).
    #[error("invalid cron schedule {spec:?}: there is no schedule; {}", EXAMPLES)]
    Empty {
        /// The schedule as written.
        spec: String,
    },
    /// The `TZ=` / `CRON_TZ=` prefix names a time zone that does not exist.
    #[error(
        "invalid cron schedule {spec:?}: unknown time zone {zone:?} (use an IANA name such as \
         \"Europe/Paris\", \"America/New_York\" or \"UTC\"); {}",
        EXAMPLES
    )]
    UnknownTimeZone {
        /// The schedule as written.
        spec: String,
        /// The time zone name as written.
        zone: String,
    },
    /// An `@` descriptor that is not one of the known ones, or an `@every` whose duration is
    /// not a Go duration.
    #[error("invalid cron schedule {spec:?}: {message}; {}", EXAMPLES)]
    Descriptor {
        /// The schedule as written.
        spec: String,
        /// What is wrong with the descriptor.
        message: String,
    },
    /// The schedule does not have five fields (or six, with seconds).
    #[error(
        "invalid cron schedule {spec:?}: expected 5 fields (or 6 with a leading seconds field), \
         found {found}; {}",
        EXAMPLES
    )]
    FieldCount {
        /// The schedule as written.
        spec: String,
        /// How many fields it has.
        found: usize,
    },
    /// One field is not valid.
    #[error(
        "invalid cron schedule {spec:?}: {field} field {value:?}: {message}; {}",
        EXAMPLES
    )]
    Field {
        /// The schedule as written.
        spec: String,
        /// Which field: `second`, `minute`, `hour`, `day-of-month`, `month` or `day-of-week`.
        field: &'static str,
        /// The field as written.
        value: String,
        /// What is wrong with it.
        message: String,
    },
    /// The schedule passed the checks here but the cron engine refused it (should not happen).
    #[error("invalid cron schedule {spec:?}: {message}; {}", EXAMPLES)]
    Rejected {
        /// The schedule as written.
        spec: String,
        /// The engine's reason.
        message: String,
    },
}

/// A parsed cron trigger: when a cron-triggered function runs.
#[derive(Debug, Clone)]
pub(crate) struct CronSchedule {
    /// The schedule as written.
    source: String,
    /// How fire times are computed.
    kind: Kind,
}

/// The two kinds of schedule.
#[derive(Debug, Clone)]
enum Kind {
    /// Fields (or a descriptor standing for fields) matched against the wall clock of `tz`.
    Calendar {
        /// The fields, as `croner` evaluates them.
        cron: Box<Cron>,
        /// The time zone the fields are read in.
        tz: Tz,
        /// Whether some day can ever match (e.g. not `0 0 30 2 *`).
        possible: bool,
    },
    /// `@every <duration>`: fixed intervals of whole seconds.
    Every {
        /// The interval in milliseconds, a whole number of seconds, at least 1000.
        interval_ms: i64,
    },
}

/// A field's place, bounds and value names.
struct FieldSpec {
    /// The field's name, for error messages.
    name: &'static str,
    /// Smallest value.
    min: u32,
    /// Largest value.
    max: u32,
    /// Names for values, lower case, the first meaning `min`.
    names: &'static [&'static str],
}

/// Seconds (the six-field extension).
const SECOND: FieldSpec = FieldSpec {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
};
/// Minutes.
const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
/// Hours.
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
/// Day of month.
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
/// Month.
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
/// Day of week, Sunday first.
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// A parsed field: the values it matches, and whether it was a `*` (which decides how the
/// day-of-month and day-of-week fields combine).
struct Field {
    /// Bit `n` set when value `n` matches.
    bits: u64,
    /// Written as `*` or `?` (with no step, or a step of 1).
    star: bool,
}

impl Field {
    /// The values this field matches, ascending.
    fn values(&self) -> impl Iterator<Item = u32> + '_ {
        (0..64).filter(|n| self.bits & (1 << n) != 0)
    }

    /// The field as `croner` reads it: `*` for a star, else the list of values.
    fn render(&self) -> String {
        if self.star {
            "*".to_owned()
        } else {
            self.values()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        }
    }
}

impl CronSchedule {
    /// Parses a cron trigger as the Inngest server does (see the module docs), plus the
    /// six-field form with seconds.
    ///
    /// Fails with a [`CronError`] that quotes `spec`, says what is wrong and what a valid
    /// schedule looks like.
    pub(crate) fn parse(spec: &str) -> Result<Self, CronError> {
        let trimmed = spec.trim();
        let mut rest = trimmed;
        let mut tz = Tz::UTC;
        if let Some(prefixed) = trimmed
            .strip_prefix("TZ=")
            .or_else(|| trimmed.strip_prefix("CRON_TZ="))
        {
            let (zone, after) = prefixed
                .split_once(char::is_whitespace)
                .unwrap_or((prefixed, ""));
            tz = zone.parse::<Tz>().map_err(|_| CronError::UnknownTimeZone {
                spec: spec.to_owned(),
                zone: zone.to_owned(),
            })?;
            rest = after.trim();
        }
        if rest.is_empty() {
            return Err(CronError::Empty {
                spec: spec.to_owned(),
            });
        }

        let kind = if rest.starts_with('@') {
            Self::descriptor(spec, rest, tz)?
        } else {
            Self::fields(spec, rest, tz)?
        };
        Ok(Self {
            source: spec.to_owned(),
            kind,
        })
    }

    /// The first fire time strictly after `after_ms` (Unix epoch milliseconds), in epoch
    /// milliseconds; `None` if the schedule never fires again (or not before year 5000), or
    /// if `after_ms` is within a day of the ends of the dates `chrono` represents (about
    /// ±262,000 years), where its wall-clock time in the schedule's zone has no value.
    pub(crate) fn next_after(&self, after_ms: i64) -> Option<i64> {
        // Fire times are whole seconds, so "after `after_ms`" is "after its whole second".
        let after_s = after_ms.div_euclid(1000);
        match &self.kind {
            Kind::Every { interval_ms } => after_s.checked_mul(1000)?.checked_add(*interval_ms),
            Kind::Calendar { cron, tz, possible } => {
                if !possible {
                    return None;
                }
                let start = DateTime::from_timestamp(after_s, 0)?.with_timezone(tz);
                // `croner` reads the start's wall-clock time, which panics when the zone's
                // offset pushes it past the ends of `chrono`'s range: check it first.
                start.naive_utc().checked_add_offset(start.offset().fix())?;
                cron.find_next_occurrence(&start, false)
                    .ok()
                    .map(|next| next.timestamp_millis())
            }
        }
    }

    /// The schedule as written.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// Parses an `@` descriptor (`rest`, after any time zone).
    fn descriptor(spec: &str, rest: &str, tz: Tz) -> Result<Kind, CronError> {
        let error = |message: String| CronError::Descriptor {
            spec: spec.to_owned(),
            message,
        };
        if let Some(duration) = rest.strip_prefix("@every") {
            if !duration.starts_with(char::is_whitespace) {
                return Err(error(format!(
                    "unknown descriptor {rest:?} (did you mean \"@every <duration>\"?)"
                )));
            }
            let duration = duration.trim();
            let nanos = parse_go_duration(duration)
                .map_err(|m| error(format!("@every duration {duration:?}: {m}")))?;
            // robfig/cron: at least one second, then truncated to whole seconds.
            let seconds = nanos.max(1_000_000_000) / 1_000_000_000;
            let interval_ms = seconds
                .checked_mul(1000)
                .ok_or_else(|| error(format!("@every duration {duration:?} is too long")))?;
            return Ok(Kind::Every { interval_ms });
        }
        let fields = match rest {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            _ => {
                return Err(error(format!(
                    "unknown descriptor {rest:?} (known: @yearly, @annually, @monthly, \
                     @weekly, @daily, @midnight, @hourly, @every <duration>)"
                )));
            }
        };
        Self::fields(spec, fields, tz)
    }

    /// Parses five fields, or six with seconds first (`rest`, after any time zone).
    fn fields(spec: &str, rest: &str, tz: Tz) -> Result<Kind, CronError> {
        let parts: Vec<&str> = rest.split_whitespace().collect();
        let (second, parts) = match parts.len() {
            5 => (None, &parts[..]),
            6 => (Some(parts[0]), &parts[1..]),
            found => {
                return Err(CronError::FieldCount {
                    spec: spec.to_owned(),
                    found,
                });
            }
        };
        let field = |value: &str, field_spec: &FieldSpec| {
            parse_field(value, field_spec).map_err(|message| CronError::Field {
                spec: spec.to_owned(),
                field: field_spec.name,
                value: value.to_owned(),
                message,
            })
        };
        let second = match second {
            Some(value) => field(value, &SECOND)?,
            None => Field {
                bits: 1,
                star: false,
            },
        };
        let [minute, hour, dom, month, dow] = parts else {
            return Err(CronError::FieldCount {
                spec: spec.to_owned(),
                found: parts.len(),
            });
        };
        let minute = field(minute, &MINUTE)?;
        let hour = field(hour, &HOUR)?;
        let dom = field(dom, &DAY_OF_MONTH)?;
        let month = field(month, &MONTH)?;
        let dow = field(dow, &DAY_OF_WEEK)?;

        let possible = is_possible(&dom, &month, &dow);
        let pattern = [&second, &minute, &hour, &dom, &month, &dow]
            .map(Field::render)
            .join(" ");
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .year(Year::Disallowed)
            .build()
            .parse(&pattern)
            .map_err(|e| CronError::Rejected {
                spec: spec.to_owned(),
                message: e.to_string(),
            })?;
        Ok(Kind::Calendar {
            cron: Box::new(cron),
            tz,
            possible,
        })
    }
}

/// Whether some day matches: false only when the day of week is `*` and every chosen day of
/// month is past the end of every chosen month (e.g. `0 0 30 2 *`).
fn is_possible(dom: &Field, month: &Field, dow: &Field) -> bool {
    if !dow.star {
        // The day of week counts (alone, or either-or with the day of month), and every
        // weekday comes around.
        return true;
    }
    let Some(first_day) = dom.values().next() else {
        return false;
    };
    month.values().any(|m| {
        let longest = match m {
            2 => 29,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        first_day <= longest
    })
}

/// Parses one field as robfig/cron does: a comma-separated list of `*`/`?`, values, ranges
/// and steps, within `field`'s bounds. Stricter in one way: an empty list item or a range
/// starting with `*` (`*-5`) is an error rather than ignored.
fn parse_field(value: &str, field: &FieldSpec) -> Result<Field, String> {
    let mut parsed = Field {
        bits: 0,
        star: false,
    };
    for item in value.split(',') {
        if item.is_empty() {
            return Err("empty item in a comma-separated list".to_owned());
        }
        let mut range_and_step = item.split('/');
        let range = range_and_step.next().unwrap_or_default();
        let step = range_and_step.next();
        if range_and_step.next().is_some() {
            return Err(format!("too many slashes in {item:?}"));
        }

        let mut star = false;
        let (start, mut end, single) = if range == "*" || range == "?" {
            star = true;
            (field.min, field.max, false)
        } else {
            let mut bounds = range.split('-');
            let low = bounds.next().unwrap_or_default();
            let high = bounds.next();
            if bounds.next().is_some() {
                return Err(format!("too many hyphens in {item:?}"));
            }
            let start = parse_value(low, field)?;
            match high {
                Some(high) => (start, parse_value(high, field)?, false),
                None => (start, start, true),
            }
        };
        let step = match step {
            None => 1,
            Some(step) => {
                let step = parse_number(step).map_err(|m| format!("step {step:?}: {m}"))?;
                if step == 0 {
                    return Err(format!("the step in {item:?} must be a positive number"));
                }
                // "N/step" means "N-max/step".
                if single {
                    end = field.max;
                }
                if step > 1 {
                    star = false;
                }
                step
            }
        };
        if start < field.min {
            return Err(format!(
                "{start} is below the minimum, {} (in {item:?})",
                field.min
            ));
        }
        if end > field.max {
            return Err(format!(
                "{end} is above the maximum, {} (in {item:?})",
                field.max
            ));
        }
        if start > end {
            return Err(format!(
                "the range in {item:?} starts after it ends ({start} > {end})"
            ));
        }
        let mut n = start;
        while n <= end {
            parsed.bits |= 1 << n;
            n = match n.checked_add(step) {
                Some(next) => next,
                None => break,
            };
        }
        parsed.star |= star;
    }
    Ok(parsed)
}

/// A value: a number, or one of the field's names in any case.
fn parse_value(text: &str, field: &FieldSpec) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(index) = field.names.iter().position(|name| *name == lower) {
        return u32::try_from(index)
            .map(|i| i + field.min)
            .map_err(|_| format!("{text:?} is out of range"));
    }
    parse_number(text).map_err(|m| {
        if field.names.is_empty() {
            format!("{text:?}: {m}")
        } else {
            format!("{text:?}: {m}, nor a name ({})", field.names.join(", "))
        }
    })
}

/// A non-negative decimal number.
fn parse_number(text: &str) -> Result<u32, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a number".to_owned());
    }
    text.parse::<u32>()
        .map_err(|_| "number too large".to_owned())
}

/// Parses a Go duration (`time.ParseDuration`): an optional sign, then one or more numbers,
/// each with an optional fraction and a unit (`ns`, `us`/`µs`/`μs`, `ms`, `s`, `m`, `h`), e.g.
/// `1h30m` or `1.5s`; `0` alone is zero. Answers nanoseconds, negative for a `-` sign.
fn parse_go_duration(text: &str) -> Result<i64, String> {
    const NANOS_PER: [(&str, u128); 8] = [
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("μs", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ];
    let invalid = || "not a duration (write e.g. \"30s\", \"5m\", \"1h30m\")".to_owned();
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (whole, after) = rest.split_at(digits);
        rest = after;
        let (fraction, after) = match rest.strip_prefix('.') {
            Some(after) => {
                let digits = after.bytes().take_while(u8::is_ascii_digit).count();
                after.split_at(digits)
            }
            None => ("", rest),
        };
        rest = after;
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let (unit, after) = rest.split_at(unit_len);
        rest = after;
        if unit.is_empty() {
            return Err(format!(
                "missing unit (one of ns, us, ms, s, m, h) in {text:?}"
            ));
        }
        let Some(&(_, nanos)) = NANOS_PER.iter().find(|(name, _)| *name == unit) else {
            return Err(format!(
                "unknown unit {unit:?} (use ns, us, ms, s, m or h) in {text:?}"
            ));
        };
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| format!("{text:?} is too long"))?
        };
        // Go keeps only as many fraction digits as fit; 18 is plenty for nanoseconds.
        let fraction = &fraction[..fraction.len().min(18)];
        let fraction_value: u128 = if fraction.is_empty() {
            0
        } else {
            fraction.parse().map_err(|_| invalid())?
        };
        let scale = 10u128.pow(u32::try_from(fraction.len()).map_err(|_| invalid())?);
        total = whole
            .checked_mul(nanos)
            .and_then(|w| w.checked_add(fraction_value * nanos / scale))
            .and_then(|part| total.checked_add(part))
            .filter(|t| *t <= i64::MAX as u128 + u128::from(negative))
            .ok_or_else(|| format!("{text:?} is too long"))?;
    }
    let total = i128::try_from(total).map_err(|_| format!("{text:?} is too long"))?;
    let signed = if negative { -total } else { total };
    i64::try_from(signed).map_err(|_| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use chrono::{TimeZone as _, Utc};

    /// Epoch milliseconds of a UTC date and time.
    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .unwrap()
            .timestamp_millis()
    }

    /// The next fire time of `spec` after `after`, as epoch ms.
    fn next(spec: &str, after: i64) -> Option<i64> {
        CronSchedule::parse(spec).unwrap().next_after(after)
    }

    /// The first `n` fire times after `after`.
    fn fires(spec: &str, after: i64, n: usize) -> Vec<i64> {
        let schedule = CronSchedule::parse(spec).unwrap();
        let mut at = after;
        (0..n)
            .map(|_| {
                at = schedule.next_after(at).unwrap();
                at
            })
            .collect()
    }

    #[test]
    fn schedule_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CronSchedule>();
    }

    #[test]
    fn five_fields_in_utc() {
        let after = utc(2026, 1, 15, 0, 0, 0);
        assert_eq!(next("0 12 * * *", after), Some(utc(2026, 1, 15, 12, 0, 0)));
        assert_eq!(
            next("*/15 * * * *", after),
            Some(utc(2026, 1, 15, 0, 15, 0))
        );
        assert_eq!(next("30 9 1 * *", after), Some(utc(2026, 2, 1, 9, 30, 0)));
        // 2026-01-15 is a Thursday: the next Friday noon is the 16th.
        assert_eq!(next("0 12 * * 5", after), Some(utc(2026, 1, 16, 12, 0, 0)));
        assert_eq!(
            next("0 12 * * fri", after),
            Some(utc(2026, 1, 16, 12, 0, 0))
        );
        assert_eq!(next("0 0 1 jun *", after), Some(utc(2026, 6, 1, 0, 0, 0)));
        assert_eq!(
            fires("0 9-17/4 * * MON-FRI", after, 4),
            vec![
                utc(2026, 1, 15, 9, 0, 0),
                utc(2026, 1, 15, 13, 0, 0),
                utc(2026, 1, 15, 17, 0, 0),
                utc(2026, 1, 16, 9, 0, 0),
            ]
        );
    }

    #[test]
    fn strictly_after_including_sub_second_inputs() {
        let noon = utc(2026, 1, 15, 12, 0, 0);
        assert_eq!(next("0 12 * * *", noon), Some(utc(2026, 1, 16, 12, 0, 0)));
        assert_eq!(next("0 12 * * *", noon - 1), Some(noon));
        assert_eq!(
            next("0 12 * * *", noon + 999),
            Some(utc(2026, 1, 16, 12, 0, 0))
        );
        assert_eq!(next("* * * * * *", noon + 500), Some(noon + 1000));
        assert_eq!(next("* * * * * *", noon - 500), Some(noon));
    }

    #[test]
    fn time_zone_prefix_moves_fire_times() {
        let winter = utc(2026, 1, 15, 0, 0, 0);
        let summer = utc(2026, 7, 15, 0, 0, 0);
        assert_eq!(
            next("TZ=Europe/Paris 0 12 * * *", winter),
            Some(utc(2026, 1, 15, 11, 0, 0))
        );
        assert_eq!(
            next("TZ=Europe/Paris 0 12 * * *", summer),
            Some(utc(2026, 7, 15, 10, 0, 0))
        );
        assert_eq!(
            next("CRON_TZ=America/New_York 0 12 * * *", winter),
            Some(utc(2026, 1, 15, 17, 0, 0))
        );
        assert_eq!(
            next("TZ=America/New_York 0 12 * * *", summer),
            Some(utc(2026, 7, 15, 16, 0, 0))
        );
        // Friday noon in Paris, after Thursday 2026-01-15 in UTC.
        assert_eq!(
            next("TZ=Europe/Paris 0 12 * * 5", winter),
            Some(utc(2026, 1, 16, 11, 0, 0))
        );
        // Midnight in Tokyo is 15:00 UTC the day before.
        assert_eq!(
            next("TZ=Asia/Tokyo @daily", winter),
            Some(utc(2026, 1, 15, 15, 0, 0))
        );
        assert_eq!(
            next("TZ=UTC 0 12 * * *", winter),
            Some(utc(2026, 1, 15, 12, 0, 0))
        );
    }

    #[test]
    fn descriptors() {
        let after = utc(2026, 1, 15, 10, 20, 30);
        assert_eq!(next("@hourly", after), Some(utc(2026, 1, 15, 11, 0, 0)));
        assert_eq!(next("@daily", after), Some(utc(2026, 1, 16, 0, 0, 0)));
        assert_eq!(next("@midnight", after), Some(utc(2026, 1, 16, 0, 0, 0)));
        // The next Sunday after Thursday the 15th is the 18th.
        assert_eq!(next("@weekly", after), Some(utc(2026, 1, 18, 0, 0, 0)));
        assert_eq!(next("@monthly", after), Some(utc(2026, 2, 1, 0, 0, 0)));
        assert_eq!(next("@yearly", after), Some(utc(2027, 1, 1, 0, 0, 0)));
        assert_eq!(next("@annually", after), Some(utc(2027, 1, 1, 0, 0, 0)));
    }

    #[test]
    fn every_counts_whole_seconds_from_the_given_time() {
        let after = utc(2026, 1, 15, 10, 0, 0) + 250;
        let base = utc(2026, 1, 15, 10, 0, 0);
        assert_eq!(next("@every 5s", after), Some(base + 5_000));
        assert_eq!(next("@every 1h30m", after), Some(base + 5_400_000));
        assert_eq!(next("@every 1.5h", after), Some(base + 5_400_000));
        assert_eq!(next("@every 90s", after), Some(base + 90_000));
        // Below a second is one second; fractions of a second are dropped.
        assert_eq!(next("@every 10ms", after), Some(base + 1_000));
        assert_eq!(next("@every 2500ms", after), Some(base + 2_000));
        assert_eq!(next("@every 0", after), Some(base + 1_000));
        assert_eq!(
            fires("@every 2s", base, 3),
            vec![base + 2_000, base + 4_000, base + 6_000]
        );
        assert_eq!(
            CronSchedule::parse("@every 1s")
                .unwrap()
                .next_after(i64::MAX),
            None
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration(".5s"), Ok(500_000_000));
        assert_eq!(parse_go_duration("300ms"), Ok(300_000_000));
        assert_eq!(parse_go_duration("-1m"), Ok(-60_000_000_000));
        assert_eq!(parse_go_duration("2µs"), Ok(2_000));
        assert_eq!(parse_go_duration("1h2m3s4ms5us6ns"), Ok(3_723_004_005_006));
        for bad in [
            "",
            "1",
            "h",
            "1x",
            "1.h.",
            ".",
            "-",
            "1d",
            "99999999999999999999h",
            "3000000h",
        ] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn seconds_extension() {
        let base = utc(2026, 1, 15, 10, 0, 0);
        assert_eq!(
            fires("*/2 * * * * *", base, 3),
            vec![base + 2_000, base + 4_000, base + 6_000]
        );
        assert_eq!(
            next("30 0 12 * * *", base),
            Some(utc(2026, 1, 15, 12, 0, 30))
        );
    }

    #[test]
    fn day_of_month_and_day_of_week_combine_like_vixie_cron() {
        // Both restricted: the 1st of the month OR a Monday. Thursday the 15th → Monday the 19th.
        let after = utc(2026, 1, 15, 0, 0, 0);
        assert_eq!(next("0 0 1 * 1", after), Some(utc(2026, 1, 19, 0, 0, 0)));
        // Day of week is *: only the day of month counts.
        assert_eq!(next("0 0 1 * *", after), Some(utc(2026, 2, 1, 0, 0, 0)));
        // Day of month is ? (a star): only the day of week counts.
        assert_eq!(next("0 0 ? * 1", after), Some(utc(2026, 1, 19, 0, 0, 0)));
        // `*/1` is still a star.
        assert_eq!(next("0 0 */1 * 1", after), Some(utc(2026, 1, 19, 0, 0, 0)));
        // `1-31` is not: every day matches.
        assert_eq!(next("0 0 1-31 * 1", after), Some(utc(2026, 1, 16, 0, 0, 0)));
    }

    #[test]
    fn single_value_step_runs_to_the_maximum() {
        let base = utc(2026, 1, 15, 10, 0, 0);
        assert_eq!(
            fires("50/5 * * * *", base, 3),
            vec![
                utc(2026, 1, 15, 10, 50, 0),
                utc(2026, 1, 15, 10, 55, 0),
                utc(2026, 1, 15, 11, 50, 0),
            ]
        );
    }

    #[test]
    fn never_firing_schedules_give_none() {
        let after = utc(2026, 1, 15, 0, 0, 0);
        assert_eq!(next("0 0 30 2 *", after), None);
        assert_eq!(next("0 0 31 4,6 *", after), None);
        // February 29th does come around.
        assert_eq!(next("0 0 29 2 *", after), Some(utc(2028, 2, 29, 0, 0, 0)));
    }

    #[test]
    fn invalid_schedules_are_errors_quoting_the_spec() {
        let bad = [
            "",
            "   ",
            "TZ=Europe/Paris",
            "TZ=Mars/Olympus 0 12 * * *",
            "CRON_TZ=europe/paris 0 12 * * *",
            "* * * *",
            "* * * * * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * 32 * *",
            "* * * 13 *",
            "* * * * 7",
            "* * * * 8",
            "* * L * *",
            "* * 15W * *",
            "* * * * 1#2",
            "*/0 * * * *",
            "5-1 * * * *",
            "1-2-3 * * * *",
            "1/2/3 * * * *",
            "1,,2 * * * *",
            "*-5 * * * *",
            "a * * * *",
            "-1 * * * *",
            "* * * foo *",
            "* * * * monday",
            "99999999999 * * * *",
            "60 * * * * *",
            "@daily2",
            "@Daily",
            "@reboot",
            "@every",
            "@every5s",
            "@every 5",
            "@every 5d",
            "@every forever",
            "@every 999999999h",
            "@daily 0 0 * * *",
        ];
        for spec in bad {
            let err = CronSchedule::parse(spec).err();
            let Some(err) = err else {
                panic!("{spec:?} parsed");
            };
            let text = err.to_string();
            assert!(text.contains(&format!("{spec:?}")), "{text}");
            assert!(text.contains("TZ=Europe/Paris 0 12 * * 5"), "{text}");
        }
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(matches!(
            CronSchedule::parse("TZ=Mars/Olympus 0 12 * * *"),
            Err(CronError::UnknownTimeZone { zone, .. }) if zone == "Mars/Olympus"
        ));
        assert!(matches!(
            CronSchedule::parse("* * * *"),
            Err(CronError::FieldCount { found: 4, .. })
        ));
        let err = CronSchedule::parse("0 24 * * *").unwrap_err();
        assert!(
            matches!(&err, CronError::Field { field: "hour", value, .. } if value == "24"),
            "{err:?}"
        );
        assert!(err.to_string().contains("maximum, 23"), "{err}");
        assert!(matches!(
            CronSchedule::parse("@reboot"),
            Err(CronError::Descriptor { .. })
        ));
        assert!(matches!(
            CronSchedule::parse("CRON_TZ=UTC  "),
            Err(CronError::Empty { .. })
        ));
    }

    #[test]
    fn names_are_case_insensitive_and_source_is_kept() {
        let spec = "TZ=Europe/Paris 0 12 * JAN-mar Mon-FRI";
        let schedule = CronSchedule::parse(spec).unwrap();
        assert_eq!(schedule.source(), spec);
        // Thursday 2026-01-15 11:00Z is noon in Paris.
        assert_eq!(
            schedule.next_after(utc(2026, 1, 15, 0, 0, 0)),
            Some(utc(2026, 1, 15, 11, 0, 0))
        );
        // After March: next January, first weekday is Friday 2027-01-01.
        assert_eq!(
            schedule.next_after(utc(2026, 4, 1, 0, 0, 0)),
            Some(utc(2027, 1, 1, 11, 0, 0))
        );
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        let schedule = CronSchedule::parse("* * * * *").unwrap();
        assert_eq!(schedule.next_after(i64::MAX), None);
        assert_eq!(schedule.next_after(i64::MIN), None);
        assert_eq!(schedule.next_after(-1), Some(0));
        let every = CronSchedule::parse("@every 1s").unwrap();
        assert_eq!(every.next_after(-1_500), Some(-1_000));
        let _ = every.next_after(i64::MIN);
        assert_eq!(every.next_after(i64::MAX - 10), None);
    }

    #[test]
    fn instants_at_the_ends_of_chrono_s_range_do_not_panic_in_any_zone() {
        // The last second chrono represents: its wall-clock time in a zone east of UTC
        // (Casey is UTC+8 in its last rule) is past the range, and croner used to panic.
        let max = DateTime::<chrono::Utc>::MAX_UTC.timestamp_millis();
        let min = DateTime::<chrono::Utc>::MIN_UTC.timestamp_millis();
        assert_eq!(max, 8_210_266_876_799_999);
        let casey = CronSchedule::parse("TZ=Antarctica/Casey @yearly").unwrap();
        assert_eq!(casey.next_after(max), None);
        for spec in [
            "TZ=Antarctica/Casey @yearly",
            "TZ=Pacific/Kiritimati * * * * *",
            "TZ=Pacific/Pago_Pago * * * * *",
            "TZ=America/Los_Angeles 0 12 * * *",
            "@every 1s",
            "* * * * *",
        ] {
            let schedule = CronSchedule::parse(spec).unwrap();
            for after in [max, max - 1_000, min, min + 1_000, i64::MIN, i64::MAX] {
                if let Some(next) = schedule.next_after(after) {
                    assert!(next > after, "{spec} after {after}: {next}");
                }
            }
        }
    }
}

/// Property tests: any schedule text, any field combination, any time zone prefix and any
/// instant (the ends of the `i64` and `chrono` ranges included) parse to a schedule or a
/// [`CronError`] and compute fire times without panicking; fire times match their fields.
#[cfg(test)]
mod properties {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use chrono::{Datelike as _, Timelike as _, Utc};
    use proptest::prelude::*;

    use crate::test_support::proptest_config as config;

    /// Numbers as a field may spell them: in range, out of range, overflowing, odd.
    fn number() -> BoxedStrategy<String> {
        prop_oneof![
            6 => (0..64u32).prop_map(|n| n.to_string()),
            1 => any::<u32>().prop_map(|n| n.to_string()),
            1 => any::<u64>().prop_map(|n| n.to_string()),
            1 => prop::sample::select(vec![
                "", "-1", "00", "007", "1e2", "٣", "+1", "4294967295", "4294967296",
                "18446744073709551616", " 1", "0x1",
            ])
            .prop_map(str::to_owned),
        ]
        .boxed()
    }

    /// One value: a star, a number or a name.
    fn atom() -> BoxedStrategy<String> {
        prop_oneof![
            3 => number(),
            2 => prop::sample::select(vec!["*", "?"]).prop_map(str::to_owned),
            2 => prop::sample::select(vec![
                "jan", "FEB", "Mar", "dec", "sun", "MON", "sat", "Thu", "monday", "janu", "L",
                "W", "15W", "1#2", "é",
            ])
            .prop_map(str::to_owned),
        ]
        .boxed()
    }

    /// One list item: `a`, `a-b`, `a/n`, `a-b/n`, and malformed variants.
    fn item() -> BoxedStrategy<String> {
        prop_oneof![
            8 => (
                atom(),
                prop::option::weighted(0.3, atom()),
                prop::option::weighted(0.3, number()),
            )
                .prop_map(|(a, b, step)| {
                    let mut item = a;
                    if let Some(b) = b {
                        item = format!("{item}-{b}");
                    }
                    if let Some(step) = step {
                        item = format!("{item}/{step}");
                    }
                    item
                }),
            1 => prop::sample::select(vec![
                "", "-", "/", "*/", "/5", "5-", "-5", "1-2-3", "1/2/3", "*-5", "*/0", "0/0",
            ])
            .prop_map(str::to_owned),
        ]
        .boxed()
    }

    /// One field: a comma-separated list of items.
    fn field() -> BoxedStrategy<String> {
        prop::collection::vec(item(), 1..4)
            .prop_map(|items| items.join(","))
            .boxed()
    }

    /// A field that parses for `spec`: stars, values, ranges, steps and names in bounds.
    fn valid_field(spec: &'static FieldSpec) -> BoxedStrategy<String> {
        let value = spec.min..=spec.max;
        let start = prop_oneof![
            Just("*".to_owned()),
            value.clone().prop_map(|v| v.to_string()),
        ];
        let mut items = vec![
            (1, Just("*".to_owned()).boxed()),
            (3, value.clone().prop_map(|v| v.to_string()).boxed()),
            (
                2,
                (value.clone(), value.clone())
                    .prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b)))
                    .boxed(),
            ),
            (
                2,
                (start, 1..=spec.max + 1)
                    .prop_map(|(a, step)| format!("{a}/{step}"))
                    .boxed(),
            ),
        ];
        if !spec.names.is_empty() {
            items.push((
                1,
                prop::sample::select(spec.names.to_vec())
                    .prop_map(str::to_uppercase)
                    .boxed(),
            ));
        }
        prop::collection::vec(prop::strategy::Union::new_weighted(items), 1..3)
            .prop_map(|items| items.join(","))
            .boxed()
    }

    /// A time zone prefix: a known zone, an unknown one, odd spellings.
    fn tz_prefix() -> BoxedStrategy<String> {
        let zone = prop_oneof![
            4 => prop::sample::select(chrono_tz::TZ_VARIANTS.to_vec()).prop_map(|tz| tz.name().to_owned()),
            1 => prop::sample::select(vec![
                "", "Mars/Olympus", "europe/paris", "UTC+1", "Etc/GMT+14", "Etc/GMT-14", "é",
            ])
            .prop_map(str::to_owned),
        ];
        (
            prop::sample::select(vec!["TZ=", "CRON_TZ=", "tz=", "TZ= "]),
            zone,
            prop::sample::select(vec![" ", "  ", "\t", ""]),
        )
            .prop_map(|(key, zone, space)| format!("{key}{zone}{space}"))
            .boxed()
    }

    /// A Go duration for `@every`, valid or not.
    fn go_duration() -> BoxedStrategy<String> {
        let unit = prop::sample::select(vec!["ns", "us", "µs", "μs", "ms", "s", "m", "h", "d", ""]);
        let part = (
            prop_oneof![
                3 => (0..10_000u64).prop_map(|n| n.to_string()),
                1 => any::<u64>().prop_map(|n| n.to_string()),
                1 => any::<u128>().prop_map(|n| n.to_string()),
                1 => "[0-9]{0,4}\\.[0-9]{0,25}",
            ],
            unit,
        )
            .prop_map(|(n, u)| format!("{n}{u}"));
        prop_oneof![
            6 => (
                prop::sample::select(vec!["", "-", "+"]),
                prop::collection::vec(part, 1..4),
            )
                .prop_map(|(sign, parts)| format!("{sign}{}", parts.concat())),
            1 => "\\PC{0,12}",
            1 => prop::sample::select(vec![
                "0", "-0", "", ".", "-", "9223372036854775807ns", "9223372036854775808ns",
                "-9223372036854775808ns", "-9223372036854775809ns", "2562047h47m16.854775807s",
                "2562047h47m16.854775808s", "18446744073709551615s", "1.5h", ".5s",
            ])
            .prop_map(str::to_owned),
        ]
        .boxed()
    }

    /// What a cron trigger may say: fields (five, six, or a wrong count), descriptors,
    /// `@every`, each maybe after a time zone, or any text.
    fn spec() -> BoxedStrategy<String> {
        let separator = prop::sample::select(vec![" ", "  ", "\t", " \n "]);
        let fields = (
            prop::option::weighted(0.3, tz_prefix()),
            prop::collection::vec(field(), 3..8),
            separator,
        )
            .prop_map(|(tz, fields, separator)| {
                format!("{}{}", tz.unwrap_or_default(), fields.join(separator))
            });
        let descriptor = (
            prop::option::weighted(0.3, tz_prefix()),
            prop::sample::select(vec![
                "@yearly",
                "@annually",
                "@monthly",
                "@weekly",
                "@daily",
                "@midnight",
                "@hourly",
                "@Daily",
                "@reboot",
                "@",
                "@daily2",
            ]),
        )
            .prop_map(|(tz, descriptor)| format!("{}{descriptor}", tz.unwrap_or_default()));
        let every = (
            prop::option::weighted(0.3, tz_prefix()),
            prop::sample::select(vec!["@every ", "@every", "@every  ", "@every\t"]),
            go_duration(),
        )
            .prop_map(|(tz, every, duration)| {
                format!("{}{every}{duration}", tz.unwrap_or_default())
            });
        prop_oneof![
            6 => fields,
            2 => descriptor,
            2 => every,
            1 => "\\PC{0,40}",
        ]
        .boxed()
    }

    /// Instants in epoch milliseconds: any `i64`, the ends of `chrono`'s range, around the
    /// year-5000 search limit, and the present.
    fn instant() -> BoxedStrategy<i64> {
        let max = DateTime::<Utc>::MAX_UTC.timestamp_millis();
        let min = DateTime::<Utc>::MIN_UTC.timestamp_millis();
        // 4999-06-01 and 5001-01-01.
        let near_limit = 95_598_835_200_000i64..95_666_112_000_000i64;
        prop_oneof![
            2 => any::<i64>(),
            3 => 0i64..4_102_444_800_000,
            1 => near_limit,
            1 => (max - 1_000_000_000)..=max,
            1 => min..=(min + 1_000_000_000),
            1 => prop::sample::select(vec![
                i64::MIN, i64::MIN + 1, -1_001, -1, 0, 999, i64::MAX - 1_000, i64::MAX, max,
                max + 1, min, min - 1,
            ]),
        ]
        .boxed()
    }

    /// Whether `at` (UTC) matches the five or six `fields` of a schedule.
    fn matches_fields(fields: &[&str], at: DateTime<Utc>) -> bool {
        let specs: &[&FieldSpec] = if fields.len() == 6 {
            &[&SECOND, &MINUTE, &HOUR, &DAY_OF_MONTH, &MONTH, &DAY_OF_WEEK]
        } else {
            &[&MINUTE, &HOUR, &DAY_OF_MONTH, &MONTH, &DAY_OF_WEEK]
        };
        let parsed: Vec<Field> = fields
            .iter()
            .zip(specs)
            .map(|(value, spec)| parse_field(value, spec).unwrap())
            .collect();
        let [.., minute, hour, dom, month, dow] = &parsed[..] else {
            return false;
        };
        let second_ok = if fields.len() == 6 {
            parsed[0].bits & (1 << at.second()) != 0
        } else {
            at.second() == 0
        };
        let has = |field: &Field, value: u32| field.bits & (1 << value) != 0;
        let dom_ok = has(dom, at.day());
        let dow_ok = has(dow, at.weekday().num_days_from_sunday());
        let day_ok = if dom.star || dow.star {
            dom_ok && dow_ok
        } else {
            dom_ok || dow_ok
        };
        second_ok
            && has(minute, at.minute())
            && has(hour, at.hour())
            && has(month, at.month())
            && day_ok
    }

    proptest! {
        #![proptest_config(config(3000))]

        /// Any text: `parse` answers a schedule or an error quoting the schedule and
        /// showing a valid one; a schedule answers a fire time strictly after any instant,
        /// on a whole second, and the next one after that is later still.
        #[test]
        fn any_schedule_parses_or_explains(spec in spec(), after in instant()) {
            match CronSchedule::parse(&spec) {
                Ok(schedule) => {
                    prop_assert_eq!(schedule.source(), spec.as_str());
                    if let Some(next) = schedule.next_after(after) {
                        prop_assert!(next > after, "{} <= {}", next, after);
                        prop_assert_eq!(next.rem_euclid(1000), 0);
                        if let Some(again) = schedule.next_after(next) {
                            prop_assert!(again > next);
                        }
                    }
                }
                Err(error) => {
                    let text = error.to_string();
                    prop_assert!(text.contains(&format!("{spec:?}")), "{}", text);
                    prop_assert!(text.contains(EXAMPLES), "{}", text);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(config(2000))]

        /// Five or six valid-looking fields in UTC: the next fire time, when there is one,
        /// matches every field (Vixie cron's rule for day of month and day of week).
        #[test]
        fn fire_times_match_their_fields(
            second in prop::option::of(valid_field(&SECOND)),
            rest in (
                valid_field(&MINUTE),
                valid_field(&HOUR),
                valid_field(&DAY_OF_MONTH),
                valid_field(&MONTH),
                valid_field(&DAY_OF_WEEK),
            ),
            odd in prop::option::weighted(0.1, (0..5usize, field())),
            after in prop_oneof![3 => 0i64..4_102_444_800_000, 1 => instant()],
        ) {
            let (minute, hour, dom, month, dow) = rest;
            let mut fields: Vec<String> = second.into_iter().collect();
            fields.extend([minute, hour, dom, month, dow]);
            if let Some((index, field)) = odd {
                fields[index] = field;
            }
            let spec = fields.join(" ");
            let Ok(schedule) = CronSchedule::parse(&spec) else {
                return Ok(());
            };
            if let Some(next) = schedule.next_after(after) {
                let at = DateTime::from_timestamp_millis(next).unwrap();
                let fields: Vec<&str> = spec.split_whitespace().collect();
                prop_assert!(matches_fields(&fields, at), "{} fired at {}", spec, at);
            }
        }

        /// Any Go duration text: a number of nanoseconds or an error, never a panic; a
        /// sum of whole parts is exact while it fits an `i64`.
        #[test]
        fn go_durations_parse_or_explain(
            text in go_duration(),
            parts in prop::collection::vec((0..3_000_000u64, 0..6usize), 1..4),
            negative in any::<bool>(),
        ) {
            if let Err(message) = parse_go_duration(&text) {
                prop_assert!(!message.is_empty());
            }
            const UNITS: [(&str, i128); 6] = [
                ("ns", 1),
                ("us", 1_000),
                ("ms", 1_000_000),
                ("s", 1_000_000_000),
                ("m", 60_000_000_000),
                ("h", 3_600_000_000_000),
            ];
            let mut text = String::from(if negative { "-" } else { "" });
            let mut total: i128 = 0;
            for (n, unit) in &parts {
                text.push_str(&format!("{n}{}", UNITS[*unit].0));
                total += i128::from(*n) * UNITS[*unit].1;
            }
            let expected = if negative { -total } else { total };
            match i64::try_from(expected) {
                Ok(expected) => prop_assert_eq!(parse_go_duration(&text), Ok(expected)),
                Err(_) => prop_assert!(parse_go_duration(&text).is_err()),
            }
        }
    }
}
