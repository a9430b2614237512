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
}

/// The header values of one answer.
#[derive(Debug, Clone, Copy)]
pub struct RateHeaders {
    pub limit: u32,
    pub remaining: u32,
    pub reset_secs: u64,
    pub daily_limit: u64,
    pub daily_remaining: u64,
}

#[derive(Debug)]
pub enum Admission {
    Admitted(RateHeaders),
    Burst(RateHeaders),
    Budget {
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
    ) -> Self {
        let daily_budget =
            budget_tokens.unwrap_or(DAILY_BASE_TOKENS * plan.multiplier() * u64::from(seats));
        Limits {
            plan,
            daily_budget,
            timezone,
            block_after_429s,
            block_for,
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

    /// Decides whether a request of `cost` tokens is served, and charges it if so.
    pub fn admit(&mut self, auth: AuthKind, search: bool, cost: u32) -> Admission {
        self.roll_day();
        let now = Instant::now();
        let plan = self.plan;
        let daily_limit = self.daily_budget;
        let (api_limit, oauth_limit) = plan.burst_limits();
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
            });
        }
        let block_after = self.block_after_429s;
        let block_for = self.block_for;
        let client = &mut self.clients[index];
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
        };
        let over_burst = used >= window_limit;
        let over_budget = u64::from(cost) > daily_remaining;
        if over_burst || over_budget {
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
            return Admission::Budget {
                headers,
                retry_after_secs: self.secs_to_midnight(),
            };
        }
        client.general.times.push_back(now);
        if search {
            client.search.times.push_back(now);
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
        )
    }

    #[test]
    fn the_budget_comes_back_after_midnight_of_the_server_time_zone() {
        let mut limits = limits("Pacific/Kiritimati");
        assert!(matches!(
            limits.admit(AuthKind::ApiToken, false, 10),
            Admission::Admitted(_)
        ));
        assert!(matches!(
            limits.admit(AuthKind::ApiToken, false, 1),
            Admission::Budget { .. }
        ));
        // Pretend the last request was yesterday in the server's zone.
        limits.day = limits.day.pred_opt().unwrap();
        assert!(matches!(
            limits.admit(AuthKind::ApiToken, false, 10),
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
                retry_after_secs, ..
            } = limits.admit(AuthKind::ApiToken, false, 1)
            else {
                panic!("expected a budget refusal");
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
            )
            .daily_budget()
        };
        assert_eq!(budget(Plan::Growth, 10), 600_000);
        assert_eq!(budget(Plan::Ultimate, 3), 630_000);
        assert!(Plan::parse("enterprise").is_err());
    }
}
