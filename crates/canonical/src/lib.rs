//! The canonical records ECC is read into and everything downstream works on.
//!
//! This crate owns the shape of a customer and a contact person, SAP's ALPHA key conversion and
//! the stable content hash. It does no I/O, so every other stage can depend on it freely.

pub mod alpha;
pub mod hash;
pub mod record;

pub use alpha::{alpha_input, alpha_output};
pub use hash::ContentHash;
pub use record::{Address, ContactPerson, Customer, PaymentTerms};
