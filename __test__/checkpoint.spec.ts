// Checkpoints and failures: resume across clients, the docs' retry loop, and the fixed failure semantics.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { after, before, beforeEach, describe, it } from 'node:test'

import OSS = require('..')
import { Emulator, startEmulator } from './helpers/emulator'
import { TempDir, ali, makeData, rejection, sha256, sleep, turbo } from './helpers/util'

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

async function successfulPartUploads(key: string): Promise<Map<number, number>> {
  const counts = new Map<number, number>()
  for (const e of await emu.log()) {
    if (e.api === 'UploadPart' && e.key === key && e.status === 200 && e.partNumber != null) {
      counts.set(e.partNumber, (counts.get(e.partNumber) ?? 0) + 1)
    }
  }
  return counts
}

/** Uploads with `first`, which fails on part 3; then finishes with `second` from the saved checkpoint. */
async function interchange(first: any, second: any, key: string, useFile: boolean) {
  const data = makeData(PART * 6 + 77)
  const file = useFile ? dir.file(`${key}.bin`, data) : data
  await emu.addFault({
    api: 'UploadPart',
    key,
    partNumber: 3,
    times: 0,
    action: { type: 'error', status: 500, code: 'InternalError' },
  })
  let saved: any = null
  const err = await rejection(
    first.multipartUpload(key, file, {
      partSize: PART,
      parallel: 1,
      progress: (_p: number, cp: any) => {
        if (cp) saved = JSON.parse(JSON.stringify(useFile ? cp : { ...cp, file: null }))
      },
    }),
  )
  assert.equal(err.status, 500)
  assert.ok(saved && saved.uploadId, 'a checkpoint was saved before the failure')
  assert.deepEqual(
    saved.doneParts.map((p: any) => p.number),
    [1, 2],
    'parts 1 and 2 are recorded',
  )
  await emu.clearFaults()
  if (!useFile) saved.file = data
  const calls: number[] = []
  const result = await second.multipartUpload(key, file, {
    checkpoint: saved,
    progress: (p: number) => {
      calls.push(p)
    },
  })
  assert.equal(result.res.status, 200)
  assert.equal(sha256((await emu.getObject(key))!), sha256(data))
  // Resume reports (done + 1) / (parts + 1) first, and ends with 1.
  assert.deepEqual(calls, [3 / 8, 4 / 8, 5 / 8, 6 / 8, 7 / 8, 1])
  for (const [n, count] of await successfulPartUploads(key)) {
    assert.equal(count, 1, `part ${n} uploaded once`)
  }
}

describe('checkpoint interchange with ali-oss', () => {
  it('an upload interrupted under ali-oss is finished by oss-turbo (file path)', async () => {
    await interchange(ali(emu), turbo(emu), 'ali-then-turbo', true)
  })
  it('an upload interrupted under oss-turbo is finished by ali-oss (file path)', async () => {
    await interchange(turbo(emu), ali(emu), 'turbo-then-ali', true)
  })
  it('the same with a Buffer, V4 signing', async () => {
    await interchange(
      ali(emu, { authorizationV4: true }),
      turbo(emu, { authorizationV4: true }),
      'ali-then-turbo-buf',
      false,
    )
    await interchange(
      turbo(emu, { authorizationV4: true }),
      ali(emu, { authorizationV4: true }),
      'turbo-then-ali-buf',
      false,
    )
  })
})

describe("the docs' retry loop", () => {
  it('finishes through two injected part failures, uploading each part at most once after it succeeded', async () => {
    const key = 'docs-loop'
    const data = makeData(PART * 8 + 10)
    const file = dir.file('docs-loop.bin', data)
    await emu.addFault({
      api: 'UploadPart',
      key,
      partNumber: 4,
      action: { type: 'error', status: 503, code: 'ServiceUnavailable' },
    })
    await emu.addFault({ api: 'UploadPart', key, partNumber: 7, action: { type: 'reset', afterBytes: 5000 } })
    // ali-oss's default: no automatic retry, so each injected failure reaches the loop.
    const client = turbo(emu, { retryMax: 0 })
    let checkpoint: OSS.Checkpoint | undefined
    let failures = 0
    let result: OSS.MultipartUploadResult | undefined
    // The pattern from ali-oss's documentation.
    for (let i = 0; i < 5; i++) {
      try {
        result = await client.multipartUpload(key, file, {
          checkpoint,
          partSize: PART,
          // One part at a time, so that the two faults fail two separate runs.
          parallel: 1,
          progress: (_p, cp) => {
            if (cp) checkpoint = cp
          },
        })
        break
      } catch (e) {
        failures++
      }
    }
    assert.ok(result, 'the loop finished')
    assert.equal(failures, 2)
    assert.equal(sha256((await emu.getObject(key))!), sha256(data))
    const counts = await successfulPartUploads(key)
    assert.equal(counts.size, 9)
    for (const [n, count] of counts) assert.equal(count, 1, `part ${n} succeeded once`)
  })
})

