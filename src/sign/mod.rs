//! Request signing for Alibaba Cloud OSS, byte-compatible with what ali-oss 6.23.0 sends.
//!
//! Pure code: no I/O, no clock (the caller passes `now`). [`sign`] adds the date,
//! content-sha256 (V4), security-token and `authorization` headers to a request's header map;
//! the building blocks live in [`v1`] and [`v4`] so that each step can be tested against the
//! published vectors.

use std::borrow::Cow;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{HeaderMap, HeaderName, HeaderValue};

pub mod v1;
pub mod v4;

/// `x-oss-date`: the request time, signed by both versions.
pub const HEADER_OSS_DATE: &str = "x-oss-date";
/// `x-oss-content-sha256`: the V4 payload hash (always `UNSIGNED-PAYLOAD` here, like ali-oss).
pub const HEADER_CONTENT_SHA256: &str = "x-oss-content-sha256";
/// `x-oss-security-token`: the STS token.
pub const HEADER_SECURITY_TOKEN: &str = "x-oss-security-token";
/// The V4 hashed payload value ali-oss always sends.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Access credentials. `Debug` never prints the secret or the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: Option<String>,
}

impl Credentials {
    pub fn new(
        access_key_id: impl Into<String>,
        access_key_secret: impl Into<String>,
        security_token: Option<String>,
    ) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            access_key_secret: access_key_secret.into(),
            security_token,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"***")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

/// Which signature algorithm to use (`authorizationV4: true` selects V4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignVersion {
    V1,
    V4,
}

/// What is signed besides the headers.
#[derive(Clone, Debug)]
pub struct SignParams<'a> {
    /// HTTP method, e.g. `"PUT"` (upper-cased when signing).
    pub method: &'a str,
    pub bucket: Option<&'a str>,
    /// Raw (unescaped) object key, already passed through `config::object_name`.
    pub key: Option<&'a str>,
    /// Decoded query parameters in URL order; an empty value is a bare sub-resource (`?uploads`).
    pub query: &'a [(String, String)],
    /// V4 signing region WITHOUT the `oss-` prefix, e.g. `"cn-hangzhou"`.
    pub region: &'a str,
    pub now: SystemTime,
}

/// A value that cannot be put in an HTTP header (control characters in a credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidHeaderValue {
    pub header: &'static str,
}

impl fmt::Display for InvalidHeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid characters in the value of header `{}`",
            self.header
        )
    }
}

impl std::error::Error for InvalidHeaderValue {}

/// Signs in place: sets `x-oss-date` (V1: RFC 1123 GMT like ali-oss; V4: `yyyymmddThhmmssZ`),
/// for V4 also `x-oss-content-sha256: UNSIGNED-PAYLOAD` (unless already present), sets
/// `x-oss-security-token` when the credentials have one, then `authorization`.
/// All other headers (content-type, content-md5, x-oss-meta-*, ...) must already be in `headers`.
///
/// A credential that cannot be a header value (control characters) leaves the request
/// without the corresponding header (the server will reject it); use [`try_sign`] to see
/// that case as an error.
pub fn sign(
    version: SignVersion,
    creds: &Credentials,
    params: &SignParams<'_>,
    headers: &mut HeaderMap,
) {
    let _ = try_sign(version, creds, params, headers);
}

/// [`sign`], reporting a credential that cannot be sent in a header.
pub fn try_sign(
    version: SignVersion,
    creds: &Credentials,
    params: &SignParams<'_>,
    headers: &mut HeaderMap,
) -> Result<(), InvalidHeaderValue> {
    let date = match version {
        SignVersion::V1 => format_http_date(params.now),
        SignVersion::V4 => format_v4_date(params.now),
    };
    set_header(headers, HEADER_OSS_DATE, &date)?;
    if version == SignVersion::V4 && !headers.contains_key(HEADER_CONTENT_SHA256) {
        set_header(headers, HEADER_CONTENT_SHA256, UNSIGNED_PAYLOAD)?;
    }
    if let Some(token) = &creds.security_token {
        set_header(headers, HEADER_SECURITY_TOKEN, token)?;
    }
    let authorization = match version {
        SignVersion::V1 => {
            let resource = v1::canonical_resource(params.bucket, params.key, params.query);
            let sts = v1::string_to_sign(params.method, headers, &resource);
            let sig = v1::signature(&creds.access_key_secret, &sts);
            v1::authorization(&creds.access_key_id, &sig)
        }
        SignVersion::V4 => {
            let creq = v4::canonical_request(
                params.method,
                params.bucket,
                params.key,
                params.query,
                headers,
                &[],
            );
            let sts = v4::string_to_sign(&date, params.region, &creq);
            let day = &date[..8];
            let key = v4::signing_key(&creds.access_key_secret, day, params.region);
            let sig = v4::signature(&key, &sts);
            v4::authorization(&creds.access_key_id, day, params.region, &[], &sig)
        }
    };
    set_header(headers, "authorization", &authorization)
}

