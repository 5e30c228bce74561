// Reliability, round 2 (issue 11): a finished upload is never reported as failed, a file that changes during
// the upload is never stored as a mix, an unwritable checkpoint fails before any part, pseudo-files keep
// their bytes, errors say what failed, SIGTERM keeps the checkpoint. Every case runs against the emulator.
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
  openSync,
  writeSync,
  closeSync,
  truncateSync,
} from 'node:fs'
import { join } from 'node:path'
import { after, before, beforeEach, describe, it } from 'node:test'

import OSS = require('..')
import { Emulator, TEST_AK, TEST_BUCKET, TEST_SK, startEmulator } from './helpers/emulator'
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
const CLI = join(__dirname, '..', 'bin', 'oss-turbo.js')

/** The multipart uploads the server still holds (ListMultipartUploads). */
async function openUploads(): Promise<string[]> {
  const list = await turbo(emu).listUploads({})
  return list.uploads.map((u: { name: string }) => u.name)
}

async function storedSha(key: string): Promise<string | null> {
  const got = await emu.getObject(key)
  return got ? sha256(got) : null
}

async function apis(key: string): Promise<string[]> {
  return (await emu.log()).filter((e) => e.key === key).map((e) => `${e.api}:${e.status}`)
}

/** Collects console.warn lines while `run` runs. */
async function warnings<T>(run: () => Promise<T>): Promise<{ value: T; warned: string[] }> {
  const warned: string[] = []
  const original = console.warn
  console.warn = (...args: unknown[]) => {
    warned.push(args.join(' '))
  }
  try {
    return { value: await run(), warned }
  } finally {
    console.warn = original
  }
}

