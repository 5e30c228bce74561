// oss-turbo side by side with the real ali-oss 6.23.0, against a freshly started emulator.
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'

import OSS = require('..')
import { Emulator, startEmulator } from './helpers/emulator'
import { TempDir, ali, makeData, recorder, rejection, sha256, turbo } from './helpers/util'

let emu: Emulator
let dir: TempDir

before(async () => {
  emu = await startEmulator()
  dir = new TempDir()
})

after(async () => {
  await emu?.stop()
  dir?.remove()
})

const KB = 1024
const SIZES: Array<[string, number, number | undefined]> = [
  ['0 bytes (small-file put)', 0, undefined],
  ['1000 bytes (small-file put)', 1000, undefined],
  ['exactly 102400 bytes (one part)', 102400, undefined],
  ['many parts of 100 KiB', 102400 * 7 + 123, 102400],
  ['default 1 MiB parts', 1024 * KB * 2 + 5, undefined],
]
const KEYS = ['plain.bin', 'dir/with space+plus.txt', 'unicode/文件-ß.json', '/leading/slash.dat']

async function readBack(key: string): Promise<Buffer> {
  const got = await emu.getObject(key.replace(/^\/+/, ''))
  assert.ok(got, `object ${key} exists`)
  return got
}

for (const v4 of [false, true]) {
  describe(`multipartUpload parity with ali-oss (${v4 ? 'V4' : 'V1'} signing)`, () => {
    let n = 0
    for (const [label, size, partSize] of SIZES) {
      for (const kind of ['path', 'buffer'] as const) {
        it(`${label}, from a ${kind}`, async () => {
          const data = makeData(size)
          const key = KEYS[n++ % KEYS.length]
          const file = kind === 'path' ? dir.file(`src-${v4}-${n}${key.slice(key.lastIndexOf('.'))}`, data) : data
          const results: Record<string, any> = {}
          const recs: Record<string, ReturnType<typeof recorder>> = {}
          for (const [who, client] of [
            ['ali', ali(emu, { authorizationV4: v4 })],
            ['turbo', turbo(emu, { authorizationV4: v4 })],
          ] as const) {
            const rec = recorder()
            recs[who] = rec
            const objectKey = `${who}/${v4}/${key}`
            results[who] = await client.multipartUpload(objectKey, file, {
              partSize,
              parallel: 3,
              progress: rec.progress,
              meta: { owner: 'tests', n: String(n) },
            })
            assert.equal(sha256(await readBack(objectKey)), sha256(data), `${who} stored the bytes`)
          }
          assert.deepEqual(recs.turbo.calls, recs.ali.calls, 'same progress sequence')
          // Every progress call of one upload gets the very same checkpoint object.
          for (const rec of [recs.turbo, recs.ali]) {
            for (const cp of rec.checkpoints) assert.equal(cp, rec.checkpoints[0])
          }
          assert.deepEqual(Object.keys(results.turbo).sort(), Object.keys(results.ali).sort(), 'same result keys')
          assert.equal(results.turbo.bucket, results.ali.bucket)
          assert.equal(results.turbo.res.status, 200)
          assert.match(results.turbo.etag, /^"[0-9A-F]{32}(-\d+)?"$/)
          assert.equal(results.turbo.etag.includes('-'), results.ali.etag.includes('-'), 'same object type')
          for (const field of ['status', 'statusCode', 'headers', 'size', 'aborted', 'rt', 'data', 'requestUrls']) {
            assert.ok(field in results.turbo.res, `res.${field}`)
          }
          if (size >= 102400) {
            const cps = recs.turbo.checkpoints as OSS.Checkpoint[]
            const last = cps[cps.length - 1]
            const aliLast = recs.ali.checkpoints[recs.ali.checkpoints.length - 1] as OSS.Checkpoint
            assert.deepEqual(Object.keys(last).sort(), Object.keys(aliLast).sort(), 'same checkpoint fields')
            assert.equal(last.file, file, 'checkpoint.file is the argument itself')
            assert.equal(last.fileSize, size)
            assert.equal(last.partSize, aliLast.partSize)
            assert.equal(last.doneParts.length, aliLast.doneParts.length)
            assert.deepEqual(new Set(last.doneParts.map((p) => p.number)).size, last.doneParts.length, 'no duplicates')
            for (const p of last.doneParts) assert.match(p.etag, /^"[0-9A-F]{32}"$/, 'etag keeps its quotes')
          }
        })
      }
    }
  })
}

