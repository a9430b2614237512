//! The function modules behind `/sap/bc/soap/rfc`: RFC_READ_TABLE (and its twins
//! BBP_RFC_READ_TABLE and /SAPDS/RFC_READ_TABLE), BAPI_CUSTOMER_GETLIST,
//! BAPI_CUSTOMER_GETDETAIL2, BAPI_CUSTOMER_GETCONTACTLIST and RFC_SYSTEM_INFO.
//!
//! Exceptions of RFC_READ_TABLE are SOAP faults (HTTP 500); BAPIs report business errors in
//! RETURN with HTTP 200.

use crate::abap_where;
use crate::model::*;
use crate::options::READ_TABLE_FUNCTIONS;
use crate::rows::{self, RowRef};
use crate::schema::{self, FieldDef};
use crate::soap::{self, ResponseWriter, RfcCall};
use crate::state::SimState;

/// Maximum characters of a DATA row (TAB512-WA).
pub const ROW_LIMIT: usize = 512;

pub enum RfcOutcome {
    Ok(String),
    /// An ABAP exception as a SOAP fault.
    Fault(String),
}

pub fn call(state: &SimState, call: &RfcCall) -> RfcOutcome {
    let function = call.function.as_str();
    state
        .stats
        .lock()
        .map(|mut stats| {
            *stats
                .calls_by_function
                .entry(function.to_string())
                .or_default() += 1
        })
        .ok();
    let offered = |name: &str| {
        state
            .options
            .function_names
            .iter()
            .any(|offered| offered.eq_ignore_ascii_case(name))
    };
    if READ_TABLE_FUNCTIONS.contains(&function) && offered(function) {
        return read_table(state, function, &call.parameters);
    }
    match function {
        "BAPI_CUSTOMER_GETLIST" => RfcOutcome::Ok(customer_getlist(state, &call.parameters)),
        "BAPI_CUSTOMER_GETDETAIL2" => RfcOutcome::Ok(customer_getdetail2(state, &call.parameters)),
        "BAPI_CUSTOMER_GETCONTACTLIST" => {
            RfcOutcome::Ok(customer_getcontactlist(state, &call.parameters))
        }
        "RFC_SYSTEM_INFO" => RfcOutcome::Ok(system_info(state)),
        _ => RfcOutcome::Fault(soap::fault(
            function,
            "FU_NOT_FOUND",
            &format!("Function module {function} not found"),
        )),
    }
}

/// RFC_SYSTEM_INFO: RFCSI_EXPORT as the kernel fills it. RFCTZONE is SY-TZONE, the offset from
/// UTC in seconds without daylight saving time; RFCDAYST is SY-DAYST, "X" while it is on.
fn system_info(state: &SimState) -> String {
    use chrono_tz::OffsetComponents;
    let now = state.now().with_timezone(&state.timezone);
    let offset = now.offset();
    let standard = offset.base_utc_offset().num_seconds();
    let summer = !offset.dst_offset().is_zero();
    let function = "RFC_SYSTEM_INFO";
    let mut writer = ResponseWriter::new(function);
    let text = |value: &str| value.to_string();
    writer.structure(
        "RFCSI_EXPORT",
        &[
            ("RFCPROTO", text("011")),
            ("RFCCHARTYP", text("4103")),
            ("RFCINTTYP", text("LIT")),
            ("RFCFLOTYP", text("IE3")),
            ("RFCDEST", text("mlcsim_MLC_00")),
            ("RFCHOST", text("mlcsim")),
            ("RFCSYSID", text("MLC")),
            ("RFCDATABS", text("MLC")),
            ("RFCDBHOST", text("mlcsim")),
            ("RFCDBSYS", text("ADABAS D")),
            ("RFCSAPRL", text("731")),
            ("RFCMACH", text("  390")),
            ("RFCOPSYS", text("Linux")),
            ("RFCTZONE", format!("{standard:>6}")),
            ("RFCDAYST", text(if summer { "X" } else { "" })),
            ("RFCIPADDR", text("127.0.0.1")),
            ("RFCKERNRL", text("722")),
        ],
    );
    writer.finish(function)
}

