//! The OSS operations oss-turbo offers, one async method each, plus the client-wide cancel flag.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use http::Method;
use md5::{Digest, Md5};
use tokio::sync::Notify;

use crate::config::{ClientConfig, ClientOptions};
use crate::error::{Error, NetworkKind};
use crate::http::{Body, Http, Request, Response};
use crate::source::{PartHash, Source};
use crate::xml;

/// A body that produces no byte for this long is a stalled connection (at most the request timeout).
pub const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers that ali-oss sends on InitiateMultipartUpload only, never on parts or Complete.
const INITIATE_ONLY: [&str; 2] = ["x-oss-server-side-encryption", "x-oss-storage-class"];

/// Per-call settings shared by every operation.
#[derive(Clone, Default)]
pub struct CallOptions {
    /// User headers (with `meta` already turned into `x-oss-meta-*`).
    pub headers: HeaderMap,
    /// The Content-Type to send when `headers` has none.
    pub content_type: Option<String>,
    pub timeout: Option<Duration>,
}

impl CallOptions {
    pub(crate) fn apply(&self, req: &mut Request) {
        for (name, value) in &self.headers {
            req.headers.insert(name.clone(), value.clone());
        }
        if !req.headers.contains_key(CONTENT_TYPE) {
            if let Some(ct) = self
                .content_type
                .as_deref()
                .and_then(|c| HeaderValue::from_str(c).ok())
            {
                req.headers.insert(CONTENT_TYPE, ct);
            }
        }
        req.timeout = self.timeout;
    }

    /// The same options without the headers that belong to Initiate only (for parts and Complete).
    pub fn for_parts(&self) -> CallOptions {
        let mut copy = self.clone();
        for name in INITIATE_ONLY {
            copy.headers.remove(name);
        }
        copy
    }
}

/// One part to upload: bytes `[start, end)` of `source` as part `number` of the upload `upload_id`;
/// `opts` are part options (see [`CallOptions::for_parts`]).
#[derive(Clone, Copy)]
pub struct PartRequest<'a> {
    pub key: &'a str,
    pub upload_id: &'a str,
    pub number: u32,
    pub source: &'a Source,
    pub start: u64,
    pub end: u64,
    pub opts: &'a CallOptions,
}

/// What UploadPart returned, with the part's CRC-64 as computed while it was sent.
#[derive(Debug, Clone)]
pub struct PartOutcome {
    pub etag: String,
    pub crc: u64,
    pub res: Response,
}

/// How Complete failed: the final error, and the first try's error (the same error when it failed once).
#[derive(Debug)]
pub struct CompleteFailure {
    pub first: Option<Error>,
    pub last: Error,
}

/// Refuses, before anything is sent, an object name OSS can never accept: a NUL byte (which HTTP cannot
/// carry and OSS rejects). Other limits (length, leading `/`) are left to the server, as ali-oss does.
pub fn check_key(key: &str) -> Result<(), Error> {
    if key.contains('\0') {
        return Err(Error::invalid(
            "the object name contains a NUL character (\\0), which OSS never accepts",
        ));
    }
    Ok(())
}

/// ali-oss's client-wide cancel flag (`cancel()`, `isCancel()`), which running uploads can wait on.
#[derive(Default)]
pub struct CancelFlag {
    set: AtomicBool,
    notify: Notify,
}

