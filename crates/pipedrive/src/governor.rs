//! The governor: one per Pipedrive company in the process. It decides when a request may leave
//! (the rolling 2-second burst window of the plan and auth type, search in its own lane of 10),
//! charges each call its token cost against the day's budget share through the token ledger
//! (shared by every instance on PostgreSQL), slows a whole lane after a 429, and stops the
//! connection after Cloudflare's 403.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, Offset, TimeZone, Timelike, Utc};
use mlc_canonical::state::TokenCharge;
use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::error::{PipedriveError, Result};
use crate::storage::{ClientCache, TokenLedger};

/// Pipedrive's burst window.
pub const BURST_WINDOW: Duration = Duration::from_secs(2);
/// Requests per window of the search API, on every plan.
pub const SEARCH_LIMIT: u32 = 10;
/// Kept between our send time and the server's view of it, so network jitter never puts one
/// request too many into the server's window.
const WINDOW_MARGIN: Duration = Duration::from_millis(60);
/// The longest a 429 may make a lane wait; a longer Retry-After is the daily budget.
pub const MAX_429_WAIT: Duration = Duration::from_secs(300);
/// Waiting when a 429 names no time.
const DEFAULT_429_WAIT: Duration = Duration::from_secs(2);
/// How much wider than the server's window our own count of requests is.
const OWN_REQUEST_TOLERANCE: Duration = Duration::from_millis(30);
/// How long room is left for other clients on the token after they were last seen.
const OTHERS_MEMORY: Duration = Duration::from_secs(6);
/// A lane slowed by a 429 recovers its full rate after this long without another.
const SLOWDOWN_RECOVERY: Duration = Duration::from_secs(30);
/// POST/PUT requests of the fair-use limit (`x-daily-requests-left`) left to the company's
/// people and other integrations: the connector stops writing for the day before it takes them.
pub const FAIR_USE_RESERVE: u64 = 200;

/// Which window a request counts against. Search requests count against both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    General,
    Search,
}

/// How the governor is set up: from the config, in `PipedriveClient::connect`.
#[derive(Debug, Clone)]
pub struct GovernorSettings {
    /// Requests per 2 s the plan and auth type allow.
    pub burst_limit: u32,
    /// Tokens a day the connector may spend (its share of the company budget).
    pub daily_token_limit: u64,
    /// Midnight in this zone resets the budget.
    pub timezone: chrono_tz::Tz,
}

/// Something the operator must hear about; goes into the run record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub at: DateTime<Utc>,
    pub message: String,
}

/// The governor's state for reports and the budget gauge.
#[derive(Debug, Clone, PartialEq)]
pub struct GovernorSnapshot {
    /// The company's id in the ledger (None until `/v1/users/me` answered).
    pub company: Option<String>,
    pub burst_limit: u32,
    /// The burst limit the server reported, when it differs from the configured one.
    pub server_burst_limit: Option<u32>,
    pub daily_token_limit: u64,
    /// Tokens spent today (every instance) as the ledger held them at the last charge, less
    /// what this process charged ahead and has not spent yet (its reserve).
    pub tokens_used_today: u64,
    /// Tokens this process charged since the governor was created.
    pub tokens_charged_by_process: u64,
    pub requests_sent: u64,
    pub responses_429: u64,
    /// Answers by status ("200", "429", "no-answer", ...), since the governor was created.
    pub answers: std::collections::BTreeMap<String, u64>,
    /// Set when today's share is used: no call is sent before this time.
    pub deferred_until: Option<DateTime<Utc>>,
    /// Set after Cloudflare's 403: the connection is stopped.
    pub stopped: Option<String>,
    pub alerts: Vec<Alert>,
}

/// Cheap to clone; every clone is the same governor.
#[derive(Clone)]
pub struct Governor {
    inner: Arc<GovernorInner>,
}

struct GovernorInner {
    settings: GovernorSettings,
    /// Where every call's tokens are charged (shared by every instance).
    token_ledger: Arc<dyn TokenLedger>,
    general: Mutex<LaneState>,
    search: Mutex<LaneState>,
    ledger: Mutex<LedgerState>,
    requests_sent: AtomicU64,
    responses_429: AtomicU64,
    answers: Mutex<std::collections::BTreeMap<String, u64>>,
    tokens_charged: AtomicU64,
    stopped: Mutex<Option<String>>,
    alerts: Mutex<Vec<Alert>>,
    /// What `x-daily-requests-left` said last, and on which UTC day.
    writes_left: Mutex<Option<(u64, NaiveDate)>>,
    /// The budget's day as Pipedrive showed it (the UTC offset of the zone whose midnight
    /// resets it); until then the configured zone.
    learned_zone: Mutex<Option<FixedOffset>>,
    /// The last `x-daily-ratelimit-token-remaining` and when it came.
    last_daily_reading: Mutex<Option<(DateTime<Utc>, u64)>>,
    /// Where a learned reset is kept for the next process.
    reset_keeper: OnceLock<(Arc<dyn ClientCache>, String)>,
}

/// The reset of the budget as the server showed it: `reset_at` is an instant at which the
/// budget came back. Its time of day, to the quarter hour, is midnight of the zone; the zone's
/// offset follows (-12:00 to +14:00).
pub fn zone_of_reset(reset_at: DateTime<Utc>) -> FixedOffset {
    const QUARTER: i64 = 900;
    const DAY: i64 = 86_400;
    let seconds = i64::from(reset_at.num_seconds_from_midnight());
    let rounded = ((seconds + QUARTER / 2) / QUARTER * QUARTER) % DAY;
    let mut offset = (DAY - rounded) % DAY;
    if offset > 14 * 3600 {
        offset -= DAY;
    }
    FixedOffset::east_opt(offset as i32).unwrap_or_else(|| FixedOffset::east_opt(0).expect("0"))
}

