//! OAuth 2.0 tokens as Pipedrive issues them (research §4.2): authorization codes, access
//! tokens that expire, refresh tokens that work once. The `/oauth/...` endpoints that hand
//! them out are in `api::oauth`.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use base64::Engine;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub struct OAuthState {
    codes: HashMap<String, (Instant, String)>,
    access_tokens: HashMap<String, Instant>,
    refresh_tokens: HashSet<String>,
    rng: ChaCha8Rng,
}

pub enum AccessCheck {
    Valid,
    Expired,
    Unknown,
}

impl OAuthState {
    pub fn new(seed: u64) -> Self {
        OAuthState {
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashSet::new(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0a07),
        }
    }

    fn random_hex(&mut self, bytes: usize) -> String {
        (0..bytes)
            .map(|_| format!("{:02x}", self.rng.gen::<u8>()))
            .collect()
    }

    pub fn check(&self, token: &str) -> AccessCheck {
        match self.access_tokens.get(token) {
            Some(expires) if Instant::now() < *expires => AccessCheck::Valid,
            Some(_) => AccessCheck::Expired,
            None => AccessCheck::Unknown,
        }
    }

    /// A new authorization code for `redirect_uri`, valid for `lifetime`.
    pub fn issue_code(&mut self, redirect_uri: String, lifetime: Duration) -> String {
        let code = self.random_hex(20);
        self.codes
            .insert(code.clone(), (Instant::now() + lifetime, redirect_uri));
        code
    }

    /// The code's expiry and redirect URI; a code works once.
    pub fn take_code(&mut self, code: &str) -> Option<(Instant, String)> {
        self.codes.remove(code)
    }

    /// Whether the refresh token was valid; it stops working now (rotation).
    pub fn take_refresh_token(&mut self, token: &str) -> bool {
        self.refresh_tokens.remove(token)
    }

    /// A new access token (valid for `lifetime`) and its refresh token.
    pub fn issue(&mut self, lifetime: Duration) -> (String, String) {
        let access = format!(
            "v1u:{}",
            base64::engine::general_purpose::STANDARD.encode(self.random_hex(48))
        );
        let refresh = format!("1:1:{}", self.random_hex(20));
        self.access_tokens
            .insert(access.clone(), Instant::now() + lifetime);
        self.refresh_tokens.insert(refresh.clone());
        (access, refresh)
    }
}
