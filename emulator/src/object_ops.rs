//! Object operations beyond uploads, as ali-oss's other methods send them: CopyObject and UploadPartCopy
//! (`x-oss-copy-source`), AppendObject (`?append&position=`) and DeleteMultipleObjects (`POST ?delete`).
//! Strict like OSS: positions must match, sources must exist, the Delete XML needs a Content-MD5.

use std::io::Write;

use http::Response;
use md5::{Digest, Md5};

use crate::crc::{crc64_combine, Crc64};
use crate::error::OssError;
use crate::http_util::{empty, error_response, finish, set_header, Body, BodyReader};
use crate::ops::{
    bench_digest, check_md5, enc, forbid_overwrite, ok, parse_range, part_number, precheck_md5,
    receive, url_encoding, xml_ok, FileGuard, MAX_XML,
};
use crate::request::Req;
use crate::store::{ObjHeaders, Object, Part};
use crate::util::{iso8601, percent_decode};
use crate::xml::XmlWriter;

/// Most keys one DeleteMultipleObjects request may name.
const MAX_DELETE: usize = 1000;

/// `x-oss-copy-source: /bucket/key` (the key percent-encoded, maybe `?versionId=`) → (bucket, key).
pub fn parse_copy_source(v: &str) -> Result<(String, String), OssError> {
    let bad = || {
        OssError::invalid_argument(
            "Copy Source must mention the source bucket and key: /sourcebucket/sourcekey.",
        )
        .with("ArgumentName", "x-oss-copy-source")
        .with("ArgumentValue", v)
    };
    let v = v.split('?').next().unwrap_or("");
    let rest = v.strip_prefix('/').ok_or_else(bad)?;
    let (bucket, key) = rest.split_once('/').ok_or_else(bad)?;
    let key = percent_decode(key, false).ok_or_else(bad)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(bad());
    }
    Ok((bucket.to_string(), key))
}

fn source_object(r: &Req) -> Result<std::sync::Arc<Object>, OssError> {
    let (bucket, key) = parse_copy_source(r.header("x-oss-copy-source").unwrap_or(""))?;
    r.state.store.get_object(&bucket, &key)
}

fn no_data() -> OssError {
    OssError::new(
        501,
        "NotImplemented",
        "The emulator runs in --bench mode and keeps no object data to copy.",
    )
}

/// Copies `len` bytes from `start` of `src` into `dst`, returning their CRC-64 and MD5.
fn copy_range(
    src: &std::path::Path,
    start: u64,
    len: u64,
    dst: &std::path::Path,
) -> std::io::Result<(u64, [u8; 16])> {
    use std::io::{Read, Seek, SeekFrom};
    let mut input = std::fs::File::open(src)?;
    input.seek(SeekFrom::Start(start))?;
    let mut input = input.take(len);
    let mut out = std::fs::File::create(dst)?;
    let mut crc = Crc64::new();
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut copied = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
        md5.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        copied += n as u64;
    }
    if copied != len {
        return Err(std::io::Error::other(
            "the source object is shorter than its size",
        ));
    }
    Ok((crc.finish(), md5.finalize().into()))
}

