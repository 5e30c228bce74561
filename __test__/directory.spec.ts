// Folder upload (issue 13): client.uploadDirectory and `oss-turbo cp -r` against the emulator. Every object
// is checked byte for byte (sha256); reruns are checked in the emulator's request log.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { after, before, beforeEach, describe, it } from 'node:test'

import { Emulator, TEST_AK, TEST_BUCKET, TEST_SK, startEmulator } from './helpers/emulator'
import { TempDir, makeData, rejection, sha256, turbo } from './helpers/util'

const CLI = resolve(__dirname, '..', 'bin', 'oss-turbo.js')
const PART = 102400

let emu: Emulator
let tmp: TempDir

before(async () => {
  emu = await startEmulator()
  tmp = new TempDir()
})

after(async () => {
  await emu?.stop()
  tmp?.remove()
})

beforeEach(async () => {
  await emu.reset()
})

let trees = 0

/** Writes a tree of files (relative path → content) into a fresh folder. */
function tree(files: Record<string, Buffer>): string {
  const root = join(tmp.path, `tree-${++trees}`)
  for (const [rel, data] of Object.entries(files)) {
    mkdirSync(join(root, rel, '..'), { recursive: true })
    writeFileSync(join(root, rel), data)
  }
  return root
}

async function checkStored(prefix: string, files: Record<string, Buffer>) {
  for (const [rel, data] of Object.entries(files)) {
    const got = await emu.getObject(prefix + rel)
    assert.ok(got, `${prefix + rel} exists`)
    assert.equal(sha256(got), sha256(data), `${prefix + rel} is byte-identical`)
  }
}

async function writes(): Promise<{ api: string; key: string; status: number; partNumber: number | null }[]> {
  return (await emu.log())
    .filter((e) => e.api === 'PutObject' || e.api === 'UploadPart' || e.api === 'InitiateMultipartUpload')
    .map((e) => ({ api: e.api as string, key: e.key as string, status: e.status, partNumber: e.partNumber }))
}

function sample(): Record<string, Buffer> {
  return {
    'index.html': makeData(2000),
    'a/b/c/deep.txt': makeData(10),
    'a/big.bin': makeData(3 * PART + 77),
    'ünïcödé/日本語 file.txt': makeData(500),
    'with space/x y.json': makeData(0),
    'a/app.js.map': makeData(300),
  }
}

