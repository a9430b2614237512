//! Records a run has read but does not hold: written as JSON lines to an unnamed temporary file
//! (gone when the run ends, or the process dies) and read back when they are needed, so a run's
//! memory is bounded by a batch, not by the number of customers or Pipedrive records.
//!
//! [`Spill`] is read back in the order written (the customers of a run, batch by batch);
//! [`SpillById`] by id (the Pipedrive index: the planner looks up the records it decides about).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::SyncError;

fn spill_error(what: &str, error: impl std::fmt::Display) -> SyncError {
    SyncError::Setup(format!(
        "cannot use the temporary file for {what} (TMPDIR or /tmp full or not writable?): {error}"
    ))
}

/// Records written once, read back in order.
pub(super) struct Spill<T> {
    what: &'static str,
    writer: BufWriter<File>,
    count: usize,
    _records: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> Spill<T> {
    pub(super) fn new(what: &'static str) -> Result<Self, SyncError> {
        let file = tempfile::tempfile().map_err(|error| spill_error(what, error))?;
        Ok(Spill {
            what,
            writer: BufWriter::with_capacity(1 << 16, file),
            count: 0,
            _records: PhantomData,
        })
    }

    pub(super) fn push(&mut self, record: &T) -> Result<(), SyncError> {
        serde_json::to_writer(&mut self.writer, record)
            .map_err(|error| spill_error(self.what, error))?;
        self.writer
            .write_all(b"\n")
            .map_err(|error| spill_error(self.what, error))?;
        self.count += 1;
        Ok(())
    }

    /// A record its caller serialized already: one line of `T`'s JSON, without the newline.
    pub(super) fn push_json(&mut self, json: &[u8]) -> Result<(), SyncError> {
        self.writer
            .write_all(json)
            .and_then(|()| self.writer.write_all(b"\n"))
            .map_err(|error| spill_error(self.what, error))?;
        self.count += 1;
        Ok(())
    }

    pub(super) fn len(&self) -> usize {
        self.count
    }

    /// Done writing: the records, from the first, `batch` at a time.
    pub(super) fn into_batches(self, batch: usize) -> Result<SpillBatches<T>, SyncError> {
        let what = self.what;
        let mut file = self
            .writer
            .into_inner()
            .map_err(|error| spill_error(what, error.error()))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|error| spill_error(what, error))?;
        Ok(SpillBatches {
            what,
            reader: BufReader::with_capacity(1 << 16, file),
            batch: batch.max(1),
            line: String::new(),
            _records: PhantomData,
        })
    }
}

/// The records of a [`Spill`], a batch at a time.
pub(super) struct SpillBatches<T> {
    what: &'static str,
    reader: BufReader<File>,
    batch: usize,
    line: String,
    _records: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> SpillBatches<T> {
    /// Back to the first record, to read them all again.
    pub(super) fn rewind(&mut self) -> Result<(), SyncError> {
        self.reader
            .seek(SeekFrom::Start(0))
            .map_err(|error| spill_error(self.what, error))?;
        Ok(())
    }

    /// The next batch; empty at the end.
    pub(super) fn next_batch(&mut self) -> Result<Vec<T>, SyncError> {
        let mut records = Vec::with_capacity(self.batch);
        while records.len() < self.batch {
            self.line.clear();
            let read = self
                .reader
                .read_line(&mut self.line)
                .map_err(|error| spill_error(self.what, error))?;
            if read == 0 {
                break;
            }
            let record =
                serde_json::from_str(&self.line).map_err(|error| spill_error(self.what, error))?;
            records.push(record);
        }
        Ok(records)
    }
}

/// Records written once, looked up by id. Each is a line `id<TAB>json`; in memory stays one
/// place per block of [`BLOCK`] records written in ascending id order (the list endpoints page
/// by id, so nearly all are), and the exact place of each record written out of order. A
/// lookup reads its block (a few kilobytes) and parses the one line it wants.
pub(super) struct SpillById<T> {
    what: &'static str,
    writer: Option<BufWriter<File>>,
    reader: Mutex<Option<File>>,
    /// The last stretch of the file read for lookups in order: its offset and bytes. Lookups
    /// come mostly in ascending id order (a run's records in ECC order, Pipedrive's ids in
    /// creation order), so one read serves the blocks that follow.
    window: Mutex<(u64, Vec<u8>)>,
    written: u64,
    /// (first id, offset) of each block of records written in ascending id order.
    blocks: Vec<(i64, u64)>,
    /// Records in the block being written.
    in_block: usize,
    /// The last id written in ascending order.
    last_id: Option<i64>,
    /// (id, offset, length) of the records written out of order; sorted by id once writing is
    /// done, later copies first.
    out_of_order: Vec<(i64, u64, u32)>,
    /// Records written in ascending order.
    in_order: usize,
    _records: PhantomData<fn() -> T>,
}

/// The JSON of the line `id<TAB>json` for `id` among `lines`: each line's start is compared
/// with the id, and the next line start found with `memchr` (a block holds a few kilobytes of
/// JSON, and a run looks up every linked record).
fn line_of(lines: &[u8], id: i64) -> Option<&[u8]> {
    let mut wanted = id.to_string().into_bytes();
    wanted.push(b'\t');
    let mut rest = lines;
    loop {
        let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        if let Some(json) = rest[..end].strip_prefix(wanted.as_slice()) {
            return Some(json);
        }
        rest = rest.get(end + 1..)?;
    }
}

/// Records per block of a [`SpillById`]: 16 keeps a million records' places in 1 MB and a
/// lookup's read in a few kilobytes.
const BLOCK: usize = 16;

/// Bytes read at once for lookups in order (see `SpillById::window`).
const WINDOW: u64 = 1 << 16;

impl<T: Serialize + DeserializeOwned> SpillById<T> {
    pub(super) fn new(what: &'static str) -> Result<Self, SyncError> {
        let file = tempfile::tempfile().map_err(|error| spill_error(what, error))?;
        Ok(SpillById {
            what,
            writer: Some(BufWriter::with_capacity(1 << 16, file)),
            reader: Mutex::new(None),
            window: Mutex::new((0, Vec::new())),
            written: 0,
            blocks: Vec::new(),
            in_block: 0,
            last_id: None,
            out_of_order: Vec::new(),
            in_order: 0,
            _records: PhantomData,
        })
    }

