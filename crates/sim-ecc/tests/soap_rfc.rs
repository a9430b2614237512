//! The SOAP RFC endpoint as a client sees it: RFC_READ_TABLE's layout, limits, WHERE subset and
//! exceptions; the BAPIs and their RETURN; logon.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::{Ecc, ReadTable};
use mlc_sim_ecc::SimEccOptions;

async fn ecc(customers: usize) -> Ecc {
    let mut options = SimEccOptions::for_tests(customers, 11);
    options.duplicate_rate = 0.05;
    options.dirty_rate = 0.05;
    Ecc::start(options).await
}

#[tokio::test]
async fn kna1_rows_sliced_by_offsets_match_the_truth() {
    let ecc = ecc(150).await;
    let answer = ecc
        .read_table(&ReadTable::new(
            "KNA1",
            &["KUNNR", "NAME1", "LAND1", "LOEVM", "KTOKD"],
        ))
        .await
        .unwrap();
    let offsets: Vec<(usize, usize)> = answer.fields.iter().map(|f| (f.offset, f.length)).collect();
    assert_eq!(
        offsets,
        vec![(0, 10), (11, 35), (47, 3), (51, 1), (53, 4)],
        "OFFSET counts the delimiters"
    );
    assert_eq!(answer.fields[0].field_type, "C");
    for row in &answer.raw_rows {
        assert_eq!(row.chars().count(), 57, "fixed-width WA: {row:?}");
    }
    let truth = ecc.sim.truth();
    assert_eq!(answer.rows.len(), truth.len());
    let one_time: Vec<&String> = answer
        .raw_rows
        .iter()
        .filter(|row| row.starts_with("CPD"))
        .collect();
    assert!(!one_time.is_empty(), "the seed yields one-time customers");
    for row in one_time {
        assert!(
            row[..11].ends_with("  |"),
            "alphanumeric KUNNR stays left-justified: {row:?}"
        );
    }
    assert!(
        answer
            .raw_rows
            .iter()
            .filter(|row| !row.starts_with("CPD"))
            .all(|row| row.starts_with("0000")),
        "numeric KUNNR zero-padded"
    );
    let by_number: HashMap<&str, &HashMap<String, String>> = answer
        .rows
        .iter()
        .map(|row| (row["KUNNR"].as_str(), row))
        .collect();
    for record in &truth {
        let row = by_number[record.customer.customer_number.as_str()];
        // KNA1 holds a copy of ADRC's name line (the truth's), cut at 35 characters.
        let copy: String = record.customer.name_parts[0].chars().take(35).collect();
        assert_eq!(
            row["NAME1"],
            copy.trim_end(),
            "{}",
            record.customer.customer_number
        );
        assert_eq!(row["KTOKD"], record.customer.account_group);
        // Deleted centrally, or in the company code or sales area (KNB1/KNVV-LOEVM).
        if row["LOEVM"] == "X" {
            assert!(record.customer.deleted);
        }
        if record.dirty.is_none() {
            assert_eq!(row["LAND1"], record.customer.billing_address.country);
        }
    }
}

