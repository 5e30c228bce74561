//! The scheduler behind `multipartUpload`: small-file put, Initiate (unless resuming), parts on
//! `parallel` workers, Complete — reporting each step as an [`Event`] and waiting for the caller's
//! acknowledgement of each part, as ali-oss awaits `progress` before a part's slot is reused.
//!
//! Unlike ali-oss: a failed part stops the scheduling of new parts, the parts in flight settle (each
//! success is reported), and only then does the upload fail — so the caller's checkpoint is exact; a
//! resume asks the server (ListParts) which parts it really holds; every part's CRC-64 and the whole
//! object's are checked; and the checkpoint can be kept durably in a file.
//!
//! Round 2 (what a hostile network, a busy disk and careless callers taught): a Complete or a resume that
//! finds no upload HEADs the object and succeeds when it holds exactly the file (a lost answer is not a
//! failure); the file's identity is checked before Complete, so a file changed mid-upload is never stored
//! as a mix (the upload is aborted); the checkpoint file is written before the first part, so an unwritable
//! path fails at once (later write failures are warnings).

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::checkpoint::{self, CheckpointFile, DonePart, Identity};
use super::plan::{self, MIN_PART_SIZE};
use super::store::MultipartStore;
use crate::client::{CallOptions, CancelFlag, PartRequest};
use crate::debug;
use crate::error::Error;
use crate::http::Response;
use crate::source::Source;

/// A resumed upload's state, from the caller's checkpoint.
#[derive(Debug, Clone)]
pub struct Resume {
    pub upload_id: String,
    pub file_size: u64,
    pub part_size: u64,
    /// `(number, etag)` in the checkpoint's order; may hold duplicates (old ali-oss checkpoints).
    pub done: Vec<(u32, String)>,
}

pub struct Upload {
    pub key: String,
    pub source: Source,
    /// The file's path (for the checkpoint file); `None` for memory.
    pub path: Option<String>,
    /// `options.partSize` as JavaScript passed it (validated here, after the small-file check, like ali-oss).
    pub part_size: Option<f64>,
    pub parallel: usize,
    /// Headers and content type for Initiate (parts and Complete get them minus Initiate-only ones).
    pub options: CallOptions,
    /// Extra headers for Complete (and for the small-file put): the callback.
    pub complete_headers: http::HeaderMap,
    pub resume: Option<Resume>,
    /// Where to keep a durable checkpoint.
    pub checkpoint_file: Option<PathBuf>,
    /// Send [`Event::Bytes`] about ten times a second.
    pub byte_progress: bool,
    /// Send [`Event::Initiated`] and [`Event::Part`] for every stored part and wait for their
    /// acknowledgements (the caller has a `progress` callback or holds the checkpoint object). Without it the
    /// upload never waits on JavaScript.
    pub part_events: bool,
    /// This upload's own cancel flag (in addition to the client-wide one).
    pub cancel: Arc<CancelFlag>,
}

/// The answer to an event that waits for one: `true` when the caller's callback succeeded.
pub type Ack = oneshot::Sender<bool>;

#[derive(Debug)]
pub enum Event {
    /// ali-oss's `console.warn` (part size raised), or why a checkpoint file was not used.
    Warning(String),
    /// Bytes handed to the socket so far (a retried part's bytes count once); ends at `total`.
    Bytes {
        loaded: u64,
        total: u64,
    },
    /// The file was below 102400 bytes and went up as one PutObject.
    Put {
        res: Response,
    },
    /// A fresh upload was initiated; parts start once acknowledged.
    Initiated {
        upload_id: String,
        file_size: u64,
        part_size: u64,
        num_parts: u64,
        res: Response,
        ack: Ack,
    },
    /// A resumed upload, with the parts the server really holds (no duplicates, checkpoint order).
    Resumed {
        upload_id: String,
        file_size: u64,
        part_size: u64,
        num_parts: u64,
        done: Vec<(u32, String)>,
    },
    /// A part is stored; the worker waits for the acknowledgement before taking the next part.
    Part {
        number: u32,
        etag: String,
        num_parts: u64,
        res: Response,
        ack: Ack,
    },
    Completed {
        res: Response,
    },
    Failed(Error),
}

/// Runs the whole upload, sending its events to `events`. Always ends with `Put`, `Completed` or `Failed`.
/// `store` is the [`crate::client::Client`] in the addon (a scripted fake in the tests below).
pub async fn run<S: MultipartStore>(
    store: Arc<S>,
    upload: Upload,
    events: mpsc::UnboundedSender<Event>,
) {
    let last = match drive(&store, upload, &events).await {
        Ok(ev) => ev,
        Err(e) => Event::Failed(e),
    };
    let _ = events.send(last);
}

/// Where a multipart upload starts from.
struct Start {
    upload_id: String,
    part_size: u64,
    done: Vec<(u32, String)>,
    /// Initiated by this run (not resumed).
    fresh: bool,
}

