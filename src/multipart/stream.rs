//! Uploads from a stream of unknown length: the caller writes chunks, the engine cuts them into parts of
//! `partSize`, uploads `parallel` parts at a time and completes the upload when the stream ends. A stream
//! that ends within the first part goes up as one PutObject.
//!
//! Memory is bounded: a write waits while more than one part's worth of bytes is waiting to be cut into a
//! part, and a part is only cut once a worker is free to send it, so at most `parallel` parts are held by
//! workers plus about one part (and one chunk) being gathered — `(parallel + 1) × partSize` in all. The
//! chunks are the caller's own memory (no copy); a part keeps them until it is stored, so a failed try is
//! sent again from the same bytes.
//!
//! A stream cannot be resumed: its bytes are gone once sent. So any failure after Initiate — a part that
//! failed all its tries, the stream's own error, a cancel, a failed Complete — aborts the multipart
//! upload before the error is reported: no orphan is left behind.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};
use tokio::task::JoinSet;

use super::plan::{self, DEFAULT_PART_SIZE, MAX_PARTS};
use super::upload::Ack;
use crate::client::{CallOptions, CancelFlag, Client, PartRequest};
use crate::debug;
use crate::error::Error;
use crate::http::Response;
use crate::source::{Chunks, Source};

/// One stream upload, as the binding prepared it.
pub struct StreamUpload {
    pub key: String,
    /// `options.partSize` as JavaScript passed it (validated like `multipartUpload`'s).
    pub part_size: Option<f64>,
    pub parallel: usize,
    /// Headers and content type for Initiate and the single put.
    pub options: CallOptions,
    /// Extra headers for Complete and the single put: the callback.
    pub complete_headers: http::HeaderMap,
    /// The length the caller announced (`putStream`'s `contentLength`); the stream must match it.
    pub content_length: Option<u64>,
    /// Send [`StreamEvent::Bytes`] about ten times a second.
    pub byte_progress: bool,
    /// Send [`StreamEvent::Part`] for every stored part and wait for its acknowledgement.
    pub part_events: bool,
    /// This upload's own cancel flag (in addition to the client-wide one).
    pub cancel: Arc<CancelFlag>,
}

#[derive(Debug)]
pub enum StreamEvent {
    Warning(String),
    /// Bytes handed to the socket so far; `total` is unknown until the stream ended (or was announced).
    Bytes {
        loaded: u64,
        total: Option<u64>,
    },
    /// The stream ended within the first part and went up as one PutObject of `size` bytes.
    Put {
        res: Response,
        size: u64,
    },
    /// The multipart upload was initiated; parts are sent once this is acknowledged.
    Initiated {
        upload_id: String,
        part_size: u64,
        total: Option<u64>,
        res: Response,
        ack: Ack,
    },
    /// The stream ended: its length and the number of parts are known from now on.
    Ended {
        total: u64,
        num_parts: u64,
    },
    /// A part is stored; its worker waits for the acknowledgement before it takes another part.
    Part {
        number: u32,
        etag: String,
        res: Response,
        ack: Ack,
    },
    Completed {
        res: Response,
        size: u64,
    },
    Failed(Error),
}

/// What the caller writes.
#[derive(Debug)]
enum Input {
    Chunk(Bytes),
    End,
    Fail(String),
}

/// The writing side of a stream upload, held by the binding.
pub struct Feed {
    tx: mpsc::UnboundedSender<Input>,
    /// Bytes written but not yet cut into a part.
    pending: AtomicU64,
    /// Writes wait while `pending` is above this (one part).
    limit: u64,
    space: Notify,
    /// The engine reads no more: further writes are refused.
    closed: AtomicBool,
}

