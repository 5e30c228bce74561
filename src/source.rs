//! Where part bytes come from: a file read with positional reads, or memory shared with JavaScript.
//!
//! A part body is produced fresh for every try of a request, hashed (CRC-64) while it is produced, and
//! never held whole: file parts stream in chunks of at most [`CHUNK`] bytes.

use std::fs::File;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::Stream;

use crate::crc64::{self, Crc64};
use crate::error::Error;

/// Size of one read from a file (and of one body chunk handed to the socket).
pub const CHUNK: usize = 1024 * 1024;

#[derive(Clone)]
pub enum Source {
    File(Arc<FileSource>),
    /// Bytes that stay where they are (a JS Buffer is wrapped without a copy).
    Memory(Bytes),
    /// Several pieces of memory sent as one body, in order (a part cut from a stream's chunks).
    Chunks(Arc<Chunks>),
}

/// Pieces of memory that make one body, with their total length.
pub struct Chunks {
    pieces: Vec<Bytes>,
    len: u64,
}

impl Chunks {
    pub fn new(pieces: Vec<Bytes>) -> Self {
        let len = pieces.iter().map(|p| p.len() as u64).sum();
        Chunks { pieces, len }
    }

    /// The pieces overlapping `[start, end)`, each cut to its overlap (zero-copy slices).
    fn range(&self, start: u64, end: u64) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut pos = 0u64;
        for piece in &self.pieces {
            let (a, b) = (pos, pos + piece.len() as u64);
            pos = b;
            if b <= start || a >= end {
                continue;
            }
            let from = start.saturating_sub(a) as usize;
            let to = (end.min(b) - a) as usize;
            out.push(piece.slice(from..to));
        }
        out
    }
}

pub struct FileSource {
    pub path: String,
    identity: FileIdentity,
    file: File,
    size: u64,
    /// Chunk buffers, reused for the whole upload (no allocation, zeroing or page faults per chunk).
    pool: Arc<ChunkPool>,
}

impl Source {
    /// Opens a file for reading parts; a missing path, a directory or an unreadable file is a clear error.
    /// The file's identity (size, mtime, ctime, inode, device) is taken now, before any part is read, so
    /// [`Source::check_unchanged`] can tell whether it changed during the upload.
    ///
    /// A file whose `stat` size is 0 may still have content (`/proc/self/status` and other pseudo-files):
    /// it is read to its end now, at most [`PSEUDO_FILE_MAX`] bytes, and uploaded from memory.
    pub fn open_file(path: &str) -> Result<Source, Error> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, "stat", &e))?;
        if !meta.is_file() {
            return Err(Error::invalid(format!("{path} is not file")));
        }
        let mut file = File::open(path).map_err(|e| Error::io(path, "open", &e))?;
        if meta.len() == 0 {
            return read_unsized(path, &mut file).map(Source::Memory);
        }
        Ok(Source::File(Arc::new(FileSource {
            path: path.to_string(),
            identity: FileIdentity::of(&meta),
            file,
            size: meta.len(),
            pool: Arc::new(ChunkPool::default()),
        })))
    }

    /// Fails with [`Error::FileChanged`] when the file is no longer the one whose identity was taken at
    /// open (written to, truncated, replaced). Memory never changes.
    pub fn check_unchanged(&self) -> Result<(), Error> {
        let Source::File(f) = self else {
            return Ok(());
        };
        let now = std::fs::metadata(&f.path)
            .map(|m| FileIdentity::of(&m))
            .map_err(|e| {
                Error::FileChanged(format!(
                    "{} changed during the upload: it can no longer be read ({e}); the upload was not completed",
                    f.path
                ))
            })?;
        match f.identity.difference(&now) {
            None => Ok(()),
            Some(what) => Err(Error::FileChanged(format!(
                "{} changed during the upload ({what}); the upload was not completed",
                f.path
            ))),
        }
    }

    pub fn len(&self) -> u64 {
        match self {
            Source::File(f) => f.size,
            Source::Memory(b) => b.len() as u64,
            Source::Chunks(c) => c.len,
        }
    }

    /// A body for bytes `[start, end)` and the handle that yields their CRC-64 once the body was sent.
    /// Both kinds stream in chunks of at most [`CHUNK`] bytes (memory without copying), hashed as they go;
    /// every chunk handed to the socket is also added to `sent`, when given (byte-level progress).
    pub fn body(
        &self,
        start: u64,
        end: u64,
        sent: Option<Arc<AtomicU64>>,
    ) -> (reqwest::Body, PartHash) {
        let hash = PartHash::streaming(sent);
        let stream: BoxChunks = match self {
            Source::Memory(bytes) => {
                Box::pin(memory_stream(bytes.clone(), start, end, hash.clone()))
            }
            Source::File(file) => Box::pin(file_stream(file.clone(), start, end, hash.clone())),
            Source::Chunks(chunks) => {
                Box::pin(chunks_stream(chunks.range(start, end), hash.clone()))
            }
        };
        (reqwest::Body::wrap_stream(stream), hash)
    }

    /// The CRC-64 of bytes `[start, end)`, read now (used for parts uploaded by an earlier run).
    pub async fn crc_of(&self, start: u64, end: u64) -> Result<u64, Error> {
        match self {
            Source::Memory(bytes) => Ok(crc64::crc64(&bytes[start as usize..end as usize])),
            Source::Chunks(chunks) => {
                let mut crc = Crc64::new();
                for piece in chunks.range(start, end) {
                    crc.update(&piece);
                }
                Ok(crc.finish())
            }
            Source::File(file) => {
                let file = file.clone();
                tokio::task::spawn_blocking(move || {
                    let mut crc = Crc64::new();
                    let mut buf = vec![0u8; CHUNK.min((end - start) as usize)];
                    let mut pos = start;
                    while pos < end {
                        let n = ((end - pos) as usize).min(buf.len());
                        file.read_exact_at_checked(&mut buf[..n], pos)?;
                        crc.update(&buf[..n]);
                        pos += n as u64;
                    }
                    Ok(crc.finish())
                })
                .await
                .map_err(|e| Error::internal(format!("read task failed: {e}")))?
            }
        }
    }
}

