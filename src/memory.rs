//! Handing memory the process freed back to the system.
//!
//! glibc's malloc returns only the top of its heap when memory is freed; pages
//! freed below live data stay with the process for reuse. A burst (a thousand
//! Routes applied at once: their watch events, the lists of them each pass
//! decodes, the document of a whole-API import) would leave the process at its
//! peak for good. A trim walks the free chunks and gives their whole pages back
//! (MADV_DONTNEED); the next allocation gets fresh zeroed pages, which costs
//! less than the trim saves while the operator idles.

use std::time::Duration;

/// How often freed memory is handed back: often enough that a burst does not
/// linger for long, rarely enough that the walk (a few milliseconds over a heap
/// of tens of MiB) costs nothing measurable.
pub const TRIM_PERIOD: Duration = Duration::from_secs(20);

/// Trim every `period`, for ever.
pub async fn give_back_freed_memory(period: Duration) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        trim();
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    unsafe extern "C" {
        // glibc, <malloc.h>: release free memory from the heaps; returns 1 when
        // some was released.
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: malloc_trim takes the allocator's own locks and only releases pages
    // holding no live allocation; it is safe to call from any thread at any time.
    unsafe {
        malloc_trim(0);
    }
}

/// Other allocators (musl's, macOS's) return freed memory themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
