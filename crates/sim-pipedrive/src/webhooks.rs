//! Webhook subscriptions (`/v1/webhooks`) and delivery of v2 payloads (research §5): HTTP
//! Basic auth, any 2XX is success, 10 s timeout, three retries after 3, 30 and 150 s (all
//! scaled by `--time-scale`), and the ban after 10 failed first attempts (30 minutes).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::clock::{format_time, now_secs};
use crate::fields::EntityKind;

const RETRY_DELAYS_SECS: [f64; 3] = [3.0, 30.0, 150.0];
const TIMEOUT_SECS: f64 = 10.0;
const BAN_AFTER_FIRST_ATTEMPT_FAILURES: u32 = 10;
const BAN_SECS: f64 = 30.0 * 60.0;
pub const MAX_WEBHOOKS_PER_USER: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSource {
    /// Through the API: `change_source: "api"`.
    Api,
    /// A salesperson in the UI (`/_sim/ui-edit`): `change_source: "app"`.
    App,
    /// Seeded by a test through [`crate::SimHandle`]: no webhook.
    Silent,
}

#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: u64,
    pub name: String,
    pub subscription_url: String,
    pub event_action: String,
    pub event_object: String,
    pub user_id: u64,
    pub http_auth_user: Option<String>,
    pub http_auth_password: Option<String>,
    pub version: String,
    pub add_time: i64,
    pub last_delivery_time: Option<i64>,
    pub last_http_status: Option<u16>,
    first_attempt_failures: u32,
    banned_until: Option<Instant>,
}

impl Webhook {
    pub fn to_json(&self, company_id: u64) -> Value {
        json!({
            "id": self.id,
            "company_id": company_id,
            "owner_id": self.user_id,
            "user_id": self.user_id,
            "event_action": self.event_action,
            "event_object": self.event_object,
            "subscription_url": self.subscription_url,
            "version": self.version,
            "is_active": 1,
            "add_time": format!("{}.000Z", format_time(self.add_time).trim_end_matches('Z')),
            "remove_time": null,
            "type": "general",
            "http_auth_user": self.http_auth_user,
            "http_auth_password": self.http_auth_password,
            "remove_reason": null,
            "last_delivery_time": self.last_delivery_time.map(|time| format!("{}.000Z", format_time(time).trim_end_matches('Z'))),
            "last_http_status": self.last_http_status,
            "admin_id": self.user_id,
            "name": self.name,
        })
    }
}

/// One change to deliver.
#[derive(Debug, Clone)]
pub struct Event {
    pub entity: EntityKind,
    pub action: &'static str,
    pub entity_id: u64,
    pub data: Option<Value>,
    pub previous: Option<Value>,
    pub source: ChangeSource,
    pub merged_to_id: Option<u64>,
    pub merged_from_id: Option<u64>,
    pub correlation_id: uuid::Uuid,
    pub timestamp: String,
}

impl Event {
    pub fn new(
        entity: EntityKind,
        action: &'static str,
        entity_id: u64,
        data: Option<Value>,
        previous: Option<Value>,
        source: ChangeSource,
    ) -> Self {
        Event {
            entity,
            action,
            entity_id,
            data,
            previous,
            source,
            merged_to_id: None,
            merged_from_id: None,
            correlation_id: uuid::Uuid::new_v4(),
            timestamp: chrono::Utc::now()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string(),
        }
    }
}

struct HubState {
    webhooks: Vec<Webhook>,
    next_id: u64,
}

