//! Client options → normalized configuration and request URLs, exactly as ali-oss 6.23.0
//! (`lib/common/client/initOptions.js`, `lib/common/client/getReqUrl.js`,
//! `lib/common/utils/createRequest.js`) computes them.
//!
//! Pure code: no I/O. Every expectation in the tests below was checked by running ali-oss
//! 6.23.0 in node (`new OSS({...})` with a recording `urllib` stub, then the real
//! `initMultipartUpload` / `_uploadPart` / `listParts` / `listUploads` / `abortMultipartUpload`,
//! printing the URL and `host` header it handed to urllib; and the constructor for errors).

use std::fmt;

use crate::sign::{Credentials, SignVersion};

/// A configuration error. The message is ali-oss's own wherever ali-oss raises one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// ali-oss's messages.
pub const MSG_REQUIRE_KEYS: &str = "require accessKeyId, accessKeySecret";
pub const MSG_BUCKET: &str = "The bucket must be conform to the specifications";
pub const MSG_REGION: &str = "The region must be conform to the specifications";
pub const MSG_ENDPOINT: &str = "The endpoint must be conform to the specifications";
pub const MSG_PROTOCOL: &str = "Endpoint protocol must be http or https.";
pub const MSG_REQUIRE_ENDPOINT: &str = "require options.endpoint or options.region";

/// ali-oss's defaults (contract §7).
pub const DEFAULT_REGION: &str = "oss-cn-hangzhou";
pub const DEFAULT_TIMEOUT_MS: u64 = 60_000;
pub const DEFAULT_REFRESH_STS_TOKEN_INTERVAL_MS: u64 = 300_000;
/// What a falsy timeout (`0`, `''`, `NaN`) ends up as in ali-oss: urllib's own default.
pub const URLLIB_DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// Retries per request when `retryMax` is not given. ali-oss retries nothing by default, which loses
/// long uploads to one dropped connection; three retries with exponential backoff (about 0.2 + 0.4 + 0.8 s,
/// jittered) ride out a reset, a 5xx blip or a restarted proxy, yet give up on a dead server within seconds.
/// `retryMax: 0` still means no retry, as in ali-oss.
pub const DEFAULT_RETRY_MAX: u32 = 3;

/// A JS timeout: a number of milliseconds or a string like `'2m'`, `'60s'`, `'1h'`.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeoutValue {
    Ms(f64),
    Text(String),
}

/// Milliseconds for a timeout, with humanize-ms / ms 2.x semantics: numbers as they are,
/// strings `<number><spaces><unit>` (unit case-insensitive, default ms; `y` = 365.25 days).
/// Fractions are rounded up. Errors for what ali-oss could not use: a string ms cannot parse
/// (ali-oss only warns with this message and falls back to urllib's 5 s), negative, NaN or
/// infinite values.
pub fn parse_timeout(v: &TimeoutValue) -> Result<u64, ConfigError> {
    let ms = match v {
        TimeoutValue::Ms(x) => *x,
        TimeoutValue::Text(s) => parse_ms(s).ok_or_else(|| {
            ConfigError(format!(
                "humanize-ms({}) result undefined",
                serde_json::Value::String(s.clone())
            ))
        })?,
    };
    if !ms.is_finite() {
        return Err(ConfigError(format!(
            "timeout must be a finite number, got {ms}"
        )));
    }
    if ms < 0.0 {
        return Err(ConfigError(format!(
            "timeout must not be negative, got {ms}"
        )));
    }
    Ok(ms.ceil() as u64)
}

/// The `ms` package's parser: `^(-?(?:\d+)?\.?\d+) *(unit)?$`, case-insensitive, ≤ 100 chars.
fn parse_ms(s: &str) -> Option<f64> {
    if s.is_empty() || s.len() > 100 {
        return None;
    }
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i = 1;
    }
    let num_start = i;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
        i += 1;
    }
    let num = &s[num_start..i];
    // (?:\d+)?\.?\d+ : optional digits, optional one dot, then at least one digit.
    let valid_num = match num.find('.') {
        None => !num.is_empty(),
        Some(p) => {
            num[p + 1..].bytes().all(|c| c.is_ascii_digit())
                && !num[p + 1..].is_empty()
                && num[..p].bytes().all(|c| c.is_ascii_digit())
        }
    };
    if !valid_num {
        return None;
    }
    let n: f64 = s[..i].parse().ok()?;
    let rest = s[i..].trim_start_matches(' ').to_ascii_lowercase();
    const S: f64 = 1000.0;
    const M: f64 = S * 60.0;
    const H: f64 = M * 60.0;
    const D: f64 = H * 24.0;
    let unit = match rest.as_str() {
        "" | "milliseconds" | "millisecond" | "msecs" | "msec" | "ms" => 1.0,
        "seconds" | "second" | "secs" | "sec" | "s" => S,
        "minutes" | "minute" | "mins" | "min" | "m" => M,
        "hours" | "hour" | "hrs" | "hr" | "h" => H,
        "days" | "day" | "d" => D,
        "weeks" | "week" | "w" => D * 7.0,
        "years" | "year" | "yrs" | "yr" | "y" => D * 365.25,
        _ => return None,
    };
    Some(n * unit)
}

