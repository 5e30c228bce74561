//! CRC-64/XZ (`x-oss-hash-crc64ecma`): reflected polynomial `0xC96C5795D7870F42`,
//! init and xorout all ones. Digest by `crc-fast` (AVX-512/PCLMULQDQ at run time, table code elsewhere);
//! combining is our own zlib-style GF(2) operator, built once per length and reused ([`Shift`]).

use crc_fast::{CrcAlgorithm, Digest};

/// The reflected ECMA-182 polynomial.
pub const POLY: u64 = 0xC96C_5795_D787_0F42;

/// Streaming CRC-64/XZ.
#[derive(Clone)]
pub struct Crc64 {
    digest: Digest,
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc64 {
    pub fn new() -> Self {
        Crc64 {
            digest: Digest::new(CrcAlgorithm::Crc64Xz),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
    }

    /// The CRC of everything written so far (the digest may keep being updated).
    pub fn finish(&self) -> u64 {
        self.digest.finalize()
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

/// A 64x64 GF(2) matrix; column `i` is the image of bit `i`.
type Matrix = [u64; 64];

fn gf2_times(mat: &Matrix, mut vec: u64) -> u64 {
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

/// `a ∘ b` (apply `b`, then `a`).
fn gf2_compose(a: &Matrix, b: &Matrix) -> Matrix {
    let mut out = [0u64; 64];
    for (o, col) in out.iter_mut().zip(b.iter()) {
        *o = gf2_times(a, *col);
    }
    out
}

/// What appending `len` zero bytes does to a CRC: `combine(a, b, len) = shift(a) ^ b`. Building one costs
/// about as much as one zlib-style combine; applying it is one 64x64 product, so a whole object's CRC is
/// folded from thousands of equal-sized parts in microseconds.
#[derive(Clone)]
pub struct Shift {
    len: u64,
    op: Matrix,
}

impl Shift {
    pub fn new(len: u64) -> Self {
        let mut op = [0u64; 64];
        for (i, col) in op.iter_mut().enumerate() {
            *col = 1 << i;
        }
        // The operator for one zero bit: shift right, xor the polynomial when the low bit falls out.
        let mut power = [0u64; 64];
        power[0] = POLY;
        for (i, col) in power.iter_mut().enumerate().skip(1) {
            *col = 1 << (i - 1);
        }
        // Square three times: one zero byte.
        for _ in 0..3 {
            power = gf2_compose(&power, &power);
        }
        let mut rest = len;
        while rest != 0 {
            if rest & 1 != 0 {
                op = gf2_compose(&power, &op);
            }
            rest >>= 1;
            if rest != 0 {
                power = gf2_compose(&power, &power);
            }
        }
        Shift { len, op }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// `combine(crc1, crc2, self.len())`.
    pub fn combine(&self, crc1: u64, crc2: u64) -> u64 {
        gf2_times(&self.op, crc1) ^ crc2
    }
}

/// zlib-style combine: the CRC of `A || B` from `crc(A)`, `crc(B)` and `len(B)` in bytes (the reference
/// the tests check [`combine_all`] and [`Shift`] against).
#[cfg(test)]
pub fn combine(crc1: u64, crc2: u64, len2: u64) -> u64 {
    if len2 == 0 {
        return crc1;
    }
    Shift::new(len2).combine(crc1, crc2)
}

/// The CRC of a whole object from its parts' `(crc, len)` in order; one [`Shift`] per distinct length.
pub fn combine_all(parts: impl IntoIterator<Item = (u64, u64)>) -> u64 {
    let mut shift: Option<Shift> = None;
    let mut acc = 0u64;
    for (crc, len) in parts {
        if len == 0 {
            continue;
        }
        let s = match &shift {
            Some(s) if s.len() == len => s,
            _ => shift.insert(Shift::new(len)),
        };
        acc = s.combine(acc, crc);
    }
    acc
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
    fn combine_all_folds_parts_with_one_shift_per_length() {
        let data: Vec<u8> = (0..300_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let parts: Vec<(u64, u64)> = data
            .chunks(102_400)
            .map(|c| (crc64(c), c.len() as u64))
            .collect();
        assert_eq!(combine_all(parts), crc64(&data));
        assert_eq!(combine_all([]), 0);
        assert_eq!(combine_all([(crc64(S1), 9), (0, 0)]), crc64(S1));
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
