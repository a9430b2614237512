//! List pages of organizations and persons: `limit`, the opaque cursor, the list query
//! options (filters, sorting, custom field selection, `include_fields`), and the choice of the
//! records one page holds.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use serde_json::{json, Value};

use super::responses::invalid_response;
use crate::errors::{v2_error, validation_failed};
use crate::fields::EntityKind;
use crate::state::Shared;
use crate::validate::{parse_time, query_bool, query_integer};

pub(super) fn parse_limit(query: &HashMap<String, String>) -> Result<usize, Response> {
    let limit =
        query_integer("limit", query.get("limit").map(String::as_str)).map_err(invalid_response)?;
    match limit {
        None => Ok(100),
        Some(limit) if (1..=500).contains(&limit) => Ok(limit as usize),
        Some(_) => Err(validation_failed(
            "Validation failed: limit: Must be between 1 and 500",
        )),
    }
}

/// The opaque cursor: base64url of `{"field","fieldValue","sortDirection","id"}` like Pipedrive's.
pub(super) fn encode_cursor(field: &str, value: i64, direction: &str, id: u64) -> String {
    let text = json!({"field": field, "fieldValue": value, "sortDirection": direction, "id": id})
        .to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

pub(super) fn decode_cursor(
    cursor: &str,
    field: &str,
    direction: &str,
) -> Result<(i64, u64), Response> {
    let bad = || validation_failed("Validation failed: cursor: Invalid cursor");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim_end_matches('='))
        .map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if value["field"] != field || value["sortDirection"] != direction {
        return Err(validation_failed(
            "Validation failed: cursor: The cursor does not match sort_by and sort_direction",
        ));
    }
    let field_value = value["fieldValue"].as_i64().ok_or_else(bad)?;
    let id = value["id"].as_u64().ok_or_else(bad)?;
    Ok((field_value, id))
}

pub(super) struct ListQuery {
    pub(super) limit: usize,
    pub(super) sort_by: &'static str,
    pub(super) descending: bool,
    pub(super) after: Option<(i64, u64)>,
    pub(super) owner_id: Option<u64>,
    pub(super) org_id: Option<u64>,
    pub(super) ids: Option<Vec<u64>>,
    pub(super) updated_since: Option<i64>,
    pub(super) updated_until: Option<i64>,
    pub(super) custom: Option<Vec<u32>>,
    pub(super) option_labels: bool,
    pub(super) include_fields: Vec<String>,
}

pub(super) const ORGANIZATION_INCLUDE_FIELDS: [&str; 19] = [
    "next_activity_id",
    "last_activity_id",
    "open_deals_count",
    "related_open_deals_count",
    "closed_deals_count",
    "related_closed_deals_count",
    "email_messages_count",
    "people_count",
    "activities_count",
    "done_activities_count",
    "undone_activities_count",
    "files_count",
    "notes_count",
    "followers_count",
    "won_deals_count",
    "related_won_deals_count",
    "lost_deals_count",
    "related_lost_deals_count",
    "smart_bcc_email",
];

pub(super) const PERSON_INCLUDE_FIELDS: [&str; 22] = [
    "next_activity_id",
    "last_activity_id",
    "open_deals_count",
    "related_open_deals_count",
    "closed_deals_count",
    "related_closed_deals_count",
    "participant_open_deals_count",
    "participant_closed_deals_count",
    "email_messages_count",
    "activities_count",
    "done_activities_count",
    "undone_activities_count",
    "files_count",
    "notes_count",
    "followers_count",
    "won_deals_count",
    "related_won_deals_count",
    "lost_deals_count",
    "related_lost_deals_count",
    "last_incoming_mail_time",
    "last_outgoing_mail_time",
    "marketing_status",
];

