//! The commented template `ml-connector init` writes. A test checks that it validates once its
//! environment variables are set and that it mentions every key the raw config knows.

pub const TEMPLATE: &str = r#"# ml-connector configuration.
# Values may use ${VAR} to take them from the environment (write $${ for a literal ${).
# Secrets (passwords, tokens) belong in the environment, not in this file.

[store]
# Where links, hashes, cursors, runs and the audit trail live.
# sqlite://FILE (created on first use) or postgres://user@host:5432/db (several instances).
url = "sqlite://ml-connector.db"
# Key that encrypts stored OAuth refresh tokens; MLC_SECRET_KEY wins over this file.
# secret_key_file = "/etc/ml-connector/secret.key"

[ecc]
# soap-rfc: /sap/bc/soap/rfc on the ECC host; odata: an SAP Gateway service;
# agent: ECC is reached through `ml-connector agent` running inside the SAP network.
transport = "soap-rfc"
base_url = "http://127.0.0.1:18001"
client = "100"
user = "MLC_READER"
password = "${ECC_PASSWORD}"
# Logon language, also the language of payment-term texts.
language = "EN"
# Time zone of the SAP server: change documents (CDHDR) carry its local time.
timezone = "Europe/Berlin"
# Which company code and sales area the payment terms and ship-to party come from.
company_code = "1000"
sales_organization = "1000"
distribution_channel = "10"
division = "00"
# auto tries RFC_READ_TABLE, then BBP_RFC_READ_TABLE, then /SAPDS/RFC_READ_TABLE.
read_table_function = "auto"
rows_per_call = 5000
timeout_secs = 60
# Extra attempts of a call after a network error, an HTTP 5xx, an answer cut off, or RFC's
# SYSTEM_FAILURE / COMMUNICATION_FAILURE (every call only reads, so repeating one is safe).
retries = 3
# Change documents are read again this far back, so nothing falls between two polls.
delta_overlap_secs = 600
# Company CA bundle (PEM) for HTTPS to ECC.
# ca_file = "/etc/ssl/company-ca.pem"
# Only for tests: accepts any certificate, and says so loudly in the log.
accept_invalid_certs = false
# base_url must be https:// unless it is this machine (127.0.0.1, localhost). An ICF port that
# only speaks http sends the SAP password in clear; allow it only inside a network you trust.
# allow_http = false
# Records with values ECC should not hold (control characters, bad e-mails...):
# skip = report and leave out; clean = report, clean and sync.
dirty_records = "skip"
# Values per IN-list when reading dependent rows by number.
in_list_size = 250
# A larger answer from ECC is refused rather than read into memory.
max_response_mib = 64
# With transport = "agent": the file holding the token agents present, stored hashed as
# sha256:<hex> (`ml-connector agent --hash-token --token-file F` prints that line).
# agent_token_file = "/etc/ml-connector/agent.token"
# Where agents connect for `sync` and `extract` (ws://ADDR/agent/connect; put TLS in front
# for wss://). The `run` service takes agents on its own listener at /agent/connect.
agent_listen = "127.0.0.1:8081"
# What the agent speaks to ECC: soap-rfc or odata.
agent_via = "soap-rfc"
# How long a read waits for an agent to (re)connect.
agent_wait_secs = 120

[ecc.odata]
# Used with transport = "odata". The defaults fit the simulator's ZMLC_CUSTOMER_SRV.
service_path = "/sap/opu/odata/sap/ZMLC_CUSTOMER_SRV/"
customer_set = "CustomerSet"
contact_set = "ContactPersonSet"
# The last change: an Edm.DateTime; one with sap:display-format="Date" (a date only) is read
# as such, and a delta then reads the day before the window again.
changed_at_property = "ChangedAt"
# When the date and the server's local time of the change are two properties (UDATE, UTIME):
# the Edm.Time property.
# changed_time_property = "ChangedTime"
# Navigation from a customer to its contacts, read inline with $expand (one request a page);
# "" reads the contact set by customer number instead.
expand_contacts = "ToContacts"
page_size = 1000

[ecc.odata.customer_properties]
# canonical field = "OData property", over the defaults. A path may go into a complex type
# ("Address/City") and through one navigation ("ToSalesArea/PaymentTerms", expanded by the reader).
# vat_number = "VatRegNo"

[ecc.odata.contact_properties]
# department = "Department"
# Work numbers only; mobile numbers are written to Pipedrive labelled "mobile".
# phones = "PhoneList"
# mobile_phones = "MobileList"

