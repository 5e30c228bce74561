//! Small helpers: time formatting, identifiers, percent-encoding.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the epoch (negative before 1970 is clamped to 0).
pub fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(_) => 0,
    }
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn split_time(t: SystemTime) -> (i64, u32, u32, u32, u32, u32, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs() as i64;
    let (y, mo, da) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    (
        y,
        mo,
        da,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
        d.subsec_millis(),
    )
}

/// `2024-01-02T03:04:05.678Z`
pub fn iso8601(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, ms) = split_time(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// RFC 1123 HTTP date.
pub fn http_date(t: SystemTime) -> String {
    // httpdate panics before 1970 and after 9999: clamp into its range.
    let max = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
    httpdate::fmt_http_date(t.clamp(UNIX_EPOCH, max))
}

/// Parses the V4 `x-oss-date` form `20231216T162057Z`.
pub fn parse_iso_basic(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = days_from_civil(y as i64, mo, d);
    let secs = days * 86_400 + (h * 3600 + mi * 60 + se) as i64;
    if secs < 0 {
        return None;
    }
    Some(UNIX_EPOCH + Duration::from_secs(secs as u64))
}

/// Parses either an HTTP date or the ISO basic form.
pub fn parse_any_date(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    parse_iso_basic(s).or_else(|| httpdate::parse_http_date(s).ok())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);
static SEED: OnceLock<u64> = OnceLock::new();

/// A fast, non-cryptographic 64-bit random value (splitmix64 over a seeded counter).
pub fn rand_u64() -> u64 {
    let seed = *SEED.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_nanos() as u64;
        nanos ^ ((std::process::id() as u64) << 32)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut z = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 24 uppercase hex characters, like OSS's `x-oss-request-id`.
pub fn request_id() -> String {
    let secs = unix_secs(SystemTime::now()) as u32;
    format!("{:08X}{:016X}", secs, rand_u64())
}

static UPLOAD_SEQ: AtomicU64 = AtomicU64::new(0);

/// 32 uppercase hex characters; lexical order follows creation order within one process.
pub fn upload_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_micros() as u64;
    let seq = UPLOAD_SEQ.fetch_add(1, Ordering::Relaxed) & 0xFFFF;
    format!(
        "{:014X}{:04X}{:014X}",
        nanos & 0x00FF_FFFF_FFFF_FFFF,
        seq,
        rand_u64() & 0x00FF_FFFF_FFFF_FFFF
    )
}

/// A unique file name component.
pub fn unique_name() -> String {
    format!("{:016x}{:016x}", rand_u64(), rand_u64())
}

/// Strict percent-decoding. `plus_is_space` applies form rules (query strings).
/// Returns None on a malformed escape or invalid UTF-8.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = b.get(i + 1).and_then(|c| (*c as char).to_digit(16))?;
                let lo = b.get(i + 2).and_then(|c| (*c as char).to_digit(16))?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes everything except `A-Z a-z 0-9 - . _ ~` (and `/` when `keep_slash`), uppercase hex.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && c == b'/')
        {
            out.push(c as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[(c >> 4) as usize]));
            out.push(char::from(b"0123456789ABCDEF"[(c & 15) as usize]));
        }
    }
    out
}

/// Parses a raw query string into decoded pairs, keeping order. Bad escapes → None.
pub fn parse_query(q: &str) -> Option<Vec<(String, String)>> {
    let mut v = Vec::new();
    for piece in q.split('&') {
        if piece.is_empty() {
            continue;
        }
        let (k, val) = match piece.find('=') {
            Some(i) => (&piece[..i], &piece[i + 1..]),
            None => (piece, ""),
        };
        v.push((percent_decode(k, true)?, percent_decode(val, true)?));
    }
    Some(v)
}

/// Locks a mutex, ignoring poisoning (a panicking holder cannot corrupt these maps in a
/// way that matters to an emulator, and requests must never panic in turn).
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let t = parse_iso_basic("20231216T162057Z").expect("parse");
        assert_eq!(unix_secs(t), 1_702_743_657);
        assert_eq!(iso8601(t), "2023-12-16T16:20:57.000Z");
        assert!(parse_iso_basic("2023121XT162057Z").is_none());
        assert!(parse_any_date("Wed, 28 Dec 2022 10:27:41 GMT").is_some());
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert!(http_date(far).ends_with("9999 23:59:59 GMT"));
        assert!(!iso8601(far).is_empty());
    }

    #[test]
    fn percent() {
        assert_eq!(percent_decode("a%20b+c", false).as_deref(), Some("a b+c"));
        assert_eq!(percent_decode("a%20b+c", true).as_deref(), Some("a b c"));
        assert!(percent_decode("%zz", false).is_none());
        assert!(percent_decode("%4", false).is_none());
        assert!(percent_decode("%ff", false).is_none());
        assert_eq!(uri_encode("1234+-/123/1.txt", true), "1234%2B-/123/1.txt");
        assert_eq!(request_id().len(), 24);
        assert_eq!(upload_id().len(), 32);
    }
}
