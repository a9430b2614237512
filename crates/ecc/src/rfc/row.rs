//! A table row as the reader hands it on, sized for pages of thousands of rows: the field names
//! are held once per read in a shared [`RowLayout`] (from the FIELDS answer), and each row keeps
//! only its values, one string with the end of every field in it. A blank field costs four
//! bytes; a map of owned names and values per row cost about twenty times the data it held.

use std::fmt;
use std::sync::Arc;

/// The field names of the rows of one read, in the order their values are kept.
#[derive(Debug, PartialEq, Eq)]
pub struct RowLayout {
    names: Box<[Box<str>]>,
    /// Each name packed into one number (see [`packed`]), for the scan of `position`.
    packed: Box<[u128]>,
}

/// A field name of up to 15 bytes as one number: its bytes, then its length in the last byte;
/// `None` for a longer name. SAP's field names are at most 30 characters, nearly all under 10:
/// finding one among a few dozen by comparing numbers spares a call to `memcmp` a name, which
/// was a tenth of assembling a customer.
fn packed(name: &str) -> Option<u128> {
    let bytes = name.as_bytes();
    if bytes.len() > 15 {
        return None;
    }
    let mut word = [0u8; 16];
    word[..bytes.len()].copy_from_slice(bytes);
    word[15] = bytes.len() as u8;
    Some(u128::from_le_bytes(word))
}

impl RowLayout {
    pub fn new<Name: AsRef<str>>(names: impl IntoIterator<Item = Name>) -> Arc<RowLayout> {
        let names: Box<[Box<str>]> = names.into_iter().map(|name| name.as_ref().into()).collect();
        // A long name packs to 0, which no name of 15 bytes or fewer packs to (its length
        // byte is set, and the empty name is never a field).
        let packed = names.iter().map(|name| packed(name).unwrap_or(0)).collect();
        Arc::new(RowLayout { names, packed })
    }

    /// Where `field` sits in a row of this layout. Layouts hold a few dozen fields at most, so a
    /// scan is as quick as a map and costs nothing to keep.
    pub fn position(&self, field: &str) -> Option<usize> {
        match packed(field) {
            Some(wanted) if wanted != 0 => self.packed.iter().position(|name| *name == wanted),
            _ => self.names.iter().position(|name| &**name == field),
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|name| &**name)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// This layout followed by the fields of `other` it lacks (a second field group of the
    /// same rows: the key fields repeat, the rest is new), with the positions in `other` of
    /// those new fields.
    pub fn joined(&self, other: &RowLayout) -> (Arc<RowLayout>, Vec<usize>) {
        let added: Vec<usize> = other
            .names()
            .enumerate()
            .filter(|(_, name)| self.position(name).is_none())
            .map(|(position, _)| position)
            .collect();
        let names = self
            .names()
            .chain(added.iter().map(|position| &*other.names[*position]));
        (RowLayout::new(names), added)
    }
}

/// Collects the values of one row in layout order.
pub struct RowBuilder {
    layout: Arc<RowLayout>,
    text: String,
    ends: Vec<u32>,
}

impl RowBuilder {
    pub fn new(layout: Arc<RowLayout>, capacity: usize) -> Self {
        let fields = layout.len();
        RowBuilder {
            layout,
            text: String::with_capacity(capacity),
            ends: Vec::with_capacity(fields),
        }
    }

    /// The next field's value.
    pub fn push(&mut self, value: &str) {
        self.text.push_str(value);
        // A row is at most a few groups of 512 characters: far below u32::MAX bytes.
        self.ends
            .push(u32::try_from(self.text.len()).unwrap_or(u32::MAX));
    }

    pub fn finish(self) -> Row {
        debug_assert_eq!(self.ends.len(), self.layout.len());
        Row {
            layout: self.layout,
            text: self.text.into_boxed_str(),
            ends: self.ends.into_boxed_slice(),
        }
    }
}

/// One row: a value for each field of its layout, blank padding already cut.
#[derive(Clone)]
pub struct Row {
    layout: Arc<RowLayout>,
    text: Box<str>,
    ends: Box<[u32]>,
}

impl Row {
    /// The value of `field`; `None` when the row has no such field.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.layout
            .position(field)
            .and_then(|position| self.at(position))
    }

    /// The value of `field`, blank when the row has no such field (as SAP shows an initial
    /// value).
    pub fn value(&self, field: &str) -> &str {
        self.get(field).unwrap_or("")
    }

    fn at(&self, position: usize) -> Option<&str> {
        let end = *self.ends.get(position)? as usize;
        let start = match position {
            0 => 0,
            _ => self.ends[position - 1] as usize,
        };
        self.text.get(start..end)
    }

    /// Field names and values in layout order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.layout
            .names()
            .enumerate()
            .map(|(position, name)| (name, self.at(position).unwrap_or("")))
    }

    pub fn layout(&self) -> &Arc<RowLayout> {
        &self.layout
    }

    /// This row with the values at `added` of `other` appended, under `layout` (made by
    /// [`RowLayout::joined`] from this row's layout and `other`'s).
    fn join(self, other: &Row, layout: &Arc<RowLayout>, added: &[usize]) -> Row {
        debug_assert_eq!(layout.len(), self.layout.len() + added.len());
        let extra: usize = added
            .iter()
            .map(|position| other.at(*position).map_or(0, str::len))
            .sum();
        let mut builder = RowBuilder::new(layout.clone(), self.text.len() + extra);
        for (_, value) in self.fields() {
            builder.push(value);
        }
        for position in added {
            builder.push(other.at(*position).unwrap_or(""));
        }
        builder.finish()
    }
}

