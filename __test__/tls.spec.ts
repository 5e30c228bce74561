// oss-turbo over HTTPS against the emulator (--tls-cert/--tls-key) with the test-only
// certificates of __test__/fixtures/tls: a private CA given in options.ca is trusted, and
// a refused certificate (no CA, an unknown CA, a wrong name) fails at once and clearly,
// without retries.
// Run: OSS_EMULATOR_BIN=… node --import tsx --test __test__/tls.spec.ts
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { Agent as HttpsAgent } from 'node:https'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'

import { startEmulator, type Emulator } from './helpers/emulator'
import { ali, makeData, rejection, sha256, sleep, turbo } from './helpers/util'

const FIXTURES = join(__dirname, 'fixtures', 'tls')
const CA = readFileSync(join(FIXTURES, 'ca.pem'), 'utf8')
const pair = (name: string) => ({ cert: join(FIXTURES, `${name}.pem`), key: join(FIXTURES, `${name}.key`) })

const PART = 100 * 1024

/** The ALPN protocol the emulator picks when offered h2 and http/1.1. */
function negotiated(emu: Emulator, servername = 'localhost'): Promise<string | false> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect(
      { host: '127.0.0.1', port: emu.port, servername, ca: CA, ALPNProtocols: ['h2', 'http/1.1'] },
      () => {
        const p = s.alpnProtocol
        s.end()
        resolve(p ?? false)
      },
    )
    s.on('error', reject)
  })
}

/** Uploads `size` bytes in 100 KiB parts and checks the stored bytes and the log. */
async function uploadAndCheck(emu: Emulator, client: any, name: string, size: number): Promise<void> {
  const data = makeData(size)
  const parts = Math.ceil(size / PART)
  await emu.clearLog()
  const res = await client.multipartUpload(name, data, { partSize: PART, parallel: 3 })
  assert.equal(res.res.status, 200)
  assert.match(res.etag, new RegExp(`^"[0-9A-F]{32}-${parts}"$`))
  const stored = await emu.getObject(name)
  assert.ok(stored, 'object stored')
  assert.equal(sha256(stored), sha256(data))
  const log = (await emu.log()).filter((e) => e.key === name)
  assert.deepEqual(
    log
      .filter((e) => e.api === 'UploadPart')
      .map((e) => [e.partNumber, e.status])
      .sort((a, b) => Number(a[0]) - Number(b[0])),
    Array.from({ length: parts }, (_, i) => [i + 1, 200]),
  )
  assert.equal(log.find((e) => e.api === 'CompleteMultipartUpload')?.status, 200)
}

