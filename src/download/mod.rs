//! `get(name, filePath)`: a parallel, resumable, verified download into a file.
//!
//! One HEAD gives the object's size, ETag and CRC-64. Objects up to `part_size` are one GET; larger ones
//! are ranged GETs, `parallel` at a time, every one with `If-Match: <etag>` so an object overwritten
//! mid-download fails cleanly instead of mixing versions. Bytes go by positional writes into a temp file
//! beside the target (`<file>.<pid>-<n>.oss-turbo.tmp`), each range's CRC-64 is computed in the same pass
//! and the CRCs are combined and compared with the server's; then the temp file is fsynced and renamed
//! onto the target, so the target is never half written. Memory is bounded by `parallel` × [`CHUNK`].
//!
//! With a checkpoint file the finished ranges (and their CRCs) are recorded after each range, and a later
//! call for the same object version, bucket and target resumes from them.

pub mod checkpoint;

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderValue, IF_MATCH, RANGE};
use http::Method;
use tokio::sync::mpsc::UnboundedSender;

use crate::client::{CallOptions, CancelFlag, Client};
use crate::crc64::{self, Crc64};
use crate::debug;
use crate::error::Error;
use crate::http::{body_error, Request, Response};
use checkpoint::{DonePart, DownloadCheckpoint, Identity};

/// Default range size: 8 MiB.
pub const DEFAULT_PART_SIZE: u64 = 8 << 20;
/// Smallest range size accepted.
pub const MIN_PART_SIZE: u64 = 100 * 1024;
/// Bytes gathered from the network before one positional write (per range in flight).
pub const CHUNK: usize = 1 << 20;
/// Most chunks gathered into one vectored write (below every system's IOV_MAX).
const MAX_IOVECS: usize = 512;
/// How often byte progress is reported.
const TICK: Duration = Duration::from_millis(100);

/// One download, as the binding hands it over.
pub struct Download {
    /// Object key (already normalised).
    pub key: String,
    /// The target file (absolute).
    pub path: PathBuf,
    pub part_size: Option<u64>,
    pub parallel: usize,
    pub options: CallOptions,
    pub checkpoint_file: Option<PathBuf>,
    /// Report `Bytes` events about ten times a second.
    pub byte_progress: bool,
    /// This download's own cancel switch (`signal`).
    pub cancel: Arc<CancelFlag>,
}

#[derive(Debug)]
pub enum Event {
    Warning(String),
    Bytes {
        loaded: u64,
        total: u64,
    },
    /// The file is in place. `res` is the HEAD response (ali-oss's `res` of a whole-object GET has the
    /// same headers), with `rt` the whole download's duration.
    Done {
        res: Response,
        size: u64,
        resumed_bytes: u64,
    },
    Failed(Error),
}

/// Runs a download to its end, reporting through `events`; the last event is `Done` or `Failed`.
pub async fn run(client: Arc<Client>, dl: Download, events: UnboundedSender<Event>) {
    let loaded = Arc::new(AtomicU64::new(0));
    let total = Arc::new(AtomicU64::new(0));
    let ticker = dl.byte_progress.then(|| {
        let (loaded, total, events) = (loaded.clone(), total.clone(), events.clone());
        tokio::spawn(async move {
            let mut last = u64::MAX;
            loop {
                tokio::time::sleep(TICK).await;
                let now = loaded.load(Ordering::Relaxed);
                if now != last {
                    last = now;
                    let t = total.load(Ordering::Relaxed);
                    if events
                        .send(Event::Bytes {
                            loaded: now,
                            total: t,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
            }
        })
    });
    let cancel = dl.cancel.clone();
    let result = tokio::select! {
        r = download(&client, &dl, &loaded, &total, &events) => r,
        _ = cancel.cancelled() => Err(Error::Cancelled),
    };
    if let Some(t) = ticker {
        t.abort();
    }
    let event = match result {
        Ok(done) => {
            if dl.byte_progress {
                let t = total.load(Ordering::Relaxed);
                let _ = events.send(Event::Bytes {
                    loaded: t,
                    total: t,
                });
            }
            done
        }
        Err(e) => Event::Failed(e),
    };
    let _ = events.send(event);
}

/// The temp file of a download in progress. Dropped while it still holds the path (a failure, or the
/// download future dropped on cancel), it removes the temp file unless `keep` is set (a checkpoint file
/// names it for a resume), so a failed download leaves nothing behind unless it can be resumed.
struct TempGuard {
    temp: Option<PathBuf>,
    keep: bool,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(t) = self.temp.take() {
            if !self.keep {
                let _ = std::fs::remove_file(t);
            }
        }
    }
}

/// A range to fetch: bytes `[start, end)` as part `number` (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    number: u32,
    start: u64,
    end: u64,
}

fn ranges(size: u64, part_size: u64) -> Vec<Range> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut number = 1;
    while start < size {
        let end = (start + part_size).min(size);
        out.push(Range { number, start, end });
        start = end;
        number += 1;
    }
    out
}

