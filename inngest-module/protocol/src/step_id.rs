//! Step ids: the hex SHA-1 of the id the user wrote, with the repeat rule for ids used more
//! than once in a run.

use sha1::{Digest, Sha1};

/// The hex SHA-1 of a step id: the `id` of its op and its key in the memo map.
///
/// ```
/// assert_eq!(
///     inngest_protocol::hash_step_id("my-step-id"),
///     "e7d8a2f140845095749d60246ff1110c9d01d76a"
/// );
/// ```
pub fn hash_step_id(id: &str) -> String {
    lower_hex(&Sha1::digest(id.as_bytes()))
}

/// The id hashed for the `index`-th use (from 0) of a step id: `id`, `id:1`, `id:2`, …
///
/// ```
/// assert_eq!(inngest_protocol::indexed_step_id("same", 0), "same");
/// assert_eq!(inngest_protocol::indexed_step_id("same", 2), "same:2");
/// ```
pub fn indexed_step_id(id: &str, index: usize) -> String {
    if index == 0 {
        id.to_string()
    } else {
        format!("{id}:{index}")
    }
}

/// Lower-case hex of `bytes`, written in one allocation.
pub(crate) fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_ids_hash_like_the_recordings() {
        assert!(hash_step_id("first step").starts_with("98bf98df"));
        assert!(hash_step_id("sleep").starts_with("c3ca5f78"));
        assert!(hash_step_id("wait").starts_with("daaad336"));
        assert!(hash_step_id("same").starts_with("ff3390"));
        assert!(hash_step_id(&indexed_step_id("same", 1)).starts_with("c1023f"));
        assert!(hash_step_id(&indexed_step_id("same", 2)).starts_with("e48d66"));
    }

    #[test]
    fn lower_hex_matches_the_hex_crate() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(lower_hex(&bytes), hex::encode(&bytes));
    }
}
