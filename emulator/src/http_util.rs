//! Request-body reading and response building shared by the OSS and control handlers.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body::{Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;

use crate::error::OssError;
use crate::util::http_date;
use crate::xml::error_body;

pub type Body = BoxBody<Bytes, io::Error>;

pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// A body fed by a channel (file reads happen on a blocking thread).
pub struct ChannelBody {
    pub rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    pub len: u64,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

/// Why reading a request body stopped early.
#[derive(Debug)]
pub enum BodyError {
    /// The client hung up or sent a malformed body.
    Client(String),
    /// More than the allowed number of bytes.
    TooLarge,
}

impl BodyError {
    pub fn into_oss(self) -> OssError {
        match self {
            BodyError::Client(m) => OssError::new(
                400,
                "IncompleteBody",
                format!("The request body ended before the declared length was received: {m}"),
            ),
            BodyError::TooLarge => OssError::new(
                400,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size.",
            ),
        }
    }
}

/// Whether a body read failed because the client went away: its connection ended or was
/// reset mid-body, or (HTTP/2) it reset the stream. Malformed framing is not that.
fn client_went_away(e: &hyper::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(x) = cur {
        if let Some(io) = x.downcast_ref::<io::Error>() {
            return matches!(
                io.kind(),
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
            );
        }
        if let Some(h2) = x.downcast_ref::<h2::Error>() {
            return h2.is_reset() || h2.is_go_away() || h2.is_io();
        }
        cur = x.source();
    }
    false
}

/// Reads a request body frame by frame, counting bytes.
pub struct BodyReader {
    inner: Option<Incoming>,
    pub received: u64,
    pub finished: bool,
    /// The body ended early because the client went away (see [`client_went_away`]).
    pub client_gone: bool,
}

impl BodyReader {
    pub fn new(inner: Incoming) -> Self {
        BodyReader {
            inner: Some(inner),
            received: 0,
            finished: false,
            client_gone: false,
        }
    }

    /// The next non-empty data chunk, or None at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        let Some(inner) = self.inner.as_mut() else {
            return Ok(None);
        };
        loop {
            match inner.frame().await {
                None => {
                    self.finished = true;
                    return Ok(None);
                }
                Some(Err(e)) => {
                    self.client_gone = client_went_away(&e);
                    return Err(BodyError::Client(e.to_string()));
                }
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        if d.is_empty() {
                            continue;
                        }
                        self.received += d.len() as u64;
                        return Ok(Some(d));
                    }
                }
            }
        }
    }

    /// Reads the whole body into memory, up to `cap` bytes (for small XML/JSON bodies).
    pub async fn read_small(&mut self, cap: usize) -> Result<Vec<u8>, BodyError> {
        let mut v = Vec::new();
        while let Some(c) = self.chunk().await? {
            if v.len() + c.len() > cap {
                return Err(BodyError::TooLarge);
            }
            v.extend_from_slice(&c);
        }
        Ok(v)
    }

    /// Reads and discards up to `cap` bytes; true when the body was consumed fully.
    pub async fn drain(&mut self, cap: u64) -> bool {
        if self.finished {
            return true;
        }
        let start = self.received;
        loop {
            match self.chunk().await {
                Ok(None) => return true,
                Ok(Some(_)) => {
                    if self.received - start > cap {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// Reads (and discards) up to `n` bytes.
    pub async fn consume(&mut self, n: u64) {
        while self.received < n {
            match self.chunk().await {
                Ok(Some(_)) => {}
                _ => return,
            }
        }
    }
}

/// Common response headers: request id, Date, Server.
pub fn builder(
    status: u16,
    request_id: &str,
    now: std::time::SystemTime,
) -> http::response::Builder {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("server", "AliyunOSS")
        .header("date", http_date(now))
        .header("x-oss-request-id", request_id)
}

/// Finishes a builder, falling back to a bare 500 if a header value was invalid.
pub fn finish(b: http::response::Builder, body: Body) -> Response<Body> {
    match b.body(body) {
        Ok(r) => r,
        Err(_) => {
            let mut r = Response::new(full("internal error building the response"));
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    }
}

/// An OSS error response; HEAD gets no body and the XML base64 in `x-oss-err`.
pub fn error_response(
    e: &OssError,
    request_id: &str,
    host_id: &str,
    now: std::time::SystemTime,
    head: bool,
) -> Response<Body> {
    let xml = error_body(e, request_id, host_id);
    let b = builder(e.status, request_id, now)
        .header("content-type", "application/xml")
        .header("x-oss-ec", e.ec());
    if head {
        let b = b.header("x-oss-err", B64.encode(xml.as_bytes()));
        finish(b.header("content-length", "0"), empty())
    } else {
        let len = xml.len();
        finish(b.header("content-length", len), full(xml))
    }
}

pub fn set_header(r: &mut Response<Body>, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

pub fn json_response(
    status: u16,
    request_id: &str,
    now: std::time::SystemTime,
    body: Vec<u8>,
) -> Response<Body> {
    let len = body.len();
    finish(
        builder(status, request_id, now)
            .header("content-type", "application/json")
            .header("content-length", len),
        full(body),
    )
}

/// Streams `len` bytes of `file` from `start`, read on a blocking thread in 256 KiB
/// chunks (bounded channel: memory stays small whatever the size).
pub fn file_body(mut file: std::fs::File, start: u64, len: u64) -> Body {
    use std::io::{Read, Seek, SeekFrom};
    if len == 0 {
        return empty();
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = file.seek(SeekFrom::Start(start)) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        let mut left = len;
        while left > 0 {
            let n = left.min(256 * 1024) as usize;
            let mut buf = vec![0u8; n];
            if let Err(e) = file.read_exact(&mut buf) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
            left -= n as u64;
            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                return;
            }
        }
    });
    ChannelBody { rx, len }.boxed()
}
