//! Accept loop, connection handling (including abortive resets), request routing,
//! authentication, fault injection and the request log.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method, Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::auth::{self, SignedRequest};
use crate::error::OssError;
use crate::http_util::{error_response, set_header, Body, BodyReader};
use crate::request::{host_id, Conn, Req, Route};
use crate::state::{FaultAction, FaultTarget, LogEntry, State};
use crate::util::{percent_decode, request_id};
use crate::{control, ops};

/// Bytes drained from a request body whose request failed, before giving up and
/// letting the connection close.
const DRAIN_CAP: u64 = 256 << 20;

/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    http1_only: bool,
    state: Arc<State>,
) {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        // Reads of up to 256 KiB: few syscalls, and each chunk is still in L2 when
        // the CRC pass runs over it.
        .max_buf_size(256 << 10)
        .max_headers(256);
    builder.http2().max_concurrent_streams(256);
    let builder = if http1_only {
        builder.http1_only()
    } else {
        builder
    };
    let builder = Arc::new(builder);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                eprintln!("oss-emulator: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        state
            .connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            // A duplicate of the socket, kept to set SO_LINGER=0 before an abortive close.
            let dup = socket2::SockRef::from(&stream).try_clone().ok();
            let Some(acceptor) = acceptor else {
                serve_connection(stream, dup, peer, state, &builder).await;
                return;
            };
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => serve_connection(tls, dup, peer, state, &builder).await,
                Ok(Err(e)) => {
                    state
                        .tls_handshake_failures
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    eprintln!("oss-emulator: TLS handshake with {peer} failed: {e}");
                }
                Err(_) => {
                    state
                        .tls_handshake_failures
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    eprintln!(
                        "oss-emulator: TLS handshake with {peer} did not finish within {} s",
                        TLS_HANDSHAKE_TIMEOUT.as_secs()
                    );
                }
            }
        });
    }
}

/// Serves HTTP/1.1 and HTTP/2 on one (plain or TLS) connection until it ends or a
/// `reset` fault kills it.
async fn serve_connection<I>(
    io: I,
    dup: Option<socket2::Socket>,
    peer: SocketAddr,
    state: Arc<State>,
    builder: &hyper_util::server::conn::auto::Builder<TokioExecutor>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conn = Arc::new(Conn::new(peer));
    let c2 = conn.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        let state = state.clone();
        let conn = c2.clone();
        async move { Ok::<_, Infallible>(handle(state, conn, req).await) }
    });
    let mut served = Box::pin(builder.serve_connection(TokioIo::new(io), svc));
    tokio::select! {
        _ = served.as_mut() => {}
        _ = conn.killed() => {
            if let Some(d) = &dup {
                let _ = d.set_linger(Some(Duration::ZERO));
            }
        }
    }
    drop(served);
    drop(dup);
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(i) => &host[..=i],
            None => host,
        };
    }
    match host.rfind(':') {
        Some(i) if host[i + 1..].bytes().all(|c| c.is_ascii_digit()) => &host[..i],
        _ => host,
    }
}

/// Path-style for IP literals, `localhost`, dot-less hosts and `oss-*` service
/// endpoints; otherwise the first Host label is the bucket.
pub fn route(host: &str, path: &str) -> Result<Route, OssError> {
    let h = host_without_port(host.trim()).to_ascii_lowercase();
    let path_style = h.is_empty()
        || h.starts_with('[')
        || h.parse::<IpAddr>().is_ok()
        || h == "localhost"
        || !h.contains('.')
        || h.starts_with("oss-");
    let bad = || {
        OssError::new(
            400,
            "InvalidURI",
            "Couldn't parse the specified URI (bad percent-encoding or invalid UTF-8).",
        )
    };
    let rest = path.strip_prefix('/').unwrap_or(path);
    if path_style {
        if rest.is_empty() {
            return Ok(Route {
                bucket: None,
                key: None,
                virtual_hosted: false,
            });
        }
        let (b, k) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let bucket = percent_decode(b, false).ok_or_else(bad)?;
        let key = if k.is_empty() {
            None
        } else {
            Some(percent_decode(k, false).ok_or_else(bad)?)
        };
        Ok(Route {
            bucket: Some(bucket),
            key,
            virtual_hosted: false,
        })
    } else {
        let bucket = h.split('.').next().unwrap_or("").to_string();
        let key = if rest.is_empty() {
            None
        } else {
            Some(percent_decode(rest, false).ok_or_else(bad)?)
        };
        Ok(Route {
            bucket: Some(bucket),
            key,
            virtual_hosted: true,
        })
    }
}

