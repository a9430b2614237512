//! Customer and contact person as the connector understands them, independent of the transport
//! they were read through and of the Pipedrive fields they map to.
//!
//! Conventions, shared by the extraction and the ECC simulator's truth:
//! - SAP CHAR values are trimmed; a blank optional scalar is `None`, a blank address part is "".
//! - Keys are in SAP's internal form (`"0000004711"`), the display form sits beside them.
//! - Only e-mails and phones in use count: ADR6/ADR2 rows flagged FLG_NOUSE or outside their
//!   VALID_FROM/VALID_TO are left out.
//! - `email`/`phone` of a customer are its default ones (FLGDEFAULT = 'X', else the lowest
//!   CONSNUMBER) under its ADRNR with PERSNUMBER blank; a contact's `emails`/`phones` list every
//!   entry under the customer's ADRNR with the contact's PRSNR (its work data; never the private
//!   rows under KNVK-ADRNP_2), the default first, then by CONSNUMBER. Mobile numbers (ADR2-R3_USER
//!   '2' or '3') are in `mobile_phones`, ordered the same way, not in `phones`.
//! - A phone is ADR2-TEL_NUMBER, followed by "-" and TEL_EXTENS when there is an extension.
//! - `payment_terms` is KNVV-ZTERM of the configured sales area, or KNB1-ZTERM of the configured
//!   company code when the sales area has none; the text comes from TVZBT in the configured
//!   language.
//! - `blocked` is KNA1-SPERR = 'X' or any of KNA1-AUFSD/LIFSD/FAKSD set; `deleted` is
//!   KNA1-LOEVM = 'X'.
//! - `shipping_address` is the ADRC address of the ship-to party (KNVP, PARVW 'WE', configured
//!   sales area) when it is another customer than the sold-to itself.
//! - A contact's `department` is KNVK-ABTPA; its `function` is the TPFKT text of KNVK-PAFKT.

use serde::{Deserialize, Serialize};

use crate::alpha::alpha_output;
use crate::hash::{ContentHash, ContentHasher};
use crate::number::{CustomerNumber, DisplayNumber};

/// A customer of the ECC customer master, which becomes a Pipedrive organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// KUNNR in SAP's internal form, e.g. "0000004711".
    pub customer_number: CustomerNumber,
    /// KUNNR without leading zeros, e.g. "4711".
    pub customer_number_display: DisplayNumber,
    /// The non-empty NAME1..NAME4 joined by one space.
    pub name: String,
    pub name_parts: [String; 4],
    /// KTOKD, e.g. "0001"; "CPD" marks one-time customers.
    pub account_group: String,
    /// STCEG.
    pub vat_number: Option<String>,
    pub deleted: bool,
    pub blocked: bool,
    pub billing_address: Address,
    pub shipping_address: Option<Address>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub payment_terms: Option<PaymentTerms>,
    pub contacts: Vec<ContactPerson>,
}

/// A postal address from ADRC. `country` is the ISO code as SAP stores it ("DE").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub street: String,
    pub house_number: String,
    pub postal_code: String,
    pub city: String,
    pub region: String,
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentTerms {
    /// ZTERM, e.g. "ZB30".
    pub code: String,
    /// TVZBT-VTEXT in the configured language, `None` when ECC has no text for the code.
    pub text: Option<String>,
}

/// A contact person of a customer (KNVK with KUNNR set), which becomes a Pipedrive person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactPerson {
    /// PARNR in SAP's internal form, e.g. "0000012345".
    pub contact_number: String,
    pub first_name: String,
    pub last_name: String,
    pub department: Option<String>,
    pub function: Option<String>,
    pub emails: Vec<String>,
    /// Landline numbers (ADR2-R3_USER blank or '1').
    pub phones: Vec<String>,
    /// Mobile numbers (ADR2-R3_USER '2' or '3'), written to Pipedrive labelled "mobile".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mobile_phones: Vec<String>,
}

/// Joins NAME1..NAME4 the way the brief defines `name`: the non-empty parts, one space apart.
pub fn join_name_parts(parts: &[String; 4]) -> String {
    parts
        .iter()
        .map(|part| part.trim())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Customer {
    /// Hash of everything that describes the organization itself, contacts excluded, so that a
    /// changed contact does not make its organization look changed.
    pub fn organization_hash(&self) -> ContentHash {
        let mut hasher = ContentHasher::new("customer/v1");
        hasher.text(self.customer_number.as_str());
        hasher.text(self.customer_number_display.as_str());
        hasher.text(&self.name);
        for part in &self.name_parts {
            hasher.text(part);
        }
        hasher.text(&self.account_group);
        hasher.optional_text(self.vat_number.as_deref());
        hasher.flag(self.deleted);
        hasher.flag(self.blocked);
        hash_address(&mut hasher, Some(&self.billing_address));
        hash_address(&mut hasher, self.shipping_address.as_ref());
        hasher.optional_text(self.email.as_deref());
        hasher.optional_text(self.phone.as_deref());
        match &self.payment_terms {
            None => hasher.absent(),
            Some(terms) => {
                hasher.present();
                hasher.text(&terms.code);
                hasher.optional_text(terms.text.as_deref());
            }
        }
        hasher.finish()
    }

    /// Hash of the whole record: the organization and every contact, in contact-number order.
    pub fn content_hash(&self) -> ContentHash {
        let mut contacts: Vec<&ContactPerson> = self.contacts.iter().collect();
        contacts.sort_by(|a, b| a.contact_number.cmp(&b.contact_number));
        let mut hasher = ContentHasher::new("customer-with-contacts/v1");
        hasher.text(self.organization_hash().as_str());
        hasher.count(contacts.len());
        for contact in contacts {
            hasher.text(contact.content_hash().as_str());
        }
        hasher.finish()
    }

    /// Checks the display form against the internal key; both come from one KUNNR.
    pub fn display_number_matches(&self) -> bool {
        self.customer_number.display() == self.customer_number_display
    }
}

impl ContactPerson {
    pub fn content_hash(&self) -> ContentHash {
        let mut hasher = ContentHasher::new("contact/v1");
        hasher.text(&self.contact_number);
        hasher.text(&self.first_name);
        hasher.text(&self.last_name);
        hasher.optional_text(self.department.as_deref());
        hasher.optional_text(self.function.as_deref());
        hasher.count(self.emails.len());
        for email in &self.emails {
            hasher.text(email);
        }
        hasher.count(self.phones.len());
        for phone in &self.phones {
            hasher.text(phone);
        }
        // Only when there are any, so contacts without mobiles keep the hash they had.
        if !self.mobile_phones.is_empty() {
            hasher.text("mobile_phones");
            hasher.count(self.mobile_phones.len());
            for phone in &self.mobile_phones {
                hasher.text(phone);
            }
        }
        hasher.finish()
    }

    /// The contact number without leading zeros, as written to "ECC Contact Number".
    pub fn contact_number_display(&self) -> String {
        alpha_output(&self.contact_number)
    }

    /// First and last name joined, as Pipedrive shows a person's name.
    pub fn full_name(&self) -> String {
        [self.first_name.trim(), self.last_name.trim()]
            .iter()
            .filter(|part| !part.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn hash_address(hasher: &mut ContentHasher, address: Option<&Address>) {
    let Some(address) = address else {
        hasher.absent();
        return;
    };
    hasher.present();
    hasher.text(&address.street);
    hasher.text(&address.house_number);
    hasher.text(&address.postal_code);
    hasher.text(&address.city);
    hasher.text(&address.region);
    hasher.text(&address.country);
}
