#!/usr/bin/env node
'use strict'
// `npm run bench`: oss-turbo against ali-oss (and OpenDAL's Node binding, and a raw Rust client as the
// ceiling) on the local emulator in --bench mode. See bench/README.md.
//
//   npm run bench [-- --quick] [--cases id,id] [--pairs N] [--contenders a,b] [--no-build] [--keep-files]
//                 [--variant NAME=path/to/oss-turbo.node ...] [--with-opendal]
//
// Each upload runs in its own process (bench/child.js for the Node clients, bench/raw-client for the
// ceiling), contenders alternate within each round (A B C D, A B C D, ...), and every upload is checked
// afterwards with an unsigned HEAD (size and CRC-64) so that a failed upload never counts as a fast one.

const fs = require('fs')
const os = require('os')
const path = require('path')
const http = require('http')
const https = require('https')
const crypto = require('crypto')
const { spawn, spawnSync, execFileSync } = require('child_process')
const { createInterface } = require('readline')
const { writeChart } = require('./chart')

const REPO = path.resolve(__dirname, '..')
const MiB = 1024 * 1024
const GiB = 1024 * MiB
const BUCKET = 'examplebucket'
const KiB = 1024
// The test CA and the certificate (IP:127.0.0.1, DNS:localhost, DNS:*.localhost) the HTTPS cases' emulator serves.
const TLS_DIR = path.join(REPO, '__test__', 'fixtures', 'tls')
const TLS_CA = path.join(TLS_DIR, 'ca.pem')

// ---- the cases ----
// partSize/parallel null = the client's defaults (ali-oss: 1 MiB parts, parallel 5); `eff` is what that
// means, given explicitly to the clients that have other defaults (OpenDAL, the raw client).
const CASES = [
  {
    id: '1g-default',
    label: '1 GiB file, ali-oss defaults (1 MiB parts × 5)',
    size: GiB,
    quickSize: 128 * MiB,
    partSize: null,
    parallel: null,
    eff: [MiB, 5],
    input: 'file',
  },
  {
    id: '1g-8m',
    label: '1 GiB file, 8 MiB parts × 8',
    size: GiB,
    quickSize: 128 * MiB,
    partSize: 8 * MiB,
    parallel: 8,
    input: 'file',
  },
  {
    id: '1g-64m',
    label: '1 GiB file, 64 MiB parts × 8',
    size: GiB,
    quickSize: 128 * MiB,
    partSize: 64 * MiB,
    parallel: 8,
    input: 'file',
  },
  {
    id: '64m-default',
    label: '64 MiB file, ali-oss defaults (1 MiB parts × 5)',
    size: 64 * MiB,
    quickSize: 16 * MiB,
    partSize: null,
    parallel: null,
    eff: [MiB, 5],
    input: 'file',
  },
  {
    id: 'buf256m',
    label: '256 MiB Buffer, ali-oss defaults (1 MiB parts × 5)',
    size: 256 * MiB,
    quickSize: 32 * MiB,
    partSize: null,
    parallel: null,
    eff: [MiB, 5],
    input: 'buffer',
  },
  // HTTPS, the server offering h2 first in ALPN (the emulator's default), as a CDN or load balancer in front
  // of a CNAME'd endpoint does. Path-style on https://localhost:PORT (the certificate's name).
  {
    id: 'https-1g-default',
    label: 'HTTPS (h2 offered), 1 GiB file, defaults (1 MiB parts × 5)',
    size: GiB,
    quickSize: 64 * MiB,
    partSize: null,
    parallel: null,
    eff: [MiB, 5],
    input: 'file',
    tls: true,
  },
  {
    id: 'https-1g-8m',
    label: 'HTTPS (h2 offered), 1 GiB file, 8 MiB parts × 8',
    size: GiB,
    quickSize: 64 * MiB,
    partSize: 8 * MiB,
    parallel: 8,
    input: 'file',
    tls: true,
  },
  // Many small files: each file its own call on one client, 16 calls in flight (plain HTTP).
  ...[
    [256 * KiB, 2000, 100],
    [4 * KiB, 20000, 500],
  ].flatMap(([fileSize, count, quickCount]) =>
    ['put', 'multipartUpload'].map((method) => ({
      id: `files-${fileSize / KiB}k-${method === 'put' ? 'put' : 'mpu'}`,
      label: `${count.toLocaleString('en-US')} files of ${fileSize / KiB} KiB, \`${method}\` each, 16 in flight`,
      kind: 'files',
      method,
      fileSize,
      count,
      quickCount,
      inFlight: 16,
    })),
  ),
  // Downloads (issue 14): `get(name, file)` of a synthetic object (emulator --bench, no disk on its side);
  // ali-oss's get is one GET whatever the options. `dest` is where the file is written: tmpfs, or the page
  // cache of the temp folder's file system.
  {
    id: 'dl-1g-shm',
    label: '1 GiB download into tmpfs (/dev/shm), 8 MiB ranges × 8',
    kind: 'download',
    dest: 'shm',
    size: GiB,
    quickSize: 128 * MiB,
    partSize: 8 * MiB,
    parallel: 8,
    input: 'file',
  },
  {
    id: 'dl-1g-disk',
    label: '1 GiB download into the page cache (temp folder), 8 MiB ranges × 8',
    kind: 'download',
    dest: 'tmp',
    size: GiB,
    quickSize: 128 * MiB,
    partSize: 8 * MiB,
    parallel: 8,
    input: 'file',
  },
  {
    id: 'https-dl-1g-shm',
    label: 'HTTPS (h2 offered), 1 GiB download into tmpfs (/dev/shm), 8 MiB ranges × 8',
    kind: 'download',
    dest: 'shm',
    size: GiB,
    quickSize: 128 * MiB,
    partSize: 8 * MiB,
    parallel: 8,
    input: 'file',
    tls: true,
  },
  // Streams (issue 13): oss-turbo's multipartUpload of a Readable vs ali-oss's putStream of the same stream;
  // compare with 1g-8m for the same upload from a path.
  {
    id: '1g-stream-8m',
    label: '1 GiB fs.createReadStream, 8 MiB parts × 8 (ali-oss: putStream)',
    size: GiB,
    quickSize: 128 * MiB,
    partSize: 8 * MiB,
    parallel: 8,
    input: 'stream',
  },
  {
    id: '1g-stream1m-8m',
    label: '1 GiB fs.createReadStream with 1 MiB chunks, 8 MiB parts × 8 (ali-oss: putStream)',
    size: GiB,
    quickSize: 128 * MiB,
    partSize: 8 * MiB,
    parallel: 8,
    input: 'stream1m',
  },
  {
    id: '1g-gen-8m',
    label: '1 GiB generated Readable, 8 MiB parts × 8 (ali-oss: putStream)',
    size: GiB,
    quickSize: 128 * MiB,
    partSize: 8 * MiB,
    parallel: 8,
    input: 'generated',
  },
]
for (const c of CASES) {
  if (c.kind === 'files') {
    c.size = c.fileSize * c.count
    c.quickSize = c.fileSize * c.quickCount
  }
}
const CONTENDERS = ['oss-turbo', 'ali-oss', 'opendal', 'raw']
const LABEL = { 'oss-turbo': 'oss-turbo', 'ali-oss': 'ali-oss', opendal: 'opendal', raw: 'raw ceiling' }