/// The temp file's name beside `target`.
fn temp_path(target: &Path) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    target.with_file_name(format!("{name}.{}-{n}.oss-turbo.tmp", std::process::id()))
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Whether a failure means the saved progress is worthless (a resume must start over).
fn poisons_progress(e: &Error) -> bool {
    match e.root() {
        Error::Integrity(_) => true,
        Error::Server(s) => s.status == 412 || s.status == 404,
        _ => false,
    }
}

/// The download's phases: check the arguments, HEAD the object, resume or start the temp file, fetch the
/// missing ranges, verify the whole object's CRC-64, then fsync and rename into place.
async fn download(
    client: &Arc<Client>,
    dl: &Download,
    loaded: &Arc<AtomicU64>,
    total: &Arc<AtomicU64>,
    events: &UnboundedSender<Event>,
) -> Result<Event, Error> {
    let started = Instant::now();
    let part_size = check_arguments(dl)?;
    let object = head_object(client, dl).await?;
    let size = object.size;
    total.store(size, Ordering::Relaxed);

    let file_path = path_str(&dl.path);
    let bucket = client.bucket();
    let identity = Identity {
        bucket: bucket.as_deref(),
        name: &dl.key,
        file_path: &file_path,
        object_size: size,
        etag: &object.etag,
    };
    let resumed = load_resume(dl, &identity, events);
    let (temp, part_size, done) = start_from(resumed.as_ref(), dl, part_size);
    // Kept after a failure only once a checkpoint names it (a resume can use it).
    let mut guard = TempGuard {
        temp: Some(temp.clone()),
        keep: resumed.is_some(),
    };
    let temp_str = path_str(&temp);
    let file = Arc::new(open_temp(&temp, size, resumed.is_some())?);

    let all = plan_ranges(size, part_size);
    let resumed_bytes = bytes_done(&all, &done);
    loaded.store(resumed_bytes, Ordering::Relaxed);

    let cp = DownloadCheckpoint {
        kind: checkpoint::KIND.into(),
        bucket: bucket.clone(),
        name: dl.key.clone(),
        file_path: file_path.clone(),
        temp_path: temp_str.clone(),
        object_size: size,
        etag: object.etag.clone(),
        part_size,
        done_parts: done_parts(&done),
    };
    let state = Arc::new(Mutex::new(Progress { cp, done }));
    if let Some(cp_path) = &dl.checkpoint_file {
        if resumed.is_none() {
            save_checkpoint(cp_path, &state)?;
        }
        guard.keep = true; // a checkpoint names the temp file now
    }

    let shared = Arc::new(Shared {
        client: client.clone(),
        key: dl.key.clone(),
        etag: object.etag.clone(),
        ranged: all.len() > 1,
        file,
        temp: temp_str,
        options: dl.options.clone(),
        loaded: loaded.clone(),
        checkpoint_file: dl.checkpoint_file.clone(),
        state: state.clone(),
    });
    if let Err(e) = fetch_verify_finish(shared, &all, &object, dl, temp).await? {
        return Err(settle_failure(e, dl, &mut guard));
    }
    guard.temp = None;
    remove_checkpoint_after_success(dl, events);
    let mut res = object.head;
    res.rt_ms = started.elapsed().as_millis() as u64;
    Ok(Event::Done {
        res,
        size,
        resumed_bytes,
    })
}

