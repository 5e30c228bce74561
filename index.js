'use strict'
// oss-turbo's public surface: ali-oss's `OSS` class for uploads, over the native binding.
// This layer holds only what must be JavaScript: the class, the caller's checkpoint object (mutated in
// place, as ali-oss does), the awaited `progress` calls, content-type lookup with the same `mime`
// package ali-oss uses, and error objects with ali-oss's fields. Everything else runs in Rust.

const path = require('path')
const mime = require('mime')
const { NativeClient, nativeVersion } = require('./lib/load-binding.js')()

const SECRET_KEYS = ['accessKeySecret', 'stsToken']

class OSS {
  constructor(options) {
    if (!options || !options.accessKeyId || !options.accessKeySecret) {
      throw new Error('require accessKeyId, accessKeySecret')
    }
    this._native = new NativeClient(nativeOptions(options))
    // Keep ali-oss's readable `client.options`, with the secrets hidden from logs and JSON.
    this.options = { ...options }
    // Non-enumerable even when absent now, so a refreshed secret or token never becomes enumerable.
    for (const key of SECRET_KEYS) {
      Object.defineProperty(this.options, key, { value: this.options[key], enumerable: false, writable: true })
    }
    this.options.bucket = this._native.bucket() ?? null
    if (typeof options.refreshSTSToken === 'function') {
      // Rust asks for fresh STS credentials before a request once they are older than the interval;
      // concurrent parts wait for that one refresh.
      this._native.setCredentialsRefresher(async () => {
        const r = await options.refreshSTSToken()
        if (!r || !r.accessKeyId || !r.accessKeySecret) {
          throw new Error('refreshSTSToken must resolve with {accessKeyId, accessKeySecret, stsToken}')
        }
        const stsToken = r.stsToken || r.securityToken
        this.options.accessKeyId = r.accessKeyId
        this.options.accessKeySecret = r.accessKeySecret
        this.options.stsToken = stsToken
        return { accessKeyId: String(r.accessKeyId), accessKeySecret: String(r.accessKeySecret), stsToken }
      })
    }
  }

  // ---- cancel (ali-oss semantics: one flag for the whole client) ----

  cancel(abort) {
    this._native.cancel()
    if (abort) {
      // ali-oss fires this without awaiting and crashes on a failed DELETE; a failure is ignored here.
      this.abortMultipartUpload(abort.name, abort.uploadId, abort.options).catch(() => {})
    }
  }

  isCancel() {
    return this._native.isCancel()
  }

  resetCancelFlag() {
    this._native.resetCancel()
  }

  // ---- the managed upload ----

  async multipartUpload(name, file, options) {
    this.resetCancelFlag()
    options = options || {}
    const given = options.checkpoint
    const resume = !!(given && given.uploadId)
    if (resume) {
      checkCheckpoint(given)
      name = given.name
      file = given.file
    } else {
      checkFile(file)
      if (!options.mime) options.mime = Buffer.isBuffer(file) ? '' : mime.getType(path.extname(file))
      options.headers = options.headers || {}
      convertMeta(options.meta, options.headers)
    }
    const signal = options.signal
    if (signal && signal.aborted) throw makeError({ kind: 'cancel' })
    const onBytes = typeof options.onUploadProgress === 'function' ? options.onUploadProgress : null
    const session = this._native.multipartUpload(name, file, {
      partSize: options.partSize,
      parallel: options.parallel,
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
    })

    const progress = typeof options.progress === 'function' ? options.progress : null
    let checkpoint = resume ? given : null
    let numParts = 0
    let callbackError = null
    const onAbort = () => session.cancel()
    if (signal) signal.addEventListener('abort', onAbort, { once: true })
    try {
      for (;;) {
        const ev = await session.next()
        switch (ev.kind) {
          case 'warning':
            console.warn(ev.message)
            break
          case 'bytes':
            try {
              onBytes({ loaded: ev.loaded, total: ev.total })
            } catch (err) {
              // A throwing byte callback stops this upload and is what it rejects with.
              if (!callbackError) callbackError = err
              session.cancel()
            }
            break
          case 'put': {
            if (callbackError) throw callbackError
            if (progress) await progress(1)
            const res = toRes(ev.res)
            return withData({ res, bucket: this.options.bucket, name, etag: res.headers.etag }, res, options)
          }
          case 'initiated':
            numParts = ev.numParts
            checkpoint = { file, name, fileSize: ev.fileSize, partSize: ev.partSize, uploadId: ev.uploadId, doneParts: [] }
            try {
              if (progress) await progress(0, checkpoint, toRes(ev.res))
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
              checkpoint = { file, name, fileSize: ev.fileSize, partSize: ev.partSize, uploadId: ev.uploadId, doneParts: [] }
            }
            if (!sameParts(checkpoint.doneParts, ev.doneParts)) {
              // Duplicates, or parts the server does not hold: keep the caller's own array, with what is true.
              checkpoint.doneParts.splice(0, checkpoint.doneParts.length, ...ev.doneParts)
            }
            break
          case 'part':
            checkpoint.doneParts.push({ number: ev.number, etag: ev.etag })
            try {
              if (progress) await progress(checkpoint.doneParts.length / (numParts + 1), checkpoint, toRes(ev.res))
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
            if (progress) await progress(1, null, res)
            return withData({ res, bucket: this.options.bucket, name, etag: res.headers.etag }, res, options)
          }
          case 'error':
          default:
            if (callbackError && (ev.error.kind === 'callback' || ev.error.kind === 'cancel')) {
              throw callbackFailure(callbackError, options.parallel)
            }
            throw makeError(ev.error)
        }
      }
    } finally {
      if (signal) signal.removeEventListener('abort', onAbort)
    }
  }

  // ---- the multipart building blocks ----