describe('1. a finished upload is never reported as failed', () => {
  it("Complete's answer lost to a timeout: the retry's NoSuchUpload is checked by HEAD and the call resolves", async () => {
    const key = 'lost-complete'
    const data = makeData(PART * 3 + 500)
    const cpFile = join(dir.path, 'lost-complete.json')
    // The emulator completes the upload, then holds the answer past the client's 2 s timeout.
    await emu.addFault({ api: 'CompleteMultipartUpload', key, action: { type: 'delay', ms: 3500 } })
    const client = turbo(emu, { timeout: 2000 })
    const progress: number[] = []
    const result = await client.multipartUpload(key, data, {
      partSize: PART,
      checkpointFile: cpFile,
      progress: (p) => {
        progress.push(p)
      },
    })
    assert.equal(result.res.status, 200)
    assert.equal(result.name, key)
    assert.equal(result.bucket, TEST_BUCKET)
    assert.equal(result.res.headers['x-oss-hash-crc64ecma'] !== undefined, true, 'the HEAD answer is the res')
    assert.equal(progress[progress.length - 1], 1)
    assert.equal(await storedSha(key), sha256(data))
    assert.deepEqual(await openUploads(), [])
    assert.equal(existsSync(cpFile), false, 'the checkpoint file is removed')
    const calls = await apis(key)
    assert.deepEqual(
      calls.filter((c) => c.startsWith('CompleteMultipartUpload')),
      ['CompleteMultipartUpload:0', 'CompleteMultipartUpload:404'],
      `the first Complete timed out (logged 0), the retry found no upload: ${calls.join(' ')}`,
    )
    assert.ok(calls.includes('HeadObject:200'), calls.join(' '))
  })

  it("the docs' retry loop with a checkpoint object: the second attempt finds the upload done and resolves", async () => {
    const key = 'retry-loop'
    const data = makeData(PART * 2 + 7)
    const file = dir.file('retry-loop.bin', data)
    // Applied at once, answered after 3.5 s: the client (2 s timeout, no retries) gives up first.
    await emu.addFault({ api: 'CompleteMultipartUpload', key, action: { type: 'delay', ms: 3500 } })
    const client = turbo(emu, { timeout: 2000, retryMax: 0 })
    let checkpoint: OSS.Checkpoint | undefined
    const options: OSS.MultipartUploadOptions = {
      partSize: PART,
      progress: (_p, cp) => {
        if (cp) checkpoint = cp
      },
    }
    const first = await rejection(client.multipartUpload(key, file, options))
    assert.equal(first.name, 'ResponseTimeoutError')
    assert.ok(checkpoint, 'the checkpoint was reported')
    assert.equal(checkpoint!.doneParts.length, 3)
    const second = await client.multipartUpload(key, file, { ...options, checkpoint })
    assert.equal(second.res.status, 200)
    assert.equal(second.name, key)
    assert.equal(await storedSha(key), sha256(data))
    assert.deepEqual(await openUploads(), [])
    const calls = await apis(key)
    assert.ok(calls.includes('ListParts:404') && calls.includes('HeadObject:200'), calls.join(' '))
    assert.equal(calls.filter((c) => c === 'UploadPart:200').length, 3, 'no part was sent again')
  })

  it('the same call again with checkpointFile: the finished upload is found, not uploaded again', async () => {
    const key = 'retry-file'
    const data = makeData(PART * 2 + 11)
    const file = dir.file('retry-file.bin', data)
    const cpFile = join(dir.path, 'retry-file.json')
    await emu.addFault({ api: 'CompleteMultipartUpload', key, action: { type: 'delay', ms: 3500 } })
    const client = turbo(emu, { timeout: 2000, retryMax: 0 })
    const first = await rejection(client.multipartUpload(key, file, { partSize: PART, checkpointFile: cpFile }))
    assert.equal(first.name, 'ResponseTimeoutError')
    assert.equal(existsSync(cpFile), true, 'the checkpoint file is kept after the failure')
    const second = await client.multipartUpload(key, file, { partSize: PART, checkpointFile: cpFile })
    assert.equal(second.res.status, 200)
    assert.equal(await storedSha(key), sha256(data))
    assert.equal(existsSync(cpFile), false, 'the checkpoint file is removed')
    assert.deepEqual(await openUploads(), [])
    const calls = await apis(key)
    assert.equal(
      calls.filter((c) => c.startsWith('UploadPart')).length,
      3,
      `the file was not uploaded again: ${calls.join(' ')}`,
    )
    assert.equal(calls.filter((c) => c.startsWith('InitiateMultipartUpload')).length, 1, 'no new upload')
  })

  it('Complete fails and the object is not there: the original error, not the 404', async () => {
    const key = 'not-stored'
    const data = makeData(PART * 2 + 1)
    // First try: a 503 (not applied); the retry: the upload is gone (injected NoSuchUpload).
    await emu.addFault({
      api: 'CompleteMultipartUpload',
      key,
      action: { type: 'error', status: 503, code: 'ServiceUnavailable', message: 'busy' },
    })
    await emu.addFault({
      api: 'CompleteMultipartUpload',
      key,
      nth: 2,
      action: { type: 'error', status: 404, code: 'NoSuchUpload', message: 'gone' },
    })
    const err = await rejection(turbo(emu, { retryMax: 1 }).multipartUpload(key, data, { partSize: PART }))
    assert.equal(err.name, 'ServiceUnavailableError')
    assert.equal(err.code, 'ServiceUnavailable')
    assert.equal(err.status, 503)
    assert.equal(err.message, 'busy')
    assert.equal(await storedSha(key), null)
    const calls = await apis(key)
    assert.ok(calls.includes('HeadObject:404'), calls.join(' '))
    // The upload stays, so a checkpoint can still resume it; the test cleans it up.
    const open = (await turbo(emu).listUploads({})).uploads
    assert.deepEqual(
      open.map((u: { name: string }) => u.name),
      [key],
    )
    await turbo(emu).abortMultipartUpload(key, open[0].uploadId)
  })

  it("resuming a completed upload's checkpoint: oss-turbo resolves; a different object gives ali-oss's NoSuchUploadError", async () => {
    const data = makeData(PART * 2 + 3)
    const file = dir.file('resume-done.bin', data)
    const errs: Record<string, any> = {}
    for (const [who, client] of [
      ['ali', ali(emu)],
      ['turbo', turbo(emu)],
    ] as const) {
      const key = `done-${who}`
      let checkpoint: any
      await client.multipartUpload(key, file, {
        partSize: PART,
        progress: (_p: number, cp: unknown) => {
          if (cp) checkpoint = JSON.parse(JSON.stringify(cp))
        },
      })
      assert.equal(checkpoint.doneParts.length, 3)
      if (who === 'turbo') {
        // The object is this file: the resume is a normal completion (a deliberate improvement on ali-oss).
        const again = await client.multipartUpload(key, file, {
          checkpoint: { ...checkpoint, doneParts: [...checkpoint.doneParts] },
        })
        assert.equal(again.res.status, 200)
        assert.equal(again.name, key)
        assert.equal(await storedSha(key), sha256(data))
      }
      // Someone overwrote the object: the upload is not verified, and the answer is ali-oss's.
      await client.put(key, Buffer.from('something else'))
      errs[who] = await rejection(client.multipartUpload(key, file, { checkpoint }))
    }
    for (const f of ['name', 'code', 'status']) assert.equal(errs.turbo[f], errs.ali[f], f)
    assert.equal(errs.turbo.name, 'NoSuchUploadError')
    assert.equal(errs.turbo.status, 404)
    assert.match(errs.turbo.requestId, /^[0-9A-F]{24}$/)
    assert.ok(errs.turbo.hostId, 'hostId')
    assert.equal(errs.turbo instanceof Error, true)
    assert.deepEqual(await openUploads(), [])
  })
})

