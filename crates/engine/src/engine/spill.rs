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

/// Records written once with a key each, read back in order, only those whose key is wanted:
/// a line is its key (a JSON string), a tab and the record, so the others are passed over
/// unparsed.
pub(super) struct KeyedSpill<T> {
    spill: Spill<T>,
}

impl<T: Serialize + DeserializeOwned> KeyedSpill<T> {
    pub(super) fn new(what: &'static str) -> Result<Self, SyncError> {
        Ok(KeyedSpill {
            spill: Spill::new(what)?,
        })
    }

    pub(super) fn push(&mut self, key: &str, record: &T) -> Result<(), SyncError> {
        let what = self.spill.what;
        let writer = &mut self.spill.writer;
        serde_json::to_writer(&mut *writer, key).map_err(|error| spill_error(what, error))?;
        writer
            .write_all(b"\t")
            .map_err(|error| spill_error(what, error))?;
        self.spill.push(record)
    }

    pub(super) fn len(&self) -> usize {
        self.spill.len()
    }

    /// Done writing: the wanted records, from the first, `batch` at a time.
    pub(super) fn into_batches(self, batch: usize) -> Result<KeyedSpillBatches<T>, SyncError> {
        Ok(KeyedSpillBatches {
            batches: self.spill.into_batches(batch)?,
        })
    }
}

/// The records of a [`KeyedSpill`], a batch at a time.
pub(super) struct KeyedSpillBatches<T> {
    batches: SpillBatches<T>,
}

impl<T: DeserializeOwned> KeyedSpillBatches<T> {
    /// The next batch of records whose key is `wanted`; empty at the end.
    pub(super) fn next_batch(
        &mut self,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Vec<T>, SyncError> {
        let SpillBatches {
            what,
            reader,
            batch,
            line,
            ..
        } = &mut self.batches;
        let mut records = Vec::with_capacity(*batch);
        while records.len() < *batch {
            line.clear();
            let read = reader
                .read_line(line)
                .map_err(|error| spill_error(what, error))?;
            if read == 0 {
                break;
            }
            let Some((key, record)) = line.split_once('\t') else {
                return Err(spill_error(what, "a line without its key"));
            };
            let key: String =
                serde_json::from_str(key).map_err(|error| spill_error(what, error))?;
            if !wanted(&key) {
                continue;
            }
            let record = serde_json::from_str(record).map_err(|error| spill_error(what, error))?;
            records.push(record);
        }
        Ok(records)
    }
}

/// Records written once, looked up by id; only the ids and where they are stay in memory.
pub(super) struct SpillById<T> {
    what: &'static str,
    writer: Option<BufWriter<File>>,
    reader: Mutex<Option<File>>,
    written: u64,
    /// (id, offset, length), sorted by id once writing is done.
    places: Vec<(i64, u64, u32)>,
    _records: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> SpillById<T> {
    pub(super) fn new(what: &'static str) -> Result<Self, SyncError> {
        let file = tempfile::tempfile().map_err(|error| spill_error(what, error))?;
        Ok(SpillById {
            what,
            writer: Some(BufWriter::with_capacity(1 << 16, file)),
            reader: Mutex::new(None),
            written: 0,
            places: Vec::new(),
            _records: PhantomData,
        })
    }

    pub(super) fn push(&mut self, id: i64, record: &T) -> Result<(), SyncError> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(spill_error(self.what, "written after it was finished"));
        };
        let bytes = serde_json::to_vec(record).map_err(|error| spill_error(self.what, error))?;
        writer
            .write_all(&bytes)
            .map_err(|error| spill_error(self.what, error))?;
        let length = u32::try_from(bytes.len())
            .map_err(|_| spill_error(self.what, format!("record {id} over 4 GiB")))?;
        self.places.push((id, self.written, length));
        self.written += bytes.len() as u64;
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
        self.places
            .sort_unstable_by_key(|(id, offset, _)| (*id, *offset));
        // The list endpoints page by id, so an id seen twice (a record moved between pages
        // while they were read) keeps its later copy.
        self.places.reverse();
        self.places.dedup_by_key(|(id, _, _)| *id);
        self.places.reverse();
        self.places.shrink_to_fit();
        Ok(())
    }

    pub(super) fn len(&self) -> usize {
        self.places.len()
    }

    /// Bytes held in memory (the records themselves are on disk).
    pub(super) fn heap_bytes(&self) -> usize {
        self.places.capacity() * std::mem::size_of::<(i64, u64, u32)>()
    }

    /// The record with this id; `None` when it was not written, or cannot be read back (the
    /// error is logged: the planner then treats it as not in Pipedrive's list, which sends the
    /// executor to fetch it by id).
    pub(super) fn get(&self, id: i64) -> Option<T> {
        let position = self
            .places
            .binary_search_by_key(&id, |(known, _, _)| *known)
            .ok()?;
        let (_, offset, length) = self.places[position];
        let mut bytes = vec![0u8; length as usize];
        let mut reader = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let file = reader.as_mut()?;
        let read = file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(&mut bytes));
        if let Err(error) = read {
            tracing::error!(what = self.what, id, %error, "cannot read back a spilled record");
            return None;
        }
        match serde_json::from_slice(&bytes) {
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
    }

    #[test]
    fn keyed_records_come_back_in_order_only_when_their_key_is_wanted() {
        let mut spill: KeyedSpill<Vec<String>> = KeyedSpill::new("test").unwrap();
        for key in ["a", "b\tc", "d", "e\n"] {
            spill
                .push(key, &vec![key.to_string(), "\t".to_string()])
                .unwrap();
        }
        assert_eq!(spill.len(), 4);
        let mut batches = spill.into_batches(1).unwrap();
        let wanted = |key: &str| key != "a";
        let mut seen = Vec::new();
        loop {
            let batch = batches.next_batch(wanted).unwrap();
            if batch.is_empty() {
                break;
            }
            assert_eq!(batch.len(), 1);
            seen.extend(batch);
        }
        let expected: Vec<Vec<String>> = ["b\tc", "d", "e\n"]
            .iter()
            .map(|key| vec![key.to_string(), "\t".to_string()])
            .collect();
        assert_eq!(seen, expected);
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
}
