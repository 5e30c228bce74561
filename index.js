'use strict'
// oss-turbo's public surface: ali-oss's own client (`OSS` inherits from it, so every method, static and
// `client.options` are ali-oss's), with its upload paths replaced by the native binding.
// This layer holds only what must be JavaScript: the constructor, the caller's checkpoint object (mutated in
// place, as ali-oss does), the awaited `progress` calls, content-type lookup with the same `mime`
// package ali-oss uses, and error objects with ali-oss's fields. Everything else runs in Rust.

const fs = require('fs')
const path = require('path')
const util = require('util')
const mime = require('mime')
const AliOSS = require('ali-oss')
const { tryLoadBinding, platformId } = require('./lib/load-binding.js')
const { attachNative, syncNative, hideSecrets } = require('./lib/native-state.js')
const { headerStrings, toRes, makeError } = require('./lib/shape.js')
const { runSession } = require('./lib/session.js')

const loaded = tryLoadBinding()
const binding = loaded.binding

// ali-oss's multipartUpload sends a file smaller than this with one PutObject, and checks partSize against it.
const MIN_PART_SIZE = 100 * 1024

function OSS(options, ctx) {
  if (!(this instanceof OSS)) return new OSS(options, ctx)
  AliOSS.call(this, options, ctx)
  hideSecrets(this.options)
  if (binding) attachNative(this, binding.NativeClient, options)
}
util.inherits(OSS, AliOSS)
// ali-oss's statics (initOptions, STS, ClusterClient, ImageClient): copied, and inherited for later additions.
Object.setPrototypeOf(OSS, AliOSS)
for (const key of Object.keys(AliOSS)) OSS[key] = AliOSS[key]

// The native client behind the accelerated methods, brought up to date with `this.options` (bucket,
// credentials) at each call.
Object.defineProperty(OSS.prototype, '_native', {
  configurable: true,
  get() {
    return syncNative(this)
  },
})

// The accelerated methods. They are written as a class only for readability; its methods are installed on
// `OSS.prototype` below, over ali-oss's.
class Accelerated {
  // ---- cancel (ali-oss semantics: one flag for the whole client, `this.options.cancelFlag`) ----

  cancel(abort) {
    // ali-oss's own step (sets the flag, stops its own part streams), then the native uploads.
    AliOSS.prototype.cancel.call(this)
    this._native.cancel()
    if (abort) {
      // ali-oss fires this without awaiting and crashes on a failed DELETE; a failure is ignored here.
      this.abortMultipartUpload(abort.name, abort.uploadId, abort.options).catch(() => {})
    }
  }

  resetCancelFlag() {
    this.options.cancelFlag = false
    this._native.resetCancel()
  }

  _stop() {
    this.options.cancelFlag = true
    this._native.cancel()
  }

  // ---- the managed upload ----

