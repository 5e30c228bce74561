// The whole client's types (issue 9): code that uses ali-oss's own methods (get, list, signatureUrl, …) next to
// the accelerated ones compiles against index.d.ts with no `any` (`tsc --noEmit` covers this file) and runs.
import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'

import OSS = require('..')
import { Emulator, TEST_AK, TEST_BUCKET, TEST_REGION, TEST_SK, startEmulator } from './helpers/emulator'
import { makeData } from './helpers/util'

let emu: Emulator
before(async () => {
  emu = await startEmulator()
})
after(async () => {
  await emu?.stop()
})

class Uploader extends OSS {
  async uploadAndList(prefix: string, data: Buffer): Promise<OSS.ListObjectResult> {
    const up: OSS.MultipartUploadResult = await this.multipartUpload(`${prefix}big.bin`, data, {
      partSize: 102400,
      parallel: 2,
    })
    assert.equal(up.res.status, 200)
    return this.list({ prefix, 'max-keys': 10 }, {})
  }
}

it('get, list, signatureUrl and multipartUpload type-check and run on one client', async () => {
  const options: OSS.Options = {
    endpoint: emu.endpoint,
    bucket: TEST_BUCKET,
    region: TEST_REGION,
    accessKeyId: TEST_AK,
    accessKeySecret: TEST_SK,
  }
  const client = new Uploader(options)
  const data = makeData(250 * 1024)
  const listed = await client.uploadAndList('typed/', data)
  assert.deepEqual(
    listed.objects.map((o: OSS.ObjectMeta) => o.name),
    ['typed/big.bin'],
  )
  const got: OSS.GetObjectResult = await client.get('typed/big.bin')
  assert.ok(Buffer.isBuffer(got.content) && got.content.equals(data))
  const head: OSS.HeadObjectResult = await client.head('typed/big.bin')
  assert.equal(head.status, 200)
  // ali-oss signs URLs only for a host name; the types accept the call on any client.
  const named = new OSS({ ...options, endpoint: emu.endpoint.replace('127.0.0.1', 'localhost'), sldEnable: true })
  const url: string = named.signatureUrl('typed/big.bin', { expires: 60 })
  assert.match(url, /Signature=/)
  const isNative: boolean = OSS.native
  assert.equal(isNative, true)
  assert.equal(typeof OSS.STS, 'function')
})