function parseArgs(argv) {
  const o = {
    quick: false,
    pairs: null,
    cases: null,
    contenders: null,
    build: true,
    keepFiles: false,
    eldResolutionMs: 1,
    runTimeoutS: 600,
    variants: {},
    quietWaitS: 30,
    quietBusy: 0.15,
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const val = () => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i]
      if (v === undefined) die(`${a} needs a value`)
      return v
    }
    const name = a.split('=')[0]
    if (name === '--quick') o.quick = true
    else if (name === '--pairs') o.pairs = positiveInt(val(), '--pairs')
    else if (name === '--cases')
      o.cases = val()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    else if (name === '--contenders')
      o.contenders = val()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    else if (name === '--no-build') o.build = false
    else if (name === '--keep-files') o.keepFiles = true
    else if (name === '--quiet-wait') o.quietWaitS = Number(val())
    else if (name === '--with-opendal') o.withOpendal = true
    else if (name === '--variant') {
      // Another build of the addon as an extra contender `oss-turbo@NAME` (loaded through binding.js's
      // NAPI_RS_NATIVE_LIBRARY_PATH), to compare a change against the current build in the same run.
      const v = val()
      const eq = v.indexOf('=')
      if (eq < 1) die('--variant NAME=path/to/addon.node')
      const file = path.resolve(v.slice(eq + 1))
      if (!fs.existsSync(file)) die(`--variant: no file ${file}`)
      o.variants[v.slice(0, eq)] = file
    } else if (name === '--eld-resolution') o.eldResolutionMs = positiveInt(val(), '--eld-resolution')
    else if (name === '--help' || name === '-h') {
      console.log(
        fs
          .readFileSync(__filename, 'utf8')
          .split('\n')
          .slice(2, 11)
          .map((l) => l.replace(/^\/\/ ?/, ''))
          .join('\n'),
      )
      console.log(`cases: ${CASES.map((c) => c.id).join(', ')}\ncontenders: ${CONTENDERS.join(', ')}`)
      process.exit(0)
    } else die(`unknown option ${a} (try --help)`)
  }
  if (o.pairs == null) o.pairs = o.quick ? 1 : 3
  const known = new Set(CASES.map((c) => c.id))
  for (const c of o.cases || []) if (!known.has(c)) die(`unknown case ${c}; cases: ${[...known].join(', ')}`)
  for (const c of o.contenders || [])
    if (!CONTENDERS.includes(c) && !(c.startsWith('oss-turbo@') && o.variants[c.slice(10)]))
      die(`unknown contender ${c}; contenders: ${CONTENDERS.join(', ')}`)
  if (o.eldResolutionMs > 10) die('--eld-resolution: 1 to 10 ms')
  return o
}

function positiveInt(v, what) {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1) die(`${what} must be a positive integer`)
  return n
}

function die(msg) {
  console.error(`bench: ${msg}`)
  process.exit(2)
}

const log = (msg) => process.stderr.write(`bench: ${msg}\n`)

// ---- building ----

function targetDir() {
  return process.env.CARGO_TARGET_DIR ? path.resolve(process.env.CARGO_TARGET_DIR) : path.join(REPO, 'target')
}

function run(cmd, args, what) {
  log(`${what}: ${cmd} ${args.join(' ')}`)
  const r = spawnSync(cmd, args, { cwd: REPO, stdio: ['ignore', process.stderr, process.stderr] })
  if (r.status !== 0) {
    console.error(`bench: ${what} failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''})`)
    process.exit(1)
  }
}

function build() {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  run(npm, ['run', 'build'], 'building the addon')
  run(npm, ['run', 'build:emulator'], 'building the emulator')
  run(
    'cargo',
    [
      'build',
      '--release',
      '--manifest-path',
      path.join(__dirname, 'raw-client', 'Cargo.toml'),
      '--target-dir',
      targetDir(),
    ],
    'building the raw client',
  )
}

function binaries() {
  const emulator = process.env.OSS_EMULATOR_BIN || path.join(targetDir(), 'release', 'oss-emulator')
  const raw = process.env.RAW_CLIENT_BIN || path.join(targetDir(), 'release', 'raw-client')
  for (const [name, p] of [
    ['oss-emulator', emulator],
    ['raw-client', raw],
  ]) {
    if (!fs.existsSync(p)) die(`${name} not found at ${p} (run without --no-build, or set CARGO_TARGET_DIR)`)
  }
  return { emulator, raw }
}