#[tokio::test]
async fn bas_tables_agree_with_the_truth() {
    let ecc = ecc(120).await;
    let truth = ecc.sim.truth();
    let kna1 = ecc
        .read_table(&ReadTable::new("KNA1", &["KUNNR", "ADRNR"]))
        .await
        .unwrap();
    let address_of: HashMap<String, String> = kna1
        .rows
        .iter()
        .map(|r| (r["KUNNR"].clone(), r["ADRNR"].clone()))
        .collect();
    let adrc_fields = [
        "ADDRNUMBER",
        "NAME1",
        "NAME2",
        "STREET",
        "HOUSE_NUM1",
        "POST_CODE1",
        "CITY1",
        "REGION",
        "COUNTRY",
    ];
    let adrc = ecc
        .read_table(&ReadTable {
            options: &["NATION = ' '"],
            ..ReadTable::new("ADRC", &adrc_fields)
        })
        .await
        .unwrap();
    let adrc_all = ecc
        .read_table(&ReadTable::new("ADRC", &["ADDRNUMBER", "NATION"]))
        .await
        .unwrap();
    assert!(
        adrc_all.rows.len() > adrc.rows.len(),
        "some addresses have an international version"
    );
    let addresses: HashMap<String, &HashMap<String, String>> = adrc
        .rows
        .iter()
        .map(|r| (r["ADDRNUMBER"].clone(), r))
        .collect();
    let adr6 = ecc
        .read_table(&ReadTable {
            options: &["PERSNUMBER = ' '"],
            ..ReadTable::new(
                "ADR6",
                &[
                    "ADDRNUMBER",
                    "CONSNUMBER",
                    "FLGDEFAULT",
                    "FLG_NOUSE",
                    "VALID_FROM",
                    "VALID_TO",
                    "SMTP_ADDR",
                ],
            )
        })
        .await
        .unwrap();
    // Rows flagged "not used" or outside their validity are in the table, not in the truth.
    let today = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string();
    let in_use = |row: &&HashMap<String, String>| {
        row["FLG_NOUSE"] != "X"
            && (row["VALID_FROM"].is_empty() || row["VALID_FROM"] <= today)
            && (row["VALID_TO"].is_empty() || row["VALID_TO"] >= today)
    };
    assert!(
        adr6.rows.iter().any(|row| !in_use(&row)),
        "the simulator keeps rows not in use"
    );
    for record in &truth {
        let customer = &record.customer;
        let address = addresses[&address_of[customer.customer_number.as_str()]];
        assert_eq!(address["STREET"], customer.billing_address.street);
        assert_eq!(address["HOUSE_NUM1"], customer.billing_address.house_number);
        assert_eq!(address["POST_CODE1"], customer.billing_address.postal_code);
        assert_eq!(address["CITY1"], customer.billing_address.city);
        assert_eq!(address["COUNTRY"], customer.billing_address.country);
        assert_eq!(address["NAME2"], customer.name_parts[1]);
        let mut emails: Vec<&HashMap<String, String>> = adr6
            .rows
            .iter()
            .filter(|row| row["ADDRNUMBER"] == address_of[customer.customer_number.as_str()])
            .filter(in_use)
            .collect();
        emails.sort_by_key(|row| (row["FLGDEFAULT"] != "X", row["CONSNUMBER"].clone()));
        assert_eq!(
            emails.first().map(|row| row["SMTP_ADDR"].clone()),
            customer.email,
            "{}",
            customer.customer_number
        );
    }
}

#[tokio::test]
async fn every_field_of_kna1_or_adrc_exceeds_the_row_buffer() {
    let ecc = ecc(20).await;
    for table in ["KNA1", "ADRC", "CDPOS"] {
        let fault = ecc
            .read_table(&ReadTable::new(table, &[]))
            .await
            .unwrap_err();
        assert_eq!(fault.status, 500);
        assert_eq!(fault.exception, "DATA_BUFFER_EXCEEDED", "{table}");
    }
    // As RFC_READ_TABLE: DATA_BUFFER_EXCEEDED only when NO_DATA is blank; a probe of every
    // field returns the field list.
    let probe = ecc
        .read_table(&ReadTable {
            no_data: true,
            ..ReadTable::new("KNA1", &[])
        })
        .await
        .unwrap();
    assert!(probe.rows.is_empty() && probe.fields.len() > 50);
    let fields = [
        "KUNNR", "NAME1", "NAME2", "NAME3", "NAME4", "ORT01", "STRAS", "TELFX", "MCOD1", "MCOD2",
        "MCOD3", "BAHNE", "BAHNS", "TELTX", "TELX1", "ORT02", "STCEG", "PFACH", "PSTLZ",
    ];
    assert!(ecc
        .read_table(&ReadTable::new("KNA1", &fields))
        .await
        .is_err());
    assert!(ecc
        .read_table(&ReadTable::new("KNA1", &fields[..12]))
        .await
        .is_ok());
    let probe = ecc
        .read_table(&ReadTable {
            no_data: true,
            ..ReadTable::new("ADR6", &[])
        })
        .await
        .unwrap();
    assert!(probe.raw_rows.is_empty());
    assert_eq!(
        probe.fields.len(),
        16,
        "NO_DATA returns the field list of ADR6"
    );
}

