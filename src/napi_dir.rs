//! The napi surface of folder uploads (`client.uploadDirectory`): converts options and events only; the
//! walk and the scheduling are `dir`.

use std::collections::HashMap;
use std::sync::Arc;

use napi::bindgen_prelude::Either;
use napi_derive::napi;
use tokio::sync::mpsc;

use crate::client::{CallOptions, CancelFlag};
use crate::dir::glob::Glob;
use crate::dir::walk::Filters;
use crate::dir::{self, DirEvent, DirUpload, FileStatus};
use crate::error::Error;
use crate::{headers, parallel, timeout, ErrorInfoJs, NativeClient};

#[napi(object)]
pub struct DirOptionsJs {
    /// Requests at once over all files and parts (default 5).
    pub parallel: Option<f64>,
    pub part_size: Option<f64>,
    pub include: Option<Vec<String>>,
    pub exclude: Option<Vec<String>>,
    pub follow_symlinks: Option<bool>,
    pub update: Option<bool>,
    pub checkpoint_dir: Option<String>,
    pub headers: Option<HashMap<String, String>>,
    pub timeout: Option<Either<f64, String>>,
    /// Report every file (`file` steps).
    pub file_events: Option<bool>,
}

#[napi(object)]
pub struct FailureJs {
    pub path: String,
    pub key: String,
    pub reason: String,
}

#[napi(object)]
pub struct DirEventJs {
    /// `progress`, `file`, `done` or `error`.
    pub kind: String,
    pub files_done: Option<f64>,
    pub files_total: Option<f64>,
    pub bytes_done: Option<f64>,
    pub bytes_total: Option<f64>,
    pub elapsed_ms: Option<f64>,
    pub rate: Option<f64>,
    pub eta_ms: Option<f64>,
    pub path: Option<String>,
    pub key: Option<String>,
    pub size: Option<f64>,
    /// `uploaded`, `skipped` or `failed` (a `file` step).
    pub status: Option<String>,
    pub reason: Option<String>,
    pub uploaded: Option<f64>,
    pub skipped: Option<f64>,
    pub failed: Option<Vec<FailureJs>>,
    pub symlinks_skipped: Option<f64>,
    pub bytes_uploaded: Option<f64>,
    pub error: Option<ErrorInfoJs>,
}

impl DirEventJs {
    fn new(kind: &str) -> Self {
        DirEventJs {
            kind: kind.into(),
            files_done: None,
            files_total: None,
            bytes_done: None,
            bytes_total: None,
            elapsed_ms: None,
            rate: None,
            eta_ms: None,
            path: None,
            key: None,
            size: None,
            status: None,
            reason: None,
            uploaded: None,
            skipped: None,
            failed: None,
            symlinks_skipped: None,
            bytes_uploaded: None,
            error: None,
        }
    }
}

fn globs(list: Option<Vec<String>>) -> Result<Vec<Glob>, Error> {
    list.unwrap_or_default()
        .iter()
        .map(|p| Glob::new(p))
        .collect()
}

#[napi]
impl NativeClient {
    /// Uploads every file under `dir` to `prefix`; read the job's steps with `next()`.
    #[napi]
    pub fn upload_directory(
        &self,
        dir: String,
        prefix: String,
        options: DirOptionsJs,
    ) -> DirSession {
        let cancel = Arc::new(CancelFlag::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let prepared = (|| -> Result<DirUpload, Error> {
            Ok(DirUpload {
                root: dir.into(),
                prefix,
                filters: Filters {
                    include: globs(options.include)?,
                    exclude: globs(options.exclude)?,
                    follow_symlinks: options.follow_symlinks.unwrap_or(false),
                },
                parallel: parallel(options.parallel)?,
                part_size: options.part_size,
                update: options.update.unwrap_or(false),
                checkpoint_dir: options.checkpoint_dir.map(Into::into),
                options: CallOptions {
                    headers: headers(options.headers)?,
                    content_type: None,
                    timeout: timeout(options.timeout)?,
                },
                file_events: options.file_events.unwrap_or(false),
                cancel: cancel.clone(),
            })
        })();
        match prepared {
            Ok(job) => {
                napi::bindgen_prelude::spawn(dir::run(self.inner.clone(), job, tx));
            }
            Err(e) => {
                let _ = tx.send(DirEvent::Failed(e));
            }
        }
        DirSession {
            events: Arc::new(tokio::sync::Mutex::new(rx)),
            cancel,
        }
    }
}

/// A running folder upload.
#[napi]
pub struct DirSession {
    events: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<DirEvent>>>,
    cancel: Arc<CancelFlag>,
}

#[napi]
impl DirSession {
    /// The next step; after `done` or `error` there are no more.
    #[napi]
    pub async fn next(&self) -> DirEventJs {
        let Some(event) = self.events.lock().await.recv().await else {
            let mut e = DirEventJs::new("error");
            e.error = Some(
                Error::internal("the folder upload ended without a result")
                    .info(false)
                    .into(),
            );
            return e;
        };
        match event {
            DirEvent::Progress(p) => DirEventJs {
                files_done: Some(p.files_done as f64),
                files_total: p.files_total.map(|v| v as f64),
                bytes_done: Some(p.bytes_done as f64),
                bytes_total: p.bytes_total.map(|v| v as f64),
                elapsed_ms: Some(p.elapsed_ms as f64),
                rate: Some(p.rate),
                eta_ms: p.eta_ms.map(|v| v as f64),
                ..DirEventJs::new("progress")
            },
            DirEvent::File {
                path,
                key,
                size,
                status,
                reason,
            } => DirEventJs {
                path: Some(path),
                key: Some(key),
                size: Some(size as f64),
                status: Some(
                    match status {
                        FileStatus::Uploaded => "uploaded",
                        FileStatus::Skipped => "skipped",
                        FileStatus::Failed => "failed",
                    }
                    .into(),
                ),
                reason,
                ..DirEventJs::new("file")
            },
            DirEvent::Done(s) => DirEventJs {
                uploaded: Some(s.uploaded as f64),
                skipped: Some(s.skipped as f64),
                failed: Some(
                    s.failed
                        .into_iter()
                        .map(|f| FailureJs {
                            path: f.path,
                            key: f.key,
                            reason: f.reason,
                        })
                        .collect(),
                ),
                symlinks_skipped: Some(s.symlinks_skipped as f64),
                bytes_uploaded: Some(s.bytes_uploaded as f64),
                elapsed_ms: Some(s.elapsed_ms as f64),
                ..DirEventJs::new("done")
            },
            DirEvent::Failed(e) => DirEventJs {
                error: Some(e.info(false).into()),
                ..DirEventJs::new("error")
            },
        }
    }

    /// Stops the job: no new file starts, the files in flight stop.
    #[napi]
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}