/// Where the download starts: the checkpoint's temp file, range size and finished ranges on a resume,
/// else a new temp file and nothing done.
fn start_from(
    resumed: Option<&DownloadCheckpoint>,
    dl: &Download,
    part_size: u64,
) -> (PathBuf, u64, BTreeMap<u32, u64>) {
    match resumed {
        Some(cp) => (
            PathBuf::from(&cp.temp_path),
            cp.part_size,
            cp.done_parts.iter().map(|p| (p.number, p.crc64)).collect(),
        ),
        None => (temp_path(&dl.path), part_size, BTreeMap::new()),
    }
}

/// The bytes of the ranges already finished (a resume's head start).
fn bytes_done(all: &[Range], done: &BTreeMap<u32, u64>) -> u64 {
    all.iter()
        .filter(|r| done.contains_key(&r.number))
        .map(|r| r.end - r.start)
        .sum()
}

/// The checkpoint's list of finished ranges.
fn done_parts(done: &BTreeMap<u32, u64>) -> Vec<DonePart> {
    done.iter()
        .map(|(&number, &crc64)| DonePart { number, crc64 })
        .collect()
}

/// Fetches the missing ranges, verifies the CRC-64 and moves the file into place. The outer error
/// leaves the temp file and checkpoint as they are; the inner one goes through [`settle_failure`].
async fn fetch_verify_finish(
    shared: Arc<Shared>,
    all: &[Range],
    object: &ObjectInfo,
    dl: &Download,
    temp: PathBuf,
) -> Result<Result<(), Error>, Error> {
    if let Some(e) = fetch_all(&shared, all, dl.parallel).await {
        return Ok(Err(e));
    }
    if let Err(e) = verify_crc(&shared.state, all, object, &dl.key)? {
        return Ok(Err(e));
    }
    let file = shared.file.clone();
    drop(shared);
    Ok(finish_file(file, temp, dl.path.clone())
        .await?
        .map_err(|e| Error::io(&path_str(&dl.path), "rename", &e)))
}

/// The range size to use (the checkpoint's wins on a resume); a directory as target is refused.
fn check_arguments(dl: &Download) -> Result<u64, Error> {
    let part_size = match dl.part_size {
        None => DEFAULT_PART_SIZE,
        Some(p) if p >= MIN_PART_SIZE => p,
        Some(p) => {
            return Err(Error::invalid(format!(
                "partSize must be at least {MIN_PART_SIZE} bytes for a download, got {p}"
            )))
        }
    };
    if dl.path.is_dir() {
        return Err(Error::invalid(format!(
            "{} is a directory; give the file to download into",
            dl.path.display()
        )));
    }
    Ok(part_size)
}

/// What the HEAD says about the object.
struct ObjectInfo {
    head: Response,
    size: u64,
    etag: String,
    server_crc: Option<u64>,
}

async fn head_object(client: &Arc<Client>, dl: &Download) -> Result<ObjectInfo, Error> {
    let head = client.head(&dl.key, &dl.options).await?;
    if head.status != 200 {
        return Err(Error::protocol(format!(
            "HEAD {} answered {} instead of the object's metadata",
            dl.key, head.status
        )));
    }
    let size: u64 = head
        .header("content-length")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| Error::protocol("the object's HEAD has no Content-Length"))?;
    let etag = head
        .header("etag")
        .ok_or_else(|| Error::protocol("the object's HEAD has no ETag"))?
        .to_string();
    let server_crc: Option<u64> = head
        .header("x-oss-hash-crc64ecma")
        .and_then(|v| v.trim().parse().ok());
    Ok(ObjectInfo {
        head,
        size,
        etag,
        server_crc,
    })
}