/// What the resume phase found.
enum Resolved {
    /// Resume this upload (the server's parts are in `done`).
    Resume(Start),
    /// Start a new upload (or a single put).
    New,
    /// The upload is already stored (a resumed upload whose Complete answer was lost).
    Done(Response),
}

/// One run's context, shared by its phases.
struct Run<'a, S> {
    store: &'a Arc<S>,
    upload: &'a Upload,
    events: &'a mpsc::UnboundedSender<Event>,
    identity: Identity,
    /// Bytes handed to the socket so far (see [`Event::Bytes`]).
    sent: Arc<AtomicU64>,
}

/// The phases in order: resolve the start (resume or not), a small put or Initiate, the parts, Complete.
async fn drive<S: MultipartStore>(
    store: &Arc<S>,
    upload: Upload,
    events: &mpsc::UnboundedSender<Event>,
) -> Result<Event, Error> {
    check_key(&upload.key)?;
    if store.cancel_flag().is_set() || upload.cancel.is_set() {
        return Err(Error::Cancelled);
    }
    let file_size = upload.source.len();
    let run = Run {
        store,
        upload: &upload,
        events,
        identity: Identity {
            bucket: store.bucket(),
            name: upload.key.clone(),
            file: upload.path.clone(),
            file_size,
            file_mtime_ms: upload.path.as_deref().and_then(checkpoint::mtime_ms),
        },
        sent: Arc::new(AtomicU64::new(0)),
    };
    let resumed = match run.resolve_start().await? {
        Resolved::Done(res) => return Ok(Event::Completed { res }),
        Resolved::Resume(start) => Some(start),
        Resolved::New => None,
    };
    let progress = upload
        .byte_progress
        .then(|| BytesReporter::start(run.sent.clone(), file_size, events.clone()));
    let start = match resumed {
        Some(start) => start,
        None if file_size < MIN_PART_SIZE => return run.small_put(progress).await,
        None => run.initiate().await?,
    };
    let writer = run.checkpoint_writer(&start).await?;
    let outcome = run.parts(&start, writer).await;
    run.finish(&start, outcome, progress).await
}

