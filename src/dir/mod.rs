//! Folder upload: walks a tree lazily and uploads every file under a key prefix, with one concurrency limit
//! shared by files and parts (a small file holds one slot while it is PUT; a large file holds one slot per
//! part it sends at once, taking spare slots only when they are free), include/exclude globs, symlinks
//! skipped unless followed, an update mode (skip when the object has the same size and CRC-64), and
//! resumability: a journal of finished files and a checkpoint file per large file in a checkpoint folder,
//! so a rerun skips what was finished and resumes the large file that was in flight.
//!
//! Memory does not grow with the number of files: the walk holds one open folder per level, files are
//! handed over through a small bounded channel, and at most `parallel` file tasks exist at once. (The journal
//! of a resumed job is read into memory: one short line per finished file.)

pub mod glob;
pub mod walk;

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::client::{CallOptions, CancelFlag, Client};
use crate::debug;
use crate::error::Error;
use crate::multipart::checkpoint;
use crate::multipart::plan::{self, MIN_PART_SIZE};
use crate::multipart::upload::{self, Event, Upload};
use crate::source::Source;
use walk::{FileEntry, Filters, Item, Walker};

pub struct DirUpload {
    pub root: PathBuf,
    /// Key prefix; a `/` is added when it is not empty and does not end with one.
    pub prefix: String,
    pub filters: Filters,
    /// Requests at once, over all files and parts.
    pub parallel: usize,
    pub part_size: Option<f64>,
    /// Skip files whose object already has the same size and CRC-64 (one HEAD each).
    pub update: bool,
    /// Keep the journal of finished files and the large files' checkpoints here (resumable).
    pub checkpoint_dir: Option<PathBuf>,
    /// Headers for every object (meta); the content type is chosen per file.
    pub options: CallOptions,
    /// Send a [`DirEvent::File`] for every file.
    pub file_events: bool,
    pub cancel: Arc<CancelFlag>,
}

#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub files_done: u64,
    /// Known once the counting walk has finished.
    pub files_total: Option<u64>,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
    pub elapsed_ms: u64,
    /// Bytes per second since the start.
    pub rate: f64,
    /// Estimated time left, once the totals are known.
    pub eta_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    Uploaded,
    Skipped,
    Failed,
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub path: String,
    pub key: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub uploaded: u64,
    pub skipped: u64,
    pub failed: Vec<Failure>,
    /// Symlinks not followed (`followSymlinks` is off).
    pub symlinks_skipped: u64,
    pub bytes_uploaded: u64,
    pub elapsed_ms: u64,
}

#[derive(Debug)]
pub enum DirEvent {
    Progress(Progress),
    File {
        path: String,
        key: String,
        size: u64,
        status: FileStatus,
        reason: Option<String>,
    },
    Done(Summary),
    /// The job could not run at all (no such folder, bad options).
    Failed(Error),
}

struct Ctx {
    client: Arc<Client>,
    job: DirUpload,
    prefix: String,
    slots: Arc<Semaphore>,
    summary: Mutex<Summary>,
    files_done: AtomicU64,
    files_total: AtomicU64,
    bytes_done: AtomicU64,
    bytes_total: AtomicU64,
    counted: AtomicBool,
    journal: Option<Journal>,
    events: mpsc::UnboundedSender<DirEvent>,
    started: Instant,
}

impl Ctx {
    fn cancelled(&self) -> bool {
        self.client.cancel.is_set() || self.job.cancel.is_set()
    }

