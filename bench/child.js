'use strict'
// One upload in its own Node process, measured from inside: `node bench/child.js '<json>'`.
// The parent (bench/run.js) passes the contender, the endpoint, the key, the input and the options, and
// reads one JSON line from stdout. Everything that is not the upload (loading the client module, reading
// a Buffer input into memory, building the client) happens before the measured section.
//
// Many-small-files cases (`cfg.files`): the listed files of a directory, each its own `put` or
// `multipartUpload` call on one client, `inFlight` calls at a time (a worker pool, as an app or a deploy
// tool does it); measured over all the calls together.
//
// Measured: wall time of the `multipartUpload` (or OpenDAL write) call; CPU seconds of the whole process
// (all threads: Node's, libuv's and the addon's tokio threads) from process.cpuUsage() around the call;
// peak RSS from process.resourceUsage().maxRSS (the process's lifetime peak, so it includes Node itself
// and, for Buffer inputs, the Buffer); event-loop delay from perf_hooks.monitorEventLoopDelay, enabled
// only during the call.

const fs = require('fs')
const { monitorEventLoopDelay } = require('perf_hooks')

const CREDS = { accessKeyId: 'test-ak', accessKeySecret: 'test-sk' }

// CPU seconds of the calling (main, JavaScript) thread so far, from /proc (Linux; 10 ms ticks), or null.
function mainThreadCpu() {
  try {
    const stat = fs.readFileSync('/proc/thread-self/stat', 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / 100
  } catch {
    return null
  }
}

async function main() {
  const cfg = JSON.parse(process.argv[2])
  const input = cfg.input === 'buffer' ? fs.readFileSync(cfg.file) : cfg.file
  // (downloads: `cfg.mode === 'download'`, the measured call is a `get(name, file)`.)
  const upload = cfg.files ? await makeFilesUploader(cfg) : await makeUploader(cfg, input)

  const rssBefore = process.memoryUsage.rss()
  const eld = monitorEventLoopDelay({ resolution: cfg.eldResolutionMs })
  eld.enable()
  const main0 = mainThreadCpu()
  const ru0 = process.resourceUsage()
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  await upload()
  const t1 = process.hrtime.bigint()
  const cpu = process.cpuUsage(cpu0)
  const main1 = mainThreadCpu()
  eld.disable()
  const ru = process.resourceUsage()
  const total = process.cpuUsage()
  const ms = (ns) => Number(ns) / 1e6
  return {
    ok: true,
    seconds: Number(t1 - t0) / 1e9,
    cpuUser: cpu.user / 1e6,
    cpuSys: cpu.system / 1e6,
    // The JavaScript thread's share of that CPU (the rest is libuv's pool and, for oss-turbo, tokio threads).
    // The whole process so far (start-up included), for the harness's count of other processes' CPU.
    cpuProcessTotal: (total.user + total.system) / 1e6,
    cpuMainThread: main0 == null || main1 == null ? null : main1 - main0,
    // VmHWM is this process's own peak; getrusage's maxRSS may carry the parent's peak across spawn on Linux.
    maxRssKiB: ownPeakRssKiB() ?? ru.maxRSS,
    rusageMaxRssKiB: ru.maxRSS,
    baselineRssKiB: Math.round(rssBefore / 1024),
    // Counters of the upload alone (differences of process.resourceUsage()).
    minorPageFaults: ru.minorPageFault - ru0.minorPageFault,
    majorPageFaults: ru.majorPageFault - ru0.majorPageFault,
    voluntaryContextSwitches: ru.voluntaryContextSwitches - ru0.voluntaryContextSwitches,
    involuntaryContextSwitches: ru.involuntaryContextSwitches - ru0.involuntaryContextSwitches,
    eld: {
      resolutionMs: cfg.eldResolutionMs,
      samples: eld.count,
      p50Ms: ms(eld.percentile(50)),
      p99Ms: ms(eld.percentile(99)),
      maxMs: ms(eld.max),
      meanMs: eld.mean / 1e6,
    },
  }
}

// oss-turbo or ali-oss, built as an app would. Over HTTPS (`cfg.ca`, a PEM file) oss-turbo gets the CA in
// `options.ca`; ali-oss trusts it through NODE_EXTRA_CA_CERTS, which the parent sets.
function makeClient(cfg) {
  const OSS = require(cfg.contender === 'oss-turbo' ? cfg.repo : 'ali-oss')
  const options = { endpoint: cfg.endpoint, bucket: 'examplebucket', region: 'oss-cn-hangzhou', ...CREDS }
  // Path-style on `localhost`, the name the test certificate carries (ali-oss would put the bucket in
  // front of an IP endpoint's Host and TLS server name).
  if (cfg.sldEnable) options.sldEnable = true
  if (cfg.ca && cfg.contender === 'oss-turbo') options.ca = fs.readFileSync(cfg.ca, 'utf8')
  return new OSS(options)
}

async function makeFilesUploader(cfg) {
  const { dir, method, inFlight, prefix } = cfg.files
  const names = fs.readdirSync(dir).sort()
  if (cfg.contender !== 'oss-turbo' && cfg.contender !== 'ali-oss')
    throw new Error(`${cfg.contender}: no many-files case`)
  const client = makeClient(cfg)
  const paths = names.map((n) => `${dir}/${n}`)
  return async () => {
    let next = 0
    const worker = async () => {
      while (next < paths.length) {
        const i = next++
        const r = await client[method](prefix + names[i], paths[i])
        if (!r || !r.res || r.res.status !== 200)
          throw new Error(`${names[i]}: unexpected result: ${JSON.stringify(r && r.res)}`)
      }
    }
    await Promise.all(Array.from({ length: Math.min(inFlight, paths.length) }, worker))
  }
}

async function makeUploader(cfg, input) {
  if (cfg.mode === 'download') {
    // `get(name, file)`: oss-turbo with its ranges and parallelism, ali-oss with its one GET.
    const client = makeClient(cfg)
    const opts = cfg.contender === 'oss-turbo' ? { partSize: cfg.partSize, parallel: cfg.parallel } : {}
    return async () => {
      const r = await client.get(cfg.key, cfg.out, opts)
      if (!r || !r.res || r.res.status !== 200)
        throw new Error(`unexpected result: ${JSON.stringify(r && r.res && r.res.status)}`)
    }
  }
  const opts = {}
  if (cfg.partSize != null) opts.partSize = cfg.partSize
  if (cfg.parallel != null) opts.parallel = cfg.parallel
  switch (cfg.contender) {
    case 'oss-turbo':
    case 'ali-oss': {
      const client = makeClient(cfg)
      if (cfg.input === 'stream' || cfg.input === 'stream1m' || cfg.input === 'generated') {
        // Stream cases (issue 13): oss-turbo's multipartUpload of the stream; ali-oss can only putStream it.
        const size = fs.statSync(input).size
        return async () => {
          const stream =
            cfg.input === 'generated'
              ? generated(input)
              : fs.createReadStream(input, { highWaterMark: cfg.input === 'stream1m' ? 1024 * 1024 : 64 * 1024 })
          const r =
            cfg.contender === 'oss-turbo'
              ? await client.multipartUpload(cfg.key, stream, opts)
              : await client.putStream(cfg.key, stream, { contentLength: size, timeout: 3600 * 1000 })
          if (!r || !r.res || r.res.status !== 200) throw new Error(`unexpected result: ${JSON.stringify(r && r.res)}`)
        }
      }
      return async () => {
        const r = await client.multipartUpload(cfg.key, input, opts)
        if (!r || !r.res || r.res.status !== 200) throw new Error(`unexpected result: ${JSON.stringify(r && r.res)}`)
      }
    }
    case 'opendal': {
      // OpenDAL's OSS service always addresses the bucket virtual-hosted (bucket.HOST): the parent gives an
      // endpoint host that is not an IP and points HTTP_PROXY at the emulator, so requests reach it unchanged.
      const { Operator } = require(cfg.opendalPath || 'opendal')
      const op = new Operator('oss', {
        bucket: 'examplebucket',
        endpoint: cfg.opendalEndpoint,
        access_key_id: CREDS.accessKeyId,
        access_key_secret: CREDS.accessKeySecret,
        root: '/',
      })
      const wopts = { chunk: BigInt(cfg.effPartSize), concurrent: cfg.effParallel }
      if (Buffer.isBuffer(input)) return () => op.write(cfg.key, input, wopts)
      // A file: stream it through a Writer, as a Node program would (OpenDAL takes no file path).
      return async () => {
        const w = await op.writer(cfg.key, wopts)
        const stream = fs.createReadStream(input, { highWaterMark: Math.min(cfg.effPartSize, 8 << 20) })
        for await (const chunk of stream) await w.write(chunk)
        await w.close()
      }
    }
    default:
      throw new Error(`unknown contender ${cfg.contender}`)
  }
}

main().then(
  (r) => {
    process.stdout.write(JSON.stringify(r) + '\n')
    process.exit(0)
  },
  (e) => {
    process.stdout.write(JSON.stringify({ ok: false, error: String((e && e.stack) || e) }) + '\n')
    process.exit(1)
  },
)

// A stream produced by JavaScript: every chunk a fresh 64 KiB Buffer (read from the file so the bytes are
// known to the harness's CRC check), as a generator or a transform would hand them out.
function generated(file) {
  const { Readable } = require('stream')
  const fd = fs.openSync(file, 'r')
  let pos = 0
  return new Readable({
    read() {
      const buf = Buffer.allocUnsafe(64 * 1024)
      const n = fs.readSync(fd, buf, 0, buf.length, pos)
      pos += n
      if (n === 0) {
        fs.closeSync(fd)
        this.push(null)
      } else {
        this.push(n === buf.length ? buf : buf.subarray(0, n))
      }
    },
  })
}

function ownPeakRssKiB() {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))
    return m ? Number(m[1]) : null
  } catch {
    return null
  }
}