  async initMultipartUpload(name, options) {
    options = options || {}
    const headers = { ...(options.headers || {}) }
    convertMeta(options.meta, headers)
    const out = await this._call(() =>
      this._native.initMultipartUpload(name, callOptions(options, headers, contentType(options.mime, name))),
    )
    return { res: toRes(out.res), bucket: out.bucket, name: out.name, uploadId: out.uploadId }
  }

  async uploadPart(name, uploadId, partNo, file, start, end, options) {
    options = options || {}
    checkFile(file)
    const out = await this._call(() =>
      this._native.uploadPart(name, uploadId, partNo, file, start, end, callOptions(options, options.headers, contentType(options.mime, name))),
    )
    return { name, etag: out.etag, res: toRes(out.res) }
  }

  async completeMultipartUpload(name, uploadId, parts, options) {
    options = options || {}
    const headers = { ...(options.headers || {}), ...callbackHeaders(options) }
    const out = await this._call(() =>
      this._native.completeMultipartUpload(
        name,
        uploadId,
        parts.map((p) => ({ number: p.number, etag: p.etag })),
        callOptions(options, headers),
      ),
    )
    const res = toRes(out.res)
    if (options.progress) await options.progress(1, null, res)
    return withData({ res, bucket: out.bucket, name, etag: res.headers.etag }, res, options)
  }

  async abortMultipartUpload(name, uploadId, options) {
    options = options || {}
    const out = await this._call(() => this._native.abortMultipartUpload(name, uploadId, callOptions(options)))
    return { res: toRes(out.res) }
  }

  async listParts(name, uploadId, query, options) {
    const out = await this._call(() =>
      this._native.listParts(name, uploadId, queryStrings(query), callOptions(options || {})),
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
    const out = await this._call(() => this._native.listUploads(queryStrings(query), callOptions(options || {})))
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
    if (typeof file !== 'string' && !Buffer.isBuffer(file)) {
      throw new TypeError('Must provide String/Buffer for put.')
    }
    const mimeOpt = typeof file === 'string' ? options.mime || mime.getType(path.extname(file)) : options.mime
    const headers = { ...(options.headers || {}), ...callbackHeaders(options) }
    convertMeta(options.meta, headers)
    const out = await this._call(() => this._native.put(name, file, callOptions(options, headers, contentType(mimeOpt, name))))
    const res = toRes(out.res)
    return withData({ name: out.name, url: this._native.objectUrl(out.name), res }, res, options)
  }

  async head(name, options) {
    const out = await this._call(() => this._native.head(name, callOptions(options || {})))
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

  async _call(run) {
    const out = await run()
    if (out.error) throw makeError(out.error)
    return out
  }
}

function nativeOptions(o) {
  return {
    region: o.region,
    endpoint: o.endpoint == null ? undefined : String(o.endpoint),
    bucket: o.bucket || undefined,
    accessKeyId: String(o.accessKeyId),
    accessKeySecret: String(o.accessKeySecret),
    stsToken: o.stsToken || undefined,
    secure: o.secure == null ? undefined : !!o.secure,
    internal: o.internal == null ? undefined : !!o.internal,
    cname: o.cname == null ? undefined : !!o.cname,
    sldEnable: o.sldEnable == null ? undefined : !!o.sldEnable,
    timeout: o.timeout || undefined,
    authorizationV4: o.authorizationV4 == null ? undefined : !!o.authorizationV4,
    retryMax: typeof o.retryMax === 'number' ? o.retryMax : undefined,
    refreshStsTokenInterval: o.refreshSTSTokenInterval || undefined,
    ca: o.ca == null ? undefined : [].concat(o.ca).map((c) => (Buffer.isBuffer(c) ? c.toString('utf8') : String(c))),
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

function headerStrings(headers) {
  if (!headers) return undefined
  const out = {}
  for (const [k, v] of Object.entries(headers)) {
    if (v !== undefined && v !== null && v !== '') out[k] = String(v)
  }
  return out
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
  if (hasCallback) result.data = JSON.parse(res.data.toString())
  return result
}

function toRes(r) {
  return {
    status: r.status,
    statusCode: r.statusCode,
    statusMessage: r.statusMessage,
    headers: r.headers,
    size: r.size,
    aborted: r.aborted,
    rt: r.rt,
    keepAliveSocket: true,
    data: r.data,
    requestUrls: r.requestUrls,
    timing: null,
  }
}

function makeError(info) {
  if (info.kind === 'cancel') return { status: 0, name: 'cancel' }
  if (info.kind === 'abort') {
    const abort = { status: 0, name: 'abort', message: info.message }
    if (info.partNum != null) abort.partNum = info.partNum
    return abort
  }
  const err = new Error(info.message)
  err.name = info.name
  for (const key of ['status', 'code', 'requestId', 'hostId', 'ecCode', 'partNum']) {
    if (info[key] != null) err[key] = info[key]
  }
  return err
}

// A callback threw: reject with the caller's own error, worded as ali-oss words part failures.
function callbackFailure(err, parallel) {
  if (!err || typeof err !== 'object') return err
  if (err.partNum != null && parallel !== 1) {
    err.message = `Failed to upload some parts with error: ${err.toString()} part_num: ${err.partNum}`
  }
  return err
}

// Stream sources for multipartUpload, and putStream.
require('./lib/stream-upload.js').install(OSS, { convertMeta, makeError, headerStrings, contentType, callbackHeaders, withData, toRes, callbackFailure })
// client.uploadDirectory(dir, prefix, options).
require('./lib/upload-directory.js').install(OSS, { convertMeta, makeError, headerStrings })

module.exports = OSS
module.exports.OSS = OSS
module.exports.default = OSS
module.exports.nativeVersion = nativeVersion
