'use strict'
// Uploads from a stream of unknown length: `multipartUpload(name, stream, options)` and
// `putStream(name, stream, options)`. JavaScript only reads the stream and hands its chunks (not copied)
// to the native engine, awaiting each `write` — which resolves once there is room — so a fast stream is
// paused instead of buffered. Cutting parts, hashing, concurrency, retries, Complete and the abort on
// failure run in Rust (src/multipart/stream.rs).

const { runSession } = require('./session.js')

// A Node Readable, a web ReadableStream or any async iterable — but not a path or a Buffer.
function isStreamSource(file) {
  if (file == null || typeof file === 'string' || Buffer.isBuffer(file)) return false
  if (typeof file[Symbol.asyncIterator] === 'function') return true
  if (typeof file.getReader === 'function') return true
  return typeof file.pipe === 'function' && typeof file.on === 'function'
}

function chunks(stream) {
  if (typeof stream[Symbol.asyncIterator] === 'function') return stream
  if (typeof stream.getReader === 'function') return webChunks(stream)
  // An old-style Readable without an async iterator: wrap it (Readable.from keeps backpressure).
  const { Readable } = require('stream')
  return new Readable().wrap(stream)
}

async function* webChunks(stream) {
  const reader = stream.getReader()
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return
      yield value
    }
  } finally {
    reader.releaseLock()
  }
}

function toBuffer(chunk) {
  if (Buffer.isBuffer(chunk)) return chunk
  if (ArrayBuffer.isView(chunk)) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  if (chunk instanceof ArrayBuffer) return Buffer.from(chunk)
  if (typeof chunk === 'string') return Buffer.from(chunk)
  throw new TypeError(`a stream to upload must yield Buffers, Uint8Arrays or strings, got ${typeof chunk}`)
}

// Reads the stream into the session; a stream error is given to `failed` before the upload hears of it.
async function pump(session, stream, failed) {
  try {
    for await (const chunk of chunks(stream)) {
      const buf = toBuffer(chunk)
      if (buf.length === 0) continue
      // Without waiting while there is room; otherwise await it. `false`/-1: the upload stopped (a part
      // failed, cancel): stop reading (leaving the loop destroys the stream).
      const taken = session.tryWrite(buf)
      if (taken < 0) return null
      if (taken === 0 && !(await session.write(buf))) return null
    }
    session.end()
    return null
  } catch (err) {
    failed(err === undefined || err === null ? new Error('the stream failed') : err)
    session.fail(err && err.message ? String(err.message) : String(err))
    return null
  }
}

function install(OSS, h) {
  const fileUpload = OSS.prototype.multipartUpload

  OSS.prototype.multipartUpload = function multipartUpload(name, file, options) {
    const resuming = options && options.checkpoint && options.checkpoint.uploadId
    if (!isStreamSource(file)) return fileUpload.call(this, name, file, options)
    if (resuming) {
      return Promise.reject(new TypeError('a stream cannot be resumed from a checkpoint: its bytes are gone once sent'))
    }
    this.resetCancelFlag()
    return streamUpload(this, name, file, options || {}, h, false)
  }

  // ali-oss's put hands a readable stream to putStream; so does this one.
  const put = OSS.prototype.put
  OSS.prototype.put = function (name, file, options) {
    if (isStreamSource(file)) return this.putStream(name, file, options)
    return put.call(this, name, file, options)
  }

  OSS.prototype.putStream = function putStream(name, stream, options) {
    if (!isStreamSource(stream)) {
      return Promise.reject(new TypeError('putStream requires a Readable, a web ReadableStream or an async iterable'))
    }
    return streamUpload(this, name, stream, options || {}, h, true)
  }
}