/// Client options as JS passed them. `Debug` redacts the secret and the token.
#[derive(Default, Clone)]
pub struct ClientOptions {
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
    pub timeout: Option<TimeoutValue>,
    pub authorization_v4: Option<bool>,
    pub retry_max: Option<u32>,
    /// Milliseconds.
    pub refresh_sts_token_interval: Option<u64>,
    /// Extra trusted CA certificates (PEM), on top of the system trust store.
    pub ca: Vec<String>,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("ClientOptions")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &redact(&self.access_key_secret))
            .field("sts_token", &redact(&self.sts_token))
            .field("secure", &self.secure)
            .field("internal", &self.internal)
            .field("cname", &self.cname)
            .field("sld_enable", &self.sld_enable)
            .field("timeout", &self.timeout)
            .field("authorization_v4", &self.authorization_v4)
            .field("retry_max", &self.retry_max)
            .field(
                "refresh_sts_token_interval",
                &self.refresh_sts_token_interval,
            )
            .field("ca", &self.ca.len())
            .finish()
    }
}

/// The parsed endpoint, as ali-oss keeps it (`url.parse` result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `"http"` or `"https"`.
    pub scheme: String,
    /// `hostname[:port]`, lower-cased, the port exactly as written (`:80` is kept).
    pub host: String,
    /// The host name without the port, lower-cased.
    pub hostname: String,
    pub port: Option<u16>,
    /// ali-oss's `isIP(hostname)`: requests then go to `/<key>` with the bucket in `Host`.
    pub is_ip: bool,
}

/// Normalized configuration, ali-oss defaults applied.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub credentials: Credentials,
    pub bucket: Option<String>,
    /// As ali-oss keeps it, e.g. `"oss-cn-hangzhou"` (not lower-cased).
    pub region: String,
    /// For V4: `region` with one leading `"oss-"` removed, e.g. `"cn-hangzhou"`.
    pub sign_region: String,
    /// The `secure` option as given (default false). The scheme actually used is
    /// `endpoint.scheme`: an endpoint with an explicit `http://` stays http even when secure.
    pub secure: bool,
    pub internal: bool,
    pub cname: bool,
    pub sld_enable: bool,
    pub timeout_ms: u64,
    pub sign_version: SignVersion,
    pub retry_max: u32,
    pub refresh_sts_token_interval_ms: u64,
    pub endpoint: Endpoint,
    /// Extra trusted CA certificates (PEM).
    pub ca: Vec<String>,
}

/// Where to send one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTarget {
    pub url: String,
    /// The `Host` header to send when it differs from the URL's host (IP endpoints).
    pub host_header: Option<String>,
}

/// JS `String.prototype.trim`: Unicode white space plus U+FEFF.
fn js_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

impl ClientConfig {
    /// ali-oss's constructor checks, in its order, with its messages:
    /// keys present (non-empty before trimming), then trimmed; bucket name; timeout;
    /// endpoint (charset, protocol) or region (charset).
    ///
    /// Differences, all making a request-time failure of ali-oss a constructor error:
    /// an endpoint without a host (`http:foo`, `http:///x`), an endpoint port above 65535,
    /// an unusable timeout (see [`parse_timeout`]), and, for an IP endpoint, an invalid
    /// `region` (ali-oss needs it for the `Host` header of every request).
    pub fn from_options(o: ClientOptions) -> Result<ClientConfig, ConfigError> {
        let (ak, sk) = match (non_empty(o.access_key_id), non_empty(o.access_key_secret)) {
            (Some(ak), Some(sk)) => (ak, sk),
            _ => return Err(ConfigError(MSG_REQUIRE_KEYS.into())),
        };
        let bucket = non_empty(o.bucket);
        if let Some(b) = &bucket {
            if !check_bucket_name(b) {
                return Err(ConfigError(MSG_BUCKET.into()));
            }
        }
        let timeout_ms = match &o.timeout {
            None => DEFAULT_TIMEOUT_MS,
            // falsy in JS: ali-oss keeps it and urllib falls back to its own default
            Some(TimeoutValue::Ms(x)) if *x == 0.0 || x.is_nan() => URLLIB_DEFAULT_TIMEOUT_MS,
            Some(TimeoutValue::Text(s)) if s.is_empty() => URLLIB_DEFAULT_TIMEOUT_MS,
            Some(v) => match parse_timeout(v)? {
                0 => URLLIB_DEFAULT_TIMEOUT_MS,
                n => n,
            },
        };
        let secure = o.secure.unwrap_or(false);
        let internal = o.internal.unwrap_or(false);
        let region = o.region.unwrap_or_else(|| DEFAULT_REGION.to_string());
        let endpoint = match non_empty(o.endpoint) {
            Some(ep) => {
                let ep = parse_endpoint(&ep, secure)?;
                if ep.is_ip && !check_region(&region) {
                    return Err(ConfigError(MSG_REGION.into()));
                }
                ep
            }
            None if !region.is_empty() => {
                if !check_region(&region) {
                    return Err(ConfigError(MSG_REGION.into()));
                }
                region_endpoint(&region, internal, secure)
            }
            None => return Err(ConfigError(MSG_REQUIRE_ENDPOINT.into())),
        };
        let sign_region = region.strip_prefix("oss-").unwrap_or(&region).to_string();
        Ok(ClientConfig {
            credentials: Credentials {
                access_key_id: js_trim(&ak).to_string(),
                access_key_secret: js_trim(&sk).to_string(),
                security_token: non_empty(o.sts_token),
            },
            bucket,
            region,
            sign_region,
            secure,
            internal,
            cname: o.cname.unwrap_or(false),
            sld_enable: o.sld_enable.unwrap_or(false),
            timeout_ms,
            sign_version: if o.authorization_v4.unwrap_or(false) {
                SignVersion::V4
            } else {
                SignVersion::V1
            },
            retry_max: o.retry_max.unwrap_or(DEFAULT_RETRY_MAX),
            refresh_sts_token_interval_ms: o
                .refresh_sts_token_interval
                .unwrap_or(DEFAULT_REFRESH_STS_TOKEN_INTERVAL_MS),
            endpoint,
            ca: o.ca,
        })
    }