/// PUT with `x-oss-copy-source`: a server-side copy. `x-oss-metadata-directive: REPLACE` takes the request's
/// headers, otherwise (COPY) the source's.
pub async fn copy_object(r: &Req, body: &mut BodyReader) -> Result<Response<Body>, OssError> {
    body.drain(1 << 20).await;
    let src = source_object(r)?;
    let fo = forbid_overwrite(r);
    if fo && r.state.store.object_exists(r.bucket(), r.key()) {
        return Err(OssError::new(
            409,
            "FileAlreadyExists",
            "The object you specified already exists and can not be overwritten.",
        )
        .with("Key", r.key()));
    }
    let headers = match r.header("x-oss-metadata-directive").map(str::trim) {
        None | Some("COPY") => src.headers.clone(),
        Some("REPLACE") => ObjHeaders::from_request(&r.headers),
        Some(other) => {
            return Err(OssError::invalid_argument(format!(
                "x-oss-metadata-directive must be COPY or REPLACE, got {other:?}."
            )))
        }
    };
    let tmp = match (&src.data, r.state.store.tmp_path()) {
        (Some(from), Some(to)) => {
            let mut guard = FileGuard(Some(to.clone()));
            tokio::task::block_in_place(|| std::fs::copy(from, &to)).map_err(OssError::internal)?;
            guard.disarm()
        }
        (None, Some(_)) => return Err(no_data()),
        _ => None,
    };
    let now = r.state.now();
    let obj = Object {
        bucket: r.bucket().to_string(),
        key: r.key().to_string(),
        size: src.size,
        etag: src.etag.clone(),
        crc64: src.crc64,
        content_md5: src.content_md5.clone(),
        last_modified: now,
        multipart: src.multipart,
        appendable: false,
        headers,
        data: None,
    };
    r.state.store.commit_object(obj, tmp, fo)?;
    let mut w = XmlWriter::new();
    w.open("CopyObjectResult");
    w.elem("ETag", format!("\"{}\"", src.etag));
    w.elem("LastModified", iso8601(now));
    w.close("CopyObjectResult");
    let mut resp = xml_ok(r, w.finish());
    set_header(&mut resp, "etag", &format!("\"{}\"", src.etag));
    set_header(&mut resp, "x-oss-hash-crc64ecma", &src.crc64.to_string());
    Ok(resp)
}

/// UploadPart with `x-oss-copy-source` (and maybe `x-oss-copy-source-range: bytes=a-b`).
pub async fn upload_part_copy(r: &Req, body: &mut BodyReader) -> Result<Response<Body>, OssError> {
    body.drain(1 << 20).await;
    let n = part_number(r)?;
    let id = r
        .q("uploadId")
        .ok_or_else(|| OssError::invalid_argument("UploadPartCopy needs uploadId."))?;
    r.state.store.check_upload(r.bucket(), r.key(), id)?;
    let src = source_object(r)?;
    let (start, len) = match r.header("x-oss-copy-source-range") {
        Some(v) => match parse_range(v, src.size) {
            Ok(Some((s, e))) => (s, e - s + 1),
            Ok(None) => (0, src.size),
            Err(()) => {
                return Err(OssError::new(
                    416,
                    "InvalidRange",
                    "The requested range cannot be satisfied.",
                )
                .with("RangeRequested", v)
                .with("ActualObjectSize", src.size.to_string()))
            }
        },
        None => (0, src.size),
    };
    let Some(from) = src.data.clone() else {
        return Err(no_data());
    };
    let Some(to) = r
        .state
        .store
        .upload_dir(id)
        .map(|d| d.join(format!("{n}-{}", crate::util::unique_name())))
    else {
        return Err(no_data());
    };
    let mut guard = FileGuard(Some(to.clone()));
    let (crc, md5) = match tokio::task::block_in_place(|| copy_range(&from, start, len, &to)) {
        Ok(x) => x,
        Err(e) => {
            // The upload directory vanished (aborted/expired) meanwhile, or the source went away.
            r.state.store.check_upload(r.bucket(), r.key(), id)?;
            return Err(OssError::internal(e));
        }
    };
    let now = r.state.now();
    let part = Part {
        size: len,
        md5,
        crc64: crc,
        last_modified: now,
        data: guard.disarm(),
    };
    r.state.store.put_part(r.bucket(), r.key(), id, n, part)?;
    let etag = hex::encode_upper(md5);
    let mut w = XmlWriter::new();
    w.open("CopyPartResult");
    w.elem("LastModified", iso8601(now));
    w.elem("ETag", format!("\"{etag}\""));
    w.close("CopyPartResult");
    let mut resp = xml_ok(r, w.finish());
    set_header(&mut resp, "etag", &format!("\"{etag}\""));
    set_header(&mut resp, "x-oss-hash-crc64ecma", &crc.to_string());
    Ok(resp)
}

/// Where the next append must start, given the current object (None: it does not exist).
pub fn append_position(existing: Option<&Object>, position: u64) -> Result<(), OssError> {
    match existing {
        Some(o) if !o.appendable => Err(OssError::new(
            409,
            "ObjectNotAppendable",
            "The object is not appendable",
        )),
        Some(o) if o.size != position => Err(OssError::new(
            409,
            "PositionNotEqualToLength",
            "Position is not equal to file length",
        )),
        None if position != 0 => Err(OssError::new(
            409,
            "PositionNotEqualToLength",
            "Position is not equal to file length",
        )),
        _ => Ok(()),
    }
}