/// The instant the budget reset between two readings of the daily headers, when the second
/// shows more tokens left than the first and they are less than a quarter hour apart: the one
/// quarter-hour boundary in between (Pipedrive resets at a zone's midnight).
pub fn reset_between(
    first: (DateTime<Utc>, u64),
    second: (DateTime<Utc>, u64),
) -> Option<DateTime<Utc>> {
    let ((before, left_before), (after, left_after)) = (first, second);
    if left_after <= left_before
        || after <= before
        || after - before >= chrono::Duration::minutes(15)
    {
        return None;
    }
    let quarter = 900;
    let boundary = after.timestamp() / quarter * quarter;
    (boundary > before.timestamp())
        .then(|| DateTime::from_timestamp(boundary, 0))
        .flatten()
}

#[derive(Debug, Default)]
struct LedgerState {
    company: Option<String>,
    /// Tokens spent before the company was known (the `/v1/users/me` call of `connect`).
    uncharged: u64,
    used_today: u64,
    deferred_until: Option<DateTime<Utc>>,
    /// Pipedrive said the company's whole budget is spent: nothing is sent before this time.
    company_exhausted_until: Option<DateTime<Utc>>,
    /// Tokens charged to the ledger ahead of the calls that spend them, and their budget day:
    /// a busy process writes the ledger once a block of calls, not once a call (see
    /// [`reserve_block`]).
    reserve: u64,
    reserve_day: Option<NaiveDate>,
}

/// Most tokens charged ahead of their calls: a thousandth of the day's share, at most 200 (40
/// creates), and at most a fiftieth of what this process charged so far. A ledger write is a
/// transaction the store flushes to disk, one per request otherwise; what a process that stops
/// leaves unspent stays counted, so the bound keeps that under 2% of what it spent and 0.1% of
/// the share, and a small run (a poll with a few changes) charges exactly.
fn reserve_block(limit: u64, charged_by_process: u64) -> u64 {
    (limit / 1_000).min(200).min(charged_by_process / 50)
}

#[derive(Debug)]
struct LaneState {
    configured_limit: u32,
    server_limit: Option<u32>,
    /// Send times (reserved slots) of the last requests, oldest first, never decreasing.
    slots: VecDeque<Instant>,
    /// No request leaves this lane before this instant (after a 429, or when the server says
    /// its window is full because of traffic we did not send).
    blocked_until: Option<Instant>,
    /// 1.0 normally; lowered after each 429, back to 1.0 after a quiet while.
    rate_factor: f64,
    last_429: Option<Instant>,
    /// Requests of other clients on the same token the server's window showed lately; left
    /// free for them until `others_until`.
    others: u32,
    others_until: Option<Instant>,
}

impl LaneState {
    fn new(limit: u32) -> Self {
        LaneState {
            configured_limit: limit.max(1),
            server_limit: None,
            slots: VecDeque::new(),
            blocked_until: None,
            rate_factor: 1.0,
            last_429: None,
            others: 0,
            others_until: None,
        }
    }

    fn effective_limit(&mut self, now: Instant) -> usize {
        if let Some(last) = self.last_429 {
            if now.duration_since(last) >= SLOWDOWN_RECOVERY {
                self.rate_factor = 1.0;
                self.last_429 = None;
            }
        }
        if self.others_until.is_some_and(|until| now >= until) {
            self.others = 0;
            self.others_until = None;
        }
        let limit = self
            .server_limit
            .unwrap_or(self.configured_limit)
            .saturating_sub(self.others);
        ((f64::from(limit) * self.rate_factor).floor() as usize).max(1)
    }

    /// The instant the next request of this lane may leave; reserves it.
    fn reserve(&mut self, now: Instant) -> Instant {
        // A slot older than the window no longer limits the next one, nor counts as sent in
        // it: dropped, so a lane holds a window's slots, not `limit` of them (a burst limit of
        // a million once kept two million and counted them all at every response).
        let horizon = BURST_WINDOW + WINDOW_MARGIN.max(OWN_REQUEST_TOLERANCE);
        while self
            .slots
            .front()
            .is_some_and(|oldest| now.saturating_duration_since(*oldest) > horizon)
        {
            self.slots.pop_front();
        }
        let limit = self.effective_limit(now);
        let mut slot = now;
        if let Some(blocked) = self.blocked_until {
            slot = slot.max(blocked);
        }
        if self.slots.len() >= limit {
            let oldest_in_window = self.slots[self.slots.len() - limit];
            slot = slot.max(oldest_in_window + BURST_WINDOW + WINDOW_MARGIN);
        }
        // A limit that grew again (a 429 slowdown over, other clients gone) can put the
        // window's slot before one reserved earlier: slots never go back in time.
        if let Some(last) = self.slots.back() {
            slot = slot.max(*last);
        }
        self.slots.push_back(slot);
        let keep = limit.max(self.configured_limit as usize).max(1) * 2;
        while self.slots.len() > keep {
            self.slots.pop_front();
        }
        slot
    }

    /// Requests this lane sent within the window that ends at `now` (a little wider than the
    /// server's, which counts arrivals, so our own requests are never taken for others').
    fn sent_within_window(&self, now: Instant) -> usize {
        self.slots
            .iter()
            .filter(|slot| {
                **slot <= now && now.duration_since(**slot) < BURST_WINDOW + OWN_REQUEST_TOLERANCE
            })
            .count()
    }

    /// Leaves room for `others` requests per window of other clients on the same token.
    fn leave_room_for(&mut self, others: u32, now: Instant) {
        let still_valid = self.others_until.is_some_and(|until| now < until);
        self.others = if still_valid {
            self.others.max(others)
        } else {
            others
        };
        self.others_until = Some(now + OTHERS_MEMORY);
    }

    fn block_until(&mut self, until: Instant) {
        self.blocked_until = Some(
            self.blocked_until
                .map_or(until, |current| current.max(until)),
        );
    }
}

/// What the rate-limit headers of one answer say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitHeaders {
    pub limit: Option<u32>,
    pub remaining: Option<u32>,
    pub reset_secs: Option<u64>,
    pub retry_after_secs: Option<u64>,
    pub daily_token_remaining: Option<u64>,
    /// `x-daily-requests-left`: POST/PUT requests of the fair-use limit left today (UTC).
    pub writes_left: Option<u64>,
}

