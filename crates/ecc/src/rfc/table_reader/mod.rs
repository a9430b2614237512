//! Reading SAP tables with RFC_READ_TABLE (or a variant) the way it survives real systems:
//! field metadata first (NO_DATA), fields packed into groups that fit the 512-character row with
//! the key fields in every group, rows cut by OFFSET/LENGTH in characters, groups joined again on
//! the key, paging by key range (`key GT last`, ROWCOUNT, sorted here), never by ROWSKIPS.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::stream::{self, StreamExt, TryStreamExt};

use super::where_clause::{Condition, Op};
use super::{RfcCall, RfcReply, RfcTransport};
use crate::error::EccError;

/// The width of RFC_READ_TABLE's DATA row (TAB512-WA).
pub const ROW_WIDTH: usize = 512;
/// The delimiter between fields. Rows are cut by OFFSET, so data holding it does no harm.
pub const DELIMITER: &str = "|";
/// The read functions with RFC_READ_TABLE's interface, in the order `auto` tries them.
pub const READ_FUNCTIONS: [&str; 3] = [
    "RFC_READ_TABLE",
    "BBP_RFC_READ_TABLE",
    "/SAPDS/RFC_READ_TABLE",
];

/// One field of a table as RFC_READ_TABLE describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldLayout {
    pub name: String,
    pub offset: usize,
    pub length: usize,
    pub kind: String,
}

pub use super::row::{Row, RowBuilder, RowJoiner, RowLayout};

/// What to read from one table: the key (for paging and joining), the other fields, a filter.
#[derive(Debug, Clone)]
pub struct TableRead {
    pub table: &'static str,
    /// The primary key without the client, in key order.
    pub keys: &'static [&'static str],
    pub fields: Vec<&'static str>,
    pub filter: Condition,
}

/// Packs `fields` into groups whose rows fit `ROW_WIDTH` with delimiters, each group starting
/// with the key fields. Fails when the key alone, or one field with the key, does not fit.
pub fn pack_field_groups(
    table: &str,
    keys: &[&str],
    fields: &[&str],
    length_of: &dyn Fn(&str) -> Option<usize>,
) -> Result<Vec<Vec<String>>, EccError> {
    let width_of = |name: &str| {
        length_of(name).ok_or_else(|| EccError::FieldNotValid {
            table: table.to_string(),
            function: "RFC_READ_TABLE".into(),
            detail: format!("table {table} has no field {name} on this system"),
        })
    };
    let mut key_width = 0;
    for (index, key) in keys.iter().enumerate() {
        key_width += width_of(key)? + usize::from(index > 0);
    }
    if key_width > ROW_WIDTH {
        return Err(EccError::DataBufferExceeded {
            table: table.to_string(),
            function: "RFC_READ_TABLE".into(),
        });
    }
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut current_width = key_width;
    for field in fields.iter().filter(|field| !keys.contains(field)) {
        let width = width_of(field)? + 1;
        if key_width + width > ROW_WIDTH {
            return Err(EccError::DataBufferExceeded {
                table: table.to_string(),
                function: "RFC_READ_TABLE".into(),
            });
        }
        if current_width + width > ROW_WIDTH {
            groups.push(std::mem::take(&mut current));
            current_width = key_width;
        }
        current.push(field.to_string());
        current_width += width;
    }
    if !current.is_empty() || groups.is_empty() {
        groups.push(current);
    }
    Ok(groups
        .into_iter()
        .map(|group| {
            keys.iter()
                .map(|key| key.to_string())
                .chain(group)
                .collect()
        })
        .collect())
}

/// The names of `layout`'s fields, shared by every row read with it.
pub fn row_layout(layout: &[FieldLayout]) -> Arc<RowLayout> {
    RowLayout::new(layout.iter().map(|field| &field.name))
}

