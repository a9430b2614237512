//! The simulator's state: one store of organizations, persons and fields behind a single
//! `RwLock` (short critical sections, no await inside), the rate limiter, faults, stats, OAuth
//! tokens and webhooks beside it; and the write operations that API handlers and `/_sim/ui-edit`
//! share, so both fire the same webhooks.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use mlc_sim_support::{FaultInjector, FaultSettings};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{json, Value};

use crate::clock::now_secs;
use crate::fields::{EntityKind, FieldSet};
use crate::limits::{DailyHeaders, LimitQuirks, Limits, Plan};
use crate::model::{
    changed_fields, organization_json, organization_search_text, organization_webhook_json,
    person_json, person_search_text, person_webhook_json, Organization, Person, Render,
    SearchVisibility,
};
use crate::oauth::OAuthState;
use crate::options::SimPipedriveOptions;
use crate::validate::{organization_input, person_input, Invalid, References};
use crate::webhooks::{ChangeSource, Event, WebhookHub};

/// The records and fields of the simulated company. Handlers read it through the methods
/// below; writes go through [`Shared`]'s operations, which keep the counts, the search index
/// and the webhooks in step.
pub struct Store {
    organizations: BTreeMap<u64, Organization>,
    persons: BTreeMap<u64, Person>,
    organization_fields: FieldSet,
    person_fields: FieldSet,
    next_organization_id: u64,
    next_person_id: u64,
    next_field_id: u64,
    next_option_id: u64,
    rng: ChaCha8Rng,
    live_organizations: usize,
    live_persons: usize,
}

/// One entity's field set with what new fields and options are numbered from: borrowed
/// together, so a handler can add a field without reaching into the store.
pub struct FieldNumbering<'a> {
    pub fields: &'a mut FieldSet,
    pub next_field_id: &'a mut u64,
    pub next_option_id: &'a mut u64,
    pub rng: &'a mut ChaCha8Rng,
}

impl Store {
    fn new(seed: u64) -> Self {
        let now = now_secs();
        let mut next_field_id = 4001;
        let mut next_option_id = 1;
        let organization_fields = FieldSet::standard(
            EntityKind::Organization,
            now,
            &mut next_field_id,
            &mut next_option_id,
        );
        let mut person_field_id = 9001;
        let person_fields = FieldSet::standard(
            EntityKind::Person,
            now,
            &mut person_field_id,
            &mut next_option_id,
        );
        Store {
            organizations: BTreeMap::new(),
            persons: BTreeMap::new(),
            organization_fields,
            person_fields,
            next_organization_id: 1,
            next_person_id: 1,
            next_field_id: 12_001,
            next_option_id,
            rng: ChaCha8Rng::seed_from_u64(seed),
            live_organizations: 0,
            live_persons: 0,
        }
    }

    pub fn fields(&self, kind: EntityKind) -> &FieldSet {
        match kind {
            EntityKind::Organization => &self.organization_fields,
            EntityKind::Person => &self.person_fields,
        }
    }

    pub fn fields_mut(&mut self, kind: EntityKind) -> &mut FieldSet {
        match kind {
            EntityKind::Organization => &mut self.organization_fields,
            EntityKind::Person => &mut self.person_fields,
        }
    }

    /// The field set of `kind` with its numbering, to add fields or options.
    pub fn field_numbering(&mut self, kind: EntityKind) -> FieldNumbering<'_> {
        let fields = match kind {
            EntityKind::Organization => &mut self.organization_fields,
            EntityKind::Person => &mut self.person_fields,
        };
        FieldNumbering {
            fields,
            next_field_id: &mut self.next_field_id,
            next_option_id: &mut self.next_option_id,
            rng: &mut self.rng,
        }
    }

    /// The organization with `id`, deleted or not.
    pub fn organization(&self, id: u64) -> Option<&Organization> {
        self.organizations.get(&id)
    }

    /// The person with `id`, deleted or not.
    pub fn person(&self, id: u64) -> Option<&Person> {
        self.persons.get(&id)
    }

    /// Organizations not deleted, with ids in `range`, in ascending id order.
    pub fn live_organizations_in(
        &self,
        range: impl std::ops::RangeBounds<u64>,
    ) -> impl DoubleEndedIterator<Item = &Organization> {
        self.organizations
            .range(range)
            .map(|(_, org)| org)
            .filter(|org| !org.is_deleted)
    }

    /// Persons not deleted, with ids in `range`, in ascending id order.
    pub fn live_persons_in(
        &self,
        range: impl std::ops::RangeBounds<u64>,
    ) -> impl DoubleEndedIterator<Item = &Person> {
        self.persons
            .range(range)
            .map(|(_, person)| person)
            .filter(|person| !person.is_deleted)
    }

    /// How many persons not deleted belong to the organization.
    pub fn people_count(&self, org_id: u64) -> u64 {
        self.persons
            .values()
            .filter(|person| !person.is_deleted && person.org_id == Some(org_id))
            .count() as u64
    }

    pub fn live_organization(&self, id: u64) -> Option<&Organization> {
        self.organizations.get(&id).filter(|org| !org.is_deleted)
    }

    pub fn live_person(&self, id: u64) -> Option<&Person> {
        self.persons.get(&id).filter(|person| !person.is_deleted)
    }
}