pub(super) fn parse_custom_selection(
    query: &HashMap<String, String>,
    shared: &Shared,
    kind: EntityKind,
) -> Result<Option<Vec<u32>>, Response> {
    let Some(list) = query.get("custom_fields") else {
        return Ok(None);
    };
    let keys: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .collect();
    if keys.len() > 15 {
        return Err(validation_failed(
            "Validation failed: custom_fields: A maximum of 15 keys is allowed",
        ));
    }
    let store = shared.read();
    let fields = store.fields(kind);
    let mut indexes = Vec::with_capacity(keys.len());
    for key in keys {
        match fields
            .index_of_key(key)
            .filter(|index| fields.get(*index).is_some_and(|field| field.is_custom))
        {
            Some(index) => indexes.push(index),
            None => {
                return Err(validation_failed(&format!(
                    "Validation failed: custom_fields: Custom field '{key}' does not exist"
                )))
            }
        }
    }
    Ok(Some(indexes))
}

pub(super) fn parse_include_fields(
    query: &HashMap<String, String>,
    allowed: &[&str],
) -> Result<Vec<String>, Response> {
    let Some(list) = query.get("include_fields") else {
        return Ok(Vec::new());
    };
    let mut fields = Vec::new();
    for name in list
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        if !allowed.contains(&name) {
            return Err(validation_failed(&format!(
                "Validation failed: include_fields: '{name}' is not allowed"
            )));
        }
        fields.push(name.to_string());
    }
    Ok(fields)
}

pub(super) fn parse_list_query(
    query: &HashMap<String, String>,
    shared: &Shared,
    kind: EntityKind,
) -> Result<ListQuery, Response> {
    let limit = parse_limit(query)?;
    let sort_by = match query.get("sort_by").map(String::as_str) {
        None | Some("id") => "id",
        Some("update_time") => "update_time",
        Some("add_time") => "add_time",
        Some(_) => {
            return Err(validation_failed(
                "Validation failed: sort_by: Must be one of id, update_time, add_time",
            ))
        }
    };
    let descending = match query.get("sort_direction").map(String::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => {
            return Err(validation_failed(
                "Validation failed: sort_direction: Must be one of asc, desc",
            ))
        }
    };
    let after = match query.get("cursor") {
        Some(cursor) => Some(decode_cursor(
            cursor,
            sort_by,
            if descending { "desc" } else { "asc" },
        )?),
        None => None,
    };
    let owner_id = query_integer("owner_id", query.get("owner_id").map(String::as_str))
        .map_err(invalid_response)?;
    let org_id = if kind == EntityKind::Person {
        query_integer("org_id", query.get("org_id").map(String::as_str))
            .map_err(invalid_response)?
    } else {
        None
    };
    let ids = match query.get("ids") {
        None => None,
        Some(list) => {
            let mut ids = Vec::new();
            for part in list
                .split(',')
                .map(str::trim)
                .filter(|part| !part.is_empty())
            {
                ids.push(part.parse::<u64>().map_err(|_| {
                    validation_failed("Validation failed: ids: Expected comma separated integers")
                })?);
            }
            if ids.len() > 100 {
                return Err(validation_failed(
                    "Validation failed: ids: A maximum of 100 ids is allowed",
                ));
            }
            Some(ids)
        }
    };
    let updated_since = query
        .get("updated_since")
        .map(|text| parse_time("updated_since", text))
        .transpose()
        .map_err(invalid_response)?;
    let updated_until = query
        .get("updated_until")
        .map(|text| parse_time("updated_until", text))
        .transpose()
        .map_err(invalid_response)?;
    let option_labels = query_bool(
        "include_option_labels",
        query.get("include_option_labels").map(String::as_str),
    )
    .map_err(invalid_response)?
    .unwrap_or(false);
    query_bool(
        "include_labels",
        query.get("include_labels").map(String::as_str),
    )
    .map_err(invalid_response)?;
    let allowed: &[&str] = match kind {
        EntityKind::Organization => &ORGANIZATION_INCLUDE_FIELDS,
        EntityKind::Person => &PERSON_INCLUDE_FIELDS,
    };
    let include_fields = parse_include_fields(query, allowed)?;
    let custom = parse_custom_selection(query, shared, kind)?;
    if query.contains_key("filter_id") {
        query_integer("filter_id", query.get("filter_id").map(String::as_str))
            .map_err(invalid_response)?;
        return Err(v2_error(
            StatusCode::NOT_FOUND,
            "Filter not found",
            "ERR_NOT_FOUND",
        ));
    }
    if kind == EntityKind::Person && query.contains_key("deal_id") {
        query_integer("deal_id", query.get("deal_id").map(String::as_str))
            .map_err(invalid_response)?;
    }
    Ok(ListQuery {
        limit,
        sort_by,
        descending,
        after,
        owner_id,
        org_id,
        ids,
        updated_since,
        updated_until,
        custom,
        option_labels,
        include_fields,
    })
}