/// Cuts one WA row into fields by OFFSET/LENGTH counted in characters. SAP drops trailing
/// blanks in SOAP, so a row may be shorter than its layout; missing characters are blanks.
/// `names` is [`row_layout`] of `layout`.
pub fn parse_wa(wa: &str, layout: &[FieldLayout], names: &Arc<RowLayout>) -> Row {
    debug_assert_eq!(layout.len(), names.len());
    // Byte offset of every character, and of the end; ASCII rows (most) need none.
    let char_starts: Option<Vec<usize>> = (!wa.is_ascii()).then(|| {
        wa.char_indices()
            .map(|(start, _)| start)
            .chain([wa.len()])
            .collect()
    });
    let char_count = char_starts
        .as_ref()
        .map_or(wa.len(), |starts| starts.len() - 1);
    let byte_at = |position: usize| match &char_starts {
        Some(starts) => starts[position],
        None => position,
    };
    let mut row = RowBuilder::new(names.clone(), wa.len());
    for field in layout {
        let start = field.offset.min(char_count);
        let end = field.offset.saturating_add(field.length).min(char_count);
        let value = wa.get(byte_at(start)..byte_at(end)).unwrap_or("");
        // Only SAP's blank padding is cut: a tab or line break in the data stays visible.
        let value = value.trim_matches(' ');
        match field.kind.as_str() {
            // A cut-off packed value keeps its star: `cut_off_packed` finds it.
            "P" => row.push(packed_number(value).as_deref().unwrap_or(value)),
            _ => row.push(value),
        }
    }
    row.finish()
}

