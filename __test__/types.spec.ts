// Code written the way @types/ali-oss users write it must compile against oss-turbo's index.d.ts
// (`tsc --noEmit` runs over this file in `npm test`) and run against the emulator.
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

async function uploadWithRetries(client: OSS, name: string, file: Buffer): Promise<OSS.MultipartUploadResult> {
  let checkpoint: OSS.Checkpoint | undefined
  const options: OSS.MultipartUploadOptions = {
    parallel: 4,
    partSize: 102400,
    meta: { uid: 1, pid: 2 },
    headers: { 'Cache-Control': 'no-cache' },
    timeout: 60000,
    // Typed as @types/ali-oss users type it: a non-null checkpoint.
    progress: async (p: number, cp: OSS.Checkpoint, res: OSS.NormalSuccessResponse) => {
      if (cp) checkpoint = cp
      assert.ok(p >= 0 && p <= 1)
      assert.equal(typeof res.status, 'number')
    },
  }
  for (let i = 0; i < 5; i++) {
    try {
      return await client.multipartUpload(name, file, { ...options, checkpoint })
    } catch (err) {
      const e = err as OSS.OSSError
      if (i === 4) throw e
    }
  }
  throw new Error('unreachable')
}

it('the public types describe what the client does', async () => {
  const client = new OSS({
    endpoint: emu.endpoint,
    bucket: TEST_BUCKET,
    region: TEST_REGION,
    accessKeyId: TEST_AK,
    accessKeySecret: TEST_SK,
    timeout: '2m',
    authorizationV4: true,
  })
  const data = makeData(300 * 1024)
  const result: OSS.MultipartUploadResult = await uploadWithRetries(client, 'types/a.bin', data)
  assert.match(result.etag, /-3"$/)
  assert.equal(result.res.status, 200)
  const head: OSS.HeadObjectResult = await client.head('types/a.bin')
  assert.deepEqual(head.meta, { uid: '1', pid: '2' })
  const put: OSS.PutObjectResult = await client.put('types/b.txt', Buffer.from('hello'), { mime: 'text/plain' })
  assert.equal(put.name, 'types/b.txt')
  const init: OSS.InitMultipartUploadResult = await client.initMultipartUpload('types/c.bin')
  const part: OSS.UploadPartResult = await client.uploadPart('types/c.bin', init.uploadId, 1, data, 0, data.length)
  const query: OSS.ListPartsQuery = { 'max-parts': 10 }
  const listed: OSS.ListPartsResult = await client.listParts('types/c.bin', init.uploadId, query)
  assert.equal(listed.parts.length, 1)
  const uploads: OSS.ListUploadsResult = await client.listUploads({ prefix: 'types/' })
  assert.equal(uploads.uploads.length, 1)
  const done: OSS.CompleteMultipartUploadResult = await client.completeMultipartUpload('types/c.bin', init.uploadId, [
    { number: 1, etag: part.etag },
  ])
  assert.match(done.etag, /-1"$/)
  client.cancel()
  assert.equal(client.isCancel(), true)
  // Wrong usage must not compile.
  // @ts-expect-error partSize is a number
  const bad: OSS.MultipartUploadOptions = { partSize: '1MB' }
  assert.ok(bad)
})
