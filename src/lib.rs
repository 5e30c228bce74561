#![deny(clippy::all)]
//! oss-turbo's native addon. This file is the napi surface only: it converts JavaScript values into the
//! core's types, runs the core, and converts results, events and errors back. Everything else in `src/`
//! is plain async Rust that knows nothing of napi.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use napi::bindgen_prelude::{Buffer, Either, Promise};
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;
use tokio::sync::mpsc;

mod client;
mod config;
mod crc64;
mod credentials;
mod dir;
mod download;
mod error;
mod http;
mod log;
#[cfg(target_os = "linux")]
mod mmap;
mod multipart;
mod napi_dir;
mod napi_download;
mod napi_stream;
mod retry;
mod sign;
mod source;
mod xml;

use crate::client::{CallOptions, CancelFlag, Client};
use crate::config::{ClientOptions, TimeoutValue};
use crate::error::{Error, ErrorInfo, ErrorKind};
use crate::http::Response;
use crate::multipart::upload::{self, Ack, Event, Resume, Upload};
use crate::sign::Credentials;
use crate::source::Source;

/// Version of the native core.
#[napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Client options as ali-oss takes them (the JS layer passes them through).
#[napi(object)]
pub struct ClientOptionsJs {
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub bucket: Option<String>,
    pub access_key_id: Option<String>,
    pub access_key_secret: Option<String>,
    pub sts_token: Option<String>,
    pub secure: Option<bool>,
    pub internal: Option<bool>,
    pub cname: Option<bool>,
    pub sld_enable: Option<bool>,
    /// Milliseconds, or a string like `'2m'`.
    pub timeout: Option<Either<f64, String>>,
    pub authorization_v4: Option<bool>,
    pub retry_max: Option<u32>,
    pub refresh_sts_token_interval: Option<f64>,
    /// Extra trusted CA certificates (PEM).
    pub ca: Option<Vec<String>>,
}

/// What `refreshSTSToken` resolves with (normalized by the JS layer).
#[napi(object)]
pub struct CredentialsJs {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub sts_token: Option<String>,
}

/// The JS refresher: called with no argument, returns a Promise of credentials. Weak: it never keeps
/// Node's event loop alive.
type RefreshFn = ThreadsafeFunction<(), Promise<CredentialsJs>, (), napi::Status, false, true>;

struct JsRefresher(RefreshFn);