    fn progress(&self) -> Progress {
        let elapsed = self.started.elapsed();
        let bytes_done = self.bytes_done.load(Ordering::Relaxed);
        let counted = self.counted.load(Ordering::SeqCst);
        let bytes_total = counted.then(|| self.bytes_total.load(Ordering::SeqCst));
        let secs = elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            bytes_done as f64 / secs
        } else {
            0.0
        };
        let eta_ms = match bytes_total {
            Some(t) if rate > 0.0 => {
                Some(((t.saturating_sub(bytes_done)) as f64 / rate * 1000.0) as u64)
            }
            Some(t) if t <= bytes_done => Some(0),
            _ => None,
        };
        Progress {
            files_done: self.files_done.load(Ordering::Relaxed),
            files_total: counted.then(|| self.files_total.load(Ordering::SeqCst)),
            bytes_done,
            bytes_total,
            elapsed_ms: elapsed.as_millis() as u64,
            rate,
            eta_ms,
        }
    }

    fn finish_file(&self, f: &FileEntry, key: &str, status: FileStatus, reason: Option<String>) {
        {
            let mut s = lock(&self.summary);
            match status {
                FileStatus::Uploaded => {
                    s.uploaded += 1;
                    s.bytes_uploaded += f.size;
                }
                FileStatus::Skipped => s.skipped += 1,
                FileStatus::Failed => s.failed.push(Failure {
                    path: f.rel.clone(),
                    key: key.to_string(),
                    reason: reason.clone().unwrap_or_default(),
                }),
            }
        }
        self.files_done.fetch_add(1, Ordering::Relaxed);
        if self.job.file_events {
            let _ = self.events.send(DirEvent::File {
                path: f.rel.clone(),
                key: key.to_string(),
                size: f.size,
                status,
                reason,
            });
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs the whole job; always ends with `Done` or `Failed`.
pub async fn run(client: Arc<Client>, job: DirUpload, events: mpsc::UnboundedSender<DirEvent>) {
    let last = match drive(client, job, events.clone()).await {
        Ok(summary) => DirEvent::Done(summary),
        Err(e) => DirEvent::Failed(e),
    };
    let _ = events.send(last);
}

fn hex_id(parts: &[&str]) -> String {
    let mut h = Md5::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(b"\n");
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The job's phases: check the arguments, open the journal, start the counting walk, the upload walk and
/// the progress ticker, hand every file to a task as slots free up, then wait for all and sum up.
async fn drive(
    client: Arc<Client>,
    job: DirUpload,
    events: mpsc::UnboundedSender<DirEvent>,
) -> Result<Summary, Error> {
    let (root, prefix) = check_job(&client, &job)?;
    let journal = open_journal(&client, &job, &prefix, &root)?;
    let ctx = Arc::new(Ctx {
        slots: Arc::new(Semaphore::new(job.parallel.max(1))),
        client,
        prefix,
        summary: Mutex::new(Summary::default()),
        files_done: AtomicU64::new(0),
        files_total: AtomicU64::new(0),
        bytes_done: AtomicU64::new(0),
        bytes_total: AtomicU64::new(0),
        counted: AtomicBool::new(false),
        journal,
        events,
        started: Instant::now(),
        job,
    });

    // The counting walk (for files/bytes totals) runs beside the upload walk.
    let counter = spawn_counter(&ctx, &root);
    // The upload walk hands files over through a small bounded channel.
    let (tx, rx) = mpsc::channel::<Item>(256);
    let walker_task = spawn_walker(&ctx, &root, tx);
    let ticker = spawn_ticker(&ctx);

    let mut tasks = dispatch(&ctx, rx).await;
    while tasks.join_next().await.is_some() {}
    let walked = walker_task
        .await
        .map_err(|e| Error::internal(format!("the folder walk stopped: {e}")))?;
    let _ = counter.await;
    ticker.abort();
    walked?;
    if ctx.cancelled() {
        return Err(Error::Cancelled);
    }
    let _ = ctx.events.send(DirEvent::Progress(ctx.progress()));
    let mut summary = std::mem::take(&mut *lock(&ctx.summary));
    summary.elapsed_ms = ctx.started.elapsed().as_millis() as u64;
    if summary.failed.is_empty() {
        if let Some(j) = &ctx.journal {
            j.remove();
        }
    }
    Ok(summary)
}

/// The folder (absolute) and the key prefix (ending in `/` unless empty), once the job's arguments are
/// checked: a folder that exists, a bucket, a valid part size.
fn check_job(client: &Client, job: &DirUpload) -> Result<(PathBuf, String), Error> {
    let root = std::path::absolute(&job.root).unwrap_or_else(|_| job.root.clone());
    match std::fs::metadata(&root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::invalid(format!(
                "{} is not a folder",
                root.display()
            )))
        }
        Err(e) => return Err(Error::io(&root.display().to_string(), "scandir", &e)),
    }
    if client.bucket().is_none() {
        return Err(Error::invalid("Please create a bucket first"));
    }
    plan::check_part_size(job.part_size)?;
    let mut prefix = job.prefix.trim_start_matches('/').to_string();
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    Ok((root, prefix))
}

/// The journal of finished files in the checkpoint folder (created if missing), named after the bucket,
/// prefix and folder, when there is a checkpoint folder.
fn open_journal(
    client: &Client,
    job: &DirUpload,
    prefix: &str,
    root: &Path,
) -> Result<Option<Journal>, Error> {
    let Some(dir) = &job.checkpoint_dir else {
        return Ok(None);
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(&dir.display().to_string(), "mkdir", &e))?;
    let id = hex_id(&[
        client.bucket().as_deref().unwrap_or(""),
        prefix,
        &root.to_string_lossy(),
    ]);
    Ok(Some(Journal::open(dir.join(format!("dir-{id}.done")))?))
}

/// Counts the files and bytes to upload (for the totals in progress), on a blocking thread.
fn spawn_counter(ctx: &Arc<Ctx>, root: &Path) -> tokio::task::JoinHandle<()> {
    let ctx = ctx.clone();
    let root = root.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let Ok(walker) = Walker::new(&root, &ctx.job.filters) else {
            return;
        };
        let (mut files, mut bytes) = (0u64, 0u64);
        for item in walker {
            if ctx.cancelled() {
                return;
            }
            if let Item::File(f) = item {
                files += 1;
                bytes += f.size;
            }
        }
        ctx.files_total.store(files, Ordering::SeqCst);
        ctx.bytes_total.store(bytes, Ordering::SeqCst);
        ctx.counted.store(true, Ordering::SeqCst);
    })
}

