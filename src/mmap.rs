//! Part bodies served from read-only memory maps of the file (Linux): the CRC-64 runs over the mapped
//! page-cache pages and the body chunks handed to the socket are slices of the mapping, so the copy into
//! a read buffer is gone (the kernel's copy into the socket, or TLS's into its records, stays). Measured
//! against positional reads in bench/ANALYSIS.md (§ 10): about a third less CPU per GiB.
//!
//! SIGBUS. Touching a mapped page past the end of a file that was truncated after it was mapped raises
//! SIGBUS, whose default action kills the process — for an upload library, an app crash because a user
//! truncated a file. So every live mapping is registered in a fixed table, and a SIGBUS handler
//! (installed once, before the first mapping) looks the faulting address up: inside one of our mappings,
//! it puts a zero page over the faulting page, marks the mapping as faulted and returns, so the read goes
//! on and sees zeros. The chunk is then refused ([`Mapping::faulted`] is checked after the CRC pass over
//! it, and the part's CRC-64 is compared with the server's anyway), the file-identity check before
//! Complete reports `FileChanged`, and nothing wrong is stored. A SIGBUS anywhere else is passed on to
//! the handler that was there before (or to the default action), as if ours did not exist.
//!
//! When the handler cannot be installed or the table is full, chunks are read with positional reads as on
//! other systems. `OSS_TURBO_MMAP=0` in the environment turns memory maps off for the whole process.

use std::cell::UnsafeCell;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// A read-only shared mapping of bytes `[start, start + len)` of a file, registered with the SIGBUS guard
/// for as long as it lives.
pub struct Mapping {
    base: *mut libc::c_void,
    map_len: usize,
    /// Offset of `start` inside the mapping (the mapping starts at a page boundary).
    skew: usize,
    len: usize,
    slot: usize,
}

// SAFETY: the mapping is read-only and owned by this value alone (unmapped once, in Drop); the bytes it
// exposes are only ever read, so sharing or moving it across threads is sound.
unsafe impl Send for Mapping {}
// SAFETY: see `Send`: `&Mapping` only gives out `&[u8]`.
unsafe impl Sync for Mapping {}

/// Why a chunk could not be mapped.
#[derive(Debug)]
pub enum MapError {
    /// The file now ends at this byte, before the end of the chunk: it changed during the upload.
    Ended(u64),
    /// The file could not be stat'ed.
    Stat(std::io::Error),
    /// Memory maps are off, unguarded, out of table slots, or refused by the file system: read the chunk.
    Unavailable,
}

/// Whether chunks may be mapped in this process: not turned off by `OSS_TURBO_MMAP=0`, and the SIGBUS
/// guard is installed.
pub fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        std::env::var("OSS_TURBO_MMAP").map_or(true, |v| v != "0") && guard::install()
    })
}

