//! What downloads need from the emulator beyond plain GetObject: conditional GETs (`If-Match`,
//! `If-None-Match`), synthetic objects for `--bench` mode (deterministic content of any size, generated
//! on the fly with the right CRC-64, so a 1 GiB download needs no disk), and the `corruptBody` fault
//! (one flipped byte in a response body, so a client's CRC check has something to catch).

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

use crate::crc::{crc64_combine, Crc64};
use crate::error::OssError;
use crate::http_util::Body;
use crate::state::State;
use crate::store::{ObjHeaders, Object};
use crate::util::lock;

/// Synthetic content repeats one block of this many pseudo-random bytes, derived from the key.
const BLOCK: usize = 1 << 20;

/// Synthetic objects: (bucket, key) → the ETag they were created with (an overwrite by a real PUT
/// changes the ETag, and the object is then no longer synthetic).
fn registry() -> &'static Mutex<HashMap<(String, String), String>> {
    static R: OnceLock<Mutex<HashMap<(String, String), String>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(HashMap::new()))
}

fn crc64(bytes: &[u8]) -> u64 {
    let mut c = Crc64::new();
    c.update(bytes);
    c.finish()
}

/// The repeating block of `key`'s synthetic content (xorshift64* seeded by an FNV-1a hash of the key).
fn block(key: &str) -> Bytes {
    let mut seed: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        seed = (seed ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(BLOCK);
    while out.len() < BLOCK {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(BLOCK);
    Bytes::from(out)
}

/// CRC-64 of `n` copies of a block of `len` bytes whose CRC is `crc`, in O(log n) combines.
fn repeated_crc(crc: u64, len: u64, mut n: u64) -> u64 {
    let (mut acc, mut acc_len) = (0u64, 0u64);
    let (mut pow, mut pow_len) = (crc, len);
    while n > 0 {
        if n & 1 == 1 {
            acc = if acc_len == 0 {
                pow
            } else {
                crc64_combine(acc, pow, pow_len)
            };
            acc_len += pow_len;
        }
        n >>= 1;
        if n > 0 {
            pow = crc64_combine(pow, pow, pow_len);
            pow_len *= 2;
        }
    }
    acc
}

/// The CRC-64 of `size` bytes of `key`'s synthetic content.
pub fn synthetic_crc(key: &str, size: u64) -> u64 {
    let b = block(key);
    let full = size / BLOCK as u64;
    let tail = (size % BLOCK as u64) as usize;
    let whole = repeated_crc(crc64(&b), BLOCK as u64, full);
    if tail == 0 {
        return whole;
    }
    let t = crc64(&b[..tail]);
    if full == 0 {
        t
    } else {
        crc64_combine(whole, t, tail as u64)
    }
}

/// Creates (or replaces) a synthetic object of `size` bytes. Bench mode only: elsewhere objects have data.
pub fn create(state: &State, bucket: &str, key: &str, size: u64) -> Result<Object, String> {
    if !state.store.bench() {
        return Err("synthetic objects exist in --bench mode only".into());
    }
    if !state.store.bucket_exists(bucket) {
        return Err(format!("no bucket {bucket:?}"));
    }
    if key.is_empty() || key.len() > 1023 {
        return Err("key must be 1 to 1023 bytes".into());
    }
    let crc = synthetic_crc(key, size);
    let mut digest = [0u8; 16];
    digest[..8].copy_from_slice(&crc.to_be_bytes());
    digest[8..].copy_from_slice(&size.to_be_bytes());
    let obj = Object {
        bucket: bucket.to_string(),
        key: key.to_string(),
        size,
        etag: hex::encode_upper(digest),
        crc64: crc,
        content_md5: Some(B64.encode(digest)),
        last_modified: state.now(),
        multipart: false,
        appendable: false,
        headers: ObjHeaders::default(),
        data: None,
    };
    state
        .store
        .commit_object(obj.clone(), None, false)
        .map_err(|e| e.message)?;
    lock(registry()).insert((bucket.to_string(), key.to_string()), obj.etag.clone());
    Ok(obj)
}

/// The body of bytes `[start, start + len)` of `o`, when `o` is a synthetic object.
pub fn body(o: &Object, start: u64, len: u64) -> Option<Body> {
    let known = lock(registry())
        .get(&(o.bucket.clone(), o.key.clone()))
        .is_some_and(|etag| *etag == o.etag);
    if !known {
        return None;
    }
    Some(
        SyntheticBody {
            block: block(&o.key),
            pos: start,
            end: start + len,
        }
        .boxed(),
    )
}

struct SyntheticBody {
    block: Bytes,
    pos: u64,
    end: u64,
}

impl http_body::Body for SyntheticBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.pos >= self.end {
            return Poll::Ready(None);
        }
        let at = (self.pos % BLOCK as u64) as usize;
        // At most 256 KiB per frame, never past the block's end: slices share the block, no copies.
        let n = (BLOCK - at)
            .min(256 * 1024)
            .min((self.end - self.pos) as usize);
        let chunk = self.block.slice(at..at + n);
        self.pos += n as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.pos >= self.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.end - self.pos)
    }
}

/// OSS's conditional GET/HEAD headers against the object's ETag: `If-Match` → 412 PreconditionFailed,
/// `If-None-Match` → 304 NotModified.
pub fn check_conditions(
    if_match: Option<&str>,
    if_none_match: Option<&str>,
    etag: &str,
) -> Result<(), OssError> {
    let matches = |list: &str| {
        list.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t.trim_matches('"').eq_ignore_ascii_case(etag)
        })
    };
    if let Some(v) = if_match {
        if !matches(v) {
            return Err(OssError::new(
                412,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold.",
            )
            .with("Condition", "If-Match"));
        }
    }
    if let Some(v) = if_none_match {
        if matches(v) {
            return Err(OssError::new(304, "NotModified", "Not Modified"));
        }
    }
    Ok(())
}

/// The `corruptBody` fault: flips the first byte of the response body (headers untouched).
pub fn corrupt(body: Body) -> Body {
    let mut done = false;
    body.map_frame(move |frame| {
        if done {
            return frame;
        }
        match frame.into_data() {
            Ok(data) if !data.is_empty() => {
                done = true;
                let mut v = data.to_vec();
                v[0] ^= 0xFF;
                Frame::data(Bytes::from(v))
            }
            Ok(data) => Frame::data(data),
            Err(frame) => frame,
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_crc_matches_the_bytes() {
        let b = block("k/1");
        for size in [
            0u64,
            1,
            1000,
            BLOCK as u64,
            BLOCK as u64 + 7,
            3 * BLOCK as u64 + 5,
        ] {
            let mut bytes = Vec::new();
            while (bytes.len() as u64) < size {
                let n = (size as usize - bytes.len()).min(BLOCK);
                bytes.extend_from_slice(&b[..n]);
            }
            assert_eq!(synthetic_crc("k/1", size), crc64(&bytes), "size {size}");
        }
        assert_ne!(block("a"), block("b"));
    }

    #[test]
    fn conditions() {
        assert!(check_conditions(Some("\"ABC\""), None, "ABC").is_ok());
        assert!(check_conditions(Some("*"), None, "ABC").is_ok());
        assert_eq!(
            check_conditions(Some("\"X\""), None, "ABC")
                .unwrap_err()
                .status,
            412
        );
        assert_eq!(
            check_conditions(None, Some("\"abc\""), "ABC")
                .unwrap_err()
                .status,
            304
        );
        assert!(check_conditions(None, Some("\"X\""), "ABC").is_ok());
    }
}
