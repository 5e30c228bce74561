'use strict'
// `oss-turbo cp oss://bucket/key <file>`: a resumable, parallel, CRC-64-verified download (client.get with a
// file path). Every download keeps a checkpoint file (in --checkpoint-dir, named from a hash of bucket, key
// and the target's absolute path), so running the same command again after a failure or Ctrl-C continues
// with the ranges not yet written. The target only appears once the whole object is in and verified.
// Same exit codes and one-line errors as uploads (bin/oss-turbo.js passes its helpers in).

const fs = require('node:fs')
const path = require('node:path')

const { ByteProgress, MiB, formatDuration } = require('./progress')

/** `oss://bucket/key` → {bucket, key}; the key must name an object (not empty, not ending in `/`). */
function parseSource(url, UserError) {
  const m = /^oss:\/\/([^/]*)\/(.*)$/.exec(url)
  if (!m || !/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(m[1])) {
    throw new UserError(`invalid source ${JSON.stringify(url)}: expected oss://bucket/key`)
  }
  if (m[2] === '' || m[2].endsWith('/')) {
    throw new UserError(`invalid source ${JSON.stringify(url)}: give an object key, not a folder`)
  }
  return { bucket: m[1], key: m[2] }
}

/** The file to write: `dest` itself, or the key's last segment inside `dest` when it is a folder. */
function targetFile(dest, key) {
  const abs = path.resolve(dest)
  let isDir = dest.endsWith('/') || dest.endsWith(path.sep)
  try {
    isDir = isDir || fs.statSync(abs).isDirectory()
  } catch {
    // Does not exist yet: a file name.
  }
  return isDir ? path.join(abs, path.posix.basename(key)) : abs
}

/** Bytes a matching download checkpoint says are already written (0 when there is none or it is for something else). */
function resumedBytes(checkpointFile, { bucket, key, absFile }) {
  let cp
  try {
    cp = JSON.parse(fs.readFileSync(checkpointFile, 'utf8'))
  } catch {
    return 0
  }
  if (!cp || cp.kind !== 'oss-turbo-download' || cp.name !== key || cp.filePath !== absFile || cp.bucket !== bucket)
    return 0
  if (!Array.isArray(cp.doneParts) || !(cp.partSize > 0) || !(cp.objectSize >= 0)) return 0
  let bytes = 0
  for (const p of cp.doneParts) {
    if (p && Number.isInteger(p.number))
      bytes += Math.max(0, Math.min(cp.partSize, cp.objectSize - (p.number - 1) * cp.partSize))
  }
  return bytes
}

async function cpDownload(source, dest, opts, h) {
  const { UserError, EXIT_FAILED, EXIT_INTERRUPTED, credentials, oneLine, checkpointPath } = h
  const { bucket, key } = parseSource(source, UserError)
  const absFile = targetFile(dest, key)
  const creds = credentials()
  if (!fs.existsSync(path.dirname(absFile))) {
    throw new UserError(
      `cannot download into ${absFile}: the folder ${path.dirname(absFile)} does not exist`,
      EXIT_FAILED,
    )
  }

  const cpDir = path.resolve(opts.checkpointDir)
  try {
    fs.mkdirSync(cpDir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new UserError(`cannot create the checkpoint folder ${cpDir}: ${err.code || err.message}`, EXIT_FAILED)
  }
  // Distinct from the upload checkpoint of the same bucket, key and file.
  const checkpointFile = checkpointPath(cpDir, bucket, `download\n${key}`, absFile)
  const already = resumedBytes(checkpointFile, { bucket, key, absFile })

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

  const from = `oss://${bucket}/${key}`
  const log = (msg) => process.stderr.write(`oss-turbo: ${msg}\n`)
  if (already > 0) log(`resuming ${from} from ${checkpointFile} (${(already / MiB).toFixed(1)} MiB already downloaded)`)

  const bar = opts.progress ? new ByteProgress({ stream: process.stderr }) : null
  let barStarted = false
  const controller = new AbortController()
  let interrupted = false
  const onSigint = () => {
    if (interrupted) {
      bar?.stop()
      process.exit(EXIT_INTERRUPTED)
    }
    interrupted = true
    controller.abort()
  }
  process.on('SIGINT', onSigint)

  const started = Date.now()
  let result
  try {
    result = await client.get(key, absFile, {
      parallel: opts.parallel,
      partSize: opts.partSize,
      checkpointFile,
      signal: controller.signal,
      onDownloadProgress: bar
        ? ({ loaded, total }) => {
            if (!barStarted) {
              barStarted = true
              bar.start(total, Math.min(already, loaded))
            }
            bar.update(loaded)
          }
        : undefined,
    })
  } catch (err) {
    if (barStarted) bar.stop()
    const kept = fs.existsSync(checkpointFile)
    if (interrupted && err && err.name === 'cancel') {
      throw new UserError(
        kept
          ? `interrupted; checkpoint saved in ${checkpointFile}: run the same command again to resume`
          : 'interrupted',
        EXIT_INTERRUPTED,
      )
    }
    const hint = kept ? ' (checkpoint kept: run the same command again to resume)' : ''
    throw new UserError(`download of ${from} failed: ${oneLine(err, creds)}${hint}`, EXIT_FAILED)
  } finally {
    process.off('SIGINT', onSigint)
  }
  if (barStarted) bar.stop()
  const size = result.res.size
  const secs = (Date.now() - started) / 1000
  const got = Math.max(0, size - already)
  log(
    `downloaded ${from} to ${absFile}: ${(size / MiB).toFixed(1)} MiB in ${secs < 60 ? `${secs.toFixed(1)}s` : formatDuration(secs)}` +
      (secs > 0 ? ` (${(got / MiB / secs).toFixed(1)} MiB/s)` : ''),
  )
}

module.exports = { cpDownload, parseSource, targetFile }