#[tokio::test]
async fn options_lines_are_limited_to_72_characters() {
    let ecc = ecc(20).await;
    let padding = "X".repeat(72 - "NAME1 = ''".len());
    let fits = format!("NAME1 = '{padding}'");
    assert_eq!(fits.chars().count(), 72);
    let too_long = format!("NAME1 = '{padding}X'");
    assert!(ecc
        .read_table(&ReadTable {
            options: &[&fits],
            ..ReadTable::new("KNA1", &["KUNNR"])
        })
        .await
        .is_ok());
    let fault = ecc
        .read_table(&ReadTable {
            options: &[&too_long],
            ..ReadTable::new("KNA1", &["KUNNR"])
        })
        .await
        .unwrap_err();
    assert_eq!(fault.exception, "OPTION_NOT_VALID");
    for bad in [
        &["NOSUCH = 'A'"][..],
        &["NAME1 = 'A"],
        &["NAME1 = 'A' AND"],
        &["KUNNR GT '00001", "00000'"],
    ] {
        let fault = ecc
            .read_table(&ReadTable {
                options: bad,
                ..ReadTable::new("KNA1", &["KUNNR"])
            })
            .await
            .unwrap_err();
        assert_eq!(fault.exception, "OPTION_NOT_VALID", "{bad:?}");
    }
}

#[tokio::test]
async fn quotes_in_literals_are_doubled() {
    let ecc = ecc(200).await;
    let truth = ecc.sim.truth();
    let with_quote: BTreeSet<String> = truth
        .iter()
        .filter(|r| r.customer.name_parts[0].contains('\''))
        .map(|r| r.customer.customer_number.to_string())
        .collect();
    assert!(
        !with_quote.is_empty(),
        "the seed yields names with apostrophes"
    );
    let answer = ecc
        .read_table(&ReadTable {
            options: &["NAME1 LIKE '%''%'"],
            ..ReadTable::new("KNA1", &["KUNNR", "NAME1"])
        })
        .await
        .unwrap();
    let found: BTreeSet<String> = answer.rows.iter().map(|row| row["KUNNR"].clone()).collect();
    assert_eq!(found, with_quote);
    let name = answer.rows[0]["NAME1"].clone();
    let clause = format!("NAME1 = '{}'", name.replace('\'', "''"));
    let exact = ecc
        .read_table(&ReadTable {
            options: &[&clause],
            ..ReadTable::new("KNA1", &["KUNNR", "NAME1"])
        })
        .await
        .unwrap();
    assert!(!exact.rows.is_empty());
    assert!(exact.rows.iter().all(|row| row["NAME1"] == name));
}

#[tokio::test]
async fn in_lists_between_and_boolean_logic_select_the_right_rows() {
    let ecc = ecc(150).await;
    let truth = ecc.sim.truth();
    let answer = ecc
        .read_table(&ReadTable {
            options: &["LAND1 IN ( 'DE', 'AT' )", "AND LOEVM = ' '"],
            ..ReadTable::new("KNA1", &["KUNNR"])
        })
        .await
        .unwrap();
    let centrally_deleted: BTreeSet<String> = ecc
        .read_table(&ReadTable {
            options: &["LOEVM = 'X'"],
            ..ReadTable::new("KNA1", &["KUNNR"])
        })
        .await
        .unwrap()
        .rows
        .iter()
        .map(|row| row["KUNNR"].clone())
        .collect();
    assert!(!centrally_deleted.is_empty());
    let expected: BTreeSet<String> = truth
        .iter()
        .filter(|r| {
            ["DE", "AT"].contains(&r.customer.billing_address.country.as_str())
                && !centrally_deleted.contains(&r.customer.customer_number.to_string())
        })
        .map(|r| r.customer.customer_number.to_string())
        .collect();
    let found: BTreeSet<String> = answer.rows.iter().map(|row| row["KUNNR"].clone()).collect();
    assert_eq!(found, expected);

    let answer = ecc
        .read_table(&ReadTable {
            options: &["KUNNR BETWEEN '0000100010' AND '0000100019'"],
            ..ReadTable::new("KNA1", &["KUNNR"])
        })
        .await
        .unwrap();
    let found: BTreeSet<String> = answer.rows.iter().map(|row| row["KUNNR"].clone()).collect();
    let expected: BTreeSet<String> = (100_010..=100_019).map(|n| format!("{n:010}")).collect();
    assert_eq!(found, expected);

    let answer = ecc
        .read_table(&ReadTable {
            options: &["NOT ( KTOKD EQ '0001' OR KTOKD EQ '0002' )"],
            ..ReadTable::new("KNA1", &["KUNNR", "KTOKD", "XCPDK"])
        })
        .await
        .unwrap();
    assert!(answer
        .rows
        .iter()
        .all(|row| row["KTOKD"] == "CPD" && row["XCPDK"] == "X"));
}