fn read_table(state: &SimState, function: &str, parameters: &soap::Element) -> RfcOutcome {
    let fail =
        |exception: &str, text: String| RfcOutcome::Fault(soap::fault(function, exception, &text));
    let table_name = parameters.scalar("QUERY_TABLE").trim().to_uppercase();
    state
        .stats
        .lock()
        .map(|mut stats| *stats.calls_by_table.entry(table_name.clone()).or_default() += 1)
        .ok();
    // As RFC_READ_TABLE: the authority check (VIEW_AUTHORITY_CHECK) comes before the lookup.
    if state
        .options
        .not_authorized
        .iter()
        .any(|name| name.eq_ignore_ascii_case(&table_name))
    {
        return fail(
            "NOT_AUTHORIZED",
            format!("No authorization to read table {table_name} (S_TABU_DIS)"),
        );
    }
    let Some(table) = schema::table(&table_name) else {
        return fail(
            "TABLE_NOT_AVAILABLE",
            format!("Table {table_name} is not available"),
        );
    };
    let delimiter: String = parameters.scalar("DELIMITER").chars().take(1).collect();
    let no_data = !parameters.scalar("NO_DATA").trim().is_empty();
    let row_skips = parse_count(&parameters.scalar("ROWSKIPS"));
    let row_count = parse_count(&parameters.scalar("ROWCOUNT"));

    let mut selected: Vec<&'static FieldDef> = Vec::new();
    for item in parameters.items("FIELDS") {
        let name = item.scalar("FIELDNAME").trim().to_uppercase();
        if name.is_empty() {
            continue;
        }
        match table.field(&name) {
            Some(field) => selected.push(field),
            None => {
                return fail(
                    "FIELD_NOT_VALID",
                    format!("Field {name} does not exist in table {table_name}"),
                )
            }
        }
    }
    if selected.is_empty() {
        selected = table.fields.iter().collect();
    }
    let delimiter_width = delimiter.chars().count();
    let mut offsets = Vec::with_capacity(selected.len());
    let mut cursor = 0;
    for field in &selected {
        offsets.push(cursor);
        cursor += field.length + delimiter_width;
    }
    let row_width = cursor - delimiter_width;
    // Raised only `IF line_cursor > line_length AND no_data EQ space`: a NO_DATA probe of
    // fields that do not fit still returns the field list.
    if row_width > ROW_LIMIT && !no_data {
        return fail("DATA_BUFFER_EXCEEDED", format!("Selected fields of {table_name} need {row_width} characters per row, more than {ROW_LIMIT}"));
    }
    let options: Vec<String> = parameters
        .items("OPTIONS")
        .iter()
        .map(|item| item.scalar("TEXT"))
        .collect();
    let clause = match abap_where::parse(table, &options) {
        Ok(clause) => clause,
        Err(error) => return fail("OPTION_NOT_VALID", error),
    };

    let mut data_rows: Vec<String> = Vec::new();
    if !no_data {
        let data = state
            .data
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let client = data.client.as_str();
        let field_indices: Vec<usize> = selected
            .iter()
            .map(|field| {
                table
                    .fields
                    .iter()
                    .position(|f| f.name == field.name)
                    .unwrap_or(0)
            })
            .collect();
        let mut skipped = 0usize;
        let subset = candidate_customers(&data, table, &clause);
        rows::scan_customers(&data, table.name, subset.as_deref(), &mut |row: RowRef<
            '_,
        >| {
            let mut value = |index: usize| row.value(client, table.fields[index].name).into_owned();
            if !clause.matches(table, &mut value) {
                return true;
            }
            if skipped < row_skips {
                skipped += 1;
                return true;
            }
            let mut line = String::with_capacity(row_width);
            for (position, index) in field_indices.iter().enumerate() {
                if position > 0 {
                    line.push_str(&delimiter);
                }
                let field = &table.fields[*index];
                field.pad(&row.value(client, field.name), &mut line);
            }
            data_rows.push(line);
            row_count == 0 || data_rows.len() < row_count
        });
    }
    if let Ok(mut stats) = state.stats.lock() {
        stats.rows_returned += data_rows.len() as u64;
    }

    let mut writer = ResponseWriter::new(function);
    writer.raw("<DATA>");
    for line in &data_rows {
        writer.raw("<item><WA>");
        writer.raw(&soap::escape(line));
        writer.raw("</WA></item>");
    }
    writer.raw("</DATA>");
    let field_rows: Vec<Vec<(&str, String)>> = selected
        .iter()
        .zip(&offsets)
        .map(|(field, offset)| {
            vec![
                ("FIELDNAME", field.name.to_string()),
                ("OFFSET", format!("{offset:06}")),
                ("LENGTH", format!("{:06}", field.length)),
                ("TYPE", field.field_type.code().to_string()),
                ("FIELDTEXT", field.text.to_string()),
            ]
        })
        .collect();
    writer.table("FIELDS", &field_rows);
    let option_rows: Vec<Vec<(&str, String)>> = options
        .iter()
        .map(|text| vec![("TEXT", text.clone())])
        .collect();
    writer.table("OPTIONS", &option_rows);
    RfcOutcome::Ok(writer.finish(function))
}