// ---- OpenDAL (optional) ----
// Not a devDependency: its optional platform packages for other systems are not all in the registry this
// project installs from, which breaks `npm ci`. The bench uses it when it resolves from the repo, or from
// bench/.opendal (git-ignored), where `--with-opendal` installs it with npm.
const OPENDAL_VERSION = '0.49.2' // the newest whose prebuilt binary loads on glibc 2.36
const OPENDAL_DIR = path.join(__dirname, '.opendal')

function findOpendal(install) {
  const tryLoad = (from) => {
    try {
      const p = require.resolve('opendal', { paths: [from] })
      require(p)
      return p
    } catch (e) {
      return { why: String(e.message).split('\n')[0] }
    }
  }
  let found = tryLoad(REPO)
  if (typeof found === 'string') return found
  found = tryLoad(OPENDAL_DIR)
  if (typeof found === 'string') return found
  if (!install)
    return {
      why: `not installed (npm run bench -- --with-opendal installs opendal@${OPENDAL_VERSION} into bench/.opendal)`,
    }
  fs.mkdirSync(OPENDAL_DIR, { recursive: true })
  if (!fs.existsSync(path.join(OPENDAL_DIR, 'package.json')))
    fs.writeFileSync(path.join(OPENDAL_DIR, 'package.json'), '{ "private": true }\n')
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  log(`installing opendal@${OPENDAL_VERSION} into ${path.relative(REPO, OPENDAL_DIR)}`)
  const r = spawnSync(
    npm,
    ['install', '--no-audit', '--no-fund', '--prefix', OPENDAL_DIR, `opendal@${OPENDAL_VERSION}`],
    { stdio: ['ignore', process.stderr, process.stderr] },
  )
  if (r.status !== 0) return { why: `npm install opendal@${OPENDAL_VERSION} failed` }
  found = tryLoad(OPENDAL_DIR)
  return typeof found === 'string' ? found : { why: `installed but does not load: ${found.why}` }
}

// ---- the emulator ----

// `tls`: HTTPS with the test certificate, h2 offered first in ALPN (the emulator's default).
function startEmulator(bin, tls) {
  return new Promise((resolve, reject) => {
    const args = ['--bench', '--listen', '127.0.0.1:0', '--exit-on-stdin-eof']
    if (tls) args.push('--tls-cert', path.join(TLS_DIR, 'server.pem'), '--tls-key', path.join(TLS_DIR, 'server.key'))
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => reject(new Error(`oss-emulator did not start in 10 s: ${stderr}`)), 10_000)
    child.once('exit', (code) => reject(new Error(`oss-emulator exited (${code}): ${stderr}`)))
    const rl = createInterface({ input: child.stdout })
    rl.once('line', (line) => {
      clearTimeout(timer)
      rl.close()
      child.stdout.resume()
      const m = /listening on https?:\/\/127\.0\.0\.1:(\d+)/.exec(line)
      if (!m) return reject(new Error(`unexpected first line from oss-emulator: ${line}`))
      resolve({ child, port: Number(m[1]), tls: !!tls })
    })
  })
}

// An unsigned HEAD (the --bench emulator accepts it): status, size and CRC-64 of a stored object.
function head(emu, key, agent) {
  return new Promise((resolve, reject) => {
    const opts = { host: '127.0.0.1', port: emu.port, method: 'HEAD', path: `/${BUCKET}/${key}`, agent: agent || false }
    if (emu.tls) Object.assign(opts, { servername: 'localhost', ca: fs.readFileSync(TLS_CA) })
    const req = (emu.tls ? https : http).request(opts, (res) => {
      res.resume()
      resolve({
        status: res.statusCode,
        size: Number(res.headers['content-length']),
        crc: res.headers['x-oss-hash-crc64ecma'],
      })
    })
    req.on('error', reject)
    req.end()
  })
}

// ---- test files ----

function makeFile(dir, size) {
  const file = path.join(dir, `data-${size / MiB}MiB.bin`)
  const fd = fs.openSync(file, 'w')
  const block = Buffer.allocUnsafe(Math.min(size, 16 * MiB))
  for (let done = 0; done < size; done += block.length) {
    crypto.randomFillSync(block)
    fs.writeSync(fd, block, 0, Math.min(block.length, size - done))
  }
  fs.closeSync(fd)
  return file
}

// `count` files of `fileSize` random bytes in a directory of their own; their CRC-64s from `raw-client crc-dir`.
function makeFiles(dir, fileSize, count, rawBin) {
  const sub = path.join(dir, `files-${fileSize}-${count}`)
  fs.mkdirSync(sub)
  const block = Buffer.allocUnsafe(Math.min(fileSize * count, 16 * MiB))
  let off = block.length
  const width = String(count - 1).length
  for (let i = 0; i < count; i++) {
    if (off + fileSize > block.length) {
      crypto.randomFillSync(block)
      off = 0
    }
    fs.writeFileSync(path.join(sub, `f${String(i).padStart(width, '0')}.bin`), block.subarray(off, off + fileSize))
    off += fileSize
  }
  const crcs = new Map()
  for (const line of execFileSync(rawBin, ['crc-dir', sub], { encoding: 'utf8', maxBuffer: 64 * MiB })
    .trim()
    .split('\n')) {
    const [name, crc] = line.split(' ')
    crcs.set(name, crc)
  }
  if (crcs.size !== count) throw new Error(`crc-dir ${sub}: ${crcs.size} CRCs for ${count} files`)
  return { dir: sub, crcs }
}

// Checks every object of a many-files run (size and CRC-64, 16 HEADs in flight); the first mismatch, or null.
async function verifyFiles(emu, prefix, c) {
  const agent = new (emu.tls ? https : http).Agent({ keepAlive: true, maxSockets: 16 })
  const names = [...c.files.crcs.keys()]
  let next = 0
  let bad = null
  const worker = async () => {
    while (next < names.length && !bad) {
      const name = names[next++]
      const h = await head(emu, prefix + name, agent).catch((e) => ({ status: 0, error: String(e) }))
      if (h.status !== 200 || h.size !== c.fileSize || h.crc !== c.files.crcs.get(name)) {
        bad = `${name}: HEAD ${h.status}, size ${h.size} (want ${c.fileSize}), crc ${h.crc} (want ${c.files.crcs.get(name)})`
      }
    }
  }
  try {
    await Promise.all(Array.from({ length: 16 }, worker))
  } finally {
    agent.destroy()
  }
  return bad
}

