//! The OSS operations.

use std::io::Write;
use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use http::{Method, Response};
use md5::{Digest, Md5};

use crate::callback;
use crate::crc::{crc64_concat, Crc64};
use crate::error::OssError;
use crate::http_util::{builder, empty, file_body, finish, full, Body, BodyReader};
use crate::object_ops;
use crate::request::Req;
use crate::store::{valid_bucket_name, ObjHeaders, Object, Part, Upload};
use crate::util::{http_date, iso8601, upload_id, uri_encode};
use crate::xml::{parse_complete, XmlWriter};

/// Largest PutObject / UploadPart body (5 GiB).
const MAX_OBJECT: u64 = 5 << 30;
/// Minimum size of every part but the last at Complete.
pub const MIN_PART: u64 = 102_400;
/// Largest Complete / PutBucket XML body accepted.
pub(crate) const MAX_XML: usize = 16 << 20;

pub async fn dispatch(r: &Req, body: &mut BodyReader) -> Result<Response<Body>, OssError> {
    if r.api != "ListBuckets" && r.api != "PutBucket" && !r.state.store.bucket_exists(r.bucket()) {
        return Err(OssError::no_such_bucket(r.bucket()));
    }
    if let Some(k) = &r.route.key {
        if k.len() > 1023 {
            return Err(OssError::new(
                400,
                "InvalidObjectName",
                "The object name is longer than 1023 bytes.",
            ));
        }
    }
    match r.api {
        "PutObject" if r.header("x-oss-copy-source").is_some() => {
            object_ops::copy_object(r, body).await
        }
        "UploadPart" if r.header("x-oss-copy-source").is_some() => {
            object_ops::upload_part_copy(r, body).await
        }
        "AppendObject" => object_ops::append_object(r, body).await,
        "DeleteMultipleObjects" => object_ops::delete_multiple(r, body).await,
        "PutObject" => put_object(r, body).await,
        "GetObject" => get_object(r, false).await,
        "HeadObject" => get_object(r, true).await,
        "DeleteObject" => {
            r.state.store.delete_object(r.bucket(), r.key())?;
            Ok(finish(ok(r, 204), empty()))
        }
        "PutBucket" => put_bucket(r, body).await,
        "ListBuckets" => list_buckets(r),
        "ListObjects" => list_objects(r, false),
        "ListObjectsV2" => list_objects(r, true),
        "ListMultipartUploads" => list_uploads(r),
        "InitiateMultipartUpload" => initiate(r, body).await,
        "UploadPart" => upload_part(r, body).await,
        "CompleteMultipartUpload" => complete(r, body).await,
        "AbortMultipartUpload" => {
            let id = r.q("uploadId").unwrap_or("");
            let (up, ()) = r
                .state
                .store
                .take_upload(r.bucket(), r.key(), id, |_| Ok(()))?;
            r.state.store.discard_upload(&up);
            Ok(finish(ok(r, 204), empty()))
        }
        "ListParts" => list_parts(r),
        _ => Err(OssError::new(
            501,
            "NotImplemented",
            "Not implemented by the emulator.",
        )),
    }
}

pub(crate) fn ok(r: &Req, status: u16) -> http::response::Builder {
    builder(status, &r.id, r.state.now())
}

pub(crate) fn xml_ok(r: &Req, xml: String) -> Response<Body> {
    let len = xml.len();
    finish(
        ok(r, 200)
            .header("content-type", "application/xml")
            .header("content-length", len),
        full(xml),
    )
}

pub(crate) fn url_encoding(r: &Req) -> Result<bool, OssError> {
    match r.q("encoding-type") {
        None => Ok(false),
        Some("url") => Ok(true),
        Some(other) => Err(OssError::invalid_argument(format!(
            "encoding-type must be `url`, got {other:?}."
        ))),
    }
}

pub(crate) fn enc(s: &str, url: bool) -> String {
    if url {
        uri_encode(s, false)
    } else {
        s.to_string()
    }
}

/// Removes a file on drop unless disarmed.
pub(crate) struct FileGuard(pub(crate) Option<PathBuf>);

impl FileGuard {
    pub(crate) fn disarm(&mut self) -> Option<PathBuf> {
        self.0.take()
    }
}

impl Drop for FileGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

pub(crate) struct Ingested {
    pub(crate) size: u64,
    pub(crate) crc: u64,
    pub(crate) md5: Option<[u8; 16]>,
}

/// Streams the request body into `file` (if any), computing CRC-64 and (optionally) MD5
/// in the same pass. Memory use is one frame at a time.
async fn ingest(
    body: &mut BodyReader,
    mut file: Option<std::fs::File>,
    want_md5: bool,
    limit: u64,
) -> Result<Ingested, OssError> {
    let mut crc = Crc64::new();
    let mut md5 = if want_md5 { Some(Md5::new()) } else { None };
    let mut size = 0u64;
    while let Some(chunk) = body.chunk().await.map_err(|e| e.into_oss())? {
        size += chunk.len() as u64;
        if size > limit {
            return Err(OssError::new(
                400,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size.",
            ));
        }
        if file.is_none() && md5.is_none() {
            crc.update(&chunk);
            continue;
        }
        let res = tokio::task::block_in_place(|| {
            crc.update(&chunk);
            if let Some(m) = md5.as_mut() {
                m.update(&chunk);
            }
            match file.as_mut() {
                Some(f) => f.write_all(&chunk),
                None => Ok(()),
            }
        });
        res.map_err(OssError::internal)?;
    }
    Ok(Ingested {
        size,
        crc: crc.finish(),
        md5: md5.map(|m| m.finalize().into()),
    })
}

