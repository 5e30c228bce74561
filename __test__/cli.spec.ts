// The `oss-turbo` command against the emulator: a fresh upload, Ctrl-C then the same command again
// (resumed, nothing re-sent), and failures reported as one line with a non-zero exit code.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { after, before, beforeEach, describe, it } from 'node:test'

import { Emulator, TEST_AK, TEST_BUCKET, TEST_SK, startEmulator } from './helpers/emulator'
import { TempDir, makeData, sleep } from './helpers/util'

const CLI = resolve(__dirname, '..', 'bin', 'oss-turbo.js')
const KiB = 1024

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

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function cli(
  args: string[],
  opts: { env?: Record<string, string>; onStart?: (kill: (s: NodeJS.Signals) => void) => void } = {},
): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, OSS_ACCESS_KEY_ID: TEST_AK, OSS_ACCESS_KEY_SECRET: TEST_SK, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('error', fail)
    child.on('close', (code) => done({ code, stdout, stderr }))
    opts.onStart?.((s) => child.kill(s))
  })
}

/** `cp <file> oss://examplebucket/<key>` against the emulator, with a checkpoint folder of the test's own. */
function cpArgs(file: string, key: string, cpDir: string, extra: string[] = []): string[] {
  return ['cp', file, `oss://${TEST_BUCKET}/${key}`, '--endpoint', emu.endpoint, '--checkpoint-dir', cpDir, ...extra]
}

/** Part numbers of the successful UploadPart requests for `key` in the emulator's log. */
async function uploadedParts(key: string): Promise<number[]> {
  return (await emu.log())
    .filter((e) => e.api === 'UploadPart' && e.key === key && e.status === 200)
    .map((e) => e.partNumber as number)
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n')
  return lines[lines.length - 1]
}

describe('oss-turbo cp', () => {
  it('uploads a file (plain progress lines when not on a terminal) and leaves no checkpoint behind', async () => {
    const data = makeData(3 * 1024 * KiB + 123)
    const file = dir.file('fresh.bin', data)
    const cpDir = join(dir.path, 'cp-fresh')
    const run = await cli(cpArgs(file, 'cli/fresh.bin', cpDir, ['--part-size', '256K', '--parallel', '3']))
    assert.equal(run.code, 0, run.stderr)
    assert.match(
      lastLine(run.stderr),
      /^oss-turbo: uploaded .*fresh\.bin to oss:\/\/examplebucket\/cli\/fresh\.bin: 3\.0 MiB in /,
    )
    assert.match(run.stderr, /100% {2}3\.0\/3\.0 MiB/, 'a plain progress line ends at 100 %')
    assert.doesNotMatch(run.stderr, /\x1b|\r/, 'no terminal control sequences on a pipe')
    assert.ok((await emu.getObject('cli/fresh.bin'))?.equals(data), 'the object is the file, byte for byte')
    assert.equal((await uploadedParts('cli/fresh.bin')).length, 13, '13 parts of 256 KiB')
    assert.deepEqual(readdirSync(cpDir), [], 'the checkpoint is deleted after success')
  })

  it('appends the file name to a key ending in / and accepts --v4 and sizes like 1MiB', async () => {
    const data = makeData(1536 * KiB)
    const file = dir.file('named.bin', data)
    const run = await cli(
      cpArgs(file, 'cli/dir/', join(dir.path, 'cp-named'), ['--v4', '--part-size', '1MiB', '--no-progress']),
    )
    assert.equal(run.code, 0, run.stderr)
    assert.equal(run.stderr.trim().split('\n').length, 1, 'no progress lines with --no-progress')
    assert.ok((await emu.getObject('cli/dir/named.bin'))?.equals(data))
    // The emulator verified every signature; V4 requests (only they) carry x-oss-content-sha256.
    const part = (await emu.log()).find((e) => e.api === 'UploadPart')
    assert.equal(part?.headers['x-oss-content-sha256'], 'UNSIGNED-PAYLOAD', 'signed with V4')
  })

  it('takes STS credentials from OSS_SESSION_TOKEN', async () => {
    await emu.addCredentials({ accessKeyId: 'sts-ak', accessKeySecret: 'sts-sk', securityToken: 'sts-token-1' })
    const data = makeData(300 * KiB)
    const file = dir.file('sts.bin', data)
    const env = { OSS_ACCESS_KEY_ID: 'sts-ak', OSS_ACCESS_KEY_SECRET: 'sts-sk', OSS_SESSION_TOKEN: 'sts-token-1' }
    const run = await cli(cpArgs(file, 'cli/sts.bin', join(dir.path, 'cp-sts'), ['--no-progress']), { env })
    assert.equal(run.code, 0, run.stderr)
    assert.ok((await emu.getObject('cli/sts.bin'))?.equals(data))
    const denied = await cli(cpArgs(file, 'cli/sts2.bin', join(dir.path, 'cp-sts'), ['--no-progress']), {
      env: { ...env, OSS_SESSION_TOKEN: '' },
    })
    assert.equal(denied.code, 1, 'the same key without its token is refused')
  })

  it('Ctrl-C leaves a checkpoint and exits 130; the same command again resumes without re-sending parts', async () => {
    const key = 'cli/resume.bin'
    const data = makeData(4 * 1024 * KiB)
    const file = dir.file('resume.bin', data)
    const cpDir = join(dir.path, 'cp-resume')
    const args = cpArgs(file, key, cpDir, ['--part-size', '128K', '--parallel', '2'])
    // 32 parts, two at a time, each held 150 ms by the emulator: about 2.4 s, long enough to interrupt.
    await emu.addFault({ api: 'UploadPart', key, times: 0, action: { type: 'delay', ms: 150 } })

    const first = await cli(args, {
      onStart: async (kill) => {
        // Interrupt once the checkpoint file records a few parts.
        for (let i = 0; i < 200; i++) {
          await sleep(25)
          if (donePartsIn(cpDir).length >= 4) break
        }
        kill('SIGINT')
      },
    })
    assert.equal(first.code, 130, first.stderr)
    assert.match(
      lastLine(first.stderr),
      /^oss-turbo: interrupted; checkpoint saved in .*\.json: run the same command again to resume$/,
    )
    const saved = donePartsIn(cpDir)
    assert.ok(saved.length >= 4 && saved.length < 32, `the checkpoint holds some parts (${saved.length})`)
    const firstRun = await uploadedParts(key)
    assert.deepEqual(
      [...saved].sort((a, b) => a - b),
      [...firstRun].sort((a, b) => a - b),
      'the checkpoint is exact: every part the server took, no other',
    )

    await emu.clearFaults()
    await emu.clearLog()
    const second = await cli(args)
    assert.equal(second.code, 0, second.stderr)
    assert.match(second.stderr, /^oss-turbo: resuming oss:\/\/examplebucket\/cli\/resume\.bin from /)
    assert.ok((await emu.getObject(key))?.equals(data), 'the object is the file, byte for byte')
    const log = await emu.log()
    assert.equal(log.filter((e) => e.api === 'InitiateMultipartUpload').length, 0, 'the same upload is continued')
    const secondRun = await uploadedParts(key)
    assert.deepEqual(
      secondRun.filter((n) => saved.includes(n)),
      [],
      'no part in the checkpoint is sent again',
    )
    assert.deepEqual(
      [...saved, ...secondRun].sort((a, b) => a - b),
      Array.from({ length: 32 }, (_, i) => i + 1),
      'each part is uploaded exactly once across both runs',
    )
    assert.deepEqual(readdirSync(cpDir), [], 'the checkpoint is deleted after success')
  })
})

