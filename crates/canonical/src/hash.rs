//! The content hash: SHA-256 over an explicit, versioned, length-prefixed encoding of a record.
//!
//! The encoding is written out field by field rather than taken from serde, so adding a field to
//! a struct or changing a serializer never changes the hash of a record whose values did not
//! change. Changing what is hashed means a new domain tag ("customer/v2"), on purpose.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A content hash, as 64 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContentHash(String);

impl ContentHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Takes a hash read back from the state store.
    pub fn from_hex(hex_digest: impl Into<String>) -> Self {
        ContentHash(hex_digest.into())
    }

    /// Hash of arbitrary bytes under a domain tag, for payloads that are not canonical records
    /// (the mapped Pipedrive payload, say).
    pub fn of_bytes(domain: &str, bytes: &[u8]) -> Self {
        let mut hasher = ContentHasher::new(domain);
        hasher.bytes(bytes);
        hasher.finish()
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// Feeds typed, length-prefixed values into SHA-256 so that no two different records encode
/// to the same bytes ("ab" + "c" and "a" + "bc" differ).
pub struct ContentHasher {
    digest: Sha256,
}

impl ContentHasher {
    pub fn new(domain: &str) -> Self {
        let mut hasher = ContentHasher {
            digest: Sha256::new(),
        };
        hasher.bytes(domain.as_bytes());
        hasher
    }

    pub fn bytes(&mut self, value: &[u8]) {
        self.digest.update((value.len() as u64).to_le_bytes());
        self.digest.update(value);
    }

    pub fn text(&mut self, value: &str) {
        self.digest.update([b's']);
        self.bytes(value.as_bytes());
    }

    pub fn optional_text(&mut self, value: Option<&str>) {
        match value {
            None => self.absent(),
            Some(text) => {
                self.present();
                self.text(text);
            }
        }
    }

    pub fn flag(&mut self, value: bool) {
        self.digest.update([b'b', u8::from(value)]);
    }

    pub fn count(&mut self, value: usize) {
        self.digest.update([b'n']);
        self.digest.update((value as u64).to_le_bytes());
    }

    pub fn present(&mut self) {
        self.digest.update([b'+']);
    }

    pub fn absent(&mut self) {
        self.digest.update([b'-']);
    }

    pub fn finish(self) -> ContentHash {
        ContentHash(hex::encode(self.digest.finalize()))
    }

    /// The hash's first 8 bytes as a number, for a fingerprint kept in an integer column.
    pub fn fingerprint(self) -> i64 {
        let digest = self.digest.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        i64::from_le_bytes(first)
    }
}