#[derive(Default)]
pub struct StatsState {
    pub requests: HashMap<(String, String, u16), u64>,
}

pub struct Shared {
    pub api_token: String,
    pub oauth_enabled: bool,
    pub base_url: String,
    pub time_scale: f64,
    pub search_lag: Duration,
    pub seats: u32,
    pub company_id: u64,
    pub started: Instant,
    store: RwLock<Store>,
    limits: Mutex<Limits>,
    faults: Mutex<FaultInjector>,
    stats: Mutex<StatsState>,
    oauth: Mutex<OAuthState>,
    pub webhooks: Arc<WebhookHub>,
    pub options: SimPipedriveOptions,
}

/// A failed write: the message and which answer it gets.
#[derive(Debug)]
pub enum OpError {
    Invalid(String),
    NotFound(&'static str),
}

impl From<Invalid> for OpError {
    fn from(invalid: Invalid) -> Self {
        OpError::Invalid(invalid.0)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// An address as Pipedrive keeps it: geocoded unless `--address-enrichment false`.
    fn as_kept(&self, address: crate::model::Address) -> crate::model::Address {
        if self.options.address_enrichment {
            crate::enrich::geocoded(address)
        } else {
            address
        }
    }

    pub fn new(options: &SimPipedriveOptions, addr: SocketAddr) -> anyhow::Result<Self> {
        let plan = Plan::parse(&options.plan)?;
        let oauth_enabled = match options.auth.as_str() {
            "api-token" => false,
            "oauth" => true,
            other => anyhow::bail!("unknown --auth {other:?}: expected api-token or oauth"),
        };
        let timezone: chrono_tz::Tz = options.timezone.parse().map_err(|_| {
            anyhow::anyhow!(
                "unknown --timezone {:?}: expected an IANA name such as Europe/Tallinn",
                options.timezone
            )
        })?;
        if options.seats == 0 {
            anyhow::bail!("--seats must be at least 1");
        }
        if options.time_scale.is_nan() || options.time_scale <= 0.0 {
            anyhow::bail!("--time-scale must be greater than 0");
        }
        if !matches!(options.oauth_refresh.as_str(), "rotate" | "keep") {
            anyhow::bail!(
                "unknown --oauth-refresh {:?}: expected rotate or keep",
                options.oauth_refresh
            );
        }
        if !matches!(options.merge_text_fields.as_str(), "keep" | "join") {
            anyhow::bail!(
                "unknown --merge-text-fields {:?}: expected keep or join",
                options.merge_text_fields
            );
        }
        let time_scale = options.time_scale;
        let block_for = Duration::from_secs_f64(options.block_secs as f64 * time_scale);
        let limits = Limits::new(
            plan,
            options.seats,
            options.budget_tokens,
            timezone,
            options.block_after_429s,
            block_for,
            LimitQuirks {
                daily_headers: DailyHeaders::parse(&options.daily_token_headers)?,
                idle_after: Duration::from_secs_f64(600.0 * time_scale),
                budget_retry_after: options.budget_retry_after,
                writes_per_day: options.post_put_per_day,
                burst_limit: options.burst_limit,
            },
        );
        let base_url = format!("http://{addr}");
        let company_id = 7_000_000 + options.seed % 1_000_000;
        let webhooks = Arc::new(WebhookHub::new(time_scale, company_id, addr.to_string()));
        Ok(Shared {
            api_token: options.api_token.clone(),
            oauth_enabled,
            base_url,
            time_scale,
            search_lag: Duration::from_millis(options.search_lag_ms),
            seats: options.seats,
            company_id,
            started: Instant::now(),
            store: RwLock::new(Store::new(options.seed)),
            limits: Mutex::new(limits),
            faults: Mutex::new(FaultInjector::new(options.seed ^ 0x5eed)),
            stats: Mutex::new(StatsState::default()),
            oauth: Mutex::new(OAuthState::new(options.seed)),
            webhooks,
            options: options.clone(),
        })
    }

    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.store
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, Store> {
        self.store
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn limits(&self) -> std::sync::MutexGuard<'_, Limits> {
        lock(&self.limits)
    }

    pub fn faults(&self) -> std::sync::MutexGuard<'_, FaultInjector> {
        lock(&self.faults)
    }

    pub fn oauth(&self) -> std::sync::MutexGuard<'_, OAuthState> {
        lock(&self.oauth)
    }

