//! The emulator's own request verifier for OSS signatures V1 (header and presigned
//! query) and V4 (header), written from the protocol description and independent of
//! any client's signer.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::error::OssError;
use crate::util::{iso8601, parse_any_date, parse_iso_basic, unix_secs, uri_encode};

/// Largest accepted difference between the request time and the server clock.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Query parameters that V1 signs (union of the Go and Python SDK lists).
const V1_SUBRESOURCES: &[&str] = &[
    "acl",
    "append",
    "asyncFetch",
    "bucketInfo",
    "callback",
    "callback-var",
    "cloudboxes",
    "cname",
    "comp",
    "continuation-token",
    "cors",
    "delete",
    "encryption",
    "endTime",
    "group",
    "inventory",
    "inventoryId",
    "lifecycle",
    "link",
    "live",
    "location",
    "logging",
    "metaQuery",
    "objectInfo",
    "objectMeta",
    "partNumber",
    "policy",
    "position",
    "qos",
    "qosInfo",
    "referer",
    "regionList",
    "replication",
    "replicationLocation",
    "replicationProgress",
    "requestPayment",
    "resourceGroup",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "security-token",
    "sequential",
    "startTime",
    "stat",
    "status",
    "style",
    "styleName",
    "symlink",
    "tagging",
    "transferAcceleration",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "vod",
    "website",
    "worm",
    "wormExtend",
    "wormId",
];

/// Whether a query parameter is part of the V1 canonicalized resource.
pub fn is_v1_subresource(name: &str) -> bool {
    name.starts_with("x-oss-") || V1_SUBRESOURCES.contains(&name)
}

/// `/bucket/key?sub&res=v` (raw key, decoded values, sorted sub-resources).
pub fn v1_canonical_resource(
    bucket: Option<&str>,
    key: Option<&str>,
    query: &[(String, String)],
) -> String {
    let mut r = String::from("/");
    if let Some(b) = bucket {
        r.push_str(b);
        r.push('/');
        if let Some(k) = key {
            r.push_str(k);
        }
    }
    let mut subs: Vec<&(String, String)> =
        query.iter().filter(|(k, _)| is_v1_subresource(k)).collect();
    subs.sort();
    for (i, (k, v)) in subs.iter().enumerate() {
        r.push(if i == 0 { '?' } else { '&' });
        r.push_str(k);
        if !v.is_empty() {
            r.push('=');
            r.push_str(v);
        }
    }
    r
}

/// V1 StringToSign. `oss_headers` are (lowercase name, trimmed value), any order.
pub fn v1_string_to_sign(
    verb: &str,
    content_md5: &str,
    content_type: &str,
    date: &str,
    oss_headers: &BTreeMap<String, String>,
    resource: &str,
) -> String {
    let mut s = format!("{verb}\n{content_md5}\n{content_type}\n{date}\n");
    for (k, v) in oss_headers {
        s.push_str(k);
        s.push(':');
        s.push_str(v);
        s.push('\n');
    }
    s.push_str(resource);
    s
}

