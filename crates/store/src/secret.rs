//! The key that encrypts stored secrets (OAuth refresh tokens), and the sealing itself:
//! AES-256-GCM with a fresh random nonce per write and the secret's name as associated data, so
//! a ciphertext copied under another name does not decrypt.
//!
//! Where the key comes from, first match wins:
//! 1. `MLC_SECRET_KEY`: 32 bytes written as base64 or hex;
//! 2. the key file (`store.secret_key_file`): the same text, or the 32 raw bytes;
//! 3. SQLite only: `<database file>.key` next to the database, generated on first use with mode
//!    0600 (an in-memory database gets a key that lives as long as the process);
//! 4. PostgreSQL: none. Several instances share a PostgreSQL store and must all use the same
//!    key, so one instance generating its own would lock the others out of the secrets.
//!    `from_env_or_file` says so in an error; `if_configured` returns `None`, for stores that keep
//!    no secrets (API-token auth), whose secret calls then fail with the same advice.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;

use crate::{StoreError, StoreResult};

const KEY_LENGTH: usize = 32;
const NONCE_LENGTH: usize = 12;

/// A 256-bit key for the secrets in the store. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; KEY_LENGTH]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("SecretKey(***)")
    }
}

impl SecretKey {
    /// The environment variable that holds the key; it wins over the key file.
    pub const ENV_VAR: &'static str = "MLC_SECRET_KEY";

    pub fn from_bytes(bytes: [u8; KEY_LENGTH]) -> SecretKey {
        SecretKey(bytes)
    }

    /// A new random key.
    pub fn generate() -> SecretKey {
        let mut bytes = [0u8; KEY_LENGTH];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        SecretKey(bytes)
    }