impl RateLimitHeaders {
    pub fn parse(headers: &HeaderMap) -> Self {
        fn number<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse().ok())
        }
        RateLimitHeaders {
            limit: number(headers, "x-ratelimit-limit"),
            remaining: number(headers, "x-ratelimit-remaining"),
            reset_secs: number(headers, "x-ratelimit-reset"),
            retry_after_secs: number(headers, "retry-after"),
            daily_token_remaining: number(headers, "x-daily-ratelimit-token-remaining"),
            writes_left: number(headers, "x-daily-requests-left"),
        }
    }
}

/// What a 429 means for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TooManyRequests {
    /// The burst window: the lane waits this long (already applied to the lane), then the call
    /// may be sent again.
    WaitBurst(Duration),
    /// The company's daily budget: no wait of seconds helps.
    DailyBudget {
        retry_after_secs: u64,
        /// The server's Retry-After named the token budget's reset: it is not the fair-use
        /// limit (whose `x-daily-requests-left` is 0 and which resets at midnight UTC).
        server_named_reset: bool,
    },
}

impl TooManyRequests {
    /// What a 429's headers say. It is a daily limit (the token budget, or the POST/PUT fair
    /// use), back after Retry-After or at the budget's reset (`until_budget_reset` away), when
    /// Retry-After is longer than [`MAX_429_WAIT`], when no daily tokens are left, or when the
    /// burst window still had room (`x-ratelimit-remaining` above 0: the window did not refuse
    /// it). The daily headers are undocumented and sometimes missing, so the burst headers
    /// decide without them. Anything else is the burst window, waited out for Retry-After or
    /// x-ratelimit-reset (seconds; 2 s when neither is given), capped.
    pub fn read(headers: &RateLimitHeaders, until_budget_reset: Duration) -> TooManyRequests {
        let burst_window_had_room = headers.remaining.is_some_and(|remaining| remaining > 0);
        let daily = headers.daily_token_remaining == Some(0)
            || headers
                .retry_after_secs
                .is_some_and(|secs| secs > MAX_429_WAIT.as_secs())
            || burst_window_had_room;
        if daily {
            return TooManyRequests::DailyBudget {
                server_named_reset: headers.writes_left != Some(0)
                    && headers.retry_after_secs.is_some_and(|secs| secs > 0),
                retry_after_secs: headers
                    .retry_after_secs
                    .filter(|secs| *secs > 0)
                    .unwrap_or(until_budget_reset.as_secs().max(1)),
            };
        }
        let wait_secs = headers.retry_after_secs.or(headers.reset_secs);
        TooManyRequests::WaitBurst(
            wait_secs
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_429_WAIT)
                .clamp(Duration::from_millis(500), MAX_429_WAIT),
        )
    }
}

impl Governor {
    pub fn new(settings: GovernorSettings, ledger: Arc<dyn TokenLedger>) -> Governor {
        Governor {
            inner: Arc::new(GovernorInner {
                general: Mutex::new(LaneState::new(settings.burst_limit)),
                search: Mutex::new(LaneState::new(SEARCH_LIMIT.min(settings.burst_limit))),
                settings,
                token_ledger: ledger,
                ledger: Mutex::new(LedgerState::default()),
                requests_sent: AtomicU64::new(0),
                responses_429: AtomicU64::new(0),
                answers: Mutex::new(std::collections::BTreeMap::new()),
                tokens_charged: AtomicU64::new(0),
                stopped: Mutex::new(None),
                alerts: Mutex::new(Vec::new()),
                writes_left: Mutex::new(None),
                learned_zone: Mutex::new(None),
                last_daily_reading: Mutex::new(None),
                reset_keeper: OnceLock::new(),
            }),
        }
    }

    /// The process-wide governor of a company, by its domain (`https://COMPANY.pipedrive.com`,
    /// OAuth's `api_domain`): created on first use, shared by every client (every connection)
    /// of that company charging the same ledger while any of them lives. The first caller's
    /// settings hold.
    pub fn for_company_domain(
        api_domain: &str,
        settings: GovernorSettings,
        ledger: Arc<dyn TokenLedger>,
    ) -> Governor {
        type Registry = Mutex<HashMap<String, Weak<GovernorInner>>>;
        static GOVERNORS: OnceLock<Registry> = OnceLock::new();
        let registry = GOVERNORS.get_or_init(|| Mutex::new(HashMap::new()));
        // The ledger is part of the key: two ledgers are two budgets.
        let key = format!(
            "{}#{:x}",
            api_domain.trim_end_matches('/').to_ascii_lowercase(),
            ledger.identity()
        );
        let mut governors = lock(registry);
        governors.retain(|_, governor| governor.strong_count() > 0);
        match governors.get(&key).and_then(Weak::upgrade) {
            Some(inner) => Governor { inner },
            None => {
                let governor = Governor::new(settings, ledger);
                governors.insert(key, Arc::downgrade(&governor.inner));
                governor
            }
        }
    }

    pub fn settings(&self) -> &GovernorSettings {
        &self.inner.settings
    }

    /// Names the company whose ledger row this governor charges (from `/v1/users/me`); calls
    /// sent before are charged with the next one.
    pub fn set_company(&self, company_id: &str) {
        let mut ledger = lock(&self.inner.ledger);
        if ledger.company.is_none() {
            ledger.company = Some(company_id.to_string());
        }
    }