    pub fn record_request(&self, method: &str, route: &str, status: u16) {
        let mut stats = lock(&self.stats);
        if let Some(count) =
            stats
                .requests
                .get_mut(&(method.to_string(), route.to_string(), status))
        {
            *count += 1;
            return;
        }
        stats
            .requests
            .insert((method.to_string(), route.to_string(), status), 1);
    }

    /// Milliseconds since start: the clock of the search index.
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn user_ids(&self) -> std::ops::RangeInclusive<u64> {
        1..=u64::from(self.seats)
    }

    /// A record changed now becomes searchable after the lag; until then search shows `stale`.
    fn index_later(&self, stale: Option<Box<crate::model::SearchText>>) -> SearchVisibility {
        SearchVisibility {
            indexed_at_ms: self.now_ms() + self.search_lag.as_millis() as u64,
            stale_text: if self.search_lag.is_zero() {
                None
            } else {
                stale
            },
        }
    }

    // ----- organizations -----

    pub fn create_organization(
        &self,
        body: &Value,
        source: ChangeSource,
    ) -> Result<Value, OpError> {
        let wants = self.webhooks.wants(EntityKind::Organization, "create");
        let (rest, event) = {
            let mut store = self.write();
            let store = &mut *store;
            let input = {
                let persons = &store.persons;
                let organizations = &store.organizations;
                let refs = References {
                    fields: &store.organization_fields,
                    user_ids: self.user_ids(),
                    organization_exists: &|id| {
                        organizations.get(&id).is_some_and(|org| !org.is_deleted)
                    },
                    person_exists: &|id| persons.get(&id).is_some_and(|person| !person.is_deleted),
                };
                organization_input(body, true, &refs)?
            };
            let now = now_secs();
            let id = store.next_organization_id;
            store.next_organization_id += 1;
            let mut custom_fields = input.custom_fields;
            custom_fields.retain(|(_, value)| !value.is_null());
            let org = Organization {
                id,
                name: input.name.unwrap_or_default(),
                owner_id: input.owner_id.unwrap_or(1),
                add_time: input.add_time.unwrap_or(now),
                update_time: input.update_time.unwrap_or(now),
                is_deleted: false,
                visible_to: input.visible_to.unwrap_or(3),
                label_ids: input.label_ids.unwrap_or_default(),
                address: input
                    .address
                    .flatten()
                    .map(|address| Box::new(self.as_kept(address))),
                custom_fields,
                search: self.index_later(None),
            };
            let rest = organization_json(&org, &store.organization_fields, Render::default());
            let event = wants.then(|| {
                Event::new(
                    EntityKind::Organization,
                    "create",
                    id,
                    Some(organization_webhook_json(&org, &store.organization_fields)),
                    None,
                    source,
                )
            });
            store.organizations.insert(id, org);
            store.live_organizations += 1;
            (rest, event)
        };
        self.webhooks.dispatch(event.into_iter().collect());
        Ok(rest)
    }

    pub fn update_organization(
        &self,
        id: u64,
        body: &Value,
        source: ChangeSource,
    ) -> Result<Value, OpError> {
        let wants = self.webhooks.wants(EntityKind::Organization, "change");
        let (rest, event) = {
            let mut store = self.write();
            let store = &mut *store;
            if store.live_organization(id).is_none() {
                return Err(OpError::NotFound("Organization"));
            }
            let input = {
                let persons = &store.persons;
                let organizations = &store.organizations;
                let refs = References {
                    fields: &store.organization_fields,
                    user_ids: self.user_ids(),
                    organization_exists: &|id| {
                        organizations.get(&id).is_some_and(|org| !org.is_deleted)
                    },
                    person_exists: &|id| persons.get(&id).is_some_and(|person| !person.is_deleted),
                };
                organization_input(body, false, &refs)?
            };
            let fields = &store.organization_fields;
            let org = store.organizations.get_mut(&id).expect("checked live");
            let before = wants.then(|| organization_webhook_json(org, fields));
            let stale = Some(Box::new(organization_search_text(org, fields)));
            if let Some(name) = input.name {
                org.name = name;
            }
            if let Some(owner_id) = input.owner_id {
                org.owner_id = owner_id;
            }
            if let Some(visible_to) = input.visible_to {
                org.visible_to = visible_to;
            }
            if let Some(label_ids) = input.label_ids {
                org.label_ids = label_ids;
            }
            if let Some(address) = input.address {
                // Parts not sent become null (MIG): the whole address is replaced.
                org.address = address.map(|address| Box::new(self.as_kept(address)));
            }
            apply_custom(&mut org.custom_fields, input.custom_fields);
            org.update_time = input.update_time.unwrap_or_else(now_secs);
            org.search = self.index_later(stale);
            let rest = organization_json(org, fields, Render::default());
            let event = before.map(|before| {
                let after = organization_webhook_json(org, fields);
                let previous = changed_fields(&before, &after);
                Event::new(
                    EntityKind::Organization,
                    "change",
                    id,
                    Some(after),
                    Some(previous),
                    source,
                )
            });
            (rest, event)
        };
        self.webhooks.dispatch(event.into_iter().collect());
        Ok(rest)
    }

