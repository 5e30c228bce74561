'use strict'
// `oss-turbo cp -r DIR oss://bucket/prefix/`: a folder upload through client.uploadDirectory, with one
// concurrency limit over files and parts, include/exclude globs, --update, and resumability (the journal of
// finished files and the large files' checkpoints live in --checkpoint-dir). Exit code 1 when any file
// failed; the others are still uploaded.

const fs = require('node:fs')
const path = require('node:path')

const { MiB, formatDuration } = require('./progress')

function parseDirDestination(url, UserError) {
  const m = /^oss:\/\/([^/]*)(?:\/(.*))?$/.exec(url)
  if (!m) throw new UserError(`invalid destination ${JSON.stringify(url)}: expected oss://bucket/prefix/`)
  const [, bucket, rest = ''] = m
  if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new UserError(
      `invalid destination ${JSON.stringify(url)}: the bucket name must be 3-63 lowercase letters, digits or hyphens`,
    )
  }
  return { bucket, prefix: rest === '' || rest.endsWith('/') ? rest : `${rest}/` }
}

function figures(p) {
  const files = `${p.filesDone}/${p.filesTotal == null ? '?' : p.filesTotal} files`
  const bytes = `${(p.bytesDone / MiB).toFixed(1)}/${p.bytesTotal == null ? '?' : (p.bytesTotal / MiB).toFixed(1)} MiB`
  const rate = `${(p.bytesPerSecond / MiB).toFixed(1)} MiB/s`
  const eta = p.etaMs == null ? 'ETA ?' : `ETA ${formatDuration(Math.ceil(p.etaMs / 1000))}`
  return `${files} | ${bytes} | ${rate} | ${eta}`
}

async function cpRecursive(dir, destination, opts, env) {
  const { UserError, credentials, oneLine, EXIT_FAILED, EXIT_INTERRUPTED } = env
  const absDir = path.resolve(dir)
  const { bucket, prefix } = parseDirDestination(destination, UserError)
  const creds = credentials()
  let stat
  try {
    stat = fs.statSync(absDir)
  } catch (err) {
    throw new UserError(
      `cannot read ${dir}: ${err.code === 'ENOENT' ? 'no such folder' : err.code || err.message}`,
      EXIT_FAILED,
    )
  }
  if (!stat.isDirectory()) throw new UserError(`cannot upload ${dir} with -r: not a folder`, EXIT_FAILED)
  const cpDir = path.resolve(opts.checkpointDir)
  try {
    fs.mkdirSync(cpDir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new UserError(`cannot create the checkpoint folder ${cpDir}: ${err.code || err.message}`, EXIT_FAILED)
  }
  let OSS
  try {
    OSS = require('..')
  } catch (err) {
    throw new UserError(err.message.split('\n')[0], EXIT_FAILED)
  }
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
  const log = (msg) => process.stderr.write(`oss-turbo: ${msg}\n`)
  const tty = process.stderr.isTTY === true
  let lastLine = 0
  const show = (p, final) => {
    if (!opts.progress) return
    const now = Date.now()
    if (tty) {
      process.stderr.write(`\r${figures(p)}\x1b[K${final ? '\n' : ''}`)
    } else if (final || now - lastLine >= 1000) {
      lastLine = now
      process.stderr.write(`${figures(p)}\n`)
    }
  }
  const controller = new AbortController()
  let interrupted = false
  const onSigint = () => {
    if (interrupted) process.exit(EXIT_INTERRUPTED)
    interrupted = true
    controller.abort()
  }
  process.on('SIGINT', onSigint)
  let last = null
  let summary
  try {
    summary = await client.uploadDirectory(absDir, prefix, {
      parallel: opts.parallel,
      partSize: opts.partSize,
      include: opts.include,
      exclude: opts.exclude,
      followSymlinks: !!opts.followSymlinks,
      update: !!opts.update,
      checkpointDir: cpDir,
      signal: controller.signal,
      progress: (p) => {
        last = p
        show(p, false)
      },
    })
  } catch (err) {
    if (interrupted && err && err.name === 'cancel') {
      if (tty && opts.progress) process.stderr.write('\n')
      throw new UserError(
        'interrupted: run the same command again to continue (finished files are skipped)',
        EXIT_INTERRUPTED,
      )
    }
    throw new UserError(`upload of ${dir} failed: ${oneLine(err, creds)}`, EXIT_FAILED)
  } finally {
    process.off('SIGINT', onSigint)
  }
  if (last) show(last, true)
  for (const f of summary.failed) log(`failed: ${f.path}: ${oneLine({ message: f.reason }, creds)}`)
  const secs = summary.elapsedMs / 1000
  log(
    `${summary.uploaded} uploaded, ${summary.skipped} skipped, ${summary.failed.length} failed` +
      (summary.symlinksSkipped ? `, ${summary.symlinksSkipped} symlinks skipped (use --follow-symlinks)` : '') +
      ` to oss://${bucket}/${prefix}: ${(summary.bytesUploaded / MiB).toFixed(1)} MiB in ${secs < 60 ? `${secs.toFixed(1)}s` : formatDuration(secs)}`,
  )
  if (summary.failed.length > 0) {
    throw new UserError(
      `${summary.failed.length} file(s) failed; run the same command again to retry them`,
      EXIT_FAILED,
    )
  }
}

module.exports = { cpRecursive, parseDirDestination }