/// The checkpoint to resume from, when there is one for this very object version and target; otherwise
/// a warning says why not (and a stale temp file of ours beside this target is removed).
fn load_resume(
    dl: &Download,
    identity: &Identity<'_>,
    events: &UnboundedSender<Event>,
) -> Option<DownloadCheckpoint> {
    let cp_path = dl.checkpoint_file.as_ref()?;
    let warn = |why: &dyn std::fmt::Display| {
        let _ = events.send(Event::Warning(format!(
            "oss-turbo: not resuming from {}: {why}; downloading from the start",
            cp_path.display()
        )));
    };
    match checkpoint::load(cp_path) {
        Ok(Some(cp)) => match cp.mismatch(identity) {
            None => {
                debug!(
                    "resuming the download of {} from {} ranges already in {}",
                    dl.key,
                    cp.done_parts.len(),
                    cp.temp_path
                );
                Some(cp)
            }
            Some(why) => {
                warn(&why);
                // A temp file of ours beside this target is garbage now.
                if cp.kind == checkpoint::KIND && cp.file_path == identity.file_path {
                    let _ = checkpoint::remove(Path::new(&cp.temp_path));
                }
                None
            }
        },
        Ok(None) => None,
        Err(why) => {
            warn(&why);
            None
        }
    }
}

/// The ranges of an object: one plain GET (no Range, still If-Match) up to `part_size`, else ranged GETs.
fn plan_ranges(size: u64, part_size: u64) -> Vec<Range> {
    if size <= part_size {
        vec![Range {
            number: 1,
            start: 0,
            end: size,
        }]
    } else {
        ranges(size, part_size)
    }
}

/// Fetches every range not yet done, `parallel` at a time; the first failure stops the others and is
/// returned.
async fn fetch_all(shared: &Arc<Shared>, all: &[Range], parallel: usize) -> Option<Error> {
    let todo: VecDeque<Range> = {
        let st = lock(&shared.state);
        all.iter()
            .filter(|r| !st.done.contains_key(&r.number))
            .copied()
            .collect()
    };
    let queue = Arc::new(Mutex::new(todo));
    let workers = parallel.max(1).min(all.len().max(1));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (shared, queue) = (shared.clone(), queue.clone());
        set.spawn(async move {
            loop {
                let next = lock(&queue).pop_front();
                let Some(range) = next else { return Ok(()) };
                shared.fetch_range(range).await?;
            }
        });
    }
    let mut failure: Option<Error> = None;
    while let Some(joined) = set.join_next().await {
        let r =
            joined.unwrap_or_else(|e| Err(Error::internal(format!("a download task failed: {e}"))));
        if let Err(e) = r {
            if failure.is_none() {
                failure = Some(e);
                // Stop the other ranges: nothing is taken from the queue any more.
                lock(&queue).clear();
                set.abort_all();
            }
        }
    }
    failure
}

/// Every range is in: the whole object's CRC-64 from the ranges' CRCs, in order, compared with the
/// server's. The outer error is an internal one (a range missing); the inner one is the mismatch.
fn verify_crc(
    state: &Mutex<Progress>,
    all: &[Range],
    object: &ObjectInfo,
    key: &str,
) -> Result<Result<(), Error>, Error> {
    let crc = {
        let st = lock(state);
        let mut parts = Vec::with_capacity(all.len());
        for r in all {
            let Some(&c) = st.done.get(&r.number) else {
                return Err(Error::internal(format!(
                    "range {} was never fetched",
                    r.number
                )));
            };
            parts.push((c, r.end - r.start));
        }
        crc64::combine_all(parts)
    };
    if let Some(server) = object.server_crc {
        if server != crc {
            return Ok(Err(Error::Integrity(format!(
                "CRC-64 mismatch for the download of {key}: computed {crc} from the bytes received, the server has {server} (request id {})",
                object.head.header("x-oss-request-id").unwrap_or("unknown")
            ))));
        }
    }
    Ok(Ok(()))
}

/// fsyncs the temp file, renames it onto the target and fsyncs the directory, on a blocking thread. The
/// outer error is the task failing; the inner one is the file system's.
async fn finish_file(
    file: Arc<File>,
    temp: PathBuf,
    target: PathBuf,
) -> Result<std::io::Result<()>, Error> {
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        file.sync_all()?;
        std::fs::rename(&temp, &target)?;
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })
    .await
    .map_err(|e| Error::internal(format!("finishing the download failed: {e}")))
}

fn remove_checkpoint_after_success(dl: &Download, events: &UnboundedSender<Event>) {
    if let Some(cp_path) = &dl.checkpoint_file {
        if let Err(e) = checkpoint::remove(cp_path) {
            let _ = events.send(Event::Warning(format!(
                "oss-turbo: the download finished but its checkpoint {} could not be removed: {e}",
                cp_path.display()
            )));
        }
    }
}