pub fn has_q(q: &[(String, String)], name: &str) -> bool {
    q.iter().any(|(k, _)| k == name)
}

/// The OSS action name of a request, or None when the emulator does not implement it.
pub fn api_of(method: &Method, r: &Route, q: &[(String, String)]) -> Option<&'static str> {
    let sub = |n: &str| has_q(q, n);
    match (&r.bucket, &r.key) {
        (None, _) => match *method {
            Method::GET => Some("ListBuckets"),
            _ => None,
        },
        (Some(_), None) => {
            let plain = !q
                .iter()
                .any(|(k, _)| auth::is_v1_subresource(k) && k != "continuation-token");
            match *method {
                Method::PUT if plain => Some("PutBucket"),
                Method::POST if sub("delete") => Some("DeleteMultipleObjects"),
                Method::GET if sub("uploads") => Some("ListMultipartUploads"),
                Method::GET if plain && q.iter().any(|(k, v)| k == "list-type" && v == "2") => {
                    Some("ListObjectsV2")
                }
                Method::GET if plain => Some("ListObjects"),
                _ => None,
            }
        }
        (Some(_), Some(_)) => match *method {
            Method::PUT if sub("partNumber") || sub("uploadId") => Some("UploadPart"),
            Method::PUT
                if !q
                    .iter()
                    .any(|(k, _)| auth::is_v1_subresource(k) && !k.starts_with("x-oss-")) =>
            {
                Some("PutObject")
            }
            Method::GET if sub("uploadId") => Some("ListParts"),
            Method::GET
                if !q.iter().any(|(k, _)| {
                    auth::is_v1_subresource(k)
                        && !k.starts_with("response-")
                        && !k.starts_with("x-oss-")
                }) =>
            {
                Some("GetObject")
            }
            Method::HEAD => Some("HeadObject"),
            Method::GET if sub("objectMeta") => Some("HeadObject"),
            Method::DELETE if sub("uploadId") => Some("AbortMultipartUpload"),
            Method::DELETE if q.iter().all(|(k, _)| !auth::is_v1_subresource(k)) => {
                Some("DeleteObject")
            }
            Method::POST if sub("append") => Some("AppendObject"),
            Method::POST if sub("uploads") => Some("InitiateMultipartUpload"),
            Method::POST if sub("uploadId") => Some("CompleteMultipartUpload"),
            _ => None,
        },
    }
}

fn log_headers(h: &HeaderMap) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    for (k, v) in h.iter() {
        let name = k.as_str();
        if name == "authorization" || name == "x-oss-security-token" {
            continue;
        }
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        match m.get_mut(name) {
            Some(serde_json::Value::String(s)) => {
                s.push_str(", ");
                s.push_str(&v);
            }
            _ => {
                m.insert(name.to_string(), serde_json::Value::String(v));
            }
        }
    }
    m
}

/// The HTTP version a request came in with, as the request log shows it (`HTTP/1.1`, `HTTP/2`):
/// tells whether a client multiplexed onto one HTTP/2 connection or used HTTP/1.1 connections.
fn protocol_name(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_3 => "HTTP/3",
        _ => "unknown",
    }
}

/// A request's log entry, pushed exactly once: with the answer's status when the handler
/// finishes, or with status 0 when the handler is dropped first. Hyper drops the handler
/// when the client goes away before the answer (a client timeout during a `delay` fault, a
/// cancelled upload, a body cut short); the entry then still counts the attempt, with the
/// body bytes received until then.
struct Pending {
    state: Arc<State>,
    entry: LogEntry,
    body: BodyReader,
    logged: bool,
}

impl Pending {
    fn log(&mut self, status: u16) {
        if self.logged {
            return;
        }
        self.logged = true;
        let mut e = std::mem::take(&mut self.entry);
        e.status = status;
        e.bytes = self.body.received;
        self.state.push_log(e);
    }

