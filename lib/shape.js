'use strict'
// What JavaScript callers see of a native result: urllib-shaped `res` objects and ali-oss-shaped errors,
// and the header strings the binding takes. Shared by every accelerated method (index.js, lib/*.js).

function headerStrings(headers) {
  if (!headers) return undefined
  const out = {}
  for (const [k, v] of Object.entries(headers)) {
    if (v !== undefined && v !== null && v !== '') out[k] = String(v)
  }
  return out
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
    remoteAddress: r.remoteAddress ?? '',
    remotePort: r.remotePort ?? '',
    // urllib counts requests per socket; the native pool does not expose its sockets, so this counts the
    // request itself (see README).
    socketHandledRequests: 1,
    socketHandledResponses: 1,
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
  for (const key of ['errno', 'code', 'syscall', 'path', 'status', 'requestId', 'hostId', 'ecCode', 'partNum']) {
    if (info[key] != null) err[key] = info[key]
  }
  return err
}

module.exports = { headerStrings, toRes, makeError }
