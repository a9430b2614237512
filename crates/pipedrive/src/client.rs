//! The typed client: organizations and persons (API v2, each operation written once for any
//! [`Entity`], with the by-name methods callers use), their search, fields, merge, the current
//! user and webhooks (v1), every call through the transport (governor, auth, retries).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use mlc_canonical::state::EntityKind;
use mlc_config::{PipedriveAuth, PipedriveConfig};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::auth::{self, Credentials, OauthSession};
use crate::entity::{with_id, Entity, EntityWrite};
use crate::error::{PipedriveError, Result};
use crate::governor::{Governor, GovernorSettings};
use crate::identity;
use crate::model::{
    CurrentUser, FieldCreate, FieldDefinition, Organization, OrganizationWrite, Person,
    PersonWrite, SearchHit, Webhook, WebhookCreate,
};
use crate::storage::{ClientCache, ClientStorage};
use crate::transport::{Call, RetryPolicy, Transport};

/// The list endpoints' largest page: 10 tokens for up to 500 records.
pub const LIST_PAGE_LIMIT: u32 = 500;
/// How far before a lost create the check by external id looks (server clocks differ).
const CREATE_CHECK_MARGIN: chrono::Duration = chrono::Duration::minutes(10);
/// Lost answers of one create before `create_*_idempotent` gives up.
const MAX_UNKNOWN_OUTCOMES: u32 = 6;

/// The HTTP client for Pipedrive and its OAuth server: every request, its body included, ends
/// within `timeout` (a stalled connection is an error, never a hang); connecting within 10 s.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("ml-connector/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| PipedriveError::Http {
            endpoint: "client setup".to_string(),
            message: error.to_string(),
            attempts: 0,
        })
}

/// A Pipedrive connection: cheap to clone (one `Arc` inside); every clone, and every client of
/// the same company in the process, shares one [`Governor`].
#[derive(Clone)]
pub struct PipedriveClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    transport: Transport,
    user: CurrentUser,
    plan_name: &'static str,
    /// Where the identity is cached, and under which key (forgotten on a 401).
    cache: Arc<dyn ClientCache>,
    identity_key: String,
}

/// Tuning a test or benchmark may change; `connect` uses the defaults.
#[derive(Clone)]
pub struct ConnectOptions {
    /// First backoff after a 5xx, timeout or reset (then doubled, jittered, capped).
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
    /// Called with every API request just before it is sent (tests check them against the
    /// OpenAPI documents).
    pub request_observer: Option<RequestObserver>,
    /// Ask `/v1/users/me` even when a fresh answer is cached (`check` does: it tests the
    /// credential).
    pub fresh_identity: bool,
}

/// Sees every API request the client sends.
pub type RequestObserver = Arc<dyn Fn(&SentRequest) + Send + Sync>;

/// One API request as it leaves: method, path, query and JSON body (credentials excluded).
#[derive(Debug, Clone, PartialEq)]
pub struct SentRequest {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<serde_json::Value>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            retry_base_delay: Duration::from_millis(250),
            retry_max_delay: Duration::from_secs(20),
            request_observer: None,
            fresh_identity: false,
        }
    }
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ConnectOptions")
            .field("retry_base_delay", &self.retry_base_delay)
            .field("retry_max_delay", &self.retry_max_delay)
            .field("request_observer", &self.request_observer.is_some())
            .finish()
    }
}

/// Which organization fields a search looks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchField {
    Name,
    Address,
    CustomFields,
    Notes,
    Email,
    Phone,
}

impl SearchField {
    fn as_str(self) -> &'static str {
        match self {
            SearchField::Name => "name",
            SearchField::Address => "address",
            SearchField::CustomFields => "custom_fields",
            SearchField::Notes => "notes",
            SearchField::Email => "email",
            SearchField::Phone => "phone",
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// None at the end of the data.
    pub next_cursor: Option<String>,
}

/// Filters of the organization and person lists.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only records changed at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
    /// Persons only: of this organization.
    pub org_id: Option<i64>,
    /// Custom field keys to include (at most 15); all when empty.
    pub custom_fields: Vec<String>,
}

#[derive(Deserialize)]
struct SearchData {
    #[serde(default)]
    items: Vec<SearchHit>,
}

/// One hit of `GET /api/v2/itemSearch/field`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FieldSearchHit {
    pub id: i64,
    #[serde(default)]
    pub name: String,
}