[ecc.select]
# Which customers to sync; all of them when nothing is set. Pushed down into the read (KNA1's
# WHERE clause) where ECC can filter; a customer that leaves the selection (its account group
# changed, say) is treated like one flagged for deletion: sync.on_deleted says what happens.
# account_groups = ["0001"]            # KNA1-KTOKD in the list
# exclude_account_groups = ["CPD"]     # KNA1-KTOKD not in the list (one-time customers)
# countries = ["DE", "AT", "CH"]       # KNA1-LAND1 in the list
# only_with_company_code = true        # has data in ecc.company_code (KNB1)
# only_with_sales_area = true          # has data in the configured sales area (KNVV)
# created_after = "2020-01-01"         # KNA1-ERDAT after this day

[pipedrive]
# Your company domain (https://yourcompany.pipedrive.com), or the api_domain from OAuth.
base_url = "http://127.0.0.1:18002"
# api-token or oauth
auth = "api-token"
api_token = "${PIPEDRIVE_API_TOKEN}"
# lite | growth | premium | ultimate: sets the burst limit and the daily token budget.
plan = "growth"
seats = 5
# Requests per 2 s when your company's limit is not the plan's (a custom contract, or a
# simulator without limits); the limit Pipedrive reports in its headers still wins.
# burst_limit = 100
# Share of the company's daily token budget (30,000 x plan multiplier x seats) ml-connector
# may spend; the rest stays for the sales team's other tools.
budget_share = 0.5
# Set when Pipedrive's own figure for your company differs from the formula.
# daily_budget_tokens = 300000
# The daily budget resets at midnight in this zone.
budget_timezone = "UTC"
timeout_secs = 30
retries = 5
# Answers larger than this are refused, naming the endpoint (a list page is a few MiB).
max_response_mib = 32

[pipedrive.oauth]
# Used with auth = "oauth"; run `ml-connector auth pipedrive` once to authorize.
client_id = ""
client_secret = ""
redirect_uri = "http://127.0.0.1:8765/callback"
# authorize_url = "https://oauth.pipedrive.com/oauth/authorize"
# token_url = "https://oauth.pipedrive.com/oauth/token"

[sync]
# Name of this ECC-to-Pipedrive connection in the store, the audit trail and the UI.
connection = "default"
# "every 5m" (s, m, h) or a cron expression with seconds.
schedule = "every 5m"
# Full reconciliation by content hash; catches address-only changes that write no change
# document. Empty to switch it off.
full_reconcile = "0 0 2 * * *"
# A match score is the probability that an existing Pipedrive organization is the customer
# (the matcher's model is estimated from each run's own candidate pairs): at or above
# link_threshold it is linked, at or above review_threshold queued for review, not created.
link_threshold = 0.90
review_threshold = 0.30
# Two ECC customers for one company: keep-apart (report, one organization each) or
# map-to-one (report, both linked to one organization).
ecc_duplicates = "keep-apart"
# What a deletion flag or a block in ECC does in Pipedrive: leave, label, field or delete.
# label needs the label (status_label) to exist in Pipedrive already; field needs nothing.
on_deleted = "field"
on_blocked = "field"
status_label = "ECC: deleted or blocked"
# A linked organization or person a salesperson deleted in Pipedrive (never written to in the
# trash): recreate (next run), flag (unlinked and parked with an error until
# `sync --customer K`), or unlink (left alone until the customer changes in ECC).
on_pipedrive_deleted = "recreate"
# A contact person deleted in ECC (its KNVK row gone from a customer that is read): leave its
# person as it is, field (write "deleted" into the person's "ECC Status"), or delete the person
# in Pipedrive. Only contacts of customers neither deleted nor blocked are judged.
on_contact_deleted = "field"
# Failed writes of one record before it is parked until it changes or is replayed.
max_failures = 5

[sync.drift]
# A salesperson edits an ECC-mastered field of a linked record in Pipedrive (told by a webhook,
# or found by the full reconciliation comparing Pipedrive with what was last pushed):
# enforce (set it back, audited "re-asserted"; costs tokens like any write), flag (audited
# "drift-flagged", left as it is), or ignore. Per group of mapped fields:
name = "enforce"
address = "enforce"
emails = "enforce"
phones = "enforce"
owner = "enforce"
labels = "enforce"                     # only the labels the map manages
organization = "enforce"               # a person's organization
custom_fields = "enforce"              # every mapped custom field, unless named below
# custom = { "ECC Payment Terms" = "flag" }
# A field set back this many times in 24 hours is flagged instead of fought over.
max_reasserts_per_day = 3

