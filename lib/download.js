'use strict'
// `client.get(name, filePath, options)`: a native, parallel, resumable, CRC-64-verified download into a
// file. Every other form of `get` (no file, a stream, `process`, `versionId`, a Range or conditional
// header of the caller's) stays ali-oss's own. This file only dispatches, pulls the native steps and
// shapes results and errors as ali-oss does; the work is in src/download/.

const { headerStrings, toRes, makeError } = require('./shape.js')
const { runSession } = require('./session.js')

// Options that make a GET something other than "the whole current object into a file".
const FALLBACK_OPTIONS = ['process', 'versionId', 'subres', 'responseCacheControl']
const FALLBACK_HEADERS = [
  'range',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
  'accept-encoding',
]

// Whether this call is the form oss-turbo runs natively.
function isNativeForm(file, options) {
  if (typeof file !== 'string' || file === '') return false
  if (options == null) return true
  if (typeof options !== 'object') return false
  if (FALLBACK_OPTIONS.some((k) => options[k] != null)) return false
  const headers = options.headers || {}
  return !Object.keys(headers).some((k) => FALLBACK_HEADERS.includes(k.toLowerCase()))
}

// Installs `get` on the client class (a subclass of ali-oss's client): the native form runs here, every
// other form is the inherited ali-oss `get`.
function install(OSS) {
  const inherited = Object.getPrototypeOf(OSS.prototype).get
  OSS.prototype.get = function get(name, file, options) {
    // Without the native client (no binary for this platform) every form is ali-oss's.
    if (this._native && isNativeForm(file, options)) return nativeGet(this, name, file, options || {})
    return inherited.call(this, name, file, options)
  }
}

async function nativeGet(client, name, file, options) {
  const signal = options.signal
  if (signal && signal.aborted) throw makeError({ kind: 'cancel' })
  const onBytes = typeof options.onDownloadProgress === 'function' ? options.onDownloadProgress : null
  const session = client._native.download(String(name), file, {
    partSize: options.partSize,
    parallel: options.parallel,
    headers: headerStrings(options.headers),
    timeout: options.timeout,
    checkpointFile: options.checkpointFile == null ? undefined : String(options.checkpointFile),
    byteProgress: !!onBytes,
  })
  let callbackError = null
  const onCallbackError = (err) => {
    // A throwing progress callback stops the download and is what it rejects with.
    if (!callbackError) callbackError = err
  }
  return runSession(session, { signal, onBytes, onCallbackError }, async (ev) => {
    switch (ev.kind) {
      case 'done': {
        if (callbackError) throw callbackError
        const res = toRes(ev.res)
        res.size = ev.size
        return { res, content: undefined }
      }
      case 'error':
      default:
        if (callbackError) throw callbackError
        throw makeError(ev.error)
    }
  })
}

module.exports = { install, isNativeForm }
