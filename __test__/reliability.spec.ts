// Reliability: faults the upload rides out, crashes it resumes from, bad input it refuses, secrets it keeps.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, beforeEach, describe, it } from 'node:test'

import OSS = require('..')
import { Emulator, TEST_AK, TEST_BUCKET, TEST_REGION, startEmulator } from './helpers/emulator'
import { TempDir, clientOptions, makeData, rejection, sha256, sleep, turbo } from './helpers/util'

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
const CHILD = join(__dirname, 'fixtures', 'upload.js')

async function attempts(key: string, api = 'UploadPart'): Promise<Map<number, number[]>> {
  const byPart = new Map<number, number[]>()
  for (const e of await emu.log()) {
    if (e.api === api && e.key === key) {
      const n = e.partNumber ?? 0
      byPart.set(n, [...(byPart.get(n) ?? []), e.status])
    }
  }
  return byPart
}

async function stored(key: string): Promise<string> {
  const got = await emu.getObject(key)
  assert.ok(got, `${key} exists`)
  return sha256(got)
}

/** Runs an upload and returns the final checkpoint it reported. */
async function upload(client: OSS, key: string, file: string | Buffer, options: OSS.MultipartUploadOptions = {}) {
  let checkpoint: OSS.Checkpoint | undefined
  const result = await client.multipartUpload(key, file, {
    partSize: PART,
    parallel: 3,
    ...options,
    progress: (_p, cp) => {
      if (cp) checkpoint = cp
    },
  })
  return { result, checkpoint: checkpoint! }
}