impl FileSource {
    /// The file ended at byte `at`, before the part being read: it changed during the upload.
    fn ended_at(&self, at: u64) -> Error {
        Error::FileChanged(format!(
            "{} changed during the upload: it ended at byte {at} while a part was read; the upload was not completed",
            self.path
        ))
    }

    fn read_exact_at_checked(&self, buf: &mut [u8], offset: u64) -> Result<(), Error> {
        let mut done = 0;
        while done < buf.len() {
            match read_at(&self.file, &mut buf[done..], offset + done as u64) {
                Ok(0) => return Err(self.ended_at(offset + done as u64)),
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(&self.path, "read", &e)),
            }
        }
        Ok(())
    }

    /// Reads as much of `buf` as the page cache holds right now, without waiting for the disk
    /// (`preadv2` with `RWF_NOWAIT`); 0 when nothing is cached or the kernel does not support it.
    ///
    /// The system call is made directly rather than through the C library's `preadv2` wrapper: glibc
    /// only has that wrapper since 2.26 (and musl since 1.1.17), so calling it would raise the lowest
    /// glibc the prebuilt binary loads on from 2.17 to 2.26. The kernel has the call since 4.6 and
    /// `RWF_NOWAIT` since 4.14; an older kernel answers ENOSYS or EOPNOTSUPP, which, like EAGAIN
    /// (not cached), means "read it on a blocking thread".
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    fn read_cached_at(&self, buf: &mut [u8], offset: u64) -> usize {
        use std::os::fd::AsRawFd;
        let Ok(off) = libc::c_long::try_from(offset) else {
            return 0;
        };
        let iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // Every argument as a full register: `syscall` is variadic and the kernel reads fd and iovcnt
        // as `unsigned long`.
        let fd = libc::c_long::from(self.file.as_raw_fd());
        let iovcnt: libc::c_long = 1;
        let pos_h: libc::c_long = 0;
        let flags = libc::c_long::from(libc::RWF_NOWAIT);
        // SAFETY: preadv2(fd, iov, iovcnt, pos_l, pos_h, flags). `iov` describes `buf`, which is valid
        // for writes of `buf.len()` bytes and borrowed mutably for the whole call; the descriptor stays
        // open because `self.file` is borrowed. On a 64-bit kernel the whole offset goes in `pos_l` and
        // `pos_h` is ignored (0). The kernel writes at most `iov_len` bytes and returns their count or -1.
        let n = unsafe {
            libc::syscall(
                libc::SYS_preadv2,
                fd,
                &iov as *const libc::iovec,
                iovcnt,
                off,
                pos_h,
                flags,
            )
        };
        usize::try_from(n).unwrap_or(0)
    }

    /// Elsewhere every read goes to a blocking thread.
    #[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
    fn read_cached_at(&self, _buf: &mut [u8], _offset: u64) -> usize {
        0
    }
}