/// Walks the folder on a blocking thread, sending every item into `tx` until cancelled.
fn spawn_walker(
    ctx: &Arc<Ctx>,
    root: &Path,
    tx: mpsc::Sender<Item>,
) -> tokio::task::JoinHandle<Result<(), Error>> {
    let ctx = ctx.clone();
    let root = root.to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<(), Error> {
        let walker = Walker::new(&root, &ctx.job.filters)
            .map_err(|e| Error::io(&root.display().to_string(), "scandir", &e))?;
        for item in walker {
            if ctx.cancelled() || tx.blocking_send(item).is_err() {
                break;
            }
        }
        Ok(())
    })
}

/// Sends a `Progress` event every 250 ms when something moved.
fn spawn_ticker(ctx: &Arc<Ctx>) -> tokio::task::JoinHandle<()> {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let mut last = None;
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let p = ctx.progress();
            let key = (p.files_done, p.bytes_done, p.files_total);
            if last != Some(key) {
                last = Some(key);
                let _ = ctx.events.send(DirEvent::Progress(p));
            }
        }
    })
}

/// Takes the walk's items until it ends or the job is cancelled: every file gets a task once a slot is
/// free; skipped symlinks and unreadable entries go into the summary. Returns the tasks still running.
async fn dispatch(ctx: &Arc<Ctx>, mut rx: mpsc::Receiver<Item>) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    while let Some(item) = rx.recv().await {
        if ctx.cancelled() {
            break;
        }
        match item {
            Item::File(f) => {
                let permit = tokio::select! {
                    p = ctx.slots.clone().acquire_owned() => p,
                    _ = ctx.client.cancel.cancelled() => break,
                    _ = ctx.job.cancel.cancelled() => break,
                };
                let Ok(permit) = permit else { break };
                let ctx2 = ctx.clone();
                tasks.spawn(async move { upload_file(&ctx2, f, permit).await });
                while tasks.try_join_next().is_some() {}
            }
            Item::SkippedSymlink(path) => {
                debug!("not following the symlink {path}");
                lock(&ctx.summary).symlinks_skipped += 1
            }
            Item::Unreadable { rel, reason } => {
                let key = format!("{}{rel}", ctx.prefix);
                lock(&ctx.summary).failed.push(Failure {
                    path: rel,
                    key,
                    reason,
                });
            }
        }
    }
    drop(rx);
    tasks
}

