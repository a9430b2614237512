//! Who `/v1/users/me` says we are (user and company), kept in the client's cache for a day so a
//! run with nothing to do sends no request at all. Keyed by the API domain and a fingerprint of
//! the credential, so another token or company is never served a stale identity; forgotten
//! when Pipedrive answers 401.

use chrono::{DateTime, Duration, Utc};
use mlc_config::PipedriveAuth;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::CurrentUser;
use crate::storage::ClientCache;

/// How long a cached answer of `/v1/users/me` stands in for a call.
pub const IDENTITY_TTL: Duration = Duration::hours(24);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedIdentity {
    user: CurrentUser,
    fetched_at: DateTime<Utc>,
}

/// The cache key of `auth` against `api_domain`: no part of the credential can be read back.
pub fn identity_key(api_domain: &str, auth: &PipedriveAuth) -> String {
    let credential = match auth {
        PipedriveAuth::ApiToken(token) => format!("token:{}", token.expose()),
        PipedriveAuth::Oauth(oauth) => format!("oauth:{}", oauth.client_id),
    };
    let digest = Sha256::digest(format!("{api_domain}\n{credential}").as_bytes());
    format!("pipedrive-users-me:{}", hex::encode(&digest[..12]))
}

/// Whether an identity fetched at `fetched_at` still stands at `now`.
pub fn is_fresh(fetched_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    fetched_at <= now && now - fetched_at < IDENTITY_TTL
}

/// The cached identity under `key` when it is fresh; a cache that cannot be read is no cache.
pub async fn cached(cache: &dyn ClientCache, key: &str, now: DateTime<Utc>) -> Option<CurrentUser> {
    let text = match cache.get_value(key).await {
        Ok(text) => text?,
        Err(error) => {
            tracing::warn!(%error, "cannot read the cached pipedrive identity; asking /v1/users/me");
            return None;
        }
    };
    let cached: CachedIdentity = serde_json::from_str(&text).ok()?;
    is_fresh(cached.fetched_at, now).then_some(cached.user)
}

/// Keeps `user` as fetched at `now`; a cache that cannot be written only costs the next call.
pub async fn keep(cache: &dyn ClientCache, key: &str, user: &CurrentUser, now: DateTime<Utc>) {
    let cached = CachedIdentity {
        user: user.clone(),
        fetched_at: now,
    };
    let Ok(text) = serde_json::to_string(&cached) else {
        return;
    };
    if let Err(error) = cache.put_value(key, &text).await {
        tracing::warn!(%error, "cannot keep the pipedrive identity; the next run asks again");
    }
}

/// Forgets the identity (after a 401: the next connect asks Pipedrive again).
pub async fn forget(cache: &dyn ClientCache, key: &str) {
    if let Err(error) = cache.put_value(key, "").await {
        tracing::warn!(%error, "cannot forget the cached pipedrive identity");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryCache;
    use mlc_config::Secret;

    fn user() -> CurrentUser {
        CurrentUser {
            id: 1,
            name: "Sync".into(),
            email: "sync@example.com".into(),
            company_id: 7,
            company_name: "Example".into(),
            company_domain: "example".into(),
            timezone_name: None,
        }
    }

    #[test]
    fn the_key_depends_on_domain_and_credential_and_shows_neither() {
        let token = PipedriveAuth::ApiToken(Secret::new("secret-token-123"));
        let other = PipedriveAuth::ApiToken(Secret::new("secret-token-456"));
        let key = identity_key("https://a.pipedrive.com", &token);
        assert!(!key.contains("secret-token"));
        assert!(!key.contains("pipedrive.com"));
        assert_ne!(key, identity_key("https://a.pipedrive.com", &other));
        assert_ne!(key, identity_key("https://b.pipedrive.com", &token));
        assert_eq!(key, identity_key("https://a.pipedrive.com", &token));
    }

    #[tokio::test]
    async fn an_identity_stands_for_a_day_and_is_gone_once_forgotten() {
        let cache = MemoryCache::default();
        let now = Utc::now();
        assert_eq!(cached(&cache, "k", now).await, None);
        keep(&cache, "k", &user(), now).await;
        assert_eq!(
            cached(&cache, "k", now + Duration::hours(23)).await,
            Some(user())
        );
        assert_eq!(
            cached(&cache, "k", now + IDENTITY_TTL).await,
            None,
            "a day old"
        );
        assert_eq!(
            cached(&cache, "k", now - Duration::minutes(5)).await,
            None,
            "from the future: the clock moved back"
        );
        forget(&cache, "k").await;
        assert_eq!(cached(&cache, "k", now).await, None);
    }
}
