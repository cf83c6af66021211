//! Provider keys: a type plus an optional name token.

use std::any::TypeId;
use std::fmt;

/// Identifies a provider: the type it provides and an optional name token.
///
/// Two providers of the same type can coexist when they carry different names
/// (`Provider::value(pool).named("replica")`).
#[derive(Clone, Copy)]
pub struct ProviderKey {
    type_id: TypeId,
    type_name: &'static str,
    name: Option<&'static str>,
}

impl ProviderKey {
    /// The key of the unnamed provider of `T` (`T` may be unsized, e.g. `dyn Trait`).
    pub fn of<T: ?Sized + 'static>() -> Self {
        Self {
            type_id: TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
            name: None,
        }
    }

    /// The key of the provider of `T` registered under `name`.
    pub fn named<T: ?Sized + 'static>(name: &'static str) -> Self {
        Self {
            name: Some(name),
            ..Self::of::<T>()
        }
    }

    /// This key with another name token.
    pub(crate) fn with_name(self, name: Option<&'static str>) -> Self {
        Self { name, ..self }
    }

    /// The `TypeId` of the provided type.
    pub fn type_id(&self) -> TypeId {
        self.type_id
    }

    /// The name token, if any.
    pub fn name(&self) -> Option<&'static str> {
        self.name
    }

    /// The full Rust path of the provided type.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }
}

// Equality and hashing use the `TypeId` and the name only: the type name follows from the
// `TypeId`, and hashing it would make every lookup hash a string.
impl PartialEq for ProviderKey {
    fn eq(&self, other: &Self) -> bool {
        self.type_id == other.type_id && self.name == other.name
    }
}

impl Eq for ProviderKey {}

impl std::hash::Hash for ProviderKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.type_id.hash(state);
        self.name.hash(state);
    }
}

impl PartialOrd for ProviderKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ProviderKey {
    /// Orders by readable name, for stable messages.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.type_name, self.name, self.type_id).cmp(&(other.type_name, other.name, other.type_id))
    }
}

impl fmt::Display for ProviderKey {
    /// Short, readable form used in error messages: `PgPool` or `PgPool ("replica")`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&short_type_name(self.type_name))?;
        if let Some(name) = self.name {
            write!(f, " (named \"{name}\")")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ProviderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Strips module paths from every identifier of a type name:
/// `alloc::sync::Arc<dyn app::Greeter>` becomes `Arc<dyn Greeter>`.
pub fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut segment_start = 0;
    let bytes = full.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b':' && bytes.get(i + 1) == Some(&b':') {
            // Drop everything of the current path segment written so far.
            out.truncate(segment_start);
            i += 2;
            continue;
        }
        out.push(c as char);
        // `{` and `}` belong to path segments such as `{{closure}}` (items declared in fns).
        if !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'{' | b'}')) {
            segment_start = out.len();
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_drop_paths_everywhere() {
        assert_eq!(
            short_type_name("alloc::sync::Arc<dyn app::Greeter>"),
            "Arc<dyn Greeter>"
        );
        assert_eq!(
            short_type_name("core::option::Option<alloc::sync::Arc<users::Repo>>"),
            "Option<Arc<Repo>>"
        );
        assert_eq!(short_type_name("u32"), "u32");
        assert_eq!(short_type_name("(a::B, c::D)"), "(B, D)");
        assert_eq!(short_type_name("tests::f::{{closure}}::Broken"), "Broken");
    }

    #[test]
    fn named_keys_differ_and_display_their_name() {
        struct Pool;
        let plain = ProviderKey::of::<Pool>();
        let named = ProviderKey::named::<Pool>("replica");
        assert_ne!(plain, named);
        assert_eq!(named.to_string(), "Pool (named \"replica\")");
        assert_eq!(plain.to_string(), "Pool");
    }
}
