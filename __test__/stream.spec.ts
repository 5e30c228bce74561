// Stream sources (issue 13): multipartUpload and putStream of a Node Readable, an async iterable and a web
// ReadableStream of unknown length, against the emulator; bytes checked by sha256, no orphan uploads.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { after, before, beforeEach, describe, it } from 'node:test'

import OSS = require('..')
import { Emulator, startEmulator } from './helpers/emulator'
import { TempDir, ali, clientOptions, makeData, rejection, sha256, sleep, turbo } from './helpers/util'

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

beforeEach(async () => {
  await emu.reset()
})

const PART = 102400

/** Yields `data` in slices of `size` bytes (Uint8Arrays that are not Buffers, sharing `data`'s memory). */
async function* slices(data: Buffer, size: number, delayMs = 0): AsyncGenerator<Uint8Array> {
  for (let pos = 0; pos < data.length; pos += size) {
    if (delayMs) await sleep(delayMs)
    const b = data.subarray(pos, Math.min(pos + size, data.length))
    yield new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
  }
}

async function apis(key: string): Promise<string[]> {
  return (await emu.log()).filter((e) => e.key === key && e.api).map((e) => e.api as string)
}

async function openUploads(client: OSS): Promise<number> {
  return (await client.listUploads({})).uploads.length
}

async function stored(key: string): Promise<string> {
  const got = await emu.getObject(key)
  assert.ok(got, `${key} exists`)
  return sha256(got)
}

