//! Signature V1: `Authorization: OSS <AccessKeyId>:<base64(HMAC-SHA1(secret, StringToSign))>`.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha1::Sha1;

use super::header_joined;

/// Query parameters that are sub-resources and therefore part of the V1 canonical resource.
///
/// ali-oss signs exactly what each operation passes as `subres` (the multipart operations pass
/// `uploads`, `uploadId`, `partNumber`), never its `query` (`max-parts`, `part-number-marker`,
/// `encoding-type`, `prefix`, `key-marker`, ...). Since this signer only sees one query list,
/// it uses the sub-resource list of the official Go and Python SDKs (the server accepts their
/// union) plus every parameter starting with `x-oss-`; for every request ali-oss makes for a
/// multipart upload this selects exactly ali-oss's `subres`.
pub const SIGNED_SUB_RESOURCES: &[&str] = &[
    "acl",
    "append",
    "asyncFetch",
    "bucketInfo",
    "callback",
    "callback-var",
    "cleanRestoredObject",
    "cloudboxes",
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

/// Whether a query parameter is signed as a sub-resource in V1.
pub fn is_sub_resource(name: &str) -> bool {
    name.starts_with("x-oss-") || SIGNED_SUB_RESOURCES.contains(&name)
}

/// CanonicalizedResource: `/bucket/key` with the raw (unescaped) key, `/bucket/` for a bucket
/// request, `/` for none (`/key` with a key but no bucket, as ali-oss does in cname mode without
/// a bucket); then `?` + the sub-resources sorted by name, `k=v`, or `k` alone when the value is
/// empty, joined with `&` (decoded values).
pub fn canonical_resource(
    bucket: Option<&str>,
    key: Option<&str>,
    query: &[(String, String)],
) -> String {
    let mut out = String::from("/");
    if let Some(b) = bucket {
        out.push_str(b);
        out.push('/');
    }
    if let Some(k) = key {
        out.push_str(k);
    }
    let mut subs: Vec<&(String, String)> =
        query.iter().filter(|(k, _)| is_sub_resource(k)).collect();
    // JS sorts keys by UTF-16 code units; for the (ASCII) sub-resource names that is byte order.
    subs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut sep = '?';
    for (k, v) in subs {
        out.push(sep);
        out.push_str(k);
        if !v.is_empty() {
            out.push('=');
            out.push_str(v);
        }
        sep = '&';
    }
    out
}

/// StringToSign = `VERB\nContent-MD5\nContent-Type\nDate\n` + CanonicalizedOSSHeaders +
/// CanonicalizedResource. The date is `x-oss-date` (what ali-oss sets), else `Date`.
/// `x-oss-*` headers: lower-cased name, trimmed value, sorted, repeated values joined with `,`.
pub fn string_to_sign(method: &str, headers: &HeaderMap, canonical_resource: &str) -> String {
    let mut out = method.to_ascii_uppercase();
    out.push('\n');
    out.push_str(&header_joined(headers, "content-md5").unwrap_or_default());
    out.push('\n');
    out.push_str(&header_joined(headers, "content-type").unwrap_or_default());
    out.push('\n');
    let date = header_joined(headers, super::HEADER_OSS_DATE)
        .or_else(|| header_joined(headers, "date"))
        .unwrap_or_default();
    out.push_str(&date);
    out.push('\n');
    // HeaderMap names are already lower case.
    let mut names: Vec<&str> = headers
        .keys()
        .map(|n| n.as_str())
        .filter(|n| n.starts_with("x-oss-"))
        .collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        out.push_str(name);
        out.push(':');
        out.push_str(&header_joined(headers, name).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(canonical_resource);
    out
}

/// `base64(HMAC-SHA1(secret, string_to_sign))`.
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `OSS <AccessKeyId>:<Signature>`.
pub fn authorization(access_key_id: &str, signature: &str) -> String {
    format!("OSS {access_key_id}:{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::{sign, Credentials, SignParams, SignVersion};
    use http::HeaderValue;
    use std::time::{Duration, UNIX_EPOCH};

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn hm(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v.as_bytes()).unwrap(),
            );
        }
        h
    }

    // ---- oss-protocol.md §1 vectors (AK `ak`, SK `sk`) ----

    const DATE: &str = "Wed, 28 Dec 2022 10:27:41 GMT";

    fn put_headers() -> HeaderMap {
        hm(&[
            ("Content-MD5", "eB5eJF1ptWaXm4bijSPyxw=="),
            ("Content-Type", "text/html"),
            ("x-oss-meta-magic", "abracadabra"),
            ("x-oss-date", DATE),
            ("x-oss-meta-author", "alice"),
        ])
    }

    #[test]
    fn vector_put_object() {
        let res = canonical_resource(Some("examplebucket"), Some("nelson"), &[]);
        assert_eq!(res, "/examplebucket/nelson");
        let sts = string_to_sign("PUT", &put_headers(), &res);
        assert_eq!(
            sts,
            "PUT\neB5eJF1ptWaXm4bijSPyxw==\ntext/html\nWed, 28 Dec 2022 10:27:41 GMT\n\
             x-oss-date:Wed, 28 Dec 2022 10:27:41 GMT\nx-oss-meta-author:alice\n\
             x-oss-meta-magic:abracadabra\n/examplebucket/nelson"
        );
        assert_eq!(
            authorization("ak", &signature("sk", &sts)),
            "OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M="
        );
    }

    #[test]
    fn vector_put_object_acl() {
        let res = canonical_resource(Some("examplebucket"), Some("nelson"), &q(&[("acl", "")]));
        assert_eq!(res, "/examplebucket/nelson?acl");
        let sts = string_to_sign("PUT", &put_headers(), &res);
        assert_eq!(
            authorization("ak", &signature("sk", &sts)),
            "OSS ak:/afkugFbmWDQ967j1vr6zygBLQk="
        );
    }

    #[test]
    fn vector_get_bucket_acl_resource_group() {
        let res = canonical_resource(
            Some("examplebucket"),
            None,
            &q(&[("resourceGroup", ""), ("acl", "")]),
        );
        assert_eq!(res, "/examplebucket/?acl&resourceGroup");
        let sts = string_to_sign("get", &hm(&[("x-oss-date", DATE)]), &res);
        assert_eq!(
            sts,
            "GET\n\n\nWed, 28 Dec 2022 10:27:41 GMT\nx-oss-date:Wed, 28 Dec 2022 10:27:41 GMT\n\
             /examplebucket/?acl&resourceGroup"
        );
        assert_eq!(
            authorization("ak", &signature("sk", &sts)),
            "OSS ak:x3E5TgOvl/i7PN618s5mEvpJDYk="
        );
    }

    #[test]
    fn vectors_presigned() {
        assert_eq!(
            signature("sk", "GET\n\n\n1699807420\n/bucket/key?versionId=versionId"),
            "dcLTea+Yh9ApirQ8o8dOPqtvJXQ="
        );
        let res = canonical_resource(
            Some("bucket"),
            Some("key+123"),
            &q(&[("versionId", "versionId"), ("security-token", "token")]),
        );
        assert_eq!(
            res,
            "/bucket/key+123?security-token=token&versionId=versionId"
        );
        assert_eq!(
            signature("sk", &format!("GET\n\n\n1699808204\n{res}")),
            "jzKYRrM5y6Br0dRFPaTGOsbrDhY="
        );
    }

    #[test]
    fn unsigned_query_params_are_left_out() {
        let res = canonical_resource(
            Some("b"),
            Some("k"),
            &q(&[
                ("max-parts", "10"),
                ("uploadId", "U"),
                ("part-number-marker", "3"),
                ("encoding-type", "url"),
                ("x-oss-process", "image/resize"),
            ]),
        );
        assert_eq!(res, "/b/k?uploadId=U&x-oss-process=image/resize");
        assert_eq!(canonical_resource(None, None, &[]), "/");
        assert_eq!(canonical_resource(None, Some("k"), &[]), "/k");
        assert_eq!(
            canonical_resource(Some("b"), None, &q(&[("uploads", ""), ("prefix", "p")])),
            "/b/?uploads"
        );
    }

    #[test]
    fn repeated_and_untrimmed_oss_headers() {
        let h = hm(&[
            ("x-oss-date", DATE),
            ("X-OSS-Meta-A", "  1 "),
            ("x-oss-meta-a", "2"),
            ("x-other", "ignored"),
        ]);
        let sts = string_to_sign("put", &h, "/b/k");
        assert_eq!(
            sts,
            format!("PUT\n\n\n{DATE}\nx-oss-date:{DATE}\nx-oss-meta-a:1,2\n/b/k")
        );
        // Date header used when there is no x-oss-date
        let sts = string_to_sign("GET", &hm(&[("date", DATE)]), "/");
        assert_eq!(sts, format!("GET\n\n\n{DATE}\n/"));
    }

    /// Contract §9, observed on the wire from ali-oss (V1 string to sign).
    #[test]
    fn contract_observed_string_to_sign() {
        let date = "Wed, 25 Nov 2026 14:13:42 GMT";
        let h = hm(&[
            ("x-oss-date", date),
            ("Content-Type", "text/plain"),
            ("x-oss-meta-foo", "Bar"),
        ]);
        let res = canonical_resource(
            Some("bkt"),
            Some("dir/a b+c.txt"),
            &q(&[("uploadId", "UPID"), ("partNumber", "1")]),
        );
        assert_eq!(
            string_to_sign("PUT", &h, &res),
            "PUT\n\ntext/plain\nWed, 25 Nov 2026 14:13:42 GMT\nx-oss-date:Wed, 25 Nov 2026 14:13:42 GMT\n\
             x-oss-meta-foo:Bar\n/bkt/dir/a b+c.txt?partNumber=1&uploadId=UPID"
        );
    }

    // ---- vectors produced by ali-oss 6.23.0 itself ----
    // Produced by a node one-off (/tmp/aliv/capture.js): `new OSS({accessKeyId: 'AKIDexample',
    // accessKeySecret: 'SECRETexample', bucket: 'my-bkt', region: 'oss-cn-hangzhou',
    // authorizationV4, stsToken, urllib: <stub that records url + headers>})` with the global
    // `Date` pinned to 2025-11-25T14:09:36Z, then the real `client.initMultipartUpload(...)` and
    // `client._uploadPart(...)`; the headers ali-oss handed to urllib are asserted below.
    // (V4 vectors live here too so that both versions share the same request fixtures.)

    const ALI_KEY: &str = "dir/sub dir/a b+c ü 文件.txt";
    const ALI_NOW: u64 = 1_764_079_776; // 2025-11-25T14:09:36Z

    fn ali_sign(
        version: SignVersion,
        token: Option<&str>,
        method: &str,
        query: &[(String, String)],
        extra: &[(&str, &str)],
    ) -> HeaderMap {
        let creds = Credentials::new("AKIDexample", "SECRETexample", token.map(String::from));
        let params = SignParams {
            method,
            bucket: Some("my-bkt"),
            key: Some(ALI_KEY),
            query,
            region: "cn-hangzhou",
            now: UNIX_EPOCH + Duration::from_secs(ALI_NOW),
        };
        let mut h = hm(extra);
        sign(version, &creds, &params, &mut h);
        h
    }

    const ALI_UPLOAD_ID: &str = "0004B9894A22E5B1888A1E29F823****";

    /// `initMultipartUpload(key, {meta: {author: 'alice', Mixed: ' Value With Spaces '},
    /// headers: {'content-type': 'text/plain'}})`
    fn ali_initiate(version: SignVersion, token: Option<&str>) -> HeaderMap {
        ali_sign(
            version,
            token,
            "POST",
            &q(&[("uploads", "")]),
            &[
                ("content-type", "text/plain"),
                ("x-oss-meta-author", "alice"),
                ("x-oss-meta-Mixed", " Value With Spaces "),
            ],
        )
    }

    /// `_uploadPart(key, uploadId, 3, {size: 102400, stream}, {headers: {'x-oss-meta-author':
    /// 'alice', 'content-type': 'text/plain'}})`
    fn ali_part(version: SignVersion, token: Option<&str>) -> HeaderMap {
        ali_sign(
            version,
            token,
            "PUT",
            &q(&[("partNumber", "3"), ("uploadId", ALI_UPLOAD_ID)]),
            &[
                ("x-oss-meta-author", "alice"),
                ("content-type", "text/plain"),
                ("content-length", "102400"),
            ],
        )
    }

    #[test]
    fn ali_oss_initiate_string_to_sign() {
        let h = ali_initiate(SignVersion::V1, None);
        let res = canonical_resource(Some("my-bkt"), Some(ALI_KEY), &q(&[("uploads", "")]));
        // printed by signUtils.buildCanonicalString with the same headers
        assert_eq!(
            string_to_sign("POST", &h, &res),
            "POST\n\ntext/plain\nTue, 25 Nov 2025 14:09:36 GMT\nx-oss-date:Tue, 25 Nov 2025 14:09:36 GMT\n\
             x-oss-meta-author:alice\nx-oss-meta-mixed:Value With Spaces\n\
             /my-bkt/dir/sub dir/a b+c ü 文件.txt?uploads"
        );
    }

    #[test]
    fn ali_oss_v1_authorizations() {
        let h = ali_initiate(SignVersion::V1, None);
        assert_eq!(h["x-oss-date"], "Tue, 25 Nov 2025 14:09:36 GMT");
        assert!(!h.contains_key("x-oss-security-token"));
        assert!(!h.contains_key("x-oss-content-sha256"));
        assert_eq!(
            h["authorization"],
            "OSS AKIDexample:Zjb/jxPhGUBFx9Uksg1dFyq/wp4="
        );

        let h = ali_initiate(SignVersion::V1, Some("STS.tokenexample"));
        assert_eq!(h["x-oss-security-token"], "STS.tokenexample");
        assert_eq!(
            h["authorization"],
            "OSS AKIDexample:qDkKmR1pFyYoDAKIRfzlEF8taVU="
        );

        let h = ali_part(SignVersion::V1, None);
        assert_eq!(
            h["authorization"],
            "OSS AKIDexample:bX0vFHZe/kWoyj7TZoaDeKVj8gg="
        );

        let h = ali_part(SignVersion::V1, Some("STS.tokenexample"));
        assert_eq!(
            h["authorization"],
            "OSS AKIDexample:LDLcVKSu8Fri+D+faHH7stUgK2U="
        );
    }

    #[test]
    fn ali_oss_v4_authorizations() {
        const CRED: &str =
            "OSS4-HMAC-SHA256 Credential=AKIDexample/20251125/cn-hangzhou/oss/aliyun_v4_request,";
        let h = ali_initiate(SignVersion::V4, None);
        assert_eq!(h["x-oss-date"], "20251125T140936Z");
        assert_eq!(h["x-oss-content-sha256"], "UNSIGNED-PAYLOAD");
        assert_eq!(
            h["authorization"],
            format!(
                "{CRED}Signature=eb9f82ffb9a506d2f96805a092f3a6bf941e8a67e924a4e05c85860588d83ea6"
            )
        );
        let h = ali_initiate(SignVersion::V4, Some("STS.tokenexample"));
        assert_eq!(
            h["authorization"],
            format!(
                "{CRED}Signature=7a8fbe651d621ba0c02e716e16d0cd6c03e319560492d4bb67adcfeae640ef2f"
            )
        );
        let h = ali_part(SignVersion::V4, None);
        assert_eq!(
            h["authorization"],
            format!(
                "{CRED}Signature=d4f2d146aee6a005590ed65e919e34ccf92e159bbab1e0eface33275802d7239"
            )
        );
        let h = ali_part(SignVersion::V4, Some("STS.tokenexample"));
        assert_eq!(h["x-oss-security-token"], "STS.tokenexample");
        assert_eq!(
            h["authorization"],
            format!(
                "{CRED}Signature=1ebccaab9b3a77a094cf72e1bd118bbc75d5c569ab5ee8aa1a4eb18efb526159"
            )
        );
        // canonical request and string to sign, printed by signUtils.getCanonicalRequest /
        // getStringToSign for the STS UploadPart above
        let creq = crate::sign::v4::canonical_request(
            "PUT",
            Some("my-bkt"),
            Some(ALI_KEY),
            &q(&[("partNumber", "3"), ("uploadId", ALI_UPLOAD_ID)]),
            &h,
            &[],
        );
        assert_eq!(
            creq,
            "PUT\n/my-bkt/dir/sub%20dir/a%20b%2Bc%20%C3%BC%20%E6%96%87%E4%BB%B6.txt\n\
             partNumber=3&uploadId=0004B9894A22E5B1888A1E29F823%2A%2A%2A%2A\n\
             content-type:text/plain\nx-oss-content-sha256:UNSIGNED-PAYLOAD\n\
             x-oss-date:20251125T140936Z\nx-oss-meta-author:alice\n\
             x-oss-security-token:STS.tokenexample\n\n\nUNSIGNED-PAYLOAD"
        );
        assert_eq!(
            crate::sign::v4::string_to_sign("20251125T140936Z", "cn-hangzhou", &creq),
            "OSS4-HMAC-SHA256\n20251125T140936Z\n20251125/cn-hangzhou/oss/aliyun_v4_request\n\
             b624107c93f1736370c42fc17892e026819fa83e23d6bf77256d62a3d82fa8ff"
        );
    }
}