impl<S: MultipartStore> Run<'_, S> {
    /// The caller's checkpoint, else a checkpoint file that matches this call (a mismatch is a warning).
    fn resume_from_file(&self) -> Option<Resume> {
        let upload = self.upload;
        let path = upload.checkpoint_file.as_ref()?;
        let why = match checkpoint::load(path) {
            Ok(None) => return None,
            Ok(Some(cp)) => match self.identity.mismatch(&cp) {
                None => {
                    debug!(
                        "resuming {} from checkpoint file {}",
                        upload.key,
                        path.display()
                    );
                    return Some(Resume {
                        upload_id: cp.upload_id,
                        file_size: cp.file_size,
                        part_size: cp.part_size,
                        done: cp
                            .done_parts
                            .into_iter()
                            .map(|p| (p.number, p.etag))
                            .collect(),
                    });
                }
                Some(why) => why,
            },
            Err(why) => why.to_string(),
        };
        warn(
            self.events,
            format!(
                "not resuming from checkpoint file {}: {why}; starting a new upload",
                path.display()
            ),
        );
        None
    }

    /// Phase 1: resume from the caller's checkpoint, or from a matching checkpoint file, or start afresh.
    async fn resolve_start(&self) -> Result<Resolved, Error> {
        let upload = self.upload;
        let from_file = upload.resume.is_none();
        let resume = match &upload.resume {
            Some(r) => Some(r.clone()),
            None => self.resume_from_file(),
        };
        let Some(r) = resume else {
            return Ok(Resolved::New);
        };
        check_resume(&r, upload.source.len())?;
        let num_parts = plan::num_parts(r.file_size, r.part_size);
        let gone = match server_parts(&**self.store, upload, &r).await {
            Ok(done) => {
                let _ = self.events.send(Event::Resumed {
                    upload_id: r.upload_id.clone(),
                    file_size: r.file_size,
                    part_size: r.part_size,
                    num_parts,
                    done: done.clone(),
                });
                return Ok(Resolved::Resume(Start {
                    upload_id: r.upload_id,
                    part_size: r.part_size,
                    done,
                    fresh: false,
                }));
            }
            Err(gone) if gone.is_no_such_upload() => gone,
            Err(e) => return Err(e),
        };
        // The upload no longer exists: completed by an earlier try whose answer was lost, or
        // aborted/expired. When the object holds exactly this file, the upload did succeed.
        if let Some(res) = stored_object(&**self.store, upload, None).await {
            debug!(
                "resume: upload {} is gone and {} holds this very file (size and CRC-64): done",
                r.upload_id, upload.key
            );
            remove_checkpoint_file(upload, self.events);
            return Ok(Resolved::Done(res));
        }
        if from_file {
            warn(
                self.events,
                format!("the upload {} in the checkpoint file no longer exists on the server; starting a new upload", r.upload_id),
            );
            return Ok(Resolved::New);
        }
        // ali-oss's answers: with every part done it goes to Complete and rejects with the
        // server's NoSuchUploadError; with parts left, a part's 404 becomes its abort event.
        Err(if dedupe(&r.done).len() as u64 >= num_parts {
            gone
        } else {
            Error::UploadGone
        })
    }

    /// Phase 2a: a file below 102400 bytes goes up as one PutObject (with the callback headers).
    async fn small_put(&self, progress: Option<BytesReporter>) -> Result<Event, Error> {
        let upload = self.upload;
        let mut opts = upload.options.clone();
        for (name, value) in &upload.complete_headers {
            opts.headers.insert(name.clone(), value.clone());
        }
        let res = self
            .store
            .put(&upload.key, &upload.source, &opts, Some(self.sent.clone()))
            .await;
        let total = upload.source.len();
        finish_bytes(progress, res.is_ok(), total, self.events).await;
        Ok(Event::Put { res: res? })
    }

    /// Phase 2b: Initiate a new upload, write the first checkpoint, and (with part events) wait for `Initiated`'s ack.
    async fn initiate(&self) -> Result<Start, Error> {
        let upload = self.upload;
        let file_size = upload.source.len();
        let requested = plan::check_part_size(upload.part_size)?;
        let (part_size, warning) = plan::part_size(file_size, requested);
        if part_size > plan::MAX_PART_SIZE {
            return Err(Error::invalid(format!(
                "the file is {file_size} bytes: it needs parts of {part_size} bytes to fit in 10000 parts, more than the 5 GiB OSS allows"
            )));
        }
        let (init, res) = self.store.initiate(&upload.key, &upload.options).await?;
        if let Some(w) = warning {
            warn(self.events, w);
        }
        let start = Start {
            upload_id: init.upload_id,
            part_size,
            done: Vec::new(),
            fresh: true,
        };
        // The checkpoint file is written before any part is sent: a path that cannot be written
        // fails now, and the upload just initiated is aborted so nothing is left on the server.
        if let Some(path) = &upload.checkpoint_file {
            let cp = checkpoint_state(upload, &self.identity, &start);
            if let Err(e) = first_write(path, cp).await {
                abort_quietly(&**self.store, upload, &start.upload_id).await;
                return Err(e);
            }
        }
        // Only a caller with a `progress` callback (or its own checkpoint object) has anything to do with the
        // new upload before its parts start; for the others the event would be one more JavaScript round trip.
        if upload.part_events {
            let (ack, acked) = oneshot::channel();
            let _ = self.events.send(Event::Initiated {
                upload_id: start.upload_id.clone(),
                file_size,
                part_size,
                num_parts: plan::num_parts(file_size, part_size),
                res,
                ack,
            });
            if !acked.await.unwrap_or(false) {
                return Err(Error::Callback);
            }
        }
        Ok(start)
    }

    /// Counts the parts already done as sent, and starts the checkpoint file's writer (if any).
    async fn checkpoint_writer(&self, start: &Start) -> Result<Option<CheckpointWriter>, Error> {
        let upload = self.upload;
        let file_size = upload.source.len();
        let already: u64 = start
            .done
            .iter()
            .map(|(n, _)| plan::part(file_size, start.part_size, *n).len())
            .sum();
        self.sent.fetch_add(already, Ordering::Relaxed);
        let Some(path) = &upload.checkpoint_file else {
            return Ok(None);
        };
        let cp = checkpoint_state(upload, &self.identity, start);
        if !start.fresh {
            // A resume writes the checkpoint before its first part too (the upload stays: the caller's
            // checkpoint, or the file as it was, can still resume it).
            first_write(path, cp.clone()).await?;
        }
        Ok(Some(CheckpointWriter::start(
            path.clone(),
            cp,
            self.events.clone(),
        )))
    }

    /// Phase 3: the parts on `parallel` workers; the checkpoint writer ends with the last state.
    async fn parts(
        &self,
        start: &Start,
        writer: Option<CheckpointWriter>,
    ) -> Result<BTreeMap<u32, (String, Option<u64>)>, Error> {
        let num_parts = plan::num_parts(self.upload.source.len(), start.part_size);
        let outcome = upload_parts(
            self.store,
            self.upload,
            start,
            num_parts,
            &self.sent,
            writer.as_ref(),
            self.events,
        )
        .await;
        if let Some(w) = writer {
            w.finish().await;
        }
        outcome
    }

    /// Phase 4: check the file is unchanged, Complete (verified), end the byte progress, clean up.
    async fn finish(
        &self,
        start: &Start,
        outcome: Result<BTreeMap<u32, (String, Option<u64>)>, Error>,
        progress: Option<BytesReporter>,
    ) -> Result<Event, Error> {
        let upload = self.upload;
        let completed = match outcome {
            // The file must still be the one the parts were read from; otherwise the object would be a mix.
            Ok(parts) => match upload.source.check_unchanged() {
                Ok(()) => complete(&**self.store, upload, start, parts).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        finish_bytes(
            progress,
            completed.is_ok(),
            upload.source.len(),
            self.events,
        )
        .await;
        let res = match completed {
            Ok(res) => res,
            Err(e) => {
                if matches!(e.root(), Error::FileChanged(_)) {
                    // Never complete a mix of two versions, and never resume one: the upload is aborted
                    // and the checkpoint file removed, so the next call starts over from the file as it
                    // is then.
                    abort_quietly(&**self.store, upload, &start.upload_id).await;
                    remove_checkpoint_file(upload, self.events);
                }
                return Err(e);
            }
        };
        remove_checkpoint_file(upload, self.events);
        Ok(Event::Completed { res })
    }
}

/// The checkpoint file's content for `start` (before any new part).
fn checkpoint_state(upload: &Upload, identity: &Identity, start: &Start) -> CheckpointFile {
    CheckpointFile {
        file: upload.path.clone(),
        name: upload.key.clone(),
        file_size: upload.source.len(),
        part_size: start.part_size,
        upload_id: start.upload_id.clone(),
        done_parts: start
            .done
            .iter()
            .map(|(number, etag)| DonePart {
                number: *number,
                etag: etag.clone(),
            })
            .collect(),
        bucket: identity.bucket.clone(),
        file_mtime_ms: identity.file_mtime_ms,
    }
}

/// The run's first checkpoint write; its failure is the upload's (with the OS error's code and words).
async fn first_write(path: &std::path::Path, cp: CheckpointFile) -> Result<(), Error> {
    let target = path.to_path_buf();
    tokio::task::spawn_blocking(move || checkpoint::save_first(&target, &cp))
        .await
        .map_err(|e| Error::internal(format!("the checkpoint write stopped: {e}")))?
        .map_err(|e| checkpoint_error(path, &e))?;
    debug!("checkpoint file {} written", path.display());
    Ok(())
}

/// A checkpoint write's failure: the errno code, and a message that names the checkpoint file.
fn checkpoint_error(path: &std::path::Path, e: &std::io::Error) -> Error {
    let shown = path.display().to_string();
    let mut err = crate::error::LocalFileError::new(&shown, "open", e);
    err.message = format!(
        "cannot write the checkpoint file {shown}: {} ({e})",
        err.code
    );
    Error::LocalFile(Box::new(err))
}

/// Aborts an upload that must not be left on the server; a failure to abort is only logged.
async fn abort_quietly<S: MultipartStore>(store: &S, upload: &Upload, upload_id: &str) {
    if let Err(e) = store
        .abort(&upload.key, upload_id, &upload.options.for_parts())
        .await
    {
        debug!("could not abort upload {upload_id}: {e}");
    }
}

fn remove_checkpoint_file(upload: &Upload, events: &mpsc::UnboundedSender<Event>) {
    if let Some(path) = &upload.checkpoint_file {
        if let Err(e) = checkpoint::remove(path) {
            warn(
                events,
                format!(
                    "the checkpoint file {} could not be removed: {e}",
                    path.display()
                ),
            );
        }
    }
}

/// HEADs the object and returns the answer when it holds exactly the source: the same size and the same
/// CRC-64 (`crc` when known — the parts' combined CRC —, else the source's, read now). `None` when the
/// object is missing, differs, or cannot be checked (no CRC header, a failed HEAD).
async fn stored_object<S: MultipartStore>(
    store: &S,
    upload: &Upload,
    crc: Option<u64>,
) -> Option<Response> {
    let res = match store.head(&upload.key, &upload.options.for_parts()).await {
        Ok(res) => res,
        Err(e) => {
            debug!("verifying {} by HEAD failed: {e}", upload.key);
            return None;
        }
    };
    let size = res
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let server_crc = res
        .header("x-oss-hash-crc64ecma")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let len = upload.source.len();
    let (Some(size), Some(server_crc)) = (size, server_crc) else {
        return None;
    };
    if size != len {
        return None;
    }
    let local = match crc {
        Some(c) => c,
        None => upload.source.crc_of(0, len).await.ok()?,
    };
    (local == server_crc).then_some(res)
}

fn warn(events: &mpsc::UnboundedSender<Event>, message: String) {
    debug!("warning: {message}");
    let _ = events.send(Event::Warning(message));
}

/// An empty key cannot name an object. A key over OSS's 1023 bytes is sent anyway, as ali-oss does: the
/// server refuses it with `InvalidObjectName`, the error apps already handle.
fn check_key(key: &str) -> Result<(), Error> {
    crate::client::check_key(key)?;
    if key.is_empty() {
        return Err(Error::invalid("the object name must not be empty"));
    }
    Ok(())
}

/// The checkpoint's done parts that the server really holds with the same ETag (ListParts, all pages).
async fn server_parts<S: MultipartStore>(
    store: &S,
    upload: &Upload,
    r: &Resume,
) -> Result<Vec<(u32, String)>, Error> {
    let mut on_server: BTreeMap<u32, String> = BTreeMap::new();
    let mut marker: Option<String> = None;
    loop {
        let mut query = vec![("max-parts".to_string(), "1000".to_string())];
        if let Some(m) = &marker {
            query.push(("part-number-marker".to_string(), m.clone()));
        }
        let listed = store
            .list_parts(&upload.key, &r.upload_id, query, &upload.options)
            .await;
        let (data, _) = match listed {
            Ok(v) => v,
            Err(e) => return Err(e),
        };
        let parts = match data.get("Part") {
            Some(serde_json::Value::Array(a)) => a.clone(),
            Some(one @ serde_json::Value::Object(_)) => vec![one.clone()],
            _ => Vec::new(),
        };
        for p in parts {
            let number = p
                .get("PartNumber")
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse().ok());
            let etag = p.get("ETag").and_then(|v| v.as_str());
            if let (Some(n), Some(e)) = (number, etag) {
                on_server.insert(n, e.to_string());
            }
        }
        let truncated = data.get("IsTruncated").and_then(|v| v.as_str()) == Some("true");
        let next = data
            .get("NextPartNumberMarker")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        match (truncated, next) {
            (true, Some(n)) if Some(&n) != marker.as_ref() => marker = Some(n),
            _ => break,
        }
    }
    let same = |a: &str, b: &str| {
        a.trim_matches('"')
            .eq_ignore_ascii_case(b.trim_matches('"'))
    };
    let listed = dedupe(&r.done);
    let listed_count = listed.len();
    let kept: Vec<(u32, String)> = listed
        .into_iter()
        .filter(|(n, etag)| on_server.get(n).is_some_and(|s| same(s, etag)))
        .collect();
    if kept.len() < listed_count {
        debug!(
            "resume: the server holds {} of the {listed_count} parts the checkpoint lists; the others are uploaded again",
            kept.len()
        );
    }
    Ok(kept)
}

