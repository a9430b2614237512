//! This process's peak resident memory, as the kernel counts it: what `bench scale` judges the
//! 300 MB target by, and what a run reports after each of its steps (see `RunSummary`); and the
//! steps where it peaks, which the process may want its allocator to treat apart.

use std::sync::{Mutex, OnceLock};

/// Told `true` when the first step whose memory peaks starts, `false` when the last one ends.
static HEAVY_STEPS_HOOK: OnceLock<fn(bool)> = OnceLock::new();

/// How many memory-heavy steps run now (runs of a service may overlap).
static HEAVY_STEPS: Mutex<usize> = Mutex::new(0);

/// Registers what the process does around the steps of a run whose memory peaks: the ECC
/// duplicates search (with the read before it in a first run) and the matcher's build, which
/// hold the whole run's customers or every organization in memory at once. The command line
/// makes its allocator give freed memory back at once there (the peak) and a few milliseconds
/// later elsewhere (the CPU: giving back at once faults the same pages in again, batch after
/// batch). The first registration holds.
pub fn on_memory_heavy_steps(hook: fn(bool)) {
    let _ = HEAVY_STEPS_HOOK.set(hook);
}

/// A memory-heavy step, from `enter` until dropped.
pub(crate) struct HeavyStep(());

impl HeavyStep {
    pub(crate) fn enter() -> HeavyStep {
        count_heavy_steps(true);
        HeavyStep(())
    }
}

impl Drop for HeavyStep {
    fn drop(&mut self) {
        count_heavy_steps(false);
    }
}

/// Counts a heavy step starting or ending, and tells the hook when the count leaves or
/// reaches zero.
fn count_heavy_steps(starting: bool) {
    let mut running = HEAVY_STEPS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let before = *running;
    *running = match starting {
        true => before + 1,
        false => before.saturating_sub(1),
    };
    if (before == 0) != (*running == 0) {
        if let Some(hook) = HEAVY_STEPS_HOOK.get() {
            hook(starting);
        }
    }
}

/// The peak resident memory of this process so far in kB (VmHWM of /proc/self/status); `None`
/// where there is no /proc (not Linux).
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn the_peak_counts_memory_touched() {
        let before = peak_rss_kb().expect("Linux has /proc/self/status");
        let touched = vec![1u8; 64 << 20];
        let after = peak_rss_kb().expect("Linux has /proc/self/status");
        assert!(touched.iter().all(|byte| *byte == 1));
        // Other tests in this process may have peaked higher before; the peak never falls, and
        // it holds at least what is resident now.
        assert!(after >= before, "{before} kB then {after} kB");
        assert!(after >= 64 << 10, "{after} kB with 64 MB touched");
    }
}
