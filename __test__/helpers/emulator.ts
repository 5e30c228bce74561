// Starts the local OSS emulator (emulator/, binary `oss-emulator`) for a test file and
// drives its control API (/-/…). Node 20 built-ins only.
//
// With `tls`, the emulator serves HTTPS (OSS and control API on the one port) and
// `endpoint` is `https://127.0.0.1:PORT`. The helper's own control calls then go through
// node:https pinned to the very certificate it gave the emulator (its SHA-256
// fingerprint), not through a CA: they work with the deliberately untrusted and
// wrong-name test certificates too, while the clients under test do the real checks.
import { spawn, type ChildProcess } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import * as http from 'node:http'
import * as https from 'node:https'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { createInterface } from 'node:readline'

export const TEST_AK = 'test-ak'
export const TEST_SK = 'test-sk'
export const TEST_BUCKET = 'examplebucket'
export const TEST_REGION = 'oss-cn-hangzhou'

export interface FaultRule {
  api?: string
  key?: string
  partNumber?: number
  uploadId?: string
  nth?: number
  times?: number
  action:
    | { type: 'error'; status: number; code: string; message?: string }
    | { type: 'reset'; afterBytes: number }
    | { type: 'delay'; ms: number }
    | { type: 'stall'; ms: number }
    | { type: 'badCrc' }
    | { type: 'corruptBody' }
}

export interface LogEntry {
  seq: number
  method: string
  path: string
  query: string
  api: string | null
  bucket: string | null
  key: string | null
  partNumber: number | null
  uploadId: string | null
  headers: Record<string, string>
  status: number
  bytes: number
  fault: string | null
  /** The HTTP version of the request: 'HTTP/1.1' or 'HTTP/2'. */
  protocol: string
}

export interface EmulatorOptions {
  bench?: boolean
  args?: string[]
  /** Serve HTTPS with these PEM files (paths): `--tls-cert cert --tls-key key`. */
  tls?: { cert: string; key: string }
}

export interface EmulatorStats {
  objects: number
  uploads: number
  /** OSS requests seen (control requests are not counted). */
  requests: number
  /** TCP connections accepted (control calls included). */
  connections: number
  /** TLS handshakes that failed, e.g. because the client refused the certificate. */
  tlsHandshakeFailures: number
}

export interface Emulator {
  port: number
  endpoint: string /* 'http://127.0.0.1:PORT', or 'https://127.0.0.1:PORT' with `tls` */
  dataDir: string
  addFault(rule: FaultRule): Promise<number>
  clearFaults(): Promise<void>
  expireUpload(sel: { uploadId?: string; key?: string }): Promise<number>
  log(): Promise<LogEntry[]>
  clearLog(): Promise<void>
  reset(): Promise<void>
  setClockSkew(ms: number): Promise<void>
  addCredentials(c: {
    accessKeyId: string
    accessKeySecret: string
    securityToken?: string
    expiresInMs?: number
  }): Promise<void>
  getObject(key: string, bucket?: string): Promise<Buffer | null>
  stats(): Promise<EmulatorStats>
  stop(): Promise<void>
}

function emulatorBinary(): string {
  const fromEnv = process.env.OSS_EMULATOR_BIN
  const bin =
    fromEnv && fromEnv.length > 0 ? fromEnv : resolve(__dirname, '..', '..', 'target', 'release', 'oss-emulator')
  if (!existsSync(bin)) {
    throw new Error(
      `oss-emulator binary not found at ${bin}: run \`npm run build:emulator\` ` +
        '(or set OSS_EMULATOR_BIN to a built oss-emulator)',
    )
  }
  return bin
}

/**
 * Emulator sources (emulator/src/**, emulator/Cargo.toml) modified after `bin` was built,
 * as a warning text; undefined when the binary is newer or the sources are not here.
 * A stale binary fails only the tests of newer features (e.g. a build from before
 * ListObjectsV2 paging failed the "addressing" test of emulator.spec.ts with
 * "Cannot read properties of undefined (reading 'ID')"), which looks like a flaky test.
 */
export function staleEmulatorWarning(bin: string): string | undefined {
  const root = resolve(__dirname, '..', '..', 'emulator')
  let built: number
  try {
    built = statSync(bin).mtimeMs
  } catch {
    return undefined
  }
  const newer: string[] = []
  const visit = (p: string) => {
    let st
    try {
      st = statSync(p)
    } catch {
      return
    }
    if (st.isDirectory()) {
      for (const e of readdirSync(p)) visit(join(p, e))
    } else if (st.mtimeMs > built) {
      newer.push(relative(resolve(root, '..'), p))
    }
  }
  visit(join(root, 'src'))
  visit(join(root, 'Cargo.toml'))
  if (newer.length === 0) return undefined
  return (
    `oss-emulator: ${bin} is older than ${newer.slice(0, 3).join(', ')}${newer.length > 3 ? ` and ${newer.length - 3} more` : ''}; ` +
    'tests of newer emulator features may fail: run `npm run build:emulator` (or point OSS_EMULATOR_BIN at a fresh build)'
  )
}

let staleWarned = false

