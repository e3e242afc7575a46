//! Process memory: which allocator, how it is set up, and when freed memory
//! goes back to the system.
//!
//! Why this module exists: a scan builds and frees hundreds of megabytes in
//! phases (the raw state, its canonical projection, the live pages), from
//! several runtime threads at once, and a daemon should hold little between
//! scans.
//!
//! - **The allocator is mimalloc** ([`GLOBAL`], declared here so that the
//!   binary, the tests and the benchmark's in-process scenarios all run on
//!   the same one). glibc's was the scan's largest single cost: at 100,000
//!   instances (replay benchmark, CLI, 0 ms) a fifth of the samples were in
//!   `malloc`/`free` and another sixth in the kernel, waking threads queued on
//!   its arena lock (one arena: with glibc's default of 8 per core, freed
//!   memory of one thread's arena was not reused by another's and peak RSS
//!   was twice the peak heap). Measured on that run, same binary, the
//!   allocator swapped with `LD_PRELOAD`: glibc (1 arena, 1 MiB mmap
//!   threshold) 12.7-14.5 CPU-s and 243 MB peak RSS; mimalloc with purging
//!   at once 9.5-10.5 CPU-s and 224-226 MB; jemalloc 9.3 CPU-s but 304-310 MB
//!   (218-226 MB with its decay at 0, for more system time).
//! - [`init`] makes mimalloc hand freed pages back at once (`purge_delay` 0,
//!   where its default waits a second): the scan's phases free large amounts
//!   and the next phase should reuse or return them, not keep both; and it
//!   turns transparent huge pages off for the process (see [`init`]). A
//!   user's `MIMALLOC_PURGE_DELAY` or `MIMALLOC_ALLOW_THP` wins.
//! - [`release`] returns what is still held (`mi_collect(true)`) after a phase
//!   that freed a lot: once the states are parsed (their raw forms are
//!   dropped), and after a whole scan in the daemon.
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

/// The process's allocator (see the module docs).
#[global_allocator]
pub static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` and `mi_option_allow_thp`: their
/// indices in `mi_option_e` of its `mimalloc.h` (v3; libmimalloc-sys names
/// only the stable options). A test pins the enum's length, so an upgrade
/// that moves them fails there.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Set the allocator up; call once at the start of `main`, before threads.
///
/// Transparent huge pages are turned off for the process (mimalloc asks for
/// them on its arenas, and where the system's THP mode is `always` the
/// kernel gives them anyway): a 2 MiB page is resident as soon as one byte
/// of it is used and is only purged whole, which cost 15-20 MB of peak RSS
/// at 100,000 instances (256-259 MB against 234-240 MB) for no measurable
/// speed. `MIMALLOC_ALLOW_THP` and `MIMALLOC_PURGE_DELAY`, when set, win.
#[allow(unsafe_code)]
pub fn init() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set only changes an allocator parameter; it is
        // not thread-safe, and is called before any other thread exists.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) };
    }
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: as above.
        unsafe { libmimalloc_sys::mi_option_set(ALLOW_THP, 0) };
        // The arenas mapped before `main` were already advised; this flag
        // (checked at each fault, inherited by children) covers them and
        // the `always` mode.
        #[cfg(target_os = "linux")]
        // SAFETY: prctl(PR_SET_THP_DISABLE) only sets a flag of this process.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
}

/// Return freed memory to the system (after a phase that freed a lot).
#[allow(unsafe_code)]
pub fn release() {
    // SAFETY: mi_collect is thread-safe; it frees nothing still in use.
    unsafe { libmimalloc_sys::mi_collect(true) };
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

    /// The option indices above are positions in mimalloc's enum; its
    /// length changing means they may have moved (check `mimalloc.h`).
    #[test]
    fn mimallocs_options_are_where_the_indices_say() {
        assert_eq!(libmimalloc_sys::_mi_option_last, 47);
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