/// The customers whose rows can match, when the clause bounds the key a table is reached by
/// (KUNNR, or ADDRNUMBER for the BAS tables), in physical order; `None` to scan everything.
fn candidate_customers(
    data: &EccData,
    table: &schema::TableDef,
    clause: &abap_where::WhereClause,
) -> Option<Vec<u32>> {
    let by_customer_number = || -> Option<Vec<u32>> {
        if let Some(values) = clause.exact_values(table, "KUNNR") {
            return Some(
                values
                    .iter()
                    .filter_map(|kunnr| data.customer_index(kunnr))
                    .map(|index| index as u32)
                    .collect(),
            );
        }
        let bounds = clause.bounds(table, "KUNNR")?;
        let kunnr = |index: &u32| data.customers[*index as usize].kunnr;
        let start = bounds.low.as_deref().map_or(0, |low| {
            data.key_order.partition_point(|index| kunnr(index) < low)
        });
        let end = bounds.high.as_deref().map_or(data.key_order.len(), |high| {
            data.key_order.partition_point(|index| kunnr(index) <= high)
        });
        data.key_order
            .get(start..end.max(start))
            .map(<[u32]>::to_vec)
    };
    let by_address_number = || -> Option<Vec<u32>> {
        if let Some(values) = clause.exact_values(table, "ADDRNUMBER") {
            let numbers: Option<Vec<u32>> = values
                .iter()
                .map(|value| full_width_number(value))
                .collect();
            let numbers = numbers?;
            // Contacts' private addresses (KNVK-ADRNP_2) belong to no customer's number range.
            if numbers
                .iter()
                .any(|number| *number >= PRIVATE_ADDRESS_OFFSET)
            {
                return None;
            }
            let found = numbers.into_iter().filter_map(|number| {
                let position = data
                    .customers
                    .partition_point(|customer| customer.address_number < number);
                (data.customers.get(position)?.address_number == number).then_some(position as u32)
            });
            return Some(found.collect());
        }
        let (low, high) = numeric_bounds(clause.bounds(table, "ADDRNUMBER")?, 0)?;
        if high >= PRIVATE_ADDRESS_OFFSET {
            return None;
        }
        let start = data
            .customers
            .partition_point(|customer| customer.address_number < low);
        let end = data
            .customers
            .partition_point(|customer| customer.address_number <= high);
        Some((start as u32..end.max(start) as u32).collect())
    };
    // Contact and person numbers are handed out together, in customer order.
    let by_contact = |field: &str, offset: u32| -> Option<Vec<u32>> {
        let ranges = &data.contact_ranges;
        if let Some(values) = clause.exact_values(table, field) {
            let numbers: Option<Vec<u32>> = values
                .iter()
                .map(|value| full_width_number(value).map(|number| number.saturating_sub(offset)))
                .collect();
            let mut found: Vec<u32> = numbers?
                .into_iter()
                .filter_map(|number| {
                    let range =
                        ranges.get(ranges.partition_point(|range| range.last_contact < number))?;
                    (range.first_contact <= number).then_some(range.customer)
                })
                .collect();
            found.dedup();
            return Some(found);
        }
        let bounds = clause.bounds(table, field)?;
        // Without a lower bound, the customers' own rows (PERSNUMBER blank) may match too.
        bounds.low.as_ref()?;
        let (low, high) = numeric_bounds(bounds, offset)?;
        let start = ranges.partition_point(|range| range.last_contact < low);
        let end = ranges.partition_point(|range| range.first_contact <= high);
        Some(
            ranges
                .get(start..end.max(start))?
                .iter()
                .map(|range| range.customer)
                .collect(),
        )
    };
    let mut candidates: Vec<u32> = match table.name {
        "KNA1" | "KNB1" | "KNVV" | "KNVP" => by_customer_number()?,
        "KNVK" => by_customer_number().or_else(|| by_contact("PARNR", 0))?,
        "ADRC" => by_address_number()?,
        "ADR2" | "ADR6" => {
            by_address_number().or_else(|| by_contact("PERSNUMBER", PERSON_NUMBER_OFFSET))?
        }
        "ADRP" => by_contact("PERSNUMBER", PERSON_NUMBER_OFFSET)?,
        _ => return None,
    };
    candidates.sort_by_key(|index| data.storage_rank[*index as usize]);
    candidates.dedup();
    Some(candidates)
}