describe('uploadDirectory', () => {
  it('uploads nested, unicode and space-named files under the prefix, byte-identical; large files in parts', async () => {
    const files = sample()
    const root = tree(files)
    symlinkSync(join(root, 'index.html'), join(root, 'link.html'))
    const client = turbo(emu)
    const seen: { filesDone: number; filesTotal?: number; bytesDone: number; bytesTotal?: number }[] = []
    const perFile: string[] = []
    const r = await client.uploadDirectory(root, 'site', {
      parallel: 3,
      partSize: PART,
      progress: (p) => {
        seen.push(p)
      },
      onFile: (f) => {
        perFile.push(`${f.status}:${f.key}`)
      },
    })
    assert.equal(r.uploaded, 6)
    assert.equal(r.skipped, 0)
    assert.deepEqual(r.failed, [])
    assert.equal(r.symlinksSkipped, 1, 'symlinks are skipped by default, and counted')
    assert.equal(
      r.bytesUploaded,
      Object.values(files).reduce((n, b) => n + b.length, 0),
    )
    await checkStored('site/', files)
    assert.equal(await emu.getObject('site/link.html'), null)
    assert.equal(perFile.length, 6)
    assert.ok(perFile.includes('uploaded:site/ünïcödé/日本語 file.txt'))
    const w = await writes()
    assert.equal(w.filter((e) => e.key === 'site/a/big.bin' && e.api === 'UploadPart').length, 4)
    assert.equal(w.filter((e) => e.key === 'site/index.html' && e.api === 'PutObject').length, 1)
    const last = seen[seen.length - 1]
    assert.equal(last.filesDone, 6)
    assert.equal(last.filesTotal, 6)
    assert.equal(last.bytesDone, last.bytesTotal)
    const head = await client.head('site/index.html')
    assert.match(head.res.headers['content-type'], /^text\/html/)
  })

  it('follows symlinks when asked', async () => {
    const root = tree({ 'real.txt': makeData(100) })
    symlinkSync(join(root, 'real.txt'), join(root, 'alias.txt'))
    const r = await turbo(emu).uploadDirectory(root, 'f/', { followSymlinks: true })
    assert.equal(r.uploaded, 2)
    assert.equal(r.symlinksSkipped, 0)
    assert.equal(sha256((await emu.getObject('f/alias.txt'))!), sha256((await emu.getObject('f/real.txt'))!))
  })

  it('include and exclude globs', async () => {
    const files = sample()
    const root = tree(files)
    const client = turbo(emu)
    const r = await client.uploadDirectory(root, 'g/', { include: ['*.txt', 'a/**'], exclude: '*.map' })
    assert.equal(r.uploaded, 3)
    const keys = (await writes())
      .filter((e) => e.api !== 'UploadPart')
      .map((e) => e.key)
      .sort()
    assert.deepEqual(keys, ['g/a/b/c/deep.txt', 'g/a/big.bin', 'g/ünïcödé/日本語 file.txt'])
    const bad = await rejection(client.uploadDirectory(root, 'g/', { include: '[abc' }))
    assert.match(bad.message, /invalid glob/)
  })

  it('update mode: an unchanged tree costs only HEADs; a changed file is uploaded again', async () => {
    const files = sample()
    const root = tree(files)
    const client = turbo(emu)
    await client.uploadDirectory(root, 'u/', { partSize: PART })
    await emu.clearLog()
    const again = await client.uploadDirectory(root, 'u/', { partSize: PART, update: true })
    assert.equal(again.skipped, 6)
    assert.equal(again.uploaded, 0)
    const apis = (await emu.log()).map((e) => e.api)
    assert.deepEqual([...new Set(apis)], ['HeadObject'])
    assert.equal(apis.length, 6)

    const changed = makeData(files['a/b/c/deep.txt'].length) // same size, other bytes: the CRC-64 tells
    writeFileSync(join(root, 'a/b/c/deep.txt'), changed)
    await emu.clearLog()
    const third = await client.uploadDirectory(root, 'u/', { partSize: PART, update: true })
    assert.equal(third.uploaded, 1)
    assert.equal(third.skipped, 5)
    assert.equal(sha256((await emu.getObject('u/a/b/c/deep.txt'))!), sha256(changed))
  })

  it('a failing file is reported with its reason; the others are uploaded', async () => {
    const files = sample()
    const root = tree(files)
    await emu.addFault({
      api: 'PutObject',
      key: 'h/index.html',
      action: { type: 'error', status: 403, code: 'AccessDenied', message: 'nope' },
    })
    const r = await turbo(emu).uploadDirectory(root, 'h/', { partSize: PART })
    assert.equal(r.uploaded, 5)
    assert.equal(r.failed.length, 1)
    assert.equal(r.failed[0].key, 'h/index.html')
    assert.match(r.failed[0].reason, /nope|AccessDenied/)
    const { 'index.html': _, ...rest } = files
    await checkStored('h/', rest)
  })

  it('signal cancels the job: rejects with the cancel shape; a rerun with checkpointDir finishes it', async () => {
    const files: Record<string, Buffer> = {}
    for (let i = 0; i < 30; i++) files[`c/${i}.txt`] = makeData(2000)
    const root = tree(files)
    const cps = join(tmp.path, 'cancel-cps')
    await emu.addFault({ api: 'PutObject', times: 1000, action: { type: 'delay', ms: 50 } })
    const controller = new AbortController()
    const client = turbo(emu)
    const err = await rejection(
      client.uploadDirectory(root, 'k/', {
        parallel: 2,
        checkpointDir: cps,
        signal: controller.signal,
        onFile: () => controller.abort(),
      }),
    )
    assert.deepEqual(err, { status: 0, name: 'cancel' })
    const firstPuts = (await emu.log()).filter((e) => e.api === 'PutObject' && e.status === 200).length
    assert.ok(firstPuts < 30, 'the job stopped early')
    await emu.clearFaults()
    const r = await client.uploadDirectory(root, 'k/', { parallel: 2, checkpointDir: cps })
    assert.equal(r.uploaded + r.skipped, 30)
    assert.ok(r.skipped >= 1, 'files finished before the cancel are skipped')
    await checkStored('k/', files)
  })

  it('a missing folder rejects clearly', async () => {
    const err = await rejection(turbo(emu).uploadDirectory(join(tmp.path, 'nope'), 'x/'))
    assert.match(err.message, /nope/)
  })
})

