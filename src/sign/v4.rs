//! Signature V4: `OSS4-HMAC-SHA256 Credential=<AK>/<yyyymmdd>/<region>/oss/aliyun_v4_request,
//! [AdditionalHeaders=<h1;h2>,]Signature=<hex>`.

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};

use super::header_joined;

/// The algorithm name, first line of the string to sign.
pub const ALGORITHM: &str = "OSS4-HMAC-SHA256";
/// The product in the credential scope.
pub const PRODUCT: &str = "oss";

/// Percent-encodes everything but `A–Z a–z 0–9 - . _ ~` (uppercase hex), optionally keeping `/`.
/// Same as ali-oss's `encodeString` (encodeURIComponent plus `!'()*`).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xF) as usize] as char);
        }
    }
    out
}

/// CanonicalURI: `uri_encode("/" + bucket + "/" + key)` keeping `/`; `/bucket/` for a bucket
/// request; `/` without a bucket (`/key` with a key and no bucket).
pub fn canonical_uri(bucket: Option<&str>, key: Option<&str>) -> String {
    let mut raw = String::from("/");
    if let Some(b) = bucket {
        raw.push_str(b);
        raw.push('/');
    }
    if let Some(k) = key {
        raw.push_str(k);
    }
    uri_encode(&raw, true)
}

