// The emulator proven against the real ali-oss 6.23.0 client (V1 and V4 signatures),
// plus raw requests for what ali-oss cannot send, and every fault action.
// Run: OSS_EMULATOR_BIN=… node --import tsx --test __test__/emulator.spec.ts
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, request as httpRequest, type Server } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import {
  startEmulator,
  type Emulator,
  type LogEntry,
  TEST_AK,
  TEST_BUCKET,
  TEST_REGION,
  TEST_SK,
} from './helpers/emulator'

// @types/ali-oss is not installed: the tests use its runtime surface only.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const OSS: any = require('ali-oss')

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

// CRC-64/XZ (OSS x-oss-hash-crc64ecma), table-driven on two 32-bit halves.
const CRC_LO = new Uint32Array(256)
const CRC_HI = new Uint32Array(256)
{
  const poly = 0xc96c5795d7870f42n
  for (let i = 0; i < 256; i++) {
    let c = BigInt(i)
    for (let k = 0; k < 8; k++) c = c & 1n ? (c >> 1n) ^ poly : c >> 1n
    CRC_LO[i] = Number(c & 0xffffffffn)
    CRC_HI[i] = Number(c >> 32n)
  }
}
function crc64(buf: Buffer): string {
  let lo = 0xffffffff
  let hi = 0xffffffff
  for (let i = 0; i < buf.length; i++) {
    const idx = (lo ^ buf[i]) & 0xff
    lo = (((lo >>> 8) | ((hi & 0xff) << 24)) ^ CRC_LO[idx]) >>> 0
    hi = ((hi >>> 8) ^ CRC_HI[idx]) >>> 0
  }
  return ((BigInt((hi ^ 0xffffffff) >>> 0) << 32n) | BigInt((lo ^ 0xffffffff) >>> 0)).toString()
}

function client(emu: Emulator, v4: boolean, extra: Record<string, unknown> = {}): any {
  return new OSS({
    accessKeyId: TEST_AK,
    accessKeySecret: TEST_SK,
    bucket: TEST_BUCKET,
    region: TEST_REGION,
    endpoint: emu.endpoint,
    authorizationV4: v4,
    ...extra,
  })
}

async function rejects(p: Promise<unknown>): Promise<any> {
  try {
    await p
  } catch (e) {
    return e
  }
  throw new Error('expected a rejection')
}

/** A tiny V1 signer for raw path-style requests (test side, independent of the emulator). */
function signV1(method: string, resource: string, headers: Record<string, string>): Record<string, string> {
  const date = new Date().toUTCString()
  const h: Record<string, string> = { ...headers, 'x-oss-date': date }
  const oss = Object.keys(h)
    .filter((k) => k.toLowerCase().startsWith('x-oss-'))
    .sort()
    .map((k) => `${k.toLowerCase()}:${h[k].trim()}\n`)
    .join('')
  const sts = `${method}\n${h['content-md5'] ?? ''}\n${h['content-type'] ?? ''}\n${date}\n${oss}${resource}`
  h.authorization = `OSS ${TEST_AK}:${createHmac('sha1', TEST_SK).update(sts).digest('base64')}`
  return h
}

/** Sends raw bytes over TCP and returns the response head (status line + headers). */
function rawHttp(port: number, request: Buffer | string, closeAfterWrite = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1')
    let data = ''
    s.on('data', (d) => {
      data += d.toString('latin1')
    })
    s.on('error', (e) => (data ? resolve(data) : reject(e)))
    s.on('close', () => resolve(data))
    s.on('connect', () => {
      s.write(request, () => {
        if (closeAfterWrite) s.end()
      })
    })
    setTimeout(() => s.destroy(), 3000)
  })
}

