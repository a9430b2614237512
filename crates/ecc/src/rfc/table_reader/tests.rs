//! Tests of the table reader: packed numbers, WA rows cut by character offsets, field groups,
//! and key-range paging against a server that returns rows in any order.

use std::collections::BTreeMap;

use super::*;

#[test]
fn packed_numbers_read_as_rfc_read_table_writes_them() {
    assert_eq!(packed_number("12.50-").as_deref(), Some("-12.50"));
    assert_eq!(packed_number("  0.0").as_deref(), Some("0.0"));
    assert_eq!(packed_number("0.0-").as_deref(), Some("0.0"));
    assert_eq!(packed_number("007").as_deref(), Some("7"));
    assert_eq!(packed_number("").as_deref(), Some("0"));
    assert_eq!(packed_number("*.0"), None);
    assert_eq!(packed_number("*5-"), None);
    assert_eq!(packed_number("1,5"), None);
    let layout = [
        FieldLayout {
            name: "KUNNR".into(),
            offset: 0,
            length: 10,
            kind: "C".into(),
        },
        FieldLayout {
            name: "UNTTO".into(),
            offset: 11,
            length: 3,
            kind: "P".into(),
        },
    ];
    let names = row_layout(&layout);
    let row = parse_wa("0000004711|2.5", &layout, &names);
    assert_eq!(row.get("UNTTO"), Some("2.5"));
    assert!(cut_off_packed("KNVV", "RFC_READ_TABLE", &["KUNNR"], &layout, &row).is_ok());
    let row = parse_wa("0000004711|*.0", &layout, &names);
    let error = cut_off_packed("KNVV", "RFC_READ_TABLE", &["KUNNR"], &layout, &row)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("KNVV-UNTTO") && error.contains("KUNNR=0000004711"),
        "{error}"
    );
}

#[test]
fn rows_are_cut_by_offset_in_characters_not_by_the_delimiter() {
    let layout = vec![
        FieldLayout {
            name: "KUNNR".into(),
            offset: 0,
            length: 10,
            kind: "C".into(),
        },
        FieldLayout {
            name: "NAME1".into(),
            offset: 11,
            length: 13,
            kind: "C".into(),
        },
        FieldLayout {
            name: "ORT01".into(),
            offset: 25,
            length: 8,
            kind: "C".into(),
        },
    ];
    let names = row_layout(&layout);
    // A name holding the delimiter, multi-byte characters, and trailing blanks cut off.
    let row = parse_wa("0000000042|Mü|ler & Söhn|Köln", &layout, &names);
    assert_eq!(row.get("KUNNR"), Some("0000000042"));
    assert_eq!(row.get("NAME1"), Some("Mü|ler & Söhn"));
    assert_eq!(row.get("ORT01"), Some("Köln"));
    let short = parse_wa("0000000043|Ab", &layout, &names);
    assert_eq!(short.get("NAME1"), Some("Ab"));
    assert_eq!(short.get("ORT01"), Some(""));
    // Blank fields inside the row, and a line cut off in the middle of a multi-byte field.
    let blanks = parse_wa("0000000044|             |Zürich  ", &layout, &names);
    assert_eq!(blanks.get("NAME1"), Some(""));
    assert_eq!(blanks.get("ORT01"), Some("Zürich"));
    let cut = parse_wa("0000000045|Ørsted Å", &layout, &names);
    assert_eq!(cut.get("NAME1"), Some("Ørsted Å"));
    assert_eq!(cut.get("ORT01"), Some(""));
    // Only blanks are padding: a tab in the data stays.
    let tab = parse_wa("0000000046|\tTab          |x", &layout, &names);
    assert_eq!(tab.get("NAME1"), Some("\tTab"));
    // Every row of a read shares the names of its layout.
    for parsed in [&row, &short, &blanks, &cut, &tab] {
        assert!(Arc::ptr_eq(parsed.layout(), &names));
    }
    assert!(parse_wa("", &layout, &names)
        .fields()
        .all(|(_, value)| value.is_empty()));
}

