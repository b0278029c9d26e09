//! Cache and memory hints: prefetch memory the code will read soon, and
//! keep the process on small pages.
//!
//! [`prefetch`] takes an address; gives nothing but a hint to the CPU, on
//! x86-64 only (elsewhere the calls do nothing). A prefetch never faults and
//! changes no result, so a wrong or stale address costs only the cache line
//! it brings in. [`small_pages_only`] changes how the kernel backs the
//! process's memory, never what the program computes.

/// Bring the cache line holding `p` into the caches.
#[inline(always)]
#[allow(unsafe_code)]
pub fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing into the program and never faults,
    // whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Ask the kernel not to back this process's memory with transparent huge
/// pages (Linux `PR_SET_THP_DISABLE`; elsewhere nothing). Returns whether
/// the kernel took it; a refusal costs only speed.
///
/// Why: mimalloc asks for huge pages, and a run's heap is short-lived and
/// touched about once (flows, their rows waiting to be written). A fresh
/// 2 MiB page is zeroed whole on first touch, and on a VM that hands freed
/// memory back to its host (a balloon with free page reporting, as on the
/// 2-core CI machine) the huge pages a new process gets are the reported
/// ones, which the host must back again: measured there 2.4-3.1 ms per MiB
/// touched, against 0.45-0.7 ms per MiB on small pages. `flows` on the bench
/// capture, runs 3 s apart: 0.57-0.70 s wall, 0.49-0.51 s system time with
/// huge pages; 0.39-0.47 s and 0.15-0.22 s without (and 20 % less RSS).
/// Call it first thing in `main`, before the heap grows; it applies to later
/// page faults, also in memory the allocator reserved already.
#[allow(unsafe_code)]
pub fn small_pages_only() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no
        // memory of the program; it only sets a flag on the process.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    false
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[test]
    #[allow(unsafe_code)]
    fn small_pages_only_sets_the_process_flag() {
        // The flag is per process and inherited, so setting it in the test
        // binary changes nothing else a test checks.
        assert!(super::small_pages_only());
        // SAFETY: PR_GET_THP_DISABLE reads a flag of the process.
        let got = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(got, 1);
    }
}