impl http::CredentialsSource for JsRefresher {
    fn refresh(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Credentials, Error>> + Send + '_>>
    {
        Box::pin(async move {
            let failed =
                |e: napi::Error| Error::invalid(format!("refreshSTSToken failed: {}", e.reason));
            let promise = self.0.call_async(()).await.map_err(failed)?;
            let c = promise.await.map_err(failed)?;
            Ok(Credentials::new(
                c.access_key_id,
                c.access_key_secret,
                c.sts_token,
            ))
        })
    }
}

/// Options of one call (headers already include `x-oss-meta-*`).
#[napi(object)]
pub struct CallOptionsJs {
    pub headers: Option<HashMap<String, String>>,
    pub content_type: Option<String>,
    pub timeout: Option<Either<f64, String>>,
}

#[napi(object)]
pub struct PartJs {
    pub number: u32,
    pub etag: String,
}

/// The part of an ali-oss checkpoint the core needs to resume.
#[napi(object)]
pub struct CheckpointJs {
    pub upload_id: String,
    pub file_size: f64,
    pub part_size: f64,
    pub done_parts: Vec<PartJs>,
}

#[napi(object)]
pub struct UploadOptionsJs {
    pub part_size: Option<f64>,
    pub parallel: Option<f64>,
    pub headers: Option<HashMap<String, String>>,
    pub content_type: Option<String>,
    /// Sent on Complete only (and on the small-file put): the callback headers.
    pub complete_headers: Option<HashMap<String, String>>,
    pub timeout: Option<Either<f64, String>>,
    pub checkpoint: Option<CheckpointJs>,
    /// Keep a durable checkpoint at this path (written atomically, resumed from, removed on success).
    pub checkpoint_file: Option<String>,
    /// Report bytes sent (`bytes` steps) about ten times a second.
    pub byte_progress: Option<bool>,
    /// Report every stored part (`part` steps, each to be acknowledged); default true.
    pub part_events: Option<bool>,
}

/// ali-oss's `res`.
#[napi(object)]
pub struct ResJs {
    pub status: u32,
    pub status_code: u32,
    pub status_message: String,
    pub headers: HashMap<String, String>,
    pub size: f64,
    pub aborted: bool,
    pub rt: f64,
    pub data: Buffer,
    pub request_urls: Vec<String>,
    /// The server's IP address and port (urllib's `remoteAddress`, `remotePort`).
    pub remote_address: Option<String>,
    pub remote_port: Option<u32>,
}

/// The fields of an ali-oss error; the JS layer builds the error object from them.
#[napi(object)]
pub struct ErrorInfoJs {
    /// `'error'` (an Error object), `'cancel'` / `'abort'` (ali-oss's plain objects) or `'callback'`.
    pub kind: String,
    pub name: String,
    pub message: String,
    pub code: Option<String>,
    pub status: Option<i32>,
    pub request_id: Option<String>,
    pub host_id: Option<String>,
    pub ec_code: Option<String>,
    pub part_num: Option<u32>,
    /// Node's fs error fields (`errno` negative, as libuv gives it), for a failed local file operation.
    pub errno: Option<i32>,
    pub syscall: Option<String>,
    pub path: Option<String>,
}

/// What an operation returned: `error`, or the fields of its result.
#[napi(object)]
pub struct OutcomeJs {
    pub error: Option<ErrorInfoJs>,
    pub res: Option<ResJs>,
    pub upload_id: Option<String>,
    pub bucket: Option<String>,
    pub name: Option<String>,
    pub etag: Option<String>,
    /// A parsed XML body (xml2js shape) for list operations.
    pub data: Option<serde_json::Value>,
}

/// One step of a `multipartUpload`.
#[napi(object)]
pub struct EventJs {
    /// `warning`, `put`, `initiated`, `resumed`, `part`, `completed` or `error`.
    pub kind: String,
    pub message: Option<String>,
    pub upload_id: Option<String>,
    pub file_size: Option<f64>,
    pub part_size: Option<f64>,
    pub num_parts: Option<f64>,
    pub number: Option<u32>,
    pub etag: Option<String>,
    pub done_parts: Option<Vec<PartJs>>,
    pub loaded: Option<f64>,
    pub total: Option<f64>,
    pub res: Option<ResJs>,
    pub error: Option<ErrorInfoJs>,
}

impl From<Response> for ResJs {
    fn from(r: Response) -> Self {
        let mut headers: HashMap<String, String> = HashMap::with_capacity(r.headers.len());
        for (k, v) in r.headers {
            headers
                .entry(k)
                .and_modify(|old| {
                    old.push_str(", ");
                    old.push_str(&v);
                })
                .or_insert(v);
        }
        ResJs {
            status: u32::from(r.status),
            status_code: u32::from(r.status),
            status_message: r.status_text,
            headers,
            size: r.body.len() as f64,
            aborted: false,
            rt: r.rt_ms as f64,
            data: Buffer::from(r.body.to_vec()),
            request_urls: vec![r.url],
            remote_address: r.remote.map(|a| a.ip().to_string()),
            remote_port: r.remote.map(|a| u32::from(a.port())),
        }
    }
}

impl From<ErrorInfo> for ErrorInfoJs {
    fn from(i: ErrorInfo) -> Self {
        let kind = match i.kind {
            ErrorKind::Error => "error",
            ErrorKind::Cancel => "cancel",
            ErrorKind::Abort => "abort",
            ErrorKind::Callback => "callback",
        };
        ErrorInfoJs {
            kind: kind.into(),
            name: i.name,
            message: i.message,
            code: i.code,
            status: i.status,
            request_id: i.request_id,
            host_id: i.host_id,
            ec_code: i.ec_code,
            part_num: i.part_num,
            errno: i.errno,
            syscall: i.syscall,
            path: i.path,
        }
    }
}

impl OutcomeJs {
    fn empty() -> Self {
        OutcomeJs {
            error: None,
            res: None,
            upload_id: None,
            bucket: None,
            name: None,
            etag: None,
            data: None,
        }
    }

    fn res(res: Response) -> Self {
        OutcomeJs {
            res: Some(res.into()),
            ..Self::empty()
        }
    }

