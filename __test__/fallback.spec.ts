// No binary for this platform (issue 9): `require('oss-turbo')` is plain ali-oss, with one warning naming the
// platform, and `OSS.native === false`. The package is copied without its `.node` file (and without any
// platform package), then used in a child process against the emulator.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, symlinkSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { after, before, it } from 'node:test'

import { Emulator, TEST_AK, TEST_BUCKET, TEST_SK, startEmulator } from './helpers/emulator'
import { TempDir, makeData } from './helpers/util'

const ROOT = resolve(__dirname, '..')

let emu: Emulator
let dir: TempDir
let pkg: string
before(async () => {
  emu = await startEmulator()
  dir = new TempDir()
  pkg = join(dir.path, 'oss-turbo')
  mkdirSync(pkg)
  for (const f of ['index.js', 'binding.js', 'package.json', 'lib'])
    cpSync(join(ROOT, f), join(pkg, f), { recursive: true })
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'), 'dir')
  assert.ok(!existsSync(join(pkg, 'oss-turbo.linux-x64-gnu.node')))
})
after(async () => {
  await emu?.stop()
  dir?.remove()
})

function run(script: string) {
  return spawnSync(process.execPath, ['-e', script], {
    cwd: dir.path,
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: '' },
  })
}

it('require works as plain ali-oss, warns once, and the whole client uploads and downloads', async () => {
  const data = makeData(250 * 1024)
  const file = dir.file('fallback.bin', data)
  const out = run(`
const OSS = require(${JSON.stringify(pkg)})
require(${JSON.stringify(pkg)})
const AliOSS = require(${JSON.stringify(join(pkg, 'node_modules', 'ali-oss'))})
const client = OSS({ endpoint: ${JSON.stringify(emu.endpoint)}, bucket: ${JSON.stringify(TEST_BUCKET)},
  accessKeyId: ${JSON.stringify(TEST_AK)}, accessKeySecret: ${JSON.stringify(TEST_SK)} })
;(async () => {
  const up = await client.multipartUpload('fallback/mp.bin', ${JSON.stringify(file)}, { partSize: 100 * 1024 })
  const got = await client.get('fallback/mp.bin')
  console.log(JSON.stringify({
    native: OSS.native,
    code: OSS.nativeError && OSS.nativeError.code,
    instance: client instanceof OSS && client instanceof AliOSS,
    sameMethod: client.multipartUpload === AliOSS.prototype.multipartUpload,
    sts: OSS.STS === AliOSS.STS,
    status: up.res.status,
    size: got.content.length,
  }))
})().catch((e) => { console.error(e); process.exit(1) })
`)
  assert.equal(out.status, 0, out.stderr)
  assert.deepEqual(JSON.parse(out.stdout), {
    native: false,
    code: 'OSS_TURBO_NO_BINARY',
    instance: true,
    sameMethod: true,
    sts: true,
    status: 200,
    size: data.length,
  })
  const warnings = out.stderr.split('\n').filter((l) => l.includes('oss-turbo: no native addon'))
  assert.equal(warnings.length, 1, out.stderr)
  assert.match(warnings[0], /no native addon for linux-x64-gnu, uploads are not accelerated/)
  assert.ok((await emu.getObject('fallback/mp.bin'))!.equals(data))
})
