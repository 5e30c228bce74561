// Issue 12: oss-turbo speaks HTTP/1.1 to a server that offers HTTP/2, one connection per
// concurrent part (with h2, reqwest multiplexed every part onto one connection and lost half
// its speed over TLS). The emulator serves HTTPS with the test CA's certificate and offers
// `h2` first in ALPN, as a CDN or load balancer in front of a CNAME'd OSS endpoint does; its
// request log records each request's HTTP version and its stats count TCP connections.
// Run: node --import tsx --test __test__/http1.spec.ts
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import * as http2 from 'node:http2'
import { Agent as HttpsAgent } from 'node:https'
import { join } from 'node:path'

import { startEmulator, type Emulator } from './helpers/emulator'
import { ali, makeData, sha256, TempDir, turbo } from './helpers/util'

const FIXTURES = join(__dirname, 'fixtures', 'tls')
const CA = readFileSync(join(FIXTURES, 'ca.pem'), 'utf8')
const TLS = { cert: join(FIXTURES, 'server.pem'), key: join(FIXTURES, 'server.key') }
const PART = 100 * 1024

/** One request over HTTP/2 (ALPN h2), as a client that takes the offer would send it. */
function h2Request(emu: Emulator, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://localhost:${emu.port}`, { ca: CA })
    session.on('error', reject)
    const req = session.request({ ':method': 'GET', ':path': path })
    req.on('response', (headers) => {
      req.resume()
      req.on('end', () => {
        session.close()
        resolve(Number(headers[':status']))
      })
    })
    req.on('error', reject)
    req.end()
  })
}

describe('HTTP/1.1 to an HTTPS endpoint that offers h2', () => {
  let emu: Emulator
  let tmp: TempDir

  before(async () => {
    emu = await startEmulator({ tls: TLS })
    tmp = new TempDir()
  })

  after(async () => {
    await emu?.stop()
    tmp?.remove()
  })

  it('the log tells HTTP/2 from HTTP/1.1: a client that takes h2 is logged as HTTP/2', async () => {
    await emu.clearLog()
    // Unsigned: refused (403), but logged with the protocol it came in with.
    const status = await h2Request(emu, '/examplebucket/h2-probe')
    assert.equal(status, 403)
    const log = await emu.log()
    assert.deepEqual(
      log.map((e) => [e.method, e.key, e.protocol]),
      [['GET', 'h2-probe', 'HTTP/2']],
    )
  })

  it('multipartUpload of a file: every request HTTP/1.1, one connection per concurrent part', async () => {
    const parallel = 6
    const data = makeData(18 * PART + 321)
    const file = tmp.file('h1-parts.bin', data)
    // A fresh client: no pooled connection from an earlier test.
    const client = turbo(emu, { ca: CA })
    await emu.clearLog()
    // Every part answered after 150 ms: the `parallel` parts are surely in flight together, whatever the
    // machine's load (a part finished early would hand its connection to the next one).
    await emu.addFault({ api: 'UploadPart', times: 0, action: { type: 'delay', ms: 150 } })
    const before = await emu.stats()
    const res = await client.multipartUpload('h1/parts.bin', file, { partSize: PART, parallel })
    const afterStats = await emu.stats()
    await emu.clearFaults()
    assert.equal(res.res.status, 200)
    assert.equal(sha256((await emu.getObject('h1/parts.bin'))!), sha256(data))

    const log = (await emu.log()).filter((e) => e.key === 'h1/parts.bin')
    assert.equal(log.filter((e) => e.api === 'UploadPart').length, 19)
    assert.deepEqual([...new Set(log.map((e) => e.protocol))], ['HTTP/1.1'])
    // HTTP/1.1 sends one request at a time per connection, so `parallel` parts in flight need
    // `parallel` connections (multiplexed h2 would have used one, plus the control calls').
    const connections = afterStats.connections - before.connections
    assert.ok(connections >= parallel, `${connections} connections for ${parallel} parts in flight`)
    assert.ok(connections <= parallel + 3, `${connections} connections: pooled connections were not reused`)
  })

  it('put of files, 8 in flight on one client: HTTP/1.1, the pooled connections reused', async () => {
    const client = turbo(emu, { ca: CA })
    const files = Array.from({ length: 32 }, (_, i) => {
      const data = makeData(4096 + i)
      return { name: `h1/put-${i}.bin`, data, path: tmp.file(`put-${i}.bin`, data) }
    })
    await emu.clearLog()
    await emu.addFault({ api: 'PutObject', times: 0, action: { type: 'delay', ms: 150 } })
    const before = await emu.stats()
    let next = 0
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < files.length) {
          const f = files[next++]
          const r = await client.put(f.name, f.path)
          assert.equal(r.res.status, 200)
        }
      }),
    )
    const afterStats = await emu.stats()
    await emu.clearFaults()
    for (const f of files) assert.equal(sha256((await emu.getObject(f.name))!), sha256(f.data), f.name)
    const log = (await emu.log()).filter((e) => e.api === 'PutObject')
    assert.equal(log.length, files.length)
    assert.deepEqual([...new Set(log.map((e) => e.protocol))], ['HTTP/1.1'])
    const connections = afterStats.connections - before.connections
    // 8 in flight: 8 connections (give or take a control call's), not one per file.
    assert.ok(connections >= 8 && connections <= 11, `${connections} connections for 32 puts, 8 in flight`)
  })

  it('ali-oss against the same server also speaks HTTP/1.1 (the behaviour oss-turbo matches)', async () => {
    const httpsAgent = new HttpsAgent({ ca: CA, keepAlive: true })
    try {
      const data = makeData(3 * PART + 5)
      const client = ali(emu, { endpoint: `https://localhost:${emu.port}`, sldEnable: true, httpsAgent })
      await emu.clearLog()
      await client.multipartUpload('h1/ali.bin', data, { partSize: PART, parallel: 3 })
      const log = (await emu.log()).filter((e) => e.key === 'h1/ali.bin')
      assert.equal(log.length, 6)
      assert.deepEqual([...new Set(log.map((e) => e.protocol))], ['HTTP/1.1'])
    } finally {
      httpsAgent.destroy()
    }
  })
})
