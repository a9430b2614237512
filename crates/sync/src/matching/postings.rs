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

/// Postings collected while an index is built, unsorted: `(key << 32) | record number`; or,
/// when the postings of each bucket were counted beforehand (a first pass over records kept on
/// disk, see [`KeyCounts`]), placed straight into their bucket of the six-byte arrays, so the
/// eight-byte vector never exists (at a million customers it reached 270 MB of capacity while
/// it doubled, beside the copy it doubled from).
#[derive(Debug, Default)]
pub(super) struct PostingsBuilder {
    entries: Vec<u64>,
    placed: Option<Placed>,
}

/// How many postings fall into each bucket, counted before an index is built.
#[derive(Debug, Clone)]
pub struct KeyCounts {
    counts: Vec<u32>,
}

impl Default for KeyCounts {
    fn default() -> Self {
        KeyCounts {
            counts: vec![0; BUCKETS],
        }
    }
}

impl KeyCounts {
    pub(super) fn count(&mut self, key: u32) {
        let count = &mut self.counts[bucket_of(key)];
        *count = count.saturating_add(1);
    }

    /// Postings counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|count| u64::from(*count)).sum()
    }
}

/// Postings placed into their bucket as they come.
#[derive(Debug)]
struct Placed {
    /// `starts[b]`: where bucket `b` begins; one more at the end.
    starts: Vec<u32>,
    /// Where the next posting of each bucket goes.
    next: Vec<u32>,
    low_keys: Vec<u16>,
    numbers: Vec<u32>,
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
    /// Postings to be placed into buckets counted beforehand (`counts` must count every
    /// posting pushed; any beyond a bucket's count are collected the usual way).
    pub(super) fn counted(counts: &KeyCounts) -> Self {
        let total = usize::try_from(counts.total()).expect("postings fit in memory");
        let mut starts = Vec::with_capacity(BUCKETS + 1);
        let mut at = 0u32;
        starts.push(0);
        for count in &counts.counts {
            at = at.saturating_add(*count);
            starts.push(at);
        }
        PostingsBuilder {
            entries: Vec::new(),
            placed: Some(Placed {
                next: starts[..BUCKETS].to_vec(),
                starts,
                low_keys: vec![0; total],
                numbers: vec![0; total],
            }),
        }
    }

    pub(super) fn push(&mut self, key: u32, number: u32) {
        if let Some(placed) = self.placed.as_mut() {
            let bucket = bucket_of(key);
            let slot = placed.next[bucket];
            if slot < placed.starts[bucket + 1] {
                placed.low_keys[slot as usize] = low_of(key);
                placed.numbers[slot as usize] = number;
                placed.next[bucket] = slot + 1;
                return;
            }
        }
        self.entries
            .push((u64::from(key) << 32) | u64::from(number));
    }

    /// Sorted by key, then record number, without repeats.
    pub(super) fn finish(self) -> Postings {
        let PostingsBuilder {
            mut entries,
            placed,
        } = self;
        if let Some(placed) = placed {
            let postings = placed.finish();
            if entries.is_empty() {
                return postings;
            }
            // Postings beyond the counts (a caller that counted short): all of them the usual
            // way.
            entries.extend(postings.entries());
        }
        Self::finish_collected(entries)
    }

    fn finish_collected(mut entries: Vec<u64>) -> Postings {
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

impl Placed {
    /// Each bucket sorted by low key and record number, repeats and unused slots dropped, the
    /// buckets moved together (the arrays keep their length's capacity: shrinking would copy
    /// them).
    fn finish(self) -> Postings {
        let Placed {
            starts,
            next,
            mut low_keys,
            mut numbers,
        } = self;
        let mut compact_starts = vec![0u32; BUCKETS + 1];
        let mut write = 0usize;
        let mut pairs: Vec<(u16, u32)> = Vec::new();
        for bucket in 0..BUCKETS {
            let (start, end) = (starts[bucket] as usize, next[bucket] as usize);
            pairs.clear();
            pairs.extend((start..end).map(|at| (low_keys[at], numbers[at])));
            pairs.sort_unstable();
            pairs.dedup();
            compact_starts[bucket] = write as u32;
            for (low, number) in &pairs {
                low_keys[write] = *low;
                numbers[write] = *number;
                write += 1;
            }
        }
        compact_starts[BUCKETS] = write as u32;
        low_keys.truncate(write);
        numbers.truncate(write);
        if write == 0 {
            return Postings::default();
        }
        Postings {
            starts: compact_starts,
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

    /// Every posting as `(key << 32) | record number`, in order.
    fn entries(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.starts.len().saturating_sub(1)).flat_map(move |bucket| {
            let (start, end) = (
                self.starts[bucket] as usize,
                self.starts[bucket + 1] as usize,
            );
            (start..end).map(move |at| {
                let key = ((bucket as u32) << DIRECTORY_BITS) | u32::from(self.low_keys[at]);
                (u64::from(key) << 32) | u64::from(self.numbers[at])
            })
        })
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

    /// Postings placed into buckets counted beforehand come out as collected ones do, repeats
    /// dropped; one the count missed is kept all the same.
    #[test]
    fn counted_postings_are_the_collected_ones() {
        let pushes: Vec<(u32, u32)> = (0..30_000u32)
            .map(|number| {
                (
                    (number.wrapping_mul(2_654_435_761) % 5_000) << 13,
                    number % 997,
                )
            })
            .chain([(7, 1), (7, 1), (0xffff_ffff, 3)])
            .collect();
        let mut counts = KeyCounts::default();
        let mut collected = PostingsBuilder::default();
        for (key, number) in &pushes {
            counts.count(*key);
            collected.push(*key, *number);
        }
        let mut placed = PostingsBuilder::counted(&counts);
        for (key, number) in &pushes {
            placed.push(*key, *number);
        }
        let (collected, placed) = (collected.finish(), placed.finish());
        assert_eq!(placed.starts, collected.starts);
        assert_eq!(placed.low_keys, collected.low_keys);
        assert_eq!(placed.numbers, collected.numbers);

        let mut short = PostingsBuilder::counted(&counts);
        for (key, number) in pushes.iter().chain([(42, 9)].iter()) {
            short.push(*key, *number);
        }
        let short = short.finish();
        assert_eq!(short.numbers(42), &[9]);
        assert_eq!(short.numbers(7), collected.numbers(7));
    }

    #[test]
    fn an_empty_index_has_no_postings_and_holds_nothing() {
        let postings = PostingsBuilder::default().finish();
        assert!(postings.numbers(42).is_empty());
        assert_eq!(postings.heap_bytes(), 0);
    }
}