/// A packed number (type P) as RFC_READ_TABLE writes it: moved into as many characters as the
/// field has digits (DFIES-LENG), decimal point included, the minus sign after the digits
/// ("12.50-"), and, when that is too narrow, cut on the left with `*` in the first place
/// ("*.0" for 10.0 in a DEC 3,1 field). Normalized to "-12.50"; `None` for a cut-off or
/// unreadable value.
pub fn packed_number(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return Some("0".into());
    }
    let (digits, negative) = match text.strip_suffix('-') {
        Some(digits) => (digits.trim(), true),
        None => (text, false),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |part: &str| part.chars().all(|c| c.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let number = if fraction.is_empty() {
        whole.to_string()
    } else {
        format!("{whole}.{fraction}")
    };
    let zero = number.chars().all(|c| c == '0' || c == '.');
    Some(if negative && !zero {
        format!("-{number}")
    } else {
        number
    })
}

/// The packed fields of `layout` whose value in `row` RFC_READ_TABLE cut off, as an error
/// naming the table, the field, the row's key and what to do.
fn cut_off_packed(
    table: &str,
    function: &str,
    keys: &[&str],
    layout: &[FieldLayout],
    row: &Row,
) -> Result<(), EccError> {
    for field in layout.iter().filter(|field| field.kind == "P") {
        let value = row.value(&field.name);
        if packed_number(value).is_some() {
            continue;
        }
        let key: Vec<String> = keys
            .iter()
            .map(|key| format!("{key}={}", row.value(key)))
            .collect();
        return Err(EccError::Malformed {
            source_name: format!("{function} on {table}"),
            detail: format!(
                "{table}-{} of the row {} reads `{value}`: {function} writes a packed field in \
                 its number of digits, and this value needed more room, so SAP cut it off; \
                 leave the field out of the read",
                field.name,
                key.join(", ")
            ),
        });
    }
    Ok(())
}

/// Reads the FIELDS table of a reply into layouts.
pub fn parse_field_layouts(
    table: &str,
    function: &str,
    reply: &RfcReply,
) -> Result<Vec<FieldLayout>, EccError> {
    reply
        .table("FIELDS")
        .iter()
        .map(|row| {
            let number = |name: &str| -> Result<usize, EccError> {
                let text = row.get(name).map(|value| value.trim()).unwrap_or("");
                text.parse().map_err(|_| EccError::Malformed {
                    source_name: format!("{function} on {table}"),
                    detail: format!("FIELDS {name} is `{text}`, not a number"),
                })
            };
            Ok(FieldLayout {
                name: row
                    .get("FIELDNAME")
                    .map(|value| value.trim().to_string())
                    .unwrap_or_default(),
                offset: number("OFFSET")?,
                length: number("LENGTH")?,
                kind: row
                    .get("TYPE")
                    .map(|value| value.trim().to_string())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The reader: one per transport, shared by every extraction. It remembers table layouts and
/// which read function this system offers, and counts its calls.
pub struct TableReader {
    transport: Arc<dyn RfcTransport>,
    candidates: Vec<String>,
    chosen: Mutex<Option<String>>,
    rows_per_call: usize,
    in_list_size: usize,
    layouts: Mutex<HashMap<String, Arc<Vec<FieldLayout>>>>,
    calls: AtomicU64,
}

impl TableReader {
    /// `preference` is `auto` or one function name; the others are fallbacks when it is missing.
    pub fn new(
        transport: Arc<dyn RfcTransport>,
        preference: &str,
        rows_per_call: usize,
        in_list_size: usize,
    ) -> Self {
        let mut candidates: Vec<String> = Vec::new();
        if preference != "auto" {
            candidates.push(preference.to_string());
        }
        for function in READ_FUNCTIONS {
            if !candidates.iter().any(|known| known == function) {
                candidates.push(function.to_string());
            }
        }
        TableReader {
            transport,
            candidates,
            chosen: Mutex::new(None),
            rows_per_call: rows_per_call.max(1),
            in_list_size: in_list_size.max(1),
            layouts: Mutex::new(HashMap::new()),
            calls: AtomicU64::new(0),
        }
    }

    /// RFC calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    pub fn transport(&self) -> &Arc<dyn RfcTransport> {
        &self.transport
    }

    pub fn rows_per_call(&self) -> usize {
        self.rows_per_call
    }

    /// The read function in use, once one answered.
    pub fn function(&self) -> Option<String> {
        self.chosen
            .lock()
            .map(|chosen| chosen.clone())
            .unwrap_or(None)
    }

    /// Calls the read function, falling back to the next variant when a function is missing.
    async fn read_call(&self, build: impl Fn(&str) -> RfcCall) -> Result<RfcReply, EccError> {
        let chosen = self.function();
        let candidates: Vec<String> = match chosen {
            Some(function) => vec![function],
            None => self.candidates.clone(),
        };
        let mut last_error = None;
        for function in candidates {
            self.calls.fetch_add(1, Ordering::Relaxed);
            match self.transport.call(&build(&function)).await {
                Ok(reply) => {
                    if let Ok(mut slot) = self.chosen.lock() {
                        if slot.is_none() {
                            tracing::debug!(%function, "table reads use this function");
                            *slot = Some(function.clone());
                        }
                    }
                    return Ok(reply);
                }
                Err(EccError::FunctionNotFound { function }) => {
                    tracing::info!(%function, "read function missing on this system, trying the next");
                    last_error = Some(EccError::FunctionNotFound { function });
                }
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or_else(|| EccError::FunctionNotFound {
            function: self.candidates.join(", "),
        }))
    }

    /// The lengths of `fields` of `table`, asked with NO_DATA (metadata only) and remembered.
    /// A field list too wide for one row is asked in halves: RFC_READ_TABLE checks the row
    /// width even when it returns no data.
    pub async fn field_lengths(
        &self,
        table: &str,
        fields: &[&str],
    ) -> Result<HashMap<String, usize>, EccError> {
        let known = self
            .layouts
            .lock()
            .ok()
            .and_then(|layouts| layouts.get(table).cloned())
            .unwrap_or_default();
        let missing: Vec<String> = fields
            .iter()
            .filter(|field| !known.iter().any(|layout| layout.name == **field))
            .map(|field| field.to_string())
            .collect();
        let mut found: Vec<FieldLayout> = known.as_ref().clone();
        if !missing.is_empty() {
            let mut pending = vec![missing];
            while let Some(batch) = pending.pop() {
                match self.describe(table, &batch).await {
                    Ok(layouts) => found.extend(layouts),
                    Err(EccError::DataBufferExceeded { .. }) if batch.len() > 1 => {
                        let half = batch.len() / 2;
                        pending.push(batch[half..].to_vec());
                        pending.push(batch[..half].to_vec());
                    }
                    Err(error) => return Err(error),
                }
            }
            if let Ok(mut layouts) = self.layouts.lock() {
                layouts.insert(table.to_string(), Arc::new(found.clone()));
            }
        }
        Ok(found
            .into_iter()
            .map(|layout| (layout.name, layout.length))
            .collect())
    }

    /// One NO_DATA call for `fields`.
    async fn describe(&self, table: &str, fields: &[String]) -> Result<Vec<FieldLayout>, EccError> {
        let field_rows = field_rows(fields);
        let reply = self
            .read_call(|function| {
                RfcCall::new(function)
                    .import("QUERY_TABLE", table)
                    .import("DELIMITER", DELIMITER)
                    .import("NO_DATA", "X")
                    .table("OPTIONS", vec![])
                    .table("FIELDS", field_rows.clone())
                    .table("DATA", vec![])
            })
            .await?;
        let function = self.function().unwrap_or_default();
        let layouts = parse_field_layouts(table, &function, &reply)?;
        if layouts.is_empty() {
            return Err(EccError::Malformed {
                source_name: format!("{function} on {table}"),
                detail: "the NO_DATA probe described no fields".into(),
            });
        }
        Ok(layouts)
    }

    /// A NO_DATA probe of `fields`, for `check`: may the user read `table`?
    pub async fn probe(&self, table: &str, fields: &[&str]) -> Result<usize, EccError> {
        let fields: Vec<String> = fields.iter().map(|field| field.to_string()).collect();
        Ok(self.describe(table, &fields).await?.len())
    }

    async fn field_groups(&self, read: &TableRead) -> Result<Vec<Vec<String>>, EccError> {
        let wanted: Vec<&str> = read
            .keys
            .iter()
            .chain(read.fields.iter())
            .copied()
            .collect();
        let lengths = self.field_lengths(read.table, &wanted).await?;
        let length_of = |name: &str| lengths.get(name).copied();
        pack_field_groups(read.table, read.keys, &read.fields, &length_of)
    }

    async fn read_group(
        &self,
        read: &TableRead,
        fields: &[String],
        condition: &Condition,
        row_count: usize,
    ) -> Result<Vec<Row>, EccError> {
        let options: Vec<Vec<(String, String)>> = condition
            .to_lines()?
            .into_iter()
            .map(|line| vec![("TEXT".to_string(), line)])
            .collect();
        let field_rows = field_rows(fields);
        let reply = self
            .read_call(|function| {
                RfcCall::new(function)
                    .import("QUERY_TABLE", read.table)
                    .import("DELIMITER", DELIMITER)
                    .import("NO_DATA", "")
                    .import("ROWSKIPS", "0")
                    .import("ROWCOUNT", row_count.to_string())
                    .table("OPTIONS", options.clone())
                    .table("FIELDS", field_rows.clone())
                    .table("DATA", vec![])
            })
            .await?;
        let function = self.function().unwrap_or_default();
        let layout = parse_field_layouts(read.table, &function, &reply)?;
        if layout.len() != fields.len() {
            return Err(EccError::Malformed {
                source_name: format!("{function} on {}", read.table),
                detail: format!(
                    "asked for {} fields, FIELDS describes {}",
                    fields.len(),
                    layout.len()
                ),
            });
        }
        let names = row_layout(&layout);
        let rows: Vec<Row> = reply
            .table("DATA")
            .iter()
            .map(|row| {
                parse_wa(
                    row.get("WA").map(String::as_str).unwrap_or(""),
                    &layout,
                    &names,
                )
            })
            .collect();
        for row in &rows {
            cut_off_packed(read.table, &function, read.keys, &layout, row)?;
        }
        Ok(rows)
    }

    /// The next page of `read`: every row in a key range `(lower, upper]` that holds at most
    /// `rows_per_call` rows, sorted by key, every wanted field filled from its group. `None` when
    /// no row is left.
    ///
    /// The server's row order is not trusted (a database may return any rows that match, and
    /// ROWCOUNT then cuts an arbitrary subset): a page asks for one row more than it keeps, and
    /// only a range that came back without that extra row is complete. When the first page comes
    /// back full, the reader samples the remaining keys (key fields only, a few pages' worth in
    /// one call) and cuts ranges at sample keys so that each should hold about 70% of a page.
    pub async fn next_page(
        &self,
        read: &TableRead,
        pager: &mut KeyPager,
    ) -> Result<Option<Page>, EccError> {
        self.next_page_of(read, pager, self.rows_per_call).await
    }

    async fn next_page_of(
        &self,
        read: &TableRead,
        pager: &mut KeyPager,
        rows_per_call: usize,
    ) -> Result<Option<Page>, EccError> {
        let groups = self.field_groups(read).await?;
        let key_of = |row: &Row| -> Vec<String> {
            read.keys
                .iter()
                .map(|key| row.value(key).to_string())
                .collect()
        };
        let by_key = |a: &Row, b: &Row| {
            read.keys
                .iter()
                .map(|key| a.value(key))
                .cmp(read.keys.iter().map(|key| b.value(key)))
        };
        loop {
            if pager.finished {
                return Ok(None);
            }
            if pager.needs_sample() {
                let sample_size = (rows_per_call * SAMPLE_PAGES)
                    .min(MAX_SAMPLE_KEYS)
                    .max(rows_per_call);
                let range = range_condition(read, pager.lower.as_deref(), None);
                let key_fields: Vec<String> = read.keys.iter().map(|key| key.to_string()).collect();
                let rows = self
                    .read_group(read, &key_fields, &range, sample_size + 1)
                    .await?;
                let mut keys: Vec<Vec<String>> = rows.iter().map(key_of).collect();
                keys.sort();
                let exact = keys.len() <= sample_size;
                if exact && keys.is_empty() {
                    pager.finished = true;
                    return Ok(None);
                }
                pager.sampled(keys, exact);
                continue;
            }
            let upper = pager.choose_upper(rows_per_call);
            let range = range_condition(read, pager.lower.as_deref(), upper.as_deref());
            let mut rows = self
                .read_group(read, &groups[0], &range, rows_per_call + 1)
                .await?;
            rows.sort_by(by_key);
            if rows.len() > rows_per_call {
                pager.overflowed(rows.iter().map(key_of).collect(), upper);
                continue;
            }
            let lower = pager.lower.clone();
            pager.completed(rows.len(), upper.clone());
            if rows.is_empty() {
                continue;
            }
            for group in groups.iter().skip(1) {
                // The same complete range again: the same rows, other columns.
                let part = self.read_group(read, group, &range, 0).await?;
                let index: HashMap<Vec<String>, usize> = part
                    .iter()
                    .enumerate()
                    .map(|(position, row)| (key_of(row), position))
                    .collect();
                let mut joiner = RowJoiner::default();
                rows = rows
                    .into_iter()
                    .map(|row| match index.get(&key_of(&row)) {
                        Some(position) => joiner.join(row, &part[*position]),
                        None => row,
                    })
                    .collect();
            }
            return Ok(Some(Page { rows, lower, upper }));
        }
    }

    /// Every row of `read`, page after page by key range.
    pub async fn read_all(&self, read: &TableRead) -> Result<Vec<Row>, EccError> {
        let mut all = Vec::new();
        let mut pager = KeyPager::default();
        // Rows of dependent tables are narrow and belong to one page of customers: a few pages'
        // worth per call saves calls without unbounding memory.
        let rows_per_call = self.rows_per_call * DEPENDENT_PAGES;
        while let Some(page) = self.next_page_of(read, &mut pager, rows_per_call).await? {
            all.extend(page.rows);
        }
        Ok(all)
    }

    /// Every row of `read` whose `field` is one of `values`. Numbers from one number range
    /// (address, person and customer numbers are handed out in sequence) are read as one key
    /// range `field GE min AND field LE max` when they fill at least a third of it, and the
    /// rows outside `values` dropped here: one paged read instead of many IN-lists. Otherwise the
    /// values go in IN-lists of bounded size, a few chunks at once.
    pub async fn read_in(
        &self,
        read: &TableRead,
        field: &'static str,
        values: &[String],
    ) -> Result<Vec<Row>, EccError> {
        let mut unique: Vec<&String> = values.iter().filter(|value| !value.is_empty()).collect();
        unique.sort();
        unique.dedup();
        if unique.is_empty() {
            return Ok(Vec::new());
        }
        if unique.len() > 1 && dense_number_range(&unique) {
            let first = unique[0].clone();
            let last = unique[unique.len() - 1].clone();
            let ranged = TableRead {
                filter: Condition::all(vec![
                    read.filter.clone(),
                    Condition::compare(field, Op::Ge, first),
                    Condition::compare(field, Op::Le, last),
                ]),
                ..read.clone()
            };
            let wanted: std::collections::HashSet<&str> =
                unique.iter().map(|value| value.as_str()).collect();
            let mut rows = self.read_all(&ranged).await?;
            rows.retain(|row| row.get(field).is_some_and(|value| wanted.contains(value)));
            return Ok(rows);
        }
        let chunks: Vec<Vec<String>> = unique
            .chunks(self.in_list_size)
            .map(|chunk| chunk.iter().map(|value| (*value).clone()).collect())
            .collect();
        let pages: Vec<Vec<Row>> = stream::iter(chunks)
            .map(|chunk| {
                let mut chunk_read = read.clone();
                chunk_read.filter =
                    Condition::all(vec![read.filter.clone(), Condition::is_in(field, chunk)]);
                async move { self.read_all(&chunk_read).await }
            })
            .buffered(4)
            .try_collect()
            .await?;
        Ok(pages.into_iter().flatten().collect())
    }
}

/// Whether sorted `values` are numbers of one width that fill at least a third of the range
/// between the first and the last.
pub fn dense_number_range(values: &[&String]) -> bool {
    let width = values[0].len();
    let numeric =
        |value: &&String| value.len() == width && value.bytes().all(|byte| byte.is_ascii_digit());
    if width == 0 || width > 18 || !values.iter().all(numeric) {
        return false;
    }
    let (Ok(first), Ok(last)) = (
        values[0].parse::<u64>(),
        values[values.len() - 1].parse::<u64>(),
    ) else {
        return false;
    };
    let span = last.saturating_sub(first) + 1;
    (values.len() as u64) * 3 >= span
}

/// A complete key range of a table and its rows.
#[derive(Debug, Clone)]
pub struct Page {
    pub rows: Vec<Row>,
    /// The range is `(lower, upper]`; `None` is open.
    pub lower: Option<Vec<String>>,
    pub upper: Option<Vec<String>>,
}

fn range_condition(
    read: &TableRead,
    lower: Option<&[String]>,
    upper: Option<&[String]>,
) -> Condition {
    let mut parts = vec![read.filter.clone()];
    if let Some(lower) = lower {
        parts.push(Condition::key_after(read.keys, lower));
    }
    if let Some(upper) = upper {
        parts.push(Condition::key_at_most(read.keys, upper));
    }
    Condition::all(parts)
}

/// The most keys one sampling call asks for. A sample only has to hold a key or two per page
/// to steer the ranges; beyond this it costs memory and transfer for nothing.
const MAX_SAMPLE_KEYS: usize = 50_000;

/// Driving-table pages' worth of rows one read of a dependent table asks for.
const DEPENDENT_PAGES: usize = 4;

/// Pages' worth of keys one sampling call asks for (key fields only, so the answer stays small).
const SAMPLE_PAGES: usize = 20;

/// Where a paged read stands, kept between pages (plain data, so a read can be resumed).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct KeyPager {
    /// Every row up to this key has been returned.
    pub lower: Option<Vec<String>>,
    /// Sorted keys above `lower` known to exist (a sample, or all of them when `exact`).
    pub sample: Vec<Vec<String>>,
    /// The upper end of the range the sample covers (`None`: open).
    pub sample_end: Option<Vec<String>>,
    /// The sample holds every key up to `sample_end`.
    pub exact: bool,
    /// Rows per sample key, learnt from completed ranges.
    pub rows_per_sample_key: Option<f64>,
    /// Sample keys the next range spans while the density is being found by halving.
    pub probe: Option<usize>,
    /// The first range was asked for.
    pub started: bool,
    /// The open range overflowed and no sample covers it: sample it next.
    pub wants_sample: bool,
    pub finished: bool,
}

impl KeyPager {
    fn needs_sample(&self) -> bool {
        self.wants_sample || (self.started && self.sample.is_empty() && self.sample_end.is_none())
    }

    fn sampled(&mut self, keys: Vec<Vec<String>>, exact: bool) {
        self.sample = keys;
        self.sample_end = None;
        self.exact = exact;
        self.rows_per_sample_key = exact.then_some(1.0);
        self.probe = None;
        self.wants_sample = false;
    }

    /// How many sample keys the next range should span.
    fn wanted_keys(&self, rows_per_call: usize) -> usize {
        if self.exact {
            return rows_per_call;
        }
        match (self.probe, self.rows_per_sample_key) {
            (Some(probe), _) => probe,
            // 70% of a page, so an estimate that is somewhat off does not overflow.
            (None, Some(ratio)) if ratio > 0.0 => {
                ((rows_per_call as f64 * 0.7) / ratio).floor().max(1.0) as usize
            }
            // No estimate yet: halve the sampled range.
            _ => self.sample.len().div_ceil(2),
        }
    }

    /// The upper end of the next range to ask for.
    fn choose_upper(&mut self, rows_per_call: usize) -> Option<Vec<String>> {
        self.started = true;
        if self.sample.is_empty() {
            return self.sample_end.clone();
        }
        let wanted_keys = self.wanted_keys(rows_per_call).max(1);
        if wanted_keys >= self.sample.len() && (self.exact || self.rows_per_sample_key.is_some()) {
            return self.sample_end.clone();
        }
        Some(self.sample[wanted_keys.min(self.sample.len()) - 1].clone())
    }

    /// The range up to `upper` came back with more rows than a page.
    fn overflowed(&mut self, keys: Vec<Vec<String>>, upper: Option<Vec<String>>) {
        debug_assert!(keys.len() >= 2);
        self.started = true;
        if upper.is_none() && self.sample.is_empty() {
            // An open range with nothing known about it: sample its keys in one cheap call.
            self.wants_sample = true;
            return;
        }
        let covered = match &upper {
            Some(upper) => self.sample.iter().take_while(|key| *key <= upper).count(),
            None => self.sample.len(),
        };
        self.exact = false;
        self.rows_per_sample_key = None;
        if covered > 1 {
            self.probe = Some(covered / 2);
        } else {
            // The sample is too sparse here: the overflowing rows are a denser sample of the
            // range up to `upper`.
            self.sample = keys;
            self.sample_end = upper;
            self.probe = None;
        }
    }

    /// The range up to `upper` came back complete with `rows` rows.
    fn completed(&mut self, rows: usize, upper: Option<Vec<String>>) {
        self.started = true;
        self.probe = None;
        let Some(upper) = upper else {
            self.finished = true;
            return;
        };
        let covered = self.sample.iter().take_while(|key| **key <= upper).count();
        if covered > 0 && !self.exact {
            self.rows_per_sample_key = Some(rows as f64 / covered as f64);
        }
        self.sample.drain(..covered);
        if self.sample.is_empty() && self.sample_end.as_ref() <= Some(&upper) {
            // The sampled range is done. An exact sample of an open range means nothing is left.
            if self.exact && self.sample_end.is_none() {
                self.finished = true;
            }
            self.sample_end = None;
        }
        self.lower = Some(upper);
    }
}

/// The FIELDS table of an RFC_READ_TABLE call: one FIELDNAME row per field asked for.
fn field_rows(fields: &[String]) -> Vec<Vec<(String, String)>> {
    fields
        .iter()
        .map(|field| vec![("FIELDNAME".to_string(), field.clone())])
        .collect()
}

#[cfg(test)]
mod tests;