/// What to keep after a failure: with a checkpoint file, the temp file and checkpoint stay for a resume
/// unless the failure makes them worthless (the object changed, a CRC mismatch); without one, nothing stays.
fn settle_failure(e: Error, dl: &Download, guard: &mut TempGuard) -> Error {
    if poisons_progress(&e) {
        guard.keep = false;
        if let Some(cp) = &dl.checkpoint_file {
            let _ = checkpoint::remove(cp);
        }
    }
    e
}

fn open_temp(temp: &Path, size: u64, resume: bool) -> Result<File, Error> {
    let shown = path_str(temp);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(!resume)
        .open(temp)
        .map_err(|e| Error::io(&shown, "open", &e))?;
    if !resume {
        file.set_len(size)
            .map_err(|e| Error::io(&shown, "ftruncate", &e))?;
    }
    Ok(file)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Progress {
    cp: DownloadCheckpoint,
    done: BTreeMap<u32, u64>,
}

fn save_checkpoint(path: &Path, state: &Mutex<Progress>) -> Result<(), Error> {
    let st = lock(state);
    checkpoint::save(path, &st.cp).map_err(|e| Error::io(&path_str(path), "write", &e))
}

/// What every range worker shares.
struct Shared {
    client: Arc<Client>,
    key: String,
    etag: String,
    ranged: bool,
    file: Arc<File>,
    temp: String,
    options: CallOptions,
    loaded: Arc<AtomicU64>,
    checkpoint_file: Option<PathBuf>,
    state: Arc<Mutex<Progress>>,
}

impl Shared {
    async fn fetch_range(&self, range: Range) -> Result<(), Error> {
        let crc = self
            .client
            .http
            .retrying(|| self.fetch_once(range))
            .await
            .map_err(|e| e.in_part(range.number))?;
        // Start writing the range back to disk now (page cache → disk, asynchronously), so the fsync at
        // the end waits for the last ranges only instead of the whole file.
        let file = self.file.clone();
        let (start, len) = (range.start, range.end - range.start);
        let _ = tokio::task::spawn_blocking(move || start_writeback(&file, start, len)).await;
        {
            let mut st = lock(&self.state);
            st.done.insert(range.number, crc);
            st.cp.done_parts.push(DonePart {
                number: range.number,
                crc64: crc,
            });
        }
        if let Some(cp) = &self.checkpoint_file {
            // The range's bytes are durable before the checkpoint says they are there.
            let file = self.file.clone();
            tokio::task::spawn_blocking(move || file.sync_data())
                .await
                .map_err(|e| Error::internal(format!("the fsync task failed: {e}")))?
                .map_err(|e| Error::io(&self.temp, "fsync", &e))?;
            save_checkpoint(cp, &self.state)?;
        }
        Ok(())
    }

    /// One attempt at a range: GET (ranged unless it is the whole object) with If-Match, streamed into
    /// the temp file at its offset, CRC-64 in the same pass. Bytes counted into `loaded` are taken back
    /// out if the attempt fails.
    async fn fetch_once(&self, range: Range) -> Result<u64, Error> {
        let mut counted = 0u64;
        let result = self.fetch_into(range, &mut counted).await;
        if result.is_err() {
            self.loaded.fetch_sub(counted, Ordering::Relaxed);
        }
        result
    }

    async fn fetch_into(&self, range: Range, counted: &mut u64) -> Result<u64, Error> {
        let req = self.range_request(range)?;
        let timeout = req
            .timeout
            .unwrap_or(Duration::from_millis(self.client.http.config().timeout_ms));
        let (head, mut resp) = self.client.http.send_streaming(req).await?;
        let want = range.end - range.start;
        self.check_head(&head, range)?;
        let mut crc = Crc64::new();
        // Received chunks are written as they are (one vectored positional write per ~CHUNK), not copied.
        let mut pending: Vec<Bytes> = Vec::new();
        let mut pending_len = 0usize;
        let mut at = range.start;
        let mut received = 0u64;
        loop {
            let chunk = resp
                .chunk()
                .await
                .map_err(|e| body_error(&e, &Method::GET, &head.url, timeout))?;
            let last = chunk.is_none();
            if let Some(bytes) = chunk.filter(|b| !b.is_empty()) {
                received += bytes.len() as u64;
                if received > want {
                    return Err(Error::protocol(format!(
                        "range {}: the server sent more than the {want} bytes asked for",
                        range.number
                    )));
                }
                crc.update(&bytes);
                pending_len += bytes.len();
                pending.push(bytes);
            }
            if pending_len > 0 && (pending_len >= CHUNK || pending.len() >= MAX_IOVECS || last) {
                let n = pending_len as u64;
                self.write_at(std::mem::take(&mut pending), at).await?;
                pending_len = 0;
                at += n;
                *counted += n;
                self.loaded.fetch_add(n, Ordering::Relaxed);
            }
            if last {
                break;
            }
        }
        if received != want {
            return Err(Error::Network {
                kind: crate::error::NetworkKind::Request,
                message: format!(
                    "range {}: the connection closed after {received} of {want} bytes, GET {}",
                    range.number, head.url
                ),
            });
        }
        Ok(crc.finish())
    }

    /// The GET of one range: If-Match the object's ETag, and a Range header unless it is the whole object.
    fn range_request(&self, range: Range) -> Result<Request, Error> {
        let mut req = Request::new(
            Method::GET,
            Some(&self.key),
            if self.ranged { &[206] } else { &[200] },
        );
        self.options.apply(&mut req);
        let etag = HeaderValue::from_str(&self.etag).map_err(|_| {
            Error::protocol(format!(
                "the object's ETag {:?} is not a valid header",
                self.etag
            ))
        })?;
        req.headers.insert(IF_MATCH, etag);
        if self.ranged {
            let spec = format!("bytes={}-{}", range.start, range.end - 1);
            req.headers.insert(
                RANGE,
                HeaderValue::from_str(&spec).map_err(|_| Error::invalid("bad range"))?,
            );
        }
        Ok(req)
    }

    /// The response is for the range asked for (Content-Range) and the same object version (ETag).
    fn check_head(&self, head: &Response, range: Range) -> Result<(), Error> {
        if self.ranged {
            let expected = format!("bytes {}-{}/", range.start, range.end - 1);
            let got = head.header("content-range").unwrap_or("");
            if !got.starts_with(&expected) {
                return Err(Error::protocol(format!(
                    "range {}: asked for {expected}…, the server sent Content-Range {got:?}",
                    range.number
                )));
            }
        }
        if head.header("etag").is_some_and(|e| e != self.etag) {
            return Err(Error::protocol(format!(
                "range {}: the object changed during the download (ETag {} instead of {})",
                range.number,
                head.header("etag").unwrap_or(""),
                self.etag
            )));
        }
        Ok(())
    }

    /// Writes `chunks` one after the other from `offset`, on a blocking thread.
    async fn write_at(&self, chunks: Vec<Bytes>, offset: u64) -> Result<(), Error> {
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || write_chunks_at(&file, &chunks, offset))
            .await
            .map_err(|e| Error::internal(format!("a write task failed: {e}")))?
            .map_err(|e| Error::io(&self.temp, "write", &e))
    }
}