/// The most a file that `stat` says is empty is read into memory (pseudo-files are small).
pub const PSEUDO_FILE_MAX: u64 = 64 * 1024 * 1024;

/// Reads a file whose size `stat` does not know, to its end, bounded by [`PSEUDO_FILE_MAX`].
fn read_unsized(path: &str, file: &mut File) -> Result<Bytes, Error> {
    use std::io::Read;
    let mut buf = Vec::new();
    file.by_ref()
        .take(PSEUDO_FILE_MAX + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, "read", &e))?;
    if buf.len() as u64 > PSEUDO_FILE_MAX {
        return Err(Error::invalid(format!(
            "{path} reports a size of 0 bytes but holds more than {PSEUDO_FILE_MAX}: a file whose size is not known from stat is read into memory, and this one is too big; upload it as a stream"
        )));
    }
    Ok(Bytes::from(buf))
}

/// What identifies one version of a file: taken when the upload starts and compared before Complete.
/// On Unix: size, mtime and ctime with nanoseconds, inode and device (an in-place write changes mtime and
/// ctime, a replacement changes the inode). Elsewhere: size and mtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIdentity {
    pub size: u64,
    pub mtime: Option<std::time::SystemTime>,
    #[cfg(unix)]
    pub ctime: (i64, i64),
    #[cfg(unix)]
    pub inode: u64,
    #[cfg(unix)]
    pub device: u64,
}

impl FileIdentity {
    pub fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        FileIdentity {
            size: meta.len(),
            mtime: meta.modified().ok(),
            #[cfg(unix)]
            ctime: (meta.ctime(), meta.ctime_nsec()),
            #[cfg(unix)]
            inode: meta.ino(),
            #[cfg(unix)]
            device: meta.dev(),
        }
    }

    /// What differs between `self` (then) and `now`, in words; `None` when they are the same file version.
    pub fn difference(&self, now: &FileIdentity) -> Option<String> {
        if self.size != now.size {
            return Some(format!(
                "its size went from {} to {} bytes",
                self.size, now.size
            ));
        }
        #[cfg(unix)]
        if (self.inode, self.device) != (now.inode, now.device) {
            return Some("it was replaced by another file".into());
        }
        if self.mtime != now.mtime {
            return Some("its modification time changed".into());
        }
        #[cfg(unix)]
        if self.ctime != now.ctime {
            return Some("its change time (ctime) changed".into());
        }
        None
    }
}

/// One positional read (it never moves a shared file cursor that another read relies on, so parts
/// read concurrently from one handle). Unix: `pread`. Windows: `ReadFile` with an offset, which also
/// moves the handle's cursor, but nothing here reads from the cursor.
#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

type BoxChunks = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// The CRC-64 of a part body, filled in while the body streams out.
#[derive(Clone)]
pub struct PartHash(Arc<Mutex<HashState>>);

struct HashState {
    crc: Crc64,
    bytes: u64,
    finished: Option<u64>,
    error: Option<Error>,
    /// The upload-wide count of bytes handed to the socket.
    sent: Option<Arc<AtomicU64>>,
}

impl PartHash {
    fn streaming(sent: Option<Arc<AtomicU64>>) -> Self {
        PartHash(Arc::new(Mutex::new(HashState {
            crc: Crc64::new(),
            bytes: 0,
            finished: None,
            error: None,
            sent,
        })))
    }