describe('multipartUpload from a stream', () => {
  it('uploads a Node Readable (fs.createReadStream) in parts, byte-identical', async () => {
    const data = makeData(5 * PART + 12345)
    const file = dir.file('readable.bin', data)
    const client = turbo(emu)
    const r = await client.multipartUpload('s/readable.bin', createReadStream(file, { highWaterMark: 16 * 1024 }), {
      partSize: PART,
      parallel: 3,
    })
    assert.equal(r.name, 's/readable.bin')
    assert.match(r.etag, /^"[0-9A-F]+-6"$/i)
    assert.equal(await stored('s/readable.bin'), sha256(data))
    const calls = await apis('s/readable.bin')
    assert.equal(calls.filter((a) => a === 'UploadPart').length, 6)
    assert.equal(calls.filter((a) => a === 'CompleteMultipartUpload').length, 1)
    assert.equal(await openUploads(client), 0)
  })

  it('uploads an async iterable of Uint8Arrays whose chunks straddle part boundaries', async () => {
    const data = makeData(3 * PART + 1)
    const client = turbo(emu)
    await client.multipartUpload('s/iter.bin', slices(data, 7777), { partSize: PART, parallel: 2 })
    assert.equal(await stored('s/iter.bin'), sha256(data))
    assert.equal((await apis('s/iter.bin')).filter((a) => a === 'UploadPart').length, 4)
  })

  it('uploads a web ReadableStream, and string chunks', async () => {
    const data = makeData(2 * PART + 500)
    const client = turbo(emu)
    const web = Readable.toWeb(Readable.from(slices(data, 64 * 1024))) as unknown as ReadableStream<Uint8Array>
    await client.multipartUpload('s/web.bin', web, { partSize: PART })
    assert.equal(await stored('s/web.bin'), sha256(data))

    const text = 'héllo wörld\n'.repeat(20000)
    async function* lines() {
      for (let i = 0; i < text.length; i += 1000) yield text.slice(i, i + 1000)
    }
    await client.multipartUpload('s/text.txt', lines(), { partSize: PART })
    assert.equal(await stored('s/text.txt'), sha256(Buffer.from(text)))
  })

  it('sends a stream that ends within the first part as one PutObject (an empty one too)', async () => {
    const data = makeData(PART)
    const client = turbo(emu)
    const r = await client.multipartUpload(
      's/small.bin',
      Readable.from([data.subarray(0, 1000), data.subarray(1000)]),
      {
        partSize: PART,
      },
    )
    assert.equal(r.res.status, 200)
    assert.equal(await stored('s/small.bin'), sha256(data))
    assert.deepEqual(await apis('s/small.bin'), ['PutObject'])

    await client.multipartUpload('s/empty.bin', Readable.from([]), {})
    assert.equal((await emu.getObject('s/empty.bin'))?.length, 0)
  })

  it('a slow stream trickles through: parts go up as they fill', async () => {
    const data = makeData(2 * PART + 10)
    const client = turbo(emu)
    await client.multipartUpload('s/slow.bin', slices(data, 20000, 5), { partSize: PART, parallel: 2 })
    assert.equal(await stored('s/slow.bin'), sha256(data))
  })

  it('reports progress with p = 0 while the length is unknown, then ali-oss fractions and 1; bytes without a total until the end', async () => {
    const data = makeData(4 * PART)
    const client = turbo(emu)
    const ps: number[] = []
    const checkpoints: (OSS.StreamCheckpoint | null)[] = []
    const bytes: { loaded: number; total: number | undefined }[] = []
    await client.multipartUpload('s/progress.bin', slices(data, 50000), {
      partSize: PART,
      parallel: 1,
      progress: (p, cp) => {
        ps.push(p)
        checkpoints.push(cp ? { ...cp, doneParts: [...cp.doneParts] } : null)
      },
      onUploadProgress: (b) => bytes.push(b),
    })
    assert.equal(ps[0], 0)
    assert.equal(ps[ps.length - 1], 1)
    assert.equal(checkpoints[checkpoints.length - 1], null)
    const partCalls = checkpoints.slice(1, -1)
    assert.equal(partCalls.length, 4)
    assert.deepEqual(
      partCalls.map((cp) => cp!.doneParts.length),
      [1, 2, 3, 4],
    )
    assert.equal(partCalls[0]!.file, null)
    assert.equal(partCalls[3]!.fileSize, data.length, 'the length is known once the stream ended')
    for (const p of ps) assert.ok(p >= 0 && p <= 1)
    // Once the stream ended the fraction is ali-oss's doneParts / (numParts + 1).
    assert.equal(ps[4], 4 / 5)
    const last = bytes[bytes.length - 1]
    assert.deepEqual(last, { loaded: data.length, total: data.length })
    for (const b of bytes.slice(0, -1)) assert.ok(b.total === undefined || b.total === data.length)
  })

  it('a stream that errors mid-way rejects with its own error and leaves no upload behind', async () => {
    const data = makeData(3 * PART)
    const client = turbo(emu)
    const boom = new Error('source went away')
    async function* failing() {
      yield data.subarray(0, 2 * PART + 5)
      await sleep(20)
      throw boom
    }
    const err = await rejection(client.multipartUpload('s/fail.bin', failing(), { partSize: PART }))
    assert.equal(err, boom)
    assert.equal(await openUploads(client), 0)
    const calls = await apis('s/fail.bin')
    assert.ok(calls.includes('InitiateMultipartUpload'))
    assert.ok(calls.includes('AbortMultipartUpload'))
    assert.equal(await emu.getObject('s/fail.bin'), null)
  })

  it('a Readable that emits an error rejects with that error (no orphan)', async () => {
    const client = turbo(emu)
    const err = new Error('disk on fire')
    let sent = 0
    const readable = new Readable({
      read() {
        if (sent >= 3 * PART) {
          this.destroy(err)
          return
        }
        sent += PART / 2
        this.push(Buffer.alloc(PART / 2, 7))
      },
    })
    assert.equal(await rejection(client.multipartUpload('s/readable-err.bin', readable, { partSize: PART })), err)
    assert.equal(await openUploads(client), 0)
  })

  it('a part that fails once is retried from its buffered bytes', async () => {
    const data = makeData(3 * PART)
    const client = turbo(emu)
    await emu.addFault({
      api: 'UploadPart',
      partNumber: 2,
      times: 1,
      action: { type: 'error', status: 503, code: 'ServiceUnavailable' },
    })
    await client.multipartUpload('s/retry.bin', slices(data, 30000), { partSize: PART })
    assert.equal(await stored('s/retry.bin'), sha256(data))
    const log = (await emu.log()).filter((e) => e.api === 'UploadPart' && e.partNumber === 2)
    assert.deepEqual(
      log.map((e) => e.status),
      [503, 200],
    )
  })

  it('a part that keeps failing aborts the upload and rejects with the part error', async () => {
    const data = makeData(4 * PART)
    const client = turbo(emu)
    await emu.addFault({
      api: 'UploadPart',
      partNumber: 2,
      action: { type: 'error', status: 403, code: 'AccessDenied', message: 'no' },
    })
    let pulled = 0
    async function* counted() {
      for await (const c of slices(data, 10000)) {
        pulled += c.length
        yield c
      }
    }
    const err = await rejection(client.multipartUpload('s/part-fail.bin', counted(), { partSize: PART, parallel: 1 }))
    assert.equal(err.name, 'AccessDeniedError')
    assert.equal(err.status, 403)
    assert.equal(err.partNum, 2)
    assert.equal(await openUploads(client), 0)
    assert.ok((await apis('s/part-fail.bin')).includes('AbortMultipartUpload'))
    assert.ok(pulled < data.length, 'reading stopped when the upload failed')
  })

  it('a part that fails every retry (503) is retried, then the upload is aborted (no orphan)', async () => {
    const data = makeData(3 * PART)
    const client = turbo(emu, { retryMax: 2 })
    await emu.addFault({
      api: 'UploadPart',
      partNumber: 2,
      times: 100,
      action: { type: 'error', status: 503, code: 'ServiceUnavailable' },
    })
    const err = await rejection(client.multipartUpload('s/retry-fail.bin', slices(data, 25000), { partSize: PART }))
    assert.equal(err.status, 503)
    assert.equal(err.partNum, 2)
    const tries = (await emu.log()).filter((e) => e.api === 'UploadPart' && e.partNumber === 2)
    assert.equal(tries.length, 3, 'one try and two retries')
    assert.ok((await apis('s/retry-fail.bin')).includes('AbortMultipartUpload'))
    assert.equal(await openUploads(client), 0)
  })

  it('signal cancels: rejects with ali-oss cancel shape, aborts the upload, stops reading', async () => {
    const client = turbo(emu)
    const controller = new AbortController()
    let chunks = 0
    async function* endless() {
      for (;;) {
        chunks++
        if (chunks === 30) controller.abort()
        yield Buffer.alloc(10000, 1)
        await sleep(1)
      }
    }
    const err = await rejection(
      client.multipartUpload('s/cancel.bin', endless(), { partSize: PART, signal: controller.signal }),
    )
    assert.deepEqual(err, { status: 0, name: 'cancel' })
    assert.equal(await openUploads(client), 0)
  })

  it('refuses a checkpoint for a stream, and a chunk that is not bytes', async () => {
    const client = turbo(emu)
    const cp = { uploadId: 'x', name: 'n', file: 'f', fileSize: 1, partSize: PART, doneParts: [] }
    const e1 = await rejection(
      client.multipartUpload('s/cp.bin', Readable.from([Buffer.alloc(1)]), { checkpoint: cp } as any),
    )
    assert.match(e1.message, /cannot be resumed/)
    async function* bad() {
      yield Buffer.alloc(PART + 10)
      yield 42 as unknown as Buffer
    }
    const e2 = await rejection(client.multipartUpload('s/bad.bin', bad(), { partSize: PART }))
    assert.ok(e2 instanceof TypeError)
    assert.equal(await openUploads(client), 0)
  })
})

