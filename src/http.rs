//! One HTTP client per OSS client: builds, signs and sends requests, and turns responses into
//! [`Response`] or [`Error`]. [`Http::retrying`] runs the policy of [`crate::retry`]; what requests are
//! signed with (STS refresh) and at what time (clock skew) is [`crate::credentials`]'s.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, HOST};
use http::Method;

use crate::config::ClientConfig;
pub use crate::credentials::CredentialsSource;
use crate::credentials::{Clock, CredentialStore};
use crate::debug;
use crate::error::{Error, NetworkKind, ServerError};
use crate::retry::{self, Backoff, Idempotency, RetryConfig};
use crate::sign::{self, Credentials, SignParams};

/// The body of a request.
pub enum Body {
    Empty,
    Bytes(Bytes),
    /// A streamed body of a known length (file parts).
    Stream {
        body: reqwest::Body,
        len: u64,
    },
}

/// One request to OSS, before signing.
pub struct Request {
    pub method: Method,
    /// Object key (already without a leading `/`); `None` for bucket-level requests.
    pub key: Option<String>,
    /// Decoded query parameters, in URL order; an empty value renders as a bare sub-resource.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Body,
    /// Per-request timeout; the client's timeout when `None`.
    pub timeout: Option<Duration>,
    /// Statuses that count as success.
    pub expect: &'static [u16],
}

impl Request {
    pub fn new(method: Method, key: Option<&str>, expect: &'static [u16]) -> Self {
        Request {
            method,
            key: key.map(str::to_string),
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: Body::Empty,
            timeout: None,
            expect,
        }
    }

    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_string(), value.into()));
        self
    }
}

/// A successful response, with what ali-oss puts in `res`.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub status_text: String,
    /// Lowercase names, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub url: String,
    /// Round-trip time in milliseconds.
    pub rt_ms: u64,
    /// The server's address as the connection saw it (urllib's `remoteAddress`/`remotePort`).
    pub remote: Option<std::net::SocketAddr>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct Http {
    client: reqwest::Client,
    config: ClientConfig,
    /// The bucket requests go to; the app may change it (`useBucket`/`setBucket`) between calls.
    bucket: RwLock<Option<String>>,
    credentials: CredentialStore,
    clock: Clock,
}

const USER_AGENT: &str = concat!("oss-turbo/", env!("CARGO_PKG_VERSION"));

