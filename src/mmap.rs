//! Part bodies served from a read-only memory map of the file (Linux, cargo feature `mmap`): the CRC-64
//! runs over the mapped page-cache pages and the body chunks handed to the socket are slices of the
//! mapping, so the copy into a read buffer is gone (the kernel's copy into the socket stays).
//!
//! Measured against the default positional-read path with `npm run bench -- --variant`; see
//! bench/ANALYSIS.md for the result and why it is not the default.
//!
//! SIGBUS: touching a mapped page past the end of a file that was truncated after it was mapped raises
//! SIGBUS, which kills the process. The length is checked against `fstat` right before mapping (a file that
//! is already shorter is a clear error, like a short read), and the whole range is pre-faulted with
//! `MAP_POPULATE`; a truncation in the microseconds-to-milliseconds window between that check and the CRC
//! pass over the part still kills the process. This cannot be guarded without a signal handler, which is
//! why the path is opt-in.

use std::fs::File;
use std::os::fd::AsRawFd;

/// A read-only shared mapping of bytes `[start, start + len)` of a file.
pub struct Mapping {
    base: *mut libc::c_void,
    map_len: usize,
    /// Offset of `start` inside the mapping (the mapping starts at a page boundary).
    skew: usize,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by this value alone (unmapped once, in Drop); the bytes it
// exposes are only ever read, so sharing or moving it across threads is sound.
unsafe impl Send for Mapping {}
// SAFETY: see `Send`: `&Mapping` only gives out `&[u8]`.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `[start, start + len)` of `file` (pre-faulted), after checking that the file still holds it.
    /// Blocking: may read from disk; call it on a blocking thread.
    pub fn new(file: &File, path: &str, start: u64, len: usize) -> Result<Mapping, String> {
        let end = start + len as u64;
        let size = file.metadata().map_err(|e| format!("{path}: {e}"))?.len();
        if size < end {
            return Err(format!(
                "{path}: file ended at byte {size} while reading a part; it changed during the upload"
            ));
        }
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let page = u64::try_from(page).ok().filter(|p| *p > 0).unwrap_or(4096);
        let aligned = start - start % page;
        let skew = (start - aligned) as usize;
        let map_len = skew + len;
        let offset =
            libc::off_t::try_from(aligned).map_err(|_| format!("{path}: offset too large"))?;
        // SAFETY: a fresh read-only shared mapping of an open descriptor (borrowed for the call) at a
        // page-aligned offset; the kernel picks the address. The result is checked for MAP_FAILED.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                file.as_raw_fd(),
                offset,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(format!("{path}: mmap: {}", std::io::Error::last_os_error()));
        }
        Ok(Mapping {
            base,
            map_len,
            skew,
            len,
        })
    }
}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `base..base + map_len` is a live PROT_READ mapping owned by `self` (unmapped only in
        // Drop), and `skew + len == map_len`. The file held these bytes when mapped (checked in `new`).
        unsafe { std::slice::from_raw_parts(self.base.cast::<u8>().add(self.skew), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base`/`map_len` are exactly what mmap returned, unmapped once; no slice of it outlives
        // `self` (chunks hold the mapping through `Bytes::from_owner`).
        unsafe {
            libc::munmap(self.base, self.map_len);
        }
    }
}
