//! The napi surface of downloads (`get(name, filePath)`): options in, steps out. Thin, like lib.rs: the
//! work is in `download/`.

use std::collections::HashMap;
use std::sync::Arc;

use napi::bindgen_prelude::Either;
use napi_derive::napi;
use tokio::sync::mpsc;

use crate::client::{CallOptions, CancelFlag};
use crate::download::{self, Download, Event};
use crate::error::Error;
use crate::{
    absolute, config, headers, parallel, timeout, to_u64, ErrorInfoJs, NativeClient, ResJs,
};

#[napi(object)]
pub struct DownloadOptionsJs {
    /// Range size in bytes (default 8 MiB, at least 100 KiB); objects up to this size are one GET.
    pub part_size: Option<f64>,
    /// Ranges in flight (default 5).
    pub parallel: Option<f64>,
    /// Extra request headers (sent on HEAD and every GET).
    pub headers: Option<HashMap<String, String>>,
    pub timeout: Option<Either<f64, String>>,
    /// Keep a durable checkpoint at this path (written atomically, resumed from, removed on success).
    pub checkpoint_file: Option<String>,
    /// Report `bytes` steps about ten times a second.
    pub byte_progress: Option<bool>,
}

/// One step of a download: `warning`, `bytes`, `done` or `error`.
#[napi(object)]
pub struct DownloadEventJs {
    pub kind: String,
    pub message: Option<String>,
    pub loaded: Option<f64>,
    pub total: Option<f64>,
    pub size: Option<f64>,
    /// Bytes taken from a checkpoint instead of the network.
    pub resumed_bytes: Option<f64>,
    pub res: Option<ResJs>,
    pub error: Option<ErrorInfoJs>,
}

impl DownloadEventJs {
    fn new(kind: &str) -> Self {
        DownloadEventJs {
            kind: kind.into(),
            message: None,
            loaded: None,
            total: None,
            size: None,
            resumed_bytes: None,
            res: None,
            error: None,
        }
    }
}

#[napi]
impl NativeClient {
    /// Starts downloading object `name` into the file `file`; read its steps with `next()`.
    #[napi]
    pub fn download(
        &self,
        name: String,
        file: String,
        options: DownloadOptionsJs,
    ) -> DownloadSession {
        let cancel = Arc::new(CancelFlag::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let prepared = (|| -> Result<Download, Error> {
            if file.is_empty() {
                return Err(Error::invalid("the file path is empty"));
            }
            Ok(Download {
                key: config::object_name(&name),
                path: absolute(&file).into(),
                part_size: match options.part_size {
                    Some(p) => Some(to_u64(p, "partSize")?),
                    None => None,
                },
                parallel: parallel(options.parallel)?,
                options: CallOptions {
                    headers: headers(options.headers)?,
                    content_type: None,
                    timeout: timeout(options.timeout)?,
                },
                checkpoint_file: options.checkpoint_file.map(std::path::PathBuf::from),
                byte_progress: options.byte_progress.unwrap_or(false),
                cancel: cancel.clone(),
            })
        })();
        match prepared {
            Ok(dl) => {
                napi::bindgen_prelude::spawn(download::run(self.inner.clone(), dl, tx));
            }
            Err(e) => {
                let _ = tx.send(Event::Failed(e));
            }
        }
        DownloadSession {
            events: Arc::new(tokio::sync::Mutex::new(rx)),
            cancel,
        }
    }
}

/// A running download: JavaScript pulls its steps with `next()`.
#[napi]
pub struct DownloadSession {
    events: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Event>>>,
    cancel: Arc<CancelFlag>,
}

#[napi]
impl DownloadSession {
    /// The next step; after `done` or `error` there are no more.
    #[napi]
    pub async fn next(&self) -> DownloadEventJs {
        let event = self.events.lock().await.recv().await;
        match event {
            None => DownloadEventJs {
                error: Some(
                    Error::internal("the download ended without a result")
                        .info(false)
                        .into(),
                ),
                ..DownloadEventJs::new("error")
            },
            Some(Event::Warning(message)) => DownloadEventJs {
                message: Some(message),
                ..DownloadEventJs::new("warning")
            },
            Some(Event::Bytes { loaded, total }) => DownloadEventJs {
                loaded: Some(loaded as f64),
                total: Some(total as f64),
                ..DownloadEventJs::new("bytes")
            },
            Some(Event::Done {
                res,
                size,
                resumed_bytes,
            }) => DownloadEventJs {
                size: Some(size as f64),
                resumed_bytes: Some(resumed_bytes as f64),
                res: Some(res.into()),
                ..DownloadEventJs::new("done")
            },
            Some(Event::Failed(e)) => DownloadEventJs {
                error: Some(e.info(false).into()),
                ..DownloadEventJs::new("error")
            },
        }
    }

    /// Stops this download (its temp file is removed unless a checkpoint file keeps it for a resume).
    #[napi]
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}