/// Joins rows with the rows of another field group of the same key, making each joined
/// layout once (per pair of layouts) so that the joined rows share it.
#[derive(Default)]
pub struct RowJoiner {
    joins: Vec<Join>,
}

struct Join {
    base: Arc<RowLayout>,
    part: Arc<RowLayout>,
    joined: Arc<RowLayout>,
    added: Vec<usize>,
}

impl RowJoiner {
    /// `row` with the fields of `part` it lacks.
    pub fn join(&mut self, row: Row, part: &Row) -> Row {
        let known = self.joins.iter().position(|join| {
            Arc::ptr_eq(&join.base, &row.layout) && Arc::ptr_eq(&join.part, &part.layout)
        });
        let index = match known {
            Some(index) => index,
            None => {
                let (joined, added) = row.layout.joined(&part.layout);
                self.joins.push(Join {
                    base: row.layout.clone(),
                    part: part.layout.clone(),
                    joined,
                    added,
                });
                self.joins.len() - 1
            }
        };
        let join = &self.joins[index];
        row.join(part, &join.joined, &join.added)
    }
}

/// Rows built from pairs carry their own layout: for tests and small reads, not for pages.
impl<Name: AsRef<str>, Value: AsRef<str>> FromIterator<(Name, Value)> for Row {
    fn from_iter<Pairs: IntoIterator<Item = (Name, Value)>>(pairs: Pairs) -> Self {
        let pairs: Vec<(Name, Value)> = pairs.into_iter().collect();
        let layout = RowLayout::new(pairs.iter().map(|(name, _)| name.as_ref()));
        let mut builder = RowBuilder::new(layout, 0);
        for (_, value) in &pairs {
            builder.push(value.as_ref());
        }
        builder.finish()
    }
}

impl fmt::Debug for Row {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_map().entries(self.fields()).finish()
    }
}

/// Rows are equal when they hold the same values under the same field names, whatever the
/// order of their layouts.
impl PartialEq for Row {
    fn eq(&self, other: &Row) -> bool {
        self.layout.len() == other.layout.len()
            && self
                .fields()
                .all(|(name, value)| other.get(name) == Some(value))
    }
}

impl Eq for Row {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_is_found_whatever_the_length_of_its_name() {
        let names = [
            "NAME1",
            "NAME",
            "NAME10",
            "FIFTEEN_CHARS_X",
            "SIXTEEN_CHARS_XY",
            "A_FIELD_NAME_OF_THIRTY_CHARS_X",
            "",
        ];
        let layout = RowLayout::new(names);
        for (position, name) in names.iter().enumerate() {
            assert_eq!(layout.position(name), Some(position), "{name:?}");
        }
        for missing in [
            "NAME2",
            "NAM",
            "FIFTEEN_CHARS_Y",
            "SIXTEEN_CHARS_XZ",
            "A_FIELD_NAME_OF_THIRTY_CHARS_Y",
        ] {
            assert_eq!(layout.position(missing), None, "{missing:?}");
        }
        assert_eq!(RowLayout::new(["KUNNR"]).position(""), None);
    }

    #[test]
    fn values_are_found_by_name_and_blanks_cost_no_text() {
        let layout = RowLayout::new(["KUNNR", "NAME1", "NAME2", "ORT01"]);
        let mut builder = RowBuilder::new(layout.clone(), 0);
        for value in ["0000004711", "Müller", "", "Köln"] {
            builder.push(value);
        }
        let row = builder.finish();
        assert_eq!(row.get("KUNNR"), Some("0000004711"));
        assert_eq!(row.get("NAME1"), Some("Müller"));
        assert_eq!(row.get("NAME2"), Some(""));
        assert_eq!(row.get("ORT01"), Some("Köln"));
        assert_eq!(row.get("LAND1"), None);
        assert_eq!(row.value("LAND1"), "");
        assert_eq!(row.text.len(), "0000004711Müller".len() + "Köln".len());
        assert!(Arc::ptr_eq(row.layout(), &layout));
    }

    #[test]
    fn a_second_field_group_joins_on_the_shared_layout() {
        let first = RowLayout::new(["KUNNR", "NAME1"]);
        let second = RowLayout::new(["KUNNR", "STCEG", "LAND1"]);
        let (joined, added) = first.joined(&second);
        assert_eq!(
            joined.names().collect::<Vec<_>>(),
            ["KUNNR", "NAME1", "STCEG", "LAND1"]
        );
        assert_eq!(added, [1, 2]);
        let row: Row = [("KUNNR", "0000000042"), ("NAME1", "Söhne")]
            .into_iter()
            .collect();
        let part: Row = [("KUNNR", "0000000042"), ("STCEG", ""), ("LAND1", "DE")]
            .into_iter()
            .collect();
        let mut joiner = RowJoiner::default();
        let row = joiner.join(row, &part);
        assert_eq!(row.layout(), &joined);
        let other: Row = [("KUNNR", "0000000043"), ("NAME1", "")]
            .into_iter()
            .collect();
        let other_part: Row = [("KUNNR", "0000000043"), ("STCEG", "X"), ("LAND1", "")]
            .into_iter()
            .collect();
        let other = joiner.join(other, &other_part);
        assert_eq!(other.value("STCEG"), "X");
        assert_eq!(
            row.fields().collect::<Vec<_>>(),
            [
                ("KUNNR", "0000000042"),
                ("NAME1", "Söhne"),
                ("STCEG", ""),
                ("LAND1", "DE")
            ]
        );
        let same: Row = [
            ("LAND1", "DE"),
            ("KUNNR", "0000000042"),
            ("STCEG", ""),
            ("NAME1", "Söhne"),
        ]
        .into_iter()
        .collect();
        assert_eq!(row, same);
    }
}