/// POST `?append&position=N`: adds the body at the end of an Appendable object (creating it at 0).
pub async fn append_object(r: &Req, body: &mut BodyReader) -> Result<Response<Body>, OssError> {
    let position = r
        .q("position")
        .and_then(|p| p.parse::<u64>().ok())
        .ok_or_else(|| {
            OssError::invalid_argument("position must be a non-negative integer.")
                .with("ArgumentName", "position")
                .with("ArgumentValue", r.q("position").unwrap_or(""))
        })?;
    let existing = r.state.store.get_object(r.bucket(), r.key()).ok();
    if let Err(e) = append_position(existing.as_deref(), position) {
        body.drain(1 << 20).await;
        let mut resp = error_response(&e, &r.id, &r.host_id(), r.state.now(), false);
        let next = existing.as_ref().map_or(0, |o| o.size);
        set_header(&mut resp, "x-oss-next-append-position", &next.to_string());
        return Ok(resp);
    }
    let (got, _digest, mut guard) = receive(r, body, r.state.store.tmp_path()).await?;
    let old_size = existing.as_ref().map_or(0, |o| o.size);
    let old_crc = existing.as_ref().map_or(0, |o| o.crc64);
    let size = old_size + got.size;
    let crc = if old_size == 0 {
        got.crc
    } else {
        crc64_combine(old_crc, got.crc, got.size)
    };
    // The whole object's data: the old bytes, then the appended ones.
    let data = match (
        existing.as_ref().and_then(|o| o.data.clone()),
        guard.disarm(),
    ) {
        (Some(old), Some(new)) => {
            let whole = r.state.store.tmp_path();
            let joined = tokio::task::block_in_place(|| -> std::io::Result<Option<_>> {
                let Some(whole) = whole else { return Ok(None) };
                let mut g = FileGuard(Some(whole.clone()));
                std::fs::copy(&old, &whole)?;
                let mut out = std::fs::OpenOptions::new().append(true).open(&whole)?;
                std::io::copy(&mut std::fs::File::open(&new)?, &mut out)?;
                let _ = std::fs::remove_file(&new);
                Ok(g.disarm())
            });
            joined.map_err(OssError::internal)?
        }
        (None, new) => new,
        (Some(_), None) => None,
    };
    // Appendable objects have no content MD5; the ETag follows the content's CRC and size.
    let etag = hex::encode_upper(bench_digest(crc, size));
    let headers = match &existing {
        Some(o) => o.headers.clone(),
        None => ObjHeaders::from_request(&r.headers),
    };
    let obj = Object {
        bucket: r.bucket().to_string(),
        key: r.key().to_string(),
        size,
        etag: etag.clone(),
        crc64: crc,
        content_md5: None,
        last_modified: r.state.now(),
        multipart: false,
        appendable: true,
        headers,
        data: None,
    };
    r.state.store.commit_object(obj, data, false)?;
    Ok(finish(
        ok(r, 200)
            .header("etag", format!("\"{etag}\""))
            .header("x-oss-next-append-position", size.to_string())
            .header("x-oss-hash-crc64ecma", crc.to_string())
            .header("content-length", "0"),
        empty(),
    ))
}