impl CancelFlag {
    pub fn cancel(&self) {
        self.set.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn reset(&self) {
        self.set.store(false, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// Resolves once the flag is set.
    pub async fn cancelled(&self) {
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

pub struct Client {
    pub http: Arc<Http>,
    pub cancel: Arc<CancelFlag>,
}

impl Client {
    pub fn new(options: ClientOptions) -> Result<Client, Error> {
        let config = ClientConfig::from_options(options).map_err(|e| Error::invalid(e.0))?;
        Ok(Client {
            http: Http::new(config)?,
            cancel: Arc::new(CancelFlag::default()),
        })
    }

    pub fn bucket(&self) -> Option<String> {
        self.http.bucket()
    }

    fn require_bucket(&self) -> Result<(), Error> {
        if self.http.bucket().is_none() && !self.http.config().cname {
            return Err(Error::invalid("Please create a bucket first"));
        }
        Ok(())
    }

    pub async fn init_multipart(
        &self,
        key: &str,
        opts: &CallOptions,
    ) -> Result<(xml::InitiateResult, Response), Error> {
        self.require_bucket()?;
        check_key(key)?;
        // Not idempotent: each Initiate creates an upload, so one whose answer was lost is not sent again.
        let res = self
            .http
            .call_not_idempotent(|| {
                let mut req = Request::new(Method::POST, Some(key), &[200]).query("uploads", "");
                opts.apply(&mut req);
                req
            })
            .await?;
        let init = xml::parse_initiate(&res.body).map_err(|e| {
            Error::protocol(format!(
                "InitiateMultipartUpload returned an unreadable body: {e}"
            ))
        })?;
        Ok((init, res))
    }

    /// Uploads one part and checks the server's CRC-64 of it. The bytes handed to the socket are added to
    /// `sent` (and taken back out if an attempt fails); each retry reads the bytes from the source again.
    pub async fn upload_part(
        &self,
        part: &PartRequest<'_>,
        sent: Option<Arc<AtomicU64>>,
    ) -> Result<PartOutcome, Error> {
        check_key(part.key)?;
        self.http
            .retrying(|| self.upload_part_once(part, sent.clone()))
            .await
    }

    async fn upload_part_once(
        &self,
        part: &PartRequest<'_>,
        sent: Option<Arc<AtomicU64>>,
    ) -> Result<PartOutcome, Error> {
        let PartRequest {
            key,
            upload_id,
            number,
            source,
            start,
            end,
            opts,
        } = *part;
        let (body, hash) = source.body(start, end, sent);
        let mut req = Request::new(Method::PUT, Some(key), &[200])
            .query("partNumber", number.to_string())
            .query("uploadId", upload_id);
        opts.apply(&mut req);
        req.body = Body::Stream {
            body,
            len: end - start,
        };
        let res = self.send_watched(req, &hash).await?;
        let crc = hash.result()?.ok_or_else(|| {
            Error::internal(format!("part {number}: the body was not sent completely"))
        })?;
        check_crc_of(source, &res, crc, &format!("part {number}"))?;
        let etag = res
            .header("etag")
            .ok_or_else(|| Error::protocol(format!("part {number}: the response has no ETag")))?
            .to_string();
        Ok(PartOutcome { etag, crc, res })
    }

    pub async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        opts: &CallOptions,
    ) -> Result<Response, Error> {
        self.complete_tracked(key, upload_id, parts, opts)
            .await
            .map_err(|f| f.last)
    }

    /// Complete, telling which error the first failed try had: when a try timed out after the server had
    /// completed, the retry answers `NoSuchUpload`, and the first error is what really happened.
    pub async fn complete_tracked(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        opts: &CallOptions,
    ) -> Result<Response, CompleteFailure> {
        check_key(key).map_err(|e| CompleteFailure {
            first: None,
            last: e,
        })?;
        // complete_body sorts the parts and drops repeated numbers, as ali-oss does.
        let listed: Vec<(u32, &str)> = parts.iter().map(|(n, e)| (*n, e.as_str())).collect();
        let body = Bytes::from(xml::complete_body(&listed));
        let md5 = content_md5(&body);
        let opts = opts.for_parts();
        let first: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
        let result = self
            .http
            .retrying(|| async {
                let mut req =
                    Request::new(Method::POST, Some(key), &[200]).query("uploadId", upload_id);
                opts.apply(&mut req);
                req.headers
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
                req.headers
                    .insert(HeaderName::from_static("content-md5"), md5.clone());
                req.body = Body::Bytes(body.clone());
                let r = self.http.send(req).await;
                if let Err(e) = &r {
                    let mut slot = first.lock().unwrap_or_else(|p| p.into_inner());
                    if slot.is_none() {
                        *slot = Some(e.clone());
                    }
                }
                r
            })
            .await;
        let first = first.into_inner().unwrap_or_else(|p| p.into_inner());
        result.map_err(|last| CompleteFailure { first, last })
    }

    pub async fn abort(
        &self,
        key: &str,
        upload_id: &str,
        opts: &CallOptions,
    ) -> Result<Response, Error> {
        self.require_bucket()?;
        check_key(key)?;
        self.http
            .call(|| {
                let mut req =
                    Request::new(Method::DELETE, Some(key), &[204]).query("uploadId", upload_id);
                opts.apply(&mut req);
                req
            })
            .await
    }

    pub async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
        query: Vec<(String, String)>,
        opts: &CallOptions,
    ) -> Result<(serde_json::Value, Response), Error> {
        self.list(Some(key), ("uploadId", upload_id), query, opts)
            .await
    }

    pub async fn list_uploads(
        &self,
        query: Vec<(String, String)>,
        opts: &CallOptions,
    ) -> Result<(serde_json::Value, Response), Error> {
        self.list(None, ("uploads", ""), query, opts).await
    }

    /// A GET of a listing sub-resource, its XML body in xml2js's JSON shape.
    async fn list(
        &self,
        key: Option<&str>,
        (sub, value): (&str, &str),
        query: Vec<(String, String)>,
        opts: &CallOptions,
    ) -> Result<(serde_json::Value, Response), Error> {
        self.require_bucket()?;
        if let Some(key) = key {
            check_key(key)?;
        }
        let res = self
            .http
            .call(|| {
                let mut req = Request::new(Method::GET, key, &[200]).query(sub, value);
                req.query.extend(query.iter().cloned());
                opts.apply(&mut req);
                req
            })
            .await?;
        Ok((parse_json(&res)?, res))
    }

    /// PutObject from a file (streamed) or memory (with Content-MD5, as ali-oss sends a Buffer).
    pub async fn put(
        &self,
        key: &str,
        source: &Source,
        opts: &CallOptions,
        sent: Option<Arc<AtomicU64>>,
    ) -> Result<Response, Error> {
        self.require_bucket()?;
        check_key(key)?;
        self.http
            .retrying(|| self.put_once(key, source, opts, sent.clone()))
            .await
    }

    async fn put_once(
        &self,
        key: &str,
        source: &Source,
        opts: &CallOptions,
        sent: Option<Arc<AtomicU64>>,
    ) -> Result<Response, Error> {
        let len = source.len();
        let (body, hash) = source.body(0, len, sent);
        let mut req = Request::new(Method::PUT, Some(key), &[200]);
        opts.apply(&mut req);
        if let Source::Memory(bytes) = source {
            req.headers
                .insert(HeaderName::from_static("content-md5"), content_md5(bytes));
        }
        req.body = Body::Stream { body, len };
        let res = self.send_watched(req, &hash).await?;
        if let Some(crc) = hash.result()? {
            check_crc_of(source, &res, crc, "the object")?;
        }
        Ok(res)
    }

    /// Sends a request with a streamed body, failing it when the body stops moving (a stalled
    /// connection), and preferring a local read error over the network error it caused.
    async fn send_watched(&self, req: Request, hash: &PartHash) -> Result<Response, Error> {
        let stall = STALL_TIMEOUT.min(
            req.timeout
                .unwrap_or(Duration::from_millis(self.http.config().timeout_ms)),
        );
        let result = tokio::select! {
            r = self.http.send(req) => r,
            e = stalled(hash, stall) => Err(e),
        };
        result.map_err(|e| {
            hash.retract();
            hash.error().unwrap_or(e)
        })
    }

    pub async fn head(&self, key: &str, opts: &CallOptions) -> Result<Response, Error> {
        self.require_bucket()?;
        check_key(key)?;
        self.http
            .call(|| {
                let mut req = Request::new(Method::HEAD, Some(key), &[200, 304]);
                opts.apply(&mut req);
                req
            })
            .await
    }
}

/// Resolves with an error once `hash` has produced no byte for `stall` while its body is unfinished.
async fn stalled(hash: &PartHash, stall: Duration) -> Error {
    let tick = (stall / 4).max(Duration::from_millis(50));
    let mut last = hash.bytes();
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(tick).await;
        if hash.is_finished() {
            // The body is out; the request's own timeout bounds the wait for the answer.
            return std::future::pending().await;
        }
        let now = hash.bytes();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= stall {
            return Error::Network {
                kind: NetworkKind::ResponseTimeout,
                message: format!(
                    "the connection stalled: no body bytes moved for {} ms (after {now} bytes)",
                    stall.as_millis()
                ),
            };
        }
    }
}

fn parse_json(res: &Response) -> Result<serde_json::Value, Error> {
    xml::to_json(&res.body).map_err(|e| Error::protocol(format!("unreadable XML response: {e}")))
}

pub fn content_md5(bytes: &[u8]) -> HeaderValue {
    let digest = Md5::digest(bytes);
    let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
    // base64 is always a valid header value.
    HeaderValue::from_str(&b64).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Compares the server's `x-oss-hash-crc64ecma` with ours; a server that sends none is not checked.
pub fn check_crc(res: &Response, local: u64, what: &str) -> Result<(), Error> {
    let Some(server) = res.header("x-oss-hash-crc64ecma") else {
        return Ok(());
    };
    match server.trim().parse::<u64>() {
        Ok(v) if v == local => Ok(()),
        _ => Err(Error::Integrity(format!(
            "CRC-64 mismatch for {what}: computed {local} locally, the server has {server} (request id {})",
            res.header("x-oss-request-id").unwrap_or("unknown")
        ))),
    }
}

/// [`check_crc`] for bytes read from `source`: when they differ and the file changed meanwhile (e.g. it was
/// truncated while a memory-mapped chunk was being sent, so zeros went out), that is the error to report.
fn check_crc_of(source: &Source, res: &Response, local: u64, what: &str) -> Result<(), Error> {
    check_crc(res, local, what).map_err(|e| source.check_unchanged().err().unwrap_or(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crc64;

    #[test]
    fn part_options_drop_initiate_only_headers() {
        let mut opts = CallOptions::default();
        opts.headers
            .insert("x-oss-storage-class", HeaderValue::from_static("IA"));
        opts.headers
            .insert("x-oss-meta-a", HeaderValue::from_static("1"));
        let parts = opts.for_parts();
        assert!(parts.headers.get("x-oss-storage-class").is_none());
        assert_eq!(parts.headers.get("x-oss-meta-a").unwrap(), "1");
    }

    #[test]
    fn whole_object_crc_folds_part_crcs() {
        let a = b"123456789";
        let b = b"This is a test of the emergency broadcast system.";
        let whole = [&a[..], &b[..]].concat();
        assert_eq!(
            crc64::combine_all([
                (crc64::crc64(a), a.len() as u64),
                (crc64::crc64(b), b.len() as u64)
            ]),
            crc64::crc64(&whole)
        );
    }

    #[tokio::test]
    async fn cancel_flag_wakes_waiters_and_resets() {
        let flag = Arc::new(CancelFlag::default());
        let waiter = tokio::spawn({
            let flag = flag.clone();
            async move { flag.cancelled().await }
        });
        tokio::task::yield_now().await;
        flag.cancel();
        tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .expect("woken")
            .expect("joined");
        assert!(flag.is_set());
        flag.reset();
        assert!(!flag.is_set());
    }
}