async fn upload_file(ctx: &Arc<Ctx>, f: FileEntry, permit: OwnedSemaphorePermit) {
    let key = format!("{}{}", ctx.prefix, f.rel);
    let (status, reason) = match upload_one(ctx, &f, &key, permit).await {
        Ok(Done::Uploaded) => (FileStatus::Uploaded, None),
        Ok(Done::Skipped(why)) => (FileStatus::Skipped, Some(why.to_string())),
        Err(e) => (FileStatus::Failed, Some(e.info(false).message)),
    };
    ctx.finish_file(&f, &key, status, reason);
}

enum Done {
    Uploaded,
    Skipped(&'static str),
}

async fn upload_one(
    ctx: &Arc<Ctx>,
    f: &FileEntry,
    key: &str,
    permit: OwnedSemaphorePermit,
) -> Result<Done, Error> {
    let path = f.path.to_string_lossy().into_owned();
    let mtime = checkpoint::mtime_ms(&path).unwrap_or(0);
    if let Some(j) = &ctx.journal {
        if j.contains(key, f.size, mtime) {
            ctx.bytes_done.fetch_add(f.size, Ordering::Relaxed);
            return Ok(Done::Skipped("finished by an earlier run"));
        }
    }
    let source = Source::open_file(&path)?;
    if source.len() != f.size {
        return Err(Error::FileChanged(format!(
            "{path}: the file changed while the folder was walked"
        )));
    }
    let mut opts = ctx.job.options.clone();
    if let Some(ct) = content_type(&f.rel) {
        opts.content_type = Some(ct.to_string());
    }
    if ctx.job.update && unchanged(ctx, key, &source, &opts).await? {
        ctx.bytes_done.fetch_add(f.size, Ordering::Relaxed);
        return Ok(Done::Skipped("unchanged (same size and CRC-64)"));
    }
    if f.size < MIN_PART_SIZE {
        let sent = Arc::new(AtomicU64::new(0));
        let res = ctx.client.put(key, &source, &opts, Some(sent)).await;
        drop(permit);
        res?;
        ctx.bytes_done.fetch_add(f.size, Ordering::Relaxed);
    } else {
        upload_large(ctx, f, key, &path, source, opts, permit).await?;
    }
    if let Some(j) = &ctx.journal {
        j.add(key, f.size, mtime);
    }
    Ok(Done::Uploaded)
}

/// HEAD the object: same size and same CRC-64 as the local file?
async fn unchanged(
    ctx: &Ctx,
    key: &str,
    source: &Source,
    opts: &CallOptions,
) -> Result<bool, Error> {
    let head = CallOptions {
        timeout: opts.timeout,
        ..CallOptions::default()
    };
    let res = match ctx.client.head(key, &head).await {
        Ok(r) => r,
        Err(e) if e.status() == Some(404) => return Ok(false),
        Err(e) => return Err(e),
    };
    let size = res
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    if size != Some(source.len()) {
        return Ok(false);
    }
    let Some(remote) = res
        .header("x-oss-hash-crc64ecma")
        .and_then(|v| v.trim().parse::<u64>().ok())
    else {
        return Ok(false);
    };
    Ok(source.crc_of(0, source.len()).await? == remote)
}

#[allow(clippy::too_many_arguments)]
async fn upload_large(
    ctx: &Arc<Ctx>,
    f: &FileEntry,
    key: &str,
    path: &str,
    source: Source,
    opts: CallOptions,
    permit: OwnedSemaphorePermit,
) -> Result<(), Error> {
    // One slot is held; spare ones (free right now) let this file send more parts at once.
    let requested = plan::check_part_size(ctx.job.part_size)?;
    let (part_size, _) = plan::part_size(f.size, requested);
    let want = (plan::num_parts(f.size, part_size) as usize).min(ctx.job.parallel.max(1));
    let mut permits = vec![permit];
    while permits.len() < want {
        match ctx.slots.clone().try_acquire_owned() {
            Ok(p) => permits.push(p),
            Err(_) => break,
        }
    }
    let checkpoint_file = ctx.job.checkpoint_dir.as_ref().map(|d| {
        d.join(format!(
            "{}.json",
            hex_id(&[ctx.client.bucket().as_deref().unwrap_or(""), key, path])
        ))
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let up = Upload {
        key: key.to_string(),
        source,
        path: Some(path.to_string()),
        part_size: ctx.job.part_size,
        parallel: permits.len(),
        options: opts,
        complete_headers: http::HeaderMap::new(),
        resume: None,
        checkpoint_file,
        byte_progress: true,
        part_events: false,
        cancel: ctx.job.cancel.clone(),
    };
    let run = tokio::spawn(upload::run(ctx.client.clone(), up, tx));
    let mut counted = 0u64;
    let mut outcome = Err(Error::internal("the upload ended without a result"));
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Bytes { loaded, .. } => {
                if loaded > counted {
                    ctx.bytes_done
                        .fetch_add(loaded - counted, Ordering::Relaxed);
                } else {
                    ctx.bytes_done
                        .fetch_sub(counted - loaded, Ordering::Relaxed);
                }
                counted = loaded;
            }
            Event::Initiated { ack, .. } | Event::Part { ack, .. } => {
                let _ = ack.send(true);
            }
            Event::Completed { .. } | Event::Put { .. } => outcome = Ok(()),
            Event::Failed(e) => outcome = Err(e),
            Event::Warning(_) | Event::Resumed { .. } => {}
        }
    }
    let _ = run.await;
    drop(permits);
    // Make the bytes counted for this file exactly its size (or nothing, when it failed).
    let target = if outcome.is_ok() { f.size } else { 0 };
    if target > counted {
        ctx.bytes_done
            .fetch_add(target - counted, Ordering::Relaxed);
    } else {
        ctx.bytes_done
            .fetch_sub(counted - target, Ordering::Relaxed);
    }
    outcome
}

/// The journal of finished files: one `key \t size \t mtime` line each, appended as files finish.
struct Journal {
    path: PathBuf,
    done: HashSet<(String, u64, u64)>,
    file: Mutex<Option<std::fs::File>>,
}

impl Journal {
    fn open(path: PathBuf) -> Result<Journal, Error> {
        let mut done = HashSet::new();
        if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text.lines() {
                let mut it = line.rsplitn(3, '\t');
                let (Some(m), Some(s), Some(k)) = (it.next(), it.next(), it.next()) else {
                    continue;
                };
                if let (Ok(s), Ok(m)) = (s.parse(), m.parse()) {
                    done.insert((k.to_string(), s, m));
                }
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path.display().to_string(), "open", &e))?;
        Ok(Journal {
            path,
            done,
            file: Mutex::new(Some(file)),
        })
    }

