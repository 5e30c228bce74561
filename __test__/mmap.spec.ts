// File parts are served from memory maps of the file (Linux, src/mmap.rs). A file truncated while a mapped
// chunk is still being sent would raise SIGBUS and kill the process; oss-turbo's guard turns it into a
// FileChangedError. Over HTTPS the TLS layer reads the mapped bytes in user space (over plain HTTP the
// kernel's copy would get EFAULT instead of a signal), so this is the case that crashes without the guard.
// Run: OSS_EMULATOR_BIN=… node --import tsx --test __test__/mmap.spec.ts
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, truncateSync } from 'node:fs'
import { join } from 'node:path'

import { startEmulator, type Emulator } from './helpers/emulator'
import { TempDir, makeData, rejection, sha256, sleep, turbo } from './helpers/util'

const FIXTURES = join(__dirname, 'fixtures', 'tls')
const CA = readFileSync(join(FIXTURES, 'ca.pem'), 'utf8')
const MiB = 1024 * 1024

describe('memory-mapped parts', { skip: process.platform !== 'linux' && 'memory maps are used on Linux only' }, () => {
  let emu: Emulator
  let dir: TempDir
  before(async () => {
    emu = await startEmulator({ tls: { cert: join(FIXTURES, 'server.pem'), key: join(FIXTURES, 'server.key') } })
    dir = new TempDir()
  })
  after(async () => {
    await emu?.stop()
    dir?.remove()
  })

  it('a file truncated while a mapped chunk waits to be sent: FileChangedError, the process lives, nothing stored', async () => {
    const key = 'mmap/truncated.bin'
    const file = dir.file('truncated.bin', makeData(8 * MiB))
    // The server stops reading part 1's body for 3 s: its first 1 MiB chunk is mapped and partly sent when
    // the file is cut to nothing, and TLS reads the rest of it from the mapping after that.
    await emu.addFault({ api: 'UploadPart', key, partNumber: 1, action: { type: 'stall', ms: 3000 } })
    const upload = rejection(turbo(emu, { ca: CA }).multipartUpload(key, file, { partSize: 4 * MiB, parallel: 1 }))
    await sleep(1000)
    truncateSync(file, 0)
    const err = await upload
    await emu.clearFaults()
    assert.equal(err.name, 'FileChangedError', String(err))
    assert.equal(err.code, 'FileChanged')
    assert.match(err.message, /truncated\.bin changed during the upload/)
    assert.equal(await emu.getObject(key), null, 'nothing stored')
    const log = (await emu.log()).filter((e) => e.key === key)
    assert.ok(!log.some((e) => e.api === 'CompleteMultipartUpload'), 'Complete was never sent')
  })

  it('the same client uploads the next file normally, byte for byte', async () => {
    const data = makeData(5 * MiB + 17)
    const file = dir.file('after.bin', data)
    const res = await turbo(emu, { ca: CA }).multipartUpload('mmap/after.bin', file, { partSize: 1 * MiB })
    assert.equal(res.res.status, 200)
    const stored = await emu.getObject('mmap/after.bin')
    assert.ok(stored)
    assert.equal(sha256(stored), sha256(data))
  })
})
