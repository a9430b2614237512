//! The delta cursor: the SAP server's local date and time up to which change documents have been
//! read, and the change documents and new customers already returned inside the overlap window
//! (so a poll re-reads the window without returning the same change twice).
//!
//! CDHDR UDATE/UTIME are in the server's own time zone (`ecc.timezone`), so the cursor is kept in
//! that zone too; it is never compared with UTC without converting.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::EccError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaCursor {
    /// Server-local time of the newest change covered, "YYYY-MM-DDTHH:MM:SS".
    pub server_time: NaiveDateTime,
    /// CHANGENRs (with their OBJECTID) already returned at or after `server_time - overlap`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen_changes: Vec<String>,
    /// Customers already returned as new by ERDAT on or after the window's first day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen_new: Vec<String>,
}

impl DeltaCursor {
    /// A cursor at a server-local time, nothing seen yet.
    pub fn at(server_time: NaiveDateTime) -> Self {
        DeltaCursor {
            server_time,
            seen_changes: Vec::new(),
            seen_new: Vec::new(),
        }
    }

    /// The cursor for a UTC instant, in the server's zone.
    pub fn from_utc(instant: DateTime<Utc>, server_zone: Tz) -> Self {
        DeltaCursor::at(instant.with_timezone(&server_zone).naive_local())
    }

    /// Now on the server's clock (as far as our clock and `ecc.timezone` tell).
    pub fn now(server_zone: Tz) -> Self {
        DeltaCursor::from_utc(Utc::now(), server_zone)
    }

    /// Our instant `ours` on the server's clock: corrected by `skew` (the server's clock minus
    /// ours, as the `Date` header of its answers showed), ours as it is while none did.
    pub fn on_server_clock(ours: DateTime<Utc>, skew: Option<Duration>, server_zone: Tz) -> Self {
        DeltaCursor::from_utc(ours + skew.unwrap_or_else(Duration::zero), server_zone)
    }

    /// The instant in UTC; a local time that does not exist (spring forward) is taken as the
    /// earlier offset, an ambiguous one as the earlier instant.
    pub fn to_utc(&self, server_zone: Tz) -> DateTime<Utc> {
        match server_zone.from_local_datetime(&self.server_time) {
            chrono::LocalResult::Single(time) => time.with_timezone(&Utc),
            chrono::LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
            chrono::LocalResult::None => {
                let shifted = self.server_time - Duration::hours(1);
                server_zone
                    .from_local_datetime(&shifted)
                    .earliest()
                    .map(|time| time.with_timezone(&Utc) + Duration::hours(1))
                    .unwrap_or_else(|| Utc.from_utc_datetime(&self.server_time))
            }
        }
    }

    /// Where the next read starts: the cursor minus the overlap window.
    pub fn window_start(&self, overlap: std::time::Duration) -> NaiveDateTime {
        self.server_time - Duration::from_std(overlap).unwrap_or_else(|_| Duration::zero())
    }

    /// The form kept in the state store's cursor table.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a stored cursor back. A bare "YYYY-MM-DDTHH:MM:SS" is accepted as well.
    pub fn decode(text: &str) -> Result<DeltaCursor, EccError> {
        let text = text.trim();
        if let Ok(cursor) = serde_json::from_str::<DeltaCursor>(text) {
            return Ok(cursor);
        }
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
            .map(DeltaCursor::at)
            .map_err(|_| EccError::Config(format!("`{text}` is not a delta cursor")))
    }
}

impl std::fmt::Display for DeltaCursor {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.encode())
    }
}

/// SAP DATS and TIMS into a timestamp; `None` for the empty date "00000000".
pub fn sap_date_time(date: &str, time: &str) -> Option<NaiveDateTime> {
    let date = NaiveDate::parse_from_str(date.trim(), "%Y%m%d").ok()?;
    let time = NaiveTime::parse_from_str(time.trim(), "%H%M%S").unwrap_or(NaiveTime::MIN);
    Some(date.and_time(time))
}

pub fn sap_date(time: &NaiveDateTime) -> String {
    time.format("%Y%m%d").to_string()
}

pub fn sap_time(time: &NaiveDateTime) -> String {
    time.format("%H%M%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_the_store_and_keeps_server_time() {
        let zone: Tz = "Europe/Berlin".parse().unwrap();
        let instant = Utc.with_ymd_and_hms(2026, 7, 1, 10, 0, 0).unwrap();
        let mut cursor = DeltaCursor::from_utc(instant, zone);
        assert_eq!(cursor.server_time.to_string(), "2026-07-01 12:00:00");
        cursor.seen_changes.push("0000004711/0000000042".into());
        let decoded = DeltaCursor::decode(&cursor.encode()).unwrap();
        assert_eq!(decoded, cursor);
        assert_eq!(decoded.to_utc(zone), instant);
        let window = cursor.window_start(std::time::Duration::from_secs(600));
        assert_eq!(sap_date(&window), "20260701");
        assert_eq!(sap_time(&window), "115000");
        assert_eq!(
            DeltaCursor::decode("2026-07-01T12:00:00")
                .unwrap()
                .server_time,
            cursor.server_time
        );
        assert!(DeltaCursor::decode("yesterday").is_err());
    }

    #[test]
    fn sap_dates() {
        assert_eq!(
            sap_date_time("20261126", "235959").unwrap().to_string(),
            "2026-11-26 23:59:59"
        );
        assert_eq!(sap_date_time("00000000", "000000"), None);
    }
}
