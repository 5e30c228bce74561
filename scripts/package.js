#!/usr/bin/env node
'use strict'
// `npm run package`: the npm tarballs of oss-turbo, made the napi-rs way, without publishing anything.
//
//   1. `napi create-npm-dirs` refreshes npm/<platform>/package.json from the root package.json (name
//      `oss-turbo-<platform>`, version, os/cpu/libc) — one platform package per `napi.targets` entry.
//   2. Each platform package gets its prebuilt `oss-turbo.<platform>.node` (what `napi artifacts` copies;
//      done directly here because `napi artifacts` also rewrites the root entry file in place), taken from
//      --binaries DIR (scripts/build-platforms.sh writes all four into target/platforms), by default from
//      the repository root (where `npm run build` puts the one for this machine). With --all every platform
//      of `napi.targets` must have its binary; without it, platforms with no binary are left out (and
//      so are their optional dependencies), which is how the package test packs a native build alone.
//   3. The main package lists the platform packages in `optionalDependencies` (what `napi pre-publish`
//      writes into package.json just before publishing; done on a staged copy here, since pre-publish
//      also wants a git tag and a release, and the repository's own package.json must keep installing
//      with `npm ci` while the platform package exists on no registry).
//   4. `npm pack` of every package into the output folder (default dist/).
//
// It packs what was built: run the builds first (`npm run package` does, for every platform).
// Usage: node scripts/package.js [--out DIR] [--binaries DIR] [--all]

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')

function main() {
  const out = path.resolve(option('--out') ?? path.join(root, 'dist'))
  const binaries = option('--binaries')
  const all = process.argv.includes('--all')
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
  const binaryName = manifest.napi.binaryName

  if (!fs.existsSync(path.join(root, 'binding.js'))) fail('binding.js is missing: run `npm run build` first')

  run(process.execPath, [napiCli(), 'create-npm-dirs', '--npm-dir', 'npm'], root)

  fs.mkdirSync(out, { recursive: true })
  const stage = fs.mkdtempSync(path.join(out, '.stage-'))
  try {
    const optionalDependencies = {}
    if (!fs.existsSync(path.join(root, 'npm'))) fail('npm/ is missing')
    const tarballs = []
    for (const platform of fs.readdirSync(path.join(root, 'npm')).sort()) {
      const src = path.join(root, 'npm', platform)
      const pkg = JSON.parse(fs.readFileSync(path.join(src, 'package.json'), 'utf8'))
      const node = `${binaryName}.${platform}.node`
      const built = path.resolve(root, binaries ?? '.', node)
      if (!fs.existsSync(built)) {
        if (all) fail(`${node} is missing: run \`npm run package\` (builds every platform)`)
        console.error(`package: no ${node}: ${pkg.name} left out`)
        continue
      }
      const dir = path.join(stage, 'npm', platform)
      fs.mkdirSync(dir, { recursive: true })
      for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(dir, f))
      fs.copyFileSync(built, path.join(dir, node))
      optionalDependencies[pkg.name] = pkg.version
      tarballs.push(pack(dir, out))
    }

    // The main package: exactly the files npm would pack from the repository (`files` in package.json),
    // with the platform packages as optional dependencies.
    const mainDir = path.join(stage, 'main')
    for (const f of packedFiles(root)) {
      fs.mkdirSync(path.dirname(path.join(mainDir, f)), { recursive: true })
      fs.copyFileSync(path.join(root, f), path.join(mainDir, f))
    }
    const staged = JSON.parse(fs.readFileSync(path.join(mainDir, 'package.json'), 'utf8'))
    staged.optionalDependencies = { ...staged.optionalDependencies, ...optionalDependencies }
    fs.writeFileSync(path.join(mainDir, 'package.json'), JSON.stringify(staged, null, 2) + '\n')
    tarballs.unshift(pack(mainDir, out))

    for (const t of tarballs) {
      const kib = (fs.statSync(t.file).size / 1024).toFixed(0)
      const shown = path.relative(process.cwd(), t.file)
      console.log(`${shown.startsWith('..') ? t.file : shown}  ${kib} KiB  (${t.name}@${t.version}, ${t.files} files)`)
    }
  } finally {
    fs.rmSync(stage, { recursive: true, force: true })
  }
}

function option(name) {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : undefined
}

function napiCli() {
  return require.resolve('@napi-rs/cli/package.json', { paths: [root] }).replace(/package\.json$/, 'dist/cli.js')
}

function packedFiles(dir) {
  const [info] = JSON.parse(run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], dir))
  return info.files.map((f) => f.path)
}

function pack(dir, out) {
  const [info] = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', out], dir))
  return { name: info.name, version: info.version, files: info.entryCount, file: path.join(out, info.filename) }
}

function run(cmd, args, cwd) {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    fail(`${cmd} ${args.join(' ')} failed:\n${err.stderr || err.message}`)
  }
}

function fail(msg) {
  console.error(`package: ${msg}`)
  process.exit(1)
}

main()
