'use strict'
// `client.uploadDirectory(dir, prefix, options)`: every file under `dir` to `prefix` + its relative path.
// The walk, the shared concurrency limit, update mode and resumability run in Rust (src/dir/); this layer
// converts options and hands the job's progress and file steps to the caller's callbacks.

function list(v) {
  if (v == null) return undefined
  return [].concat(v).map(String)
}

function install(OSS, h) {
  OSS.prototype.uploadDirectory = function uploadDirectory(dir, prefix, options) {
    return uploadDirectoryImpl(this, dir, prefix, options || {}, h)
  }
}

async function uploadDirectoryImpl(client, dir, prefix, options, h) {
  if (typeof dir !== 'string' || !dir) throw new TypeError('uploadDirectory requires a folder path (string)')
  if (prefix == null) prefix = ''
  if (typeof prefix !== 'string') throw new TypeError('uploadDirectory: prefix must be a string')
  const signal = options.signal
  if (signal && signal.aborted) throw h.makeError({ kind: 'cancel' })
  const headers = { ...(options.headers || {}) }
  h.convertMeta(options.meta, headers)
  const progress = typeof options.progress === 'function' ? options.progress : null
  const onFile = typeof options.onFile === 'function' ? options.onFile : null
  const session = client._native.uploadDirectory(dir, prefix, {
    parallel: options.parallel,
    partSize: options.partSize,
    include: list(options.include),
    exclude: list(options.exclude),
    followSymlinks: options.followSymlinks == null ? undefined : !!options.followSymlinks,
    update: !!options.update,
    checkpointDir: options.checkpointDir == null ? undefined : String(options.checkpointDir),
    headers: h.headerStrings(headers),
    timeout: options.timeout,
    fileEvents: !!onFile,
  })
  const onAbort = () => session.cancel()
  if (signal) signal.addEventListener('abort', onAbort, { once: true })
  let callbackError = null
  const call = async (fn, arg) => {
    if (callbackError) return
    try {
      await fn(arg)
    } catch (err) {
      // A throwing callback stops the job and is what it rejects with.
      callbackError = err
      session.cancel()
    }
  }
  try {
    for (;;) {
      const ev = await session.next()
      switch (ev.kind) {
        case 'progress':
          if (progress) {
            await call(progress, {
              filesDone: ev.filesDone,
              filesTotal: ev.filesTotal == null ? undefined : ev.filesTotal,
              bytesDone: ev.bytesDone,
              bytesTotal: ev.bytesTotal == null ? undefined : ev.bytesTotal,
              bytesPerSecond: ev.rate,
              etaMs: ev.etaMs == null ? undefined : ev.etaMs,
              elapsedMs: ev.elapsedMs,
            })
          }
          break
        case 'file':
          await call(onFile, {
            path: ev.path,
            key: ev.key,
            size: ev.size,
            status: ev.status,
            reason: ev.reason || undefined,
          })
          break
        case 'done':
          if (callbackError) throw callbackError
          return {
            uploaded: ev.uploaded,
            skipped: ev.skipped,
            failed: ev.failed,
            symlinksSkipped: ev.symlinksSkipped,
            bytesUploaded: ev.bytesUploaded,
            elapsedMs: ev.elapsedMs,
          }
        case 'error':
        default:
          if (callbackError) throw callbackError
          throw h.makeError(ev.error)
      }
    }
  } finally {
    if (signal) signal.removeEventListener('abort', onAbort)
  }
}

module.exports = { install }
