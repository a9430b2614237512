//! The ECC server's clock as its answers show it (the HTTP `Date` header). Change stamps (CDHDR
//! UDATE/UTIME, an OData service's change timestamp) are written on the server's clock, so delta
//! windows are placed on it, not on the connector's. Every transport (SOAP-RFC, OData, both
//! through the agent) records here what its answers said; `check` reports a skew beyond the
//! delta overlap.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::source::CheckLine;

/// How far the server's clock is ahead of ours (negative: behind), as its last answer with a
/// `Date` header showed. Shared by the tasks of one transport, hence atomic.
#[derive(Debug)]
pub struct ServerClock {
    /// The skew in milliseconds; `i64::MIN` until an answer told it.
    skew_millis: AtomicI64,
}

impl Default for ServerClock {
    fn default() -> Self {
        ServerClock {
            skew_millis: AtomicI64::new(i64::MIN),
        }
    }
}

impl ServerClock {
    /// Records an answer received now whose `Date` header (or the agent relaying it) said
    /// `server_time`.
    pub fn observe(&self, server_time: DateTime<Utc>) {
        let skew = server_time - Utc::now();
        self.skew_millis
            .store(skew.num_milliseconds(), Ordering::Relaxed);
    }

    /// Records the `Date` header of an answer just received; an answer without one, or with
    /// something that is no date in it, changes nothing.
    pub fn observe_headers(&self, headers: &reqwest::header::HeaderMap) {
        if let Some(server_time) = date_header(headers) {
            self.observe(server_time);
        }
    }

    /// The skew the last answer showed; `None` while no answer carried a `Date` header.
    pub fn skew(&self) -> Option<chrono::Duration> {
        let millis = self.skew_millis.load(Ordering::Relaxed);
        (millis != i64::MIN).then(|| chrono::Duration::milliseconds(millis))
    }
}

/// The time an answer's `Date` header states.
pub fn date_header(headers: &reqwest::header::HeaderMap) -> Option<DateTime<Utc>> {
    let text = headers.get(reqwest::header::DATE)?.to_str().ok()?;
    parse_http_date(text)
}

/// An HTTP date (IMF-fixdate, e.g. "Thu, 03 Dec 2026 06:33:39 GMT"); `None` for text that is
/// no date.
pub fn parse_http_date(text: &str) -> Option<DateTime<Utc>> {
    let time = DateTime::parse_from_rfc2822(text.trim()).ok()?;
    Some(time.with_timezone(&Utc))
}

/// The `ecc clock` check line: how far the server's clock (its HTTP `Date` header) is from
/// ours. The delta window follows the server's clock; a skew beyond the overlap is reported,
/// because on the server's own side it means its change documents and ours disagree.
pub fn clock_check(skew: Option<chrono::Duration>, overlap: Duration) -> CheckLine {
    let name = "ecc clock";
    let Some(skew) = skew else {
        return CheckLine::passed(
            name,
            "the server sent no Date header; the delta window follows this machine's clock",
        );
    };
    let seconds = skew.num_seconds();
    if seconds.unsigned_abs() > overlap.as_secs() {
        CheckLine::failed(
            name,
            format!(
                "the server's clock is {seconds} s {} ours, more than ecc.delta_overlap_secs = {}: \
                 fix the time synchronisation (NTP) of one of them or raise the overlap",
                if seconds > 0 { "ahead of" } else { "behind" },
                overlap.as_secs()
            ),
        )
    } else {
        CheckLine::passed(
            name,
            format!("the server's clock is {seconds} s from ours (Date header); the delta window follows the server's"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_check_reports_a_skew_beyond_the_overlap() {
        let overlap = Duration::from_secs(600);
        assert!(clock_check(None, overlap).ok);
        assert!(clock_check(Some(chrono::Duration::seconds(-30)), overlap).ok);
        let ahead = clock_check(Some(chrono::Duration::seconds(900)), overlap);
        assert!(
            !ahead.ok && ahead.detail.contains("900 s ahead"),
            "{}",
            ahead.detail
        );
        let behind = clock_check(Some(chrono::Duration::hours(-2)), overlap);
        assert!(
            !behind.ok && behind.detail.contains("-7200 s behind"),
            "{}",
            behind.detail
        );
    }

    #[test]
    fn the_skew_comes_from_the_date_header_and_nothing_else() {
        let clock = ServerClock::default();
        assert_eq!(clock.skew(), None);
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::DATE, "yesterday".parse().unwrap());
        clock.observe_headers(&headers);
        assert_eq!(clock.skew(), None, "a header that is no date is ignored");

        let two_hours_behind = Utc::now() - chrono::Duration::hours(2);
        headers.insert(
            reqwest::header::DATE,
            two_hours_behind
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string()
                .parse()
                .unwrap(),
        );
        clock.observe_headers(&headers);
        let skew = clock.skew().expect("a Date header gives the skew");
        assert!(
            (skew + chrono::Duration::hours(2)).num_seconds().abs() <= 2,
            "{skew}"
        );
        assert_eq!(
            parse_http_date("Thu, 03 Dec 2026 06:15:00 GMT").map(|time| time.to_rfc3339()),
            Some("2026-12-03T06:15:00+00:00".to_string())
        );
    }
}