// ---- one upload ----

function cleanEnv(extra) {
  const env = { ...process.env }
  for (const k of Object.keys(env)) if (/^(https?|all|no)_proxy$/i.test(k)) delete env[k]
  return { ...env, ...extra }
}

function spawnJson(cmd, args, env, timeoutS) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const line = out.trim().split('\n').pop() || ''
      let r
      try {
        r = JSON.parse(line)
      } catch {
        r = { ok: false, error: `no result (exit ${code}${signal ? `, ${signal}` : ''}): ${(err || out).slice(-2000)}` }
      }
      if (r.ok && code !== 0) r = { ok: false, error: `exit ${code}: ${err.slice(-2000)}` }
      if (!r.ok && err) r.stderr = err.slice(-2000)
      resolve(r)
    })
  })
}

// CPU seconds (user+sys) a process has used so far, from /proc (clock ticks).
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()
function procCpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / CLK_TCK
  } catch {
    return null
  }
}

// Share of all CPUs busy (anything: other users' compiles included) over `ms`, from /proc/stat; null off Linux.
function cpuTimes() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
    const idle = f[3] + (f[4] || 0)
    return { idle, total: f.reduce((a, b) => a + b, 0) }
  } catch {
    return null
  }
}
async function busyShare(ms) {
  const a = cpuTimes()
  await new Promise((r) => setTimeout(r, ms))
  const b = cpuTimes()
  if (!a || !b || b.total === a.total) return null
  return 1 - (b.idle - a.idle) / (b.total - a.total)
}

// Before each upload: wait (up to --quiet-wait seconds) until the machine is quiet, so that another
// process's burst does not land in one contender's run; the busy share seen last is recorded.
async function waitQuiet(ctx) {
  const deadline = Date.now() + ctx.opts.quietWaitS * 1000
  let busy = await busyShare(300)
  while (busy != null && busy > ctx.opts.quietBusy && Date.now() < deadline) busy = await busyShare(1000)
  return busy
}

// Creates the synthetic object a download case reads (emulator --bench: generated content, no disk).
function synthetic(emu, key, size) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ bucket: BUCKET, key, size })
    const opts = {
      host: '127.0.0.1',
      port: emu.port,
      method: 'POST',
      path: '/-/synthetic',
      agent: false,
      headers: { 'content-length': Buffer.byteLength(body) },
    }
    if (emu.tls) Object.assign(opts, { servername: 'localhost', ca: fs.readFileSync(TLS_CA) })
    const req = (emu.tls ? https : http).request(opts, (res) => {
      let out = ''
      res.on('data', (d) => (out += d))
      res.on('end', () =>
        res.statusCode === 200 ? resolve(JSON.parse(out)) : reject(new Error(`/-/synthetic: ${res.statusCode} ${out}`)),
      )
    })
    req.on('error', reject)
    req.end(body)
  })
}

async function downloadOnce(ctx, c, contender, pair) {
  const emu = c.tls ? ctx.tlsEmulator : ctx.emulator
  // HTTPS as for uploads: https://localhost:PORT path-style, the test CA through NODE_EXTRA_CA_CERTS (ali-oss),
  // options.ca (oss-turbo) and --ca (raw).
  const endpoint = emu.tls ? `https://localhost:${emu.port}` : `http://127.0.0.1:${emu.port}`
  const tlsEnv = emu.tls ? { NODE_EXTRA_CA_CERTS: TLS_CA } : {}
  const busyBefore = await waitQuiet(ctx)
  const sys0 = cpuTimes()
  const emuCpu0 = procCpuSeconds(emu.child.pid)
  const out = path.join(c.destDir, `dl-${contender.replace(/[^a-z0-9-]/gi, '_')}-${pair}-${Date.now()}.bin`)
  let r
  if (contender === 'raw') {
    const args = [
      'get',
      '--endpoint',
      emu.tls ? endpoint : `127.0.0.1:${emu.port}`,
      '--bucket',
      BUCKET,
      '--key',
      c.key,
      '--file',
      out,
      '--part-size',
      String(c.partSize),
      '--parallel',
      String(c.parallel),
    ]
    if (emu.tls) args.push('--ca', TLS_CA)
    r = await spawnJson(ctx.bins.raw, args, cleanEnv(), ctx.opts.runTimeoutS)
  } else {
    const variant = contender.startsWith('oss-turbo@') ? ctx.opts.variants[contender.slice(10)] : null
    const cfg = {
      mode: 'download',
      contender: variant ? 'oss-turbo' : contender,
      repo: REPO,
      endpoint,
      sldEnable: emu.tls,
      ca: emu.tls ? TLS_CA : undefined,
      key: c.key,
      out,
      partSize: c.partSize,
      parallel: c.parallel,
      eldResolutionMs: ctx.opts.eldResolutionMs,
    }
    r = await spawnJson(
      process.execPath,
      [path.join(__dirname, 'child.js'), JSON.stringify(cfg)],
      cleanEnv(variant ? { ...tlsEnv, NAPI_RS_NATIVE_LIBRARY_PATH: variant } : tlsEnv),
      ctx.opts.runTimeoutS,
    )
  }
  const emuCpu1 = procCpuSeconds(emu.child.pid)
  const sys1 = cpuTimes()
  const run = { contender, pair, key: c.key, load1: os.loadavg()[0], busyBefore, ...r }
  if (emuCpu0 != null && emuCpu1 != null) run.emulatorCpuSeconds = emuCpu1 - emuCpu0
  if (r.ok) {
    // The file must hold the object: its size and CRC-64 (computed after the measured section).
    let size = -1
    let crc = null
    try {
      size = fs.statSync(out).size
      crc = execFileSync(ctx.bins.raw, ['crc', out], { encoding: 'utf8' }).trim()
    } catch (e) {
      run.error = String(e)
    }
    if (size !== c.size || crc !== c.crc) {
      run.ok = false
      run.error = `verification failed: size ${size} (want ${c.size}), crc ${crc} (want ${c.crc})`
    } else {
      run.verified = true
    }
  }
  fs.rmSync(out, { force: true })
  if (run.ok) {
    const gib = c.size / GiB
    run.mibps = c.size / MiB / run.seconds
    run.cpuSecPerGiB = (run.cpuUser + run.cpuSys) / gib
    run.maxRssMiB = run.maxRssKiB / 1024
    run.eldP99Ms = run.eld ? run.eld.p99Ms : null
    if (run.emulatorCpuSeconds != null) run.emulatorCpuSecPerGiB = run.emulatorCpuSeconds / gib
    if (run.cpuMainThread != null) run.jsThreadCpuSecPerGiB = run.cpuMainThread / gib
  }
  return run
}

