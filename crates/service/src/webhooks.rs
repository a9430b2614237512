//! `POST /webhooks/pipedrive`: Pipedrive's v2 webhook deliveries. Authenticated by HTTP Basic
//! (what Pipedrive sends: `server.webhook_user` / `server.webhook_password`) or an HMAC-SHA256
//! signature of the raw body in `X-Hub-Signature-256: sha256=<hex>` (`server.webhook_hmac_secret`,
//! for relays that sign); anything else is refused with 401 and logged without what was sent.
//! A delivery is taken once per `meta.id` (Pipedrive retries with the same id); events about
//! records no connection links are ignored without a Pipedrive call; the rest is queued for the
//! connection's worker, which runs it under the lease (the answer never waits for Pipedrive).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use chrono::Utc;
use hmac::{Hmac, Mac};
use mlc_engine::{MergedRecord, PipedriveEvents};
use mlc_store::EntityKind;
use serde_json::{json, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::ServiceState;

/// The signature header of relays that sign (GitHub's convention, which most relays follow).
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// The largest delivery read: Pipedrive's v2 payloads (one record, before and after) are a few
/// KiB; a larger body is refused with 413 before it is read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// One delivery, as far as the connector reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// `meta.id`: the same on every attempt of one delivery.
    pub id: String,
    /// `create`, `change` or `delete`.
    pub action: String,
    /// `None` for entities the connector does not sync (deals, notes...).
    pub kind: Option<EntityKind>,
    pub entity_id: i64,
    /// `meta.merged_to_id` on the delete event of a record merged into another.
    pub merged_to_id: Option<i64>,
    /// `meta.merged_from_id` on the survivor's change event of the same merge: the id of the
    /// record merged away.
    pub merged_from_id: Option<i64>,
    /// `app` (a person in Pipedrive) or `api` (an integration, the connector included).
    pub change_source: String,
    pub user_id: Option<i64>,
}

/// Ids in v2 payloads are strings ("123"); numbers are accepted too.
fn id_of(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::String(text) => text.trim().parse().ok(),
        Value::Number(number) => number.as_i64(),
        _ => None,
    }
}

/// Reads a v2 payload; the error names what is missing.
pub fn parse_event(body: &[u8]) -> Result<WebhookEvent, String> {
    let payload: Value =
        serde_json::from_slice(body).map_err(|error| format!("the body is not JSON: {error}"))?;
    let meta = payload
        .get("meta")
        .and_then(Value::as_object)
        .ok_or("no `meta` object: not a Pipedrive webhook v2 payload")?;
    let id = meta
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or("no `meta.id`")?
        .to_string();
    let action = meta
        .get("action")
        .and_then(Value::as_str)
        .ok_or("no `meta.action`")?
        .to_string();
    let kind = match meta.get("entity").and_then(Value::as_str) {
        Some("organization") => Some(EntityKind::Organization),
        Some("person") => Some(EntityKind::Person),
        Some(_) => None,
        None => return Err("no `meta.entity`".into()),
    };
    let entity_id = id_of(meta.get("entity_id")).ok_or("no numeric `meta.entity_id`")?;
    Ok(WebhookEvent {
        id,
        action,
        kind,
        entity_id,
        merged_to_id: id_of(meta.get("merged_to_id")),
        merged_from_id: id_of(meta.get("merged_from_id")),
        change_source: meta
            .get("change_source")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        user_id: id_of(meta.get("user_id")),
    })
}

/// The credentials a delivery must present.
pub struct WebhookCredentials<'a> {
    pub basic: Option<(&'a str, &'a str)>,
    pub hmac_secret: Option<&'a str>,
}

/// Whether the delivery is authentic: the configured Basic credentials (both compared in
/// constant time), or a valid signature of the raw body.
pub fn authenticated(
    credentials: &WebhookCredentials<'_>,
    headers: &HeaderMap,
    body: &[u8],
) -> bool {
    if let Some((user, password)) = credentials.basic {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Basic "))
            .and_then(|encoded| {
                base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .ok()
            })
            .and_then(|decoded| String::from_utf8(decoded).ok());
        if let Some((presented_user, presented_password)) =
            presented.as_deref().and_then(|text| text.split_once(':'))
        {
            let user_ok = presented_user.as_bytes().ct_eq(user.as_bytes());
            let password_ok = presented_password.as_bytes().ct_eq(password.as_bytes());
            if bool::from(user_ok & password_ok) {
                return true;
            }
        }
    }
    if let Some(secret) = credentials.hmac_secret {
        let signature = headers
            .get(SIGNATURE_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.trim())
            .map(|value| value.strip_prefix("sha256=").unwrap_or(value))
            .and_then(|hex_text| hex::decode(hex_text).ok());
        if let Some(signature) = signature {
            if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
                mac.update(body);
                // `verify_slice` compares in constant time.
                return mac.verify_slice(&signature).is_ok();
            }
        }
    }
    false
}