    fn contains(&self, key: &str, size: u64, mtime: u64) -> bool {
        self.done.contains(&(key.to_string(), size, mtime))
    }

    fn add(&self, key: &str, size: u64, mtime: u64) {
        if key.contains('\n') {
            return;
        }
        if let Some(f) = lock(&self.file).as_mut() {
            let _ = f.write_all(format!("{key}\t{size}\t{mtime}\n").as_bytes());
        }
    }

    fn remove(&self) {
        lock(&self.file).take();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The content type of a file by its extension (the common web and archive types; others get none and
/// OSS stores `application/octet-stream`).
pub fn content_type(name: &str) -> Option<&'static str> {
    let ext = Path::new(name).extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" | "mjs" | "cjs" => "application/javascript",
        "json" | "map" => "application/json",
        "txt" | "text" | "log" => "text/plain",
        "md" => "text/markdown",
        "csv" => "text/csv",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/vnd.microsoft.icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_survives_a_reopen_and_is_removed() {
        let path =
            std::env::temp_dir().join(format!("oss-turbo-journal-{}.done", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let j = Journal::open(path.clone()).expect("open");
        j.add("a/b c.txt", 10, 123);
        j.add("x\ty", 5, 1);
        drop(j);
        let j = Journal::open(path.clone()).expect("reopen");
        assert!(j.contains("a/b c.txt", 10, 123));
        assert!(!j.contains("a/b c.txt", 11, 123));
        assert!(
            j.contains("x\ty", 5, 1),
            "a tab in a key is kept (split from the right)"
        );
        j.remove();
        assert!(!path.exists());
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("a/index.HTML"), Some("text/html"));
        assert_eq!(content_type("x.bin"), None);
        assert_eq!(content_type("noext"), None);
    }
}