async function uploadOnce(ctx, c, contender, pair) {
  if (c.kind === 'download') return downloadOnce(ctx, c, contender, pair)
  const emu = c.tls ? ctx.tlsEmulator : ctx.emulator
  const busyBefore = await waitQuiet(ctx)
  const sys0 = cpuTimes()
  const emuCpu0 = procCpuSeconds(emu.child.pid)
  const key = `bench/${c.id}/${contender}/${pair}-${Date.now()}`
  const [effPart, effPar] = c.eff || [c.partSize, c.parallel]
  // HTTPS: https://localhost:PORT, path-style; the CA through NODE_EXTRA_CA_CERTS (ali-oss), options.ca
  // (oss-turbo) and --ca (raw).
  const endpoint = emu.tls ? `https://localhost:${emu.port}` : `http://127.0.0.1:${emu.port}`
  const tlsEnv = emu.tls ? { NODE_EXTRA_CA_CERTS: TLS_CA } : {}
  let r
  if (contender === 'raw') {
    const args = [
      'put',
      '--endpoint',
      emu.tls ? endpoint : `127.0.0.1:${emu.port}`,
      '--bucket',
      BUCKET,
      '--key',
      key,
      '--file',
      c.file,
      '--part-size',
      String(effPart),
      '--parallel',
      String(effPar),
    ]
    if (c.input === 'buffer') args.push('--memory')
    if (emu.tls) args.push('--ca', TLS_CA)
    r = await spawnJson(ctx.bins.raw, args, cleanEnv(), ctx.opts.runTimeoutS)
  } else {
    const variant = contender.startsWith('oss-turbo@') ? ctx.opts.variants[contender.slice(10)] : null
    const cfg = {
      contender: variant ? 'oss-turbo' : contender,
      repo: REPO,
      endpoint,
      sldEnable: emu.tls,
      ca: emu.tls ? TLS_CA : undefined,
      files:
        c.kind === 'files'
          ? { dir: c.files.dir, method: c.method, inFlight: c.inFlight, prefix: `${key}/` }
          : undefined,
      opendalEndpoint: `http://oss.test:${emu.port}`,
      opendalPath: ctx.opendalPath,
      key,
      file: c.file,
      input: c.input,
      partSize: c.partSize,
      parallel: c.parallel,
      effPartSize: effPart,
      effParallel: effPar,
      eldResolutionMs: ctx.opts.eldResolutionMs,
    }
    // OpenDAL addresses the bucket virtual-hosted (examplebucket.oss.test:PORT); the proxy setting makes its
    // HTTP client send those requests straight to the emulator, which routes them by the Host header.
    const env =
      contender === 'opendal'
        ? cleanEnv({ HTTP_PROXY: `http://127.0.0.1:${emu.port}` })
        : cleanEnv(variant ? { ...tlsEnv, NAPI_RS_NATIVE_LIBRARY_PATH: variant } : tlsEnv)
    r = await spawnJson(
      process.execPath,
      [path.join(__dirname, 'child.js'), JSON.stringify(cfg)],
      env,
      ctx.opts.runTimeoutS,
    )
  }
  const emuCpu1 = procCpuSeconds(emu.child.pid)
  const sys1 = cpuTimes()
  const run = { contender, pair, key, load1: os.loadavg()[0], busyBefore, ...r }
  if (emuCpu0 != null && emuCpu1 != null) run.emulatorCpuSeconds = emuCpu1 - emuCpu0
  if (r.ok && c.kind === 'files') {
    const bad = await verifyFiles(emu, `${key}/`, c)
    if (bad) {
      run.ok = false
      run.error = `verification failed: ${bad}`
    } else {
      run.verified = true
    }
  } else if (r.ok) {
    const h = await head(emu, key).catch((e) => ({ status: 0, error: String(e) }))
    if (h.status !== 200 || h.size !== c.size || h.crc !== c.crc) {
      run.ok = false
      run.error = `verification failed: HEAD ${h.status}, size ${h.size} (want ${c.size}), crc ${h.crc} (want ${c.crc})`
    } else {
      run.verified = true
    }
  }
  if (run.ok) {
    const gib = c.size / GiB
    run.mibps = c.size / MiB / run.seconds
    run.cpuSecPerGiB = (run.cpuUser + run.cpuSys) / gib
    if (c.kind === 'files') {
      run.files = c.count
      run.filesPerSec = c.count / run.seconds
      run.cpuSecPer1kFiles = ((run.cpuUser + run.cpuSys) * 1000) / c.count
      if (run.emulatorCpuSeconds != null) run.emulatorCpuSecPer1kFiles = (run.emulatorCpuSeconds * 1000) / c.count
    }
    run.maxRssMiB = run.maxRssKiB / 1024
    run.eldP99Ms = run.eld ? run.eld.p99Ms : null
    if (run.emulatorCpuSeconds != null) run.emulatorCpuSecPerGiB = run.emulatorCpuSeconds / gib
    if (run.cpuMainThread != null) run.jsThreadCpuSecPerGiB = run.cpuMainThread / gib
    // CPU time the machine spent on anything but this client and the emulator while the client process ran
    // (its start-up included): a sign that someone else's work skewed this run.
    if (sys0 && sys1 && run.emulatorCpuSeconds != null) {
      const busy = (sys1.total - sys0.total - (sys1.idle - sys0.idle)) / CLK_TCK
      const client = run.cpuProcessTotal != null ? run.cpuProcessTotal : run.cpuUser + run.cpuSys
      run.otherCpuSeconds = Math.max(0, busy - run.emulatorCpuSeconds - client)
    }
  }
  return run
}