describe('putStream', () => {
  it('has ali-oss putStream result shape (name, url, res)', async () => {
    const data = makeData(50000)
    const ours = await turbo(emu).putStream('ps/a.bin', Readable.from([data]))
    const theirs = await ali(emu).putStream('ps/b.bin', Readable.from([data]), { contentLength: data.length })
    assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort())
    assert.equal(ours.name, 'ps/a.bin')
    assert.equal(ours.url, theirs.url.replace('ps/b.bin', 'ps/a.bin'))
    assert.equal(ours.res.status, 200)
    assert.equal(await stored('ps/a.bin'), sha256(data))
    assert.equal(await stored('ps/b.bin'), sha256(data))
  })

  it('put() of a stream goes through putStream, as in ali-oss', async () => {
    const data = makeData(3 * PART)
    const r = await turbo(emu).put('ps/put.bin', Readable.from([data]), { partSize: PART })
    assert.deepEqual(Object.keys(r).sort(), ['name', 'res', 'url'])
    assert.equal(await stored('ps/put.bin'), sha256(data))
  })

  it('honours contentLength: the stream must deliver exactly that many bytes (no orphan otherwise)', async () => {
    const client = turbo(emu)
    const data = makeData(3 * PART)
    await client.putStream('ps/len.bin', Readable.from([data]), { contentLength: data.length, partSize: PART })
    assert.equal(await stored('ps/len.bin'), sha256(data))
    const short = await rejection(
      client.putStream('ps/short.bin', slices(data, 40000), { contentLength: data.length + 1, partSize: PART }),
    )
    assert.match(short.message, /contentLength/)
    const long = await rejection(
      client.putStream('ps/long.bin', slices(data, 40000), { contentLength: PART + 5, partSize: PART }),
    )
    assert.match(long.message, /longer than its contentLength/)
    assert.equal(await openUploads(client), 0)
    assert.equal(await emu.getObject('ps/short.bin'), null)
  })

  it('a long stream goes up in parts, with meta and mime as headers', async () => {
    const client = turbo(emu)
    const data = makeData(2 * PART + 3)
    const r = await client.putStream('ps/long.txt', slices(data, 33333), { partSize: PART, meta: { a: 'b' } })
    assert.equal(r.name, 'ps/long.txt')
    assert.equal(await stored('ps/long.txt'), sha256(data))
    const head = await client.head('ps/long.txt')
    assert.equal(head.meta?.a, 'b')
    assert.match(head.res.headers['content-type'], /^text\/plain/)
  })
})