    /// The URL to request and the Host header to send when it differs from the URL's host,
    /// as ali-oss's `getReqUrl` + `createRequest` build them:
    /// - virtual-hosted `bucket.host` unless `cname`, `sld_enable` or an IP endpoint;
    /// - path `/` + (`bucket/` when `sld_enable`) + [`escape_key`]`(key)`;
    /// - query in the given order, `querystring`-encoded, an empty value as `k=` (`?uploads=`);
    /// - IP endpoint: `Host: <bucket>.<region host>` (`oss-cn-hangzhou.aliyuncs.com`,
    ///   `-internal` when `internal`; without a bucket just the region host, where ali-oss
    ///   would send `undefined.<region host>`).
    ///
    /// `key` must already be normalized with [`object_name`]; an empty key is no key.
    pub fn target(
        &self,
        bucket: Option<&str>,
        key: Option<&str>,
        query: &[(String, String)],
    ) -> RequestTarget {
        let bucket = bucket.filter(|b| !b.is_empty());
        let ep = &self.endpoint;
        let host = match bucket {
            Some(b) if !self.cname && !ep.is_ip && !self.sld_enable => {
                format!("{b}.{}", ep.host)
            }
            _ => ep.host.clone(),
        };
        let mut url = format!("{}://{host}/", ep.scheme);
        if let (Some(b), true) = (bucket, self.sld_enable) {
            url.push_str(b);
            url.push('/');
        }
        if let Some(k) = key {
            url.push_str(&escape_key(k));
        }
        let qs = render_query(query);
        if !qs.is_empty() {
            url.push('?');
            url.push_str(&qs);
        }
        let host_header = ep.is_ip.then(|| {
            let region_host = region_endpoint(&self.region, self.internal, self.secure).host;
            match bucket {
                Some(b) => format!("{b}.{region_host}"),
                None => region_host,
            }
        });
        RequestTarget { url, host_header }
    }
}

/// ali-oss's `checkBucketName` (not the stricter create-bucket rule): 3–63 characters of
/// `a-z 0-9 - _`, not starting or ending with `-`.
pub fn check_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    let ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_';
    (3..=63).contains(&b.len())
        && b.iter().all(|&c| ok(c) || c == b'-')
        && b.first().is_some_and(|&c| ok(c))
        && b.last().is_some_and(|&c| ok(c))
}

/// ali-oss's region rule: `^[a-zA-Z0-9\-_]+$`.
pub fn check_region(region: &str) -> bool {
    !region.is_empty()
        && region
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// ali-oss's endpoint charset rule: `^[a-zA-Z0-9._:/-]+$`.
fn check_endpoint_chars(ep: &str) -> bool {
    !ep.is_empty()
        && ep
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'/' | b'-'))
}

/// ali-oss's `isIP` for what can reach it (IPv6 needs `[`, which the endpoint rule rejects):
/// four dot-separated decimal parts of 1–3 digits, each ≤ 255 (leading zeros allowed).
pub fn is_ipv4(host: &str) -> bool {
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            (1..=3).contains(&p.len())
                && p.bytes().all(|c| c.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

/// `setRegion`: `<region>.aliyuncs.com`, `<region>-internal.aliyuncs.com` when internal
/// (except `vpc100-oss-cn-*` regions), https when secure; host lower-cased like `url.parse`.
fn region_endpoint(region: &str, internal: bool, secure: bool) -> Endpoint {
    let suffix = if internal && !region.starts_with("vpc100-oss-cn-") {
        "-internal.aliyuncs.com"
    } else {
        ".aliyuncs.com"
    };
    let host = format!("{region}{suffix}").to_ascii_lowercase();
    Endpoint {
        scheme: if secure { "https" } else { "http" }.into(),
        is_ip: false,
        hostname: host.clone(),
        host,
        port: None,
    }
}

/// ali-oss's `setEndpoint` (Node's legacy `url.parse`), for the strings its charset rule
/// lets through: a leading `scheme:` must be http or https (so `localhost:9000` is a
/// protocol error, as in ali-oss); without one, `http(s)://` is prepended according to
/// `secure`. The host ends at the first `/`; a trailing `:<digits>` is the port; the host name
/// is cut at any further `:` (as `url.parse` does); any path is ignored.
pub fn parse_endpoint(raw: &str, secure: bool) -> Result<Endpoint, ConfigError> {
    if !check_endpoint_chars(raw) {
        return Err(ConfigError(MSG_ENDPOINT.into()));
    }
    // url.parse's protocol pattern: ^[a-z0-9.+-]+: (the charset has no '+').
    let proto_len = raw
        .bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-'))
        .count();
    let (scheme, rest) = if proto_len > 0 && raw.as_bytes().get(proto_len) == Some(&b':') {
        let scheme = raw[..proto_len].to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(ConfigError(MSG_PROTOCOL.into()));
        }
        (scheme, &raw[proto_len + 1..])
    } else {
        let scheme = if secure { "https" } else { "http" };
        (scheme.to_string(), raw)
    };
    let rest = if proto_len > 0 && raw.as_bytes().get(proto_len) == Some(&b':') {
        // explicit scheme: a host needs `//`
        rest.strip_prefix("//")
            .ok_or_else(|| ConfigError(MSG_ENDPOINT.into()))?
    } else {
        rest
    };
    let authority = rest.split('/').next().unwrap_or("");
    // port: trailing `:<digits>` (possibly empty digits)
    let (before_port, port_str) = match authority.rfind(':') {
        Some(p) if authority[p + 1..].bytes().all(|c| c.is_ascii_digit()) => {
            (&authority[..p], &authority[p + 1..])
        }
        _ => (authority, ""),
    };
    let hostname = before_port
        .split(':')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if hostname.is_empty() {
        return Err(ConfigError(MSG_ENDPOINT.into()));
    }
    let port = if port_str.is_empty() {
        None
    } else {
        Some(
            port_str
                .parse::<u16>()
                .map_err(|_| ConfigError(MSG_ENDPOINT.into()))?,
        )
    };
    let host = if port_str.is_empty() {
        hostname.clone()
    } else {
        format!("{hostname}:{port_str}")
    };
    Ok(Endpoint {
        scheme,
        is_ip: is_ipv4(&hostname),
        host,
        hostname,
        port,
    })
}

/// `encodeURIComponent` byte set: keeps `A–Z a–z 0–9 - _ . ! ~ * ' ( )`.
fn uri_component(s: &str, keep_slash: bool, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            )
            || (keep_slash && b == b'/');
        if keep {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xF) as usize] as char);
        }
    }
}