// Who runs a case: the many-files cases are `put`/`multipartUpload` calls, which only the two ali-oss-shaped
// clients have; OpenDAL is not set up for HTTPS here (its endpoint is reached through HTTP_PROXY).
function caseContenders(c, contenders) {
  if (c.kind === 'files') return contenders.filter((k) => k === 'ali-oss' || k.startsWith('oss-turbo'))
  // OpenDAL has no download case here (its reader API is not `get(name, file)`).
  if (c.tls || c.kind === 'download') return contenders.filter((k) => k !== 'opendal')
  return contenders
}

// ---- statistics ----

function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return null
  const m = v.length >> 1
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2
}

const METRICS = [
  'mibps',
  'filesPerSec',
  'cpuSecPer1kFiles',
  'emulatorCpuSecPer1kFiles',
  'otherCpuSeconds',
  'seconds',
  'cpuSecPerGiB',
  'maxRssMiB',
  'eldP99Ms',
  'emulatorCpuSecPerGiB',
  'jsThreadCpuSecPerGiB',
  'minorPageFaults',
  'involuntaryContextSwitches',
]

function summarize(c, runs, contenders) {
  const medians = {}
  for (const k of contenders) {
    const ok = runs.filter((r) => r.contender === k && r.ok)
    const failed = runs.filter((r) => r.contender === k && !r.ok).length
    const m = { runs: ok.length, failed }
    for (const metric of METRICS) m[metric] = median(ok.map((r) => r[metric]))
    medians[k] = m
  }
  // Per-pair ratios: oss-turbo over each other contender in the same round.
  const pairs = [...new Set(runs.map((r) => r.pair))]
  const ratios = {}
  for (const other of contenders.filter((k) => k !== 'oss-turbo')) {
    const per = []
    for (const p of pairs) {
      const a = runs.find((r) => r.pair === p && r.contender === 'oss-turbo' && r.ok)
      const b = runs.find((r) => r.pair === p && r.contender === other && r.ok)
      if (!a || !b) continue
      per.push({
        pair: p,
        throughput: a.mibps / b.mibps,
        cpu: a.cpuSecPerGiB / b.cpuSecPerGiB,
        rss: a.maxRssMiB / b.maxRssMiB,
      })
    }
    ratios[other] = {
      perPair: per,
      throughput: median(per.map((x) => x.throughput)),
      cpu: median(per.map((x) => x.cpu)),
      rss: median(per.map((x) => x.rss)),
    }
  }
  return { medians, ratios, ceilingFraction: ratios.raw ? ratios.raw.throughput : null }
}

function targets(results) {
  const out = []
  const get = (id) => results.cases.find((c) => c.id === id)
  const add = (what, value, ok, fmt) =>
    out.push({ target: what, value, met: value == null ? null : ok(value), shown: value == null ? 'n/a' : fmt(value) })
  const pct = (v) => `${(v * 100).toFixed(0)}%`
  const x = (v) => `${v.toFixed(2)}×`
  for (const id of ['1g-default', '1g-8m', '1g-64m', 'https-1g-default', 'https-1g-8m']) {
    const c = get(id)
    if (c) add(`${id}: throughput ≥ 90% of the raw ceiling`, c.ceilingFraction, (v) => v >= 0.9, pct)
  }
  if (get('1g-default'))
    add(
      '1g-default: ≥ 3× ali-oss throughput',
      get('1g-default').ratios['ali-oss']?.throughput ?? null,
      (v) => v >= 3,
      x,
    )
  if (get('1g-8m'))
    add('1g-8m: ≥ 2× ali-oss throughput', get('1g-8m').ratios['ali-oss']?.throughput ?? null, (v) => v >= 2, x)
  if (get('https-1g-default'))
    add(
      'https-1g-default: ≥ 3× ali-oss throughput',
      get('https-1g-default').ratios['ali-oss']?.throughput ?? null,
      (v) => v >= 3,
      x,
    )
  if (get('https-1g-8m'))
    add(
      'https-1g-8m: ≥ 2.5× ali-oss throughput',
      get('https-1g-8m').ratios['ali-oss']?.throughput ?? null,
      (v) => v >= 2.5,
      x,
    )
  for (const c of results.cases.filter((c) => c.kind !== 'files' && c.kind !== 'download'))
    add(`${c.id}: CPU s/GiB ≤ 1/4 of ali-oss`, c.ratios['ali-oss']?.cpu ?? null, (v) => v <= 0.25, x)
  for (const c of results.cases.filter((c) => c.kind === 'files')) {
    add(`${c.id}: ≥ 2× ali-oss files/s`, c.ratios['ali-oss']?.throughput ?? null, (v) => v >= 2, x)
    add(`${c.id}: CPU per file ≤ 1/3 of ali-oss`, c.ratios['ali-oss']?.cpu ?? null, (v) => v <= 1 / 3, x)
    add(
      `${c.id}: peak RSS ≤ 100 MiB`,
      c.medians['oss-turbo']?.maxRssMiB ?? null,
      (v) => v <= 100,
      (v) => `${v.toFixed(0)} MiB`,
    )
  }
  for (const c of results.cases.filter((c) => c.kind === 'download')) {
    add(`${c.id}: throughput ≥ 90% of the raw ceiling`, c.ceilingFraction, (v) => v >= 0.9, pct)
    const rawOverAli =
      c.medians.raw?.mibps && c.medians['ali-oss']?.mibps ? c.medians.raw.mibps / c.medians['ali-oss'].mibps : null
    if (rawOverAli != null && rawOverAli >= 3.3)
      add(
        `${c.id}: ≥ 3× ali-oss throughput (raw is ${rawOverAli.toFixed(1)}× ali-oss)`,
        c.ratios['ali-oss']?.throughput ?? null,
        (v) => v >= 3,
        x,
      )
    else if (rawOverAli != null)
      out.push({
        target: `${c.id}: ≥ 3× ali-oss throughput`,
        value: null,
        met: null,
        shown: `not applicable: the raw ceiling is only ${rawOverAli.toFixed(2)}× ali-oss`,
      })
    add(`${c.id}: CPU s/GiB ≤ 1/3 of ali-oss`, c.ratios['ali-oss']?.cpu ?? null, (v) => v <= 1 / 3, x)
    add(
      `${c.id}: peak RSS ≤ 100 MiB`,
      c.medians['oss-turbo']?.maxRssMiB ?? null,
      (v) => v <= 100,
      (v) => `${v.toFixed(0)} MiB`,
    )
  }
  if (get('1g-64m'))
    add(
      '1g-64m: peak RSS ≤ 100 MiB',
      get('1g-64m').medians['oss-turbo']?.maxRssMiB ?? null,
      (v) => v <= 100,
      (v) => `${v.toFixed(0)} MiB`,
    )
  for (const c of results.cases)
    add(
      `${c.id}: event-loop delay p99 ≤ 10 ms`,
      c.medians['oss-turbo']?.eldP99Ms ?? null,
      (v) => v <= 10,
      (v) => `${v.toFixed(1)} ms`,
    )
  return out
}