describe('faults the upload rides out (default retries)', () => {
  it('a connection reset in the middle of a part', async () => {
    const data = makeData(PART * 5)
    await emu.addFault({ api: 'UploadPart', key: 'reset', partNumber: 2, action: { type: 'reset', afterBytes: 40000 } })
    const { checkpoint } = await upload(turbo(emu), 'reset', data)
    assert.equal(await stored('reset'), sha256(data))
    assert.equal(checkpoint.doneParts.length, 5)
    const tries = await attempts('reset')
    assert.equal(tries.get(2)!.length, 2, 'part 2 was sent twice')
    assert.deepEqual(tries.get(1), [200], 'other parts once')
  })

  it('500 and 503 on some parts', async () => {
    const data = makeData(PART * 6)
    await emu.addFault({
      api: 'UploadPart',
      key: '5xx',
      partNumber: 2,
      times: 2,
      action: { type: 'error', status: 500, code: 'InternalError' },
    })
    await emu.addFault({
      api: 'UploadPart',
      key: '5xx',
      partNumber: 5,
      action: { type: 'error', status: 503, code: 'ServiceUnavailable' },
    })
    const { checkpoint } = await upload(turbo(emu), '5xx', data)
    assert.equal(await stored('5xx'), sha256(data))
    assert.deepEqual(checkpoint.doneParts.map((p) => p.number).sort(), [1, 2, 3, 4, 5, 6])
    const tries = await attempts('5xx')
    assert.deepEqual(tries.get(2), [500, 500, 200])
    assert.deepEqual(tries.get(5), [503, 200])
  })

  it('a response slower than the timeout is given up on and retried', async () => {
    const data = makeData(PART * 4)
    await emu.addFault({ api: 'UploadPart', key: 'slow', partNumber: 3, action: { type: 'delay', ms: 3000 } })
    const started = Date.now()
    const { checkpoint } = await upload(turbo(emu), 'slow', data, { timeout: 800 })
    assert.ok(Date.now() - started < 2800, 'did not wait for the slow answer')
    assert.equal(await stored('slow'), sha256(data))
    assert.equal(checkpoint.doneParts.length, 4)
    // The first try of part 3 was abandoned (logged with status 0 once the emulator notices), the second stored it.
    let tries: number[] = []
    for (let i = 0; i < 50 && tries.length < 2; i++) {
      tries = (await attempts('slow')).get(3) ?? []
      if (tries.length < 2) await sleep(100)
    }
    assert.deepEqual([...tries].sort(), [0, 200])
  })

  it('with retryMax 0 the same fault fails the upload (ali-oss semantics), with a checkpoint to resume from', async () => {
    const data = makeData(PART * 4)
    await emu.addFault({
      api: 'UploadPart',
      key: 'no-retry',
      partNumber: 2,
      action: { type: 'error', status: 503, code: 'ServiceUnavailable' },
    })
    let checkpoint: OSS.Checkpoint | undefined
    const err = await rejection(
      turbo(emu, { retryMax: 0 }).multipartUpload('no-retry', data, {
        partSize: PART,
        parallel: 1,
        progress: (_p, cp) => {
          if (cp) checkpoint = cp
        },
      }),
    )
    assert.equal(err.status, 503)
    assert.deepEqual(
      checkpoint!.doneParts.map((p) => p.number),
      [1],
    )
  })

  it('a wrong secret fails at once: no retry storm', async () => {
    const err = await rejection(
      turbo(emu, { accessKeySecret: 'not-the-secret' }).multipartUpload('denied', makeData(PART * 3)),
    )
    assert.equal(err.code, 'SignatureDoesNotMatch')
    const log = (await emu.log()).filter((e) => e.key === 'denied')
    assert.equal(log.length, 1, 'one request, not retried')
  })

  it('a 503 at Complete is retried like any other request', async () => {
    const data = makeData(PART * 2)
    await emu.addFault({
      api: 'CompleteMultipartUpload',
      key: 'complete-503',
      action: { type: 'error', status: 503, code: 'ServiceUnavailable' },
    })
    await upload(turbo(emu), 'complete-503', data)
    assert.equal(await stored('complete-503'), sha256(data))
    assert.deepEqual((await attempts('complete-503', 'CompleteMultipartUpload')).get(0), [503, 200])
  })

  it('InvalidPart at Complete is reported, not retried', async () => {
    await emu.addFault({
      api: 'CompleteMultipartUpload',
      key: 'bad-complete',
      action: { type: 'error', status: 400, code: 'InvalidPart' },
    })
    const err = await rejection(turbo(emu).multipartUpload('bad-complete', makeData(PART * 2), { partSize: PART }))
    assert.equal(err.name, 'InvalidPartError')
    assert.equal((await attempts('bad-complete', 'CompleteMultipartUpload')).get(0)!.length, 1)
  })

  it('a skewed clock is corrected from the server and the request retried', async () => {
    await emu.setClockSkew(40 * 60 * 1000)
    const data = makeData(PART * 2)
    await upload(turbo(emu), 'skewed', data)
    assert.equal(await stored('skewed'), sha256(data))
    const statuses = (await emu.log()).filter((e) => e.key === 'skewed').map((e) => e.status)
    assert.deepEqual(statuses.slice(0, 2), [403, 200], 'one RequestTimeTooSkewed, then the corrected clock works')
  })
})

