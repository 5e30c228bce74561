//! How a file is cut into parts: ali-oss's rules (1 MiB default, at least 102400 bytes, at most 10,000
//! parts), validated once, here.

use crate::error::Error;

/// Below this many bytes `multipartUpload` does a single `put`; also the smallest allowed part.
pub const MIN_PART_SIZE: u64 = 100 * 1024;
/// ali-oss's default part size.
pub const DEFAULT_PART_SIZE: u64 = 1024 * 1024;
/// OSS's limit on part numbers.
pub const MAX_PARTS: u64 = 10_000;
/// OSS's limit on one part.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// One part: number (1-based) and byte range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub number: u32,
    pub start: u64,
    pub end: u64,
}

impl Part {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }
}

/// Validates a requested part size exactly as ali-oss does (same messages), as a JS number.
pub fn check_part_size(requested: Option<f64>) -> Result<Option<u64>, Error> {
    let Some(size) = requested else {
        return Ok(None);
    };
    // ali-oss treats 0 (and other falsy values) as "not given".
    if size == 0.0 || size.is_nan() {
        return Ok(None);
    }
    if size.fract() != 0.0 || !size.is_finite() {
        return Err(Error::invalid("partSize must be int number"));
    }
    if size < MIN_PART_SIZE as f64 {
        return Err(Error::invalid(format!(
            "partSize must not be smaller than {MIN_PART_SIZE}"
        )));
    }
    if size > MAX_PART_SIZE as f64 {
        return Err(Error::invalid(format!(
            "partSize must not be larger than {MAX_PART_SIZE} (5 GiB, the OSS limit for one part)"
        )));
    }
    Ok(Some(size as u64))
}

/// The part size to use and, when the requested one was raised to stay within 10,000 parts, ali-oss's warning.
pub fn part_size(file_size: u64, requested: Option<u64>) -> (u64, Option<String>) {
    let size = requested.unwrap_or(DEFAULT_PART_SIZE);
    let safe = file_size.div_ceil(MAX_PARTS);
    if size < safe {
        let warning = format!(
            "partSize has been set to {safe}, because the partSize you provided causes partNumber to be greater than 10,000"
        );
        (safe, Some(warning))
    } else {
        (size, None)
    }
}

pub fn num_parts(file_size: u64, part_size: u64) -> u64 {
    if part_size == 0 {
        0
    } else {
        file_size.div_ceil(part_size)
    }
}

/// Part `number` of a file of `file_size` bytes cut at `part_size`.
pub fn part(file_size: u64, part_size: u64, number: u32) -> Part {
    let start = part_size * u64::from(number - 1);
    Part {
        number,
        start,
        end: (start + part_size).min(file_size),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_file_exactly() {
        let size = 3 * DEFAULT_PART_SIZE + 5;
        let n = num_parts(size, DEFAULT_PART_SIZE);
        assert_eq!(n, 4);
        let parts: Vec<Part> = (1..=n as u32)
            .map(|i| part(size, DEFAULT_PART_SIZE, i))
            .collect();
        assert_eq!(
            parts[0],
            Part {
                number: 1,
                start: 0,
                end: DEFAULT_PART_SIZE
            }
        );
        assert_eq!(parts[3].len(), 5);
        assert_eq!(parts.iter().map(Part::len).sum::<u64>(), size);
        assert_eq!(num_parts(MIN_PART_SIZE, MIN_PART_SIZE), 1);
    }

    #[test]
    fn part_size_is_raised_to_fit_ten_thousand_parts() {
        let (size, warn) = part_size(10_000 * MIN_PART_SIZE + 1, Some(MIN_PART_SIZE));
        assert_eq!(size, MIN_PART_SIZE + 1);
        assert!(warn
            .expect("warning")
            .starts_with("partSize has been set to 102401"));
        assert_eq!(
            part_size(5 * DEFAULT_PART_SIZE, None),
            (DEFAULT_PART_SIZE, None)
        );
    }

    #[test]
    fn requested_sizes_are_validated_with_ali_oss_messages() {
        assert_eq!(check_part_size(None).unwrap(), None);
        assert_eq!(check_part_size(Some(0.0)).unwrap(), None);
        assert_eq!(check_part_size(Some(204800.0)).unwrap(), Some(204800));
        let frac = check_part_size(Some(102400.5)).unwrap_err().to_string();
        assert_eq!(frac, "Error: partSize must be int number");
        let small = check_part_size(Some(1024.0)).unwrap_err().to_string();
        assert_eq!(small, "Error: partSize must not be smaller than 102400");
        assert!(check_part_size(Some(6.0 * 1024.0 * 1024.0 * 1024.0)).is_err());
    }
}
