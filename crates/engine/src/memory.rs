//! This process's peak resident memory, as the kernel counts it: what `bench scale` judges the
//! 300 MB target by, and what a run reports after each of its steps (see `RunSummary`).

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
