// The npm packages as a user gets them: `scripts/package.js` (what `npm run package` runs after the build)
// packs the main package and the platform package; both tarballs go into a fresh project with no Rust
// toolchain on PATH, and the installed package uploads to the emulator, as a library and as a command.
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { delimiter, join, resolve } from 'node:path'
import { after, before, describe, it } from 'node:test'

import { Emulator, TEST_AK, TEST_BUCKET, TEST_SK, startEmulator } from './helpers/emulator'
import { TempDir, makeData } from './helpers/util'

const ROOT = resolve(__dirname, '..')

let emu: Emulator
let dir: TempDir
let dist: string
let app: string
let env: NodeJS.ProcessEnv

function tarball(prefix: string): string {
  const name = readdirSync(dist).find((f) => f.startsWith(`${prefix}-`) && /^\d/.test(f.slice(prefix.length + 1)))
  assert.ok(name, `${prefix}-<version>.tgz in ${readdirSync(dist).join(', ')}`)
  return join(dist, name)
}

function tarList(tgz: string): string[] {
  return execFileSync('tar', ['tzf', tgz], { encoding: 'utf8' }).trim().split('\n').sort()
}

/** Runs node in the fresh project, with its PATH (no cargo) and credentials. */
function nodeInApp(args: string[]) {
  return spawnSync(process.execPath, args, { cwd: app, env, encoding: 'utf8', timeout: 30_000 })
}

before(async () => {
  emu = await startEmulator()
  dir = new TempDir()
  dist = join(dir.path, 'dist')
  app = join(dir.path, 'app')
  mkdirSync(app)
  // PATH without any folder that holds cargo: the install must not need a Rust toolchain.
  const path = (process.env.PATH ?? '').split(delimiter).filter((p) => p && !existsSync(join(p, 'cargo')))
  env = { ...process.env, PATH: path.join(delimiter), OSS_ACCESS_KEY_ID: TEST_AK, OSS_ACCESS_KEY_SECRET: TEST_SK }
})

after(async () => {
  await emu?.stop()
  dir?.remove()
})

describe('the npm packages', () => {
  it('packs the main package and the linux-x64-gnu platform package', () => {
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'package.js'), '--out', dist], { cwd: ROOT, stdio: 'pipe' })

    const main = tarList(tarball('oss-turbo'))
    for (const f of [
      'index.js',
      'index.d.ts',
      'binding.js',
      'binding.d.ts',
      'lib/load-binding.js',
      'bin/oss-turbo.js',
      'package.json',
      'README.md',
    ]) {
      assert.ok(main.includes(`package/${f}`), `main package has ${f}: ${main.join(', ')}`)
    }
    assert.deepEqual(
      main.filter((f) => f.endsWith('.node')),
      [],
      'the main package holds no binary',
    )
    assert.deepEqual(
      main.filter((f) => /__test__|\/src\/|emulator|Cargo/.test(f)),
      [],
      'no sources or tests',
    )

    const platform = tarList(tarball('oss-turbo-linux-x64-gnu'))
    assert.ok(platform.includes('package/oss-turbo.linux-x64-gnu.node'), platform.join(', '))
    assert.ok(platform.includes('package/package.json'))
  })

  it('installs from the two tarballs into a fresh project with no cargo on PATH', () => {
    assert.equal(
      (spawnSync('cargo', ['--version'], { env }).error as NodeJS.ErrnoException | undefined)?.code,
      'ENOENT',
      'cargo is not reachable',
    )
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }))
    const npm = spawnSync(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        '--loglevel=error',
        tarball('oss-turbo'),
        tarball('oss-turbo-linux-x64-gnu'),
      ],
      { cwd: app, env, encoding: 'utf8', timeout: 60_000 },
    )
    assert.equal(npm.status, 0, npm.stderr)
    const installed = require(join(app, 'node_modules', 'oss-turbo', 'package.json'))
    assert.deepEqual(
      installed.optionalDependencies,
      { 'oss-turbo-linux-x64-gnu': installed.version },
      'the platform package is an optional dependency',
    )
  })

  it('uploads to the emulator through require("oss-turbo")', async () => {
    const data = makeData(1024 * 1024 + 4321)
    const file = dir.file('pkg.bin', data)
    writeFileSync(
      join(app, 'upload.js'),
      `const OSS = require('oss-turbo')
const client = new OSS({ endpoint: ${JSON.stringify(emu.endpoint)}, bucket: ${JSON.stringify(TEST_BUCKET)},
  accessKeyId: process.env.OSS_ACCESS_KEY_ID, accessKeySecret: process.env.OSS_ACCESS_KEY_SECRET })
client.multipartUpload('pkg/lib.bin', ${JSON.stringify(file)}, { partSize: 256 * 1024 }).then(
  (r) => console.log(JSON.stringify({ status: r.res.status, from: require.resolve('oss-turbo-linux-x64-gnu') })),
  (e) => { console.error(e); process.exit(1) })
`,
    )
    const run = nodeInApp(['upload.js'])
    assert.equal(run.status, 0, run.stderr)
    const out = JSON.parse(run.stdout)
    assert.equal(out.status, 200)
    assert.ok(out.from.startsWith(join(app, 'node_modules', 'oss-turbo-linux-x64-gnu')), out.from)
    assert.ok((await emu.getObject('pkg/lib.bin'))?.equals(data), 'the object is the file, byte for byte')
  })

  it('runs the installed oss-turbo command', async () => {
    const data = makeData(300 * 1024)
    const file = dir.file('cli.bin', data)
    const bin = join(app, 'node_modules', '.bin', 'oss-turbo')
    const run = spawnSync(
      bin,
      [
        'cp',
        file,
        `oss://${TEST_BUCKET}/pkg/cli.bin`,
        '--endpoint',
        emu.endpoint,
        '--checkpoint-dir',
        join(dir.path, 'cps'),
        '--no-progress',
      ],
      {
        cwd: app,
        env,
        encoding: 'utf8',
        timeout: 30_000,
      },
    )
    assert.equal(run.status, 0, run.stderr)
    assert.ok((await emu.getObject('pkg/cli.bin'))?.equals(data))
  })

  it('without the platform package, require("oss-turbo") is plain ali-oss, with one warning', async () => {
    rmSync(join(app, 'node_modules', 'oss-turbo-linux-x64-gnu'), { recursive: true, force: true })
    const run = nodeInApp([
      '-e',
      `const OSS = require('oss-turbo')
const client = new OSS({ endpoint: ${JSON.stringify(emu.endpoint)}, bucket: ${JSON.stringify(TEST_BUCKET)},
  accessKeyId: process.env.OSS_ACCESS_KEY_ID, accessKeySecret: process.env.OSS_ACCESS_KEY_SECRET })
client.put('pkg/fallback.txt', Buffer.from('plain')).then(
  (r) => console.log(JSON.stringify({ native: OSS.native, code: OSS.nativeError.code, status: r.res.status })),
  (e) => { console.error(e); process.exit(1) })`,
    ])
    assert.equal(run.status, 0, run.stderr)
    assert.deepEqual(JSON.parse(run.stdout), { native: false, code: 'OSS_TURBO_NO_BINARY', status: 200 })
    const warnings = run.stderr.split('\n').filter((l) => l.includes('oss-turbo: no native addon'))
    assert.equal(warnings.length, 1, run.stderr)
    assert.match(warnings[0], /linux-x64-gnu.*not accelerated.*oss-turbo-linux-x64-gnu is not installed/)
    assert.ok((await emu.getObject('pkg/fallback.txt'))?.equals(Buffer.from('plain')))
  })
})
