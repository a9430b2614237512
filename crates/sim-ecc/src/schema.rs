//! The ECC tables the simulator serves, as the data dictionary defines them: field name, ABAP
//! type as RFC_READ_TABLE reports it (C, N, D, T, P), length in characters, key flag and short
//! text. A packed field's length is its number of digits (DFIES-LENG), which is all the room
//! RFC_READ_TABLE gives it in a row.
//!
//! Lengths are characters of a Unicode system (research §1; docsfortec's byte lengths halved).
//! Tables carry their real width, populated or blank, so that selecting every field of KNA1,
//! ADRC or CDPOS exceeds RFC_READ_TABLE's 512-character row as it does on a real system.

/// RFC_DB_FLD-TYPE of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// CHAR (also CLNT, LANG, CUKY): left-justified, blank-padded.
    Char,
    /// NUMC: digits, right-justified, zero-padded.
    Numc,
    /// DATS: YYYYMMDD, "00000000" when empty.
    Date,
    /// TIMS: HHMMSS.
    Time,
    /// DEC, CURR, QUAN (ABAP type P) with this many decimals: RFC_READ_TABLE MOVEs the number
    /// into its LENG characters (see `FieldDef::pad`).
    Packed(u8),
}

impl FieldType {
    pub fn code(self) -> &'static str {
        match self {
            FieldType::Char => "C",
            FieldType::Numc => "N",
            FieldType::Date => "D",
            FieldType::Time => "T",
            FieldType::Packed(_) => "P",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    pub name: &'static str,
    pub field_type: FieldType,
    pub length: usize,
    pub key: bool,
    pub text: &'static str,
}

impl FieldDef {
    /// The value as it sits in a fixed-width row: padded to the field length, counted in
    /// characters. Blank NUMC/DATS/TIMS values become zeros, as the database holds them.
    pub fn pad(&self, value: &str, out: &mut String) {
        let count = value.chars().count();
        match self.field_type {
            FieldType::Packed(decimals) => {
                out.push_str(&packed_in_row(value, decimals, self.length))
            }
            FieldType::Char => {
                out.extend(value.chars().take(self.length));
                for _ in count.min(self.length)..self.length {
                    out.push(' ');
                }
            }
            FieldType::Numc | FieldType::Date | FieldType::Time => {
                let trimmed = value.trim();
                if trimmed.is_empty() {
                    for _ in 0..self.length {
                        out.push('0');
                    }
                    return;
                }
                let digits = trimmed.chars().count();
                for _ in digits.min(self.length)..self.length {
                    out.push('0');
                }
                let skip = digits.saturating_sub(self.length);
                out.extend(trimmed.chars().skip(skip));
            }
        }
    }
}

/// A packed number `value` ("-2.5") as RFC_READ_TABLE's `MOVE <comp> TO <wa>+offset(LENG)`
/// leaves it, following ABAP's conversion of type p to c: the digits with a decimal point and
/// `decimals` places, a minus sign or a blank after them, right-aligned; when that does not fit,
/// a positive number drops the blank, and what still does not fit is cut on the left with `*`
/// in the first place ("*.0" for 10.0 in three characters).
pub fn packed_in_row(value: &str, decimals: u8, length: usize) -> String {
    let number: f64 = value.trim().parse().unwrap_or(0.0);
    let negative = number < 0.0;
    let digits = format!("{:.*}", usize::from(decimals), number.abs());
    let with_sign = format!("{digits}{}", if negative { '-' } else { ' ' });
    let shown = if with_sign.chars().count() <= length {
        with_sign
    } else if !negative && digits.chars().count() <= length {
        digits
    } else {
        let text = if negative { with_sign } else { digits };
        let count = text.chars().count();
        let kept: String = text.chars().skip(count - length).collect();
        kept.chars()
            .enumerate()
            .map(|(index, c)| if index == 0 { '*' } else { c })
            .collect()
    };
    format!("{shown:>length$}")
}

#[derive(Debug)]
pub struct TableDef {
    pub name: &'static str,
    pub text: &'static str,
    pub fields: &'static [FieldDef],
}

impl TableDef {
    pub fn field(&self, name: &str) -> Option<&'static FieldDef> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// Characters of a row holding every field, without delimiters.
    pub fn width(&self) -> usize {
        self.fields.iter().map(|field| field.length).sum()
    }
}

const fn f(
    name: &'static str,
    field_type: FieldType,
    length: usize,
    text: &'static str,
) -> FieldDef {
    FieldDef {
        name,
        field_type,
        length,
        key: false,
        text,
    }
}

const fn k(
    name: &'static str,
    field_type: FieldType,
    length: usize,
    text: &'static str,
) -> FieldDef {
    FieldDef {
        name,
        field_type,
        length,
        key: true,
        text,
    }
}

/// A packed field: `length` digits (DFIES-LENG), `decimals` of them after the point.
const fn packed(name: &'static str, length: usize, decimals: u8, text: &'static str) -> FieldDef {
    FieldDef {
        name,
        field_type: FieldType::Packed(decimals),
        length,
        key: false,
        text,
    }
}

use FieldType::{Char as C, Date as D, Numc as N, Time as T};

pub static KNA1: TableDef = TableDef {
    name: "KNA1",
    text: "General Data in Customer Master",
    fields: &[
        k("MANDT", C, 3, "Client"),
        k("KUNNR", C, 10, "Customer Number"),
        f("LAND1", C, 3, "Country Key"),
        f("NAME1", C, 35, "Name 1"),
        f("NAME2", C, 35, "Name 2"),
        f("ORT01", C, 35, "City"),
        f("PSTLZ", C, 10, "Postal Code"),
        f("REGIO", C, 3, "Region (State, Province, County)"),
        f("SORTL", C, 10, "Sort field"),
        f("STRAS", C, 35, "House number and street"),
        f("TELF1", C, 16, "First telephone number"),
        f("TELFX", C, 31, "Fax Number"),
        f(
            "XCPDK",
            C,
            1,
            "Indicator: Is the account a one-time account?",
        ),
        f("ADRNR", C, 10, "Address"),
        f("MCOD1", C, 25, "Search term for matchcode search"),
        f("MCOD2", C, 25, "Search term for matchcode search"),
        f("MCOD3", C, 25, "Search term for matchcode search"),
        f("ANRED", C, 15, "Title"),
        f("AUFSD", C, 2, "Central order block for customer"),
        f("BAHNE", C, 25, "Express train station"),
        f("BAHNS", C, 25, "Train station"),
        f("BBBNR", N, 7, "International location number (part 1)"),
        f("BBSNR", N, 5, "International location number (part 2)"),
        f("BEGRU", C, 4, "Authorization Group"),
        f("BRSCH", C, 4, "Industry key"),
        f(
            "BUBKZ",
            N,
            1,
            "Check digit for the international location number",
        ),
        f("DATLT", C, 14, "Data communication line no."),
        f("ERDAT", D, 8, "Date on which the Record Was Created"),
        f("ERNAM", C, 12, "Name of Person who Created the Object"),
        f("EXABL", C, 1, "Indicator: Unloading points exist"),
        f("FAKSD", C, 2, "Central billing block for customer"),
        f(
            "FISKN",
            C,
            10,
            "Account number of the master record with the fiscal address",
        ),
        f("KNAZK", C, 2, "Working Time Calendar"),
        f("KNRZA", C, 10, "Account number of an alternative payer"),
        f("KONZS", C, 10, "Group key"),
        f("KTOKD", C, 4, "Customer Account Group"),
        f("KUKLA", C, 2, "Customer classification"),
        f("LIFNR", C, 10, "Account Number of Vendor or Creditor"),
        f("LIFSD", C, 2, "Central delivery block for the customer"),
        f("LOCCO", C, 10, "City Coordinates"),
        f("LOEVM", C, 1, "Central Deletion Flag for Master Record"),
        f("NAME3", C, 35, "Name 3"),
        f("NAME4", C, 35, "Name 4"),
        f("NIELS", C, 2, "Nielsen ID"),
        f("ORT02", C, 35, "District"),
        f("PFACH", C, 10, "PO Box"),
        f("PSTL2", C, 10, "P.O. Box Postal Code"),
        f("COUNC", C, 3, "County Code"),
        f("CITYC", C, 4, "City Code"),
        f("RPMKR", C, 5, "Regional market"),
        f("SPERR", C, 1, "Central posting block"),
        f("SPRAS", C, 1, "Language Key"),
        f("STCD1", C, 16, "Tax Number 1"),
        f("STCD2", C, 11, "Tax Number 2"),
        f(
            "STKZA",
            C,
            1,
            "Indicator: Business Partner Subject to Equalization Tax?",
        ),
        f("STKZU", C, 1, "Liable for VAT"),
        f("TELBX", C, 15, "Telebox number"),
        f("TELF2", C, 16, "Second telephone number"),
        f("TELTX", C, 30, "Teletex number"),
        f("TELX1", C, 30, "Telex number"),
        f(
            "LZONE",
            C,
            10,
            "Transportation zone to or from which the goods are delivered",
        ),
        f(
            "XZEMP",
            C,
            1,
            "Indicator: Is an alternative payer allowed in document?",
        ),
        f("VBUND", C, 6, "Company ID of Trading Partner"),
        f("STCEG", C, 20, "VAT Registration Number"),
        f("DEAR1", C, 1, "Indicator: Competitor"),
        f("GFORM", C, 2, "Legal status"),
        f("UMSA1", C, 20, "Annual sales"),
        f("UPDAT", D, 8, "Date on which the changes were confirmed"),
        f("UPTIM", T, 6, "Time of the last change confirmation"),
        f("NODEL", C, 1, "Central deletion block for master record"),
    ],
};

pub static KNB1: TableDef = TableDef {
    name: "KNB1",
    text: "Customer Master (Company Code)",
    fields: &[
        k("MANDT", C, 3, "Client"),
        k("KUNNR", C, 10, "Customer Number"),
        k("BUKRS", C, 4, "Company Code"),
        f("PERNR", N, 8, "Personnel Number"),
        f("ERDAT", D, 8, "Date on which the Record Was Created"),
        f("ERNAM", C, 12, "Name of Person who Created the Object"),
        f("SPERR", C, 1, "Posting block for company code"),
        f(
            "LOEVM",
            C,
            1,
            "Deletion Flag for Master Record (Company Code Level)",
        ),
        f(
            "ZUAWA",
            C,
            3,
            "Key for sorting according to assignment numbers",
        ),
        f("BUSAB", C, 2, "Accounting clerk"),
        f("AKONT", C, 10, "Reconciliation Account in General Ledger"),
        f("BEGRU", C, 4, "Authorization Group"),
        f("KNRZE", C, 10, "Head office account number"),
        f("KNRZB", C, 10, "Account number of an alternative payer"),
        f(
            "ZAMIM",
            C,
            1,
            "Indicator: Payment notice to customer (with cleared items)?",
        ),
        f(
            "ZWELS",
            C,
            10,
            "List of the Payment Methods to be Considered",
        ),
        f(
            "XVERR",
            C,
            1,
            "Indicator: Clearing between customer and vendor?",
        ),
        f("ZAHLS", C, 1, "Block key for payment"),
        f("ZTERM", C, 4, "Terms of Payment Key"),
        f(
            "WAKON",
            C,
            4,
            "Terms of payment key for bill of exchange charges",
        ),
        f("VZSKZ", C, 2, "Interest indicator"),
        f("ZINDT", D, 8, "Key date of last interest calculation"),
        f("ZINRT", N, 2, "Interest calculation frequency in months"),
        f("EIKTO", C, 12, "Our account number at customer"),
        f("ZSABE", C, 15, "User at customer"),
        f("KVERM", C, 30, "Memo"),
        f("FDGRV", C, 10, "Planning group"),
        f("VRBKZ", C, 2, "Export credit insurance institution number"),
        f("XAUSZ", C, 1, "Indicator for periodic account statements"),
        f("XDEZV", C, 1, "Indicator: Local processing?"),
        f("KULTG", N, 3, "Probable time until check is paid"),
        f(
            "NODEL",
            C,
            1,
            "Deletion bock for master record (company code level)",
        ),
    ],
};

pub static KNVV: TableDef = TableDef {
    name: "KNVV",
    text: "Customer Master Sales Data",
    fields: &[
        k("MANDT", C, 3, "Client"),
        k("KUNNR", C, 10, "Customer Number"),
        k("VKORG", C, 4, "Sales Organization"),
        k("VTWEG", C, 2, "Distribution Channel"),
        k("SPART", C, 2, "Division"),
        f("ERNAM", C, 12, "Name of Person who Created the Object"),
        f("ERDAT", D, 8, "Date on which the Record Was Created"),
        f("BEGRU", C, 4, "Authorization Group"),
        f("LOEVM", C, 1, "Deletion flag for customer (sales level)"),
        f("VERSG", C, 1, "Customer Statistics Group"),
        f("AUFSD", C, 2, "Customer order block (sales area)"),
        f("KALKS", C, 1, "Pricing procedure assigned to this customer"),
        f("KDGRP", C, 2, "Customer group"),
        f("BZIRK", C, 6, "Sales district"),
        f("KONDA", C, 2, "Price group (customer)"),
        f("PLTYP", C, 2, "Price list type"),
        f("AWAHR", N, 3, "Order probability of the item"),
        f("INCO1", C, 3, "Incoterms (Part 1)"),
        f("INCO2", C, 28, "Incoterms (Part 2)"),
        f("LIFSD", C, 2, "Customer delivery block (sales area)"),
        f(
            "AUTLF",
            C,
            1,
            "Complete delivery defined for each sales order?",
        ),
        f("KZAZU", C, 1, "Order Combination Indicator"),
        f("CHSPL", C, 1, "Batch split allowed"),
        f("LPRIO", N, 2, "Delivery Priority"),
        f(
            "EIKTO",
            C,
            12,
            "Shipper's (Our) Account Number at the Customer or Vendor",
        ),
        f("VSBED", C, 2, "Shipping Conditions"),
        f(
            "FAKSD",
            C,
            2,
            "Billing block for customer (sales and distribution)",
        ),
        f("MRNKZ", C, 1, "Manual invoice maintenance"),
        f("PERFK", C, 2, "Invoice Dates (Calendar Identification)"),
        f(
            "PERRL",
            C,
            2,
            "Invoice List Schedule (calendar identification)",
        ),
        f("WAERS", C, 5, "Currency"),
        f("KLABC", C, 2, "Customer classification (ABC analysis)"),
        f("KTGRD", C, 2, "Account assignment group for this customer"),
        f("ZTERM", C, 4, "Terms of Payment Key"),
        f("VWERK", C, 4, "Delivering Plant (Own or External)"),
        f("VKGRP", C, 3, "Sales Group"),
        f("VKBUR", C, 4, "Sales Office"),
        packed(
            "ANTLF",
            1,
            0,
            "Maximum Number of Partial Deliveries Allowed Per Item",
        ),
        packed("UEBTO", 3, 1, "Overdelivery Tolerance"),
        packed("UNTTO", 3, 1, "Underdelivery Tolerance"),
    ],
};

pub static KNVP: TableDef = TableDef {
    name: "KNVP",
    text: "Customer Master Partner Functions",
    fields: &[
        k("MANDT", C, 3, "Client"),
        k("KUNNR", C, 10, "Customer Number"),
        k("VKORG", C, 4, "Sales Organization"),
        k("VTWEG", C, 2, "Distribution Channel"),
        k("SPART", C, 2, "Division"),
        k("PARVW", C, 2, "Partner Function"),
        k("PARZA", N, 3, "Partner counter"),
        f("KUNN2", C, 10, "Customer number of business partner"),
        f("LIFNR", C, 10, "Vendor Account Number"),
        f("PERNR", N, 8, "Personnel Number"),
        f("PARNR", N, 10, "Number of contact person"),
        f(
            "KNREF",
            C,
            30,
            "Customer description of partner (plant, storage location)",
        ),
        f("DEFPA", C, 1, "Default Partner"),
    ],
};

pub static KNVK: TableDef = TableDef {
    name: "KNVK",
    text: "Customer Master Contact Partner",
    fields: &[
        k("MANDT", C, 3, "Client"),
        k("PARNR", N, 10, "Number of contact person"),
        f("KUNNR", C, 10, "Customer Number"),
        f("NAMEV", C, 35, "First name"),
        f("NAME1", C, 35, "Name 1"),
        f("ORT01", C, 35, "City"),
        f("ADRND", C, 10, "Business address"),
        f("ADRNP", C, 10, "Private address"),
        f("ABTPA", C, 12, "Contact person's department at customer"),
        f("ABTNR", C, 4, "Contact person department"),
        f("UEPAR", N, 10, "Higher-level partner"),
        f("TELF1", C, 16, "First telephone number"),
        f(
            "ANRED",
            C,
            30,
            "Form of address for contact person (Mr, Mrs...etc)",
        ),
        f("PAFKT", C, 2, "Contact person function"),
        f("PARVO", C, 1, "Partner's Authority"),
        f("PAVIP", C, 1, "VIP Partner"),
        f("PARGE", C, 1, "Partner's gender"),
        f("PARLA", C, 1, "Partner language"),
        f("GBDAT", D, 8, "Date of Birth"),
        f("VRTNR", N, 10, "Representative number"),
        f("BRYTH", C, 4, "Call frequency"),
        f("AKVER", C, 2, "Buying habits"),
        f("NMAIL", C, 1, "Advertising material indicator"),
        f("PARAU", C, 40, "Notes about contact person"),
        f("PARH1", C, 2, "Contact person: Attribute 1"),
        f("PARH2", C, 2, "Contact person: Attribute 2"),
        f("PARH3", C, 2, "Contact person: Attribute 3"),
        f("PARH4", C, 2, "Contact person: Attribute 4"),
        f("PARH5", C, 2, "Contact person: Attribute 5"),
        f(
            "MOAB1",
            T,
            6,
            "Contact person's visiting hours: Morning from",
        ),
        f(
            "MOBI1",
            T,
            6,
            "Contact person's visiting hours: Morning until",
        ),
        f("SORTL", C, 10, "Sort field"),
        f("FAMST", C, 1, "Marital Status Key"),
        f("SPNAM", C, 10, "Nickname of contact person"),
        f("TITEL_AP", C, 35, "Title of contact person (description)"),
        f("ERDAT", D, 8, "Date on which the Record Was Created"),
        f("ERNAM", C, 12, "Name of Person who Created the Object"),
        f(
            "DUEFL",
            C,
            1,
            "Status of Data Transfer into Subsequent Release",
        ),
        f("LIFNR", C, 10, "Account Number of Vendor or Creditor"),
        f("PRSNR", C, 10, "Person number"),
        f("PAKN1", C, 3, "Contact person: Attribute 6"),
        f("PAKN2", C, 3, "Contact person: Attribute 7"),
        f("LOEVM", C, 1, "Central Deletion Flag for Master Record"),
        f("KZHERK", C, 1, "Indicator: Origin of Contact Person Data"),
        f(
            "ADRNP_2",
            C,
            10,
            "Address Number of the Private Address (Business Address Services)",
        ),
    ],
};

pub static ADRC: TableDef = TableDef {
    name: "ADRC",
    text: "Addresses (Business Address Services)",
    fields: &[
        k("CLIENT", C, 3, "Client"),
        k("ADDRNUMBER", C, 10, "Address number"),
        k(
            "DATE_FROM",
            D,
            8,
            "Valid-from date - in current Release only 00010101 possible",
        ),
        k("NATION", C, 1, "Version ID for International Addresses"),
        f(
            "DATE_TO",
            D,
            8,
            "Valid-to date in current Release only 99991231 possible",
        ),
        f("TITLE", C, 4, "Form-of-Address Key"),
        f("NAME1", C, 40, "Name 1"),
        f("NAME2", C, 40, "Name 2"),
        f("NAME3", C, 40, "Name 3"),
        f("NAME4", C, 40, "Name 4"),
        f(
            "NAME_TEXT",
            C,
            50,
            "Converted name field (with form of address)",
        ),
        f("NAME_CO", C, 40, "c/o name"),
        f("CITY1", C, 40, "City"),
        f("CITY2", C, 40, "District"),
        f("CITY_CODE", C, 12, "City code for city/street file"),
        f("CITYP_CODE", C, 8, "District code for City and Street file"),
        f("HOME_CITY", C, 40, "City (different from postal city)"),
        f("CITYH_CODE", C, 12, "Different city for city/street file"),
        f("CHCKSTATUS", C, 1, "City file test status"),
        f("REGIOGROUP", C, 8, "Regional structure grouping"),
        f("POST_CODE1", C, 10, "City postal code"),
        f("POST_CODE2", C, 10, "PO Box Postal Code"),
        f(
            "POST_CODE3",
            C,
            10,
            "Company Postal Code (for Large Customers)",
        ),
        f(
            "PCODE1_EXT",
            C,
            10,
            "(Not Supported) City Postal Code Extension",
        ),
        f("PO_BOX", C, 10, "PO Box"),
        f("PO_BOX_NUM", C, 1, "Flag: PO Box Without Number"),
        f("PO_BOX_LOC", C, 40, "PO Box city"),
        f(
            "PO_BOX_REG",
            C,
            3,
            "Region for PO Box (Country, State, Province, ...)",
        ),
        f("PO_BOX_CTY", C, 3, "PO box country"),
        f(
            "TRANSPZONE",
            C,
            10,
            "Transportation zone to or from which the goods are delivered",
        ),
        f("STREET", C, 60, "Street"),
        f("STREETCODE", C, 12, "Street Number for City/Street File"),
        f("STREETABBR", C, 2, "Abbreviation of Street Name"),
        f("HOUSE_NUM1", C, 10, "House Number"),
        f("HOUSE_NUM2", C, 10, "House number supplement"),
        f("STR_SUPPL1", C, 40, "Street 2"),
        f("STR_SUPPL2", C, 40, "Street 3"),
        f("STR_SUPPL3", C, 40, "Street 4"),
        f("LOCATION", C, 40, "Street 5"),
        f("BUILDING", C, 20, "Building (Number or Code)"),
        f("FLOOR", C, 10, "Floor in building"),
        f("ROOMNUMBER", C, 10, "Room or Appartment Number"),
        f("COUNTRY", C, 3, "Country Key"),
        f("LANGU", C, 1, "Language Key"),
        f("REGION", C, 3, "Region (State, Province, County)"),
        f(
            "ADDR_GROUP",
            C,
            4,
            "Address Group (Key) (Business Address Services)",
        ),
        f(
            "FLAGGROUPS",
            C,
            1,
            "Flag: There are more address group assignments",
        ),
        f("PERS_ADDR", C, 1, "Flag: This is a personal address"),
        f("SORT1", C, 20, "Search Term 1"),
        f("SORT2", C, 20, "Search Term 2"),
        f(
            "DEFLT_COMM",
            C,
            3,
            "Communication Method (Key) (Business Address Services)",
        ),
        f(
            "TEL_NUMBER",
            C,
            30,
            "First telephone no.: dialling code+number",
        ),
        f("TEL_EXTENS", C, 10, "First Telephone No.: Extension"),
        f("FAX_NUMBER", C, 30, "First fax no.: dialling code+number"),
        f("FAX_EXTENS", C, 10, "First fax no.: extension"),
        f("TIME_ZONE", C, 6, "Address time zone"),
    ],
};

pub static ADR2: TableDef = TableDef {
    name: "ADR2",
    text: "Telephone Numbers (Business Address Services)",
    fields: &[
        k("CLIENT", C, 3, "Client"),
        k("ADDRNUMBER", C, 10, "Address number"),
        k("PERSNUMBER", C, 10, "Person number"),
        k(
            "DATE_FROM",
            D,
            8,
            "Valid-from date - in current Release only 00010101 possible",
        ),
        k("CONSNUMBER", N, 3, "Sequence Number"),
        f("COUNTRY", C, 3, "Country for telephone/fax number"),
        f(
            "FLGDEFAULT",
            C,
            1,
            "Standard Sender Address in this Communication Type",
        ),
        f(
            "FLG_NOUSE",
            C,
            1,
            "Flag: This Communication Number is Not Used",
        ),
        f(
            "HOME_FLAG",
            C,
            1,
            "Recipient address in this communication type (mail sys.grp)",
        ),
        f("TEL_NUMBER", C, 30, "Telephone no.: dialling code+number"),
        f("TEL_EXTENS", C, 10, "Telephone no.: Extension"),
        f(
            "TELNR_LONG",
            C,
            30,
            "Complete number: dialling code+number+extension",
        ),
        f(
            "TELNR_CALL",
            C,
            30,
            "Telephone number for determining caller",
        ),
        f(
            "DFT_RECEIV",
            C,
            1,
            "Flag: Recipient is standard recipient for this number",
        ),
        f(
            "R3_USER",
            C,
            1,
            "Indicator: Telephone is a Mobile Telephone",
        ),
        f(
            "VALID_FROM",
            C,
            14,
            "Communication Data: Valid From (YYYYMMDDHHMMSS)",
        ),
        f(
            "VALID_TO",
            C,
            14,
            "Communication Data: Valid To (YYYYMMDDHHMMSS)",
        ),
    ],
};

pub static ADR6: TableDef = TableDef {
    name: "ADR6",
    text: "E-Mail Addresses (Business Address Services)",
    fields: &[
        k("CLIENT", C, 3, "Client"),
        k("ADDRNUMBER", C, 10, "Address number"),
        k("PERSNUMBER", C, 10, "Person number"),
        k(
            "DATE_FROM",
            D,
            8,
            "Valid-from date - in current Release only 00010101 possible",
        ),
        k("CONSNUMBER", N, 3, "Sequence Number"),
        f(
            "FLGDEFAULT",
            C,
            1,
            "Standard Sender Address in this Communication Type",
        ),
        f(
            "FLG_NOUSE",
            C,
            1,
            "Flag: This Communication Number is Not Used",
        ),
        f(
            "HOME_FLAG",
            C,
            1,
            "Recipient address in this communication type (mail sys.grp)",
        ),
        f("SMTP_ADDR", C, 241, "E-Mail Address"),
        f("SMTP_SRCH", C, 20, "E-Mail Address Search Field"),
        f(
            "DFT_RECEIV",
            C,
            1,
            "Flag: Recipient is standard recipient for this number",
        ),
        f("R3_USER", C, 1, "Flag: Connected to an SAP System"),
        f("ENCODE", C, 1, "Required Data Encoding (E-Mail)"),
        f(
            "TNEF",
            C,
            1,
            "Flag: Receiver can receive TNEF encoding by SMTP",
        ),
        f(
            "VALID_FROM",
            C,
            14,
            "Communication Data: Valid From (YYYYMMDDHHMMSS)",
        ),
        f(
            "VALID_TO",
            C,
            14,
            "Communication Data: Valid To (YYYYMMDDHHMMSS)",
        ),
    ],
};

pub static ADRP: TableDef = TableDef {
    name: "ADRP",
    text: "Persons (Business Address Services)",
    fields: &[
        k("CLIENT", C, 3, "Client"),
        k("PERSNUMBER", C, 10, "Person number"),
        k(
            "DATE_FROM",
            D,
            8,
            "Valid-from date - in current Release only 00010101 possible",
        ),
        k("NATION", C, 1, "Version ID for International Addresses"),
        f(
            "DATE_TO",
            D,
            8,
            "Valid-to date in current Release only 99991231 possible",
        ),
        f("TITLE", C, 4, "Form-of-Address Key"),
        f("NAME_FIRST", C, 40, "First name"),
        f("NAME_LAST", C, 40, "Last name"),
        f("NAME2", C, 40, "Name of Person at Birth"),
        f("NAME_LAST2", C, 40, "Second last name of person"),
        f(
            "NAMEMIDDLE",
            C,
            40,
            "Middle name or second forename of a person",
        ),
        f("NAME_TEXT", C, 80, "Full Name of Person"),
        f("TITLE_ACA1", C, 4, "Academic Title: Key"),
        f("PREFIX1", C, 4, "Name Prefix (Key)"),
        f("INITIALS", C, 10, "\"Middle Initial\" or personal initials"),
        f("NICKNAME", C, 40, "Nickname or name used"),
        f("SEX", C, 1, "Gender Key"),
        f("LANGU", C, 1, "Language Key"),
        f("SORT1", C, 20, "Search Term 1"),
        f("SORT2", C, 20, "Search Term 2"),
        f("PERS_GROUP", C, 2, "Person Group"),
    ],
};

pub static TVZBT: TableDef = TableDef {
    name: "TVZBT",
    text: "Customers: Terms of Payment Texts",
    fields: &[
        k("MANDT", C, 3, "Client"),
        k("SPRAS", C, 1, "Language Key"),
        k("ZTERM", C, 4, "Terms of Payment Key"),
        f("VTEXT", C, 30, "Description of terms of payment"),
    ],
};

pub static TPFKT: TableDef = TableDef {
    name: "TPFKT",
    text: "Contact person function: Texts",
    fields: &[
        k("MANDT", C, 3, "Client"),
        k("SPRAS", C, 1, "Language Key"),
        k("PAFKT", C, 2, "Contact person function"),
        f("VTEXT", C, 20, "Description"),
    ],
};

pub static CDHDR: TableDef = TableDef {
    name: "CDHDR",
    text: "Change document header",
    fields: &[
        k("MANDANT", C, 3, "Client"),
        k("OBJECTCLAS", C, 15, "Object class"),
        k("OBJECTID", C, 90, "Object value"),
        k("CHANGENR", C, 10, "Document change number"),
        f(
            "USERNAME",
            C,
            12,
            "User name of the person responsible in change document",
        ),
        f("UDATE", D, 8, "Creation date of the change document"),
        f("UTIME", T, 6, "Time changed"),
        f("TCODE", C, 20, "Transaction in which a change was made"),
        f("PLANCHNGNR", C, 12, "Planned change number"),
        f(
            "ACT_CHNGNO",
            C,
            10,
            "Change number of the document created by this change",
        ),
        f(
            "WAS_PLANND",
            C,
            1,
            "Flag that changes were generated from planned changes",
        ),
        f(
            "CHANGE_IND",
            C,
            1,
            "Application object change type (U, I, E, D)",
        ),
        f("LANGU", C, 1, "Language Key"),
        f("VERSION", C, 3, "3-Byte field"),
    ],
};

pub static CDPOS: TableDef = TableDef {
    name: "CDPOS",
    text: "Change document items",
    fields: &[
        k("MANDANT", C, 3, "Client"),
        k("OBJECTCLAS", C, 15, "Object class"),
        k("OBJECTID", C, 90, "Object value"),
        k("CHANGENR", C, 10, "Document change number"),
        k("TABNAME", C, 30, "Table Name"),
        k("TABKEY", C, 70, "Changed table record key"),
        k("FNAME", C, 30, "Field Name"),
        k("CHNGIND", C, 1, "Change Type (U, I, S, D)"),
        f("TEXT_CASE", C, 1, "Flag: X=Text change"),
        f("UNIT_OLD", C, 3, "Change documents, unit referenced"),
        f("UNIT_NEW", C, 3, "Change documents, unit referenced"),
        f("CUKY_OLD", C, 5, "Change documents, referenced currency"),
        f("CUKY_NEW", C, 5, "Change documents, referenced currency"),
        f("VALUE_NEW", C, 254, "New contents of changed field"),
        f("VALUE_OLD", C, 254, "Old contents of changed field"),
    ],
};

pub static TTZCU: TableDef = TableDef {
    name: "TTZCU",
    text: "Time Zones: Customizing for the Client",
    fields: &[
        k("CLIENT", C, 3, "Client"),
        f("FLAGACTIVE", C, 1, "Time zone support is active"),
        f("TZONESYS", C, 6, "System time zone"),
        f("TZONEDEF", C, 6, "Default time zone for users"),
    ],
};

/// Every table RFC_READ_TABLE can read; anything else is TABLE_NOT_AVAILABLE.
pub static TABLES: &[&TableDef] = &[
    &KNA1, &KNB1, &KNVV, &KNVP, &KNVK, &ADRC, &ADR2, &ADR6, &ADRP, &TVZBT, &TPFKT, &CDHDR, &CDPOS,
    &TTZCU,
];

pub fn table(name: &str) -> Option<&'static TableDef> {
    TABLES.iter().copied().find(|table| table.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_fields_are_written_as_rfc_read_table_moves_them() {
        assert_eq!(packed_in_row("2.5", 1, 3), "2.5");
        assert_eq!(packed_in_row("2.5", 1, 5), " 2.5 ");
        assert_eq!(packed_in_row("10", 1, 3), "*.0");
        assert_eq!(packed_in_row("-2.5", 1, 5), " 2.5-");
        assert_eq!(packed_in_row("-2.5", 1, 3), "*5-");
        assert_eq!(packed_in_row("", 1, 3), "0.0");
        assert_eq!(packed_in_row("7", 0, 1), "7");
        assert_eq!(KNVV.field("UNTTO").unwrap().field_type.code(), "P");
    }

    #[test]
    fn wide_tables_exceed_the_rfc_row_limit() {
        assert!(KNA1.width() > 512, "KNA1 is {}", KNA1.width());
        assert!(ADRC.width() > 512, "ADRC is {}", ADRC.width());
        assert!(CDPOS.width() > 512);
        assert!(ADR6.width() + ADR6.fields.len() < 512);
    }

    #[test]
    fn field_names_are_unique_per_table() {
        for table in TABLES {
            let mut names: Vec<_> = table.fields.iter().map(|f| f.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), table.fields.len(), "{}", table.name);
        }
    }

    #[test]
    fn padding_is_counted_in_characters() {
        let mut out = String::new();
        KNA1.field("NAME1").unwrap().pad("Müller", &mut out);
        assert_eq!(out.chars().count(), 35);
        let mut out = String::new();
        KNVK.field("PARNR").unwrap().pad("42", &mut out);
        assert_eq!(out, "0000000042");
        let mut out = String::new();
        KNA1.field("ERDAT").unwrap().pad("", &mut out);
        assert_eq!(out, "00000000");
    }
}
