// The whole client, drop-in (issue 9): every ali-oss method works on oss-turbo's `OSS`, side by side with
// ali-oss on the same emulator. Methods oss-turbo does not accelerate are ali-oss's own; the accelerated ones
// follow the client's state (bucket, credentials) at each call.
import assert from 'node:assert/strict'
import { createReadStream, readFileSync } from 'node:fs'
import * as http from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import * as util from 'node:util'

import OSS = require('..')
import { Emulator, TEST_BUCKET, TEST_SK, startEmulator } from './helpers/emulator'
import { AliOSS, TempDir, ali, clientOptions, makeData, rejection, turbo } from './helpers/util'

const SECOND_BUCKET = 'second-bucket'

let emu: Emulator
let tmp: TempDir
before(async () => {
  emu = await startEmulator({ args: ['--bucket', TEST_BUCKET, '--bucket', SECOND_BUCKET] })
  tmp = new TempDir()
})
after(async () => {
  await emu?.stop()
  tmp?.remove()
})

function fetchUrl(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }))
        res.on('error', reject)
      })
      .on('error', reject)
  })
}

function streamToBuffer(s: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    s.on('data', (c: Buffer) => chunks.push(c))
    s.on('end', () => resolve(Buffer.concat(chunks)))
    s.on('error', reject)
  })
}

/** A result without its timing/request-specific values, for comparing the two clients. */
function shape(result: Record<string, unknown>): string[] {
  return Object.keys(result).sort()
}

/** The enumerable option names, secrets excluded (oss-turbo hides them from enumeration). */
function optionKeys(o: Record<string, unknown>): string[] {
  return Object.keys(o)
    .filter((k) => k !== 'accessKeySecret' && k !== 'stsToken')
    .sort()
}

describe('construction and statics', () => {
  it("has ali-oss's statics and OSS.native", () => {
    assert.equal(OSS.native, true)
    for (const key of Object.keys(AliOSS)) {
      assert.equal((OSS as any)[key], AliOSS[key], `static ${key}`)
    }
    for (const key of ['STS', 'ClusterClient', 'ImageClient', 'initOptions']) {
      assert.equal(typeof (OSS as any)[key], 'function', key)
    }
  })

  it('works without new, and the client is an ali-oss client with normalised options', () => {
    const client = (OSS as any)(clientOptions(emu, { timeout: '2m' }))
    assert.equal(client instanceof OSS, true)
    assert.equal(client instanceof AliOSS, true)
    const plain = ali(emu, { timeout: '2m' })
    assert.deepEqual(optionKeys(client.options), optionKeys(plain.options))
    assert.equal(client.options.timeout, 120000)
    assert.equal(typeof client.options.endpoint, 'object')
    assert.equal(client.options.endpoint.host, plain.options.endpoint.host)
    assert.equal(client.options.bucket, TEST_BUCKET)
    // The secret is readable, as in ali-oss, but never enumerated (logs, JSON).
    assert.equal(client.options.accessKeySecret, TEST_SK)
    assert.ok(!JSON.stringify(client.options).includes(TEST_SK))
    assert.equal(typeof client.get, 'function')
    // get is oss-turbo's dispatch (a file path downloads natively); list is ali-oss's own.
    assert.notEqual(client.get, AliOSS.prototype.get)
    assert.equal(client.list, AliOSS.prototype.list)
    assert.notEqual(client.multipartUpload, AliOSS.prototype.multipartUpload)
  })

  it('ES5 inheritance (util.inherits + OSS.call) uploads and downloads', async () => {
    function Sub(this: any, o: OSS.Options) {
      ;(OSS as any).call(this, o)
      this.extra = 1
    }
    util.inherits(Sub, OSS as any)
    const client = new (Sub as any)(clientOptions(emu))
    assert.equal(client instanceof OSS && client instanceof AliOSS, true)
    assert.equal(client.extra, 1)
    const data = makeData(150 * 1024)
    await client.multipartUpload('es5/a.bin', data, { partSize: 100 * 1024 })
    const got = await client.get('es5/a.bin')
    assert.ok(got.content.equals(data))
  })

  it('class X extends OSS uploads and downloads', async () => {
    class Sub extends OSS {
      tag() {
        return 'sub'
      }
    }
    const client = new Sub(clientOptions(emu))
    assert.ok(client instanceof OSS && client instanceof AliOSS)
    assert.equal(client.tag(), 'sub')
    const data = makeData(1000)
    await client.put('class/a.bin', data)
    const got = await (client as any).get('class/a.bin')
    assert.ok(got.content.equals(data))
  })
})