[audit]
# Events older than this are pruned at the end of each run; each record's latest event and the
# last full copy of what was read for it stay, however old.
keep_days = 90

[mapping]
# The built-in field map works as it is: organization name, billing address into Pipedrive's
# address, and the custom fields "ECC Customer Number", "ECC VAT Number", "ECC Account Group",
# "ECC Payment Terms", "ECC Payment Terms Text", "ECC Shipping Address" (and "ECC Status" with
# on_deleted/on_blocked = "field"); persons: name, e-mails, phones, organization, and
# "ECC Contact Number", "ECC Department", "ECC Function" (and "ECC Status" with
# on_contact_deleted = "field"). `ml-connector setup` creates them.
# false: write only the rules below.
defaults = true
# Label of the e-mails and phones written to persons: work, home, mobile or other.
email_label = "work"
phone_label = "work"
# Pipedrive user id that owns new organizations and persons when no owner rule matches.
# default_owner_id = 1

# Extra fields, or a replacement for a default with the same target. A rule writes to exactly
# one of: field = a standard field (organization: name, address, website, visible_to; person:
# name, emails, phones, visible_to), custom_field = "its name in Pipedrive",
# custom_field_key = "its 40-character key". It reads exactly one of: source = a canonical
# field (customer_number, customer_number_display, name, name_1..name_4, account_group,
# vat_number, email, phone, billing_address[.street|.house_number|.postal_code|.city|.region|
# .country], shipping_address[...], payment_terms.code, payment_terms.text, status; persons:
# contact_number[_display], first_name, last_name, full_name, department, function, emails,
# phones, email, phone, customer_number[_display], status), or
# template = "{name} ({customer_number_display})".
# transforms: trim, alpha_output, upper, lower, country_name, table:NAME, join:SEP.
# enabled = false removes the default rule for that target.
# [[mapping.organization]]
# custom_field = "ECC Region"
# source = "billing_address.region"
# transforms = ["trim", "table:regions"]
# enabled = true
#
# [[mapping.organization]]
# field = "name"
# template = "{name} ({customer_number_display})"
#
# [[mapping.person]]
# custom_field_key = "0123456789abcdef0123456789abcdef01234567"
# source = "function"

# Code-to-text tables for the table:NAME transform.
# [mapping.tables.regions]
# BW = "Baden-Württemberg"

# Owner by country and/or account group; the first matching rule wins.
# [[mapping.owner_rules]]
# country = "DE"
# account_group = "0001"
# owner_id = 7

# Labels (Pipedrive label ids) by country and/or account group; every matching rule adds one.
# [[mapping.label_rules]]
# account_group = "CPD"
# label_id = 3

[server]
# Used by `ml-connector run`: HTTP API, web UI, /metrics and the webhook receiver.
listen = "127.0.0.1:8080"
admin_token = "${MLC_ADMIN_TOKEN}"
# HTTP Basic credentials Pipedrive sends with webhooks.
# webhook_user = "pipedrive"
# webhook_password = "${MLC_WEBHOOK_PASSWORD}"
# webhook_hmac_secret = "${MLC_WEBHOOK_HMAC}"
# Where Pipedrive reaches this server.
# public_url = "https://connector.example.com"

# [alerts]
# Tells the operator when a run fails, Pipedrive stops the connector (its 403 after repeated
# 429s), the budget share is used, runs keep failing, or records are parked after repeated
# failed writes: once when it begins, once when it is resolved. No [alerts] table, no alerts.
# A Slack or Microsoft Teams incoming webhook, sent {"text": "..."}; https:// (http:// only
# to this machine).
# webhook_url = "${MLC_ALERT_WEBHOOK_URL}"
# E-mail: smtp:// uses STARTTLS (port 587 unless given), smtps:// TLS from the start (465);
# smtp://127.0.0.1:2525?tls=none sends in clear, only to this machine. A ${VAR} inside the
# URL is inserted percent-encoded; characters such as @ / ? # % written in the user or password
# here must be percent-encoded by hand (%40 for @).
# smtp_url = "smtp://alerts%40example.com:${SMTP_PASSWORD}@mail.example.com:587"
# email_from = "ml-connector <alerts@example.com>"
# email_to = ["sap-team@example.com"]
# One more alert when this many runs of a connection failed in a row.
# failed_runs_in_a_row = 3
"#;