async fn upload_parts<S: MultipartStore>(
    store: &Arc<S>,
    upload: &Upload,
    start: &Start,
    num_parts: u64,
    sent: &Arc<AtomicU64>,
    writer: Option<&CheckpointWriter>,
    events: &mpsc::UnboundedSender<Event>,
) -> Result<BTreeMap<u32, (String, Option<u64>)>, Error> {
    let file_size = upload.source.len();
    let done = &start.done;
    let shared = Arc::new(Shared {
        done: Mutex::new(done.iter().map(|(n, e)| (*n, (e.clone(), None))).collect()),
        todo: Mutex::new(
            (1..=num_parts as u32)
                .filter(|n| !done.iter().any(|(d, _)| d == n))
                .collect(),
        ),
        failures: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
    });
    let job = Arc::new(PartJob {
        store: store.clone(),
        key: upload.key.clone(),
        upload_id: start.upload_id.clone(),
        source: upload.source.clone(),
        file_size,
        part_size: start.part_size,
        num_parts,
        opts: upload.options.for_parts(),
        cancel: upload.cancel.clone(),
        events: events.clone(),
        shared: shared.clone(),
        sent: sent.clone(),
        checkpoint: writer.map(CheckpointWriter::handle),
        part_events: upload.part_events,
    });
    let workers: Vec<_> = (0..upload.parallel.max(1).min(num_parts.max(1) as usize))
        .map(|_| tokio::spawn(job.clone().work()))
        .collect();
    for w in workers {
        if w.await.is_err() {
            shared.fail(Error::internal("a part worker stopped unexpectedly"));
        }
    }

    let failures = std::mem::take(&mut *lock(&shared.failures));
    if let Some(gone) = failures
        .iter()
        .find(|e| matches!(e.root(), Error::UploadGone))
    {
        return Err(gone.clone());
    }
    if store.cancel_flag().is_set() || upload.cancel.is_set() {
        return Err(Error::Cancelled);
    }
    if let Some(first) = failures.into_iter().next() {
        return Err(first);
    }
    let done = std::mem::take(&mut *lock(&shared.done));
    Ok(done)
}