#[derive(Deserialize)]
struct IdOnly {
    id: i64,
}

impl PipedriveClient {
    /// Connects: resolves where requests go (the configured domain, or OAuth's `api_domain`),
    /// asks `/v1/users/me` who we are and which company, and joins that company's governor.
    /// The governor charges `storage.ledger`; OAuth tokens are read from and rotated into
    /// `storage.vault`.
    pub async fn connect(
        config: &PipedriveConfig,
        storage: ClientStorage,
    ) -> Result<PipedriveClient> {
        PipedriveClient::connect_with(config, storage, ConnectOptions::default()).await
    }

    pub async fn connect_with(
        config: &PipedriveConfig,
        storage: ClientStorage,
        options: ConnectOptions,
    ) -> Result<PipedriveClient> {
        let http = http_client(config.timeout)?;
        let (credentials, api_domain) = match &config.auth {
            PipedriveAuth::ApiToken(token) => (
                Credentials::ApiToken(token.clone()),
                config.base_url.clone(),
            ),
            PipedriveAuth::Oauth(oauth) => {
                let tokens = auth::load_tokens(storage.vault.as_ref(), oauth)
                    .await?
                    .ok_or(PipedriveError::NotAuthorized)?;
                let session =
                    OauthSession::new(oauth.clone(), storage.vault.clone(), http.clone(), tokens);
                let api_domain = session.api_domain().await;
                (Credentials::Oauth(Arc::new(session)), api_domain)
            }
        };
        url::Url::parse(&api_domain).map_err(|error| PipedriveError::BadUrl {
            url: api_domain.clone(),
            message: error.to_string(),
        })?;
        let settings = GovernorSettings {
            burst_limit: config.burst_limit(),
            daily_token_limit: config.connector_daily_budget(),
            timezone: config.budget_timezone,
        };
        let retry = RetryPolicy {
            retries: config.retries,
            base_delay: options.retry_base_delay,
            max_delay: options.retry_max_delay,
        };
        let governor = Governor::for_company_domain(&api_domain, settings, storage.ledger);
        // The budget's reset as an earlier process learned it from the server.
        let reset_key = format!(
            "pipedrive-budget-reset:{}",
            api_domain.trim_end_matches('/')
        );
        let learned = match storage.cache.get_value(&reset_key).await {
            Ok(value) => value
                .and_then(|text| text.trim().parse::<i32>().ok())
                .and_then(chrono::FixedOffset::east_opt),
            Err(error) => {
                tracing::warn!(%error, "cannot read the learned budget reset; the configured zone holds until the server shows it");
                None
            }
        };
        governor.keep_learned_reset_in(storage.cache.clone(), reset_key, learned);
        let transport = Transport {
            http,
            credentials,
            governor,
            api_domain: Arc::from(api_domain.as_str()),
            retry,
            observer: options.request_observer,
            max_response_bytes: config.max_response_bytes,
        };
        // Who we are, from the cache when a fresh answer is there (a poll then costs nothing).
        let identity_key = identity::identity_key(&api_domain, &config.auth);
        let cache = storage.cache.clone();
        let known = match options.fresh_identity {
            true => None,
            false => identity::cached(cache.as_ref(), &identity_key, Utc::now()).await,
        };
        let user = match known {
            Some(user) => user,
            None => {
                let call = Call::new(Method::GET, "/v1/users/me", "/v1/users/me".to_string());
                let user: CurrentUser = transport.call(&call).await?.data;
                identity::keep(cache.as_ref(), &identity_key, &user, Utc::now()).await;
                user
            }
        };
        transport.governor.set_company(&user.company_id.to_string());
        Ok(PipedriveClient {
            inner: Arc::new(ClientInner {
                transport,
                user,
                plan_name: config.plan.name(),
                cache,
                identity_key,
            }),
        })
    }

    /// The OAuth scopes Pipedrive granted (None for an API token).
    pub async fn granted_scopes(&self) -> Option<String> {
        self.inner.transport.credentials.granted_scopes().await
    }

    /// The governor: tokens used, deferred state, 429s, alerts.
    pub fn governor(&self) -> &Governor {
        &self.inner.transport.governor
    }

    /// The authenticated user and company, as `/v1/users/me` answered at connect (or within the
    /// day before, from the cache).
    pub fn current_user(&self) -> &CurrentUser {
        &self.inner.user
    }

