//! The scheduler behind `multipartUpload`: small-file put, Initiate (unless resuming), parts on
//! `parallel` workers, Complete — reporting each step as an [`Event`] and waiting for the caller's
//! acknowledgement of each part, as ali-oss awaits `progress` before a part's slot is reused.
//!
//! Unlike ali-oss, a failed part stops the scheduling of new parts, the parts in flight settle (each
//! success is reported), and only then does the upload fail — so the caller's checkpoint is exact.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::plan::{self, MIN_PART_SIZE};
use crate::client::{combine_crcs, CallOptions, CancelFlag, Client};
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
    /// `options.partSize` as JavaScript passed it (validated here, after the small-file check, like ali-oss).
    pub part_size: Option<f64>,
    pub parallel: usize,
    /// Headers and content type for Initiate (parts and Complete get them minus Initiate-only ones).
    pub options: CallOptions,
    /// Extra headers for Complete (and for the small-file put): the callback.
    pub complete_headers: http::HeaderMap,
    pub resume: Option<Resume>,
    /// This upload's own cancel flag (in addition to the client-wide one).
    pub cancel: Arc<CancelFlag>,
}

/// The answer to an event that waits for one: `true` when the caller's callback succeeded.
pub type Ack = oneshot::Sender<bool>;

#[derive(Debug)]
pub enum Event {
    /// ali-oss's `console.warn` (part size raised to fit 10,000 parts).
    Warning(String),
    /// The file was below 102400 bytes and went up as one PutObject.
    Put { res: Response },
    /// A fresh upload was initiated; parts start once acknowledged.
    Initiated {
        upload_id: String,
        file_size: u64,
        part_size: u64,
        num_parts: u64,
        res: Response,
        ack: Ack,
    },
    /// A resumed upload's done parts, without duplicates, in checkpoint order.
    Resumed {
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
    Completed { res: Response },
    Failed(Error),
}

/// Runs the whole upload, sending its events to `events`. Always ends with `Put`, `Completed` or `Failed`.
pub async fn run(client: Arc<Client>, upload: Upload, events: mpsc::UnboundedSender<Event>) {
    let last = match drive(&client, upload, &events).await {
        Ok(ev) => ev,
        Err(e) => Event::Failed(e),
    };
    let _ = events.send(last);
}

async fn drive(
    client: &Arc<Client>,
    upload: Upload,
    events: &mpsc::UnboundedSender<Event>,
) -> Result<Event, Error> {
    let cancelled = || client.cancel.is_set() || upload.cancel.is_set();
    if cancelled() {
        return Err(Error::Cancelled);
    }
    let file_size = upload.source.len();
    let (upload_id, part_size, done) = match &upload.resume {
        Some(resume) => {
            check_resume(resume, file_size)?;
            let num_parts = plan::num_parts(resume.file_size, resume.part_size);
            let done = dedupe(&resume.done);
            let _ = events.send(Event::Resumed {
                num_parts,
                done: done.clone(),
            });
            (resume.upload_id.clone(), resume.part_size, done)
        }
        None => {
            if file_size < MIN_PART_SIZE {
                let mut opts = upload.options.clone();
                for (name, value) in &upload.complete_headers {
                    opts.headers.insert(name.clone(), value.clone());
                }
                let res = client.put(&upload.key, &upload.source, &opts).await?;
                return Ok(Event::Put { res });
            }
            let requested = plan::check_part_size(upload.part_size)?;
            let (init, res) = client.init_multipart(&upload.key, &upload.options).await?;
            let (part_size, warning) = plan::part_size(file_size, requested);
            if let Some(w) = warning {
                let _ = events.send(Event::Warning(w));
            }
            let (ack, acked) = oneshot::channel();
            let _ = events.send(Event::Initiated {
                upload_id: init.upload_id.clone(),
                file_size,
                part_size,
                num_parts: plan::num_parts(file_size, part_size),
                res,
                ack,
            });
            if !acked.await.unwrap_or(false) {
                return Err(Error::Callback);
            }
            (init.upload_id, part_size, Vec::new())
        }
    };

    let num_parts = plan::num_parts(file_size, part_size);
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
    let part_opts = upload.options.for_parts();
    let job = Arc::new(PartJob {
        client: client.clone(),
        key: upload.key.clone(),
        upload_id: upload_id.clone(),
        source: upload.source.clone(),
        file_size,
        part_size,
        num_parts,
        opts: part_opts.clone(),
        cancel: upload.cancel.clone(),
        events: events.clone(),
        shared: shared.clone(),
    });
    let workers: Vec<_> = (0..upload.parallel.max(1).min(num_parts.max(1) as usize))
        .map(|_| tokio::spawn(job.clone().work()))
        .collect();
    for w in workers {
        if w.await.is_err() {
            shared.fail(Error::Io("a part worker stopped unexpectedly".into()));
        }
    }

    let failures = std::mem::take(&mut *lock(&shared.failures));
    if let Some(gone) = failures.iter().find(|e| matches!(e.root(), Error::UploadGone)) {
        return Err(gone.clone());
    }
    if cancelled() {
        return Err(Error::Cancelled);
    }
    if let Some(first) = failures.into_iter().next() {
        return Err(first);
    }

    // Every part is stored: check the whole object's CRC-64 at Complete.
    let mut parts = Vec::with_capacity(num_parts as usize);
    let mut crcs = Vec::with_capacity(num_parts as usize);
    let done = std::mem::take(&mut *lock(&shared.done));
    for number in 1..=num_parts as u32 {
        let part = plan::part(file_size, part_size, number);
        let Some((etag, crc)) = done.get(&number) else {
            return Err(Error::Io(format!("part {number} is missing before Complete")));
        };
        let crc = match crc {
            Some(c) => *c,
            None => upload.source.crc_of(part.start, part.end).await?,
        };
        parts.push((number, etag.clone()));
        crcs.push((crc, part.len()));
    }
    let mut complete_opts = part_opts;
    for (name, value) in &upload.complete_headers {
        complete_opts.headers.insert(name.clone(), value.clone());
    }
    let res = client
        .complete(&upload.key, &upload_id, &parts, &complete_opts)
        .await?;
    crate::client::check_crc(&res, combine_crcs(crcs), "the completed object")?;
    Ok(Event::Completed { res })
}

fn check_resume(resume: &Resume, file_size: u64) -> Result<(), Error> {
    if resume.file_size != file_size {
        return Err(Error::invalid(format!(
            "the file is {file_size} bytes but the checkpoint was made for {} bytes: it changed since the checkpoint was saved, so the upload cannot resume",
            resume.file_size
        )));
    }
    if resume.part_size == 0 && file_size > 0 {
        return Err(Error::invalid("checkpoint.partSize must be a positive integer"));
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

struct PartJob {
    client: Arc<Client>,
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
}

impl PartJob {
    fn cancelled(&self) -> bool {
        self.client.cancel.is_set() || self.cancel.is_set()
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
            let attempt = self.client.http.retrying(|_| {
                self.client.upload_part(
                    &self.key,
                    &self.upload_id,
                    number,
                    &self.source,
                    part.start,
                    part.end,
                    &self.opts,
                )
            });
            let result = tokio::select! {
                r = attempt => r,
                _ = self.client.cancel.cancelled() => Err(Error::Cancelled),
                _ = self.cancel.cancelled() => Err(Error::Cancelled),
            };
            let outcome = match result {
                Ok(o) => o,
                Err(Error::Cancelled) => return,
                Err(e) => {
                    let e = if e.status() == Some(404) { Error::UploadGone } else { e };
                    self.shared.fail(e.in_part(number));
                    return;
                }
            };
            if self.cancelled() {
                // ali-oss does not record a part that finished after cancel().
                return;
            }
            lock(&self.shared.done).insert(number, (outcome.etag.clone(), Some(outcome.crc)));
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
        assert_eq!(dedupe(&done), vec![(2, "b".to_string()), (1, "c".to_string())]);
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
        assert!(changed.contains("changed since the checkpoint"), "{changed}");
        let bad = Resume {
            done: vec![(4, "e".into())],
            ..r.clone()
        };
        assert!(check_resume(&bad, 300_000).unwrap_err().to_string().contains("part number 4"));
        let zero = Resume { part_size: 0, ..r };
        assert!(check_resume(&zero, 300_000).is_err());
    }
}