pub struct WebhookHub {
    state: Mutex<HubState>,
    client: reqwest::Client,
    time_scale: f64,
    company_id: u64,
    host: String,
    shutdown: tokio::sync::watch::Sender<bool>,
    attempts: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl WebhookHub {
    pub fn new(time_scale: f64, company_id: u64, host: String) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap_or_default();
        let (shutdown, _) = tokio::sync::watch::channel(false);
        WebhookHub {
            state: Mutex::new(HubState {
                webhooks: Vec::new(),
                next_id: 1,
            }),
            client,
            time_scale,
            company_id,
            host,
            shutdown,
            attempts: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether any subscription wants this kind of event (so the caller builds payloads only then).
    pub fn wants(&self, entity: EntityKind, action: &str) -> bool {
        let state = self.state();
        state
            .webhooks
            .iter()
            .any(|hook| matches(hook, entity, action))
    }

    pub fn count(&self) -> usize {
        self.state().webhooks.len()
    }

    pub fn delivery_counts(&self) -> (u64, u64, u64) {
        (
            self.attempts.load(Ordering::Relaxed),
            self.delivered.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    pub fn list(&self) -> Vec<Value> {
        self.state()
            .webhooks
            .iter()
            .map(|hook| hook.to_json(self.company_id))
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &self,
        name: String,
        subscription_url: String,
        event_action: String,
        event_object: String,
        user_id: u64,
        http_auth_user: Option<String>,
        http_auth_password: Option<String>,
        version: String,
    ) -> Result<Value, String> {
        let mut state = self.state();
        if state
            .webhooks
            .iter()
            .filter(|hook| hook.user_id == user_id)
            .count()
            >= MAX_WEBHOOKS_PER_USER
        {
            return Err("webhooks limit is reached for user or app".to_string());
        }
        let id = state.next_id;
        state.next_id += 1;
        let hook = Webhook {
            id,
            name,
            subscription_url,
            event_action,
            event_object,
            user_id,
            http_auth_user,
            http_auth_password,
            version,
            add_time: now_secs(),
            last_delivery_time: None,
            last_http_status: None,
            first_attempt_failures: 0,
            banned_until: None,
        };
        let json = hook.to_json(self.company_id);
        state.webhooks.push(hook);
        Ok(json)
    }

    pub fn remove(&self, id: u64) -> bool {
        let mut state = self.state();
        let before = state.webhooks.len();
        state.webhooks.retain(|hook| hook.id != id);
        state.webhooks.len() != before
    }

    pub fn clear(&self) {
        self.state().webhooks.clear();
        self.attempts.store(0, Ordering::Relaxed);
        self.delivered.store(0, Ordering::Relaxed);
        self.failed.store(0, Ordering::Relaxed);
    }

    /// A receiver that changes when the simulator shuts down.
    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Stops pending retries (the simulator is shutting down).
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    fn scaled(&self, seconds: f64) -> Duration {
        Duration::from_secs_f64(seconds * self.time_scale)
    }

    /// Starts delivery of each event to every matching subscription.
    pub fn dispatch(self: &std::sync::Arc<Self>, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        for event in events {
            if event.source == ChangeSource::Silent {
                continue;
            }
            let targets: Vec<Webhook> = {
                let state = self.state();
                state
                    .webhooks
                    .iter()
                    .filter(|hook| matches(hook, event.entity, event.action))
                    .cloned()
                    .collect()
            };
            for hook in targets {
                let hub = self.clone();
                let event = event.clone();
                runtime.spawn(async move { hub.deliver(hook, event).await });
            }
        }
    }

    /// One delivery's body; `delivery_id` is the same for every attempt of it, so a receiver
    /// recognises a retry of what it already has (Pipedrive retries after 3, 30 and 150 s).
    fn payload(&self, hook: &Webhook, event: &Event, delivery_id: &str, attempt: u32) -> Value {
        let mut meta = json!({
            "action": event.action,
            "entity": event.entity.name(),
            "company_id": self.company_id.to_string(),
            "correlation_id": event.correlation_id.to_string(),
            "entity_id": event.entity_id.to_string(),
            "id": delivery_id,
            "is_bulk_edit": false,
            "timestamp": event.timestamp,
            "type": "general",
            "user_id": hook.user_id.to_string(),
            "version": "2.0",
            "webhook_id": hook.id.to_string(),
            "webhook_owner_id": hook.user_id.to_string(),
            "change_source": if event.source == ChangeSource::App { "app" } else { "api" },
            "attempt": attempt,
            "host": format!("{}", self.host),
            "permitted_user_ids": [hook.user_id.to_string()],
        });
        if let Some(merged_to) = event.merged_to_id {
            meta["merged_to_id"] = Value::String(merged_to.to_string());
        }
        if let Some(merged_from) = event.merged_from_id {
            meta["merged_from_id"] = Value::String(merged_from.to_string());
        }
        json!({"meta": meta, "data": event.data, "previous": event.previous})
    }

    async fn deliver(self: std::sync::Arc<Self>, hook: Webhook, event: Event) {
        let mut shutdown = self.shutdown.subscribe();
        {
            let state = self.state();
            let banned = state
                .webhooks
                .iter()
                .find(|stored| stored.id == hook.id)
                .and_then(|stored| stored.banned_until)
                .is_some_and(|until| Instant::now() < until);
            if banned {
                // "If a webhook is banned, the webhook's event message is lost."
                return;
            }
        }
        let delivery_id = uuid::Uuid::new_v4().to_string();
        for attempt in 1..=4u32 {
            if attempt > 1 {
                let delay = self.scaled(RETRY_DELAYS_SECS[attempt as usize - 2]);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => return,
                }
            }
            if *shutdown.borrow() {
                return;
            }
            let body = self.payload(&hook, &event, &delivery_id, attempt);
            let mut request = self
                .client
                .post(&hook.subscription_url)
                .timeout(self.scaled(TIMEOUT_SECS))
                .json(&body);
            if let Some(user) = &hook.http_auth_user {
                request = request.basic_auth(user, hook.http_auth_password.as_deref());
            }
            self.attempts.fetch_add(1, Ordering::Relaxed);
            let status = match request.send().await {
                Ok(response) => Some(response.status().as_u16()),
                Err(_) => None,
            };
            let success = status.is_some_and(|status| (200..300).contains(&status));
            self.record_attempt(hook.id, status, attempt, success);
            if success {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    fn record_attempt(&self, id: u64, status: Option<u16>, attempt: u32, success: bool) {
        let ban_for = self.scaled(BAN_SECS);
        let mut state = self.state();
        let Some(hook) = state.webhooks.iter_mut().find(|hook| hook.id == id) else {
            return;
        };
        hook.last_delivery_time = Some(now_secs());
        hook.last_http_status = status;
        if attempt == 1 && !success {
            hook.first_attempt_failures += 1;
            if hook.first_attempt_failures >= BAN_AFTER_FIRST_ATTEMPT_FAILURES {
                hook.banned_until = Some(Instant::now() + ban_for);
                hook.first_attempt_failures = 0;
            }
        }
    }
}

fn matches(hook: &Webhook, entity: EntityKind, action: &str) -> bool {
    (hook.event_object == "*" || hook.event_object == entity.name())
        && (hook.event_action == "*" || hook.event_action == action)
}
