// Differences from ali-oss found by differential checks (issue 9), each run side by side: ali-oss 6.23.0 and
// oss-turbo on the same emulator, compared field by field (request ids and timings by presence only).
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'

import OSS = require('..')
import { Emulator, TEST_BUCKET, startEmulator } from './helpers/emulator'
import { AliOSS, TempDir, clientOptions, makeData, rejection } from './helpers/util'

const PART = 100 * 1024

let emu: Emulator
let dir: TempDir
before(async () => {
  emu = await startEmulator()
  dir = new TempDir()
  await emu.addCredentials({ accessKeyId: 'sts-ak', accessKeySecret: 'sts-sk', securityToken: 'good-token' })
})
after(async () => {
  await emu?.stop()
  dir?.remove()
})

/** The same options for both clients; each gets its own object (ali-oss and oss-turbo mutate theirs). */
function both(extra: Record<string, unknown> = {}): [any, any] {
  return [new AliOSS(clientOptions(emu, extra)), new OSS(clientOptions(emu, extra) as OSS.Options)]
}

const clients = ['ali-oss', 'oss-turbo']

/** ali-oss's error fields, for a field-by-field comparison (request ids by presence). */
function fields(e: any): Record<string, unknown> {
  return {
    isError: e instanceof Error,
    name: e.name,
    message: e.message,
    code: e.code,
    status: e.status,
    requestId: typeof e.requestId === 'string' && e.requestId.length > 0,
    hostId: e.hostId === undefined ? undefined : typeof e.hostId,
    host: e.host,
    params:
      e.params === undefined
        ? undefined
        : { method: e.params.method, bucket: e.params.bucket, object: e.params.object },
  }
}

describe('1-2: refreshSTSToken', () => {
  it('refreshSTSTokenInterval: 0 refreshes before requests, so a stale token is replaced in both', async () => {
    const calls = [0, 0]
    const results = await Promise.all(
      [0, 1].map(async (i) => {
        const [a, t] = both({
          accessKeyId: 'sts-ak',
          accessKeySecret: 'sts-sk',
          stsToken: 'stale-token',
          refreshSTSTokenInterval: 0,
          refreshSTSToken: async () => {
            calls[i]++
            return { accessKeyId: 'sts-ak', accessKeySecret: 'sts-sk', stsToken: 'good-token' }
          },
        })
        const client = i === 0 ? a : t
        return client.multipartUpload(`sts0/${clients[i]}`, makeData(PART * 3), { partSize: PART })
      }),
    )
    for (const r of results) assert.equal(r.res.status, 200)
    assert.ok(calls[0] >= 1 && calls[1] >= 1, `refresh calls ${calls}`)
  })

  it('without a refresh, the stale token fails the same way in both', async () => {
    const [a, t] = both({
      accessKeyId: 'sts-ak',
      accessKeySecret: 'sts-sk',
      stsToken: 'stale-token',
      refreshSTSTokenInterval: 1000,
    })
    const [ea, et] = [
      await rejection(a.put('sts/x', Buffer.from('x'))),
      await rejection(t.put('sts/x', Buffer.from('x'))),
    ]
    assert.deepEqual(fields(et), fields(ea))
    assert.equal(et.status, 403)
  })

  it("credentials in STS assumeRole's capitalisation ({AccessKeyId, AccessKeySecret, SecurityToken}) are taken", async () => {
    for (const [i, client] of both({
      accessKeyId: 'sts-ak',
      accessKeySecret: 'sts-sk',
      stsToken: 'stale-token',
      refreshSTSTokenInterval: 0,
      refreshSTSToken: async () => ({ AccessKeyId: 'sts-ak', AccessKeySecret: 'sts-sk', SecurityToken: 'good-token' }),
    }).entries()) {
      const r = await client.multipartUpload(`stscaps/${clients[i]}`, makeData(PART * 2), { partSize: PART })
      assert.equal(r.res.status, 200, clients[i])
      assert.equal(client.options.stsToken, 'good-token', clients[i])
    }
  })

  it('a refresh result without a token is refused with the same message', async () => {
    const errs = []
    for (const client of both({
      accessKeyId: 'sts-ak',
      accessKeySecret: 'sts-sk',
      stsToken: 'stale-token',
      refreshSTSTokenInterval: 0,
      refreshSTSToken: async () => ({ accessKeyId: 'sts-ak', accessKeySecret: 'sts-sk' }),
    })) {
      errs.push(await rejection(client.multipartUpload('stsbad/x', makeData(PART * 2), { partSize: PART })))
    }
    assert.match(errs[0].message, /refreshSTSToken must return contains stsToken/)
    assert.match(errs[1].message, /refreshSTSToken must return contains stsToken/)
  })
})