    pub fn delete_organization(&self, id: u64, source: ChangeSource) -> Result<(), OpError> {
        self.delete_organization_inner(id, source, None)
    }

    fn delete_organization_inner(
        &self,
        id: u64,
        source: ChangeSource,
        merged_to: Option<u64>,
    ) -> Result<(), OpError> {
        let wants = self.webhooks.wants(EntityKind::Organization, "delete");
        let event = {
            let mut store = self.write();
            let store = &mut *store;
            let fields = &store.organization_fields;
            let Some(org) = store
                .organizations
                .get_mut(&id)
                .filter(|org| !org.is_deleted)
            else {
                return Err(OpError::NotFound("Organization"));
            };
            let last = wants.then(|| organization_webhook_json(org, fields));
            org.is_deleted = true;
            // After a delete, update_time is the delete time (MIG).
            org.update_time = now_secs();
            store.live_organizations -= 1;
            last.map(|last| {
                let mut event = Event::new(
                    EntityKind::Organization,
                    "delete",
                    id,
                    None,
                    Some(last),
                    source,
                );
                event.merged_to_id = merged_to;
                event
            })
        };
        self.webhooks.dispatch(event.into_iter().collect());
        Ok(())
    }

    /// Merges organization `id` into `merge_with_id`: `id` is deleted, its persons move to the
    /// survivor, and the survivor keeps its own values, taking the merged one's where it has
    /// none. Returns the survivor's id.
    pub fn merge_organizations(
        &self,
        id: u64,
        merge_with_id: u64,
        source: ChangeSource,
    ) -> Result<u64, OpError> {
        if id == merge_with_id {
            return Err(OpError::Invalid(
                "Cannot merge an organization with itself".to_string(),
            ));
        }
        let wants_change = self.webhooks.wants(EntityKind::Organization, "change");
        let wants_person_change = self.webhooks.wants(EntityKind::Person, "change");
        let mut events = Vec::new();
        {
            let mut store = self.write();
            let store = &mut *store;
            let Some(merged) = store.live_organization(id).cloned() else {
                return Err(OpError::NotFound("Organization"));
            };
            if store.live_organization(merge_with_id).is_none() {
                return Err(OpError::NotFound("Organization"));
            }
            let fields = &store.organization_fields;
            let survivor = store
                .organizations
                .get_mut(&merge_with_id)
                .expect("checked live");
            let before = wants_change.then(|| organization_webhook_json(survivor, fields));
            let stale = Some(Box::new(organization_search_text(survivor, fields)));
            if survivor.address.is_none() {
                survivor.address = merged.address.clone();
            }
            for label in &merged.label_ids {
                if !survivor.label_ids.contains(label) {
                    survivor.label_ids.push(*label);
                }
            }
            let join_text = self.options.merge_text_fields == "join";
            for (index, value) in &merged.custom_fields {
                let is_text = fields
                    .get(*index)
                    .is_some_and(|field| matches!(field.field_type.as_str(), "varchar" | "text"));
                match survivor
                    .custom_fields
                    .iter_mut()
                    .find(|(existing, _)| existing == index)
                {
                    None => survivor.custom_fields.push((*index, value.clone())),
                    Some((_, kept)) if join_text && is_text => {
                        if let (Some(first), Some(second)) = (kept.as_str(), value.as_str()) {
                            if !second.trim().is_empty() && first.trim() != second.trim() {
                                *kept = Value::String(format!("{first}, {second}"));
                            }
                        }
                    }
                    Some(_) => {}
                }
            }
            survivor.update_time = now_secs();
            survivor.search = self.index_later(stale);
            if let Some(before) = before {
                let after = organization_webhook_json(survivor, fields);
                let previous = changed_fields(&before, &after);
                let mut event = Event::new(
                    EntityKind::Organization,
                    "change",
                    merge_with_id,
                    Some(after),
                    Some(previous),
                    source,
                );
                event.merged_from_id = Some(id);
                events.push(event);
            }
            let person_fields = &store.person_fields;
            for person in store
                .persons
                .values_mut()
                .filter(|person| !person.is_deleted && person.org_id == Some(id))
            {
                let before =
                    wants_person_change.then(|| person_webhook_json(person, person_fields));
                person.org_id = Some(merge_with_id);
                person.update_time = now_secs();
                if let Some(before) = before {
                    let after = person_webhook_json(person, person_fields);
                    let previous = changed_fields(&before, &after);
                    events.push(Event::new(
                        EntityKind::Person,
                        "change",
                        person.id,
                        Some(after),
                        Some(previous),
                        source,
                    ));
                }
            }
        }
        self.delete_organization_inner(id, source, Some(merge_with_id))?;
        self.webhooks.dispatch(events);
        Ok(merge_with_id)
    }

