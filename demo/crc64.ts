// CRC-64/XZ (ECMA-182 polynomial, reflected; what OSS returns as x-oss-hash-crc64ecma), in plain JS so the
// demo checks the object against the file independently of the Rust code that uploaded it.
// Slicing-by-8 over two 32-bit halves (JS bit operations are 32-bit), a few hundred MB/s.
import { openSync, readSync, closeSync } from 'node:fs'

const POLY_HI = 0xc96c5795
const POLY_LO = 0xd7870f42

// T[k][b] for k = 0..7, split into high and low 32-bit halves.
const TH: Uint32Array[] = []
const TL: Uint32Array[] = []
for (let k = 0; k < 8; k++) {
  TH.push(new Uint32Array(256))
  TL.push(new Uint32Array(256))
}
for (let b = 0; b < 256; b++) {
  let hi = 0
  let lo = b
  for (let i = 0; i < 8; i++) {
    const odd = lo & 1
    lo = ((lo >>> 1) | (hi << 31)) >>> 0
    hi = hi >>> 1
    if (odd) {
      hi = (hi ^ POLY_HI) >>> 0
      lo = (lo ^ POLY_LO) >>> 0
    }
  }
  TH[0][b] = hi
  TL[0][b] = lo
}
for (let k = 1; k < 8; k++) {
  for (let b = 0; b < 256; b++) {
    const hi = TH[k - 1][b]
    const lo = TL[k - 1][b]
    const i = lo & 0xff
    TL[k][b] = (((lo >>> 8) | (hi << 24)) ^ TL[0][i]) >>> 0
    TH[k][b] = ((hi >>> 8) ^ TH[0][i]) >>> 0
  }
}

/** A running CRC-64/XZ. */
export class Crc64 {
  private hi = 0xffffffff
  private lo = 0xffffffff

  update(buf: Uint8Array): this {
    let hi = this.hi
    let lo = this.lo
    let i = 0
    const [T0h, T1h, T2h, T3h, T4h, T5h, T6h, T7h] = TH
    const [T0l, T1l, T2l, T3l, T4l, T5l, T6l, T7l] = TL
    // Whole 8-byte words through a Uint32Array view (little-endian, as on every platform Node runs on);
    // the view needs a 4-byte aligned start, so an unaligned buffer goes byte by byte.
    const words = buf.byteOffset % 4 === 0 ? new Uint32Array(buf.buffer, buf.byteOffset, (buf.length >>> 3) * 2) : null
    const nwords = words ? words.length : 0
    for (let w = 0; w < nwords; w += 2, i += 8) {
      const a = (lo ^ words![w]) >>> 0
      const b = (hi ^ words![w + 1]) >>> 0
      const a0 = a & 0xff,
        a1 = (a >>> 8) & 0xff,
        a2 = (a >>> 16) & 0xff,
        a3 = a >>> 24
      const b0 = b & 0xff,
        b1 = (b >>> 8) & 0xff,
        b2 = (b >>> 16) & 0xff,
        b3 = b >>> 24
      lo = (T7l[a0] ^ T6l[a1] ^ T5l[a2] ^ T4l[a3] ^ T3l[b0] ^ T2l[b1] ^ T1l[b2] ^ T0l[b3]) >>> 0
      hi = (T7h[a0] ^ T6h[a1] ^ T5h[a2] ^ T4h[a3] ^ T3h[b0] ^ T2h[b1] ^ T1h[b2] ^ T0h[b3]) >>> 0
    }
    for (; i < buf.length; i++) {
      const x = (lo ^ buf[i]) & 0xff
      lo = (((lo >>> 8) | (hi << 24)) ^ T0l[x]) >>> 0
      hi = ((hi >>> 8) ^ T0h[x]) >>> 0
    }
    this.hi = hi
    this.lo = lo
    return this
  }

  /** The CRC as OSS prints it: an unsigned 64-bit decimal. */
  digest(): string {
    return ((BigInt((this.hi ^ 0xffffffff) >>> 0) << 32n) | BigInt((this.lo ^ 0xffffffff) >>> 0)).toString()
  }
}

/** CRC-64/XZ of a whole file, read in 8 MiB chunks. */
export function crc64File(path: string): string {
  const crc = new Crc64()
  const buf = Buffer.allocUnsafe(8 * 1024 * 1024)
  const fd = openSync(path, 'r')
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null)
      if (n === 0) break
      crc.update(buf.subarray(0, n))
    }
  } finally {
    closeSync(fd)
  }
  return crc.digest()
}
