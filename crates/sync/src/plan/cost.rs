//! Pipedrive token costs of the operations a plan contains, from the v2 spec's `x-token-cost`
//! (research 1.2): list 10 a page of up to 500, get 1, create 5, update 5, delete 3.

pub const LIST_PAGE_TOKENS: u32 = 10;
pub const LIST_PAGE_SIZE: usize = 500;
pub const GET_TOKENS: u32 = 1;
pub const CREATE_TOKENS: u32 = 5;
pub const UPDATE_TOKENS: u32 = 5;
pub const DELETE_TOKENS: u32 = 3;

/// Pages of the list endpoint to read `records` records (at least one, to learn there are none).
pub fn list_pages(records: usize) -> u32 {
    records.div_ceil(LIST_PAGE_SIZE).max(1) as u32
}

/// Tokens to load the index of existing organizations and persons from the list endpoints.
pub fn index_tokens(organizations: usize, persons: usize) -> u32 {
    (list_pages(organizations) + list_pages(persons)) * LIST_PAGE_TOKENS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_costs_ten_tokens_a_page_of_500() {
        assert_eq!(index_tokens(0, 0), 20);
        assert_eq!(index_tokens(500, 501), 30);
        assert_eq!(index_tokens(100_000, 200_000), 200 * 10 + 400 * 10);
    }
}