describe('2. a file that changes during the upload is never completed', () => {
  it('written in place while a part is in flight: FileChangedError, nothing stored, upload aborted, checkpoint removed', async () => {
    const key = 'changed'
    const data = makeData(PART * 6)
    const file = dir.file('changed.bin', data)
    const cpFile = join(dir.path, 'changed.json')
    const err = await rejection(
      turbo(emu).multipartUpload(key, file, {
        partSize: PART,
        parallel: 1,
        checkpointFile: cpFile,
        progress: (_p, cp) => {
          if (cp && cp.doneParts.length === 2) {
            // Overwrite bytes of part 1 (already sent) and part 5 (not yet): same size, new content.
            const fd = openSync(file, 'r+')
            writeSync(fd, Buffer.alloc(100, 1), 0, 100, 10)
            writeSync(fd, Buffer.alloc(100, 2), 0, 100, PART * 4 + 10)
            closeSync(fd)
          }
        },
      }),
    )
    assert.equal(err instanceof Error, true)
    assert.equal(err.name, 'FileChangedError')
    assert.equal(err.code, 'FileChanged')
    assert.match(err.message, /changed\.bin changed during the upload \(.*\); the upload was not completed/)
    assert.equal(await storedSha(key), null, 'no object')
    assert.deepEqual(await openUploads(), [], 'the upload was aborted')
    assert.equal(existsSync(cpFile), false, 'the checkpoint file is removed: the next call starts over')
    assert.ok(!(await apis(key)).some((c) => c.startsWith('CompleteMultipartUpload')), 'Complete was never sent')

    // The next call uploads the file as it is now, from the start.
    const now = readFileSync(file)
    await turbo(emu).multipartUpload(key, file, { partSize: PART, checkpointFile: cpFile })
    assert.equal(await storedSha(key), sha256(now))
    assert.deepEqual(await openUploads(), [])
  })

  it('truncated during the upload: the short read is a FileChangedError', async () => {
    const key = 'truncated'
    const file = dir.file('truncated.bin', makeData(PART * 5))
    const err = await rejection(
      turbo(emu).multipartUpload(key, file, {
        partSize: PART,
        parallel: 1,
        progress: (_p, cp) => {
          if (cp && cp.doneParts.length === 1) truncateSync(file, PART * 2 + 5)
        },
      }),
    )
    assert.equal(err.name, 'FileChangedError')
    assert.equal(err.code, 'FileChanged')
    assert.match(err.message, /truncated\.bin changed during the upload/)
    assert.equal(await storedSha(key), null)
    assert.deepEqual(await openUploads(), [])
  })
})

