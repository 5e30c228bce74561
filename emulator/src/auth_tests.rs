//! The verifier checked against every V1 and V4 vector of spec/oss-protocol.md, plus
//! the failure codes (unknown key, bad signature, skew, STS tokens, anonymous).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};

use crate::auth::*;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    h
}

fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn lookup_ak(ak: &str) -> Option<CredInfo> {
    match ak {
        "ak" => Some(CredInfo {
            secret: "sk".into(),
            token: None,
            expired: false,
        }),
        "sts-ak" => Some(CredInfo {
            secret: "sk".into(),
            token: Some("token".into()),
            expired: false,
        }),
        "old-sts" => Some(CredInfo {
            secret: "sk".into(),
            token: Some("token".into()),
            expired: true,
        }),
        _ => None,
    }
}

fn run(
    method: &str,
    h: &HeaderMap,
    query: &[(String, String)],
    bucket: Option<&str>,
    key: Option<&str>,
    now: SystemTime,
) -> Result<Identity, crate::error::OssError> {
    verify(
        &SignedRequest {
            method,
            headers: h,
            query,
            bucket,
            key,
        },
        &lookup_ak,
        "cn-hangzhou",
        now,
        false,
    )
}

const DATE: &str = "Wed, 28 Dec 2022 10:27:41 GMT";
const DATE_SECS: u64 = 1_672_223_261;

// ---------------------------------------------------------------- V1 vectors

const V1_STS_1: &str = "PUT\neB5eJF1ptWaXm4bijSPyxw==\ntext/html\nWed, 28 Dec 2022 10:27:41 GMT\nx-oss-date:Wed, 28 Dec 2022 10:27:41 GMT\nx-oss-meta-author:alice\nx-oss-meta-magic:abracadabra\n/examplebucket/nelson";

#[test]
fn v1_vector_signatures() {
    assert_eq!(v1_signature("sk", V1_STS_1), "kSHKmLxlyEAKtZPkJhG9bZb5k7M=");
    assert_eq!(
        v1_signature("sk", &format!("{V1_STS_1}?acl")),
        "/afkugFbmWDQ967j1vr6zygBLQk="
    );
    assert_eq!(
        v1_signature(
            "sk",
            "GET\n\n\nWed, 28 Dec 2022 10:27:41 GMT\nx-oss-date:Wed, 28 Dec 2022 10:27:41 GMT\n/examplebucket/?acl&resourceGroup"
        ),
        "x3E5TgOvl/i7PN618s5mEvpJDYk="
    );
    assert_eq!(
        v1_signature("sk", "GET\n\n\n1699807420\n/bucket/key?versionId=versionId"),
        "dcLTea+Yh9ApirQ8o8dOPqtvJXQ="
    );
    assert_eq!(
        v1_signature(
            "sk",
            "GET\n\n\n1699808204\n/bucket/key+123?security-token=token&versionId=versionId"
        ),
        "jzKYRrM5y6Br0dRFPaTGOsbrDhY="
    );
}

fn v1_put_headers(sig: &str) -> HeaderMap {
    headers(&[
        ("Content-MD5", "eB5eJF1ptWaXm4bijSPyxw=="),
        ("Content-Type", "text/html"),
        ("x-oss-date", DATE),
        ("x-oss-meta-magic", "abracadabra"),
        ("x-oss-meta-author", "alice"),
        ("Authorization", &format!("OSS ak:{sig}")),
        ("User-Agent", "not-signed"),
    ])
}