describe('the durable checkpoint file', () => {
  it('is written after Initiate and each part, resumed from, and removed on success', async () => {
    const data = makeData(PART * 6)
    const path = dir.file('cpf.bin', data)
    const cpFile = join(dir.path, 'cpf.checkpoint.json')
    await emu.addFault({
      api: 'UploadPart',
      key: 'cpf',
      partNumber: 4,
      times: 0,
      action: { type: 'error', status: 400, code: 'InvalidArgument' },
    })
    const first = await rejection(
      turbo(emu).multipartUpload('cpf', path, { partSize: PART, parallel: 1, checkpointFile: cpFile }),
    )
    assert.equal(first.partNum, 4)
    const saved = JSON.parse(readFileSync(cpFile, 'utf8'))
    assert.deepEqual(
      saved.doneParts.map((p: OSS.DonePart) => p.number),
      [1, 2, 3],
    )
    for (const k of ['file', 'name', 'fileSize', 'partSize', 'uploadId']) assert.ok(k in saved, k)
    assert.equal(saved.file, path)
    await emu.clearFaults()
    await emu.clearLog()
    const calls: number[] = []
    const r = await turbo(emu).multipartUpload('cpf', path, {
      checkpointFile: cpFile,
      progress: (p) => void calls.push(p),
    })
    assert.equal(r.res.status, 200)
    assert.equal(await stored('cpf'), sha256(data))
    assert.deepEqual(calls, [4 / 7, 5 / 7, 6 / 7, 1], 'resumed: only parts 4-6 were uploaded')
    assert.deepEqual([...(await attempts('cpf')).keys()].sort(), [4, 5, 6])
    assert.ok(!existsSync(cpFile), 'removed after success')
  })

  it('a checkpoint file that does not parse or does not match is not used, and says why', async () => {
    const data = makeData(PART * 2)
    const cpFile = join(dir.path, 'bad.checkpoint.json')
    const warnings: string[] = []
    const warn = console.warn
    console.warn = (m: string) => void warnings.push(String(m))
    try {
      writeFileSync(cpFile, '{"uploadId": "trunc')
      await turbo(emu).multipartUpload('bad-cpf', data, { partSize: PART, checkpointFile: cpFile })
      writeFileSync(
        cpFile,
        JSON.stringify({ file: null, name: 'other-key', fileSize: 1, partSize: PART, uploadId: 'X', doneParts: [] }),
      )
      await turbo(emu).multipartUpload('bad-cpf', data, { partSize: PART, checkpointFile: cpFile })
    } finally {
      console.warn = warn
    }
    assert.match(warnings[0], /not a valid checkpoint/)
    assert.match(warnings[1], /it is for object "other-key", not "bad-cpf"/)
    assert.equal(await stored('bad-cpf'), sha256(data))
  })

  it('an upload that vanished between two runs starts again instead of failing forever', async () => {
    const data = makeData(PART * 3)
    const cpFile = join(dir.path, 'vanish.checkpoint.json')
    await emu.addFault({
      api: 'UploadPart',
      key: 'vanish',
      partNumber: 2,
      times: 0,
      action: { type: 'error', status: 400, code: 'InvalidArgument' },
    })
    await rejection(turbo(emu).multipartUpload('vanish', data, { partSize: PART, parallel: 1, checkpointFile: cpFile }))
    const old = JSON.parse(readFileSync(cpFile, 'utf8'))
    await emu.clearFaults()
    await emu.expireUpload({ uploadId: old.uploadId })
    const warnings: string[] = []
    const warn = console.warn
    console.warn = (m: string) => void warnings.push(String(m))
    try {
      await turbo(emu).multipartUpload('vanish', data, { partSize: PART, checkpointFile: cpFile })
    } finally {
      console.warn = warn
    }
    assert.match(warnings.join('\n'), /no longer exists/)
    assert.equal(await stored('vanish'), sha256(data))
  })

  it('resume re-uploads only what the server lacks or holds with another ETag', async () => {
    const data = makeData(PART * 4)
    const client = turbo(emu)
    const init = await client.initMultipartUpload('verify')
    const p1 = await client.uploadPart('verify', init.uploadId, 1, data, 0, PART)
    const p2 = await client.uploadPart('verify', init.uploadId, 2, data, PART, 2 * PART)
    const checkpoint: OSS.Checkpoint = {
      file: data,
      name: 'verify',
      fileSize: data.length,
      partSize: PART,
      uploadId: init.uploadId,
      // Part 2's ETag is wrong and part 3 was never uploaded.
      doneParts: [
        { number: 1, etag: p1.etag },
        { number: 2, etag: '"00000000000000000000000000000000"' },
        { number: 3, etag: p2.etag },
      ],
    }
    await emu.clearLog()
    await client.multipartUpload('verify', data, { checkpoint })
    assert.deepEqual([...(await attempts('verify')).keys()].sort(), [2, 3, 4])
    assert.equal(await stored('verify'), sha256(data))
  })
})

