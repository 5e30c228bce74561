//! The napi surface of stream uploads (`multipartUpload`/`putStream` of a stream): converts options and
//! events only; the engine is `multipart::stream`.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use napi::bindgen_prelude::{Buffer, Either};
use napi_derive::napi;
use tokio::sync::mpsc;

use crate::client::{CallOptions, CancelFlag};
use crate::error::Error;
use crate::multipart::stream::{self, Feed, StreamEvent, StreamUpload};
use crate::{config, headers, parallel, timeout, to_u64, AckSlot, EventJs, NativeClient};

#[napi(object)]
pub struct StreamOptionsJs {
    pub part_size: Option<f64>,
    pub parallel: Option<f64>,
    pub headers: Option<HashMap<String, String>>,
    pub content_type: Option<String>,
    /// Sent on Complete only (and on the single put): the callback headers.
    pub complete_headers: Option<HashMap<String, String>>,
    pub timeout: Option<Either<f64, String>>,
    /// The announced length (`putStream`'s `contentLength`): the stream must deliver exactly this many bytes.
    pub content_length: Option<f64>,
    /// Report bytes sent (`bytes` steps) about ten times a second.
    pub byte_progress: Option<bool>,
    /// Report every stored part (`part` steps, each to be acknowledged); default true.
    pub part_events: Option<bool>,
}

#[napi]
impl NativeClient {
    /// Starts an upload from a stream: write its chunks with `write()`, then `end()` (or `fail()`), and
    /// read the upload's steps with `next()`.
    #[napi]
    pub fn stream_upload(&self, name: String, options: StreamOptionsJs) -> StreamSession {
        let cancel = Arc::new(CancelFlag::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let parallel_path = options.parallel != Some(1.0);
        let prepared = (|| -> Result<StreamUpload, Error> {
            Ok(StreamUpload {
                key: config::object_name(&name),
                part_size: options.part_size,
                parallel: parallel(options.parallel)?,
                options: CallOptions {
                    headers: headers(options.headers)?,
                    content_type: options.content_type,
                    timeout: timeout(options.timeout)?,
                },
                complete_headers: headers(options.complete_headers)?,
                content_length: options
                    .content_length
                    .map(|v| to_u64(v, "contentLength"))
                    .transpose()?,
                byte_progress: options.byte_progress.unwrap_or(false),
                part_events: options.part_events.unwrap_or(true),
                cancel: cancel.clone(),
            })
        })();
        let feed = match prepared.and_then(|up| stream::start(self.inner.clone(), up, tx.clone())) {
            Ok((feed, run)) => {
                napi::bindgen_prelude::spawn(run);
                Some(feed)
            }
            Err(e) => {
                let _ = tx.send(StreamEvent::Failed(e));
                None
            }
        };
        StreamSession {
            feed,
            events: Arc::new(tokio::sync::Mutex::new(rx)),
            pending: AckSlot::default(),
            cancel,
            parallel_path,
        }
    }
}

/// A running stream upload.
#[napi]
pub struct StreamSession {
    feed: Option<Arc<Feed>>,
    events: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<StreamEvent>>>,
    pending: AckSlot,
    cancel: Arc<CancelFlag>,
    parallel_path: bool,
}

#[napi]
impl StreamSession {
    /// Hands a chunk over (shared with JavaScript, not copied: do not modify it afterwards); resolves once
    /// there is room for more. `false`: the upload reads no more (it failed or was cancelled).
    #[napi]
    pub async fn write(&self, chunk: Buffer) -> bool {
        match &self.feed {
            Some(feed) => feed.write(Bytes::from_owner(chunk)).await,
            None => false,
        }
    }

    /// The same without waiting: `1` taken, `0` no room right now (call `write` with the same chunk), `-1`
    /// the upload reads no more. Saves a Promise per chunk while there is room.
    #[napi]
    pub fn try_write(&self, chunk: Buffer) -> i32 {
        match &self.feed {
            Some(feed) => match feed.try_write(Bytes::from_owner(chunk)) {
                Ok(true) => 1,
                Ok(false) => -1,
                Err(_) => 0,
            },
            None => -1,
        }
    }

    /// The stream ended.
    #[napi]
    pub fn end(&self) {
        if let Some(feed) = &self.feed {
            feed.end();
        }
    }

    /// The stream failed with this message: the upload is aborted.
    #[napi]
    pub fn fail(&self, message: String) {
        if let Some(feed) = &self.feed {
            feed.fail(message);
        }
    }

    /// The next step; after `completed`, `put` or `error` there are no more.
    #[napi]
    pub async fn next(&self) -> EventJs {
        self.ack(true);
        let event = self.events.lock().await.recv().await;
        let Some(event) = event else {
            let mut e = EventJs::new("error");
            e.error = Some(
                Error::internal("the upload ended without a result")
                    .info(false)
                    .into(),
            );
            return e;
        };
        match event {
            StreamEvent::Warning(message) => EventJs {
                message: Some(message),
                ..EventJs::new("warning")
            },
            StreamEvent::Bytes { loaded, total } => EventJs {
                loaded: Some(loaded as f64),
                total: total.map(|t| t as f64),
                ..EventJs::new("bytes")
            },
            StreamEvent::Put { res, size } => EventJs {
                etag: res.header("etag").map(str::to_string),
                total: Some(size as f64),
                res: Some(res.into()),
                ..EventJs::new("put")
            },
            StreamEvent::Initiated {
                upload_id,
                part_size,
                total,
                res,
                ack,
            } => {
                self.pending.hold(ack);
                EventJs {
                    upload_id: Some(upload_id),
                    part_size: Some(part_size as f64),
                    total: total.map(|t| t as f64),
                    res: Some(res.into()),
                    ..EventJs::new("initiated")
                }
            }
            StreamEvent::Ended { total, num_parts } => EventJs {
                total: Some(total as f64),
                num_parts: Some(num_parts as f64),
                ..EventJs::new("ended")
            },
            StreamEvent::Part {
                number,
                etag,
                res,
                ack,
            } => {
                self.pending.hold(ack);
                EventJs {
                    number: Some(number),
                    etag: Some(etag),
                    res: Some(res.into()),
                    ..EventJs::new("part")
                }
            }
            StreamEvent::Completed { res, size } => EventJs {
                etag: res.header("etag").map(str::to_string),
                total: Some(size as f64),
                res: Some(res.into()),
                ..EventJs::new("completed")
            },
            StreamEvent::Failed(e) => EventJs {
                error: Some(e.info(self.parallel_path).into()),
                ..EventJs::new("error")
            },
        }
    }

    /// Acknowledges the last `initiated`/`part` step; `ok = false` when its callback threw.
    #[napi]
    pub fn ack(&self, ok: bool) {
        self.pending.answer(ok);
    }

    /// Cancels this upload (it is aborted: a stream cannot be resumed).
    #[napi]
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}
