//! The sync's pure core: the field map (`map`), matching against what Pipedrive already holds
//! (`matching`), the plan of what to do with each record (`plan`) and the review queue as a
//! reviewer works it (`review_queue`). No I/O here: the executor
//! (crate `mlc-engine`) reads ECC and Pipedrive, hands plain data in, and carries the plan out
//! through the governor.

pub mod drift;
pub mod existing;
pub mod map;
pub mod matching;
pub mod plan;
pub mod review_queue;

#[cfg(test)]
mod testing;