/// How ali-oss escapes object names in the URL: `encodeURIComponent`, keeping `/`
/// (`+` → `%2B`, space → `%20`, UTF-8 percent-encoded).
pub fn escape_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    uri_component(key, true, &mut out);
    out
}

/// A query string as Node's `querystring.stringify` writes it: `k=v` joined by `&`, keys and
/// values `encodeURIComponent`-encoded, an empty value as `k=`.
pub fn render_query(query: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in query.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        uri_component(k, false, &mut out);
        out.push('=');
        uri_component(v, false, &mut out);
    }
    out
}

/// ali-oss's `_objectName`: strips every leading `/`.
pub fn object_name(name: &str) -> String {
    name.trim_start_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> ClientOptions {
        ClientOptions {
            access_key_id: Some("ak".into()),
            access_key_secret: Some("sk".into()),
            bucket: Some("bkt".into()),
            ..Default::default()
        }
    }

    fn cfg(f: impl FnOnce(&mut ClientOptions)) -> ClientConfig {
        let mut o = opts();
        f(&mut o);
        ClientConfig::from_options(o).unwrap()
    }

    fn err(f: impl FnOnce(&mut ClientOptions)) -> String {
        let mut o = opts();
        f(&mut o);
        ClientConfig::from_options(o).unwrap_err().0
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const KEY: &str = "x/y z.txt";

    /// `(url of initMultipartUpload, url of _uploadPart(…, 'U', 1, …), host header)`.
    fn urls(c: &ClientConfig) -> (String, String, Option<String>) {
        let b = c.bucket.as_deref();
        let init = c.target(b, Some(KEY), &q(&[("uploads", "")]));
        let part = c.target(b, Some(KEY), &q(&[("partNumber", "1"), ("uploadId", "U")]));
        assert_eq!(init.host_header, part.host_header);
        (init.url, part.url, init.host_header)
    }

    fn check(c: &ClientConfig, base: &str, host: Option<&str>) {
        let (init, part, h) = urls(c);
        assert_eq!(init, format!("{base}/x/y%20z.txt?uploads="));
        assert_eq!(part, format!("{base}/x/y%20z.txt?partNumber=1&uploadId=U"));
        assert_eq!(h.as_deref(), host);
    }

    // ---- URL table of contract §7, plus more cases; every expectation observed from ali-oss ----

    #[test]
    fn region_only() {
        let c = cfg(|o| o.region = Some("oss-cn-beijing".into()));
        check(&c, "http://bkt.oss-cn-beijing.aliyuncs.com", None);
        assert_eq!(c.region, "oss-cn-beijing");
        assert_eq!(c.sign_region, "cn-beijing");
        // defaults
        let c = cfg(|_| {});
        check(&c, "http://bkt.oss-cn-hangzhou.aliyuncs.com", None);
        assert_eq!(c.region, "oss-cn-hangzhou");
        assert_eq!(c.sign_region, "cn-hangzhou");
        assert!(!c.secure && !c.internal && !c.cname && !c.sld_enable);
        assert_eq!(c.timeout_ms, 60_000);
        assert_eq!(c.sign_version, SignVersion::V1);
        assert_eq!(c.retry_max, DEFAULT_RETRY_MAX);
        assert_eq!(c.refresh_sts_token_interval_ms, 300_000);
        assert_eq!(c.credentials.security_token, None);
        // a region without the oss- prefix is used as is
        let c = cfg(|o| o.region = Some("cn-shanghai".into()));
        check(&c, "http://bkt.cn-shanghai.aliyuncs.com", None);
        assert_eq!(c.sign_region, "cn-shanghai");
        // upper case: host lower-cased by url.parse, region kept as given
        let c = cfg(|o| o.region = Some("OSS-CN-Hangzhou".into()));
        check(&c, "http://bkt.oss-cn-hangzhou.aliyuncs.com", None);
        assert_eq!(c.region, "OSS-CN-Hangzhou");
        assert_eq!(c.sign_region, "OSS-CN-Hangzhou");
    }

    #[test]
    fn region_internal_secure() {
        let c = cfg(|o| o.internal = Some(true));
        check(&c, "http://bkt.oss-cn-hangzhou-internal.aliyuncs.com", None);
        let c = cfg(|o| {
            o.internal = Some(true);
            o.secure = Some(true)
        });
        check(
            &c,
            "https://bkt.oss-cn-hangzhou-internal.aliyuncs.com",
            None,
        );
        let c = cfg(|o| o.secure = Some(true));
        check(&c, "https://bkt.oss-cn-hangzhou.aliyuncs.com", None);
        let c = cfg(|o| {
            o.region = Some("vpc100-oss-cn-beijing".into());
            o.internal = Some(true)
        });
        check(&c, "http://bkt.vpc100-oss-cn-beijing.aliyuncs.com", None);
    }

    #[test]
    fn endpoint_with_scheme() {
        let c = cfg(|o| o.endpoint = Some("http://localhost:9000".into()));
        check(&c, "http://bkt.localhost:9000", None);
        assert_eq!(
            c.endpoint,
            Endpoint {
                scheme: "http".into(),
                host: "localhost:9000".into(),
                hostname: "localhost".into(),
                port: Some(9000),
                is_ip: false
            }
        );
        // explicit http stays http even with secure: true
        let c = cfg(|o| {
            o.endpoint = Some("http://oss-cn-hangzhou.aliyuncs.com".into());
            o.secure = Some(true)
        });
        check(&c, "http://bkt.oss-cn-hangzhou.aliyuncs.com", None);
        // scheme and host case-folded, path dropped
        let c = cfg(|o| o.endpoint = Some("https://LocalHost:9000/some/path/".into()));
        check(&c, "https://bkt.localhost:9000", None);
        let c = cfg(|o| o.endpoint = Some("Https://h".into()));
        check(&c, "https://bkt.h", None);
        // an explicit default port is kept
        let c = cfg(|o| o.endpoint = Some("https://h:443".into()));
        check(&c, "https://bkt.h:443", None);
        // url.parse oddities: empty port dropped; junk after the host name cut off
        let c = cfg(|o| o.endpoint = Some("http://host:".into()));
        check(&c, "http://bkt.host", None);
        let c = cfg(|o| o.endpoint = Some("http://host:abc".into()));
        check(&c, "http://bkt.host", None);
        let c = cfg(|o| o.endpoint = Some("http://host:9000:9001".into()));
        check(&c, "http://bkt.host:9001", None);
        let c = cfg(|o| o.endpoint = Some("http://a_b.example".into()));
        check(&c, "http://bkt.a_b.example", None);
        // the endpoint wins over region for the URL
        let c = cfg(|o| {
            o.endpoint = Some("http://localhost:9000".into());
            o.region = Some("oss-cn-beijing".into())
        });
        check(&c, "http://bkt.localhost:9000", None);
        assert_eq!(c.sign_region, "cn-beijing");
    }

    #[test]
    fn endpoint_without_scheme() {
        let c = cfg(|o| o.endpoint = Some("oss-cn-hangzhou.aliyuncs.com".into()));
        check(&c, "http://bkt.oss-cn-hangzhou.aliyuncs.com", None);
        let c = cfg(|o| {
            o.endpoint = Some("oss-cn-hangzhou.aliyuncs.com".into());
            o.secure = Some(true)
        });
        check(&c, "https://bkt.oss-cn-hangzhou.aliyuncs.com", None);
        let c = cfg(|o| o.endpoint = Some("localhost/path".into()));
        check(&c, "http://bkt.localhost", None);
        // "host:port" without a scheme parses as scheme "host:" in ali-oss
        assert_eq!(
            err(|o| o.endpoint = Some("localhost:9000".into())),
            MSG_PROTOCOL
        );
        assert_eq!(
            err(|o| o.endpoint = Some("1.2.3.4:80".into())),
            MSG_PROTOCOL
        );
        assert_eq!(
            err(|o| o.endpoint = Some("oss.aliyuncs.com:8080".into())),
            MSG_PROTOCOL
        );
        // empty endpoint: falsy, region used
        let c = cfg(|o| o.endpoint = Some(String::new()));
        check(&c, "http://bkt.oss-cn-hangzhou.aliyuncs.com", None);
    }

    #[test]
    fn cname_and_sld() {
        let c = cfg(|o| {
            o.endpoint = Some("http://localhost:9000".into());
            o.cname = Some(true)
        });
        check(&c, "http://localhost:9000", None);
        let c = cfg(|o| {
            o.endpoint = Some("http://my.cdn.example.com".into());
            o.cname = Some(true)
        });
        check(&c, "http://my.cdn.example.com", None);
        let c = cfg(|o| {
            o.endpoint = Some("http://localhost:9000".into());
            o.cname = Some(true);
            o.bucket = None
        });
        check(&c, "http://localhost:9000", None);
        let c = cfg(|o| {
            o.endpoint = Some("http://localhost:9000".into());
            o.sld_enable = Some(true)
        });
        check(&c, "http://localhost:9000/bkt", None);
    }

    #[test]
    fn ip_endpoint_host_header() {
        let c = cfg(|o| o.endpoint = Some("http://127.0.0.1:9000".into()));
        assert!(c.endpoint.is_ip);
        check(
            &c,
            "http://127.0.0.1:9000",
            Some("bkt.oss-cn-hangzhou.aliyuncs.com"),
        );
        // internal/secure/region shape the Host header, not the URL
        let c = cfg(|o| {
            o.endpoint = Some("http://127.0.0.1:9000".into());
            o.region = Some("oss-cn-beijing".into());
            o.internal = Some(true);
            o.secure = Some(true)
        });
        check(
            &c,
            "http://127.0.0.1:9000",
            Some("bkt.oss-cn-beijing-internal.aliyuncs.com"),
        );
        let c = cfg(|o| {
            o.endpoint = Some("http://127.0.0.1:9000".into());
            o.sld_enable = Some(true)
        });
        check(
            &c,
            "http://127.0.0.1:9000/bkt",
            Some("bkt.oss-cn-hangzhou.aliyuncs.com"),
        );
        let c = cfg(|o| {
            o.endpoint = Some("http://127.0.0.1".into());
            o.cname = Some(true)
        });
        check(
            &c,
            "http://127.0.0.1",
            Some("bkt.oss-cn-hangzhou.aliyuncs.com"),
        );
        let c = cfg(|o| o.endpoint = Some("http://10.0.0.1:80".into()));
        check(
            &c,
            "http://10.0.0.1:80",
            Some("bkt.oss-cn-hangzhou.aliyuncs.com"),
        );
        let c = cfg(|o| o.endpoint = Some("127.0.0.1".into()));
        check(
            &c,
            "http://127.0.0.1",
            Some("bkt.oss-cn-hangzhou.aliyuncs.com"),
        );
        let c = cfg(|o| o.endpoint = Some("http://01.02.03.04".into()));
        check(
            &c,
            "http://01.02.03.04",
            Some("bkt.oss-cn-hangzhou.aliyuncs.com"),
        );
        // not IPs for ali-oss: virtual-hosted
        let c = cfg(|o| o.endpoint = Some("http://999.1.1.1".into()));
        check(&c, "http://bkt.999.1.1.1", None);
        let c = cfg(|o| o.endpoint = Some("http://1.2.3.4.5".into()));
        check(&c, "http://bkt.1.2.3.4.5", None);
        // IPv6 cannot pass ali-oss's endpoint rule
        assert_eq!(
            err(|o| o.endpoint = Some("http://[::1]:9000".into())),
            MSG_ENDPOINT
        );
        let t = c.target(None, None, &q(&[("uploads", "")]));
        assert_eq!(t.url, "http://1.2.3.4.5/?uploads=");
        // no bucket: region host alone (ali-oss would send "undefined.<host>")
        let c = cfg(|o| {
            o.endpoint = Some("http://127.0.0.1:9000".into());
            o.bucket = None
        });
        let t = c.target(None, None, &[]);
        assert_eq!(t.url, "http://127.0.0.1:9000/");
        assert_eq!(
            t.host_header.as_deref(),
            Some("oss-cn-hangzhou.aliyuncs.com")
        );
        // invalid region with an IP endpoint: ali-oss fails every request with this message
        assert_eq!(
            err(|o| {
                o.endpoint = Some("http://127.0.0.1:9000".into());
                o.region = Some("bad region".into())
            }),
            MSG_REGION
        );
        // ...while a non-IP endpoint never looks at the region
        let c = cfg(|o| {
            o.endpoint = Some("http://localhost:9000".into());
            o.region = Some("bad region".into())
        });
        check(&c, "http://bkt.localhost:9000", None);
    }

    #[test]
    fn keys_and_queries() {
        // observed: client.initMultipartUpload(key) against http://localhost:9000, bucket bkt
        let c = cfg(|o| o.endpoint = Some("http://localhost:9000".into()));
        let init = |k: &str| {
            c.target(Some("bkt"), Some(&object_name(k)), &q(&[("uploads", "")]))
                .url
        };
        let base = "http://bkt.localhost:9000";
        for (key, path) in [
            ("x/y z.txt", "/x/y%20z.txt"),
            ("/lead.txt", "/lead.txt"),
            ("///multi/lead", "/multi/lead"),
            ("a+b", "/a%2Bb"),
            (
                "ü/文件 名.txt",
                "/%C3%BC/%E6%96%87%E4%BB%B6%20%E5%90%8D.txt",
            ),
            ("emoji-😀", "/emoji-%F0%9F%98%80"),
            ("sp!*'()~._-", "/sp!*'()~._-"),
            ("q?h#p%a&e=", "/q%3Fh%23p%25a%26e%3D"),
            ("trail/", "/trail/"),
            ("a\\b", "/a%5Cb"),
            ("tab\there", "/tab%09here"),
            (
                "semi;colon:at@dollar$comma,",
                "/semi%3Bcolon%3Aat%40dollar%24comma%2C",
            ),
        ] {
            assert_eq!(init(key), format!("{base}{path}?uploads="), "key {key:?}");
        }
        // listParts('k', 'U p+/=', {max-parts: 10, part-number-marker: 2, encoding-type: 'url'})
        assert_eq!(
            c.target(
                Some("bkt"),
                Some("k"),
                &q(&[
                    ("max-parts", "10"),
                    ("part-number-marker", "2"),
                    ("encoding-type", "url"),
                    ("uploadId", "U p+/=")
                ])
            )
            .url,
            "http://bkt.localhost:9000/k?max-parts=10&part-number-marker=2&encoding-type=url&uploadId=U%20p%2B%2F%3D"
        );
        // listUploads({prefix: 'a b/', 'max-uploads': 5, 'key-marker': '', delimiter: '/'})
        assert_eq!(
            c.target(
                Some("bkt"),
                None,
                &q(&[
                    ("prefix", "a b/"),
                    ("max-uploads", "5"),
                    ("key-marker", ""),
                    ("delimiter", "/"),
                    ("uploads", "")
                ])
            )
            .url,
            "http://bkt.localhost:9000/?prefix=a%20b%2F&max-uploads=5&key-marker=&delimiter=%2F&uploads="
        );
        // _uploadPart('k', "u!*'()~ +/=&", 7, …)
        assert_eq!(
            c.target(
                Some("bkt"),
                Some("k"),
                &q(&[("partNumber", "7"), ("uploadId", "u!*'()~ +/=&")])
            )
            .url,
            "http://bkt.localhost:9000/k?partNumber=7&uploadId=u!*'()~%20%2B%2F%3D%26"
        );
        // abortMultipartUpload('k', 'U')
        assert_eq!(
            c.target(Some("bkt"), Some("k"), &q(&[("uploadId", "U")]))
                .url,
            "http://bkt.localhost:9000/k?uploadId=U"
        );
        // an empty key is no key
        assert_eq!(
            c.target(Some("bkt"), Some(""), &[]).url,
            "http://bkt.localhost:9000/"
        );
    }

    #[test]
    fn key_helpers() {
        assert_eq!(escape_key("a b+c/ü"), "a%20b%2Bc/%C3%BC");
        assert_eq!(escape_key(""), "");
        assert_eq!(object_name("/a/b"), "a/b");
        assert_eq!(object_name("//a"), "a");
        assert_eq!(object_name("a/"), "a/");
        assert_eq!(object_name("/"), "");
        assert_eq!(render_query(&q(&[("uploads", "")])), "uploads=");
        assert_eq!(render_query(&[]), "");
    }

    // ---- constructor errors (messages observed from `new OSS(...)`) ----

    #[test]
    fn required_keys() {
        let none = ClientOptions::default();
        assert_eq!(
            ClientConfig::from_options(none).unwrap_err().0,
            MSG_REQUIRE_KEYS
        );
        assert_eq!(err(|o| o.access_key_id = None), MSG_REQUIRE_KEYS);
        assert_eq!(err(|o| o.access_key_secret = None), MSG_REQUIRE_KEYS);
        assert_eq!(
            err(|o| o.access_key_id = Some(String::new())),
            MSG_REQUIRE_KEYS
        );
        assert_eq!(
            err(|o| o.access_key_secret = Some(String::new())),
            MSG_REQUIRE_KEYS
        );
        assert_eq!(MSG_REQUIRE_KEYS, "require accessKeyId, accessKeySecret");
        // checked before trimming, then trimmed: "  " is accepted and becomes ""
        let c = cfg(|o| {
            o.access_key_id = Some("  ".into());
            o.access_key_secret = Some(" b ".into())
        });
        assert_eq!(c.credentials.access_key_id, "");
        assert_eq!(c.credentials.access_key_secret, "b");
        let c = cfg(|o| {
            o.access_key_id = Some(" a\n".into());
            o.access_key_secret = Some("\u{feff}\tb\u{a0}".into())
        });
        assert_eq!(c.credentials.access_key_id, "a");
        assert_eq!(c.credentials.access_key_secret, "b");
        // the keys are checked before the bucket
        assert_eq!(
            err(|o| {
                o.access_key_id = None;
                o.bucket = Some("B".into())
            }),
            MSG_REQUIRE_KEYS
        );
    }

    #[test]
    fn bucket_rule() {
        assert_eq!(
            MSG_BUCKET,
            "The bucket must be conform to the specifications"
        );
        assert_eq!(err(|o| o.bucket = Some("Bad_Bucket".into())), MSG_BUCKET);
        assert_eq!(err(|o| o.bucket = Some("b".into())), MSG_BUCKET);
        assert_eq!(err(|o| o.bucket = Some("-ab".into())), MSG_BUCKET);
        assert_eq!(err(|o| o.bucket = Some("a".repeat(64))), MSG_BUCKET);
        // accepted by ali-oss
        assert_eq!(
            cfg(|o| o.bucket = Some("ab_".into())).bucket.as_deref(),
            Some("ab_")
        );
        assert_eq!(cfg(|o| o.bucket = Some(String::new())).bucket, None);
        for ok in ["abc", "a-b", "_ab", "a".repeat(63).as_str(), "0-9", "a__"] {
            assert!(check_bucket_name(ok), "{ok}");
        }
        for bad in ["", "ab", "ab-", "-ab", "aBc", "a.b", "a b", "ab\u{e9}", "b"] {
            assert!(!check_bucket_name(bad), "{bad}");
        }
        assert!(!check_bucket_name(&"a".repeat(64)));
    }

    #[test]
    fn region_and_endpoint_rules() {
        assert_eq!(
            err(|o| o.region = Some(String::new())),
            MSG_REQUIRE_ENDPOINT
        );
        assert_eq!(err(|o| o.region = Some("oss cn".into())), MSG_REGION);
        assert_eq!(err(|o| o.region = Some("oss.cn".into())), MSG_REGION);
        assert_eq!(
            err(|o| o.endpoint = Some("http://a b".into())),
            MSG_ENDPOINT
        );
        assert_eq!(err(|o| o.endpoint = Some("ftp://a".into())), MSG_PROTOCOL);
        assert_eq!(
            err(|o| o.endpoint = Some("http://h?x".into())),
            MSG_ENDPOINT
        );
        assert_eq!(
            err(|o| o.endpoint = Some("http://us@h".into())),
            MSG_ENDPOINT
        );
        // no host (ali-oss: same message, at request time)
        for e in [
            "http:localhost",
            "http:/localhost",
            "http:///localhost",
            "http://",
            "/path",
        ] {
            assert_eq!(err(|o| o.endpoint = Some(e.into())), MSG_ENDPOINT, "{e}");
        }
        assert_eq!(
            err(|o| o.endpoint = Some("http://h:70000".into())),
            MSG_ENDPOINT
        );
        assert_eq!(MSG_PROTOCOL, "Endpoint protocol must be http or https.");
        assert_eq!(
            MSG_REQUIRE_ENDPOINT,
            "require options.endpoint or options.region"
        );
        assert_eq!(
            MSG_REGION,
            "The region must be conform to the specifications"
        );
        assert_eq!(
            MSG_ENDPOINT,
            "The endpoint must be conform to the specifications"
        );
    }

    #[test]
    fn other_options() {
        let c = cfg(|o| {
            o.sts_token = Some("tok".into());
            o.authorization_v4 = Some(true);
            o.retry_max = Some(3);
            o.refresh_sts_token_interval = Some(1000);
            o.timeout = Some(TimeoutValue::Text("2m".into()));
        });
        assert_eq!(c.credentials.security_token.as_deref(), Some("tok"));
        assert_eq!(c.sign_version, SignVersion::V4);
        assert_eq!(c.retry_max, 3);
        assert_eq!(c.refresh_sts_token_interval_ms, 1000);
        assert_eq!(c.timeout_ms, 120_000);
        // empty token is falsy: no security-token header in ali-oss
        assert_eq!(
            cfg(|o| o.sts_token = Some(String::new()))
                .credentials
                .security_token,
            None
        );
        assert_eq!(
            cfg(|o| o.refresh_sts_token_interval = Some(0)).refresh_sts_token_interval_ms,
            0
        );
        // Debug redacts the secret
        let d = format!(
            "{:?}",
            cfg(|o| o.access_key_secret = Some("verysecret".into()))
        );
        assert!(!d.contains("verysecret"));
    }

    #[test]
    fn timeouts() {
        let t = |v: TimeoutValue| cfg(|o| o.timeout = Some(v)).timeout_ms;
        let text = |s: &str| TimeoutValue::Text(s.into());
        // values observed from `new OSS({timeout})`.options.timeout
        assert_eq!(t(text("2m")), 120_000);
        assert_eq!(t(text("1.5 hours")), 5_400_000);
        assert_eq!(t(text(".5s")), 500);
        assert_eq!(t(text("10")), 10);
        assert_eq!(t(TimeoutValue::Ms(1234.0)), 1234);
        // falsy values: urllib's default applies in ali-oss
        assert_eq!(t(TimeoutValue::Ms(0.0)), URLLIB_DEFAULT_TIMEOUT_MS);
        assert_eq!(t(TimeoutValue::Ms(f64::NAN)), URLLIB_DEFAULT_TIMEOUT_MS);
        assert_eq!(t(text("")), URLLIB_DEFAULT_TIMEOUT_MS);
        assert_eq!(t(text("0s")), URLLIB_DEFAULT_TIMEOUT_MS);
        // unusable: an error here (ali-oss: warning + urllib default, or instant timeouts)
        assert_eq!(
            err(|o| o.timeout = Some(text("abc"))),
            "humanize-ms(\"abc\") result undefined"
        );
        assert_eq!(
            err(|o| o.timeout = Some(text("1e3"))),
            "humanize-ms(\"1e3\") result undefined"
        );
        assert!(err(|o| o.timeout = Some(text("-1s"))).contains("negative"));
        assert!(err(|o| o.timeout = Some(TimeoutValue::Ms(-5.0))).contains("negative"));
        assert!(err(|o| o.timeout = Some(TimeoutValue::Ms(f64::INFINITY))).contains("finite"));
    }

    #[test]
    fn ms_parser() {
        let p = |s: &str| parse_timeout(&TimeoutValue::Text(s.into()));
        assert_eq!(p("1s"), Ok(1000));
        assert_eq!(p("1 s"), Ok(1000));
        assert_eq!(p("1   SECONDS"), Ok(1000));
        assert_eq!(p("2 mins"), Ok(120_000));
        assert_eq!(p("1h"), Ok(3_600_000));
        assert_eq!(p("1hr"), Ok(3_600_000));
        assert_eq!(p("1d"), Ok(86_400_000));
        assert_eq!(p("1w"), Ok(604_800_000));
        assert_eq!(p("1y"), Ok(31_557_600_000));
        assert_eq!(p("100ms"), Ok(100));
        assert_eq!(p("100 msecs"), Ok(100));
        assert_eq!(p("1.5"), Ok(2)); // fraction rounded up
        assert_eq!(p("0.0001s"), Ok(1));
        for bad in [
            "", "s", "1.", "1..5s", ".s", "1 x", "1s ", " 1s", "--1", "1.2.3", "١s",
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
        assert!(p(&"1".repeat(101)).is_err());
        assert_eq!(parse_timeout(&TimeoutValue::Ms(1.2)), Ok(2));
    }
}