describe('3. a checkpoint file that cannot be written fails before any part', () => {
  async function refused(key: string, checkpointFile: string) {
    const data = makeData(PART * 3)
    const err = await rejection(turbo(emu).multipartUpload(key, data, { partSize: PART, checkpointFile }))
    const calls = await apis(key)
    assert.ok(!calls.some((c) => c.startsWith('UploadPart')), `no part was sent: ${calls.join(' ')}`)
    assert.ok(
      calls.includes('InitiateMultipartUpload:200') && calls.includes('AbortMultipartUpload:204'),
      calls.join(' '),
    )
    assert.deepEqual(await openUploads(), [], 'the just-initiated upload was aborted')
    assert.equal(err instanceof Error, true)
    assert.ok(err.message.startsWith(`cannot write the checkpoint file ${checkpointFile}: ${err.code} (`), err.message)
    return err
  }

  it('in a missing directory (ENOENT) and naming a directory (EISDIR)', async () => {
    const missing = await refused('cp-missing', join(dir.path, 'no-such-dir', 'cp.json'))
    assert.equal(missing.code, 'ENOENT')
    assert.match(missing.message, /No such file or directory/)
    const folder = join(dir.path, 'a-folder')
    mkdirSync(folder)
    const isDir = await refused('cp-dir', folder)
    assert.equal(isDir.code, 'EISDIR')
  })

  it('on a read-only and on a full file system (tmpfs); a disk filling up later is a warning', async (t) => {
    const mnt = join(dir.path, 'mnt')
    mkdirSync(mnt)
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8k', 'tmpfs', mnt], { stdio: 'ignore' })
    } catch {
      t.skip('cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)')
      return
    }
    try {
      execFileSync('mount', ['-o', 'remount,ro', mnt], { stdio: 'ignore' })
      const ro = await refused('cp-ro', join(mnt, 'cp.json'))
      assert.equal(ro.code, 'EROFS')
      execFileSync('mount', ['-o', 'remount,rw', mnt], { stdio: 'ignore' })

      writeFileSync(join(mnt, 'filler'), Buffer.alloc(8192))
      const full = await refused('cp-full', join(mnt, 'cp.json'))
      assert.equal(full.code, 'ENOSPC')
      rmSync(join(mnt, 'filler'))

      // The first write succeeds; then the disk fills up: a warning, and the upload goes on.
      const key = 'cp-later'
      const data = makeData(PART * 4)
      const cpFile = join(mnt, 'later.json')
      const { warned } = await warnings(() =>
        turbo(emu).multipartUpload(key, data, {
          partSize: PART,
          parallel: 1,
          checkpointFile: cpFile,
          progress: (_p, cp) => {
            if (cp && cp.doneParts.length === 1) {
              // The checkpoint holds one of the two 4 KiB pages; the filler takes the other.
              writeFileSync(join(mnt, 'filler'), Buffer.alloc(4096))
            }
          },
        }),
      )
      assert.equal(await storedSha(key), sha256(data))
      assert.deepEqual(await openUploads(), [])
      assert.ok(
        warned.some(
          (w) => w.includes(`cannot write the checkpoint file ${cpFile}: ENOSPC`) && w.includes('the upload goes on'),
        ),
        warned.join('\n'),
      )
      assert.equal(existsSync(cpFile), false, 'removed after success')
    } finally {
      execFileSync('umount', [mnt], { stdio: 'ignore' })
    }
  })

  it('stale temp files of a killed writer are removed the next time the checkpoint is written', async () => {
    const cpDir = join(dir.path, 'stale')
    mkdirSync(cpDir)
    const cpFile = join(cpDir, 'up.json')
    // pid 4999999 is above Linux's pid_max: that writer is certainly gone.
    const stale = join(cpDir, '.up.json.4999999.tmp')
    writeFileSync(stale, '{"uploadId":')
    const data = makeData(PART * 2)
    await turbo(emu).multipartUpload('stale', data, { partSize: PART, checkpointFile: cpFile })
    assert.equal(await storedSha('stale'), sha256(data))
    assert.deepEqual(readdirSync(cpDir), [], 'no temp file and no checkpoint left')
  })
})

describe('4. files whose size stat does not know', () => {
  it('/proc/self/status is stored with its bytes, as ali-oss stores them', async () => {
    for (const [who, client] of [
      ['ali', ali(emu)],
      ['turbo', turbo(emu)],
    ] as const) {
      await client.multipartUpload(`proc-${who}`, '/proc/self/status')
      const got = await emu.getObject(`proc-${who}`)
      assert.ok(got && got.length > 100, `${who}: ${got?.length} bytes`)
      assert.match(got!.toString(), /^Name:\t/, who)
      assert.match(
        got!.toString(),
        new RegExp(`\\nPid:\\t${process.pid}\\n`),
        `${who}: the reading process's own status`,
      )
    }
  })

  it('a FIFO is refused with a clear error, nothing sent', async () => {
    const fifo = join(dir.path, 'fifo')
    execFileSync('mkfifo', [fifo])
    const err = await rejection(turbo(emu).multipartUpload('fifo', fifo))
    assert.match(err.message, /fifo is not file/)
    assert.deepEqual(await apis('fifo'), [])
  })
})