fn full_width_number(text: &str) -> Option<u32> {
    (text.len() == 10 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse::<u32>().ok())
        .flatten()
}

/// Numeric bounds from full-width (10-digit) literals only: a shorter literal compares
/// differently as a string. `offset` is subtracted to map person numbers to contact numbers.
fn numeric_bounds(bounds: abap_where::KeyBounds, offset: u32) -> Option<(u32, u32)> {
    let number = full_width_number;
    let low = match bounds.low.as_deref() {
        Some(text) => number(text)?.saturating_sub(offset),
        None => 0,
    };
    let high = match bounds.high.as_deref() {
        Some(text) => number(text)?.saturating_sub(offset),
        None => u32::MAX,
    };
    Some((low, high))
}

fn parse_count(text: &str) -> usize {
    text.trim().parse().unwrap_or(0)
}

/// BAPIRETURN1 / BAPIRET2-like RETURN fields.
fn return_fields(
    kind: &str,
    id: &str,
    number: &str,
    message: &str,
    variables: &[&str],
) -> Vec<(&'static str, String)> {
    let variable = |index: usize| {
        variables
            .get(index)
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    vec![
        ("TYPE", kind.to_string()),
        ("ID", id.to_string()),
        ("NUMBER", number.to_string()),
        ("MESSAGE", message.to_string()),
        ("LOG_NO", String::new()),
        ("LOG_MSG_NO", "000000".to_string()),
        ("MESSAGE_V1", variable(0)),
        ("MESSAGE_V2", variable(1)),
        ("MESSAGE_V3", variable(2)),
        ("MESSAGE_V4", variable(3)),
    ]
}

fn empty_return() -> Vec<(&'static str, String)> {
    return_fields("", "", "000", "", &[])
}

/// A SELECT-OPTIONS range row (SIGN, OPTION, LOW, HIGH) over internal customer numbers.
struct RangeRow {
    include: bool,
    option: String,
    low: String,
    high: String,
}

fn ranges(parameters: &soap::Element, name: &str) -> Vec<RangeRow> {
    parameters
        .items(name)
        .iter()
        .map(|item| RangeRow {
            include: item.scalar("SIGN").trim() != "E",
            option: item.scalar("OPTION").trim().to_uppercase(),
            low: item.scalar("LOW").trim().to_string(),
            high: item.scalar("HIGH").trim().to_string(),
        })
        .collect()
}

fn range_matches(ranges: &[RangeRow], value: &str) -> bool {
    if ranges.is_empty() {
        return true;
    }
    let hit = |row: &RangeRow| match row.option.as_str() {
        "BT" => value >= row.low.as_str() && value <= row.high.as_str(),
        "NB" => !(value >= row.low.as_str() && value <= row.high.as_str()),
        "NE" => value != row.low,
        "GT" => value > row.low.as_str(),
        "GE" => value >= row.low.as_str(),
        "LT" => value < row.low.as_str(),
        "LE" => value <= row.low.as_str(),
        "CP" => {
            let prefix = row.low.trim_end_matches('*');
            value.starts_with(prefix)
        }
        _ => value == row.low,
    };
    let includes: Vec<&RangeRow> = ranges.iter().filter(|row| row.include).collect();
    let included = includes.is_empty() || includes.iter().any(|row| hit(row));
    let excluded = ranges.iter().filter(|row| !row.include).any(hit);
    included && !excluded
}

fn customer_getlist(state: &SimState, parameters: &soap::Element) -> String {
    let function = "BAPI_CUSTOMER_GETLIST";
    let id_range = ranges(parameters, "IDRANGE");
    let max_rows = parse_count(&parameters.scalar("MAXROWS"));
    let one_time_only = parameters.scalar("CPDONLY").trim() == "X";
    let data = state
        .data
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut address_rows = Vec::new();
    let mut special_rows = Vec::new();
    for customer in data.customers_in_key_order() {
        if one_time_only && !customer.one_time {
            continue;
        }
        if !range_matches(&id_range, customer.kunnr) {
            continue;
        }
        if max_rows > 0 && address_rows.len() >= max_rows {
            break;
        }
        address_rows.push(vec![
            ("CUSTOMER", customer.kunnr.to_string()),
            ("SORT1", customer.sort_field()),
            ("NAME", customer.name[0].to_string()),
            ("COUNTRY", customer.country.to_string()),
            ("COUNTRYISO", customer.country.to_string()),
            ("CITY", customer.city.to_string()),
            ("POSTL_COD1", customer.postal_code.to_string()),
            ("REGION", customer.region.to_string()),
            ("STREET", truncate(&street_line_long(customer), 60)),
            (
                "TEL1_NUMBR",
                customer
                    .default_phone()
                    .map(|p| p.number.to_string())
                    .unwrap_or_default(),
            ),
            ("FAX_NUMBER", String::new()),
            ("ADDRESS", numc(customer.address_number, 10)),
        ]);
        special_rows.push(vec![
            ("CUSTOMER", customer.kunnr.to_string()),
            ("ACC_1_TIME", flag(customer.one_time).to_string()),
        ]);
    }
    if let Ok(mut stats) = state.stats.lock() {
        stats.rows_returned += address_rows.len() as u64;
    }
    let mut writer = ResponseWriter::new(function);
    if address_rows.is_empty() {
        writer.structure(
            "RETURN",
            &return_fields("E", "F2", "718", "No customers were found", &[]),
        );
    } else {
        writer.structure("RETURN", &empty_return());
    }
    writer.table("ADDRESSDATA", &address_rows);
    let ranges_echo: Vec<Vec<(&str, String)>> = id_range
        .iter()
        .map(|row| {
            vec![
                ("SIGN", if row.include { "I" } else { "E" }.to_string()),
                ("OPTION", row.option.clone()),
                ("LOW", row.low.clone()),
                ("HIGH", row.high.clone()),
            ]
        })
        .collect();
    writer.table("IDRANGE", &ranges_echo);
    writer.table("SPECIALDATA", &special_rows);
    writer.finish(function)
}

fn street_line_long(customer: &CustomerMaster) -> String {
    if customer.house_number.is_empty() {
        customer.street.to_string()
    } else {
        format!("{} {}", customer.street, customer.house_number)
    }
}

/// DATS as the SOAP runtime renders it: "2024-01-31", "0000-00-00" for none.
fn xml_date(date: u32) -> String {
    let text = dats(date);
    format!("{}-{}-{}", &text[0..4], &text[4..6], &text[6..8])
}

fn language_iso(language: &str) -> &'static str {
    match language {
        "D" => "DE",
        "F" => "FR",
        "N" => "NL",
        "L" => "PL",
        _ => "EN",
    }
}