describe('cancellation', () => {
  it('options.signal stops that upload only, within a second, with an exact checkpoint', async () => {
    await emu.addFault({ api: 'UploadPart', key: 'sig-a', nth: 3, times: 0, action: { type: 'delay', ms: 5000 } })
    const client = turbo(emu)
    const controller = new AbortController()
    const cpFile = join(dir.path, 'sig-a.json')
    const a = client.multipartUpload('sig-a', makeData(PART * 8), {
      partSize: PART,
      parallel: 2,
      signal: controller.signal,
      checkpointFile: cpFile,
      progress: (_p, cp) => {
        if (cp && cp.doneParts.length === 2) controller.abort()
      },
    })
    const otherData = makeData(PART * 4)
    const b = client.multipartUpload('sig-b', otherData, { partSize: PART, parallel: 2 })
    const started = Date.now()
    const err = await rejection(a)
    assert.deepEqual(err, { status: 0, name: 'cancel' })
    assert.ok(Date.now() - started < 1000, 'rejected within a second')
    await b
    assert.equal(await stored('sig-b'), sha256(otherData), 'the other upload went on')
    const saved = JSON.parse(readFileSync(cpFile, 'utf8'))
    // Every part the checkpoint names is stored with that ETag (a part dropped in flight may or may not
    // have reached the server; resuming simply sends it again).
    const listed = await client.listParts('sig-a', saved.uploadId)
    const onServer = new Map(listed.parts.map((p) => [Number(p.PartNumber), p.ETag]))
    assert.ok(saved.doneParts.length >= 2)
    for (const p of saved.doneParts as OSS.DonePart[]) assert.equal(onServer.get(p.number), p.etag, `part ${p.number}`)
    assert.ok(!client.isCancel(), 'the client-wide flag is untouched')
  })

  it('an already aborted signal rejects before anything is sent', async () => {
    const err = await rejection(
      turbo(emu).multipartUpload('pre-aborted', makeData(PART * 2), { signal: AbortSignal.abort() }),
    )
    assert.deepEqual(err, { status: 0, name: 'cancel' })
    assert.equal((await emu.log()).length, 0)
  })

  it('cancel with abort does not leave an unhandled rejection when the DELETE fails', async () => {
    const client = turbo(emu)
    let unhandled = 0
    const onUnhandled = () => void unhandled++
    process.on('unhandledRejection', onUnhandled)
    try {
      client.cancel({ name: 'never', uploadId: 'no-such-upload' })
      await sleep(300)
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
    assert.equal(unhandled, 0)
    assert.ok((await emu.log()).some((e) => e.api === 'AbortMultipartUpload' && e.status === 404))
  })
})

describe('byte-level progress', () => {
  it('onUploadProgress moves inside parts, ends exactly at total, and does not count a retried part twice', async () => {
    const data = makeData(4 * 1024 * 1024 + 3)
    await emu.addFault({
      api: 'UploadPart',
      key: 'bytes',
      partNumber: 1,
      action: { type: 'reset', afterBytes: 1024 * 1024 },
    })
    await emu.addFault({ api: 'UploadPart', key: 'bytes', times: 0, action: { type: 'delay', ms: 150 } })
    const seen: Array<{ loaded: number; total: number }> = []
    await turbo(emu).multipartUpload('bytes', data, {
      partSize: 2 * 1024 * 1024,
      parallel: 1,
      onUploadProgress: (p) => void seen.push(p),
    })
    assert.ok(seen.length >= 3, `several calls (${seen.length})`)
    assert.deepEqual(seen[seen.length - 1], { loaded: data.length, total: data.length })
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i].loaded > seen[i - 1].loaded, 'strictly increasing')
    assert.ok(seen.every((p) => p.loaded <= p.total))
    assert.equal(await stored('bytes'), sha256(data))
  })
})

