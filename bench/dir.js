'use strict'
// Folder benchmark (issue 13): a tree of many files (mixed 4 KiB – 8 MiB) uploaded to the emulator in --bench
// mode by oss-turbo's uploadDirectory and by a p-limit-style loop of ali-oss put/multipartUpload calls with
// the same concurrency, then oss-turbo's update-mode rerun (nothing changed: HEADs only).
//
//   node bench/dir.js [--files 10000] [--parallel 16] [--rounds 1] [--keep]
//
// Each upload runs in its own Node process (wall time, CPU seconds of the whole process, peak RSS), and
// every object is checked afterwards (HEAD: size and CRC-64 computed here).

const { spawn, spawnSync } = require('child_process')
const crypto = require('crypto')
const fs = require('fs')
const os = require('os')
const path = require('path')
const { createInterface } = require('readline')

const REPO = path.resolve(__dirname, '..')
const MiB = 1024 * 1024
const BUCKET = 'examplebucket'
const CREDS = { accessKeyId: 'test-ak', accessKeySecret: 'test-sk' }

function args() {
  const o = { files: 10000, parallel: 16, rounds: 1, keep: false }
  const a = process.argv.slice(2)
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--files') o.files = Number(a[++i])
    else if (a[i] === '--parallel') o.parallel = Number(a[++i])
    else if (a[i] === '--rounds') o.rounds = Number(a[++i])
    else if (a[i] === '--keep') o.keep = true
    else throw new Error(`unknown option ${a[i]}`)
  }
  return o
}

// ---- the tree: 98 % small files (4–64 KiB), 2 % large ones (1–8 MiB); about 1.2 GiB for 10,000 files ----

function makeTree(root, files) {
  const rand = seeded(42)
  let bytes = 0
  for (let i = 0; i < files; i++) {
    const dir = path.join(root, `d${i % 50}`, `e${i % 7}`)
    fs.mkdirSync(dir, { recursive: true })
    const size = rand() < 0.02 ? MiB + Math.floor(rand() * 7 * MiB) : 4096 + Math.floor(rand() * 60 * 1024)
    const buf = crypto.randomBytes(size)
    fs.writeFileSync(path.join(dir, `f${i}.bin`), buf)
    bytes += size
  }
  return bytes
}

function seeded(seed) {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

function* walk(root, rel = '') {
  for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name
    if (e.isDirectory()) yield* walk(root, r)
    else if (e.isFile()) yield r
  }
}

// ---- the emulator ----

function startEmulator() {
  const bin = path.join(process.env.CARGO_TARGET_DIR || path.join(REPO, 'target'), 'release', 'oss-emulator')
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['--bench', '--listen', '127.0.0.1:0', '--exit-on-stdin-eof'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    const rl = createInterface({ input: child.stdout })
    rl.once('line', (line) => {
      const m = /:(\d+)\s*$/.exec(line)
      if (!m) return reject(new Error(`unexpected emulator line ${line}`))
      resolve({ port: Number(m[1]), child })
    })
    child.once('error', reject)
  })
}

// ---- one measured run, in a child process ----

async function child(cfg) {
  const OSS = require(cfg.contender === 'ali-oss' ? 'ali-oss' : REPO)
  const client = new OSS({ endpoint: cfg.endpoint, bucket: BUCKET, region: 'oss-cn-hangzhou', ...CREDS })
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  let extra = {}
  if (cfg.contender === 'ali-oss') {
    // A p-limit-style loop: `parallel` workers take the next file; small files put, large ones multipartUpload.
    const files = [...walk(cfg.root)]
    let next = 0
    const worker = async () => {
      while (next < files.length) {
        const rel = files[next++]
        const file = path.join(cfg.root, rel)
        const key = cfg.prefix + rel
        if (fs.statSync(file).size < 102400) await client.put(key, file)
        else await client.multipartUpload(key, file, { parallel: 1, partSize: MiB })
      }
    }
    await Promise.all(Array.from({ length: cfg.parallel }, worker))
  } else {
    const r = await client.uploadDirectory(cfg.root, cfg.prefix, {
      parallel: cfg.parallel,
      partSize: MiB,
      update: !!cfg.update,
    })
    if (r.failed.length) throw new Error(`failed: ${JSON.stringify(r.failed.slice(0, 3))}`)
    extra = { uploaded: r.uploaded, skipped: r.skipped }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  const cpu = process.cpuUsage(cpu0)
  const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))
  return {
    ok: true,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    maxRssMiB: hwm ? Number(hwm[1]) / 1024 : null,
    ...extra,
  }
}