/// Asks the kernel to start writing `[start, start + len)` of `file` back to disk, without waiting for it
/// (Linux `sync_file_range(SYNC_FILE_RANGE_WRITE)`; a no-op elsewhere and on tmpfs). Durability still
/// comes from the fsync before the rename; this only spreads the disk writes over the download.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, start: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(off), Ok(n)) = (libc::off64_t::try_from(start), libc::off64_t::try_from(len)) else {
        return;
    };
    // SAFETY: the descriptor is valid for the whole call (`file` is borrowed); sync_file_range only reads
    // the offsets given and touches no memory of ours. Its result is advisory and ignored.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), off, n, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _start: u64, _len: u64) {}

/// `chunks` written back to back from `offset`: one `pwritev` per call on Linux (repeated for what a short
/// write left), one positional write per chunk elsewhere.
#[cfg(target_os = "linux")]
fn write_chunks_at(file: &File, chunks: &[Bytes], mut offset: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // `idx`/`skip`: the first chunk not fully written and how much of it is.
    let (mut idx, mut skip) = (0usize, 0usize);
    while idx < chunks.len() {
        let iov: Vec<libc::iovec> = chunks[idx..]
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let s = if i == 0 { &c[skip..] } else { &c[..] };
                libc::iovec {
                    iov_base: s.as_ptr() as *mut libc::c_void,
                    iov_len: s.len(),
                }
            })
            .collect();
        let off = libc::off_t::try_from(offset)
            .map_err(|_| std::io::Error::other("file offset out of range"))?;
        let count = libc::c_int::try_from(iov.len()).unwrap_or(libc::c_int::MAX);
        // SAFETY: every iovec points into a `Bytes` of `chunks`, valid for reads of `iov_len` bytes and
        // kept alive (borrowed) for the whole call; pwritev only reads them. The descriptor stays open
        // because `file` is borrowed; `count` is at most `iov.len()` (≤ MAX_IOVECS < IOV_MAX).
        let n = unsafe { libc::pwritev(file.as_raw_fd(), iov.as_ptr(), count, off) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let mut n = n as usize;
        offset += n as u64;
        while n > 0 && idx < chunks.len() {
            let left = chunks[idx].len() - skip;
            if n >= left {
                n -= left;
                idx += 1;
                skip = 0;
            } else {
                skip += n;
                n = 0;
            }
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn write_chunks_at(file: &File, chunks: &[Bytes], mut offset: u64) -> std::io::Result<()> {
    for c in chunks {
        write_all_at(file, c, offset)?;
        offset += c.len() as u64;
    }
    Ok(())
}

#[cfg(all(unix, not(target_os = "linux")))]
fn write_all_at(file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(buf, offset)
}

#[cfg(windows)]
fn write_all_at(file: &File, mut buf: &[u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_write(buf, offset) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_object_once() {
        assert!(ranges(0, 10).is_empty());
        assert_eq!(
            ranges(25, 10),
            vec![
                Range {
                    number: 1,
                    start: 0,
                    end: 10
                },
                Range {
                    number: 2,
                    start: 10,
                    end: 20
                },
                Range {
                    number: 3,
                    start: 20,
                    end: 25
                },
            ]
        );
        for (size, ps) in [(1u64, 1u64), (10, 10), (11, 10), (1 << 20, 100_000)] {
            let rs = ranges(size, ps);
            assert_eq!(rs.first().map(|r| r.start), Some(0));
            assert_eq!(rs.last().map(|r| r.end), Some(size));
            assert!(rs.windows(2).all(|w| w[0].end == w[1].start));
        }
    }

    #[test]
    fn temp_names_are_beside_the_target_and_distinct() {
        let a = temp_path(Path::new("/d/file.bin"));
        let b = temp_path(Path::new("/d/file.bin"));
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(Path::new("/d")));
        assert!(path_str(&a).ends_with(".oss-turbo.tmp"));
    }

    #[test]
    fn chunks_are_written_back_to_back_at_the_offset() {
        let path = std::env::temp_dir().join(format!("oss-turbo-wca-{}", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .expect("open");
        file.set_len(20).expect("len");
        let chunks = vec![
            Bytes::from_static(b"abc"),
            Bytes::from_static(b"defgh"),
            Bytes::from_static(b"ij"),
        ];
        write_chunks_at(&file, &chunks, 5).expect("write");
        let back = std::fs::read(&path).expect("read");
        let _ = std::fs::remove_file(&path);
        assert_eq!(&back[5..15], b"abcdefghij");
        assert!(back[..5].iter().chain(&back[15..]).all(|&b| b == 0));
    }

    #[test]
    fn which_failures_discard_progress() {
        assert!(poisons_progress(&Error::Integrity("x".into())));
        let gone = Error::Server(Box::new(crate::error::ServerError {
            status: 412,
            ..Default::default()
        }));
        assert!(poisons_progress(&gone.in_part(3)));
        assert!(!poisons_progress(&Error::Cancelled));
        assert!(!poisons_progress(&Error::io(
            "/x",
            "write",
            &std::io::Error::from_raw_os_error(28)
        )));
    }
}
