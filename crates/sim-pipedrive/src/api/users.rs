//! `GET /v1/users/me`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde_json::json;

use super::responses::{ok, v1_time};
use crate::clock::now_secs;
use crate::state::Shared;

pub(super) async fn users_me(State(shared): State<Arc<Shared>>) -> Response {
    ok(json!({
        "id": 1, "name": "Sim Admin", "default_currency": "EUR", "locale": "en_US", "lang": 1,
        "email": "admin@sim-company.example", "phone": null, "activated": true,
        "last_login": v1_time(now_secs()), "created": "2020-01-01 00:00:00", "modified": null,
        "has_created_company": true,
        "access": [{"app": "sales", "admin": true, "permission_set_id": "00000000-0000-4000-8000-000000000001"},
                   {"app": "global", "admin": true, "permission_set_id": "00000000-0000-4000-8000-000000000002"}],
        "active_flag": true, "timezone_name": shared.options.timezone, "timezone_offset": "+02:00", "role_id": 1,
        "icon_url": null, "is_you": true, "is_deleted": false,
        "company_id": shared.company_id, "company_name": "Sim Company", "company_domain": "sim-company",
        "company_country": "DE", "company_industry": "Manufacturing",
        "language": {"language_code": "en", "country_code": "US"},
    }))
}