/// Makes rustls's ring provider the one reqwest builds its TLS configuration from (reqwest is built
/// without a provider of its own; see Cargo.toml). The default is process-wide within this library's
/// copy of rustls, and installing it again is a no-op.
fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Http {
    pub fn new(config: ClientConfig) -> Result<Arc<Self>, Error> {
        install_tls_provider();
        let mut roots = Vec::new();
        for pem in &config.ca {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| Error::invalid(format!("options.ca is not a PEM certificate: {e}")))?;
            if certs.is_empty() {
                return Err(Error::invalid("options.ca holds no PEM certificate"));
            }
            roots.extend(certs);
        }
        let client = reqwest::Client::builder()
            // HTTP/1.1 on every connection, whatever the server offers in ALPN: with h2, every part
            // of an upload is multiplexed onto one connection (one TLS stream, one flow-control
            // window), which halved throughput and doubled CPU against an h2-offering endpoint
            // (bench/ANALYSIS.md). One connection per concurrent part is what object-store clients do.
            .http1_only()
            .tls_certs_merge(roots)
            .user_agent(USER_AGENT)
            .pool_max_idle_per_host(64)
            .pool_idle_timeout(Duration::from_secs(50))
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_millis(config.timeout_ms.clamp(1000, 60_000)))
            .build()
            .map_err(|e| {
                // reqwest says only "builder error"; the cause (e.g. no system CA certificates found, on a
                // bare container without a CA bundle) is in its source chain.
                Error::invalid(format!(
                    "cannot create the HTTP client: {} (on a system without CA certificates, install a CA bundle such as the ca-certificates package)",
                    error_chain(&e)
                ))
            })?;
        Ok(Arc::new(Http {
            credentials: CredentialStore::new(
                config.credentials.clone(),
                Duration::from_millis(config.refresh_sts_token_interval_ms),
            ),
            bucket: RwLock::new(config.bucket.clone()),
            client,
            config,
            clock: Clock::default(),
        }))
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    pub fn bucket(&self) -> Option<String> {
        match self.bucket.read() {
            Ok(b) => b.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Sends the next requests to another bucket (ali-oss's `useBucket`).
    pub fn set_bucket(&self, bucket: Option<String>) {
        match self.bucket.write() {
            Ok(mut b) => *b = bucket,
            Err(poisoned) => *poisoned.into_inner() = bucket,
        }
    }

    /// Replaces the credentials used from the next request on (STS refresh).
    pub fn set_credentials(&self, creds: Credentials) {
        self.credentials.set(creds);
    }

    /// Installs ali-oss's `refreshSTSToken` (see [`CredentialStore::set_refresher`]).
    pub fn set_refresher(&self, source: Arc<dyn CredentialsSource>) {
        self.credentials.set_refresher(source);
    }

    /// The URL ali-oss reports for an object (`_objectUrl`).
    pub fn object_url(&self, key: &str) -> String {
        self.config
            .target(self.bucket().as_deref(), Some(key), &[])
            .url
    }

    /// Signs and sends one request; a status outside `expect` becomes [`Error::Server`].
    pub async fn send(&self, req: Request) -> Result<Response, Error> {
        let sent = self.dispatch(req).await?;
        sent.finish().await
    }

    /// Like [`Http::send`], but a successful response's body is left unread for the caller to stream
    /// (downloads); the returned [`Response`] has the status and headers and an empty body.
    pub async fn send_streaming(
        &self,
        req: Request,
    ) -> Result<(Response, reqwest::Response), Error> {
        let sent = self.dispatch(req).await?;
        if !sent.expect.contains(&sent.resp.status().as_u16()) {
            return Err(sent.finish().await.err().unwrap_or_else(|| {
                Error::internal("an unexpected status turned out to be expected")
            }));
        }
        let head = Response {
            status: sent.resp.status().as_u16(),
            status_text: sent
                .resp
                .status()
                .canonical_reason()
                .unwrap_or("")
                .to_string(),
            headers: header_pairs(sent.resp.headers()),
            body: Bytes::new(),
            url: sent.url,
            rt_ms: sent.started.elapsed().as_millis() as u64,
            remote: sent.resp.remote_addr(),
        };
        debug!(
            "{} {} -> {} in {} ms (body streamed)",
            sent.method, head.url, head.status, head.rt_ms
        );
        Ok((head, sent.resp))
    }

    /// Signs and sends one request and waits for the response's head.
    async fn dispatch(&self, req: Request) -> Result<Dispatched, Error> {
        let bucket = self.bucket();
        let bucket = bucket.as_deref();
        let target = self.config.target(bucket, req.key.as_deref(), &req.query);
        let mut headers = req.headers;
        let body_len = match &req.body {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::Stream { len, .. } => *len,
        };
        if !(req.method == Method::GET || req.method == Method::HEAD) || body_len > 0 {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(body_len));
        }
        let creds = self.credentials.fresh().await?;
        sign::sign(
            self.config.sign_version,
            &creds,
            &SignParams {
                method: req.method.as_str(),
                bucket,
                key: req.key.as_deref(),
                query: &req.query,
                region: &self.config.sign_region,
                now: self.clock.now(),
            },
            &mut headers,
        );
        if let Some(host) = &target.host_header {
            let value = HeaderValue::from_str(host)
                .map_err(|_| Error::invalid(format!("invalid Host header: {host}")))?;
            headers.insert(HOST, value);
        }
        let timeout = req
            .timeout
            .unwrap_or(Duration::from_millis(self.config.timeout_ms));
        let mut builder = self
            .client
            .request(req.method.clone(), &target.url)
            .headers(headers)
            .timeout(timeout);
        builder = match req.body {
            Body::Empty => builder,
            Body::Bytes(b) => builder.body(b),
            Body::Stream { body, .. } => builder.body(body),
        };
        let started = Instant::now();
        let resp = match builder.send().await {
            Ok(resp) => resp,
            Err(e) => {
                let err = network_error(&e, &req.method, &target.url, timeout);
                debug!(
                    "{} {} failed after {} ms: {err}",
                    req.method,
                    target.url,
                    started.elapsed().as_millis()
                );
                return Err(err);
            }
        };
        Ok(Dispatched {
            resp,
            method: req.method,
            url: target.url,
            timeout,
            started,
            expect: req.expect,
            body_len,
        })
    }

    /// Sends the request `build` makes, building it afresh for every try (see [`Http::retrying`]).
    pub async fn call(&self, build: impl Fn() -> Request) -> Result<Response, Error> {
        self.retrying(|| self.send(build())).await
    }

    /// [`Http::call`] for a request whose repetition is not harmless ([`Idempotency::NotIdempotent`]).
    pub async fn call_not_idempotent(
        &self,
        build: impl Fn() -> Request,
    ) -> Result<Response, Error> {
        self.retrying_as(Idempotency::NotIdempotent, || self.send(build()))
            .await
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retries (`retryMax`) are used up, with the
    /// policy of [`crate::retry`]; a `RequestTimeTooSkewed` answer corrects the clock once and is retried
    /// at once without using up a retry.
    pub async fn retrying<T, F, Fut>(&self, attempt: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        self.retrying_as(Idempotency::Idempotent, attempt).await
    }

    /// [`Http::retrying`] for a request of the given idempotency.
    pub async fn retrying_as<T, F, Fut>(
        &self,
        idempotency: Idempotency,
        attempt: F,
    ) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let config = RetryConfig::with_max_retries(self.config.retry_max);
        let mut backoff = Backoff::new(config.backoff);
        let mut clock_fixed = false;
        retry::retry(
            &config,
            &mut backoff,
            idempotency,
            |e| {
                let fixed = !clock_fixed && self.clock.correct(e);
                clock_fixed |= fixed;
                fixed
            },
            |n, wait, e| {
                debug!(
                    "retry {n}/{} in {} ms after: {e}",
                    config.max_retries,
                    wait.as_millis()
                )
            },
            attempt,
        )
        .await
    }
}

/// A request whose response head has arrived.
struct Dispatched {
    resp: reqwest::Response,
    method: Method,
    url: String,
    timeout: Duration,
    started: Instant,
    expect: &'static [u16],
    body_len: u64,
}

impl Dispatched {
    /// Reads the whole body; a status outside `expect` becomes [`Error::Server`].
    async fn finish(self) -> Result<Response, Error> {
        let Dispatched {
            resp,
            method,
            url,
            timeout,
            started,
            expect,
            body_len,
        } = self;
        let status = resp.status();
        let remote = resp.remote_addr();
        let headers = header_pairs(resp.headers());
        let body = resp
            .bytes()
            .await
            .map_err(|e| network_error(&e, &method, &url, timeout))?;
        let response = Response {
            status: status.as_u16(),
            status_text: status.canonical_reason().unwrap_or("").to_string(),
            headers,
            body,
            url,
            rt_ms: started.elapsed().as_millis() as u64,
            remote,
        };
        debug!(
            "{} {} -> {} in {} ms ({body_len} bytes up, {} down)",
            method,
            response.url,
            response.status,
            response.rt_ms,
            response.body.len()
        );
        if expect.contains(&response.status) {
            Ok(response)
        } else {
            Err(server_error(&response))
        }
    }
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// A failure while reading a streamed response body (see [`Http::send_streaming`]), worded like any
/// other network failure so it is retried the same way.
pub fn body_error(e: &reqwest::Error, method: &Method, url: &str, timeout: Duration) -> Error {
    network_error(e, method, url, timeout)
}

/// An error's message followed by those of its sources (reqwest's own message is often only "error
/// sending request" or "builder error").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut detail = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    detail
}

fn network_error(e: &reqwest::Error, method: &Method, url: &str, timeout: Duration) -> Error {
    let mut detail = error_chain(e);
    let kind = if is_certificate_error(&detail) {
        NetworkKind::Tls
    } else if e.is_timeout() {
        if e.is_connect() {
            NetworkKind::ConnectTimeout
        } else {
            NetworkKind::ResponseTimeout
        }
    } else if e.is_connect() {
        NetworkKind::Connect
    } else {
        NetworkKind::Request
    };
    let status = kind.status();
    match kind {
        NetworkKind::Tls => {
            detail = format!("the server's TLS certificate was refused ({detail}); give its CA in options.ca if it is private");
        }
        // ali-oss's wording, with what timed out.
        NetworkKind::ResponseTimeout => {
            detail = format!(
                "Response timeout for {}ms, please increase the timeout ({detail})",
                timeout.as_millis()
            );
        }
        NetworkKind::ConnectTimeout => {
            detail = format!("Connect timeout ({detail})");
        }
        NetworkKind::Connect | NetworkKind::Request => {
            // urllib's first words for a refused connection, which apps match on.
            if detail.contains("Connection refused") {
                if let Ok(u) = reqwest::Url::parse(url) {
                    let host = u.host_str().unwrap_or("").trim_matches(['[', ']']);
                    let port = u.port_or_known_default().unwrap_or(0);
                    detail = format!("connect ECONNREFUSED {host}:{port} ({detail})");
                }
            }
        }
    }
    Error::Network {
        kind,
        message: format!("{detail}, {method} {url} {status}"),
    }
}

/// Whether a connection failed because the server's certificate is not trusted (retrying cannot help).
fn is_certificate_error(detail: &str) -> bool {
    [
        "invalid peer certificate",
        "UnknownIssuer",
        "NotValidForName",
        "certificate verify failed",
        "BadSignature",
    ]
    .iter()
    .any(|needle| detail.contains(needle))
}

/// Reads OSS's error XML from the body, or from the base64 `x-oss-err` header of a bodiless (HEAD) response.
pub fn server_error(resp: &Response) -> Error {
    let from_header;
    let xml: &[u8] = if resp.body.is_empty() {
        from_header = resp
            .header("x-oss-err")
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .unwrap_or_default();
        &from_header
    } else {
        &resp.body
    };
    let mut err = ServerError {
        status: resp.status,
        request_id: resp.header("x-oss-request-id").unwrap_or("").to_string(),
        ec: resp.header("x-oss-ec").map(str::to_string),
        server_date: resp
            .header("date")
            .and_then(|d| httpdate::parse_http_date(d).ok()),
        ..ServerError::default()
    };
    if let Some(body) = crate::xml::parse_error(xml) {
        err.code = body.code;
        err.message = body.message;
        if !body.request_id.is_empty() {
            err.request_id = body.request_id;
        }
        err.host_id = body.host_id;
        if body.ec.is_some() {
            err.ec = body.ec;
        }
    }
    Error::Server(Box::new(err))
}

/// Builds a header map from name/value pairs given by the user; a bad name or value is a clear error.
pub fn header_map<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<HeaderMap, Error> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::invalid(format!("invalid header name: {name:?}")))?;
        let v = HeaderValue::from_str(value)
            .map_err(|_| Error::invalid(format!("invalid value for header {name}")))?;
        map.insert(n, v);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str, headers: &[(&str, &str)]) -> Response {
        Response {
            status,
            status_text: String::new(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Bytes::from(body.to_string()),
            url: String::new(),
            rt_ms: 0,
            remote: None,
        }
    }

    #[test]
    fn error_xml_body_is_read() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchUpload</Code><Message>gone</Message><RequestId>AB</RequestId><HostId>h</HostId><EC>0042-1</EC></Error>";
        let e = server_error(&resp(404, xml, &[("x-oss-request-id", "ZZ")]));
        let info = e.info(false);
        assert_eq!(info.name, "NoSuchUploadError");
        assert_eq!(info.message, "gone");
        assert_eq!(info.request_id.as_deref(), Some("AB"));
        assert_eq!(info.ec_code.as_deref(), Some("0042-1"));
    }

    #[test]
    fn head_error_is_read_from_x_oss_err() {
        let xml = "<Error><Code>AccessDenied</Code><Message>no</Message><RequestId>R1</RequestId><HostId>h</HostId></Error>";
        let b64 = base64::engine::general_purpose::STANDARD.encode(xml);
        let e = server_error(&resp(403, "", &[("x-oss-err", &b64)]));
        assert_eq!(e.info(false).name, "AccessDeniedError");
        let bare = server_error(&resp(404, "", &[("x-oss-request-id", "R2")]));
        let info = bare.info(false);
        assert_eq!(
            (info.name.as_str(), info.request_id.as_deref()),
            ("NoSuchKeyError", Some("R2"))
        );
    }
}