/// `sha256=<hex>` of `body` under `secret`: what a signing relay sends.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

pub async fn receive(
    State(state): State<Arc<ServiceState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(first) = state.connections.first() else {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "no connection"}),
        );
    };
    let server = &first.config().server;
    let basic = match (&server.webhook_user, &server.webhook_password) {
        (Some(user), Some(password)) => Some((user.as_str(), password.expose())),
        _ => None,
    };
    let credentials = WebhookCredentials {
        basic,
        hmac_secret: server
            .webhook_hmac_secret
            .as_ref()
            .map(|secret| secret.expose()),
    };
    if !authenticated(&credentials, &headers, &body) {
        tracing::warn!(
            path = "/webhooks/pipedrive",
            %peer,
            basic_sent = headers.contains_key(header::AUTHORIZATION),
            signature_sent = headers.contains_key(SIGNATURE_HEADER),
            configured = credentials.basic.is_some() || credentials.hmac_secret.is_some(),
            "webhook refused: missing or wrong credentials or signature"
        );
        return (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"ml-connector webhooks\"",
            )],
            Json(
                json!({"error": "valid HTTP Basic credentials or a valid signature are required"}),
            ),
        )
            .into_response();
    }
    let event = match parse_event(&body) {
        Ok(event) => event,
        Err(message) => {
            tracing::warn!(%peer, %message, "webhook refused: unreadable payload");
            return answer(StatusCode::BAD_REQUEST, json!({"error": message}));
        }
    };
    let Some(kind) = event.kind else {
        return answer(
            StatusCode::OK,
            json!({"ignored": "not an organization or person"}),
        );
    };
    if event.action == "create" {
        return answer(
            StatusCode::OK,
            json!({"ignored": "a create is nothing ECC mastered"}),
        );
    }
    let mut queued = Vec::new();
    for connection in &state.connections {
        match take(&state, connection, kind, &event).await {
            Ok(Some(events)) => {
                connection.enqueue_pipedrive_events(events);
                queued.push(connection.name().to_string());
            }
            Ok(None) => {}
            Err(error) => {
                tracing::error!(connection = connection.name(), %error, event = %event.id, "webhook not taken: the store failed");
                // Pipedrive retries a failed delivery with the same id.
                return answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": "store unavailable"}),
                );
            }
        }
    }
    if queued.is_empty() {
        return answer(
            StatusCode::OK,
            json!({"ignored": "not a record the connector manages, or taken already"}),
        );
    }
    tracing::info!(event = %event.id, action = %event.action, %kind, id = event.entity_id, connections = ?queued, "webhook queued");
    answer(StatusCode::OK, json!({"queued": queued}))
}