    fn from_result(r: Result<OutcomeJs, Error>) -> Self {
        r.unwrap_or_else(|e| OutcomeJs {
            error: Some(e.info(false).into()),
            ..Self::empty()
        })
    }
}

impl EventJs {
    fn new(kind: &str) -> Self {
        EventJs {
            kind: kind.into(),
            message: None,
            upload_id: None,
            file_size: None,
            part_size: None,
            num_parts: None,
            number: None,
            etag: None,
            done_parts: None,
            loaded: None,
            total: None,
            res: None,
            error: None,
        }
    }
}

/// One `multipartUpload` step as JavaScript sees it: one small constructor per [`Event`] kind. The
/// `initiated` and `part` steps hand back their acknowledgement for the session to hold.
impl EventJs {
    fn from_upload(event: Event, parallel_path: bool) -> (Self, Option<Ack>) {
        match event {
            Event::Warning(message) => (Self::warning(message), None),
            Event::Put { res } => (Self::with_etag("put", res), None),
            Event::Initiated {
                upload_id,
                file_size,
                part_size,
                num_parts,
                res,
                ack,
            } => {
                let sizes = (file_size, part_size, num_parts);
                (Self::initiated(upload_id, sizes, res), Some(ack))
            }
            Event::Bytes { loaded, total } => (Self::bytes(loaded, total), None),
            Event::Resumed {
                upload_id,
                file_size,
                part_size,
                num_parts,
                done,
            } => {
                let sizes = (file_size, part_size, num_parts);
                (Self::resumed(upload_id, sizes, done), None)
            }
            Event::Part {
                number,
                etag,
                num_parts,
                res,
                ack,
            } => (Self::part(number, etag, num_parts, res), Some(ack)),
            Event::Completed { res } => (Self::with_etag("completed", res), None),
            Event::Failed(e) => (Self::failed(e.info(parallel_path)), None),
        }
    }

    fn warning(message: String) -> Self {
        EventJs {
            message: Some(message),
            ..EventJs::new("warning")
        }
    }

    /// `put` and `completed`: the response and its ETag.
    fn with_etag(kind: &str, res: Response) -> Self {
        EventJs {
            etag: res.header("etag").map(str::to_string),
            res: Some(res.into()),
            ..EventJs::new(kind)
        }
    }

    /// `initiated` and `resumed` share the upload's id and `(fileSize, partSize, numParts)`.
    fn sized(
        kind: &str,
        upload_id: String,
        (file_size, part_size, num_parts): (u64, u64, u64),
    ) -> Self {
        EventJs {
            upload_id: Some(upload_id),
            file_size: Some(file_size as f64),
            part_size: Some(part_size as f64),
            num_parts: Some(num_parts as f64),
            ..EventJs::new(kind)
        }
    }

    fn initiated(upload_id: String, sizes: (u64, u64, u64), res: Response) -> Self {
        EventJs {
            res: Some(res.into()),
            ..Self::sized("initiated", upload_id, sizes)
        }
    }

    fn resumed(upload_id: String, sizes: (u64, u64, u64), done: Vec<(u32, String)>) -> Self {
        EventJs {
            done_parts: Some(
                done.into_iter()
                    .map(|(number, etag)| PartJs { number, etag })
                    .collect(),
            ),
            ..Self::sized("resumed", upload_id, sizes)
        }
    }

    fn bytes(loaded: u64, total: u64) -> Self {
        EventJs {
            loaded: Some(loaded as f64),
            total: Some(total as f64),
            ..EventJs::new("bytes")
        }
    }

    fn part(number: u32, etag: String, num_parts: u64, res: Response) -> Self {
        EventJs {
            number: Some(number),
            etag: Some(etag),
            num_parts: Some(num_parts as f64),
            res: Some(res.into()),
            ..EventJs::new("part")
        }
    }

