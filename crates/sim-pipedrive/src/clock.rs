//! The simulator's clock and how Pipedrive v2 writes times; every module that stamps or formats
//! a time takes it from here.

/// Now, in Unix seconds.
pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Formats Unix seconds as Pipedrive v2 does: RFC 3339, UTC, no fraction.
pub fn format_time(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