function runChild(cfg) {
  const r = spawnSync(process.execPath, [__filename, '--child', JSON.stringify(cfg)], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  })
  const line = (r.stdout || '').trim().split('\n').pop()
  try {
    return JSON.parse(line)
  } catch {
    return { ok: false, error: `${r.stderr || ''}${r.stdout || ''}`.slice(-2000) }
  }
}

function crc64(buf) {
  // CRC-64/XZ (ECMA-182, reflected), bitwise: small and only used to verify.
  let crc = 0xffffffffffffffffn
  const poly = 0xc96c5795d7870f42n
  for (const b of buf) {
    crc ^= BigInt(b)
    for (let k = 0; k < 8; k++) crc = crc & 1n ? (crc >> 1n) ^ poly : crc >> 1n
  }
  return (crc ^ 0xffffffffffffffffn).toString()
}

async function verify(port, root, prefix, sample) {
  const OSS = require(REPO)
  const client = new OSS({ endpoint: `http://127.0.0.1:${port}`, bucket: BUCKET, region: 'oss-cn-hangzhou', ...CREDS })
  const files = [...walk(root)]
  // Every object exists with its size; the CRC-64 of a sample (the bitwise CRC here is slow).
  for (let i = 0; i < files.length; i++) {
    const rel = files[i]
    const h = await client.head(prefix + rel)
    const size = fs.statSync(path.join(root, rel)).size
    if (Number(h.res.headers['content-length']) !== size)
      throw new Error(`${rel}: size ${h.res.headers['content-length']}, want ${size}`)
    if (i % Math.ceil(files.length / sample) === 0 && size < 256 * 1024) {
      const want = crc64(fs.readFileSync(path.join(root, rel)))
      if (h.res.headers['x-oss-hash-crc64ecma'] !== want) throw new Error(`${rel}: CRC-64 mismatch`)
    }
  }
  return files.length
}

async function main() {
  const o = args()
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'oss-turbo-dirbench-'))
  const bytes = makeTree(root, o.files)
  console.error(`tree: ${o.files} files, ${(bytes / MiB).toFixed(0)} MiB in ${root}; parallel ${o.parallel}`)
  const emu = await startEmulator()
  const endpoint = `http://127.0.0.1:${emu.port}`
  const results = []
  try {
    for (let round = 0; round < o.rounds; round++) {
      for (const contender of ['oss-turbo', 'ali-oss']) {
        const prefix = `dir/${contender}/${round}/`
        const r = runChild({ contender, endpoint, root, prefix, parallel: o.parallel })
        if (!r.ok) throw new Error(`${contender}: ${r.error}`)
        await verify(emu.port, root, prefix, 50)
        results.push({ contender, round, ...r, mibps: bytes / MiB / r.seconds })
        console.error(
          `${contender}: ${r.seconds.toFixed(2)} s, ${(bytes / MiB / r.seconds).toFixed(1)} MiB/s, CPU ${r.cpuSeconds.toFixed(2)} s, RSS ${r.maxRssMiB?.toFixed(0)} MiB`,
        )
        if (contender === 'oss-turbo') {
          const u = runChild({ contender, endpoint, root, prefix, parallel: o.parallel, update: true })
          if (!u.ok) throw new Error(`update rerun: ${u.error}`)
          results.push({ contender: 'oss-turbo update rerun', round, ...u })
          console.error(
            `oss-turbo update rerun: ${u.seconds.toFixed(2)} s (${u.skipped} skipped, ${u.uploaded} uploaded), CPU ${u.cpuSeconds.toFixed(2)} s`,
          )
        }
      }
    }
  } finally {
    emu.child.stdin.end()
    if (!o.keep) fs.rmSync(root, { recursive: true, force: true })
  }
  const med = (k, f) => {
    const xs = results
      .filter((r) => r.contender === k)
      .map(f)
      .sort((a, b) => a - b)
    return xs[Math.floor(xs.length / 2)]
  }
  const summary = {
    files: o.files,
    mib: Math.round(bytes / MiB),
    parallel: o.parallel,
    turboSeconds: med('oss-turbo', (r) => r.seconds),
    aliSeconds: med('ali-oss', (r) => r.seconds),
    turboCpu: med('oss-turbo', (r) => r.cpuSeconds),
    aliCpu: med('ali-oss', (r) => r.cpuSeconds),
    updateRerunSeconds: med('oss-turbo update rerun', (r) => r.seconds),
  }
  summary.speedup = summary.aliSeconds / summary.turboSeconds
  console.log(JSON.stringify({ summary, results }, null, 2))
}

if (process.argv[2] === '--child') {
  child(JSON.parse(process.argv[3])).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (e) => {
      process.stdout.write(`${JSON.stringify({ ok: false, error: String((e && e.stack) || e) })}\n`)
      process.exitCode = 1
    },
  )
} else {
  main().catch((e) => {
    console.error(e)
    process.exit(1)
  })
}
