//! The server's global allocator (`main.rs`): mimalloc, called the way C's
//! `malloc` calls it wherever a layout allows.
//!
//! # Implementation notes
//! The `mimalloc` crate's `MiMalloc` hands every allocation to
//! `mi_malloc_aligned` with the layout's alignment, 8 for nearly all of
//! them. mimalloc 3 (that crate's default) serves such a call as plain
//! `mi_malloc` only when the size class already has a free block at hand
//! and the size is at most 1 KiB. Otherwise it counts an alignment of 8 as
//! a constraint to meet: a size that is not a power of two is allocated
//! `align - 1` bytes larger, in the next size class up, and its page is
//! marked as holding interior pointers, which every later free of that
//! page pays for (`mi_malloc_is_naturally_aligned` in mimalloc's
//! `alloc-aligned.c`; upstream, purpleprotocol/mimalloc_rust#170). On
//! `deep` that was 4,400 of a request's 24,000 allocations, and 7 % of its
//! instructions inside the aligned paths (callgrind, BENCHMARKS.md).
//!
//! mimalloc aligns every block of 16 bytes or more to 16 and every smaller
//! one to the word (its `alloc.c` asserts the first), so a layout whose
//! alignment is at most 16 and at most its size gets what it needs from
//! the plain calls. Any other layout keeps the aligned ones. With
//! libmimalloc-sys's `override` feature (Cargo.toml) the same mimalloc is
//! also the C library's `malloc`, which the bundled SQLite calls.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// Alignment every mimalloc block at least as large has (`MI_MAX_ALIGN_SIZE`).
const PLAIN_ALIGN: usize = 16;

/// mimalloc as the global allocator (see the module notes).
pub struct Mimalloc;

/// Whether a block from the plain calls meets `align` for `size` bytes.
fn plain(align: usize, size: usize) -> bool {
    align <= PLAIN_ALIGN && align <= size
}

// SAFETY: every pointer handed out comes from mimalloc and is aligned as
// the layout asks (see `plain`); mimalloc's free and realloc take a pointer
// from any of its allocation calls, aligned or not.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain FFI calls with a size and a power-of-two alignment.
        unsafe {
            if plain(layout.align(), layout.size()) {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            if plain(layout.align(), layout.size()) {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator, so from mimalloc.
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator; mimalloc keeps the
        // contents up to the smaller size, as `GlobalAlloc` asks.
        unsafe {
            if plain(layout.align(), new_size) {
                mi::mi_realloc(ptr.cast(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Layouts of every size up to 4 KiB and a few past it, at every
    /// alignment a Rust type has in practice and some beyond, many of each
    /// so that size classes fill pages and move to fresh ones: every block
    /// is aligned as asked, holds what was written to it, and keeps it
    /// through a realloc that grows and one that shrinks.
    #[test]
    fn every_block_is_aligned_as_asked_and_keeps_its_bytes() {
        let sizes = (1..=4096).step_by(7).chain([8192, 65_536, 1 << 20]);
        for size in sizes {
            for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
                let layout = Layout::from_size_align(size, align).expect("a valid layout");
                let blocks: Vec<*mut u8> = (0..40)
                    .map(|at| {
                        // SAFETY: a non-zero size; freed below.
                        let block = unsafe {
                            if at % 2 == 0 {
                                Mimalloc.alloc(layout)
                            } else {
                                Mimalloc.alloc_zeroed(layout)
                            }
                        };
                        assert!(!block.is_null());
                        assert_eq!(block.addr() % align, 0, "size {size}, align {align}");
                        if at % 2 == 1 {
                            // SAFETY: `size` bytes were just allocated.
                            let bytes = unsafe { std::slice::from_raw_parts(block, size) };
                            assert!(bytes.iter().all(|&byte| byte == 0));
                        }
                        // SAFETY: as above.
                        unsafe { block.write_bytes(at as u8, size) };
                        block
                    })
                    .collect();
                for (at, block) in blocks.into_iter().enumerate() {
                    let grown = size * 3 + 5;
                    // SAFETY: `block` came from `Mimalloc` with `layout`.
                    let block = unsafe { Mimalloc.realloc(block, layout, grown) };
                    assert_eq!(block.addr() % align, 0, "grown from {size}, align {align}");
                    // SAFETY: the first `size` bytes were kept.
                    let kept = unsafe { std::slice::from_raw_parts(block, size) };
                    assert!(kept.iter().all(|&byte| byte == at as u8));
                    let grown_layout = Layout::from_size_align(grown, align).expect("valid");
                    let shrunk = size.div_ceil(2);
                    // SAFETY: `block` is now of `grown_layout`.
                    let block = unsafe { Mimalloc.realloc(block, grown_layout, shrunk) };
                    assert_eq!(block.addr() % align, 0, "shrunk to {shrunk}, align {align}");
                    // SAFETY: the first `shrunk` bytes were kept.
                    let kept = unsafe { std::slice::from_raw_parts(block, shrunk) };
                    assert!(kept.iter().all(|&byte| byte == at as u8));
                    let shrunk_layout = Layout::from_size_align(shrunk, align).expect("valid");
                    // SAFETY: `block` is of `shrunk_layout` and freed once.
                    unsafe { Mimalloc.dealloc(block, shrunk_layout) };
                }
            }
        }
    }
}