    fn failed(info: ErrorInfo) -> Self {
        EventJs {
            error: Some(info.into()),
            ..EventJs::new("error")
        }
    }
}

/// A JS timeout (ms or a string like `'2m'`) as the core takes it.
fn timeout_value(v: Either<f64, String>) -> TimeoutValue {
    match v {
        Either::A(ms) => TimeoutValue::Ms(ms),
        Either::B(text) => TimeoutValue::Text(text),
    }
}

fn timeout(v: Option<Either<f64, String>>) -> Result<Option<Duration>, Error> {
    let Some(v) = v else { return Ok(None) };
    let ms = config::parse_timeout(&timeout_value(v)).map_err(|e| Error::invalid(e.0))?;
    Ok(Some(Duration::from_millis(ms)))
}

fn headers(map: Option<HashMap<String, String>>) -> Result<::http::HeaderMap, Error> {
    let map = map.unwrap_or_default();
    http::header_map(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn call_options(o: Option<CallOptionsJs>) -> Result<CallOptions, Error> {
    let Some(o) = o else {
        return Ok(CallOptions::default());
    };
    Ok(CallOptions {
        headers: headers(o.headers)?,
        content_type: o.content_type,
        timeout: timeout(o.timeout)?,
    })
}

fn source(file: Either<String, Buffer>) -> Result<Source, Error> {
    match file {
        Either::A(path) => Source::open_file(&path),
        // The JS Buffer is shared, not copied: `Buffer` keeps a reference to it until the bytes are dropped.
        Either::B(buf) => Ok(Source::Memory(Bytes::from_owner(buf))),
    }
}

/// An absolute form of a path, so a checkpoint file names the file whatever the working folder.
fn absolute(path: &str) -> String {
    std::path::absolute(path)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| path.to_string())
}

fn parallel(v: Option<f64>) -> Result<usize, Error> {
    match v {
        None => Ok(5),
        Some(p) if p.fract() == 0.0 && (1.0..=1000.0).contains(&p) => Ok(p as usize),
        Some(p) => Err(Error::invalid(format!(
            "parallel must be an integer from 1 to 1000, got {p}"
        ))),
    }
}

fn to_u64(v: f64, what: &str) -> Result<u64, Error> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 {
        Ok(v as u64)
    } else {
        Err(Error::invalid(format!(
            "{what} must be a non-negative integer, got {v}"
        )))
    }
}

/// The native client behind the JS `OSS` class.
#[napi]
pub struct NativeClient {
    inner: Arc<Client>,
}

#[napi]
impl NativeClient {
    #[napi(constructor)]
    pub fn new(o: ClientOptionsJs) -> napi::Result<Self> {
        let timeout = o.timeout.map(timeout_value);
        let options = ClientOptions {
            region: o.region,
            endpoint: o.endpoint,
            bucket: o.bucket,
            access_key_id: o.access_key_id,
            access_key_secret: o.access_key_secret,
            sts_token: o.sts_token,
            secure: o.secure,
            internal: o.internal,
            cname: o.cname,
            sld_enable: o.sld_enable,
            timeout,
            authorization_v4: o.authorization_v4,
            retry_max: o.retry_max,
            refresh_sts_token_interval: o.refresh_sts_token_interval.map(|v| v.max(0.0) as u64),
            ca: o.ca.unwrap_or_default(),
        };
        let inner =
            Client::new(options).map_err(|e| napi::Error::from_reason(e.info(false).message))?;
        Ok(NativeClient {
            inner: Arc::new(inner),
        })
    }

    #[napi]
    pub fn bucket(&self) -> Option<String> {
        self.inner.bucket()
    }

    /// Sends the next requests to this bucket (the JS client's `options.bucket` after `useBucket`).
    #[napi]
    pub fn set_bucket(&self, bucket: Option<String>) {
        self.inner.http.set_bucket(bucket.filter(|b| !b.is_empty()));
    }

    #[napi]
    pub fn object_url(&self, name: String) -> String {
        self.inner.http.object_url(&name)
    }

    #[napi]
    pub fn cancel(&self) {
        self.inner.cancel.cancel();
    }

    #[napi]
    pub fn is_cancel(&self) -> bool {
        self.inner.cancel.is_set()
    }

    #[napi]
    pub fn reset_cancel(&self) {
        self.inner.cancel.reset();
    }

    /// New credentials from the next request on (STS refresh).
    #[napi]
    pub fn set_credentials(
        &self,
        access_key_id: String,
        access_key_secret: String,
        sts_token: Option<String>,
    ) {
        self.inner.http.set_credentials(Credentials::new(
            access_key_id,
            access_key_secret,
            sts_token,
        ));
    }

    /// Installs the STS refresher (ali-oss's `refreshSTSToken`), used before any request whose STS
    /// credentials are older than `refreshSTSTokenInterval`.
    #[napi]
    pub fn set_credentials_refresher(&self, refresh: RefreshFn) {
        self.inner
            .http
            .set_refresher(Arc::new(JsRefresher(refresh)));
    }