async function streamUpload(client, name, stream, options, h, asPut) {
  const headers = { ...(options.headers || {}) }
  // ali-oss's putStream puts these on its single request; here the engine sets the length of each request.
  for (const k of Object.keys(headers)) {
    if (/^(content-length|transfer-encoding)$/i.test(k)) delete headers[k]
  }
  h.convertMeta(options.meta, headers)
  const signal = options.signal
  if (signal && signal.aborted) throw h.makeError({ kind: 'cancel' })
  const onBytes = typeof options.onUploadProgress === 'function' ? options.onUploadProgress : null
  const progress = typeof options.progress === 'function' ? options.progress : null
  let contentLength
  if (options.contentLength != null && options.contentLength !== 0) {
    contentLength = Number(options.contentLength)
    if (!Number.isSafeInteger(contentLength) || contentLength < 0) {
      throw new TypeError(`contentLength must be a non-negative integer, got ${options.contentLength}`)
    }
  }
  const session = client._native.streamUpload(name, {
    partSize: options.partSize,
    parallel: options.parallel,
    headers: h.headerStrings(headers),
    contentType: h.contentType(options.mime, name),
    completeHeaders: h.callbackHeaders(options),
    timeout: options.timeout,
    contentLength,
    byteProgress: !!onBytes,
    partEvents: !!progress,
  })
  const key = String(name).replace(/^\/+/, '')
  const result = (res) => {
    const out = asPut
      ? { name: key, url: client._native.objectUrl(key), res }
      : { res, bucket: client.options.bucket, name, etag: res.headers.etag }
    return h.withData(out, res, options)
  }

  let streamError = null
  const pumped = pump(session, stream, (err) => {
    streamError = err
  })
  let checkpoint = null
  let numParts = null
  let callbackError = null
  const onCallbackError = (err) => {
    if (!callbackError) callbackError = err
  }
  try {
    return await runSession(session, { signal, onBytes, onCallbackError }, async (ev) => {
      switch (ev.kind) {
        case 'put': {
          if (callbackError) throw callbackError
          const res = h.toRes(ev.res)
          if (progress) await progress(1, null, res)
          return result(res)
        }
        case 'initiated':
          if (ev.total != null) numParts = Math.max(1, Math.ceil(ev.total / ev.partSize))
          // A stream's checkpoint cannot resume anything (file is null); it shows what is stored so far.
          checkpoint = {
            file: null,
            name,
            fileSize: ev.total == null ? null : ev.total,
            partSize: ev.partSize,
            uploadId: ev.uploadId,
            doneParts: [],
          }
          try {
            if (progress) await progress(0, checkpoint, h.toRes(ev.res))
            session.ack(true)
          } catch (err) {
            callbackError = err
            session.ack(false)
          }
          break
        case 'ended':
          numParts = ev.numParts
          if (checkpoint) checkpoint.fileSize = ev.total
          break
        case 'part':
          checkpoint.doneParts.push({ number: ev.number, etag: ev.etag })
          try {
            // While the length is unknown there is no fraction to give: p stays 0 until the stream ended.
            const p = numParts ? checkpoint.doneParts.length / (numParts + 1) : 0
            if (progress) await progress(p, checkpoint, h.toRes(ev.res))
            session.ack(true)
          } catch (err) {
            if (!callbackError) {
              callbackError = err
              if (err && typeof err === 'object') err.partNum = ev.number
            }
            session.ack(false)
          }
          break
        case 'completed': {
          if (callbackError) throw h.callbackFailure(callbackError, options.parallel)
          const res = h.toRes(ev.res)
          if (progress) await progress(1, null, res)
          return result(res)
        }
        case 'error':
        default:
          // The stream's own error wins: it is why the upload stopped.
          if (streamError) throw streamError
          if (callbackError && (ev.error.kind === 'callback' || ev.error.kind === 'cancel')) {
            throw h.callbackFailure(callbackError, options.parallel)
          }
          throw h.makeError(ev.error)
      }
    })
  } catch (err) {
    // Stop reading a stream whose upload failed (a Readable is destroyed; others stop at their next chunk).
    if (typeof stream.destroy === 'function' && !stream.destroyed) stream.destroy()
    throw err
  } finally {
    // On success the pump has already ended; on failure it is not awaited (the stream may never yield again).
    pumped.catch(() => {})
  }
}

module.exports = { install, isStreamSource }