describe('3: progress is called as a method of the options object', () => {
  it('this === options in both', async () => {
    for (const [i, client] of both().entries()) {
      const seen: unknown[] = []
      const options = {
        partSize: PART,
        progress(this: unknown) {
          seen.push(this)
        },
      }
      await client.multipartUpload(`this/${clients[i]}`, makeData(PART * 2 + 10), options)
      assert.ok(seen.length >= 3, clients[i])
      assert.ok(
        seen.every((s) => s === options),
        clients[i],
      )
    }
  })
})

describe('4: loose numbers, and never a napi conversion message', () => {
  it("parallel: '3' and parallel: 0 upload in both", async () => {
    for (const parallel of ['3', 0]) {
      for (const [i, client] of both().entries()) {
        const data = makeData(PART * 4)
        const r = await client.multipartUpload(`loose/${clients[i]}`, data, { partSize: PART, parallel })
        assert.equal(r.res.status, 200)
        assert.ok((await emu.getObject(`loose/${clients[i]}`))!.equals(data))
      }
    }
  })

  it("partSize: '102400' (a string) and partSize below the minimum give ali-oss's messages", async () => {
    for (const [partSize, message] of [
      ['102400', 'partSize must be int number'],
      [PART + 0.5, 'partSize must be int number'],
      [50000, 'partSize must not be smaller than 102400'],
    ] as const) {
      const [a, t] = both()
      const ea = await rejection(a.multipartUpload('ps/x', makeData(PART * 2), { partSize }))
      const et = await rejection(t.multipartUpload('ps/x', makeData(PART * 2), { partSize }))
      assert.equal(ea.message, message)
      assert.deepEqual(fields(et), fields(ea))
    }
    // A small file is one PutObject in both: partSize is not looked at.
    for (const client of both()) await client.multipartUpload('ps/small', makeData(1000), { partSize: '102400' })
  })

  it('arguments of the wrong type are TypeErrors with plain words', async () => {
    const [a, t] = both()
    const ea = await rejection(a.put(5, Buffer.from('x')))
    const et = await rejection(t.put(5 as any, Buffer.from('x')))
    assert.ok(ea instanceof TypeError)
    assert.ok(et instanceof TypeError)
    const eu = await rejection(t.uploadPart('k', 'id', 'one' as any, Buffer.from('x'), 0, 1))
    assert.ok(eu instanceof TypeError)
    for (const e of [et, eu]) assert.doesNotMatch(e.message, /Failed to convert|napi|rust type/i)
  })
})

describe('6: abortMultipartUpload while an upload runs on the client', () => {
  for (const parallel of [1, 3]) {
    it(`the upload rejects with {name: 'cancel'} and isCancel() is true (parallel ${parallel})`, async () => {
      // The server holds the Abort for 300 ms before acting on it, so parts already in flight (parallel 3)
      // finish first in both clients. Without it, a part that reaches the server after the Abort gets 404 and
      // ali-oss rejects with {name: 'abort'} instead: a race in ali-oss, not a behaviour to compare.
      await emu.addFault({ api: 'AbortMultipartUpload', action: { type: 'stall', ms: 300 } })
      const out = []
      for (const [i, client] of both().entries()) {
        let aborted = false
        const err = await rejection(
          client.multipartUpload(`abort${parallel}/${clients[i]}`, makeData(PART * 6), {
            partSize: PART,
            parallel,
            progress: async (p: number, cp: any) => {
              if (!aborted && p > 0 && cp) {
                aborted = true
                await client.abortMultipartUpload(cp.name, cp.uploadId)
              }
            },
          }),
        )
        out.push({ err, isCancel: client.isCancel() })
      }
      await emu.clearFaults()
      assert.deepEqual(out[1], out[0])
      assert.deepEqual(out[0].err, { status: 0, name: 'cancel' })
      assert.equal(out[0].isCancel, true)
    })
  }

  it('resuming an aborted upload (parallel: 1) rejects with the same abort event, partNum included', async () => {
    const events = []
    for (const [i, client] of both().entries()) {
      const file = dir.file(`resume-${i}.bin`, makeData(PART * 4))
      let checkpoint: any
      const first = await rejection(
        client.multipartUpload(`resume/${clients[i]}`, file, {
          partSize: PART,
          parallel: 1,
          progress: (p: number, cp: any) => {
            if (cp) checkpoint = cp
            if (p > 0) client.cancel()
          },
        }),
      )
      assert.equal(first.name, 'cancel')
      assert.equal(checkpoint.doneParts.length, 1)
      await new AliOSS(clientOptions(emu)).abortMultipartUpload(checkpoint.name, checkpoint.uploadId)
      events.push(await rejection(client.multipartUpload(checkpoint.name, file, { checkpoint, parallel: 1 })))
    }
    assert.deepEqual(events[1], events[0])
    assert.deepEqual(events[0], { status: 0, name: 'abort', message: 'upload task has been abort', partNum: 2 })
  })
})