// ---- output ----

function fmt(v, digits) {
  return v == null ? '—' : v.toFixed(digits)
}

function table(results) {
  const lines = []
  for (const c of results.cases) {
    lines.push('')
    const files = c.kind === 'files'
    lines.push(
      `${c.label}  [${c.id}; ${files ? `${c.count} files, ` : ''}${(c.size / MiB).toFixed(0)} MiB; ${c.pairsRun} round(s)]`,
    )
    const head = files
      ? [
          'contender',
          'files/s',
          'MiB/s',
          'CPU s/1000 files',
          'peak RSS MiB',
          'ELD p99 ms',
          'emulator CPU s/1000',
          'turbo ÷ it: files/s',
          'cpu',
          'rss',
        ]
      : [
          'contender',
          'MiB/s',
          'CPU s/GiB',
          'peak RSS MiB',
          'ELD p99 ms',
          'emulator CPU s/GiB',
          'turbo ÷ it: thr',
          'cpu',
          'rss',
        ]
    const rows = [head]
    for (const k of c.contenders || results.contenders) {
      const m = c.medians[k]
      if (!m) continue
      const r = c.ratios[k]
      rows.push([
        (LABEL[k] || k) + (m.failed ? ` (${m.failed} FAILED)` : ''),
        ...(files ? [fmt(m.filesPerSec, 0)] : []),
        fmt(m.mibps, 0),
        files ? fmt(m.cpuSecPer1kFiles, 2) : fmt(m.cpuSecPerGiB, 2),
        fmt(m.maxRssMiB, 0),
        k === 'raw' ? '—' : fmt(m.eldP99Ms, 1),
        files ? fmt(m.emulatorCpuSecPer1kFiles, 2) : fmt(m.emulatorCpuSecPerGiB, 2),
        r ? fmt(r.throughput, 2) + '×' : '',
        r ? fmt(r.cpu, 2) + '×' : '',
        r ? fmt(r.rss, 2) + '×' : '',
      ])
    }
    const w = head.map((_, i) => Math.max(...rows.map((row) => String(row[i]).length)))
    for (const row of rows)
      lines.push(
        '  ' + row.map((cell, i) => (i === 0 ? String(cell).padEnd(w[i]) : String(cell).padStart(w[i]))).join('  '),
      )
    if (c.ceilingFraction != null)
      lines.push(
        `  oss-turbo reaches ${(c.ceilingFraction * 100).toFixed(0)}% of the raw ceiling (median of per-round ratios)`,
      )
  }
  lines.push('')
  lines.push('Targets (medians of per-round ratios):')
  for (const t of results.targets)
    lines.push(`  ${t.met == null ? ' n/a' : t.met ? ' met' : 'MISS'}  ${t.target}: ${t.shown}`)
  return lines.join('\n')
}