    pub(super) fn push(&mut self, id: i64, record: &T) -> Result<(), SyncError> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(spill_error(self.what, "written after it was finished"));
        };
        let mut line = format!("{id}\t").into_bytes();
        serde_json::to_writer(&mut line, record).map_err(|error| spill_error(self.what, error))?;
        line.push(b'\n');
        writer
            .write_all(&line)
            .map_err(|error| spill_error(self.what, error))?;
        let offset = self.written;
        self.written += line.len() as u64;
        let in_order = self.last_id.is_none_or(|last| id > last);
        if !in_order {
            // A record moved between pages while they were read, or came twice: its place is
            // kept exactly, and a later copy wins.
            let length = u32::try_from(line.len())
                .map_err(|_| spill_error(self.what, format!("record {id} over 4 GiB")))?;
            self.out_of_order.push((id, offset, length));
            return Ok(());
        }
        if self.in_block == 0 || self.in_block == BLOCK {
            self.blocks.push((id, offset));
            self.in_block = 0;
        }
        self.in_block += 1;
        self.in_order += 1;
        self.last_id = Some(id);
        Ok(())
    }

    /// Done writing; the records can be looked up.
    pub(super) fn finish(&mut self) -> Result<(), SyncError> {
        if let Some(writer) = self.writer.take() {
            let file = writer
                .into_inner()
                .map_err(|error| spill_error(self.what, error.error()))?;
            *self.reader.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
        }
        // Later copies first, so the search below finds the last one written.
        self.out_of_order
            .sort_unstable_by_key(|(id, offset, _)| (*id, std::cmp::Reverse(*offset)));
        self.out_of_order.dedup_by_key(|(id, _, _)| *id);
        self.out_of_order.shrink_to_fit();
        self.blocks.shrink_to_fit();
        Ok(())
    }

    /// Every line written, in the order written (a record written twice comes twice), each
    /// as its id and record.
    pub(super) fn for_each_written(
        &self,
        mut each: impl FnMut(i64, T) -> Result<(), SyncError>,
    ) -> Result<(), SyncError> {
        let mut reader = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let Some(file) = reader.as_mut() else {
            return Err(spill_error(self.what, "read before it was finished"));
        };
        file.seek(SeekFrom::Start(0))
            .map_err(|error| spill_error(self.what, error))?;
        let mut lines = BufReader::with_capacity(1 << 16, file);
        let mut line = String::new();
        loop {
            line.clear();
            let read = lines
                .read_line(&mut line)
                .map_err(|error| spill_error(self.what, error))?;
            if read == 0 {
                return Ok(());
            }
            let parsed = line.trim_end().split_once('\t').and_then(|(id, json)| {
                Some((
                    id.parse::<i64>().ok()?,
                    serde_json::from_str::<T>(json).ok()?,
                ))
            });
            let Some((id, record)) = parsed else {
                return Err(spill_error(self.what, "a line that is no record"));
            };
            each(id, record)?;
        }
    }

    /// Whether no record was written.
    pub(super) fn is_empty(&self) -> bool {
        self.in_order == 0 && self.out_of_order.is_empty()
    }

    /// Records written, a record written twice counted once.
    pub(super) fn len(&self) -> usize {
        let also_in_order = self
            .out_of_order
            .iter()
            .filter(|(id, _, _)| self.read_in_order(*id).is_some())
            .count();
        self.in_order + self.out_of_order.len() - also_in_order
    }

    /// Bytes held in memory (the records themselves are on disk).
    pub(super) fn heap_bytes(&self) -> usize {
        self.blocks.capacity() * std::mem::size_of::<(i64, u64)>()
            + self.out_of_order.capacity() * std::mem::size_of::<(i64, u64, u32)>()
    }

    /// Where the block that would hold `id` among the records written in order is: its
    /// offset and length.
    fn in_order_place(&self, id: i64) -> Option<(u64, u64)> {
        let after = self.blocks.partition_point(|(first, _)| *first <= id);
        let block = after.checked_sub(1)?;
        let start = self.blocks[block].1;
        let end = self
            .blocks
            .get(after)
            .map_or(self.written, |(_, offset)| *offset);
        let last = self.last_id?;
        (id <= last).then_some((start, end - start))
    }

    /// The JSON of `id` among the records written in order, read from its block: from the
    /// last window read when it holds the block, else from a new window starting there.
    fn read_in_order(&self, id: i64) -> Option<Vec<u8>> {
        let (offset, length) = self.in_order_place(id)?;
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let (start, bytes) = &*window;
        let held = offset >= *start && offset + length <= *start + bytes.len() as u64;
        if !held {
            let wanted = length.max(WINDOW).min(self.written - offset);
            *window = (offset, self.read_logged(id, offset, wanted)?);
        }
        let (start, bytes) = &*window;
        let from = (offset - start) as usize;
        line_of(&bytes[from..from + length as usize], id).map(<[u8]>::to_vec)
    }

    /// `length` bytes at `offset`; `None` (logged) when they cannot be read.
    fn read_logged(&self, id: i64, offset: u64, length: u64) -> Option<Vec<u8>> {
        let mut bytes = vec![0u8; length as usize];
        let mut reader = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let read = match reader.as_mut() {
            Some(file) => file
                .seek(SeekFrom::Start(offset))
                .and_then(|_| file.read_exact(&mut bytes)),
            None => Err(std::io::Error::other("read before it was finished")),
        };
        match read {
            Ok(()) => Some(bytes),
            Err(error) => {
                tracing::error!(what = self.what, id, %error, "cannot read back a spilled record");
                None
            }
        }
    }

    /// The JSON of the record with this id, as written; `None` as for [`SpillById::get`].
    pub(super) fn json(&self, id: i64) -> Option<Vec<u8>> {
        match self
            .out_of_order
            .binary_search_by_key(&id, |(known, _, _)| *known)
        {
            Ok(position) => {
                let (_, offset, length) = self.out_of_order[position];
                let line = self.read_logged(id, offset, u64::from(length))?;
                Some(line_of(&line, id)?.to_vec())
            }
            Err(_) => self.read_in_order(id),
        }
    }

    /// The record with this id; `None` when it was not written, or cannot be read back (the
    /// error is logged: the planner then treats it as not in Pipedrive's list, which sends the
    /// executor to fetch it by id).
    pub(super) fn get(&self, id: i64) -> Option<T> {
        let json = self.json(id)?;
        match serde_json::from_slice(&json) {
            Ok(record) => Some(record),
            Err(error) => {
                tracing::error!(what = self.what, id, %error, "cannot parse a spilled record");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_in_batches_in_the_order_written() {
        let mut spill: Spill<Vec<u32>> = Spill::new("test").unwrap();
        for number in 0..7u32 {
            spill.push(&vec![number, number * 2]).unwrap();
        }
        assert_eq!(spill.len(), 7);
        let mut batches = spill.into_batches(3).unwrap();
        let mut seen = Vec::new();
        loop {
            let batch = batches.next_batch().unwrap();
            if batch.is_empty() {
                break;
            }
            assert!(batch.len() <= 3);
            seen.extend(batch);
        }
        let expected: Vec<Vec<u32>> = (0..7u32).map(|n| vec![n, n * 2]).collect();
        assert_eq!(seen, expected);
        batches.rewind().unwrap();
        assert_eq!(batches.next_batch().unwrap(), expected[..3].to_vec());
    }

    #[test]
    fn a_line_is_found_by_its_whole_id_not_by_an_id_it_starts_with() {
        let lines = b"1\t\"one\"\n10\t\"ten\"\n101\t\"a hundred and one\"";
        assert_eq!(line_of(lines, 10), Some(&b"\"ten\""[..]));
        assert_eq!(line_of(lines, 101), Some(&b"\"a hundred and one\""[..]));
        assert_eq!(line_of(lines, 1), Some(&b"\"one\""[..]));
        assert_eq!(line_of(lines, 0), None);
        assert_eq!(line_of(lines, 1010), None);
        assert_eq!(line_of(b"", 1), None);
        assert_eq!(line_of(b"7\t[]\n", 7), Some(&b"[]"[..]));
    }

    #[test]
    fn records_are_found_by_id_and_a_later_copy_wins() {
        let mut spill: SpillById<String> = SpillById::new("test").unwrap();
        spill.push(30, &"thirty".to_string()).unwrap();
        spill.push(10, &"ten".to_string()).unwrap();
        spill.push(30, &"thirty again".to_string()).unwrap();
        spill.finish().unwrap();
        assert_eq!(spill.len(), 2);
        assert_eq!(spill.get(10).as_deref(), Some("ten"));
        assert_eq!(spill.get(30).as_deref(), Some("thirty again"));
        assert_eq!(spill.get(20), None);
    }

    #[test]
    fn records_written_in_id_order_are_found_across_blocks_and_gaps_are_not() {
        let mut spill: SpillById<String> = SpillById::new("test").unwrap();
        let ids: Vec<i64> = (0..(BLOCK as i64 * 5 + 3)).map(|n| n * 3 + 1).collect();
        for id in &ids {
            spill
                .push(*id, &format!("record {id}\twith a tab\nand a line"))
                .unwrap();
        }
        spill.finish().unwrap();
        assert_eq!(spill.len(), ids.len());
        for id in &ids {
            assert_eq!(
                spill.get(*id),
                Some(format!("record {id}\twith a tab\nand a line"))
            );
            assert_eq!(spill.get(id + 1), None, "{}", id + 1);
        }
        assert_eq!(spill.get(0), None);
        assert_eq!(spill.get(i64::MAX), None);
        assert!(spill.heap_bytes() <= 6 * 16, "{}", spill.heap_bytes());
    }

    #[test]
    fn lookups_in_any_order_read_the_right_record_through_the_window() {
        let mut spill: SpillById<String> = SpillById::new("test").unwrap();
        // Small records (many blocks to a window) and large ones (a block over a window).
        let record = |id: i64| {
            let size = if id % 50 < 25 { 10 } else { 9_000 };
            format!("{id}:{}", "x".repeat(size))
        };
        let ids: Vec<i64> = (1..=400).collect();
        for id in &ids {
            spill.push(*id, &record(*id)).unwrap();
        }
        spill.finish().unwrap();
        let mut order = ids.clone();
        order.reverse();
        order.extend(ids.iter().step_by(7));
        order.extend(ids.iter().rev().step_by(3));
        order.extend(ids.iter());
        for id in order {
            assert_eq!(spill.get(id), Some(record(id)), "{id}");
        }
        assert_eq!(spill.get(401), None);
    }

    #[test]
    fn records_out_of_order_are_found_and_the_last_copy_wins() {
        let mut spill: SpillById<i64> = SpillById::new("test").unwrap();
        for id in 100..140 {
            spill.push(id, &id).unwrap();
        }
        // A record that moved back a page, one seen again, and one older than every other.
        spill.push(120, &-120).unwrap();
        spill.push(150, &150).unwrap();
        spill.push(150, &-150).unwrap();
        spill.push(5, &5).unwrap();
        spill.push(120, &-1200).unwrap();
        spill.finish().unwrap();
        let mut written = Vec::new();
        spill
            .for_each_written(|id, record| {
                written.push((id, record));
                Ok(())
            })
            .unwrap();
        let mut expected: Vec<(i64, i64)> = (100..140).map(|id| (id, id)).collect();
        expected.extend([(120, -120), (150, 150), (150, -150), (5, 5), (120, -1200)]);
        assert_eq!(written, expected);
        assert_eq!(spill.len(), 42);
        assert_eq!(spill.get(120), Some(-1200));
        assert_eq!(spill.get(150), Some(-150));
        assert_eq!(spill.get(5), Some(5));
        assert_eq!(spill.get(121), Some(121));
        assert_eq!(spill.get(141), None);
    }
}
