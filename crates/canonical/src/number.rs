//! A customer's number in its two forms, as two types: SAP's internal form ("0000004711"), the
//! key of everything the connector stores and compares, and the display form ("4711") that
//! people see and Pipedrive's number field holds. Keeping them apart lets the compiler refuse a
//! comparison of one with the other, which would find no match and silently create duplicates:
//!
//! ```compile_fail
//! use mlc_canonical::CustomerNumber;
//! let number = CustomerNumber::from_input("4711").unwrap();
//! let same = number == number.display(); // internal against display form: refused
//! ```
//!
//! ```
//! use mlc_canonical::CustomerNumber;
//! let number = CustomerNumber::from_input("4711").unwrap();
//! assert_eq!(number.display(), number.display());
//! assert_eq!(number.as_str(), "0000004711");
//! ```

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::alpha::{alpha_input, alpha_output};

/// KUNNR's length in SAP's dictionary.
pub const CUSTOMER_NUMBER_WIDTH: usize = 10;

/// KUNNR in SAP's internal form, e.g. "0000004711": as ECC stores it, and the key in the store,
/// the audit trail and every comparison between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerNumber(String);

/// KUNNR without leading zeros, e.g. "4711": for people, and what Pipedrive's customer number
/// field holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DisplayNumber(String);

impl CustomerNumber {
    /// A number already in the internal form, as ECC answers it (trimmed here: CHAR fields come
    /// padded with blanks).
    pub fn from_internal(internal: impl Into<String>) -> CustomerNumber {
        let internal = internal.into();
        match internal.trim() {
            trimmed if trimmed.len() == internal.len() => CustomerNumber(internal),
            trimmed => CustomerNumber(trimmed.to_string()),
        }
    }

    /// A number as a person types it ("4711", " 0000004711 "), converted as SAP's ALPHA input
    /// exit does; `None` when it is longer than KUNNR.
    pub fn from_input(external: &str) -> Option<CustomerNumber> {
        alpha_input(external, CUSTOMER_NUMBER_WIDTH).map(CustomerNumber)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The display form of this number ("0000004711" → "4711").
    pub fn display(&self) -> DisplayNumber {
        DisplayNumber(alpha_output(&self.0))
    }
}

impl DisplayNumber {
    /// The display form of a number as written by a person or held by a Pipedrive field
    /// (trimmed).
    pub fn new(display: impl Into<String>) -> DisplayNumber {
        let display = display.into();
        match display.trim() {
            trimmed if trimmed.len() == display.len() => DisplayNumber(display),
            trimmed => DisplayNumber(trimmed.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Prints the internal form, as log lines and error messages about keys always have.
impl fmt::Display for CustomerNumber {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl fmt::Display for DisplayNumber {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// Lets maps keyed by customer number be looked up with a key read as text (the store's).
impl Borrow<str> for CustomerNumber {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for CustomerNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for DisplayNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_forms_convert_as_sap_does() {
        let number = CustomerNumber::from_input(" 4711 ").unwrap();
        assert_eq!(number.as_str(), "0000004711");
        assert_eq!(number.display().as_str(), "4711");
        assert_eq!(
            CustomerNumber::from_input("CPD-01").unwrap().as_str(),
            "CPD-01"
        );
        assert!(CustomerNumber::from_input("12345678901").is_none());
    }

    #[test]
    fn internal_values_from_ecc_are_trimmed_and_serialize_as_plain_text() {
        let number = CustomerNumber::from_internal("0000004711  ");
        assert_eq!(number.as_str(), "0000004711");
        assert_eq!(serde_json::to_string(&number).unwrap(), "\"0000004711\"");
        let read: CustomerNumber = serde_json::from_str("\"0000004711\"").unwrap();
        assert_eq!(read, number);
        assert_eq!(DisplayNumber::new(" 4711").as_str(), "4711");
    }
}