/// Completes the upload and checks the whole object's CRC-64 against the parts' (combined).
async fn complete<S: MultipartStore>(
    store: &S,
    upload: &Upload,
    start: &Start,
    done: BTreeMap<u32, (String, Option<u64>)>,
) -> Result<Response, Error> {
    let file_size = upload.source.len();
    let num_parts = plan::num_parts(file_size, start.part_size);
    let mut parts = Vec::with_capacity(num_parts as usize);
    let mut crcs = Vec::with_capacity(num_parts as usize);
    for number in 1..=num_parts as u32 {
        let part = plan::part(file_size, start.part_size, number);
        let Some((etag, crc)) = done.get(&number) else {
            return Err(Error::internal(format!(
                "part {number} is missing before Complete"
            )));
        };
        let crc = match crc {
            Some(c) => *c,
            // Uploaded by an earlier run: hash the local bytes now.
            None => upload.source.crc_of(part.start, part.end).await?,
        };
        parts.push((number, etag.clone()));
        crcs.push((crc, part.len()));
    }
    let mut opts = upload.options.for_parts();
    for (name, value) in &upload.complete_headers {
        opts.headers.insert(name.clone(), value.clone());
    }
    let expected = crate::crc64::combine_all(crcs);
    match store
        .complete(&upload.key, &start.upload_id, &parts, &opts)
        .await
    {
        Ok(res) => {
            crate::client::check_crc(&res, expected, "the completed object")?;
            Ok(res)
        }
        // A try whose answer was lost (a timeout) may have completed the upload; the retry then finds no
        // upload. The object tells: the same size and CRC-64 as the parts mean it is done.
        Err(f) if f.last.is_no_such_upload() => {
            if let Some(res) = stored_object(store, upload, Some(expected)).await {
                debug!(
                    "Complete answered NoSuchUpload after {}, but {} holds exactly the parts: done",
                    f.first
                        .as_ref()
                        .map_or("no other error".into(), |e| e.to_string()),
                    upload.key
                );
                return Ok(res);
            }
            // Not stored: the error that started it is the one to report, not the retry's 404.
            Err(f.first.unwrap_or(f.last))
        }
        Err(f) => Err(f.last),
    }
}