  async multipartUpload(name, file, options) {
    this.resetCancelFlag()
    options = options || {}
    const given = options.checkpoint
    const resume = !!(given && given.uploadId)
    let partSize
    if (resume) {
      checkCheckpoint(given)
      name = given.name
      file = given.file
    } else {
      checkFile(file)
      if (!options.mime) options.mime = Buffer.isBuffer(file) ? '' : mime.getType(path.extname(file))
      options.headers = options.headers || {}
      convertMeta(options.meta, options.headers)
      // ali-oss's order: the file's size first (a missing file rejects with Node's own ENOENT error), then
      // partSize's rules, which only matter when the file is big enough for parts.
      const fileSize = typeof file === 'string' ? (await fs.promises.stat(file)).size : file.length
      // Like ali-oss, a file smaller than one part is a `put` (here the native one, without an upload session
      // and its event pull), unless the call needs a session: a `signal`, byte progress or a checkpoint file.
      if (
        fileSize < MIN_PART_SIZE &&
        !options.signal &&
        typeof options.onUploadProgress !== 'function' &&
        options.checkpointFile == null
      ) {
        const { res } = await this.put(name, file, options)
        if (typeof options.progress === 'function') await options.progress(1)
        return withData({ res, bucket: this.options.bucket, name, etag: res.headers.etag }, res, options)
      }
      if (fileSize >= MIN_PART_SIZE && options.partSize) {
        if (parseInt(options.partSize, 10) !== options.partSize) throw new Error('partSize must be int number')
        if (options.partSize < MIN_PART_SIZE) throw new Error(`partSize must not be smaller than ${MIN_PART_SIZE}`)
        partSize = options.partSize
      }
    }
    const signal = options.signal
    if (signal && signal.aborted) throw makeError({ kind: 'cancel' })
    const onBytes = typeof options.onUploadProgress === 'function' ? options.onUploadProgress : null
    const session = napiCall(() =>
      this._native.multipartUpload(checkName(name), file, {
        partSize,
        parallel: parallelOf(options.parallel),
        headers: headerStrings(options.headers),
        contentType: contentType(options.mime, name),
        completeHeaders: callbackHeaders(options),
        timeout: options.timeout,
        checkpointFile: options.checkpointFile == null ? undefined : String(options.checkpointFile),
        byteProgress: !!onBytes,
        // Without a progress callback or a checkpoint object of the caller's, no JavaScript needs to run per part.
        partEvents: typeof options.progress === 'function' || resume,
        checkpoint: resume
          ? {
              uploadId: given.uploadId,
              fileSize: given.fileSize,
              partSize: given.partSize,
              doneParts: given.doneParts.map((p) => ({ number: p.number, etag: p.etag })),
            }
          : undefined,
      }),
    )

    const progress = typeof options.progress === 'function' ? options.progress : null
    let checkpoint = resume ? given : null
    let numParts = 0
    let callbackError = null
    // The checkpoint object ali-oss builds for a new upload (or one resumed from options.checkpointFile).
    const newCheckpoint = (ev) => ({
      file,
      name,
      fileSize: ev.fileSize,
      partSize: ev.partSize,
      uploadId: ev.uploadId,
      doneParts: [],
    })
    const onCallbackError = (err) => {
      // A throwing byte callback stops this upload and is what it rejects with.
      if (!callbackError) callbackError = err
    }
    return runSession(session, { signal, onBytes, onCallbackError }, async (ev) => {
      switch (ev.kind) {
        case 'put': {
          if (callbackError) throw callbackError
          if (progress) await options.progress(1)
          const res = toRes(ev.res)
          return withData({ res, bucket: this.options.bucket, name, etag: res.headers.etag }, res, options)
        }
        case 'initiated':
          numParts = ev.numParts
          checkpoint = newCheckpoint(ev)
          try {
            if (progress) await options.progress(0, checkpoint, toRes(ev.res))
            session.ack(true)
          } catch (err) {
            callbackError = err
            session.ack(false)
          }
          break
        case 'resumed':
          numParts = ev.numParts
          if (!checkpoint) {
            // Resumed from options.checkpointFile: the caller gets a checkpoint object as ali-oss builds one.
            checkpoint = newCheckpoint(ev)
          }
          if (!sameParts(checkpoint.doneParts, ev.doneParts)) {
            // Duplicates, or parts the server does not hold: keep the caller's own array, with what is true.
            checkpoint.doneParts.splice(0, checkpoint.doneParts.length, ...ev.doneParts)
          }
          break
        case 'part':
          checkpoint.doneParts.push({ number: ev.number, etag: ev.etag })
          try {
            if (progress)
              await options.progress(checkpoint.doneParts.length / (numParts + 1), checkpoint, toRes(ev.res))
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
          if (callbackError) throw callbackFailure(callbackError, options.parallel)
          const res = toRes(ev.res)
          if (progress) await options.progress(1, null, res)
          return withData({ res, bucket: this.options.bucket, name, etag: res.headers.etag }, res, options)
        }
        case 'error':
        default:
          if (callbackError && (ev.error.kind === 'callback' || ev.error.kind === 'cancel')) {
            throw callbackFailure(callbackError, options.parallel)
          }
          throw this._uploadError(ev.error, resume ? given : null)
      }
    })
  }

  // ---- the multipart building blocks ----

  async initMultipartUpload(name, options) {
    options = options || {}
    const headers = { ...(options.headers || {}) }
    convertMeta(options.meta, headers)
    const out = await this._call(
      () =>
        this._native.initMultipartUpload(
          checkName(name),
          callOptions(options, headers, contentType(options.mime, name)),
        ),
      this._params('POST', name, options, 'uploads', [200]),
    )
    return { res: toRes(out.res), bucket: out.bucket, name: out.name, uploadId: out.uploadId }
  }