/// Parses and checks a request `Content-MD5` against the computed digest.
pub(crate) fn check_md5(r: &Req, computed: Option<[u8; 16]>) -> Result<(), OssError> {
    let Some(v) = r.headers.get("content-md5") else {
        return Ok(());
    };
    let bad = || {
        OssError::new(
            400,
            "InvalidDigest",
            "The Content-MD5 you specified is not valid.",
        )
    };
    let s = v.to_str().map_err(|_| bad())?;
    let want = B64.decode(s.trim()).map_err(|_| bad())?;
    if want.len() != 16 {
        return Err(bad());
    }
    match computed {
        Some(c) if c[..] == want[..] => Ok(()),
        _ => Err(OssError::new(
            400,
            "InvalidDigest",
            "The Content-MD5 you specified did not match what we received.",
        )
        .with("ContentMD5", s.trim())),
    }
}

/// Validates the Content-MD5 header syntax before any body is read.
pub(crate) fn precheck_md5(r: &Req) -> Result<bool, OssError> {
    let Some(v) = r.headers.get("content-md5") else {
        return Ok(false);
    };
    let ok = v
        .to_str()
        .ok()
        .and_then(|s| B64.decode(s.trim()).ok())
        .is_some_and(|d| d.len() == 16);
    if !ok {
        return Err(OssError::new(
            400,
            "InvalidDigest",
            "The Content-MD5 you specified is not valid.",
        ));
    }
    Ok(true)
}

/// Content-Length rules for uploads; returns the declared length if any.
fn check_length(r: &Req) -> Result<Option<u64>, OssError> {
    let cl = match r.headers.get("content-length") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| OssError::invalid_argument("Content-Length is not a number."))?,
        ),
        None => None,
    };
    let chunked = r.headers.get("transfer-encoding").is_some();
    if cl.is_none() && !chunked && r.method == Method::PUT {
        return Err(OssError::new(
            411,
            "MissingContentLength",
            "You must provide the Content-Length HTTP header.",
        ));
    }
    if cl.is_some_and(|n| n > MAX_OBJECT) {
        return Err(OssError::new(
            400,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size.",
        ));
    }
    Ok(cl)
}

/// In bench mode the "MD5" of a body is derived from its CRC-64 and size.
pub(crate) fn bench_digest(crc: u64, size: u64) -> [u8; 16] {
    let mut d = [0u8; 16];
    d[..8].copy_from_slice(&crc.to_be_bytes());
    d[8..].copy_from_slice(&size.to_be_bytes());
    d
}

pub(crate) fn forbid_overwrite(r: &Req) -> bool {
    r.header("x-oss-forbid-overwrite")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

pub(crate) async fn receive(
    r: &Req,
    body: &mut BodyReader,
    path: Option<PathBuf>,
) -> Result<(Ingested, [u8; 16], FileGuard), OssError> {
    let declared = check_length(r)?;
    let has_md5 = precheck_md5(r)?;
    let bench = r.state.store.bench();
    let guard = FileGuard(path.clone());
    let file = match &path {
        Some(p) => Some(std::fs::File::create(p).map_err(OssError::internal)?),
        None => None,
    };
    let got = ingest(body, file, !bench || has_md5, MAX_OBJECT).await?;
    if let Some(n) = declared {
        if n != got.size {
            return Err(OssError::new(
                400,
                "IncompleteBody",
                format!("Received {} bytes, Content-Length said {n}.", got.size),
            ));
        }
    }
    check_md5(r, got.md5)?;
    let digest = if bench {
        bench_digest(got.crc, got.size)
    } else {
        got.md5.unwrap_or_default()
    };
    Ok((got, digest, guard))
}

fn upload_headers(r: &Req, etag: &str, digest: &[u8; 16], crc: u64) -> Response<Body> {
    finish(
        ok(r, 200)
            .header("etag", format!("\"{etag}\""))
            .header("content-md5", B64.encode(digest))
            .header("x-oss-hash-crc64ecma", crc.to_string())
            .header("content-length", "0"),
        empty(),
    )
}

async fn put_object(r: &Req, body: &mut BodyReader) -> Result<Response<Body>, OssError> {
    let fo = forbid_overwrite(r);
    if fo && r.state.store.object_exists(r.bucket(), r.key()) {
        return Err(OssError::new(
            409,
            "FileAlreadyExists",
            "The object you specified already exists and can not be overwritten.",
        )
        .with("Key", r.key()));
    }
    let cb = match r.header("x-oss-callback") {
        Some(c) => Some(callback::parse(c, r.header("x-oss-callback-var"))?),
        None => None,
    };
    let tmp = r.state.store.tmp_path();
    let (got, digest, mut guard) = receive(r, body, tmp).await?;
    let etag = hex::encode_upper(digest);
    let obj = Object {
        bucket: r.bucket().to_string(),
        key: r.key().to_string(),
        size: got.size,
        etag: etag.clone(),
        crc64: got.crc,
        content_md5: Some(B64.encode(digest)),
        last_modified: r.state.now(),
        multipart: false,
        appendable: false,
        headers: ObjHeaders::from_request(&r.headers),
        data: None,
    };
    let tmp = guard.disarm();
    let content_type = obj
        .headers
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".to_string());
    r.state.store.commit_object(obj, tmp, fo)?;
    if let Some((spec, vars)) = cb {
        let vals = callback::Values {
            bucket: r.bucket(),
            object: r.key(),
            etag: &etag,
            size: got.size,
            mime_type: &content_type,
        };
        let headers = [
            ("etag", format!("\"{etag}\"")),
            ("content-md5", B64.encode(digest)),
            ("x-oss-hash-crc64ecma", got.crc.to_string()),
        ];
        return Ok(callback_answer(r, &spec, &vars, &vals, &headers).await);
    }
    Ok(upload_headers(r, &etag, &digest, got.crc))
}

pub(crate) fn part_number(r: &Req) -> Result<u32, OssError> {
    r.q("partNumber")
        .and_then(|s| s.parse::<u32>().ok())
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| {
            OssError::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive.",
            )
            .with("ArgumentName", "partNumber")
            .with("ArgumentValue", r.q("partNumber").unwrap_or(""))
        })
}