fn set_header(
    headers: &mut HeaderMap,
    name: &'static str,
    value: &str,
) -> Result<(), InvalidHeaderValue> {
    let value = HeaderValue::from_str(value).or_else(|_| HeaderValue::from_bytes(value.as_bytes()));
    match value {
        Ok(v) => {
            headers.insert(HeaderName::from_static(name), v);
            Ok(())
        }
        Err(_) => Err(InvalidHeaderValue { header: name }),
    }
}

/// A header value as text: UTF-8 when the bytes are UTF-8, else each byte as one Latin-1
/// character (what a Node string holding the same header would contain).
pub(crate) fn header_text(v: &HeaderValue) -> Cow<'_, str> {
    match std::str::from_utf8(v.as_bytes()) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(v.as_bytes().iter().map(|&b| b as char).collect()),
    }
}

/// All values of one header, trimmed, joined with `,` (repeated headers), or `None`.
pub(crate) fn header_joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut out: Option<String> = None;
    for v in headers.get_all(name) {
        let t = header_text(v);
        let t = t.trim();
        match &mut out {
            Some(s) => {
                s.push(',');
                s.push_str(t);
            }
            None => out = Some(t.to_string()),
        }
    }
    out
}

/// Broken-down UTC time. Times before 1970 are clamped to the epoch.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
    weekday: usize, // 0 = Sunday
}

fn civil(t: SystemTime) -> Civil {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days-to-civil conversion (proleptic Gregorian), after H. Hinnant's public-domain algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: (rem % 3600) / 60,
        second: rem % 60,
        weekday: ((days + 4).rem_euclid(7)) as usize, // 1970-01-01 was a Thursday
    }
}

/// RFC 1123 date as ali-oss writes `x-oss-date` for V1: `Wed, 28 Dec 2022 10:27:41 GMT`.
pub fn format_http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = civil(t);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[c.weekday % 7],
        c.day,
        MONTHS[(c.month as usize).saturating_sub(1) % 12],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

/// ISO 8601 basic UTC timestamp used by V4: `20231216T162057Z`.
pub fn format_v4_date(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn dates() {
        assert_eq!(format_http_date(at(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(format_v4_date(at(0)), "19700101T000000Z");
        // Wed, 28 Dec 2022 10:27:41 GMT (vector date of oss-protocol.md §1)
        assert_eq!(
            format_http_date(at(1_672_223_261)),
            "Wed, 28 Dec 2022 10:27:41 GMT"
        );
        assert_eq!(format_v4_date(at(1_702_743_657)), "20231216T162057Z");
        assert_eq!(format_v4_date(at(1_702_784_856)), "20231217T034736Z");
        assert_eq!(format_v4_date(at(1_702_747_512)), "20231216T172512Z");
        // leap day, and agreement with httpdate over a spread of instants
        assert_eq!(format_v4_date(at(951_782_400)), "20000229T000000Z");
        let mut s: u64 = 1;
        for _ in 0..2000 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let t = at((s >> 33) % 8_000_000_000);
            assert_eq!(format_http_date(t), httpdate::fmt_http_date(t));
        }
        // before the epoch: clamped, no panic
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(format_v4_date(before), "19700101T000000Z");
    }

    #[test]
    fn credentials_debug_redacts() {
        let c = Credentials::new("AKID", "topsecret", Some("tok".into()));
        let d = format!("{c:?}");
        assert!(d.contains("AKID"));
        assert!(!d.contains("topsecret"));
        assert!(!d.contains("tok\""));
        assert!(d.contains("***"));
        let c = Credentials::new("AKID", "topsecret", None);
        assert!(format!("{c:?}").contains("None"));
    }

    #[test]
    fn header_text_latin1_fallback() {
        let v = HeaderValue::from_bytes(&[b'a', 0xE9]).unwrap();
        assert_eq!(header_text(&v), "a\u{e9}");
        let v = HeaderValue::from_bytes("é".as_bytes()).unwrap();
        assert_eq!(header_text(&v), "é");
    }

    #[test]
    fn try_sign_rejects_control_chars_in_token() {
        let creds = Credentials::new("ak", "sk", Some("bad\ntoken".into()));
        let params = SignParams {
            method: "PUT",
            bucket: Some("b"),
            key: Some("k"),
            query: &[],
            region: "cn-hangzhou",
            now: at(0),
        };
        let mut h = HeaderMap::new();
        let err = try_sign(SignVersion::V1, &creds, &params, &mut h).unwrap_err();
        assert_eq!(err.header, HEADER_SECURITY_TOKEN);
        // the infallible wrapper does not panic
        let mut h = HeaderMap::new();
        sign(SignVersion::V4, &creds, &params, &mut h);
    }
}
