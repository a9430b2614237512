//! The canonical records ECC is read into and everything downstream works on.
//!
//! This crate owns the shape of a customer and a contact person, SAP's ALPHA key conversion, the
//! stable content hash, and (`state`) the vocabulary of what is known and decided about a record
//! between runs. It does no I/O, so every other stage can depend on it freely.

pub mod alpha;
pub mod hash;
pub mod number;
pub mod record;
pub mod state;

pub use alpha::{alpha_input, alpha_output};
pub use hash::ContentHash;
pub use number::{CustomerNumber, DisplayNumber};
pub use record::{Address, ContactPerson, Customer, PaymentTerms};