/// base64(HMAC-SHA1(secret, string_to_sign)).
pub fn v1_signature(secret: &str, string_to_sign: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(string_to_sign.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

fn hmac256(key: &[u8], data: &[u8]) -> Vec<u8> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// V4 canonical request. `headers` maps lowercase names to trimmed values (all request
/// headers); `additional` are lowercase names.
pub fn v4_canonical_request(
    method: &str,
    bucket: Option<&str>,
    key: Option<&str>,
    query: &[(String, String)],
    headers: &BTreeMap<String, String>,
    additional: &[String],
    hashed_payload: &str,
) -> String {
    let mut path = String::from("/");
    if let Some(b) = bucket {
        path.push_str(b);
        path.push('/');
        if let Some(k) = key {
            path.push_str(k);
        }
    }
    let uri = uri_encode(&path, true);
    let mut q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    q.sort();
    let cq = q
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    let mut ch = String::new();
    for (k, v) in headers {
        let signed = k.starts_with("x-oss-")
            || k == "content-type"
            || k == "content-md5"
            || additional.iter().any(|a| a == k);
        if signed {
            ch.push_str(k);
            ch.push(':');
            ch.push_str(v);
            ch.push('\n');
        }
    }
    let mut add: Vec<String> = additional
        .iter()
        .filter(|a| headers.contains_key(a.as_str()))
        .cloned()
        .collect();
    add.sort();
    add.dedup();
    format!(
        "{method}\n{uri}\n{cq}\n{ch}\n{}\n{hashed_payload}",
        add.join(";")
    )
}

/// `yyyymmdd/region/oss/aliyun_v4_request`
pub fn v4_scope(date8: &str, region: &str) -> String {
    format!("{date8}/{region}/oss/aliyun_v4_request")
}

/// V4 StringToSign from the canonical request.
pub fn v4_string_to_sign(datetime: &str, scope: &str, canonical_request: &str) -> String {
    let hash = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    format!("OSS4-HMAC-SHA256\n{datetime}\n{scope}\n{hash}")
}

/// hex(HMAC-SHA256(signing key, string_to_sign)).
pub fn v4_signature(secret: &str, date8: &str, region: &str, string_to_sign: &str) -> String {
    let k = hmac256(format!("aliyun_v4{secret}").as_bytes(), date8.as_bytes());
    let k = hmac256(&k, region.as_bytes());
    let k = hmac256(&k, b"oss");
    let k = hmac256(&k, b"aliyun_v4_request");
    hex::encode(hmac256(&k, string_to_sign.as_bytes()))
}

/// Parsed `Authorization: OSS4-HMAC-SHA256 …`.
#[derive(Debug, PartialEq)]
pub struct V4Auth {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub additional_headers: Vec<String>,
    pub signature: String,
}

/// Splits on `,`, trims, any order; `AdditionalHeaders` may be absent or empty.
pub fn parse_v4_authorization(rest: &str) -> Option<V4Auth> {
    let mut credential = None;
    let mut additional = Vec::new();
    let mut signature = None;
    for item in rest.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (k, v) = item.split_once('=')?;
        match k.trim() {
            "Credential" => credential = Some(v.trim().to_string()),
            "AdditionalHeaders" => {
                additional = v
                    .split(';')
                    .map(|h| h.trim().to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect()
            }
            "Signature" => signature = Some(v.trim().to_string()),
            _ => return None,
        }
    }
    let credential = credential?;
    let parts: Vec<&str> = credential.split('/').collect();
    if parts.len() != 5
        || parts[3] != "oss"
        || parts[4] != "aliyun_v4_request"
        || parts[0].is_empty()
    {
        return None;
    }
    Some(V4Auth {
        access_key_id: parts[0].to_string(),
        date: parts[1].to_string(),
        region: parts[2].to_string(),
        additional_headers: additional,
        signature: signature?,
    })
}

/// What the verifier knows about an access key.
#[derive(Clone, Debug)]
pub struct CredInfo {
    pub secret: String,
    /// Required `x-oss-security-token` for temporary credentials.
    pub token: Option<String>,
    pub expired: bool,
}

/// The request as the verifier sees it.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub headers: &'a HeaderMap,
    pub query: &'a [(String, String)],
    pub bucket: Option<&'a str>,
    pub key: Option<&'a str>,
}

/// Outcome of a successful verification.
#[derive(Debug, PartialEq)]
pub enum Identity {
    Anonymous,
    AccessKey(String),
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Lowercase name → trimmed value; repeated headers joined with `,`. Non-UTF-8 values are
/// read lossily (they then simply fail to match).
pub fn header_table(h: &HeaderMap) -> BTreeMap<String, String> {
    let mut t: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in h.iter() {
        let v = String::from_utf8_lossy(value.as_bytes()).trim().to_string();
        t.entry(name.as_str().to_string())
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert(v);
    }
    t
}

fn query_get<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn check_token(cred: &CredInfo, provided: Option<&str>) -> Result<(), OssError> {
    match (&cred.token, provided) {
        (Some(_), _) if cred.expired => Err(OssError::new(
            403,
            "SecurityTokenExpired",
            "The security token you provided has expired.",
        )),
        (Some(want), Some(got)) if want == got => Ok(()),
        (Some(_), Some(_)) => Err(OssError::new(
            403,
            "InvalidSecurityToken",
            "The security token you provided is invalid.",
        )),
        (Some(_), None) => Err(OssError::new(
            403,
            "InvalidSecurityToken",
            "The security token is required for temporary credentials (x-oss-security-token).",
        )),
        (None, Some(_)) => Err(OssError::new(
            403,
            "InvalidSecurityToken",
            "A security token was sent with long-term credentials.",
        )),
        (None, None) => Ok(()),
    }
}

fn check_skew(request_time: SystemTime, raw: &str, now: SystemTime) -> Result<(), OssError> {
    let diff = match now.duration_since(request_time) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if diff > MAX_SKEW {
        return Err(OssError::new(
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        )
        .with("RequestTime", raw)
        .with("ServerTime", iso8601(now))
        .with("MaxAllowedSkewMilliseconds", "900000"));
    }
    Ok(())
}

fn unknown_key(ak: &str) -> OssError {
    OssError::new(
        403,
        "InvalidAccessKeyId",
        "The OSS Access Key Id you provided does not exist in our records.",
    )
    .with("OSSAccessKeyId", ak)
}

/// Verifies a request. `lookup` resolves an access key id; `region` is the server's
/// region without an `oss-` prefix; `allow_anonymous` is bench mode.
pub fn verify(
    req: &SignedRequest<'_>,
    lookup: &dyn Fn(&str) -> Option<CredInfo>,
    region: &str,
    now: SystemTime,
    allow_anonymous: bool,
) -> Result<Identity, OssError> {
    let headers = req.headers;
    let auth = match headers.get("authorization") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| {
                    OssError::invalid_argument("The Authorization header is not valid ASCII.")
                })?
                .trim(),
        ),
        None => None,
    };
    if let Some(auth) = auth {
        if let Some(rest) = auth.strip_prefix("OSS4-HMAC-SHA256 ") {
            return verify_v4(req, rest, lookup, region, now);
        }
        if let Some(rest) = auth.strip_prefix("OSS ") {
            return verify_v1(req, rest, lookup, now);
        }
        return Err(OssError::invalid_argument(
            "Authorization header is invalid: expected `OSS <ak>:<sig>` or `OSS4-HMAC-SHA256 …`.",
        ));
    }
    if query_get(req.query, "OSSAccessKeyId").is_some() {
        return verify_v1_presigned(req, lookup, now);
    }
    if query_get(req.query, "x-oss-signature-version").is_some() {
        return Err(OssError::new(
            501,
            "NotImplemented",
            "Presigned V4 URLs are not supported by the emulator.",
        ));
    }
    if allow_anonymous {
        return Ok(Identity::Anonymous);
    }
    Err(OssError::access_denied(
        "You have no right to access this object because of bucket acl (anonymous request).",
    ))
}