function waitForPort(child: ChildProcess): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const stdout = child.stdout
    if (!stdout) {
      reject(new Error('oss-emulator: no stdout'))
      return
    }
    const rl = createInterface({ input: stdout })
    let stderr = ''
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const timer = setTimeout(() => {
      reject(new Error(`oss-emulator did not start within 10 s. stderr: ${stderr}`))
    }, 10_000)
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer)
      reject(new Error(`oss-emulator exited before listening (code ${code}, signal ${signal}). stderr: ${stderr}`))
    }
    child.once('exit', onExit)
    child.once('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    rl.once('line', (line) => {
      clearTimeout(timer)
      child.off('exit', onExit)
      rl.close()
      // Keep draining stdout so the child never blocks on a full pipe.
      stdout.resume()
      const m = /^oss-emulator listening on https?:\/\/[^\s]+:(\d+)\s*$/.exec(line)
      if (!m) {
        reject(new Error(`unexpected first line from oss-emulator: ${JSON.stringify(line)}`))
        return
      }
      resolvePort(Number(m[1]))
    })
  })
}

export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const bin = emulatorBinary()
  const stale = staleEmulatorWarning(bin)
  if (stale && !staleWarned) {
    staleWarned = true
    console.warn(stale)
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'oss-emu-test-'))
  const args = ['--listen', '127.0.0.1:0', '--data-dir', dataDir, '--exit-on-stdin-eof']
  if (opts.bench) args.push('--bench')
  // The pinned fingerprint is read before the start, so a bad path fails clearly here.
  const pin = opts.tls ? new X509Certificate(readFileSync(opts.tls.cert)).fingerprint256 : undefined
  if (opts.tls) args.push('--tls-cert', opts.tls.cert, '--tls-key', opts.tls.key)
  if (opts.args) args.push(...opts.args)
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] })
  let port: number
  try {
    port = await waitForPort(child)
  } catch (e) {
    child.kill('SIGKILL')
    rmSync(dataDir, { recursive: true, force: true })
    if (stale && e instanceof Error) e.message += ` (${stale})`
    throw e
  }
  // Don't let the emulator or its pipes keep the test process alive: if the test
  // process ends without stop(), stdin closes and the emulator exits by itself.
  child.stderr?.resume()
  child.unref()
  for (const s of [child.stdin, child.stdout, child.stderr]) {
    ;(s as unknown as { unref?: () => void } | null)?.unref?.()
  }
  const endpoint = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`
  const exited = new Promise<void>((r) => {
    if (child.exitCode !== null || child.signalCode !== null) r()
    else child.once('exit', () => r())
  })
  const agent = opts.tls
    ? // No session resumption: every connection shows the certificate to the pin check.
      new https.Agent({ keepAlive: true, rejectUnauthorized: false, maxCachedSessions: 0 })
    : new http.Agent({ keepAlive: true })

  /** One control-API request: status and the whole body. */
  function call(method: string, path: string, body?: string): Promise<{ status: number; body: Buffer }> {
    return new Promise((resolveCall, reject) => {
      const options: http.RequestOptions = {
        host: '127.0.0.1',
        port,
        method,
        path: `/-/${path}`,
        agent,
        headers:
          body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      }
      const req = (opts.tls ? https : http).request(options, (res) => {
        if (pin) {
          const peer = (res.socket as import('node:tls').TLSSocket).getPeerCertificate()
          if (peer.fingerprint256 !== pin) {
            res.destroy()
            reject(
              new Error(
                `oss-emulator at ${endpoint} presented certificate ${peer.fingerprint256}, not ${opts.tls!.cert} (${pin})`,
              ),
            )
            return
          }
        }
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolveCall({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(body)
    })
  }

  async function control(method: string, path: string, body?: unknown): Promise<any> {
    const res = await call(method, path, body === undefined ? undefined : JSON.stringify(body))
    const text = res.body.toString()
    if (res.status < 200 || res.status > 299) {
      throw new Error(`oss-emulator ${method} /-/${path} failed: ${res.status} ${text}`)
    }
    return text.length > 0 ? JSON.parse(text) : null
  }

  return {
    port,
    endpoint,
    dataDir,
    async addFault(rule) {
      const r = await control('POST', 'faults', rule)
      return r.id as number
    },
    async clearFaults() {
      await control('DELETE', 'faults')
    },
    async expireUpload(sel) {
      const r = await control('POST', 'uploads/expire', sel)
      return r.expired as number
    },
    async log() {
      return (await control('GET', 'log')) as LogEntry[]
    },
    async clearLog() {
      await control('DELETE', 'log')
    },
    async reset() {
      await control('POST', 'reset')
    },
    async setClockSkew(ms) {
      await control('POST', 'clock', { skewMs: ms })
    },
    async addCredentials(c) {
      await control('POST', 'credentials', c)
    },
    async getObject(key, bucket = TEST_BUCKET) {
      const path = `${encodeURIComponent(bucket)}/${key.split('/').map(encodeURIComponent).join('/')}`
      const res = await call('GET', `objects/${path}`)
      if (res.status === 404) return null
      if (res.status !== 200)
        throw new Error(`oss-emulator GET /-/objects/${path} failed: ${res.status} ${res.body.toString()}`)
      return res.body
    },
    async stats() {
      return (await control('GET', 'stats')) as EmulatorStats
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
        await exited
        clearTimeout(timer)
      }
      child.stdin?.destroy()
      agent.destroy()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