    /// Where requests go.
    pub fn api_domain(&self) -> &str {
        &self.inner.transport.api_domain
    }

    pub fn plan_name(&self) -> &'static str {
        self.inner.plan_name
    }

    /// `GET /v1/users/me` again (2 tokens).
    pub async fn users_me(&self) -> Result<CurrentUser> {
        let call = Call::new(Method::GET, "/v1/users/me", "/v1/users/me".to_string());
        let user: CurrentUser = self.data(call).await?;
        identity::keep(
            self.inner.cache.as_ref(),
            &self.inner.identity_key,
            &user,
            Utc::now(),
        )
        .await;
        Ok(user)
    }

    fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    async fn data<T: DeserializeOwned>(&self, call: Call) -> Result<T> {
        Ok(self.call(&call).await?.data)
    }

    /// Every call goes through here: a 401 forgets the cached identity, so the next connect
    /// asks Pipedrive who the credential belongs to.
    async fn call<T: DeserializeOwned>(
        &self,
        call: &Call,
    ) -> Result<crate::transport::Envelope<T>> {
        let answer = self.transport().call(call).await;
        if let Err(PipedriveError::Unauthorized { .. } | PipedriveError::NotAuthorized) = &answer {
            identity::forget(self.inner.cache.as_ref(), &self.inner.identity_key).await;
        }
        answer
    }

    // ── organizations and persons: each operation once, for any [`Entity`] ──

    /// `GET` one record (1 token).
    pub async fn get<E: Entity>(&self, id: i64) -> Result<E> {
        self.data(Call::new(Method::GET, E::ITEM, with_id(E::ITEM, id)))
            .await
    }

    /// Creates a record (5 tokens). An `OutcomeUnknown` error means it may exist: use
    /// [`PipedriveClient::create_idempotent`] to have that checked.
    pub async fn create<E: Entity>(&self, write: &E::Write) -> Result<E> {
        debug_assert!(
            write.name().is_some(),
            "a {} is created with a name",
            E::KIND
        );
        self.data(
            Call::new(Method::POST, E::COLLECTION, E::COLLECTION.to_string()).body(to_body(write)?),
        )
        .await
    }

    /// Sends only what `write` sets (5 tokens); an address always goes as the whole object.
    pub async fn update<E: Entity>(&self, id: i64, write: &E::Write) -> Result<E> {
        self.data(Call::new(Method::PATCH, E::ITEM, with_id(E::ITEM, id)).body(to_body(write)?))
            .await
    }

    /// Marks a record deleted (3 tokens; Pipedrive purges it after 30 days); returns its id.
    pub async fn delete<E: Entity>(&self, id: i64) -> Result<i64> {
        let deleted: IdOnly = self
            .data(Call::new(Method::DELETE, E::ITEM, with_id(E::ITEM, id)))
            .await?;
        Ok(deleted.id)
    }

    /// Merges record `id` into `merge_with_id` (`PUT /v1/.../{id}/merge`, 40 tokens); returns
    /// the surviving id.
    pub async fn merge<E: Entity>(&self, id: i64, merge_with_id: i64) -> Result<i64> {
        let merged: IdOnly = self
            .data(
                Call::new(Method::PUT, E::MERGE, with_id(E::MERGE, id))
                    .body(serde_json::json!({ "merge_with_id": merge_with_id })),
            )
            .await?;
        Ok(merged.id)
    }

    /// Creates a record carrying `external_id` in the custom field `external_id_key`, never
    /// twice: when a create's answer is lost (timeout, reset, 5xx, broken body), the records
    /// changed since just before it are searched for the external id before it is sent again.
    pub async fn create_idempotent<E: Entity>(
        &self,
        write: &E::Write,
        external_id_key: &str,
        external_id: &str,
    ) -> Result<E> {
        let mut write = write.clone();
        write.custom_fields_mut().insert(
            external_id_key.to_string(),
            serde_json::Value::String(external_id.to_string()),
        );
        let mut unknown = 0;
        loop {
            let sent_at = Utc::now();
            match self.create::<E>(&write).await {
                Ok(created) => return Ok(created),
                Err(PipedriveError::OutcomeUnknown { endpoint, cause }) => {
                    unknown += 1;
                    tracing::warn!(%endpoint, %cause, external_id, "create outcome unknown; checking by external id");
                    let since = sent_at - CREATE_CHECK_MARGIN;
                    if let Some(found) = self
                        .find_by_external_id::<E>(external_id_key, external_id, since)
                        .await?
                    {
                        return Ok(found);
                    }
                    if unknown >= MAX_UNKNOWN_OUTCOMES {
                        return Err(PipedriveError::OutcomeUnknown { endpoint, cause });
                    }
                    // Not there: send again, after the same backoff as any failed call.
                    tokio::time::sleep(self.transport().retry.delay(unknown - 1)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The record whose custom field `key` holds `value` among those changed since `since`
    /// (the list, not the search: search is an index that may lag behind a create).
    pub async fn find_by_external_id<E: Entity>(
        &self,
        key: &str,
        value: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<E>> {
        let values = HashSet::from([value.to_string()]);
        let mut found = self.find_by_external_ids::<E>(key, &values, since).await?;
        Ok(found.remove(value))
    }

    /// The records changed since `since` whose custom field `key` holds one of `values`, by
    /// value, in one pass over the list (10 tokens a page of 500): what a crashed run's open
    /// intents need, however many there are. Stops once every value is found; a value held by
    /// several live records maps to the first listed.
    pub async fn find_by_external_ids<E: Entity>(
        &self,
        key: &str,
        values: &HashSet<String>,
        since: DateTime<Utc>,
    ) -> Result<HashMap<String, E>> {
        let mut found: HashMap<String, E> = HashMap::new();
        if values.is_empty() {
            return Ok(found);
        }
        let query = ListQuery {
            updated_since: Some(since),
            custom_fields: vec![key.to_string()],
            ..ListQuery::default()
        };
        let mut cursor: Option<String> = None;
        loop {
            let page = self.list_page::<E>(&query, cursor.as_deref()).await?;
            for record in page.items {
                if record.is_deleted() {
                    continue;
                }
                let value = custom_value_text(record.custom_fields(), key)
                    .filter(|value| values.contains(value.as_ref()))
                    .map(|value| value.into_owned());
                if let Some(value) = value {
                    found.entry(value).or_insert(record);
                }
            }
            match page.next_cursor {
                Some(next) if found.len() < values.len() => cursor = Some(next),
                _ => return Ok(found),
            }
        }
    }

    /// Every record of the list (or those `query` filters), 500 a page at 10 tokens a page.
    pub async fn list_all<E: Entity>(&self, query: &ListQuery) -> Result<Vec<E>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.list_page::<E>(query, cursor.as_deref()).await?;
            items.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// One page of the list (10 tokens for up to 500 records).
    pub async fn list_page<E: Entity>(
        &self,
        query: &ListQuery,
        cursor: Option<&str>,
    ) -> Result<Page<E>> {
        let mut call = Call::new(Method::GET, E::COLLECTION, E::COLLECTION.to_string())
            .query("limit", LIST_PAGE_LIMIT.to_string());
        if let Some(since) = query.updated_since {
            call = call.query(
                "updated_since",
                since.to_rfc3339_opts(SecondsFormat::Secs, true),
            );
        }
        if let (EntityKind::Person, Some(org_id)) = (E::KIND, query.org_id) {
            call = call.query("org_id", org_id.to_string());
        }
        if !query.custom_fields.is_empty() {
            debug_assert!(
                query.custom_fields.len() <= 15,
                "Pipedrive takes at most 15 keys"
            );
            call = call.query("custom_fields", query.custom_fields.join(","));
        }
        if let Some(cursor) = cursor {
            call = call.query("cursor", cursor.to_string());
        }
        let envelope = self.call::<Option<Vec<E>>>(&call).await?;
        Ok(Page {
            items: envelope.data.unwrap_or_default(),
            next_cursor: envelope
                .additional_data
                .and_then(|more| more.next_cursor)
                .filter(|cursor| !cursor.is_empty()),
        })
    }

    /// The entity's search (20 tokens, search lane), first page of up to 100.
    pub async fn search<E: Entity>(
        &self,
        term: &str,
        fields: &[SearchField],
        exact_match: bool,
    ) -> Result<Vec<SearchHit>> {
        let mut call = Call::new(Method::GET, E::SEARCH, E::SEARCH.to_string())
            .search()
            .query("term", term.to_string())
            .query("exact_match", exact_match.to_string())
            .query("limit", "100");
        if !fields.is_empty() {
            let names: Vec<&str> = fields.iter().map(|field| field.as_str()).collect();
            call = call.query("fields", names.join(","));
        }
        let data: Option<SearchData> = self.data(call).await?;
        Ok(data.map(|data| data.items).unwrap_or_default())
    }

    /// `GET /api/v2/itemSearch/field` (20 tokens, search lane): records whose field `field_key`
    /// equals `term` exactly, case-sensitive (unlike `exact_match` of the entity searches).
    /// The search index may lag behind recent writes.
    pub async fn search_by_field(
        &self,
        entity: EntityKind,
        field_key: &str,
        term: &str,
    ) -> Result<Vec<FieldSearchHit>> {
        let call = Call::new(
            Method::GET,
            "/api/v2/itemSearch/field",
            "/api/v2/itemSearch/field".to_string(),
        )
        .search()
        .query("term", term.to_string())
        .query("entity_type", entity.as_str())
        .query("field", field_key.to_string())
        .query("match", "exact")
        .query("limit", "100");
        let hits: Option<Vec<serde_json::Value>> = self.data(call).await?;
        // The document's schema nests hits in `item`; its example (and the simulator) does not.
        Ok(hits
            .unwrap_or_default()
            .into_iter()
            .filter_map(|hit| {
                let item = hit.get("item").cloned().unwrap_or(hit);
                serde_json::from_value(item).ok()
            })
            .collect())
    }

    // ── the same, by name (what the callers use) ──

    /// Every organization (or those changed since a time), 500 a page at 10 tokens a page.
    pub async fn list_organizations(
        &self,
        updated_since: Option<DateTime<Utc>>,
    ) -> Result<Vec<Organization>> {
        let query = ListQuery {
            updated_since,
            ..ListQuery::default()
        };
        self.list_all(&query).await
    }

    pub async fn get_organization(&self, id: i64) -> Result<Organization> {
        self.get(id).await
    }

    pub async fn create_organization(&self, write: &OrganizationWrite) -> Result<Organization> {
        self.create(write).await
    }

    pub async fn update_organization(
        &self,
        id: i64,
        write: &OrganizationWrite,
    ) -> Result<Organization> {
        self.update(id, write).await
    }

    pub async fn delete_organization(&self, id: i64) -> Result<i64> {
        self.delete::<Organization>(id).await
    }

    pub async fn create_organization_idempotent(
        &self,
        write: &OrganizationWrite,
        external_id_key: &str,
        external_id: &str,
    ) -> Result<Organization> {
        self.create_idempotent(write, external_id_key, external_id)
            .await
    }

    pub async fn search_organizations(
        &self,
        term: &str,
        fields: &[SearchField],
        exact_match: bool,
    ) -> Result<Vec<SearchHit>> {
        self.search::<Organization>(term, fields, exact_match).await
    }

    pub async fn merge_organizations(&self, id: i64, merge_with_id: i64) -> Result<i64> {
        self.merge::<Organization>(id, merge_with_id).await
    }

    pub async fn list_persons(&self, query: &ListQuery) -> Result<Vec<Person>> {
        self.list_all(query).await
    }

    pub async fn get_person(&self, id: i64) -> Result<Person> {
        self.get(id).await
    }

    pub async fn create_person(&self, write: &PersonWrite) -> Result<Person> {
        self.create(write).await
    }

    pub async fn update_person(&self, id: i64, write: &PersonWrite) -> Result<Person> {
        self.update(id, write).await
    }

    pub async fn delete_person(&self, id: i64) -> Result<i64> {
        self.delete::<Person>(id).await
    }

    pub async fn create_person_idempotent(
        &self,
        write: &PersonWrite,
        external_id_key: &str,
        external_id: &str,
    ) -> Result<Person> {
        self.create_idempotent(write, external_id_key, external_id)
            .await
    }

    pub async fn search_persons(
        &self,
        term: &str,
        fields: &[SearchField],
        exact_match: bool,
    ) -> Result<Vec<SearchHit>> {
        self.search::<Person>(term, fields, exact_match).await
    }

    pub async fn merge_persons(&self, id: i64, merge_with_id: i64) -> Result<i64> {
        self.merge::<Person>(id, merge_with_id).await
    }

    // ── fields ──

    /// Every organization or person field (v2), standard and custom.
    pub async fn list_fields(&self, entity: EntityKind) -> Result<Vec<FieldDefinition>> {
        let (template, path) = fields_path(entity);
        let mut fields = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut call = Call::new(Method::GET, template, path.to_string())
                .query("limit", LIST_PAGE_LIMIT.to_string());
            if let Some(cursor) = &cursor {
                call = call.query("cursor", cursor.clone());
            }
            let envelope = self.call::<Vec<FieldDefinition>>(&call).await?;
            fields.extend(envelope.data);
            cursor = envelope.additional_data.and_then(|more| more.next_cursor);
            if cursor.is_none() {
                return Ok(fields);
            }
        }
    }

    /// Creates a custom field (`POST /api/v2/organizationFields` or `personFields`). Not
    /// retried when its answer is lost: `ensure_fields` lists again and looks by name first.
    pub async fn create_field(
        &self,
        entity: EntityKind,
        field: &FieldCreate,
    ) -> Result<FieldDefinition> {
        let (template, path) = fields_path(entity);
        self.data(Call::new(Method::POST, template, path.to_string()).body(to_body(field)?))
            .await
    }

    // ── webhooks (v1) ──

    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>> {
        let envelope = self
            .transport()
            .call::<Option<Vec<Webhook>>>(&Call::new(
                Method::GET,
                "/v1/webhooks",
                "/v1/webhooks".to_string(),
            ))
            .await?;
        Ok(envelope.data.unwrap_or_default())
    }

    /// Creates a webhook; when its answer is lost, the list is checked for the same
    /// subscription before it is sent again.
    pub async fn create_webhook(&self, webhook: &WebhookCreate) -> Result<Webhook> {
        let call = Call::new(Method::POST, "/v1/webhooks", "/v1/webhooks".to_string())
            .body(to_body(webhook)?);
        let mut unknown = 0;
        loop {
            match self.data::<Webhook>(clone_call(&call)).await {
                Ok(created) => return Ok(created),
                Err(PipedriveError::OutcomeUnknown { endpoint, cause }) => {
                    unknown += 1;
                    let existing = self.list_webhooks().await?.into_iter().find(|existing| {
                        existing.subscription_url == webhook.subscription_url
                            && existing.event_action == webhook.event_action
                            && existing.event_object == webhook.event_object
                    });
                    if let Some(existing) = existing {
                        return Ok(existing);
                    }
                    if unknown >= MAX_UNKNOWN_OUTCOMES {
                        return Err(PipedriveError::OutcomeUnknown { endpoint, cause });
                    }
                    // Not there: send again, after the same backoff as any failed call.
                    tokio::time::sleep(self.transport().retry.delay(unknown - 1)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    pub async fn delete_webhook(&self, id: i64) -> Result<()> {
        self.transport()
            .send(&Call::new(
                Method::DELETE,
                "/v1/webhooks/{id}",
                format!("/v1/webhooks/{id}"),
            ))
            .await?;
        Ok(())
    }
}

impl std::fmt::Debug for PipedriveClient {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PipedriveClient")
            .field("api_domain", &self.api_domain())
            .field("company_id", &self.inner.user.company_id)
            .finish_non_exhaustive()
    }
}

fn fields_path(entity: EntityKind) -> (&'static str, &'static str) {
    match entity {
        EntityKind::Organization => ("/api/v2/organizationFields", "/api/v2/organizationFields"),
        EntityKind::Person => ("/api/v2/personFields", "/api/v2/personFields"),
    }
}

fn to_body<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|error| PipedriveError::Malformed {
        endpoint: "request body".to_string(),
        message: error.to_string(),
    })
}

fn clone_call(call: &Call) -> Call {
    Call {
        method: call.method.clone(),
        path_template: call.path_template,
        path: call.path.clone(),
        query: call.query.clone(),
        body: call.body.clone(),
        lane: call.lane,
        replay: call.replay,
    }
}

/// A custom field's value as text: a text field, a number written as text, or the `value` of
/// an object.
fn custom_value_text<'a>(
    custom_fields: &'a BTreeMap<String, serde_json::Value>,
    key: &str,
) -> Option<std::borrow::Cow<'a, str>> {
    match custom_fields.get(key)? {
        serde_json::Value::String(text) => Some(text.as_str().into()),
        serde_json::Value::Number(number) => Some(number.to_string().into()),
        serde_json::Value::Object(object) => object
            .get("value")
            .and_then(|inner| inner.as_str())
            .map(Into::into),
        _ => None,
    }
}