/// The keys and the Quiet flag of a `<Delete>` document.
pub fn parse_delete(body: &[u8]) -> Result<(bool, Vec<String>), OssError> {
    let text =
        std::str::from_utf8(body).map_err(|_| OssError::malformed_xml("body is not UTF-8"))?;
    let doc =
        roxmltree::Document::parse(text).map_err(|e| OssError::malformed_xml(e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "Delete" {
        return Err(OssError::malformed_xml(format!(
            "root element is <{}>, expected <Delete>",
            root.tag_name().name()
        )));
    }
    let mut quiet = false;
    let mut keys = Vec::new();
    for n in root.children().filter(|n| n.is_element()) {
        match n.tag_name().name() {
            "Quiet" => quiet = n.text().map(str::trim) == Some("true"),
            "Object" => {
                let key = n
                    .children()
                    .find(|c| c.is_element() && c.tag_name().name() == "Key")
                    .and_then(|c| c.text())
                    .unwrap_or("");
                if key.is_empty() {
                    return Err(OssError::malformed_xml("an <Object> has no <Key>"));
                }
                keys.push(key.to_string());
            }
            other => {
                return Err(OssError::malformed_xml(format!(
                    "unexpected element <{other}> in <Delete>"
                )))
            }
        }
    }
    if keys.is_empty() || keys.len() > MAX_DELETE {
        return Err(OssError::malformed_xml(format!(
            "a Delete names 1 to {MAX_DELETE} objects, this one {}",
            keys.len()
        )));
    }
    Ok((quiet, keys))
}

/// POST `?delete`: removes up to 1000 objects; missing ones count as deleted, as on OSS.
pub async fn delete_multiple(r: &Req, body: &mut BodyReader) -> Result<Response<Body>, OssError> {
    let url = url_encoding(r)?;
    let xml = body.read_small(MAX_XML).await.map_err(|e| e.into_oss())?;
    if !precheck_md5(r)? {
        return Err(OssError::new(
            400,
            "InvalidDigest",
            "DeleteMultipleObjects requires a Content-MD5 header.",
        ));
    }
    check_md5(r, Some(Md5::digest(&xml).into()))?;
    let (quiet, keys) = parse_delete(&xml)?;
    for key in &keys {
        if key.len() > 1023 {
            return Err(OssError::new(
                400,
                "InvalidObjectName",
                "The object name is longer than 1023 bytes.",
            ));
        }
    }
    let mut w = XmlWriter::new();
    w.open("DeleteResult");
    if url {
        w.elem("EncodingType", "url");
    }
    for key in &keys {
        r.state.store.delete_object(r.bucket(), key)?;
        if !quiet {
            w.open("Deleted");
            w.elem("Key", enc(key, url));
            w.close("Deleted");
        }
    }
    w.close("DeleteResult");
    Ok(xml_ok(r, w.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_forms() {
        assert_eq!(
            parse_copy_source("/b/dir%2Fa%20b.txt").unwrap(),
            ("b".to_string(), "dir/a b.txt".to_string())
        );
        assert_eq!(
            parse_copy_source("/b/k?versionId=1").unwrap(),
            ("b".to_string(), "k".to_string())
        );
        assert!(parse_copy_source("b/k").is_err());
        assert!(parse_copy_source("/b").is_err());
        assert!(parse_copy_source("/b/").is_err());
        assert!(parse_copy_source("/b/%zz").is_err());
    }

    fn obj(size: u64, appendable: bool) -> Object {
        Object {
            bucket: "b".into(),
            key: "k".into(),
            size,
            etag: "E".into(),
            crc64: 0,
            content_md5: None,
            last_modified: std::time::SystemTime::UNIX_EPOCH,
            multipart: false,
            appendable,
            headers: ObjHeaders::default(),
            data: None,
        }
    }

    #[test]
    fn append_positions() {
        assert!(append_position(None, 0).is_ok());
        assert_eq!(
            append_position(None, 3).unwrap_err().code,
            "PositionNotEqualToLength"
        );
        assert!(append_position(Some(&obj(5, true)), 5).is_ok());
        assert_eq!(
            append_position(Some(&obj(5, true)), 4).unwrap_err().status,
            409
        );
        assert_eq!(
            append_position(Some(&obj(5, false)), 5).unwrap_err().code,
            "ObjectNotAppendable"
        );
    }

    #[test]
    fn delete_documents() {
        let (quiet, keys) = parse_delete(
            b"<?xml version=\"1.0\"?><Delete><Quiet>false</Quiet><Object><Key>a&amp;b</Key></Object><Object><Key>c</Key></Object></Delete>",
        )
        .unwrap();
        assert!(!quiet);
        assert_eq!(keys, vec!["a&b".to_string(), "c".to_string()]);
        let (quiet, _) =
            parse_delete(b"<Delete><Quiet>true</Quiet><Object><Key>a</Key></Object></Delete>")
                .unwrap();
        assert!(quiet);
        assert!(parse_delete(b"<Delete><Quiet>true</Quiet></Delete>").is_err());
        assert!(parse_delete(b"<Remove><Object><Key>a</Key></Object></Remove>").is_err());
        assert!(parse_delete(b"<Delete><Object></Object></Delete>").is_err());
        assert!(parse_delete(b"<Delete><Object><Key>a</Key>").is_err());
    }
}
