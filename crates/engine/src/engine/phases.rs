//! Where a run's wall time goes, phase by phase, reported in the run's summary (`sync --json`,
//! `bench scale`): the full reconciliation is judged against the wall time of extracting the
//! same data, and these figures say which step stands between the two.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The steps of a run that are timed. Some run at the same time as others (the Pipedrive index
/// is read while ECC is), so their times add up to more than the run's wall time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Phase {
    /// The ECC read, from the first call to the last batch filed away (the whole first pass).
    EccRead,
    /// Waiting for the next ECC batch: the part of the read ECC itself is the bound of.
    EccWait,
    /// The first pass's store reads and plan of each batch read (whether the index is needed).
    FirstPass,
    /// Linked customers planned and carried out while ECC is still read, once the index is
    /// loaded (inside `EccRead`; its store reads, planning and commits count in theirs too).
    Early,
    /// After the read: the contacts deleted in ECC, from the store's person links.
    ReadFinish,
    /// The Pipedrive index: organizations and persons listed, and the store's links by id.
    IndexRead,
    /// Waiting for the index once the ECC read is done (zero when it was ready first).
    IndexWait,
    /// The duplicates inside ECC, among every customer read (nothing to do when the same
    /// customers were checked before).
    EccDuplicates,
    /// What matching needs, once a batch has a record to match (never in a run whose records
    /// are all linked): the run's customers indexed and the organizations' matcher built and
    /// calibrated, the persons of each organization listed.
    Matcher,
    /// The second pass's reads of each batch's links and states (each read while the batch
    /// before it is planned and carried out).
    StoreReads,
    /// Waiting for a batch's links and states once the batch before it is done.
    StoreWait,
    /// The second pass's planning (matching, mapping, diffing against the index).
    Planning,
    /// Carrying the plans out: Pipedrive calls and the outcomes' audit events.
    CarryOut,
    /// Committing the outcomes to the store (in the background, beside the next batch).
    Commits,
    /// Waiting for an earlier batch's commit before a call to Pipedrive, or at the end.
    CommitWait,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::EccRead => "ecc_read",
            Phase::EccWait => "ecc_wait",
            Phase::FirstPass => "first_pass",
            Phase::Early => "early",
            Phase::ReadFinish => "read_finish",
            Phase::IndexRead => "index_read",
            Phase::IndexWait => "index_wait",
            Phase::EccDuplicates => "ecc_duplicates",
            Phase::Matcher => "matcher",
            Phase::StoreReads => "store_reads",
            Phase::StoreWait => "store_wait",
            Phase::Planning => "planning",
            Phase::CarryOut => "carry_out",
            Phase::Commits => "commits",
            Phase::CommitWait => "commit_wait",
        }
    }
}

/// Time spent per phase in one run; shared by the steps of the run (interior mutability, so
/// concurrent steps can add to it through a shared reference).
#[derive(Debug, Default)]
pub(super) struct PhaseClock {
    spent: Mutex<BTreeMap<Phase, Duration>>,
    /// The process's peak resident memory (kB) when each step that marked it last ended.
    peaks: Mutex<BTreeMap<Phase, u64>>,
}

impl PhaseClock {
    pub(super) fn add(&self, phase: Phase, spent: Duration) {
        if let Ok(mut times) = self.spent.lock() {
            *times.entry(phase).or_default() += spent;
        }
    }

    /// Adds the time since `started` to `phase`.
    pub(super) fn since(&self, phase: Phase, started: Instant) {
        self.add(phase, started.elapsed());
    }

    /// Marks the process's peak resident memory so far as `phase` ends: the first phase whose
    /// mark is the run's peak is the one that reached it.
    pub(super) fn peak_after(&self, phase: Phase) {
        let Some(peak) = crate::peak_rss_kb() else {
            return;
        };
        if let Ok(mut peaks) = self.peaks.lock() {
            peaks.insert(phase, peak);
        }
    }

    /// The peak resident memory in MB (one decimal) as each marked phase last ended, by name.
    pub(super) fn peaks_mb(&self) -> BTreeMap<String, f64> {
        by_name(&self.peaks, |kb| (*kb as f64 / 102.4).round() / 10.0)
    }

    /// Seconds per phase by name, rounded to milliseconds, for the run's summary.
    pub(super) fn seconds(&self) -> BTreeMap<String, f64> {
        by_name(&self.spent, |spent| spent.as_millis() as f64 / 1000.0)
    }
}

/// A figure per phase, by the phase's name, for the run's summary.
fn by_name<V>(
    values: &Mutex<BTreeMap<Phase, V>>,
    figure: impl Fn(&V) -> f64,
) -> BTreeMap<String, f64> {
    let Ok(values) = values.lock() else {
        return BTreeMap::new();
    };
    values
        .iter()
        .map(|(phase, value)| (phase.name().to_string(), figure(value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_adds_up_per_phase_and_shows_by_name() {
        let clock = PhaseClock::default();
        clock.add(Phase::Planning, Duration::from_millis(1500));
        clock.add(Phase::Planning, Duration::from_millis(250));
        clock.add(Phase::Commits, Duration::from_millis(40));
        let seconds = clock.seconds();
        assert_eq!(seconds.get("planning"), Some(&1.75));
        assert_eq!(seconds.get("commits"), Some(&0.04));
        assert_eq!(seconds.get("ecc_read"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_marked_phase_shows_the_peak_when_it_ended() {
        let clock = PhaseClock::default();
        clock.peak_after(Phase::EccRead);
        let peaks = clock.peaks_mb();
        assert_eq!(peaks.keys().collect::<Vec<_>>(), ["ecc_read"]);
        assert!(peaks["ecc_read"] > 0.0, "{peaks:?}");
        assert_eq!(peaks.get("planning"), None);
    }
}