describe("ali-oss's own methods through oss-turbo's client", () => {
  it('get to a Buffer, a file and a stream, like ali-oss', async () => {
    const t = turbo(emu) as any
    const a = ali(emu)
    const data = makeData(64 * 1024)
    await t.put('get/a.bin', data)
    const [rt, ra] = [await t.get('get/a.bin'), await a.get('get/a.bin')]
    assert.ok(rt.content.equals(data))
    assert.deepEqual(shape(rt), shape(ra))
    assert.equal(rt.res.status, ra.res.status)
    const file = join(tmp.path, 'get-file.bin')
    await t.get('get/a.bin', file)
    assert.ok(readFileSync(file).equals(data))
    const s = await t.getStream('get/a.bin')
    assert.ok((await streamToBuffer(s.stream)).equals(data))
    const [et, ea] = [await rejection(t.get('get/missing')), await rejection(a.get('get/missing'))]
    assert.equal(et.name, ea.name)
    assert.equal(et.code, 'NoSuchKey')
    assert.equal(et.status, ea.status)
  })

  it('list and listV2 list what oss-turbo uploaded, as ali-oss does', async () => {
    const t = turbo(emu) as any
    const a = ali(emu)
    for (const k of ['list/a', 'list/b', 'list/c/d']) await t.put(k, Buffer.from(k))
    const [lt, la] = [
      await t.list({ prefix: 'list/', delimiter: '/' }),
      await a.list({ prefix: 'list/', delimiter: '/' }),
    ]
    assert.deepEqual(
      lt.objects.map((o: any) => [o.name, o.size, o.etag]),
      la.objects.map((o: any) => [o.name, o.size, o.etag]),
    )
    assert.deepEqual(
      lt.objects.map((o: any) => o.name),
      ['list/a', 'list/b'],
    )
    assert.deepEqual(lt.prefixes, ['list/c/'])
    assert.deepEqual(shape(lt), shape(la))
    const [vt, va] = [
      await t.listV2({ prefix: 'list/', 'max-keys': 2 }),
      await a.listV2({ prefix: 'list/', 'max-keys': 2 }),
    ]
    assert.deepEqual(
      vt.objects.map((o: any) => o.name),
      va.objects.map((o: any) => o.name),
    )
    assert.equal(vt.objects.length, 2)
    assert.equal(vt.isTruncated, true)
    assert.equal(vt.nextContinuationToken, va.nextContinuationToken)
  })

  it('delete and deleteMulti, then head says the objects are gone', async () => {
    const t = turbo(emu) as any
    const a = ali(emu)
    for (const k of ['del/a', 'del/b', 'del/c', 'del/d']) await t.put(k, Buffer.from(k))
    const [dt, da] = [await t.delete('del/a'), await a.delete('del/b')]
    assert.equal(dt.res.status, 204)
    assert.deepEqual(shape(dt), shape(da))
    const mt = await t.deleteMulti(['del/c', 'del/nothing'])
    const ma = await a.deleteMulti(['del/d', 'del/nothing'])
    assert.deepEqual(
      mt.deleted.map((d: any) => d.Key),
      ['del/c', 'del/nothing'],
    )
    assert.deepEqual(
      ma.deleted.map((d: any) => d.Key),
      ['del/d', 'del/nothing'],
    )
    const quiet = await t.deleteMulti(['del/x'], { quiet: true })
    assert.deepEqual(quiet.deleted, [])
    for (const k of ['del/a', 'del/b', 'del/c', 'del/d']) {
      const [et, ea] = [await rejection(t.head(k)), await rejection(a.head(k))]
      assert.equal(et.status, 404)
      assert.equal(et.name, ea.name)
      assert.equal(et.message, ea.message)
    }
  })

  it('copy (same bucket and across buckets), with COPY and REPLACE metadata', async () => {
    const t = turbo(emu) as any
    const a = ali(emu)
    const data = makeData(5000)
    await t.put('copy/src', data, { meta: { color: 'red' } })
    const [ct, ca] = [await t.copy('copy/dst-t', 'copy/src'), await a.copy('copy/dst-a', 'copy/src')]
    assert.deepEqual(shape(ct), shape(ca))
    assert.equal(ct.data.etag, ca.data.etag)
    assert.ok((await t.get('copy/dst-t')).content.equals(data))
    assert.deepEqual((await t.head('copy/dst-t')).meta, { color: 'red' })
    await t.copy('copy/dst-r', 'copy/src', { meta: { color: 'blue' } })
    assert.deepEqual((await t.head('copy/dst-r')).meta, { color: 'blue' })
    // From another bucket (ali-oss's third argument), into the client's bucket.
    const other = turbo(emu)
    other.useBucket(SECOND_BUCKET)
    await other.put('copy/in-second', data)
    await t.copy('copy/from-second', 'copy/in-second', SECOND_BUCKET)
    assert.ok((await emu.getObject('copy/from-second'))!.equals(data))
    const e = await rejection(t.copy('copy/x', 'copy/missing'))
    assert.equal(e.code, 'NoSuchKey')
    assert.equal(e.status, 404)
  })

  it('signatureUrl gives a URL that downloads the object', async () => {
    const data = makeData(3000)
    await turbo(emu).put('sig/a.bin', data)
    // ali-oss refuses to sign for an IP endpoint: a host name, path-style; fetched at the emulator's address.
    const t = turbo(emu, { endpoint: emu.endpoint.replace('127.0.0.1', 'localhost'), sldEnable: true }) as any
    const url = t.signatureUrl('sig/a.bin', { expires: 600 }).replace('localhost', '127.0.0.1')
    assert.match(url, /\/examplebucket\/sig\/a\.bin\?/)
    const got = await fetchUrl(url)
    assert.equal(got.status, 200)
    assert.ok(got.body.equals(data))
    const bad = await fetchUrl(url.replace(/Signature=[^&]+/, 'Signature=AAAA'))
    assert.equal(bad.status, 403)
  })

  it('putStream (chunked PutObject) and put of a stream', async () => {
    const t = turbo(emu) as any
    const a = ali(emu)
    const data = makeData(300 * 1024)
    const file = tmp.file('stream.bin', data)
    const rt = await t.putStream('stream/t.bin', createReadStream(file))
    const ra = await a.putStream('stream/a.bin', createReadStream(file))
    assert.deepEqual(shape(rt), shape(ra))
    assert.equal(rt.res.status, 200)
    assert.ok((await emu.getObject('stream/t.bin'))!.equals(data))
    await t.put('stream/put.bin', createReadStream(file))
    assert.ok((await emu.getObject('stream/put.bin'))!.equals(data))
  })

  it('append creates an Appendable object and continues at nextAppendPosition', async () => {
    const t = turbo(emu) as any
    const a = ali(emu)
    const one = makeData(1000)
    const two = makeData(2000)
    const r1 = await t.append('append/t', one)
    assert.equal(r1.nextAppendPosition, '1000')
    const r2 = await t.append('append/t', two, { position: r1.nextAppendPosition })
    assert.equal(r2.nextAppendPosition, '3000')
    const ra = await a.append('append/a', one)
    assert.deepEqual(shape(r1), shape(ra))
    const got = await t.get('append/t')
    assert.ok(got.content.equals(Buffer.concat([one, two])))
    assert.equal(got.res.headers['x-oss-object-type'], 'Appendable')
    const [et, ea] = [
      await rejection(t.append('append/t', one, { position: 5 })),
      await rejection(a.append('append/a', one, { position: 5 })),
    ]
    assert.equal(et.code, 'PositionNotEqualToLength')
    assert.equal(et.status, 409)
    assert.equal(et.name, ea.name)
    await t.put('append/normal', one)
    const en = await rejection(t.append('append/normal', two, { position: 1000 }))
    assert.equal(en.code, 'ObjectNotAppendable')
  })

  it('multipartUploadCopy (ali-oss code over the native init/complete, emulator UploadPartCopy)', async () => {
    const t = turbo(emu) as any
    const a = ali(emu)
    const data = makeData(350 * 1024)
    await t.multipartUpload('mpcopy/src', data, { partSize: 100 * 1024 })
    const progress: number[] = []
    const rt = await t.multipartUploadCopy(
      'mpcopy/t',
      { sourceKey: 'mpcopy/src', sourceBucketName: TEST_BUCKET },
      { partSize: 100 * 1024, progress: async (p: number) => void progress.push(p) },
    )
    const ra = await a.multipartUploadCopy(
      'mpcopy/a',
      { sourceKey: 'mpcopy/src', sourceBucketName: TEST_BUCKET },
      { partSize: 100 * 1024 },
    )
    assert.deepEqual(shape(rt), shape(ra))
    assert.equal(rt.res.status, 200)
    assert.equal(progress[progress.length - 1], 1)
    assert.ok((await emu.getObject('mpcopy/t'))!.equals(data))
    assert.ok((await emu.getObject('mpcopy/a'))!.equals(data))
    // A copy from the other bucket: ali-oss switches the client's bucket for its HEAD, and back.
    t.useBucket(SECOND_BUCKET)
    await t.put('mpcopy/src2', data)
    t.useBucket(TEST_BUCKET)
    await t.multipartUploadCopy(
      'mpcopy/t2',
      { sourceKey: 'mpcopy/src2', sourceBucketName: SECOND_BUCKET },
      { partSize: 100 * 1024 },
    )
    assert.equal(t.options.bucket, TEST_BUCKET)
    assert.ok((await emu.getObject('mpcopy/t2'))!.equals(data))
  })
})

