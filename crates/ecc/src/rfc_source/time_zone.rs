//! The `ecc time zone` line of `check`: the system's own zone (TTZCU-TZONESYS) against
//! `ecc.timezone`. Change documents carry the system's local time, so a wrong zone shifts every
//! delta window.

use chrono::{Datelike, Utc};
use chrono_tz::Tz;

use crate::source::CheckLine;

/// SAP time zones (table TTZZ) and an IANA zone with the same rules, to compare TTZCU-TZONESYS
/// with `ecc.timezone`.
const SAP_TIME_ZONES: [(&str, &str); 12] = [
    ("UTC", "UTC"),
    ("GMT", "UTC"),
    ("GMTUK", "Europe/London"),
    ("CET", "Europe/Berlin"),
    ("EET", "Europe/Helsinki"),
    ("EST", "America/New_York"),
    ("CST", "America/Chicago"),
    ("MST", "America/Denver"),
    ("PST", "America/Los_Angeles"),
    ("JAPAN", "Asia/Tokyo"),
    ("INDIA", "Asia/Kolkata"),
    ("AUSNSW", "Australia/Sydney"),
];

/// The `ecc time zone` check line: whether `ecc.timezone` keeps the same time as the system's
/// own zone (TTZCU-TZONESYS) in winter and in summer. Change documents carry the system's local
/// time, so a wrong zone shifts every delta window.
pub fn time_zone_check(system_zone: &str, configured: Tz) -> CheckLine {
    let name = "ecc time zone";
    let system_zone = system_zone.trim();
    let Some(like) = SAP_TIME_ZONES
        .iter()
        .find(|(sap, _)| *sap == system_zone)
        .and_then(|(_, iana)| iana.parse::<Tz>().ok())
    else {
        return CheckLine::passed(
            name,
            format!(
                "the system's zone {system_zone:?} (TTZCU-TZONESYS) is not one ml-connector knows; \
                 make sure ecc.timezone = \"{}\" keeps the same time",
                configured.name()
            ),
        );
    };
    use chrono::{Offset, TimeZone};
    let year = Utc::now().year();
    let same = [1, 7].iter().all(|month| {
        let instant = Utc
            .with_ymd_and_hms(year, *month, 15, 12, 0, 0)
            .single()
            .unwrap_or_else(Utc::now);
        instant.with_timezone(&like).offset().fix()
            == instant.with_timezone(&configured).offset().fix()
    });
    if same {
        CheckLine::passed(
            name,
            format!(
                "{system_zone} (TTZCU-TZONESYS) matches ecc.timezone {}",
                configured.name()
            ),
        )
    } else {
        CheckLine::failed(
            name,
            format!(
                "the system's time zone is {system_zone} (TTZCU-TZONESYS, like {}) but ecc.timezone is {}: \
                 change documents would be read in the wrong window; set ecc.timezone = \"{}\"",
                like.name(),
                configured.name(),
                like.name()
            ),
        )
    }
}