async fn upload_part(r: &Req, body: &mut BodyReader) -> Result<Response<Body>, OssError> {
    let n = part_number(r)?;
    let id = r
        .q("uploadId")
        .ok_or_else(|| OssError::invalid_argument("UploadPart needs uploadId."))?;
    r.state.store.check_upload(r.bucket(), r.key(), id)?;
    let path = r
        .state
        .store
        .upload_dir(id)
        .map(|d| d.join(format!("{n}-{}", crate::util::unique_name())));
    let (got, digest, mut guard) = match receive(r, body, path).await {
        Err(e) if e.code == "InternalError" => {
            // The upload directory vanished (aborted/expired) while we were receiving.
            r.state.store.check_upload(r.bucket(), r.key(), id)?;
            return Err(e);
        }
        x => x?,
    };
    let etag = hex::encode_upper(digest);
    let part = Part {
        size: got.size,
        md5: digest,
        crc64: got.crc,
        last_modified: r.state.now(),
        data: guard.disarm(),
    };
    r.state.store.put_part(r.bucket(), r.key(), id, n, part)?;
    Ok(upload_headers(r, &etag, &digest, got.crc))
}

async fn initiate(r: &Req, body: &mut BodyReader) -> Result<Response<Body>, OssError> {
    body.drain(1 << 20).await;
    let url = url_encoding(r)?;
    let fo = forbid_overwrite(r);
    if fo && r.state.store.object_exists(r.bucket(), r.key()) {
        return Err(OssError::new(
            409,
            "FileAlreadyExists",
            "The object you specified already exists and can not be overwritten.",
        )
        .with("Key", r.key()));
    }
    let id = upload_id();
    let up = Upload {
        id: id.clone(),
        bucket: r.bucket().to_string(),
        key: r.key().to_string(),
        initiated: r.state.now(),
        headers: ObjHeaders::from_request(&r.headers),
        forbid_overwrite: fo,
        parts: Default::default(),
        dir: r.state.store.upload_dir(&id),
    };
    r.state.store.create_upload(up)?;
    let mut w = XmlWriter::new();
    w.open("InitiateMultipartUploadResult");
    w.elem("Bucket", r.bucket());
    w.elem("Key", enc(r.key(), url));
    w.elem("UploadId", &id);
    if url {
        w.elem("EncodingType", "url");
    }
    w.close("InitiateMultipartUploadResult");
    Ok(xml_ok(r, w.finish()))
}

