//! CRC-64/XZ (OSS's `x-oss-hash-crc64ecma`): the digest comes from `crc64fast`, the
//! combine (CRC of a concatenation from the parts' CRCs and lengths) is zlib's
//! GF(2) matrix method, written here for the reflected ECMA polynomial.

/// Reflected ECMA-182 polynomial.
const POLY: u64 = 0xC96C_5795_D787_0F42;

/// Streaming CRC-64/XZ.
pub struct Crc64(crc64fast::Digest);

impl Crc64 {
    pub fn new() -> Self {
        Crc64(crc64fast::Digest::new())
    }
    pub fn update(&mut self, data: &[u8]) {
        self.0.write(data);
    }
    pub fn finish(&self) -> u64 {
        self.0.sum64()
    }
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

/// CRC-64/XZ of a buffer in one go.
#[cfg(test)]
pub fn crc64(data: &[u8]) -> u64 {
    let mut c = Crc64::new();
    c.update(data);
    c.finish()
}

fn gf2_times(mat: &[u64; 64], mut vec: u64) -> u64 {
    let mut sum = 0u64;
    let mut i = 0usize;
    while vec != 0 {
        if vec & 1 != 0 {
            sum ^= mat[i];
        }
        vec >>= 1;
        i += 1;
    }
    sum
}

fn gf2_square(square: &mut [u64; 64], mat: &[u64; 64]) {
    for n in 0..64 {
        square[n] = gf2_times(mat, mat[n]);
    }
}

/// CRC of `A ‖ B` from `crc1 = CRC(A)`, `crc2 = CRC(B)` and `len2 = |B|`.
pub fn crc64_combine(mut crc1: u64, crc2: u64, mut len2: u64) -> u64 {
    if len2 == 0 {
        return crc1;
    }
    let mut even = [0u64; 64];
    let mut odd = [0u64; 64];
    // Operator for one zero bit.
    odd[0] = POLY;
    let mut row = 1u64;
    for slot in odd.iter_mut().skip(1) {
        *slot = row;
        row <<= 1;
    }
    gf2_square(&mut even, &odd); // two zero bits
    gf2_square(&mut odd, &even); // four zero bits
    loop {
        gf2_square(&mut even, &odd); // first pass: one zero byte
        if len2 & 1 != 0 {
            crc1 = gf2_times(&even, crc1);
        }
        len2 >>= 1;
        if len2 == 0 {
            break;
        }
        gf2_square(&mut odd, &even);
        if len2 & 1 != 0 {
            crc1 = gf2_times(&odd, crc1);
        }
        len2 >>= 1;
        if len2 == 0 {
            break;
        }
    }
    crc1 ^ crc2
}

/// Folds `(crc, len)` pairs in order into the CRC of their concatenation.
pub fn crc64_concat<I: IntoIterator<Item = (u64, u64)>>(parts: I) -> u64 {
    parts
        .into_iter()
        .fold(0u64, |acc, (crc, len)| crc64_combine(acc, crc, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[u8] = b"123456789";
    const B: &[u8] = b"This is a test of the emergency broadcast system.";

    #[test]
    fn check_values() {
        assert_eq!(crc64(A), 0x995D_C9BB_DF19_39FA);
        assert_eq!(crc64(A), 11_051_210_869_376_104_954);
        assert_eq!(crc64(B), 0x27DB_187F_C15B_BC72);
        let ab = [A, B].concat();
        assert_eq!(crc64(&ab), 0x6A7A_A19F_CBF4_8688);
        assert_eq!(crc64(b""), 0);
        assert_eq!(crc64(b"hello world!"), 0x8483_C0FA_3260_7D61);
    }

    #[test]
    fn combine_matches_spec() {
        assert_eq!(
            crc64_combine(crc64(A), crc64(B), B.len() as u64),
            0x6A7A_A19F_CBF4_8688
        );
        assert_eq!(crc64_combine(crc64(A), 0, 0), crc64(A));
        assert_eq!(crc64_combine(0, crc64(B), B.len() as u64), crc64(B));
        assert_eq!(
            crc64_concat([(crc64(A), A.len() as u64), (crc64(B), B.len() as u64)]),
            0x6A7A_A19F_CBF4_8688
        );
    }

    #[test]
    fn combine_many_parts() {
        let data: Vec<u8> = (0..300_001u32).map(|i| (i * 31 % 251) as u8).collect();
        let small = &data[..2_001];
        for size in [1usize, 7, 13] {
            let parts = small.chunks(size).map(|c| (crc64(c), c.len() as u64));
            assert_eq!(crc64_concat(parts), crc64(small), "part size {size}");
        }
        for size in [4096usize, 100_000, 102_400, 300_001] {
            let parts = data
                .chunks(size)
                .map(|c| (crc64(c), c.len() as u64))
                .collect::<Vec<_>>();
            assert_eq!(crc64_concat(parts), crc64(&data), "part size {size}");
        }
    }
}

#[cfg(test)]
mod speed {
    /// `cargo test --release -p oss-emulator -- --ignored crc_speed --nocapture`
    #[test]
    #[ignore]
    fn crc_speed() {
        let data = vec![7u8; 256 << 20];
        let t = std::time::Instant::now();
        let mut c = super::Crc64::new();
        for chunk in data.chunks(400 << 10) {
            c.update(chunk);
        }
        let secs = t.elapsed().as_secs_f64();
        println!("crc64fast: {:.2} GiB/s ({:x})", 0.25 / secs, c.finish());
    }
}