describe('5. errors say what failed', () => {
  it("a missing file: code ENOENT and Node's message, as ali-oss", async () => {
    const missing = join(dir.path, 'nope.bin')
    const errs = {
      ali: await rejection(ali(emu).multipartUpload('x', missing)),
      turbo: await rejection(turbo(emu).multipartUpload('x', missing)),
    }
    assert.equal(errs.turbo.code, 'ENOENT')
    assert.equal(errs.turbo.code, errs.ali.code)
    assert.equal(errs.turbo.message, errs.ali.message)
    assert.equal(errs.turbo.message, `ENOENT: no such file or directory, stat '${missing}'`)
    assert.equal(errs.turbo.name, errs.ali.name)
  })

  it('a key with a NUL byte is refused before sending', async () => {
    for (const run of [
      () => turbo(emu).multipartUpload('a\0b', makeData(PART * 2), { partSize: PART }),
      () => turbo(emu).put('a\0b', Buffer.from('x')),
    ]) {
      const err = await rejection(run())
      assert.equal(err.name, 'Error')
      assert.match(err.message, /NUL character/)
      assert.notEqual(err.code, 'FileError')
    }
    assert.equal((await emu.log()).length, 0, 'nothing was sent')
  })

  it('an unreadable server reply is a ProtocolError', async () => {
    // A 200 carrying an error document is not the InitiateMultipartUploadResult the client needs.
    await emu.addFault({
      api: 'InitiateMultipartUpload',
      key: 'garbled',
      action: { type: 'error', status: 200, code: 'Garbled' },
    })
    const err = await rejection(turbo(emu).multipartUpload('garbled', makeData(PART * 2), { partSize: PART }))
    assert.equal(err.name, 'ProtocolError')
    assert.equal(err.code, 'ProtocolError')
    assert.match(err.message, /InitiateMultipartUpload returned an unreadable body/)
  })
})

describe('6. signals', () => {
  it('the CLI on SIGTERM: exit 143, checkpoint kept, one line saying how to resume; the same command resumes', async () => {
    const key = 'cli/term.bin'
    const data = makeData(PART * 20)
    const file = dir.file('term.bin', data)
    const cpDir = join(dir.path, 'cp-term')
    const args = [
      'cp',
      file,
      `oss://${TEST_BUCKET}/${key}`,
      '--endpoint',
      emu.endpoint,
      '--checkpoint-dir',
      cpDir,
      '--part-size',
      '100K',
      '--parallel',
      '2',
      '--no-progress',
    ]
    await emu.addFault({ api: 'UploadPart', key, times: 0, action: { type: 'delay', ms: 150 } })
    const donePartsIn = () => {
      try {
        const f = readdirSync(cpDir).find((n) => n.endsWith('.json'))
        return f ? JSON.parse(readFileSync(join(cpDir, f), 'utf8')).doneParts.length : 0
      } catch {
        return 0
      }
    }
    const run = (onStart?: (kill: (s: NodeJS.Signals) => void) => void) =>
      new Promise<{ code: number | null; stderr: string }>((done, fail) => {
        const child = spawn(process.execPath, [CLI, ...args], {
          env: { ...process.env, OSS_ACCESS_KEY_ID: TEST_AK, OSS_ACCESS_KEY_SECRET: TEST_SK },
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        let stderr = ''
        child.stderr.on('data', (d: Buffer) => (stderr += d))
        child.on('error', fail)
        child.on('close', (code) => done({ code, stderr }))
        onStart?.((s) => child.kill(s))
      })
    const first = await run(async (kill) => {
      for (let i = 0; i < 400 && donePartsIn() < 3; i++) await sleep(25)
      kill('SIGTERM')
    })
    assert.equal(first.code, 143, first.stderr)
    const lines = first.stderr.trim().split('\n')
    assert.match(
      lines[lines.length - 1],
      /^oss-turbo: terminated; checkpoint saved in .*\.json: run the same command again to resume$/,
    )
    assert.ok(donePartsIn() >= 3, 'the checkpoint holds parts')
    assert.ok(!readdirSync(cpDir).some((n) => n.endsWith('.tmp')), 'no temp file is left')
    await emu.clearFaults()
    const second = await run()
    assert.equal(second.code, 0, second.stderr)
    assert.equal(await storedSha(key), sha256(data))
    assert.deepEqual(await openUploads(), [])
  })
})
