//! A strict ECC 6.0 simulator: SOAP RFC and OData V2 over seeded customer master data.
//! (Being built under issue 4; `serve` is the entry point `ml-connector sim ecc` calls.)

use std::net::SocketAddr;

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
    /// Time zone of the simulated SAP server.
    #[arg(long, default_value = "Europe/Berlin")]
    pub timezone: String,
    /// Server-side page size of the OData service.
    #[arg(long, default_value_t = 1000)]
    pub page_size: usize,
    /// The RFC_READ_TABLE variants this system offers.
    #[arg(long, value_delimiter = ',', default_value = "RFC_READ_TABLE,BBP_RFC_READ_TABLE,/SAPDS/RFC_READ_TABLE")]
    pub function_names: Vec<String>,
}