    /// Logs the answer and returns it; status 0 when the body was cut short by the client
    /// going away (the answer then most likely goes nowhere).
    fn answer(&mut self, resp: Response<Body>) -> Response<Body> {
        let status = if self.body.client_gone {
            0
        } else {
            resp.status().as_u16()
        };
        self.log(status);
        resp
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.log(0);
    }
}

async fn handle(state: Arc<State>, conn: Arc<Conn>, req: Request<Incoming>) -> Response<Body> {
    let (parts, incoming) = req.into_parts();
    let path = parts.uri.path().to_string();
    if path.starts_with("/-/") {
        return control::handle(&state, &conn, parts, BodyReader::new(incoming), &path).await;
    }
    let id = request_id();
    let seq = state.next_seq();
    let host = parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let head = parts.method == Method::HEAD;
    let expect_continue = parts
        .headers
        .get("expect")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));

    let mut p = Pending {
        state: state.clone(),
        entry: LogEntry {
            seq,
            method: parts.method.to_string(),
            path: path.clone(),
            query: raw_query.clone(),
            headers: log_headers(&parts.headers),
            protocol: protocol_name(parts.version),
            ..LogEntry::default()
        },
        body: BodyReader::new(incoming),
        logged: false,
    };

    let early = |e: OssError, bucket: Option<&str>| {
        error_response(
            &e,
            &id,
            &host_id(&host, bucket, &state.config.region),
            state.now(),
            head,
        )
    };

    let parsed = crate::util::parse_query(&raw_query)
        .ok_or_else(|| {
            OssError::new(
                400,
                "InvalidURI",
                "Couldn't parse the query string (bad percent-encoding).",
            )
        })
        .and_then(|q| route(&host, &path).map(|r| (q, r)));
    let (query, route) = match parsed {
        Ok(x) => x,
        Err(e) => {
            if !expect_continue {
                p.body.drain(DRAIN_CAP).await;
            }
            return p.answer(early(e, None));
        }
    };
    let part_number = query
        .iter()
        .find(|(k, _)| k == "partNumber")
        .and_then(|(_, v)| v.parse().ok());
    let upload_id = query
        .iter()
        .find(|(k, _)| k == "uploadId")
        .map(|(_, v)| v.clone());
    p.entry.bucket = route.bucket.clone();
    p.entry.key = route.key.clone();
    p.entry.part_number = part_number;
    p.entry.upload_id = upload_id.clone();

    let Some(api) = api_of(&parts.method, &route, &query) else {
        if !expect_continue {
            p.body.drain(DRAIN_CAP).await;
        }
        let resp = early(
            OssError::new(
                501,
                "NotImplemented",
                format!(
                    "The emulator does not implement {} {} with this query.",
                    parts.method, path
                ),
            ),
            route.bucket.as_deref(),
        );
        return p.answer(resp);
    };
    p.entry.api = Some(api.to_string());

    let r = Req {
        state: state.clone(),
        id: id.clone(),
        host,
        method: parts.method.clone(),
        headers: parts.headers,
        query,
        route,
        api,
    };

    // Fault injection.
    let fault = state.match_fault(&FaultTarget {
        api,
        key: r.route.key.as_deref(),
        part_number,
        upload_id: upload_id.as_deref(),
    });
    p.entry.fault = fault.as_ref().map(|f| f.kind().to_string());
    match &fault {
        Some(FaultAction::Error {
            status,
            code,
            message,
        }) => {
            if !expect_continue {
                p.body.drain(DRAIN_CAP).await;
            }
            let mut e = OssError::new(
                *status,
                code,
                message
                    .clone()
                    .unwrap_or_else(|| format!("Injected fault: {code}")),
            );
            if let Some(k) = &r.route.key {
                e = e.with("Key", k.clone());
            }
            return p.answer(r.error(&e));
        }
        Some(FaultAction::Reset { after_bytes }) => {
            p.body.consume(*after_bytes).await;
            p.log(0);
            conn.kill();
            return std::future::pending::<Response<Body>>().await;
        }
        Some(FaultAction::Stall { ms }) => {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
        }
        _ => {}
    }

    // Authentication.
    let verified = {
        let lookup = |ak: &str| state.lookup_cred(ak);
        auth::verify(
            &SignedRequest {
                method: r.method.as_str(),
                headers: &r.headers,
                query: &r.query,
                bucket: r.route.bucket.as_deref(),
                key: r.route.key.as_deref(),
            },
            &lookup,
            &state.config.region,
            state.now(),
            state.config.bench,
        )
    };
    let mut resp = match verified {
        Err(e) => {
            if !expect_continue {
                p.body.drain(DRAIN_CAP).await;
            }
            r.error(&e)
        }
        Ok(_) => match ops::dispatch(&r, &mut p.body).await {
            Ok(resp) => resp,
            Err(e) => {
                if !expect_continue && !p.body.finished {
                    p.body.drain(DRAIN_CAP).await;
                }
                r.error(&e)
            }
        },
    };

    match &fault {
        Some(FaultAction::Delay { ms }) => tokio::time::sleep(Duration::from_millis(*ms)).await,
        Some(FaultAction::BadCrc) => {
            let bad = resp
                .headers()
                .get("x-oss-hash-crc64ecma")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .map(|c| c ^ 0x5A5A_5A5A_5A5A_5A5A)
                .unwrap_or(1);
            set_header(&mut resp, "x-oss-hash-crc64ecma", &bad.to_string());
        }
        Some(FaultAction::CorruptBody) => resp = resp.map(crate::download::corrupt),
        _ => {}
    }
    p.answer(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(host: &str, path: &str) -> (Option<String>, Option<String>) {
        let r = route(host, path).expect("route");
        (r.bucket, r.key)
    }

    #[test]
    fn addressing() {
        let s = |x: &str| Some(x.to_string());
        assert_eq!(rt("127.0.0.1:9000", "/b/k/x"), (s("b"), s("k/x")));
        assert_eq!(rt("127.0.0.1:9000", "/b"), (s("b"), None));
        assert_eq!(rt("127.0.0.1:9000", "/b/"), (s("b"), None));
        assert_eq!(rt("127.0.0.1:9000", "/"), (None, None));
        assert_eq!(rt("localhost:9000", "/b/a%20b"), (s("b"), s("a b")));
        assert_eq!(rt("myhost", "/b/k"), (s("b"), s("k")));
        assert_eq!(rt("[::1]:9000", "/b/k"), (s("b"), s("k")));
        assert_eq!(rt("oss-cn-hangzhou.aliyuncs.com", "/b/k"), (s("b"), s("k")));
        assert_eq!(
            rt("examplebucket.oss-cn-hangzhou.aliyuncs.com", "/dir/a+b.txt"),
            (s("examplebucket"), s("dir/a+b.txt"))
        );
        assert_eq!(rt("bkt.localhost:1234", "/"), (s("bkt"), None));
        assert_eq!(route("127.0.0.1", "/b/%zz").unwrap_err().code, "InvalidURI");
        assert_eq!(route("127.0.0.1", "/b/%C3").unwrap_err().code, "InvalidURI");
    }

    #[test]
    fn apis() {
        let r = route("127.0.0.1", "/b/k").expect("route");
        let q = |s: &str| crate::util::parse_query(s).expect("query");
        assert_eq!(
            api_of(&Method::PUT, &r, &q("partNumber=1&uploadId=x")),
            Some("UploadPart")
        );
        assert_eq!(api_of(&Method::PUT, &r, &q("")), Some("PutObject"));
        assert_eq!(
            api_of(&Method::POST, &r, &q("uploads=")),
            Some("InitiateMultipartUpload")
        );
        assert_eq!(
            api_of(&Method::POST, &r, &q("uploadId=x")),
            Some("CompleteMultipartUpload")
        );
        assert_eq!(
            api_of(&Method::DELETE, &r, &q("uploadId=x")),
            Some("AbortMultipartUpload")
        );
        assert_eq!(
            api_of(&Method::GET, &r, &q("uploadId=x&max-parts=2")),
            Some("ListParts")
        );
        assert_eq!(
            api_of(&Method::GET, &r, &q("response-content-type=a")),
            Some("GetObject")
        );
        assert_eq!(api_of(&Method::GET, &r, &q("acl")), None);
        let b = route("127.0.0.1", "/b").expect("route");
        assert_eq!(
            api_of(&Method::GET, &b, &q("uploads")),
            Some("ListMultipartUploads")
        );
        assert_eq!(
            api_of(&Method::GET, &b, &q("prefix=a")),
            Some("ListObjects")
        );
        assert_eq!(api_of(&Method::PUT, &b, &q("")), Some("PutBucket"));
    }
}