#[test]
fn v1_vector_1_verifies_and_builds_string_to_sign() {
    let h = v1_put_headers("kSHKmLxlyEAKtZPkJhG9bZb5k7M=");
    let r = run(
        "PUT",
        &h,
        &[],
        Some("examplebucket"),
        Some("nelson"),
        at(DATE_SECS),
    );
    assert_eq!(r.expect("verifies"), Identity::AccessKey("ak".into()));
    // A wrong signature reports the string to sign the server built: the vector's.
    let h = v1_put_headers("AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    let e = run(
        "PUT",
        &h,
        &[],
        Some("examplebucket"),
        Some("nelson"),
        at(DATE_SECS),
    )
    .unwrap_err();
    assert_eq!(e.status, 403);
    assert_eq!(e.code, "SignatureDoesNotMatch");
    let get = |n: &str| e.extra.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(get("StringToSign").as_deref(), Some(V1_STS_1));
    assert_eq!(
        get("SignatureProvided").as_deref(),
        Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    );
}

#[test]
fn v1_vector_2_subresource_acl() {
    let h = v1_put_headers("/afkugFbmWDQ967j1vr6zygBLQk=");
    // Non-subresource parameters are not signed.
    let query = q(&[("acl", ""), ("prefix", "ignored"), ("max-parts", "3")]);
    assert!(run(
        "PUT",
        &h,
        &query,
        Some("examplebucket"),
        Some("nelson"),
        at(DATE_SECS)
    )
    .is_ok());
}

#[test]
fn v1_vector_3_bucket_request() {
    let h = headers(&[
        ("x-oss-date", DATE),
        ("Authorization", "OSS ak:x3E5TgOvl/i7PN618s5mEvpJDYk="),
    ]);
    let query = q(&[("resourceGroup", ""), ("acl", "")]);
    assert!(run(
        "GET",
        &h,
        &query,
        Some("examplebucket"),
        None,
        at(DATE_SECS + 60)
    )
    .is_ok());
    assert_eq!(
        v1_canonical_resource(Some("examplebucket"), None, &query),
        "/examplebucket/?acl&resourceGroup"
    );
}

#[test]
fn v1_vector_4_presigned() {
    let h = HeaderMap::new();
    let query = q(&[
        ("versionId", "versionId"),
        ("OSSAccessKeyId", "ak"),
        ("Expires", "1699807420"),
        ("Signature", "dcLTea+Yh9ApirQ8o8dOPqtvJXQ="),
    ]);
    assert!(run(
        "GET",
        &h,
        &query,
        Some("bucket"),
        Some("key"),
        at(1_699_807_000)
    )
    .is_ok());
    // Expired.
    let e = run(
        "GET",
        &h,
        &query,
        Some("bucket"),
        Some("key"),
        at(1_699_807_421),
    )
    .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (403, "AccessDenied"));
}

#[test]
fn v1_vector_5_presigned_sts() {
    let h = HeaderMap::new();
    let query = q(&[
        ("versionId", "versionId"),
        ("security-token", "token"),
        ("OSSAccessKeyId", "sts-ak"),
        ("Expires", "1699808204"),
        ("Signature", "jzKYRrM5y6Br0dRFPaTGOsbrDhY="),
    ]);
    assert!(run(
        "GET",
        &h,
        &query,
        Some("bucket"),
        Some("key+123"),
        at(1_699_808_000)
    )
    .is_ok());
}