/// What `connection` does with the event: `None` when it links neither the record nor (for a
/// survivor's change after a merge) the record merged away, the change is its own write, or the
/// delivery was taken before.
///
/// A merge in Pipedrive is two deliveries: the loser's delete (`merged_to_id`) and the survivor's
/// change (`merged_from_id`). Either one moves the loser's link to the survivor, whichever is
/// taken first; the other finds the link moved already.
async fn take(
    state: &ServiceState,
    connection: &crate::Connection,
    kind: EntityKind,
    event: &WebhookEvent,
) -> Result<Option<PipedriveEvents>, mlc_store::StoreError> {
    let store = state.store.as_ref();
    let link = store
        .link_by_pipedrive_id(connection.name(), kind, event.entity_id)
        .await?;
    let merged_away = match (event.merged_from_id, event.action.as_str()) {
        (Some(loser), "change") => store
            .link_by_pipedrive_id(connection.name(), kind, loser)
            .await?
            .map(|link| (loser, link)),
        _ => None,
    };
    if link.is_none() && merged_away.is_none() {
        return Ok(None);
    }
    if event.change_source == "api"
        && event.user_id.is_some()
        && event.user_id == connection.pipedrive_user_id()
    {
        // The connector's own write coming back.
        return Ok(None);
    }
    if !store
        .note_webhook_event(connection.name(), &event.id, Utc::now())
        .await?
    {
        return Ok(None);
    }
    let mut events = PipedriveEvents::default();
    if let Some(link) = link {
        if let Some(customer_number) = customer_of(store, connection, kind, &link.ecc_key).await? {
            events.customers.push(customer_number.clone());
            if let (Some(survivor), "delete") = (event.merged_to_id, event.action.as_str()) {
                events.merges.push(MergedRecord {
                    kind,
                    ecc_key: link.ecc_key,
                    customer_number,
                    merged_id: event.entity_id,
                    survivor_id: survivor,
                });
            }
        }
    }
    if let Some((loser, link)) = merged_away {
        if let Some(customer_number) = customer_of(store, connection, kind, &link.ecc_key).await? {
            if !events.customers.contains(&customer_number) {
                events.customers.push(customer_number.clone());
            }
            events.merges.push(MergedRecord {
                kind,
                ecc_key: link.ecc_key,
                customer_number,
                merged_id: loser,
                survivor_id: event.entity_id,
            });
        }
    }
    Ok((!events.customers.is_empty()).then_some(events))
}

