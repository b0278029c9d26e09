//! Cache hints: prefetch memory the code will read soon.
//!
//! Takes an address; gives nothing but
//! a hint to the CPU, on x86-64 only (elsewhere the calls do nothing). A
//! prefetch never faults and changes no result, so a wrong or stale address
//! costs only the cache line it brings in.

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