#[test]
fn v1_failures() {
    let now = at(DATE_SECS);
    let h = headers(&[("x-oss-date", DATE), ("Authorization", "OSS nobody:abc=")]);
    let e = run("GET", &h, &[], Some("b"), Some("k"), now).unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (403, "InvalidAccessKeyId"));

    let e = run("GET", &HeaderMap::new(), &[], Some("b"), Some("k"), now).unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (403, "AccessDenied"));

    let h = v1_put_headers("kSHKmLxlyEAKtZPkJhG9bZb5k7M=");
    let e = run(
        "PUT",
        &h,
        &[],
        Some("examplebucket"),
        Some("nelson"),
        at(DATE_SECS + 16 * 60),
    )
    .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (403, "RequestTimeTooSkewed"));
    assert!(e.extra.iter().any(|(k, v)| k == "RequestTime" && v == DATE));
    assert!(e.extra.iter().any(|(k, _)| k == "ServerTime"));
    // 14 minutes off is fine.
    assert!(run(
        "PUT",
        &h,
        &[],
        Some("examplebucket"),
        Some("nelson"),
        at(DATE_SECS - 14 * 60)
    )
    .is_ok());

    // The Date header is used when x-oss-date is absent.
    let sts = "GET\n\n\nWed, 28 Dec 2022 10:27:41 GMT\n/b/k";
    let h = headers(&[
        ("Date", DATE),
        (
            "Authorization",
            &format!("OSS ak:{}", v1_signature("sk", sts)),
        ),
    ]);
    assert!(run("GET", &h, &[], Some("b"), Some("k"), now).is_ok());

    let h = headers(&[("Authorization", "Bearer x")]);
    assert_eq!(
        run("GET", &h, &[], Some("b"), Some("k"), now)
            .unwrap_err()
            .status,
        400
    );

    // Anonymous requests pass only in bench mode.
    let r = verify(
        &SignedRequest {
            method: "GET",
            headers: &HeaderMap::new(),
            query: &[],
            bucket: Some("b"),
            key: Some("k"),
        },
        &lookup_ak,
        "cn-hangzhou",
        now,
        true,
    );
    assert_eq!(r.expect("bench"), Identity::Anonymous);
}

#[test]
fn v1_sts_tokens() {
    let now = at(DATE_SECS);
    let sign = |ak: &str, token: Option<&str>| {
        let mut oss = BTreeMap::new();
        oss.insert("x-oss-date".to_string(), DATE.to_string());
        if let Some(t) = token {
            oss.insert("x-oss-security-token".to_string(), t.to_string());
        }
        let sts = v1_string_to_sign("GET", "", "", DATE, &oss, "/b/k");
        let mut pairs = vec![("x-oss-date", DATE.to_string())];
        if let Some(t) = token {
            pairs.push(("x-oss-security-token", t.to_string()));
        }
        pairs.push((
            "Authorization",
            format!("OSS {ak}:{}", v1_signature("sk", &sts)),
        ));
        let p: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run("GET", &headers(&p), &[], Some("b"), Some("k"), now)
    };
    assert!(sign("sts-ak", Some("token")).is_ok());
    assert_eq!(
        sign("sts-ak", Some("other")).unwrap_err().code,
        "InvalidSecurityToken"
    );
    assert_eq!(
        sign("sts-ak", None).unwrap_err().code,
        "InvalidSecurityToken"
    );
    assert_eq!(
        sign("old-sts", Some("token")).unwrap_err().code,
        "SecurityTokenExpired"
    );
    assert_eq!(
        sign("ak", Some("token")).unwrap_err().code,
        "InvalidSecurityToken"
    );
}

// ---------------------------------------------------------------- V4 vectors

const V4_CANONICAL_A: &str = "PUT\n/bucket/1234%2B-/123/1.txt\n%2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&param1=value1&param2\ncontent-type:text/plain\nx-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20231216T162057Z\nx-oss-head1:value\n\n\nUNSIGNED-PAYLOAD";

fn v4_query() -> Vec<(String, String)> {
    q(&[
        ("param1", "value1"),
        ("+param1", "value3"),
        ("|param1", "value4"),
        ("+param2", ""),
        ("|param2", ""),
        ("param2", ""),
    ])
}

