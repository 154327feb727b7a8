//! The allocator settings of the `segplan` binary (and of the benchmarks that stand for it).
//!
//! The binary runs on mimalloc: with glibc's allocator a third of a large render went to
//! `malloc`, `free` and heap consolidation. Two of mimalloc's defaults suit long-running
//! servers, not a command that runs for a second: returning freed pages to the OS only to fault
//! them in again moments later, and transparent huge pages, which the kernel must clear (and
//! compact memory for). Each cost more system time than a large render's own work
//! (docs/performance.md).

/// `mi_option_purge_delay` and `mi_option_allow_thp` in mimalloc v3's `mi_option_t`;
/// `libmimalloc-sys` has no constants for them. Its version is pinned by Cargo.lock, and the
/// test below checks that the numbers still name these options.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Keeps freed memory in the process and turns transparent huge pages off. Call it first in
/// `main`, in a program whose global allocator is `mimalloc::MiMalloc`.
pub fn configure_mimalloc() {
    // SAFETY: setting an option is thread-safe in mimalloc and takes no pointers.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0);
    }
}

/// `(purge delay, allow THP)` as mimalloc reports them.
pub fn mimalloc_options() -> (i64, i64) {
    // SAFETY: reading an option takes no pointers.
    unsafe {
        (
            libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) as i64,
            libmimalloc_sys::mi_option_get(MI_OPTION_ALLOW_THP) as i64,
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_option_numbers_name_purge_delay_and_transparent_huge_pages() {
        // mimalloc v3's defaults identify the options behind the numbers: a 1000 ms purge
        // delay and THP allowed. (The test process does not allocate through mimalloc; its
        // options are global all the same.)
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none()
            && std::env::var_os("MIMALLOC_ALLOW_THP").is_none()
        {
            assert_eq!(super::mimalloc_options(), (1000, 1));
        }
        super::configure_mimalloc();
        assert_eq!(super::mimalloc_options(), (-1, 0));
    }
}
