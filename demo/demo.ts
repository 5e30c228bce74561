// `npm run demo`: a 512 MiB upload to the local emulator that crashes halfway and resumes.
//
//  1. starts the emulator and writes a 512 MiB file of random bytes;
//  2. uploads it with multipartUpload({checkpointFile}) in a child process, showing a progress bar, and
//     SIGKILLs that child at about 50 % — nothing gets to clean up, as in a real crash;
//  3. resumes in this process with the retry-five-times loop of the ali-oss docs: every attempt picks the
//     upload up from the checkpoint file the crashed run left;
//  4. checks the object's CRC-64 (the emulator's x-oss-hash-crc64ecma on HEAD) against the file's, computed
//     here in plain JS, and reads the emulator's request log to tell which parts were sent twice.
import { fork } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { randomFillSync } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import OSS = require('..')
import { TEST_AK, TEST_BUCKET, TEST_SK, startEmulator } from '../__test__/helpers/emulator'
import { crc64File } from './crc64'
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { ByteProgress, MiB } = require('../bin/progress')

const SIZE = 512 * MiB
const PART_SIZE = 8 * MiB
const PARALLEL = 4
const KEY = 'demo/512MiB.bin'
const CRASH_AT = 0.5

interface Job {
  endpoint: string
  file: string
  checkpointFile: string
}

function client(endpoint: string): OSS {
  return new OSS({ endpoint, bucket: TEST_BUCKET, accessKeyId: TEST_AK, accessKeySecret: TEST_SK })
}

function uploadOptions(
  job: Job,
  onUploadProgress: (p: { loaded: number; total: number }) => void,
): OSS.MultipartUploadOptions {
  return { partSize: PART_SIZE, parallel: PARALLEL, checkpointFile: job.checkpointFile, onUploadProgress }
}

/** The child: uploads and reports bytes to the parent until it is killed. */
async function child(): Promise<void> {
  const job: Job = JSON.parse(process.argv[3])
  const send = (msg: unknown) => process.send?.(msg)
  send({ started: true })
  await client(job.endpoint).multipartUpload(
    KEY,
    job.file,
    uploadOptions(job, (p) => send(p)),
  )
  send({ done: true })
  process.disconnect?.()
}

function say(msg = ''): void {
  process.stdout.write(`${msg}\n`)
}

function writeRandomFile(path: string, size: number): void {
  const chunk = Buffer.allocUnsafe(16 * MiB)
  const fd = openSync(path, 'w')
  try {
    for (let written = 0; written < size; written += chunk.length) {
      randomFillSync(chunk)
      writeSync(fd, chunk, 0, Math.min(chunk.length, size - written))
    }
  } finally {
    closeSync(fd)
  }
}