    // ----- persons -----

    pub fn create_person(&self, body: &Value, source: ChangeSource) -> Result<Value, OpError> {
        let wants = self.webhooks.wants(EntityKind::Person, "create");
        let (rest, event) = {
            let mut store = self.write();
            let store = &mut *store;
            let input = {
                let persons = &store.persons;
                let organizations = &store.organizations;
                let refs = References {
                    fields: &store.person_fields,
                    user_ids: self.user_ids(),
                    organization_exists: &|id| {
                        organizations.get(&id).is_some_and(|org| !org.is_deleted)
                    },
                    person_exists: &|id| persons.get(&id).is_some_and(|person| !person.is_deleted),
                };
                person_input(body, true, &refs)?
            };
            let now = now_secs();
            let id = store.next_person_id;
            store.next_person_id += 1;
            let mut custom_fields = input.custom_fields;
            custom_fields.retain(|(_, value)| !value.is_null());
            let person = Person {
                id,
                name: input.name.unwrap_or_default(),
                owner_id: input.owner_id.unwrap_or(1),
                org_id: input.org_id.flatten(),
                add_time: input.add_time.unwrap_or(now),
                update_time: input.update_time.unwrap_or(now),
                is_deleted: false,
                visible_to: input.visible_to.unwrap_or(3),
                label_ids: input.label_ids.unwrap_or_default(),
                emails: input.emails.unwrap_or_default(),
                phones: input.phones.unwrap_or_default(),
                custom_fields,
                search: self.index_later(None),
            };
            let rest = person_json(&person, &store.person_fields, Render::default());
            let event = wants.then(|| {
                Event::new(
                    EntityKind::Person,
                    "create",
                    id,
                    Some(person_webhook_json(&person, &store.person_fields)),
                    None,
                    source,
                )
            });
            store.persons.insert(id, person);
            store.live_persons += 1;
            (rest, event)
        };
        self.webhooks.dispatch(event.into_iter().collect());
        Ok(rest)
    }

    pub fn update_person(
        &self,
        id: u64,
        body: &Value,
        source: ChangeSource,
    ) -> Result<Value, OpError> {
        let wants = self.webhooks.wants(EntityKind::Person, "change");
        let (rest, event) = {
            let mut store = self.write();
            let store = &mut *store;
            if store.live_person(id).is_none() {
                return Err(OpError::NotFound("Person"));
            }
            let input = {
                let persons = &store.persons;
                let organizations = &store.organizations;
                let refs = References {
                    fields: &store.person_fields,
                    user_ids: self.user_ids(),
                    organization_exists: &|id| {
                        organizations.get(&id).is_some_and(|org| !org.is_deleted)
                    },
                    person_exists: &|id| persons.get(&id).is_some_and(|person| !person.is_deleted),
                };
                person_input(body, false, &refs)?
            };
            let fields = &store.person_fields;
            let person = store.persons.get_mut(&id).expect("checked live");
            let before = wants.then(|| person_webhook_json(person, fields));
            let stale = Some(Box::new(person_search_text(person, fields)));
            if let Some(name) = input.name {
                person.name = name;
            }
            if let Some(owner_id) = input.owner_id {
                person.owner_id = owner_id;
            }
            if let Some(org_id) = input.org_id {
                person.org_id = org_id;
            }
            if let Some(visible_to) = input.visible_to {
                person.visible_to = visible_to;
            }
            if let Some(label_ids) = input.label_ids {
                person.label_ids = label_ids;
            }
            if let Some(emails) = input.emails {
                person.emails = emails;
            }
            if let Some(phones) = input.phones {
                person.phones = phones;
            }
            apply_custom(&mut person.custom_fields, input.custom_fields);
            person.update_time = input.update_time.unwrap_or_else(now_secs);
            person.search = self.index_later(stale);
            let rest = person_json(person, fields, Render::default());
            let event = before.map(|before| {
                let after = person_webhook_json(person, fields);
                let previous = changed_fields(&before, &after);
                Event::new(
                    EntityKind::Person,
                    "change",
                    id,
                    Some(after),
                    Some(previous),
                    source,
                )
            });
            (rest, event)
        };
        self.webhooks.dispatch(event.into_iter().collect());
        Ok(rest)
    }

    pub fn delete_person(&self, id: u64, source: ChangeSource) -> Result<(), OpError> {
        self.delete_person_inner(id, source, None)
    }