/// Complete's validation (spec §3): ascending part numbers, known parts with matching
/// ETags, every part but the last at least 100 KB. Returns the chosen part numbers.
pub fn validate_complete(
    listed: Option<&[crate::xml::CompletePart]>,
    parts: &std::collections::BTreeMap<u32, Part>,
) -> Result<Vec<u32>, OssError> {
    let chosen: Vec<u32> = match listed {
        None => {
            if parts.is_empty() {
                return Err(OssError::invalid_argument(
                    "x-oss-complete-all: yes, but no part was uploaded.",
                ));
            }
            parts.keys().copied().collect()
        }
        Some(list) => {
            if list.is_empty() {
                return Err(OssError::malformed_xml(
                    "no <Part> in CompleteMultipartUpload",
                ));
            }
            for w in list.windows(2) {
                if w[1].number <= w[0].number {
                    return Err(OssError::new(
                        400,
                        "InvalidPartOrder",
                        "The list of parts was not in ascending order. Parts list must be specified in order by part number.",
                    )
                    .with("PartNumber", w[1].number.to_string()));
                }
            }
            for p in list {
                let ok = parts
                    .get(&p.number)
                    .is_some_and(|have| have.etag().eq_ignore_ascii_case(&p.etag));
                if !ok {
                    return Err(OssError::new(
                        400,
                        "InvalidPart",
                        "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.",
                    )
                    .with("PartNumber", p.number.to_string())
                    .with("ETag", p.etag.clone()));
                }
            }
            list.iter().map(|p| p.number).collect()
        }
    };
    if let Some((_, init)) = chosen.split_last() {
        for n in init {
            let size = parts.get(n).map(|p| p.size).unwrap_or(0);
            if size < MIN_PART {
                return Err(OssError::new(
                    400,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size.",
                )
                .with("PartNumber", n.to_string())
                .with("MinSizeAllowed", MIN_PART.to_string())
                .with("ProposedSize", size.to_string()));
            }
        }
    }
    Ok(chosen)
}

/// S3-style multipart ETag: MD5 of the concatenated binary part MD5s, `-N`.
pub fn multipart_etag(md5s: &[[u8; 16]]) -> String {
    let mut h = Md5::new();
    for m in md5s {
        h.update(m);
    }
    format!("{}-{}", hex::encode_upper(h.finalize()), md5s.len())
}

/// Runs an upload callback (Complete or PutObject; the object is already stored) and
/// builds the answer: 200 with the callback server's JSON body, or 203 `CallbackFailed`.
/// `headers` (ETag, CRC-64, …) are sent on both.
async fn callback_answer(
    r: &Req,
    spec: &callback::Spec,
    vars: &[(String, String)],
    vals: &callback::Values<'_>,
    headers: &[(&'static str, String)],
) -> Response<Body> {
    match callback::run(spec, vars, vals, &r.id).await {
        Ok(body) => {
            let mut b = ok(r, 200)
                .header("content-type", "application/json")
                .header("content-length", body.len());
            for (k, v) in headers {
                b = b.header(*k, v);
            }
            finish(b, full(body))
        }
        Err(msg) => {
            let e = OssError::new(203, "CallbackFailed", format!("Error status : -1. {msg}"));
            let mut resp = r.error(&e);
            for (k, v) in headers {
                crate::http_util::set_header(&mut resp, k, v);
            }
            resp
        }
    }
}

/// Complete's part after the checks that need no lock: takes the upload (validating the
/// part list), concatenates the part files and commits the object. Returns (ETag, CRC-64,
/// size, Content-Type).
fn complete_blocking(
    state: &crate::state::State,
    bucket: String,
    key: String,
    id: &str,
    listed: Option<&[crate::xml::CompletePart]>,
    forbid: bool,
) -> Result<(String, u64, u64, String), OssError> {
    let store = &state.store;
    let (up, chosen) =
        store.take_upload(&bucket, &key, id, |u| validate_complete(listed, &u.parts))?;
    let parts: Vec<&Part> = chosen.iter().filter_map(|n| up.parts.get(n)).collect();
    let md5s: Vec<[u8; 16]> = parts.iter().map(|p| p.md5).collect();
    let etag = multipart_etag(&md5s);
    let crc = crc64_concat(parts.iter().map(|p| (p.crc64, p.size)));
    let size: u64 = parts.iter().map(|p| p.size).sum();
    let tmp = store.tmp_path();
    let mut guard = FileGuard(tmp.clone());
    if let Some(tmp) = &tmp {
        let concat = || -> std::io::Result<()> {
            let mut out = std::fs::File::create(tmp)?;
            for f in parts.iter().filter_map(|p| p.data.as_ref()) {
                let mut inp = std::fs::File::open(f)?;
                std::io::copy(&mut inp, &mut out)?;
            }
            out.flush()
        };
        if let Err(e) = concat() {
            store.discard_upload(&up);
            return Err(OssError::internal(e));
        }
    }
    let content_type = up
        .headers
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".to_string());
    let obj = Object {
        bucket,
        key,
        size,
        etag: etag.clone(),
        crc64: crc,
        content_md5: None,
        last_modified: state.now(),
        multipart: true,
        appendable: false,
        headers: up.headers.clone(),
        data: None,
    };
    let committed = store.commit_object(obj, guard.disarm(), up.forbid_overwrite || forbid);
    store.discard_upload(&up);
    committed?;
    Ok((etag, crc, size, content_type))
}

async fn complete(r: &Req, body: &mut BodyReader) -> Result<Response<Body>, OssError> {
    let id = r.q("uploadId").unwrap_or("").to_string();
    let url = url_encoding(r)?;
    let xml = body.read_small(MAX_XML).await.map_err(|e| e.into_oss())?;
    if precheck_md5(r)? {
        check_md5(r, Some(Md5::digest(&xml).into()))?;
    }
    let all = r
        .header("x-oss-complete-all")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("yes"));
    let cb = match r.header("x-oss-callback") {
        Some(c) => Some(callback::parse(c, r.header("x-oss-callback-var"))?),
        None => None,
    };
    let listed = if all {
        if !xml.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(OssError::invalid_argument(
                "The body must be empty when x-oss-complete-all is yes.",
            ));
        }
        None
    } else {
        Some(parse_complete(&xml)?)
    };
    // Check the upload before the bucket-level overwrite rule, as OSS does.
    r.state.store.check_upload(r.bucket(), r.key(), &id)?;
    if forbid_overwrite(r) && r.state.store.object_exists(r.bucket(), r.key()) {
        return Err(OssError::new(
            409,
            "FileAlreadyExists",
            "The object you specified already exists and can not be overwritten.",
        )
        .with("Key", r.key()));
    }
    // From here on the upload is taken: the rest runs on a blocking task that finishes
    // (stores the object) even when the client goes away meanwhile, as OSS does.
    let state = r.state.clone();
    let (bucket, key) = (r.bucket().to_string(), r.key().to_string());
    let forbid = forbid_overwrite(r);
    let done = tokio::task::spawn_blocking(move || {
        complete_blocking(&state, bucket, key, &id, listed.as_deref(), forbid)
    })
    .await
    .map_err(OssError::internal)??;
    let (etag, crc, size, content_type) = done;
    if let Some((spec, vars)) = cb {
        let vals = callback::Values {
            bucket: r.bucket(),
            object: r.key(),
            etag: &etag,
            size,
            mime_type: &content_type,
        };
        let headers = [
            ("etag", format!("\"{etag}\"")),
            ("x-oss-hash-crc64ecma", crc.to_string()),
        ];
        return Ok(callback_answer(r, &spec, &vars, &vals, &headers).await);
    }
    let scheme = r.state.config.scheme;
    let location = if r.route.virtual_hosted {
        format!("{scheme}://{}/{}", r.host, uri_encode(r.key(), true))
    } else {
        format!(
            "{scheme}://{}/{}/{}",
            r.host,
            r.bucket(),
            uri_encode(r.key(), true)
        )
    };
    let mut w = XmlWriter::new();
    w.open("CompleteMultipartUploadResult");
    if url {
        w.elem("EncodingType", "url");
    }
    w.elem("Location", location);
    w.elem("Bucket", r.bucket());
    w.elem("Key", enc(r.key(), url));
    w.elem("ETag", format!("\"{etag}\""));
    w.close("CompleteMultipartUploadResult");
    let xml = w.finish();
    let len = xml.len();
    let base = ok(r, 200)
        .header("etag", format!("\"{etag}\""))
        .header("x-oss-hash-crc64ecma", crc.to_string());
    Ok(finish(
        base.header("content-type", "application/xml")
            .header("content-length", len),
        full(xml),
    ))
}

