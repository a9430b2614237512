//! Pipedrive's rate limits (research §1): requests per rolling 2-second window by plan and
//! auth type, 10 search requests per 2 s, the company's daily token budget that resets at
//! midnight of the server's time zone, and the block (Cloudflare's HTML 403) that follows a
//! client who keeps sending through 429s.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::TimeZone;

/// 30,000 base tokens per seat per day, times the plan multiplier.
pub const DAILY_BASE_TOKENS: u64 = 30_000;
pub const WINDOW: Duration = Duration::from_secs(2);
pub const SEARCH_LIMIT: u32 = 10;
/// How far back 429 answers count towards the 403 block.
const ABUSE_WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Lite,
    Growth,
    Premium,
    Ultimate,
    /// No burst limits and no budget: for benchmarks only.
    Unlimited,
}

impl Plan {
    pub fn parse(text: &str) -> anyhow::Result<Plan> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "lite" => Plan::Lite,
            "growth" => Plan::Growth,
            "premium" => Plan::Premium,
            "ultimate" => Plan::Ultimate,
            "unlimited" => Plan::Unlimited,
            other => anyhow::bail!(
                "unknown plan {other:?}: expected lite, growth, premium, ultimate or unlimited"
            ),
        })
    }

    pub fn multiplier(self) -> u64 {
        match self {
            Plan::Lite => 1,
            Plan::Growth => 2,
            Plan::Premium => 5,
            Plan::Ultimate => 7,
            Plan::Unlimited => 0,
        }
    }

    /// Requests per 2 s for one API token and for one OAuth access token.
    pub fn burst_limits(self) -> (u32, u32) {
        match self {
            Plan::Lite => (20, 80),
            Plan::Growth => (40, 160),
            Plan::Premium => (100, 400),
            Plan::Ultimate => (120, 480),
            Plan::Unlimited => (u32::MAX, u32::MAX),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthKind {
    ApiToken,
    OAuth,
}

/// A rolling window of admitted request times.
#[derive(Debug, Default)]
struct RollingWindow {
    times: VecDeque<Instant>,
}

impl RollingWindow {
    fn prune(&mut self, now: Instant) {
        while let Some(first) = self.times.front() {
            if now.duration_since(*first) >= WINDOW {
                self.times.pop_front();
            } else {
                break;
            }
        }
    }

    fn used(&self) -> u32 {
        self.times.len() as u32
    }

    /// Whole seconds until the oldest request leaves the window (at least 1 when full).
    fn reset_secs(&self, now: Instant) -> u64 {
        match self.times.front() {
            Some(first) => {
                let left = WINDOW.saturating_sub(now.duration_since(*first));
                left.as_millis().div_ceil(1000).max(1) as u64
            }
            None => WINDOW.as_secs(),
        }
    }
}

#[derive(Debug, Default)]
struct ClientState {
    general: RollingWindow,
    search: RollingWindow,
    recent_429s: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    /// When this client last sent anything (the daily headers go missing after a quiet while).
    last_seen: Option<Instant>,
    /// Answers still to come without the daily token headers.
    answers_without_daily: u32,
    /// POST/PUT/PATCH requests of the UTC day `writes_day` (the fair-use limit).
    writes_today: u64,
    writes_day: Option<chrono::NaiveDate>,
}

/// When answers carry the undocumented `x-daily-ratelimit-token-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DailyHeaders {
    /// On every answer.
    Always,
    /// Missing from the first answers after a quiet while (a Pipedrive staff answer: "missing
    /// for a few requests … after a long period of inactivity"); the default.
    AfterIdle,
    /// Never sent.
    Never,
}

impl DailyHeaders {
    pub fn parse(text: &str) -> anyhow::Result<DailyHeaders> {
        Ok(match text {
            "always" => DailyHeaders::Always,
            "after-idle" => DailyHeaders::AfterIdle,
            "never" => DailyHeaders::Never,
            other => anyhow::bail!(
                "unknown --daily-token-headers {other:?}: expected always, after-idle or never"
            ),
        })
    }
}

/// How many answers after a quiet while lack the daily headers.
const ANSWERS_WITHOUT_DAILY_AFTER_IDLE: u32 = 5;

/// What the simulator does about headers and limits that Pipedrive documents poorly.
#[derive(Debug, Clone, Copy)]
pub struct LimitQuirks {
    pub daily_headers: DailyHeaders,
    /// How long without a request counts as a quiet while.
    pub idle_after: Duration,
    /// Whether a 429 of the spent daily budget carries `Retry-After`.
    pub budget_retry_after: bool,
    /// POST/PUT/PATCH requests per API token and UTC day (the 2019 fair-use limit); 0: none.
    pub writes_per_day: u64,
    /// Requests per 2 s for either auth type instead of the plan's figures (a company with a
    /// custom limit; a benchmark that gets pacing out of the way, since clients follow the
    /// limit the headers report).
    pub burst_limit: Option<u32>,
}

impl Default for LimitQuirks {
    fn default() -> Self {
        LimitQuirks {
            daily_headers: DailyHeaders::Always,
            idle_after: Duration::from_secs(600),
            budget_retry_after: true,
            writes_per_day: 0,
            burst_limit: None,
        }
    }
}

/// The header values of one answer.
#[derive(Debug, Clone, Copy)]
pub struct RateHeaders {
    pub limit: u32,
    pub remaining: u32,
    pub reset_secs: u64,
    pub daily_limit: u64,
    pub daily_remaining: u64,
    /// Whether the daily token headers are sent with this answer.
    pub daily_shown: bool,
    /// `x-daily-requests-left`: POST/PUT requests left today, on answers to writes with an API
    /// token while the fair-use limit is on.
    pub writes_left: Option<u64>,
}

#[derive(Debug)]
pub enum Admission {
    Admitted(RateHeaders),
    Burst(RateHeaders),
    Budget {
        headers: RateHeaders,
        retry_after_secs: Option<u64>,
    },
    /// The POST/PUT fair-use limit of the day (UTC) is used up.
    FairUse {
        headers: RateHeaders,
        retry_after_secs: u64,
    },
    Blocked,
}

pub struct Limits {
    plan: Plan,
    daily_budget: u64,
    timezone: chrono_tz::Tz,
    block_after_429s: u32,
    block_for: Duration,
    quirks: LimitQuirks,
    clients: [ClientState; 2],
    spent_today: u64,
    spent_total: u64,
    day: chrono::NaiveDate,
}

impl Limits {
    pub fn new(
        plan: Plan,
        seats: u32,
        budget_tokens: Option<u64>,
        timezone: chrono_tz::Tz,
        block_after_429s: u32,
        block_for: Duration,
        quirks: LimitQuirks,
    ) -> Self {
        let daily_budget =
            budget_tokens.unwrap_or(DAILY_BASE_TOKENS * plan.multiplier() * u64::from(seats));
        Limits {
            plan,
            daily_budget,
            timezone,
            block_after_429s,
            block_for,
            quirks,
            clients: [ClientState::default(), ClientState::default()],
            spent_today: 0,
            spent_total: 0,
            day: chrono::Utc::now().with_timezone(&timezone).date_naive(),
        }
    }

    pub fn daily_budget(&self) -> u64 {
        self.daily_budget
    }

    pub fn spent_today(&self) -> u64 {
        self.spent_today
    }

    pub fn spent_total(&self) -> u64 {
        self.spent_total
    }

    fn roll_day(&mut self) {
        let today = chrono::Utc::now()
            .with_timezone(&self.timezone)
            .date_naive();
        if today != self.day {
            self.day = today;
            self.spent_today = 0;
        }
    }

    /// Seconds until the next midnight of the server's time zone.
    fn secs_to_midnight(&self) -> u64 {
        let now = chrono::Utc::now().with_timezone(&self.timezone);
        let tomorrow = now.date_naive().succ_opt().unwrap_or(now.date_naive());
        let midnight = tomorrow.and_hms_opt(0, 0, 0).unwrap_or_default();
        let midnight = self
            .timezone
            .from_local_datetime(&midnight)
            .earliest()
            .map(|time| time.with_timezone(&chrono::Utc))
            .unwrap_or_else(|| chrono::Utc::now() + chrono::Duration::hours(24));
        (midnight - chrono::Utc::now()).num_seconds().max(1) as u64
    }

    /// Seconds until the next midnight UTC (the fair-use day).
    fn secs_to_utc_midnight() -> u64 {
        let now = chrono::Utc::now();
        let tomorrow = now.date_naive().succ_opt().unwrap_or(now.date_naive());
        let midnight = tomorrow.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        (midnight - now).num_seconds().max(1) as u64
    }

    /// Decides whether a request of `cost` tokens is served, and charges it if so. `write`:
    /// a POST, PUT or PATCH (counted against the fair-use limit).
    pub fn admit(&mut self, auth: AuthKind, search: bool, write: bool, cost: u32) -> Admission {
        self.roll_day();
        let now = Instant::now();
        let plan = self.plan;
        let daily_limit = self.daily_budget;
        let (api_limit, oauth_limit) = match self.quirks.burst_limit {
            Some(limit) => (limit, limit),
            None => plan.burst_limits(),
        };
        let limit = match auth {
            AuthKind::ApiToken => api_limit,
            AuthKind::OAuth => oauth_limit,
        };
        let index = auth as usize;
        let daily_remaining = daily_limit.saturating_sub(self.spent_today);
        if plan == Plan::Unlimited {
            self.spent_today += u64::from(cost);
            self.spent_total += u64::from(cost);
            return Admission::Admitted(RateHeaders {
                limit: 0,
                remaining: 0,
                reset_secs: 0,
                daily_limit: 0,
                daily_remaining: 0,
                daily_shown: false,
                writes_left: None,
            });
        }
        let block_after = self.block_after_429s;
        let block_for = self.block_for;
        let quirks = self.quirks;
        let client = &mut self.clients[index];
        let quiet = client
            .last_seen
            .is_none_or(|last| now.duration_since(last) >= quirks.idle_after);
        client.last_seen = Some(now);
        if quiet && quirks.daily_headers == DailyHeaders::AfterIdle {
            client.answers_without_daily = ANSWERS_WITHOUT_DAILY_AFTER_IDLE;
        }
        let daily_shown = match quirks.daily_headers {
            DailyHeaders::Always => true,
            DailyHeaders::Never => false,
            DailyHeaders::AfterIdle => {
                let shown = client.answers_without_daily == 0;
                client.answers_without_daily = client.answers_without_daily.saturating_sub(1);
                shown
            }
        };
        let utc_today = chrono::Utc::now().date_naive();
        if client.writes_day != Some(utc_today) {
            client.writes_day = Some(utc_today);
            client.writes_today = 0;
        }
        let fair_use = auth == AuthKind::ApiToken && write && quirks.writes_per_day > 0;
        let writes_left =
            fair_use.then(|| quirks.writes_per_day.saturating_sub(client.writes_today));
        if let Some(until) = client.blocked_until {
            if now < until {
                return Admission::Blocked;
            }
            client.blocked_until = None;
            client.recent_429s.clear();
        }
        client.general.prune(now);
        client.search.prune(now);
        let (window_limit, used, reset_secs) = if search {
            // Search requests count against both windows; the tighter one is reported.
            let search_left = SEARCH_LIMIT.saturating_sub(client.search.used());
            let general_left = limit.saturating_sub(client.general.used());
            if search_left <= general_left {
                (
                    SEARCH_LIMIT,
                    client.search.used(),
                    client.search.reset_secs(now),
                )
            } else {
                (limit, client.general.used(), client.general.reset_secs(now))
            }
        } else {
            (limit, client.general.used(), client.general.reset_secs(now))
        };
        let mut headers = RateHeaders {
            limit: window_limit,
            remaining: window_limit.saturating_sub(used),
            reset_secs,
            daily_limit,
            daily_remaining,
            daily_shown,
            writes_left,
        };
        let over_burst = used >= window_limit;
        let over_budget = u64::from(cost) > daily_remaining;
        let over_fair_use = writes_left == Some(0);
        if over_burst || over_budget || over_fair_use {
            client.recent_429s.push_back(now);
            while let Some(first) = client.recent_429s.front() {
                if now.duration_since(*first) > ABUSE_WINDOW {
                    client.recent_429s.pop_front();
                } else {
                    break;
                }
            }
            // Only api_token traffic is blocked (RL).
            if auth == AuthKind::ApiToken && client.recent_429s.len() as u32 > block_after {
                client.blocked_until = Some(now + block_for);
            }
            if over_burst {
                headers.remaining = 0;
                return Admission::Burst(headers);
            }
            if over_budget {
                return Admission::Budget {
                    headers,
                    retry_after_secs: quirks.budget_retry_after.then(|| self.secs_to_midnight()),
                };
            }
            return Admission::FairUse {
                headers,
                retry_after_secs: Self::secs_to_utc_midnight(),
            };
        }
        client.general.times.push_back(now);
        if search {
            client.search.times.push_back(now);
        }
        if fair_use {
            client.writes_today += 1;
            headers.writes_left = Some(quirks.writes_per_day.saturating_sub(client.writes_today));
        }
        headers.remaining = headers.remaining.saturating_sub(1);
        self.spent_today += u64::from(cost);
        self.spent_total += u64::from(cost);
        headers.daily_remaining = daily_limit.saturating_sub(self.spent_today);
        Admission::Admitted(headers)
    }

    /// Forgets windows, blocks and spending (`/_sim/reset`).
    pub fn reset(&mut self) {
        self.clients = [ClientState::default(), ClientState::default()];
        self.spent_today = 0;
        self.spent_total = 0;
    }

    /// Sets what has been spent today (tests of the budget, the demo's gauge).
    pub fn set_spent_today(&mut self, tokens: u64) {
        self.spent_today = tokens;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(timezone: &str) -> Limits {
        Limits::new(
            Plan::Lite,
            1,
            Some(10),
            timezone.parse().unwrap(),
            40,
            Duration::from_secs(60),
            LimitQuirks::default(),
        )
    }

    #[test]
    fn the_budget_comes_back_after_midnight_of_the_server_time_zone() {
        let mut limits = limits("Pacific/Kiritimati");
        assert!(matches!(
            limits.admit(AuthKind::ApiToken, false, false, 10),
            Admission::Admitted(_)
        ));
        assert!(matches!(
            limits.admit(AuthKind::ApiToken, false, false, 1),
            Admission::Budget { .. }
        ));
        // Pretend the last request was yesterday in the server's zone.
        limits.day = limits.day.pred_opt().unwrap();
        assert!(matches!(
            limits.admit(AuthKind::ApiToken, false, false, 10),
            Admission::Admitted(_)
        ));
        assert_eq!(limits.spent_total(), 20);
    }

    #[test]
    fn retry_after_of_a_spent_budget_points_at_the_next_local_midnight() {
        for zone in ["UTC", "Europe/Tallinn", "America/Los_Angeles"] {
            let mut limits = limits(zone);
            limits.set_spent_today(10);
            let Admission::Budget {
                retry_after_secs: Some(retry_after_secs),
                ..
            } = limits.admit(AuthKind::ApiToken, false, false, 1)
            else {
                panic!("expected a budget refusal with Retry-After");
            };
            let tz: chrono_tz::Tz = zone.parse().unwrap();
            let local = chrono::Utc::now().with_timezone(&tz)
                + chrono::Duration::seconds(retry_after_secs as i64 + 1);
            assert!(
                local.time() < chrono::NaiveTime::from_hms_opt(0, 0, 5).unwrap(),
                "{zone}: {retry_after_secs}s lands at {local}"
            );
        }
    }

    #[test]
    fn plans_have_the_documented_burst_limits_and_multipliers() {
        assert_eq!(Plan::Lite.burst_limits(), (20, 80));
        assert_eq!(Plan::Growth.burst_limits(), (40, 160));
        assert_eq!(Plan::Premium.burst_limits(), (100, 400));
        assert_eq!(Plan::Ultimate.burst_limits(), (120, 480));
        let budget = |plan, seats| {
            Limits::new(
                plan,
                seats,
                None,
                chrono_tz::UTC,
                40,
                Duration::from_secs(1),
                LimitQuirks::default(),
            )
            .daily_budget()
        };
        assert_eq!(budget(Plan::Growth, 10), 600_000);
        assert_eq!(budget(Plan::Ultimate, 3), 630_000);
        assert!(Plan::parse("enterprise").is_err());
    }

    #[test]
    fn daily_headers_go_missing_after_a_quiet_while_and_fair_use_counts_writes() {
        let mut limits = Limits::new(
            Plan::Growth,
            1,
            None,
            chrono_tz::UTC,
            40,
            Duration::from_secs(60),
            LimitQuirks {
                daily_headers: DailyHeaders::AfterIdle,
                idle_after: Duration::from_secs(600),
                budget_retry_after: false,
                writes_per_day: 3,
                burst_limit: None,
            },
        );
        let mut shown = Vec::new();
        for _ in 0..7 {
            let Admission::Admitted(headers) = limits.admit(AuthKind::ApiToken, false, false, 1)
            else {
                panic!("admitted");
            };
            shown.push(headers.daily_shown);
            assert_eq!(headers.writes_left, None, "not a write");
        }
        assert_eq!(shown, [false, false, false, false, false, true, true]);
        let mut left = Vec::new();
        for _ in 0..3 {
            let Admission::Admitted(headers) = limits.admit(AuthKind::ApiToken, false, true, 1)
            else {
                panic!("admitted");
            };
            left.push(headers.writes_left);
        }
        assert_eq!(left, [Some(2), Some(1), Some(0)]);
        assert!(matches!(
            limits.admit(AuthKind::ApiToken, false, true, 1),
            Admission::FairUse { .. }
        ));
        assert!(
            matches!(
                limits.admit(AuthKind::OAuth, false, true, 1),
                Admission::Admitted(RateHeaders {
                    writes_left: None,
                    ..
                })
            ),
            "OAuth traffic has no fair-use limit"
        );
        limits.set_spent_today(limits.daily_budget());
        assert!(matches!(
            limits.admit(AuthKind::ApiToken, false, false, 1),
            Admission::Budget {
                retry_after_secs: None,
                ..
            }
        ));
    }
}