    /// Starts a multipart upload (or resumes one from `options.checkpoint`); read its steps with `next()`.
    #[napi]
    pub fn multipart_upload(
        &self,
        name: String,
        file: Either<String, Buffer>,
        options: UploadOptionsJs,
    ) -> UploadSession {
        let cancel = Arc::new(CancelFlag::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let parallel_path = options.parallel != Some(1.0);
        let prepared = (|| -> Result<Upload, Error> {
            let resume = match options.checkpoint {
                Some(cp) => Some(Resume {
                    upload_id: cp.upload_id,
                    file_size: to_u64(cp.file_size, "checkpoint.fileSize")?,
                    part_size: to_u64(cp.part_size, "checkpoint.partSize")?,
                    done: cp
                        .done_parts
                        .into_iter()
                        .map(|p| (p.number, p.etag))
                        .collect(),
                }),
                None => None,
            };
            let path = match &file {
                Either::A(p) => Some(absolute(p)),
                Either::B(_) => None,
            };
            Ok(Upload {
                key: config::object_name(&name),
                source: source(file)?,
                path,
                checkpoint_file: options.checkpoint_file.map(std::path::PathBuf::from),
                byte_progress: options.byte_progress.unwrap_or(false),
                part_events: options.part_events.unwrap_or(true),
                part_size: options.part_size,
                parallel: parallel(options.parallel)?,
                options: CallOptions {
                    headers: headers(options.headers)?,
                    content_type: options.content_type,
                    timeout: timeout(options.timeout)?,
                },
                complete_headers: headers(options.complete_headers)?,
                resume,
                cancel: cancel.clone(),
            })
        })();
        match prepared {
            Ok(up) => {
                napi::bindgen_prelude::spawn(upload::run(self.inner.clone(), up, tx));
            }
            Err(e) => {
                let _ = tx.send(Event::Failed(e));
            }
        }
        UploadSession {
            events: Arc::new(tokio::sync::Mutex::new(rx)),
            pending: AckSlot::default(),
            cancel,
            parallel_path,
        }
    }

    #[napi]
    pub async fn init_multipart_upload(
        &self,
        name: String,
        options: Option<CallOptionsJs>,
    ) -> OutcomeJs {
        let client = self.inner.clone();
        OutcomeJs::from_result(
            async {
                let key = config::object_name(&name);
                let (init, res) = client.init_multipart(&key, &call_options(options)?).await?;
                Ok(OutcomeJs {
                    upload_id: Some(init.upload_id),
                    bucket: Some(init.bucket),
                    name: Some(init.key),
                    ..OutcomeJs::res(res)
                })
            }
            .await,
        )
    }

    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part(
        &self,
        name: String,
        upload_id: String,
        part_no: u32,
        file: Either<String, Buffer>,
        start: f64,
        end: f64,
        options: Option<CallOptionsJs>,
    ) -> OutcomeJs {
        let client = self.inner.clone();
        OutcomeJs::from_result(
            async {
                let key = config::object_name(&name);
                let source = source(file)?;
                let (start, end) = (to_u64(start, "start")?, to_u64(end, "end")?);
                if start > end || end > source.len() {
                    return Err(Error::invalid(format!(
                        "the range {start}-{end} is outside the {} bytes of the source",
                        source.len()
                    )));
                }
                let opts = call_options(options)?.for_parts();
                let request = client::PartRequest {
                    key: &key,
                    upload_id: &upload_id,
                    number: part_no,
                    source: &source,
                    start,
                    end,
                    opts: &opts,
                };
                let out = client.upload_part(&request, None).await?;
                Ok(OutcomeJs {
                    name: Some(name.clone()),
                    etag: Some(out.etag),
                    ..OutcomeJs::res(out.res)
                })
            }
            .await,
        )
    }

    #[napi]
    pub async fn complete_multipart_upload(
        &self,
        name: String,
        upload_id: String,
        parts: Vec<PartJs>,
        options: Option<CallOptionsJs>,
    ) -> OutcomeJs {
        let client = self.inner.clone();
        OutcomeJs::from_result(
            async {
                let key = config::object_name(&name);
                let parts: Vec<(u32, String)> =
                    parts.into_iter().map(|p| (p.number, p.etag)).collect();
                let res = client
                    .complete(&key, &upload_id, &parts, &call_options(options)?)
                    .await?;
                Ok(OutcomeJs {
                    etag: res.header("etag").map(str::to_string),
                    bucket: client.bucket(),
                    name: Some(name.clone()),
                    ..OutcomeJs::res(res)
                })
            }
            .await,
        )
    }

    #[napi]
    pub async fn abort_multipart_upload(
        &self,
        name: String,
        upload_id: String,
        options: Option<CallOptionsJs>,
    ) -> OutcomeJs {
        let client = self.inner.clone();
        OutcomeJs::from_result(
            async {
                let key = config::object_name(&name);
                Ok(OutcomeJs::res(
                    client
                        .abort(&key, &upload_id, &call_options(options)?)
                        .await?,
                ))
            }
            .await,
        )
    }

    #[napi]
    pub async fn list_parts(
        &self,
        name: String,
        upload_id: String,
        query: Option<HashMap<String, String>>,
        options: Option<CallOptionsJs>,
    ) -> OutcomeJs {
        let client = self.inner.clone();
        OutcomeJs::from_result(
            async {
                let key = config::object_name(&name);
                let query = query.unwrap_or_default().into_iter().collect();
                let (data, res) = client
                    .list_parts(&key, &upload_id, query, &call_options(options)?)
                    .await?;
                Ok(OutcomeJs {
                    data: Some(data),
                    ..OutcomeJs::res(res)
                })
            }
            .await,
        )
    }

    #[napi]
    pub async fn list_uploads(
        &self,
        query: Option<HashMap<String, String>>,
        options: Option<CallOptionsJs>,
    ) -> OutcomeJs {
        let client = self.inner.clone();
        OutcomeJs::from_result(
            async {
                let query = query.unwrap_or_default().into_iter().collect();
                let (data, res) = client.list_uploads(query, &call_options(options)?).await?;
                Ok(OutcomeJs {
                    data: Some(data),
                    ..OutcomeJs::res(res)
                })
            }
            .await,
        )
    }

    #[napi]
    pub async fn put(
        &self,
        name: String,
        file: Either<String, Buffer>,
        options: Option<CallOptionsJs>,
    ) -> OutcomeJs {
        let client = self.inner.clone();
        OutcomeJs::from_result(
            async {
                let key = config::object_name(&name);
                let source = source(file)?;
                let opts = call_options(options)?;
                let res = client.put(&key, &source, &opts, None).await?;
                Ok(OutcomeJs {
                    name: Some(key),
                    etag: res.header("etag").map(str::to_string),
                    ..OutcomeJs::res(res)
                })
            }
            .await,
        )
    }

    #[napi]
    pub async fn head(&self, name: String, options: Option<CallOptionsJs>) -> OutcomeJs {
        let client = self.inner.clone();
        OutcomeJs::from_result(
            async {
                let key = config::object_name(&name);
                Ok(OutcomeJs::res(
                    client.head(&key, &call_options(options)?).await?,
                ))
            }
            .await,
        )
    }
}

/// A running `multipartUpload`: JavaScript pulls its steps with `next()` and acknowledges each
/// `initiated`/`part` step with `ack()` once its `progress` callback has settled.
#[napi]
pub struct UploadSession {
    events: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Event>>>,
    pending: AckSlot,
    cancel: Arc<CancelFlag>,
    parallel_path: bool,
}

#[napi]
impl UploadSession {
    /// The next step; after `completed`, `put` or `error` there are no more.
    #[napi]
    pub async fn next(&self) -> EventJs {
        // A step not acknowledged yet counts as acknowledged when the next one is asked for.
        self.ack(true);
        let event = self.events.lock().await.recv().await;
        let Some(event) = event else {
            return EventJs::failed(
                Error::internal("the upload ended without a result").info(false),
            );
        };
        let (js, ack) = EventJs::from_upload(event, self.parallel_path);
        if let Some(ack) = ack {
            self.pending.hold(ack);
        }
        js
    }

    /// Acknowledges the last `initiated`/`part` step; `ok = false` when its callback threw.
    #[napi]
    pub fn ack(&self, ok: bool) {
        self.pending.answer(ok);
    }

    /// Cancels this upload only.
    #[napi]
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

/// The acknowledgement an upload session waits for: the engine's `Ack` for the last `initiated`/`part`
/// step, held until JavaScript's `progress` has settled and `ack(ok)` answers it.
#[derive(Default)]
struct AckSlot(Mutex<Option<Ack>>);

impl AckSlot {
    fn hold(&self, ack: Ack) {
        if let Ok(mut p) = self.0.lock() {
            *p = Some(ack);
        }
    }

    fn answer(&self, ok: bool) {
        let pending = self.0.lock().ok().and_then(|mut p| p.take());
        if let Some(ack) = pending {
            let _ = ack.send(ok);
        }
    }
}
