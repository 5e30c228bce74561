//! CRC-64/XZ (`x-oss-hash-crc64ecma`): reflected polynomial `0xC96C5795D7870F42`,
//! init and xorout all ones. Digest by `crc64fast` (SIMD); `combine` is our own
//! zlib-style GF(2) matrix implementation.

/// The reflected ECMA-182 polynomial.
pub const POLY: u64 = 0xC96C_5795_D787_0F42;

/// Streaming CRC-64/XZ.
#[derive(Clone, Default)]
pub struct Crc64 {
    digest: crc64fast::Digest,
}

impl Crc64 {
    pub fn new() -> Self {
        Crc64 {
            digest: crc64fast::Digest::new(),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.digest.write(bytes);
    }

    /// The CRC of everything written so far (the digest may keep being updated).
    pub fn finish(&self) -> u64 {
        self.digest.sum64()
    }
}

impl std::fmt::Debug for Crc64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crc64({})", self.finish())
    }
}

/// CRC-64/XZ of a buffer.
pub fn crc64(bytes: &[u8]) -> u64 {
    let mut c = Crc64::new();
    c.update(bytes);
    c.finish()
}

/// Multiplies the 64x64 GF(2) matrix `mat` (column `i` = image of bit `i`) by `vec`.
fn gf2_times(mat: &[u64; 64], mut vec: u64) -> u64 {
    let mut sum = 0u64;
    let mut i = 0;
    while vec != 0 {
        if vec & 1 != 0 {
            sum ^= mat[i];
        }
        vec >>= 1;
        i += 1;
    }
    sum
}

/// `square = mat * mat`.
fn gf2_square(square: &mut [u64; 64], mat: &[u64; 64]) {
    for (n, out) in square.iter_mut().enumerate() {
        *out = gf2_times(mat, mat[n]);
    }
}

/// zlib-style combine: the CRC of `A || B` from `crc(A)`, `crc(B)` and `len(B)` in bytes.
/// Runs in O(log len2) 64x64 matrix squarings.
pub fn combine(mut crc1: u64, crc2: u64, mut len2: u64) -> u64 {
    if len2 == 0 {
        return crc1;
    }
    // Operator for one zero bit: shift right, xor the polynomial when the low bit falls out.
    let mut odd = [0u64; 64];
    odd[0] = POLY;
    let mut row = 1u64;
    for slot in odd.iter_mut().skip(1) {
        *slot = row;
        row <<= 1;
    }
    let mut even = [0u64; 64];
    gf2_square(&mut even, &odd); // two zero bits
    gf2_square(&mut odd, &even); // four zero bits

    // Apply len2 zero bytes to crc1, squaring the operator for each bit of len2
    // (the first squaring gives the operator for one zero byte).
    loop {
        gf2_square(&mut even, &odd);
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

#[cfg(test)]
mod tests {
    use super::*;

    const S1: &[u8] = b"123456789";
    const S2: &[u8] = b"This is a test of the emergency broadcast system.";

    #[test]
    fn known_values() {
        assert_eq!(crc64(S1), 0x995D_C9BB_DF19_39FA);
        assert_eq!(crc64(S1), 11_051_210_869_376_104_954);
        assert_eq!(crc64(S2), 0x27DB_187F_C15B_BC72);
        let both = [S1, S2].concat();
        assert_eq!(crc64(&both), 0x6A7A_A19F_CBF4_8688);
        assert_eq!(crc64(b""), 0);
        assert_eq!(Crc64::new().finish(), 0);
        assert_eq!(Crc64::default().finish(), 0);
        assert_eq!(crc64(b"hello world!"), 0x8483_C0FA_3260_7D61);
    }

    #[test]
    fn combine_known() {
        assert_eq!(
            combine(crc64(S1), crc64(S2), S2.len() as u64),
            0x6A7A_A19F_CBF4_8688
        );
        assert_eq!(combine(0x1234, crc64(b""), 0), 0x1234);
        assert_eq!(combine(crc64(S1), 0, 0), crc64(S1));
        // empty first part: folding from 0 gives the second CRC
        assert_eq!(combine(0, crc64(S2), S2.len() as u64), crc64(S2));
        // huge lengths terminate quickly and do not panic
        let _ = combine(crc64(S1), crc64(S2), u64::MAX);
    }

    #[test]
    fn streaming_equals_one_shot() {
        let mut c = Crc64::new();
        for chunk in S2.chunks(7) {
            c.update(chunk);
        }
        assert_eq!(c.finish(), crc64(S2));
        // finish does not consume
        c.update(b"");
        assert_eq!(c.finish(), crc64(S2));
    }

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
    }

    #[test]
    fn property_random_splits() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut buf = vec![0u8; 300_000];
        for b in buf.iter_mut() {
            *b = rng.next() as u8;
        }
        let whole = crc64(&buf);
        for _ in 0..40 {
            // split into 1..=12 random pieces (some possibly empty), fold from 0 in order
            let pieces = 1 + (rng.next() % 12) as usize;
            let mut cuts: Vec<usize> = (0..pieces - 1)
                .map(|_| (rng.next() % (buf.len() as u64 + 1)) as usize)
                .collect();
            cuts.push(0);
            cuts.push(buf.len());
            cuts.sort_unstable();
            let mut acc = 0u64;
            for w in cuts.windows(2) {
                let part = &buf[w[0]..w[1]];
                acc = combine(acc, crc64(part), part.len() as u64);
            }
            assert_eq!(acc, whole);
        }
        // a pairwise split at every small offset
        let small = &buf[..257];
        for cut in 0..=small.len() {
            let (a, b) = small.split_at(cut);
            assert_eq!(combine(crc64(a), crc64(b), b.len() as u64), crc64(small));
        }
    }
}