/** Step 2: the upload in a child process, killed with SIGKILL once it has sent CRASH_AT of the bytes. */
function crashingUpload(job: Job): Promise<{ secs: number; crashedAt: number | null }> {
  return new Promise((resolve, reject) => {
    // Timed from the child's first message, so that starting a Node process is not counted as uploading.
    let started = Date.now()
    const bar = new ByteProgress({ label: 'upload ' })
    const proc = fork(__filename, ['--child', JSON.stringify(job)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    let crashedAt: number | null = null
    proc.on('message', (m: { loaded?: number; started?: boolean }) => {
      if (m.started) {
        started = Date.now()
        bar.start(SIZE)
      }
      if (typeof m.loaded !== 'number' || crashedAt !== null) return
      bar.update(m.loaded)
      if (m.loaded >= SIZE * CRASH_AT && m.loaded < SIZE) {
        crashedAt = m.loaded / SIZE
        proc.kill('SIGKILL')
      }
    })
    proc.on('error', reject)
    proc.on('exit', (code, signal) => {
      bar.stop()
      if (signal === 'SIGKILL' || code === 0) resolve({ secs: (Date.now() - started) / 1000, crashedAt })
      else reject(new Error(`the uploading child exited with code ${code}, signal ${signal}`))
    })
  })
}

function donePartsIn(checkpointFile: string): number[] {
  if (!existsSync(checkpointFile)) return []
  return JSON.parse(readFileSync(checkpointFile, 'utf8')).doneParts.map((p: { number: number }) => p.number)
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'oss-turbo-demo-'))
  const emu = await startEmulator()
  try {
    const job: Job = {
      endpoint: emu.endpoint,
      file: join(work, 'demo-512MiB.bin'),
      checkpointFile: join(work, 'upload.checkpoint.json'),
    }
    const numParts = Math.ceil(SIZE / PART_SIZE)
    say(`oss-turbo demo: emulator at ${emu.endpoint}`)
    say(`writing ${SIZE / MiB} MiB of random bytes to ${job.file} ...`)
    writeRandomFile(job.file, SIZE)

    say(
      `\n1) multipartUpload in a child process (${numParts} parts of ${PART_SIZE / MiB} MiB, parallel ${PARALLEL}, checkpointFile), killed with SIGKILL at ~${CRASH_AT * 100} %`,
    )
    const crash = await crashingUpload(job)
    const saved = donePartsIn(job.checkpointFile)
    if (crash.crashedAt === null) {
      say('   the upload finished before the crash point (a very fast machine): nothing to resume')
    } else {
      say(
        `   killed at ${(crash.crashedAt * 100).toFixed(1)} % after ${crash.secs.toFixed(2)} s; the checkpoint file records ${saved.length} of ${numParts} parts`,
      )
    }

    say(`\n2) resume here with the docs' retry loop (5 attempts), from the checkpoint file`)
    const oss = client(emu.endpoint)
    const bar = new ByteProgress({ label: 'resume ' })
    const doneBytes = saved.reduce((n, p) => n + Math.min(PART_SIZE, SIZE - (p - 1) * PART_SIZE), 0)
    const resumeStarted = Date.now()
    bar.start(SIZE, doneBytes)
    let result: OSS.MultipartUploadResult | undefined
    let attempts = 0
    for (let i = 0; i < 5; i++) {
      attempts++
      try {
        result = await oss.multipartUpload(
          KEY,
          job.file,
          uploadOptions(job, ({ loaded }) => bar.update(loaded)),
        )
        break
      } catch (err) {
        bar.stop()
        say(`   attempt ${i + 1} failed: ${(err as Error).message ?? (err as { name: string }).name}; trying again`)
        bar.start(SIZE, bar.loaded)
      }
    }
    bar.update(SIZE)
    bar.stop()
    const resumeSecs = (Date.now() - resumeStarted) / 1000
    // ByteProgress notes when the last byte went out; the rest is the server assembling the object.
    const completeSecs = (Date.now() - bar.endTime) / 1000
    if (!result) throw new Error('the upload did not complete in 5 attempts')

    say('\n3) verify')
    const head = await oss.head(KEY)
    const remote = head.res.headers['x-oss-hash-crc64ecma']
    const local = crc64File(job.file)
    const perPart = new Map<number, number>()
    for (const e of await emu.log()) {
      if (e.api === 'UploadPart' && e.key === KEY && e.partNumber != null)
        perPart.set(e.partNumber, (perPart.get(e.partNumber) ?? 0) + 1)
    }
    const resent = [...perPart]
      .filter(([, n]) => n > 1)
      .map(([p]) => p)
      .sort((a, b) => a - b)
    const uploadSecs = crash.secs + resumeSecs

    say('\n── summary ──────────────────────────────────────────────')
    say(
      `object        oss://${TEST_BUCKET}/${KEY}, ${SIZE / MiB} MiB, ${numParts} parts of ${PART_SIZE / MiB} MiB, parallel ${PARALLEL}`,
    )
    if (crash.crashedAt !== null) {
      say(
        `crash         SIGKILL at ${(crash.crashedAt * 100).toFixed(1)} % after ${crash.secs.toFixed(2)} s; checkpoint file: ${saved.length}/${numParts} parts`,
      )
    }
    say(
      `resume        ${attempts} attempt(s) of the retry loop, ${numParts - saved.length} parts, ${resumeSecs.toFixed(2)} s ` +
        `(of which ${completeSecs.toFixed(2)} s waiting for Complete)`,
    )
    say(`time          ${uploadSecs.toFixed(2)} s uploading in all, ${(SIZE / MiB / uploadSecs).toFixed(0)} MiB/s`)
    say(
      `parts resent  ${resent.length}${resent.length ? ` (part${resent.length > 1 ? 's' : ''} ${resent.join(', ')}: in flight when the uploader died)` : ''}`,
    )
    say(`CRC-64        object ${remote}, file ${local}: ${remote === local ? 'verified ✔' : 'MISMATCH ✘'}`)
    if (remote !== local) process.exitCode = 1
  } finally {
    await emu.stop()
    rmSync(work, { recursive: true, force: true })
  }
}

if (process.argv[2] === '--child') {
  child().catch((err) => {
    process.stderr.write(`demo child: ${err && err.message ? err.message : JSON.stringify(err)}\n`)
    process.exit(1)
  })
} else {
  main().catch((err) => {
    process.stderr.write(`demo failed: ${err && err.message ? err.message : JSON.stringify(err)}\n`)
    process.exit(1)
  })
}