describe('7: error shapes', () => {
  it("a missing file: Node's ENOENT error, as ali-oss gives it", async () => {
    const missing = join(dir.path, 'nope.bin')
    for (const call of ['put', 'multipartUpload']) {
      const [a, t] = both()
      const [ea, et] = [await rejection(a[call]('x', missing)), await rejection(t[call]('x', missing))]
      assert.equal(et.code, 'ENOENT', call)
      assert.deepEqual(
        { message: et.message, code: et.code, errno: et.errno, syscall: et.syscall, path: et.path },
        { message: ea.message, code: ea.code, errno: ea.errno, syscall: ea.syscall, path: ea.path },
        call,
      )
    }
  })

  it("head of a missing object: ali-oss's 'Object not exists', with params and host", async () => {
    const [a, t] = both()
    const [ea, et] = [await rejection(a.head('no/such')), await rejection(t.head('no/such'))]
    assert.deepEqual(fields(et), fields(ea))
    assert.equal(et.message, 'Object not exists')
    assert.equal(et.host, '')
    assert.deepEqual(fields(et).params, { method: 'HEAD', bucket: TEST_BUCKET, object: 'no/such' })
  })

  it('a server error carries params like ali-oss (put to a missing bucket, init, complete)', async () => {
    const [a, t] = both({ bucket: 'no-such-bucket' })
    const [ea, et] = [await rejection(a.put('k', Buffer.from('x'))), await rejection(t.put('k', Buffer.from('x')))]
    assert.deepEqual(fields(et), fields(ea))
    assert.equal(et.code, 'NoSuchBucket')
    const [ia, it2] = [await rejection(a.initMultipartUpload('k')), await rejection(t.initMultipartUpload('k'))]
    assert.deepEqual(fields(it2), fields(ia))
    const [b, u] = both()
    const [ca, ct] = [
      await rejection(b.completeMultipartUpload('k', 'nope', [{ number: 1, etag: '"x"' }])),
      await rejection(u.completeMultipartUpload('k', 'nope', [{ number: 1, etag: '"x"' }])),
    ]
    assert.deepEqual(fields(ct), fields(ca))
    assert.equal(ct.code, 'NoSuchUpload')
  })

  it('a refused connection says connect ECONNREFUSED, as urllib does', async () => {
    const opts = { endpoint: 'http://127.0.0.1:1', retryMax: 0 }
    const [a, t] = both(opts)
    const [ea, et] = [await rejection(a.put('k', Buffer.from('x'))), await rejection(t.put('k', Buffer.from('x')))]
    assert.match(ea.message, /^connect ECONNREFUSED 127\.0\.0\.1:1/)
    assert.match(et.message, /^connect ECONNREFUSED 127\.0\.0\.1:1/)
    assert.equal(et.name, ea.name)
    assert.equal(et.status, ea.status)
  })

  it('a key over 1023 bytes is sent and refused by the server in both', async () => {
    const key = 'k'.repeat(1100)
    for (const call of ['put', 'multipartUpload']) {
      const [a, t] = both()
      const data = makeData(call === 'put' ? 10 : PART * 2)
      const [ea, et] = [await rejection(a[call](key, data)), await rejection(t[call](key, data))]
      assert.equal(et.name, 'InvalidObjectNameError', call)
      assert.equal(et.status, 400)
      assert.deepEqual(
        { name: et.name, code: et.code, status: et.status },
        { name: ea.name, code: ea.code, status: ea.status },
      )
    }
  })
})

describe("8: res carries urllib's socket fields", () => {
  it('remoteAddress, remotePort, socketHandledRequests, socketHandledResponses', async () => {
    const [a, t] = both()
    const [ra, rt] = [await a.put('res/a', Buffer.from('a')), await t.put('res/t', Buffer.from('t'))]
    for (const key of Object.keys(ra.res)) assert.ok(key in rt.res, `res.${key}`)
    assert.equal(rt.res.remoteAddress, ra.res.remoteAddress)
    assert.equal(rt.res.remoteAddress, '127.0.0.1')
    assert.equal(rt.res.remotePort, emu.port)
    assert.equal(rt.res.remotePort, ra.res.remotePort)
    assert.equal(typeof rt.res.socketHandledRequests, 'number')
    assert.equal(typeof rt.res.socketHandledResponses, 'number')
  })
})