    fn delete_person_inner(
        &self,
        id: u64,
        source: ChangeSource,
        merged_to: Option<u64>,
    ) -> Result<(), OpError> {
        let wants = self.webhooks.wants(EntityKind::Person, "delete");
        let event = {
            let mut store = self.write();
            let store = &mut *store;
            let fields = &store.person_fields;
            let Some(person) = store
                .persons
                .get_mut(&id)
                .filter(|person| !person.is_deleted)
            else {
                return Err(OpError::NotFound("Person"));
            };
            let last = wants.then(|| person_webhook_json(person, fields));
            person.is_deleted = true;
            person.update_time = now_secs();
            store.live_persons -= 1;
            last.map(|last| {
                let mut event =
                    Event::new(EntityKind::Person, "delete", id, None, Some(last), source);
                event.merged_to_id = merged_to;
                event
            })
        };
        self.webhooks.dispatch(event.into_iter().collect());
        Ok(())
    }

    /// Merges person `id` into `merge_with_id`; e-mails and phones are united.
    pub fn merge_persons(
        &self,
        id: u64,
        merge_with_id: u64,
        source: ChangeSource,
    ) -> Result<Person, OpError> {
        if id == merge_with_id {
            return Err(OpError::Invalid(
                "Cannot merge a person with itself".to_string(),
            ));
        }
        let wants_change = self.webhooks.wants(EntityKind::Person, "change");
        let mut events = Vec::new();
        let survivor_copy = {
            let mut store = self.write();
            let store = &mut *store;
            let Some(merged) = store.live_person(id).cloned() else {
                return Err(OpError::NotFound("Person"));
            };
            if store.live_person(merge_with_id).is_none() {
                return Err(OpError::NotFound("Person"));
            }
            let fields = &store.person_fields;
            let survivor = store.persons.get_mut(&merge_with_id).expect("checked live");
            let before = wants_change.then(|| person_webhook_json(survivor, fields));
            let stale = Some(Box::new(person_search_text(survivor, fields)));
            for email in merged.emails {
                if !survivor
                    .emails
                    .iter()
                    .any(|existing| existing.value == email.value)
                {
                    survivor.emails.push(crate::model::ContactValue {
                        primary: false,
                        ..email
                    });
                }
            }
            for phone in merged.phones {
                if !survivor
                    .phones
                    .iter()
                    .any(|existing| existing.value == phone.value)
                {
                    survivor.phones.push(crate::model::ContactValue {
                        primary: false,
                        ..phone
                    });
                }
            }
            if survivor.org_id.is_none() {
                survivor.org_id = merged.org_id;
            }
            for (index, value) in merged.custom_fields {
                if !survivor
                    .custom_fields
                    .iter()
                    .any(|(existing, _)| *existing == index)
                {
                    survivor.custom_fields.push((index, value));
                }
            }
            survivor.update_time = now_secs();
            survivor.search = self.index_later(stale);
            if let Some(before) = before {
                let after = person_webhook_json(survivor, fields);
                let previous = changed_fields(&before, &after);
                let mut event = Event::new(
                    EntityKind::Person,
                    "change",
                    merge_with_id,
                    Some(after),
                    Some(previous),
                    source,
                );
                event.merged_from_id = Some(id);
                events.push(event);
            }
            survivor.clone()
        };
        self.delete_person_inner(id, source, Some(merge_with_id))?;
        self.webhooks.dispatch(events);
        Ok(survivor_copy)
    }
}

fn apply_custom(stored: &mut crate::model::CustomValues, changes: Vec<(u32, Value)>) {
    for (index, value) in changes {
        stored.retain(|(existing, _)| *existing != index);
        if !value.is_null() {
            stored.push((index, value));
        }
    }
}

// ----- the handle tests, the demo and benchmarks use -----

/// Direct access to a running simulator, for tests, the demo and benchmarks.
#[derive(Clone)]
pub struct SimHandle {
    pub(crate) inner: Arc<Shared>,
}

/// An organization as a salesperson would type it in the UI (no budget, no webhook).
#[derive(Debug, Clone, Default)]
pub struct NewOrganization {
    pub name: String,
    pub owner_id: Option<u64>,
    /// A v2 address object, e.g. `{"value": "Hauptstraße 12, 70173 Stuttgart", "locality": "Stuttgart"}`.
    pub address: Option<Value>,
    pub label_ids: Vec<u64>,
    /// Custom field values by 40-character key, in the v2 shape.
    pub custom_fields: serde_json::Map<String, Value>,
}

/// A person as a salesperson would type it in the UI (no budget, no webhook).
#[derive(Debug, Clone, Default)]
pub struct NewPerson {
    pub name: String,
    pub org_id: Option<u64>,
    pub owner_id: Option<u64>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub custom_fields: serde_json::Map<String, Value>,
}

/// A stored organization: its id, and its v2 JSON as `GET /api/v2/organizations/{id}` shows it.
#[derive(Debug, Clone)]
pub struct StoredOrganization {
    pub id: u64,
    pub name: String,
    pub is_deleted: bool,
    pub json: Value,
}