describe('what the server stores', () => {
  it('meta, mime and headers are visible on HEAD exactly as with ali-oss', async () => {
    const data = makeData(300 * KB)
    const file = dir.file('page.html', data)
    const heads: Record<string, any> = {}
    for (const [who, client] of [
      ['ali', ali(emu)],
      ['turbo', turbo(emu)],
    ] as const) {
      await client.multipartUpload(`${who}/page.html`, file, {
        partSize: 102400,
        meta: { author: 'alice', magic: 'abracadabra' },
        headers: { 'Cache-Control': 'no-cache', 'x-oss-storage-class': 'IA' },
      })
      heads[who] = await turbo(emu).head(`${who}/page.html`)
    }
    assert.deepEqual(heads.turbo.meta, { author: 'alice', magic: 'abracadabra' })
    assert.deepEqual(heads.turbo.meta, heads.ali.meta)
    for (const h of ['content-type', 'cache-control', 'x-oss-storage-class', 'x-oss-object-type', 'content-length']) {
      assert.equal(heads.turbo.res.headers[h], heads.ali.res.headers[h], h)
    }
    assert.equal(heads.turbo.res.headers['content-type'], 'text/html')
  })

  it('a Buffer with an explicit mime, and the whole-object CRC-64 matches the data', async () => {
    const data = makeData(250 * KB)
    const r = await turbo(emu).multipartUpload('typed.bin', data, { mime: 'application/x-custom', partSize: 102400 })
    const head = await turbo(emu).head('typed.bin')
    assert.equal(head.res.headers['content-type'], 'application/x-custom')
    assert.equal(head.res.headers['x-oss-hash-crc64ecma'], r.res.headers['x-oss-hash-crc64ecma'])
  })
})