describe('failure semantics (fixed where ali-oss is broken)', () => {
  it('on a failed part, the parts in flight settle and are recorded, then it rejects; nothing fires after', async () => {
    const key = 'settle'
    const data = makeData(PART * 10)
    // Part 2 fails at once, while parts 1 and 3 are slow: they must still be recorded.
    await emu.addFault({
      api: 'UploadPart',
      key,
      partNumber: 2,
      action: { type: 'error', status: 400, code: 'InvalidArgument' },
    })
    await emu.addFault({ api: 'UploadPart', key, partNumber: 1, action: { type: 'delay', ms: 400 } })
    await emu.addFault({ api: 'UploadPart', key, partNumber: 3, action: { type: 'delay', ms: 400 } })
    let checkpoint: OSS.Checkpoint | undefined
    let calls = 0
    const err = await rejection(
      turbo(emu).multipartUpload(key, data, {
        partSize: PART,
        parallel: 3,
        progress: (_p, cp) => {
          calls++
          if (cp) checkpoint = cp
        },
      }),
    )
    const callsAtRejection = calls
    assert.equal(err.partNum, 2)
    assert.equal(err.code, 'InvalidArgument')
    assert.match(err.message, /^Failed to upload some parts with error: InvalidArgumentError: .* part_num: 2$/)
    await sleep(800)
    assert.equal(calls, callsAtRejection, 'no progress call after the rejection')
    const recorded = checkpoint!.doneParts.map((p) => p.number).sort((a, b) => a - b)
    // Part 1 is always in flight when part 2 fails (it is taken first); part 3 is too unless its worker had
    // not taken it yet. Either way the slow parts were waited for and recorded, and nothing new started.
    assert.ok(recorded.includes(1), `part 1 settled and was recorded: ${recorded}`)
    assert.ok(
      recorded.every((n) => n === 1 || n === 3),
      `no part after the failure was started: ${recorded}`,
    )
    const listed = await turbo(emu).listParts(key, checkpoint!.uploadId)
    assert.deepEqual(
      listed.parts.map((p) => Number(p.PartNumber)),
      recorded,
      'the checkpoint holds exactly what the server holds',
    )
  })

  it('with parallel 1 the error is thrown unchanged, with partNum', async () => {
    const key = 'serial-fail'
    await emu.addFault({
      api: 'UploadPart',
      key,
      partNumber: 2,
      action: { type: 'error', status: 400, code: 'InvalidArgument', message: 'bad part' },
    })
    const err = await rejection(turbo(emu).multipartUpload(key, makeData(PART * 3), { partSize: PART, parallel: 1 }))
    assert.equal(err.message, 'bad part')
    assert.equal(err.partNum, 2)
  })

  it('a progress callback that throws rejects the upload with that error and its part number', async () => {
    const boom = new Error('disk full')
    let n = 0
    const err = await rejection(
      turbo(emu).multipartUpload('cb-throws', makeData(PART * 4), {
        partSize: PART,
        parallel: 1,
        progress: async () => {
          if (++n === 3) throw boom
        },
      }),
    )
    assert.ok(err === boom, "the callback's own error")
    assert.equal(err.partNum, 2)
  })

  it('cancel() rejects with {status: 0, name: "cancel"} and the checkpoint stays exact', async () => {
    const key = 'cancelled'
    await emu.addFault({ api: 'UploadPart', key, nth: 3, times: 0, action: { type: 'delay', ms: 2000 } })
    const client = turbo(emu)
    let checkpoint: OSS.Checkpoint | undefined
    const started = Date.now()
    const upload = client.multipartUpload(key, makeData(PART * 10), {
      partSize: PART,
      parallel: 2,
      progress: (p, cp) => {
        if (cp) checkpoint = cp
        if (p > 0 && checkpoint!.doneParts.length === 2) client.cancel()
      },
    })
    const err = await rejection(upload)
    assert.deepEqual(err, { status: 0, name: 'cancel' })
    assert.ok(client.isCancel())
    assert.ok(Date.now() - started < 1900, 'requests in flight were dropped, not awaited')
    const listed = await client.listParts(key, checkpoint!.uploadId)
    const onServer = listed.parts.map((p) => Number(p.PartNumber))
    for (const p of checkpoint!.doneParts) assert.ok(onServer.includes(p.number))
    // A new upload resets the flag, as in ali-oss, and can resume from the checkpoint.
    await emu.clearFaults()
    const done = await client.multipartUpload(key, checkpoint!.file, { checkpoint })
    assert.equal(done.res.status, 200)
    assert.ok(!client.isCancel())
  })

  it('resuming with a file whose size changed is a clear error before anything is sent', async () => {
    const data = makeData(PART * 3)
    const path = dir.file('changes.bin', data)
    let checkpoint: OSS.Checkpoint | undefined
    await emu.addFault({
      api: 'UploadPart',
      key: 'changes',
      partNumber: 2,
      action: { type: 'error', status: 400, code: 'InvalidArgument' },
    })
    await rejection(
      turbo(emu).multipartUpload('changes', path, {
        partSize: PART,
        parallel: 1,
        progress: (_p, cp) => {
          if (cp) checkpoint = cp
        },
      }),
    )
    writeFileSync(path, makeData(PART * 3 + 1))
    await emu.clearLog()
    const err = await rejection(turbo(emu).multipartUpload('changes', path, { checkpoint }))
    assert.match(err.message, /changed since the checkpoint/)
    assert.equal((await emu.log()).length, 0, 'no request was sent')
  })

  it('a checkpoint listing a part twice (old ali-oss bug) is deduplicated in place', async () => {
    const key = 'dupes'
    const data = makeData(PART * 3)
    const client = turbo(emu)
    const init = await client.initMultipartUpload(key)
    const p1 = await client.uploadPart(key, init.uploadId, 1, data, 0, PART)
    const checkpoint: OSS.Checkpoint = {
      file: data,
      name: key,
      fileSize: data.length,
      partSize: PART,
      uploadId: init.uploadId,
      doneParts: [
        { number: 1, etag: p1.etag },
        { number: 1, etag: p1.etag },
      ],
    }
    const doneParts = checkpoint.doneParts
    await client.multipartUpload(key, data, { checkpoint })
    assert.equal(checkpoint.doneParts, doneParts, 'the same array')
    assert.deepEqual(doneParts.map((p) => p.number).sort(), [1, 2, 3])
    assert.equal(sha256((await emu.getObject(key))!), sha256(data))
  })
})
