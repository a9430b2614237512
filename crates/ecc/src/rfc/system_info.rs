//! The server's time zone from RFC_SYSTEM_INFO, for systems where TTZCU cannot be read (no
//! S_TABU_NAM for it). RFCSI_EXPORT-RFCTZONE is SY-TZONE, the server's offset from UTC in
//! seconds without daylight saving time; RFCDAYST is SY-DAYST, set while daylight saving time
//! is in effect. That tells the offset now, not the zone's rules: the check compares now.

use chrono::{DateTime, Utc};
use chrono_tz::{OffsetComponents, Tz};

use super::{RfcCall, RfcReply};
use crate::source::CheckLine;

/// The function module, in the agent's allow-list and the SAP setup guide (function group SRFC).
pub const FUNCTION: &str = "RFC_SYSTEM_INFO";

pub fn call() -> RfcCall {
    RfcCall::new(FUNCTION)
}

/// The server's standard offset (seconds east of UTC) and whether daylight saving time is on.
pub fn server_offset(reply: &RfcReply) -> Option<(i64, bool)> {
    let zone = reply.exports.get("RFCSI_EXPORT.RFCTZONE")?.trim();
    let offset: i64 = zone.parse().ok()?;
    let summer = reply
        .exports
        .get("RFCSI_EXPORT.RFCDAYST")
        .is_some_and(|flag| flag.trim().eq_ignore_ascii_case("X"));
    Some((offset, summer))
}

fn utc_offset(seconds: i64) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let seconds = seconds.abs();
    format!(
        "UTC{sign}{:02}:{:02}",
        seconds / 3600,
        (seconds % 3600) / 60
    )
}

/// The `ecc time zone` line from RFC_SYSTEM_INFO: the server's offset and daylight saving flag
/// now against `configured` now. `why_not_ttzcu` says why the zone's name could not be read.
pub fn time_zone_check(
    reply: &RfcReply,
    configured: Tz,
    now: DateTime<Utc>,
    why_not_ttzcu: &str,
) -> CheckLine {
    let name = "ecc time zone";
    let Some((standard, summer)) = server_offset(reply) else {
        return CheckLine::failed(
            name,
            format!(
                "TTZCU could not be read ({why_not_ttzcu}) and RFC_SYSTEM_INFO sent no \
                 RFCTZONE: grant S_TABU_NAM for TTZCU so the system's time zone can be compared \
                 with ecc.timezone"
            ),
        );
    };
    let offset = now.with_timezone(&configured).offset().to_owned();
    let expected_standard = offset.base_utc_offset().num_seconds();
    let expected_summer = !offset.dst_offset().is_zero();
    let server = format!(
        "{}{}",
        utc_offset(standard),
        if summer {
            ", daylight saving time now"
        } else {
            ""
        }
    );
    let ours = format!(
        "{}{}",
        utc_offset(expected_standard),
        if expected_summer {
            ", daylight saving time now"
        } else {
            ""
        }
    );
    if standard == expected_standard && summer == expected_summer {
        CheckLine::passed(
            name,
            format!(
                "the server runs at {server} (RFC_SYSTEM_INFO) like ecc.timezone {}; TTZCU, \
                 which names the zone, could not be read ({why_not_ttzcu})",
                configured.name()
            ),
        )
    } else {
        CheckLine::failed(
            name,
            format!(
                "the server runs at {server} (RFC_SYSTEM_INFO) but ecc.timezone {} is at {ours}: \
                 change documents would be read in the wrong window; set ecc.timezone to the \
                 server's zone (TTZCU could not be read: {why_not_ttzcu})",
                configured.name()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn reply(zone: &str, summer: &str) -> RfcReply {
        let mut reply = RfcReply::default();
        reply
            .exports
            .insert("RFCSI_EXPORT.RFCTZONE".into(), zone.into());
        reply
            .exports
            .insert("RFCSI_EXPORT.RFCDAYST".into(), summer.into());
        reply
    }

    #[test]
    fn the_offset_and_daylight_saving_are_compared_now() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let new_york: Tz = "America/New_York".parse().unwrap();
        let july = Utc.with_ymd_and_hms(2026, 7, 15, 12, 0, 0).unwrap();
        let january = Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
        assert!(time_zone_check(&reply("  3600", "X"), berlin, july, "x").ok);
        assert!(time_zone_check(&reply("3600", ""), berlin, january, "x").ok);
        let wrong = time_zone_check(&reply("3600", "X"), new_york, july, "NOT_AUTHORIZED");
        assert!(!wrong.ok);
        assert!(
            wrong.detail.contains("UTC+01:00, daylight saving time now")
                && wrong.detail.contains("America/New_York is at UTC-05:00")
                && wrong.detail.contains("NOT_AUTHORIZED"),
            "{}",
            wrong.detail
        );
        // A server without daylight saving time in a zone that has it is a mismatch in summer.
        assert!(!time_zone_check(&reply("3600", ""), berlin, july, "x").ok);
        assert!(!time_zone_check(&RfcReply::default(), berlin, july, "x").ok);
    }
}