describe('callback', () => {
  it("the callback server's JSON answer becomes result.data, as with ali-oss", async () => {
    const bodies: string[] = []
    const server = createServer((req, res) => {
      let body = ''
      req.on('data', (d) => (body += d))
      req.on('end', () => {
        bodies.push(body)
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify({ ok: true, got: body }))
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify`
      const callback = { url, body: 'object=${object}&size=${size}&who=${x:who}', customValue: { who: 'tests' } }
      const results: Record<string, any> = {}
      for (const [who, client] of [
        ['ali', ali(emu)],
        ['turbo', turbo(emu)],
      ] as const) {
        for (const size of [1000, 250 * KB]) {
          const key = `cb/${who}-${size}`
          results[`${who}-${size}`] = await client.multipartUpload(key, makeData(size), { partSize: 102400, callback })
        }
      }
      for (const size of [1000, 250 * KB]) {
        const t = results[`turbo-${size}`]
        const a = results[`ali-${size}`]
        assert.deepEqual(Object.keys(t).sort(), Object.keys(a).sort())
        assert.equal(t.data.ok, true)
        assert.match(t.data.got, new RegExp(`^object=cb(/|%2F)turbo-${size}&size=${size}&who=tests$`))
        assert.equal(t.data.got.replace('turbo', 'ali'), a.data.got, 'the same callback as ali-oss triggers')
      }
      assert.equal(bodies.length, 4)
    } finally {
      server.close()
    }
  })
})

describe('errors shaped like ali-oss', () => {
  async function both(fn: (client: any, who: string) => Promise<unknown>) {
    const errs: Record<string, any> = {}
    for (const [who, client] of [
      ['ali', ali(emu)],
      ['turbo', turbo(emu)],
    ] as const) {
      errs[who] = await rejection(fn(client, who))
    }
    return errs
  }

  it('a wrong secret', async () => {
    const data = makeData(200 * KB)
    for (const v4 of [false, true]) {
      const errs: Record<string, any> = {}
      errs.ali = await rejection(ali(emu, { accessKeySecret: 'wrong', authorizationV4: v4 }).multipartUpload('x', data))
      errs.turbo = await rejection(
        turbo(emu, { accessKeySecret: 'wrong', authorizationV4: v4 }).multipartUpload('x', data),
      )
      assert.equal(errs.turbo instanceof Error, true)
      for (const f of ['name', 'code', 'status']) assert.equal(errs.turbo[f], errs.ali[f], f)
      assert.equal(errs.turbo.name, 'SignatureDoesNotMatchError')
      assert.equal(errs.turbo.status, 403)
      assert.match(errs.turbo.requestId, /^[0-9A-F]{24}$/)
      assert.ok(!String(errs.turbo.message).includes('wrong'), 'the secret is not in the message')
    }
  })

  it('a too-small and a non-integer partSize', async () => {
    const data = makeData(300 * KB)
    for (const partSize of [1024, 102400.5]) {
      const errs = await both((c) => c.multipartUpload('ps', data, { partSize }))
      assert.equal(errs.turbo instanceof Error, true)
      assert.equal(errs.turbo.message, errs.ali.message)
      assert.equal(errs.turbo.name, errs.ali.name)
    }
  })

  it('a vanished upload: resuming a checkpoint whose upload is gone', async () => {
    const data = makeData(300 * KB)
    const errs = await both(async (c, who) => {
      const init = await c.initMultipartUpload(`gone-${who}`)
      await emu.expireUpload({ uploadId: init.uploadId })
      const checkpoint = {
        file: data,
        name: `gone-${who}`,
        fileSize: data.length,
        partSize: 102400,
        uploadId: init.uploadId,
        doneParts: [],
      }
      return c.multipartUpload(`gone-${who}`, data, { checkpoint, parallel: 2 })
    })
    assert.equal(errs.turbo.name, 'abort')
    assert.equal(errs.turbo.status, errs.ali.status)
    assert.equal(errs.turbo.name, errs.ali.name)
    assert.equal(errs.turbo.message, errs.ali.message)
  })

  it('network errors: a refused connection (-1) and a response timeout', async () => {
    const closed = { ...emu, endpoint: 'http://127.0.0.1:1' }
    const refused: Record<string, any> = {}
    refused.ali = await rejection(ali(closed, { retryMax: 0 }).multipartUpload('net', makeData(200 * KB)))
    refused.turbo = await rejection(turbo(closed, { retryMax: 0 }).multipartUpload('net', makeData(200 * KB)))
    for (const f of ['name', 'code', 'status']) assert.equal(refused.turbo[f], refused.ali[f], f)
    assert.equal(refused.turbo.status, -1)
    await emu.addFault({
      api: 'InitiateMultipartUpload',
      key: 'slow-init',
      times: 2,
      action: { type: 'delay', ms: 2000 },
    })
    const slow: Record<string, any> = {}
    slow.ali = await rejection(ali(emu, { retryMax: 0, timeout: 300 }).multipartUpload('slow-init', makeData(200 * KB)))
    slow.turbo = await rejection(
      turbo(emu, { retryMax: 0, timeout: 300 }).multipartUpload('slow-init', makeData(200 * KB)),
    )
    assert.equal(slow.turbo.name, slow.ali.name)
    assert.equal(slow.turbo.name, 'ResponseTimeoutError')
    assert.equal(slow.turbo.status, -2, 'oss-turbo also sets the status ali-oss documents for timeouts')
    assert.match(slow.turbo.message, /^Response timeout for 300ms, please increase the timeout/)
  })

  it('constructor validation', () => {
    const messages = (make: () => unknown) => {
      try {
        make()
      } catch (e) {
        return (e as Error).message
      }
      return 'no error'
    }
    const cases: Array<Record<string, unknown>> = [
      { accessKeyId: undefined, accessKeySecret: undefined },
      { accessKeySecret: undefined },
      { bucket: 'Bad_Bucket' },
      { bucket: 'b' },
    ]
    for (const opts of cases) {
      const aliMsg = messages(() => ali(emu, opts))
      const turboMsg = messages(() => turbo(emu, opts))
      assert.notEqual(turboMsg, 'no error', JSON.stringify(opts))
      assert.equal(turboMsg, aliMsg, JSON.stringify(opts))
    }
  })
})

describe('integrity (CRC-64), fixed where ali-oss checks nothing', () => {
  it('a part whose server CRC differs fails the upload clearly', async () => {
    const data = makeData(300 * KB)
    await emu.addFault({ api: 'UploadPart', key: 'crc-part', partNumber: 2, action: { type: 'badCrc' } })
    const err = await rejection(turbo(emu).multipartUpload('crc-part', data, { partSize: 102400, parallel: 1 }))
    assert.equal(err.name, 'CrcMismatchError')
    assert.equal(err.partNum, 2)
    assert.match(err.message, /CRC-64 mismatch for part 2/)
  })

  it('a completed object whose CRC differs is an error, never a silent success', async () => {
    const data = makeData(300 * KB)
    await emu.addFault({ api: 'CompleteMultipartUpload', key: 'crc-whole', action: { type: 'badCrc' } })
    const err = await rejection(turbo(emu).multipartUpload('crc-whole', data, { partSize: 102400 }))
    assert.equal(err.name, 'CrcMismatchError')
    assert.match(err.message, /completed object/)
  })
})

describe('the multipart building blocks', () => {
  it('init, uploadPart from a file and a Buffer, listParts, listUploads, complete', async () => {
    const client = turbo(emu)
    const data = makeData(250 * KB)
    const file = dir.file('blocks.bin', data)
    const init = await client.initMultipartUpload('blocks/obj.bin', { meta: { a: '1' } })
    assert.equal(init.name, 'blocks/obj.bin')
    assert.ok(init.uploadId)
    const p1 = await client.uploadPart('blocks/obj.bin', init.uploadId, 1, file, 0, 102400)
    const p2 = await client.uploadPart('blocks/obj.bin', init.uploadId, 2, data, 102400, data.length)
    assert.match(p1.etag, /^"[0-9A-F]{32}"$/)
    const parts = await client.listParts('blocks/obj.bin', init.uploadId)
    assert.equal(parts.parts.length, 2)
    assert.equal(parts.parts[0].PartNumber, '1')
    const uploads = await client.listUploads({ prefix: 'blocks/' })
    assert.ok(uploads.uploads.some((u) => u.uploadId === init.uploadId && u.name === 'blocks/obj.bin'))
    const done = await client.completeMultipartUpload('blocks/obj.bin', init.uploadId, [
      { number: 2, etag: p2.etag },
      { number: 1, etag: p1.etag },
    ])
    assert.match(done.etag, /-2"$/)
    assert.equal(sha256(await readBack('blocks/obj.bin')), sha256(data))
    const head = await client.head('blocks/obj.bin')
    assert.deepEqual(head.meta, { a: '1' })
  })

  it('abortMultipartUpload removes the upload; a second abort is NoSuchUploadError', async () => {
    const client = turbo(emu)
    const init = await client.initMultipartUpload('aborted.bin')
    const r = await client.abortMultipartUpload('aborted.bin', init.uploadId)
    assert.equal(r.res.status, 204)
    const err = await rejection(client.abortMultipartUpload('aborted.bin', init.uploadId))
    assert.equal(err.name, 'NoSuchUploadError')
    assert.equal(err.status, 404)
  })

  it('put and head match ali-oss', async () => {
    const data = makeData(5000)
    const file = dir.file('put.txt', data)
    const t = await turbo(emu).put('put/path.txt', file)
    const a = await ali(emu).put('put/ali.txt', file)
    assert.deepEqual(Object.keys(t).sort(), Object.keys(a).sort())
    assert.equal(t.res.status, 200)
    await turbo(emu).put('put/buf.bin', data)
    assert.equal(sha256(await readBack('put/path.txt')), sha256(data))
    assert.equal(sha256(await readBack('put/buf.bin')), sha256(data))
    const th = await turbo(emu).head('put/path.txt')
    const ah = await ali(emu).head('put/path.txt')
    assert.equal(th.status, ah.status)
    assert.equal(th.res.headers['content-type'], ah.res.headers['content-type'])
    const missing = await rejection(turbo(emu).head('put/nope'))
    const aliMissing = await rejection(ali(emu).head('put/nope'))
    assert.equal(missing.name, aliMissing.name)
    assert.equal(missing.status, 404)
  })
})