describe('STS credentials', () => {
  it('a token nearing expiry is refreshed once while concurrent parts wait', async () => {
    // token-1 dies 1 s from now, while the upload (8 rounds of 120 ms parts) is still running; the client
    // refreshes every 200 ms. A part signed with token-1 after its death would get 403 SecurityTokenExpired.
    // (The margin is generous so that a loaded machine delaying the refresh callback cannot fail the test.)
    await emu.addCredentials({
      accessKeyId: 'sts-1',
      accessKeySecret: 'sts-secret-1',
      securityToken: 'token-1',
      expiresInMs: 1000,
    })
    await emu.addCredentials({
      accessKeyId: 'sts-2',
      accessKeySecret: 'sts-secret-2',
      securityToken: 'token-2',
      expiresInMs: 60_000,
    })
    let refreshes = 0
    let running = 0
    let maxRunning = 0
    const client = new OSS({
      ...clientOptions(emu),
      accessKeyId: 'sts-1',
      accessKeySecret: 'sts-secret-1',
      stsToken: 'token-1',
      refreshSTSTokenInterval: 200,
      refreshSTSToken: async () => {
        refreshes++
        maxRunning = Math.max(maxRunning, ++running)
        await sleep(100)
        running--
        return { accessKeyId: 'sts-2', accessKeySecret: 'sts-secret-2', stsToken: 'token-2' }
      },
    })
    const data = makeData(PART * 32)
    await emu.addFault({ api: 'UploadPart', key: 'sts', times: 0, action: { type: 'delay', ms: 120 } })
    await upload(client, 'sts', data, { parallel: 4 })
    assert.equal(await stored('sts'), sha256(data))
    assert.ok(refreshes >= 1, `refreshed ${refreshes} times`)
    assert.equal(maxRunning, 1, 'one refresh at a time; concurrent parts waited for it')
    const shown = JSON.stringify(client.options)
    assert.ok(
      !shown.includes('sts-secret') && !shown.includes('token-'),
      'refreshed secrets stay out of client.options in JSON',
    )
    assert.equal((client.options as { stsToken?: string }).stsToken, 'token-2')
    const statuses = (await emu.log()).filter((e) => e.key === 'sts').map((e) => e.status)
    assert.ok(statuses.length >= 34)
    assert.ok(
      statuses.every((st) => st === 200),
      `no request was refused: ${statuses.join(',')}`,
    )
  })
})

describe('bad input: a clear error and nothing sent', () => {
  const noRequests = async () => assert.equal((await emu.log()).length, 0, 'nothing was sent')

  it('a path that does not exist, and a directory', async () => {
    // Node's own error, as ali-oss rejects with (it stats the file first).
    const missing = await rejection(turbo(emu).multipartUpload('x', join(dir.path, 'nope.bin')))
    assert.equal(missing.code, 'ENOENT')
    assert.match(missing.message, /^ENOENT: no such file or directory, stat '.*nope\.bin'$/)
    const folder = await rejection(turbo(emu).multipartUpload('x', dir.path))
    assert.match(folder.message, /is not file/)
    await noRequests()
  })

  it('an unreadable file', async (t) => {
    if (process.getuid && process.getuid() === 0) {
      t.skip('running as root: file permissions do not stop reads (read errors are covered by the Rust unit tests)')
      return
    }
    const p = dir.file('locked.bin', makeData(10))
    const { chmodSync } = await import('node:fs')
    chmodSync(p, 0o000)
    const err = await rejection(turbo(emu).multipartUpload('x', p))
    assert.match(err.message, /permission denied/)
    await noRequests()
  })

  // (`parallel` is taken as loosely as ali-oss takes it: see parity-diff.spec.ts.)
  it('partSize over 5 GiB', async () => {
    const data = makeData(PART * 2)
    const big = await rejection(turbo(emu).multipartUpload('x', data, { partSize: 6 * 1024 ** 3 }))
    assert.match(big.message, /partSize must not be larger than/)
    await noRequests()
  })

  it('an empty key; a key over 1023 bytes is refused by the server, as with ali-oss', async () => {
    const data = makeData(PART * 2)
    assert.match((await rejection(turbo(emu).multipartUpload('', data))).message, /must not be empty/)
    await noRequests()
    const long = await rejection(turbo(emu).multipartUpload('k'.repeat(1024), data))
    assert.equal(long.name, 'InvalidObjectNameError')
    assert.equal(long.status, 400)
  })

  it('a checkpoint of the wrong shape', async () => {
    const data = makeData(PART * 2)
    const shapes: Array<[Record<string, unknown>, RegExp]> = [
      [{ uploadId: 'U', name: 'k', file: data, fileSize: 'big', partSize: PART, doneParts: [] }, /fileSize/],
      [{ uploadId: 'U', name: 'k', file: 42, fileSize: data.length, partSize: PART, doneParts: [] }, /file must be/],
      [
        { uploadId: 'U', name: 'k', file: data, fileSize: data.length, partSize: PART, doneParts: {} },
        /doneParts must be an array/,
      ],
      [
        { uploadId: 'U', name: 'k', file: data, fileSize: data.length, partSize: PART, doneParts: [{ n: 1 }] },
        /\{number, etag\}/,
      ],
      [
        { uploadId: 'U', name: 'k', file: data, fileSize: data.length, partSize: 10, doneParts: [] },
        /more than the 10000/,
      ],
    ]
    for (const [checkpoint, message] of shapes) {
      const err = await rejection(turbo(emu).multipartUpload('k', data, { checkpoint: checkpoint as never }))
      assert.match(err.message, message)
    }
    await noRequests()
  })

  it('a byte-progress callback that throws stops the upload with its error', async () => {
    const boom = new Error('progress bar crashed')
    await emu.addFault({ api: 'UploadPart', key: 'bytes-throw', times: 0, action: { type: 'delay', ms: 150 } })
    const err = await rejection(
      turbo(emu).multipartUpload('bytes-throw', makeData(4 * 1024 * 1024), {
        partSize: 1024 * 1024,
        parallel: 1,
        onUploadProgress: () => {
          throw boom
        },
      }),
    )
    assert.ok(err === boom)
  })
})