/// Common to both entities: which records a list page holds.
pub(super) struct Row {
    pub(super) id: u64,
    pub(super) owner_id: u64,
    pub(super) org_id: Option<u64>,
    pub(super) add_time: i64,
    pub(super) update_time: i64,
}

pub(super) type RowRange = (std::ops::Bound<u64>, std::ops::Bound<u64>);

/// Picks one page. `rows_in` yields the live records of an id range in ascending id order; with
/// `sort_by=id` only the page itself is visited, so paging through a large store stays cheap.
pub(super) fn select_page<I>(
    rows_in: impl Fn(RowRange) -> I,
    list: &ListQuery,
    deal_filter: bool,
) -> (Vec<u64>, Option<String>)
where
    I: DoubleEndedIterator<Item = Row>,
{
    use std::ops::Bound::{Excluded, Unbounded};
    let keep = |row: &Row| -> bool {
        !deal_filter
            && list.owner_id.is_none_or(|owner| row.owner_id == owner)
            && list.org_id.is_none_or(|org| row.org_id == Some(org))
            && list.ids.as_ref().is_none_or(|ids| ids.contains(&row.id))
            && list
                .updated_since
                .is_none_or(|since| row.update_time >= since)
            && list
                .updated_until
                .is_none_or(|until| row.update_time < until)
    };
    let direction = if list.descending { "desc" } else { "asc" };
    let mut page: Vec<(i64, u64)> = if list.sort_by == "id" {
        let after = list.after.map(|(_, id)| id);
        let take = list.limit + 1;
        if list.descending {
            let range = (Unbounded, after.map_or(Unbounded, Excluded));
            rows_in(range)
                .rev()
                .filter(|row| keep(row))
                .map(|row| (row.id as i64, row.id))
                .take(take)
                .collect()
        } else {
            let range = (after.map_or(Unbounded, Excluded), Unbounded);
            rows_in(range)
                .filter(|row| keep(row))
                .map(|row| (row.id as i64, row.id))
                .take(take)
                .collect()
        }
    } else {
        let key_of = |row: &Row| -> i64 {
            if list.sort_by == "update_time" {
                row.update_time
            } else {
                row.add_time
            }
        };
        let mut keyed: Vec<(i64, u64)> = rows_in((Unbounded, Unbounded))
            .filter(|row| keep(row))
            .map(|row| (key_of(&row), row.id))
            .collect();
        keyed.sort_unstable();
        if list.descending {
            keyed.reverse();
        }
        let start = match list.after {
            None => 0,
            Some(after) => keyed.partition_point(|item| {
                if list.descending {
                    *item >= after
                } else {
                    *item <= after
                }
            }),
        };
        keyed.into_iter().skip(start).take(list.limit + 1).collect()
    };
    let more = page.len() > list.limit;
    page.truncate(list.limit);
    let next = if more {
        page.last()
            .map(|(value, id)| encode_cursor(list.sort_by, *value, direction, *id))
    } else {
        None
    };
    (page.into_iter().map(|(_, id)| id).collect(), next)
}
