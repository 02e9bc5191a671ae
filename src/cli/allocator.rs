//! glibc's allocator, tuned at start so the process's memory follows `limits.memory_budget`.
//!
//! glibc serves a request of its mmap threshold or more with its own `mmap`, unmapped at
//! `free`; smaller ones come from heap arenas, which keep freed holes. The threshold starts at
//! 128 KiB but is *dynamic*: each free of an mmapped block raises it to that block's size, up to
//! 32 MiB. A gateway frees message buffers of 1-36 MiB all day, so the threshold climbs, later
//! buffers come from the arenas, and the arenas keep what they freed: under the abuse bench
//! the process grew to 1.75 GiB with a 1 GiB budget (BENCHMARKS.md, "Under abuse"). Fixed at
//! [`MMAP_THRESHOLD`] (which also turns the dynamic adjustment off), every buffer of one growth
//! step or more is mmapped, grown by `mremap` without a copy, and returned to the kernel when
//! freed: the same load peaked under the budget.
//!
//! An operator who sets `MALLOC_MMAP_THRESHOLD_` in the environment keeps their value.

/// glibc's mmap threshold in bytes: one growth step of a message buffer
/// (`smtp::session::delivery::GROWTH_STEP`).
pub const MMAP_THRESHOLD: usize = 1024 * 1024;

/// The environment variable through which glibc takes the threshold at start.
const ENV_OVERRIDE: &str = "MALLOC_MMAP_THRESHOLD_";

/// What [`tune`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tuning {
    /// The threshold is fixed at [`MMAP_THRESHOLD`].
    Fixed,
    /// `MALLOC_MMAP_THRESHOLD_` is set: glibc already applied the operator's value.
    FromEnvironment,
    /// Not glibc (or glibc refused): the allocator's defaults stay.
    Unchanged,
}

/// Fixes glibc's mmap threshold unless the environment sets it. Call first thing in `main`,
/// before threads start.
pub fn tune() -> Tuning {
    if std::env::var_os(ENV_OVERRIDE).is_some() {
        return Tuning::FromEnvironment;
    }
    set_mmap_threshold()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_mmap_threshold() -> Tuning {
    let Ok(bytes) = libc::c_int::try_from(MMAP_THRESHOLD) else {
        return Tuning::Unchanged;
    };
    // SAFETY: mallopt takes two integers and changes allocator parameters under glibc's own
    // lock; it is called before any other thread of this process exists.
    if unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, bytes) } == 1 {
        Tuning::Fixed
    } else {
        Tuning::Unchanged
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_mmap_threshold() -> Tuning {
    Tuning::Unchanged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_is_fixed_unless_the_environment_sets_it() {
        // The test binary starts without the variable (cargo does not set it); the one answer
        // that must never come on glibc is "unchanged".
        let tuning = tune();
        if std::env::var_os(ENV_OVERRIDE).is_some() {
            assert_eq!(tuning, Tuning::FromEnvironment);
        } else if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert_eq!(tuning, Tuning::Fixed);
        } else {
            assert_eq!(tuning, Tuning::Unchanged);
        }
    }
}