describe('secrets never leak', () => {
  it('not in errors, error properties, checkpoint files or the debug log', async () => {
    const secret = 'SECRET-sk-7d1e0c'
    const token = 'TOKEN-sts-93ab55'
    await emu.addCredentials({
      accessKeyId: 'leak-ak',
      accessKeySecret: secret,
      securityToken: token,
      expiresInMs: 600_000,
    })
    const data = makeData(PART * 5)
    const file = dir.file('leak.bin', data)
    const cpFile = join(dir.path, 'leak.json')
    await emu.addFault({ api: 'UploadPart', key: 'leak', partNumber: 2, action: { type: 'reset', afterBytes: 1000 } })
    await emu.addFault({
      api: 'UploadPart',
      key: 'leak',
      partNumber: 4,
      times: 0,
      action: { type: 'error', status: 400, code: 'InvalidArgument' },
    })
    const run = (client: Record<string, unknown>) =>
      new Promise<{ out: string; err: string; code: number | null }>((resolve) => {
        const cfg = { client, key: 'leak', file, options: { partSize: PART, parallel: 2, checkpointFile: cpFile } }
        const child = spawn(process.execPath, [CHILD, JSON.stringify(cfg)], {
          env: { ...process.env, OSS_TURBO_LOG: 'debug' },
        })
        let out = ''
        let err = ''
        child.stdout.on('data', (d) => (out += d))
        child.stderr.on('data', (d) => (err += d))
        child.on('close', (code) => resolve({ out, err, code }))
      })
    const base = { endpoint: emu.endpoint, bucket: TEST_BUCKET, region: TEST_REGION }
    const a = await run({ ...base, accessKeyId: 'leak-ak', accessKeySecret: secret, stsToken: token })
    const b = await run({ ...base, accessKeyId: 'leak-ak', accessKeySecret: 'wrong-' + secret, stsToken: token })
    assert.equal(a.code, 1)
    assert.equal(b.code, 1)
    assert.match(a.err, /retry 1\/3/, 'the debug log shows retries')
    assert.match(a.err, /checkpoint file .* written/, 'and checkpoint writes')
    assert.match(a.out, /InvalidArgument/)
    assert.match(b.out, /SignatureDoesNotMatch/)
    const everything = [a.out, a.err, b.out, b.err, readFileSync(cpFile, 'utf8')].join('\n')
    assert.ok(!everything.includes(secret), 'no secret anywhere')
    assert.ok(!everything.includes(token), 'no STS token anywhere')
    assert.ok(!/authorization/i.test(a.err + b.err), 'no Authorization header in the log')
  })
})