fn parse_max(r: &Req, name: &str, default: usize) -> Result<usize, OssError> {
    match r.q(name) {
        None => Ok(default),
        Some(s) => s
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                OssError::invalid_argument(format!("{name} must be an integer between 1 and 1000."))
                    .with("ArgumentName", name)
                    .with("ArgumentValue", s)
            }),
    }
}

fn list_parts(r: &Req) -> Result<Response<Body>, OssError> {
    let id = r.q("uploadId").unwrap_or("");
    let url = url_encoding(r)?;
    let max = parse_max(r, "max-parts", 1000)?;
    let marker: u32 = match r.q("part-number-marker") {
        None | Some("") => 0,
        Some(s) => s
            .trim()
            .parse()
            .map_err(|_| OssError::invalid_argument("part-number-marker must be an integer."))?,
    };
    let up = r.state.store.get_upload(r.bucket(), r.key(), id)?;
    let mut w = XmlWriter::new();
    w.open("ListPartsResult");
    if url {
        w.elem("EncodingType", "url");
    }
    w.elem("Bucket", r.bucket());
    w.elem("Key", enc(r.key(), url));
    w.elem("UploadId", id);
    w.elem(
        "StorageClass",
        up.headers.storage_class.as_deref().unwrap_or("Standard"),
    );
    w.elem("PartNumberMarker", marker.to_string());
    let selected: Vec<(&u32, &Part)> = up
        .parts
        .range(marker.saturating_add(1)..)
        .take(max + 1)
        .collect();
    let truncated = selected.len() > max;
    let page = &selected[..selected.len().min(max)];
    let next = page.last().map(|(n, _)| **n).unwrap_or(marker);
    w.elem("NextPartNumberMarker", next.to_string());
    w.elem("MaxParts", max.to_string());
    w.elem("IsTruncated", truncated.to_string());
    for (n, p) in page {
        w.open("Part");
        w.elem("PartNumber", n.to_string());
        w.elem("LastModified", iso8601(p.last_modified));
        w.elem("ETag", format!("\"{}\"", p.etag()));
        w.elem("HashCrc64ecma", p.crc64.to_string());
        w.elem("Size", p.size.to_string());
        w.close("Part");
    }
    w.close("ListPartsResult");
    Ok(xml_ok(r, w.finish()))
}

