#!/usr/bin/env node
'use strict'
// The `oss-turbo` command: resumable multipart uploads from the shell.
//
//   oss-turbo cp <file> oss://bucket/key [--endpoint URL] [--region R] [--parallel N] [--part-size 8M]
//                                         [--checkpoint-dir DIR] [--v4]
//
// Credentials come from OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET and OSS_SESSION_TOKEN (STS).
// Every upload keeps a checkpoint file (in --checkpoint-dir, named from a hash of bucket, key and the file's
// absolute path), so running the same command again after a failure or Ctrl-C continues where it stopped.
// `oss-turbo cp oss://bucket/key <file|dir/>` downloads the other way (bin/cp-download.js), resumable the same way.
// Exit codes: 0 uploaded, 1 the upload failed, 2 bad command line or environment, 130 interrupted (SIGINT),
// 143 terminated (SIGTERM).
// A failure is one line on stderr: never a stack trace, never a credential.

const { createHash } = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Command, CommanderError, InvalidArgumentError, Option } = require('commander')

const { ByteProgress, MiB, formatDuration } = require('./progress')

const EXIT_OK = 0
const EXIT_FAILED = 1
const EXIT_USAGE = 2
const EXIT_INTERRUPTED = 130
const EXIT_TERMINATED = 143

/** An error the user made: reported as one line, exit code 2 unless said otherwise. */
class UserError extends Error {
  constructor(message, exitCode = EXIT_USAGE) {
    super(message)
    this.exitCode = exitCode
  }
}

// ---- argument parsing ----

const UNITS = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }

/** `8M`, `8MB`, `8MiB`, `64mib`, `1048576` → bytes. K/M/G/T are binary (1024-based), as in ossutil and the AWS CLI. */
function parseSize(text) {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(String(text).trim())
  if (!m) throw new InvalidArgumentError('expected a size such as 8M, 64MiB or 1048576')
  const bytes = Number(m[1]) * UNITS[m[2].toLowerCase()]
  if (!Number.isSafeInteger(bytes) || bytes <= 0)
    throw new InvalidArgumentError('expected a whole, positive number of bytes')
  return bytes
}

function parsePositiveInt(text) {
  if (!/^\d+$/.test(String(text).trim()) || Number(text) < 1)
    throw new InvalidArgumentError('expected a positive integer')
  return Number(text)
}

function parseCount(text) {
  if (!/^\d+$/.test(String(text).trim())) throw new InvalidArgumentError('expected a non-negative integer')
  return Number(text)
}

/** `oss://bucket/key`; a key that is empty or ends in `/` gets the file's name appended, as `cp` does. */
function parseDestination(url, file) {
  const m = /^oss:\/\/([^/]*)(?:\/(.*))?$/.exec(url)
  if (!m) throw new UserError(`invalid destination ${JSON.stringify(url)}: expected oss://bucket/key`)
  const [, bucket, rest = ''] = m
  if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new UserError(
      `invalid destination ${JSON.stringify(url)}: the bucket name must be 3-63 lowercase letters, digits or hyphens`,
    )
  }
  const key = rest === '' || rest.endsWith('/') ? rest + path.basename(file) : rest
  return { bucket, key }
}

function checkpointPath(dir, bucket, key, absFile) {
  const id = createHash('sha256').update(`${bucket}\n${key}\n${absFile}`).digest('hex').slice(0, 32)
  return path.join(dir, `${id}.json`)
}

function credentials() {
  const accessKeyId = process.env.OSS_ACCESS_KEY_ID
  const accessKeySecret = process.env.OSS_ACCESS_KEY_SECRET
  if (!accessKeyId || !accessKeySecret) {
    throw new UserError(
      'no credentials: set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET (and OSS_SESSION_TOKEN for STS)',
    )
  }
  return { accessKeyId, accessKeySecret, stsToken: process.env.OSS_SESSION_TOKEN || undefined }
}

// ---- the upload ----