  async uploadPart(name, uploadId, partNo, file, start, end, options) {
    options = options || {}
    checkFile(file)
    const out = await this._call(
      () =>
        this._native.uploadPart(
          checkName(name),
          uploadId,
          partNo,
          file,
          start,
          end,
          callOptions(options, options.headers, contentType(options.mime, name)),
        ),
      this._params('PUT', name, options, { partNumber: partNo, uploadId }, [200]),
    )
    return { name, etag: out.etag, res: toRes(out.res) }
  }

  async completeMultipartUpload(name, uploadId, parts, options) {
    options = options || {}
    const headers = { ...(options.headers || {}), ...callbackHeaders(options) }
    const out = await this._call(
      () =>
        this._native.completeMultipartUpload(
          checkName(name),
          uploadId,
          parts.map((p) => ({ number: p.number, etag: p.etag })),
          callOptions(options, headers),
        ),
      this._params('POST', name, options, { uploadId }, [200]),
    )
    const res = toRes(out.res)
    if (options.progress) await options.progress(1, null, res)
    return withData({ res, bucket: out.bucket, name, etag: res.headers.etag }, res, options)
  }

  async abortMultipartUpload(name, uploadId, options) {
    // ali-oss stops the client's running uploads first: they reject with `{name: 'cancel'}`.
    this._stop()
    options = options || {}
    const out = await this._call(
      () => this._native.abortMultipartUpload(checkName(name), uploadId, callOptions(options)),
      this._params('DELETE', name, options, { uploadId }, [204]),
    )
    return { res: toRes(out.res) }
  }

  async listParts(name, uploadId, query, options) {
    const out = await this._call(
      () => this._native.listParts(checkName(name), uploadId, queryStrings(query), callOptions(options || {})),
      this._params('GET', name, options, { uploadId }, [200]),
    )
    const data = out.data || {}
    return {
      res: toRes(out.res),
      uploadId: data.UploadId,
      bucket: data.Bucket,
      name: data.Key,
      partNumberMarker: data.PartNumberMarker,
      nextPartNumberMarker: data.NextPartNumberMarker,
      maxParts: data.MaxParts,
      isTruncated: data.IsTruncated,
      // Always an array (ali-oss returns a bare object when there is one part).
      parts: [].concat(data.Part || []),
    }
  }

  async listUploads(query, options) {
    const out = await this._call(
      () => this._native.listUploads(queryStrings(query), callOptions(options || {})),
      this._params('GET', undefined, options, 'uploads', [200]),
    )
    const data = out.data || {}
    const uploads = [].concat(data.Upload || []).map((up) => ({
      name: up.Key,
      uploadId: up.UploadId,
      initiated: up.Initiated,
    }))
    return {
      res: toRes(out.res),
      uploads,
      bucket: data.Bucket,
      nextKeyMarker: data.NextKeyMarker,
      nextUploadIdMarker: data.NextUploadIdMarker,
      isTruncated: data.IsTruncated === 'true',
    }
  }

  // ---- simple object calls ----

  async put(name, file, options) {
    options = options || {}
    // Streams (and anything else ali-oss takes) are ali-oss's own `put` (its putStream path), and so is
    // `append`, which calls `put` with `method: 'POST'` and an `append` sub-resource.
    if ((typeof file !== 'string' && !Buffer.isBuffer(file)) || options.subres || options.method) {
      return AliOSS.prototype.put.call(this, name, file, options)
    }
    const mimeOpt = typeof file === 'string' ? options.mime || mime.getType(path.extname(file)) : options.mime
    const headers = { ...(options.headers || {}), ...callbackHeaders(options) }
    convertMeta(options.meta, headers)
    const out = await this._call(
      () => this._native.put(checkName(name), file, callOptions(options, headers, contentType(mimeOpt, name))),
      this._params('PUT', name, options, undefined, [200]),
    )
    const res = toRes(out.res)
    return withData({ name: out.name, url: this._native.objectUrl(out.name), res }, res, options)
  }

