//! The token cost of every operation the simulator serves, copied from the `x-token-cost` of
//! Pipedrive's OpenAPI documents (v2 for `/api/v2`, v1 for `/v1`). A test compares this table
//! with the documents whenever they are present.

/// (method, route as the simulator routes it, tokens).
pub const TOKEN_COSTS: &[(&str, &str, u32)] = &[
    ("GET", "/api/v2/organizations", 10),
    ("POST", "/api/v2/organizations", 5),
    ("GET", "/api/v2/organizations/{id}", 1),
    ("PATCH", "/api/v2/organizations/{id}", 5),
    ("DELETE", "/api/v2/organizations/{id}", 3),
    ("GET", "/api/v2/organizations/search", 20),
    ("GET", "/api/v2/persons", 10),
    ("POST", "/api/v2/persons", 5),
    ("GET", "/api/v2/persons/{id}", 1),
    ("PATCH", "/api/v2/persons/{id}", 5),
    ("DELETE", "/api/v2/persons/{id}", 3),
    ("GET", "/api/v2/persons/search", 20),
    ("GET", "/api/v2/itemSearch/field", 20),
    ("GET", "/api/v2/organizationFields", 10),
    ("POST", "/api/v2/organizationFields", 5),
    ("GET", "/api/v2/organizationFields/{field_code}", 1),
    ("PATCH", "/api/v2/organizationFields/{field_code}", 5),
    ("DELETE", "/api/v2/organizationFields/{field_code}", 3),
    ("POST", "/api/v2/organizationFields/{field_code}/options", 5),
    (
        "PATCH",
        "/api/v2/organizationFields/{field_code}/options",
        5,
    ),
    (
        "DELETE",
        "/api/v2/organizationFields/{field_code}/options",
        3,
    ),
    ("GET", "/api/v2/personFields", 10),
    ("POST", "/api/v2/personFields", 5),
    ("GET", "/api/v2/personFields/{field_code}", 1),
    ("PATCH", "/api/v2/personFields/{field_code}", 5),
    ("DELETE", "/api/v2/personFields/{field_code}", 3),
    ("POST", "/api/v2/personFields/{field_code}/options", 5),
    ("PATCH", "/api/v2/personFields/{field_code}/options", 5),
    ("DELETE", "/api/v2/personFields/{field_code}/options", 3),
    ("GET", "/v1/organizationFields", 20),
    ("POST", "/v1/organizationFields", 10),
    ("DELETE", "/v1/organizationFields", 10),
    ("GET", "/v1/organizationFields/{id}", 2),
    ("PUT", "/v1/organizationFields/{id}", 10),
    ("DELETE", "/v1/organizationFields/{id}", 6),
    ("GET", "/v1/personFields", 20),
    ("POST", "/v1/personFields", 10),
    ("DELETE", "/v1/personFields", 10),
    ("GET", "/v1/personFields/{id}", 2),
    ("PUT", "/v1/personFields/{id}", 10),
    ("DELETE", "/v1/personFields/{id}", 6),
    ("PUT", "/v1/organizations/{id}/merge", 40),
    ("PUT", "/v1/persons/{id}/merge", 40),
    ("GET", "/v1/users/me", 2),
    ("GET", "/v1/webhooks", 10),
    ("POST", "/v1/webhooks", 10),
    ("DELETE", "/v1/webhooks/{id}", 6),
];

/// Tokens an operation costs; `/api/v1/...` is the same operation as `/v1/...`.
pub fn token_cost(method: &str, route: &str) -> Option<u32> {
    let route = route
        .strip_prefix("/api")
        .filter(|rest| rest.starts_with("/v1/"))
        .unwrap_or(route);
    TOKEN_COSTS
        .iter()
        .find(|(cost_method, cost_route, _)| *cost_method == method && *cost_route == route)
        .map(|(_, _, cost)| *cost)
}

/// Search endpoints share their own 10-per-2-seconds limit.
pub fn is_search(route: &str) -> bool {
    route.ends_with("/search") || route.contains("/itemSearch")
}
