//! Who is logged in to the web UI: server-side sessions under random ids (the admin token never
//! leaves the login form), each with its own CSRF token and a fixed lifetime, and the cookies
//! that carry them. Time is an argument, so expiry is tested without waiting.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{header, HeaderMap};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use subtle::ConstantTimeEq;

/// The cookie that carries the session id.
pub const SESSION_COOKIE: &str = "mlc_session";
/// The cookie of the login form's CSRF token (double submit: no session exists yet).
pub const LOGIN_CSRF_COOKIE: &str = "mlc_login_csrf";
/// How long a login lasts.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);
/// At most this many live sessions; the oldest is dropped beyond it (a bound on memory for a
/// script that logs in in a loop).
const MAX_SESSIONS: usize = 1_000;

/// A logged-in browser, as the pages see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    /// Every form carries it; every POST is refused without it.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// The live sessions of this process. A restart logs everybody out, and several instances
/// behind one address need sticky sessions: the token is all a person needs to log in again.
#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub fn new() -> Sessions {
        Sessions::default()
    }

    /// A new session for a browser that presented the right admin token.
    pub fn start(&self, now: DateTime<Utc>) -> Session {
        let session = Session {
            id: random_token(),
            csrf_token: random_token(),
            expires_at: now + SESSION_LIFETIME,
        };
        if let Ok(mut live) = self.live.lock() {
            live.retain(|_, existing| existing.expires_at > now);
            if live.len() >= MAX_SESSIONS {
                let oldest = live
                    .values()
                    .min_by_key(|existing| existing.expires_at)
                    .map(|existing| existing.id.clone());
                if let Some(oldest) = oldest {
                    live.remove(&oldest);
                }
            }
            live.insert(session.id.clone(), session.clone());
        }
        session
    }

    /// The session under `id` if it exists and has not expired at `now`; an expired one is
    /// forgotten.
    pub fn find(&self, id: &str, now: DateTime<Utc>) -> Option<Session> {
        let mut live = self.live.lock().ok()?;
        let session = live.get(id)?.clone();
        if session.expires_at <= now {
            live.remove(id);
            return None;
        }
        Some(session)
    }

    /// Logs a session out.
    pub fn end(&self, id: &str) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(id);
        }
    }
}

/// 32 random bytes from the operating system, hex-encoded.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Compares a presented secret with the expected one in constant time; nothing expected or
/// nothing presented is a refusal.
pub fn secrets_match(expected: Option<&str>, presented: Option<&str>) -> bool {
    match (expected, presented) {
        (Some(expected), Some(presented)) if !expected.is_empty() => {
            bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
        }
        _ => false,
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value: HTTP-only, secure (browsers accept it over HTTPS and from localhost),
/// sent only with requests from the UI's own pages.
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64) -> String {
    format!("{name}={value}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age_secs}")
}

/// A `Set-Cookie` value that deletes cookie `name`.
pub fn clear_cookie(name: &str) -> String {
    set_cookie(name, "", 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn at(hour: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-12-03T{hour:02}:00:00Z"))
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_started_session_is_found_with_its_csrf_token_until_it_expires() {
        let sessions = Sessions::new();
        let session = sessions.start(at(8));
        assert_eq!(session.id.len(), 64);
        assert_ne!(session.id, session.csrf_token);
        assert_eq!(sessions.find(&session.id, at(19)), Some(session.clone()));
        assert_eq!(sessions.find(&session.id, at(20)), None, "12 hours later");
        assert_eq!(
            sessions.find(&session.id, at(9)),
            None,
            "an expired session is forgotten, not revived"
        );
    }

    #[test]
    fn an_unknown_or_ended_session_is_refused() {
        let sessions = Sessions::new();
        let session = sessions.start(at(8));
        assert_eq!(sessions.find("0123abcd", at(8)), None);
        assert_eq!(sessions.find("", at(8)), None);
        sessions.end(&session.id);
        assert_eq!(sessions.find(&session.id, at(8)), None);
    }

    #[test]
    fn every_session_gets_its_own_random_ids() {
        let sessions = Sessions::new();
        let first = sessions.start(at(8));
        let second = sessions.start(at(8));
        assert_ne!(first.id, second.id);
        assert_ne!(first.csrf_token, second.csrf_token);
    }

    #[test]
    fn the_number_of_live_sessions_is_bounded() {
        let sessions = Sessions::new();
        let first = sessions.start(at(1));
        for _ in 0..MAX_SESSIONS {
            sessions.start(at(2));
        }
        assert_eq!(sessions.find(&first.id, at(3)), None, "the oldest went");
        assert_eq!(sessions.live.lock().unwrap().len(), MAX_SESSIONS);
    }

    #[test]
    fn secrets_match_only_when_equal_and_expected() {
        assert!(secrets_match(Some("token-4711"), Some("token-4711")));
        assert!(!secrets_match(Some("token-4711"), Some("token-4712")));
        assert!(!secrets_match(Some("token-4711"), Some("token-471")));
        assert!(!secrets_match(Some("token-4711"), None));
        assert!(!secrets_match(None, Some("anything")));
        assert!(!secrets_match(Some(""), Some("")), "no token set: no login");
    }

    #[test]
    fn cookies_are_found_by_name_among_several() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; mlc_session=abc123"),
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("mlc_login_csrf=xyz"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc123"));
        assert_eq!(cookie(&headers, LOGIN_CSRF_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "mlc"), None);
    }

    #[test]
    fn the_session_cookie_is_http_only_secure_and_strict() {
        let value = set_cookie(SESSION_COOKIE, "abc", 60);
        for attribute in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(value.contains(attribute), "{value} lacks {attribute}");
        }
        assert!(clear_cookie(SESSION_COOKIE).contains("Max-Age=0"));
    }
}