    /// The key as standard base64, the form written to generated key files.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    /// Reads 32 bytes written as hex (64 digits) or base64 (standard or URL-safe, padded or
    /// not); surrounding white space is ignored. `origin` names where the text came from.
    pub fn parse(text: &str, origin: &str) -> StoreResult<SecretKey> {
        let text = text.trim();
        let decoded = if text.len() == 2 * KEY_LENGTH && text.bytes().all(|b| b.is_ascii_hexdigit())
        {
            hex::decode(text).ok()
        } else {
            use base64::engine::general_purpose::{
                STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
            };
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(text).ok())
        };
        let Some(bytes) = decoded else {
            return Err(key_error(
                origin,
                "is neither hex nor base64; write 32 random bytes, e.g. `openssl rand -base64 32`",
            ));
        };
        let bytes: [u8; KEY_LENGTH] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            key_error(
                origin,
                format!("holds {} bytes, a key has {KEY_LENGTH}", bytes.len()),
            )
        })?;
        Ok(SecretKey(bytes))
    }

    /// Reads a key file: the key as hex or base64 text, or exactly 32 raw bytes.
    pub fn from_file(path: &Path) -> StoreResult<SecretKey> {
        let origin = format!("key file {}", path.display());
        let bytes = std::fs::read(path).map_err(|error| key_error(&origin, error.to_string()))?;
        warn_if_readable_by_others(path);
        if let Ok(text) = std::str::from_utf8(&bytes) {
            if let Ok(key) = SecretKey::parse(text, &origin) {
                return Ok(key);
            }
        }
        match <[u8; KEY_LENGTH]>::try_from(bytes.as_slice()) {
            Ok(raw) => Ok(SecretKey(raw)),
            Err(_) => SecretKey::parse(&String::from_utf8_lossy(&bytes), &origin),
        }
    }

    /// The key for the store at `store_url`: from `MLC_SECRET_KEY`, else from `key_file`
    /// (config `store.secret_key_file`), else, for SQLite, from the key file next to the
    /// database, generated on first use. See the module documentation for why PostgreSQL gets
    /// an error instead.
    pub fn from_env_or_file(key_file: Option<&Path>, store_url: &str) -> StoreResult<SecretKey> {
        SecretKey::if_configured(key_file, store_url)?.ok_or_else(|| missing_key(store_url))
    }

    /// Like `from_env_or_file`, but `None` where that one fails for want of a configured key
    /// (PostgreSQL): a store that keeps no secrets (API-token auth) needs none. A configured key
    /// that cannot be read is still an error.
    pub fn if_configured(
        key_file: Option<&Path>,
        store_url: &str,
    ) -> StoreResult<Option<SecretKey>> {
        let from_env = std::env::var(SecretKey::ENV_VAR).ok();
        SecretKey::resolve(from_env.as_deref(), key_file, store_url)
    }

    /// `if_configured` with the environment variable's value passed in.
    pub fn resolve(
        env_value: Option<&str>,
        key_file: Option<&Path>,
        store_url: &str,
    ) -> StoreResult<Option<SecretKey>> {
        if let Some(text) = env_value.filter(|text| !text.trim().is_empty()) {
            return SecretKey::parse(text, SecretKey::ENV_VAR).map(Some);
        }
        if let Some(path) = key_file {
            return SecretKey::from_file(path).map(Some);
        }
        if crate::Backend::of_url(store_url) != Some(crate::Backend::Sqlite) {
            return Ok(None);
        }
        match sqlite_key_file(store_url)? {
            Some(path) => SecretKey::load_or_create(&path).map(Some),
            // An in-memory database's secrets live no longer than the process, nor need its key.
            None => Ok(Some(SecretKey::generate())),
        }
    }

    /// Reads the key file at `path`, or creates it with a new key (mode 0600) when it does not
    /// exist. Two processes creating it at once end up with the same key: the file appears
    /// whole or not at all (written aside, then hard-linked into place without replacing).
    pub fn load_or_create(path: &Path) -> StoreResult<SecretKey> {
        if path.exists() {
            return SecretKey::from_file(path);
        }
        let origin = format!("key file {}", path.display());
        if let Some(folder) = path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
        {
            std::fs::create_dir_all(folder).map_err(|error| {
                key_error(&origin, format!("cannot create its folder: {error}"))
            })?;
        }
        let key = SecretKey::generate();
        let staging = path.with_extension(format!("key-{}.tmp", std::process::id()));
        write_private_file(&staging, format!("{}\n", key.to_base64()).as_bytes())
            .map_err(|error| key_error(&origin, format!("cannot write it: {error}")))?;
        let linked = std::fs::hard_link(&staging, path);
        // The staging file is only a step; the key is in `path` now or never will be.
        let _ = std::fs::remove_file(&staging);
        match linked {
            Ok(()) => {
                tracing::info!(path = %path.display(), "generated a new secret key file");
                Ok(key)
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                SecretKey::from_file(path)
            }
            Err(error) => Err(key_error(&origin, format!("cannot create it: {error}"))),
        }
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }

    /// Encrypts `plaintext` for the secret called `name` with a fresh nonce.
    pub(crate) fn seal(&self, name: &str, plaintext: &[u8]) -> StoreResult<SealedSecret> {
        let mut nonce = [0u8; NONCE_LENGTH];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: name.as_bytes(),
        };
        let ciphertext = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| StoreError::Secret {
                name: name.to_string(),
                message: "encryption failed".to_string(),
            })?;
        Ok(SealedSecret {
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Decrypts what `seal` wrote for `name`; a different key or a tampered row is an error.
    pub(crate) fn open(&self, name: &str, sealed: &SealedSecret) -> StoreResult<Vec<u8>> {
        if sealed.nonce.len() != NONCE_LENGTH {
            return Err(StoreError::Secret {
                name: name.to_string(),
                message: format!(
                    "stored nonce has {} bytes, expected {NONCE_LENGTH}",
                    sealed.nonce.len()
                ),
            });
        }
        let payload = Payload {
            msg: &sealed.ciphertext,
            aad: name.as_bytes(),
        };
        self.cipher()
            .decrypt(Nonce::from_slice(&sealed.nonce), payload)
            .map_err(|_| StoreError::Secret {
                name: name.to_string(),
                message: format!(
                    "cannot decrypt: it was written with another key (check {} or \
                     store.secret_key_file) or the stored value is damaged",
                    SecretKey::ENV_VAR
                ),
            })
    }
}

/// A secret as it is stored: nonce and ciphertext (with the GCM tag at its end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SealedSecret {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// No key configured for a store that cannot have one generated.
fn missing_key(store_url: &str) -> StoreError {
    let message = match crate::Backend::of_url(store_url) {
        Some(crate::Backend::Postgres) => format!(
            "a PostgreSQL store needs a key shared by every instance: set {} or \
             store.secret_key_file (e.g. `openssl rand -base64 32 > FILE`)",
            SecretKey::ENV_VAR
        ),
        _ => format!(
            "no key file can be derived from store url {}: set {} or store.secret_key_file",
            crate::redact_url(store_url),
            SecretKey::ENV_VAR
        ),
    };
    key_error("the configuration", message)
}

fn key_error(origin: &str, message: impl Into<String>) -> StoreError {
    StoreError::SecretKey {
        origin: origin.to_string(),
        message: message.into(),
    }
}

/// `<database file>.key` for a file database; `None` for an in-memory one.
fn sqlite_key_file(store_url: &str) -> StoreResult<Option<PathBuf>> {
    let Some(database) = crate::sqlite::database_file(store_url)? else {
        return Ok(None);
    };
    let mut name = database.file_name().unwrap_or_default().to_os_string();
    name.push(".key");
    Ok(Some(database.with_file_name(name)))
}

fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(path) {
            if metadata.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    "secret key file is readable by other users; chmod 600 it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_and_base64_of_the_same_key() {
        let key = SecretKey::from_bytes([7u8; 32]);
        let from_hex = SecretKey::parse(&hex::encode([7u8; 32]), "test").unwrap();
        let from_base64 = SecretKey::parse(&format!(" {}\n", key.to_base64()), "test").unwrap();
        assert_eq!(from_hex, key);
        assert_eq!(from_base64, key);
    }

    #[test]
    fn refuses_keys_of_the_wrong_length_naming_the_origin() {
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        let error = SecretKey::parse(&short, "MLC_SECRET_KEY")
            .unwrap_err()
            .to_string();
        assert!(error.contains("MLC_SECRET_KEY"), "{error}");
        assert!(error.contains("16 bytes"), "{error}");
        let garbage = SecretKey::parse("not a key!", "key file k")
            .unwrap_err()
            .to_string();
        assert!(garbage.contains("key file k"), "{garbage}");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = SecretKey::from_bytes([0xAB; 32]);
        let printed = format!("{key:?}");
        assert_eq!(printed, "SecretKey(***)");
    }

    #[test]
    fn sealing_twice_uses_fresh_nonces_and_binds_the_name() {
        let key = SecretKey::generate();
        let first = key.seal("pipedrive", b"refresh-token").unwrap();
        let second = key.seal("pipedrive", b"refresh-token").unwrap();
        assert_ne!(first.nonce, second.nonce);
        assert_eq!(key.open("pipedrive", &first).unwrap(), b"refresh-token");
        assert!(key.open("another-name", &first).is_err());
    }

    #[test]
    fn environment_wins_then_key_file_then_generated_file_next_to_sqlite() {
        let directory = tempfile::tempdir().unwrap();
        let database = directory.path().join("state.db");
        let url = format!("sqlite://{}", database.display());

        let env_key = SecretKey::from_bytes([1u8; 32]);
        let resolved = SecretKey::resolve(Some(&env_key.to_base64()), None, &url).unwrap();
        assert_eq!(resolved, Some(env_key));

        let file = directory.path().join("configured.key");
        std::fs::write(&file, hex::encode([2u8; 32])).unwrap();
        let resolved = SecretKey::resolve(None, Some(&file), &url).unwrap();
        assert_eq!(resolved, Some(SecretKey::from_bytes([2u8; 32])));

        let generated = SecretKey::resolve(None, None, &url)
            .unwrap()
            .expect("generated");
        let generated_file = directory.path().join("state.db.key");
        assert!(generated_file.exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&generated_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The second resolution reads the file the first one wrote.
        assert_eq!(
            SecretKey::resolve(None, None, &url).unwrap(),
            Some(generated)
        );
    }

    #[test]
    fn postgres_without_a_configured_key_is_a_clear_error() {
        let url = "postgres://postgres@127.0.0.1/db";
        assert_eq!(SecretKey::resolve(None, None, url).unwrap(), None);
        let error = missing_key(url).to_string();
        assert!(error.contains("MLC_SECRET_KEY"), "{error}");
        assert!(error.contains("store.secret_key_file"), "{error}");
    }
}