impl Feed {
    /// Hands a chunk to the upload once there is room for it. `false` when the upload no longer reads
    /// (it failed, was cancelled or has ended): the caller should stop reading its stream.
    pub async fn write(&self, chunk: Bytes) -> bool {
        loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.closed.load(Ordering::SeqCst) {
                return false;
            }
            if self.pending.load(Ordering::SeqCst) <= self.limit {
                break;
            }
            notified.await;
        }
        if chunk.is_empty() {
            return true;
        }
        self.pending.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        self.tx.send(Input::Chunk(chunk)).is_ok()
    }

    /// Hands a chunk over only if there is room right now (no waiting, no task): `Ok(true)` taken,
    /// `Ok(false)` the upload reads no more, `Err(chunk)` no room — wait with [`Feed::write`].
    pub fn try_write(&self, chunk: Bytes) -> Result<bool, Bytes> {
        if self.closed.load(Ordering::SeqCst) {
            return Ok(false);
        }
        if self.pending.load(Ordering::SeqCst) > self.limit {
            return Err(chunk);
        }
        if chunk.is_empty() {
            return Ok(true);
        }
        self.pending.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        Ok(self.tx.send(Input::Chunk(chunk)).is_ok())
    }

    /// The stream ended: what was written is the whole object.
    pub fn end(&self) {
        let _ = self.tx.send(Input::End);
    }

    /// The stream failed: abort the upload.
    pub fn fail(&self, message: String) {
        let _ = self.tx.send(Input::Fail(message));
    }

    /// Bytes written and not yet taken into a part (for tests).
    #[cfg(test)]
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::SeqCst)
    }

    fn took(&self, n: u64) {
        self.pending.fetch_sub(n, Ordering::SeqCst);
        self.space.notify_waiters();
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.space.notify_waiters();
    }
}

/// Validates the options and returns the writing side and the upload to run (spawned by the caller).
/// The future always ends with a `Put`, `Completed` or `Failed` event.
pub fn start(
    client: Arc<Client>,
    upload: StreamUpload,
    events: mpsc::UnboundedSender<StreamEvent>,
) -> Result<(Arc<Feed>, impl Future<Output = ()> + Send + 'static), Error> {
    check_key(&upload.key)?;
    let requested = plan::check_part_size(upload.part_size)?;
    let part_size = match upload.content_length {
        Some(len) => {
            let (size, warning) = plan::part_size(len, requested);
            if size > plan::MAX_PART_SIZE {
                return Err(Error::invalid(format!(
                    "contentLength {len} needs parts of {size} bytes to fit in 10000 parts, more than the 5 GiB OSS allows"
                )));
            }
            if let Some(w) = warning {
                let _ = events.send(StreamEvent::Warning(w));
            }
            size
        }
        None => requested.unwrap_or(DEFAULT_PART_SIZE),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let feed = Arc::new(Feed {
        tx,
        pending: AtomicU64::new(0),
        limit: part_size,
        space: Notify::new(),
        closed: AtomicBool::new(false),
    });
    let run = {
        let feed = feed.clone();
        async move {
            let reader = Reader {
                rx,
                feed: feed.clone(),
                queue: VecDeque::new(),
                buffered: 0,
                total: 0,
                ended: false,
                content_length: upload.content_length,
            };
            let last = match drive(&client, &upload, part_size, reader, &events).await {
                Ok(ev) => ev,
                Err(e) => StreamEvent::Failed(e),
            };
            feed.close();
            let _ = events.send(last);
        }
    };
    Ok((feed, run))
}

/// OSS keys are 1 to 1023 bytes of UTF-8.
fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() {
        return Err(Error::invalid("the object name must not be empty"));
    }
    if key.len() > 1023 {
        return Err(Error::invalid(format!(
            "the object name is {} bytes long; OSS allows at most 1023",
            key.len()
        )));
    }
    Ok(())
}

/// Why the upload stops early: the first part failure (or callback failure), shared with the main loop.
#[derive(Default)]
struct Stop {
    error: Mutex<Option<Error>>,
    set: AtomicBool,
    notify: Notify,
}