/// CanonicalQuery: every parameter, key and value encoded, sorted by encoded key (then value),
/// `k=v`, or `k` alone when the value is empty, joined with `&`.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut enc: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    enc.sort();
    let mut out = String::new();
    for (i, (k, v)) in enc.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        if !v.is_empty() {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// AdditionalHeaders as ali-oss normalizes them: lower-cased, de-duplicated, without
/// `content-type`, `content-md5` and `x-oss-*` (always signed anyway), sorted; names absent
/// from `headers` are dropped (ali-oss throws for them instead).
pub fn additional_headers(names: &[&str], headers: &HeaderMap) -> Vec<String> {
    let mut out: Vec<String> = names
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .filter(|n| n != "content-type" && n != "content-md5" && !n.starts_with("x-oss-"))
        .filter(|n| headers.contains_key(n.as_str()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The canonical request:
/// `Method\nCanonicalURI\nCanonicalQuery\nCanonicalHeaders\nAdditionalHeaders\nHashedPayload`.
/// CanonicalHeaders: `content-type`, `content-md5`, every `x-oss-*` and the additional headers
/// present, lower-case names, trimmed values, sorted, each `k:v\n`. HashedPayload is the
/// `x-oss-content-sha256` value (`UNSIGNED-PAYLOAD` when absent, like ali-oss).
pub fn canonical_request(
    method: &str,
    bucket: Option<&str>,
    key: Option<&str>,
    query: &[(String, String)],
    headers: &HeaderMap,
    additional: &[&str],
) -> String {
    let additional = additional_headers(additional, headers);
    let mut names: Vec<&str> = headers
        .keys()
        .map(|n| n.as_str())
        .filter(|n| {
            *n == "content-type"
                || *n == "content-md5"
                || n.starts_with("x-oss-")
                || additional.iter().any(|a| a == n)
        })
        .collect();
    names.sort_unstable();
    names.dedup();

    let mut out = method.to_ascii_uppercase();
    out.push('\n');
    out.push_str(&canonical_uri(bucket, key));
    out.push('\n');
    out.push_str(&canonical_query(query));
    out.push('\n');
    for name in names {
        out.push_str(name);
        out.push(':');
        out.push_str(&header_joined(headers, name).unwrap_or_default());
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&additional.join(";"));
    out.push('\n');
    out.push_str(
        &header_joined(headers, super::HEADER_CONTENT_SHA256)
            .unwrap_or_else(|| super::UNSIGNED_PAYLOAD.to_string()),
    );
    out
}

/// `yyyymmdd/region/oss/aliyun_v4_request`.
pub fn scope(date: &str, region: &str) -> String {
    format!("{date}/{region}/{PRODUCT}/aliyun_v4_request")
}

/// The first 8 characters of a `yyyymmddThhmmssZ` timestamp (the whole string if shorter).
fn day_of(datetime: &str) -> &str {
    datetime.get(..8).unwrap_or(datetime)
}

/// `OSS4-HMAC-SHA256\n<datetime>\n<scope>\n<hex(sha256(canonical_request))>`.
/// `datetime` is the `x-oss-date` value (`20231216T162057Z`); `region` has no `oss-` prefix.
pub fn string_to_sign(datetime: &str, region: &str, canonical_request: &str) -> String {
    let hash = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    format!(
        "{ALGORITHM}\n{datetime}\n{}\n{hash}",
        scope(day_of(datetime), region)
    )
}

fn hmac256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The signing key: HMAC chain over `"aliyun_v4" + secret`, `yyyymmdd`, region, `oss`,
/// `aliyun_v4_request`.
pub fn signing_key(secret: &str, date: &str, region: &str) -> [u8; 32] {
    let k = hmac256(format!("aliyun_v4{secret}").as_bytes(), date.as_bytes());
    let k = hmac256(&k, region.as_bytes());
    let k = hmac256(&k, PRODUCT.as_bytes());
    hmac256(&k, b"aliyun_v4_request")
}

/// `hex(HMAC-SHA256(signing_key, string_to_sign))`.
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac256(signing_key, string_to_sign.as_bytes()))
}

/// The header value, in ali-oss's layout:
/// `OSS4-HMAC-SHA256 Credential=<ak>/<scope>,[AdditionalHeaders=a;b,]Signature=<sig>`.
/// `additional` must be normalized already (see [`additional_headers`]).
pub fn authorization(
    access_key_id: &str,
    date: &str,
    region: &str,
    additional: &[String],
    signature: &str,
) -> String {
    let extra = if additional.is_empty() {
        String::new()
    } else {
        format!("AdditionalHeaders={},", additional.join(";"))
    };
    format!(
        "{ALGORITHM} Credential={access_key_id}/{},{extra}Signature={signature}",
        scope(date, region)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::{format_v4_date, sign, Credentials, SignParams, SignVersion};
    use http::{HeaderName, HeaderValue};
    use std::time::{Duration, UNIX_EPOCH};

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // ---- oss-protocol.md §2 vectors ----

    fn vector_query() -> Vec<(String, String)> {
        q(&[
            ("param1", "value1"),
            ("+param1", "value3"),
            ("|param1", "value4"),
            ("+param2", ""),
            ("|param2", ""),
            ("param2", ""),
        ])
    }

    fn vector_headers(date: &str, token: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-oss-head1", "value"),
            ("abc", "value"),
            ("ZAbc", "value"),
            ("XYZ", "value"),
            ("content-type", "text/plain"),
            ("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
            ("x-oss-date", date),
        ] {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        if let Some(t) = token {
            h.insert("x-oss-security-token", HeaderValue::from_str(t).unwrap());
        }
        h
    }

    const KEY: &str = "1234+-/123/1.txt";

    #[test]
    fn vector_a() {
        let date = format_v4_date(UNIX_EPOCH + Duration::from_secs(1_702_743_657));
        assert_eq!(date, "20231216T162057Z");
        let h = vector_headers(&date, None);
        let creq = canonical_request("PUT", Some("bucket"), Some(KEY), &vector_query(), &h, &[]);
        assert_eq!(
            creq,
            "PUT\n/bucket/1234%2B-/123/1.txt\n\
             %2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&param1=value1&param2\n\
             content-type:text/plain\nx-oss-content-sha256:UNSIGNED-PAYLOAD\n\
             x-oss-date:20231216T162057Z\nx-oss-head1:value\n\n\nUNSIGNED-PAYLOAD"
        );
        let sts = string_to_sign(&date, "cn-hangzhou", &creq);
        assert_eq!(
            sts,
            "OSS4-HMAC-SHA256\n20231216T162057Z\n20231216/cn-hangzhou/oss/aliyun_v4_request\n\
             f4613657f1b108998e8dbd10a1aa5da621dc2c6e02c9ddec0f163664848704c4"
        );
        let sig = signature(&signing_key("sk", "20231216", "cn-hangzhou"), &sts);
        assert_eq!(
            authorization("ak", "20231216", "cn-hangzhou", &[], &sig),
            "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,\
             Signature=e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe"
        );
    }

    #[test]
    fn vector_b_sts() {
        let date = "20231217T034736Z";
        let h = vector_headers(date, Some("token"));
        let creq = canonical_request("PUT", Some("bucket"), Some(KEY), &vector_query(), &h, &[]);
        assert!(creq.contains("x-oss-head1:value\nx-oss-security-token:token\n\n"));
        assert_eq!(
            hex::encode(Sha256::digest(creq.as_bytes())),
            "69494678fb11579d4ee12996e2796d9e2ba43c34aa4c723c4aec018f3d6b86b8"
        );
        let sts = string_to_sign(date, "cn-hangzhou", &creq);
        assert_eq!(
            signature(&signing_key("sk", "20231217", "cn-hangzhou"), &sts),
            "b94a3f999cf85bcdc00d332fbd3734ba03e48382c36fa4d5af5df817395bd9ea"
        );
        // and through `sign`, which adds the token header itself
        let mut h = vector_headers(date, None);
        h.remove("x-oss-date");
        let creds = Credentials::new("ak", "sk", Some("token".into()));
        let query = vector_query();
        let params = SignParams {
            method: "PUT",
            bucket: Some("bucket"),
            key: Some(KEY),
            query: &query,
            region: "cn-hangzhou",
            now: UNIX_EPOCH + Duration::from_secs(1_702_784_856),
        };
        sign(SignVersion::V4, &creds, &params, &mut h);
        assert_eq!(h["x-oss-date"], date);
        assert_eq!(
            h["authorization"],
            "OSS4-HMAC-SHA256 Credential=ak/20231217/cn-hangzhou/oss/aliyun_v4_request,\
             Signature=b94a3f999cf85bcdc00d332fbd3734ba03e48382c36fa4d5af5df817395bd9ea"
        );
    }

    #[test]
    fn vector_c_additional_headers() {
        let date = "20231216T172512Z";
        let h = vector_headers(date, None);
        let additional = additional_headers(&["ZAbc", "abc"], &h);
        assert_eq!(additional, vec!["abc".to_string(), "zabc".to_string()]);
        let creq = canonical_request(
            "PUT",
            Some("bucket"),
            Some(KEY),
            &vector_query(),
            &h,
            &["ZAbc", "abc"],
        );
        assert!(creq.contains(
            "\nabc:value\ncontent-type:text/plain\nx-oss-content-sha256:UNSIGNED-PAYLOAD\n\
             x-oss-date:20231216T172512Z\nx-oss-head1:value\nzabc:value\n\nabc;zabc\nUNSIGNED-PAYLOAD"
        ));
        assert_eq!(
            hex::encode(Sha256::digest(creq.as_bytes())),
            "16b86004ed2cc3406dd7a13081bd940ef6a5ad49e508da2d4fdf84e8a5dd2145"
        );
        let sts = string_to_sign(date, "cn-hangzhou", &creq);
        let sig = signature(&signing_key("sk", "20231216", "cn-hangzhou"), &sts);
        assert_eq!(
            authorization("ak", "20231216", "cn-hangzhou", &additional, &sig),
            "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,\
             AdditionalHeaders=abc;zabc,\
             Signature=4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f"
        );
    }

    #[test]
    fn encoding_rules() {
        assert_eq!(uri_encode("aZ09-._~", false), "aZ09-._~");
        assert_eq!(
            uri_encode("a/b c+!*'()", false),
            "a%2Fb%20c%2B%21%2A%27%28%29"
        );
        assert_eq!(uri_encode("a/b", true), "a/b");
        assert_eq!(uri_encode("ü", false), "%C3%BC");
        assert_eq!(canonical_uri(None, None), "/");
        assert_eq!(canonical_uri(Some("b"), None), "/b/");
        assert_eq!(canonical_uri(Some("b"), Some("a b/c")), "/b/a%20b/c");
        assert_eq!(canonical_query(&[]), "");
        assert_eq!(canonical_query(&q(&[("uploads", "")])), "uploads");
        assert_eq!(
            canonical_query(&q(&[("uploadId", "a b"), ("partNumber", "1")])),
            "partNumber=1&uploadId=a%20b"
        );
    }

    #[test]
    fn defaults_and_missing_additional_header() {
        // no x-oss-content-sha256 header: UNSIGNED-PAYLOAD, as ali-oss does
        let mut h = HeaderMap::new();
        h.insert("x-oss-date", HeaderValue::from_static("20231216T162057Z"));
        let creq = canonical_request("get", None, None, &[], &h, &["host"]);
        assert_eq!(
            creq,
            "GET\n/\n\nx-oss-date:20231216T162057Z\n\n\nUNSIGNED-PAYLOAD"
        );
        assert!(additional_headers(&["Host", "x-oss-meta-a", "Content-Type"], &h).is_empty());
        // a malformed datetime does not panic
        let _ = string_to_sign("2023", "cn-hangzhou", "x");
    }
}