fn v4_headers(date: &str, token: Option<&str>, authorization: &str) -> HeaderMap {
    let mut pairs = vec![
        ("x-oss-head1", "value"),
        ("abc", "value"),
        ("ZAbc", "value"),
        ("XYZ", "value"),
        ("content-type", "text/plain"),
        ("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
        ("x-oss-date", date),
        ("Date", "Sat, 16 Dec 2023 16:20:57 GMT"),
        ("Authorization", authorization),
    ];
    if let Some(t) = token {
        pairs.push(("x-oss-security-token", t));
    }
    headers(&pairs)
}

fn hash(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

#[test]
fn v4_vector_a() {
    let h = v4_headers("20231216T162057Z", None, "x");
    let table = header_table(&h);
    let canonical = v4_canonical_request(
        "PUT",
        Some("bucket"),
        Some("1234+-/123/1.txt"),
        &v4_query(),
        &table,
        &[],
        "UNSIGNED-PAYLOAD",
    );
    assert_eq!(canonical, V4_CANONICAL_A);
    let scope = v4_scope("20231216", "cn-hangzhou");
    let sts = v4_string_to_sign("20231216T162057Z", &scope, &canonical);
    assert_eq!(
        sts,
        "OSS4-HMAC-SHA256\n20231216T162057Z\n20231216/cn-hangzhou/oss/aliyun_v4_request\nf4613657f1b108998e8dbd10a1aa5da621dc2c6e02c9ddec0f163664848704c4"
    );
    assert_eq!(
        v4_signature("sk", "20231216", "cn-hangzhou", &sts),
        "e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe"
    );
    // Through the verifier, with the separators various SDKs use.
    for auth in [
        "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,Signature=e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe",
        "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request, AdditionalHeaders=, Signature=e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe",
        "OSS4-HMAC-SHA256 Signature=e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe,Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request",
    ] {
        let h = v4_headers("20231216T162057Z", None, auth);
        let r = run("PUT", &h, &v4_query(), Some("bucket"), Some("1234+-/123/1.txt"), at(1_702_743_657));
        assert_eq!(r.expect(auth), Identity::AccessKey("ak".into()));
    }
}

#[test]
fn v4_vector_b_sts() {
    let auth = "OSS4-HMAC-SHA256 Credential=sts-ak/20231217/cn-hangzhou/oss/aliyun_v4_request,Signature=b94a3f999cf85bcdc00d332fbd3734ba03e48382c36fa4d5af5df817395bd9ea";
    let h = v4_headers("20231217T034736Z", Some("token"), auth);
    let canonical = v4_canonical_request(
        "PUT",
        Some("bucket"),
        Some("1234+-/123/1.txt"),
        &v4_query(),
        &header_table(&h),
        &[],
        "UNSIGNED-PAYLOAD",
    );
    assert!(canonical.contains("x-oss-head1:value\nx-oss-security-token:token\n"));
    assert_eq!(
        hash(&canonical),
        "69494678fb11579d4ee12996e2796d9e2ba43c34aa4c723c4aec018f3d6b86b8"
    );
    let sts = v4_string_to_sign(
        "20231217T034736Z",
        &v4_scope("20231217", "cn-hangzhou"),
        &canonical,
    );
    assert_eq!(
        v4_signature("sk", "20231217", "cn-hangzhou", &sts),
        "b94a3f999cf85bcdc00d332fbd3734ba03e48382c36fa4d5af5df817395bd9ea"
    );
    let r = run(
        "PUT",
        &h,
        &v4_query(),
        Some("bucket"),
        Some("1234+-/123/1.txt"),
        at(1_702_784_856),
    );
    assert_eq!(r.expect("sts v4"), Identity::AccessKey("sts-ak".into()));
    // Wrong token.
    let h = v4_headers("20231217T034736Z", Some("nope"), auth);
    let e = run(
        "PUT",
        &h,
        &v4_query(),
        Some("bucket"),
        Some("1234+-/123/1.txt"),
        at(1_702_784_856),
    )
    .unwrap_err();
    assert_eq!(e.code, "InvalidSecurityToken");
}

#[test]
fn v4_vector_c_additional_headers() {
    let auth = "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,AdditionalHeaders=abc;zabc,Signature=4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f";
    let h = v4_headers("20231216T172512Z", None, auth);
    let additional = vec!["zabc".to_string(), "abc".to_string()];
    let canonical = v4_canonical_request(
        "PUT",
        Some("bucket"),
        Some("1234+-/123/1.txt"),
        &v4_query(),
        &header_table(&h),
        &additional,
        "UNSIGNED-PAYLOAD",
    );
    assert!(canonical.contains("\nabc:value\ncontent-type:text/plain\n"));
    assert!(canonical.contains("x-oss-head1:value\nzabc:value\n\nabc;zabc\nUNSIGNED-PAYLOAD"));
    assert_eq!(
        hash(&canonical),
        "16b86004ed2cc3406dd7a13081bd940ef6a5ad49e508da2d4fdf84e8a5dd2145"
    );
    let sts = v4_string_to_sign(
        "20231216T172512Z",
        &v4_scope("20231216", "cn-hangzhou"),
        &canonical,
    );
    assert_eq!(
        v4_signature("sk", "20231216", "cn-hangzhou", &sts),
        "4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f"
    );
    let r = run(
        "PUT",
        &h,
        &v4_query(),
        Some("bucket"),
        Some("1234+-/123/1.txt"),
        at(1_702_747_512),
    );
    assert_eq!(
        r.expect("additional headers"),
        Identity::AccessKey("ak".into())
    );
}

#[test]
fn v4_failures() {
    let good = "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,Signature=e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe";
    let key = Some("1234+-/123/1.txt");
    // Bad signature: the error carries the canonical request and string to sign.
    let bad = good.replace("e21d18", "e21d19");
    let h = v4_headers("20231216T162057Z", None, &bad);
    let e = run(
        "PUT",
        &h,
        &v4_query(),
        Some("bucket"),
        key,
        at(1_702_743_657),
    )
    .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (403, "SignatureDoesNotMatch"));
    let get = |n: &str| e.extra.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(get("CanonicalRequest").as_deref(), Some(V4_CANONICAL_A));
    assert!(get("StringToSign").is_some_and(
        |s| s.ends_with("f4613657f1b108998e8dbd10a1aa5da621dc2c6e02c9ddec0f163664848704c4")
    ));
    assert!(get("SignatureProvided").is_some_and(|s| s.starts_with("e21d19")));
    // Skew.
    let h = v4_headers("20231216T162057Z", None, good);
    let e = run(
        "PUT",
        &h,
        &v4_query(),
        Some("bucket"),
        key,
        at(1_702_743_657 + 3600),
    )
    .unwrap_err();
    assert_eq!(e.code, "RequestTimeTooSkewed");
    // Unknown key.
    let h = v4_headers(
        "20231216T162057Z",
        None,
        &good.replace("Credential=ak/", "Credential=zz/"),
    );
    let e = run(
        "PUT",
        &h,
        &v4_query(),
        Some("bucket"),
        key,
        at(1_702_743_657),
    )
    .unwrap_err();
    assert_eq!(e.code, "InvalidAccessKeyId");
    // Malformed header → 400, not a panic.
    for a in [
        "OSS4-HMAC-SHA256 ",
        "OSS4-HMAC-SHA256 Credential=ak",
        "OSS4-HMAC-SHA256 Credential=ak/1/2/3/4,Signature=x",
        "OSS4-HMAC-SHA256 ,,,=,",
    ] {
        let h = v4_headers("20231216T162057Z", None, a);
        let e = run(
            "PUT",
            &h,
            &v4_query(),
            Some("bucket"),
            key,
            at(1_702_743_657),
        )
        .unwrap_err();
        assert_eq!(e.status, 400, "{a}");
    }
}

#[test]
fn v4_parse_is_order_and_space_tolerant() {
    let a = parse_v4_authorization(
        " Signature=ab , AdditionalHeaders=Host;ABC ,Credential=k/20240101/r/oss/aliyun_v4_request",
    )
    .expect("parse");
    assert_eq!(a.access_key_id, "k");
    assert_eq!(a.region, "r");
    assert_eq!(
        a.additional_headers,
        vec!["host".to_string(), "abc".to_string()]
    );
    assert_eq!(a.signature, "ab");
}
