//! OAuth 2.0 tokens as Pipedrive issues them (research §4.2): authorization codes, access
//! tokens that expire, refresh tokens that are rotated (work once) or kept (the v1 document:
//! a refresh resets the refresh token's expiry; its example answers the same token), and that
//! expire after a while unused (60 days). The `/oauth/...` endpoints that hand them out are in
//! `api::oauth`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub struct OAuthState {
    codes: HashMap<String, (Instant, String)>,
    access_tokens: HashMap<String, Instant>,
    /// Refresh tokens and when each was issued or last used.
    refresh_tokens: HashMap<String, Instant>,
    rng: ChaCha8Rng,
}

pub enum AccessCheck {
    Valid,
    Expired,
    Unknown,
}

pub enum RefreshCheck {
    Valid,
    /// Unused for longer than the refresh token's lifetime.
    Expired,
    Unknown,
}

impl OAuthState {
    pub fn new(seed: u64) -> Self {
        OAuthState {
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
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

    /// Whether the refresh token is valid: known and used within `idle` of its last use. With
    /// `rotate` it stops working now (the answer carries its successor); else it stays and its
    /// expiry starts again.
    pub fn use_refresh_token(&mut self, token: &str, rotate: bool, idle: Duration) -> RefreshCheck {
        let now = Instant::now();
        let Some(last_used) = self.refresh_tokens.get(token).copied() else {
            return RefreshCheck::Unknown;
        };
        if now.duration_since(last_used) > idle {
            self.refresh_tokens.remove(token);
            return RefreshCheck::Expired;
        }
        if rotate {
            self.refresh_tokens.remove(token);
        } else {
            self.refresh_tokens.insert(token.to_string(), now);
        }
        RefreshCheck::Valid
    }

    /// A new access token (valid for `lifetime`) and its refresh token: `keep` when the
    /// presented one is not rotated, else a new one.
    pub fn issue(&mut self, lifetime: Duration, keep: Option<String>) -> (String, String) {
        let access = format!(
            "v1u:{}",
            base64::engine::general_purpose::STANDARD.encode(self.random_hex(48))
        );
        let refresh = keep.unwrap_or_else(|| format!("1:1:{}", self.random_hex(20)));
        self.access_tokens
            .insert(access.clone(), Instant::now() + lifetime);
        self.refresh_tokens.insert(refresh.clone(), Instant::now());
        (access, refresh)
    }
}
