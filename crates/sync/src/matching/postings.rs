//! The blocking keys of a [`super::index::RecordIndex`]: which records are filed under which
//! 32-bit key.
//!
//! They are the largest part of an index (about twenty keys a record), so they are kept in
//! six bytes each, not eight: a directory by the key's top 16 bits, then per posting the key's
//! low 16 bits and the record number. While an index is built they are collected in one vector
//! of eight bytes each, sorted in place; the six-byte postings then take their place from the
//! back while that vector is let go in steps, so finishing an index never holds both whole
//! (fourteen bytes a posting, 300 MB for a million customers' run, before).
//!
//! How much that saves depends on the allocator: one that grows and shrinks a large block in
//! place (glibc's, with `mremap`) holds about eight bytes a posting at the finish; mimalloc,
//! which `ml-connector` uses, keeps a block that shrinks by less than half and copies it when
//! it shrinks more, so about eleven. Zeroed pages are taken only as they are written by both.

/// Postings collected while an index is built, unsorted: `(key << 32) | record number`.
#[derive(Debug, Default)]
pub(super) struct PostingsBuilder {
    entries: Vec<u64>,
}

/// Postings let go at a time while a finished index takes their place (8 MB).
const RELEASE_STEP: usize = 1 << 20;

/// Bits of the key the directory is indexed by; the rest is stored with each posting.
const DIRECTORY_BITS: u32 = 16;
const BUCKETS: usize = 1 << DIRECTORY_BITS;

fn bucket_of(key: u32) -> usize {
    (key >> DIRECTORY_BITS) as usize
}

fn low_of(key: u32) -> u16 {
    key as u16
}

impl PostingsBuilder {
    pub(super) fn push(&mut self, key: u32, number: u32) {
        self.entries
            .push((u64::from(key) << 32) | u64::from(number));
    }

    /// Sorted by key, then record number, without repeats.
    pub(super) fn finish(self) -> Postings {
        let mut entries = self.entries;
        if entries.is_empty() {
            return Postings::default();
        }
        entries.sort_unstable();
        entries.dedup();
        let mut starts = vec![0u32; BUCKETS + 1];
        for entry in &entries {
            starts[bucket_of((entry >> 32) as u32) + 1] += 1;
        }
        for bucket in 0..BUCKETS {
            starts[bucket + 1] += starts[bucket];
        }
        let len = entries.len();
        let mut low_keys = vec![0u16; len];
        let mut numbers = vec![0u32; len];
        let mut at = len;
        while let Some(entry) = entries.pop() {
            at -= 1;
            low_keys[at] = low_of((entry >> 32) as u32);
            numbers[at] = entry as u32;
            if entries.len().is_multiple_of(RELEASE_STEP) {
                entries.shrink_to_fit();
            }
        }
        Postings {
            starts,
            low_keys,
            numbers,
        }
    }
}

/// Postings sorted by key, then record number.
#[derive(Debug, Default)]
pub(super) struct Postings {
    /// `starts[b]`: the first posting whose key's top bits are `b`; one more at the end. Empty
    /// when there are no postings.
    starts: Vec<u32>,
    /// Each posting's key, its low bits.
    low_keys: Vec<u16>,
    /// Each posting's record number.
    numbers: Vec<u32>,
}

impl Postings {
    /// Where the postings of `key` are.
    pub(super) fn range(&self, key: u32) -> std::ops::Range<usize> {
        if self.starts.is_empty() {
            return 0..0;
        }
        let bucket = bucket_of(key);
        let (bucket_start, bucket_end) = (
            self.starts[bucket] as usize,
            self.starts[bucket + 1] as usize,
        );
        let low = low_of(key);
        let slice = &self.low_keys[bucket_start..bucket_end];
        let start = slice.partition_point(|found| *found < low);
        let end = start + slice[start..].partition_point(|found| *found == low);
        bucket_start + start..bucket_start + end
    }

    /// The record numbers filed under `key`, in order.
    pub(super) fn numbers(&self, key: u32) -> &[u32] {
        &self.numbers[self.range(key)]
    }

    /// Bytes held.
    pub(super) fn heap_bytes(&self) -> usize {
        self.starts.capacity() * 4 + self.low_keys.capacity() * 2 + self.numbers.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_finds_its_records_in_order_and_only_its_own() {
        let mut builder = PostingsBuilder::default();
        // Keys that share their top or their low 16 bits, pushed out of order and repeated.
        let keys = [0x0001_0002u32, 0x0002_0002, 0x0001_0003, 0xffff_ffff, 0];
        for number in (0..40_000u32).rev() {
            let key = keys[number as usize % keys.len()];
            builder.push(key, number);
            if number % 7 == 0 {
                builder.push(key, number);
            }
        }
        let postings = builder.finish();
        for (slot, key) in keys.iter().enumerate() {
            let expected: Vec<u32> = (0..40_000u32)
                .filter(|number| *number as usize % keys.len() == slot)
                .collect();
            assert_eq!(postings.numbers(*key), expected.as_slice(), "key {key:#x}");
        }
        assert!(postings.numbers(0x0001_0004).is_empty());
        assert!(postings.numbers(0x0003_0002).is_empty());
        assert_eq!(postings.range(0xffff_ffff).len(), 8_000);
    }

    #[test]
    fn an_empty_index_has_no_postings_and_holds_nothing() {
        let postings = PostingsBuilder::default().finish();
        assert!(postings.numbers(42).is_empty());
        assert_eq!(postings.heap_bytes(), 0);
    }
}