    /// Refuses at once when the connection was stopped by a 403.
    pub fn check_not_stopped(&self, endpoint: &str) -> Result<()> {
        match lock(&self.inner.stopped).as_ref() {
            Some(detail) => Err(PipedriveError::Forbidden403 {
                endpoint: endpoint.to_string(),
                detail: detail.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Charges `tokens` against today's share before a call is sent; refuses (and defers the
    /// governor until the next reset) when the call would cross the share.
    pub async fn charge(&self, tokens: u32) -> Result<()> {
        let now = Utc::now();
        let (company, carried, from_reserve) = {
            let mut ledger = lock(&self.inner.ledger);
            if let Some(until) = ledger.company_exhausted_until {
                if now < until {
                    return Err(PipedriveError::CompanyBudgetExhausted {
                        endpoint: "(not sent)".to_string(),
                        retry_after_secs: (until - now).num_seconds().max(1) as u64,
                    });
                }
                ledger.company_exhausted_until = None;
            }
            if let Some(until) = ledger.deferred_until {
                if now < until {
                    return Err(PipedriveError::BudgetShareUsed {
                        used: ledger.used_today,
                        limit: self.inner.settings.daily_token_limit,
                        resets_at: until,
                    });
                }
                ledger.deferred_until = None;
            }
            if ledger.reserve_day != Some(self.today(now)) {
                ledger.reserve = 0;
            }
            if ledger.company.is_some() && ledger.reserve >= u64::from(tokens) {
                // Charged to the ledger already, with the block it was reserved in.
                ledger.reserve -= u64::from(tokens);
                self.inner
                    .tokens_charged
                    .fetch_add(u64::from(tokens), Ordering::Relaxed);
                return Ok(());
            }
            match ledger.company.clone() {
                Some(company) => (
                    company,
                    std::mem::take(&mut ledger.uncharged),
                    std::mem::take(&mut ledger.reserve),
                ),
                None => {
                    // Only `connect` calls before the company is known; it is charged later.
                    ledger.uncharged += u64::from(tokens);
                    self.inner
                        .tokens_charged
                        .fetch_add(u64::from(tokens), Ordering::Relaxed);
                    return Ok(());
                }
            }
        };
        let limit = self.inner.settings.daily_token_limit;
        let day = self.today(now);
        if carried > 0 {
            // Spent already: recorded even if it crosses the share.
            self.inner
                .token_ledger
                .charge_tokens(&company, day, carried, i64::MAX as u64)
                .await?;
        }
        // What is left of the reserve pays part of the call; the ledger the rest.
        let needed = u64::from(tokens) - from_reserve;
        let block = reserve_block(limit, self.inner.tokens_charged.load(Ordering::Relaxed));
        let mut charge = self
            .inner
            .token_ledger
            .charge_tokens(&company, day, needed + block, limit)
            .await;
        let mut reserved = block;
        if block > 0 && matches!(charge, Ok(TokenCharge::Refused { .. })) {
            // No room for a block: the call alone, as close to the share as it goes.
            reserved = 0;
            charge = self
                .inner
                .token_ledger
                .charge_tokens(&company, day, needed, limit)
                .await;
        }
        let mut ledger = lock(&self.inner.ledger);
        if !matches!(charge, Ok(TokenCharge::Charged { .. })) && from_reserve > 0 {
            // The call is not sent: what it took of the reserve is still there to spend.
            ledger.reserve += from_reserve;
        }
        match charge? {
            TokenCharge::Charged { used } => {
                ledger.used_today = used;
                if reserved > 0 {
                    ledger.reserve += reserved;
                    ledger.reserve_day = Some(day);
                }
                self.inner
                    .tokens_charged
                    .fetch_add(u64::from(tokens), Ordering::Relaxed);
                Ok(())
            }
            TokenCharge::Refused { used } => {
                let resets_at = self.next_reset(now);
                ledger.used_today = used;
                ledger.deferred_until = Some(resets_at);
                Err(PipedriveError::BudgetShareUsed {
                    used,
                    limit,
                    resets_at,
                })
            }
        }
    }

    /// Where the learned budget reset is kept between processes (the client's cache), and
    /// what was kept there before: adopted at once.
    pub fn keep_learned_reset_in(
        &self,
        cache: Arc<dyn ClientCache>,
        key: String,
        known: Option<FixedOffset>,
    ) {
        if let Some(zone) = known {
            let mut learned = lock(&self.inner.learned_zone);
            learned.get_or_insert(zone);
        }
        let _ = self.inner.reset_keeper.set((cache, key));
    }

    /// The zone whose midnight resets the budget, as the server showed it (None: not yet).
    pub fn learned_zone(&self) -> Option<FixedOffset> {
        *lock(&self.inner.learned_zone)
    }

    /// Learns the budget's day from an instant the server said (or showed) it resets; tells the
    /// operator when it differs from the configured zone, and keeps it for the next process.
    fn learn_reset(&self, reset_at: DateTime<Utc>) {
        let zone = zone_of_reset(reset_at);
        let previous = lock(&self.inner.learned_zone).replace(zone);
        if previous == Some(zone) {
            return;
        }
        let configured = self.inner.settings.timezone;
        let configured_offset = reset_at.with_timezone(&configured).offset().fix();
        if configured_offset != zone {
            tracing::warn!(
                configured = %configured,
                learned = %zone,
                "pipedrive resets the token budget at midnight UTC{zone}, not at midnight of pipedrive.budget_timezone; following the server"
            );
        }
        if let Some((cache, key)) = self.inner.reset_keeper.get() {
            let (cache, key) = (cache.clone(), key.clone());
            let value = zone.local_minus_utc().to_string();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if let Err(error) = cache.put_value(&key, &value).await {
                        tracing::warn!(%error, "cannot keep the learned budget reset; the next process learns it again");
                    }
                });
            }
        }
    }

    /// Refuses a POST/PUT/PATCH once Pipedrive's fair-use count for today (UTC) is down to
    /// [`FAIR_USE_RESERVE`]: the run is deferred until midnight UTC instead of spending what
    /// the company's people and other integrations need.
    pub fn check_write_allowance(&self, method: &str) -> Result<()> {
        if !matches!(method, "POST" | "PUT" | "PATCH") {
            return Ok(());
        }
        let now = Utc::now();
        let known = *lock(&self.inner.writes_left);
        match known {
            Some((left, day)) if day == now.date_naive() && left <= FAIR_USE_RESERVE => {
                Err(PipedriveError::FairUseUsed {
                    left,
                    resets_at: next_midnight(now, chrono_tz::UTC),
                })
            }
            _ => Ok(()),
        }
    }

    /// Waits until a request of this lane may leave, then counts it as sent.
    pub async fn pace(&self, lane: Lane) {
        let now = Instant::now();
        let slot = match lane {
            Lane::General => lock(&self.inner.general).reserve(now),
            Lane::Search => {
                // A search counts against both windows: take the later of the two slots.
                let search_slot = lock(&self.inner.search).reserve(now);
                let general_slot = lock(&self.inner.general).reserve(search_slot);
                general_slot.max(search_slot)
            }
        };
        if slot > now {
            tokio::time::sleep_until(slot).await;
        }
        self.inner.requests_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one answer by its status (or what came instead of one).
    pub fn count_answer(&self, class: String) {
        *lock(&self.inner.answers).entry(class).or_default() += 1;
    }

    /// Follows the server's own headers of a successful answer when they differ from ours: a
    /// different limit is adopted; a full window we did not fill (another integration on the
    /// same token) blocks the lane until the server's reset.
    pub fn observe(&self, lane: Lane, headers: &RateLimitHeaders) {
        if let Some(remaining) = headers.daily_token_remaining {
            let reading = (Utc::now(), remaining);
            let before = lock(&self.inner.last_daily_reading).replace(reading);
            if let Some(reset_at) = before.and_then(|before| reset_between(before, reading)) {
                self.learn_reset(reset_at);
            }
        }
        if let Some(left) = headers.writes_left {
            let mut known = lock(&self.inner.writes_left);
            let first_time_low = left <= FAIR_USE_RESERVE
                && known.is_none_or(|(before, _)| before > FAIR_USE_RESERVE);
            *known = Some((left, Utc::now().date_naive()));
            drop(known);
            if first_time_low {
                self.alert(format!(
                    "pipedrive's fair-use limit of POST/PUT requests is nearly used today ({left} left); writes wait for midnight UTC"
                ));
            }
        }
        let Some(limit) = headers.limit.filter(|limit| *limit > 0) else {
            return;
        };
        let now = Instant::now();
        let mut state = match lane {
            Lane::General => lock(&self.inner.general),
            Lane::Search => lock(&self.inner.search),
        };
        // A search answer may report the general window when that one is tighter: the search
        // lane only ever takes a lower limit from the server.
        let believable = lane == Lane::General || limit < state.configured_limit;
        if believable && limit != state.configured_limit && state.server_limit != Some(limit) {
            tracing::info!(
                configured = state.configured_limit,
                server = limit,
                "pipedrive reports a different burst limit; following the server"
            );
            state.server_limit = Some(limit);
        }
        let Some(remaining) = headers.remaining else {
            return;
        };
        // What the server counted beyond our own requests is other clients on the same token
        // (another integration, another instance): leave them their share of the window.
        let ours = state.sent_within_window(now) as u32;
        let others = limit.saturating_sub(remaining).saturating_sub(ours);
        if others > 0 {
            state.leave_room_for(others, now);
        }
        if remaining == 0 && ours < limit {
            let wait = Duration::from_secs(headers.reset_secs.unwrap_or(2).clamp(1, 2));
            state.block_until(now + wait);
        }
    }

    /// Records a 429 as [`TooManyRequests::read`] classified it: after a burst 429 the whole
    /// lane waits and runs slower for a while; after a daily-budget 429 nothing is sent before
    /// the budget is back.
    pub fn on_too_many_requests(&self, lane: Lane, too_many: &TooManyRequests) {
        self.inner.responses_429.fetch_add(1, Ordering::Relaxed);
        match *too_many {
            TooManyRequests::DailyBudget {
                retry_after_secs,
                server_named_reset,
            } => {
                let until = Utc::now() + chrono::Duration::seconds(retry_after_secs as i64);
                // The spent budget's Retry-After ends at the budget's reset: the server's day.
                // Only when it lands on a quarter hour (a zone's midnight), so a Retry-After
                // that means something else teaches nothing.
                let off_the_quarter = until.num_seconds_from_midnight() % 900;
                let on_a_quarter = !(30..=870).contains(&off_the_quarter);
                if server_named_reset && on_a_quarter {
                    self.learn_reset(until);
                }
                // Nothing more is sent before then: further calls would only collect 429s (and,
                // with an API token, Cloudflare's block).
                lock(&self.inner.ledger).company_exhausted_until = Some(until);
                self.alert(format!(
                    "pipedrive refused a call: the company's daily token budget is exhausted (retry after {retry_after_secs} s)"
                ));
            }
            TooManyRequests::WaitBurst(wait) => {
                let now = Instant::now();
                let mut state = match lane {
                    Lane::General => lock(&self.inner.general),
                    Lane::Search => lock(&self.inner.search),
                };
                state.block_until(now + wait);
                state.rate_factor = (state.rate_factor * 0.75).max(0.25);
                state.last_429 = Some(now);
                tracing::warn!(
                    ?lane,
                    wait_ms = wait.as_millis() as u64,
                    "pipedrive answered 429; the lane waits and slows down"
                );
            }
        }
    }

    /// Cloudflare's 403: nothing is sent any more through this governor; an alert is raised.
    pub fn stop(&self, endpoint: &str, detail: &str) {
        let mut stopped = lock(&self.inner.stopped);
        if stopped.is_none() {
            *stopped = Some(detail.to_string());
            drop(stopped);
            self.alert(format!(
                "pipedrive blocked the connector (HTTP 403 on {endpoint}: {detail}); the connection is stopped"
            ));
        }
    }

    pub fn alert(&self, message: String) {
        tracing::error!("{message}");
        lock(&self.inner.alerts).push(Alert {
            at: Utc::now(),
            message,
        });
    }

    pub fn snapshot(&self) -> GovernorSnapshot {
        let ledger = lock(&self.inner.ledger);
        let general = lock(&self.inner.general);
        GovernorSnapshot {
            company: ledger.company.clone(),
            burst_limit: general.configured_limit,
            server_burst_limit: general.server_limit,
            daily_token_limit: self.inner.settings.daily_token_limit,
            tokens_used_today: ledger.used_today.saturating_sub(ledger.reserve),
            tokens_charged_by_process: self.inner.tokens_charged.load(Ordering::Relaxed),
            requests_sent: self.inner.requests_sent.load(Ordering::Relaxed),
            responses_429: self.inner.responses_429.load(Ordering::Relaxed),
            answers: lock(&self.inner.answers).clone(),
            deferred_until: match (ledger.deferred_until, ledger.company_exhausted_until) {
                (Some(share), Some(company)) => Some(share.max(company)),
                (share, company) => share.or(company),
            },
            stopped: lock(&self.inner.stopped).clone(),
            alerts: lock(&self.inner.alerts).clone(),
        }
    }

    /// Tokens this process charged so far; the difference of two readings is a run's spend.
    pub fn tokens_charged(&self) -> u64 {
        self.inner.tokens_charged.load(Ordering::Relaxed)
    }

    /// Reads today's total from the ledger (every instance), for `check` and the gauge, less
    /// this process's unspent reserve.
    pub async fn tokens_used_today(&self) -> Result<u64> {
        let company = lock(&self.inner.ledger).company.clone();
        match company {
            Some(company) => {
                let used = self
                    .inner
                    .token_ledger
                    .tokens_used(&company, self.today(Utc::now()))
                    .await?;
                let mut ledger = lock(&self.inner.ledger);
                ledger.used_today = used;
                Ok(used.saturating_sub(ledger.reserve))
            }
            None => Ok(0),
        }
    }

    /// The budget day `now` falls in: in the zone the server showed, else the configured one.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        match self.learned_zone() {
            Some(zone) => budget_day(now, zone),
            None => budget_day(now, self.inner.settings.timezone),
        }
    }