    fn add(&self, chunk: &[u8], finished: bool) {
        let mut s = lock(&self.0);
        s.crc.update(chunk);
        s.bytes += chunk.len() as u64;
        if finished {
            s.finished = Some(s.crc.finish());
        }
        if let Some(sent) = &s.sent {
            sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
    }

    fn fail(&self, e: Error) {
        lock(&self.0).error = Some(e);
    }

    /// How many bytes of the body were produced so far.
    pub fn bytes(&self) -> u64 {
        lock(&self.0).bytes
    }

    /// Whether the whole body was produced.
    pub fn is_finished(&self) -> bool {
        lock(&self.0).finished.is_some()
    }

    /// Takes this attempt's bytes back out of the upload-wide count (the attempt failed and will be re-sent).
    pub fn retract(&self) {
        let s = lock(&self.0);
        if let Some(sent) = &s.sent {
            sent.fetch_sub(s.bytes, Ordering::Relaxed);
        }
    }

    /// The CRC once every byte was produced, or the read error that stopped the body.
    pub fn result(&self) -> Result<Option<u64>, Error> {
        let s = self
            .0
            .lock()
            .map_err(|_| Error::internal("hash state poisoned"))?;
        match &s.error {
            Some(e) => Err(e.clone()),
            None => Ok(s.finished),
        }
    }

    /// The read error that stopped the body, if any.
    pub fn error(&self) -> Option<Error> {
        lock(&self.0).error.clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Zero-copy chunks of memory, hashed as they are handed out.
fn memory_stream(
    bytes: Bytes,
    start: u64,
    end: u64,
    hash: PartHash,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::iter((start..end).step_by(CHUNK).map(move |pos| {
        let stop = (pos + CHUNK as u64).min(end);
        let chunk = bytes.slice(pos as usize..stop as usize);
        hash.add(&chunk, stop >= end);
        Ok(chunk)
    }))
}

/// Pieces of memory handed out as they are (zero-copy), hashed as they go.
fn chunks_stream(
    pieces: Vec<Bytes>,
    hash: PartHash,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let last = pieces.len();
    futures_util::stream::iter(pieces.into_iter().enumerate().map(move |(i, piece)| {
        hash.add(&piece, i + 1 == last);
        Ok(piece)
    }))
}

/// Free chunk buffers of [`CHUNK`] bytes. Buffers are created (zeroed) on demand and come back when the
/// socket is done with them, so the pool holds at most the peak number of chunks in flight.
#[derive(Default)]
struct ChunkPool {
    free: Mutex<Vec<Vec<u8>>>,
}

/// More free buffers than this are released instead of kept.
const POOL_KEEP: usize = 64;

impl ChunkPool {
    /// A buffer for a chunk of `n` bytes: a pooled [`CHUNK`]-sized one, or, for a short chunk when none is
    /// free, one of exactly `n` bytes (a small file's whole body: no 1 MiB allocation per file).
    fn take(&self, n: usize) -> Vec<u8> {
        lock(&self.free)
            .pop()
            .unwrap_or_else(|| vec![0u8; n.min(CHUNK)])
    }
}

/// A chunk on its way to the socket; its buffer returns to the pool when hyper drops it.
struct PooledChunk {
    buf: Vec<u8>,
    len: usize,
    pool: Arc<ChunkPool>,
}

impl AsRef<[u8]> for PooledChunk {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for PooledChunk {
    fn drop(&mut self) {
        if self.buf.len() != CHUNK {
            return;
        }
        let mut free = lock(&self.pool.free);
        if free.len() < POOL_KEEP {
            free.push(std::mem::take(&mut self.buf));
        }
    }
}

/// Streams bytes `[start, end)` of a file in chunks of at most [`CHUNK`] bytes, hashed as they are handed
/// out. On Linux each chunk is a memory map of that window of the file (src/mmap.rs: no copy into a
/// buffer), made and pre-faulted on a blocking thread, unmapped when hyper drops the chunk. Otherwise (other
/// systems, maps turned off or refused) a chunk is read into a pooled buffer: at once on the runtime thread
/// when the page cache holds it (the common case when uploading a file that was just written or read), else
/// on a blocking thread, so a slow disk never stalls the runtime.
fn file_stream(
    file: Arc<FileSource>,
    start: u64,
    end: u64,
    hash: PartHash,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(start, move |pos| {
        let file = file.clone();
        let hash = hash.clone();
        async move {
            if pos >= end {
                return None;
            }
            let n = ((end - pos) as usize).min(CHUNK);
            let last = pos + n as u64 >= end;
            #[cfg(target_os = "linux")]
            let mapped = mapped_chunk(&file, pos, n, &hash, last).await;
            #[cfg(not(target_os = "linux"))]
            let mapped = None;
            let chunk = match mapped {
                Some(mapped) => mapped,
                None => read_chunk(&file, pos, n)
                    .await
                    .inspect(|c| hash.add(c, last)),
            };
            match chunk {
                Ok(chunk) => Some((Ok(chunk), pos + n as u64)),
                Err(e) => {
                    let message = e.to_string();
                    hash.fail(e);
                    Some((Err(std::io::Error::other(message)), end))
                }
            }
        }
    })
}

/// Chunks smaller than this are read, not mapped: for a small file's body (or the short tail of a part) a
/// map's set-up, blocking-thread hop and unmap (a TLB flush on every core the process runs on) cost more than
/// the copy they save.
#[cfg(target_os = "linux")]
const MAP_MIN: usize = 512 * 1024;

/// `n` bytes at `pos` as a memory map, hashed; None when they are to be read instead. A chunk whose pages
/// were cut off by a truncation while the CRC pass read them (they read as zeros, see src/mmap.rs) is a
/// [`Error::FileChanged`].
#[cfg(target_os = "linux")]
async fn mapped_chunk(
    file: &Arc<FileSource>,
    pos: u64,
    n: usize,
    hash: &PartHash,
    last: bool,
) -> Option<Result<Bytes, Error>> {
    use crate::mmap::{MapError, Mapping};
    if n < MAP_MIN || !crate::mmap::enabled() {
        return None;
    }
    let f = file.clone();
    let map = match tokio::task::spawn_blocking(move || Mapping::new(&f.file, pos, n)).await {
        Ok(Ok(map)) => map,
        Ok(Err(MapError::Ended(at))) => return Some(Err(file.ended_at(at))),
        Ok(Err(MapError::Stat(e))) => return Some(Err(Error::io(&file.path, "stat", &e))),
        Ok(Err(MapError::Unavailable)) | Err(_) => return None,
    };
    hash.add(map.as_ref(), last);
    if map.faulted() {
        return Some(Err(Error::FileChanged(format!(
            "{} changed during the upload: part of it was gone when read (truncated, or an I/O error of its file system); the upload was not completed",
            file.path
        ))));
    }
    Some(Ok(Bytes::from_owner(map)))
}

/// `n` bytes at `pos` read into a pooled buffer.
async fn read_chunk(file: &Arc<FileSource>, pos: u64, n: usize) -> Result<Bytes, Error> {
    let mut buf = file.pool.take(n);
    let cached = file.read_cached_at(&mut buf[..n], pos);
    let buf = if cached == n {
        buf
    } else {
        let file = file.clone();
        tokio::task::spawn_blocking(move || {
            file.read_exact_at_checked(&mut buf[cached..n], pos + cached as u64)
                .map(|_| buf)
        })
        .await
        .unwrap_or_else(|e| Err(Error::internal(format!("read task failed: {e}"))))?
    };
    Ok(Bytes::from_owner(PooledChunk {
        buf,
        len: n,
        pool: file.pool.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn temp_file(data: &[u8]) -> String {
        let path = std::env::temp_dir().join(format!(
            "oss-turbo-source-{}-{}",
            std::process::id(),
            crc64::crc64(data)
        ));
        std::fs::write(&path, data).expect("write temp file");
        path.to_string_lossy().into_owned()
    }

    #[tokio::test]
    async fn file_parts_stream_in_chunks_and_hash_as_they_go() {
        let data: Vec<u8> = (0..(CHUNK * 2 + 17))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let path = temp_file(&data);
        let source = Source::open_file(&path).expect("open");
        assert_eq!(source.len(), data.len() as u64);
        let Source::File(f) = &source else {
            panic!("file source")
        };
        let hash = PartHash::streaming(None);
        let mut stream = Box::pin(file_stream(f.clone(), 5, data.len() as u64, hash.clone()));
        let mut got = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.expect("chunk");
            assert!(chunk.len() <= CHUNK);
            got.extend_from_slice(&chunk);
            chunks += 1;
        }
        assert_eq!(chunks, 3);
        assert_eq!(&got[..], &data[5..]);
        assert_eq!(
            hash.result().expect("no error"),
            Some(crc64::crc64(&data[5..]))
        );
        assert_eq!(
            source.crc_of(5, data.len() as u64).await.expect("crc"),
            crc64::crc64(&data[5..])
        );
        std::fs::remove_file(&path).ok();
    }

    /// The read path (other systems, or where a chunk cannot be mapped) gives the same bytes as the map.
    #[tokio::test]
    async fn read_and_mapped_chunks_hold_the_same_bytes() {
        let data: Vec<u8> = (0..(CHUNK + 4099)).map(|i| (i * 13 % 241) as u8).collect();
        let path = temp_file(&data);
        let source = Source::open_file(&path).expect("open");
        let Source::File(f) = &source else {
            panic!("file source")
        };
        let read = read_chunk(f, 4099, CHUNK).await.expect("read");
        assert_eq!(&read[..], &data[4099..]);
        let hash = PartHash::streaming(None);
        if let Some(mapped) = mapped_chunk(f, 4099, CHUNK, &hash, true).await {
            assert_eq!(&mapped.expect("mapped")[..], &data[4099..]);
            assert_eq!(
                hash.result().expect("no error"),
                Some(crc64::crc64(&data[4099..]))
            );
        }
        #[cfg(target_os = "linux")]
        assert!(
            crate::mmap::enabled(),
            "memory maps are on by default on Linux"
        );
        std::fs::remove_file(&path).ok();
    }

    #[tokio::test]
    async fn a_file_that_shrinks_is_an_error_not_a_short_part() {
        let path = temp_file(&[7u8; 1000]);
        let source = Source::open_file(&path).expect("open");
        let Source::File(f) = &source else {
            panic!("file source")
        };
        let hash = PartHash::streaming(None);
        let items: Vec<_> = file_stream(f.clone(), 0, 2000, hash.clone())
            .collect()
            .await;
        assert!(items.iter().any(|r| r.is_err()));
        let err = hash.error().expect("error kept");
        assert!(matches!(err, Error::FileChanged(_)), "{err}");
        assert!(err.to_string().contains("changed during the upload"));
        std::fs::remove_file(&path).ok();
    }

    /// The raw preadv2 call: what it returns is a prefix of the file at that offset, byte for byte, and
    /// on this machine's kernel (>= 4.14) a file just written is in the page cache, so it returns data
    /// (0 is allowed only where the file system refuses RWF_NOWAIT: then every read is a blocking one).
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    #[test]
    fn cached_reads_return_the_files_bytes() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 253) as u8).collect();
        let path = temp_file(&data);
        let source = Source::open_file(&path).expect("open");
        let Source::File(f) = &source else {
            panic!("file source")
        };
        let mut buf = vec![0u8; 100_000];
        let n = f.read_cached_at(&mut buf, 12_345);
        assert!(n <= buf.len());
        assert_eq!(&buf[..n], &data[12_345..12_345 + n]);
        let past_end = f.read_cached_at(&mut buf, data.len() as u64 + 10);
        assert_eq!(past_end, 0, "nothing past the end");
        eprintln!("read_cached_at: {n} bytes from the page cache");
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn the_identity_notices_writes_and_replacements() {
        let path = temp_file(b"identity: first version of the file");
        let source = Source::open_file(&path).expect("open");
        assert!(source.check_unchanged().is_ok());
        // Same size, new bytes: mtime/ctime move (the sleep makes that certain on coarse clocks).
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, b"identity: other version of the file").expect("rewrite");
        let err = source.check_unchanged().expect_err("changed");
        assert!(matches!(err, Error::FileChanged(_)), "{err}");
        assert_eq!(err.info(false).code.as_deref(), Some("FileChanged"));
        // A different size says so.
        std::fs::write(&path, b"short").expect("shrink");
        let err = source.check_unchanged().expect_err("changed");
        assert!(err.to_string().contains("size went from"), "{err}");
        // Memory never changes.
        assert!(Source::Memory(Bytes::from_static(b"x"))
            .check_unchanged()
            .is_ok());
        std::fs::remove_file(&path).ok();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_pseudo_file_is_read_to_its_end() {
        let source = Source::open_file("/proc/self/status").expect("open");
        let Source::Memory(bytes) = &source else {
            panic!("read into memory")
        };
        assert!(bytes.len() > 100, "{} bytes", bytes.len());
        assert!(bytes.starts_with(b"Name:"));
    }

    #[test]
    fn bad_paths_say_what_is_wrong() {
        let missing = Source::open_file("/nonexistent/oss-turbo/x")
            .err()
            .expect("error");
        let info = missing.info(false);
        assert_eq!(info.code.as_deref(), Some("ENOENT"));
        assert_eq!(
            info.message,
            "ENOENT: no such file or directory, stat '/nonexistent/oss-turbo/x'"
        );
        let dir = Source::open_file("/tmp").err().expect("error");
        assert!(dir.to_string().contains("is not file"), "{dir}");
    }
}