describe("ali-oss's private helpers over the native building blocks", () => {
  it('_resumeMultipart (ali-oss code: its _uploadPart, then the native completeMultipartUpload)', async () => {
    const t = turbo(emu) as any
    const data = makeData(250 * 1024)
    const init = await t.initMultipartUpload('private/resume.bin')
    const checkpoint = {
      file: data,
      name: 'private/resume.bin',
      fileSize: data.length,
      partSize: 100 * 1024,
      uploadId: init.uploadId,
      doneParts: [] as unknown[],
    }
    const calls: number[] = []
    const r = await t._resumeMultipart(checkpoint, { progress: async (p: number) => void calls.push(p) })
    assert.equal(r.res.status, 200)
    assert.equal(checkpoint.doneParts.length, 3)
    assert.equal(calls[calls.length - 1], 1)
    assert.ok((await emu.getObject('private/resume.bin'))!.equals(data))
  })
})

describe('the native side follows the client state', () => {
  it('useBucket then multipartUpload, put and head go to the new bucket', async () => {
    const t = turbo(emu)
    const data = makeData(250 * 1024)
    t.useBucket(SECOND_BUCKET)
    const r = await t.multipartUpload('moved/mp.bin', data, { partSize: 100 * 1024 })
    assert.equal(r.bucket, SECOND_BUCKET)
    await t.put('moved/put.bin', data.subarray(0, 1000))
    assert.ok((await emu.getObject('moved/mp.bin', SECOND_BUCKET))!.equals(data))
    assert.equal(await emu.getObject('moved/mp.bin', TEST_BUCKET), null)
    assert.equal((await t.head('moved/put.bin')).status, 200)
    t.setBucket(TEST_BUCKET)
    const e = await rejection(t.head('moved/put.bin'))
    assert.equal(e.status, 404)
  })

  it('credentials the app assigns to client.options are used from the next call on', async () => {
    await emu.addCredentials({ accessKeyId: 'second-ak', accessKeySecret: 'second-sk' })
    const t = turbo(emu)
    t.options.accessKeySecret = 'wrong-secret'
    const e = await rejection(t.put('creds/a', Buffer.from('a')))
    assert.equal(e.code, 'SignatureDoesNotMatch')
    assert.equal(e.status, 403)
    t.options.accessKeyId = 'second-ak'
    t.options.accessKeySecret = 'second-sk'
    await emu.clearLog()
    await t.multipartUpload('creds/b', makeData(250 * 1024), { partSize: 100 * 1024 })
    // Signed with the new pair (the wrong secret above failed, the old id with the new secret would too).
    const log = await emu.log()
    assert.ok(log.length >= 5)
    for (const entry of log) assert.ok(entry.status >= 200 && entry.status < 300, `${entry.api} ${entry.status}`)
    assert.ok(!JSON.stringify(t.options).includes('second-sk'))
    // ali-oss's own methods use the same credentials.
    assert.equal((await (t as any).get('creds/b')).res.status, 200)
  })
})
