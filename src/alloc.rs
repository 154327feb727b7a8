//! The allocator settings of the `segplan` binary (and of the benchmarks that stand for it).
//!
//! The binary runs on mimalloc: with glibc's allocator a third of a large render went to
//! `malloc`, `free` and heap consolidation. Two of mimalloc's defaults suit long-running
//! servers, not a command that runs for a second: returning freed pages to the OS only to fault
//! them in again moments later, and transparent huge pages, which the kernel must clear (and
//! compact memory for) on first touch. Each cost more system time than a large render's own
//! work (docs/performance.md).

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_t`; `libmimalloc-sys` has no constant
/// for it. Its version is pinned by Cargo.lock, and the test below checks that the number
/// still names this option.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory in the process and turns transparent huge pages off for it. Call it
/// first in `main`, in a program whose global allocator is `mimalloc::MiMalloc`.
pub fn configure_mimalloc() {
    // SAFETY: setting an option is thread-safe in mimalloc and takes no pointers.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    // mimalloc's own `allow_thp` option is read once, when it initialises before `main`; the
    // process flag it would set is checked by the kernel at every page fault, so setting it
    // here still applies to every page mimalloc touches from now on.
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments only.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// mimalloc's purge delay in milliseconds (-1: never).
pub fn purge_delay() -> i64 {
    // SAFETY: reading an option takes no pointers.
    unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) as i64 }
}

#[cfg(test)]
mod tests {
    #[test]
    fn purging_and_transparent_huge_pages_are_off() {
        // mimalloc v3's default identifies the option behind the number: a 1000 ms purge
        // delay. (The test process does not allocate through mimalloc; its options are global
        // all the same.)
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(super::purge_delay(), 1000);
        }
        super::configure_mimalloc();
        assert_eq!(super::purge_delay(), -1);
        #[cfg(target_os = "linux")]
        // SAFETY: PR_GET_THP_DISABLE takes integer arguments only.
        assert_eq!(
            unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) },
            1
        );
    }
}
