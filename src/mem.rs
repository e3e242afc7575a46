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
//! Three measures, without a new dependency:
//! - [`init`] sets two allocator parameters, unless the user set them
//!   (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`, or either in
//!   `GLIBC_TUNABLES`: then the user's setting wins):
//!   - one arena (the scan's work is mostly on one thread at a time; freed
//!     memory of one thread's arena was not reused by another's);
//!   - a fixed mmap threshold of 1 MiB. glibc raises the threshold each
//!     time a large block is freed, up to 32 MiB, after which the 1-5 MB
//!     bodies of `DescribeInstances` pages and the scan's large tables are
//!     carved out of the heap between long-lived small objects, and stay
//!     resident after they are freed. Fixed, they are mapped and unmapped.
//!
//!   Measured at 100,000 instances (replay benchmark, peak heap 163 MB):
//!   peak RSS 268-287 MB with glibc's defaults and 2 arenas, 240-242 MB
//!   with both (128 KiB: the same peak, 272k page faults against 184k at
//!   1 MiB and 138k with glibc's default), the same wall time
//!   (`bench/RESULTS.md`, session 5).
//! - [`release`] hands freed pages back (`malloc_trim`) after a phase that
//!   freed a lot: once the states are parsed (their raw forms are dropped),
//!   and after a whole scan in the daemon.
//! - [`release_code`] unmaps, after each daemon run, the pages of driftd's own
//!   executable that the run touched and that were never written: its code
//!   (`r-xp`) and read-only data never copied on write. A scan runs code from
//!   across the AWS SDK's deserializers; the kernel maps it 64 KB at a time,
//!   so after one scan about 27 MB of the 56 MB binary was resident (RssFile),
//!   against 10 MB of memory the daemon actually holds (RssAnon). The pages
//!   stay in the page cache (shared, clean, reclaimable), so the next scan
//!   maps them again with minor faults and no disk read. Measured with
//!   `bench/daemon_idle.sh` (1,000 instances, 100 scans): idle VmRSS 37.3 MB
//!   -> 13.7 MB.
//!
//! On other platforms (musl, macOS) they are no-ops.

/// Blocks from this size up are mapped and unmapped on their own (see the
/// module docs; 128 KiB cost a third more page faults for the same peak).
const MMAP_THRESHOLD: i32 = 1024 * 1024;

/// Whether the user set a glibc malloc parameter, by its environment
/// variable or in `GLIBC_TUNABLES` (`glibc.malloc.<tunable>=...`).
fn user_set(env: &str, tunable: &str, tunables: Option<&str>) -> bool {
    std::env::var_os(env).is_some()
        || tunables.is_some_and(|t| {
            t.split(':')
                .any(|kv| kv.split('=').next() == Some(&format!("glibc.malloc.{tunable}")[..]))
        })
}