/** A refused certificate: a clear RequestError at once, nothing retried, no request served. */
async function assertRefused(emu: Emulator, client: any, name: string, detail: RegExp): Promise<void> {
  const before = await emu.stats()
  await emu.clearLog()
  const t0 = Date.now()
  const err = await rejection(client.multipartUpload(name, makeData(3 * PART), { partSize: PART }))
  const took = Date.now() - t0
  assert.equal(err.name, 'RequestError', String(err))
  assert.equal(err.status, -1)
  assert.match(err.message, /the server's TLS certificate was refused/)
  assert.match(err.message, /options\.ca/)
  assert.match(err.message, detail)
  assert.ok(took < 2000, `rejected after ${took} ms (a retry with backoff would take longer)`)
  // The server sees the refused handshake (the client's alert) a moment later.
  let after = await emu.stats()
  for (let i = 0; i < 50 && after.tlsHandshakeFailures === before.tlsHandshakeFailures; i++) {
    await sleep(20)
    after = await emu.stats()
  }
  await sleep(200) // a retry, if any, would show up by now
  after = await emu.stats()
  assert.equal(after.tlsHandshakeFailures - before.tlsHandshakeFailures, 1, 'exactly one TLS attempt (no retry)')
  assert.equal(after.requests, before.requests, 'no OSS request reached the server')
  assert.deepEqual(await emu.log(), [])
  assert.equal(await emu.getObject(name), null)
}

describe('HTTPS with a certificate from the test CA (options.ca)', () => {
  let emu: Emulator

  before(async () => {
    emu = await startEmulator({ tls: pair('server') })
  })

  after(async () => {
    await emu?.stop()
  })

  it('the emulator says https:// and offers h2 then http/1.1 in ALPN', async () => {
    assert.equal(emu.endpoint, `https://127.0.0.1:${emu.port}`)
    assert.equal(await negotiated(emu), 'h2')
    assert.equal((await emu.stats()).tlsHandshakeFailures, 0)
  })

  for (const v4 of [false, true]) {
    it(`multipartUpload of 650 KB (7 parts) to https://127.0.0.1:PORT with ca as a PEM string, ${v4 ? 'V4' : 'V1'}`, async () => {
      const client = turbo(emu, { ca: CA, authorizationV4: v4 })
      await uploadAndCheck(emu, client, `tls/${v4 ? 'v4' : 'v1'}.bin`, 6 * PART + 12345)
    })
  }

  it('ca as a Buffer in an array, with secure: true (the https:// endpoint form)', async () => {
    // `secure` only picks the scheme of an endpoint given without one; the client, like
    // ali-oss, refuses `127.0.0.1:PORT` without a scheme, so the port needs https://.
    const client = turbo(emu, { ca: [Buffer.from(CA)], secure: true, authorizationV4: true })
    await uploadAndCheck(emu, client, 'tls/secure.bin', 3 * PART + 1)
  })

  it('https://localhost:PORT, path-style (sldEnable): the DNS name of the certificate', async () => {
    const client = turbo(emu, { ca: CA, endpoint: `https://localhost:${emu.port}`, sldEnable: true })
    await uploadAndCheck(emu, client, 'tls/localhost.bin', 2 * PART + 7)
  })

  it('ali-oss with an https.Agent that trusts the test CA (https://localhost, sldEnable)', async () => {
    // ali-oss sets Host (and so the TLS server name) to bucket.oss-…aliyuncs.com for an IP
    // endpoint; path-style on localhost keeps the name the certificate carries.
    const httpsAgent = new HttpsAgent({ ca: CA, keepAlive: true })
    try {
      const client = ali(emu, { endpoint: `https://localhost:${emu.port}`, sldEnable: true, httpsAgent })
      await uploadAndCheck(emu, client, 'tls/ali-oss.bin', 3 * PART + 5)
      const got = await client.get('tls/ali-oss.bin')
      assert.equal(sha256(got.content), sha256((await emu.getObject('tls/ali-oss.bin'))!))
    } finally {
      httpsAgent.destroy()
    }
  })

  it('without options.ca the certificate is refused: RequestError, status -1, no retry', async () => {
    await assertRefused(emu, turbo(emu), 'tls/no-ca.bin', /UnknownIssuer|unknown ?issuer|certificate/i)
  })

  it('the refusal is not retried even with retryMax 5', async () => {
    await assertRefused(emu, turbo(emu, { retryMax: 5 }), 'tls/no-ca-retry.bin', /certificate/i)
  })
})

describe('HTTPS with --http1-only', () => {
  let emu: Emulator

  before(async () => {
    emu = await startEmulator({ tls: pair('server'), args: ['--http1-only'] })
  })

  after(async () => {
    await emu?.stop()
  })

  it('ALPN gives http/1.1 and the upload works over it', async () => {
    assert.equal(await negotiated(emu), 'http/1.1')
    await uploadAndCheck(emu, turbo(emu, { ca: CA }), 'tls/h1.bin', 4 * PART)
  })
})

describe('refused certificates, even with the test CA in options.ca', () => {
  it('a server certificate from another (untrusted) CA', async () => {
    const emu = await startEmulator({ tls: pair('untrusted-server') })
    try {
      await assertRefused(emu, turbo(emu, { ca: CA }), 'tls/untrusted.bin', /UnknownIssuer|unknown ?issuer/i)
    } finally {
      await emu.stop()
    }
  })

  it('a certificate from the test CA for another name (other.example)', async () => {
    const emu = await startEmulator({ tls: pair('wrong-name') })
    try {
      await assertRefused(emu, turbo(emu, { ca: CA }), 'tls/wrong-name.bin', /NotValidForName|not valid for name/i)
    } finally {
      await emu.stop()
    }
  })
})

describe('the emulator refuses bad TLS flags clearly', () => {
  it('a missing key file, or a key that does not match the certificate', async () => {
    await assert.rejects(
      startEmulator({ tls: { cert: pair('server').cert, key: join(FIXTURES, 'missing.key') } }),
      /exited before listening[\s\S]*--tls-key/,
    )
    await assert.rejects(
      startEmulator({ tls: { cert: pair('server').cert, key: pair('wrong-name').key } }),
      /exited before listening[\s\S]*cannot be used together/,
    )
  })
})
