//! The overview's chart: Pipedrive tokens and records written per day over the last 30 days,
//! summed from the runs in the store and drawn as an SVG on the server (bars for tokens, a line
//! for records, each on its own scale). Pure functions; the page embeds the result.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{Duration, NaiveDate};
use mlc_store::{Action, RunRecord};

/// The actions that change something in Pipedrive: "records written".
pub const WRITE_ACTIONS: [Action; 5] = [
    Action::Create,
    Action::Update,
    Action::Link,
    Action::Delete,
    Action::Label,
];

/// One day of the chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayTotals {
    pub day: NaiveDate,
    pub tokens: u64,
    pub records_written: u64,
}

/// The totals of each of the `days` days ending with `today` (oldest first, days without runs
/// as zeros), from runs by the day (UTC) they started.
pub fn daily_totals(runs: &[RunRecord], today: NaiveDate, days: u32) -> Vec<DayTotals> {
    let first = today - Duration::days(i64::from(days.max(1)) - 1);
    let mut by_day: BTreeMap<NaiveDate, DayTotals> = (0..days.max(1))
        .map(|offset| {
            let day = first + Duration::days(i64::from(offset));
            (
                day,
                DayTotals {
                    day,
                    tokens: 0,
                    records_written: 0,
                },
            )
        })
        .collect();
    for run in runs {
        let Some(totals) = by_day.get_mut(&run.started_at.date_naive()) else {
            continue;
        };
        totals.tokens += run.tokens_used;
        totals.records_written += WRITE_ACTIONS
            .iter()
            .filter_map(|action| run.counts.get(action))
            .sum::<u64>();
    }
    by_day.into_values().collect()
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 56.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 32.0;

/// A round upper bound for an axis: 1, 2 or 5 times a power of ten, at least `value`.
pub fn axis_maximum(value: u64) -> u64 {
    let mut magnitude = 1u64;
    loop {
        for step in [1, 2, 5] {
            let candidate = step * magnitude;
            if candidate >= value.max(1) {
                return candidate;
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// The chart as an SVG element with a title and a description for screen readers. It holds
/// numbers and dates only, nothing a user typed.
pub fn svg(days: &[DayTotals]) -> String {
    let token_max = axis_maximum(days.iter().map(|day| day.tokens).max().unwrap_or(0));
    let record_max = axis_maximum(
        days.iter()
            .map(|day| day.records_written)
            .max()
            .unwrap_or(0),
    );
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let slot = plot_width / days.len().max(1) as f64;
    let y_of = |value: u64, maximum: u64| TOP + plot_height * (1.0 - value as f64 / maximum as f64);
    let total_tokens: u64 = days.iter().map(|day| day.tokens).sum();
    let total_records: u64 = days.iter().map(|day| day.records_written).sum();

    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">"#
    );
    let _ = write!(
        out,
        r#"<title id="chart-title">Pipedrive tokens and records written per day, last {} days</title><desc id="chart-desc">{total_tokens} tokens and {total_records} records written in all.</desc>"#,
        days.len()
    );
    // Grid and both axes' labels at 0, half and the maximum.
    for fraction in [0u64, 1, 2] {
        let y = TOP + plot_height * (1.0 - fraction as f64 / 2.0);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/><text class="axis tokens" x="{:.1}" y="{:.1}" text-anchor="end">{}</text><text class="axis records" x="{:.1}" y="{:.1}">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            token_max * fraction / 2,
            WIDTH - RIGHT + 6.0,
            y + 4.0,
            record_max * fraction / 2,
        );
    }
    for (index, day) in days.iter().enumerate() {
        let x = LEFT + slot * index as f64;
        let y = y_of(day.tokens, token_max);
        let _ = write!(
            out,
            r#"<rect class="bar" x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}"><title>{}: {} tokens, {} records written</title></rect>"#,
            x + slot * 0.15,
            slot * 0.7,
            TOP + plot_height - y,
            day.day,
            day.tokens,
            day.records_written
        );
        if index % 5 == 0 || index + 1 == days.len() {
            let _ = write!(
                out,
                r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x + slot / 2.0,
                HEIGHT - BOTTOM + 18.0,
                day.day.format("%m-%d")
            );
        }
    }
    let points: Vec<String> = days
        .iter()
        .enumerate()
        .map(|(index, day)| {
            format!(
                "{:.1},{:.1}",
                LEFT + slot * (index as f64 + 0.5),
                y_of(day.records_written, record_max)
            )
        })
        .collect();
    let _ = write!(
        out,
        r#"<polyline class="line" points="{}"/></svg>"#,
        points.join(" ")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use mlc_store::{ActionCounts, RunStatus};

    fn run(started: &str, tokens: u64, counts: &[(Action, u64)]) -> RunRecord {
        RunRecord {
            id: 1,
            connection: "main".into(),
            instance: "host:1".into(),
            mode: "delta".into(),
            started_at: DateTime::parse_from_rfc3339(started)
                .unwrap()
                .with_timezone(&Utc),
            finished_at: None,
            status: RunStatus::Ok,
            counts: counts.iter().copied().collect::<ActionCounts>(),
            tokens_used: tokens,
            alert: None,
            error: None,
        }
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn runs_are_summed_by_the_day_they_started_and_only_writes_count_as_records() {
        let runs = [
            run(
                "2026-12-03T10:00:00Z",
                500,
                &[
                    (Action::Create, 90),
                    (Action::Skip, 400),
                    (Action::Error, 2),
                ],
            ),
            run("2026-12-03T11:00:00Z", 20, &[(Action::Update, 4)]),
            run(
                "2026-12-01T23:59:00Z",
                7,
                &[(Action::Link, 1), (Action::Label, 2)],
            ),
            run("2026-11-01T00:00:00Z", 99_999, &[(Action::Create, 9)]),
        ];
        let totals = daily_totals(&runs, day("2026-12-03"), 30);
        assert_eq!(totals.len(), 30);
        assert_eq!(totals[0].day, day("2026-11-04"));
        assert_eq!(
            totals[29],
            DayTotals {
                day: day("2026-12-03"),
                tokens: 520,
                records_written: 94
            }
        );
        assert_eq!(totals[27].tokens, 7);
        assert_eq!(totals[27].records_written, 3);
        assert_eq!(totals[28].tokens, 0, "a day without runs is a zero");
        let outside: u64 = totals.iter().map(|day| day.tokens).sum();
        assert_eq!(outside, 527, "a run before the window is left out");
    }

    #[test]
    fn axis_maxima_are_round_and_never_below_the_value() {
        assert_eq!(axis_maximum(0), 1);
        assert_eq!(axis_maximum(1), 1);
        assert_eq!(axis_maximum(3), 5);
        assert_eq!(axis_maximum(7), 10);
        assert_eq!(axis_maximum(11), 20);
        assert_eq!(axis_maximum(15_000), 20_000);
        assert_eq!(axis_maximum(50_001), 100_000);
    }

    #[test]
    fn the_svg_has_a_bar_per_day_a_point_per_day_and_the_totals_for_screen_readers() {
        let runs = [run("2026-12-03T10:00:00Z", 1_234, &[(Action::Create, 56)])];
        let drawn = svg(&daily_totals(&runs, day("2026-12-03"), 30));
        assert!(drawn.starts_with("<svg"));
        assert!(drawn.ends_with("</svg>"));
        assert_eq!(drawn.matches("<rect").count(), 30);
        let points = drawn.split("points=\"").nth(1).unwrap();
        assert_eq!(points.split('"').next().unwrap().split(' ').count(), 30);
        assert!(drawn.contains("1234 tokens and 56 records written in all"));
        assert!(drawn.contains("2026-12-03: 1234 tokens, 56 records written"));
        assert!(!drawn.contains("NaN"));
    }
}