    /// How long until the budget resets, from `now`.
    pub fn until_reset(&self, now: DateTime<Utc>) -> Duration {
        (self.next_reset(now) - now).to_std().unwrap_or_default()
    }

    /// The budget's next reset after `now`: midnight of the zone the server showed, else of
    /// the configured one.
    pub fn next_reset(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self.learned_zone() {
            Some(zone) => next_midnight(now, zone),
            None => next_midnight(now, self.inner.settings.timezone),
        }
    }
}

impl std::fmt::Debug for Governor {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Governor")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

/// The budget day of `now` in `zone`.
pub fn budget_day<Z: TimeZone>(now: DateTime<Utc>, zone: Z) -> NaiveDate {
    now.with_timezone(&zone).date_naive()
}

/// The first midnight of `zone` after `now` (the earliest one on a DST change).
pub fn next_midnight<Z: TimeZone>(now: DateTime<Utc>, zone: Z) -> DateTime<Utc> {
    let today = budget_day(now, zone.clone());
    let mut day = today;
    loop {
        day = day.succ_opt().unwrap_or(day);
        let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        if let Some(local) = zone.from_local_datetime(&midnight).earliest() {
            return local.with_timezone(&Utc);
        }
        // Midnight does not exist that day (a DST jump at 00:00): take 01:00.
        if let Some(local) = zone
            .from_local_datetime(&day.and_hms_opt(1, 0, 0).unwrap_or_default())
            .earliest()
        {
            return local.with_timezone(&Utc);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these short locks leaves consistent data: take it anyway.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ledger that counts its writes.
    #[derive(Default)]
    struct CountingLedger {
        inner: crate::storage::MemoryLedger,
        writes: AtomicU64,
    }

    #[async_trait::async_trait]
    impl TokenLedger for CountingLedger {
        async fn charge_tokens(
            &self,
            company: &str,
            day: NaiveDate,
            tokens: u64,
            limit: u64,
        ) -> crate::storage::StorageResult<TokenCharge> {
            self.writes.fetch_add(1, Ordering::Relaxed);
            self.inner.charge_tokens(company, day, tokens, limit).await
        }

        async fn tokens_used(
            &self,
            company: &str,
            day: NaiveDate,
        ) -> crate::storage::StorageResult<u64> {
            self.inner.tokens_used(company, day).await
        }
    }

    #[tokio::test]
    async fn a_busy_process_charges_the_ledger_a_block_at_a_time_and_never_past_the_share() {
        let ledger = Arc::new(CountingLedger::default());
        let governor = Governor::new(
            GovernorSettings {
                burst_limit: 40,
                daily_token_limit: 200_000,
                timezone: chrono_tz::UTC,
            },
            ledger.clone(),
        );
        governor.set_company("7");
        let day = governor.today(Utc::now());
        // The first calls are charged one by one: a small run charges exactly.
        for _ in 0..5 {
            governor.charge(5).await.unwrap();
        }
        assert_eq!(ledger.writes.load(Ordering::Relaxed), 5);
        assert_eq!(ledger.tokens_used("7", day).await.unwrap(), 25);
        for _ in 0..20_000 {
            governor.charge(5).await.unwrap();
        }
        let charged = governor.tokens_charged();
        assert_eq!(charged, 100_025);
        let used = ledger.tokens_used("7", day).await.unwrap();
        assert!(
            used >= charged && used <= charged + 200,
            "the ledger holds {used} for {charged} charged"
        );
        let writes = ledger.writes.load(Ordering::Relaxed);
        assert!(writes < 1_000, "{writes} ledger writes for 20,005 calls");

        // Near the share, blocks give way to exact charges, and the share is never crossed.
        let tight = Arc::new(CountingLedger::default());
        let governor = Governor::new(
            GovernorSettings {
                burst_limit: 40,
                daily_token_limit: 100_000,
                timezone: chrono_tz::UTC,
            },
            tight.clone(),
        );
        governor.set_company("8");
        let mut refused = None;
        for call in 0..30_000 {
            if let Err(error) = governor.charge(5).await {
                refused = Some((call, error));
                break;
            }
        }
        let (calls, error) = refused.expect("the share runs out");
        assert!(
            matches!(error, PipedriveError::BudgetShareUsed { .. }),
            "{error}"
        );
        assert_eq!(
            calls, 20_000,
            "every token of the share is spent, none past it"
        );
        assert_eq!(tight.tokens_used("8", day).await.unwrap(), 100_000);
    }

    #[test]
    fn a_full_window_pushes_the_next_slot_past_two_seconds() {
        let mut lane = LaneState::new(3);
        let start = Instant::now();
        let slots: Vec<_> = (0..7).map(|_| lane.reserve(start)).collect();
        assert_eq!(&slots[..3], &[start, start, start]);
        assert_eq!(slots[3], start + BURST_WINDOW + WINDOW_MARGIN);
        assert_eq!(slots[5], start + BURST_WINDOW + WINDOW_MARGIN);
        assert_eq!(slots[6], start + (BURST_WINDOW + WINDOW_MARGIN) * 2);
        // No 2-second window holds more than the limit.
        for (index, slot) in slots.iter().enumerate() {
            let in_window = slots[index..]
                .iter()
                .filter(|later| later.duration_since(*slot) < BURST_WINDOW)
                .count();
            assert!(in_window <= 3, "window from slot {index} holds {in_window}");
        }
    }

    #[test]
    fn a_429_blocks_the_lane_and_lowers_its_rate() {
        let mut lane = LaneState::new(20);
        let now = Instant::now();
        lane.block_until(now + Duration::from_secs(2));
        lane.rate_factor = 0.75;
        lane.last_429 = Some(now);
        assert_eq!(lane.effective_limit(now), 15);
        assert_eq!(lane.reserve(now), now + Duration::from_secs(2));
        // After a quiet while the full rate is back.
        assert_eq!(lane.effective_limit(now + SLOWDOWN_RECOVERY), 20);
    }

    #[test]
    fn room_is_left_for_other_clients_on_the_token_while_they_are_seen() {
        let mut lane = LaneState::new(20);
        let now = Instant::now();
        lane.leave_room_for(5, now);
        assert_eq!(lane.effective_limit(now), 15);
        lane.leave_room_for(2, now + Duration::from_secs(1));
        assert_eq!(
            lane.effective_limit(now + Duration::from_secs(1)),
            15,
            "the most seen counts"
        );
        let later = now + Duration::from_secs(1) + OTHERS_MEMORY;
        assert_eq!(
            lane.effective_limit(later),
            20,
            "forgotten once they are gone"
        );
    }

    #[test]
    fn the_budget_resets_at_midnight_of_the_configured_zone() {
        let zone: chrono_tz::Tz = "Europe/Tallinn".parse().unwrap();
        // 21:30 UTC on 2026-11-26 is 23:30 in Tallinn (UTC+2): still the 26th there.
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 21, 30, 0).unwrap();
        assert_eq!(
            budget_day(now, zone),
            NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
        );
        assert_eq!(
            next_midnight(now, zone),
            Utc.with_ymd_and_hms(2026, 11, 26, 22, 0, 0).unwrap()
        );
        // 22:30 UTC is already the 27th in Tallinn.
        let later = Utc.with_ymd_and_hms(2026, 11, 26, 22, 30, 0).unwrap();
        assert_eq!(
            budget_day(later, zone),
            NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
        );
    }

    #[test]
    fn a_lane_with_a_huge_limit_holds_only_the_slots_of_its_window() {
        let mut lane = LaneState::new(1_000_000);
        let start = Instant::now();
        for request in 0..10_000u64 {
            let now = start + Duration::from_millis(request);
            assert_eq!(lane.reserve(now), now);
        }
        // One request a millisecond: the window and its margin hold about 2,060 of them.
        assert!(lane.slots.len() <= 2_061, "{} slots held", lane.slots.len());
        assert!(lane.slots.len() >= 2_000, "{} slots held", lane.slots.len());
        let last = start + Duration::from_millis(9_999);
        assert_eq!(lane.sent_within_window(last), 2_030);
    }

    proptest::proptest! {
        #[test]
        fn slots_never_put_more_than_the_limit_into_a_window(limit in 1u32..50, gaps in proptest::collection::vec(0u64..300, 1..200)) {
            let mut lane = LaneState::new(limit);
            let start = Instant::now();
            let mut now = start;
            let mut slots = Vec::new();
            for gap in gaps {
                now += Duration::from_millis(gap);
                let slot = lane.reserve(now);
                proptest::prop_assert!(slot >= now);
                slots.push(slot);
            }
            for (index, slot) in slots.iter().enumerate() {
                let in_window = slots[index..]
                    .iter()
                    .filter(|later| later.duration_since(*slot) < BURST_WINDOW)
                    .count();
                proptest::prop_assert!(in_window <= limit as usize);
            }
        }
    }

    #[test]
    fn a_429_is_the_daily_budget_when_no_tokens_are_left_or_the_wait_is_long() {
        let reset = Duration::from_secs(5000);
        let burst = RateLimitHeaders {
            retry_after_secs: Some(3),
            ..RateLimitHeaders::default()
        };
        assert_eq!(
            TooManyRequests::read(&burst, reset),
            TooManyRequests::WaitBurst(Duration::from_secs(3))
        );
        assert_eq!(
            TooManyRequests::read(&RateLimitHeaders::default(), reset),
            TooManyRequests::WaitBurst(DEFAULT_429_WAIT)
        );
        let long = RateLimitHeaders {
            retry_after_secs: Some(301),
            ..RateLimitHeaders::default()
        };
        assert_eq!(
            TooManyRequests::read(&long, reset),
            TooManyRequests::DailyBudget {
                retry_after_secs: 301,
                server_named_reset: true,
            },
            "no daily headers: still the budget"
        );
        let fair_use = RateLimitHeaders {
            retry_after_secs: Some(40_000),
            writes_left: Some(0),
            daily_token_remaining: Some(900),
            ..RateLimitHeaders::default()
        };
        assert_eq!(
            TooManyRequests::read(&fair_use, reset),
            TooManyRequests::DailyBudget {
                retry_after_secs: 40_000,
                server_named_reset: false,
            },
            "the fair-use limit: its reset is not the budget's"
        );
        let spent = RateLimitHeaders {
            daily_token_remaining: Some(0),
            ..RateLimitHeaders::default()
        };
        assert_eq!(
            TooManyRequests::read(&spent, reset),
            TooManyRequests::DailyBudget {
                retry_after_secs: 5000,
                server_named_reset: false,
            },
            "without a time, until the budget resets as we know it"
        );
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn the_zone_of_a_reset_is_the_one_whose_midnight_it_is() {
        let zone = |text| zone_of_reset(at(text)).local_minus_utc() / 60;
        assert_eq!(zone("2026-12-02T22:00:03Z"), 120, "Tallinn in winter");
        assert_eq!(zone("2026-07-01T20:59:40Z"), 180, "Tallinn in summer");
        assert_eq!(zone("2026-12-03T00:00:00Z"), 0);
        assert_eq!(zone("2026-12-03T05:00:00Z"), -300, "New York");
        assert_eq!(zone("2026-12-02T18:30:00Z"), 330, "India");
        assert_eq!(zone("2026-12-02T10:00:00Z"), 840, "Kiritimati, +14:00");
    }

    #[test]
    fn a_reset_is_read_between_two_readings_a_quarter_hour_apart_at_most() {
        let reading = |text, left| (at(text), left);
        assert_eq!(
            reset_between(
                reading("2026-12-02T21:55:00Z", 120),
                reading("2026-12-02T22:04:00Z", 59_990)
            ),
            Some(at("2026-12-02T22:00:00Z"))
        );
        assert_eq!(
            reset_between(
                reading("2026-12-02T21:55:00Z", 120),
                reading("2026-12-02T21:58:00Z", 110)
            ),
            None,
            "spent, not reset"
        );
        assert_eq!(
            reset_between(
                reading("2026-12-02T21:40:00Z", 120),
                reading("2026-12-02T22:04:00Z", 59_990)
            ),
            None,
            "too far apart to tell which quarter"
        );
    }

    #[tokio::test]
    async fn the_budget_day_follows_the_server_once_it_showed_its_reset() {
        let governor = Governor::new(
            GovernorSettings {
                burst_limit: 40,
                daily_token_limit: 1_000,
                timezone: chrono_tz::UTC,
            },
            crate::storage::ClientStorage::in_memory().ledger,
        );
        let cache = Arc::new(crate::storage::MemoryCache::default());
        governor.keep_learned_reset_in(cache.clone(), "reset".into(), None);
        let now = at("2026-12-02T23:00:00Z");
        assert_eq!(governor.next_reset(now), at("2026-12-03T00:00:00Z"));
        // Retry-After as the simulator sends it: to the next midnight in Tallinn.
        let mut until_tallinn_midnight = (at("2026-12-03T22:00:00Z") - Utc::now())
            .num_seconds()
            .rem_euclid(86_400);
        if until_tallinn_midnight < 3600 {
            until_tallinn_midnight += 86_400;
        }
        governor.on_too_many_requests(
            Lane::General,
            &TooManyRequests::DailyBudget {
                retry_after_secs: until_tallinn_midnight as u64,
                server_named_reset: true,
            },
        );
        assert_eq!(governor.learned_zone(), FixedOffset::east_opt(7200));
        assert_eq!(governor.next_reset(now), at("2026-12-03T22:00:00Z"));
        assert_eq!(
            governor.today(now),
            NaiveDate::from_ymd_opt(2026, 12, 3).unwrap(),
            "already the 3rd in Tallinn"
        );
        tokio::task::yield_now().await;
        for _ in 0..50 {
            if cache.get_value("reset").await.unwrap().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            cache.get_value("reset").await.unwrap().as_deref(),
            Some("7200"),
            "kept for the next process"
        );
    }

    #[test]
    fn writes_stop_for_the_day_when_the_fair_use_count_reaches_the_reserve() {
        let governor = Governor::new(
            GovernorSettings {
                burst_limit: 40,
                daily_token_limit: 1_000,
                timezone: chrono_tz::UTC,
            },
            crate::storage::ClientStorage::in_memory().ledger,
        );
        let left = |writes_left| RateLimitHeaders {
            writes_left: Some(writes_left),
            ..RateLimitHeaders::default()
        };
        governor.observe(Lane::General, &left(FAIR_USE_RESERVE + 1));
        assert!(governor.check_write_allowance("POST").is_ok());
        assert!(governor.snapshot().alerts.is_empty());
        governor.observe(Lane::General, &left(FAIR_USE_RESERVE));
        let refused = governor.check_write_allowance("PATCH").unwrap_err();
        assert!(refused.is_deferred(), "{refused}");
        assert!(governor.check_write_allowance("GET").is_ok(), "reads go on");
        assert!(governor.check_write_allowance("DELETE").is_ok());
        governor.observe(Lane::General, &left(FAIR_USE_RESERVE - 1));
        assert_eq!(
            governor.snapshot().alerts.len(),
            1,
            "one alert, not one per answer"
        );
    }

    #[test]
    fn rate_limit_headers_are_read_when_present_and_ignored_when_garbled() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit", "40".parse().unwrap());
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        headers.insert("x-ratelimit-reset", "2".parse().unwrap());
        headers.insert("retry-after", "soon".parse().unwrap());
        let parsed = RateLimitHeaders::parse(&headers);
        assert_eq!(parsed.limit, Some(40));
        assert_eq!(parsed.remaining, Some(0));
        assert_eq!(parsed.reset_secs, Some(2));
        assert_eq!(parsed.retry_after_secs, None);
        assert_eq!(parsed.writes_left, None);
        headers.insert("x-daily-requests-left", "9999".parse().unwrap());
        assert_eq!(RateLimitHeaders::parse(&headers).writes_left, Some(9999));
    }
}