impl Stop {
    fn fail(&self, e: Error) {
        let mut first = lock(&self.error);
        if first.is_none() {
            *first = Some(e);
        }
        self.set.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    fn take(&self) -> Option<Error> {
        lock(&self.error).take()
    }

    async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Gathers the caller's chunks and cuts them into parts.
struct Reader {
    rx: mpsc::UnboundedReceiver<Input>,
    feed: Arc<Feed>,
    queue: VecDeque<Bytes>,
    buffered: u64,
    total: u64,
    ended: bool,
    content_length: Option<u64>,
}

/// Why reading stopped before the stream ended.
enum Interrupt {
    Stream(Error),
    Stopped,
    Cancelled,
}

impl Reader {
    /// Reads until more than `want` bytes are buffered or the stream ended.
    async fn fill(
        &mut self,
        want: u64,
        stop: &Stop,
        client: &Client,
        cancel: &CancelFlag,
    ) -> Result<(), Interrupt> {
        while self.buffered < want && !self.ended {
            let input = tokio::select! {
                biased;
                _ = client.cancel.cancelled() => return Err(Interrupt::Cancelled),
                _ = cancel.cancelled() => return Err(Interrupt::Cancelled),
                _ = stop.wait() => return Err(Interrupt::Stopped),
                input = self.rx.recv() => input,
            };
            match input {
                Some(Input::Chunk(chunk)) => {
                    self.total += chunk.len() as u64;
                    self.buffered += chunk.len() as u64;
                    self.queue.push_back(chunk);
                    if let Some(expected) = self.content_length {
                        if self.total > expected {
                            return Err(Interrupt::Stream(Error::invalid(format!(
                                "the stream is longer than its contentLength of {expected} bytes"
                            ))));
                        }
                    }
                }
                Some(Input::End) => {
                    self.ended = true;
                    if let Some(expected) = self.content_length {
                        if self.total != expected {
                            return Err(Interrupt::Stream(Error::invalid(format!(
                                "the stream ended after {} bytes, but its contentLength is {expected}",
                                self.total
                            ))));
                        }
                    }
                }
                Some(Input::Fail(message)) => {
                    return Err(Interrupt::Stream(Error::internal(format!(
                        "the source stream failed: {message}"
                    ))))
                }
                None => {
                    return Err(Interrupt::Stream(Error::internal(
                        "the source stream was dropped before it ended",
                    )))
                }
            }
        }
        Ok(())
    }

    /// Takes the next `n` buffered bytes (zero-copy: whole chunks, the last one sliced).
    fn take(&mut self, n: u64) -> Vec<Bytes> {
        let mut pieces = Vec::new();
        let mut left = n;
        while left > 0 {
            let Some(mut front) = self.queue.pop_front() else {
                break;
            };
            if front.len() as u64 > left {
                let rest = front.split_off(left as usize);
                self.queue.push_front(rest);
            }
            left -= front.len() as u64;
            pieces.push(front);
        }
        let took = n - left;
        self.buffered -= took;
        self.feed.took(took);
        pieces
    }
}

async fn drive(
    client: &Arc<Client>,
    upload: &StreamUpload,
    part_size: u64,
    mut reader: Reader,
    events: &mpsc::UnboundedSender<StreamEvent>,
) -> Result<StreamEvent, Error> {
    let cancelled = || client.cancel.is_set() || upload.cancel.is_set();
    if cancelled() {
        return Err(Error::Cancelled);
    }
    let stop = Arc::new(Stop::default());
    let sent = Arc::new(AtomicU64::new(0));
    let known_total = Arc::new(AtomicU64::new(upload.content_length.unwrap_or(UNKNOWN)));
    let ticker = upload
        .byte_progress
        .then(|| Ticker::start(sent.clone(), known_total.clone(), events.clone()));

    // 1. The first part decides: a stream that ends within it is one PutObject.
    if let Err(i) = reader
        .fill(part_size + 1, &stop, client, &upload.cancel)
        .await
    {
        stop_ticker(ticker).await;
        return Err(interrupt_error(i, &stop));
    }
    if reader.ended && reader.buffered <= part_size {
        let size = reader.buffered;
        known_total.store(size, Ordering::SeqCst);
        let res = small_put(client, upload, &mut reader, size, &sent).await;
        finish_ticker(ticker, res.is_ok(), size, events).await;
        return Ok(StreamEvent::Put { res: res?, size });
    }

    // 2. Initiate, and wait for the caller's progress(0, checkpoint).
    let (upload_id, acked) = match initiate(client, upload, part_size, events).await {
        Ok(v) => v,
        Err(e) => {
            stop_ticker(ticker).await;
            return Err(e);
        }
    };
    let outcome = if acked.await.unwrap_or(false) {
        upload_parts(
            client,
            upload,
            &upload_id,
            part_size,
            &mut reader,
            &stop,
            &sent,
            &known_total,
            events,
        )
        .await
    } else {
        Err(Error::Callback)
    };
    reader.feed.close();
    let completed = match outcome {
        Ok(parts) => complete(client, upload, &upload_id, parts).await,
        Err(e) => Err(e),
    };
    finish_ticker(ticker, completed.is_ok(), reader.total, events).await;
    match completed {
        Ok(res) => Ok(StreamEvent::Completed {
            res,
            size: reader.total,
        }),
        Err(e) => {
            abort_after_failure(client, upload, &upload_id, events).await;
            Err(e)
        }
    }
}

/// A stream that ended within the first part: one PutObject of the buffered bytes, with the headers
/// meant for Complete.
async fn small_put(
    client: &Arc<Client>,
    upload: &StreamUpload,
    reader: &mut Reader,
    size: u64,
    sent: &Arc<AtomicU64>,
) -> Result<Response, Error> {
    let source = Source::Chunks(Arc::new(Chunks::new(reader.take(size))));
    let mut opts = upload.options.clone();
    for (name, value) in &upload.complete_headers {
        opts.headers.insert(name.clone(), value.clone());
    }
    client
        .put(&upload.key, &source, &opts, Some(sent.clone()))
        .await
}

/// Initiates the multipart upload and reports it; the receiver says whether the caller's
/// progress(0, checkpoint) went through.
async fn initiate(
    client: &Arc<Client>,
    upload: &StreamUpload,
    part_size: u64,
    events: &mpsc::UnboundedSender<StreamEvent>,
) -> Result<(String, oneshot::Receiver<bool>), Error> {
    let (init, res) = client.init_multipart(&upload.key, &upload.options).await?;
    let upload_id = init.upload_id;
    let (ack, acked) = oneshot::channel();
    let _ = events.send(StreamEvent::Initiated {
        upload_id: upload_id.clone(),
        part_size,
        total: upload.content_length,
        res,
        ack,
    });
    Ok((upload_id, acked))
}

/// The bytes are gone: nothing could resume this upload, so it must not stay behind. A failed abort is
/// a warning (the upload's own error is what the caller gets).
async fn abort_after_failure(
    client: &Arc<Client>,
    upload: &StreamUpload,
    upload_id: &str,
    events: &mpsc::UnboundedSender<StreamEvent>,
) {
    let opts = upload.options.for_parts();
    if let Err(abort) = client.abort(&upload.key, upload_id, &opts).await {
        debug!("aborting the stream upload {upload_id} failed: {abort:?}");
        let _ = events.send(StreamEvent::Warning(format!(
            "the multipart upload {upload_id} of {} could not be aborted after the failure ({}); abort it with abortMultipartUpload",
            upload.key,
            abort.info(false).message
        )));
    }
}

/// Sentinel of `known_total` while the length is unknown.
const UNKNOWN: u64 = u64::MAX;

fn interrupt_error(i: Interrupt, stop: &Stop) -> Error {
    match i {
        Interrupt::Stream(e) => e,
        Interrupt::Cancelled => Error::Cancelled,
        Interrupt::Stopped => stop
            .take()
            .unwrap_or_else(|| Error::internal("the upload stopped")),
    }
}

/// One stored part: `(etag, crc, len)`.
type DoneParts = BTreeMap<u32, (String, u64, u64)>;

#[allow(clippy::too_many_arguments)]
async fn upload_parts(
    client: &Arc<Client>,
    upload: &StreamUpload,
    upload_id: &str,
    part_size: u64,
    reader: &mut Reader,
    stop: &Arc<Stop>,
    sent: &Arc<AtomicU64>,
    known_total: &AtomicU64,
    events: &mpsc::UnboundedSender<StreamEvent>,
) -> Result<DoneParts, Error> {
    let workers = Arc::new(Semaphore::new(upload.parallel.max(1)));
    let done: Arc<Mutex<DoneParts>> = Arc::default();
    let opts = Arc::new(upload.options.for_parts());
    let mut tasks = JoinSet::new();
    let mut number: u32 = 0;
    let mut ended_sent = false;
    let mut interrupted = None;
    loop {
        // Gather a whole part (or the rest of the stream) …
        if let Err(i) = reader.fill(part_size, stop, client, &upload.cancel).await {
            interrupted = Some(i);
            break;
        }
        if reader.ended && !ended_sent {
            ended_sent = true;
            known_total.store(reader.total, Ordering::SeqCst);
            let _ = events.send(StreamEvent::Ended {
                total: reader.total,
                num_parts: plan::num_parts(reader.total, part_size),
            });
        }
        if reader.buffered == 0 {
            break;
        }
        // … and cut it only once a worker is free, so at most `parallel` parts are held.
        let permit = tokio::select! {
            biased;
            _ = stop.wait() => { interrupted = Some(Interrupt::Stopped); break; }
            p = workers.clone().acquire_owned() => p,
        };
        let Ok(permit) = permit else { break };
        if stop.is_set() {
            interrupted = Some(Interrupt::Stopped);
            break;
        }
        if u64::from(number) >= MAX_PARTS {
            interrupted = Some(Interrupt::Stream(Error::invalid(format!(
                "the stream is longer than 10000 parts of {part_size} bytes (the OSS limit): pass a larger partSize"
            ))));
            break;
        }
        number += 1;
        let pieces = reader.take(part_size.min(reader.buffered));
        let source = Source::Chunks(Arc::new(Chunks::new(pieces)));
        let part = PartTask {
            client: client.clone(),
            key: upload.key.clone(),
            upload_id: upload_id.to_string(),
            number,
            opts: opts.clone(),
            sent: sent.clone(),
            stop: stop.clone(),
            done: done.clone(),
            events: events.clone(),
            part_events: upload.part_events,
            cancel: upload.cancel.clone(),
        };
        tasks.spawn(async move {
            part.run(source).await;
            drop(permit);
        });
    }
    // Nothing more is read; the parts in flight settle.
    reader.feed.close();
    settle_parts(tasks, interrupted, client, upload, stop).await?;
    let done = std::mem::take(&mut *lock(&done));
    Ok(done)
}

/// Waits for the parts in flight, then says which error ends the upload, if any: the stream's own error
/// or a cancel first (it wins over the part failures it caused), then the first part failure.
async fn settle_parts(
    mut tasks: JoinSet<()>,
    interrupted: Option<Interrupt>,
    client: &Client,
    upload: &StreamUpload,
    stop: &Stop,
) -> Result<(), Error> {
    while let Some(joined) = tasks.join_next().await {
        if joined.is_err() {
            stop.fail(Error::internal("a part worker stopped unexpectedly"));
        }
    }
    if let Some(i) = interrupted {
        if matches!(i, Interrupt::Stream(_) | Interrupt::Cancelled) {
            return Err(interrupt_error(i, stop));
        }
    }
    if client.cancel.is_set() || upload.cancel.is_set() {
        return Err(Error::Cancelled);
    }
    if let Some(e) = stop.take() {
        return Err(e);
    }
    Ok(())
}

struct PartTask {
    client: Arc<Client>,
    key: String,
    upload_id: String,
    number: u32,
    opts: Arc<CallOptions>,
    sent: Arc<AtomicU64>,
    stop: Arc<Stop>,
    done: Arc<Mutex<DoneParts>>,
    events: mpsc::UnboundedSender<StreamEvent>,
    part_events: bool,
    cancel: Arc<CancelFlag>,
}

impl PartTask {
    async fn run(self, source: Source) {
        let number = self.number;
        let len = source.len();
        let request = PartRequest {
            key: &self.key,
            upload_id: &self.upload_id,
            number,
            source: &source,
            start: 0,
            end: len,
            opts: &self.opts,
        };
        let attempt = self.client.upload_part(&request, Some(self.sent.clone()));
        let result = tokio::select! {
            r = attempt => r,
            _ = self.client.cancel.cancelled() => Err(Error::Cancelled),
            _ = self.cancel.cancelled() => Err(Error::Cancelled),
        };
        // The bytes are stored (or lost with the upload): release them before waiting on JavaScript.
        drop(source);
        match result {
            Ok(out) => {
                lock(&self.done).insert(number, (out.etag.clone(), out.crc, len));
                if self.part_events {
                    let (ack, acked) = oneshot::channel();
                    let _ = self.events.send(StreamEvent::Part {
                        number,
                        etag: out.etag,
                        res: out.res,
                        ack,
                    });
                    if !acked.await.unwrap_or(false) {
                        self.stop.fail(Error::Callback.in_part(number));
                    }
                }
            }
            Err(Error::Cancelled) => self.stop.fail(Error::Cancelled),
            Err(e) => self.stop.fail(e.in_part(number)),
        }
    }
}

/// Completes the upload and checks the whole object's CRC-64 against the parts' (combined).
async fn complete(
    client: &Client,
    upload: &StreamUpload,
    upload_id: &str,
    done: DoneParts,
) -> Result<Response, Error> {
    let parts: Vec<(u32, String)> = done.iter().map(|(n, (e, _, _))| (*n, e.clone())).collect();
    let crc = crate::crc64::combine_all(done.values().map(|(_, crc, len)| (*crc, *len)));
    let mut opts = upload.options.for_parts();
    for (name, value) in &upload.complete_headers {
        opts.headers.insert(name.clone(), value.clone());
    }
    let res = client
        .complete(&upload.key, upload_id, &parts, &opts)
        .await?;
    crate::client::check_crc(&res, crc, "the completed object")?;
    Ok(res)
}

/// Reports bytes sent about ten times a second.
struct Ticker {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Ticker {
    fn start(
        sent: Arc<AtomicU64>,
        total: Arc<AtomicU64>,
        events: mpsc::UnboundedSender<StreamEvent>,
    ) -> Ticker {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
                let loaded = sent.load(Ordering::Relaxed);
                if loaded != last {
                    last = loaded;
                    let t = total.load(Ordering::SeqCst);
                    let total = (t != UNKNOWN).then_some(t);
                    let _ = events.send(StreamEvent::Bytes { loaded, total });
                }
            }
        });
        Ticker { stop, task }
    }
}