#[tokio::test]
async fn rows_come_in_storage_order_not_key_order_and_page_with_rowskips() {
    let ecc = ecc(60).await;
    let answer = ecc
        .read_table(&ReadTable::new("KNA1", &["KUNNR"]))
        .await
        .unwrap();
    let numbers: Vec<String> = answer.rows.iter().map(|row| row["KUNNR"].clone()).collect();
    let mut sorted = numbers.clone();
    sorted.sort();
    assert_ne!(numbers, sorted, "a database does not promise key order");
    let again = ecc
        .read_table(&ReadTable::new("KNA1", &["KUNNR"]))
        .await
        .unwrap();
    assert_eq!(
        answer.raw_rows, again.raw_rows,
        "the physical order is stable"
    );
    let page = ecc
        .read_table(&ReadTable {
            row_skips: 10,
            row_count: 5,
            ..ReadTable::new("KNA1", &["KUNNR"])
        })
        .await
        .unwrap();
    assert_eq!(page.raw_rows, answer.raw_rows[10..15]);
}

#[tokio::test]
async fn exceptions_come_as_soap_faults() {
    let mut options = SimEccOptions::for_tests(20, 3);
    options.not_authorized = vec!["CDPOS".into()];
    options.function_names = vec!["BBP_RFC_READ_TABLE".into()];
    let ecc = Ecc::start(options).await;
    let read = |table| ReadTable {
        function: "BBP_RFC_READ_TABLE",
        ..ReadTable::new(table, &["MANDANT"])
    };
    assert_eq!(
        ecc.read_table(&read("CDPOS")).await.unwrap_err().exception,
        "NOT_AUTHORIZED"
    );
    assert_eq!(
        ecc.read_table(&read("T001")).await.unwrap_err().exception,
        "TABLE_NOT_AVAILABLE"
    );
    assert!(ecc.read_table(&read("CDHDR")).await.is_ok());
    let bad_field = ReadTable {
        function: "BBP_RFC_READ_TABLE",
        ..ReadTable::new("KNA1", &["KUNNR", "EMAIL"])
    };
    assert_eq!(
        ecc.read_table(&bad_field).await.unwrap_err().exception,
        "FIELD_NOT_VALID"
    );
    let switched_off = ReadTable::new("KNA1", &["KUNNR"]);
    assert_eq!(
        ecc.read_table(&switched_off).await.unwrap_err().exception,
        "FU_NOT_FOUND"
    );
    let (status, _, body) = ecc
        .rfc("RFC_READ_TABLE", "<QUERY_TABLE>KNA1</QUERY_TABLE>")
        .await;
    assert_eq!(status, 500);
    assert!(body.contains("RFC_READ_TABLE.Exception"), "{body}");
}

#[tokio::test]
async fn sapds_variant_uses_the_encoded_element_name() {
    let ecc = ecc(10).await;
    let answer = ecc
        .read_table(&ReadTable {
            function: "/SAPDS/RFC_READ_TABLE",
            ..ReadTable::new("TVZBT", &["SPRAS", "ZTERM", "VTEXT"])
        })
        .await
        .unwrap();
    assert!(answer
        .rows
        .iter()
        .any(|row| row["ZTERM"] == "ZB30" && row["VTEXT"] == "30 days net"));
}