fn list_uploads(r: &Req) -> Result<Response<Body>, OssError> {
    let url = url_encoding(r)?;
    let max = parse_max(r, "max-uploads", 1000)?;
    let prefix = r.q("prefix").unwrap_or("");
    let delimiter = r.q("delimiter").unwrap_or("");
    let key_marker = r.q("key-marker").unwrap_or("");
    let id_marker = r.q("upload-id-marker").unwrap_or("");
    let all = r.state.store.list_uploads(r.bucket())?;
    let mut uploads: Vec<&(String, String, std::time::SystemTime)> = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut truncated = false;
    let mut next = (String::new(), String::new());
    let mut past_marker = key_marker.is_empty();
    // Position of the upload-id marker within key_marker's uploads.
    let marker_pos = if id_marker.is_empty() {
        None
    } else {
        all.iter()
            .position(|(k, i, _)| k == key_marker && i == id_marker)
    };
    for (idx, u) in all.iter().enumerate() {
        let (k, i, _) = u;
        if !past_marker {
            let after = if id_marker.is_empty() {
                k.as_str() > key_marker
            } else {
                match marker_pos {
                    Some(pos) => k.as_str() > key_marker || (k == key_marker && idx > pos),
                    None => k.as_str() > key_marker || (k == key_marker && i.as_str() > id_marker),
                }
            };
            if !after {
                continue;
            }
            past_marker = true;
        }
        if !k.starts_with(prefix) {
            continue;
        }
        if !delimiter.is_empty() {
            if let Some(pos) = k[prefix.len()..].find(delimiter) {
                let cp = k[..prefix.len() + pos + delimiter.len()].to_string();
                if prefixes.last() == Some(&cp) {
                    continue;
                }
                if uploads.len() + prefixes.len() >= max {
                    truncated = true;
                    break;
                }
                next = (cp.clone(), String::new());
                prefixes.push(cp);
                continue;
            }
        }
        if uploads.len() + prefixes.len() >= max {
            truncated = true;
            break;
        }
        next = (k.clone(), i.clone());
        uploads.push(u);
    }
    let mut w = XmlWriter::new();
    w.open("ListMultipartUploadsResult");
    if url {
        w.elem("EncodingType", "url");
    }
    w.elem("Bucket", r.bucket());
    w.elem("KeyMarker", enc(key_marker, url));
    w.elem("UploadIdMarker", id_marker);
    w.elem(
        "NextKeyMarker",
        if truncated {
            enc(&next.0, url)
        } else {
            String::new()
        },
    );
    w.elem(
        "NextUploadIdMarker",
        if truncated {
            next.1.clone()
        } else {
            String::new()
        },
    );
    w.elem("Delimiter", enc(delimiter, url));
    w.elem("Prefix", enc(prefix, url));
    w.elem("MaxUploads", max.to_string());
    w.elem("IsTruncated", truncated.to_string());
    for (k, i, t) in uploads {
        w.open("Upload");
        w.elem("Key", enc(k, url));
        w.elem("UploadId", i);
        w.elem("StorageClass", "Standard");
        w.elem("Initiated", iso8601(*t));
        w.close("Upload");
    }
    for p in prefixes {
        w.open("CommonPrefixes");
        w.elem("Prefix", enc(&p, url));
        w.close("CommonPrefixes");
    }
    w.close("ListMultipartUploadsResult");
    Ok(xml_ok(r, w.finish()))
}

fn list_objects(r: &Req, v2: bool) -> Result<Response<Body>, OssError> {
    let url = url_encoding(r)?;
    let max = match r.q("max-keys") {
        None => 100,
        Some(s) => s
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= 1000)
            .ok_or_else(|| {
                OssError::invalid_argument("max-keys must be an integer between 0 and 1000.")
            })?,
    };
    let prefix = r.q("prefix").unwrap_or("").to_string();
    let delimiter = r.q("delimiter").unwrap_or("").to_string();
    let marker = if v2 {
        r.q("continuation-token")
            .or(r.q("start-after"))
            .unwrap_or("")
            .to_string()
    } else {
        r.q("marker").unwrap_or("").to_string()
    };
    let mut contents: Vec<std::sync::Arc<Object>> = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut truncated = false;
    let mut last = String::new();
    r.state
        .store
        .scan_objects(r.bucket(), &prefix, &marker, |o| {
            let k = &o.key;
            if !delimiter.is_empty() {
                if let Some(pos) = k[prefix.len()..].find(delimiter.as_str()) {
                    let cp = k[..prefix.len() + pos + delimiter.len()].to_string();
                    if prefixes.last() == Some(&cp) || cp.as_str() <= marker.as_str() {
                        return true;
                    }
                    if contents.len() + prefixes.len() >= max {
                        truncated = true;
                        return false;
                    }
                    last = cp.clone();
                    prefixes.push(cp);
                    return true;
                }
            }
            if contents.len() + prefixes.len() >= max {
                truncated = true;
                return false;
            }
            last = k.clone();
            contents.push(o.clone());
            true
        })?;
    let mut w = XmlWriter::new();
    w.open("ListBucketResult");
    w.elem("Name", r.bucket());
    w.elem("Prefix", enc(&prefix, url));
    if v2 {
        if let Some(t) = r.q("continuation-token") {
            w.elem("ContinuationToken", t);
        }
        if let Some(s) = r.q("start-after") {
            w.elem("StartAfter", enc(s, url));
        }
    } else {
        w.elem("Marker", enc(&marker, url));
    }
    w.elem("MaxKeys", max.to_string());
    w.elem("Delimiter", enc(&delimiter, url));
    if url {
        w.elem("EncodingType", "url");
    }
    w.elem("IsTruncated", truncated.to_string());
    if truncated {
        if v2 {
            w.elem("NextContinuationToken", &last);
        } else {
            w.elem("NextMarker", enc(&last, url));
        }
    }
    if v2 {
        w.elem("KeyCount", (contents.len() + prefixes.len()).to_string());
    }
    for o in &contents {
        w.open("Contents");
        w.elem("Key", enc(&o.key, url));
        w.elem("LastModified", iso8601(o.last_modified));
        w.elem("ETag", format!("\"{}\"", o.etag));
        w.elem("Type", if o.multipart { "Multipart" } else { "Normal" });
        w.elem("Size", o.size.to_string());
        w.elem(
            "StorageClass",
            o.headers.storage_class.as_deref().unwrap_or("Standard"),
        );
        if !v2 || r.q("fetch-owner") == Some("true") {
            w.open("Owner");
            w.elem("ID", "oss-emulator");
            w.elem("DisplayName", "oss-emulator");
            w.close("Owner");
        }
        w.close("Contents");
    }
    for p in prefixes {
        w.open("CommonPrefixes");
        w.elem("Prefix", enc(&p, url));
        w.close("CommonPrefixes");
    }
    w.close("ListBucketResult");
    Ok(xml_ok(r, w.finish()))
}

