//! What each Pipedrive operation costs from the company's daily token budget. The figures are the
//! spec's `x-token-cost` of every operation the connector calls (tests compare this table with
//! `specs/pipedrive-openapi-v{1,2}.yml` whenever the files are there).

use reqwest::Method;

/// One operation the client may call: method, path template as written in the spec (with the
/// `/api/v2` or `/v1` prefix) and its cost in tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationCost {
    pub method: &'static str,
    pub path_template: &'static str,
    pub tokens: u32,
}

const fn op(method: &'static str, path_template: &'static str, tokens: u32) -> OperationCost {
    OperationCost {
        method,
        path_template,
        tokens,
    }
}

/// Every operation the client calls, with the spec's cost.
pub const OPERATION_COSTS: &[OperationCost] = &[
    op("GET", "/api/v2/organizations", 10),
    op("POST", "/api/v2/organizations", 5),
    op("GET", "/api/v2/organizations/{id}", 1),
    op("PATCH", "/api/v2/organizations/{id}", 5),
    op("DELETE", "/api/v2/organizations/{id}", 3),
    op("GET", "/api/v2/organizations/search", 20),
    op("GET", "/api/v2/persons", 10),
    op("POST", "/api/v2/persons", 5),
    op("GET", "/api/v2/persons/{id}", 1),
    op("PATCH", "/api/v2/persons/{id}", 5),
    op("DELETE", "/api/v2/persons/{id}", 3),
    op("GET", "/api/v2/persons/search", 20),
    op("GET", "/api/v2/itemSearch/field", 20),
    op("GET", "/api/v2/organizationFields", 10),
    op("POST", "/api/v2/organizationFields", 5),
    op("GET", "/api/v2/organizationFields/{field_code}", 1),
    op("GET", "/api/v2/personFields", 10),
    op("POST", "/api/v2/personFields", 5),
    op("GET", "/api/v2/personFields/{field_code}", 1),
    op("PUT", "/v1/organizations/{id}/merge", 40),
    op("PUT", "/v1/persons/{id}/merge", 40),
    op("GET", "/v1/users/me", 2),
    op("GET", "/v1/webhooks", 10),
    op("POST", "/v1/webhooks", 10),
    op("DELETE", "/v1/webhooks/{id}", 6),
];

/// Cost of an operation not in the table: the dearest known cost, so an unknown call never
/// spends more of the budget than the governor charged for it.
pub const UNKNOWN_OPERATION_COST: u32 = 40;

/// The tokens one call of `method path_template` costs (`x-token-cost` of the spec).
pub fn token_cost(method: &Method, path_template: &str) -> u32 {
    OPERATION_COSTS
        .iter()
        .find(|cost| cost.method == method.as_str() && cost.path_template == path_template)
        .map(|cost| cost.tokens)
        .unwrap_or(UNKNOWN_OPERATION_COST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connector_s_everyday_calls_cost_what_the_research_says() {
        assert_eq!(token_cost(&Method::POST, "/api/v2/organizations"), 5);
        assert_eq!(token_cost(&Method::GET, "/api/v2/organizations"), 10);
        assert_eq!(token_cost(&Method::GET, "/api/v2/organizations/search"), 20);
        assert_eq!(token_cost(&Method::GET, "/v1/users/me"), 2);
    }

    #[test]
    fn an_unknown_call_is_charged_the_dearest_cost() {
        assert_eq!(
            token_cost(&Method::GET, "/v1/deals"),
            UNKNOWN_OPERATION_COST
        );
    }
}