#[test]
fn groups_fit_the_row_and_carry_the_key() {
    let lengths: HashMap<&str, usize> = [
        ("KUNNR", 10),
        ("A", 200),
        ("B", 200),
        ("C", 200),
        ("D", 30),
        ("E", 241),
    ]
    .into_iter()
    .collect();
    let length_of = |name: &str| lengths.get(name).copied();
    let groups =
        pack_field_groups("T", &["KUNNR"], &["A", "B", "C", "D", "E"], &length_of).unwrap();
    assert_eq!(groups.len(), 2, "{groups:?}");
    for group in &groups {
        assert_eq!(group[0], "KUNNR");
        let width: usize = group
            .iter()
            .map(|field| lengths[field.as_str()])
            .sum::<usize>()
            + group.len()
            - 1;
        assert!(width <= ROW_WIDTH, "{group:?} is {width} wide");
    }
    let all: Vec<&String> = groups
        .iter()
        .flat_map(|group| group.iter().skip(1))
        .collect();
    assert_eq!(all, ["A", "B", "C", "D", "E"]);
    assert!(matches!(
        pack_field_groups("T", &["KUNNR"], &["X"], &length_of),
        Err(EccError::FieldNotValid { .. })
    ));
}

/// A table server that returns matching rows in any order it likes, cut at ROWCOUNT, as a
/// database without ORDER BY may. It understands the conditions a single-key read sends:
/// `KUNNR <op> 'literal'` joined by AND.
struct UnorderedServer {
    keys: Vec<String>,
    order_seed: u64,
}

fn literal_conditions(lines: &[String]) -> Vec<(String, String)> {
    let text = lines.join(" ");
    let tokens: Vec<&str> = text.split(' ').filter(|token| !token.is_empty()).collect();
    let mut conditions = Vec::new();
    for window in tokens.windows(3) {
        if window[0] == "KUNNR" && window[2].starts_with('\'') {
            conditions.push((
                window[1].to_string(),
                window[2].trim_matches('\'').to_string(),
            ));
        }
    }
    conditions
}