describe('crash and resume', () => {
  it('a child uploading 256 MiB is SIGKILLed 5 times at random points and the object ends byte-identical', async (t) => {
    const size = 256 * 1024 * 1024
    const data = makeData(size)
    const file = dir.file('crash.bin', data)
    const cpFile = join(dir.path, 'crash.json')
    // Slow the parts a little so that every kill lands mid-upload.
    await emu.addFault({ api: 'UploadPart', key: 'crash', times: 0, action: { type: 'delay', ms: 40 } })
    const cfg = {
      client: {
        endpoint: emu.endpoint,
        bucket: TEST_BUCKET,
        region: TEST_REGION,
        accessKeyId: TEST_AK,
        accessKeySecret: 'test-sk',
      },
      key: 'crash',
      file,
      options: { partSize: 1024 * 1024, parallel: 4, checkpointFile: cpFile },
    }
    let kills = 0
    let finished = false
    let killAt = 0
    for (let run = 0; run < 12 && !finished; run++) {
      const child = spawn(process.execPath, [CHILD, JSON.stringify(cfg)])
      // Kill at a random point after a random number of further parts (10 to 40): always mid-upload.
      killAt += 10 + Math.floor(Math.random() * 31)
      let out = ''
      child.stdout.on('data', (d) => {
        out += d
        const done = [...out.matchAll(/"done":(\d+)/g)].map((m) => Number(m[1]))
        if (kills < 5 && child.exitCode === null && !child.killed && done.length && done[done.length - 1] >= killAt) {
          child.kill('SIGKILL')
          kills++
        }
      })
      const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)))
      if (code === 0) finished = out.includes('"ok":true')
    }
    assert.equal(kills, 5, 'killed five times')
    assert.ok(finished, 'the last run completed')
    assert.equal(await stored('crash'), sha256(data))
    assert.ok(!existsSync(cpFile))
    const tries = await attempts('crash')
    const parts = 256
    let sent = 0
    for (const statuses of tries.values()) sent += statuses.length
    assert.equal(tries.size, parts)
    t.diagnostic(`part uploads: ${sent} for ${parts} parts (${sent - parts} repeated because of the kills)`)
    assert.ok(sent - parts <= 5 * 8, 'at most the parts in flight (and unsaved) at each kill were sent again')
  })
})

describe('load', () => {
  it('32 concurrent uploads of 32 MiB on one client', async (t) => {
    const client = turbo(emu)
    const sources = Array.from({ length: 32 }, (_, i) => makeData(32 * 1024 * 1024 + i))
    const before = process.resourceUsage().maxRSS
    await Promise.all(
      sources.map((data, i) => client.multipartUpload(`load/${i}`, data, { partSize: 4 * 1024 * 1024, parallel: 4 })),
    )
    for (let i = 0; i < sources.length; i++) assert.equal(await stored(`load/${i}`), sha256(sources[i]), `object ${i}`)
    const grew = (process.resourceUsage().maxRSS - before) / 1024
    t.diagnostic(`32 × 32 MiB at once: peak RSS grew by ${grew.toFixed(0)} MiB over the 1 GiB of source Buffers`)
  })

  it('1 GiB at 100 KiB parts is raised to fit 10,000 parts and completes', async (t) => {
    const bench = await startEmulator({ bench: true })
    try {
      const size = 1024 * 1024 * 1024
      const file = join(dir.path, 'gib.bin')
      const chunk = makeData(64 * 1024 * 1024)
      const fd = openSync(file, 'w')
      for (let i = 0; i < size / chunk.length; i++) writeSync(fd, chunk)
      closeSync(fd)
      // In a child process, so that its peak RSS is the upload's own.
      const cfg = {
        client: {
          endpoint: bench.endpoint,
          bucket: TEST_BUCKET,
          region: TEST_REGION,
          accessKeyId: TEST_AK,
          accessKeySecret: 'test-sk',
        },
        key: 'gib',
        file,
        options: { partSize: PART, parallel: 8 },
      }
      const child = spawn(process.execPath, [CHILD, JSON.stringify(cfg)])
      let out = ''
      let err = ''
      child.stdout.on('data', (d) => (out += d))
      child.stderr.on('data', (d) => (err += d))
      const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)))
      const lines = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
      const last = lines[lines.length - 1]
      assert.equal(code, 0, out.slice(-500) + err)
      assert.match(err, /partSize has been set to 107375/)
      assert.equal(lines.length - 1, 10000 + 2, 'progress(0), one per part, progress(1)')
      assert.match(last.etag, /-10000"$/)
      const head = await turbo(bench).head('gib')
      assert.equal(head.res.headers['content-length'], String(size))
      t.diagnostic(`1 GiB in 10,000 parts: peak RSS of the uploading process ${last.maxRssMiB} MiB`)
    } finally {
      await bench.stop()
    }
  })
})