/// The customer a linked record belongs to: an organization's key is its customer number, a
/// person's customer is kept in its record state.
async fn customer_of(
    store: &dyn mlc_store::StateStore,
    connection: &crate::Connection,
    kind: EntityKind,
    ecc_key: &str,
) -> Result<Option<String>, mlc_store::StoreError> {
    Ok(match kind {
        EntityKind::Organization => Some(ecc_key.to_string()),
        EntityKind::Person => store
            .record_state(connection.name(), kind, ecc_key)
            .await?
            .and_then(|state| state.customer_number),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(meta: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"meta": meta, "data": null, "previous": {}})).unwrap()
    }

    #[test]
    fn a_v2_payload_is_read_with_string_ids_and_a_merge() {
        let event = parse_event(&payload(json!({
            "id": "6f3a", "action": "delete", "entity": "organization", "entity_id": "12",
            "merged_to_id": "15", "change_source": "app", "user_id": "1"
        })))
        .unwrap();
        assert_eq!(event.kind, Some(EntityKind::Organization));
        assert_eq!(event.entity_id, 12);
        assert_eq!(event.merged_to_id, Some(15));
        assert_eq!(event.user_id, Some(1));
        assert_eq!(event.merged_from_id, None);
        let survivor = parse_event(&payload(json!({
            "id": "6f3b", "action": "change", "entity": "organization", "entity_id": "15",
            "merged_from_id": "12", "change_source": "app", "user_id": "1"
        })))
        .unwrap();
        assert_eq!(
            (survivor.entity_id, survivor.merged_from_id),
            (15, Some(12))
        );
        let deal = parse_event(&payload(
            json!({"id": "x", "action": "change", "entity": "deal", "entity_id": 3}),
        ))
        .unwrap();
        assert_eq!(deal.kind, None);
    }

    #[test]
    fn a_payload_without_what_is_needed_is_refused_naming_it() {
        assert!(parse_event(b"not json").unwrap_err().contains("not JSON"));
        assert!(parse_event(b"{}").unwrap_err().contains("meta"));
        let no_id = payload(json!({"action": "change", "entity": "person", "entity_id": "1"}));
        assert!(parse_event(&no_id).unwrap_err().contains("meta.id"));
        let no_entity_id = payload(json!({"id": "a", "action": "change", "entity": "person"}));
        assert!(parse_event(&no_entity_id)
            .unwrap_err()
            .contains("entity_id"));
    }

    fn basic(user: &str, password: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        headers.insert(
            header::AUTHORIZATION,
            format!("Basic {encoded}").parse().unwrap(),
        );
        headers
    }

    #[test]
    fn basic_credentials_must_match_both_parts() {
        let credentials = WebhookCredentials {
            basic: Some(("pipedrive", "s3cret")),
            hmac_secret: None,
        };
        assert!(authenticated(
            &credentials,
            &basic("pipedrive", "s3cret"),
            b"{}"
        ));
        assert!(!authenticated(
            &credentials,
            &basic("pipedrive", "wrong"),
            b"{}"
        ));
        assert!(!authenticated(
            &credentials,
            &basic("other", "s3cret"),
            b"{}"
        ));
        assert!(!authenticated(&credentials, &HeaderMap::new(), b"{}"));
    }

    #[test]
    fn a_signature_must_be_over_this_very_body() {
        let credentials = WebhookCredentials {
            basic: None,
            hmac_secret: Some("relay-key"),
        };
        let body = br#"{"meta":{"id":"1"}}"#;
        let mut headers = HeaderMap::new();
        headers.insert(
            SIGNATURE_HEADER,
            signature("relay-key", body).parse().unwrap(),
        );
        assert!(authenticated(&credentials, &headers, body));
        assert!(
            !authenticated(&credentials, &headers, br#"{"meta":{"id":"2"}}"#),
            "replayed onto another body"
        );
        headers.insert(
            SIGNATURE_HEADER,
            signature("other-key", body).parse().unwrap(),
        );
        assert!(!authenticated(&credentials, &headers, body));
        headers.insert(SIGNATURE_HEADER, "sha256=zz".parse().unwrap());
        assert!(!authenticated(&credentials, &headers, body));
    }

    /// The fuzz case budget: `MLC_FUZZ_CASES` (default 256, what CI runs); a long run:
    /// `MLC_FUZZ_CASES=100000 cargo test -p mlc-service --release webhooks`.
    fn fuzz_cases() -> u32 {
        std::env::var("MLC_FUZZ_CASES")
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(256)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(fuzz_cases()))]

        /// A real delivery damaged (cut short, a byte replaced, a stretch repeated) is read
        /// or refused, never a panic; what is read has an id and a numeric entity id.
        #[test]
        fn a_damaged_delivery_is_read_or_refused(
            cut in 0usize..400,
            at in 0usize..400,
            byte in proptest::num::u8::ANY,
            repeat in 0usize..4,
        ) {
            let mut body = payload(json!({"id": "d-1", "action": "change", "entity": "organization", "entity_id": "42"}));
            let at = at % body.len().max(1);
            body[at] = byte;
            let stretch: Vec<u8> = body[at..(at + 8).min(body.len())].to_vec();
            for _ in 0..repeat {
                body.splice(at..at, stretch.iter().copied());
            }
            body.truncate(cut.max(1).min(body.len()));
            if let Ok(event) = parse_event(&body) {
                proptest::prop_assert!(!event.id.is_empty());
            }
        }

        /// Whatever arrives, the parser answers an event or an error, and never panics.
        #[test]
        fn any_body_is_read_or_refused_without_a_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_event(&body);
        }

        /// A payload with arbitrary meta values: an event only with an id and numeric entity id.
        #[test]
        fn any_meta_is_read_or_refused(id in ".{0,20}", entity in "organization|person|deal|", entity_id in ".{0,12}") {
            let body = payload(json!({"id": id, "action": "change", "entity": entity, "entity_id": entity_id}));
            if let Ok(event) = parse_event(&body) {
                proptest::prop_assert!(!event.id.is_empty());
                proptest::prop_assert_eq!(event.entity_id.to_string(), entity_id.trim().trim_start_matches('+').parse::<i64>().unwrap().to_string());
            }
        }

        /// A signature is valid for its own body only.
        #[test]
        fn a_signature_holds_for_no_other_body(body in ".{0,64}", other in ".{0,64}") {
            let credentials = WebhookCredentials { basic: None, hmac_secret: Some("k") };
            let mut headers = HeaderMap::new();
            headers.insert(SIGNATURE_HEADER, signature("k", body.as_bytes()).parse().unwrap());
            proptest::prop_assert!(authenticated(&credentials, &headers, body.as_bytes()));
            proptest::prop_assert_eq!(authenticated(&credentials, &headers, other.as_bytes()), body == other);
        }
    }

    #[test]
    fn nothing_configured_accepts_nothing() {
        let credentials = WebhookCredentials {
            basic: None,
            hmac_secret: None,
        };
        assert!(!authenticated(&credentials, &basic("", ""), b"{}"));
    }
}