describe('backpressure', () => {
  it('a fast 192 MiB stream is paused, not buffered: peak RSS stays bounded (child process)', async () => {
    const bench = await startEmulator({ bench: true })
    try {
      const cfg = { client: clientOptions(bench), mib: 192, partSize: 4 * 1024 * 1024, parallel: 2 }
      const out = await new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, [join(__dirname, 'fixtures', 'stream-rss.js'), JSON.stringify(cfg)], {
          stdio: ['ignore', 'pipe', 'inherit'],
        })
        let text = ''
        child.stdout.on('data', (d) => (text += d))
        child.on('error', reject)
        child.on('close', () => resolve(text))
      })
      const r = JSON.parse(out.trim().split('\n').pop()!)
      assert.equal(r.ok, true, out)
      assert.equal(r.bytes, 192 * 1024 * 1024)
      // Without backpressure the whole stream (192 MiB) would be held; the bound is (parallel + 1) × partSize
      // = 12 MiB plus the runtime. Generous: growth over the baseline under 100 MiB.
      assert.ok(r.growthMiB < 100, `RSS grew by ${r.growthMiB} MiB`)
      // The source was paused: it never ran more than a few parts ahead of what was stored.
      assert.ok(r.maxAheadMiB <= 16, `the stream ran ${r.maxAheadMiB} MiB ahead`)
    } finally {
      await bench.stop()
    }
  })
})
