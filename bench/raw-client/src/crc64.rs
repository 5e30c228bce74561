//! CRC-64/XZ (OSS's `x-oss-hash-crc64ecma`), slicing-by-8, used only to verify benchmark uploads
//! (outside any timed section).

use std::fs::File;
use std::io::{self, Read};

const POLY: u64 = 0xC96C_5795_D787_0F42;

fn tables() -> Vec<[u64; 256]> {
    let mut t = vec![[0u64; 256]; 8];
    for (i, slot) in t[0].iter_mut().enumerate() {
        let mut c = i as u64;
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
        }
        *slot = c;
    }
    for i in 0..256 {
        for k in 1..8 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
        }
    }
    t
}

pub struct Crc64 {
    t: Vec<[u64; 256]>,
    crc: u64,
}

impl Crc64 {
    pub fn new() -> Self {
        Crc64 {
            t: tables(),
            crc: !0,
        }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        let t = &self.t;
        let mut c = self.crc;
        while data.len() >= 8 {
            let v = c ^ u64::from_le_bytes([
                data[0], data[1], data[2], data[3], data[4], data[5], data[6], data[7],
            ]);
            c = t[7][(v & 0xff) as usize]
                ^ t[6][((v >> 8) & 0xff) as usize]
                ^ t[5][((v >> 16) & 0xff) as usize]
                ^ t[4][((v >> 24) & 0xff) as usize]
                ^ t[3][((v >> 32) & 0xff) as usize]
                ^ t[2][((v >> 40) & 0xff) as usize]
                ^ t[1][((v >> 48) & 0xff) as usize]
                ^ t[0][(v >> 56) as usize];
            data = &data[8..];
        }
        for &b in data {
            c = t[0][((c ^ b as u64) & 0xff) as usize] ^ (c >> 8);
        }
        self.crc = c;
    }

    pub fn finish(&self) -> u64 {
        !self.crc
    }
}

pub fn of_file(path: &str) -> io::Result<u64> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut crc = Crc64::new();
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(crc.finish());
        }
        crc.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        // The catalogue check value of CRC-64/XZ.
        let mut c = Crc64::new();
        c.update(b"123456789");
        assert_eq!(c.finish(), 0x995D_C9BB_DF19_39FA);
        // Split updates give the same result.
        let mut d = Crc64::new();
        d.update(b"1234");
        d.update(b"56789");
        assert_eq!(d.finish(), 0x995D_C9BB_DF19_39FA);
    }
}