fn check_resume(resume: &Resume, file_size: u64) -> Result<(), Error> {
    if resume.file_size != file_size {
        return Err(Error::invalid(format!(
            "the file is {file_size} bytes but the checkpoint was made for {} bytes: it changed since the checkpoint was saved, so the upload cannot resume",
            resume.file_size
        )));
    }
    if resume.part_size == 0 && file_size > 0 {
        return Err(Error::invalid(
            "checkpoint.partSize must be a positive integer",
        ));
    }
    let num_parts = plan::num_parts(resume.file_size, resume.part_size);
    if num_parts > plan::MAX_PARTS {
        return Err(Error::invalid(format!(
            "checkpoint.partSize {} gives {num_parts} parts, more than the 10000 OSS allows",
            resume.part_size
        )));
    }
    if let Some((n, _)) = resume
        .done
        .iter()
        .find(|(n, _)| *n == 0 || u64::from(*n) > num_parts)
    {
        return Err(Error::invalid(format!(
            "checkpoint.doneParts has part number {n}, but the file has parts 1 to {num_parts}"
        )));
    }
    Ok(())
}

/// Keeps one entry per part number: the last one (a re-uploaded part replaces the earlier one on OSS).
fn dedupe(done: &[(u32, String)]) -> Vec<(u32, String)> {
    let mut out: Vec<(u32, String)> = Vec::with_capacity(done.len());
    for (n, etag) in done {
        out.retain(|(m, _)| m != n);
        out.push((*n, etag.clone()));
    }
    out
}

struct Shared {
    /// number → (etag, CRC-64 when uploaded by this run).
    done: Mutex<BTreeMap<u32, (String, Option<u64>)>>,
    todo: Mutex<VecDeque<u32>>,
    failures: Mutex<Vec<Error>>,
    stop: AtomicBool,
}

