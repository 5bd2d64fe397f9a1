//! Giving the heap's free pages back once a burst of work is over. A
//! request (Create above all: the bundle's config, the runtime's output)
//! allocates and frees far more than an idle shim keeps; small blocks that
//! outlive it sit above the freed ones, so glibc cannot shrink the heap
//! from the top and the freed pages stay resident for the shim's life
//! (measured: 160 KiB free of a 184 KiB heap in an idle shim).

/// Returns the whole free pages of the heap to the kernel; what is in use
/// stays, and a later allocation gets fresh zeroed pages.
pub fn release_free() {
    // SAFETY: malloc_trim only takes the allocator's own locks and
    // madvises pages no allocation holds; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}