fn list_buckets(r: &Req) -> Result<Response<Body>, OssError> {
    let mut w = XmlWriter::new();
    w.open("ListAllMyBucketsResult");
    w.open("Owner");
    w.elem("ID", "oss-emulator");
    w.elem("DisplayName", "oss-emulator");
    w.close("Owner");
    w.open("Buckets");
    let region = &r.state.config.region;
    for (name, created) in r.state.store.list_buckets() {
        w.open("Bucket");
        w.elem(
            "CreationDate",
            iso8601(created.unwrap_or(std::time::UNIX_EPOCH)),
        );
        w.elem("ExtranetEndpoint", format!("oss-{region}.aliyuncs.com"));
        w.elem(
            "IntranetEndpoint",
            format!("oss-{region}-internal.aliyuncs.com"),
        );
        w.elem("Location", format!("oss-{region}"));
        w.elem("Name", name);
        w.elem("Region", region);
        w.elem("StorageClass", "Standard");
        w.close("Bucket");
    }
    w.close("Buckets");
    w.close("ListAllMyBucketsResult");
    Ok(xml_ok(r, w.finish()))
}

async fn put_bucket(r: &Req, body: &mut BodyReader) -> Result<Response<Body>, OssError> {
    let _ = body.read_small(MAX_XML).await.map_err(|e| e.into_oss())?;
    let b = r.bucket();
    if !valid_bucket_name(b) {
        return Err(OssError::new(
            400,
            "InvalidBucketName",
            "The specified bucket is not valid.",
        )
        .with("BucketName", b));
    }
    r.state
        .store
        .create_bucket(b, r.state.now())
        .map_err(OssError::internal)?;
    Ok(finish(
        ok(r, 200)
            .header("location", format!("/{b}"))
            .header("content-length", "0"),
        empty(),
    ))
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` → inclusive (start, end). None = whole object.
pub(crate) fn parse_range(v: &str, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(());
        }
        let n = n.min(size);
        return Ok(Some((size - n, size - 1)));
    }
    let Ok(start) = a.parse::<u64>() else {
        return Ok(None);
    };
    let end = if b.is_empty() {
        size.saturating_sub(1)
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e.min(size.saturating_sub(1)),
            _ => return Ok(None),
        }
    };
    if start >= size {
        return Err(());
    }
    Ok(Some((start, end)))
}

async fn get_object(r: &Req, head: bool) -> Result<Response<Body>, OssError> {
    let o = r.state.store.get_object(r.bucket(), r.key())?;
    crate::download::check_conditions(r.header("if-match"), r.header("if-none-match"), &o.etag)?;
    let range = match r.header("range") {
        Some(v) if !head || r.method == Method::HEAD => match parse_range(v, o.size) {
            Ok(x) => x,
            Err(()) => {
                return Err(OssError::new(
                    416,
                    "InvalidRange",
                    "The requested range cannot be satisfied.",
                )
                .with("RangeRequested", v)
                .with("ActualObjectSize", o.size.to_string()))
            }
        },
        _ => None,
    };
    let (status, start, len) = match range {
        Some((s, e)) => (206, s, e - s + 1),
        None => (200, 0, o.size),
    };
    let mut b = ok(r, status)
        .header("etag", format!("\"{}\"", o.etag))
        .header("last-modified", http_date(o.last_modified))
        .header("accept-ranges", "bytes")
        .header(
            "x-oss-object-type",
            if o.multipart {
                "Multipart"
            } else if o.appendable {
                "Appendable"
            } else {
                "Normal"
            },
        )
        .header("x-oss-hash-crc64ecma", o.crc64.to_string())
        .header("content-length", len.to_string());
    if let Some(m) = &o.content_md5 {
        b = b.header("content-md5", m.as_str());
    }
    let overrides = [
        ("response-content-type", "content-type"),
        ("response-content-language", "content-language"),
        ("response-expires", "expires"),
        ("response-cache-control", "cache-control"),
        ("response-content-disposition", "content-disposition"),
        ("response-content-encoding", "content-encoding"),
    ];
    for (name, value) in o.headers.response_headers() {
        if overrides
            .iter()
            .any(|(q, h)| *h == name && r.q(q).is_some())
        {
            continue;
        }
        b = b.header(name, value);
    }
    for (q, h) in overrides {
        if let Some(v) = r.q(q) {
            b = b.header(h, v);
        }
    }
    if status == 206 {
        b = b.header(
            "content-range",
            format!("bytes {}-{}/{}", start, start + len - 1, o.size),
        );
    }
    if head || r.method == Method::HEAD {
        return Ok(finish(b, empty()));
    }
    let Some(path) = o.data.clone() else {
        if let Some(body) = crate::download::body(&o, start, len) {
            return Ok(finish(b, body));
        }
        return Err(OssError::new(
            501,
            "NotImplemented",
            "The emulator runs in --bench mode and keeps no object data.",
        ));
    };
    let file = std::fs::File::open(&path).map_err(|_| OssError::no_such_key(r.key()))?;
    if len == 0 {
        return Ok(finish(b, empty()));
    }
    Ok(finish(b, file_body(file, start, len)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::CompletePart;
    use std::collections::BTreeMap;

    fn part(size: u64, tag: u8) -> Part {
        Part {
            size,
            md5: [tag; 16],
            crc64: 0,
            last_modified: std::time::UNIX_EPOCH,
            data: None,
        }
    }

    fn cp(n: u32, tag: u8) -> CompletePart {
        CompletePart {
            number: n,
            etag: hex::encode_upper([tag; 16]),
        }
    }

    fn parts() -> BTreeMap<u32, Part> {
        let mut m = BTreeMap::new();
        m.insert(1, part(MIN_PART, 1));
        m.insert(2, part(MIN_PART, 2));
        m.insert(3, part(10, 3));
        m.insert(5, part(10, 5));
        m
    }

    #[test]
    fn complete_happy_and_gaps() {
        let p = parts();
        assert_eq!(
            validate_complete(Some(&[cp(1, 1), cp(2, 2), cp(3, 3)]), &p).expect("ok"),
            vec![1, 2, 3]
        );
        assert_eq!(
            validate_complete(Some(&[cp(1, 1), cp(3, 3)]), &p).expect("gap ok"),
            vec![1, 3]
        );
        // Lower-case ETags are accepted.
        let lc = CompletePart {
            number: 1,
            etag: hex::encode([1u8; 16]),
        };
        assert!(validate_complete(Some(&[lc]), &p).is_ok());
    }

    #[test]
    fn complete_rules() {
        let p = parts();
        let code = |l: &[CompletePart]| validate_complete(Some(l), &p).unwrap_err().code;
        assert_eq!(code(&[cp(2, 2), cp(1, 1)]), "InvalidPartOrder");
        assert_eq!(code(&[cp(1, 1), cp(1, 1)]), "InvalidPartOrder");
        assert_eq!(code(&[cp(1, 1), cp(4, 4)]), "InvalidPart");
        assert_eq!(code(&[cp(1, 9)]), "InvalidPart");
        assert_eq!(code(&[cp(3, 3), cp(5, 5)]), "EntityTooSmall");
        assert_eq!(code(&[]), "MalformedXML");
        // complete-all: every uploaded part in order, same size rule.
        assert_eq!(
            validate_complete(None, &p).unwrap_err().code,
            "EntityTooSmall"
        );
        let mut q = BTreeMap::new();
        q.insert(2, part(MIN_PART, 2));
        q.insert(7, part(1, 7));
        assert_eq!(validate_complete(None, &q).expect("all"), vec![2, 7]);
        assert_eq!(
            validate_complete(None, &BTreeMap::new()).unwrap_err().code,
            "InvalidArgument"
        );
    }

    #[test]
    fn etag_rule() {
        // MD5 of the concatenated binary MD5s, uppercase, with the part count.
        let a = [0x11u8; 16];
        let b = [0x22u8; 16];
        let mut cat = Vec::new();
        cat.extend_from_slice(&a);
        cat.extend_from_slice(&b);
        let want = format!("{}-2", hex::encode_upper(Md5::digest(&cat)));
        assert_eq!(multipart_etag(&[a, b]), want);
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=50-500", 100), Ok(Some((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Err(()));
        assert_eq!(parse_range("bytes=9-1", 100), Ok(None));
        assert_eq!(parse_range("junk", 100), Ok(None));
    }
}
