//! "Did you mean" for unknown config keys: the settings a section has, read from its serde
//! derive, and the one closest to a misspelt key.
//!
//! A derived `Deserialize` for a struct hands its field names to
//! `Deserializer::deserialize_struct`. [`FieldNames`] is a deserializer that follows a key
//! path down through the section (the struct's visitor asks it for each field's value), and
//! records the field names of the struct where the path ends.

use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, Visitor};

/// The closest known setting to the unknown key at `path` (`"retries"` or
/// `"health.enabld"`, relative to the section of type `T`), if one is close.
pub(crate) fn closest_key<T: DeserializeOwned>(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('.').collect();
    let (last, parents) = segments.split_last()?;
    let mut probe = FieldNames {
        path: parents,
        found: None,
    };
    // Always an error: the probe stops the derive once it has the names.
    let _ = T::deserialize(&mut probe);
    closest(last, probe.found?.iter().copied())
}

/// The candidate at most two edits (or swaps of neighbours) from `name`, the closest first.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::osa_distance(name, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= 2 && *distance < candidate.len())
        .min()
        .map(|(_, candidate)| candidate)
}

/// Follows `path` into nested structs and records the field names where it ends.
struct FieldNames<'a> {
    path: &'a [&'a str],
    found: Option<&'static [&'static str]>,
}

/// Why the probe stopped (never shown).
#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field names probed")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<M: std::fmt::Display>(_message: M) -> Self {
        Stop
    }
}

impl<'de> Deserializer<'de> for &mut FieldNames<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        match self.path.split_first() {
            None => {
                self.found = Some(fields);
                Err(Stop)
            }
            Some((next, rest)) => {
                let next = *next;
                self.path = rest;
                visitor.visit_map(Descend {
                    key: Some(next),
                    probe: self,
                })
            }
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// A map with one key, the next path segment, whose value is the probe again.
struct Descend<'p, 'a> {
    key: Option<&'a str>,
    probe: &'p mut FieldNames<'a>,
}

impl<'de> MapAccess<'de> for Descend<'_, '_> {
    type Error = Stop;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Stop> {
        match self.key.take() {
            Some(key) => seed
                .deserialize(de::value::StrDeserializer::<Stop>::new(key))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Stop> {
        seed.deserialize(&mut *self.probe)
    }
}

#[cfg(test)]
mod tests {
    use super::closest_key;
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Section {
        retries: u32,
        event_key: Option<String>,
        health: Option<Health>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Health {
        enabled: bool,
        path: String,
    }

    #[test]
    fn a_misspelt_key_gets_the_closest_setting_at_its_depth() {
        assert_eq!(closest_key::<Section>("retires"), Some("retries"));
        assert_eq!(closest_key::<Section>("eventkey"), Some("event_key"));
        assert_eq!(closest_key::<Section>("health.enabld"), Some("enabled"));
        assert_eq!(closest_key::<Section>("colour"), None);
        assert_eq!(closest_key::<Section>("nowhere.enabld"), None);
    }
}