fn customer_getdetail2(state: &SimState, parameters: &soap::Element) -> String {
    let function = "BAPI_CUSTOMER_GETDETAIL2";
    let customer_number = parameters.scalar("CUSTOMERNO");
    let kunnr = mlc_canonical::alpha_input(&customer_number, 10).unwrap_or_default();
    let company_code = parameters.scalar("COMPANYCODE").trim().to_string();
    let data = state
        .data
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut writer = ResponseWriter::new(function);
    let Some(index) = data.customer_index(&kunnr) else {
        writer.structure("CUSTOMERADDRESS", &[("CUSTOMER", String::new())]);
        writer.structure("CUSTOMERCOMPANYDETAIL", &[("COMP_CODE", String::new())]);
        writer.structure("CUSTOMERGENERALDETAIL", &[("ACCNT_GRP", String::new())]);
        let message = format!("Customer {kunnr} has not been created");
        writer.structure(
            "RETURN",
            &return_fields("E", "F2", "152", &message, &[&kunnr]),
        );
        writer.table("CUSTOMERBANKDETAIL", &[]);
        return writer.finish(function);
    };
    let customer = &data.customers[index];
    writer.structure(
        "CUSTOMERADDRESS",
        &[
            ("CUSTOMER", customer.kunnr.to_string()),
            (
                "FORMOFADDR",
                if customer.one_time {
                    String::new()
                } else {
                    "Company".into()
                },
            ),
            ("NAME", customer.name[0].to_string()),
            ("NAME_2", customer.name[1].to_string()),
            ("NAME_3", customer.name[2].to_string()),
            ("NAME_4", customer.name[3].to_string()),
            ("CITY", customer.city.to_string()),
            ("DISTRICT", String::new()),
            ("PO_BOX", String::new()),
            ("POSTL_CODE", customer.postal_code.to_string()),
            ("REGION", customer.region.to_string()),
            ("STREET", truncate(&street_line_long(customer), 60)),
            ("COUNTRY", customer.country.to_string()),
            ("COUNTRYISO", customer.country.to_string()),
            ("LANGU", customer.language.to_string()),
            ("LANGU_ISO", language_iso(customer.language).to_string()),
            (
                "TELEPHONE",
                customer
                    .default_phone()
                    .map(|p| p.number.to_string())
                    .unwrap_or_default(),
            ),
            ("FAX_NUMBER", String::new()),
            ("SORT_FLD", customer.sort_field()),
        ],
    );
    let company = customer
        .company_codes
        .iter()
        .find(|code| code.company_code() == company_code);
    if !company_code.is_empty() && company.is_none() {
        writer.structure("CUSTOMERCOMPANYDETAIL", &[("COMP_CODE", String::new())]);
    } else {
        let company = company
            .copied()
            .unwrap_or(CompanyData::new("", "", false, false));
        writer.structure(
            "CUSTOMERCOMPANYDETAIL",
            &[
                ("COMP_CODE", company.company_code().to_string()),
                ("PMNTTRMS", company.payment_terms().to_string()),
                ("RECON_ACCT", company.reconciliation_account().to_string()),
                ("PSTG_BLK", flag(company.posting_block).to_string()),
                ("DEL_FLAG", flag(company.deletion_flag).to_string()),
                (
                    "INTERNET",
                    customer
                        .default_email()
                        .map(|e| e.address.to_string())
                        .unwrap_or_default(),
                ),
                (
                    "TEL",
                    customer
                        .default_phone()
                        .map(|p| p.number.to_string())
                        .unwrap_or_default(),
                ),
                ("FAX", String::new()),
            ],
        );
    }
    writer.structure(
        "CUSTOMERGENERALDETAIL",
        &[
            ("ACC_1_TIME", flag(customer.one_time).to_string()),
            ("ADDRESS", numc(customer.address_number, 10)),
            ("ORDR_BLK_G", customer.blocks.order().to_string()),
            ("BILL_BLK_G", customer.blocks.billing().to_string()),
            ("DELI_BLK_G", customer.blocks.delivery().to_string()),
            ("PSTG_BLK_G", flag(customer.posting_block).to_string()),
            ("DEL_FLAG_G", flag(customer.deletion_flag).to_string()),
            ("CREAT_DATE", xml_date(customer.created_on)),
            ("ENTERED_BY", customer.created_by.to_string()),
            ("ACCNT_GRP", customer.account_group.to_string()),
            ("VAT_REG_NO", customer.vat.to_string()),
            ("URL", String::new()),
        ],
    );
    if !company_code.is_empty() && company.is_none() {
        let message = format!(
            "Customer {} has not been created for company code {company_code}",
            customer.kunnr
        );
        writer.structure(
            "RETURN",
            &return_fields("E", "F2", "153", &message, &[customer.kunnr, &company_code]),
        );
    } else {
        let message = format!(
            "Customer {} exists, but there is no bank data",
            customer.kunnr
        );
        writer.structure(
            "RETURN",
            &return_fields("I", "FN", "505", &message, &[customer.kunnr]),
        );
    }
    writer.table("CUSTOMERBANKDETAIL", &[]);
    writer.finish(function)
}