describe('oss-turbo failures: one line, non-zero exit, no stack trace, no secret', () => {
  const file = () => dir.file('small.bin', makeData(200 * KiB))

  function assertOneLine(run: Run, code: number, pattern: RegExp) {
    assert.equal(run.code, code, run.stderr)
    const lines = run.stderr.trim().split('\n')
    assert.equal(lines.length, 1, `one line: ${run.stderr}`)
    assert.match(lines[0], pattern)
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace')
    assert.equal(run.stdout, '')
  }

  it('a wrong secret', async () => {
    const secret = 'not-the-secret-1234567890'
    const run = await cli(cpArgs(file(), 'cli/denied.bin', join(dir.path, 'cp-denied'), ['--no-progress']), {
      env: { OSS_ACCESS_KEY_SECRET: secret },
    })
    assertOneLine(
      run,
      1,
      /^oss-turbo: upload to oss:\/\/examplebucket\/cli\/denied\.bin failed: .*\(SignatureDoesNotMatch, HTTP 403, request id \w+\)$/,
    )
    assert.ok(!run.stderr.includes(secret), 'the secret is not printed')
  })

  it('a missing file', async () => {
    const run = await cli(cpArgs(join(dir.path, 'nope.bin'), 'cli/nope.bin', join(dir.path, 'cp-nope')))
    assertOneLine(run, 1, /^oss-turbo: cannot read .*nope\.bin: no such file$/)
  })

  it('a bad oss:// URL', async () => {
    for (const url of ['s3://bucket/key', 'oss://', 'oss://Bad_Bucket/key']) {
      const run = await cli(['cp', file(), url, '--endpoint', emu.endpoint])
      assertOneLine(run, 2, /^oss-turbo: invalid destination ".*": /)
    }
  })

  it('a bad option value, and no credentials', async () => {
    assertOneLine(
      await cli(cpArgs(file(), 'k', dir.path, ['--part-size', 'lots'])),
      2,
      /^oss-turbo: option '--part-size <size>' argument 'lots' is invalid/,
    )
    assertOneLine(
      await cli(cpArgs(file(), 'k', dir.path), { env: { OSS_ACCESS_KEY_ID: '' } }),
      2,
      /^oss-turbo: no credentials: set OSS_ACCESS_KEY_ID/,
    )
  })

  it('--help lists the options and exits 0', async () => {
    const run = await cli(['cp', '--help'])
    assert.equal(run.code, 0)
    for (const opt of ['--endpoint', '--region', '--parallel', '--part-size', '--checkpoint-dir', '--v4']) {
      assert.ok(run.stdout.includes(opt), opt)
    }
  })
})

function donePartsIn(cpDir: string): number[] {
  if (!existsSync(cpDir)) return []
  for (const f of readdirSync(cpDir)) {
    try {
      const cp = JSON.parse(readFileSync(join(cpDir, f), 'utf8'))
      return cp.doneParts.map((p: { number: number }) => p.number)
    } catch {
      // being replaced right now: try again on the next poll
    }
  }
  return []
}