#[tokio::test]
async fn logon_needs_basic_auth_and_the_right_client() {
    let ecc = ecc(5).await;
    let body = "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body/></soapenv:Envelope>";
    let anonymous = ecc
        .http
        .post(ecc.soap_url())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let wrong_password = ecc
        .http
        .post(ecc.soap_url())
        .basic_auth(ecc.sim.user(), Some("nope"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_password.status().as_u16(), 401);
    let wrong_client = format!("{}/sap/bc/soap/rfc?sap-client=800", ecc.sim.base_url());
    let response = ecc
        .http
        .post(wrong_client)
        .basic_auth(ecc.sim.user(), Some(ecc.sim.password()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn bapis_return_their_structures_and_business_errors_in_return() {
    let ecc = ecc(40).await;
    let truth = ecc.sim.truth();
    let (status, document, _) = ecc
        .rfc("BAPI_CUSTOMER_GETLIST", "<IDRANGE><item><SIGN>I</SIGN><OPTION>BT</OPTION><LOW>0000000000</LOW><HIGH>ZZZZZZZZZZ</HIGH></item></IDRANGE><MAXROWS>0</MAXROWS>")
        .await;
    assert_eq!(status, 200);
    let response = document.find("BAPI_CUSTOMER_GETLIST.Response").unwrap();
    let customers: Vec<String> = response
        .items("ADDRESSDATA")
        .iter()
        .map(|item| item.text_of("CUSTOMER"))
        .collect();
    let mut expected: Vec<String> = truth
        .iter()
        .map(|r| r.customer.customer_number.to_string())
        .collect();
    expected.sort();
    assert_eq!(customers, expected);
    assert_eq!(response.child("RETURN").unwrap().text_of("TYPE"), "");

    let first = &truth[0].customer;
    let (status, document, _) = ecc
        .rfc(
            "BAPI_CUSTOMER_GETDETAIL2",
            &format!(
                "<CUSTOMERNO>{}</CUSTOMERNO><COMPANYCODE></COMPANYCODE>",
                first.customer_number_display
            ),
        )
        .await;
    assert_eq!(status, 200);
    let response = document.find("BAPI_CUSTOMER_GETDETAIL2.Response").unwrap();
    assert_eq!(
        response.child("CUSTOMERADDRESS").unwrap().text_of("NAME"),
        first.name_parts[0]
    );
    assert_eq!(
        response
            .child("CUSTOMERGENERALDETAIL")
            .unwrap()
            .text_of("ACCNT_GRP"),
        first.account_group
    );
    assert!(response.child("CUSTOMERCOMPANYDETAIL").is_some());
    assert!(response.child("CUSTOMERBANKDETAIL").is_some());
    let created = response
        .child("CUSTOMERGENERALDETAIL")
        .unwrap()
        .text_of("CREAT_DATE");
    assert_eq!(created.len(), 10, "dates as YYYY-MM-DD: {created}");

    let (status, document, _) = ecc
        .rfc(
            "BAPI_CUSTOMER_GETDETAIL2",
            "<CUSTOMERNO>0009999999</CUSTOMERNO>",
        )
        .await;
    assert_eq!(status, 200, "business errors are not SOAP faults");
    let message = document.find("RETURN").unwrap();
    assert_eq!(message.text_of("TYPE"), "E");
    assert!(message.text_of("MESSAGE").contains("0009999999"));

    let (status, document, _) = ecc.rfc("BAPI_CUSTOMER_GETCONTACTLIST", "<CUSTOMERRANGE><item><SIGN>I</SIGN><OPTION>BT</OPTION><LOW>0000000000</LOW><HIGH>ZZZZZZZZZZ</HIGH></item></CUSTOMERRANGE>").await;
    assert_eq!(status, 200);
    let contacts = document
        .find("BAPI_CUSTOMER_GETCONTACTLIST.Response")
        .unwrap()
        .items("CONTACTADDRESSDATA")
        .len();
    // The BAPI lists every KNVK row of a customer, those flagged for deletion too.
    let knvk_rows = ecc
        .read_table(&ReadTable {
            options: &["KUNNR <> ' '"],
            ..ReadTable::new("KNVK", &["PARNR"])
        })
        .await
        .unwrap()
        .rows
        .len();
    assert_eq!(contacts, knvk_rows);
    assert!(
        contacts
            > truth
                .iter()
                .map(|r| r.customer.contacts.len())
                .sum::<usize>(),
        "some contacts are flagged for deletion and not in the truth"
    );

    let (_, document, _) = ecc
        .rfc(
            "BAPI_CUSTOMER_GETLIST",
            "<IDRANGE><item><SIGN>I</SIGN><OPTION>EQ</OPTION><LOW>NOPE</LOW></item></IDRANGE>",
        )
        .await;
    let message = document.find("RETURN").unwrap();
    assert_eq!(
        (message.text_of("TYPE"), message.text_of("NUMBER")),
        ("E".to_string(), "718".to_string())
    );
}

#[tokio::test]
async fn vendor_contacts_sit_in_knvk_with_a_blank_customer() {
    let ecc = ecc(60).await;
    let all = ecc
        .read_table(&ReadTable::new(
            "KNVK",
            &["PARNR", "KUNNR", "LIFNR", "PRSNR"],
        ))
        .await
        .unwrap();
    let customers_only = ecc
        .read_table(&ReadTable {
            options: &["KUNNR <> ' '"],
            ..ReadTable::new("KNVK", &["PARNR", "LOEVM"])
        })
        .await
        .unwrap();
    let vendor_rows: Vec<_> = all
        .rows
        .iter()
        .filter(|row| row["KUNNR"].is_empty())
        .collect();
    assert!(!vendor_rows.is_empty());
    assert!(vendor_rows.iter().all(|row| !row["LIFNR"].is_empty()));
    assert_eq!(
        customers_only.rows.len() + vendor_rows.len(),
        all.rows.len()
    );
    let truth_contacts: usize = ecc
        .sim
        .truth()
        .iter()
        .map(|r| r.customer.contacts.len())
        .sum();
    // A contact flagged for deletion (KNVK-LOEVM) is not in the truth.
    let flagged = customers_only
        .rows
        .iter()
        .filter(|row| row["LOEVM"] == "X")
        .count();
    assert!(flagged > 0, "some contacts are flagged for deletion");
    assert_eq!(customers_only.rows.len() - flagged, truth_contacts);
    assert!(all
        .rows
        .iter()
        .all(|row| row["PARNR"].len() == 10 && row["PARNR"].chars().all(|c| c.is_ascii_digit())));
}

#[tokio::test]
async fn key_bounded_reads_return_exactly_what_a_full_scan_filters() {
    let ecc = ecc(120).await;
    let fields = ["ADDRNUMBER", "PERSNUMBER", "CONSNUMBER", "SMTP_ADDR"];
    let everything = ecc
        .read_table(&ReadTable::new("ADR6", &fields))
        .await
        .unwrap();
    let mut numbers: Vec<String> = everything
        .rows
        .iter()
        .map(|row| row["ADDRNUMBER"].clone())
        .collect();
    numbers.sort();
    numbers.dedup();
    let (low, high) = (&numbers[10], &numbers[40]);
    let clause = format!("ADDRNUMBER BETWEEN '{low}' AND '{high}'");
    let bounded = ecc
        .read_table(&ReadTable {
            options: &[&clause],
            ..ReadTable::new("ADR6", &fields)
        })
        .await
        .unwrap();
    let expected: Vec<String> = everything
        .raw_rows
        .iter()
        .zip(&everything.rows)
        .filter(|(_, row)| {
            row["ADDRNUMBER"].as_str() >= low.as_str()
                && row["ADDRNUMBER"].as_str() <= high.as_str()
        })
        .map(|(raw, _)| raw.clone())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(bounded.raw_rows, expected, "same rows, same physical order");

    let short = ecc
        .read_table(&ReadTable {
            options: &["ADDRNUMBER LE '2'"],
            ..ReadTable::new("ADR6", &fields)
        })
        .await
        .unwrap();
    let below_two = everything
        .rows
        .iter()
        .filter(|row| row["ADDRNUMBER"].as_str() <= "2")
        .count();
    assert!(
        below_two < everything.rows.len(),
        "private addresses (KNVK-ADRNP_2) are numbered '3...'"
    );
    assert_eq!(
        short.rows.len(),
        below_two,
        "string comparison: every '00...' number is below '2', no '3...' one"
    );

    let kna1 = ecc
        .read_table(&ReadTable::new("KNVK", &["PARNR", "KUNNR"]))
        .await
        .unwrap();
    let clause = "KUNNR GT '0000100050' AND KUNNR LE '0000100090'";
    let bounded = ecc
        .read_table(&ReadTable {
            options: &[clause],
            ..ReadTable::new("KNVK", &["PARNR", "KUNNR"])
        })
        .await
        .unwrap();
    let expected: Vec<String> = kna1
        .raw_rows
        .iter()
        .zip(&kna1.rows)
        .filter(|(_, row)| {
            row["KUNNR"].as_str() > "0000100050" && row["KUNNR"].as_str() <= "0000100090"
        })
        .map(|(raw, _)| raw.clone())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(bounded.raw_rows, expected);
}

#[tokio::test]
async fn flags_in_the_company_code_the_sales_area_and_on_contacts_reach_the_truth() {
    let ecc = ecc(1500).await;
    let truth = ecc.sim.truth();
    let record = |number: &str| {
        truth
            .iter()
            .find(|record| record.customer.customer_number.as_str() == number)
            .unwrap()
    };
    let central: BTreeSet<String> = ecc
        .read_table(&ReadTable {
            options: &[
                "LOEVM = 'X' OR SPERR = 'X' OR AUFSD <> ' '",
                "OR LIFSD <> ' ' OR FAKSD <> ' '",
            ],
            ..ReadTable::new("KNA1", &["KUNNR"])
        })
        .await
        .unwrap()
        .rows
        .iter()
        .map(|row| row["KUNNR"].clone())
        .collect();
    let company = ecc
        .read_table(&ReadTable {
            options: &["BUKRS = '1000' AND ( LOEVM = 'X' OR SPERR = 'X' )"],
            ..ReadTable::new("KNB1", &["KUNNR", "LOEVM", "SPERR"])
        })
        .await
        .unwrap();
    let area = ecc
        .read_table(&ReadTable {
            options: &[
                "VKORG = '1000' AND VTWEG = '10' AND SPART = '00' AND",
                "( LOEVM = 'X' OR AUFSD <> ' ' OR LIFSD <> ' ' OR FAKSD <> ' ' )",
            ],
            ..ReadTable::new("KNVV", &["KUNNR", "LOEVM", "AUFSD"])
        })
        .await
        .unwrap();
    let mut only_below = 0;
    for row in company.rows.iter().chain(&area.rows) {
        let customer = &record(&row["KUNNR"]).customer;
        if row["LOEVM"] == "X" {
            assert!(customer.deleted, "{} LOEVM below KNA1", row["KUNNR"]);
        } else {
            assert!(customer.blocked, "{} blocked below KNA1", row["KUNNR"]);
        }
        if !central.contains(&row["KUNNR"]) {
            only_below += 1;
        }
    }
    assert!(
        only_below > 0,
        "some customers are flagged only in KNB1 or KNVV"
    );

    let flagged_contacts = ecc
        .read_table(&ReadTable {
            options: &["LOEVM = 'X' AND KUNNR <> ' '"],
            ..ReadTable::new("KNVK", &["PARNR", "KUNNR"])
        })
        .await
        .unwrap();
    assert!(!flagged_contacts.rows.is_empty());
    for row in &flagged_contacts.rows {
        assert!(
            record(&row["KUNNR"])
                .customer
                .contacts
                .iter()
                .all(|contact| contact.contact_number != row["PARNR"]),
            "contact {} is flagged for deletion: not in the truth",
            row["PARNR"]
        );
    }
}

#[tokio::test]
async fn where_clauses_need_blanks_around_operators_and_parentheses_and_authority_comes_first() {
    let ecc = ecc(20).await;
    for options in [
        "LAND1='DE'",
        "LAND1 IN ('DE', 'AT')",
        "( LAND1 = 'DE')",
        "LAND1 <>'DE'",
    ] {
        let fault = ecc
            .read_table(&ReadTable {
                options: &[options],
                ..ReadTable::new("KNA1", &["KUNNR"])
            })
            .await
            .unwrap_err();
        assert_eq!(fault.exception, "OPTION_NOT_VALID", "{options}");
    }
    assert!(ecc
        .read_table(&ReadTable {
            options: &["( LAND1 = 'DE' OR LAND1 IN ( 'AT', 'CH' ) )"],
            ..ReadTable::new("KNA1", &["KUNNR"])
        })
        .await
        .is_ok());

    let mut options = SimEccOptions::for_tests(5, 1);
    options.not_authorized = vec!["ZSECRET".into(), "ADR6".into()];
    let restricted = Ecc::start(options).await;
    for table in ["ZSECRET", "ADR6"] {
        let fault = restricted
            .read_table(&ReadTable::new(table, &[]))
            .await
            .unwrap_err();
        assert_eq!(
            fault.exception, "NOT_AUTHORIZED",
            "{table}: checked before the lookup"
        );
    }
}