fn v1_oss_headers(table: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    table
        .iter()
        .filter(|(k, _)| k.starts_with("x-oss-"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn verify_v1(
    req: &SignedRequest<'_>,
    rest: &str,
    lookup: &dyn Fn(&str) -> Option<CredInfo>,
    now: SystemTime,
) -> Result<Identity, OssError> {
    let (ak, sig) = rest.trim().rsplit_once(':').ok_or_else(|| {
        OssError::invalid_argument("Authorization header is invalid: missing `:`.")
    })?;
    let ak = ak.trim();
    let cred = lookup(ak).ok_or_else(|| unknown_key(ak))?;
    check_token(&cred, header_str(req.headers, "x-oss-security-token"))?;
    let raw_date = header_str(req.headers, "x-oss-date")
        .or_else(|| header_str(req.headers, "date"))
        .ok_or_else(|| OssError::access_denied("OSS authentication requires a valid Date."))?
        .trim();
    let t = parse_any_date(raw_date)
        .ok_or_else(|| OssError::access_denied("OSS authentication requires a valid Date."))?;
    check_skew(t, raw_date, now)?;
    let table = header_table(req.headers);
    let resource = v1_canonical_resource(req.bucket, req.key, req.query);
    let sts = v1_string_to_sign(
        req.method,
        table.get("content-md5").map(String::as_str).unwrap_or(""),
        table.get("content-type").map(String::as_str).unwrap_or(""),
        raw_date,
        &v1_oss_headers(&table),
        &resource,
    );
    let expected = v1_signature(&cred.secret, &sts);
    if expected != sig.trim() {
        return Err(mismatch_v1(ak, &sts, sig.trim()));
    }
    Ok(Identity::AccessKey(ak.to_string()))
}

fn mismatch_v1(ak: &str, sts: &str, provided: &str) -> OssError {
    OssError::new(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    )
    .with("StringToSign", sts)
    .with("SignatureProvided", provided)
    .with("OSSAccessKeyId", ak)
}

fn verify_v1_presigned(
    req: &SignedRequest<'_>,
    lookup: &dyn Fn(&str) -> Option<CredInfo>,
    now: SystemTime,
) -> Result<Identity, OssError> {
    let ak = query_get(req.query, "OSSAccessKeyId").unwrap_or("");
    let expires = query_get(req.query, "Expires")
        .ok_or_else(|| OssError::access_denied("Presigned URL is missing Expires."))?;
    let sig = query_get(req.query, "Signature")
        .ok_or_else(|| OssError::access_denied("Presigned URL is missing Signature."))?;
    let cred = lookup(ak).ok_or_else(|| unknown_key(ak))?;
    check_token(&cred, query_get(req.query, "security-token"))?;
    let exp: i64 = expires
        .trim()
        .parse()
        .map_err(|_| OssError::access_denied("Expires is not a number of seconds."))?;
    if exp < unix_secs(now) {
        return Err(OssError::access_denied("Request has expired.")
            .with(
                "Expires",
                iso8601(std::time::UNIX_EPOCH + Duration::from_secs(exp.max(0) as u64)),
            )
            .with("ServerTime", iso8601(now)));
    }
    let table = header_table(req.headers);
    let resource = v1_canonical_resource(req.bucket, req.key, req.query);
    let sts = v1_string_to_sign(
        req.method,
        table.get("content-md5").map(String::as_str).unwrap_or(""),
        table.get("content-type").map(String::as_str).unwrap_or(""),
        expires,
        &v1_oss_headers(&table),
        &resource,
    );
    let expected = v1_signature(&cred.secret, &sts);
    if expected != sig {
        return Err(mismatch_v1(ak, &sts, sig));
    }
    Ok(Identity::AccessKey(ak.to_string()))
}

fn verify_v4(
    req: &SignedRequest<'_>,
    rest: &str,
    lookup: &dyn Fn(&str) -> Option<CredInfo>,
    region: &str,
    now: SystemTime,
) -> Result<Identity, OssError> {
    let a = parse_v4_authorization(rest).ok_or_else(|| {
        OssError::invalid_argument(
            "Authorization header is invalid: expected Credential=<ak>/<date>/<region>/oss/aliyun_v4_request,[AdditionalHeaders=…,]Signature=<hex>.",
        )
    })?;
    let cred = lookup(&a.access_key_id).ok_or_else(|| unknown_key(&a.access_key_id))?;
    check_token(&cred, header_str(req.headers, "x-oss-security-token"))?;
    let raw_date = header_str(req.headers, "x-oss-date")
        .ok_or_else(|| OssError::access_denied("V4 signatures require an x-oss-date header."))?
        .trim();
    let t = parse_iso_basic(raw_date).ok_or_else(|| {
        OssError::access_denied(
            "x-oss-date must be in ISO 8601 basic form (yyyymmddTHHMMSSZ) for V4.",
        )
    })?;
    check_skew(t, raw_date, now)?;
    if !raw_date.starts_with(&a.date) || a.date.len() != 8 {
        return Err(OssError::access_denied(
            "Invalid signing date in Authorization header: it does not match x-oss-date.",
        ));
    }
    if a.region != region {
        return Err(OssError::access_denied(format!(
            "Invalid signing region in Authorization header: expected {region}, got {}.",
            a.region
        )));
    }
    let payload = header_str(req.headers, "x-oss-content-sha256")
        .ok_or_else(|| {
            OssError::invalid_argument("V4 signatures require an x-oss-content-sha256 header.")
        })?
        .trim();
    let table = header_table(req.headers);
    for h in &a.additional_headers {
        if !table.contains_key(h) {
            return Err(OssError::invalid_argument(format!(
                "Additional header {h} is listed in the Authorization header but not sent."
            )));
        }
    }
    let canonical = v4_canonical_request(
        req.method,
        req.bucket,
        req.key,
        req.query,
        &table,
        &a.additional_headers,
        payload,
    );
    let scope = v4_scope(&a.date, region);
    let sts = v4_string_to_sign(raw_date, &scope, &canonical);
    let expected = v4_signature(&cred.secret, &a.date, region, &sts);
    if expected != a.signature.to_ascii_lowercase() {
        return Err(OssError::new(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        )
        .with("StringToSign", sts)
        .with("SignatureProvided", a.signature)
        .with("CanonicalRequest", canonical)
        .with("OSSAccessKeyId", a.access_key_id));
    }
    Ok(Identity::AccessKey(a.access_key_id))
}