  async head(name, options) {
    // A versioned HEAD is ali-oss's own.
    if (options && options.versionId) return AliOSS.prototype.head.call(this, name, options)
    let out
    try {
      out = await this._call(
        () => this._native.head(checkName(name), callOptions(options || {})),
        this._params('HEAD', name, options, undefined, [200, 304]),
      )
    } catch (err) {
      // A HEAD answer has no body: ali-oss names the error from the status alone, and adds `host`.
      if (err instanceof Error && err.status > 0) {
        if (err.status === 404 || err.status === 412) {
          const [name, code, message] =
            err.status === 404
              ? ['NoSuchKeyError', 'NoSuchKey', 'Object not exists']
              : ['PreconditionFailedError', 'PreconditionFailed', 'Pre condition failed']
          Object.assign(err, { name, code, message })
          delete err.hostId
          delete err.ecCode
        }
        err.host = ''
      }
      throw err
    }
    const res = toRes(out.res)
    let meta = null
    if (res.status === 200) {
      for (const [k, v] of Object.entries(res.headers)) {
        if (k.startsWith('x-oss-meta-')) (meta = meta || {})[k.substring(11)] = v
      }
    }
    return { meta, res, status: res.status }
  }

  // ---- internals ----

  // Runs a native call; an error the server answered with carries ali-oss's `params` (what was asked).
  async _call(run, params) {
    const out = await napiCall(run)
    if (out.error) {
      const err = makeError(out.error)
      if (params && err instanceof Error && err.status > 0) err.params = params
      throw err
    }
    return out
  }

  // ali-oss's request description (`err.params`), without the body.
  _params(method, name, options, subres, successStatuses) {
    const params = { object: name, bucket: this.options.bucket, method, headers: (options && options.headers) || {} }
    if (name === undefined) delete params.object
    if (options && options.timeout) params.timeout = options.timeout
    if (subres) params.subres = subres
    params.successStatuses = successStatuses
    return params
  }

  // What a failed `multipartUpload` rejects with, in ali-oss's terms.
  _uploadError(info, checkpoint) {
    // The client was cancelled meanwhile (`cancel()`, `abortMultipartUpload()`): ali-oss's plain cancel event,
    // even if a part in flight found the upload gone.
    if ((info.kind === 'abort' || info.kind === 'cancel') && this.isCancel()) return makeError({ kind: 'cancel' })
    if (info.kind === 'abort' && info.partNum == null && checkpoint) {
      // ali-oss learns that a resumed upload is gone from its first part's 404, and names that part.
      const numParts = Math.ceil(checkpoint.fileSize / checkpoint.partSize)
      const done = new Set(checkpoint.doneParts.map((p) => p.number))
      for (let n = 1; n <= numParts; n++) {
        if (!done.has(n)) {
          info = { ...info, partNum: n }
          break
        }
      }
    }
    return makeError(info)
  }
}

for (const key of Object.getOwnPropertyNames(Accelerated.prototype)) {
  if (key === 'constructor' || !binding) continue
  Object.defineProperty(OSS.prototype, key, Object.getOwnPropertyDescriptor(Accelerated.prototype, key))
}

function checkName(name) {
  if (typeof name !== 'string') throw new TypeError(`the object name must be a string, got ${typeof name}`)
  return name
}

// ali-oss's `options.parallel || 5`, with its loose numbers: '3' uploads 3 at a time, 0 means the default.
function parallelOf(p) {
  const n = Math.ceil(Number(p))
  if (!(n >= 1)) return 5
  return Math.min(n, 1000)
}