impl Shared {
    fn fail(&self, e: Error) {
        self.stop.store(true, Ordering::SeqCst);
        lock(&self.failures).push(e);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct PartJob<S> {
    store: Arc<S>,
    key: String,
    upload_id: String,
    source: Source,
    file_size: u64,
    part_size: u64,
    num_parts: u64,
    opts: CallOptions,
    cancel: Arc<CancelFlag>,
    events: mpsc::UnboundedSender<Event>,
    shared: Arc<Shared>,
    sent: Arc<AtomicU64>,
    checkpoint: Option<CheckpointHandle>,
    part_events: bool,
}

impl<S: MultipartStore> PartJob<S> {
    fn cancelled(&self) -> bool {
        self.store.cancel_flag().is_set() || self.cancel.is_set()
    }

    async fn work(self: Arc<Self>) {
        loop {
            if self.shared.stop.load(Ordering::SeqCst) || self.cancelled() {
                return;
            }
            let Some(number) = lock(&self.shared.todo).pop_front() else {
                return;
            };
            let part = plan::part(self.file_size, self.part_size, number);
            let request = PartRequest {
                key: &self.key,
                upload_id: &self.upload_id,
                number,
                source: &self.source,
                start: part.start,
                end: part.end,
                opts: &self.opts,
            };
            let attempt = self.store.upload_part(&request, Some(self.sent.clone()));
            let result = tokio::select! {
                r = attempt => r,
                _ = self.store.cancel_flag().cancelled() => Err(Error::Cancelled),
                _ = self.cancel.cancelled() => Err(Error::Cancelled),
            };
            let outcome = match result {
                Ok(o) => o,
                Err(Error::Cancelled) => return,
                Err(e) => {
                    let e = if e.status() == Some(404) {
                        Error::UploadGone
                    } else {
                        e
                    };
                    debug!("part {number} failed: {e}");
                    self.shared.fail(e.in_part(number));
                    return;
                }
            };
            if self.cancelled() {
                // ali-oss does not record a part that finished after cancel().
                return;
            }
            lock(&self.shared.done).insert(number, (outcome.etag.clone(), Some(outcome.crc)));
            if let Some(cp) = &self.checkpoint {
                cp.record(number, &outcome.etag);
            }
            if !self.part_events {
                continue;
            }
            let (ack, acked) = oneshot::channel();
            let sent = self.events.send(Event::Part {
                number,
                etag: outcome.etag,
                num_parts: self.num_parts,
                res: outcome.res,
                ack,
            });
            if sent.is_err() || !acked.await.unwrap_or(false) {
                self.shared.fail(Error::Callback.in_part(number));
                return;
            }
        }
    }
}

/// Keeps the checkpoint file up to date: parts are recorded at once in memory, and a background task
/// writes the newest state after every change (several parts finishing together share one write).
struct CheckpointWriter {
    handle: CheckpointHandle,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct CheckpointHandle {
    state: Arc<Mutex<CheckpointFile>>,
    changed: Arc<watch::Sender<u64>>,
}

impl CheckpointHandle {
    fn record(&self, number: u32, etag: &str) {
        lock(&self.state).done_parts.push(DonePart {
            number,
            etag: etag.to_string(),
        });
        self.changed.send_modify(|v| *v += 1);
    }
}

impl CheckpointWriter {
    /// Starts the background writer; `initial` was already written (see [`first_write`]). A later write
    /// that fails (a disk filling up) is a warning, and the upload goes on: the last good checkpoint stays.
    fn start(path: PathBuf, initial: CheckpointFile, events: mpsc::UnboundedSender<Event>) -> Self {
        let state = Arc::new(Mutex::new(initial));
        let (tx, mut rx) = watch::channel(0u64);
        let handle = CheckpointHandle {
            state: state.clone(),
            changed: Arc::new(tx),
        };
        let task = tokio::spawn(async move {
            let mut failing = false;
            let mut changed = rx.changed().await.is_ok();
            loop {
                match write(&path, &state).await {
                    Ok(()) if failing => {
                        failing = false;
                        warn(
                            &events,
                            format!("the checkpoint file {} is written again", path.display()),
                        );
                    }
                    Ok(()) => {}
                    Err(e) if !failing => {
                        failing = true;
                        warn(&events, format!("{e}; the upload goes on, and the checkpoint file keeps its last good state until a write succeeds"));
                    }
                    Err(_) => {}
                }
                if !changed {
                    return;
                }
                changed = rx.changed().await.is_ok();
            }
        });
        CheckpointWriter { handle, task }
    }

    fn handle(&self) -> CheckpointHandle {
        self.handle.clone()
    }

    /// Writes the final state (every part recorded) and waits for it.
    async fn finish(self) {
        drop(self.handle);
        if let Err(e) = self.task.await {
            debug!("the checkpoint writer stopped: {e}");
        }
    }
}

async fn write(path: &std::path::Path, state: &Arc<Mutex<CheckpointFile>>) -> Result<(), Error> {
    let snapshot = lock(state).clone();
    let parts = snapshot.done_parts.len();
    let target = path.to_path_buf();
    tokio::task::spawn_blocking(move || checkpoint::save(&target, &snapshot))
        .await
        .map_err(|e| Error::internal(format!("the checkpoint write stopped: {e}")))?
        .map_err(|e| checkpoint_error(path, &e))?;
    debug!(
        "checkpoint file {} written ({parts} parts done)",
        path.display()
    );
    Ok(())
}

/// Sends [`Event::Bytes`] about ten times a second while the upload runs.
struct BytesReporter {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<u64>,
}

impl BytesReporter {
    fn start(sent: Arc<AtomicU64>, total: u64, events: mpsc::UnboundedSender<Event>) -> Self {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut shown = 0u64;
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = &mut stopped => return shown,
                    _ = tick.tick() => {}
                }
                // Bytes of a failed attempt are taken back out; never show less than before.
                let loaded = sent.load(Ordering::Relaxed).min(total);
                if loaded > shown {
                    shown = loaded;
                    if events.send(Event::Bytes { loaded, total }).is_err() {
                        return shown;
                    }
                }
            }
        });
        BytesReporter { stop, task }
    }
}