/** The log entry of `key` (waiting up to `ms` for it), or undefined. */
async function entryFor(key: string, ms = 3000): Promise<LogEntry | undefined> {
  const until = Date.now() + ms
  for (;;) {
    const e = (await emu.log()).find((x) => x.key === key)
    if (e || Date.now() > until) return e
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** A local callback server: records the bodies it gets and answers with `answer()`. */
async function callbackServer(answer: (body: string) => [number, string]) {
  const bodies: string[] = []
  const types: string[] = []
  const server: Server = createServer((req, res) => {
    let b = ''
    req.on('data', (d) => (b += d))
    req.on('end', () => {
      bodies.push(b)
      types.push(String(req.headers['content-type']))
      const [status, text] = answer(b)
      res.writeHead(status, { 'content-type': 'application/json' }).end(text)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const url = `http://127.0.0.1:${(server.address() as any).port}/cb`
  return { bodies, types, url, close: () => new Promise<void>((r) => server.close(() => r())) }
}

let emu: Emulator
let dir: string

before(async () => {
  emu = await startEmulator({ args: ['--sts-token', 'sts-ak:sts-sk:sts-token-value'] })
  dir = mkdtempSync(join(tmpdir(), 'oss-emu-spec-'))
})

after(async () => {
  await emu?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

for (const v4 of [false, true]) {
  describe(`ali-oss against the emulator, ${v4 ? 'V4' : 'V1'} signatures`, () => {
    const tag = v4 ? 'v4' : 'v1'

    it('multipartUpload of a file (parallel parts) with meta, mime and headers visible on HEAD', async () => {
      const c = client(emu, v4)
      const data = randomBytes(3 * 1024 * 1024 + 12345)
      const file = join(dir, `${tag}-upload.txt`)
      writeFileSync(file, data)
      const name = `${tag}/dir with space/file+plus.txt`
      const progress: number[] = []
      const res = await c.multipartUpload(name, file, {
        partSize: 512 * 1024,
        parallel: 4,
        meta: { owner: 'alice', run: tag },
        headers: {
          'Cache-Control': 'no-cache',
          'Content-Disposition': 'attachment; filename="x.txt"',
          'x-oss-storage-class': 'IA',
          'x-oss-tagging': 'a=1&b=2',
        },
        progress: (p: number) => {
          progress.push(p)
        },
      })
      assert.equal(res.res.status, 200)
      assert.match(res.etag, /^"[0-9A-F]{32}-7"$/)
      assert.equal(progress.length, 9)
      const head = await c.head(name)
      const h = head.res.headers
      assert.equal(h['x-oss-object-type'], 'Multipart')
      assert.equal(h['content-type'], 'text/plain')
      assert.equal(h['x-oss-meta-owner'], 'alice')
      assert.equal(h['x-oss-meta-run'], tag)
      assert.equal(h['cache-control'], 'no-cache')
      assert.equal(h['content-disposition'], 'attachment; filename="x.txt"')
      assert.equal(h['x-oss-storage-class'], 'IA')
      assert.equal(h['x-oss-tagging'], 'a=1&b=2')
      assert.equal(h['content-length'], String(data.length))
      assert.equal(h['x-oss-hash-crc64ecma'], crc64(data))
      assert.equal(h.etag, res.etag)
      const got = await c.get(name)
      assert.equal(sha256(got.content), sha256(data))
      const raw = await emu.getObject(name)
      assert.ok(raw)
      assert.equal(sha256(raw), sha256(data))
      // Parts arrive in parallel; the log saw them all with their part numbers.
      const parts = (await emu.log()).filter((e) => e.api === 'UploadPart' && e.key === name)
      assert.deepEqual(
        parts.map((e) => e.partNumber).sort((a, b) => (a ?? 0) - (b ?? 0)),
        [1, 2, 3, 4, 5, 6, 7],
      )
      assert.ok(parts.every((e) => e.headers.authorization === undefined))
    })

    it('multipartUpload of a Buffer, read back byte for byte', async () => {
      const c = client(emu, v4)
      const data = randomBytes(1024 * 1024 + 7)
      const name = `${tag}/buffer.bin`
      const res = await c.multipartUpload(name, data, { partSize: 256 * 1024, parallel: 3, mime: 'application/x-test' })
      assert.match(res.etag, /^"[0-9A-F]{32}-5"$/)
      const head = await c.head(name)
      assert.equal(head.res.headers['content-type'], 'application/x-test')
      assert.equal(head.res.headers['x-oss-hash-crc64ecma'], crc64(data))
      const got = await c.get(name)
      assert.equal(sha256(got.content), sha256(data))
      assert.equal(sha256((await emu.getObject(name)) as Buffer), sha256(data))
    })

    it('put / get (with Range) / head / delete', async () => {
      const c = client(emu, v4)
      const data = randomBytes(5000)
      const name = `${tag}/small.bin`
      const put = await c.put(name, data, { headers: { 'x-oss-meta-k': 'v' } })
      const md5 = createHash('md5').update(data).digest()
      assert.equal(put.res.headers.etag, `"${md5.toString('hex').toUpperCase()}"`)
      assert.equal(put.res.headers['content-md5'], md5.toString('base64'))
      assert.equal(put.res.headers['x-oss-hash-crc64ecma'], crc64(data))
      const head = await c.head(name)
      assert.equal(head.res.headers['x-oss-object-type'], 'Normal')
      assert.equal(head.res.headers['x-oss-meta-k'], 'v')
      assert.equal(head.meta.k, 'v')
      const got = await c.get(name)
      assert.equal(sha256(got.content), sha256(data))
      const part = await c.get(name, { headers: { Range: 'bytes=100-199' } })
      assert.equal(part.res.status, 206)
      assert.equal(sha256(part.content), sha256(data.subarray(100, 200)))
      await c.delete(name)
      const err = await rejects(c.head(name))
      assert.equal(err.status, 404)
      assert.equal(err.name, 'NoSuchKeyError')
      const err2 = await rejects(c.get(name))
      assert.equal(err2.code, 'NoSuchKey')
      assert.ok(err2.requestId)
    })

    it('listParts (paged), listUploads (paged), abortMultipartUpload', async () => {
      const c = client(emu, v4)
      const name = `${tag}/listed.bin`
      const file = join(dir, `${tag}-parts.bin`)
      const data = randomBytes(5 * 102400)
      writeFileSync(file, data)
      const init = await c.initMultipartUpload(name)
      const id = init.uploadId
      const other = (await c.initMultipartUpload(name)).uploadId
      for (let n = 1; n <= 5; n++) {
        await c.uploadPart(name, id, n, file, (n - 1) * 102400, n * 102400)
      }
      const p1 = await c.listParts(name, id, { 'max-parts': 2 })
      assert.equal(p1.parts.length, 2)
      assert.equal(String(p1.isTruncated), 'true') // ali-oss passes the XML text through
      assert.equal(p1.nextPartNumberMarker, '2')
      assert.equal(p1.parts[0].PartNumber, '1')
      assert.equal(p1.parts[0].Size, '102400')
      assert.equal(p1.parts[0].HashCrc64ecma, crc64(data.subarray(0, 102400)))
      const p2 = await c.listParts(name, id, { 'max-parts': 10, 'part-number-marker': 2 })
      assert.deepEqual(
        p2.parts.map((p: any) => p.PartNumber),
        ['3', '4', '5'],
      )
      assert.equal(String(p2.isTruncated), 'false')
      const u1 = await c.listUploads({ prefix: `${tag}/listed`, 'max-uploads': 1 })
      assert.equal(u1.uploads.length, 1)
      assert.equal(u1.isTruncated, true)
      assert.equal(u1.uploads[0].uploadId, id)
      const u2 = await c.listUploads({
        prefix: `${tag}/listed`,
        'key-marker': u1.nextKeyMarker,
        'upload-id-marker': u1.nextUploadIdMarker,
      })
      assert.deepEqual(
        u2.uploads.map((u: any) => u.uploadId),
        [other],
      )
      const ab = await c.abortMultipartUpload(name, id)
      assert.equal(ab.res.status, 204)
      await c.abortMultipartUpload(name, other)
      const err = await rejects(c.listParts(name, id))
      assert.equal(err.status, 404)
      assert.equal(err.code, 'NoSuchUpload')
      const left = await c.listUploads({ prefix: `${tag}/listed` })
      assert.equal(left.uploads.length, 0)
    })

    it('resumes from a checkpoint after an injected part failure', async () => {
      const c = client(emu, v4)
      const name = `${tag}/resumed.bin`
      const data = randomBytes(6 * 102400 + 99)
      const file = join(dir, `${tag}-resume.bin`)
      writeFileSync(file, data)
      await emu.addFault({
        api: 'UploadPart',
        key: name,
        partNumber: 4,
        action: { type: 'error', status: 503, code: 'ServiceUnavailable' },
      })
      let checkpoint: any
      const err = await rejects(
        c.multipartUpload(name, file, {
          partSize: 102400,
          parallel: 1,
          progress: (_p: number, cpt: any) => {
            if (cpt) checkpoint = cpt
          },
        }),
      )
      assert.equal(err.status, 503)
      assert.equal(err.name, 'ServiceUnavailableError')
      assert.equal(checkpoint.doneParts.length, 3)
      await emu.clearLog()
      const res = await c.multipartUpload(name, file, { checkpoint, partSize: 102400, parallel: 2 })
      assert.equal(res.res.status, 200)
      const log = await emu.log()
      assert.deepEqual(
        log
          .filter((e) => e.api === 'UploadPart')
          .map((e) => e.partNumber)
          .sort(),
        [4, 5, 6, 7],
      )
      assert.equal(sha256((await emu.getObject(name)) as Buffer), sha256(data))
    })

    it('STS: temporary credentials from --sts-token and addCredentials; expiry', async () => {
      const sts = client(emu, v4, { accessKeyId: 'sts-ak', accessKeySecret: 'sts-sk', stsToken: 'sts-token-value' })
      const data = randomBytes(200 * 1024)
      await sts.multipartUpload(`${tag}/sts.bin`, data, { partSize: 102400 })
      assert.equal(sha256((await emu.getObject(`${tag}/sts.bin`)) as Buffer), sha256(data))
      const wrong = client(emu, v4, { accessKeyId: 'sts-ak', accessKeySecret: 'sts-sk', stsToken: 'stolen' })
      const e1 = await rejects(wrong.put(`${tag}/x`, Buffer.from('x')))
      assert.equal(e1.status, 403)
      assert.equal(e1.code, 'InvalidSecurityToken')
      // 1 s of validity: room for the first put on a loaded machine.
      await emu.addCredentials({
        accessKeyId: `tmp-${tag}`,
        accessKeySecret: 'tmp-sk',
        securityToken: 'tok',
        expiresInMs: 1000,
      })
      const tmp = client(emu, v4, { accessKeyId: `tmp-${tag}`, accessKeySecret: 'tmp-sk', stsToken: 'tok' })
      await tmp.put(`${tag}/tmp.txt`, Buffer.from('ok'))
      await new Promise((r) => setTimeout(r, 1100))
      const e2 = await rejects(tmp.put(`${tag}/tmp.txt`, Buffer.from('late')))
      assert.equal(e2.status, 403)
      assert.equal(e2.code, 'SecurityTokenExpired')
    })

    it('a wrong secret gets SignatureDoesNotMatchError (403, requestId); unknown AK InvalidAccessKeyId', async () => {
      const bad = client(emu, v4, { accessKeySecret: 'not-the-secret' })
      const e = await rejects(bad.put(`${tag}/denied.txt`, Buffer.from('no')))
      assert.equal(e.name, 'SignatureDoesNotMatchError')
      assert.equal(e.status, 403)
      assert.match(e.requestId, /^[0-9A-F]{24}$/)
      assert.equal(await emu.getObject(`${tag}/denied.txt`), null)
      const h = await rejects(bad.head(`${tag}/small.bin`))
      assert.equal(h.status, 403)
      assert.equal(h.code, 'SignatureDoesNotMatch') // decoded from x-oss-err
      const unknown = client(emu, v4, { accessKeyId: 'who' })
      const e2 = await rejects(unknown.put(`${tag}/denied.txt`, Buffer.from('no')))
      assert.equal(e2.code, 'InvalidAccessKeyId')
    })

    it('Complete rules: EntityTooSmall, InvalidPart, InvalidPartOrder; complete-all', async () => {
      const c = client(emu, v4)
      const name = `${tag}/rules.bin`
      const file = join(dir, `${tag}-rules.bin`)
      const data = randomBytes(102400 + 10)
      writeFileSync(file, data)
      const id = (await c.initMultipartUpload(name)).uploadId
      const p1 = await c.uploadPart(name, id, 1, file, 0, 10)
      const p2 = await c.uploadPart(name, id, 2, file, 10, 20)
      const small = await rejects(
        c.completeMultipartUpload(name, id, [
          { number: 1, etag: p1.etag },
          { number: 2, etag: p2.etag },
        ]),
      )
      assert.equal(small.status, 400)
      assert.equal(small.code, 'EntityTooSmall')
      const badTag = await rejects(
        c.completeMultipartUpload(name, id, [{ number: 1, etag: '"00000000000000000000000000000000"' }]),
      )
      assert.equal(badTag.code, 'InvalidPart')
      const missing = await rejects(c.completeMultipartUpload(name, id, [{ number: 3, etag: p1.etag }]))
      assert.equal(missing.code, 'InvalidPart')
      // ali-oss sorts the list itself, so send an out-of-order body through its own
      // signed request path.
      const p = c._objectRequestParams('POST', name, { subres: { uploadId: id } })
      p.mime = 'xml'
      p.content =
        '<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUpload>\n' +
        `<Part><PartNumber>2</PartNumber><ETag>${p2.etag}</ETag></Part>` +
        `<Part><PartNumber>1</PartNumber><ETag>${p1.etag.replace(/"/g, '&quot;')}</ETag></Part>` +
        '</CompleteMultipartUpload>'
      p.successStatuses = [200]
      const order = await rejects(c.request(p))
      assert.equal(order.code, 'InvalidPartOrder')
      // Re-upload part 1 at full size, then complete all uploaded parts with an empty body.
      await c.uploadPart(name, id, 1, file, 0, 102400)
      const junk = c._objectRequestParams('POST', name, { subres: { uploadId: id } })
      junk.mime = 'xml'
      junk.content = '<CompleteMultipartUpload><Part><PartNumber>1'
      junk.successStatuses = [200]
      const malformed = await rejects(c.request(junk))
      assert.equal(malformed.code, 'MalformedXML')
      const all = c._objectRequestParams('POST', name, {
        subres: { uploadId: id },
        headers: { 'x-oss-complete-all': 'yes' },
      })
      all.query = { 'encoding-type': 'url' }
      all.successStatuses = [200]
      all.xmlResponse = true
      const done = await c.request(all)
      assert.match(done.res.headers.etag, /^"[0-9A-F]{32}-2"$/)
      assert.equal(done.data.EncodingType, 'url')
      assert.equal(done.data.Key, encodeURIComponent(name))
      assert.equal(done.data.ETag, done.res.headers.etag)
      const expected = Buffer.concat([data.subarray(0, 102400), data.subarray(10, 20)])
      assert.equal(sha256((await emu.getObject(name)) as Buffer), sha256(expected))
      assert.equal(done.res.headers['x-oss-hash-crc64ecma'], crc64(expected))
    })
  })
}

describe('faults, control API and raw protocol checks', () => {
  it('error fault: the client sees the injected OSS error; nothing stored', async () => {
    const c = client(emu, false)
    await emu.addFault({
      api: 'PutObject',
      key: 'f/error.txt',
      action: { type: 'error', status: 503, code: 'ServiceUnavailable', message: 'try later' },
    })
    const e = await rejects(c.put('f/error.txt', Buffer.from('x')))
    assert.equal(e.status, 503)
    assert.equal(e.code, 'ServiceUnavailable')
    assert.equal(e.message, 'try later')
    assert.equal(await emu.getObject('f/error.txt'), null)
    await c.put('f/error.txt', Buffer.from('x')) // times: 1 → the next one passes
    const log = (await emu.log()).filter((x) => x.key === 'f/error.txt')
    assert.deepEqual(
      log.map((x) => [x.status, x.fault]),
      [
        [503, 'error'],
        [200, null],
      ],
    )
  })

  it('nth / times select which matching requests fail', async () => {
    const c = client(emu, true)
    await emu.addFault({
      api: 'HeadObject',
      key: 'f/nth.txt',
      nth: 2,
      times: 2,
      action: { type: 'error', status: 500, code: 'InternalError' },
    })
    await c.put('f/nth.txt', Buffer.from('x'))
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) {
      try {
        await c.head('f/nth.txt')
        statuses.push(200)
      } catch (e: any) {
        statuses.push(e.status)
      }
    }
    assert.deepEqual(statuses, [200, 500, 500, 200])
  })

  it('reset fault: the connection drops mid-body and the part is not stored', async () => {
    const c = client(emu, false)
    const name = 'f/reset.bin'
    const id = (await c.initMultipartUpload(name)).uploadId
    const file = join(dir, 'reset.bin')
    writeFileSync(file, randomBytes(300 * 1024))
    await emu.addFault({ api: 'UploadPart', uploadId: id, action: { type: 'reset', afterBytes: 65536 } })
    const e = await rejects(c.uploadPart(name, id, 1, file, 0, 300 * 1024))
    assert.ok(e.status === -1 || /ECONNRESET|socket hang up|EPIPE/.test(String(e.message)), String(e))
    const parts = await c.listParts(name, id)
    assert.equal((parts.parts ?? []).length, 0)
    const entry = (await emu.log()).find((x) => x.fault === 'reset')
    assert.ok(entry && entry.bytes >= 65536)
    await c.uploadPart(name, id, 1, file, 0, 300 * 1024)
    const one = (await c.listParts(name, id)).parts // xml2js: a single <Part> is an object
    assert.equal([one].flat().length, 1)
  })

  it('delay and stall faults slow the request down but let it succeed', async () => {
    const c = client(emu, true)
    await emu.addFault({ api: 'PutObject', key: 'f/delay.txt', action: { type: 'delay', ms: 400 } })
    let t = Date.now()
    await c.put('f/delay.txt', Buffer.from('delayed'))
    assert.ok(Date.now() - t >= 380, `delay took ${Date.now() - t} ms`)
    await emu.addFault({ api: 'PutObject', key: 'f/stall.txt', action: { type: 'stall', ms: 400 } })
    t = Date.now()
    const data = randomBytes(200 * 1024)
    await c.put('f/stall.txt', data)
    assert.ok(Date.now() - t >= 380, `stall took ${Date.now() - t} ms`)
    assert.equal(sha256((await emu.getObject('f/stall.txt')) as Buffer), sha256(data))
    const faults = (await emu.log()).filter((x) => x.fault === 'delay' || x.fault === 'stall').map((x) => x.fault)
    assert.deepEqual(faults, ['delay', 'stall'])
  })

  it('requests the client abandons are logged with status 0 and the bytes received', async () => {
    // 1. A client timeout during a delay fault: the request was applied, the answer never sent.
    const key = 'f/abandoned.txt'
    const body = Buffer.from('abandoned body')
    await emu.addFault({ api: 'PutObject', key, action: { type: 'delay', ms: 5000 } })
    const t0 = Date.now()
    const req = httpRequest({
      host: '127.0.0.1',
      port: emu.port,
      method: 'PUT',
      path: `/${TEST_BUCKET}/${key}`,
      agent: false,
      headers: { ...signV1('PUT', `/${TEST_BUCKET}/${key}`, {}), 'content-length': body.length },
    })
    req.on('error', () => {}) // destroyed below
    req.end(body)
    await new Promise((r) => setTimeout(r, 300))
    req.destroy()
    const delayed = await entryFor(key)
    assert.ok(delayed, 'the abandoned request is in the log')
    assert.ok(Date.now() - t0 < 4000, 'logged when the client left, not when the delay ended')
    assert.deepEqual(
      [delayed.api, delayed.status, delayed.bytes, delayed.fault],
      ['PutObject', 0, body.length, 'delay'],
    )
    assert.equal((await emu.getObject(key))?.toString(), 'abandoned body', 'a delay fault applies the request first')

    // 2. A body cut short (400 of 1000 bytes, then the connection closes): nothing stored.
    const cut = 'f/cut.bin'
    const h = Object.entries(signV1('PUT', `/${TEST_BUCKET}/${cut}`, {})).map(([k, v]) => `${k}: ${v}\r\n`)
    const s = connect(emu.port, '127.0.0.1')
    s.on('error', () => {})
    s.write(
      `PUT /${TEST_BUCKET}/${cut} HTTP/1.1\r\nHost: 127.0.0.1\r\n${h.join('')}Content-Length: 1000\r\n\r\n${'x'.repeat(400)}`,
    )
    await new Promise((r) => setTimeout(r, 100))
    s.destroy()
    const short = await entryFor(cut)
    assert.deepEqual([short?.status, short?.bytes, short?.fault], [0, 400, null])
    assert.equal(await emu.getObject(cut), null)

    // 3. Gone during a stall: seen when the emulator reads on after the stall.
    const stalled = 'f/stalled.bin'
    await emu.addFault({ api: 'PutObject', key: stalled, action: { type: 'stall', ms: 300 } })
    const hs = Object.entries(signV1('PUT', `/${TEST_BUCKET}/${stalled}`, {})).map(([k, v]) => `${k}: ${v}\r\n`)
    const s2 = connect(emu.port, '127.0.0.1')
    s2.on('error', () => {})
    s2.write(
      `PUT /${TEST_BUCKET}/${stalled} HTTP/1.1\r\nHost: 127.0.0.1\r\n${hs.join('')}Content-Length: 100000\r\n\r\n${'y'.repeat(1000)}`,
    )
    await new Promise((r) => setTimeout(r, 100))
    s2.destroy()
    const st = await entryFor(stalled)
    assert.deepEqual([st?.status, st?.bytes, st?.fault], [0, 1000, 'stall'])
    assert.equal(await emu.getObject(stalled), null)

    // Answered requests are logged as before, with every field.
    const c = client(emu, false)
    await c.put(stalled, Buffer.from('now whole'))
    const done = (await emu.log()).filter((x) => x.key === stalled)
    assert.deepEqual(
      done.map((x) => [x.status, x.bytes, x.fault]),
      [
        [0, 1000, 'stall'],
        [200, 9, null],
      ],
    )
    assert.deepEqual(Object.keys(done[1]), [
      'seq',
      'method',
      'path',
      'query',
      'api',
      'bucket',
      'key',
      'partNumber',
      'uploadId',
      'headers',
      'status',
      'bytes',
      'fault',
      'protocol',
    ])
  })

  it('badCrc fault returns a wrong x-oss-hash-crc64ecma', async () => {
    const c = client(emu, false)
    const data = randomBytes(1000)
    const good = await c.put('f/crc.bin', data)
    assert.equal(good.res.headers['x-oss-hash-crc64ecma'], crc64(data))
    await emu.addFault({ api: 'PutObject', key: 'f/crc.bin', action: { type: 'badCrc' } })
    const bad = await c.put('f/crc.bin', data)
    assert.notEqual(bad.res.headers['x-oss-hash-crc64ecma'], crc64(data))
    assert.equal(sha256((await emu.getObject('f/crc.bin')) as Buffer), sha256(data))
  })

  it('an expired upload answers NoSuchUpload; ali-oss turns a part 404 into abort', async () => {
    const c = client(emu, false)
    const name = 'f/expired.bin'
    const data = randomBytes(3 * 102400)
    const id = (await c.initMultipartUpload(name)).uploadId
    assert.equal(await emu.expireUpload({ uploadId: id }), 1)
    const e = await rejects(c.listParts(name, id))
    assert.equal(e.code, 'NoSuchUpload')
    const checkpoint = { file: data, name, fileSize: data.length, partSize: 102400, uploadId: id, doneParts: [] }
    const e2 = await rejects(c.multipartUpload(name, data, { checkpoint, parallel: 1 }))
    assert.equal(e2.name, 'abort')
  })

  it('clock skew: RequestTimeTooSkewed with RequestTime/ServerTime', async () => {
    const c = client(emu, true)
    await emu.setClockSkew(20 * 60 * 1000)
    const e = await rejects(c.put('f/skew.txt', Buffer.from('x')))
    assert.equal(e.status, 403)
    assert.equal(e.code, 'RequestTimeTooSkewed')
    await emu.setClockSkew(10 * 60 * 1000)
    await c.put('f/skew.txt', Buffer.from('x'))
    await emu.reset()
    await c.put('f/skew.txt', Buffer.from('y'))
    assert.equal((await emu.log()).length, 1) // reset cleared the log and the skew
  })

  it('callbacks: the callback server answer becomes the Complete body; a failing one gives 203', async () => {
    const bodies: string[] = []
    let fail = false
    const server: Server = createServer((req, res) => {
      let b = ''
      req.on('data', (d) => (b += d))
      req.on('end', () => {
        bodies.push(b)
        if (fail) {
          res.writeHead(500).end('no')
        } else {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, got: b }))
        }
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    const port = (server.address() as any).port
    try {
      const c = client(emu, true)
      const data = randomBytes(200 * 1024)
      const callback = {
        url: `http://127.0.0.1:${port}/cb`,
        body: 'bucket=${bucket}&object=${object}&size=${size}&who=${x:who}',
        customValue: { who: 'tester' },
      }
      const r = await c.multipartUpload('f/cb.bin', data, { partSize: 102400, callback })
      assert.equal(r.data.ok, true)
      assert.equal(bodies[0], `bucket=${TEST_BUCKET}&object=f%2Fcb.bin&size=${data.length}&who=tester`)
      fail = true
      const e = await rejects(c.multipartUpload('f/cb2.bin', data, { partSize: 102400, callback }))
      assert.equal(e.status, 203)
      assert.equal(e.code, 'CallbackFailed')
      assert.ok(await emu.getObject('f/cb2.bin'), 'object completed despite the failed callback')
    } finally {
      server.close()
    }
  })

  it('callbacks on PutObject: ali-oss put with options.callback, and a multipartUpload small enough to be a put', async () => {
    let mode: 'json' | 'error' | 'not-json' = 'json'
    const cb = await callbackServer((b) =>
      mode === 'json'
        ? [200, JSON.stringify({ ok: true, got: b })]
        : mode === 'error'
          ? [500, '{"no":1}']
          : [200, 'not json'],
    )
    try {
      const c = client(emu, false)
      const data = randomBytes(3000)
      const md5 = createHash('md5').update(data).digest()
      const etag = md5.toString('hex').toUpperCase()
      const callback = {
        url: cb.url,
        body: 'bucket=${bucket}&object=${object}&etag=${etag}&size=${size}&mimeType=${mimeType}&who=${x:who}',
        customValue: { who: 'put er' },
      }
      const r = await c.put('f/put cb.txt', data, { callback })
      assert.equal(r.res.status, 200)
      assert.equal(r.data.ok, true) // the callback server's JSON answer, parsed by ali-oss
      assert.equal(r.res.headers.etag, `"${etag}"`)
      assert.equal(r.res.headers['content-md5'], md5.toString('base64'))
      assert.equal(r.res.headers['x-oss-hash-crc64ecma'], crc64(data))
      assert.equal(
        cb.bodies[0],
        `bucket=${TEST_BUCKET}&object=f%2Fput%20cb.txt&etag=${etag}&size=3000&mimeType=text%2Fplain&who=put%20er`,
      )
      assert.equal(cb.types[0], 'application/x-www-form-urlencoded')
      assert.equal(sha256((await emu.getObject('f/put cb.txt')) as Buffer), sha256(data))

      // JSON body type: values are not URL-encoded. V4, through multipartUpload (< 100 KB → put).
      const small = randomBytes(50 * 1024)
      const v4 = client(emu, true)
      const m = await v4.multipartUpload('f/small cb.bin', small, {
        callback: { url: cb.url, body: '{"object":"${object}","size":${size}}', contentType: 'application/json' },
      })
      assert.equal(m.res.status, 200)
      assert.equal(m.data.ok, true)
      assert.equal(cb.bodies[1], `{"object":"f/small cb.bin","size":${small.length}}`)
      assert.equal(cb.types[1], 'application/json')

      // A failing callback server, or one that does not answer JSON: 203 CallbackFailed, object stored.
      for (const m2 of ['error', 'not-json'] as const) {
        mode = m2
        const other = randomBytes(100)
        const e = await rejects(c.put(`f/put-cb-${m2}.bin`, other, { callback }))
        assert.equal(e.status, 203, m2)
        assert.equal(e.code, 'CallbackFailed')
        assert.equal(sha256((await emu.getObject(`f/put-cb-${m2}.bin`)) as Buffer), sha256(other), 'stored anyway')
      }

      // A callback header that is not base64 JSON: 400 InvalidArgument, nothing stored.
      const bad = await fetch(`${emu.endpoint}/${TEST_BUCKET}/f/put-cb-bad.bin`, {
        method: 'PUT',
        body: Buffer.from('x'), // a string body would add a Content-Type the signature lacks
        headers: signV1('PUT', `/${TEST_BUCKET}/f/put-cb-bad.bin`, { 'x-oss-callback': 'not base64!' }),
      })
      assert.equal(bad.status, 400)
      assert.match(await bad.text(), /<Code>InvalidArgument<\/Code>/)
      assert.equal(await emu.getObject('f/put-cb-bad.bin'), null)
      assert.equal(cb.bodies.length, 4, 'the callback server was called once per stored object')
    } finally {
      await cb.close()
    }
  })

  it('addressing: path-style (sldEnable), bucket.localhost Host; PutBucket; ListObjects / V2 paging', async () => {
    const path = client(emu, true, { endpoint: `http://localhost:${emu.port}`, sldEnable: true })
    await path.putBucket('second-bucket')
    const second = client(emu, false, {
      bucket: 'second-bucket',
      endpoint: `http://localhost:${emu.port}`,
      sldEnable: true,
    })
    for (const k of ['lst/a.txt', 'lst/b.txt', 'lst/sub/c.txt', 'lst/sub/d.txt', 'lst/z.txt', 'other.txt']) {
      await second.put(k, Buffer.from(k))
    }
    assert.equal((await emu.getObject('lst/sub/c.txt', 'second-bucket'))?.toString(), 'lst/sub/c.txt')
    const page1 = await second.list({ prefix: 'lst/', delimiter: '/', 'max-keys': 2 })
    assert.deepEqual(
      page1.objects.map((o: any) => o.name),
      ['lst/a.txt', 'lst/b.txt'],
    )
    assert.equal(page1.isTruncated, true)
    const page2 = await second.list({ prefix: 'lst/', delimiter: '/', marker: page1.nextMarker, 'max-keys': 10 })
    assert.deepEqual(page2.prefixes, ['lst/sub/'])
    assert.deepEqual(
      page2.objects.map((o: any) => o.name),
      ['lst/z.txt'],
    )
    const v2 = await second.listV2({ prefix: 'lst/sub/', 'max-keys': 1 })
    assert.equal(v2.objects[0].name, 'lst/sub/c.txt')
    const v2b = await second.listV2({ prefix: 'lst/sub/', 'continuation-token': v2.nextContinuationToken })
    assert.equal(v2b.objects[0].name, 'lst/sub/d.txt')
    // Virtual-hosted on localhost: the bucket is the first label of Host.
    const body = Buffer.from('virtual')
    const headers = signV1('PUT', `/${TEST_BUCKET}/vh/obj.txt`, { 'content-type': 'text/plain' })
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: emu.port,
          method: 'PUT',
          path: '/vh/obj.txt',
          headers: { ...headers, host: `${TEST_BUCKET}.localhost:${emu.port}`, 'content-length': body.length },
        },
        (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        },
      )
      req.on('error', reject)
      req.end(body)
    })
    assert.equal(status, 200)
    assert.equal((await emu.getObject('vh/obj.txt'))?.toString(), 'virtual')
    // Presigned V1 URL (query OSSAccessKeyId/Expires/Signature), path-style.
    const url = second.signatureUrl('lst/a.txt', { expires: 60 })
    assert.match(url, /OSSAccessKeyId=/)
    const signed = await fetch(url)
    assert.equal(signed.status, 200)
    assert.equal(await signed.text(), 'lst/a.txt')
    const tampered = await fetch(url.replace('lst/a.txt', 'lst/b.txt'))
    assert.equal(tampered.status, 403)
    assert.match(await tampered.text(), /<Code>SignatureDoesNotMatch<\/Code>/)
  })

  it('64 concurrent connections, keep-alive', async () => {
    const c = client(emu, false)
    const datas = Array.from({ length: 64 }, () => randomBytes(64 * 1024))
    await Promise.all(datas.map((d, i) => c.put(`conc/${i}.bin`, d)))
    const got = await Promise.all(datas.map((_, i) => emu.getObject(`conc/${i}.bin`)))
    got.forEach((g, i) => assert.equal(sha256(g as Buffer), sha256(datas[i])))
  })

  it('raw requests: unknown bucket, bad percent-encoding, missing auth, missing length, truncated body', async () => {
    const nb = await fetch(`${emu.endpoint}/nobucket/k`, { headers: signV1('GET', '/nobucket/k', {}) })
    assert.equal(nb.status, 404)
    const nbText = await nb.text()
    assert.match(nbText, /<Code>NoSuchBucket<\/Code>/)
    assert.match(nbText, /<BucketName>nobucket<\/BucketName>/)
    assert.match(nb.headers.get('x-oss-request-id') ?? '', /^[0-9A-F]{24}$/)
    assert.equal(nb.headers.get('server'), 'AliyunOSS')
    assert.equal(nb.headers.get('content-type'), 'application/xml')

    const bad = await fetch(`${emu.endpoint}/${TEST_BUCKET}/a%zzb`)
    assert.equal(bad.status, 400)
    assert.match(await bad.text(), /<Code>InvalidURI<\/Code>/)

    const anon = await fetch(`${emu.endpoint}/${TEST_BUCKET}/k`)
    assert.equal(anon.status, 403)
    assert.match(await anon.text(), /<Code>AccessDenied<\/Code>/)

    const h = signV1('PUT', `/${TEST_BUCKET}/raw/nolen`, {})
    const lines = Object.entries(h).map(([k, v]) => `${k}: ${v}`)
    const noLen = await rawHttp(
      emu.port,
      `PUT /${TEST_BUCKET}/raw/nolen HTTP/1.1\r\nHost: 127.0.0.1\r\n${lines.join('\r\n')}\r\nConnection: close\r\n\r\n`,
    )
    assert.match(noLen, /^HTTP\/1\.1 411/)

    const ht = signV1('PUT', `/${TEST_BUCKET}/raw/short`, {})
    const lt = Object.entries(ht).map(([k, v]) => `${k}: ${v}`)
    await rawHttp(
      emu.port,
      `PUT /${TEST_BUCKET}/raw/short HTTP/1.1\r\nHost: 127.0.0.1\r\n${lt.join('\r\n')}\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(400)}`,
      true,
    )
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(await emu.getObject('raw/short'), null)
    const stats = await (await fetch(`${emu.endpoint}/-/stats`)).json()
    assert.ok(stats.objects > 0 && stats.requests > 0)
  })

  it('bench mode: unsigned requests accepted, Content-MD5 checked (400 InvalidDigest)', async () => {
    const bench = await startEmulator({ bench: true })
    try {
      const url = `${bench.endpoint}/${TEST_BUCKET}/bench.bin`
      const body = randomBytes(4096)
      const ok = await fetch(url, { method: 'PUT', body })
      assert.equal(ok.status, 200)
      assert.equal(ok.headers.get('x-oss-hash-crc64ecma'), crc64(body))
      assert.match(ok.headers.get('etag') ?? '', /^"[0-9A-F]{32}"$/)
      const wrong = await fetch(url, {
        method: 'PUT',
        body,
        headers: { 'content-md5': createHash('md5').update('other').digest('base64') },
      })
      assert.equal(wrong.status, 400)
      assert.match(await wrong.text(), /<Code>InvalidDigest<\/Code>/)
      const malformed = await fetch(url, { method: 'PUT', body, headers: { 'content-md5': 'not base64!' } })
      assert.equal(malformed.status, 400)
      assert.match(await malformed.text(), /<Code>InvalidDigest<\/Code>/)
      const right = await fetch(url, {
        method: 'PUT',
        body,
        headers: { 'content-md5': createHash('md5').update(body).digest('base64') },
      })
      assert.equal(right.status, 200)
      // Signed requests are still verified in bench mode.
      const c = client(bench, true, { accessKeySecret: 'wrong' })
      const e = await rejects(c.put('x', Buffer.from('x')))
      assert.equal(e.code, 'SignatureDoesNotMatch')
    } finally {
      await bench.stop()
    }
  })
})