// The binding converts arguments itself; a value of the wrong type must never surface as napi's
// "Failed to convert JavaScript value …" wording.
function napiCall(run) {
  try {
    return run()
  } catch (err) {
    if (err && (err.code === 'InvalidArg' || err.code === 'NumberExpected' || err.code === 'StringExpected')) {
      const got = /JavaScript value `([^`]*)`/.exec(String(err.message))
      throw new TypeError(`oss-turbo: an argument or option has the wrong type${got ? ` (got ${got[1].trim()})` : ''}`)
    }
    throw err
  }
}

function checkFile(file) {
  if (typeof file !== 'string' && !Buffer.isBuffer(file)) {
    throw new TypeError('multipartUpload requires a file path (string) or a Buffer')
  }
}

function checkCheckpoint(cp) {
  const bad = (what) => {
    throw new TypeError(`invalid checkpoint: ${what}`)
  }
  if (typeof cp.uploadId !== 'string') bad('uploadId must be a string')
  if (typeof cp.name !== 'string' || !cp.name) bad('name must be the object key')
  if (typeof cp.file !== 'string' && !Buffer.isBuffer(cp.file)) bad('file must be a path or a Buffer')
  if (!Number.isSafeInteger(cp.fileSize) || cp.fileSize < 0) bad('fileSize must be a non-negative integer')
  if (!Number.isSafeInteger(cp.partSize) || cp.partSize <= 0) bad('partSize must be a positive integer')
  if (!Array.isArray(cp.doneParts)) bad('doneParts must be an array')
  for (const p of cp.doneParts) {
    if (!p || !Number.isInteger(p.number) || typeof p.etag !== 'string') bad('doneParts entries must be {number, etag}')
  }
}

function sameParts(a, b) {
  return a.length === b.length && a.every((p, i) => p.number === b[i].number && p.etag === b[i].etag)
}

function convertMeta(meta, headers) {
  if (!meta) return
  for (const k of Object.keys(meta)) headers[`x-oss-meta-${k}`] = meta[k]
}

// ali-oss's Content-Type rule: an explicit type with '/', else a lookup by `mime` or by the key's extension.
function contentType(mimeOpt, key) {
  if (mimeOpt && mimeOpt.indexOf('/') > 0) return mimeOpt
  return mime.getType(mimeOpt || path.extname(key || '')) || undefined
}

function queryStrings(query) {
  if (!query) return undefined
  const out = {}
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null) out[k] = String(v)
  }
  return out
}

function callOptions(options, headers, type) {
  return {
    headers: headerStrings(headers === undefined ? options.headers : headers),
    contentType: type,
    timeout: options.timeout,
  }
}

// `options.callback` → the base64 JSON headers OSS reads on Complete (and on a small-file put).
function callbackHeaders(options) {
  const out = {}
  const headers = options.headers || {}
  if (headers['x-oss-callback']) return out
  const cb = options.callback
  if (!cb) return out
  const json = { callbackUrl: encodeURI(cb.url), callbackBody: cb.body }
  if (cb.host) json.callbackHost = cb.host
  if (cb.contentType) json.callbackBodyType = cb.contentType
  if (cb.callbackSNI) json.callbackSNI = cb.callbackSNI
  out['x-oss-callback'] = Buffer.from(JSON.stringify(json)).toString('base64')
  if (cb.customValue) {
    const vars = {}
    for (const k of Object.keys(cb.customValue)) vars[`x:${k}`] = cb.customValue[k].toString()
    out['x-oss-callback-var'] = Buffer.from(JSON.stringify(vars)).toString('base64')
  }
  return out
}

function withData(result, res, options) {
  const hasCallback = options.callback || (options.headers && options.headers['x-oss-callback'])
  // An upload verified by HEAD (its Complete answer was lost) has no callback body to show.
  if (hasCallback && res.data && res.data.length > 0) result.data = JSON.parse(res.data.toString())
  return result
}

// A callback threw: reject with the caller's own error, worded as ali-oss words part failures.
function callbackFailure(err, parallel) {
  if (!err || typeof err !== 'object') return err
  if (err.partNum != null && parallel !== 1) {
    err.message = `Failed to upload some parts with error: ${err.toString()} part_num: ${err.partNum}`
  }
  return err
}

if (!binding) {
  // No binary for this platform: oss-turbo is plain ali-oss, said once.
  const why = String((loaded.error && loaded.error.message) || '')
    .split('\n')[0]
    .replace(/^oss-turbo: cannot load the native addon: /, '')
  process.emitWarning(
    `oss-turbo: no native addon for ${platformId()}, uploads are not accelerated (this is plain ali-oss): ${why}`,
    { code: 'OSS_TURBO_NO_BINARY' },
  )
}

/** `true` when uploads run in the native addon, `false` when oss-turbo fell back to plain ali-oss. */
OSS.native = !!binding
/** Why the native addon did not load (`OSS.native === false`), else null. */
OSS.nativeError = loaded.error

// `get(name, filePath)` runs natively (lib/download.js); every other form stays ali-oss's.
if (binding) require('./lib/download.js').install(OSS)

if (binding) {
  // Stream sources for multipartUpload, and putStream.
  require('./lib/stream-upload.js').install(OSS, {
    convertMeta,
    makeError,
    headerStrings,
    contentType,
    callbackHeaders,
    withData,
    toRes,
    callbackFailure,
  })
  // client.uploadDirectory(dir, prefix, options).
  require('./lib/upload-directory.js').install(OSS, { convertMeta, makeError, headerStrings })
}

module.exports = OSS
module.exports.OSS = OSS
module.exports.default = OSS
module.exports.nativeVersion = binding ? binding.nativeVersion : () => null