impl Mapping {
    /// Maps `[start, start + len)` of `file` (pre-faulted), after checking that the file still holds it.
    /// Blocking: may read from disk; call it on a blocking thread.
    pub fn new(file: &File, start: u64, len: usize) -> Result<Mapping, MapError> {
        if !enabled() || len == 0 {
            return Err(MapError::Unavailable);
        }
        let size = file.metadata().map_err(MapError::Stat)?.len();
        if size < start + len as u64 {
            return Err(MapError::Ended(size));
        }
        let page = guard::page_size() as u64;
        let aligned = start - start % page;
        let skew = (start - aligned) as usize;
        let map_len = skew + len;
        let offset = libc::off_t::try_from(aligned).map_err(|_| MapError::Unavailable)?;
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
            // Some file systems (and special files) cannot be mapped: read those instead.
            return Err(MapError::Unavailable);
        }
        let Some(slot) = guard::register(base as usize, map_len) else {
            // SAFETY: exactly what mmap returned, never exposed.
            unsafe { libc::munmap(base, map_len) };
            return Err(MapError::Unavailable);
        };
        Ok(Mapping {
            base,
            map_len,
            skew,
            len,
            slot,
        })
    }

    /// Whether a page of this mapping was past the file's end when touched (the file was truncated after
    /// it was mapped); its bytes then read as zeros, and the chunk must not be used.
    pub fn faulted(&self) -> bool {
        guard::faulted(self.slot)
    }
}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `base..base + map_len` is a live PROT_READ mapping owned by `self` (unmapped only in
        // Drop), and `skew + len == map_len`. A page the file no longer backs reads as zeros instead of
        // raising SIGBUS (the guard below), so every byte of the slice stays readable.
        unsafe { std::slice::from_raw_parts(self.base.cast::<u8>().add(self.skew), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base`/`map_len` are exactly what mmap returned, unmapped once; no slice of it outlives
        // `self` (chunks hold the mapping through `Bytes::from_owner`). Unmapping also removes any zero
        // page the guard put inside the range.
        unsafe {
            libc::munmap(self.base, self.map_len);
        }
        guard::release(self.slot);
    }
}

/// The SIGBUS guard: a table of live mappings that the signal handler can read without locks or
/// allocation, and the handler itself.
mod guard {
    use super::*;

    /// Mappings alive at once (one per chunk in flight: `parallel` × a few). When all are taken, further
    /// chunks are read instead of mapped.
    const SLOTS: usize = 512;

    struct Slot {
        start: AtomicUsize,
        end: AtomicUsize,
        faulted: AtomicBool,
    }

    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: Slot = Slot {
        start: AtomicUsize::new(0),
        end: AtomicUsize::new(0),
        faulted: AtomicBool::new(false),
    };
    static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];
    static PAGE: AtomicUsize = AtomicUsize::new(4096);

    /// The SIGBUS action in place before ours, written once before ours is installed and only read after.
    struct Previous(UnsafeCell<std::mem::MaybeUninit<libc::sigaction>>);
    // SAFETY: written only inside `install`'s OnceLock initialiser, before the handler that reads it is
    // installed (the sigaction call orders the write before any delivery); never written again.
    unsafe impl Sync for Previous {}
    static PREVIOUS: Previous = Previous(UnsafeCell::new(std::mem::MaybeUninit::uninit()));

    pub fn page_size() -> usize {
        PAGE.load(Ordering::Relaxed)
    }

    /// Installs the handler once; false when the system refused it (then nothing is mapped).
    pub fn install() -> bool {
        static INSTALLED: OnceLock<bool> = OnceLock::new();
        *INSTALLED.get_or_init(|| {
            // SAFETY: sysconf has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            if let Ok(p) = usize::try_from(page) {
                if p.is_power_of_two() {
                    PAGE.store(p, Ordering::Relaxed);
                }
            }
            // SAFETY: reading the current action into PREVIOUS (nothing reads it yet: our handler is not
            // installed), then installing ours with an empty mask. `sigaction` structs are plain data.
            unsafe {
                let prev = (*PREVIOUS.0.get()).as_mut_ptr();
                if libc::sigaction(libc::SIGBUS, std::ptr::null(), prev) != 0 {
                    return false;
                }
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_sigbus as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) == 0
            }
        })
    }

    /// Claims a slot for `[start, start + len)`; None when the table is full.
    pub fn register(start: usize, len: usize) -> Option<usize> {
        for (i, slot) in TABLE.iter().enumerate() {
            if slot
                .start
                .compare_exchange(0, start, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                slot.faulted.store(false, Ordering::Release);
                slot.end.store(start + len, Ordering::Release);
                return Some(i);
            }
        }
        None
    }

    pub fn faulted(i: usize) -> bool {
        TABLE[i].faulted.load(Ordering::Acquire)
    }

    /// Frees a slot (after its range was unmapped).
    pub fn release(i: usize) {
        TABLE[i].end.store(0, Ordering::Release);
        TABLE[i].start.store(0, Ordering::Release);
    }

    /// Runs on the thread that touched the page. Only async-signal-safe work: atomic loads and stores, and
    /// the `mmap`/`sigaction` system calls.
    extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: the kernel passes a valid siginfo_t for a handler installed with SA_SIGINFO; for SIGBUS
        // `si_addr` is the faulting address.
        let addr = unsafe { (*info).si_addr() } as usize;
        for slot in TABLE.iter() {
            let start = slot.start.load(Ordering::Acquire);
            let end = slot.end.load(Ordering::Acquire);
            if start != 0 && start <= addr && addr < end {
                let page = addr & !(page_size() - 1);
                // SAFETY: replaces exactly one page inside a live mapping of ours (the range is registered
                // from mmap until just before munmap, and the faulting thread is reading it, so it cannot be
                // unmapped meanwhile) with a private zero page; nothing else is at that address.
                let zero = unsafe {
                    libc::mmap(
                        page as *mut libc::c_void,
                        page_size(),
                        libc::PROT_READ,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                        -1,
                        0,
                    )
                };
                if zero != libc::MAP_FAILED {
                    slot.faulted.store(true, Ordering::Release);
                    return; // the read is retried and sees zeros
                }
                break;
            }
        }
        // Not ours: what would have happened without us.
        // SAFETY: PREVIOUS was written before this handler was installed (see `install`).
        let prev = unsafe { (*PREVIOUS.0.get()).assume_init_ref() };
        let handler = prev.sa_sigaction;
        if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
            // Restore the default action and return: the faulting access runs again and the default
            // action (terminate with a core dump) applies to it.
            // SAFETY: a zeroed sigaction with SIG_DFL is a valid action.
            unsafe {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut());
            }
        } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the previous action was installed with SA_SIGINFO, so its handler has this signature.
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(handler) };
            f(sig, info, ctx);
        } else {
            // SAFETY: a handler installed without SA_SIGINFO takes only the signal number.
            let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
            f(sig);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The case the guard exists for: a file truncated after its pages were mapped. Without the guard the
    /// read below kills the test process with SIGBUS.
    #[test]
    fn a_truncated_file_reads_zeros_and_is_reported_instead_of_killing_the_process() {
        let path = std::env::temp_dir().join(format!("oss-turbo-mmap-{}", std::process::id()));
        let mut f = File::create(&path).unwrap();
        f.write_all(&vec![0xabu8; 64 * 1024]).unwrap();
        drop(f);
        let file = File::open(&path).unwrap();
        let Ok(map) = Mapping::new(&file, 4096, 32 * 1024) else {
            panic!("could not map the file");
        };
        assert!(map.as_ref().iter().all(|b| *b == 0xab));
        assert!(!map.faulted());

        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(8 * 1024)
            .unwrap();
        let bytes = map.as_ref();
        // The first page of the range (file bytes 4096..8192) is still backed; the rest is gone.
        assert!(bytes[..4096].iter().all(|b| *b == 0xab));
        assert!(bytes[4096..].iter().all(|b| *b == 0));
        assert!(map.faulted(), "the truncation must be reported");
        drop(map);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_file_already_shorter_than_the_chunk_is_not_mapped_and_says_where_it_ends() {
        let path =
            std::env::temp_dir().join(format!("oss-turbo-mmap-short-{}", std::process::id()));
        std::fs::write(&path, vec![1u8; 1000]).unwrap();
        let file = File::open(&path).unwrap();
        match Mapping::new(&file, 0, 4096) {
            Err(MapError::Ended(at)) => assert_eq!(at, 1000),
            Err(e) => panic!("wrong error: {e:?}"),
            Ok(_) => panic!("a short file must not be mapped"),
        }
        std::fs::remove_file(&path).unwrap();
    }
}