#[async_trait::async_trait]
impl RfcTransport for UnorderedServer {
    async fn call(&self, call: &RfcCall) -> Result<RfcReply, EccError> {
        let fields: Vec<String> = call
            .tables
            .iter()
            .find(|(name, _)| name == "FIELDS")
            .map(|(_, rows)| rows.iter().map(|row| row[0].1.clone()).collect())
            .unwrap_or_default();
        let layout_row = |name: &str, offset: usize| {
            [
                ("FIELDNAME", name.to_string()),
                ("OFFSET", format!("{offset:06}")),
                ("LENGTH", "000010".to_string()),
                ("TYPE", "C".to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<BTreeMap<_, _>>()
        };
        let mut reply = RfcReply::default();
        reply.tables.insert(
            "FIELDS".into(),
            fields
                .iter()
                .enumerate()
                .map(|(index, name)| layout_row(name, index * 11))
                .collect(),
        );
        if call.import_value("NO_DATA") == Some("X") {
            return Ok(reply);
        }
        let options: Vec<String> = call
            .tables
            .iter()
            .find(|(name, _)| name == "OPTIONS")
            .map(|(_, rows)| rows.iter().map(|row| row[0].1.clone()).collect())
            .unwrap_or_default();
        let conditions = literal_conditions(&options);
        let row_count: usize = call
            .import_value("ROWCOUNT")
            .unwrap_or("0")
            .parse()
            .unwrap_or(0);
        let mut matching: Vec<&String> = self
            .keys
            .iter()
            .filter(|key| {
                conditions.iter().all(|(op, literal)| match op.as_str() {
                    "GT" => key.as_str() > literal.as_str(),
                    "GE" => key.as_str() >= literal.as_str(),
                    "LT" => key.as_str() < literal.as_str(),
                    "LE" => key.as_str() <= literal.as_str(),
                    "EQ" => key.as_str() == literal.as_str(),
                    _ => true,
                })
            })
            .collect();
        // Any order: a seeded shuffle, or reversed.
        if self.order_seed == 0 {
            matching.reverse();
        } else {
            let mut state = self.order_seed;
            for index in (1..matching.len()).rev() {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                matching.swap(index, (state >> 33) as usize % (index + 1));
            }
        }
        if row_count > 0 {
            matching.truncate(row_count);
        }
        let data = matching
            .into_iter()
            .map(|key| {
                let wa = fields
                    .iter()
                    .map(|_| format!("{key:<10}"))
                    .collect::<Vec<_>>()
                    .join("|");
                [("WA".to_string(), wa)]
                    .into_iter()
                    .collect::<BTreeMap<_, _>>()
            })
            .collect();
        reply.tables.insert("DATA".into(), data);
        Ok(reply)
    }

    fn endpoint(&self) -> String {
        "memory".into()
    }
}

proptest::proptest! {
    /// A row written as RFC_READ_TABLE writes it (each value padded with blanks to its
    /// field's length in characters, fields joined by the delimiter, trailing blanks
    /// dropped as SOAP drops them, perhaps cut shorter still) reads back as its values.
    #[test]
    fn a_written_row_reads_back_as_its_values(
        values in proptest::collection::vec("[a-zA-Z0-9 äöüßÅø€漢|\t.-]{0,12}", 1..12),
        extra in proptest::collection::vec(0usize..4, 12),
        cut in proptest::option::of(0usize..200),
    ) {
        let mut layout = Vec::new();
        let mut offset = 0;
        for (index, value) in values.iter().enumerate() {
            let length = value.chars().count() + extra[index];
            layout.push(FieldLayout {
                name: format!("F{index}"),
                offset,
                length,
                kind: "C".into(),
            });
            offset += length + 1;
        }
        let written: Vec<String> = values
            .iter()
            .zip(&layout)
            .map(|(value, field)| format!("{value:<width$}", width = field.length))
            .collect();
        let mut wa = written.join(DELIMITER).trim_end_matches(' ').to_string();
        if let Some(cut) = cut {
            wa = wa.chars().take(cut).collect();
        }
        let kept = wa.chars().count();
        let names = row_layout(&layout);
        let row = parse_wa(&wa, &layout, &names);
        for (value, field) in values.iter().zip(&layout) {
            let expected: String = value
                .chars()
                .take(kept.saturating_sub(field.offset))
                .collect();
            proptest::prop_assert_eq!(row.value(&field.name), expected.trim_matches(' '));
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    #[test]
    fn key_range_paging_returns_every_row_once_whatever_the_server_order(
        numbers in proptest::collection::btree_set(0u32..100_000, 0..1500),
        rows_per_call in 1usize..120,
        order_seed in 0u64..4,
    ) {
        let keys: Vec<String> = numbers.iter().map(|number| format!("{number:010}")).collect();
        let server = Arc::new(UnorderedServer { keys: keys.clone(), order_seed });
        let reader = TableReader::new(server, "auto", rows_per_call, 50);
        let read = TableRead { table: "KNA1", keys: &["KUNNR"], fields: vec!["NAME1"], filter: Condition::all(vec![]) };
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let rows = runtime.block_on(async {
            let mut pager = KeyPager::default();
            let mut rows = Vec::new();
            while let Some(page) = reader.next_page(&read, &mut pager).await.unwrap() {
                proptest::prop_assert!(page.rows.len() <= rows_per_call);
                rows.extend(page.rows);
            }
            Ok(rows)
        })?;
        let got: Vec<String> = rows.iter().map(|row| row.value("KUNNR").to_string()).collect();
        proptest::prop_assert_eq!(got, keys);
    }
}
