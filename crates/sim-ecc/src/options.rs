//! What the simulator is started with: the command line of `ml-connector sim ecc`, the
//! defaults tests start from, and what the options mean for generation and the truth.

use std::net::SocketAddr;

use crate::generate::GenerationSettings;
use crate::model::SalesArea;
use crate::truth::TruthScope;

/// The RFC_READ_TABLE variants an ECC system may offer (`--function-names` picks among them).
pub const READ_TABLE_FUNCTIONS: &[&str] = &[
    "RFC_READ_TABLE",
    "BBP_RFC_READ_TABLE",
    "/SAPDS/RFC_READ_TABLE",
];

/// `ml-connector sim ecc` options.
#[derive(clap::Args, Debug, Clone)]
pub struct SimEccOptions {
    /// Address to listen on, e.g. 127.0.0.1:18001.
    #[arg(long, default_value = "127.0.0.1:18001")]
    pub listen: SocketAddr,
    /// Number of customers to generate.
    #[arg(long, default_value_t = 1000)]
    pub customers: usize,
    /// Seed of the generated data; the same seed gives the same data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Average number of contact persons per customer.
    #[arg(long, default_value_t = 2)]
    pub contacts_per_customer: usize,
    /// Share of customers that are near-duplicates of another.
    #[arg(long, default_value_t = 0.0)]
    pub duplicate_rate: f64,
    /// Share of customers with bad rows.
    #[arg(long, default_value_t = 0.0)]
    pub dirty_rate: f64,
    #[arg(long, default_value = "MLC_READER")]
    pub user: String,
    #[arg(long, default_value = "secret")]
    pub password: String,
    #[arg(long, default_value = "100")]
    pub client: String,
    /// Time zone of the simulated SAP server (UDATE/UTIME of change documents).
    #[arg(long, default_value = "Europe/Berlin")]
    pub timezone: String,
    /// Server-side page size of the OData service.
    #[arg(long, default_value_t = 1000)]
    pub page_size: usize,
    /// The RFC_READ_TABLE variants this system offers.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "RFC_READ_TABLE,BBP_RFC_READ_TABLE,/SAPDS/RFC_READ_TABLE"
    )]
    pub function_names: Vec<String>,
    /// Tables RFC_READ_TABLE refuses with NOT_AUTHORIZED (missing S_TABU_DIS), e.g. CDPOS,ADR6.
    #[arg(long, value_delimiter = ',')]
    pub not_authorized: Vec<String>,
    /// Behave like a custom OData service that ignores $top and $skip (and has no server paging).
    #[arg(long)]
    pub odata_ignore_paging: bool,
    /// Behave like a custom OData service that ignores $filter.
    #[arg(long)]
    pub odata_ignore_filter: bool,
    /// Behave like a company's own Gateway service: addresses in a complex type
    /// (`Address/City`, `ShipToAddress/City`), payment terms behind the navigation
    /// `ToPaymentTerms`, customer and contact numbers without leading zeros, the last change as a
    /// date (`ChangedOn`) and a local time (`ChangedTime`); JSON only.
    #[arg(long)]
    pub odata_custom_service: bool,
    /// Company code the truth (and the OData service) takes payment terms from.
    #[arg(long, default_value = "1000")]
    pub company_code: String,
    /// Sales area VKORG-VTWEG-SPART the truth takes payment terms and ship-to parties from.
    #[arg(long, default_value = "1000-10-00")]
    pub sales_area: String,
    /// Language (ISO) of customizing texts in the truth: payment terms, contact functions.
    #[arg(long, default_value = "EN")]
    pub language: String,
    /// Write no Business Address Services change documents (object class ADRESSE) for edits of
    /// addresses, e-mails and phones, as systems that do not log them.
    #[arg(long)]
    pub no_address_change_documents: bool,
    /// Answer /sap/bc/soap/rfc as a system where the service is switched off in SICF (HTTP 403
    /// with the ICF error page).
    #[arg(long)]
    pub soap_service_inactive: bool,
    /// How far the SAP host's clock is from the real time, in seconds (negative: behind). Change
    /// documents, creation dates and the `Date` header of every answer (SOAP and OData) follow
    /// that clock, as on a host whose time synchronisation drifted.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub clock_offset_secs: i64,
}

impl SimEccOptions {
    /// Defaults for tests: a free loopback port, `customers` customers from `seed`.
    pub fn for_tests(customers: usize, seed: u64) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            customers,
            seed,
            contacts_per_customer: 2,
            duplicate_rate: 0.0,
            dirty_rate: 0.0,
            user: "MLC_READER".into(),
            password: "secret".into(),
            client: "100".into(),
            timezone: "Europe/Berlin".into(),
            page_size: 1000,
            function_names: READ_TABLE_FUNCTIONS
                .iter()
                .map(|name| name.to_string())
                .collect(),
            not_authorized: Vec::new(),
            odata_ignore_paging: false,
            odata_ignore_filter: false,
            odata_custom_service: false,
            company_code: "1000".into(),
            sales_area: "1000-10-00".into(),
            language: "EN".into(),
            no_address_change_documents: false,
            soap_service_inactive: false,
            clock_offset_secs: 0,
        }
    }

    /// Whether BAS-only edits write ADRESSE change documents (the default).
    pub fn address_change_documents(&self) -> bool {
        !self.no_address_change_documents
    }

    /// SPRAS of `--language`: "EN" → "E", "DE" → "D".
    pub fn language_key(&self) -> String {
        match self.language.trim().to_uppercase().as_str() {
            "DE" | "D" => "D".into(),
            "FR" | "F" => "F".into(),
            "NL" | "N" => "N".into(),
            "PL" | "L" => "L".into(),
            _ => "E".into(),
        }
    }

    pub(crate) fn scope(&self) -> anyhow::Result<TruthScope> {
        let parts: Vec<&str> = self.sales_area.split('-').collect();
        let [sales_org, channel, division] = parts.as_slice() else {
            anyhow::bail!(
                "--sales-area {:?} is not VKORG-VTWEG-SPART, e.g. 1000-10-00",
                self.sales_area
            );
        };
        Ok(TruthScope {
            company_code: self.company_code.trim().to_string(),
            sales_area: SalesArea {
                sales_org: sales_org.to_string(),
                channel: channel.to_string(),
                division: division.to_string(),
            },
            language: self.language_key(),
        })
    }

    pub(crate) fn generation(&self) -> GenerationSettings {
        GenerationSettings {
            customers: self.customers,
            seed: self.seed,
            contacts_per_customer: self.contacts_per_customer,
            duplicate_rate: self.duplicate_rate,
            dirty_rate: self.dirty_rate,
            client: self.client.clone(),
        }
    }
}