/// Stops the reporter; a successful upload ends with exactly `total`.
async fn finish_bytes(
    reporter: Option<BytesReporter>,
    ok: bool,
    total: u64,
    events: &mpsc::UnboundedSender<Event>,
) {
    let Some(r) = reporter else { return };
    let _ = r.stop.send(());
    let shown = r.task.await.unwrap_or(0);
    if ok && shown != total {
        let _ = events.send(Event::Bytes {
            loaded: total,
            total,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_keeps_the_last_entry_of_each_part() {
        let done = vec![
            (1, "a".to_string()),
            (2, "b".to_string()),
            (1, "c".to_string()),
        ];
        assert_eq!(
            dedupe(&done),
            vec![(2, "b".to_string()), (1, "c".to_string())]
        );
    }

    #[test]
    fn resume_checks_the_file_against_the_checkpoint() {
        let r = Resume {
            upload_id: "u".into(),
            file_size: 300_000,
            part_size: 102_400,
            done: vec![(2, "e".into())],
        };
        assert!(check_resume(&r, 300_000).is_ok());
        let changed = check_resume(&r, 299_999).unwrap_err().to_string();
        assert!(
            changed.contains("changed since the checkpoint"),
            "{changed}"
        );
        let bad = Resume {
            done: vec![(4, "e".into())],
            ..r.clone()
        };
        assert!(check_resume(&bad, 300_000)
            .unwrap_err()
            .to_string()
            .contains("part number 4"));
        let zero = Resume { part_size: 0, ..r };
        assert!(check_resume(&zero, 300_000).is_err());
    }

    #[tokio::test]
    async fn a_failed_later_checkpoint_write_is_a_warning() {
        let dir =
            std::env::temp_dir().join(format!("oss-turbo-writer-fail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("cp.json");
        let initial = CheckpointFile {
            file: None,
            name: "k".into(),
            file_size: 300_000,
            part_size: 102_400,
            upload_id: "U".into(),
            done_parts: vec![],
            bucket: None,
            file_mtime_ms: None,
        };
        first_write(&path, initial.clone())
            .await
            .expect("first write");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let w = CheckpointWriter::start(path.clone(), initial, tx);
        // The folder disappears: the next writes fail.
        std::fs::remove_dir_all(&dir).expect("remove");
        let h = w.handle();
        h.record(1, "\"E1\"");
        drop(h);
        w.finish().await;
        let mut warned = Vec::new();
        while let Ok(Event::Warning(m)) = rx.try_recv() {
            warned.push(m);
        }
        assert_eq!(warned.len(), 1, "one warning: {warned:?}");
        assert!(
            warned[0].contains("cannot write the checkpoint file") && warned[0].contains("ENOENT"),
            "{}",
            warned[0]
        );
    }

    #[tokio::test]
    async fn an_unwritable_first_checkpoint_is_an_error_with_the_os_code() {
        let path = std::path::Path::new("/nonexistent-oss-turbo-dir/cp.json");
        let initial = CheckpointFile {
            file: None,
            name: "k".into(),
            file_size: 1,
            part_size: 1,
            upload_id: "U".into(),
            done_parts: vec![],
            bucket: None,
            file_mtime_ms: None,
        };
        let info = first_write(path, initial)
            .await
            .expect_err("fails")
            .info(false);
        assert_eq!(info.code.as_deref(), Some("ENOENT"));
        assert!(info.message.starts_with(
            "cannot write the checkpoint file /nonexistent-oss-turbo-dir/cp.json: ENOENT ("
        ));
    }

    #[test]
    fn keys_are_checked() {
        assert!(check_key("a\0b").unwrap_err().to_string().contains("NUL"));
        assert!(check_key("").is_err());
        // Long keys are the server's to refuse (InvalidObjectName), as with ali-oss.
        assert!(check_key(&"k".repeat(1024)).is_ok());
    }

    #[tokio::test]
    async fn the_checkpoint_writer_keeps_the_last_state() {
        let path =
            std::env::temp_dir().join(format!("oss-turbo-writer-{}.json", std::process::id()));
        let initial = CheckpointFile {
            file: None,
            name: "k".into(),
            file_size: 300_000,
            part_size: 102_400,
            upload_id: "U".into(),
            done_parts: vec![],
            bucket: None,
            file_mtime_ms: None,
        };
        let (tx, _rx) = mpsc::unbounded_channel();
        let w = CheckpointWriter::start(path.clone(), initial, tx);
        let h = w.handle();
        for n in 1..=3 {
            h.record(n, &format!("\"E{n}\""));
        }
        drop(h);
        w.finish().await;
        let cp = checkpoint::load(&path).expect("readable").expect("present");
        assert_eq!(
            cp.done_parts.iter().map(|p| p.number).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        checkpoint::remove(&path).ok();
    }
}