function machine(opts) {
  const git = (args) => {
    try {
      return execFileSync('git', args, { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    } catch {
      return null
    }
  }
  let glibc = null
  try {
    glibc = process.report.getReport().header.glibcVersionRuntime || null
  } catch {}
  return {
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model ?? null,
    cores: os.cpus().length,
    memoryGiB: +(os.totalmem() / GiB).toFixed(1),
    os: `${os.type()} ${os.release()}`,
    glibc,
    node: process.version,
    gitCommit: git(['rev-parse', 'HEAD']),
    gitDirty: git(['status', '--porcelain', '--', 'src', 'index.js', 'Cargo.toml', 'Cargo.lock', 'emulator'])
      ? true
      : false,
    loadavgStart: os.loadavg(),
    eldResolutionMs: opts.eldResolutionMs,
  }
}

// ---- main ----

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  if (opts.build) build()
  const bins = binaries()

  let contenders = opts.contenders || CONTENDERS
  for (const name of Object.keys(opts.variants)) {
    const k = `oss-turbo@${name}`
    if (!contenders.includes(k)) contenders = [...contenders.slice(0, 1), k, ...contenders.slice(1)]
  }
  const notes = []
  let opendalPath = null
  if (contenders.includes('opendal')) {
    opendalPath = findOpendal(opts.withOpendal)
    if (typeof opendalPath !== 'string') {
      notes.push(`opendal skipped: ${opendalPath.why}`)
      contenders = contenders.filter((k) => k !== 'opendal')
      opendalPath = null
    }
  }
  for (const n of notes) log(n)
  const cases = CASES.filter((c) => !opts.cases || opts.cases.includes(c.id)).map((c) => ({
    ...c,
    size: opts.quick ? c.quickSize : c.size,
    ...(c.kind === 'files' && opts.quick ? { count: c.quickCount } : {}),
  }))

  const info = machine(opts)
  const busy = await busyShare(1000)
  info.busyAtStart = busy
  if (busy != null && busy > opts.quietBusy)
    log(
      `the CPUs are ${(busy * 100).toFixed(0)}% busy with other work: the figures will be skewed (each run waits up to ${opts.quietWaitS} s for a quiet moment)`,
    )

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oss-turbo-bench-'))
  let emu = null
  let tlsEmu = null
  const cleanup = () => {
    if (emu) emu.child.kill('SIGTERM')
    if (tlsEmu) tlsEmu.child.kill('SIGTERM')
    if (!opts.keepFiles) fs.rmSync(dir, { recursive: true, force: true })
  }
  process.on('SIGINT', () => {
    cleanup()
    process.exit(130)
  })
  process.on('SIGTERM', () => {
    cleanup()
    process.exit(143)
  })
  try {
    const files = new Map()
    for (const c of cases) {
      if (c.kind === 'files') {
        const k = `files-${c.fileSize}-${c.count}`
        if (!files.has(k)) {
          log(`writing ${c.count} files of ${c.fileSize / KiB} KiB in ${dir}`)
          files.set(k, makeFiles(dir, c.fileSize, c.count, bins.raw))
        }
        c.files = files.get(k)
        continue
      }
      if (c.kind === 'download') {
        c.destDir =
          c.dest === 'shm' && fs.existsSync('/dev/shm')
            ? fs.mkdtempSync('/dev/shm/oss-turbo-bench-')
            : fs.mkdtempSync(path.join(dir, 'dl-'))
        continue
      }
      if (!files.has(c.size)) {
        log(`writing a ${c.size / MiB} MiB test file in ${dir}`)
        const file = makeFile(dir, c.size)
        const crc = execFileSync(bins.raw, ['crc', file], { encoding: 'utf8' }).trim()
        files.set(c.size, { file, crc })
      }
      Object.assign(c, files.get(c.size))
    }
    emu = await startEmulator(bins.emulator, false)
    if (cases.some((c) => c.tls)) tlsEmu = await startEmulator(bins.emulator, true)
    log(
      `emulator (--bench) on 127.0.0.1:${emu.port}${tlsEmu ? `, with TLS (h2 offered) on ${tlsEmu.port}` : ''}; contenders: ${contenders.join(', ')}; ${opts.pairs} round(s) per case`,
    )
    const ctx = { emulator: emu, tlsEmulator: tlsEmu, bins, opts, opendalPath }

    const results = {
      machine: info,
      options: { quick: opts.quick, pairs: opts.pairs, eldResolutionMs: opts.eldResolutionMs, variants: opts.variants },
      notes,
      contenders,
      cases: [],
    }
    for (const c of cases) {
      if (c.kind === 'download') {
        c.key = `bench/${c.id}-${c.size}`
        c.crc = (await synthetic(c.tls ? tlsEmu : emu, c.key, c.size)).crc64
      }
      const runs = []
      const here = caseContenders(c, contenders)
      for (let pair = 1; pair <= opts.pairs; pair++) {
        for (const k of here) {
          const r = await uploadOnce(ctx, c, k, pair)
          runs.push(r)
          const speed =
            c.kind === 'files' && r.ok
              ? `${r.filesPerSec.toFixed(0)} files/s, ${r.cpuSecPer1kFiles.toFixed(2)} CPU s/1000 files`
              : r.ok
                ? `${r.mibps.toFixed(0)} MiB/s, ${r.cpuSecPerGiB.toFixed(2)} CPU s/GiB`
                : ''
          log(
            `${c.id} round ${pair} ${k}: ` +
              (r.ok
                ? `${speed}, ${r.maxRssMiB.toFixed(0)} MiB RSS${r.eld ? `, ELD p99 ${r.eld.p99Ms.toFixed(1)} ms` : ''} (CPUs ${r.busyBefore == null ? '?' : (r.busyBefore * 100).toFixed(0) + '%'} busy before, others used ${r.otherCpuSeconds == null ? '?' : r.otherCpuSeconds.toFixed(1)} CPU s)`
                : `FAILED: ${r.error}`),
          )
        }
      }
      const { file, crc, quickSize, quickCount, files: filesOf, destDir, ...desc } = c
      void file
      void quickSize
      void quickCount
      void filesOf
      if (destDir) fs.rmSync(destDir, { recursive: true, force: true })
      results.cases.push({ ...desc, crc, contenders: here, pairsRun: opts.pairs, runs, ...summarize(c, runs, here) })
    }
    results.machine.loadavgEnd = os.loadavg()
    results.targets = targets(results)

    console.log(table(results))
    const suffix = opts.quick || opts.cases || opts.contenders || Object.keys(opts.variants).length ? '.partial' : ''
    const jsonPath = path.join(__dirname, `results${suffix}.json`)
    const svgPath = path.join(__dirname, `chart${suffix}.svg`)
    fs.writeFileSync(jsonPath, JSON.stringify(results, null, 2) + '\n')
    writeChart(results, svgPath)
    log(`wrote ${path.relative(REPO, jsonPath)} and ${path.relative(REPO, svgPath)}`)
    const failed = results.cases.some((c) => c.runs.some((r) => !r.ok))
    if (failed) {
      console.error('bench: some uploads FAILED (see above); their runs are excluded from the medians')
      process.exitCode = 1
    }
  } finally {
    cleanup()
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