async fn stop_ticker(ticker: Option<Ticker>) {
    if let Some(t) = ticker {
        let _ = t.stop.send(());
        let _ = t.task.await;
    }
}

/// Stops the ticker; on success reports the final `{loaded: total, total}`.
async fn finish_ticker(
    ticker: Option<Ticker>,
    ok: bool,
    total: u64,
    events: &mpsc::UnboundedSender<StreamEvent>,
) {
    let had = ticker.is_some();
    stop_ticker(ticker).await;
    if had && ok {
        let _ = events.send(StreamEvent::Bytes {
            loaded: total,
            total: Some(total),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(chunks: &[&[u8]]) -> (Reader, Arc<Feed>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let feed = Arc::new(Feed {
            tx,
            pending: AtomicU64::new(0),
            limit: 4,
            space: Notify::new(),
            closed: AtomicBool::new(false),
        });
        let mut r = Reader {
            rx,
            feed: feed.clone(),
            queue: VecDeque::new(),
            buffered: 0,
            total: 0,
            ended: false,
            content_length: None,
        };
        for c in chunks {
            r.queue.push_back(Bytes::copy_from_slice(c));
            r.buffered += c.len() as u64;
            r.total += c.len() as u64;
            feed.pending.fetch_add(c.len() as u64, Ordering::SeqCst);
        }
        (r, feed)
    }

    #[test]
    fn take_cuts_parts_across_chunks_without_losing_bytes() {
        let (mut r, feed) = reader(&[b"abc", b"defgh", b"ij"]);
        let p1: Vec<u8> = r.take(4).concat();
        assert_eq!(p1, b"abcd");
        assert_eq!(r.buffered, 6);
        assert_eq!(feed.pending(), 6);
        let p2: Vec<u8> = r.take(4).concat();
        assert_eq!(p2, b"efgh");
        let p3: Vec<u8> = r.take(4).concat();
        assert_eq!(p3, b"ij");
        assert_eq!(r.buffered, 0);
        assert_eq!(feed.pending(), 0);
        assert!(r.take(4).is_empty());
    }

    #[test]
    fn chunks_source_hashes_like_the_joined_bytes() {
        let pieces = vec![Bytes::from_static(b"12345"), Bytes::from_static(b"6789")];
        let src = Source::Chunks(Arc::new(Chunks::new(pieces)));
        assert_eq!(src.len(), 9);
        let crc = futures_util::FutureExt::now_or_never(src.crc_of(0, 9))
            .expect("ready")
            .expect("crc");
        assert_eq!(crc, crate::crc64::crc64(b"123456789"));
        let mid = futures_util::FutureExt::now_or_never(src.crc_of(3, 7))
            .expect("ready")
            .expect("crc");
        assert_eq!(mid, crate::crc64::crc64(b"4567"));
    }

    #[tokio::test]
    async fn a_write_waits_while_more_than_a_part_is_pending() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let feed = Arc::new(Feed {
            tx,
            pending: AtomicU64::new(0),
            limit: 4,
            space: Notify::new(),
            closed: AtomicBool::new(false),
        });
        assert!(feed.write(Bytes::from_static(b"12345")).await);
        assert_eq!(feed.pending(), 5);
        let blocked = tokio::spawn({
            let feed = feed.clone();
            async move { feed.write(Bytes::from_static(b"6")).await }
        });
        tokio::task::yield_now().await;
        assert!(!blocked.is_finished(), "the write must wait for room");
        assert!(matches!(rx.recv().await, Some(Input::Chunk(_))));
        assert!(
            feed.try_write(Bytes::from_static(b"x")).is_err(),
            "no room: the chunk is handed back"
        );
        feed.took(5);
        assert!(blocked.await.expect("joined"));
        assert_eq!(feed.try_write(Bytes::from_static(b"y")), Ok(true));
        assert_eq!(feed.pending(), 2);
        feed.took(2);
        // Once the upload reads no more, a write is refused instead of waiting forever.
        feed.pending.fetch_add(10, Ordering::SeqCst);
        let refused = tokio::spawn({
            let feed = feed.clone();
            async move { feed.write(Bytes::from_static(b"7")).await }
        });
        tokio::task::yield_now().await;
        feed.close();
        assert!(!refused.await.expect("joined"));
        assert_eq!(feed.try_write(Bytes::from_static(b"z")), Ok(false));
    }
}