interface Run {
  code: number | null
  stderr: string
}

function cli(args: string[], onStart?: (kill: (s: NodeJS.Signals) => void) => void): Promise<Run> {
  return new Promise((done, fail) => {
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
}

describe('oss-turbo cp -r', () => {
  it('uploads a folder, exits 1 when a file failed, and a rerun after a crash uploads nothing twice', async () => {
    const files: Record<string, Buffer> = {}
    for (let i = 0; i < 40; i++) files[`d${i % 4}/f${i}.txt`] = makeData(1000 + i)
    files['large/one.bin'] = makeData(8 * PART)
    const root = tree(files)
    const cps = join(tmp.path, 'cli-cps')
    const args = [
      'cp',
      '-r',
      root,
      `oss://${TEST_BUCKET}/cli/`,
      '--endpoint',
      emu.endpoint,
      '--checkpoint-dir',
      cps,
      '--part-size',
      String(PART),
      '--parallel',
      '2',
      '--no-progress',
    ]

    // First run: slow parts of the large file; killed (SIGKILL, a crash) once some files are done.
    await emu.addFault({ api: 'UploadPart', key: 'cli/large/one.bin', times: 1000, action: { type: 'delay', ms: 300 } })
    // The kill comes once the run has recorded two parts of the large file in its checkpoint.
    const recorded = () => {
      try {
        return readdirSync(cps)
          .filter((n) => n.endsWith('.json'))
          .some((n) => JSON.parse(readFileSync(join(cps, n), 'utf8')).doneParts.length >= 2)
      } catch {
        return false
      }
    }
    const first = await cli(args, (kill) => {
      const poll = setInterval(() => {
        if (recorded()) {
          clearInterval(poll)
          kill('SIGKILL')
        }
      }, 20)
    })
    assert.equal(first.code, null, 'the first run was killed')
    // What the killed run had recorded as finished: the journal of files and the large file's checkpoint.
    const finished = new Set<string>()
    const partsDone = new Set<number>()
    for (const name of readdirSync(cps)) {
      const text = readFileSync(join(cps, name), 'utf8')
      if (name.endsWith('.done')) for (const line of text.split('\n').filter(Boolean)) finished.add(line.split('\t')[0])
      if (name.endsWith('.json')) for (const p of JSON.parse(text).doneParts) partsDone.add(p.number)
    }
    assert.ok(partsDone.size >= 2, 'the large file was in flight with parts recorded')
    assert.ok(partsDone.size < 8, 'the large file was not finished')
    await emu.clearFaults()
    await emu.clearLog()

    const second = await cli(args)
    assert.equal(second.code, 0, second.stderr)
    await checkStored('cli/', files)
    const after = await writes()
    for (const e of after) {
      if (e.api === 'PutObject') assert.ok(!finished.has(e.key), `${e.key} was finished before and uploaded again`)
      if (e.api === 'UploadPart')
        assert.ok(!partsDone.has(e.partNumber ?? 0), `part ${e.partNumber} was stored before and sent again`)
    }
    assert.ok(!after.some((e) => e.api === 'InitiateMultipartUpload'), 'the large file resumed its upload')
    assert.ok(after.filter((e) => e.api === 'PutObject').length <= 40 - finished.size)
    assert.match(second.stderr, /uploaded/)

    // A failing file: exit code 1, the others uploaded, the reason on stderr.
    const other = tree({ 'ok.txt': makeData(10), 'bad.txt': makeData(10) })
    await emu.addFault({
      api: 'PutObject',
      key: 'cli2/bad.txt',
      action: { type: 'error', status: 403, code: 'AccessDenied', message: 'denied here' },
    })
    const failed = await cli([
      'cp',
      '-r',
      other,
      `oss://${TEST_BUCKET}/cli2`,
      '--endpoint',
      emu.endpoint,
      '--checkpoint-dir',
      cps,
      '--no-progress',
    ])
    assert.equal(failed.code, 1)
    assert.match(failed.stderr, /bad\.txt/)
    assert.match(failed.stderr, /1 uploaded, 0 skipped, 1 failed/)
    assert.ok(await emu.getObject('cli2/ok.txt'))
  })
})