fn customer_getcontactlist(state: &SimState, parameters: &soap::Element) -> String {
    let function = "BAPI_CUSTOMER_GETCONTACTLIST";
    let customer_range = ranges(parameters, "CUSTOMERRANGE");
    let max_rows = parse_count(&parameters.scalar("MAXROWS"));
    let contact_only = parameters.scalar("CONTACTPERSONONLY").trim() == "X";
    let language = state.options.language_key();
    let data = state
        .data
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut contact_rows = Vec::new();
    'customers: for customer in data.customers_in_key_order() {
        if !range_matches(&customer_range, customer.kunnr) {
            continue;
        }
        for contact in &customer.contacts {
            if max_rows > 0 && contact_rows.len() >= max_rows {
                break 'customers;
            }
            let own_phone = default_entry(&contact.phones, |p| p.default, |p| p.consnumber)
                .map(|p| p.number.to_string());
            let phone = match own_phone {
                Some(phone) => phone,
                None if !contact_only => customer
                    .default_phone()
                    .map(|p| p.number.to_string())
                    .unwrap_or_default(),
                None => String::new(),
            };
            let email = default_entry(&contact.emails, |e| e.default, |e| e.consnumber)
                .map(|e| e.address.to_string());
            contact_rows.push(vec![
                ("PARTNEREMPLOYEEID", numc(contact.parnr, 10)),
                ("CUSTOMER", customer.kunnr.to_string()),
                ("LASTNAME", contact.last_name.to_string()),
                ("FIRSTNAME", contact.first_name.to_string()),
                ("SEX", contact.sex.to_string()),
                ("TITLE_P", String::new()),
                ("LANGU_P", contact.language.to_string()),
                ("LANGUP_ISO", language_iso(contact.language).to_string()),
                ("COUNTRY", customer.country.to_string()),
                ("COUNTRYISO", customer.country.to_string()),
                ("CITY", customer.city.to_string()),
                ("POSTL_COD1", customer.postal_code.to_string()),
                ("REGION", customer.region.to_string()),
                ("STREET", truncate(&street_line_long(customer), 60)),
                ("TEL1_NUMBR", phone),
                ("FAX_NUMBER", String::new()),
                (
                    "FUNCTION",
                    rows::function_text(contact.function, &language)
                        .unwrap_or("")
                        .to_string(),
                ),
                ("SORT1_P", truncate(&contact.last_name.to_uppercase(), 20)),
                ("ADDRESS", numc(customer.address_number, 10)),
                ("PERS_NO", numc(contact.prsnr, 10)),
                ("E_MAIL", email.unwrap_or_default()),
            ]);
        }
    }
    if let Ok(mut stats) = state.stats.lock() {
        stats.rows_returned += contact_rows.len() as u64;
    }
    let mut writer = ResponseWriter::new(function);
    if contact_rows.is_empty() {
        writer.structure(
            "RETURN",
            &return_fields("E", "F2", "718", "No contact persons were found", &[]),
        );
    } else {
        writer.structure("RETURN", &empty_return());
    }
    writer.table("CONTACTADDRESSDATA", &contact_rows);
    writer.table("CUSTOMERRANGE", &[]);
    writer.finish(function)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn small_data() -> EccData {
        crate::generate::generate(&crate::generate::GenerationSettings {
            customers: 70,
            seed: 5,
            contacts_per_customer: 2,
            duplicate_rate: 0.1,
            dirty_rate: 0.0,
            client: "100".into(),
        })
    }

    /// Rows (as the key field's values) a clause selects, with or without the key pushdown.
    fn selected(
        data: &EccData,
        table: &'static schema::TableDef,
        lines: &[String],
        key: &str,
        pushdown: bool,
    ) -> Vec<String> {
        let clause = abap_where::parse(table, lines).unwrap();
        let subset = if pushdown {
            candidate_customers(data, table, &clause)
        } else {
            None
        };
        let mut found = Vec::new();
        rows::scan_customers(data, table.name, subset.as_deref(), &mut |row| {
            let mut value = |index: usize| row.value("100", table.fields[index].name).into_owned();
            if clause.matches(table, &mut value) {
                found.push(row.value("100", key).into_owned());
            }
            true
        });
        found
    }

    fn atom(field: &'static str, base: u32) -> impl Strategy<Value = String> {
        let operators = prop::sample::select(vec![
            "EQ", "NE", "GT", "GE", "LT", "LE", "=", "<>", ">", "<=", ">=",
        ]);
        (operators, 0u32..80, 0u32..80).prop_map(move |(operator, a, b)| match a % 5 {
            0 => format!(
                "{field} BETWEEN '{:010}' AND '{:010}'",
                base + a.min(b),
                base + a.max(b)
            ),
            1 => format!("{field} IN ( '{:010}', '{:010}' )", base + a, base + b),
            2 => format!(
                "( {field} {operator} '{:010}' OR {field} EQ '{:010}' )",
                base + a,
                base + b
            ),
            _ => format!("{field} {operator} '{:010}'", base + a),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn key_pushdown_never_changes_what_a_clause_selects(
            atoms in prop::collection::vec((atom("KUNNR", 100_000), prop::bool::ANY), 1..4),
            address_atoms in prop::collection::vec((atom("ADDRNUMBER", 10_000), prop::bool::ANY), 1..4),
            contact_atoms in prop::collection::vec((atom("PARNR", 1), prop::bool::ANY), 1..4),
            person_atoms in prop::collection::vec((atom("PERSNUMBER", 500_000), prop::bool::ANY), 1..4),
        ) {
            let data = small_data();
            let lines = |atoms: &[(String, bool)]| -> Vec<String> {
                atoms.iter().enumerate().map(|(index, (atom, and))| {
                    if index == 0 { atom.clone() } else { format!("{} {atom}", if *and { "AND" } else { "OR" }) }
                }).collect()
            };
            for table in [&schema::KNA1, &schema::KNVK, &schema::KNVV] {
                let clause = lines(&atoms);
                prop_assert_eq!(selected(&data, table, &clause, "KUNNR", true), selected(&data, table, &clause, "KUNNR", false));
            }
            for table in [&schema::ADRC, &schema::ADR6, &schema::ADR2] {
                let clause = lines(&address_atoms);
                prop_assert_eq!(selected(&data, table, &clause, "ADDRNUMBER", true), selected(&data, table, &clause, "ADDRNUMBER", false));
            }
            let clause = lines(&contact_atoms);
            prop_assert_eq!(selected(&data, &schema::KNVK, &clause, "PARNR", true), selected(&data, &schema::KNVK, &clause, "PARNR", false));
            for table in [&schema::ADRP, &schema::ADR6, &schema::ADR2] {
                let clause = lines(&person_atoms);
                prop_assert_eq!(selected(&data, table, &clause, "PERSNUMBER", true), selected(&data, table, &clause, "PERSNUMBER", false));
            }
        }
    }

    #[test]
    fn ranges_follow_select_options() {
        let rows = vec![
            RangeRow {
                include: true,
                option: "BT".into(),
                low: "0000100000".into(),
                high: "0000100010".into(),
            },
            RangeRow {
                include: false,
                option: "EQ".into(),
                low: "0000100005".into(),
                high: String::new(),
            },
        ];
        assert!(range_matches(&rows, "0000100001"));
        assert!(!range_matches(&rows, "0000100005"));
        assert!(!range_matches(&rows, "0000100011"));
        assert!(range_matches(&[], "anything"));
    }
}