/// Set the allocator up; call once at the start of `main`, before threads.
#[allow(unsafe_code)]
pub fn init() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let tunables = std::env::var("GLIBC_TUNABLES").ok();
        let tunables = tunables.as_deref();
        if !user_set("MALLOC_ARENA_MAX", "arena_max", tunables) {
            // SAFETY: mallopt only changes allocator parameters; called
            // before any other thread exists.
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, 1);
            }
        }
        if !user_set("MALLOC_MMAP_THRESHOLD_", "mmap_threshold", tunables) {
            // SAFETY: as above.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            }
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

/// Unmap the touched, never-written pages of this process's own executable
/// (see the module docs). Safe at any time: such a page is identical to the
/// file, and a thread that runs or reads it again faults it back in from the
/// page cache. A mapping with any page copied on write (`Anonymous` above 0,
/// e.g. the relocated RELRO segment) or that is writable is never touched.
/// Returns the bytes advised (0 when nothing was done).
pub fn release_code() -> usize {
    #[cfg(target_os = "linux")]
    {
        let (Ok(exe), Ok(smaps)) = (
            std::fs::read_link("/proc/self/exe"),
            std::fs::read_to_string("/proc/self/smaps"),
        ) else {
            return 0;
        };
        let exe = exe.to_string_lossy();
        let mut advised = 0;
        for (start, end) in clean_exe_mappings(&smaps, &exe) {
            if advise_dontneed(start, end - start) {
                advised += end - start;
            }
        }
        advised
    }
    #[cfg(not(target_os = "linux"))]
    0
}

/// The read-only mappings of `exe` in `smaps` (the text of
/// `/proc/self/smaps`) with no page copied on write: `(start, end)`.
fn clean_exe_mappings(smaps: &str, exe: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    // The mapping being read: its range, and whether it qualifies so far.
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if let Some((a, b)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            // A mapping header: `start-end perms offset dev inode path`.
            let perms = fields.next().unwrap_or_default();
            let path = fields.nth(3).unwrap_or_default();
            let range = usize::from_str_radix(a, 16)
                .ok()
                .zip(usize::from_str_radix(b, 16).ok());
            current = range.filter(|_| {
                (perms == "r-xp" || perms == "r--p") && path == exe && !line.ends_with("(deleted)")
            });
        } else if first == "Anonymous:" {
            let anon = fields.next().and_then(|v| v.parse::<u64>().ok());
            if let (Some(range), Some(0)) = (current.take(), anon) {
                out.push(range);
            }
        }
    }
    out
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn advise_dontneed(start: usize, len: usize) -> bool {
    // SAFETY: the range is a whole read-only, private file mapping of our own
    // executable with no page copied on write (checked from smaps just
    // before): after MADV_DONTNEED every page reads back from the file
    // exactly as it was. Nothing in driftd makes these mappings writable.
    unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) == 0 }
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

    #[test]
    fn a_users_allocator_setting_wins() {
        let t = Some("glibc.malloc.tcache_count=0:glibc.malloc.arena_max=4");
        assert!(super::user_set("DRIFTD_TEST_UNSET_VAR", "arena_max", t));
        assert!(!super::user_set(
            "DRIFTD_TEST_UNSET_VAR",
            "mmap_threshold",
            t
        ));
        assert!(!super::user_set("DRIFTD_TEST_UNSET_VAR", "arena_max", None));
        assert!(!super::user_set(
            "DRIFTD_TEST_UNSET_VAR",
            "arena_max",
            Some("glibc.malloc.arena_max_x=1")
        ));
    }

    #[test]
    fn only_clean_read_only_mappings_of_the_executable_are_released() {
        let smaps = "\
55d0a0000000-55d0a0400000 r--p 00000000 fd:01 123 /usr/bin/driftd
Rss:                1024 kB
Anonymous:             0 kB
55d0a0400000-55d0a2000000 r-xp 00400000 fd:01 123 /usr/bin/driftd
Rss:               20000 kB
Anonymous:             0 kB
55d0a2000000-55d0a2200000 r--p 02000000 fd:01 123 /usr/bin/driftd
Anonymous:           512 kB
55d0a2200000-55d0a2300000 rw-p 02200000 fd:01 123 /usr/bin/driftd
Anonymous:           100 kB
7f0000000000-7f0000100000 r-xp 00000000 fd:01 9 /usr/lib/libc.so.6
Anonymous:             0 kB
7f0000200000-7f0000300000 r-xp 00000000 fd:01 9 /usr/bin/driftd (deleted)
Anonymous:             0 kB
7f0000400000-7f0000500000 rw-p 00000000 00:00 0
Anonymous:          1024 kB
";
        assert_eq!(
            super::clean_exe_mappings(smaps, "/usr/bin/driftd"),
            vec![
                (0x55d0a0000000, 0x55d0a0400000),
                (0x55d0a0400000, 0x55d0a2000000)
            ]
        );
    }

    #[test]
    fn releasing_code_keeps_the_process_running() {
        // The test binary's own code and constants: released, then run again.
        let advised = super::release_code();
        assert!(cfg!(not(target_os = "linux")) || advised > 0);
        let v: Vec<u64> = (0..1000).map(|i| i * 3).collect();
        assert_eq!(v.iter().sum::<u64>(), 1_498_500);
        assert!(super::release_code() > 0 || cfg!(not(target_os = "linux")));
    }
}
