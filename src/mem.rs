//! Process memory: how the allocator is set up, and when freed memory goes
//! back to the system.
//!
//! Why this module exists: a scan builds and frees hundreds of megabytes in
//! phases (the raw state, its canonical projection, the live pages), from
//! several runtime threads at once. glibc's allocator gives each thread an
//! arena of its own (up to 8 per core) and keeps freed memory mapped, so the
//! peak resident size of a 100,000-instance scan was about twice its peak heap
//! (1.16 GB against 622 MB, measured with heaptrack on the replay benchmark),
//! and a daemon kept the last scan's peak resident between scans.
//!
//! Two measures, both without a new dependency:
//! - [`init`] caps the number of arenas at 2 (the scan's work is mostly on one
//!   thread at a time; measured: 1.16 GB -> 0.82 GB at 100k instances, the same
//!   wall time). A `MALLOC_ARENA_MAX` set by the user wins: then nothing is
//!   changed.
//! - [`release`] hands freed pages back (`malloc_trim`) after a phase that
//!   freed a lot: once the states are parsed (their raw forms are dropped),
//!   and after a whole scan in the daemon.
//!
//! On other platforms (musl, macOS) both are no-ops.

/// Set the allocator up; call once at the start of `main`, before threads.
#[allow(unsafe_code)]
pub fn init() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes allocator parameters; called before
        // any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// Return freed memory to the system (after a phase that freed a lot).
#[allow(unsafe_code)]
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim is thread-safe and only releases free pages.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn init_and_release_are_safe_to_call_repeatedly() {
        super::init();
        let v: Vec<Vec<u8>> = (0..1000).map(|_| vec![1u8; 4096]).collect();
        drop(v);
        super::release();
        super::release();
    }
}