/// A stored person, with its v2 JSON.
#[derive(Debug, Clone)]
pub struct StoredPerson {
    pub id: u64,
    pub name: String,
    pub org_id: Option<u64>,
    pub is_deleted: bool,
    pub json: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequestCount {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SimStats {
    /// Requests by method, path template and status, sorted.
    pub requests: Vec<RequestCount>,
    pub tokens_used_today: u64,
    pub tokens_used_total: u64,
    pub daily_token_budget: u64,
    pub plan: String,
    pub organizations: usize,
    pub persons: usize,
    pub deleted_organizations: usize,
    pub deleted_persons: usize,
    pub webhooks: usize,
    pub webhook_attempts: u64,
    pub webhook_deliveries_ok: u64,
    pub webhook_deliveries_failed: u64,
}

impl SimStats {
    /// Requests answered with `status` on `method` `path` (path template, e.g. `/api/v2/organizations/{id}`).
    pub fn count(&self, method: &str, path: &str, status: u16) -> u64 {
        self.requests
            .iter()
            .filter(|entry| entry.method == method && entry.path == path && entry.status == status)
            .map(|entry| entry.count)
            .sum()
    }

    /// All requests answered with `status`.
    pub fn count_status(&self, status: u16) -> u64 {
        self.requests
            .iter()
            .filter(|entry| entry.status == status)
            .map(|entry| entry.count)
            .sum()
    }
}

fn address_body(address: &Option<Value>) -> Option<Value> {
    address.clone()
}

impl SimHandle {
    pub fn api_token(&self) -> &str {
        &self.inner.api_token
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// Adds an organization as if typed in the UI: validated like the API, no tokens charged,
    /// no webhook fired.
    pub fn insert_organization(&self, organization: NewOrganization) -> Result<u64, String> {
        let mut body = json!({"name": organization.name});
        let map = body.as_object_mut().expect("object");
        if let Some(owner_id) = organization.owner_id {
            map.insert("owner_id".into(), json!(owner_id));
        }
        if let Some(address) = address_body(&organization.address) {
            map.insert("address".into(), address);
        }
        if !organization.label_ids.is_empty() {
            map.insert("label_ids".into(), json!(organization.label_ids));
        }
        if !organization.custom_fields.is_empty() {
            map.insert(
                "custom_fields".into(),
                Value::Object(organization.custom_fields),
            );
        }
        self.insert_organization_json(&body)
    }

    /// Adds an organization from a v2 request body, as if typed in the UI (no budget, no webhook).
    pub fn insert_organization_json(&self, body: &Value) -> Result<u64, String> {
        self.inner
            .create_organization(body, ChangeSource::Silent)
            .map(|json| json["id"].as_u64().unwrap_or_default())
            .map_err(op_message)
    }

    /// Adds a person as if typed in the UI (no budget, no webhook).
    pub fn insert_person(&self, person: NewPerson) -> Result<u64, String> {
        let mut body = json!({"name": person.name});
        let map = body.as_object_mut().expect("object");
        if let Some(org_id) = person.org_id {
            map.insert("org_id".into(), json!(org_id));
        }
        if let Some(owner_id) = person.owner_id {
            map.insert("owner_id".into(), json!(owner_id));
        }
        if !person.emails.is_empty() {
            let emails: Vec<Value> = person
                .emails
                .iter()
                .map(|email| json!({"value": email, "label": "work"}))
                .collect();
            map.insert("emails".into(), Value::Array(emails));
        }
        if !person.phones.is_empty() {
            let phones: Vec<Value> = person
                .phones
                .iter()
                .map(|phone| json!({"value": phone, "label": "work"}))
                .collect();
            map.insert("phones".into(), Value::Array(phones));
        }
        if !person.custom_fields.is_empty() {
            map.insert("custom_fields".into(), Value::Object(person.custom_fields));
        }
        self.insert_person_json(&body)
    }

    /// Adds a person from a v2 request body (no budget, no webhook).
    pub fn insert_person_json(&self, body: &Value) -> Result<u64, String> {
        self.inner
            .create_person(body, ChangeSource::Silent)
            .map(|json| json["id"].as_u64().unwrap_or_default())
            .map_err(op_message)
    }

    /// Creates a custom field directly; returns its 40-character key.
    pub fn create_custom_field(
        &self,
        entity: &str,
        name: &str,
        field_type: &str,
        options: &[&str],
    ) -> Result<String, String> {
        let kind = match entity {
            "organization" => EntityKind::Organization,
            "person" => EntityKind::Person,
            other => {
                return Err(format!(
                    "unknown entity {other:?}: expected organization or person"
                ))
            }
        };
        if !crate::fields::CREATABLE_TYPES.contains(&field_type) {
            return Err(format!("unknown field type {field_type:?}"));
        }
        let mut store = self.inner.write();
        let store = &mut *store;
        let mut next_id = store.next_field_id;
        let mut next_option_id = store.next_option_id;
        let fields = match kind {
            EntityKind::Organization => &mut store.organization_fields,
            EntityKind::Person => &mut store.person_fields,
        };
        let index = fields.add_custom(
            name.to_string(),
            field_type.to_string(),
            options.iter().map(|label| label.to_string()).collect(),
            now_secs(),
            &mut store.rng,
            &mut next_id,
            &mut next_option_id,
        );
        store.next_field_id = next_id;
        store.next_option_id = next_option_id;
        Ok(fields
            .get(index)
            .map(|field| field.key.clone())
            .unwrap_or_default())
    }

    /// Live organizations (not deleted), by id.
    pub fn organizations(&self) -> Vec<StoredOrganization> {
        let store = self.inner.read();
        store
            .organizations
            .values()
            .filter(|org| !org.is_deleted)
            .map(|org| stored_organization(org, &store.organization_fields))
            .collect()
    }

    /// A salesperson deletes an organization in the app (to the trash, as Pipedrive does);
    /// `false` when there was none alive with that id.
    pub fn delete_organization_in_app(&self, id: u64) -> bool {
        self.inner
            .delete_organization(id, crate::webhooks::ChangeSource::App)
            .is_ok()
    }

    /// A salesperson deletes a person in the app (to the trash); `false` when there was none
    /// alive with that id.
    pub fn delete_person_in_app(&self, id: u64) -> bool {
        self.inner
            .delete_person(id, crate::webhooks::ChangeSource::App)
            .is_ok()
    }

    /// One organization, deleted or not.
    pub fn organization(&self, id: u64) -> Option<StoredOrganization> {
        let store = self.inner.read();
        store
            .organizations
            .get(&id)
            .map(|org| stored_organization(org, &store.organization_fields))
    }

    /// Live persons (not deleted), by id.
    pub fn persons(&self) -> Vec<StoredPerson> {
        let store = self.inner.read();
        store
            .persons
            .values()
            .filter(|person| !person.is_deleted)
            .map(|person| stored_person(person, &store.person_fields))
            .collect()
    }

    pub fn person(&self, id: u64) -> Option<StoredPerson> {
        let store = self.inner.read();
        store
            .persons
            .get(&id)
            .map(|person| stored_person(person, &store.person_fields))
    }

    pub fn stats(&self) -> SimStats {
        self.inner.stats()
    }

    pub fn set_faults(&self, settings: FaultSettings) {
        self.inner.faults().set(settings);
    }

    /// Pretends `tokens` were already spent today (to test budget exhaustion quickly).
    pub fn set_tokens_spent_today(&self, tokens: u64) {
        self.inner.limits().set_spent_today(tokens);
    }

    /// Forgets all records, custom fields, webhooks, tokens spent and stats.
    pub fn reset(&self) {
        self.inner.reset();
    }
}

fn op_message(error: OpError) -> String {
    match error {
        OpError::Invalid(message) => message,
        OpError::NotFound(entity) => format!("{entity} not found"),
    }
}

fn stored_organization(org: &Organization, fields: &FieldSet) -> StoredOrganization {
    StoredOrganization {
        id: org.id,
        name: org.name.clone(),
        is_deleted: org.is_deleted,
        json: organization_json(org, fields, Render::default()),
    }
}

fn stored_person(person: &Person, fields: &FieldSet) -> StoredPerson {
    StoredPerson {
        id: person.id,
        name: person.name.clone(),
        org_id: person.org_id,
        is_deleted: person.is_deleted,
        json: person_json(person, fields, Render::default()),
    }
}

impl Shared {
    pub fn stats(&self) -> SimStats {
        let mut requests: Vec<RequestCount> = lock(&self.stats)
            .requests
            .iter()
            .map(|((method, path, status), count)| RequestCount {
                method: method.clone(),
                path: path.clone(),
                status: *status,
                count: *count,
            })
            .collect();
        requests
            .sort_by(|a, b| (&a.path, &a.method, a.status).cmp(&(&b.path, &b.method, b.status)));
        let (tokens_used_today, tokens_used_total, daily_token_budget) = {
            let limits = self.limits();
            (
                limits.spent_today(),
                limits.spent_total(),
                limits.daily_budget(),
            )
        };
        let store = self.read();
        let delivery = self.webhooks.delivery_counts();
        SimStats {
            requests,
            tokens_used_today,
            tokens_used_total,
            daily_token_budget,
            plan: self.options.plan.clone(),
            organizations: store.live_organizations,
            persons: store.live_persons,
            deleted_organizations: store.organizations.len() - store.live_organizations,
            deleted_persons: store.persons.len() - store.live_persons,
            webhooks: self.webhooks.count(),
            webhook_attempts: delivery.0,
            webhook_deliveries_ok: delivery.1,
            webhook_deliveries_failed: delivery.2,
        }
    }

    pub fn reset(&self) {
        *self.write() = Store::new(self.options.seed);
        self.limits().reset();
        lock(&self.stats).requests.clear();
        self.faults().set(FaultSettings::default());
        self.webhooks.clear();
        *self.oauth() = OAuthState::new(self.options.seed);
    }
}
