//! The OAuth scopes each operation accepts (any one of them suffices), copied from the
//! `security` of Pipedrive's OpenAPI documents; a test compares this table with the documents.
//! A token without any of them gets Pipedrive's 403 "Scope and URL mismatch".

/// (method, route as the simulator routes it, scopes of which one is needed).
#[rustfmt::skip]
pub const OPERATION_SCOPES: &[(&str, &str, &[&str])] = &[
    ("GET", "/api/v2/organizations", &["contacts:read", "contacts:full"]),
    ("POST", "/api/v2/organizations", &["contacts:full"]),
    ("GET", "/api/v2/organizations/{id}", &["contacts:read", "contacts:full"]),
    ("PATCH", "/api/v2/organizations/{id}", &["contacts:full"]),
    ("DELETE", "/api/v2/organizations/{id}", &["contacts:full"]),
    ("GET", "/api/v2/organizations/search", &["contacts:read", "contacts:full", "search:read"]),
    ("GET", "/api/v2/persons", &["contacts:read", "contacts:full"]),
    ("POST", "/api/v2/persons", &["contacts:full"]),
    ("GET", "/api/v2/persons/{id}", &["contacts:read", "contacts:full"]),
    ("PATCH", "/api/v2/persons/{id}", &["contacts:full"]),
    ("DELETE", "/api/v2/persons/{id}", &["contacts:full"]),
    ("GET", "/api/v2/persons/search", &["contacts:read", "contacts:full", "search:read"]),
    ("GET", "/api/v2/itemSearch/field", &["search:read"]),
    ("GET", "/api/v2/organizationFields", &["contacts:read", "contacts:full", "admin", "contact-fields:full"]),
    ("POST", "/api/v2/organizationFields", &["admin", "contact-fields:full"]),
    ("GET", "/api/v2/organizationFields/{field_code}", &["contacts:read", "contacts:full", "admin", "contact-fields:full"]),
    ("PATCH", "/api/v2/organizationFields/{field_code}", &["contacts:full", "admin", "contact-fields:full"]),
    ("DELETE", "/api/v2/organizationFields/{field_code}", &["admin", "contact-fields:full"]),
    ("POST", "/api/v2/organizationFields/{field_code}/options", &["contacts:full", "admin", "contact-fields:full"]),
    ("PATCH", "/api/v2/organizationFields/{field_code}/options", &["contacts:full", "admin", "contact-fields:full"]),
    ("DELETE", "/api/v2/organizationFields/{field_code}/options", &["contacts:full", "admin", "contact-fields:full"]),
    ("GET", "/api/v2/personFields", &["contacts:read", "contacts:full", "admin", "contact-fields:full"]),
    ("POST", "/api/v2/personFields", &["admin", "contact-fields:full"]),
    ("GET", "/api/v2/personFields/{field_code}", &["contacts:read", "contacts:full", "admin", "contact-fields:full"]),
    ("PATCH", "/api/v2/personFields/{field_code}", &["contacts:full", "admin", "contact-fields:full"]),
    ("DELETE", "/api/v2/personFields/{field_code}", &["admin", "contact-fields:full"]),
    ("POST", "/api/v2/personFields/{field_code}/options", &["contacts:full", "admin", "contact-fields:full"]),
    ("PATCH", "/api/v2/personFields/{field_code}/options", &["contacts:full", "admin", "contact-fields:full"]),
    ("DELETE", "/api/v2/personFields/{field_code}/options", &["contacts:full", "admin", "contact-fields:full"]),
    ("GET", "/v1/organizationFields", &["contacts:read", "contacts:full", "contact-fields:full", "admin"]),
    ("POST", "/v1/organizationFields", &["contact-fields:full", "admin"]),
    ("DELETE", "/v1/organizationFields", &["contact-fields:full", "admin"]),
    ("GET", "/v1/organizationFields/{id}", &["contacts:read", "contacts:full", "contact-fields:full", "admin"]),
    ("PUT", "/v1/organizationFields/{id}", &["contact-fields:full", "admin"]),
    ("DELETE", "/v1/organizationFields/{id}", &["contact-fields:full", "admin"]),
    ("GET", "/v1/personFields", &["contacts:read", "contacts:full", "contact-fields:full", "admin"]),
    ("POST", "/v1/personFields", &["contact-fields:full", "admin"]),
    ("DELETE", "/v1/personFields", &["contact-fields:full", "admin"]),
    ("GET", "/v1/personFields/{id}", &["contacts:read", "contacts:full", "contact-fields:full", "admin"]),
    ("PUT", "/v1/personFields/{id}", &["contact-fields:full", "admin"]),
    ("DELETE", "/v1/personFields/{id}", &["contact-fields:full", "admin"]),
    ("PUT", "/v1/organizations/{id}/merge", &["contacts:full"]),
    ("PUT", "/v1/persons/{id}/merge", &["contacts:full"]),
    ("GET", "/v1/users/me", &["base"]),
    ("GET", "/v1/webhooks", &["admin"]),
    ("POST", "/v1/webhooks", &["admin"]),
    ("DELETE", "/v1/webhooks/{id}", &["admin"]),
];

/// What an OAuth app is granted unless `--oauth-scopes` says otherwise: everything the
/// connector uses.
pub const DEFAULT_SCOPES: &str = "base contacts:full search:read admin contact-fields:full";

/// Whether a token granted `granted` (space- or comma-separated) may call the operation; an
/// operation not in the table (admin and `/_sim` endpoints) needs nothing.
pub fn allowed(granted: &str, method: &str, route: &str) -> bool {
    let route = route
        .strip_prefix("/api")
        .filter(|rest| rest.starts_with("/v1/"))
        .unwrap_or(route);
    let Some((_, _, needed)) = OPERATION_SCOPES
        .iter()
        .find(|(scope_method, scope_route, _)| *scope_method == method && *scope_route == route)
    else {
        return true;
    };
    granted
        .split([' ', ','])
        .any(|scope| needed.contains(&scope.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_one_listed_scope_is_enough_and_a_missing_one_refuses() {
        assert!(allowed(
            "base contacts:read",
            "GET",
            "/api/v2/organizations"
        ));
        assert!(!allowed(
            "base contacts:read",
            "POST",
            "/api/v2/organizations"
        ));
        assert!(allowed(
            "base,contacts:full",
            "POST",
            "/api/v2/organizations"
        ));
        assert!(!allowed(
            "base contacts:full",
            "POST",
            "/api/v2/organizationFields"
        ));
        assert!(allowed("admin", "POST", "/api/v1/webhooks"));
        assert!(allowed(DEFAULT_SCOPES, "GET", "/v1/users/me"));
        assert!(allowed("", "GET", "/_sim/stats"));
    }
}