async function cp(file, destination, opts) {
  if (/^oss:\/\//.test(file)) {
    // A download: oss://bucket/key → a local file (bin/cp-download.js).
    const helpers = { UserError, EXIT_FAILED, EXIT_INTERRUPTED, credentials, oneLine, checkpointPath }
    return require('./cp-download.js').cpDownload(file, destination, opts, helpers)
  }
  if (opts.recursive) {
    const env = { UserError, credentials, oneLine, EXIT_FAILED, EXIT_INTERRUPTED }
    return require('./cp-dir').cpRecursive(file, destination, opts, env)
  }
  const absFile = path.resolve(file)
  const { bucket, key } = parseDestination(destination, absFile)
  const creds = credentials()
  const stat = statFile(file, absFile)

  const cpDir = path.resolve(opts.checkpointDir)
  try {
    fs.mkdirSync(cpDir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new UserError(`cannot create the checkpoint folder ${cpDir}: ${err.code || err.message}`, EXIT_FAILED)
  }
  const checkpointFile = checkpointPath(cpDir, bucket, key, absFile)
  const already = resumedBytes(checkpointFile, { bucket, key, absFile, stat })

  let OSS
  try {
    OSS = require('..')
  } catch (err) {
    throw new UserError(err.message.split('\n')[0], EXIT_FAILED)
  }
  // Without the addon the library is plain ali-oss; the command relies on the native checkpoint file.
  if (OSS.native === false) throw new UserError(OSS.nativeError.message.split('\n')[0], EXIT_FAILED)
  let client
  try {
    client = new OSS({
      ...creds,
      bucket,
      endpoint: opts.endpoint,
      region: opts.region,
      authorizationV4: !!opts.v4,
      retryMax: opts.retries,
    })
  } catch (err) {
    throw new UserError(oneLine(err, creds))
  }

  const target = `oss://${bucket}/${key}`
  const log = (msg) => process.stderr.write(`oss-turbo: ${msg}\n`)
  if (already > 0) log(`resuming ${target} from ${checkpointFile} (${(already / MiB).toFixed(1)} MiB already uploaded)`)

  const bar = opts.progress ? new ByteProgress({ stream: process.stderr }) : null
  const controller = new AbortController()
  let interrupted = null
  // SIGINT (Ctrl-C) and SIGTERM (kill, systemd, docker stop) both stop the upload and keep the checkpoint.
  const onSignal = (signal) => {
    const code = signal === 'SIGTERM' ? EXIT_TERMINATED : EXIT_INTERRUPTED
    if (interrupted) {
      // A second signal: leave right now (the checkpoint file is only ever replaced atomically).
      bar?.stop()
      process.exit(code)
    }
    interrupted = { signal, code }
    controller.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  bar?.start(stat.size, already)
  const started = Date.now()
  try {
    await client.multipartUpload(key, absFile, {
      parallel: opts.parallel,
      partSize: opts.partSize,
      checkpointFile,
      signal: controller.signal,
      onUploadProgress: bar ? ({ loaded }) => bar.update(loaded) : undefined,
    })
  } catch (err) {
    bar?.stop()
    const kept = fs.existsSync(checkpointFile)
    if (interrupted && err && err.name === 'cancel') {
      const what = interrupted.signal === 'SIGTERM' ? 'terminated' : 'interrupted'
      throw new UserError(
        kept ? `${what}; checkpoint saved in ${checkpointFile}: run the same command again to resume` : what,
        interrupted.code,
      )
    }
    const hint = kept ? ' (checkpoint kept: run the same command again to resume)' : ''
    throw new UserError(`upload to ${target} failed: ${oneLine(err, creds)}${hint}`, EXIT_FAILED)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  bar?.update(stat.size)
  bar?.stop()
  const secs = (Date.now() - started) / 1000
  const sent = stat.size - already
  log(
    `uploaded ${file} to ${target}: ${(stat.size / MiB).toFixed(1)} MiB in ${secs < 60 ? `${secs.toFixed(1)}s` : formatDuration(secs)}` +
      (secs > 0 ? ` (${(sent / MiB / secs).toFixed(1)} MiB/s)` : ''),
  )
}

function statFile(file, absFile) {
  let stat
  try {
    stat = fs.statSync(absFile)
  } catch (err) {
    const why =
      err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code || err.message
    throw new UserError(`cannot read ${file}: ${why}`, EXIT_FAILED)
  }
  if (!stat.isFile()) throw new UserError(`cannot upload ${file}: not a regular file`, EXIT_FAILED)
  return stat
}

/** Bytes a matching checkpoint file says are already uploaded (0 when there is none or it is for something else). */
// The library decides for itself whether the file matches (and says why not); this only sizes the display.
function resumedBytes(checkpointFile, { bucket, key, absFile, stat }) {
  let cp
  try {
    cp = JSON.parse(fs.readFileSync(checkpointFile, 'utf8'))
  } catch {
    return 0
  }
  const size = stat.size
  if (!cp || cp.name !== key || cp.file !== absFile || cp.fileSize !== size || (cp.bucket && cp.bucket !== bucket))
    return 0
  if (cp.fileMtimeMs != null && cp.fileMtimeMs !== Math.floor(stat.mtimeMs)) return 0
  if (!Array.isArray(cp.doneParts) || !(cp.partSize > 0)) return 0
  const numbers = new Set(cp.doneParts.map((p) => p && p.number).filter(Number.isInteger))
  let bytes = 0
  for (const n of numbers) bytes += Math.max(0, Math.min(cp.partSize, size - (n - 1) * cp.partSize))
  return bytes
}

/** One line describing an error, with OSS's code and request id when there are any, and no credential in it. */
function oneLine(err, creds) {
  let msg
  if (err && typeof err === 'object') {
    const base = typeof err.message === 'string' && err.message ? err.message : err.name || String(err)
    const facts = []
    if (err.code && !base.includes(err.code)) facts.push(err.code)
    if (typeof err.status === 'number' && err.status > 0) facts.push(`HTTP ${err.status}`)
    if (err.requestId) facts.push(`request id ${err.requestId}`)
    msg = facts.length ? `${base} (${facts.join(', ')})` : base
  } else {
    msg = String(err)
  }
  msg = msg.replace(/\s+/g, ' ').trim()
  for (const secret of [creds && creds.accessKeySecret, creds && creds.stsToken]) {
    if (secret) msg = msg.split(secret).join('***')
  }
  return msg
}

// ---- the command line ----

function program() {
  const pkg = require('../package.json')
  const prog = new Command()
    .name('oss-turbo')
    .description('Fast, resumable uploads to Alibaba Cloud OSS (multipart, parallel, CRC-64 checked).')
    .version(pkg.version)
    .exitOverride()
    .configureOutput({
      outputError: (str, write) => write(`oss-turbo: ${str.trim().replace(/^error: /, '')} (see oss-turbo --help)\n`),
    })
    .addHelpText(
      'after',
      `
Credentials: OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET, OSS_SESSION_TOKEN (STS, optional).
Exit codes: 0 uploaded, 1 upload failed, 2 bad command line or environment, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).`,
    )

  prog
    .command('cp')
    .description(
      'upload a local file to oss://bucket/key, or download oss://bucket/key to a local file. Resumable: after a failure or Ctrl-C, run the same command again.',
    )
    .argument('<file>', 'the local file (a folder with -r), or oss://bucket/key to download')
    .argument(
      '<destination>',
      'oss://bucket/key (a key ending in / gets the file name appended), or the local file/folder to download into',
    )
    .addOption(
      new Option('--endpoint <url>', 'OSS endpoint, e.g. oss-cn-hangzhou.aliyuncs.com or http://127.0.0.1:9000').env(
        'OSS_ENDPOINT',
      ),
    )
    .addOption(
      new Option(
        '--region <region>',
        'OSS region, e.g. oss-cn-hangzhou (used when no endpoint is given, and by --v4)',
      ).env('OSS_REGION'),
    )
    .option('--parallel <n>', 'parts uploaded (or ranges downloaded) at once', parsePositiveInt, 5)
    .option(
      '--part-size <size>',
      'bytes per part: 8M, 64MiB, 1048576 … (default 1MiB, raised to fit 10,000 parts)',
      parseSize,
    )
    .option(
      '--checkpoint-dir <dir>',
      'where checkpoints are kept',
      path.join(os.homedir(), '.oss-turbo', 'checkpoints'),
    )
    .option('--retries <n>', 'retries of a failed request, with backoff', parseCount, 3)
    .option('--v4', 'sign requests with OSS V4 (OSS4-HMAC-SHA256) instead of V1')
    .option('--no-progress', 'no progress display')
    .option('-r, --recursive', 'upload a folder: every file under <file> to oss://bucket/prefix/ + its relative path')
    .option('--include <glob...>', 'with -r: only files matching a glob (* ** ? [a-z]; no / = file name at any depth)')
    .option('--exclude <glob...>', 'with -r: skip files matching a glob')
    .option('--follow-symlinks', 'with -r: follow symlinks (default: skip them)')
    .option('--update', 'with -r: skip files whose object has the same size and CRC-64 (a HEAD each)')
    .addHelpText(
      'after',
      '\nExamples:\n  oss-turbo cp ./backup.tar oss://my-bucket/backups/ --region oss-cn-hangzhou --part-size 16M\n  oss-turbo cp oss://my-bucket/backups/backup.tar ./restore/ --region oss-cn-hangzhou\n  oss-turbo cp -r ./site oss://my-bucket/www/ --exclude "*.map" --update',
    )
    .action(cp)
  return prog
}

async function main(argv) {
  try {
    await program().parseAsync(argv)
    return EXIT_OK
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE
    if (err instanceof UserError) {
      process.stderr.write(`oss-turbo: ${err.message}\n`)
      return err.exitCode
    }
    process.stderr.write(`oss-turbo: ${oneLine(err, safeCreds())}\n`)
    return EXIT_FAILED
  }
}

function safeCreds() {
  return { accessKeySecret: process.env.OSS_ACCESS_KEY_SECRET, stsToken: process.env.OSS_SESSION_TOKEN }
}

if (require.main === module) {
  // Whatever escapes (a bug, not a user error) still ends as one line, never a stack trace.
  const die = (err) => {
    process.stderr.write(`oss-turbo: internal error: ${oneLine(err, safeCreds())}\n`)
    process.exit(EXIT_FAILED)
  }
  process.on('uncaughtException', die)
  process.on('unhandledRejection', die)
  main(process.argv).then((code) => process.exit(code))
}

module.exports = { main, parseSize, parseDestination, checkpointPath }
